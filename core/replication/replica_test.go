package replication

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// linkRig is one replica link over a fake connection, with a replica node
// whose writes complete only when the test says so.
type linkRig struct {
	t      *testing.T
	clock  *envtest.Clock
	link   *Link
	conn   *fakeConn
	node   *fakeReplica
	subID  member.ID
	leader member.ID
}

func newLinkRig(t *testing.T) *linkRig {
	t.Helper()
	r := dialLinkRig(t)
	r.deliver(&Subscribed{LeaderID: r.leader, SubscriptionID: r.subID, Start: 0})
	if !r.link.ready {
		t.Fatal("the link is not ready after Subscribed; the replica's Subscribed completed at once")
	}
	return r
}

// dialLinkRig is a link that has connected and sent its Subscribe, not yet
// answered.
func dialLinkRig(t *testing.T) *linkRig {
	t.Helper()
	clock := envtest.NewClock(time.Unix(0, 0))
	net := &fakeNet{}
	node := &fakeReplica{}
	e := env.Env{Clock: clock, Net: net, Rand: &counterRand{}}
	r := &linkRig{t: t, clock: clock, node: node, leader: member.ID{1}}
	r.link = Dial(e, ReplicaConfig{Self: member.ID{2}, Node: env.Endpoint{Host: "replica", Port: 2113}, Promotable: true, Heartbeats: Heartbeats{Interval: time.Second, Timeout: time.Second}},
		r.leader, env.Endpoint{Host: "leader", Port: 1112}, node)
	r.conn = net.conn
	net.handler.Established(r.conn)
	sub, ok := r.conn.last().(*Subscribe)
	if !ok {
		t.Fatalf("after connecting, the link sent %T; want a Subscribe", r.conn.last())
	}
	r.subID = sub.SubscriptionID
	return r
}

func (r *linkRig) deliver(m wire.Message) {
	var enc wire.Encoder
	enc.Message(m)
	r.conn.h.Received(r.conn, enc.Data())
}

// acks lists the Durable of every Ack sent, in order.
func (r *linkRig) acks() []int64 {
	var out []int64
	for _, m := range r.conn.sent {
		if a, ok := m.(*Ack); ok {
			out = append(out, a.Durable)
		}
	}
	return out
}

// Many small appends in flight at once arrive as many small Data messages
// (one per append) before the first is durable. The leader bounds what is
// unacknowledged in bytes; the replica must accept every such message,
// keep one write in flight (so that what it reports to a later leader
// matches its log), and write everything that arrived meanwhile as one
// batch, so that one sync covers them.
func TestLinkWritesManySmallDataMessagesTogether(t *testing.T) {
	r := newLinkRig(t)
	const messages, size = 200, 100
	for i := range messages {
		r.deliver(&Data{SubscriptionID: r.subID, From: int64(i * size), Raw: make([]byte, size), Committed: 0})
	}
	if r.node.lost != nil {
		t.Fatalf("the link was lost after %d Data messages of %d bytes (far inside the leader's %d-byte window): %v",
			messages, size, Window, r.node.lost)
	}
	if len(r.node.writes) != 1 || r.node.sizes[0] != size {
		t.Fatalf("the link has %d writes in flight (sizes %v); want one, of the first message", len(r.node.writes), r.node.sizes)
	}
	before := len(r.acks())
	r.node.completeAll(size, nil)
	if len(r.node.writes) != 1 || r.node.froms[1] != size || r.node.sizes[1] != (messages-1)*size {
		t.Fatalf("after the first write, the link wrote from %v sizes %v; want the other %d messages as one write from %d",
			r.node.froms, r.node.sizes, messages-1, size)
	}
	r.node.completeAll(messages*size, nil)
	acks := r.acks()[before:]
	if len(acks) != 2 || acks[0] != size || acks[1] != messages*size {
		t.Fatalf("the link acknowledged %v; want %d, then %d", acks, size, messages*size)
	}
	if r.link.heldBytes != 0 || r.link.writing {
		t.Fatalf("the link still counts %d bytes held (writing %v) after every write completed", r.link.heldBytes, r.link.writing)
	}
}

// A leader that ignores its window is cut off, counting bytes.
func TestLinkClosesWhenLeaderOverrunsItsWindow(t *testing.T) {
	r := newLinkRig(t)
	const size = MaxDataBytes
	var from int64
	for i := 0; i <= maxHeldBytes/size && r.node.lost == nil; i++ {
		r.deliver(&Data{SubscriptionID: r.subID, From: from, Raw: make([]byte, size)})
		from += size
	}
	if r.node.lost == nil {
		t.Fatalf("the link accepted %d bytes not yet durable; want it closed past %d", from, maxHeldBytes)
	}
	if from != maxHeldBytes+size {
		t.Fatalf("the link closed after %d bytes; want it to accept exactly %d and close on the next message", from-size, maxHeldBytes)
	}
}

