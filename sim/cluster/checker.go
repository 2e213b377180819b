package cluster

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/annal-db/annal/core/election"
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/replication"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/sim/check"
	"github.com/annal-db/annal/sim/host"
	"github.com/annal-db/annal/sim/workload"
)

// maxViolations bounds what one run reports: past that, the first ones say
// enough.
const maxViolations = 100

// Checker watches a run and reports every broken invariant at the event
// that broke it:
//   - at most one leader per epoch, ever;
//   - epochs only grow: each new leader's epoch is above every earlier one;
//   - a leader that cannot reach a quorum steps down within StepDownBound;
//   - with a healed network and a majority up, a leader appears within
//     LivenessBound;
//   - what nodes apply agrees with one committed log, whose stream
//     revisions have no gaps and whose client appends are whole; no
//     serving node shows half an append; acknowledged writes are in it,
//     where their answers say, and on the leader at the end; reads return
//     only committed events their node applied (sim/check.Log);
//   - no replica acknowledges records to the leader of an epoch below an
//     election it has promised (accepted or made a proposal, or given its
//     log state): that leader could commit what the new one lacks;
//   - every event a subscriber receives is the next committed event of its
//     stream (or of $all) after the last one it received, on any node:
//     nothing skipped, repeated, reordered or uncommitted; a caught-up
//     message claims exactly what it received; at the end, a subscriber
//     whose subscription has handed it everything has every event its node
//     applied (sim/check.Feed);
//   - at the end, the clients' history is linearizable per stream
//     (sim/check.CheckLinearizable).
//
// It also measures time-to-leader, elections, and failure detections, true
// and false.
type Checker struct {
	c        *Cluster
	n        int
	quorum   int
	readOnly []bool // read-only replicas never vote and never count

	violations []string
	dirty      bool

	leaderOfEpoch map[int32]string
	// maxDecided is the highest epoch an election has decided so far.
	maxDecided  int32
	lastEpoch   []int32
	state       []member.State
	incarnation []int

	cut            [][]bool // cut[a][b]: a cannot send to b
	pairChanged    [][]time.Duration
	lastNotRunning []time.Duration

	decided       map[int32]bool
	leaderChanges int
	lastLeader    int

	// Leaderless episodes.
	hasLeader       bool
	leaderlessSince time.Duration
	healthy         bool
	healthySince    time.Duration
	// netFit: every link between nodes is quick enough for an election
	// view to finish within the election timeout (see bounds).
	netFit          bool
	maxOneWay       time.Duration
	livenessFlagged bool
	ttl             []time.Duration

	// Progress: a healthy cluster with a leader acknowledges appends.
	// servingSince is when it last came to have one (-1: it has none now);
	// lastAck and lastFault restart the clock.
	servingSince    time.Duration
	lastAck         time.Duration
	lastFault       time.Duration
	progressFlagged bool

	noQuorumSince []time.Duration // per host; -1 when leading with a quorum or not leading
	stepDownFlag  []bool

	falseDetections, trueDetections int
	skewEvents                      int
	marks                           []mark
	markCounts                      map[string]int

	StepDownBound, LivenessBound, DetectionWindow time.Duration

	// nextWake is when a pause ends and availability must be looked at
	// again, though no event says so.
	nextWake time.Duration

	hostState   []host.State
	hostChanged []time.Duration

	// log checks what nodes apply and what clients are told; lin is the
	// linearizability check's result, once Finish has run it.
	log *check.Log
	lin *check.LinearizabilityResult
	// appliedSince marks replicas that applied records during the current
	// event; partialSeen is the last partial append reported per replica.
	appliedSince []bool
	anyApplied   bool
	partialSeen  []string

	// promised is the highest election each node's current process
	// (incarnation promisedBy) has promised; ackFlagged: a node has
	// acknowledged records to an older leader after its promise (reported
	// once per node).
	promised   []int32
	promisedBy []int
	ackFlagged []bool

	// subs are the run's subscribers and feeds the checks of what each
	// received (both nil without subscribers).
	subs  *workload.Subscribers
	feeds []*check.Feed
}

