package election_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/election"
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
	"github.com/annal-db/annal/core/member"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is a minimal harness: election services wired by a message
// network with per-message delay and loss, on one manual clock.
type cluster struct {
	t        *rapid.T
	clock    *envtest.Clock
	nodes    []*tnode
	loss     float64
	maxDelay time.Duration
	rng      func(label string, n int) int
	// decided[epoch] = leader id, across all nodes
	decided map[int32]member.ID
}

type tnode struct {
	c        *cluster
	svc      *election.Service
	info     member.Info
	state    election.LogState
	persist  election.Checkpoint
	down     bool
	elected  []int32
	resigned bool
	sent     []election.Message
	sentTo   []env.Endpoint // where each of sent went
	leader   env.Endpoint   // the leader the node follows
}

type nopRand struct{ n uint64 }

func (r *nopRand) Uint64() uint64 { r.n = r.n*6364136223846793005 + 1442695040888963407; return r.n }

func newCluster(t *rapid.T, n int, loss float64) *cluster {
	c := &cluster{t: t, clock: envtest.NewClock(time.Unix(0, 0)), loss: loss, maxDelay: 5 * time.Millisecond,
		decided: map[int32]member.ID{}}
	c.rng = func(label string, n int) int { return rapid.IntRange(0, n-1).Draw(t, label) }
	for i := 0; i < n; i++ {
		var id member.ID
		id[0] = byte(i + 1)
		tn := &tnode{c: c, persist: election.NoCheckpoint}
		tn.info = member.Info{InstanceID: id, IsAlive: true, State: member.Unknown,
			HTTPEndPoint: env.Endpoint{Host: fmt.Sprintf("10.0.0.%d", i+1), Port: 2113},
			EpochNumber:  -1, NodePriority: int32(rapid.IntRange(0, 3).Draw(t, "priority"))}
		tn.state = election.LogState{ServerID: id, HTTP: tn.info.HTTPEndPoint, EpochNumber: -1,
			WriterCheckpoint: int64(rapid.IntRange(0, 3).Draw(t, "writer")), NodePriority: tn.info.NodePriority,
			DiskFull: rapid.IntRange(0, 3).Draw(t, "disk full") == 0}
		e := env.Env{Clock: c.clock, Rand: &nopRand{n: uint64(i)}}
		tn.svc = election.New(e, election.Config{ClusterSize: n, Timeout: time.Second},
			election.From{ServerID: id, HTTP: tn.info.HTTPEndPoint}, election.NoCheckpoint, tn)
		c.nodes = append(c.nodes, tn)
	}
	return c
}

func (n *tnode) Members() []member.Info {
	var out []member.Info
	for _, o := range n.c.nodes {
		out = append(out, o.info)
	}
	member.Sort(out)
	return out
}

func (n *tnode) LogState() election.LogState { return n.state }

func (n *tnode) Leader() env.Endpoint { return n.leader }

func (n *tnode) Send(to env.Endpoint, m election.Message) {
	c := n.c
	if n.down {
		return
	}
	n.sent = append(n.sent, m)
	n.sentTo = append(n.sentTo, to)
	if c.loss > 0 && c.rng("lost", 100) < int(c.loss*100) {
		return
	}
	delay := time.Duration(c.rng("delay", int(c.maxDelay))) + time.Microsecond
	c.clock.AfterFunc(delay, func() {
		for _, o := range c.nodes {
			if o.info.HTTPEndPoint == to && !o.down {
				o.svc.Handle(m)
			}
		}
	})
}

func (n *tnode) from() election.From {
	return election.From{ServerID: n.info.InstanceID, HTTP: n.info.HTTPEndPoint}
}

// restart replaces the node's service with a fresh one (its volatile
// state lost) that starts from what the node persisted.
func (n *tnode) restart(clusterSize int, seed uint64) {
	n.svc.Stop()
	e := env.Env{Clock: n.c.clock, Rand: &nopRand{n: seed}}
	n.svc = election.New(e, election.Config{ClusterSize: clusterSize, Timeout: time.Second}, n.from(), n.persist, n)
}

