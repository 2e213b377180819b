package clock

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/world"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loop is a process executor for tests: it runs each input at once, or,
// while held, keeps inputs until release (a process busy with something
// else, so that a fired timer waits in its queue).
type loop struct {
	hold  bool
	held  []func()
	costs []time.Duration
}

func (l *loop) Exec(cost time.Duration, in world.Input) {
	f := in.Run
	l.costs = append(l.costs, cost)
	if l.hold {
		l.held = append(l.held, f)
		return
	}
	f()
}

func (l *loop) release() {
	l.hold = false
	held := l.held
	l.held = nil
	for _, f := range held {
		f()
	}
}

// approx fails unless got is within tol of want.
func approx(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if d := got - want; d > tol || d < -tol {
		t.Fatalf("%s = %v; want %v ± %v (off by %v)", what, got, want, tol, d)
	}
}

func TestOffsetShowsInWallNotMono(t *testing.T) {
	w := world.New(1, nil)
	w.RunUntil(5 * time.Second) // the host boots 5 s into the run
	c := New(w, Config{Offset: 3 * time.Second})
	if c.Mono() != 0 {
		t.Fatalf("Mono() at boot = %v; want 0", time.Duration(c.Mono()))
	}
	if want := Epoch.Add(8 * time.Second); !c.Wall().Equal(want) {
		t.Fatalf("Wall() = %v; want %v (true time 5s plus offset 3s)", c.Wall(), want)
	}
	w.RunUntil(15 * time.Second)
	if c.Mono() != env.Mono(10*time.Second) {
		t.Fatalf("Mono() 10s after boot = %v; want 10s", time.Duration(c.Mono()))
	}
	if want := Epoch.Add(18 * time.Second); !c.Wall().Equal(want) {
		t.Fatalf("Wall() = %v; want %v", c.Wall(), want)
	}
	if c.Skew() != 3*time.Second {
		t.Fatalf("Skew() = %v; want the offset, 3s", c.Skew())
	}
	neg := New(w, Config{Offset: -time.Minute})
	if neg.Skew() != -time.Minute {
		t.Fatalf("Skew() of a clock a minute slow = %v; want -1m", neg.Skew())
	}
}

func TestDriftRunsTheClocksFastOrSlow(t *testing.T) {
	for _, ppm := range []float64{0, 100, -250, 1000} {
		t.Run(fmt.Sprintf("%+gppm", ppm), func(t *testing.T) {
			w := world.New(1, nil)
			c := New(w, Config{DriftPPM: ppm})
			const span = 1000 * time.Second
			w.RunUntil(span)
			want := time.Duration(float64(span) * (1 + ppm/1e6))
			approx(t, "Mono() after 1000s of true time", time.Duration(c.Mono()), want, time.Microsecond)
			// 100 ppm over 1000 s is 100 ms: the skew grows by exactly that.
			approx(t, "Skew()", c.Skew(), want-span, time.Microsecond)
		})
	}
}

func TestTimersOnADriftingClockFireEarlyOrLateInTrueTime(t *testing.T) {
	for _, ppm := range []float64{1000, -1000, 37} {
		t.Run(fmt.Sprintf("%+gppm", ppm), func(t *testing.T) {
			w := world.New(1, nil)
			c := New(w, Config{DriftPPM: ppm})
			pc := c.ForProcess(&loop{}, 0)
			var firedAt time.Duration = -1
			pc.AfterFunc(10*time.Second, func() { firedAt = w.Now() })
			w.RunUntil(time.Minute)
			// A fast clock reaches 10 s of its own time early in true time.
			want := time.Duration(float64(10*time.Second) / (1 + ppm/1e6))
			approx(t, "true time of a 10s timer", firedAt, want, 2*time.Nanosecond)
		})
	}
}

