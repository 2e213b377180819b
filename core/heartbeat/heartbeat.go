// Package heartbeat is the failure detector of every connection that has
// heartbeats (replication, and the legacy client TCP port). One rule, both
// ends of a connection:
//
//   - A heartbeat request goes out only when nothing at all has been received
//     from the peer for Interval. A connection that hears from its peer more
//     often than that sends no requests.
//   - The peer answers a request at once (the caller does that: Detector only
//     decides when to ask).
//   - If nothing at all arrives within Timeout after a request, the peer is
//     declared dead.
//
// The deadline is re-armed from the last receipt, not from a fixed tick, so a
// peer that falls silent right after its last message is declared dead
// within Interval + Timeout of that message, plus however late the node's
// loop runs the timer (one timer tick). EventStoreDB's ticking detector
// takes up to 2 x Interval + Timeout.
package heartbeat

import (
	"time"

	"github.com/annal-db/annal/core/env"
)

// Detector watches one connection.
type Detector struct {
	clock    env.Clock
	interval time.Duration
	timeout  time.Duration
	request  func()
	dead     func()

	lastRecv  env.Mono
	awaiting  bool
	requestAt env.Mono
	timer     env.Timer
	stopped   bool

	// Requests counts heartbeat requests sent.
	Requests uint64
}

// New makes a detector that calls request to send a heartbeat request and
// dead, once, when the peer is declared dead. Call Start when the
// connection is established.
func New(clock env.Clock, interval, timeout time.Duration, request, dead func()) *Detector {
	if interval <= 0 || timeout <= 0 {
		panic("heartbeat: interval and timeout must be positive")
	}
	return &Detector{clock: clock, interval: interval, timeout: timeout, request: request, dead: dead}
}

// Interval is how long after the last receipt the detector asks again.
func (d *Detector) Interval() time.Duration { return d.interval }

// Start begins watching; the connection counts as heard from now.
func (d *Detector) Start() {
	d.lastRecv = d.clock.Now()
	d.arm(d.interval)
}

// Received records that something (data or a heartbeat response) arrived
// from the peer. It is cheap on a busy connection: a timer is touched only
// when a request is outstanding, so that the next request is due exactly
// one interval after this receipt.
func (d *Detector) Received() {
	d.lastRecv = d.clock.Now()
	if d.awaiting && !d.stopped {
		d.awaiting = false
		if d.timer != nil {
			d.timer.Stop()
		}
		d.arm(d.interval)
	}
}

// Stop ends watching; no more callbacks.
func (d *Detector) Stop() {
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// Deadline is when the detector will next act if nothing arrives: the time
// a request would be sent, or the time the peer would be declared dead.
func (d *Detector) Deadline() env.Mono {
	if d.awaiting {
		return d.requestAt.Add(d.timeout)
	}
	return d.lastRecv.Add(d.interval)
}

func (d *Detector) arm(after time.Duration) {
	d.timer = d.clock.AfterFunc(after, d.tick)
}

func (d *Detector) tick() {
	d.timer = nil
	if d.stopped {
		return
	}
	now := d.clock.Now()
	if d.awaiting {
		if due := d.requestAt.Add(d.timeout); now < due {
			d.arm(due.Sub(now))
			return
		}
		d.stopped = true
		d.dead()
		return
	}
	if due := d.lastRecv.Add(d.interval); now < due {
		d.arm(due.Sub(now))
		return
	}
	d.awaiting = true
	d.requestAt = now
	d.Requests++
	d.arm(d.timeout)
	d.request()
}