func (n *tnode) Persist(p election.Checkpoint, done func(bool)) {
	n.c.clock.AfterFunc(time.Duration(n.c.rng("sync", 2000))*time.Microsecond, func() {
		if n.down {
			return
		}
		n.persist.Proposal = max(n.persist.Proposal, p.Proposal)
		n.persist.Promised = max(n.persist.Promised, p.Promised)
		done(true)
	})
}

func (n *tnode) Elected(view, number int32, leader election.From) {
	c := n.c
	if prev, ok := c.decided[number]; ok && prev != leader.ServerID {
		c.t.Fatalf("two leaders of epoch %d: %s and %s", number, prev.Short(), leader.ServerID.Short())
	}
	c.decided[number] = leader.ServerID
	n.elected = append(n.elected, number)
	// The elected leader's log is at least as up to date (epoch, then
	// position) as that of every node that accepted it.
	var l election.LogState
	for _, o := range c.nodes {
		if o.info.InstanceID == leader.ServerID {
			l = o.state
		}
	}
	for _, o := range c.nodes {
		al, an, ok := o.svc.Accepted()
		if !ok || al.ServerID != leader.ServerID || an != number {
			continue
		}
		if l.EpochNumber < o.state.EpochNumber ||
			(l.EpochNumber == o.state.EpochNumber && l.WriterCheckpoint < o.state.WriterCheckpoint) {
			c.t.Fatalf("leader %s (epoch %d, writer %d) is behind accepting node %s (epoch %d, writer %d)",
				leader.ServerID.Short(), l.EpochNumber, l.WriterCheckpoint,
				o.info.InstanceID.Short(), o.state.EpochNumber, o.state.WriterCheckpoint)
		}
	}
}

func (n *tnode) Resigned() { n.resigned = true }

func TestSingleNodeElectsItself(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := newCluster(t, 1, 0)
		c.nodes[0].svc.StartElections()
		c.clock.Advance(time.Second)
		if len(c.nodes[0].elected) != 1 || c.nodes[0].elected[0] != 0 {
			t.Fatalf("single node elected %v, want epoch 0 once", c.nodes[0].elected)
		}
	})
}

// On a lossless network every node decides, once, on the same leader, whose
// log is the best of a quorum.
func TestQuietClusterDecidesOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 7).Draw(t, "nodes")
		c := newCluster(t, n, 0)
		for _, nd := range c.nodes {
			nd.svc.StartElections()
		}
		c.clock.Advance(30 * time.Second)
		if len(c.decided) != 1 {
			t.Fatalf("%d epochs decided on a quiet network, want 1: %v", len(c.decided), c.decided)
		}
		var leader member.ID
		for _, l := range c.decided {
			leader = l
		}
		// The coordinator picks the best of the first quorum to answer, so
		// at most ClusterSize - quorum nodes can have a better log.
		var ls election.LogState
		for _, nd := range c.nodes {
			if nd.info.InstanceID == leader {
				ls = nd.state
			}
		}
		better := 0
		for _, nd := range c.nodes {
			if election.Compare(&nd.state, &ls, member.ID{}) < 0 {
				better++
			}
		}
		if quorum := n/2 + 1; better > n-quorum {
			t.Fatalf("elected %s although %d of %d nodes have better logs", leader.Short(), better, n)
		}
		for _, nd := range c.nodes {
			if len(nd.elected) != 1 {
				t.Fatalf("node %s decided %d times", nd.info.InstanceID.Short(), len(nd.elected))
			}
		}
	})
}

// A node whose disk is full is chosen last among equal logs, never before a
// better log: the log decides first, so nothing committed is ever passed
// over.
func TestCompareRanksAFullDiskAfterTheLog(t *testing.T) {
	var a, b member.ID
	a[0], b[0] = 1, 2
	full := election.LogState{ServerID: a, EpochNumber: 3, WriterCheckpoint: 100, ChaserCheckpoint: 100, NodePriority: 10, DiskFull: true}
	fine := election.LogState{ServerID: b, EpochNumber: 3, WriterCheckpoint: 100, ChaserCheckpoint: 100}
	if election.Compare(&fine, &full, member.ID{}) >= 0 {
		t.Fatal("equal logs: the node with room for its log must rank first, whatever the other's priority")
	}
	full.WriterCheckpoint = 101
	if election.Compare(&full, &fine, member.ID{}) >= 0 {
		t.Fatal("a longer log must rank first even on a full disk")
	}
}