const maxDuration = time.Duration(1<<63 - 1)

type mark struct {
	at     time.Duration
	node   string
	kind   string
	state  string
	client string
}

// maxMarksPerKind bounds the marks kept of one kind: a long run's client
// answers must not crowd out its state changes.
const maxMarksPerKind = 1 << 16

func newChecker(c *Cluster) *Checker {
	n := len(c.Hosts)
	k := &Checker{
		c: c, n: n, leaderOfEpoch: map[int32]string{}, decided: map[int32]bool{},
		lastEpoch: make([]int32, n), state: make([]member.State, n), incarnation: make([]int, n),
		lastNotRunning: make([]time.Duration, n), noQuorumSince: make([]time.Duration, n),
		stepDownFlag: make([]bool, n), lastLeader: -1, dirty: true, nextWake: maxDuration, servingSince: -1,
		markCounts: map[string]int{},
	}
	k.cut = make([][]bool, n)
	k.pairChanged = make([][]time.Duration, n)
	for i := range n {
		k.lastEpoch[i] = -1
		k.noQuorumSince[i] = -1
		k.cut[i] = make([]bool, n)
		k.pairChanged[i] = make([]time.Duration, n)
	}
	k.readOnly = make([]bool, n)
	voters := 0
	for i, o := range c.opts {
		k.readOnly[i] = o.Bool(options.ReadOnlyReplica)
		if !k.readOnly[i] {
			voters++
		}
	}
	k.quorum = int(c.opts[0].Int(options.ClusterSize))/2 + 1
	k.bounds(c.opts[0], voters)
	k.netFit = k.networkFits()
	names := make([]string, n)
	for i, h := range c.Hosts {
		names[i] = h.Name
	}
	k.log = check.NewLog(names, SegmentSize, maxAcks, func(msg string) { k.violate("%s", msg) })
	k.appliedSince = make([]bool, n)
	k.partialSeen = make([]string, n)
	k.promised = make([]int32, n)
	k.promisedBy = make([]int, n)
	k.ackFlagged = make([]bool, n)
	for i := range n {
		k.promised[i], k.promisedBy[i] = -1, -1
	}
	return k
}

// applied takes the records node i applied (Settings.OnApplied).
func (k *Checker) applied(i, incarnation int, recs []eventlog.Record) {
	k.log.Applied(i, incarnation, recs)
	k.appliedSince[i] = true
	k.anyApplied = true
}

// checkAtomicVisibility: when an event ends, a serving node whose applied
// log stops inside a client append would show half of it to the next
// read.
func (k *Checker) checkAtomicVisibility() {
	k.anyApplied = false
	for i, touched := range k.appliedSince {
		if !touched {
			continue
		}
		k.appliedSince[i] = false
		what, partial := k.log.PartialAppend(i)
		if !partial || !k.up(i) || !serving(k.state[i]) || what == k.partialSeen[i] {
			continue
		}
		k.partialSeen[i] = what
		k.violate("%s, and serves reads in that state (%v): appends must be atomic", what, k.state[i])
	}
}

// serving reports whether a node in state s answers client reads.
func serving(s member.State) bool {
	switch s {
	case member.Initializing, member.ShuttingDown, member.Shutdown:
		return false
	}
	return true
}

// maxAcks bounds the acknowledged writes kept for the end-of-run check.
const maxAcks = 1 << 20

// Acknowledged implements workload.Sink: a client was told its append
// succeeded.
func (k *Checker) Acknowledged(a check.Ack) {
	k.log.Acknowledged(a)
	k.lastAck = k.c.W.Now()
	k.progressFlagged = false
}

// DeleteAcknowledged implements workload.DeleteSink.
func (k *Checker) DeleteAcknowledged(d check.DeleteAck) {
	k.log.DeleteAcknowledged(d)
	k.lastAck = k.c.W.Now()
	k.progressFlagged = false
}

