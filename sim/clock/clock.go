// Package clock models one simulated host's clocks. A host has a monotonic
// clock that counts since boot at a rate that may drift, and a wall clock
// that follows the same oscillator plus an offset that operators (or NTP)
// can jump. Timers run on the monotonic clock, so a wall-clock jump never
// moves a timer, exactly as on Linux.
package clock

import (
	"math"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/world"
)

// Epoch is the wall-clock time at which every simulated run starts. Fixed,
// so that runs replay byte for byte; UTC, so that no time zone leaks in.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Config sets a host clock's errors.
type Config struct {
	// Offset is the wall clock's error at the start of the run.
	Offset time.Duration
	// DriftPPM is the oscillator's rate error in parts per million: a
	// positive drift makes the host's clocks run fast.
	DriftPPM float64
}

// Clock is one host's clock pair.
type Clock struct {
	w *world.World
	// The monotonic clock is piecewise linear in true time: it read
	// anchorMono at true time anchorTrue and advances at rate since.
	anchorTrue time.Duration
	anchorMono env.Mono
	rate       float64
	wallOffset time.Duration // wall = Epoch + mono + wallOffset
}

// New makes a host clock; its monotonic clock starts at zero now.
func New(w *world.World, cfg Config) *Clock {
	return &Clock{
		w:          w,
		anchorTrue: w.Now(),
		rate:       1 + cfg.DriftPPM/1e6,
		wallOffset: cfg.Offset + w.Now(),
	}
}

// Mono reads the host's monotonic clock.
func (c *Clock) Mono() env.Mono {
	elapsed := c.w.Now() - c.anchorTrue
	return c.anchorMono + env.Mono(float64(elapsed)*c.rate)
}

// Wall reads the host's wall clock.
func (c *Clock) Wall() time.Time {
	return Epoch.Add(time.Duration(c.Mono()) + c.wallOffset)
}

// Skew is how far the wall clock is from true time now.
func (c *Clock) Skew() time.Duration {
	return c.Wall().Sub(Epoch.Add(c.w.Now()))
}

// Jump moves the wall clock by d (an NTP step, an operator's mistake). The
// monotonic clock and every timer are unaffected.
func (c *Clock) Jump(d time.Duration) { c.wallOffset += d }

// SetDrift changes the oscillator's rate error from now on.
func (c *Clock) SetDrift(ppm float64) {
	c.anchorMono = c.Mono()
	c.anchorTrue = c.w.Now()
	c.rate = 1 + ppm/1e6
}

// TrueDuration converts a duration measured on this host's clock into true
// (simulated) time at the current rate: a fast clock's timers fire early. It
// rounds up, so that the host clock has moved at least d by then.
func (c *Clock) TrueDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return max(1, saturate(math.Ceil(float64(d)/c.rate)))
}

// monoAt is the monotonic reading at true time at, at the current rate.
func (c *Clock) monoAt(at time.Duration) env.Mono {
	return c.anchorMono + env.Mono(float64(at-c.anchorTrue)*c.rate)
}

// trueAt is the earliest true time, now or later, at which the monotonic
// clock reads m or more at the current rate. The float division can land a
// nanosecond short of m, which the final steps make up.
func (c *Clock) trueAt(m env.Mono) time.Duration {
	now := c.w.Now()
	if m <= c.Mono() {
		return now
	}
	ns := math.Ceil(float64(m-c.anchorMono) / c.rate)
	if ns >= farFuture {
		return farFuture
	}
	at := max(now, c.anchorTrue+time.Duration(ns))
	for c.monoAt(at) < m {
		at++
	}
	return at
}

// farFuture caps converted durations: beyond any run (146 years), and far
// enough from overflow that adding a run's time to it cannot wrap.
const farFuture = 1 << 62

// saturate converts a non-negative float count of nanoseconds, capping it at
// farFuture rather than letting it wrap to a negative duration.
func saturate(ns float64) time.Duration {
	if ns >= farFuture {
		return farFuture
	}
	return time.Duration(ns)
}

// ForProcess gives one process incarnation its env.Clock: timers go through
// exec, so they cost CPU and never fire after the process died.
func (c *Clock) ForProcess(exec world.Executor, timerCost time.Duration) env.Clock {
	return &processClock{c: c, exec: exec, cost: timerCost}
}

type processClock struct {
	c    *Clock
	exec world.Executor
	cost time.Duration
}

func (p *processClock) Now() env.Mono   { return p.c.Mono() }
func (p *processClock) Wall() time.Time { return p.c.Wall() }

func (p *processClock) AfterFunc(d time.Duration, f func()) env.Timer {
	now := p.c.Mono()
	deadline := now
	if d > 0 {
		deadline = now + env.Mono(min(d, farFuture))
	}
	t := &timer{p: p, f: f, deadline: deadline}
	t.arm()
	return t
}

// timer is one AfterFunc. It fires when the host's monotonic clock reaches
// its deadline, never before, and it guards against the window between the
// world firing it and the process's loop running it: a Stop in that window
// still wins.
type timer struct {
	p        *processClock
	wt       *world.Timer
	f        func()
	deadline env.Mono
	done     bool
}

func (t *timer) arm() {
	w := t.p.c.w
	t.wt = w.NewTimer(t.p.c.trueAt(t.deadline)-w.Now(), t.due)
}

// due runs when the world fires the timer. If the oscillator slowed down
// since the timer was armed (SetDrift), the host clock is still short of the
// deadline, and the timer waits on. (One that sped up fires a little late,
// which a timer may.)
func (t *timer) due() {
	if t.p.c.Mono() < t.deadline {
		t.arm()
		return
	}
	t.p.exec.Exec(t.p.cost, t)
}

// Run implements world.Input: the timer's callback on its process's loop.
func (t *timer) Run() {
	if t.done {
		return
	}
	t.done = true
	t.f()
}

func (t *timer) Stop() bool {
	if t.done {
		return false
	}
	t.done = true
	t.wt.Stop()
	return true
}
