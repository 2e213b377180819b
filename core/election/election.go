// Package election chooses a leader the way EventStoreDB does: a Paxos-like
// protocol over numbered views with a round-robin coordinator.
//
//  1. View change: a node that needs a leader moves to view v+1 and tells
//     everyone (ViewChange). A node that hears of a higher view joins it.
//  2. The view's coordinator (the alive electable members sorted by node
//     endpoint, descending; index v mod count), once a quorum wants view v,
//     asks for log states (Prepare).
//  3. Acceptors install the view and answer with their log state
//     (PrepareOk). Giving it is a promise, persisted before the answer
//     leaves: the node helps no leader of that state's epoch or older
//     commit more.
//  4. With a quorum of answers, the coordinator picks the best candidate and
//     proposes it under a proposal number above any it has seen, persisted
//     first (Proposal). That number becomes the new epoch number.
//  5. Acceptors persist the number, check the candidate is legitimate, and
//     broadcast Accept. Whoever counts a quorum of Accepts knows the leader.
//
// A view that does not decide within the election timeout is abandoned for
// the next one, whose coordinator is the next member. Safety rests on the
// persisted proposal numbers: an acceptor never accepts a number at or below
// one it has persisted, so two quorums can never accept the same number, and
// no epoch has two leaders.
package election

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
)

// Phase is the election service's own state (EventStoreDB's ElectionsState).
type Phase uint8

const (
	Idle           Phase = iota // never asked to elect: ignores view changes
	ElectingLeader              // collecting view changes
	Coordinator                 // this node coordinates the installed view
	Acceptor                    // the installed view is someone else's
	Shutdown
)

func (p Phase) String() string {
	return [...]string{"Idle", "ElectingLeader", "Coordinator", "Acceptor", "Shutdown"}[p]
}

// ProofInterval is how often nodes with an installed view announce it, so
// that restarted or late nodes can join it.
const ProofInterval = 5 * time.Second

// Config is the election part of a node's options.
type Config struct {
	ClusterSize int           // ClusterSize: quorum = ClusterSize/2 + 1
	Timeout     time.Duration // LeaderElectionTimeoutMs
}

// Quorum is the number of distinct nodes that make a majority.
func (c Config) Quorum() int { return c.ClusterSize/2 + 1 }

// Node is what the service needs from its node.
type Node interface {
	// Members is the node's gossip view, its own record included.
	Members() []member.Info
	// Leader is the node endpoint of the leader this node follows (zero
	// when it follows none, or leads).
	Leader() env.Endpoint
	// LogState is the node's own log state now.
	LogState() LogState
	// Send delivers an election message to a member (best effort).
	Send(to env.Endpoint, m Message)
	// Persist durably records c (each value the highest so far); done(false)
	// means the disk failed and the node is stopping.
	Persist(c Checkpoint, done func(ok bool))
	// Elected reports a decided election (EventStoreDB's ElectionsDone):
	// leader leads epoch number.
	Elected(view, number int32, leader From)
	// Resigned reports that a quorum acknowledged this leader's resignation.
	Resigned()
}

// Checkpoint is what an acceptor must not forget across a restart: the
// highest proposal number it made or accepted, and the highest it promised
// by giving its log state (-1: none).
type Checkpoint struct {
	Proposal int32
	Promised int32
}

// NoCheckpoint is the checkpoint of a node that has never taken part.
var NoCheckpoint = Checkpoint{Proposal: -1, Promised: -1}

