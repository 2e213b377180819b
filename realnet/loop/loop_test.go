package loop

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder collects ints appended by inputs; only the loop appends, but the
// test goroutine reads after WaitIdle, so a mutex keeps -race honest.
type recorder struct {
	mu  sync.Mutex
	got []int
}

func (r *recorder) add(i int) func() {
	return func() {
		r.mu.Lock()
		r.got = append(r.got, i)
		r.mu.Unlock()
	}
}

func (r *recorder) snapshot() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.got...)
}

func wantSeq(t *testing.T, got []int, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("ran %d inputs, want %d: %v", len(got), n, got)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("input %d ran at position %d; inputs must run in the order posted: %v", v, i, got)
		}
	}
}

// gate blocks the loop until released, so a test can fill the inbox.
func gate(t *testing.T, l *Loop) (release func()) {
	t.Helper()
	entered := make(chan struct{})
	ch := make(chan struct{})
	if err := l.Post(func() { close(entered); <-ch }); err != nil {
		t.Fatalf("post gate: %v", err)
	}
	<-entered
	return func() { close(ch) }
}

// waitBlocked spins until n posters wait for room: no sleeps, no timing.
func waitBlocked(l *Loop, n int) {
	for {
		l.mu.Lock()
		b := l.blocked
		l.mu.Unlock()
		if b == n {
			return
		}
		runtime.Gosched()
	}
}

