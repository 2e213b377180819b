// Package node composes a cluster node from its parts (gossip, elections,
// the replication link, checkpoints) and drives its state machine with
// EventStoreDB's states and transitions. It is the only thing a driver talks
// to: the simulator and the production runtime hand it an env.Env, deliver
// its inputs on one loop, and watch the events it reports.
package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/annal-db/annal/core/checkpoint"
	"github.com/annal-db/annal/core/election"
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/gossip"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/replication"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/wire"
)

// Timings EventStoreDB hard-codes, kept as it has them.
const (
	// DiscoverLeaderTimeout: a starting cluster node waits this long for
	// gossip to show a leader before it calls an election.
	DiscoverLeaderTimeout = 3 * time.Second
	// NoQuorumTimeout: a leader that has fewer than a quorum of replicas
	// connected for this long steps down.
	NoQuorumTimeout = 3 * time.Second
	// ReconnectDelay: a replica whose link to the leader broke tries again
	// after this long.
	ReconnectDelay = 500 * time.Millisecond
)

// Version is what the node reports in gossip.
const Version = "annal-0.1"

// proposalFile holds the node's election checkpoint: the highest proposal
// number it made or accepted, then the highest it promised by giving its
// log state, each a little-endian int32. Files written before promises
// were kept hold the proposal number alone.
const proposalFile = "proposal.chk"

// Settings are what a node needs beyond its options.
type Settings struct {
	// SegmentSize is the log's segment size (0: the default, 256 MiB).
	SegmentSize int64
	// OnApplied, when set, sees every committed record as the node applies
	// it, in log order (the simulator's checkers watch here).
	OnApplied func(recs []eventlog.Record)
	// ApplyStepBytes bounds each read of committed records applied from
	// the log (0: 1 MiB). Tests make it small, so that reads end inside
	// appends.
	ApplyStepBytes int
}

// Node is one cluster node.
type Node struct {
	e        env.Env
	opts     *options.Values
	settings Settings
	id       member.ID

	state member.State

	bindNode, bindRepl env.Endpoint
	advNode, advRepl   env.Endpoint
	clientHost         string
	clientPort         uint16
	clusterSize        int
	readOnly           bool
	priority           int32
	heartbeats         replication.Heartbeats

	proposalChk *checkpoint.File
	epoch       replication.Epoch // the last epoch in the log
	st          storage
	streams     *streams.Service

	gossip   *gossip.Service
	election *election.Service
	server   *replication.Server
	link     *replication.Link

	leaderID     member.ID    // who this node follows (or itself when leading)
	leaderHTTP   env.Endpoint // the followed leader's node endpoint
	epochWritten bool         // leading: this term's epoch record is in the log
	epochEnd     int64        // leading: where this term's epoch record ends
	// followedEpoch is the epoch of the leader this replica follows, as
	// the leader told it when it subscribed.
	followedEpoch int32
	// gossipSeq numbers this incarnation's own gossip records.
	gossipSeq uint64

	discoverTimer  env.Timer
	noQuorumTimer  env.Timer
	reconnectTimer env.Timer
	listeners      []env.Listener
	stopped        bool
}

// New makes a node from its options. It does nothing until Start.
func New(e env.Env, opts *options.Values, settings Settings) *Node {
	n := &Node{e: e, opts: opts, settings: settings, state: member.Initializing}
	n.id = member.NewID(e.Rand)
	n.clusterSize = int(opts.Int(options.ClusterSize))
	n.readOnly = opts.Bool(options.ReadOnlyReplica)
	n.priority = int32(opts.Int(options.NodePriority))
	n.heartbeats = replication.Heartbeats{
		Interval: opts.Duration(options.ReplicationHeartbeatInterval),
		Timeout:  opts.Duration(options.ReplicationHeartbeatTimeout),
	}
	n.epoch = replication.None
	return n
}

// ID is the node's instance id (new at every start, as in EventStoreDB).
func (n *Node) ID() member.ID { return n.id }

// State is the node's current state.
func (n *Node) State() member.State { return n.state }

// Epoch is the node's last epoch.
func (n *Node) Epoch() replication.Epoch { return n.epoch }

// Gossip is the node's current cluster view.
func (n *Node) Gossip() []member.Info { return n.gossip.View() }