// Service runs one node's side of elections.
type Service struct {
	env  env.Env
	cfg  Config
	node Node
	self From

	phase     Phase
	attempted int32 // last view this node attempted
	installed int32 // last view this node installed
	// viewChanges and prepareOks count nodes by endpoint, not instance:
	// a node that restarts mid-view comes back under a new instance id,
	// and counting both incarnations would make a quorum of fewer nodes.
	viewChanges []env.Endpoint
	prepareOks  []PrepareOk
	votes       []vote    // accepts seen in the attempted view
	proposal    *Proposal // what this node proposed or accepted in the installed view
	decided     bool      // the attempted view has elected a leader
	// settled: the node has a leader and needs no election: the last view
	// it attempted decided, or it follows a leader it learned of outside an
	// election (LeaderFound). A settled node takes a view it missed from a
	// ViewChangeProof without arming a timeout and without coordinating it.
	// (EventStoreDB keeps the same fact, its _leader, across a proof and
	// ignores that view's timeout; it does coordinate, but its PrepareOk
	// promises nothing.) Only a view change of its own or of another node
	// (shiftToElection) unsettles it.
	settled     bool
	proposalChk int32
	// promisedChk is the highest promise persisted; want is the checkpoint
	// last handed to Persist, which every later write includes, so that a
	// write of one value never takes back another still in flight.
	promisedChk int32
	want        Checkpoint
	// promised is the highest proposal number this node has decided to
	// accept or make, persisted or not yet, or one above the epoch of a log
	// state it gave an election: from that moment it must not help an
	// older leader commit.
	promised int32

	// early holds view changes heard while Idle (still starting up): the
	// node counts them when it starts electing, so that a node whose
	// start-up wait ends last does not miss the first view.
	early []earlyViewChange

	lastElected member.ID
	resigning   member.ID
	resignOks   []env.Endpoint // counted by endpoint, as viewChanges

	timeout    env.Timer
	proofTimer env.Timer

	// Views counts views attempted; Decisions counts elections decided here.
	Views, Decisions uint64
}

// earlyViewChange is the latest view a node asked for while this one was
// still starting (Idle).
type earlyViewChange struct {
	node env.Endpoint
	view int32
}

// vote is a fact: server persisted number and accepts leader in the
// attempted view. Facts are recorded whatever this node's own phase, so
// that a node which saw the proposal late still learns the outcome. Votes
// are counted by instance: a restarted node's persisted number keeps it
// from accepting the same number again, so it cannot vote twice for one
// proposal.
type vote struct {
	from   From // the voter
	leader From
	number int32
}

// New makes the service from the node's persisted checkpoint. A persisted
// promise binds the new process from its start, and is reported as made.
func New(e env.Env, cfg Config, self From, chk Checkpoint, node Node) *Service {
	s := &Service{env: e, cfg: cfg, node: node, self: self, attempted: -1, installed: -1,
		proposalChk: chk.Proposal, promisedChk: chk.Promised, want: chk, promised: -1}
	s.promise(max(chk.Proposal, chk.Promised))
	return s
}

// promise raises what Promised reports to at least number, and reports a
// rise (PromiseMade): from then on this node must help no leader of an
// older epoch commit anything.
func (s *Service) promise(number int32) {
	if number <= s.promised {
		return
	}
	s.promised = number
	if s.env.Observer != nil {
		s.env.Observer.Observe(PromiseMade{Number: number})
	}
}

// PromiseMade is the event of a node's promise rising to Number: it has
// accepted or made a proposal numbered Number, or given an election a log
// state whose epoch is below Number. Leaders of epochs below Number get no
// more acknowledgements from it (the simulator's checker holds it to that).
type PromiseMade struct{ Number int32 }

func (PromiseMade) Kind() string { return "promise" }
func (e PromiseMade) AppendTrace(b []byte) []byte {
	return strconv.AppendInt(append(b, "number="...), int64(e.Number), 10)
}

// persist makes c durable, together with everything asked before, and
// runs done once it is (not at all if the disk failed).
func (s *Service) persist(c Checkpoint, done func()) {
	s.want = Checkpoint{Proposal: max(s.want.Proposal, c.Proposal), Promised: max(s.want.Promised, c.Promised)}
	s.node.Persist(s.want, func(ok bool) {
		if ok {
			done()
		}
	})
}

// Phase reports the service's state.
func (s *Service) Phase() Phase { return s.phase }

// Installed is the last installed view.
func (s *Service) Installed() int32 { return s.installed }

// ProposalCheckpoint is the highest proposal number persisted.
func (s *Service) ProposalCheckpoint() int32 { return s.proposalChk }