func TestRunsInputsInPostOrderOnItsOwnGoroutine(t *testing.T) {
	l := New("order", 4)
	defer l.Stop()
	var r recorder
	onLoop := make(chan bool, 1)
	for i := range 100 {
		if err := l.Post(r.add(i)); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if err := l.Post(func() { onLoop <- l.OnLoop() }); err != nil {
		t.Fatal(err)
	}
	l.WaitIdle()
	wantSeq(t, r.snapshot(), 100)
	if !<-onLoop {
		t.Fatal("OnLoop is false inside an input; inputs must run on the loop goroutine")
	}
	if l.OnLoop() {
		t.Fatal("OnLoop is true on the test goroutine")
	}
}

func TestFullInboxBlocksOtherPostersUntilRoom(t *testing.T) {
	l := New("full", 2)
	defer l.Stop()
	release := gate(t, l)
	var r recorder
	for i := range 2 {
		if err := l.Post(r.add(i)); err != nil {
			t.Fatal(err)
		}
	}
	returned := make(chan error, 1)
	go func() { returned <- l.Post(r.add(2)) }()
	waitBlocked(l, 1)
	select {
	case err := <-returned:
		t.Fatalf("Post into a full inbox returned %v at once; it must wait for room", err)
	default:
	}
	if got := l.Len(); got != 2 {
		t.Fatalf("inbox holds %d inputs, want its capacity 2", got)
	}
	release()
	if err := <-returned; err != nil {
		t.Fatalf("blocked Post returned %v after room was made; want nil", err)
	}
	l.WaitIdle()
	wantSeq(t, r.snapshot(), 3)
}

func TestLoopPostingToItselfNeverDeadlocks(t *testing.T) {
	l := New("self", 1)
	defer l.Stop()
	var r recorder
	errs := make(chan error, 1)
	err := l.Post(func() {
		// Far more than the capacity: each would block a foreign poster.
		for i := range 50 {
			if err := l.Post(r.add(i)); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if err != nil {
			t.Fatalf("self-post failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		// Guard against a hang, not a timing assertion.
		t.Fatal("the loop deadlocked posting to itself past its capacity")
	}
	l.WaitIdle()
	wantSeq(t, r.snapshot(), 50)
}

func TestDeliverIgnoresCapacityAndKeepsOrder(t *testing.T) {
	l := New("deliver", 1)
	defer l.Stop()
	release := gate(t, l)
	var r recorder
	for i := range 10 {
		if err := l.Deliver(r.add(i)); err != nil {
			t.Fatalf("deliver %d: %v", i, err)
		}
	}
	if got := l.Len(); got != 10 {
		t.Fatalf("inbox holds %d after 10 deliveries past capacity 1, want 10", got)
	}
	release()
	l.WaitIdle()
	wantSeq(t, r.snapshot(), 10)
}

func TestStopDropsQueuedInputsAndRefusesNewOnes(t *testing.T) {
	l := New("stop", 8)
	release := gate(t, l)
	var r recorder
	for i := range 3 {
		if err := l.Post(r.add(i)); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan struct{})
	go func() { l.Stop(); close(stopped) }()
	// Stop marks the loop before waiting for the running input.
	for l.Deliver(func() {}) == nil {
		runtime.Gosched()
	}
	select {
	case <-stopped:
		t.Fatal("Stop returned while an input was still running; it must wait for it")
	default:
	}
	release()
	<-stopped
	if got := r.snapshot(); len(got) != 0 {
		t.Fatalf("inputs %v ran after Stop; queued inputs must be dropped", got)
	}
	if err := l.Post(func() {}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Post after Stop returned %v, want ErrStopped", err)
	}
	if err := l.Deliver(func() {}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Deliver after Stop returned %v, want ErrStopped", err)
	}
	l.Stop() // idempotent
	l.WaitIdle()
}

func TestStopReleasesBlockedPosters(t *testing.T) {
	l := New("stop-blocked", 1)
	release := gate(t, l)
	if err := l.Post(func() {}); err != nil {
		t.Fatal(err)
	}
	const posters = 3
	results := make(chan error, posters)
	for range posters {
		go func() { results <- l.Post(func() { t.Error("input posted while stopping ran") }) }()
	}
	waitBlocked(l, posters)
	go func() {
		for l.Deliver(func() {}) == nil {
			runtime.Gosched()
		}
		release()
	}()
	l.Stop()
	for range posters {
		if err := <-results; !errors.Is(err, ErrStopped) {
			t.Fatalf("blocked Post returned %v when the loop stopped, want ErrStopped", err)
		}
	}
}

func TestStopFromTheLoopItselfReturns(t *testing.T) {
	l := New("stop-self", 4)
	var r recorder
	if err := l.Post(func() {
		l.Stop()
		r.add(0)()
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Post(r.add(1)); err != nil && !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	<-l.Done()
	if got := r.snapshot(); len(got) != 1 || got[0] != 0 {
		t.Fatalf("ran %v; the input calling Stop must finish and nothing after it may run", got)
	}
}

func TestWaitIdleFromTheLoopPanics(t *testing.T) {
	l := New("idle-self", 4)
	defer l.Stop()
	got := make(chan any, 1)
	if err := l.Post(func() {
		defer func() { got <- recover() }()
		l.WaitIdle()
	}); err != nil {
		t.Fatal(err)
	}
	if p := <-got; p == nil {
		t.Fatal("WaitIdle on the loop returned; it must panic instead of deadlocking")
	}
}

func TestManyPostersKeepTheirOwnOrder(t *testing.T) {
	l := New("many", 8)
	defer l.Stop()
	const posters, each = 8, 500
	last := make([]int, posters) // touched only on the loop
	for i := range last {
		last[i] = -1
	}
	bad := make(chan string, 1)
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				f := func() {
					if last[p] != i-1 {
						select {
						case bad <- "out of order":
						default:
						}
					}
					last[p] = i
				}
				if i%2 == 0 {
					err = l.Post(f)
				} else {
					err = l.Deliver(f)
				}
				if err != nil {
					t.Errorf("poster %d: %v", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	l.WaitIdle()
	select {
	case msg := <-bad:
		t.Fatalf("a poster's inputs ran %s; each poster's inputs must run in its order", msg)
	default:
	}
	done := make(chan []int, 1)
	if err := l.Post(func() { done <- append([]int(nil), last...) }); err != nil {
		t.Fatal(err)
	}
	for p, v := range <-done {
		if v != each-1 {
			t.Fatalf("poster %d: last input run was %d, want %d", p, v, each-1)
		}
	}
}

func TestNewRejectsNegativeCapacity(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted capacity -1; it must panic with the reason")
		}
	}()
	New("bad", -1)
}

func TestFifoCompactsAndReusesMemory(t *testing.T) {
	var q fifo
	for round := range 1000 {
		// Keep the queue non-empty: push two, pop one.
		q.push(func() {})
		q.push(func() {})
		q.pop()
		if q.len() != round+1 {
			t.Fatalf("len %d after round %d, want %d", q.len(), round, round+1)
		}
	}
	if cap(q.items) > 4*q.len() {
		t.Fatalf("queue of %d holds a slice of cap %d; spent slots must be reclaimed", q.len(), cap(q.items))
	}
}

func TestPostContextGivesUpWhenItsContextEnds(t *testing.T) {
	l := New("ctx", 2)
	defer l.Stop()
	release := gate(t, l)
	var r recorder
	for i := range 2 {
		if err := l.PostContext(context.Background(), r.add(i)); err != nil {
			t.Fatalf("PostContext into an inbox with room: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- l.PostContext(ctx, func() { t.Error("an input whose poster gave up ran") }) }()
	other, cancelOther := context.WithCancel(context.Background())
	otherGaveUp := make(chan error, 1)
	go func() { otherGaveUp <- l.PostContext(other, func() { t.Error("an input whose poster gave up ran") }) }()
	// A plain Post waits alongside: the posters that give up must not
	// take the room made for it.
	posted := make(chan error, 1)
	go func() { posted <- l.Post(r.add(2)) }()
	waitBlocked(l, 3)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("PostContext waiting for room returned %v when its context was cancelled, want context.Canceled", err)
	}
	cancelOther()
	if err := <-otherGaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("the second PostContext waiting for room returned %v when its context was cancelled, want context.Canceled", err)
	}
	if got := l.Len(); got != 2 {
		t.Fatalf("inbox holds %d inputs after two posters gave up, want 2 (theirs must not be queued)", got)
	}
	release()
	if err := <-posted; err != nil {
		t.Fatalf("Post waiting beside posters that gave up returned %v after room was made; want nil", err)
	}
	l.WaitIdle()
	wantSeq(t, r.snapshot(), 3)
}

func TestPostContextWithAnEndedContextQueuesNothing(t *testing.T) {
	l := New("ended", 4)
	defer l.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.PostContext(ctx, func() { t.Error("an input posted with an ended context ran") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("PostContext with a cancelled context returned %v, want context.Canceled", err)
	}
	l.WaitIdle()
}

func TestStopReleasesPostContextWaiters(t *testing.T) {
	l := New("stop-ctx", 1)
	release := gate(t, l)
	if err := l.Post(func() {}); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		result <- l.PostContext(context.Background(), func() { t.Error("input posted while stopping ran") })
	}()
	waitBlocked(l, 1)
	go func() {
		for l.Deliver(func() {}) == nil {
			runtime.Gosched()
		}
		release()
	}()
	l.Stop()
	if err := <-result; !errors.Is(err, ErrStopped) {
		t.Fatalf("PostContext waiting for room returned %v when the loop stopped, want ErrStopped", err)
	}
	if err := l.PostContext(context.Background(), func() {}); !errors.Is(err, ErrStopped) {
		t.Fatalf("PostContext after Stop returned %v, want ErrStopped", err)
	}
}