// With loss, crashes and restarts of election state, no epoch ever gets two
// leaders; once the network is quiet again a leader emerges.
func TestNeverTwoLeadersPerEpoch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 7).Draw(t, "nodes")
		c := newCluster(t, n, rapid.Float64Range(0, 0.5).Draw(t, "loss"))
		for _, nd := range c.nodes {
			nd.svc.StartElections()
		}
		steps := rapid.IntRange(0, 20).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			c.clock.Advance(time.Duration(rapid.IntRange(0, 3000).Draw(t, "ms")) * time.Millisecond)
			nd := c.nodes[rapid.IntRange(0, n-1).Draw(t, "node")]
			switch rapid.IntRange(0, 2).Draw(t, "action") {
			case 0: // restart: volatile election state lost, the persisted checkpoint kept
				nd.restart(n, uint64(i))
				nd.svc.StartElections()
			case 1:
				nd.svc.StartElections()
			case 2:
				nd.down = !nd.down
			}
		}
		before := len(c.decided)
		c.loss = 0
		for _, nd := range c.nodes {
			nd.down = false
			nd.svc.StartElections()
		}
		c.clock.Advance(time.Duration(n+2) * 10 * time.Second)
		if len(c.decided) == before {
			t.Fatalf("no leader decided after the network healed")
		}
	})
}

// A promise outlives the process: the log state is sent only once the
// promise is durable, and a restarted node still keeps it. A promise
// already durable needs no second write.
func TestAPromiseOutlivesARestart(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		a, coord := c.nodes[0], c.nodes[1]
		a.state.EpochNumber = 4
		a.svc.StartElections()
		view := a.svc.Installed() + 1
		prepare := &election.Prepare{From: coord.from(), View: view}
		a.svc.Handle(prepare)
		if n := count[*election.PrepareOk](a.sent); n != 0 {
			rt.Fatalf("%d log states sent before the promise was durable", n)
		}
		c.clock.Advance(3 * time.Millisecond) // the fake disk syncs within 2 ms
		if n := count[*election.PrepareOk](a.sent); n != 1 {
			rt.Fatalf("%d log states sent once the promise was durable, want 1", n)
		}
		if a.persist.Promised != 5 {
			rt.Fatalf("persisted promise %d, want 5 (one above the state's epoch)", a.persist.Promised)
		}

		a.restart(3, 0)
		if got := a.svc.Promised(); got < 5 {
			rt.Fatalf("after a restart, promised %d: the promise of 5 was forgotten", got)
		}

		// The same promise again: answered at once.
		a.svc.StartElections()
		prepare.View = a.svc.Installed() + 1
		a.sent = nil
		a.svc.Handle(prepare)
		if n := count[*election.PrepareOk](a.sent); n != 1 {
			rt.Fatalf("a promise already durable: %d log states sent at once, want 1", n)
		}
	})
}

// A coordinator that learns its view has already elected (another
// coordinator's proposal won it) makes no proposal of its own when its
// last log state arrives: a second number for a decided view would leave
// acceptors promised to a term that never starts.
func TestNoProposalInADecidedView(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		a, b, d := c.nodes[0], c.nodes[1], c.nodes[2]
		b.down, d.down = true, true // a's messages go nowhere; the test delivers theirs
		a.svc.StartElections()
		// Find a view a coordinates: a view change from b makes a quorum.
		view := int32(-1)
		for v := a.svc.Installed() + 1; v < 10 && view < 0; v++ {
			a.svc.Handle(&election.ViewChange{From: b.from(), AttemptedView: v})
			if a.svc.Phase() == election.Coordinator {
				view = v
			}
		}
		if view < 0 {
			rt.Fatal("a never coordinated a view")
		}
		decide := func() {
			// b and d accept b's proposal in that view: the view is decided.
			for _, n := range []*tnode{b, d} {
				a.svc.Handle(&election.Accept{From: n.from(), Leader: b.from(), View: view, Number: 1})
			}
			if len(a.elected) == 0 {
				rt.Fatal("a quorum of accepts did not decide the view")
			}
		}
		// d's log state completes a's quorum of states, either after the
		// decision or while a persists its number (before it proposes).
		a.sent = nil
		stateFirst := rapid.Bool().Draw(rt, "state first")
		if !stateFirst {
			decide()
		}
		a.svc.Handle(&election.PrepareOk{View: view, State: d.state})
		if stateFirst {
			decide()
		}
		c.clock.Advance(time.Second)
		if !stateFirst && a.persist.Proposal >= 0 {
			rt.Fatalf("persisted proposal number %d for a view already decided", a.persist.Proposal)
		}
		for _, m := range a.sent {
			if p, ok := m.(*election.Proposal); ok && p.View == view {
				rt.Fatalf("proposed %d in view %d, already decided", p.Number, view)
			}
		}
	})
}