// AdvertisedNode is the node endpoint other nodes are told to use.
func (n *Node) AdvertisedNode() env.Endpoint { return n.advNode }

// Start loads the node's durable state, binds its ports and joins the
// cluster.
func (n *Node) Start() {
	n.resolveEndpoints()
	checkpoint.Open(n.e.Disk, proposalFile, func(f *checkpoint.File, err error) {
		if err != nil {
			n.fatal(err)
			return
		}
		n.proposalChk = f
		if err := n.newStreams(); err != nil {
			n.fatal(err)
			return
		}
		n.openStorage(n.started)
	})
}

// encodeElectionCheckpoint and decodeElectionCheckpoint are proposal.chk's
// format (see proposalFile).
func encodeElectionCheckpoint(c election.Checkpoint) []byte {
	v := binary.LittleEndian.AppendUint32(nil, uint32(c.Proposal))
	return binary.LittleEndian.AppendUint32(v, uint32(c.Promised))
}

func decodeElectionCheckpoint(v []byte) (election.Checkpoint, error) {
	c := election.NoCheckpoint
	switch len(v) {
	case 0:
	case 4:
		c.Proposal = int32(binary.LittleEndian.Uint32(v))
	case 8:
		c.Proposal = int32(binary.LittleEndian.Uint32(v))
		c.Promised = int32(binary.LittleEndian.Uint32(v[4:]))
	default:
		return c, fmt.Errorf("%s holds %d bytes; an election checkpoint is 4 or 8", proposalFile, len(v))
	}
	return c, nil
}

// resolveEndpoints works out what the node binds and what it advertises.
// Advertise-as options change only what is gossiped, never what is bound;
// a port of 0 means "not set".
func (n *Node) resolveEndpoints() {
	o := n.opts
	n.bindNode = env.Endpoint{Host: o.IP(options.NodeIp).String(), Port: o.Port(options.NodePort)}
	n.bindRepl = env.Endpoint{Host: o.IP(options.ReplicationIp).String(), Port: o.Port(options.ReplicationPort)}
	n.advNode = n.advertise(n.bindNode, options.NodeHostAdvertiseAs, options.NodePortAdvertiseAs)
	n.advRepl = n.advertise(n.bindRepl, options.ReplicationHostAdvertiseAs, options.ReplicationTcpPortAdvertiseAs)
	n.clientHost = o.String(options.AdvertiseHostToClientAs)
	n.clientPort = o.Port(options.AdvertiseNodePortToClientAs)
}

func (n *Node) advertise(bound env.Endpoint, hostOpt, portOpt *options.Option) env.Endpoint {
	ep := bound
	if h := n.opts.String(hostOpt); h != "" {
		ep.Host = h
	} else if a, err := netip.ParseAddr(bound.Host); err == nil && a.IsUnspecified() {
		ep.Host = firstNonLoopback(n.e.Net.InterfaceAddrs(), a)
	}
	if p := n.opts.Port(portOpt); p != 0 {
		ep.Port = p
	}
	return ep
}

// firstNonLoopback is the address a node bound to every interface
// (bound: 0.0.0.0 or ::) advertises: the first that others can reach, so
// not loopback and not link-local (169.254.0.0/16, fe80::/10: unroutable
// beyond one link), and one the node listens on: 0.0.0.0 is every IPv4
// address only, as in EventStoreDB, so an IPv6 one is not advertised for
// it. None: the bound address itself.
func firstNonLoopback(addrs []string, bound netip.Addr) string {
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil && !a.IsLoopback() && !a.IsUnspecified() && !a.IsLinkLocalUnicast() &&
			(!bound.Is4() || a.Is4()) {
			return s
		}
	}
	return bound.String()
}

