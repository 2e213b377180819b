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
	// SYNs were sent again at RTOMin, doubling: 200ms, 600ms, 1.4s.
	if r := tr.fx.f.Stats().Retransmits; r != 3 {
		t.Fatalf("%d SYN retransmissions in a 2s connect timeout, want 3", r)
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