// ReadServed implements workload.Sink: a read on the node at ep returned
// events.
func (k *Checker) ReadServed(ep env.Endpoint, client string, evs []streams.Event) {
	if i := k.hostOf(ep); i >= 0 {
		k.log.ReadServed(i, client, evs)
	}
}

// Answered implements workload.AnswerSink: a node's answer to a client,
// kept as a mark whose state is the operation (append, read).
func (k *Checker) Answered(client string, ep env.Endpoint, op, what string) {
	k.markBy(k.hostOf(ep), what, op, client)
}

// watchSubscribers starts checking what every subscriber receives.
func (k *Checker) watchSubscribers(subs *workload.Subscribers) {
	k.subs = subs
	for _, s := range subs.List() {
		k.feeds = append(k.feeds, k.log.NewFeed(s.Name(), s.Config().Stream))
	}
}

// SubscriberMessage implements workload.SubscriptionSink: every event is
// checked against the committed log as it arrives.
func (k *Checker) SubscriberMessage(sub, i int, m streams.Message) {
	f := k.feeds[sub]
	switch m.Kind {
	case streams.Confirmed:
		f.Subscribed()
		k.markBy(i, "subscription-started", "", f.Name())
	case streams.EventAppeared:
		f.Event(i, m.Event)
	case streams.CaughtUp:
		f.CaughtUp(i, m)
		k.markBy(i, "caught-up", "", f.Name())
	case streams.FellBehind:
		k.markBy(i, "fell-behind", "", f.Name())
	}
}

// SubscriberEnded implements workload.SubscriptionSink.
func (k *Checker) SubscriberEnded(sub, i int, reason string) {
	k.markBy(i, "subscription-dropped", reason, k.feeds[sub].Name())
}

// SubscriberMoved implements workload.SubscriptionSink: the subscriber's
// stream was tombstoned and it follows the next one.
func (k *Checker) SubscriberMoved(sub, i int, stream string) {
	k.feeds[sub].Follow(i, stream)
}

// finishSubscribers checks, at the end of the run, that every subscriber
// whose subscription has handed it everything got every event its node
// applied.
func (k *Checker) finishSubscribers() {
	if k.subs == nil {
		return
	}
	for j, s := range k.subs.List() {
		i, settled := s.Settled()
		k.feeds[j].Complete(i, k.c.Hosts[i].Incarnation, settled)
	}
}

// bounds derives the invariant bounds from the options (the first node's;
// scenarios that vary timings per node get the first node's bound).
//
// Step-down: a leader's replicas are lost within heartbeat interval +
// timeout (+ a timer tick), then NoQuorumTimeout passes:
//
//	StepDownBound = ReplicationHeartbeatInterval + ReplicationHeartbeatTimeout + NoQuorumTimeout + 1s
//
// Liveness, from the moment the cluster is healthy (no partition, a majority
// running) without a leader: detection of the old leader's loss (heartbeats,
// then a confirming gossip read), or the start-up discovery wait; then up to
// one election view per node, each abandoned after the election timeout;
// then gossip spreading the outcome and the new leader's inauguration:
//
//	LivenessBound = max(DiscoverLeaderTimeout, HBInterval + HBTimeout + GossipTimeout)
//	              + (ClusterSize + 1) * LeaderElectionTimeout + GossipInterval + 1s
//
// (ClusterSize + 1 views: one in which election messages to members that are
// gone time out and mark them dead everywhere, then at most one view per
// remaining coordinator.) A paused process counts as not running until its
// pause ends.
//
// The bound also takes a network on which a view can finish before its
// timeout: a view is five one-way trips (view change, prepare, its answer,
// proposal, accept), entered by the nodes up to one trip apart, so while
// any link between nodes delays a message by more than a sixth of the
// election timeout (latency plus jitter), or loses more than 5% of them,
// every view may time out and no leader is promised. Such a cluster does
// not count as healthy (the operators' guidance: raise the timeouts to fit
// the network).
func (k *Checker) bounds(o *options.Values, voters int) {
	hb := o.Duration(options.ReplicationHeartbeatInterval) + o.Duration(options.ReplicationHeartbeatTimeout)
	k.StepDownBound = hb + node.NoQuorumTimeout + time.Second
	detect := max(node.DiscoverLeaderTimeout, hb+o.Duration(options.GossipTimeoutMs))
	k.LivenessBound = detect + time.Duration(voters+1)*o.Duration(options.LeaderElectionTimeoutMs) +
		o.Duration(options.GossipIntervalMs) + time.Second
	k.maxOneWay = o.Duration(options.LeaderElectionTimeoutMs) / electionHops
	k.DetectionWindow = hb + time.Second
}

