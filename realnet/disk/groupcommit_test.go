package disk

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/annal-db/annal/core/env"
)

// heldSync replaces fdatasync: the first call waits until release, so a
// test can queue operations behind an fsync in flight. fail, when set,
// makes the first call fail with it.
type heldSync struct {
	mu      sync.Mutex
	calls   []string // base names, in call order
	entered chan struct{}
	release chan struct{}
	fail    error
}

func holdFirstSync(r *rig, fail error) *heldSync {
	h := &heldSync{entered: make(chan struct{}), release: make(chan struct{}), fail: fail}
	r.d.syncFile = func(f *os.File) error {
		h.mu.Lock()
		first := len(h.calls) == 0
		h.calls = append(h.calls, f.Name()[len(r.root)+1:])
		h.mu.Unlock()
		if first {
			close(h.entered)
			<-h.release
			if h.fail != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: h.fail}
			}
		}
		return fdatasync(f)
	}
	return h
}

func (h *heldSync) callNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// collect gathers labelled completions on the loop, in completion order.
type collect struct {
	mu   sync.Mutex
	got  []string
	errs []error
	all  chan struct{}
	want int
}

func newCollect(want int) *collect { return &collect{all: make(chan struct{}), want: want} }

func (c *collect) note(label string) func(error) {
	return func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got = append(c.got, label)
		c.errs = append(c.errs, err)
		if len(c.got) == c.want {
			close(c.all)
		}
	}
}

func (c *collect) wait() ([]string, []error) {
	<-c.all
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got), slices.Clone(c.errs)
}

func TestSyncsWaitingBehindAnFsyncShareTheNextOne(t *testing.T) {
	r := newRig(t, Options{Workers: 2})
	r.must("create", r.create("log"))
	_, err := r.append("log", "record")
	r.must("append", err)
	h := holdFirstSync(r, nil)
	const n = 100
	c := newCollect(n)
	r.onLoop(func() { r.d.Sync("log", c.note("sync")) })
	<-h.entered
	r.onLoop(func() {
		for range n - 1 {
			r.d.Sync("log", c.note("sync"))
		}
	})
	close(h.release)
	_, errs := c.wait()
	for _, err := range errs {
		r.must("sync", err)
	}
	st := r.d.Stats()
	if st.SyncRequests != n || st.Fsyncs != 2 {
		t.Fatalf("%d Syncs cost %d fsyncs (stats %+v); the %d queued behind the first must share one", st.SyncRequests, st.Fsyncs, st, n-1)
	}
}

// A write between two Syncs splits them: the later Sync must cover it, so
// it cannot ride on an fsync that ran before the write.
func TestAWriteBetweenSyncsSplitsTheGroup(t *testing.T) {
	r := newRig(t, Options{Workers: 1})
	r.must("create a", r.create("a"))
	r.must("create b", r.create("b"))
	h := holdFirstSync(r, nil)
	c := newCollect(9)
	r.onLoop(func() { r.d.Sync("a", c.note("a0")) })
	<-h.entered
	r.onLoop(func() {
		r.d.Sync("a", c.note("a1"))
		r.d.Sync("b", c.note("b1"))
		r.d.Sync("a", c.note("a2"))
		r.d.Sync("b", c.note("b2"))
		r.d.Append("a", []byte("x"), func(_ int64, err error) { c.note("write-a")(err) })
		r.d.Sync("b", c.note("b3"))
		r.d.Sync("a", c.note("a3"))
		r.d.Sync("a", c.note("a4"))
	})
	close(h.release)
	got, errs := c.wait()
	for _, err := range errs {
		r.must("operation", err)
	}
	// On the one worker, a1+a2 share an fsync (taken past b1); the write to
	// a ends a's group, so a3+a4 need another. b1+b2+b3 share one: the
	// write is to another file, so b3 may pass it.
	if want := []string{"a", "a", "b", "a"}; !slices.Equal(h.callNames(), want) {
		t.Fatalf("fsyncs went to %q, want %q", h.callNames(), want)
	}
	if want := []string{"a0", "a1", "a2", "b1", "b2", "b3", "write-a", "a3", "a4"}; !slices.Equal(got, want) {
		t.Fatalf("completion order %q, want %q", got, want)
	}
}

func TestAFailedFsyncFailsItsGroupAndEveryLaterSync(t *testing.T) {
	r := newRig(t, Options{Workers: 1})
	r.must("create", r.create("log"))
	h := holdFirstSync(r, syscall.EIO)
	c := newCollect(3)
	r.onLoop(func() { r.d.Sync("log", c.note("first")) })
	<-h.entered
	r.onLoop(func() {
		r.d.Sync("log", c.note("second"))
		r.d.Sync("log", c.note("third"))
	})
	close(h.release)
	_, errs := c.wait()
	for i, err := range errs {
		wantErr(t, "sync in the failed group", err, env.ErrIO)
		if i == 0 && !errors.Is(err, syscall.EIO) {
			t.Fatalf("first sync's error %v does not carry EIO", err)
		}
	}
	wantErr(t, "sync after a failed fsync", r.sync("log"), env.ErrIO)
	if calls := len(h.callNames()); calls != 1 {
		t.Fatalf("%d fsyncs; after a failure later Syncs must fail without asking the kernel (which would say yes)", calls)
	}
	r.must("rename", r.rename("log", "moved"))
	wantErr(t, "sync of the renamed file", r.sync("moved"), env.ErrIO)
	r.must("delete", r.delete("moved"))
	r.must("create", r.create("moved"))
	r.must("sync of a new file at the name", r.sync("moved"))
}

func TestIssuersWaitWhileMaxPendingAreOutstanding(t *testing.T) {
	r := newRig(t, Options{Workers: 1, MaxPending: 2})
	r.must("create", r.create("log"))
	h := holdFirstSync(r, nil)
	c := newCollect(3)
	r.onLoop(func() { r.d.Sync("log", c.note("s1")) })
	<-h.entered
	issued := make(chan struct{})
	go func() {
		r.d.Sync("log", c.note("s2"))
		r.d.Sync("log", c.note("s3")) // the third outstanding: waits
		close(issued)
	}()
	for r.d.Stats().IssueWaits == 0 {
		runtime.Gosched()
	}
	select {
	case <-issued:
		t.Fatal("a third operation was admitted past MaxPending 2")
	default:
	}
	close(h.release)
	<-issued
	got, errs := c.wait()
	for _, err := range errs {
		r.must("sync", err)
	}
	if !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("completion order %q", got)
	}
}
