package replication

import (
	"fmt"
	"slices"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// Flow-control bounds of the leader side, per replica.
const (
	// MaxSubscriptions bounds the replicas one leader serves.
	MaxSubscriptions = 64
	// Window is how far the leader may run ahead of what a replica has
	// acknowledged (EventStoreDB: 16 MiB; smaller keeps memory per replica
	// low and the simulator quick).
	Window = 4 << 20
	// MaxQueued is the replica connection's send queue depth above which
	// the leader stops reading for that replica.
	MaxQueued = 64
	// CaughtUp is how close to the leader's end a replica must be to be
	// assigned its role (EventStoreDB: 1024 bytes).
	CaughtUp = 1024
)

// Leader is what the leader side needs from its node.
type Leader interface {
	// Subscribe decides a subscription: where streaming starts (the point
	// where the replica's history and the leader's agree) and the epoch
	// the replica adopts; ok false asks the replica to retry.
	Subscribe(req *Subscribe) (epoch Epoch, start int64, ok bool)
	// Read produces raw records starting at from: first is where they
	// start (past any padding), next where the following read starts.
	Read(from int64, max int, done func(raw []byte, first, next int64, err error))
	// End is the end of the leader's log (written, perhaps not yet
	// durable: replicas get records while the leader syncs its own copy).
	End() int64
	// Committed is the leader's replication checkpoint.
	Committed() int64
	// SubscriptionsChanged runs after a replica subscribed, acknowledged,
	// or went away.
	SubscriptionsChanged()
	// ReplicaSilent reports a replica connection closed by a heartbeat
	// timeout.
	ReplicaSilent(remote env.Endpoint)
	// ReplicaAhead reports a replica that promised an election proposal
	// above this leader's epoch.
	ReplicaAhead(promised int32)
}

// Subscription is one replica served by the leader.
type Subscription struct {
	ID         member.ID
	ReplicaID  member.ID
	Node       env.Endpoint // the replica's advertised node endpoint
	Promotable bool
	Role       Role
	// Acked is the replica's durable end as it last reported it.
	Acked int64
	// next is where the next read for this replica starts.
	next          int64
	reading       bool
	sentCommitted int64
	p             *peer
}

// Server is the leader's replication listener and its subscriptions.
type Server struct {
	e    env.Env
	self member.ID
	hb   Heartbeats
	node Leader
	subs []*Subscription
	// Followers is how many followers the cluster wants (ClusterSize - 1;
	// 0: no limit). A promotable replica that catches up when there are
	// that many already is surplus: it is dropped and stops, or, with
	// AllowSurplus (UnsafeAllowSurplusNodes), stays a clone whose
	// acknowledgements do not count.
	Followers    int
	AllowSurplus bool
	// HeartbeatTimeouts counts connections closed for silence.
	HeartbeatTimeouts uint64
	// BytesSent counts raw log bytes streamed to replicas.
	BytesSent uint64

	check checkRound

	// walks are the snapshots of subs that Pump walks, one per nesting
	// level (a read answered at once pumps again), kept for reuse.
	walks [][]*Subscription
	depth int
}

// checkRound is one leadership confirmation: a LeaderCheck to every
// promotable replica, decided by a quorum of yeses or a timeout. Requests
// that arrive during a round wait for the next one, so that every request
// is confirmed by a round that started after it.
type checkRound struct {
	seq     uint64
	epoch   int32
	running bool
	yes     []env.Endpoint // nodes that said yes, by endpoint
	need    int
	waiting []func(bool) // confirmed by the current round
	next    []func(bool) // waiting for the next round
	// nextEpoch and nextNeed are what the next round asks: those of the
	// latest request, since a leader re-elected in place moves to a new
	// epoch while its rounds run back to back.
	nextEpoch int32
	nextNeed  int
	timer     env.Timer
}

// CheckTimeout bounds a leadership confirmation round.
const CheckTimeout = time.Second

// ConfirmLeadership asks a quorum of replicas whether this node still leads
// in epoch; done(true) once need replicas say yes, done(false) on a no
// quorum within CheckTimeout.
func (s *Server) ConfirmLeadership(epoch int32, need int, done func(bool)) {
	if need <= 0 {
		done(true)
		return
	}
	c := &s.check
	c.next = append(c.next, done)
	c.nextEpoch, c.nextNeed = epoch, need
	if !c.running {
		s.startCheck(epoch, need)
	}
}

func (s *Server) startCheck(epoch int32, need int) {
	c := &s.check
	c.seq++
	c.epoch = epoch
	c.running = true
	c.need = need
	c.yes = c.yes[:0]
	c.waiting, c.next = c.next, nil
	seq := c.seq
	for _, sub := range slices.Clone(s.subs) {
		if sub.Promotable && !sub.p.closed {
			sub.p.send(&LeaderCheck{Seq: seq, Epoch: epoch})
		}
	}
	c.timer = s.e.Clock.AfterFunc(CheckTimeout, func() {
		if c.running && c.seq == seq {
			s.finishCheck(false)
		}
	})
}

func (s *Server) finishCheck(ok bool) {
	c := &s.check
	c.running = false
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	waiting := c.waiting
	c.waiting = nil
	for _, w := range waiting {
		w(ok)
	}
	if len(c.next) > 0 {
		s.startCheck(c.nextEpoch, c.nextNeed)
	}
}

func (s *Server) onCheckOk(sub *Subscription, m *LeaderCheckOk) {
	c := &s.check
	if !c.running || m.Seq != c.seq || !m.Yes || !sub.Promotable || slices.Contains(c.yes, sub.Node) {
		return
	}
	c.yes = append(c.yes, sub.Node)
	if len(c.yes) >= c.need {
		s.finishCheck(true)
	}
}

// AbortChecks answers every waiting confirmation with false (the node
// stopped leading).
func (s *Server) AbortChecks() {
	c := &s.check
	waiting := append(c.waiting, c.next...)
	c.waiting, c.next = nil, nil
	c.running = false
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	for _, w := range waiting {
		w(false)
	}
}

// NewServer makes the leader side; Accept it on the replication listener.
func NewServer(e env.Env, self member.ID, hb Heartbeats, node Leader) *Server {
	return &Server{e: e, self: self, hb: hb, node: node}
}

// Accept adopts an accepted connection.
func (s *Server) Accept(c env.Conn) env.ConnHandler {
	p := newPeer(s.e, s.hb)
	p.onMessage = s.onMessage
	p.onClosed = s.onClosed
	p.onDead = func(p *peer) {
		s.HeartbeatTimeouts++
		s.node.ReplicaSilent(p.conn.Remote())
	}
	p.start(c)
	return serverHandler{s: s, p: p}
}

type serverHandler struct {
	s *Server
	p *peer
}

func (h serverHandler) Established(env.Conn)            {}
func (h serverHandler) Received(_ env.Conn, msg []byte) { h.p.received(msg) }
func (h serverHandler) Progress(env.Conn)               { h.p.progress() }
func (h serverHandler) Writable(env.Conn)               { h.s.Pump() }
func (h serverHandler) Closed(_ env.Conn, reason error) { h.p.connClosed(reason) }

func (s *Server) onMessage(p *peer, m wire.Message) {
	switch m := m.(type) {
	case *Subscribe:
		if m.ReplicaNode.IsZero() {
			// Without it the subscription could not be told from one the
			// same node made before it restarted (see below).
			p.send(&Drop{SubscriptionID: m.SubscriptionID, Reason: "the subscription names no replica node endpoint"})
			return
		}
		epoch, start, ok := s.node.Subscribe(m)
		if !ok || m.LeaderID != s.self {
			p.send(&SubscriptionRetry{LeaderID: s.self, SubscriptionID: m.SubscriptionID})
			return
		}
		// A node has one subscription: a new one replaces the old, whose
		// connection (if another) is stale. The node is known by its
		// endpoint, not only its instance: a replica that restarted
		// before its old connection was found dead (its host lost power)
		// comes back under a new id, and counting both subscriptions
		// would commit records that one node holds as if two did. (Like
		// gossip, this takes a node's advertised endpoint to be stable
		// across its restarts; an instance never changes it.)
		for _, old := range s.subs {
			if old.Node == m.ReplicaNode && old.p != p {
				// Closed once the list is final: closing runs onClosed,
				// which rewrites s.subs.
				defer old.p.close(env.ErrClosed)
			}
		}
		s.subs = removeIf(s.subs, func(o *Subscription) bool { return o.p == p || o.Node == m.ReplicaNode })
		if len(s.subs) >= MaxSubscriptions {
			p.send(&Drop{SubscriptionID: m.SubscriptionID, Reason: "too many replicas"})
			return
		}
		sub := &Subscription{ID: m.SubscriptionID, ReplicaID: m.ReplicaID, Node: m.ReplicaNode, Promotable: m.IsPromotable,
			Acked: -1, next: start, sentCommitted: -1, p: p}
		s.subs = append(s.subs, sub)
		p.send(&Subscribed{LeaderID: s.self, SubscriptionID: m.SubscriptionID, Epoch: epoch, Start: start})
		s.node.SubscriptionsChanged()
		s.Pump()
	case *Ahead:
		s.node.ReplicaAhead(m.Promised)
	case *LeaderCheckOk:
		if sub := s.subscriptionOf(p); sub != nil {
			s.onCheckOk(sub, m)
		}
	case *Ack:
		sub := s.find(m.SubscriptionID)
		if sub == nil || sub.p != p {
			return
		}
		if m.Durable > sub.Acked {
			sub.Acked = m.Durable
			if sub.Role == 0 && s.node.End()-sub.Acked <= CaughtUp {
				sub.Role = RoleClone
				switch {
				case !sub.Promotable:
				case s.wantsFollower():
					sub.Role = RoleFollower
				case !s.AllowSurplus:
					p.send(&Drop{SubscriptionID: sub.ID, Surplus: true,
						Reason: fmt.Sprintf("the cluster has the %d followers ClusterSize allows; this node is one more (UnsafeAllowSurplusNodes is off)", s.Followers)})
					p.close(env.ErrClosed)
					return
				}
				p.send(&Assignment{SubscriptionID: sub.ID, Role: sub.Role})
			}
			s.node.SubscriptionsChanged()
		}
		s.Pump()
	}
}

// Pump sends every replica what it lacks, within its window: call it when
// the log grows, the commit point moves, or a replica acknowledges.
func (s *Server) Pump() {
	end := s.node.End()
	committed := s.node.Committed()
	// A send can close a connection, which removes its subscription from
	// s.subs: walk a copy.
	if s.depth == len(s.walks) {
		s.walks = append(s.walks, nil)
	}
	walk := append(s.walks[s.depth][:0], s.subs...)
	s.walks[s.depth] = walk
	s.depth++
	defer func() {
		s.depth--
		clear(walk) // hold no subscription that has gone away
	}()
	for _, sub := range walk {
		if sub.p.closed {
			continue
		}
		full := sub.p.conn.Queued() >= MaxQueued
		if full {
			sub.p.conn.NotifyDrained() // Writable pumps again
		}
		if sub.next >= end || sub.reading || sub.next-max(sub.Acked, 0) >= Window || full {
			if !sub.reading {
				sendCommitted(sub, committed)
			}
			continue
		}
		s.read(sub)
	}
}

// sendCommitted tells a replica that is sent no records the commit point,
// if it has moved since it was last told.
func sendCommitted(sub *Subscription, committed int64) {
	if committed > sub.sentCommitted {
		sub.sentCommitted = committed
		sub.p.send(&Committed{Position: committed})
	}
}

func (s *Server) read(sub *Subscription) {
	sub.reading = true
	from := sub.next
	s.node.Read(from, MaxDataBytes, func(raw []byte, first, next int64, err error) {
		sub.reading = false
		if sub.p.closed || sub.next != from {
			return
		}
		if err != nil {
			sub.p.log(env.LevelError, fmt.Sprintf("replication: cannot read the log at %d for replica %s: %v; dropping it",
				from, sub.ReplicaID.Short(), err))
			sub.p.send(&Drop{SubscriptionID: sub.ID, Reason: "leader cannot read its log"})
			sub.p.close(err)
			return
		}
		if len(raw) == 0 && next == from {
			// Nothing readable yet (the next bytes are a segment's padding
			// that is not durable, say). Pumping again now would read the
			// same nothing, over and over, within this call; the next
			// write, commit or acknowledgement pumps again. The commit
			// point still goes out, as it does to a replica caught up.
			sendCommitted(sub, s.node.Committed())
			return
		}
		if len(raw) > 0 {
			committed := s.node.Committed()
			sub.sentCommitted = committed
			sub.p.send(&Data{SubscriptionID: sub.ID, From: first, Raw: raw, Committed: committed})
			s.BytesSent += uint64(len(raw))
		}
		sub.next = next
		s.Pump()
	})
}

func (s *Server) subscriptionOf(p *peer) *Subscription {
	for _, sub := range s.subs {
		if sub.p == p {
			return sub
		}
	}
	return nil
}

func (s *Server) find(id member.ID) *Subscription {
	for _, sub := range s.subs {
		if sub.ID == id {
			return sub
		}
	}
	return nil
}

func (s *Server) onClosed(p *peer, _ error) {
	n := len(s.subs)
	s.subs = removeIf(s.subs, func(o *Subscription) bool { return o.p == p })
	if len(s.subs) != n {
		s.promoteClones()
		s.node.SubscriptionsChanged()
	}
}

// promoteClones makes promotable clones followers while the cluster has
// fewer followers than ClusterSize allows: a surplus node kept as a clone
// (UnsafeAllowSurplusNodes) takes the place of a follower that left, the
// most caught-up first, as EventStoreDB's leader promotes one.
func (s *Server) promoteClones() {
	for s.wantsFollower() {
		var best *Subscription
		for _, sub := range s.subs {
			if sub.Role == RoleClone && sub.Promotable && !sub.p.closed && (best == nil || sub.Acked > best.Acked) {
				best = sub
			}
		}
		if best == nil {
			return
		}
		best.Role = RoleFollower
		// A send can close its connection, which calls onClosed and so
		// this function again: the loop looks at the subscriptions anew.
		best.p.send(&Assignment{SubscriptionID: best.ID, Role: RoleFollower})
	}
}

func removeIf(subs []*Subscription, f func(*Subscription) bool) []*Subscription {
	kept := subs[:0]
	for _, o := range subs {
		if !f(o) {
			kept = append(kept, o)
		}
	}
	clear(subs[len(kept):])
	return kept
}

// Subscriptions lists the live subscriptions.
func (s *Server) Subscriptions() []*Subscription { return s.subs }

// Promotable counts live subscriptions of replicas that vote.
func (s *Server) Promotable() int {
	n := 0
	for _, sub := range s.subs {
		if sub.Promotable {
			n++
		}
	}
	return n
}

// QuorumPosition is the highest position that at least need promotable
// replicas have on disk (-1 when fewer replicas have acknowledged).
func (s *Server) QuorumPosition(need int) int64 {
	if need <= 0 {
		return 1<<63 - 1
	}
	var acks []int64
	for _, sub := range s.subs {
		// A surplus clone's acknowledgements do not count.
		if sub.Promotable && sub.Role != RoleClone && sub.Acked >= 0 {
			acks = append(acks, sub.Acked)
		}
	}
	if len(acks) < need {
		return -1
	}
	// The need-th highest: sort descending (small slice).
	for i := 1; i < len(acks); i++ {
		for j := i; j > 0 && acks[j] > acks[j-1]; j-- {
			acks[j], acks[j-1] = acks[j-1], acks[j]
		}
	}
	return acks[need-1]
}

// wantsFollower says whether one more promotable replica may follow:
// Followers allows it (0: no limit).
func (s *Server) wantsFollower() bool {
	return s.Followers == 0 || s.followers() < s.Followers
}

// followers counts the replicas assigned RoleFollower.
func (s *Server) followers() int {
	n := 0
	for _, sub := range s.subs {
		if sub.Role == RoleFollower {
			n++
		}
	}
	return n
}

// DropAll ends every subscription (the node is no longer leader).
func (s *Server) DropAll(reason string) {
	s.AbortChecks()
	subs := s.subs
	s.subs = nil
	for _, sub := range subs {
		sub.p.send(&Drop{SubscriptionID: sub.ID, Reason: reason})
		sub.p.close(env.ErrClosed)
	}
}