// A failed write closes the link; writes completing after it are ignored.
func TestLinkClosesOnWriteFailure(t *testing.T) {
	r := newLinkRig(t)
	for i := range 3 {
		r.deliver(&Data{SubscriptionID: r.subID, From: int64(i * 10), Raw: make([]byte, 10)})
	}
	r.node.completeAll(0, errors.New("disk on fire"))
	if r.node.lost == nil {
		t.Fatal("the link survived a failed write; want it lost")
	}
	if n := len(r.acks()); n != 1 { // the one sent on subscribing
		t.Fatalf("the link sent %d Acks; want only the one sent on subscribing", n)
	}
}

// A leader not ready for a replica asks it to retry, and the link does so
// after RetryDelay. An answer from another instance at the leader's
// endpoint means the leader restarted: the one this node follows is gone,
// and the link ends so that the node looks for a leader again instead of
// retrying for ever (found-stepped-clock-hides-leader-state).
func TestARetryFromAnotherInstanceEndsTheLink(t *testing.T) {
	r := dialLinkRig(t)
	r.deliver(&SubscriptionRetry{LeaderID: r.leader, SubscriptionID: r.subID})
	if r.node.lost != nil || r.conn.closed {
		t.Fatalf("a retry from the leader followed ended the link: %v", r.node.lost)
	}
	r.clock.Advance(RetryDelay)
	again, ok := r.conn.last().(*Subscribe)
	if !ok || again.SubscriptionID == r.subID {
		t.Fatalf("after the retry delay the link sent %T; want a new Subscribe", r.conn.last())
	}
	r.deliver(&SubscriptionRetry{LeaderID: member.ID{9}, SubscriptionID: again.SubscriptionID})
	if r.node.lost == nil || !r.conn.closed {
		t.Fatal("a retry from another instance at the leader's endpoint left the link open")
	}
}

type fakeReplica struct {
	writes       []func(int64, error)
	froms, sizes []int64 // of every write issued
	lost         error
	// promised is the highest election proposal accepted.
	promised int32
}

func (f *fakeReplica) Epochs() []Epoch { return nil }
func (f *fakeReplica) Writer() int64   { return 0 }
func (f *fakeReplica) Subscribed(_ Epoch, _ int64, done func(error)) {
	done(nil)
}
func (f *fakeReplica) Write(from int64, raw []byte, done func(int64, error)) {
	f.writes = append(f.writes, done)
	f.froms = append(f.froms, from)
	f.sizes = append(f.sizes, int64(len(raw)))
}
func (f *fakeReplica) Committed(int64)               {}
func (f *fakeReplica) Assigned(Role)                 {}
func (f *fakeReplica) Promised() int32               { return f.promised }
func (f *fakeReplica) StillFollows(epoch int32) bool { return f.promised <= epoch }
func (f *fakeReplica) Lost(reason error)             { f.lost = reason }
func (f *fakeReplica) completeAll(durable int64, err error) {
	writes := f.writes
	f.writes = nil
	for _, w := range writes {
		w(durable, err)
	}
}

type counterRand struct{ n uint64 }

func (r *counterRand) Uint64() uint64 { r.n++; return r.n * 0x9e3779b97f4a7c15 }

type fakeNet struct {
	env.Network
	conn    *fakeConn
	handler env.ConnHandler
}

func (n *fakeNet) Connect(to env.Endpoint, h env.ConnHandler) env.Conn {
	n.conn = &fakeConn{remote: to, h: h}
	n.handler = h
	return n.conn
}

type fakeConn struct {
	remote env.Endpoint
	h      env.ConnHandler
	sent   []wire.Message
	closed bool
}

func (c *fakeConn) ID() uint64           { return 1 }
func (c *fakeConn) Local() env.Endpoint  { return env.Endpoint{Host: "replica", Port: 40000} }
func (c *fakeConn) Remote() env.Endpoint { return c.remote }
func (c *fakeConn) Queued() int          { return 0 }
func (c *fakeConn) NotifyDrained()       {}
func (c *fakeConn) Close()               { c.closed = true }
func (c *fakeConn) last() wire.Message   { return c.sent[len(c.sent)-1] }
func (c *fakeConn) Send(msg []byte) error {
	if c.closed {
		return env.ErrClosed
	}
	m, err := wire.Unmarshal(msg)
	if err != nil {
		return err
	}
	c.sent = append(c.sent, m)
	return nil
}

