package replication

import (
	"errors"
	"fmt"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/heartbeat"
	"github.com/annal-db/annal/core/wire"
)

// ErrHeartbeatTimeout closes a connection whose peer stopped answering.
var ErrHeartbeatTimeout = fmt.Errorf("heartbeat timeout: %w", env.ErrTimeout)

// ErrSurplus ends a link the leader dropped because the cluster has all
// the followers ClusterSize allows: the node is one too many, and stops.
var ErrSurplus = errors.New("surplus node")

// Heartbeats are the replication connection's interval and timeout
// (ReplicationHeartbeatInterval / ReplicationHeartbeatTimeout).
type Heartbeats struct {
	Interval time.Duration
	Timeout  time.Duration
}

// peer wraps one replication connection: it encodes and decodes messages,
// answers heartbeat requests at once, and closes the connection when the
// detector declares the peer dead. The same code serves both ends.
type peer struct {
	e    env.Env
	conn env.Conn
	det  *heartbeat.Detector
	// lastSent is when this end last queued a message (see progress).
	lastSent env.Mono
	seq      uint64
	closed   bool
	enc      wire.Encoder
	// onMessage gets every message other than heartbeats.
	onMessage func(p *peer, m wire.Message)
	// onClosed runs once, with why the connection ended.
	onClosed func(p *peer, reason error)
	// onDead reports a heartbeat timeout before the close.
	onDead func(p *peer)
}

// Both ends hear of partial messages: a large Data message on a slow link
// must not hide the heartbeat answer queued behind it.
var (
	_ env.ProgressHandler = serverHandler{}
	_ env.ProgressHandler = linkHandler{}
)

func newPeer(e env.Env, hb Heartbeats) *peer {
	p := &peer{e: e}
	p.det = heartbeat.New(e.Clock, hb.Interval, hb.Timeout, p.sendHeartbeat, p.dead)
	return p
}

func (p *peer) start(c env.Conn) {
	p.conn = c
	p.lastSent = p.e.Clock.Now()
	p.det.Start()
}

func (p *peer) sendHeartbeat() {
	p.seq++
	p.send(&HeartbeatRequest{Seq: p.seq})
}

func (p *peer) dead() {
	if p.onDead != nil {
		p.onDead(p)
	}
	p.close(ErrHeartbeatTimeout)
}

// send encodes and queues m. A full send queue means the peer cannot keep
// up; heartbeats and control messages are small, so the connection is
// treated as broken rather than let a queue grow.
func (p *peer) send(m wire.Message) {
	if p.closed || p.conn == nil {
		return
	}
	p.enc.Reset(p.enc.Data()[:0])
	p.enc.Message(m)
	if err := p.conn.Send(p.enc.Data()); err != nil {
		p.close(fmt.Errorf("send %v: %w", m.Kind(), err))
		return
	}
	p.lastSent = p.e.Clock.Now()
}

// received handles one raw message from the connection.
func (p *peer) received(raw []byte) {
	if p.closed {
		return
	}
	p.det.Received()
	m, err := wire.Unmarshal(raw)
	if err != nil {
		p.log(env.LevelWarn, fmt.Sprintf("replication: undecodable message from %v: %v; closing", p.conn.Remote(), err))
		p.close(err)
		return
	}
	switch m := m.(type) {
	case *HeartbeatRequest:
		p.send(&HeartbeatResponse{Seq: m.Seq})
	case *HeartbeatResponse:
	default:
		p.onMessage(p, m)
	}
}

// progress records that part of a message arrived (env.ProgressHandler):
// the peer is alive, though what it sends is not whole yet. While a large
// message arrives this end may have nothing to send, and the peer's
// heartbeat request to it waits behind that very message, unanswerable:
// so this end sends a request of its own once an interval has passed
// without sending anything, and the peer hears from it (EventStoreDB's
// proactive heartbeat). The answer, queued behind the message, is not
// waited for. The simulator delivers messages whole and never reports
// progress, so none of this happens there.
func (p *peer) progress() {
	if p.closed {
		return
	}
	p.det.Received()
	if p.e.Clock.Now().Sub(p.lastSent) >= p.det.Interval() {
		p.seq++
		p.send(&HeartbeatRequest{Seq: p.seq})
	}
}

// close ends the connection (idempotent).
func (p *peer) close(reason error) {
	if p.closed {
		return
	}
	p.closed = true
	p.det.Stop()
	if p.conn != nil {
		p.conn.Close()
	}
	if p.onClosed != nil {
		p.onClosed(p, reason)
	}
}

// connClosed is the transport telling us the connection is gone.
func (p *peer) connClosed(reason error) {
	if reason == nil {
		reason = env.ErrClosed
	}
	p.close(reason)
}

func (p *peer) log(level env.Level, msg string) {
	if p.e.Log != nil {
		p.e.Log.Log(level, msg)
	}
}

// IsHeartbeatTimeout reports whether a close reason was a heartbeat timeout.
func IsHeartbeatTimeout(err error) bool { return errors.Is(err, ErrHeartbeatTimeout) }
