package world

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// recorder is a long-lived handler that notes every firing.
type recorder struct {
	w     *World
	fired []firing
}

type firing struct {
	at  time.Duration
	arg uint64
}

func (r *recorder) Fire(arg uint64) { r.fired = append(r.fired, firing{r.w.Now(), arg}) }

func TestEventsFireInTimeThenSchedulingOrder(t *testing.T) {
	w := New(7, nil)
	r := &recorder{w: w}
	// 2000 events over only 50 distinct times, scheduled in a shuffled
	// order: most share their time with others, so the tie-break matters.
	const n = 2000
	times := make([]time.Duration, n)
	rng := w.Rand("test/shuffle")
	for i := range times {
		times[i] = time.Duration(rng.IntN(50)) * time.Millisecond
	}
	for i, at := range times {
		w.At(at, r, uint64(i))
	}
	if got := w.Pending(); got != n {
		t.Fatalf("Pending() = %d after scheduling %d events; want %d", got, n, n)
	}
	w.RunUntil(time.Hour)

	if len(r.fired) != n {
		t.Fatalf("%d of %d events fired", len(r.fired), n)
	}
	for i, f := range r.fired {
		if f.at != times[f.arg] {
			t.Fatalf("event %d fired at %v; it was scheduled for %v", f.arg, f.at, times[f.arg])
		}
		if i == 0 {
			continue
		}
		prev := r.fired[i-1]
		if f.at < prev.at || (f.at == prev.at && f.arg < prev.arg) {
			t.Fatalf("event %d (at %v) fired after event %d (at %v); want (time, scheduling order)",
				f.arg, f.at, prev.arg, prev.at)
		}
	}
	if w.Fired() != n {
		t.Fatalf("Fired() = %d; want %d", w.Fired(), n)
	}
	if w.Step() {
		t.Fatal("Step() on an empty queue reported an event")
	}
}

func TestEventScheduledForNowRunsAfterThoseAlreadyDue(t *testing.T) {
	w := New(1, nil)
	var order []string
	w.Func(time.Second, func() {
		order = append(order, "a")
		// Same instant as "b", but scheduled later: it must run after "b".
		w.Func(0, func() { order = append(order, "a+0") })
		// In the past: clamped to now, never fired backwards in time.
		w.At(0, HandlerFunc(func(uint64) {
			if w.Now() != time.Second {
				t.Errorf("event scheduled in the past fired at %v; want it clamped to now (1s)", w.Now())
			}
			order = append(order, "past")
		}), 0)
	})
	w.Func(time.Second, func() { order = append(order, "b") })
	w.RunUntil(2 * time.Second)
	want := []string{"a", "b", "a+0", "past"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v; want %v", order, want)
	}
}

func TestRunUntilIsInclusiveAndSetsNow(t *testing.T) {
	w := New(1, nil)
	r := &recorder{w: w}
	for _, s := range []int{1, 2, 3, 5} {
		w.At(time.Duration(s)*time.Second, r, uint64(s))
	}
	w.RunUntil(3 * time.Second)
	if got := len(r.fired); got != 3 {
		t.Fatalf("RunUntil(3s) fired %d events (%v); want the 3 at 1s, 2s and 3s (the end is inclusive)", got, r.fired)
	}
	if w.Now() != 3*time.Second {
		t.Fatalf("Now() = %v after RunUntil(3s); want 3s", w.Now())
	}
	if w.Pending() != 1 {
		t.Fatalf("Pending() = %d; want 1 (the event at 5s)", w.Pending())
	}

	// Nothing due: the clock still moves to the end.
	w.RunUntil(4 * time.Second)
	if w.Now() != 4*time.Second || len(r.fired) != 3 {
		t.Fatalf("RunUntil(4s) with nothing due: Now() = %v, %d fired; want 4s and still 3", w.Now(), len(r.fired))
	}
	// An end in the past never moves the clock backwards.
	w.RunUntil(time.Second)
	if w.Now() != 4*time.Second {
		t.Fatalf("RunUntil(1s) at 4s moved Now() to %v; want it to stay at 4s", w.Now())
	}
	// An event that schedules past the end stays pending.
	w.Func(0, func() { w.At(6*time.Second+1, r, 99) })
	w.RunUntil(6 * time.Second)
	if len(r.fired) != 4 || w.Pending() != 1 {
		t.Fatalf("after RunUntil(6s): fired %v, %d pending; want the 5s event fired and the one at 6s+1ns pending", r.fired, w.Pending())
	}
	if w.Now() != 6*time.Second {
		t.Fatalf("Now() = %v; want 6s", w.Now())
	}
}

