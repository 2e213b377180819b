package bench

import (
	"errors"
	"testing"
	"time"
)

func TestChooseLeaderTrustsOnlyReachableLeaders(t *testing.T) {
	a, b, c := "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"
	view := func(from string, leader string) gossipAnswer {
		g := gossipAnswer{from: from}
		for _, ep := range []string{a, b, c} {
			g.members = append(g.members, memberView{endpoint: ep, leader: ep == leader, alive: true})
		}
		return g
	}
	dead := gossipAnswer{from: a, err: errors.New("connection refused")}

	for _, tc := range []struct {
		name    string
		answers []gossipAnswer
		want    string
	}{
		{"all agree", []gossipAnswer{view(a, b), view(b, b), view(c, b)}, b},
		{"the dead leader is still named by the others", []gossipAnswer{dead, view(b, a), view(c, a)}, ""},
		{"a node's own claim outranks hearsay", []gossipAnswer{dead, view(b, a), view(c, c)}, c},
		{"more votes win", []gossipAnswer{view(b, a), view(c, a), {from: "127.0.0.1:9", members: []memberView{{endpoint: c, leader: true, alive: true}}}}, a},
		{"a dead member is no leader", []gossipAnswer{{from: b, members: []memberView{{endpoint: a, leader: true, alive: false}}}}, ""},
		{"no answers", nil, ""},
	} {
		got, ok := chooseLeader(tc.answers)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: chooseLeader = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestClassifyReadsNotLeaderTrailers(t *testing.T) {
	md := map[string][]string{"exception": {"not-leader"}, "leader-endpoint-host": {"127.0.0.1"}, "leader-endpoint-port": {"2123"}}
	e := classify(errors.New("rpc error: code = NotFound desc = Leader info available"), md)
	if e.kind != kindNotLeader || e.leader != "127.0.0.1:2123" {
		t.Fatalf("classify = kind %q leader %q; want not-leader at 127.0.0.1:2123", e.kind, e.leader)
	}
	if e := classify(errors.New("boom"), nil); e.kind != "Unknown" || e.leader != "" {
		t.Fatalf("classify(plain error) = kind %q leader %q; want Unknown and no leader", e.kind, e.leader)
	}
}

func TestUseLeaderMovesTheConnectionsOncePerGeneration(t *testing.T) {
	// gRPC connects lazily: nothing is dialled here.
	c, err := newCluster(nil, 2, time.Second, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if _, _, ok := c.client(0); ok {
		t.Fatal("a new cluster has connections before a leader is known")
	}
	_, gen, _ := c.client(0)
	c.useLeader(gen, "127.0.0.1:1")
	first, gen1, ok := c.client(0)
	if !ok || gen1 == gen || c.currentLeader() != "127.0.0.1:1" {
		t.Fatalf("after useLeader: ok %v, generation %d (was %d), leader %q", ok, gen1, gen, c.currentLeader())
	}
	if other, _, _ := c.client(1); other == first {
		t.Fatal("callers 0 and 1 share a connection although there are two")
	}

	// A caller that failed on the old generation moves nothing.
	c.useLeader(gen, "127.0.0.1:2")
	if c.currentLeader() != "127.0.0.1:1" {
		t.Fatalf("a stale generation moved the leader to %q", c.currentLeader())
	}
	// The same leader keeps the connections but moves the generation.
	c.useLeader(gen1, "127.0.0.1:1")
	same, gen2, _ := c.client(0)
	if same != first || gen2 == gen1 {
		t.Fatalf("the same leader again: connection replaced %v, generation %d (was %d)", same != first, gen2, gen1)
	}
	// No leader: no connections until one is found.
	c.useLeader(gen2, "")
	if _, _, ok := c.client(0); ok || c.currentLeader() != "" {
		t.Fatalf("after losing the leader: connections %v, leader %q", ok, c.currentLeader())
	}
}
