package clock

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newFake(t *testing.T) (*Clock, *clockwork.FakeClock, *loop.Loop) {
	t.Helper()
	fc := clockwork.NewFakeClockAt(epoch)
	l := loop.New(t.Name(), 0)
	c := New(fc, l)
	t.Cleanup(func() { c.Close(); l.Stop() })
	return c, fc, l
}

// onLoop runs f on the loop and waits for it.
func onLoop(t *testing.T, l *loop.Loop, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := l.Post(func() { f(); close(done) }); err != nil {
		t.Fatalf("post: %v", err)
	}
	<-done
}

// advance moves the fake clock and waits until every due callback ran.
func advance(c *Clock, fc *clockwork.FakeClock, l *loop.Loop, d time.Duration) {
	fc.Advance(d)
	c.FireDue()
	l.WaitIdle()
}

// waitFor fails the test if ch is not closed soon; a guard against hangs,
// not a timing assertion.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never happened", what)
	}
}

func TestNowStartsAtZeroAndFollowsTheClock(t *testing.T) {
	c, fc, _ := newFake(t)
	if got := c.Now(); got != 0 {
		t.Fatalf("Now() = %v right after New, want 0", got)
	}
	fc.Advance(1500 * time.Millisecond)
	if got := c.Now(); got != env.Mono(1500*time.Millisecond) {
		t.Fatalf("Now() = %v after advancing 1.5s, want 1.5s", time.Duration(got))
	}
	if got, want := c.Wall(), epoch.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Wall() = %v, want %v", got, want)
	}
}

func TestRealClockIsMonotonicAndWallHasNoMonotonicReading(t *testing.T) {
	l := loop.New(t.Name(), 0)
	defer l.Stop()
	c := New(clockwork.NewRealClock(), l)
	defer c.Close()
	// The origin must carry Go's monotonic reading, or Now would follow
	// wall-clock steps.
	if !strings.Contains(c.start.String(), "m=") {
		t.Fatalf("origin %v has no monotonic reading", c.start)
	}
	if w := c.Wall().String(); strings.Contains(w, "m=") {
		t.Fatalf("Wall() = %s carries a monotonic reading; it must be wall time only", w)
	}
	prev := c.Now()
	for range 1000 {
		now := c.Now()
		if now < prev {
			t.Fatalf("Now() went backwards: %v then %v", prev, now)
		}
		prev = now
	}
}

func TestTimersRunOnTheLoopInDeadlineOrderTiesInCreationOrder(t *testing.T) {
	c, fc, l := newFake(t)
	delays := []time.Duration{30, 10, 20, 10, 50, 20, 10}
	var got []int // appended only on the loop
	onLoopFlags := make([]bool, len(delays))
	onLoop(t, l, func() {
		for i, d := range delays {
			c.AfterFunc(d*time.Millisecond, func() {
				got = append(got, i)
				onLoopFlags[i] = l.OnLoop()
			})
		}
	})
	advance(c, fc, l, time.Second)
	want := []int{1, 3, 6, 2, 5, 0, 4}
	onLoop(t, l, func() {
		if !slices.Equal(got, want) {
			t.Errorf("timers ran in order %v, want %v (deadline, then creation)", got, want)
		}
		for i, ok := range onLoopFlags {
			if !ok {
				t.Errorf("timer %d ran off the loop", i)
			}
		}
	})
}

func TestCallbackNeverRunsInsideAfterFunc(t *testing.T) {
	c, _, l := newFake(t)
	ran := make(chan struct{})
	onLoop(t, l, func() {
		inside := true
		c.AfterFunc(-time.Second, func() {
			if inside {
				t.Error("callback ran inside AfterFunc")
			}
			close(ran)
		})
		inside = false
	})
	waitFor(t, ran, "zero-delay callback")
}

func TestStopBeforeDeadlineCancels(t *testing.T) {
	c, fc, l := newFake(t)
	var tm env.Timer
	onLoop(t, l, func() { tm = c.AfterFunc(time.Second, func() { t.Error("stopped timer ran") }) })
	onLoop(t, l, func() {
		if !tm.Stop() {
			t.Error("Stop of a pending timer returned false, want true")
		}
		if tm.Stop() {
			t.Error("second Stop returned true, want false")
		}
	})
	if n := c.Pending(); n != 0 {
		t.Fatalf("%d timers pending after Stop, want 0", n)
	}
	advance(c, fc, l, time.Hour)
}

func TestStopAfterRunReturnsFalse(t *testing.T) {
	c, fc, l := newFake(t)
	ran := 0
	var tm env.Timer
	onLoop(t, l, func() { tm = c.AfterFunc(time.Millisecond, func() { ran++ }) })
	advance(c, fc, l, time.Millisecond)
	onLoop(t, l, func() {
		if ran != 1 {
			t.Errorf("callback ran %d times, want 1", ran)
		}
		if tm.Stop() {
			t.Error("Stop after the callback ran returned true, want false")
		}
	})
}

func TestStopAfterFireButBeforeTheLoopRanItWins(t *testing.T) {
	c, fc, l := newFake(t)
	var tm env.Timer
	onLoop(t, l, func() { tm = c.AfterFunc(time.Second, func() { t.Error("callback ran although Stop won") }) })

	// Hold the loop, fire the timer: its callback now waits in the inbox.
	proceed := make(chan struct{})
	stopped := make(chan bool, 1)
	if err := l.Post(func() { <-proceed; stopped <- tm.Stop() }); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Second)
	if n := c.FireDue(); n != 1 {
		t.Fatalf("FireDue handed %d timers to the loop, want 1", n)
	}
	if l.Len() < 1 {
		t.Fatal("the fired callback is not queued on the loop")
	}
	close(proceed)
	if !<-stopped {
		t.Fatal("Stop between fire and run returned false; it must win and return true")
	}
	l.WaitIdle()
}