func (n *Node) started() {
	if n.stopped {
		return
	}
	n.gossip = gossip.New(n.e, n.gossipConfig(), gossipNode{n})
	chk, err := decodeElectionCheckpoint(n.proposalChk.Value())
	if err != nil {
		n.fatal(err)
		return
	}
	n.election = election.New(n.e,
		election.Config{ClusterSize: n.clusterSize, Timeout: n.opts.Duration(options.LeaderElectionTimeoutMs)},
		election.From{ServerID: n.id, HTTP: n.advNode}, chk, electionNode{n})
	n.server = replication.NewServer(n.e, n.id, n.heartbeats, leaderNode{n})
	n.server.Followers = int(n.opts.Int(options.ClusterSize)) - 1
	n.server.AllowSurplus = n.opts.Bool(options.UnsafeAllowSurplusNodes)

	l, err := n.e.Net.Serve(n.bindNode, n)
	if err != nil {
		n.fatal(fmt.Errorf("cannot listen on the node port %v: %w", n.bindNode, err))
		return
	}
	n.listeners = append(n.listeners, l)
	l, err = n.e.Net.Listen(n.bindRepl, n.server.Accept)
	if err != nil {
		n.fatal(fmt.Errorf("cannot listen on the replication port %v: %w", n.bindRepl, err))
		return
	}
	n.listeners = append(n.listeners, l)
	n.logf(env.LevelInfo, "node %s listening: node %v (advertised %v), replication %v (advertised %v); epoch %d",
		n.id.Short(), n.bindNode, n.advNode, n.bindRepl, n.advRepl, n.epoch.Number)

	n.gossip.Start()
	switch {
	case n.readOnly:
		n.setState(member.ReadOnlyLeaderless)
	case n.clusterSize == 1:
		n.setState(member.Unknown)
		n.election.StartElections()
	default:
		n.setState(member.DiscoverLeader)
		n.discoverTimer = n.e.Clock.AfterFunc(DiscoverLeaderTimeout, func() {
			n.discoverTimer = nil
			if n.state == member.DiscoverLeader {
				n.setState(member.Unknown)
				n.election.StartElections()
			}
		})
	}
}

func (n *Node) gossipConfig() gossip.Config {
	o := n.opts
	cfg := gossip.Config{
		Interval:          o.Duration(options.GossipIntervalMs),
		Timeout:           o.Duration(options.GossipTimeoutMs),
		AllowedDifference: o.Duration(options.GossipAllowedDifferenceMs),
		RemovalPeriod:     o.Duration(options.DeadMemberRemovalPeriodSec),
		ClusterDNS:        o.String(options.ClusterDns),
		GossipPort:        o.Port(options.ClusterGossipPort),
	}
	for _, s := range o.Strings(options.GossipSeed) {
		if ep, err := env.ParseEndpoint(s); err == nil {
			cfg.Seeds = append(cfg.Seeds, ep)
		}
	}
	cfg.DiscoverViaDNS = len(cfg.Seeds) == 0 && o.Bool(options.DiscoverViaDns) && n.clusterSize > 1
	return cfg
}

func (n *Node) setState(s member.State) {
	if n.state == s {
		return
	}
	n.state = s
	n.logf(env.LevelInfo, "state %v (epoch %d)", s, n.epoch.Number)
	n.observe(StateChanged{State: s, Epoch: n.epoch.Number, Leader: n.leaderID, ID: n.id})
	if n.gossip != nil {
		n.gossip.SelfChanged()
	}
}

// self is the node's own gossip record, with the next sequence number.
func (n *Node) self() member.Info {
	n.gossipSeq++
	return member.Info{
		Seq:        n.gossipSeq,
		InstanceID: n.id, TimeStamp: n.e.Clock.Wall(), State: n.state, IsAlive: true,
		HTTPEndPoint: n.advNode, InternalTCP: n.advRepl,
		// A secure node replicates over TLS only (clients' gossip shows
		// the port as internalSecureTcpPort).
		InternalTCPUsesTLS: !n.opts.Bool(options.Insecure),
		EpochNumber:        n.epoch.Number, EpochPosition: n.epoch.Position, EpochID: n.epoch.ID,
		LastCommitPosition: n.st.committed, WriterCheckpoint: n.writer(), ChaserCheckpoint: n.writer(),
		NodePriority: n.priority, IsReadOnlyReplica: n.readOnly,
		AdvertiseHostToClientAs: n.clientHost, AdvertiseHTTPPortToClientAs: n.clientPort,
		Version: Version,
	}
}

func (n *Node) logState() election.LogState {
	return election.LogState{
		ServerID: n.id, HTTP: n.advNode, EpochNumber: n.epoch.Number, EpochPosition: n.epoch.Position,
		EpochID: n.epoch.ID, EpochLeaderID: n.epoch.LeaderID, LastCommitPosition: n.st.committed,
		WriterCheckpoint: n.writer(), ChaserCheckpoint: n.writer(), NodePriority: n.priority,
		// Elections prefer another node with as good a log: this one
		// would fail its first append as leader.
		DiskFull: n.st.log != nil && n.st.log.OutOfSpace(),
	}
}