func (k *Checker) violate(format string, args ...any) {
	msg := fmt.Sprintf("at %v: ", k.c.W.Now()) + fmt.Sprintf(format, args...)
	k.c.W.Trace.Rec(k.c.W.Now(), "", "violation").Str("what", msg).End()
	if len(k.violations) < maxViolations {
		k.violations = append(k.violations, msg)
	}
}

func (k *Checker) mark(i int, kind, state string) { k.markBy(i, kind, state, "") }

// markBy records a mark that a client or subscriber caused.
func (k *Checker) markBy(i int, kind, state, client string) {
	name := ""
	if i >= 0 {
		name = k.c.Hosts[i].Name
	}
	if k.markCounts[kind] < maxMarksPerKind {
		k.markCounts[kind]++
		k.marks = append(k.marks, mark{at: k.c.W.Now(), node: name, kind: kind, state: state, client: client})
	}
}

func (k *Checker) observe(h *host.Host, e env.Event) {
	i := k.c.index(h)
	// Promises and acknowledgements change nothing around a leader: they
	// leave availability alone (no recompute), and come often.
	switch e := e.(type) {
	case election.PromiseMade:
		if k.promisedBy[i] != h.Incarnation {
			// A new process: it is bound by what it persisted, which it
			// reports as it starts, not by what died with the last one.
			k.promisedBy[i], k.promised[i] = h.Incarnation, -1
		}
		k.promised[i] = max(k.promised[i], e.Number)
		k.mark(i, "promise", strconv.Itoa(int(e.Number)))
		return
	case replication.Acked:
		if k.promisedBy[i] == h.Incarnation && k.promised[i] > e.Epoch && !k.ackFlagged[i] {
			k.ackFlagged[i] = true
			k.violate("%s acknowledged its log up to %d to the leader of epoch %d after promising election %d: the old leader may commit what the new one lacks",
				h.Name, e.Durable, e.Epoch, k.promised[i])
		}
		return
	}
	k.dirty = true
	switch e := e.(type) {
	case host.Exited:
		// The node stopped by itself: the host runs nothing now. Marking
		// the checker dirty (above) makes the next look at availability
		// count it out; the stop is a change around a leader too.
		k.noteHostState(i, k.c.W.Now())
	case node.StateChanged:
		k.state[i] = e.State
		k.incarnation[i] = h.Incarnation
		k.mark(i, "state", e.State.String())
		k.lastEpoch[i] = e.Epoch
		if e.State == member.Leader && k.readOnly[i] {
			k.violate("%s is a read-only replica and became Leader", h.Name)
		}
		if e.State == member.Leader {
			if prev, ok := k.leaderOfEpoch[e.Epoch]; ok && prev != h.Name {
				k.violate("two leaders of epoch %d: %s and %s", e.Epoch, prev, h.Name)
			}
			// A node leads only an epoch that an election decided. It may
			// take it up late: a leader-elect paused before it took office
			// wakes up and leads an epoch that a later election has
			// replaced, as a paused leader would go on leading. Promises
			// fence it (no replica acknowledges it, and leader reads
			// confirm leadership with a quorum), and it steps down on its
			// next input; the order of epochs is held where it is decided.
			if !k.decided[e.Epoch] {
				k.violate("%s leads epoch %d, which no election decided", h.Name, e.Epoch)
			}
			k.leaderOfEpoch[e.Epoch] = h.Name
			if k.lastLeader != i {
				k.leaderChanges++
				k.mark(i, "leader-change", "")
			}
			k.lastLeader = i
		}
	case node.ElectionDecided:
		if !k.decided[e.Epoch] {
			// Epochs are decided in order: a candidate's epoch is one
			// past the last in its log, and every epoch in a log was
			// decided before. (A node's own last epoch can go back: an
			// epoch record no quorum ever had may be cut from its log;
			// and an epoch whose record nobody wrote is decided again.)
			if e.Epoch < k.maxDecided {
				k.violate("epoch went backwards: %s learned of an election of epoch %d, first decided after epoch %d", h.Name, e.Epoch, k.maxDecided)
			}
			k.maxDecided = max(k.maxDecided, e.Epoch)
			k.decided[e.Epoch] = true
			k.mark(i, "elected", "")
		}
	case node.PeerDeclaredDead:
		if k.falseDetection(i, e.Peer) {
			k.falseDetections++
			k.mark(i, "false-detection", "")
		} else {
			k.trueDetections++
		}
		k.mark(i, "peer-dead", "")
	case node.ClockSkewDetected:
		k.skewEvents++
		k.mark(i, "clock-skew", "")
	case node.Fatal:
		k.mark(i, "fatal", "")
	case node.Truncated:
		k.mark(i, "truncated", "")
	case node.Corrupted:
		k.mark(i, "corrupt", "")
	case node.Repaired:
		k.mark(i, "repaired", "")
	case node.CommittedCut:
		k.mark(i, "committed-cut", "")
		k.violate("%s was asked by its leader to cut its log back to %d, below its commit point %d: the leader lacks committed records", h.Name, e.To, e.Committed)
	}
}

