package eventlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/world"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fifo is a process's loop: callbacks run one at a time, in the order they
// were handed over. Once the process dies it runs nothing more, so no
// completion of a crashed incarnation reaches the next one.
type fifo struct {
	w    *world.World
	dead bool
}

func (e *fifo) Exec(_ time.Duration, in world.Input) {
	e.w.Func(0, func() {
		if !e.dead {
			in.Run()
		}
	})
}

// tester is what the rig needs of *testing.T, *testing.B and *rapid.T.
type tester interface {
	Helper()
	Fatalf(format string, args ...any)
}

// rig is one host: a simulated disk and the process incarnation using it.
type rig struct {
	t     tester
	w     *world.World
	store *disk.Store
	exec  *fifo
	view  *disk.View
	cfg   eventlog.Config
	// syncsIssued counts the Syncs the log has asked for, so a test can
	// crash while written data waits for its sync.
	syncsIssued int
}

// countingDisk is the process's disk, counting the syncs asked of it.
type countingDisk struct {
	*disk.View
	syncs *int
}

func (d countingDisk) Sync(name string, done func(error)) {
	*d.syncs++
	d.View.Sync(name, done)
}

func newRig(t tester, seed uint64, dcfg disk.Config, cfg eventlog.Config) *rig {
	w := world.New(seed, nil)
	return newRigIn(t, w, "h1", dcfg, cfg)
}

func newRigIn(t tester, w *world.World, host string, dcfg disk.Config, cfg eventlog.Config) *rig {
	r := &rig{t: t, w: w, store: disk.NewStore(w, host, dcfg), cfg: cfg}
	r.boot()
	return r
}

// boot starts a new process incarnation.
func (r *rig) boot() {
	r.exec = &fifo{w: r.w}
	r.view = r.store.Open(r.exec)
}

// crash powers the host off and boots it again.
func (r *rig) crash() {
	r.exec.dead = true
	r.store.Crash()
	r.boot()
}

// restart kills the process (its queued disk operations still happen) and
// starts a new one.
func (r *rig) restart() {
	r.exec.dead = true
	r.view.Close()
	r.boot()
}

// wait runs the world until *done.
func (r *rig) wait(done *bool, what string) {
	r.t.Helper()
	for !*done {
		if !r.w.Step() {
			r.t.Fatalf("%s never completed: the world ran out of events", what)
		}
	}
}

// open opens the log and waits for recovery.
func (r *rig) open() (*eventlog.Log, error) {
	r.t.Helper()
	var l *eventlog.Log
	var err error
	done := false
	if e := eventlog.Open(countingDisk{r.view, &r.syncsIssued}, r.cfg, func(x *eventlog.Log, e error) { l, err, done = x, e, true }); e != nil {
		return nil, e
	}
	r.wait(&done, "Open")
	return l, err
}

func (r *rig) mustOpen() *eventlog.Log {
	r.t.Helper()
	l, err := r.open()
	if err != nil {
		r.t.Fatalf("open: %v", err)
	}
	return l
}

// append appends and waits for the acknowledgement.
func (r *rig) append(l *eventlog.Log, recs ...eventlog.Record) error {
	r.t.Helper()
	var err error
	done := false
	if e := l.Append(recs, func(e error) { err, done = e, true }); e != nil {
		return e
	}
	r.wait(&done, "Append")
	return err
}

func (r *rig) mustAppend(l *eventlog.Log, recs ...eventlog.Record) []eventlog.Record {
	r.t.Helper()
	if err := r.append(l, recs...); err != nil {
		r.t.Fatalf("append: %v", err)
	}
	return recs
}

// readForward reads [from, upTo) in steps of maxBytes.
func (r *rig) readForward(l *eventlog.Log, from, upTo int64, maxBytes int) ([]eventlog.Record, error) {
	r.t.Helper()
	var all []eventlog.Record
	for {
		var recs []eventlog.Record
		var next int64
		var err error
		done := false
		if e := l.ReadForward(from, upTo, maxBytes, func(rs []eventlog.Record, n int64, e error) { recs, next, err, done = rs, n, e, true }); e != nil {
			if errors.Is(e, eventlog.ErrNothingToRead) {
				return all, nil
			}
			return all, e
		}
		r.wait(&done, "ReadForward")
		if err != nil {
			return all, err
		}
		if next < from || (next == from && len(recs) > 0) {
			r.t.Fatalf("ReadForward from %d went to %d with %d records", from, next, len(recs))
		}
		if next == from {
			return all, nil // the next record ends past upTo
		}
		all = append(all, recs...)
		from = next
	}
}