func TestUnderlyingClockFiresWithoutHelp(t *testing.T) {
	c, fc, l := newFake(t)
	late := make(chan struct{})
	early := make(chan struct{})
	onLoop(t, l, func() {
		c.AfterFunc(time.Hour, func() { close(late) })
		// Earlier than the armed deadline: the clock must re-arm.
		c.AfterFunc(time.Millisecond, func() { close(early) })
	})
	fc.Advance(time.Millisecond)
	waitFor(t, early, "the 1ms timer firing through the fake clock")
	select {
	case <-late:
		t.Fatal("the 1h timer ran after 1ms")
	default:
	}
	fc.Advance(time.Hour)
	waitFor(t, late, "the 1h timer firing through the fake clock")
}

func TestManyTimersWithRandomStops(t *testing.T) {
	c, fc, l := newFake(t)
	rng := rand.New(rand.NewPCG(7, 11))
	const n = 5000
	type rec struct {
		at      env.Mono
		timer   env.Timer
		stopped bool
	}
	recs := make([]rec, n)
	var ran []int // loop only
	onLoop(t, l, func() {
		for i := range recs {
			d := time.Duration(rng.IntN(1000)) * time.Millisecond
			recs[i].at = c.Now().Add(d)
			recs[i].timer = c.AfterFunc(d, func() {
				if now := c.Now(); now < recs[i].at {
					t.Errorf("timer %d ran at %v before its deadline %v", i, now, recs[i].at)
				}
				ran = append(ran, i)
			})
		}
		for i := range recs {
			if rng.IntN(3) == 0 {
				if !recs[i].timer.Stop() {
					t.Errorf("Stop of pending timer %d returned false", i)
				}
				recs[i].stopped = true
			}
		}
	})
	for c.Now() < env.Mono(time.Second) {
		advance(c, fc, l, time.Duration(rng.IntN(50))*time.Millisecond)
		now := c.Now()
		var got int
		onLoop(t, l, func() { got = len(ran) })
		due := 0
		for _, r := range recs {
			if !r.stopped && r.at <= now {
				due++
			}
		}
		if got != due {
			t.Fatalf("at %v: %d callbacks ran, want the %d due and not stopped", time.Duration(now), got, due)
		}
	}
	var order []int
	onLoop(t, l, func() { order = slices.Clone(ran) })
	for k := 1; k < len(order); k++ {
		a, b := recs[order[k-1]], recs[order[k]]
		if a.at > b.at || (a.at == b.at && order[k-1] > order[k]) {
			t.Fatalf("timer %d (at %v) ran before timer %d (at %v)", order[k-1], a.at, order[k], b.at)
		}
	}
	for _, i := range order {
		if recs[i].stopped {
			t.Fatalf("stopped timer %d ran", i)
		}
	}
}

// Every timer resolves exactly once: either Stop wins or the callback runs,
// with real timers, stops from the loop and from other goroutines.
func TestRealTimersStopRaces(t *testing.T) {
	l := loop.New(t.Name(), 0)
	defer l.Stop()
	c := New(clockwork.NewRealClock(), l)
	defer c.Close()
	const n = 400
	var resolved sync.WaitGroup
	var ranStopped atomic.Int32
	timers := make([]env.Timer, n)
	stopWon := make([]atomic.Bool, n)
	resolved.Add(n)
	onLoop(t, l, func() {
		for i := range timers {
			timers[i] = c.AfterFunc(time.Duration(i%7)*100*time.Microsecond, func() {
				if stopWon[i].Load() {
					ranStopped.Add(1)
				}
				resolved.Done()
			})
		}
	})
	var stoppers sync.WaitGroup
	for g := range 2 {
		stoppers.Add(1)
		go func() {
			defer stoppers.Done()
			for i := g; i < n; i += 4 {
				if timers[i].Stop() {
					stopWon[i].Store(true)
					resolved.Done()
				}
			}
		}()
	}
	onLoop(t, l, func() {
		for i := 2; i < n; i += 4 {
			if timers[i].Stop() {
				stopWon[i].Store(true)
				resolved.Done()
			}
		}
	})
	stoppers.Wait()
	all := make(chan struct{})
	go func() { resolved.Wait(); close(all) }()
	waitFor(t, all, "every timer resolving")
	l.WaitIdle()
	if k := ranStopped.Load(); k != 0 {
		t.Fatalf("%d callbacks ran after their Stop returned true", k)
	}
}

func TestCloseSilencesPendingAndLaterTimers(t *testing.T) {
	c, fc, l := newFake(t)
	var before, after env.Timer
	onLoop(t, l, func() { before = c.AfterFunc(time.Second, func() { t.Error("timer ran after Close") }) })
	c.Close()
	onLoop(t, l, func() { after = c.AfterFunc(0, func() { t.Error("timer made after Close ran") }) })
	advance(c, fc, l, time.Hour)
	if !before.Stop() || !after.Stop() {
		t.Fatal("Stop of a silenced timer returned false; it never ran, so Stop must report true")
	}
}
