// Package loop is a production node's single goroutine: every input to the
// node (timer callbacks, disk completions, messages, client requests) is a
// func() posted to its Loop, and the Loop runs them one at a time, in the
// order they were posted. Core code therefore needs no locks, exactly as
// under the simulator, where one goroutine runs the whole world.
//
// Inputs come in two kinds, and the inbox treats them differently:
//
//   - Post is for inputs the node did not ask for (messages, requests). The
//     inbox holds at most its capacity of them; a poster finding it full
//     waits for room, which pushes back on the network reader or the client
//     handler that produced the input instead of growing a buffer.
//     PostContext waits the same way but gives up when the poster's
//     context ends. A Post made by the loop's own goroutine never waits (it
//     could never be served): it is queued beyond the capacity.
//   - Deliver is for completions of work the node itself started (a timer,
//     a disk operation). It never waits: the number of such completions is
//     already bounded by whoever bounds that work, and making a disk worker
//     wait for inbox room while the loop waits for that worker's queue
//     would deadlock.
//
// Both kinds share one FIFO queue, so inputs from one goroutine run in the
// order it handed them over. A panic in an input is not recovered: it ends
// the process, as a failed assertion should.
package loop

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrStopped is returned by Post, PostContext and Deliver once the loop is stopping; the
// input was not queued and will never run.
var ErrStopped = errors.New("loop stopped")

// DefaultCapacity is the inbox capacity New uses when given 0.
const DefaultCapacity = 1024

// Loop owns one goroutine that runs queued inputs in order.
type Loop struct {
	name     string
	capacity int

	mu       sync.Mutex
	notEmpty sync.Cond // the loop waits here for input
	notFull  sync.Cond // posters wait here for room
	idle     sync.Cond // WaitIdle waits here
	queue    fifo
	running  bool // an input is executing
	stopped  bool
	blocked  int // posters waiting for room (observed by tests)

	goid atomic.Uint64 // the loop goroutine's id, for self-post detection
	done chan struct{} // closed when the goroutine has exited
}

// New starts a loop whose inbox holds capacity inputs (0 means
// DefaultCapacity). name appears in panics and errors.
func New(name string, capacity int) *Loop {
	if capacity < 0 {
		panic(fmt.Sprintf("loop %s: capacity %d is negative; use 0 for the default (%d) or a positive bound", name, capacity, DefaultCapacity))
	}
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	l := &Loop{name: name, capacity: capacity, done: make(chan struct{})}
	l.notEmpty.L = &l.mu
	l.notFull.L = &l.mu
	l.idle.L = &l.mu
	started := make(chan struct{})
	go l.run(started)
	<-started
	return l
}

// Name is the name given to New.
func (l *Loop) Name() string { return l.name }

// Capacity is the inbox bound that Post respects.
func (l *Loop) Capacity() int { return l.capacity }

func (l *Loop) run(started chan<- struct{}) {
	defer close(l.done)
	l.goid.Store(currentGoroutineID())
	close(started)
	l.mu.Lock()
	for {
		for l.queue.len() == 0 && !l.stopped {
			l.running = false
			l.idle.Broadcast()
			l.notEmpty.Wait()
		}
		if l.stopped {
			l.queue.clear()
			l.running = false
			l.idle.Broadcast()
			l.notFull.Broadcast()
			l.mu.Unlock()
			return
		}
		f := l.queue.pop()
		l.running = true
		if l.blocked > 0 && l.queue.len() < l.capacity {
			l.notFull.Signal()
		}
		l.mu.Unlock()
		f()
		l.mu.Lock()
	}
}

// Post queues f to run on the loop. When the inbox already holds its
// capacity, Post waits for room, unless it is called on the loop's own
// goroutine, where waiting could never end: then f is queued beyond the
// capacity. It returns ErrStopped, without queuing f, once Stop was called,
// including while it was waiting.
func (l *Loop) Post(f func()) error {
	if f == nil {
		panic("loop " + l.name + ": Post needs a function; got nil")
	}
	return l.post(context.Background(), f)
}