// writer is the durable end of the log.
func (n *Node) writer() int64 {
	if n.st.log == nil {
		return 0
	}
	return n.st.log.Durable()
}

// onGossip reacts to a changed cluster view, as EventStoreDB's node
// controller does.
func (n *Node) onGossip() {
	view := n.gossip.View()
	switch {
	case n.state == member.DiscoverLeader || n.state == member.ReadOnlyLeaderless:
		if l, ok := soleAliveLeader(view, n.id); ok {
			if n.discoverTimer != nil {
				n.discoverTimer.Stop()
				n.discoverTimer = nil
			}
			n.follow(l.InstanceID, l.HTTPEndPoint)
		}
	case n.state.IsReplica() || n.state == member.PreReplica || n.state == member.PreReadOnlyReplica:
		i := member.FindID(view, n.leaderID)
		if i < 0 || !view[i].IsAlive || !view[i].State.IsLeaderish() {
			n.logf(env.LevelInfo, "leader %s is gone from gossip", n.leaderID.Short())
			n.leaderLost()
		}
	case n.state.IsLeaderish():
		n.resolveRivalLeaders(view)
	}
}

// resolveRivalLeaders settles another leader in gossip by epoch: a leader
// elected in a later epoch deposed this one (which was cut off, frozen or
// paused meanwhile), so this one follows it at once; an older rival is
// the deposed one and will do the same when it sees this node. Only a
// rival in the same epoch, which elections rule out, calls an election:
// calling one for a stale leader would let its return move leadership.
func (n *Node) resolveRivalLeaders(view []member.Info) {
	for _, m := range view {
		if !m.IsAlive || m.State != member.Leader || m.InstanceID == n.id {
			continue
		}
		switch {
		case m.EpochNumber > n.epoch.Number:
			n.logf(env.LevelWarn, "gossip shows leader %s in epoch %d, later than this node's %d; following it",
				m.InstanceID.Short(), m.EpochNumber, n.epoch.Number)
			n.follow(m.InstanceID, m.HTTPEndPoint)
			// An election this node started (a rival seen earlier in its
			// own epoch, a replica ahead of it) has no purpose now, and a
			// view it missed must not be timed out into a new one.
			n.election.LeaderFound()
			return
		case m.EpochNumber == n.epoch.Number:
			n.logf(env.LevelWarn, "gossip shows leader %s in this node's epoch %d; calling an election", m.InstanceID.Short(), n.epoch.Number)
			n.election.StartElections()
			return
		}
	}
}

func soleAliveLeader(view []member.Info, self member.ID) (member.Info, bool) {
	var found member.Info
	count := 0
	for _, m := range view {
		if m.IsAlive && m.State == member.Leader && m.InstanceID != self {
			found = m
			count++
		}
	}
	return found, count == 1
}

// leaderLost: a replica no longer has a leader. It stops following it, so
// that gossip judges the old leader like any other member (its liveness
// then comes from gossip, not from a replication link that no longer
// exists), and calls an election.
func (n *Node) leaderLost() {
	n.closeLink()
	n.leaderID, n.leaderHTTP = member.ID{}, env.Endpoint{}
	if n.readOnly {
		n.setState(member.ReadOnlyLeaderless)
		return
	}
	n.setState(member.Unknown)
	n.election.StartElections()
}

// follow makes this node a replica of the given leader.
func (n *Node) follow(leader member.ID, http env.Endpoint) {
	n.stepDownAsLeader("following another leader")
	n.leaderID, n.leaderHTTP = leader, http
	if n.readOnly {
		n.setState(member.PreReadOnlyReplica)
	} else {
		n.setState(member.PreReplica)
	}
	n.connectToLeader()
}

