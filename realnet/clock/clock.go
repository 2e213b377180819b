// Package clock gives a production node its env.Clock: a monotonic reading
// and timers over a clockwork.Clock (the real clock in production, the fake
// one in driver tests), with every timer callback run on the node's loop.
//
// Timers keep the simulator's semantics exactly:
//   - Callbacks run on the loop, never inside the AfterFunc call, in deadline
//     order (ties in creation order), even when several fall due at once.
//   - Stop reports whether it prevented the callback. A Stop that comes
//     after the deadline passed but before the loop ran the callback still
//     wins: the callback never runs.
//
// One underlying clockwork timer is armed for the earliest deadline, rather
// than one per env timer: each clockwork callback runs on its own goroutine,
// so separate timers falling due together would reach the loop in any
// order. Pending timers live in a heap; the fire callback hands every due
// one to the loop, in order, under the clock's lock.
package clock

import (
	"container/heap"
	"sync"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
	"github.com/jonboulle/clockwork"
)

// Clock implements env.Clock for one node.
type Clock struct {
	cw    clockwork.Clock
	loop  *loop.Loop
	start time.Time // carries a monotonic reading with the real clock

	mu      sync.Mutex
	pending timerHeap
	seq     uint64
	armed   clockwork.Timer // nil when no underlying timer is set
	armedAt env.Mono
	armGen  uint64 // identifies the current armed timer's callbacks
	closed  bool
}

var _ env.Clock = (*Clock)(nil)

// New makes a clock whose monotonic zero is now and whose timer callbacks
// run on l. Use clockwork.NewRealClock() in production.
func New(cw clockwork.Clock, l *loop.Loop) *Clock {
	if cw == nil || l == nil {
		panic("clock: New needs a clockwork clock and a loop; got nil")
	}
	return &Clock{cw: cw, loop: l, start: cw.Now()}
}

// Now implements env.Clock: the time since New on the monotonic clock.
// With the real clock it is time.Since on a reading that carries Go's
// monotonic clock, so wall-clock steps never move it.
func (c *Clock) Now() env.Mono { return env.Mono(c.cw.Since(c.start)) }

// Wall implements env.Clock: the host's wall clock, stripped of its
// monotonic reading so that comparisons and arithmetic use wall time.
func (c *Clock) Wall() time.Time { return c.cw.Now().Round(0) }

// AfterFunc implements env.Clock. A negative d counts as zero. A timer made
// after Close never fires (its Stop still reports true once).
func (c *Clock) AfterFunc(d time.Duration, f func()) env.Timer {
	if f == nil {
		panic("clock: AfterFunc needs a callback; got nil")
	}
	d = max(d, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, at: c.Now().Add(d), seq: c.seq, f: f, index: -1}
	if c.closed {
		return t
	}
	heap.Push(&c.pending, t)
	// A zero delay (or a deadline already reached) goes to the loop now,
	// after anything due before it, so nothing waits for a clockwork round.
	c.deliverDueLocked()
	c.armLocked()
	return t
}

// Pending counts timers neither handed to the loop nor stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// FireDue hands every timer whose deadline has passed to the loop now,
// without waiting for the underlying clock's callback (which, with a fake
// clock, runs on a goroutine of its own after Advance returns). It returns
// how many it handed over. Tests call it after advancing a fake clock.
func (c *Clock) FireDue() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.deliverDueLocked()
	c.armLocked()
	return n
}

// Close stops the underlying timer; pending timers never fire. Stop on them
// still reports true once.
func (c *Clock) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.armed != nil {
		c.armed.Stop()
		c.armed = nil
	}
	for _, t := range c.pending {
		t.index = -1
	}
	c.pending = nil
}

// fire is the underlying timer's callback, on a clockwork goroutine.
func (c *Clock) fire(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if gen == c.armGen {
		c.armed = nil
	}
	c.deliverDueLocked()
	c.armLocked()
}

// deliverDueLocked hands due timers to the loop in deadline order. It runs
// under c.mu so that two firings can never interleave their deliveries;
// Deliver never waits, so holding the lock is safe.
func (c *Clock) deliverDueLocked() int {
	now := c.Now()
	n := 0
	for len(c.pending) > 0 && c.pending[0].at <= now {
		t := heap.Pop(&c.pending).(*timer)
		n++
		// After Stop of the loop nothing runs anyway; dropping is right.
		_ = c.loop.Deliver(t.run)
	}
	return n
}

// armLocked makes sure the underlying timer fires no later than the
// earliest pending deadline.
func (c *Clock) armLocked() {
	if c.closed || len(c.pending) == 0 {
		return
	}
	next := c.pending[0].at
	if c.armed != nil && c.armedAt <= next {
		return
	}
	if c.armed != nil {
		// If it already fired, its callback finds a newer generation and
		// only delivers what is due: harmless.
		c.armed.Stop()
	}
	c.armGen++
	gen := c.armGen
	c.armedAt = next
	c.armed = c.cw.AfterFunc(next.Sub(c.Now()), func() { c.fire(gen) })
}

type timer struct {
	c     *Clock
	at    env.Mono
	seq   uint64
	f     func()
	index int  // position in the heap, -1 when not in it
	done  bool // ran or stopped; guarded by c.mu
}

// run executes on the loop; Stop may have won in the meantime.
func (t *timer) run() {
	t.c.mu.Lock()
	if t.done {
		t.c.mu.Unlock()
		return
	}
	t.done = true
	t.c.mu.Unlock()
	t.f()
}

// Stop implements env.Timer.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	if t.index >= 0 {
		heap.Remove(&t.c.pending, t.index)
	}
	return true
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
