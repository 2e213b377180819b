package replication

import (
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// fakeLeader serves subscriptions from an empty log that never reads.
type fakeLeader struct{ end int64 }

func (f *fakeLeader) Subscribe(*Subscribe) (Epoch, int64, bool)          { return Epoch{}, f.end, true }
func (f *fakeLeader) Read(int64, int, func([]byte, int64, int64, error)) {}
func (f *fakeLeader) End() int64                                         { return f.end }
func (f *fakeLeader) Committed() int64                                   { return 0 }
func (f *fakeLeader) SubscriptionsChanged()                              {}
func (f *fakeLeader) ReplicaSilent(env.Endpoint)                         {}
func (f *fakeLeader) ReplicaAhead(int32)                                 {}

var testLeaderID = member.ID{1}

// newTestServer is a leader's replication server over fakeLeader.
func newTestServer() *Server {
	e := env.Env{Clock: envtest.NewClock(time.Unix(0, 0)), Rand: &counterRand{}}
	return NewServer(e, testLeaderID, Heartbeats{Interval: time.Second, Timeout: time.Second}, &fakeLeader{end: 100})
}

// accept hands the server a replica's connection from the given port.
func accept(s *Server, port uint16) *fakeConn {
	c := &fakeConn{remote: env.Endpoint{Host: "10.0.0.4", Port: port}}
	c.h = s.Accept(c)
	return c
}

// A replica whose host lost power comes back under a new instance id
// before the leader has found its old connection dead. Its new
// subscription must replace the old one: counted as two replicas, one
// node's acknowledgements would commit a record in a five-node cluster
// that only the leader and that node hold.
func TestARestartedReplicaReplacesItsOldSubscription(t *testing.T) {
	s := newTestServer()
	node := env.Endpoint{Host: "10.0.0.4", Port: 2113}

	connect := func(instance byte, port uint16) *fakeConn {
		c := accept(s, port)
		sub := &Subscribe{ReplicaID: member.ID{instance}, LeaderID: testLeaderID, SubscriptionID: member.ID{instance, 1},
			IsPromotable: true, Writer: 100, ReplicaNode: node}
		c.h.Received(c, wire.Marshal(sub))
		c.h.Received(c, wire.Marshal(&Ack{SubscriptionID: sub.SubscriptionID, Durable: 100}))
		return c
	}
	old := connect(4, 40000)
	if got := s.QuorumPosition(1); got != 100 {
		t.Fatalf("one replica acknowledged 100, and the quorum position is %d", got)
	}
	reborn := connect(5, 40001)
	if !old.closed {
		t.Error("the old incarnation's connection is still open after the node subscribed again")
	}
	if reborn.closed {
		t.Error("the new incarnation's connection was closed")
	}
	// What the old connection still delivers counts for nothing.
	old.h.Received(old, wire.Marshal(&Ack{SubscriptionID: member.ID{4, 1}, Durable: 100}))
	if got := s.QuorumPosition(2); got != -1 {
		t.Errorf("two acknowledgements are needed and one node gave them, yet the quorum position is %d", got)
	}
	if n := len(s.Subscriptions()); n != 1 {
		t.Errorf("%d subscriptions for one node, want 1", n)
	}
}

// A subscription that names no node endpoint could not be told from the
// same node's subscription before a restart: it is dropped.
func TestASubscriptionMustNameItsNode(t *testing.T) {
	s := newTestServer()
	c := accept(s, 40000)
	c.h.Received(c, wire.Marshal(&Subscribe{ReplicaID: member.ID{4}, LeaderID: testLeaderID, SubscriptionID: member.ID{4, 1}, IsPromotable: true}))
	if _, ok := c.last().(*Drop); !ok {
		t.Errorf("answered %T, want a Drop", c.last())
	}
	if n := len(s.Subscriptions()); n != 0 {
		t.Errorf("%d subscriptions, want none", n)
	}
}