// count is how many of ms are of type M.
func count[M election.Message](ms []election.Message) int {
	n := 0
	for _, m := range ms {
		if _, ok := m.(M); ok {
			n++
		}
	}
	return n
}

// Answering a prepare with a log state is a promise: from then on the node
// must not help a leader of that state's epoch commit. Once its view has
// decided, a late prepare for it gets no answer and no promise: the
// elected leader must not promise away its own epoch.
func TestGivingALogStateIsAPromise(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		c.maxDelay = time.Microsecond
		a, coord := c.nodes[0], c.nodes[1]
		a.state.EpochNumber = 4
		a.svc.StartElections()
		view := a.svc.Installed() + 1 // the view it now attempts
		if got := a.svc.Promised(); got > a.state.EpochNumber {
			rt.Fatalf("promised %d before giving any state", got)
		}
		a.svc.Handle(&election.Prepare{From: coord.from(), View: view})
		if got := a.svc.Promised(); got <= a.state.EpochNumber {
			rt.Fatalf("after giving a state of epoch %d, promised only %d", a.state.EpochNumber, got)
		}

		// Let the three decide, then send a late prepare for the decided view.
		for _, nd := range c.nodes[1:] {
			nd.svc.StartElections()
		}
		c.clock.Advance(30 * time.Second)
		if len(a.elected) == 0 {
			rt.Fatal("no decision on a quiet network")
		}
		a.state.EpochNumber = a.elected[len(a.elected)-1] // as if it wrote the new epoch
		before := a.svc.Promised()
		a.svc.Handle(&election.Prepare{From: coord.from(), View: a.svc.Installed()})
		if got := a.svc.Promised(); got != before {
			rt.Fatalf("a late prepare for the decided view moved the promise from %d to %d", before, got)
		}
	})
}

// A node that restarts during a view answers its prepare again under a new
// instance id. A coordinator that counted both answers would choose a
// leader on the states of fewer nodes than a quorum, and a record
// committed by the others could be missing from all of them.
func TestARestartedNodeCountsOnceTowardsAQuorumOfStates(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 5, 0)
		a, b, d := c.nodes[0], c.nodes[1], c.nodes[2]
		view := coordinate(rt, a, b, d)
		a.sent = nil
		a.svc.Handle(&election.PrepareOk{View: view, State: b.state, Proposal: -1})
		again := b.state
		again.ServerID = reborn(b).ServerID
		a.svc.Handle(&election.PrepareOk{View: view, State: again, Proposal: -1})
		c.clock.Advance(10 * time.Millisecond)
		if a.persist.Proposal >= 0 || count[*election.Proposal](a.sent) > 0 {
			rt.Fatalf("proposed on the states of two nodes (a and b twice) in a cluster of 5")
		}
		a.svc.Handle(&election.PrepareOk{View: view, State: d.state, Proposal: -1})
		c.clock.Advance(10 * time.Millisecond)
		if count[*election.Proposal](a.sent) == 0 {
			rt.Fatalf("a third node's state made a quorum, and a did not propose")
		}
	})
}

// coordinate brings node a to coordinate a view, with the view changes of
// others, and returns the view. Every other node is down: a's messages go
// nowhere, and the test delivers theirs.
func coordinate(rt *rapid.T, a *tnode, others ...*tnode) int32 {
	for _, n := range a.c.nodes {
		n.down = n != a
	}
	a.svc.StartElections()
	for v := a.svc.Installed() + 1; v < 20; v++ {
		for _, o := range others {
			a.svc.Handle(&election.ViewChange{From: o.from(), AttemptedView: v})
		}
		if a.svc.Phase() == election.Coordinator {
			return v
		}
	}
	rt.Fatal("a never coordinated a view")
	return -1
}