func (n *Node) connectToLeader() {
	n.closeLink()
	if n.st.replicaWrites > 0 {
		// A new link reports this node's durable end and epochs when it
		// subscribes: with an earlier link's records still landing, the
		// leader would start below where they end, and could ask this node
		// to cut records it has since made durable and committed. Dial
		// once they have landed (replicaWriteDone).
		n.st.dialWhenIdle = true
		return
	}
	i := member.FindID(n.gossip.View(), n.leaderID)
	if i < 0 {
		// Not in our view yet: gossip will bring it; try again shortly.
		n.scheduleReconnect(time.Second)
		return
	}
	leader := n.gossip.View()[i]
	n.link = replication.Dial(n.e, replication.ReplicaConfig{
		Self: n.id, Node: n.advNode, Promotable: !n.readOnly, Heartbeats: n.heartbeats,
	}, n.leaderID, leader.InternalTCP, replicaNode{n})
}

func (n *Node) scheduleReconnect(d time.Duration) {
	if n.reconnectTimer != nil {
		n.reconnectTimer.Stop()
	}
	leader := n.leaderID
	n.reconnectTimer = n.e.Clock.AfterFunc(d, func() {
		n.reconnectTimer = nil
		if n.stopped || n.leaderID != leader || leader.IsZero() {
			return
		}
		switch n.state {
		case member.PreReplica, member.CatchingUp, member.Clone, member.Follower:
			n.setState(member.PreReplica)
			n.connectToLeader()
		case member.PreReadOnlyReplica, member.ReadOnlyReplica:
			n.setState(member.PreReadOnlyReplica)
			n.connectToLeader()
		}
	})
}

func (n *Node) closeLink() {
	if n.link != nil {
		n.link.Close()
		n.link = nil
	}
}

// stepDownAsLeader ends leadership duties (subscriptions, quorum watch).
func (n *Node) stepDownAsLeader(reason string) {
	if n.noQuorumTimer != nil {
		n.noQuorumTimer.Stop()
		n.noQuorumTimer = nil
	}
	n.epochWritten = false
	n.st.tail.reset()
	n.st.boundaries = nil
	// Appends waiting for their commit have an unknown outcome now: they
	// may still commit under the next leader. The client must retry.
	waiters := n.st.waiters
	n.st.waiters = nil
	for _, w := range waiters {
		w.done(ErrLeadershipLost)
	}
	if n.streams != nil {
		n.streams.ResetWriter()
	}
	if n.server != nil {
		n.server.DropAll(reason)
	}
}

// loseLeadership makes a leader (or PreLeader) give up and call an
// election.
func (n *Node) loseLeadership(reason string) {
	if !n.state.IsLeaderish() {
		return
	}
	n.logf(env.LevelWarn, "giving up leadership: %s", reason)
	n.stepDownAsLeader(reason)
	n.leaderID, n.leaderHTTP = member.ID{}, env.Endpoint{}
	n.setState(member.Unknown)
	n.election.StartElections()
}

// ErrLeadershipLost ends appends that were waiting for their commit when
// this node stopped leading: they may or may not commit.
var ErrLeadershipLost = errors.New("leadership lost before the write was committed; its outcome is unknown")

// elected handles a decided election.
func (n *Node) elected(view, number int32, leader election.From) {
	n.observe(ElectionDecided{View: view, Epoch: number, Leader: leader.ServerID})
	for _, m := range n.gossip.View() {
		if m.InstanceID == leader.ServerID {
			n.gossip.SetState(m.HTTPEndPoint, member.Leader)
		} else if m.InstanceID != n.id && m.State != member.Manager {
			n.gossip.SetState(m.HTTPEndPoint, member.Unknown)
		}
	}
	if leader.ServerID != n.id {
		n.follow(leader.ServerID, leader.HTTP)
		return
	}
	// Elected (or re-elected): write a new epoch, then wait for a quorum to
	// have it before serving as leader.
	n.closeLink()
	n.leaderID, n.leaderHTTP = n.id, n.advNode
	if n.state != member.Leader {
		n.stepDownAsLeader("new election")
		n.setState(member.PreLeader)
	}
	if number <= n.epoch.Number {
		n.fatal(fmt.Errorf("elected for epoch %d, but the log already has epoch %d", number, n.epoch.Number))
		return
	}
	n.beginTerm(number)
}

