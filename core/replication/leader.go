package replication

import (
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// MaxSubscriptions bounds the replicas one leader serves.
const MaxSubscriptions = 64

// Leader is what the leader side needs from its node.
type Leader interface {
	// Accepting reports whether subscriptions are accepted now, and the
	// epoch replicas must adopt.
	Accepting() (Epoch, bool)
	// SubscriptionsChanged runs after a replica subscribed, acknowledged
	// the epoch, or went away.
	SubscriptionsChanged()
	// ReplicaSilent reports a replica connection closed by a heartbeat
	// timeout.
	ReplicaSilent(remote env.Endpoint)
}

// Subscription is one replica served by the leader.
type Subscription struct {
	ID         member.ID
	ReplicaID  member.ID
	Promotable bool
	Role       Role
	// AckedEpoch is the highest epoch number the replica has on disk.
	AckedEpoch int32
	p          *peer
}

// Server is the leader's replication listener and its subscriptions.
type Server struct {
	e    env.Env
	self member.ID
	hb   Heartbeats
	node Leader
	subs []*Subscription
	// HeartbeatTimeouts counts connections closed for silence.
	HeartbeatTimeouts uint64
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
	return serverHandler{p}
}

type serverHandler struct{ p *peer }

func (h serverHandler) Established(env.Conn)            {}
func (h serverHandler) Received(_ env.Conn, msg []byte) { h.p.received(msg) }
func (h serverHandler) Writable(env.Conn)               {}
func (h serverHandler) Closed(_ env.Conn, reason error) { h.p.connClosed(reason) }

func (s *Server) onMessage(p *peer, m wire.Message) {
	switch m := m.(type) {
	case *Subscribe:
		epoch, ok := s.node.Accepting()
		if !ok || m.LeaderID != s.self {
			p.send(&SubscriptionRetry{LeaderID: s.self, SubscriptionID: m.SubscriptionID})
			return
		}
		// A replica has one subscription: a new one replaces the old,
		// whose connection (if another) is stale.
		for _, old := range s.subs {
			if old.ReplicaID == m.ReplicaID && old.p != p {
				defer old.p.close(env.ErrClosed)
			}
		}
		s.subs = removeIf(s.subs, func(o *Subscription) bool { return o.p == p || o.ReplicaID == m.ReplicaID })
		if len(s.subs) >= MaxSubscriptions {
			p.send(&Drop{SubscriptionID: m.SubscriptionID, Reason: "too many replicas"})
			return
		}
		s.subs = append(s.subs, &Subscription{ID: m.SubscriptionID, ReplicaID: m.ReplicaID,
			Promotable: m.IsPromotable, AckedEpoch: -1, p: p})
		p.send(&Subscribed{LeaderID: s.self, SubscriptionID: m.SubscriptionID, Epoch: epoch})
		s.node.SubscriptionsChanged()
	case *EpochAck:
		sub := s.find(m.SubscriptionID)
		if sub == nil || sub.p != p {
			return
		}
		sub.AckedEpoch = max(sub.AckedEpoch, m.EpochNumber)
		if sub.Promotable && sub.Role == 0 {
			sub.Role = RoleFollower
			p.send(&Assignment{SubscriptionID: sub.ID, Role: RoleFollower})
		}
		s.node.SubscriptionsChanged()
	}
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
		s.node.SubscriptionsChanged()
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

// AckedEpoch counts promotable replicas that have epoch number n on disk.
func (s *Server) AckedEpoch(n int32) int {
	c := 0
	for _, sub := range s.subs {
		if sub.Promotable && sub.AckedEpoch >= n {
			c++
		}
	}
	return c
}

// DropAll ends every subscription (the node is no longer leader).
func (s *Server) DropAll(reason string) {
	subs := s.subs
	s.subs = nil
	for _, sub := range subs {
		sub.p.send(&Drop{SubscriptionID: sub.ID, Reason: reason})
		sub.p.close(env.ErrClosed)
	}
}
