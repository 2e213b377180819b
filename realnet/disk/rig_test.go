package disk

import (
	"os"
	"testing"

	"github.com/annal-db/annal/realnet/loop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a disk on a temporary directory with its own loop. Its helpers
// issue one operation from the loop, as a node would, and wait for the
// callback, checking that it ran on the loop and not inside the call.
type rig struct {
	t    *testing.T
	l    *loop.Loop
	d    *Disk
	root string
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	root := t.TempDir()
	l := loop.New(t.Name(), 0)
	d, err := Open(root, l, opts)
	if err != nil {
		l.Stop()
		t.Fatalf("open %s: %v", root, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		l.Stop()
	})
	return &rig{t: t, l: l, d: d, root: root}
}

// onLoop runs f on the loop and waits for it.
func (r *rig) onLoop(f func()) {
	r.t.Helper()
	done := make(chan struct{})
	if err := r.l.Post(func() { f(); close(done) }); err != nil {
		r.t.Fatalf("post: %v", err)
	}
	<-done
}

// await issues one operation on the loop; finish must be called by its
// callback with the result.
func await[T any](r *rig, issue func(finish func(T))) T {
	r.t.Helper()
	ch := make(chan T, 1)
	r.onLoop(func() {
		returned := false
		issue(func(v T) {
			if !returned {
				r.t.Error("callback ran inside the call that issued it")
			}
			if !r.l.OnLoop() {
				r.t.Error("callback ran off the loop")
			}
			ch <- v
		})
		returned = true
	})
	return <-ch
}

type offErr struct {
	off int64
	err error
}

type dataErr struct {
	data []byte
	err  error
}

type namesErr struct {
	names []string
	err   error
}

func (r *rig) create(name string) error {
	return await(r, func(f func(error)) { r.d.Create(name, f) })
}

func (r *rig) delete(name string) error {
	return await(r, func(f func(error)) { r.d.Delete(name, f) })
}

func (r *rig) rename(from, to string) error {
	return await(r, func(f func(error)) { r.d.Rename(from, to, f) })
}

func (r *rig) list(dir string) ([]string, error) {
	res := await(r, func(f func(namesErr)) {
		r.d.List(dir, func(n []string, err error) { f(namesErr{n, err}) })
	})
	return res.names, res.err
}

func (r *rig) size(name string) (int64, error) {
	res := await(r, func(f func(offErr)) {
		r.d.Size(name, func(n int64, err error) { f(offErr{n, err}) })
	})
	return res.off, res.err
}

func (r *rig) writeAt(name string, off int64, data string) error {
	return await(r, func(f func(error)) { r.d.WriteAt(name, off, []byte(data), f) })
}

func (r *rig) append(name, data string) (int64, error) {
	res := await(r, func(f func(offErr)) {
		r.d.Append(name, []byte(data), func(off int64, err error) { f(offErr{off, err}) })
	})
	return res.off, res.err
}

func (r *rig) preallocate(name string, size int64) error {
	return await(r, func(f func(error)) { r.d.Preallocate(name, size, f) })
}

func (r *rig) readAt(name string, off int64, n int) ([]byte, error) {
	res := await(r, func(f func(dataErr)) {
		r.d.ReadAt(name, off, n, func(b []byte, err error) { f(dataErr{b, err}) })
	})
	return res.data, res.err
}

func (r *rig) truncate(name string, size int64) error {
	return await(r, func(f func(error)) { r.d.Truncate(name, size, f) })
}

func (r *rig) sync(name string) error {
	return await(r, func(f func(error)) { r.d.Sync(name, f) })
}

func (r *rig) syncDir(dir string) error {
	return await(r, func(f func(error)) { r.d.SyncDir(dir, f) })
}

// must fails the test on an unexpected error.
func (r *rig) must(what string, err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("%s: %v", what, err)
	}
}

// contents reads a file straight from the host.
func (r *rig) contents(name string) string {
	r.t.Helper()
	b, err := os.ReadFile(r.d.hostPath(name))
	if err != nil {
		r.t.Fatalf("read %s from the host: %v", name, err)
	}
	return string(b)
}