func TestTimerStop(t *testing.T) {
	w := New(1, nil)
	ran := map[string]int{}
	stopped := w.NewTimer(time.Second, func() { ran["stopped"]++ })
	kept := w.NewTimer(time.Second, func() { ran["kept"]++ })
	// A timer stopped by another event of its very instant, scheduled
	// before it: that event runs first, so the stop wins.
	var raced *Timer
	var racedStop bool
	w.Func(2*time.Second, func() { racedStop = raced.Stop() })
	raced = w.NewTimer(2*time.Second, func() { ran["raced"]++ })

	if !stopped.Stop() {
		t.Fatal("Stop() of a pending timer = false; want true")
	}
	if stopped.Stop() {
		t.Fatal("second Stop() = true; want false (already stopped)")
	}
	w.RunUntil(1500 * time.Millisecond)
	if ran["stopped"] != 0 {
		t.Fatal("a stopped timer fired")
	}
	if ran["kept"] != 1 {
		t.Fatalf("the timer left alone fired %d times; want once", ran["kept"])
	}
	if kept.Stop() {
		t.Fatal("Stop() after the timer fired = true; want false")
	}

	w.RunUntil(3 * time.Second)
	if !racedStop {
		t.Fatal("Stop() of a timer due at this same instant but not yet fired = false; want true")
	}
	if ran["raced"] != 0 {
		t.Fatal("a timer stopped by an earlier event of the same instant still fired")
	}
	if ran["kept"] != 1 {
		t.Fatalf("a fired timer ran %d times; want once", ran["kept"])
	}
}

func TestRandStreams(t *testing.T) {
	draw := func(w *World, name string, n int) []uint64 {
		r := w.Rand(name)
		out := make([]uint64, n)
		for i := range out {
			out[i] = r.Uint64()
		}
		return out
	}

	a1 := draw(New(42, nil), "node/a", 64)
	a2 := draw(New(42, nil), "node/a", 64)
	if !slices.Equal(a1, a2) {
		t.Fatal("same seed and name gave different sequences; a run could not be replayed")
	}
	if b := draw(New(42, nil), "node/b", 64); slices.Equal(a1, b) || a1[0] == b[0] {
		t.Fatal(`streams "node/a" and "node/b" of one seed start alike; components would be correlated`)
	}
	if other := draw(New(43, nil), "node/a", 64); slices.Equal(a1, other) || a1[0] == other[0] {
		t.Fatal("seeds 42 and 43 gave the same stream; the seed would not matter")
	}
	// Names that differ only slightly, and the empty name, are distinct.
	seen := map[uint64]string{}
	for _, name := range []string{"", "a", "b", "ab", "ba", "node/1", "node/10", "node/01"} {
		first := draw(New(42, nil), name, 1)[0]
		if prev, ok := seen[first]; ok {
			t.Fatalf("streams %q and %q start with the same number", prev, name)
		}
		seen[first] = name
	}

	// Drawing from one stream, or creating others, does not shift another.
	w := New(42, nil)
	busy := w.Rand("node/a")
	for range 1000 {
		busy.Uint64()
	}
	w.Rand("node/c").Uint64()
	b := w.Rand("node/b")
	for range 500 {
		busy.Uint64()
	}
	got := make([]uint64, 64)
	for i := range got {
		got[i] = b.Uint64()
		busy.Uint64() // interleaved
	}
	if want := draw(New(42, nil), "node/b", 64); !slices.Equal(got, want) {
		t.Fatal(`stream "node/b" changed because "node/a" was drawn from; streams must be independent`)
	}

	// A stream looks uniform: a gross bias would show in the top bit.
	ones := 0
	for _, v := range draw(New(42, nil), "node/a", 10_000) {
		ones += int(v >> 63)
	}
	if ones < 4700 || ones > 5300 {
		t.Fatalf("top bit set in %d of 10000 draws; want about 5000", ones)
	}
}