// falseDetection decides whether a peer declared dead was in fact alive and
// reachable throughout the detection window.
func (k *Checker) falseDetection(i int, peer env.Endpoint) bool {
	j := k.hostOf(peer)
	if j < 0 {
		return false
	}
	now := k.c.W.Now()
	from := now - k.DetectionWindow
	h := k.c.Hosts[j]
	if h.State() != host.Running || h.Paused() || k.lastNotRunning[j] >= from ||
		k.c.Hosts[i].State() != host.Running {
		return false
	}
	if k.cut[i][j] || k.cut[j][i] || k.pairChanged[i][j] >= from || k.pairChanged[j][i] >= from {
		return false
	}
	return true
}

func (k *Checker) hostOf(ep env.Endpoint) int {
	a, err := netip.ParseAddr(ep.Host)
	if err != nil {
		return -1
	}
	if h, ok := k.c.public[a]; ok {
		return k.c.index(h)
	}
	return -1
}

func (k *Checker) blocked(from, to *host.Host) {
	a, b := k.c.index(from), k.c.index(to)
	k.cut[a][b] = true
	k.pairChanged[a][b] = k.c.W.Now()
	k.dirty = true
}

func (k *Checker) healed() {
	now := k.c.W.Now()
	for a := range k.n {
		for b := range k.n {
			if k.cut[a][b] {
				k.cut[a][b] = false
				k.pairChanged[a][b] = now
			}
		}
	}
	k.dirty = true
}

// noteHostState records when a host last changed state (killed, started,
// frozen, thawed, powered off or on).
func (k *Checker) noteHostState(i int, now time.Duration) {
	if k.hostState == nil {
		k.hostState = make([]host.State, k.n)
		k.hostChanged = make([]time.Duration, k.n)
		for j := range k.n {
			k.hostState[j] = k.c.Hosts[j].State()
		}
	}
	if st := k.c.Hosts[i].State(); st != k.hostState[i] {
		k.hostState[i] = st
		k.hostChanged[i] = now
	}
}

