package network

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// busyRun exercises most of the fabric on one seed: lossy jittery links, a
// NAT, streams, calls, a partition, a kill and a freeze. It returns the
// trace hash and the number of records.
func busyRun(t *testing.T, seed uint64, cfg Config, payloadByte byte) (string, uint64) {
	t.Helper()
	w := newTracedWorld(seed)
	f := New(w, cfg)
	f.AddRealm("dc")
	var hosts []*Host
	for i := range 3 {
		hosts = append(hosts, f.AddHost(fmt.Sprintf("n%d", i), "", addr(fmt.Sprintf("10.0.0.%d", i+1))))
	}
	priv := f.AddHost("p", "dc", addr("192.168.0.1"))
	f.AddNAT("dc", addr("203.0.113.1")).Forward(2113, addr("192.168.0.1"), 2113)
	hosts = append(hosts, priv)
	var stacks []*Stack
	for _, h := range hosts {
		s := h.NewStack(&testExec{w: w})
		stacks = append(stacks, s)
		if _, err := s.Serve(env.Endpoint{Port: 2113}, handlerFunc(func(_ env.Endpoint, _ string, req []byte, reply func([]byte, error)) {
			reply(req, nil)
		})); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Listen(env.Endpoint{Port: 1112}, func(env.Conn) env.ConnHandler { return newLog(w) }); err != nil {
			t.Fatal(err)
		}
	}
	targets := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "203.0.113.1"}
	var conns []env.Conn
	for i, s := range stacks {
		c := s.Connect(env.Endpoint{Host: targets[(i+1)%4], Port: 1112}, newLog(w))
		conns = append(conns, c)
	}
	tick := 0
	var step func()
	step = func() {
		tick++
		for i, s := range stacks {
			if s.Killed() {
				continue
			}
			msg := []byte{payloadByte, byte(tick), byte(i)}
			s.Call(env.Endpoint{Host: targets[(i+tick)%4], Port: 2113}, "echo", msg, 300*time.Millisecond, func([]byte, error) {})
			if err := conns[i].Send(msg); err != nil && !errors.Is(err, env.ErrClosed) && !errors.Is(err, env.ErrSendQueueFull) {
				t.Errorf("send: %v", err)
			}
		}
		switch tick {
		case 100:
			f.Partition(hosts[:1], hosts[1:2])
		case 200:
			f.Heal()
		case 250:
			stacks[2].Kill()
		case 300:
			hosts[1].Freeze()
		case 400:
			hosts[1].Thaw()
		}
		if tick < 500 {
			w.Func(10*time.Millisecond, step)
		}
	}
	w.Func(time.Millisecond, step)
	w.RunUntil(time.Minute)
	return w.Trace.Hash(), w.Trace.Records()
}

func lossyConfig() Config {
	cfg := DefaultConfig()
	cfg.Link.Loss = 0.02
	return cfg
}

func TestSameSeedSameTrace(t *testing.T) {
	h1, n1 := busyRun(t, 42, lossyConfig(), 'x')
	h2, n2 := busyRun(t, 42, lossyConfig(), 'x')
	if h1 != h2 || n1 != n2 {
		t.Fatalf("same seed, different runs: %s (%d records) vs %s (%d records)", h1, n1, h2, n2)
	}
	if n1 < 5000 {
		t.Fatalf("the run traced only %d records; it is not exercising the fabric", n1)
	}
	cfg := lossyConfig()
	cfg.Link.Latency++
	if h3, _ := busyRun(t, 42, cfg, 'x'); h3 == h1 {
		t.Fatal("changing the link latency by 1ns left the trace hash unchanged")
	}
	if h4, _ := busyRun(t, 43, lossyConfig(), 'x'); h4 == h1 {
		t.Fatal("another seed gave the same trace hash")
	}
	if h5, _ := busyRun(t, 42, lossyConfig(), 'y'); h5 == h1 {
		t.Fatal("changing one payload byte left the trace hash unchanged: delivered payloads are not hashed")
	}
}
