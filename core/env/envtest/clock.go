// Package envtest has small, deterministic stand-ins for the environment,
// for unit tests of core packages that do not need the whole simulator.
package envtest

import (
	"container/heap"
	"time"

	"github.com/annal-db/annal/core/env"
)

// Clock is a manual env.Clock: time moves only when a test advances it, and
// due timers run in deadline order (ties in creation order).
type Clock struct {
	now    env.Mono
	wall   time.Time
	seq    uint64
	timers timerHeap
}

// NewClock starts at monotonic zero and the given wall time.
func NewClock(wall time.Time) *Clock { return &Clock{wall: wall} }

// Now implements env.Clock.
func (c *Clock) Now() env.Mono { return c.now }

// Wall implements env.Clock.
func (c *Clock) Wall() time.Time { return c.wall.Add(time.Duration(c.now)) }

// AfterFunc implements env.Clock.
func (c *Clock) AfterFunc(d time.Duration, f func()) env.Timer {
	if d < 0 {
		d = 0
	}
	c.seq++
	t := &timer{at: c.now.Add(d), seq: c.seq, f: f, index: -1}
	heap.Push(&c.timers, t)
	return t
}

// Pending counts timers not yet fired or stopped.
func (c *Clock) Pending() int { return len(c.timers) }

// Next is the deadline of the earliest pending timer; ok is false if none.
func (c *Clock) Next() (at env.Mono, ok bool) {
	if len(c.timers) == 0 {
		return 0, false
	}
	return c.timers[0].at, true
}

// Advance moves time forward by d, running every timer that falls due, at its
// own deadline, in order.
func (c *Clock) Advance(d time.Duration) { c.AdvanceTo(c.now.Add(d)) }

// AdvanceTo moves time forward to t (never backwards).
func (c *Clock) AdvanceTo(t env.Mono) {
	for len(c.timers) > 0 && c.timers[0].at <= t {
		tm := heap.Pop(&c.timers).(*timer)
		c.now = max(c.now, tm.at)
		tm.fired = true
		tm.f()
	}
	c.now = max(c.now, t)
}

type timer struct {
	at      env.Mono
	seq     uint64
	f       func()
	index   int
	fired   bool
	stopped bool
	heap    *timerHeap
}

func (t *timer) Stop() bool {
	if t.fired || t.stopped {
		return false
	}
	t.stopped = true
	if t.index >= 0 && t.heap != nil {
		heap.Remove(t.heap, t.index)
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
	t.heap = h
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