func TestHaltStopsRunAfterCurrentEvent(t *testing.T) {
	w := New(1, nil)
	r := &recorder{w: w}
	w.At(time.Second, r, 1)
	w.Func(2*time.Second, func() { w.Halt() })
	w.At(2*time.Second, r, 2) // same instant, after the halting event
	w.At(3*time.Second, r, 3)
	if w.Halted() {
		t.Fatal("Halted() before Halt")
	}
	w.RunUntil(10 * time.Second)
	if !w.Halted() {
		t.Fatal("Halted() = false after Halt")
	}
	if w.Now() != 2*time.Second {
		t.Fatalf("Now() = %v after a halt at 2s; want 2s (not the end of the run)", w.Now())
	}
	if len(r.fired) != 1 || w.Pending() != 2 {
		t.Fatalf("fired %v with %d pending; want only the 1s event fired and 2 pending", r.fired, w.Pending())
	}
	w.RunUntil(20 * time.Second)
	if len(r.fired) != 1 || w.Now() != 2*time.Second {
		t.Fatalf("RunUntil after Halt fired %v, Now() = %v; a halted world must stay halted", r.fired, w.Now())
	}
}

func TestAfterEventRunsAfterEveryEvent(t *testing.T) {
	w := New(1, nil)
	var log []string
	w.AfterEvent = func() { log = append(log, fmt.Sprintf("check@%v", w.Now())) }
	w.Func(time.Second, func() {
		log = append(log, "a")
		w.Func(0, func() { log = append(log, "a2") })
	})
	w.Func(2*time.Second, func() { log = append(log, "b") })
	w.RunUntil(3 * time.Second)
	want := []string{"a", "check@1s", "a2", "check@1s", "b", "check@2s"}
	if !slices.Equal(log, want) {
		t.Fatalf("log %v; want %v (a check after each event, seeing its effects)", log, want)
	}
}

func TestSteadyStateSchedulingDoesNotAllocate(t *testing.T) {
	w := New(1, nil)
	ts := population(w, 500)
	for range 10_000 {
		w.Step()
	}
	allocs := testing.AllocsPerRun(10_000, func() { w.Step() })
	if allocs != 0 {
		t.Fatalf("%v allocations per event with long-lived handlers; want 0", allocs)
	}
	var total uint64
	for _, tk := range ts {
		total += tk.fired
	}
	if total != w.Fired() {
		t.Fatalf("handlers counted %d firings, the world %d", total, w.Fired())
	}
}

func TestHeapStaysOrderedUnderChurn(t *testing.T) {
	// Random pushes interleaved with pops, checked against a sorted model:
	// the queue's internal layout must never reorder events.
	w := New(3, nil)
	rng := w.Rand("test/churn")
	type key struct {
		at  time.Duration
		seq uint64
	}
	var model []key
	var seq uint64
	var got []key
	h := HandlerFunc(func(arg uint64) { got = append(got, key{w.Now(), arg}) })
	for round := range 200 {
		for range rng.IntN(40) {
			seq++
			at := w.Now() + time.Duration(rng.IntN(20))
			w.At(at, h, seq)
			model = append(model, key{at, seq})
		}
		for range rng.IntN(40) {
			if !w.Step() {
				break
			}
		}
		if w.Pending() != len(model)-len(got) {
			t.Fatalf("round %d: Pending() = %d; want %d", round, w.Pending(), len(model)-len(got))
		}
	}
	for w.Step() {
	}
	slices.SortFunc(model, func(a, b key) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return int(a.seq) - int(b.seq)
	})
	if !slices.Equal(got, model) {
		for i := range min(len(got), len(model)) {
			if got[i] != model[i] {
				t.Fatalf("event %d fired as %+v; want %+v", i, got[i], model[i])
			}
		}
		t.Fatalf("%d events fired; want %d", len(got), len(model))
	}
}

func TestHugeDelayDoesNotWrapToNow(t *testing.T) {
	w := New(1, nil)
	w.RunUntil(time.Second)
	fired := false
	w.Func(math.MaxInt64, func() { fired = true })
	w.RunUntil(1000 * time.Hour)
	if fired {
		t.Fatal("an event scheduled math.MaxInt64 ahead fired within 1000h; the delay wrapped around")
	}
}