// An acceptor refuses a proposal numbered at or below one it has
// persisted. The coordinator proposes above every number its quorum
// reported, or the view would be wasted on a refused proposal.
func TestAProposalIsAboveTheQuorumsPersistedNumbers(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		a, b := c.nodes[0], c.nodes[1]
		view := coordinate(rt, a, b)
		persisted := int32(rapid.IntRange(0, 50).Draw(rt, "b's persisted proposal"))
		a.sent = nil
		a.svc.Handle(&election.PrepareOk{View: view, State: b.state, Proposal: persisted})
		c.clock.Advance(10 * time.Millisecond)
		if count[*election.Proposal](a.sent) == 0 {
			rt.Fatal("a quorum of states and no proposal")
		}
		for _, m := range a.sent {
			if p, ok := m.(*election.Proposal); ok && p.Number <= persisted {
				rt.Fatalf("proposed %d; b has persisted %d and will refuse it", p.Number, persisted)
			}
		}
	})
}

// The previous leader's record comes from gossip, which lags. A candidate
// newer than that record may still lack records this acceptor holds (and
// has acknowledged), so passing the previous-leader test is no reason to
// accept: the logs are compared all the same.
func TestThePreviousLeaderTestOnlyRefuses(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		c.maxDelay = time.Microsecond
		a, b, d := c.nodes[0], c.nodes[1], c.nodes[2]
		b.down, d.down = true, true
		// a learns that b leads epoch 1.
		a.svc.StartElections()
		first := a.svc.Installed() + 1
		for _, n := range []*tnode{b, d} {
			a.svc.Handle(&election.Accept{From: n.from(), Leader: b.from(), View: first, Number: 1})
		}
		if len(a.elected) == 0 {
			rt.Fatal("a quorum of accepts did not decide")
		}
		// a holds more of epoch 1 than d; gossip still shows b leading
		// epoch 0.
		b.info.State, b.info.EpochNumber = member.Leader, 0
		a.state.EpochNumber, a.state.WriterCheckpoint = 1, 1000
		d.state.EpochNumber, d.state.WriterCheckpoint = 1, 500
		a.svc.StartElections()
		view := a.svc.Installed() + 1
		a.svc.Handle(&election.ViewChange{From: d.from(), AttemptedView: view})
		a.svc.Handle(&election.Prepare{From: d.from(), View: view})
		c.clock.Advance(10 * time.Millisecond)
		if a.svc.Phase() != election.Acceptor || a.svc.Installed() != view {
			rt.Fatalf("a did not install view %d (phase %v, installed %d)", view, a.svc.Phase(), a.svc.Installed())
		}
		a.sent = nil
		a.svc.Handle(&election.Proposal{From: d.from(), Leader: d.state, View: view, Number: 2})
		c.clock.Advance(10 * time.Millisecond)
		for _, m := range a.sent {
			if acc, ok := m.(*election.Accept); ok && acc.View == view {
				rt.Fatalf("accepted d (writer 500) while holding up to 1000 of the same epoch")
			}
		}
	})
}

// A member this node believes dead may only have been out of its reach:
// election messages go to it as well, so that it can take part (and a
// direct message is how each side learns the other lives).
func TestElectionsReachMembersBelievedDead(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		a, b := c.nodes[0], c.nodes[1]
		b.info.IsAlive = false
		a.svc.StartElections()
		for i, m := range a.sent {
			if _, ok := m.(*election.ViewChange); ok && a.sentTo[i] == b.info.HTTPEndPoint {
				return
			}
		}
		rt.Fatalf("no view change went to b, which a believes dead")
	})
}

// reborn is n's next incarnation: the same endpoint, a new instance id.
func reborn(n *tnode) election.From {
	f := n.from()
	f.ServerID[1] = 0xff
	return f
}

