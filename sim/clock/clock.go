// Package clock models one simulated host's clocks. A host has a monotonic
// clock that counts since boot at a rate that may drift, and a wall clock
// that follows the same oscillator plus an offset that operators (or NTP)
// can jump. Timers run on the monotonic clock, so a wall-clock jump never
// moves a timer, exactly as on Linux.
package clock

import (
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
// (simulated) time: a fast clock's timers fire early.
func (c *Clock) TrueDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	t := time.Duration(float64(d) / c.rate)
	if t <= 0 {
		t = 1
	}
	return t
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
	t := &timer{f: f}
	t.wt = p.c.w.NewTimer(p.c.TrueDuration(d), func() {
		p.exec.Exec(p.cost, t.run)
	})
	return t
}

// timer guards against the window between the world firing the timer and
// the process's loop running it: a Stop in that window still wins.
type timer struct {
	wt   *world.Timer
	f    func()
	done bool
}

func (t *timer) run() {
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