// beginTerm writes the new term's epoch record after everything this node
// has, first cutting an append whose end never arrived (it was never
// committed, so never acknowledged): the epoch record would otherwise
// commit its first part alone. Replicas subscribe at once, and the node
// leads once a quorum has the record (advanceCommit).
func (n *Node) beginTerm(number int32) {
	if n.stopped || n.leaderID != n.id || !n.state.IsLeaderish() {
		return
	}
	if !n.mayLead() {
		n.loseLeadership(fmt.Sprintf("the log lacks committed records up to %d: a corrupt range is still being fetched again", n.st.committed))
		return
	}
	if n.st.log.End() != n.st.log.Durable() {
		// Writes from the replica days are still in flight: let them land.
		n.e.Clock.AfterFunc(10*time.Millisecond, func() { n.beginTerm(number) })
		return
	}
	if end := n.st.log.End(); end > n.st.lastBoundary && n.st.lastBoundary >= n.st.committed {
		n.followFrom(n.st.lastBoundary, nil, func(err error) {
			if err != nil {
				n.fatal(fmt.Errorf("cutting an incomplete append before a new term: %w", err))
				return
			}
			n.beginTerm(number)
		})
		return
	}
	rec := eventlog.NewEpoch(eventlog.Epoch{
		Number: number, ID: [16]byte(member.NewID(n.e.Rand)), PrevPosition: n.epoch.Position,
		LeaderID: [16]byte(n.id), Created: eventlog.Ticks(n.e.Clock.Wall()),
	})
	recs := []eventlog.Record{rec}
	n.appendLocal(recs, nil)
	if n.stopped {
		return
	}
	n.addEpoch(&recs[0])
	n.epochEnd = recs[0].End()
	n.epochWritten = true
	n.gossip.SelfChanged()
	n.checkLeadership()
	n.recomputeCommit()
}

// checkLeadership promotes a PreLeader once a quorum has its epoch, and
// watches a leader's quorum.
func (n *Node) checkLeadership() {
	if !n.state.IsLeaderish() || !n.epochWritten {
		return
	}
	quorum := n.clusterSize/2 + 1
	if 1+n.server.Promotable() >= quorum {
		if n.noQuorumTimer != nil {
			n.noQuorumTimer.Stop()
			n.noQuorumTimer = nil
		}
		return
	}
	if n.noQuorumTimer == nil {
		n.noQuorumTimer = n.e.Clock.AfterFunc(NoQuorumTimeout, func() {
			n.noQuorumTimer = nil
			if n.state.IsLeaderish() && 1+n.server.Promotable() < quorum {
				n.loseLeadership(fmt.Sprintf("no quorum for %v: %d of %d nodes connected",
					NoQuorumTimeout, 1+n.server.Promotable(), n.clusterSize))
			}
		})
	}
}

// Resign is the operator's request that this leader hand over leadership.
// Ignored on a node that is not the leader, as in EventStoreDB.
func (n *Node) Resign() {
	if n.state != member.Leader {
		n.logf(env.LevelInfo, "resign request ignored: not the leader (%v)", n.state)
		return
	}
	n.logf(env.LevelInfo, "resigning leadership")
	n.election.Resign()
}

func (n *Node) resigned() {
	if n.state != member.Leader {
		return
	}
	n.setState(member.ResigningLeader)
	// Nothing is in flight in a node without client requests: the queue
	// is drained at once.
	n.stepDownAsLeader("leader resigned")
	n.leaderID, n.leaderHTTP = member.ID{}, env.Endpoint{}
	n.setState(member.Unknown)
	n.election.StartElections()
}

// Stop shuts the node down cleanly: ShuttingDown, then Shutdown.
func (n *Node) Stop() {
	if n.stopped {
		return
	}
	n.setState(member.ShuttingDown)
	// A clean stop leaves the latest commit point behind (best effort: a
	// driver that exits before the write completes leaves an older one,
	// which is as safe).
	n.writeCommitCheckpoint()
	n.shutdown()
	n.setState(member.Shutdown)
}

func (n *Node) shutdown() {
	n.stopped = true
	for _, t := range []*env.Timer{&n.discoverTimer, &n.noQuorumTimer, &n.reconnectTimer, &n.st.commitChkTimer} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	n.closeLink()
	if n.server != nil {
		n.server.DropAll("shutting down")
	}
	if n.election != nil {
		n.election.Stop()
	}
	if n.gossip != nil {
		n.gossip.Stop()
	}
	if n.streams != nil {
		n.streams.DropAll(ErrNotReady)
	}
	for _, l := range n.listeners {
		l.Close()
	}
	n.listeners = nil
}