// View changes and a resigning leader's acknowledgements count nodes, not
// instances: a restarted node's second message adds nothing.
func TestARestartedNodeCountsOnceTowardsViewChangesAndResignation(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 5, 0)
		a, b, d := c.nodes[0], c.nodes[1], c.nodes[2]
		for _, n := range c.nodes[1:] {
			n.down = true
		}
		a.svc.StartElections()
		for v := a.svc.Installed() + 1; v < 20; v++ {
			a.svc.Handle(&election.ViewChange{From: b.from(), AttemptedView: v})
			a.svc.Handle(&election.ViewChange{From: reborn(b), AttemptedView: v})
			if a.svc.Phase() == election.Coordinator {
				rt.Fatalf("coordinated view %d on the view changes of a and b twice, in a cluster of 5", v)
			}
		}
		if coordinate(rt, a, b, d) < 0 {
			rt.Fatal("no view with a third node's view change")
		}

		a.svc.Resign()
		a.svc.Handle(&election.LeaderIsResigningOk{From: b.from(), Leader: a.from()})
		a.svc.Handle(&election.LeaderIsResigningOk{From: reborn(b), Leader: a.from()})
		if a.resigned {
			rt.Fatal("resigned on the acknowledgements of a and b twice, in a cluster of 5")
		}
		a.svc.Handle(&election.LeaderIsResigningOk{From: d.from(), Leader: a.from()})
		if !a.resigned {
			rt.Fatal("a quorum acknowledged the resignation, and a did not resign")
		}
	})
}

// A node that found its leader by gossip has never elected (Idle), and
// ignores other nodes' view changes; but when the leader it follows asks
// for one, that leader commits nothing until a view decides, so the node
// joins it. Left Idle, its followers would leave the leader electing alone
// for ever (found-leader-left-electing-alone).
func TestAFollowerJoinsTheElectionItsLeaderCalls(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		leader, stranger, f := c.nodes[0], c.nodes[1], c.nodes[2]
		f.leader = leader.info.HTTPEndPoint
		f.svc.Handle(&election.ViewChange{From: stranger.from(), AttemptedView: 4})
		if f.svc.Phase() != election.Idle || count[*election.ViewChange](f.sent) != 0 {
			rt.Fatalf("a view change from a node other than its leader moved a following node to %v", f.svc.Phase())
		}
		f.svc.Handle(&election.ViewChange{From: leader.from(), AttemptedView: 7})
		if f.svc.Phase() != election.ElectingLeader {
			rt.Fatalf("after its leader's view change the follower is %v, want %v", f.svc.Phase(), election.ElectingLeader)
		}
		for _, m := range f.sent {
			if vc, ok := m.(*election.ViewChange); ok && vc.AttemptedView != 7 {
				rt.Fatalf("the follower asked for view %d; it joins its leader's view 7", vc.AttemptedView)
			}
		}
		if count[*election.ViewChange](f.sent) == 0 {
			rt.Fatal("the follower sent no view change of its own")
		}
	})
}

// A view change for the last view there is (MaxInt32) is refused: the
// view after it would wrap, and every later view change be taken for an
// old one, so the node could never elect again.
func TestTheLastViewIsNeverAttempted(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		a, b, d := c.nodes[0], c.nodes[1], c.nodes[2]
		b.down, d.down = true, true
		a.svc.StartElections()
		a.svc.Handle(&election.ViewChange{From: b.from(), AttemptedView: math.MaxInt32})
		a.svc.Handle(&election.ViewChangeProof{From: b.from(), InstalledView: math.MaxInt32})
		coordinated := false
		for v := a.svc.Installed() + 1; v < 10 && !coordinated; v++ {
			a.svc.Handle(&election.ViewChange{From: b.from(), AttemptedView: v})
			coordinated = a.svc.Phase() == election.Coordinator
		}
		if !coordinated {
			rt.Fatalf("after a view change for view MaxInt32, a never coordinated a later ordinary view (installed %d)", a.svc.Installed())
		}
	})
}