// readBackward reads everything before before, newest first.
func (r *rig) readBackward(l *eventlog.Log, before int64, maxBytes int) ([]eventlog.Record, error) {
	r.t.Helper()
	var all []eventlog.Record
	for {
		var recs []eventlog.Record
		var prev int64
		var err error
		done := false
		if e := l.ReadBackward(before, maxBytes, func(rs []eventlog.Record, p int64, e error) { recs, prev, err, done = rs, p, e, true }); e != nil {
			if errors.Is(e, eventlog.ErrNothingToRead) {
				return all, nil
			}
			return all, e
		}
		r.wait(&done, "ReadBackward")
		if err != nil {
			return all, err
		}
		if prev >= before {
			r.t.Fatalf("ReadBackward before %d made no progress (prev %d)", before, prev)
		}
		all = append(all, recs...)
		before = prev
	}
}

func (r *rig) readAt(l *eventlog.Log, p int64) (eventlog.Record, int64, error) {
	r.t.Helper()
	var rec eventlog.Record
	var next int64
	var err error
	done := false
	if e := l.ReadAt(p, func(x eventlog.Record, n int64, e error) { rec, next, err, done = x, n, e, true }); e != nil {
		return rec, 0, e
	}
	r.wait(&done, "ReadAt")
	return rec, next, err
}

// truncate truncates and waits.
func (r *rig) truncate(l *eventlog.Log, p int64) error {
	r.t.Helper()
	var err error
	done := false
	if e := l.Truncate(p, func(e error) { err, done = e, true }); e != nil {
		return e
	}
	r.wait(&done, "Truncate")
	return err
}

// checkAll reads the whole log forward (in two budgets) and backward and
// checks the three agree with want, byte for byte.
func (r *rig) checkAll(l *eventlog.Log, want []eventlog.Record) {
	r.t.Helper()
	for _, budget := range []int{1, 5000, 1 << 20} {
		got, err := r.readForward(l, 0, l.Durable(), budget)
		if err != nil {
			r.t.Fatalf("reading forward (budget %d): %v", budget, err)
		}
		sameRecords(r.t, "forward read", got, want)
	}
	back, err := r.readBackward(l, l.Durable(), 3000)
	if err != nil {
		r.t.Fatalf("reading backward: %v", err)
	}
	for i, j := 0, len(back)-1; i < j; i, j = i+1, j-1 {
		back[i], back[j] = back[j], back[i]
	}
	sameRecords(r.t, "backward read", back, want)
}

// encoded is a record's bytes as the log stores them.
func encoded(t tester, rec eventlog.Record) []byte {
	t.Helper()
	b, err := eventlog.Encode(nil, rec)
	if err != nil {
		t.Fatalf("encode record at %d: %v", rec.Position, err)
	}
	return b
}

func sameRecords(t tester, what string, got, want []eventlog.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Position != want[i].Position || got[i].Size != want[i].Size {
			t.Fatalf("%s: record %d at %d (%d bytes), want at %d (%d bytes)", what, i, got[i].Position, got[i].Size, want[i].Position, want[i].Size)
		}
		if !bytes.Equal(encoded(t, got[i]), encoded(t, want[i])) {
			t.Fatalf("%s: record %d at %d differs from the one appended", what, i, want[i].Position)
		}
	}
}

// event makes an event record with dataLen bytes of data drawn from rng.
func event(rng *rand.Rand, stream string, number int64, dataLen int) eventlog.Record {
	ev := eventlog.Event{
		Stream:  stream,
		Number:  number,
		Type:    "thing-happened",
		Data:    make([]byte, dataLen),
		Created: eventlog.Ticks(time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)) + number,
	}
	for i := range ev.Data {
		ev.Data[i] = byte(rng.Uint32())
	}
	for i := range ev.ID {
		ev.ID[i] = byte(rng.Uint32())
	}
	if number%3 == 0 {
		ev.Flags |= eventlog.FlagJSON
		ev.Metadata = []byte(fmt.Sprintf(`{"n":%d}`, number))
	}
	return eventlog.NewEvent(ev)
}

func smallDisk() disk.Config {
	c := disk.DefaultConfig()
	c.CrashSurvive, c.CrashTorn, c.CrashZeroed = 0.3, 0.3, 0.3
	return c
}