// fatal stops a node that cannot go on safely (a failed sync, a corrupt
// checkpoint, a port it cannot bind).
func (n *Node) fatal(err error) {
	if n.stopped {
		return
	}
	n.logf(env.LevelError, "fatal: %v; stopping", err)
	n.observe(Fatal{Reason: err.Error()})
	n.setState(member.ShuttingDown)
	n.shutdown()
	n.setState(member.Shutdown)
	if n.e.Exit != nil {
		n.e.Exit(1)
	}
}

// HandleRequest serves the node port's cluster RPCs.
func (n *Node) HandleRequest(from env.Endpoint, method string, req []byte, reply func([]byte, error)) {
	if n.stopped || n.gossip == nil {
		reply(nil, &env.RemoteError{Code: 503, Message: "node is " + n.state.String()})
		return
	}
	switch method {
	case gossip.MethodUpdate:
		reply(n.gossip.HandleUpdate(req))
	case gossip.MethodRead:
		reply(n.gossip.HandleRead(), nil)
	case MethodAppend, MethodDelete, MethodReadStream:
		n.handleClient(method, req, reply)
	case election.MethodElection:
		m, err := election.Decode(req)
		if err != nil {
			reply(nil, &env.RemoteError{Code: 400, Message: err.Error()})
			return
		}
		reply(nil, nil)
		// A message straight from a member is proof that it lives.
		if ep := election.Sender(m); !ep.IsZero() {
			n.gossip.MarkAlive(ep)
		}
		n.election.Handle(m)
	default:
		reply(nil, &env.RemoteError{Code: 404, Message: "unknown method " + method})
	}
}

func (n *Node) sendElection(to env.Endpoint, m election.Message) {
	timeout := n.opts.Duration(options.LeaderElectionTimeoutMs)
	n.e.Net.Call(to, election.MethodElection, wire.Marshal(m), timeout, func(_ []byte, err error) {
		// A member that cannot take an election message cannot coordinate
		// or vote either: marking it dead at once keeps every node's list
		// of electable members, and so its choice of coordinator, in step.
		if err != nil && !n.stopped {
			var remote *env.RemoteError
			if !errors.As(err, &remote) {
				n.gossip.Unreachable(to, err)
			}
		}
	})
}

func (n *Node) observe(ev env.Event) {
	if n.e.Observer != nil {
		n.e.Observer.Observe(ev)
	}
}

func (n *Node) logf(level env.Level, format string, args ...any) {
	if n.e.Log != nil {
		n.e.Log.Log(level, fmt.Sprintf(format, args...))
	}
}

// gossipNode adapts the node to what gossip needs.
type gossipNode struct{ n *Node }

func (g gossipNode) Self() member.Info { return g.n.self() }
func (g gossipNode) Leader() env.Endpoint {
	if g.n.leaderID == g.n.id {
		return env.Endpoint{}
	}
	return g.n.leaderHTTP
}
func (g gossipNode) CanPrune() bool {
	s := g.n.state
	return s != member.Initializing && s != member.DiscoverLeader && s != member.Unknown && s != member.ReadOnlyLeaderless
}
func (g gossipNode) ViewChanged(bool) {
	if !g.n.stopped {
		g.n.onGossip()
	}
}
func (g gossipNode) ClockSkew(peer env.Endpoint, skew time.Duration) {
	g.n.observe(ClockSkewDetected{Peer: peer, Skew: skew})
}

// electionNode adapts the node to what elections need.
type electionNode struct{ n *Node }

func (e electionNode) Members() []member.Info                   { return e.n.gossip.View() }
func (e electionNode) Leader() env.Endpoint                     { return gossipNode(e).Leader() }
func (e electionNode) LogState() election.LogState              { return e.n.logState() }
func (e electionNode) Send(to env.Endpoint, m election.Message) { e.n.sendElection(to, m) }
func (e electionNode) Persist(c election.Checkpoint, done func(bool)) {
	e.n.proposalChk.Write(encodeElectionCheckpoint(c), func(err error) {
		if err != nil {
			e.n.fatal(err)
			done(false)
			return
		}
		done(true)
	})
}
func (e electionNode) Elected(view, number int32, leader election.From) {
	if !e.n.stopped {
		e.n.elected(view, number, leader)
	}
}
func (e electionNode) Resigned() { e.n.resigned() }

// leaderNode adapts the node to the leader side of replication.
type leaderNode struct{ n *Node }

