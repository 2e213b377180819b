package host

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/network"
)

// pair is host a serving on port 7000 and host b dialing it, connected.
type pair struct {
	*rig
	a, b *Host
	srv  *server
	cli  *client
}

func newPair(t *testing.T) *pair {
	t.Helper()
	r := newRig(t, 1, exactNet())
	p := &pair{rig: r, srv: &server{w: r.w}}
	p.cli = &client{w: r.w, addr: "10.0.0.1"}
	p.a = r.host("a", "10.0.0.1", 5*us, p.srv.program)
	p.b = r.host("b", "10.0.0.2", 5*us, p.cli.program)
	p.a.Start()
	p.b.Start()
	r.run(20 * ms)
	if c := p.cli.last(); c.established < 0 || c.closed || len(p.srv.accepted) != 1 {
		t.Fatalf("connection b->a not up after 20ms: established at %v, closed %v (%v), %d accepted",
			c.established, c.closed, c.reason, len(p.srv.accepted))
	}
	// Traffic both ways, so that the connection is warm.
	if err := p.cli.last().c.Send([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.accepted[0].c.Send([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	r.run(20 * ms)
	if got := p.cli.last().msgs; len(got) != 1 || got[0] != "pong" {
		t.Fatalf("b received %q; want [pong]", got)
	}
	return p
}

func TestPeerSeesAKillAsAResetAtOnce(t *testing.T) {
	p := newPair(t)
	killedAt := p.w.Now()
	p.a.Kill()
	p.run(10 * ms)
	c := p.cli.last()
	if !c.closed {
		t.Fatal("b's connection still open 10ms (10 link latencies) after a's process was killed; the kernel must reset it")
	}
	if !errors.Is(c.reason, env.ErrReset) {
		t.Fatalf("b's connection closed with %v; want env.ErrReset", c.reason)
	}
	if d := c.closedAt - killedAt; d > 3*ms {
		t.Fatalf("b saw the reset %v after the kill; want within a few link latencies (1ms each)", d)
	}
	if len(p.srv.accepted[0].msgs) != 1 {
		t.Fatalf("a's dead process got %d messages", len(p.srv.accepted[0].msgs))
	}

	// The host is alive but nothing listens: a new dial is refused, fast.
	dialAt := p.w.Now()
	again := p.cli.dial()
	p.run(10 * ms)
	if !again.closed || !errors.Is(again.reason, env.ErrRefused) {
		t.Fatalf("dial to the killed process's port: closed %v with %v; want env.ErrRefused", again.closed, again.reason)
	}
	if d := again.closedAt - dialAt; d > 3*ms {
		t.Fatalf("refusal took %v; want within a few link latencies", d)
	}
}

func TestPeerSeesAFreezeAsSilence(t *testing.T) {
	p := newPair(t)
	before := p.fab.Stats()
	p.a.Freeze()
	c := p.cli.last()
	if err := c.c.Send([]byte("into the void")); err != nil {
		t.Fatal(err)
	}
	p.run(10 * time.Second)
	if c.closed {
		t.Fatalf("b's connection closed (%v) during a 10s freeze of a; a frozen host is silent, not reset", c.reason)
	}
	if len(c.msgs) != 1 {
		t.Fatalf("b received %d messages from a frozen host", len(c.msgs)-1)
	}
	if len(p.srv.accepted[0].msgs) != 1 {
		t.Fatal("a's frozen process received a message")
	}
	after := p.fab.Stats()
	if after.DroppedFrozen <= before.DroppedFrozen {
		t.Fatal("no packet was dropped at the frozen host; b's send and its retransmissions should have been")
	}
	if after.Resets != before.Resets {
		t.Fatalf("%d resets during a freeze; want none", after.Resets-before.Resets)
	}

	// Thawed, the host catches up: the retransmission gets through.
	p.a.Thaw()
	p.run(70 * time.Second)
	in := p.srv.accepted[0]
	if len(in.msgs) != 2 || in.msgs[1] != "into the void" {
		t.Fatalf("after Thaw a received %q; want the message sent during the freeze", in.msgs)
	}
	if c.closed || in.closed {
		t.Fatalf("connection broke across a 10s freeze (b: %v, a: %v)", c.reason, in.reason)
	}
}

func TestPeerSeesAPowerCycleAsSilenceThenAReset(t *testing.T) {
	p := newPair(t)
	p.a.PowerOff()
	p.run(10 * time.Second)
	c := p.cli.last()
	if c.closed {
		t.Fatalf("b's idle connection closed (%v) while a was powered off; a lost host is silent", c.reason)
	}
	p.a.PowerOn()
	p.run(10 * ms)
	if p.srv.listenOK != 2 {
		t.Fatalf("a's program listened %d times; want twice (before and after the power cycle)", p.srv.listenOK)
	}
	if c.closed {
		t.Fatal("b's connection closed before b sent anything; a rebooted kernel cannot know of it")
	}
	sentAt := p.w.Now()
	if err := c.c.Send([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	p.run(10 * ms)
	if !c.closed || !errors.Is(c.reason, env.ErrReset) {
		t.Fatalf("b's send to a rebooted host: closed %v with %v; want env.ErrReset", c.closed, c.reason)
	}
	if d := c.closedAt - sentAt; d > 3*ms {
		t.Fatalf("reset seen %v after the send; want within a few link latencies", d)
	}
	if len(p.srv.accepted) != 1 {
		t.Fatalf("a's new process accepted %d connections; the old one must not reappear", len(p.srv.accepted)-1)
	}
}

// scenario runs a small two-host exchange with jittered links and one kill
// and restart, and returns the trace hash and record count.
func scenario(t *testing.T, seed uint64, latency time.Duration) (string, uint64) {
	t.Helper()
	cfg := network.DefaultConfig()
	cfg.Link = network.LinkProfile{Latency: latency, Jitter: latency / 2, Loss: 0.01}
	r := newRig(t, seed, cfg)
	srv := &server{w: r.w}
	a := r.host("a", "10.0.0.1", 5*us, func(e env.Env) func() {
		srv.onAccept = func(cn *conn) {
			e.Log.Log(env.LevelInfo, fmt.Sprintf("accepted %s", cn.c.Remote()))
		}
		return srv.program(e)
	})
	cli := &client{w: r.w, addr: "10.0.0.1"}
	b := r.host("b", "10.0.0.2", 5*us, func(e env.Env) func() {
		stop := cli.program(e)
		var tick func()
		tick = func() {
			c := cli.last()
			if c.closed {
				cli.dial()
			} else if c.established >= 0 {
				msg := make([]byte, 1+e.Rand.Uint64()%2000)
				_ = c.c.Send(msg)
			}
			e.Clock.AfterFunc(time.Duration(1+e.Rand.Uint64()%5)*ms, tick)
		}
		e.Clock.AfterFunc(ms, tick)
		return stop
	})
	a.Start()
	b.Start()
	// Long enough for a lost SYN (sent again after 1s) before and after
	// the restart.
	r.w.RunUntil(1500 * ms)
	a.Kill()
	r.w.RunUntil(1550 * ms)
	a.Start()
	r.w.RunUntil(3000 * ms)
	if n := len(srv.accepted); n == 0 || len(srv.accepted[n-1].msgs) < 10 {
		t.Fatalf("seed %d: %d connections accepted, the last with too few messages; b should have reconnected after the restart and kept sending", seed, n)
	}
	return r.w.Trace.Hash(), r.w.Trace.Records()
}

func TestSameSeedSameTrace(t *testing.T) {
	h1, n1 := scenario(t, 7, 250*us)
	h2, n2 := scenario(t, 7, 250*us)
	if h1 != h2 || n1 != n2 {
		t.Fatalf("two runs of one scenario and seed differ: %s (%d records) vs %s (%d records)", h1, n1, h2, n2)
	}
	if n1 < 200 {
		t.Fatalf("the scenario left only %d trace records; it is too small to show anything", n1)
	}
	if h3, _ := scenario(t, 7, 260*us); h3 == h1 {
		t.Fatal("changing the link latency left the trace hash unchanged")
	}
	if h4, _ := scenario(t, 8, 250*us); h4 == h1 {
		t.Fatal("changing the seed left the trace hash unchanged; the jitter and loss draws do not reach the trace")
	}
}