// PostContext is Post for a caller that can give up: while it waits for
// room it returns ctx.Err(), without queuing f, as soon as ctx ends (and
// at once if ctx has already ended), so that a caller's deadline bounds
// its wait even when the node is swamped. It returns ErrStopped, without
// queuing f, once Stop was called.
func (l *Loop) PostContext(ctx context.Context, f func()) error {
	if f == nil {
		panic("loop " + l.name + ": PostContext needs a function; got nil")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.post(ctx, f)
}

func (l *Loop) post(ctx context.Context, f func()) error {
	l.mu.Lock()
	if !l.stopped && l.queue.len() >= l.capacity && !l.onLoop() {
		// A sync.Cond cannot select on ctx.Done(): wake every waiter when
		// ctx ends, and let each check its own context.
		wake := context.AfterFunc(ctx, func() {
			l.mu.Lock()
			l.notFull.Broadcast()
			l.mu.Unlock()
		})
		defer wake()
		l.blocked++
		for !l.stopped && l.queue.len() >= l.capacity && ctx.Err() == nil {
			l.notFull.Wait()
		}
		l.blocked--
		if err := ctx.Err(); err != nil && !l.stopped {
			// The wake-up may have been the loop's signal that room was
			// made, meant for one poster: pass it on to another.
			if l.blocked > 0 && l.queue.len() < l.capacity {
				l.notFull.Signal()
			}
			l.mu.Unlock()
			return err
		}
	}
	return l.enqueueLocked(f)
}

// Deliver queues f without ever waiting, beyond the capacity if need be.
// It is for completions of work the node started, whose number that work
// already bounds. It returns ErrStopped, without queuing f, once Stop was
// called.
func (l *Loop) Deliver(f func()) error {
	if f == nil {
		panic("loop " + l.name + ": Deliver needs a function; got nil")
	}
	l.mu.Lock()
	return l.enqueueLocked(f)
}

func (l *Loop) enqueueLocked(f func()) error {
	if l.stopped {
		l.mu.Unlock()
		return ErrStopped
	}
	l.queue.push(f)
	l.notEmpty.Signal()
	l.mu.Unlock()
	return nil
}

// Stop ends the loop. Inputs queued and not yet started are dropped, as a
// killed process drops its pending work; posters waiting for room return
// ErrStopped. Stop waits for the input that is running to return and the
// goroutine to exit, except when called from an input on the loop itself:
// then it returns at once and the loop exits when that input returns. Stop
// may be called more than once.
func (l *Loop) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.notEmpty.Signal()
	l.notFull.Broadcast()
	self := l.onLoop()
	l.mu.Unlock()
	if !self {
		<-l.done
	}
}

// Done is closed once the loop's goroutine has exited.
func (l *Loop) Done() <-chan struct{} { return l.done }

// WaitIdle waits until the inbox is empty and no input is running, or the
// loop has stopped. Timers and workers may post again right after; a test
// that needs a quiet point must first quiet those sources. Calling it from
// the loop itself would wait forever, so that panics.
func (l *Loop) WaitIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.onLoop() {
		panic("loop " + l.name + ": WaitIdle called from the loop itself would never return; call it from another goroutine")
	}
	for !l.stopped && (l.running || l.queue.len() > 0) {
		l.idle.Wait()
	}
}

// OnLoop reports whether the caller runs on the loop's goroutine. It costs
// a stack walk, so use it in assertions and tests, not on hot paths.
func (l *Loop) OnLoop() bool { return l.onLoop() }

// Len counts queued inputs not yet started.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.queue.len()
}

func (l *Loop) onLoop() bool { return currentGoroutineID() == l.goid.Load() }

// currentGoroutineID reads the calling goroutine's id from the header of its
// stack trace ("goroutine 42 [running]:"). Go offers no other way to ask
// "am I the loop?", and the answer is needed only on slow paths (a full
// inbox, Stop, WaitIdle).
func currentGoroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	const prefix = "goroutine "
	if n <= len(prefix) || string(buf[:len(prefix)]) != prefix {
		panic(fmt.Sprintf("loop: unexpected stack header %q", buf[:n]))
	}
	var id uint64
	for _, c := range buf[len(prefix):n] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// fifo is a queue of inputs on a slice that is compacted when half spent,
// so a queue that never fully drains still reuses its memory.
type fifo struct {
	items []func()
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(f func()) {
	if q.head > 0 && len(q.items) == cap(q.items) && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, f)
}

func (q *fifo) pop() func() {
	f := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return f
}

func (q *fifo) clear() {
	clear(q.items)
	q.items = q.items[:0]
	q.head = 0
}