func TestTimerNeverFiresBeforeItsMonotonicDeadline(t *testing.T) {
	// The node reads its own clock in the callback: it must see at least
	// the delay it asked for, whatever the drift and the rounding.
	for _, ppm := range []float64{37, -37, 999.5, -123.25, 1e-3} {
		w := world.New(1, nil)
		c := New(w, Config{DriftPPM: ppm})
		pc := c.ForProcess(&loop{}, 0)
		for i := range 200 {
			d := time.Duration(i*i*7919+1) * time.Nanosecond
			start := pc.Now()
			pc.AfterFunc(d, func() {
				if got := pc.Now().Sub(start); got < d {
					t.Errorf("drift %+gppm: a %v timer ran when the host clock had moved only %v", ppm, d, got)
				}
			})
			w.RunUntil(w.Now() + 3*time.Millisecond + 7*time.Nanosecond)
		}
	}
}

func TestTimerArmedBeforeADriftChangeStillWaitsItsFullDelay(t *testing.T) {
	// The oscillator slows while a timer is pending: the host clock then
	// takes longer to reach the deadline, and the timer waits for it.
	w := world.New(1, nil)
	c := New(w, Config{DriftPPM: 1000})
	pc := c.ForProcess(&loop{}, 0)
	var elapsed time.Duration = -1
	start := pc.Now()
	pc.AfterFunc(10*time.Second, func() { elapsed = pc.Now().Sub(start) })
	w.RunUntil(time.Second)
	c.SetDrift(-1000)
	w.RunUntil(time.Minute)
	if elapsed < 10*time.Second {
		t.Fatalf("a 10s timer ran after %v of host time; the drift change made it fire early", elapsed)
	}
	approx(t, "host time at which the 10s timer ran", elapsed, 10*time.Second, time.Microsecond)
}

func TestJumpMovesWallButNeitherMonoNorTimers(t *testing.T) {
	w := world.New(1, nil)
	c := New(w, Config{})
	pc := c.ForProcess(&loop{}, 0)
	var firedAt time.Duration = -1
	pc.AfterFunc(10*time.Second, func() { firedAt = w.Now() })

	w.RunUntil(time.Second)
	mono, wall := c.Mono(), c.Wall()
	c.Jump(time.Hour)
	if c.Mono() != mono {
		t.Fatalf("Jump moved Mono() from %v to %v; the monotonic clock must ignore wall steps", mono, c.Mono())
	}
	if got := c.Wall().Sub(wall); got != time.Hour {
		t.Fatalf("Jump(1h) moved Wall() by %v; want 1h", got)
	}
	if pc.Wall() != c.Wall() || pc.Now() != c.Mono() {
		t.Fatal("the process's clock reads differently from its host's")
	}
	w.RunUntil(2 * time.Second)
	c.Jump(-3 * time.Hour) // backwards, past the boot time
	if got := c.Skew(); got != -2*time.Hour {
		t.Fatalf("Skew() after +1h and -3h = %v; want -2h", got)
	}
	w.RunUntil(time.Minute)
	if firedAt != 10*time.Second {
		t.Fatalf("a 10s timer fired at %v after wall-clock jumps; want exactly 10s", firedAt)
	}
}

func TestSetDriftIsContinuous(t *testing.T) {
	w := world.New(1, nil)
	c := New(w, Config{DriftPPM: 500, Offset: time.Second})
	w.RunUntil(100 * time.Second)
	mono, wall := c.Mono(), c.Wall()
	c.SetDrift(-500)
	if c.Mono() != mono || !c.Wall().Equal(wall) {
		t.Fatalf("SetDrift moved the clocks at once: Mono %v -> %v, Wall %v -> %v; a rate change must not step them",
			time.Duration(mono), time.Duration(c.Mono()), wall, c.Wall())
	}
	w.RunUntil(200 * time.Second)
	// 100 s fast by 500 ppm, then 100 s slow by 500 ppm: back on time.
	approx(t, "Mono() after +500ppm then -500ppm", time.Duration(c.Mono()), 200*time.Second, time.Microsecond)
	approx(t, "Skew()", c.Skew(), time.Second, time.Microsecond)
	// Many small changes add no error of their own.
	for i := range 1000 {
		before := c.Mono()
		c.SetDrift(float64(i%7) * 10)
		if c.Mono() != before {
			t.Fatalf("SetDrift number %d stepped Mono() by %v", i, c.Mono().Sub(before))
		}
		w.RunUntil(w.Now() + time.Millisecond)
	}
}

