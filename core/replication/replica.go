package replication

import (
	"fmt"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// Retry delays of the replica side, as EventStoreDB has them.
const (
	ResubscribeInterval = time.Second            // Subscribe re-sent while unanswered
	RetryDelay          = 500 * time.Millisecond // after SubscriptionRetry
)

// Replica is what the replica side needs from its node.
type Replica interface {
	LastEpoch() Epoch
	Writer() int64
	// Subscribed: the leader accepted; the node makes the leader's epoch
	// durable, then calls ack.
	Subscribed(leaderEpoch Epoch, ack func())
	// Assigned: the leader gave this replica a role.
	Assigned(role Role)
	// Lost: the link ended (refused, timed out, reset, heartbeat timeout,
	// dropped). Called once; the node decides what next.
	Lost(reason error)
}

// ReplicaConfig describes the replica end.
type ReplicaConfig struct {
	Self       member.ID
	Promotable bool
	Heartbeats Heartbeats
}

// Link is a replica's connection to its leader.
type Link struct {
	e        env.Env
	cfg      ReplicaConfig
	node     Replica
	leaderID member.ID
	leader   env.Endpoint
	p        *peer
	subID    member.ID
	resub    env.Timer
	done     bool
	// Subscribed is true once the leader accepted this link.
	Subscribed bool
}

// Dial connects to the leader's replication endpoint and subscribes.
func Dial(e env.Env, cfg ReplicaConfig, leaderID member.ID, leader env.Endpoint, node Replica) *Link {
	l := &Link{e: e, cfg: cfg, node: node, leaderID: leaderID, leader: leader}
	l.p = newPeer(e, cfg.Heartbeats)
	l.p.onMessage = l.onMessage
	l.p.onClosed = func(_ *peer, reason error) { l.lost(reason) }
	l.p.conn = e.Net.Connect(leader, linkHandler{l})
	return l
}

// Leader is the endpoint the link dials.
func (l *Link) Leader() env.Endpoint { return l.leader }

// LeaderID is the instance id of the leader the link subscribes to.
func (l *Link) LeaderID() member.ID { return l.leaderID }

// Close ends the link without reporting Lost.
func (l *Link) Close() {
	l.done = true
	l.stopResub()
	l.p.close(env.ErrClosed)
}

type linkHandler struct{ l *Link }

func (h linkHandler) Established(c env.Conn) {
	l := h.l
	if l.done {
		c.Close()
		return
	}
	l.p.start(c)
	l.subscribe()
}
func (h linkHandler) Received(_ env.Conn, msg []byte) { h.l.p.received(msg) }
func (h linkHandler) Writable(env.Conn)               {}
func (h linkHandler) Closed(_ env.Conn, reason error) { h.l.p.connClosed(reason) }

func (l *Link) subscribe() {
	if l.done || l.Subscribed {
		return
	}
	l.subID = member.NewID(l.e.Rand)
	l.p.send(&Subscribe{
		ReplicaID: l.cfg.Self, LeaderID: l.leaderID, SubscriptionID: l.subID,
		IsPromotable: l.cfg.Promotable, LastEpoch: l.node.LastEpoch(), Writer: l.node.Writer(),
	})
	l.armResub(ResubscribeInterval)
}

func (l *Link) armResub(d time.Duration) {
	l.stopResub()
	l.resub = l.e.Clock.AfterFunc(d, func() {
		l.resub = nil
		l.subscribe()
	})
}

func (l *Link) stopResub() {
	if l.resub != nil {
		l.resub.Stop()
		l.resub = nil
	}
}

func (l *Link) onMessage(_ *peer, m wire.Message) {
	if l.done {
		return
	}
	switch m := m.(type) {
	case *Subscribed:
		if m.SubscriptionID != l.subID || m.LeaderID != l.leaderID || l.Subscribed {
			return
		}
		l.Subscribed = true
		l.stopResub()
		sub := l.subID
		l.node.Subscribed(m.Epoch, func() {
			if !l.done && l.subID == sub {
				l.p.send(&EpochAck{SubscriptionID: sub, EpochNumber: m.Epoch.Number})
			}
		})
	case *SubscriptionRetry:
		if m.SubscriptionID == l.subID && !l.Subscribed {
			l.armResub(RetryDelay)
		}
	case *Assignment:
		if m.SubscriptionID == l.subID && l.Subscribed {
			l.node.Assigned(m.Role)
		}
	case *Drop:
		if m.SubscriptionID == l.subID {
			l.p.close(fmt.Errorf("dropped by leader: %s", m.Reason))
		}
	}
}

func (l *Link) lost(reason error) {
	l.stopResub()
	if l.done {
		return
	}
	l.done = true
	l.node.Lost(reason)
}