// Promised is the highest proposal number this node has decided to accept
// or make, or promised by giving its log state, including one whose
// persistence is still under way.
func (s *Service) Promised() int32 { return max(s.promised, s.proposalChk) }

// Accepted is the proposal this node persisted and accepted (or made) in
// the installed view, if any.
func (s *Service) Accepted() (leader From, number int32, ok bool) {
	if s.proposal == nil {
		return From{}, 0, false
	}
	return leaderOf(s.proposal), s.proposal.Number, true
}

// Resigning is the id of the leader being resigned, if any.
func (s *Service) Resigning() member.ID { return s.resigning }

// Stop ends the service: no more messages, no more timers.
func (s *Service) Stop() {
	s.phase = Shutdown
	stopTimer(&s.timeout)
	stopTimer(&s.proofTimer)
}

func stopTimer(t *env.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// StartElections begins an election unless one is already running.
func (s *Service) StartElections() {
	if s.phase == ElectingLeader || s.phase == Shutdown {
		return
	}
	if s.proofTimer == nil {
		s.proofTimer = s.env.Clock.AfterFunc(ProofInterval, s.sendProof)
	}
	view := s.attempted + 1
	early := s.early
	s.early = nil
	for _, e := range early {
		view = max(view, e.view)
	}
	s.shiftToElection(view)
	for _, e := range early {
		if e.view == view && !slices.Contains(s.viewChanges, e.node) {
			s.viewChanges = append(s.viewChanges, e.node)
		}
	}
	s.checkViewChangeQuorum()
}

// Handle processes one election message.
func (s *Service) Handle(m Message) {
	if s.phase == Shutdown {
		return
	}
	switch m := m.(type) {
	case *ViewChange:
		s.onViewChange(m)
	case *ViewChangeProof:
		s.onViewChangeProof(m)
	case *Prepare:
		s.onPrepare(m)
	case *PrepareOk:
		s.onPrepareOk(m)
	case *Proposal:
		s.onProposal(m)
	case *Accept:
		s.onAccept(m)
	case *LeaderIsResigning:
		s.onLeaderIsResigning(m)
	case *LeaderIsResigningOk:
		s.onLeaderIsResigningOk(m)
	}
}

// electable lists the members that take part, in coordinator order: alive,
// not seed placeholders, not read-only replicas, sorted descending by node
// endpoint (the order the view is kept in).
func (s *Service) electable() []member.Info {
	var out []member.Info
	for _, m := range s.node.Members() {
		if m.IsAlive && m.State != member.Manager && !m.IsReadOnlyReplica && !m.InstanceID.IsZero() {
			out = append(out, m)
		}
	}
	member.Sort(out)
	return out
}

func (s *Service) isCoordinator(view int32) bool {
	ms := s.electable()
	if len(ms) == 0 {
		return false
	}
	return ms[int(view)%len(ms)].InstanceID == s.self.ServerID
}

func (s *Service) broadcast(m Message) {
	for _, ep := range s.others() {
		s.node.Send(ep, m)
	}
}

// others lists every voting member but this node, dead ones included: a
// member this node believes dead may only have been out of reach, and
// hearing from us directly is how it learns we live (and we, from its
// answers, that it does).
func (s *Service) others() []env.Endpoint {
	var out []env.Endpoint
	for _, m := range s.node.Members() {
		if m.InstanceID != s.self.ServerID && !m.InstanceID.IsZero() && m.State != member.Manager && !m.IsReadOnlyReplica {
			out = append(out, m.HTTPEndPoint)
		}
	}
	return out
}

func (s *Service) known(id member.ID) bool {
	return member.FindID(s.node.Members(), id) >= 0
}

// electableID reports whether this node sees the instance alive and able to
// lead.
func (s *Service) electableID(id member.ID) bool {
	for _, m := range s.electable() {
		if m.InstanceID == id {
			return true
		}
	}
	return false
}

func (s *Service) shiftToElection(view int32) {
	s.phase = ElectingLeader
	s.attempted = view
	s.Views++
	s.viewChanges = append(s.viewChanges[:0], s.self.HTTP)
	s.prepareOks = s.prepareOks[:0]
	s.votes = s.votes[:0]
	s.proposal = nil
	s.decided = false
	s.settled = false
	s.log(env.LevelInfo, fmt.Sprintf("election: view change to view %d", view))
	s.broadcast(&ViewChange{From: s.self, AttemptedView: view})
	s.armTimeout(view)
	s.checkViewChangeQuorum()
}

func (s *Service) armTimeout(view int32) {
	stopTimer(&s.timeout)
	s.timeout = s.env.Clock.AfterFunc(s.cfg.Timeout, func() {
		s.timeout = nil
		s.onTimeout(view)
	})
}

func (s *Service) onTimeout(view int32) {
	if s.phase == Shutdown || s.phase == Idle || view != s.attempted {
		return
	}
	if s.decided {
		return
	}
	s.log(env.LevelInfo, fmt.Sprintf("election: view %d timed out after %v", view, s.cfg.Timeout))
	s.shiftToElection(view + 1)
}

func (s *Service) onViewChange(m *ViewChange) {
	if s.phase == Idle {
		s.rememberEarly(m.HTTP, m.AttemptedView)
		// The leader this node follows is electing: it commits nothing
		// until a view decides, and a node that found its leader by gossip
		// has never elected. Left alone, the leader would go from view to
		// view while its followers wait for it; they join instead.
		if leader := s.node.Leader(); !leader.IsZero() && leader == m.HTTP {
			s.log(env.LevelInfo, fmt.Sprintf("election: the leader %v is electing; joining view %d", m.HTTP, m.AttemptedView))
			s.StartElections()
		}
		return
	}
	if m.AttemptedView <= s.installed || m.AttemptedView == math.MaxInt32 {
		// The last view there is cannot be attempted: the next would
		// wrap, and every later view change be taken for an old one.
		return
	}
	if m.AttemptedView > s.attempted {
		s.shiftToElection(m.AttemptedView)
	}
	if m.AttemptedView == s.attempted && !slices.Contains(s.viewChanges, m.HTTP) {
		s.viewChanges = append(s.viewChanges, m.HTTP)
		s.checkViewChangeQuorum()
	}
}

// rememberEarly keeps the latest view change of each sender heard while
// Idle; bounded by the number of members that can send one.
func (s *Service) rememberEarly(node env.Endpoint, view int32) {
	for i := range s.early {
		if s.early[i].node == node {
			s.early[i].view = max(s.early[i].view, view)
			return
		}
	}
	if len(s.early) < member.MaxViewSize {
		s.early = append(s.early, earlyViewChange{node: node, view: view})
	}
}

func (s *Service) checkViewChangeQuorum() {
	if s.phase == ElectingLeader && len(s.viewChanges) >= s.cfg.Quorum() && s.isCoordinator(s.attempted) {
		s.shiftToPrepare(s.attempted)
	}
}

func (s *Service) shiftToPrepare(view int32) {
	s.phase = Coordinator
	s.installed = view
	s.prepareOks = append(s.prepareOks[:0], s.ownPrepareOk(view))
	s.log(env.LevelInfo, fmt.Sprintf("election: coordinating view %d", view))
	s.broadcast(&Prepare{From: s.self, View: view})
	s.checkPrepareQuorum()
}

// ownPrepareOk is this node's answer to a prepare: its log state. Giving
// it is a promise: the leader chosen on it must hold every committed
// record, so from now on this node helps no leader of its current epoch
// or older commit more (acknowledge records, count its own log, confirm a
// leader-required read). The next leader's epoch is above it.
func (s *Service) ownPrepareOk(view int32) PrepareOk {
	st := s.node.LogState()
	s.promise(st.EpochNumber + 1)
	return PrepareOk{View: view, State: st, Proposal: s.proposalChk, Cluster: slices.Clone(s.node.Members())}
}

func (s *Service) onPrepare(m *Prepare) {
	if s.phase == Idle || m.View != s.attempted || !s.known(m.ServerID) {
		s.log(env.LevelDebug, fmt.Sprintf("election: prepare for view %d from %s ignored (phase %v, attempted view %d)",
			m.View, m.ServerID.Short(), s.phase, s.attempted))
		return
	}
	if s.phase == Coordinator && s.installed == m.View {
		return
	}
	if s.decided {
		// A late coordinator of a view that has already elected: its
		// leader needs no log state, and giving one would promise away
		// the epoch that leader is starting.
		return
	}
	s.phase = Acceptor
	s.installed = m.View
	ok := s.ownPrepareOk(m.View)
	promise := ok.State.EpochNumber + 1
	if ok.State.EpochNumber < 0 || promise <= max(s.promisedChk, s.proposalChk) {
		// No leader of the state's epoch exists to be helped, or the
		// promise is already durable.
		s.node.Send(m.HTTP, &ok)
		return
	}
	// The coordinator may choose a leader on this state after this node
	// has crashed: the promise must outlive the process, or a restarted
	// node could help its old leader commit what that choice lacks. (A
	// coordinator's own state dies with its view, so it is not persisted.)
	view, to := m.View, m.HTTP
	s.persist(Checkpoint{Proposal: -1, Promised: promise}, func() {
		s.promisedChk = max(s.promisedChk, promise)
		if s.phase == Acceptor && s.installed == view && !s.decided {
			s.node.Send(to, &ok)
		}
	})
}

func (s *Service) onPrepareOk(m *PrepareOk) {
	if s.phase != Coordinator || m.View != s.installed {
		return
	}
	for i := range s.prepareOks {
		if s.prepareOks[i].State.HTTP == m.State.HTTP {
			// The same node again, restarted: its latest state replaces
			// the earlier one, so that the candidate chosen is an
			// instance that lives. Both are sound: the promise made with
			// the earlier state is persisted, and binds this incarnation.
			s.prepareOks[i] = *m
			return
		}
	}
	s.prepareOks = append(s.prepareOks, *m)
	s.checkPrepareQuorum()
}

func (s *Service) checkPrepareQuorum() {
	// A view that has already decided (another coordinator's proposal won
	// it) takes no second proposal: its number would only strand the
	// winner with acceptors promised to a term that never starts.
	if s.phase != Coordinator || s.proposal != nil || s.decided || len(s.prepareOks) != s.cfg.Quorum() {
		return
	}
	view := s.installed
	best := s.bestCandidate()
	// Above every number the quorum has persisted: an acceptor refuses a
	// number at or below its own, which would waste the view.
	number := max(s.node.LogState().EpochNumber, s.proposalChk)
	for i := range s.prepareOks {
		number = max(number, s.prepareOks[i].Proposal, s.prepareOks[i].State.EpochNumber)
	}
	number++
	s.log(env.LevelInfo, fmt.Sprintf("election: proposing %s (%v) as leader in view %d, proposal %d",
		best.ServerID.Short(), best.HTTP, view, number))
	s.promise(number)
	s.persist(Checkpoint{Proposal: number, Promised: -1}, func() {
		// Persisted is persisted, whatever the view has become.
		s.proposalChk = max(s.proposalChk, number)
		if s.phase != Coordinator || s.installed != view || s.proposal != nil || s.decided {
			return
		}
		p := &Proposal{From: s.self, Leader: best, View: view, Number: number}
		s.proposal = p
		s.addVote(s.self, leaderOf(p), number)
		s.broadcast(p)
		s.checkDecision()
	})
}

// Compare orders candidates best first, by EventStoreDB's keys: epoch
// number, writer checkpoint, chaser checkpoint (all highest first), then a
// node whose disk is full last (annal's: the log still comes first, so a
// better log on a full disk is elected all the same), then the resigning
// leader last, then node priority (highest first), then instance id
// (highest first).
func Compare(a, b *LogState, resigning member.ID) int {
	if a.EpochNumber != b.EpochNumber {
		return desc(a.EpochNumber, b.EpochNumber)
	}
	if a.WriterCheckpoint != b.WriterCheckpoint {
		return desc(a.WriterCheckpoint, b.WriterCheckpoint)
	}
	if a.ChaserCheckpoint != b.ChaserCheckpoint {
		return desc(a.ChaserCheckpoint, b.ChaserCheckpoint)
	}
	if a.DiskFull != b.DiskFull {
		if a.DiskFull {
			return 1
		}
		return -1
	}
	ar, br := !resigning.IsZero() && a.ServerID == resigning, !resigning.IsZero() && b.ServerID == resigning
	if ar != br {
		if ar {
			return 1
		}
		return -1
	}
	if a.NodePriority != b.NodePriority {
		return desc(a.NodePriority, b.NodePriority)
	}
	return -bytes.Compare(a.ServerID[:], b.ServerID[:])
}

func desc[T int32 | int64](a, b T) int {
	if a > b {
		return -1
	}
	return 1
}

// bestCandidate picks among the quorum's log states, then prefers the
// leader of the best node's last epoch while that leader lives: everything
// after that epoch came from it, so it holds every quorum-replicated write.
// "Lives" means it answered this very prepare with the same epoch:
// EventStoreDB also takes third-party gossip as proof, but gossip can name
// an instance that has since restarted under a new id, and electing it
// elects nobody.
func (s *Service) bestCandidate() LogState {
	states := make([]LogState, len(s.prepareOks))
	for i := range s.prepareOks {
		states[i] = s.prepareOks[i].State
	}
	slices.SortStableFunc(states, func(a, b LogState) int { return Compare(&a, &b, s.resigning) })
	best := states[0]
	prev := best.EpochLeaderID
	// Prefer the previous leader only while this node itself sees that
	// very instance alive: third-party views can be stale, and a restarted
	// node comes back with a new instance id.
	if prev.IsZero() || prev == best.ServerID || prev == s.resigning || !s.electableID(prev) {
		return best
	}
	for _, st := range states {
		if st.ServerID == prev && st.EpochNumber == best.EpochNumber && st.EpochID == best.EpochID && !st.DiskFull {
			return st
		}
	}
	return best
}

func leaderOf(p *Proposal) From { return From{ServerID: p.Leader.ServerID, HTTP: p.Leader.HTTP} }

func (s *Service) onProposal(m *Proposal) {
	if s.phase == Idle || m.View != s.attempted || !s.known(m.ServerID) || !s.electableID(m.Leader.ServerID) {
		s.log(env.LevelDebug, fmt.Sprintf("election: proposal of %s in view %d ignored (phase %v, attempted view %d, proposer known %v, candidate electable %v)",
			m.Leader.ServerID.Short(), m.View, s.phase, s.attempted, s.known(m.ServerID), s.electableID(m.Leader.ServerID)))
		return
	}
	// The proposer persisted its number before proposing: its vote counts
	// whether or not this node can accept.
	s.addVote(m.From, leaderOf(m), m.Number)
	s.checkDecision()
	if s.phase != Acceptor || m.View != s.installed || s.decided {
		return
	}
	if m.Number <= s.proposalChk {
		s.log(env.LevelInfo, fmt.Sprintf("election: outdated proposal %d (have %d) ignored", m.Number, s.proposalChk))
		return
	}
	if s.proposal != nil && s.proposal.Leader.ServerID != m.Leader.ServerID {
		return
	}
	if why := s.illegitimate(&m.Leader); why != "" {
		s.log(env.LevelInfo, fmt.Sprintf("election: proposal of %s rejected: %s", m.Leader.ServerID.Short(), why))
		return
	}
	view := m.View
	p := *m
	s.promise(m.Number)
	s.persist(Checkpoint{Proposal: m.Number, Promised: -1}, func() {
		if p.Number <= s.proposalChk || s.phase != Acceptor || s.installed != view || s.decided {
			s.proposalChk = max(s.proposalChk, p.Number)
			return
		}
		s.proposalChk = p.Number
		s.proposal = &p
		s.addVote(s.self, leaderOf(&p), p.Number)
		s.broadcast(&Accept{From: s.self, Leader: leaderOf(&p), View: view, Number: p.Number})
		s.checkDecision()
	})
}

// illegitimate returns why an acceptor refuses a candidate, or "".
func (s *Service) illegitimate(c *LogState) string {
	members := s.node.Members()
	if i := member.FindID(members, s.lastElected); i >= 0 && s.lastElected != s.resigning {
		prev := members[i]
		// EventStoreDB accepts at once when this test passes; here it can
		// only refuse, and the log comparison below still applies: the
		// previous leader's epoch comes from gossip, which lags, and a
		// candidate newer than a stale record may still lack records this
		// node holds (and has acknowledged).
		if prev.IsAlive && prev.State == member.Leader &&
			!(c.ServerID == prev.InstanceID || c.EpochNumber > prev.EpochNumber ||
				(c.EpochNumber == prev.EpochNumber && c.EpochID != prev.EpochID)) {
			return fmt.Sprintf("previous leader %s is alive", prev.InstanceID.Short())
		}
	}
	if c.ServerID == s.self.ServerID {
		return ""
	}
	// EventStoreDB also compares the last commit position (second). That
	// is what a node knows of the cluster, not what its log holds: a node
	// that has not yet heard the latest commit point has the same log, and
	// refusing it deadlocked elections in which every coordinator picked
	// it. Epoch, then log end, decide whether it holds everything we hold.
	own := s.node.LogState()
	switch {
	case c.EpochNumber != own.EpochNumber:
		if c.EpochNumber < own.EpochNumber {
			return fmt.Sprintf("its epoch %d is behind ours %d", c.EpochNumber, own.EpochNumber)
		}
	case c.WriterCheckpoint != own.WriterCheckpoint:
		if c.WriterCheckpoint < own.WriterCheckpoint {
			return fmt.Sprintf("its writer checkpoint %d is behind ours %d", c.WriterCheckpoint, own.WriterCheckpoint)
		}
	case c.ChaserCheckpoint != own.ChaserCheckpoint:
		if c.ChaserCheckpoint < own.ChaserCheckpoint {
			return fmt.Sprintf("its chaser checkpoint %d is behind ours %d", c.ChaserCheckpoint, own.ChaserCheckpoint)
		}
	}
	return ""
}

func (s *Service) onAccept(m *Accept) {
	if s.phase == Idle || m.View != s.attempted {
		return
	}
	s.addVote(m.From, m.Leader, m.Number)
	s.checkDecision()
}

func (s *Service) addVote(from From, leader From, number int32) {
	for _, v := range s.votes {
		if v.from.ServerID == from.ServerID {
			return
		}
	}
	s.votes = append(s.votes, vote{from: from, leader: leader, number: number})
}

// checkDecision decides once a quorum of distinct nodes has persisted the
// same proposal number for the same leader in the attempted view.
func (s *Service) checkDecision() {
	if s.decided {
		return
	}
	for i, v := range s.votes {
		n := 0
		for _, w := range s.votes[i:] {
			if w.leader.ServerID == v.leader.ServerID && w.number == v.number {
				n++
			}
		}
		if n >= s.cfg.Quorum() && s.known(v.leader.ServerID) {
			s.decide(v.leader, v.number)
			return
		}
	}
}

func (s *Service) decide(leader From, number int32) {
	s.decided = true
	s.settled = true
	s.Decisions++
	if s.phase == ElectingLeader {
		s.phase = Acceptor
	}
	s.installed = s.attempted
	s.lastElected = leader.ServerID
	s.resigning = member.ID{}
	s.resignOks = s.resignOks[:0]
	stopTimer(&s.timeout)
	s.log(env.LevelInfo, fmt.Sprintf("election: %s (%v) elected in view %d, epoch %d",
		leader.ServerID.Short(), leader.HTTP, s.attempted, number))
	// Announce the quorum's votes, ours and those we counted: a member
	// that joined the view late (it was still starting when the proposal
	// went out), or that cannot hear every voter (a partition that only
	// some of the quorum bridges), learns the outcome from these instead
	// of timing out into a new view. A vote relayed means what it meant
	// when its voter sent it.
	for _, v := range s.votes {
		if v.leader.ServerID == leader.ServerID && v.number == number {
			s.broadcast(&Accept{From: v.from, Leader: leader, View: s.attempted, Number: number})
		}
	}
	s.node.Elected(s.attempted, number, leader)
}

func (s *Service) sendProof() {
	s.proofTimer = nil
	if s.phase == Shutdown {
		return
	}
	if s.installed >= 0 && s.phase != Idle {
		s.broadcast(&ViewChangeProof{From: s.self, InstalledView: s.installed})
	}
	s.proofTimer = s.env.Clock.AfterFunc(ProofInterval, s.sendProof)
}

func (s *Service) onViewChangeProof(m *ViewChangeProof) {
	if s.phase == Idle || m.InstalledView <= s.installed || m.InstalledView == math.MaxInt32 || !s.known(m.ServerID) {
		return
	}
	view := m.InstalledView
	s.attempted = view
	s.installed = view
	s.prepareOks = s.prepareOks[:0]
	s.votes = s.votes[:0]
	s.proposal = nil
	s.decided = false
	if s.settled {
		// A node with a leader takes the view's number, so that its own
		// later view changes are not taken for old ones and old ones are
		// ignored here, and it still answers the view's coordinator and
		// counts its votes. It does not time the view out, nor coordinate
		// it: the view was most likely decided while this node was away
		// (paused, cut off), so nothing would decide it here, and its
		// timeout would start a view that every node joins, an election
		// nobody needed; coordinating would give this node's log state, a
		// promise that stops it acknowledging the leader it follows.
		stopTimer(&s.timeout)
		s.phase = Acceptor
		s.log(env.LevelDebug, fmt.Sprintf("election: view %d installed elsewhere, taken without a timeout (this node has a leader)", view))
		return
	}
	s.armTimeout(view)
	if s.isCoordinator(view) {
		s.shiftToPrepare(view)
	} else {
		s.phase = Acceptor
	}
}

// LeaderFound tells the service that the node follows a leader it learned
// of outside an election (gossip shows a leader of a later epoch than this
// node's own: EventStoreDB's LeaderFound, which it handles only at
// start-up). The node needs no election any more: a view it was attempting
// is abandoned, its timeout stopped, so that it cannot start the next view
// and drag every node into an election that would unseat a healthy leader;
// the node is settled until a view change (its own, when it loses that
// leader, or another node's).
func (s *Service) LeaderFound() {
	if s.phase == Idle || s.phase == Shutdown {
		return
	}
	s.settled = true
	stopTimer(&s.timeout)
	if s.phase == ElectingLeader {
		s.phase = Acceptor
	}
}

// Resign starts an operator-requested resignation of this node, which must
// be the leader: once a quorum acknowledges, Resigned is called, and the
// next election treats this node as the loser of every tie.
func (s *Service) Resign() {
	s.resigning = s.self.ServerID
	s.resignOks = append(s.resignOks[:0], s.self.HTTP)
	s.broadcast(&LeaderIsResigning{Leader: s.self})
	s.checkResignQuorum()
}

func (s *Service) onLeaderIsResigning(m *LeaderIsResigning) {
	s.resigning = m.Leader.ServerID
	s.node.Send(m.Leader.HTTP, &LeaderIsResigningOk{From: s.self, Leader: m.Leader})
}

func (s *Service) onLeaderIsResigningOk(m *LeaderIsResigningOk) {
	if s.resigning != s.self.ServerID || m.Leader.ServerID != s.self.ServerID || slices.Contains(s.resignOks, m.HTTP) {
		return
	}
	s.resignOks = append(s.resignOks, m.HTTP)
	s.checkResignQuorum()
}

func (s *Service) checkResignQuorum() {
	if len(s.resignOks) == s.cfg.Quorum() {
		s.node.Resigned()
	}
}

func (s *Service) log(level env.Level, msg string) {
	if s.env.Log != nil {
		s.env.Log.Log(level, msg)
	}
}