// surroundingsChanged is when anything last changed between leader i and
// the others: a host's state, or a partition rule touching i. A leader
// counts the replicas it is connected to, and learns of a silent one only
// through heartbeats, so such a change can hand it a quorum that is not
// real for up to a heartbeat timeout, restarting its no-quorum clock.
func (k *Checker) surroundingsChanged(i int) time.Duration {
	var t time.Duration
	for j := range k.n {
		if j == i {
			continue
		}
		if k.hostChanged != nil {
			t = max(t, k.hostChanged[j])
		}
		t = max(t, k.pairChanged[i][j], k.pairChanged[j][i])
	}
	return t
}

// What a network must allow for an election view to finish in time (see
// bounds): trips per view, and the highest loss.
const (
	electionHops    = 6
	maxElectionLoss = 0.05
)

// networkFits reports whether every link between nodes is quick enough for
// an election view (see bounds).
func (k *Checker) networkFits() bool {
	for _, a := range k.c.Hosts {
		for _, b := range k.c.Hosts {
			if a != b {
				if p := k.c.Fabric.Link(a.Net, b.Net); p.Latency+p.Jitter > k.maxOneWay || p.Loss > maxElectionLoss {
					return false
				}
			}
		}
	}
	return true
}

func (k *Checker) faultApplied() {
	now := k.c.W.Now()
	k.lastFault = now
	k.netFit = k.networkFits()
	for i, h := range k.c.Hosts {
		if h.State() != host.Running {
			k.lastNotRunning[i] = now
		}
		k.noteHostState(i, now)
		if h.Paused() {
			k.lastNotRunning[i] = max(k.lastNotRunning[i], now+k.pauseLeft(h))
		}
	}
	k.dirty = true
}

func (k *Checker) pauseLeft(h *host.Host) time.Duration { return h.PauseLeft() }

// up reports whether host i runs a node that can act now.
func (k *Checker) up(i int) bool {
	h := k.c.Hosts[i]
	return h.State() == host.Running && k.incarnation[i] == h.Incarnation
}

// reachable counts the nodes host i can talk to both ways, itself included.
func (k *Checker) reachable(i int) int {
	n := 1
	for j := range k.n {
		if j != i && !k.readOnly[j] && k.c.Hosts[j].State() == host.Running && !k.cut[i][j] && !k.cut[j][i] {
			n++
		}
	}
	return n
}

func (k *Checker) leaderIndex() int {
	for i := range k.n {
		if k.up(i) && k.state[i] == member.Leader {
			return i
		}
	}
	return -1
}

func (k *Checker) afterEvent() {
	if k.anyApplied {
		k.checkAtomicVisibility()
	}
	now := k.c.W.Now()
	if k.dirty || now >= k.nextWake {
		k.dirty = false
		k.nextWake = maxDuration
		k.recompute(now)
	}
	for i := range k.n {
		if s := k.noQuorumSince[i]; s >= 0 && !k.stepDownFlag[i] && now-s > k.StepDownBound {
			k.stepDownFlag[i] = true
			k.violate("%s still %v %v after losing its quorum (bound %v)", k.c.Hosts[i].Name, k.state[i], now-s, k.StepDownBound)
		}
	}
	if !k.hasLeader && k.healthy && !k.livenessFlagged {
		if from := max(k.leaderlessSince, k.healthySince); now-from > k.LivenessBound {
			k.livenessFlagged = true
			k.violate("no leader %v after the cluster became healthy (bound %v)", now-from, k.LivenessBound)
		}
	}
	k.checkProgress(now)
}

// checkProgress: a leader that commits nothing is as unavailable as none.
// While the cluster is healthy and has a leader, and the clients keep
// appending anywhere (none pinned), some append must be acknowledged
// within the liveness bound (an election under way stops commits) plus
// two client deadlines (a client may first wait out a call to a node that
// went away, then retry).
func (k *Checker) checkProgress(now time.Duration) {
	wl := k.c.workload
	if k.servingSince < 0 || k.progressFlagged || wl == nil || !wl.Issuing() {
		return
	}
	bound := k.LivenessBound + 2*wl.Config().CallTimeout
	if from := max(k.servingSince, k.lastAck, k.lastFault); now-from > bound {
		k.progressFlagged = true
		k.violate("a leader for %v, and no append acknowledged for %v while clients append (bound %v)",
			now-k.servingSince, now-max(k.lastAck, k.lastFault), bound)
	}
}

