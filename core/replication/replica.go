package replication

import (
	"fmt"
	"strconv"
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

// maxHeldBytes bounds the raw bytes a replica holds: received and not yet
// durable (waiting to be written, or being written). It is counted in
// bytes, as the leader's Window is: the leader stops sending once Window
// bytes are unacknowledged, and one read may overshoot by a Data message,
// so a leader that keeps to its window stays below this however small its
// messages are (one per append under many small concurrent appends). A
// message arriving below the bound is taken whole, however large (one
// large event), so the replica holds at most this plus one message.
const maxHeldBytes = 2 * Window

// Replica is what the replica side needs from its node.
type Replica interface {
	// Epochs are the replica's latest epochs, newest first.
	Epochs() []Epoch
	// Writer is the replica's durable log end.
	Writer() int64
	// Subscribed: the leader accepted. The node truncates its log to start
	// when it holds more, adopts the leader's epoch, then calls done.
	Subscribed(leaderEpoch Epoch, start int64, done func(error))
	// Write appends the leader's raw records at from; done reports the
	// durable end.
	Write(from int64, raw []byte, done func(durable int64, err error))
	// Committed reports the leader's commit point.
	Committed(position int64)
	// Assigned: the leader gave this replica a role.
	Assigned(role Role)
	// Promised is the highest election proposal this replica has accepted
	// or made.
	Promised() int32
	// StillFollows reports whether the replica still follows this link's
	// leader in epoch and has promised no newer election.
	StillFollows(epoch int32) bool
	// Lost: the link ended (refused, timed out, reset, heartbeat timeout,
	// dropped, a write failed). Called once; the node decides what next.
	Lost(reason error)
}

// ReplicaConfig describes the replica end.
type ReplicaConfig struct {
	Self       member.ID
	Node       env.Endpoint // the node's advertised endpoint, its lasting name
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
	ready    bool // subscribed, truncated, epoch adopted
	// pending are Data messages received and not yet handed to the log
	// (before the link was ready, or while a write is in flight).
	pending []*Data
	writing bool // a write is in flight
	// heldBytes is the raw bytes of pending Data plus those written and
	// not yet durable.
	heldBytes int
	// acked is the durable end last acknowledged: writes made durable by
	// one group commit all report the same end, and one Ack says it.
	acked int64
	// epoch is the leader's epoch number, once it accepted this link.
	epoch int32
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
	l.pending = nil
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
func (h linkHandler) Progress(env.Conn)               { h.l.p.progress() }
func (h linkHandler) Writable(env.Conn)               {}
func (h linkHandler) Closed(_ env.Conn, reason error) { h.l.p.connClosed(reason) }

func (l *Link) subscribe() {
	if l.done || l.Subscribed {
		return
	}
	l.subID = member.NewID(l.e.Rand)
	l.p.send(&Subscribe{
		ReplicaID: l.cfg.Self, LeaderID: l.leaderID, SubscriptionID: l.subID,
		IsPromotable: l.cfg.Promotable, Epochs: l.node.Epochs(), Writer: l.node.Writer(),
		ReplicaNode: l.cfg.Node,
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
		l.node.Subscribed(m.Epoch, m.Start, func(err error) {
			if l.done || l.subID != sub {
				return
			}
			if err != nil {
				l.p.close(fmt.Errorf("cannot follow the leader from %d: %w", m.Start, err))
				return
			}
			if !l.node.StillFollows(m.Epoch.Number) {
				// A newer election has this replica's promise (made before
				// this link, or while it caught up): its first Ack would
				// count towards the old leader's quorum, as every later
				// one is refused for doing.
				l.p.send(&Ahead{Promised: l.node.Promised()})
				l.p.close(fmt.Errorf("subscribed to the leader of epoch %d after promising proposal %d", m.Epoch.Number, l.node.Promised()))
				return
			}
			l.ready = true
			l.epoch = m.Epoch.Number
			l.ack(sub, l.node.Writer())
			l.writeNext()
		})
	case *SubscriptionRetry:
		if m.SubscriptionID != l.subID || l.Subscribed {
			return
		}
		if m.LeaderID != l.leaderID {
			// Another instance now answers at the leader's endpoint (it
			// restarted): the leader this node follows is gone.
			l.p.close(fmt.Errorf("the leader's endpoint %v is now instance %s, not leader %s",
				l.leader, m.LeaderID.Short(), l.leaderID.Short()))
			return
		}
		l.armResub(RetryDelay)
	case *Data:
		if m.SubscriptionID != l.subID || !l.Subscribed {
			return
		}
		// A bound on what is held before the message, not after it: a
		// leader inside its window (below Window unacknowledged) may send
		// one record of up to MaxAppendSize, far above the window.
		if l.heldBytes >= maxHeldBytes {
			l.p.close(fmt.Errorf("leader overran the replication window: %d bytes not yet durable here, %d more arrived, the bound is %d",
				l.heldBytes, len(m.Raw), maxHeldBytes))
			return
		}
		l.heldBytes += len(m.Raw)
		l.pending = append(l.pending, m)
		l.writeNext()
	case *Committed:
		if l.ready {
			l.node.Committed(m.Position)
		}
	case *LeaderCheck:
		l.p.send(&LeaderCheckOk{Seq: m.Seq, Yes: l.ready && l.node.StillFollows(m.Epoch)})
	case *Assignment:
		if m.SubscriptionID == l.subID && l.Subscribed {
			l.node.Assigned(m.Role)
		}
	case *Drop:
		switch {
		case m.SubscriptionID != l.subID:
		case m.Surplus:
			l.p.close(fmt.Errorf("dropped by leader: %s: %w", m.Reason, ErrSurplus))
		default:
			l.p.close(fmt.Errorf("dropped by leader: %s", m.Reason))
		}
	}
}

// writeNext writes what is pending as one write, and the next batch once
// that one is durable. One write at a time keeps what this replica tells
// a leader (its writer checkpoint and epochs, when it subscribes again)
// in step with what is in its log: a later link never races writes of an
// earlier one. Everything that arrived meanwhile goes in one write, so a
// burst of small Data messages (one per append) still costs one sync.
func (l *Link) writeNext() {
	if !l.ready || l.writing || len(l.pending) == 0 || l.done {
		return
	}
	first := l.pending[0]
	from, raw, committed, n := first.From, first.Raw, first.Committed, 1
	for n < len(l.pending) {
		m := l.pending[n]
		if m.From != from+int64(len(raw)) || len(raw)+len(m.Raw) > maxWriteBytes {
			break
		}
		if n == 1 {
			raw = append(make([]byte, 0, len(raw)+len(m.Raw)), raw...)
		}
		raw = append(raw, m.Raw...)
		committed = max(committed, m.Committed)
		n++
	}
	clear(l.pending[:n])
	l.pending = l.pending[n:]
	if len(l.pending) == 0 {
		l.pending = nil // let the drained array go
	}
	l.writing = true
	sub := l.subID
	l.node.Write(from, raw, func(durable int64, err error) {
		l.writing = false
		if l.done || l.subID != sub {
			l.writeNext()
			return
		}
		l.heldBytes -= len(raw)
		if err != nil {
			// Tell the leader when the refusal is a newer promise, so that
			// it calls the election that lets this replica follow again.
			l.p.send(&Ahead{Promised: l.node.Promised()})
			l.p.close(fmt.Errorf("writing the leader's records at %d: %w", from, err))
			return
		}
		if durable > l.acked {
			l.ack(sub, durable)
		}
		l.node.Committed(committed)
		l.writeNext()
	})
}

// ack tells the leader that this replica's log is durable up to durable,
// which counts towards the leader's quorum, and reports it (Acked).
func (l *Link) ack(sub member.ID, durable int64) {
	l.acked = durable
	l.p.send(&Ack{SubscriptionID: sub, Durable: durable})
	if l.e.Observer != nil {
		l.e.Observer.Observe(Acked{Epoch: l.epoch, Durable: durable})
	}
}

// Acked is the event of a replica acknowledging its log, durable up to
// Durable, to the leader of epoch Epoch. The simulator's checker holds
// every Acked to the replica's promises (no acknowledgement to a leader
// older than an election it promised).
type Acked struct {
	Epoch   int32
	Durable int64
}

func (Acked) Kind() string { return "acked" }
func (e Acked) AppendTrace(b []byte) []byte {
	b = strconv.AppendInt(append(b, "epoch="...), int64(e.Epoch), 10)
	return strconv.AppendInt(append(b, " durable="...), e.Durable, 10)
}

// maxWriteBytes bounds one batched write of replicated records.
const maxWriteBytes = 4 * MaxDataBytes

func (l *Link) lost(reason error) {
	l.stopResub()
	l.pending = nil
	if l.done {
		return
	}
	l.done = true
	l.node.Lost(reason)
}