// A node with a leader that hears of a view it missed (a ViewChangeProof:
// it was paused or cut off while the others elected) takes the view's
// number, but neither times it out nor coordinates it. The view decided
// elsewhere, so nothing decides it here: its timeout would start a view
// every node joins, an election nobody needed, and coordinating would give
// this node's log state, a promise that stops it acknowledging its leader.
// A node that is electing still joins such a view and times it out.
func TestASettledNodeTakesAMissedViewWithoutTimingItOut(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		for _, nd := range c.nodes {
			nd.svc.StartElections()
		}
		c.clock.Advance(30 * time.Second)
		if len(c.decided) != 1 {
			rt.Fatalf("%d epochs decided on a quiet network, want 1", len(c.decided))
		}
		// 10.0.0.3 coordinates views 0, 3, 6, ...: offer it one of its own
		// views and one of another node's.
		w, other := c.nodes[2], c.nodes[0]
		view := w.svc.Installed() + int32(rapid.IntRange(1, 6).Draw(rt, "views missed"))
		other.down = true
		c.nodes[1].down = true
		before := len(w.sent)
		w.svc.Handle(&election.ViewChangeProof{From: other.from(), InstalledView: view})
		if w.svc.Installed() != view || w.svc.Phase() != election.Acceptor {
			rt.Fatalf("after a proof of view %d: installed %d, phase %v; want the view taken as an acceptor", view, w.svc.Installed(), w.svc.Phase())
		}
		c.clock.Advance(10 * time.Second)
		for _, m := range w.sent[before:] {
			if _, proof := m.(*election.ViewChangeProof); !proof {
				rt.Fatalf("a node with a leader sent a %T after a proof of view %d: it timed the view out or coordinated it", m, view)
			}
		}
		if w.svc.Promised() > max(w.state.EpochNumber+1, w.persist.Proposal) {
			rt.Fatalf("the proof made the node promise %d", w.svc.Promised())
		}
		// Its coordinator, if it comes, is still answered.
		coordinator := c.nodes[0]
		for _, nd := range c.nodes {
			ms := nd.Members()
			if ms[int(view)%len(ms)].InstanceID == nd.info.InstanceID {
				coordinator = nd
			}
		}
		if coordinator != w {
			w.svc.Handle(&election.Prepare{From: coordinator.from(), View: view})
			c.clock.Advance(time.Second)
			if count[*election.PrepareOk](w.sent[before:]) != 1 {
				rt.Fatalf("the node did not answer the prepare of view %d it took from a proof", view)
			}
		}

		// A node still electing joins a proof's view and times it out.
		e := c.nodes[1]
		e.down, w.down = false, true
		e.svc.StartElections() // unsettles it: a view of its own
		e.svc.Handle(&election.ViewChangeProof{From: other.from(), InstalledView: view + 10})
		before = len(e.sent)
		c.clock.Advance(2 * time.Second)
		if e.svc.Phase() != election.ElectingLeader || count[*election.ViewChange](e.sent[before:]) == 0 {
			rt.Fatalf("an electing node did not time a proof's view out (phase %v)", e.svc.Phase())
		}
	})
}

// A node that follows a leader it learned of outside an election (gossip
// shows one in a later epoch) abandons a view it was attempting: the view's
// timeout would otherwise start the next one, which every node joins. It
// elects again when asked.
func TestLeaderFoundAbandonsTheViewUnderWay(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 3, 0)
		a := c.nodes[rapid.IntRange(0, 2).Draw(rt, "node")]
		for _, nd := range c.nodes {
			nd.down = nd != a
		}
		a.svc.StartElections()
		c.clock.Advance(time.Duration(rapid.IntRange(0, 3500).Draw(rt, "ms electing")) * time.Millisecond)
		a.svc.LeaderFound()
		if a.svc.Phase() == election.ElectingLeader {
			rt.Fatalf("after LeaderFound the node is still %v", a.svc.Phase())
		}
		before := len(a.sent)
		c.clock.Advance(10 * time.Second)
		if n := count[*election.ViewChange](a.sent[before:]); n != 0 {
			rt.Fatalf("a node following a leader found by gossip attempted %d more views", n)
		}
		a.svc.StartElections()
		if a.svc.Phase() != election.ElectingLeader && a.svc.Phase() != election.Coordinator {
			rt.Fatalf("StartElections after LeaderFound left the node %v", a.svc.Phase())
		}
		if count[*election.ViewChange](a.sent[before:]) == 0 {
			rt.Fatal("StartElections after LeaderFound sent no view change")
		}
	})
}