func (k *Checker) recompute(now time.Duration) {
	running := 0
	anyBlock := false
	for i := range k.n {
		if k.c.Hosts[i].State() == host.Running {
			if !k.readOnly[i] && k.lastNotRunning[i] <= now {
				running++
			}
			if k.lastNotRunning[i] > now {
				k.nextWake = min(k.nextWake, k.lastNotRunning[i])
			}
		} else {
			k.lastNotRunning[i] = now
		}
		for j := range k.n {
			anyBlock = anyBlock || k.cut[i][j]
		}
	}
	healthy := running >= k.quorum && !anyBlock && k.netFit
	if healthy && !k.healthy {
		k.healthySince = now
	}
	k.healthy = healthy

	has := false
	for i := range k.n {
		leaderish := k.up(i) && k.state[i].IsLeaderish() && k.state[i] != member.ResigningLeader
		if leaderish && k.reachable(i) < k.quorum {
			// The clock starts when the leader could first act on the
			// loss: not while it was paused or frozen.
			if k.noQuorumSince[i] < 0 {
				k.noQuorumSince[i] = now
			}
			k.noQuorumSince[i] = max(k.noQuorumSince[i], k.lastNotRunning[i], k.surroundingsChanged(i))
		} else {
			k.noQuorumSince[i] = -1
			k.stepDownFlag[i] = false
		}
		if k.up(i) && k.state[i] == member.Leader && k.reachable(i) >= k.quorum {
			has = true
		}
	}
	if has && !k.hasLeader {
		from := max(k.leaderlessSince, k.healthySince)
		if k.healthy || from <= now {
			k.ttl = append(k.ttl, now-from)
		}
	}
	if !has && k.hasLeader {
		k.leaderlessSince = now
		k.livenessFlagged = false
	}
	k.hasLeader = has
	switch serving := has && healthy; {
	case serving && k.servingSince < 0:
		k.servingSince = now
	case !serving:
		k.servingSince = -1
		k.progressFlagged = false
	}
}

// Report is what a run found.
type Report struct {
	Seed         uint64   `json:"seed"`
	Nodes        int      `json:"nodes"`
	SimSeconds   float64  `json:"sim_seconds"`
	WallSeconds  float64  `json:"wall_seconds"`
	Events       uint64   `json:"events"`
	TraceRecords uint64   `json:"trace_records"`
	TraceHash    string   `json:"trace_hash"`
	Violations   []string `json:"violations"`

	Elections       int          `json:"elections"`
	LeaderChanges   int          `json:"leader_changes"`
	LeaderAtEnd     string       `json:"leader_at_end"`
	TimeToLeader    TimeToLeader `json:"time_to_leader"`
	StepDownBoundMs int64        `json:"step_down_bound_ms"`
	FalseDetections int          `json:"false_failure_detections"`
	TrueDetections  int          `json:"true_failure_detections"`
	ClockSkewEvents int          `json:"clock_skew_events"`
	ConnectTimeouts uint64       `json:"connect_timeouts"`
	Messages        uint64       `json:"messages_delivered"`
	DiskSyncs       uint64       `json:"disk_syncs"`

	// The clients' workload (zeros without clients). AppendsFailed counts
	// appends not acknowledged, by reason.
	Clients                     int            `json:"clients"`
	Rate                        float64        `json:"rate"`
	AppendsAcknowledged         int            `json:"appends_acknowledged"`
	AppendsIdempotent           int            `json:"appends_idempotent"`
	AppendsFailed               map[string]int `json:"appends_failed"`
	Reads                       int            `json:"reads"`
	Linearizable                bool           `json:"linearizable"`
	LinearizabilityCheckSeconds float64        `json:"linearizability_check_seconds"`
	// The subscribers (zeros without any): subscriptions confirmed and
	// ended (re-subscriptions follow), events received.
	Subscribers            int    `json:"subscribers"`
	SubscriptionsStarted   int    `json:"subscriptions_started"`
	SubscriptionsDropped   int    `json:"subscriptions_dropped"`
	SubscriptionDeliveries int    `json:"subscription_deliveries"`
	Checks                 Checks `json:"checks"`

	marks []mark
}