func (l leaderNode) Subscribe(req *replication.Subscribe) (replication.Epoch, int64, bool) {
	n := l.n
	ok := n.leaderID == n.id && n.epochWritten && (n.state == member.PreLeader || n.state == member.Leader)
	if !ok {
		return replication.Epoch{}, 0, false
	}
	return n.epoch, n.commonPoint(req), true
}
func (l leaderNode) Read(from int64, max int, done func([]byte, int64, int64, error)) {
	l.n.readForReplica(from, max, done)
}
func (l leaderNode) End() int64       { return l.n.st.log.End() }
func (l leaderNode) Committed() int64 { return l.n.st.committed }
func (l leaderNode) SubscriptionsChanged() {
	l.n.checkLeadership()
	l.n.recomputeCommit()
}
func (l leaderNode) ReplicaAhead(promised int32) {
	n := l.n
	if n.state.IsLeaderish() && promised > n.epoch.Number {
		n.logf(env.LevelInfo, "a replica promised proposal %d, above our epoch %d; calling an election", promised, n.epoch.Number)
		n.election.StartElections()
	}
}
func (l leaderNode) ReplicaSilent(remote env.Endpoint) {
	l.n.observe(PeerDeclaredDead{Peer: remote})
}

// replicaNode adapts the node to the replica side of replication.
type replicaNode struct{ n *Node }

func (r replicaNode) Epochs() []replication.Epoch { return r.n.latestEpochs() }
func (r replicaNode) Writer() int64               { return r.n.writer() }
func (r replicaNode) Subscribed(ep replication.Epoch, start int64, done func(error)) {
	n := r.n
	if ep.Number < n.epoch.Number {
		n.logf(env.LevelWarn, "leader %s offers epoch %d, older than ours %d; leaving it", n.leaderID.Short(), ep.Number, n.epoch.Number)
		n.closeLink()
		n.leaderLost()
		return
	}
	if n.readOnly {
		n.setState(member.ReadOnlyReplica)
	} else {
		n.setState(member.CatchingUp)
	}
	n.followedEpoch = ep.Number
	link := n.link
	n.followFrom(start, func() bool { return !n.stopped && n.link == link }, done)
}
func (r replicaNode) Write(from int64, raw []byte, done func(int64, error)) {
	r.n.writeReplicated(from, raw, done)
}
func (r replicaNode) Committed(pos int64) {
	// Remember the leader's word: a commit point beyond what is durable
	// here is applied as the writes land (writeReplicated).
	r.n.st.leaderCommitted = max(r.n.st.leaderCommitted, pos)
	r.n.advanceCommit(pos)
}
func (r replicaNode) Promised() int32 { return r.n.election.Promised() }
func (r replicaNode) StillFollows(epoch int32) bool {
	n := r.n
	return !n.leaderID.IsZero() && n.leaderID != n.id && n.election.Promised() <= epoch
}
func (r replicaNode) Assigned(role replication.Role) {
	n := r.n
	if n.readOnly || !(n.state == member.CatchingUp || n.state == member.Clone || n.state == member.Follower) {
		return
	}
	if role == replication.RoleFollower {
		n.setState(member.Follower)
	} else {
		n.setState(member.Clone)
	}
}
func (r replicaNode) Lost(reason error) {
	n := r.n
	n.link = nil
	if n.stopped {
		return
	}
	if errors.Is(reason, replication.ErrSurplus) {
		// EventStoreDB's rule: a node beyond ClusterSize stops, so that it
		// can never be elected with a quorum counted among too many.
		n.fatal(fmt.Errorf("%w; run ClusterSize nodes, or raise ClusterSize on every node", reason))
		return
	}
	if replication.IsHeartbeatTimeout(reason) {
		n.observe(PeerDeclaredDead{Peer: n.leaderHTTP})
	}
	n.logf(env.LevelInfo, "replication link to leader %s lost: %v", n.leaderID.Short(), reason)
	if !n.leaderHTTP.IsZero() {
		n.gossip.Confirm(n.leaderHTTP)
	}
	delay := ReconnectDelay
	if errors.Is(reason, env.ErrRefused) || errors.Is(reason, env.ErrTimeout) && !replication.IsHeartbeatTimeout(reason) {
		delay = time.Second
	}
	n.scheduleReconnect(delay)
}
