package network

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// trio is three public hosts, each with a process listening on :1112.
type trio struct {
	fx      *fixture
	hosts   []*Host
	stacks  []*Stack
	servers []*server
}

func newTrio(t *testing.T) *trio {
	fx := newFixture(t, quietConfig())
	tr := &trio{fx: fx}
	for i, name := range []string{"a", "b", "c"} {
		h := fx.host(name, "", fmt.Sprintf("10.0.0.%d", i+1))
		s, _ := fx.stack(h)
		tr.hosts = append(tr.hosts, h)
		tr.stacks = append(tr.stacks, s)
		tr.servers = append(tr.servers, fx.listen(s, "0.0.0.0:1112"))
	}
	return tr
}

// reach dials from host i to host j and reports the outcome after the
// connect timeout: nil when established.
func (tr *trio) reach(i, j int) error {
	_, l := tr.fx.dial(tr.stacks[i], fmt.Sprintf("10.0.0.%d:1112", j+1))
	tr.fx.run(tr.fx.f.cfg.ConnectTimeout + 100*time.Millisecond)
	if l.established && !l.closed {
		return nil
	}
	if l.err == nil {
		return errors.New("neither established nor failed")
	}
	return l.err
}

func (tr *trio) expect(t *testing.T, reachable map[[2]int]bool) {
	t.Helper()
	names := "abc"
	for i := range 3 {
		for j := range 3 {
			if i == j {
				continue
			}
			err := tr.reach(i, j)
			want := reachable[[2]int{i, j}]
			switch {
			case want && err != nil:
				t.Errorf("%c -> %c: %v, want connected", names[i], names[j], err)
			case !want && !errors.Is(err, env.ErrTimeout):
				t.Errorf("%c -> %c: %v, want ErrTimeout (a partition is silence)", names[i], names[j], err)
			}
		}
	}
}

func all3() map[[2]int]bool {
	m := map[[2]int]bool{}
	for i := range 3 {
		for j := range 3 {
			m[[2]int{i, j}] = i != j
		}
	}
	return m
}

func TestSymmetricPartitionAndHeal(t *testing.T) {
	tr := newTrio(t)
	a, b := tr.hosts[0], tr.hosts[1]
	tr.fx.f.Partition([]*Host{a}, []*Host{b})
	want := all3()
	want[[2]int{0, 1}], want[[2]int{1, 0}] = false, false
	tr.expect(t, want)
	if tr.fx.f.Stats().DroppedPartition == 0 {
		t.Error("no packet counted as dropped by the partition")
	}
	tr.fx.f.Heal()
	tr.expect(t, all3())
}

func TestBridgePartition(t *testing.T) {
	tr := newTrio(t)
	a, c := tr.hosts[0], tr.hosts[2]
	tr.fx.f.Partition([]*Host{a}, []*Host{c})
	want := all3()
	want[[2]int{0, 2}], want[[2]int{2, 0}] = false, false
	tr.expect(t, want)
	tr.fx.f.Heal()
	tr.expect(t, all3())
}

func TestConnectTimesOutAtConnectTimeout(t *testing.T) {
	tr := newTrio(t)
	tr.fx.f.Partition(tr.hosts[:1], tr.hosts[1:2])
	start := tr.fx.now()
	_, l := tr.fx.dial(tr.stacks[0], "10.0.0.2:1112")
	tr.fx.run(10 * time.Second)
	if !errors.Is(l.err, env.ErrTimeout) || l.closedAt-start != tr.fx.f.cfg.ConnectTimeout {
		t.Fatalf("connect into a partition ended with %v after %v, want ErrTimeout after %v", l.err, l.closedAt-start, tr.fx.f.cfg.ConnectTimeout)
	}
	// SYNs were sent again at SynRTO, doubling: at 1s, then (3s) too late.
	if r := tr.fx.f.Stats().Retransmits; r != 1 {
		t.Fatalf("%d SYN retransmissions in a 2s connect timeout, want 1 (Linux: at 1s, then 3s)", r)
	}
}

// TestOneWayBlock checks, on an established connection, that only the
// blocked direction loses packets, and that everything arrives after
// Unblock.
func TestOneWayBlock(t *testing.T) {
	tr := newTrio(t)
	fx := tr.fx
	a, b := tr.hosts[0], tr.hosts[1]
	c, cl := fx.dial(tr.stacks[0], "10.0.0.2:1112")
	fx.run(10 * time.Millisecond)
	sl := tr.servers[1].logs[0]
	fx.f.Block(a, b)
	if err := c.Send([]byte("a->b")); err != nil {
		t.Fatal(err)
	}
	if err := sl.conn.Send([]byte("b->a")); err != nil {
		t.Fatal(err)
	}
	fx.run(100 * time.Millisecond)
	if len(cl.msgs) != 1 || string(cl.msgs[0]) != "b->a" {
		t.Fatalf("a received %q, want b->a: the direction b->a is open", cl.msgs)
	}
	if len(sl.msgs) != 0 {
		t.Fatalf("b received %q through a blocked direction a->b", sl.msgs)
	}
	fx.run(5 * time.Second)
	if len(sl.msgs) != 0 {
		t.Fatal("a retransmission crossed the blocked direction")
	}
	fx.f.Unblock(a, b)
	fx.run(10 * time.Second)
	if len(sl.msgs) != 1 || len(cl.msgs) != 1 {
		t.Fatalf("after Unblock: b has %d messages, a has %d; want exactly one each", len(sl.msgs), len(cl.msgs))
	}
	if cl.closed || sl.closed {
		t.Fatalf("a 5s one-way block broke the connection: %v / %v", cl.err, sl.err)
	}
	if fx.f.Stats().Duplicates == 0 {
		t.Error("b's message was acknowledged through the blocked direction: expected duplicate retransmissions at a")
	}
}

