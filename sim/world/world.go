// Package world is the simulator's clock and scheduler: one goroutine, one
// queue of events ordered by (virtual time, sequence number), and one master
// seed from which every component derives its own random stream. Nothing in
// a run may depend on anything but that seed and the scenario.
package world

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/annal-db/annal/sim/trace"
)

// Handler is something the queue can fire. Scheduling a Handler held in a
// long-lived value (rather than a fresh closure) costs no allocation.
type Handler interface {
	Fire(arg uint64)
}

// HandlerFunc adapts a function; each use allocates, so keep it off hot paths.
type HandlerFunc func(arg uint64)

func (f HandlerFunc) Fire(arg uint64) { f(arg) }

// entry is one queued event's place in the heap: its ordering key and the
// slot holding what to fire. Entries hold no pointers, so moving them costs
// no write barrier, and they are small, so four siblings share a cache line
// or two.
type entry struct {
	at   time.Duration
	seq  uint64
	slot uint32
}

// payload is what a queued event fires.
type payload struct {
	h   Handler
	arg uint64
}

// World is one simulated run.
type World struct {
	seed  uint64
	now   time.Duration
	seq   uint64
	queue []entry // 4-ary min-heap on (at, seq)
	// nowQ holds, in order, the events scheduled for the current instant
	// while it runs: each has a higher seq than anything already queued,
	// so a FIFO keeps the heap's order without the heap's cost. Most are
	// a process picking up its next input at once.
	nowQ    []entry
	nowHead int
	slots   []payload // by entry.slot
	free    []uint32  // unused slots
	fired   uint64
	halted  bool

	// Trace records every observable event of the run.
	Trace *trace.Trace
	// AfterEvent, when set, runs after every fired event: the invariant
	// checkers hang here so that a violation is caught at the event that
	// caused it.
	AfterEvent func()
}

// New makes a world for one seed.
func New(seed uint64, tr *trace.Trace) *World {
	if tr == nil {
		tr = trace.New(nil)
	}
	return &World{
		seed:  seed,
		Trace: tr,
		queue: make([]entry, 0, 1024),
		slots: make([]payload, 0, 1024),
		free:  make([]uint32, 0, 1024),
	}
}

// Seed is the run's master seed.
func (w *World) Seed() uint64 { return w.seed }

// Now is the virtual time since the run's start.
func (w *World) Now() time.Duration { return w.now }

// Fired counts the events handled so far.
func (w *World) Fired() uint64 { return w.fired }

// Pending counts the events still queued (cancelled timers included).
func (w *World) Pending() int { return len(w.queue) + len(w.nowQ) - w.nowHead }

// Rand derives the random stream of one named component (a node, a link, a
// disk, a workload). Streams are independent of each other, so adding a
// component or drawing more numbers in one does not shift the others.
func (w *World) Rand(component string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(component))
	return rand.New(rand.NewPCG(w.seed, h.Sum64()))
}

// At schedules h.Fire(arg) at virtual time at (never earlier than now).
func (w *World) At(at time.Duration, h Handler, arg uint64) {
	if at < w.now {
		at = w.now
	}
	w.seq++
	var slot uint32
	if n := len(w.free); n > 0 {
		slot = w.free[n-1]
		w.free = w.free[:n-1]
		w.slots[slot] = payload{h: h, arg: arg}
	} else {
		slot = uint32(len(w.slots))
		w.slots = append(w.slots, payload{h: h, arg: arg})
	}
	if at == w.now {
		w.nowQ = append(w.nowQ, entry{at: at, seq: w.seq, slot: slot})
		return
	}
	w.push(entry{at: at, seq: w.seq, slot: slot})
}

// After schedules h.Fire(arg) d from now. A delay past the end of time
// saturates instead of wrapping around to the past.
func (w *World) After(d time.Duration, h Handler, arg uint64) {
	at := w.now + d
	if d > 0 && at < w.now {
		at = math.MaxInt64
	}
	w.At(at, h, arg)
}

// Func schedules f d from now.
func (w *World) Func(d time.Duration, f func()) {
	w.After(d, funcHandler(f), 0)
}

type funcHandler func()

func (f funcHandler) Fire(uint64) { f() }

// Timer is a cancellable scheduled function.
type Timer struct {
	f       func()
	stopped bool
	fired   bool
}

// NewTimer schedules f d from now and returns a handle that can stop it.
func (w *World) NewTimer(d time.Duration, f func()) *Timer {
	t := &Timer{f: f}
	w.After(d, t, 0)
	return t
}

// Fire implements Handler.
func (t *Timer) Fire(uint64) {
	if t.stopped || t.fired {
		return
	}
	t.fired = true
	t.f()
}

// Stop cancels the timer; false if it already fired or was stopped.
func (t *Timer) Stop() bool {
	if t.stopped || t.fired {
		return false
	}
	t.stopped = true
	return true
}

// Halt makes Run return after the current event.
func (w *World) Halt() { w.halted = true }

// Halted reports whether Halt was called.
func (w *World) Halted() bool { return w.halted }

// Step fires the next event. It reports false when the queue is empty.
func (w *World) Step() bool {
	var top entry
	switch {
	case w.nowHead < len(w.nowQ) && (len(w.queue) == 0 || !less(&w.queue[0], &w.nowQ[w.nowHead])):
		top = w.nowQ[w.nowHead]
		w.nowHead++
		if w.nowHead == len(w.nowQ) {
			w.nowQ, w.nowHead = w.nowQ[:0], 0
		}
	case len(w.queue) > 0:
		top = w.pop()
	default:
		return false
	}
	p := w.slots[top.slot]
	w.slots[top.slot] = payload{} // let the handler be collected
	w.free = append(w.free, top.slot)
	w.now = top.at
	w.fired++
	p.h.Fire(p.arg)
	if w.AfterEvent != nil {
		w.AfterEvent()
	}
	return true
}

// RunUntil fires events up to and including virtual time end, then sets the
// clock to end. It stops early on Halt.
func (w *World) RunUntil(end time.Duration) {
	for !w.halted && (w.nowHead < len(w.nowQ) || len(w.queue) > 0 && w.queue[0].at <= end) {
		w.Step()
	}
	if !w.halted && w.now < end {
		w.now = end
	}
}

// The queue is a 4-ary heap: half the depth of a binary one, and the
// children of a node sit next to each other in memory. Sifting moves a hole
// instead of swapping, so each level costs one copy.

func less(a, b *entry) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (w *World) push(e entry) {
	w.queue = append(w.queue, e)
	q := w.queue
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !less(&e, &q[p]) {
			break
		}
		q[i] = q[p]
		i = p
	}
	q[i] = e
}

func (w *World) pop() entry {
	q := w.queue
	top := q[0]
	last := len(q) - 1
	e := q[last]
	q = q[:last]
	w.queue = q
	n := len(q)
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		// The least of up to four children.
		m := c
		end := min(c+4, n)
		for j := c + 1; j < end; j++ {
			if less(&q[j], &q[m]) {
				m = j
			}
		}
		if !less(&q[m], &e) {
			break
		}
		q[i] = q[m]
		i = m
	}
	q[i] = e
	return top
}
