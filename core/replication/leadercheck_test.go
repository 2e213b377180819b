package replication

import (
	"testing"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// subscribeReplica connects a replica of the given node (distinguished by
// its node port) and instance, and subscribes it.
func subscribeReplica(s *Server, instance byte, nodePort, connPort uint16, promotable bool) *fakeConn {
	c := accept(s, connPort)
	c.h.Received(c, wire.Marshal(&Subscribe{ReplicaID: member.ID{instance}, LeaderID: testLeaderID,
		SubscriptionID: member.ID{instance, 1}, IsPromotable: promotable, Writer: 100,
		ReplicaNode: env.Endpoint{Host: "10.0.0.9", Port: nodePort}}))
	return c
}

// checks lists the LeaderChecks a replica was sent.
func checks(c *fakeConn) []*LeaderCheck {
	var out []*LeaderCheck
	for _, m := range c.sent {
		if lc, ok := m.(*LeaderCheck); ok {
			out = append(out, lc)
		}
	}
	return out
}

func answer(c *fakeConn, seq uint64, yes bool) {
	c.h.Received(c, wire.Marshal(&LeaderCheckOk{Seq: seq, Yes: yes}))
}

// result records how a confirmation was answered.
type result struct {
	calls int
	ok    bool
}

func (r *result) done(ok bool) { r.calls++; r.ok = ok }

func TestLeadershipIsConfirmedByAQuorumOfPromotableReplicas(t *testing.T) {
	s := newTestServer()
	a := subscribeReplica(s, 2, 2, 40000, true)
	b := subscribeReplica(s, 3, 3, 40001, true)
	ro := subscribeReplica(s, 4, 4, 40002, false)
	var r result
	s.ConfirmLeadership(7, 2, r.done)
	if len(checks(a)) != 1 || len(checks(b)) != 1 || len(checks(ro)) != 0 {
		t.Fatalf("checks sent: %d, %d, and %d to the replica that does not vote; want 1, 1, 0", len(checks(a)), len(checks(b)), len(checks(ro)))
	}
	seq := checks(a)[0].Seq
	if checks(a)[0].Epoch != 7 {
		t.Errorf("the check asks about epoch %d, want 7", checks(a)[0].Epoch)
	}
	answer(a, seq, true)
	answer(a, seq, true) // the same node twice is one yes
	answer(ro, seq, true)
	answer(b, seq+1, true) // not this round's
	answer(b, seq, false)
	if r.calls != 0 {
		t.Fatalf("confirmed with one voting yes (answers repeated, from a non-voter, of another round, or no): %+v", r)
	}
	answer(b, seq, true)
	if r.calls != 1 || !r.ok {
		t.Fatalf("two voting replicas said yes: %+v, want one true", r)
	}
	answer(b, seq, true)
	if r.calls != 1 {
		t.Error("a late answer called done again")
	}
}

func TestARestartedReplicaSaysYesOnceForItsNode(t *testing.T) {
	s := newTestServer()
	old := subscribeReplica(s, 2, 2, 40000, true)
	subscribeReplica(s, 3, 3, 40001, true)
	var r result
	s.ConfirmLeadership(7, 2, r.done)
	seq := checks(old)[0].Seq
	answer(old, seq, true)
	// The node restarts under a new instance and subscribes again; the
	// round it missed gets no yes from its new connection (it was never
	// asked), and the old one's counted yes stays the node's only one.
	reborn := subscribeReplica(s, 5, 2, 40002, true)
	answer(reborn, seq, true)
	if r.calls != 0 {
		t.Fatalf("one node's two incarnations confirmed a quorum of two: %+v", r)
	}
}

func TestAConfirmationWithoutAQuorumFailsAtTheTimeout(t *testing.T) {
	s := newTestServer()
	clock := s.e.Clock.(*envtest.Clock)
	a := subscribeReplica(s, 2, 2, 40000, true)
	var r result
	s.ConfirmLeadership(7, 2, r.done)
	answer(a, checks(a)[0].Seq, true)
	clock.Advance(CheckTimeout - 1)
	if r.calls != 0 {
		t.Fatalf("answered before the timeout: %+v", r)
	}
	clock.Advance(1)
	if r.calls != 1 || r.ok {
		t.Fatalf("at the timeout: %+v, want one false", r)
	}
}

// A request that arrives while a round runs is answered by the next round:
// a yes given before the request was made says nothing about leadership
// at the time of the request.
func TestARequestDuringARoundWaitsForTheNextRound(t *testing.T) {
	s := newTestServer()
	a := subscribeReplica(s, 2, 2, 40000, true)
	var first, second result
	s.ConfirmLeadership(7, 1, first.done)
	s.ConfirmLeadership(7, 1, second.done)
	if n := len(checks(a)); n != 1 {
		t.Fatalf("%d checks sent for two requests during one round, want 1", n)
	}
	answer(a, checks(a)[0].Seq, true)
	if first.calls != 1 || !first.ok || second.calls != 0 {
		t.Fatalf("after the first round: first %+v, second %+v; want the first confirmed and the second waiting", first, second)
	}
	cs := checks(a)
	if len(cs) != 2 || cs[1].Seq == cs[0].Seq {
		t.Fatalf("checks %v: want a second round, with its own number", cs)
	}
	answer(a, cs[0].Seq, true)
	if second.calls != 0 {
		t.Fatal("the first round's answer confirmed a request made after it started")
	}
	answer(a, cs[1].Seq, true)
	if second.calls != 1 || !second.ok {
		t.Fatalf("second %+v, want confirmed by the second round", second)
	}
}

func TestAbortAnswersEveryWaitingRequestNo(t *testing.T) {
	s := newTestServer()
	clock := s.e.Clock.(*envtest.Clock)
	subscribeReplica(s, 2, 2, 40000, true)
	var first, second result
	s.ConfirmLeadership(7, 1, first.done)
	s.ConfirmLeadership(7, 1, second.done)
	s.AbortChecks()
	if first.calls != 1 || first.ok || second.calls != 1 || second.ok {
		t.Fatalf("after abort: %+v and %+v, want both false once", first, second)
	}
	clock.Advance(2 * CheckTimeout)
	if first.calls != 1 || second.calls != 1 {
		t.Error("the aborted round's timer answered again")
	}
	var none result
	s.ConfirmLeadership(7, 0, none.done)
	if none.calls != 1 || !none.ok {
		t.Errorf("a single-node cluster needs no replica: %+v, want true at once", none)
	}
}