func TestStopWinsWhileTheFiredTimerWaitsForTheProcess(t *testing.T) {
	w := world.New(1, nil)
	c := New(w, Config{})
	proc := &loop{}
	pc := c.ForProcess(proc, 7*time.Microsecond)
	ran := 0
	tm := pc.AfterFunc(time.Second, func() { ran++ })

	proc.hold = true // the process is busy when the timer comes due
	w.RunUntil(2 * time.Second)
	if len(proc.held) != 1 {
		t.Fatalf("%d inputs handed to the process by a due timer; want 1", len(proc.held))
	}
	if proc.costs[0] != 7*time.Microsecond {
		t.Fatalf("timer input cost %v; want the configured 7µs", proc.costs[0])
	}
	if !tm.Stop() {
		t.Fatal("Stop() before the callback ran = false; want true (the callback has not run)")
	}
	proc.release()
	if ran != 0 {
		t.Fatal("a timer stopped after the world fired it, but before the process ran it, still ran")
	}
	if tm.Stop() {
		t.Fatal("second Stop() = true; want false")
	}

	// Stopped before it is due: the process is never even handed it.
	early := pc.AfterFunc(time.Second, func() { ran++ })
	if !early.Stop() {
		t.Fatal("Stop() of a pending timer = false; want true")
	}
	before := len(proc.costs)
	w.RunUntil(5 * time.Second)
	if ran != 0 || len(proc.costs) != before {
		t.Fatalf("a timer stopped while pending reached the process (%d inputs, ran %d)", len(proc.costs)-before, ran)
	}

	// Left alone it runs once, and then cannot be stopped.
	normal := pc.AfterFunc(time.Second, func() { ran++ })
	w.RunUntil(10 * time.Second)
	if ran != 1 {
		t.Fatalf("an untouched timer ran %d times; want once", ran)
	}
	if normal.Stop() {
		t.Fatal("Stop() after the callback ran = true; want false")
	}
}

func TestTrueDuration(t *testing.T) {
	w := world.New(1, nil)
	c := New(w, Config{DriftPPM: 1e5}) // 10% fast, to make the factor plain
	cases := []struct{ in, want time.Duration }{
		{-time.Second, 0},
		{0, 0},
		{1, 1}, // never rounded down to nothing
		{11 * time.Second, 10 * time.Second},
	}
	for _, tc := range cases {
		if got := c.TrueDuration(tc.in); got != tc.want {
			t.Errorf("TrueDuration(%v) on a clock 10%% fast = %v; want %v", tc.in, got, tc.want)
		}
	}
	if got := c.TrueDuration(math.MaxInt64 / 2); got <= 0 {
		t.Errorf("TrueDuration of a huge duration = %v; want positive", got)
	}
}

func TestHugeDelayNeverFires(t *testing.T) {
	// "Practically never" timers must not wrap around to "now".
	for _, ppm := range []float64{0, -100, 100} {
		w := world.New(1, nil)
		w.RunUntil(time.Second)
		c := New(w, Config{DriftPPM: ppm})
		pc := c.ForProcess(&loop{}, 0)
		fired := false
		pc.AfterFunc(math.MaxInt64, func() { fired = true })
		pc.AfterFunc(math.MaxInt64/2+1, func() { fired = true })
		w.RunUntil(1000 * time.Hour)
		if fired {
			t.Fatalf("drift %+gppm: a timer of about 292 years fired within 1000h", ppm)
		}
	}
}