func TestPartitionOutlastingUserTimeoutBreaksConnection(t *testing.T) {
	tr := newTrio(t)
	fx := tr.fx
	c, cl := fx.dial(tr.stacks[0], "10.0.0.2:1112")
	fx.run(10 * time.Millisecond)
	fx.f.Partition(tr.hosts[:1], tr.hosts[1:2])
	sent := fx.now()
	if err := c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fx.run(fx.f.cfg.UserTimeout - time.Millisecond)
	if cl.closed {
		t.Fatalf("broke after %v, before UserTimeout: %v", fx.now()-sent, cl.err)
	}
	fx.run(time.Second)
	if !errors.Is(cl.err, env.ErrTimeout) || cl.closedAt-sent != fx.f.cfg.UserTimeout {
		t.Fatalf("ended with %v after %v, want ErrTimeout after %v", cl.err, cl.closedAt-sent, fx.f.cfg.UserTimeout)
	}
	sl := tr.servers[1].logs[0]
	if sl.closed {
		t.Fatalf("the idle side behind the partition heard something: %v", sl.err)
	}
}

// A lost SYN or SYN-ACK is sent again after the initial retransmission
// timeout of a connection that has no round-trip sample yet: 1 s in Linux
// (RFC 6298 2.1, TCP_TIMEOUT_INIT), doubling, not the 200 ms floor of an
// established connection's RTO. A handshake packet lost in production costs
// a second; a simulator that retries after 200 ms connects five times
// faster and hides slow connects under loss (calls on a fresh channel
// missing their deadlines, elections that take a second longer).
func TestLostHandshakeIsSentAgainAfterTheInitialRTO(t *testing.T) {
	for _, c := range []struct {
		name     string
		from, to int // the direction blocked for the first 100ms
	}{{"syn", 0, 1}, {"syn-ack", 1, 0}} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTrio(t)
			fx := tr.fx
			fx.f.Block(tr.hosts[c.from], tr.hosts[c.to])
			start := fx.now()
			_, l := fx.dial(tr.stacks[0], "10.0.0.2:1112")
			fx.run(100 * time.Millisecond) // the first SYN (or its SYN-ACK) is gone
			fx.f.Heal()
			fx.run(3 * time.Second)
			if !l.established {
				t.Fatalf("not connected after the block lifted: %v", l.err)
			}
			if d := l.establishedAt - start; d != time.Second+2*time.Millisecond {
				t.Fatalf("connected %v after the dial, want the SYN sent again after 1s plus a 2ms round trip", d)
			}
		})
	}
}

// The defaults are Linux's, which production runs with (realnet sets no
// TCP_USER_TIMEOUT): a segment is retransmitted tcp_retries2 = 15 times,
// the RTO doubling from 200 ms up to TCP_RTO_MAX = 120 s, before the kernel
// gives up, about 924.6 s after the first transmission. A connection into a
// five-minute partition is still there when it heals, and its data arrives;
// a simulator whose kernel gave up after 30 s would break connections that
// production keeps, and let the node's own failure detection off the hook.
func TestAConnectionOutlivesAFiveMinutePartitionAsOnLinux(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.RTOMax != 120*time.Second || cfg.UserTimeout != 924600*time.Millisecond {
		t.Errorf("RTOMax %v and UserTimeout %v; Linux gives up after 15 retransmissions: 120s and 924.6s", cfg.RTOMax, cfg.UserTimeout)
	}
	tr := newTrio(t)
	fx := tr.fx
	c, cl := fx.dial(tr.stacks[0], "10.0.0.2:1112")
	fx.run(10 * time.Millisecond)
	fx.f.Partition(tr.hosts[:1], tr.hosts[1:2])
	if err := c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fx.run(5 * time.Minute)
	fx.f.Heal()
	fx.run(3 * time.Minute) // the next retransmission: at most RTOMax later
	sl := tr.servers[1].logs[0]
	if cl.closed || len(sl.msgs) != 1 {
		t.Fatalf("after a 5-minute partition: closed %v (%v), %d messages delivered; want the connection alive and the message delivered",
			cl.closed, cl.err, len(sl.msgs))
	}
}