// Checks are the data checkers' figures.
type Checks struct {
	Log check.LogStats `json:"log"`
	// Linearizability is set once the run is finished.
	Linearizability *check.LinearizabilityResult `json:"linearizability,omitempty"`
	Workload        *workload.Stats              `json:"workload,omitempty"`
	// Subscriptions are the subscription checks' figures, Subscribers
	// what the subscribers did (both nil without subscribers).
	Subscriptions *check.FeedStats          `json:"subscriptions,omitempty"`
	Subscribers   *workload.SubscriberStats `json:"subscribers,omitempty"`
}

// TimeToLeader summarises how long healthy clusters went without a leader.
type TimeToLeader struct {
	Samples        int     `json:"samples"`
	WorstMs        float64 `json:"worst_ms"`
	MedianMs       float64 `json:"median_ms"`
	BoundMs        float64 `json:"bound_ms"`
	WorstOverBound float64 `json:"worst_over_bound"`
}

func (k *Checker) report() *Report {
	c := k.c
	r := &Report{
		Seed: c.cfg.Seed, Nodes: k.n, SimSeconds: c.W.Now().Seconds(), Events: c.W.Fired(),
		TraceRecords: c.W.Trace.Records(), TraceHash: c.W.Trace.Hash(), Violations: k.violations,
		Elections: len(k.decided), LeaderChanges: k.leaderChanges,
		StepDownBoundMs: k.StepDownBound.Milliseconds(),
		FalseDetections: k.falseDetections, TrueDetections: k.trueDetections, ClockSkewEvents: k.skewEvents,
		ConnectTimeouts: c.Fabric.Stats().Timeouts, Messages: c.Fabric.Stats().Delivered, marks: k.marks,
	}
	if r.Violations == nil {
		r.Violations = []string{}
	}
	for _, h := range c.Hosts {
		r.DiskSyncs += h.Disk.Stats().Syncs
	}
	if i := k.leaderIndex(); i >= 0 {
		r.LeaderAtEnd = c.Hosts[i].Name
	}
	r.AppendsFailed = map[string]int{}
	if c.workload != nil {
		ws := c.workload.Stats()
		r.Clients, r.Rate = ws.Clients, ws.Rate
		r.AppendsAcknowledged, r.AppendsIdempotent, r.AppendsFailed, r.Reads = ws.Acknowledged, ws.Idempotent, ws.Failed, ws.Reads
		r.Checks.Workload = &ws
	}
	r.Checks.Log = k.log.Stats()
	if k.subs != nil {
		ss, fs := k.subs.Stats(), k.log.FeedStats()
		r.Subscribers, r.SubscriptionsStarted, r.SubscriptionsDropped, r.SubscriptionDeliveries = ss.Subscribers, ss.Started, ss.DroppedTotal(), ss.Deliveries
		r.Checks.Subscribers, r.Checks.Subscriptions = &ss, &fs
	}
	if k.lin != nil {
		lin := *k.lin
		r.Checks.Linearizability = &lin
		r.Linearizable = lin.OK()
		r.LinearizabilityCheckSeconds = lin.Seconds
	}
	t := TimeToLeader{Samples: len(k.ttl), BoundMs: ms(k.LivenessBound)}
	if len(k.ttl) > 0 {
		s := slices.Clone(k.ttl)
		slices.Sort(s)
		t.WorstMs = ms(s[len(s)-1])
		t.MedianMs = ms(s[len(s)/2])
		t.WorstOverBound = t.WorstMs / t.BoundMs
	}
	r.TimeToLeader = t
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