// TestAReplicaThatPromisedANewerElectionDoesNotAckOnSubscribing: a replica
// that gave its log state to an election for epoch 6 acknowledges nothing
// more to a leader of epoch 5, and that includes the first Ack of a new
// link to it, which would carry writes that became durable after the
// promise. It tells the leader it is ahead instead, and leaves.
func TestAReplicaThatPromisedANewerElectionDoesNotAckOnSubscribing(t *testing.T) {
	r := dialLinkRig(t)
	r.node.promised = 6
	r.deliver(&Subscribed{LeaderID: r.leader, SubscriptionID: r.subID, Epoch: Epoch{Number: 5}, Start: 0})
	if acks := r.acks(); len(acks) != 0 {
		t.Fatalf("acknowledged %v to the leader of epoch 5 after promising proposal 6", acks)
	}
	if ahead, ok := r.conn.last().(*Ahead); !ok || ahead.Promised != 6 || !r.conn.closed {
		t.Fatalf("last sent %#v, closed %v; want Ahead{Promised: 6} and the link closed", r.conn.last(), r.conn.closed)
	}
	// Following a leader of the promised epoch is acknowledged as usual.
	r = dialLinkRig(t)
	r.node.promised = 6
	r.deliver(&Subscribed{LeaderID: r.leader, SubscriptionID: r.subID, Epoch: Epoch{Number: 6}, Start: 0})
	if acks := r.acks(); len(acks) != 1 || r.conn.closed {
		t.Fatalf("acks %v, closed %v following the leader of epoch 6; want one Ack", acks, r.conn.closed)
	}
}

// One event larger than MaxDataBytes travels alone in one Data message
// (the leader never splits a record), and one larger than the leader's
// window may follow records still being written. The replica must take
// both: refusing them closed the link at the same record after every
// resubscription, and no write ever committed again (a 300 kB event on
// a three-node cluster with the default MaxAppendSize of 1 MiB).
func TestLinkAcceptsARecordLargerThanMaxDataBytesAndTheWindow(t *testing.T) {
	r := newLinkRig(t)
	small := make([]byte, 1<<20)
	r.deliver(&Data{SubscriptionID: r.subID, From: 0, Raw: small})
	big := make([]byte, 15<<20) // MaxAppendSize's upper bound
	r.deliver(&Data{SubscriptionID: r.subID, From: int64(len(small)), Raw: big})
	if r.node.lost != nil {
		t.Fatalf("a Data message of %d bytes (one record) after %d bytes still being written closed the link: %v",
			len(big), len(small), r.node.lost)
	}
	r.node.completeAll(int64(len(small)), nil)
	if len(r.node.froms) != 2 || r.node.froms[1] != int64(len(small)) || r.node.sizes[1] != int64(len(big)) {
		t.Fatalf("the link wrote from %v sizes %v; want the large record written whole after the first write", r.node.froms, r.node.sizes)
	}
}

// While a large Data message arrives slowly (the driver reports progress,
// env.ProgressHandler), the replica has nothing to send, and the leader's
// heartbeat request to it waits behind that very message. The replica
// counts the progress as hearing from the leader and, once an interval has
// passed without sending, sends a request of its own, so that the leader
// hears from it too (EventStoreDB's proactive heartbeat). Otherwise each
// side declared the other dead in the middle of the message, and the link
// broke at the same record over and over on a slow link.
func TestLinkStaysAliveBothWaysWhileALargeMessageArrives(t *testing.T) {
	r := newLinkRig(t)
	ph, ok := r.conn.h.(env.ProgressHandler)
	if !ok {
		t.Fatalf("the link's handler %T does not take progress reports", r.conn.h)
	}
	sentBefore := len(r.conn.sent)
	// Five seconds of a message arriving (interval 1 s, timeout 1 s).
	for range 50 {
		r.clock.Advance(100 * time.Millisecond)
		ph.Progress(r.conn)
	}
	if r.node.lost != nil {
		t.Fatalf("the link was lost while the leader's message kept arriving: %v", r.node.lost)
	}
	requests := 0
	for _, m := range r.conn.sent[sentBefore:] {
		if _, ok := m.(*HeartbeatRequest); ok {
			requests++
		}
	}
	if requests < 4 || requests > 5 {
		t.Fatalf("the link sent %d heartbeat requests in 5 s of receiving part of a message and sending nothing; want one per 1 s interval",
			requests)
	}
}
