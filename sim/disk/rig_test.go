package disk

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testExec is a process loop: completions run one at a time, in the order
// they were handed over, each after its cost. It records every hand-off so
// tests can see completion order without relying on when callbacks run.
type testExec struct {
	w        *world.World
	free     time.Duration // when the loop is next idle
	dead     bool
	handoffs []time.Duration
}

func (e *testExec) Exec(cost time.Duration, in world.Input) {
	e.handoffs = append(e.handoffs, e.w.Now())
	at := max(e.w.Now(), e.free) + cost
	e.free = at
	e.w.At(at, world.HandlerFunc(func(uint64) {
		if !e.dead {
			in.Run()
		}
	}), 0)
}

// tester is what rig needs of *testing.T and *rapid.T.
type tester interface {
	Helper()
	Fatalf(format string, args ...any)
}

// rig is one host with one process, driven op by op.
type rig struct {
	t    tester
	w    *world.World
	s    *Store
	exec *testExec
	d    *View
}

func newRig(t tester, seed uint64, cfg Config) *rig {
	t.Helper()
	w := world.New(seed, trace.New(nil))
	s := NewStore(w, "h1", cfg)
	r := &rig{t: t, w: w, s: s}
	r.restart()
	return r
}

// restart gives the host a new process incarnation.
func (r *rig) restart() {
	r.exec = &testExec{w: r.w}
	r.d = r.s.Open(r.exec)
}

// crash powers the host off and starts a new incarnation.
func (r *rig) crash() {
	r.exec.dead = true
	r.s.Crash()
	r.restart()
}

// wait runs the world until *done is set.
func (r *rig) wait(done *bool, what string) {
	r.t.Helper()
	for !*done {
		if !r.w.Step() {
			r.t.Fatalf("%s never completed: the world ran out of events", what)
		}
	}
}

func (r *rig) do(what string, issue func(done func(error))) error {
	r.t.Helper()
	var err error
	finished := false
	issue(func(e error) { err, finished = e, true })
	r.wait(&finished, what)
	return err
}

func (r *rig) create(name string) error {
	return r.do("create "+name, func(d func(error)) { r.d.Create(name, d) })
}

func (r *rig) remove(name string) error {
	return r.do("delete "+name, func(d func(error)) { r.d.Delete(name, d) })
}

func (r *rig) rename(from, to string) error {
	return r.do("rename "+from, func(d func(error)) { r.d.Rename(from, to, d) })
}

func (r *rig) write(name string, off int64, data []byte) error {
	return r.do("write "+name, func(d func(error)) { r.d.WriteAt(name, off, data, d) })
}

func (r *rig) truncate(name string, size int64) error {
	return r.do("truncate "+name, func(d func(error)) { r.d.Truncate(name, size, d) })
}

func (r *rig) preallocate(name string, size int64) error {
	return r.do("preallocate "+name, func(d func(error)) { r.d.Preallocate(name, size, d) })
}

func (r *rig) sync(name string) error {
	return r.do("sync "+name, func(d func(error)) { r.d.Sync(name, d) })
}

func (r *rig) syncDir(dir string) error {
	return r.do("syncdir "+dir, func(d func(error)) { r.d.SyncDir(dir, d) })
}

func (r *rig) append(name string, data []byte) (int64, error) {
	r.t.Helper()
	var off int64
	var err error
	finished := false
	r.d.Append(name, data, func(o int64, e error) { off, err, finished = o, e, true })
	r.wait(&finished, "append "+name)
	return off, err
}

func (r *rig) read(name string, off int64, n int) ([]byte, error) {
	r.t.Helper()
	var data []byte
	var err error
	finished := false
	r.d.ReadAt(name, off, n, func(b []byte, e error) { data, err, finished = b, e, true })
	r.wait(&finished, "read "+name)
	return data, err
}

func (r *rig) size(name string) (int64, error) {
	r.t.Helper()
	var size int64
	var err error
	finished := false
	r.d.Size(name, func(s int64, e error) { size, err, finished = s, e, true })
	r.wait(&finished, "size "+name)
	return size, err
}

func (r *rig) list(dir string) ([]string, error) {
	r.t.Helper()
	var names []string
	var err error
	finished := false
	r.d.List(dir, func(n []string, e error) { names, err, finished = n, e, true })
	r.wait(&finished, "list "+dir)
	return names, err
}

// ok fails the test on an unexpected error.
func (r *rig) ok(err error, what string) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// contents is the current content of a file that must exist.
func (r *rig) contents(name string) []byte {
	r.t.Helper()
	b, ok := r.s.Contents(name)
	if !ok {
		r.t.Fatalf("file %q does not exist; files are %q", name, r.s.Files())
	}
	return b
}

// filled is n bytes of b.
func filled(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
