package eventlog_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/sim/disk"
)

// A failed sync leaves the files' state unknown: the appends in flight
// fail, and so does every later write, while reads of what is durable go
// on. After a restart the log holds exactly what was acknowledged.
func TestFailedSyncRefusesLaterWrites(t *testing.T) {
	r := newRig(t, 11, smallDisk(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(11, 0))
	acked := fillLog(r, l, rng, 20, 900)

	r.store.SetFaults(0, 0, 1)
	var errs []error
	for i := range 3 { // the first flush carries one, the second waits behind it
		if err := l.Append([]eventlog.Record{event(rng, "doomed", int64(i), 300)}, func(err error) { errs = append(errs, err) }); err != nil {
			t.Fatal(err)
		}
	}
	for len(errs) < 3 && r.w.Step() {
	}
	for i, err := range errs {
		if !errors.Is(err, eventlog.ErrFailed) || !errors.Is(err, env.ErrIO) || !strings.Contains(err.Error(), "sync") {
			t.Fatalf("append %d during a failing sync: %v; want ErrFailed wrapping the I/O error of the sync", i, err)
		}
	}
	if l.Failed() == nil || l.End() != l.Durable() {
		t.Fatalf("after a failed sync: Failed() %v, end %d, durable %d", l.Failed(), l.End(), l.Durable())
	}
	r.store.SetFaults(0, 0, 0)
	if err := l.Append([]eventlog.Record{event(rng, "later", 0, 10)}, func(error) { t.Fatal("done ran for a refused append") }); !errors.Is(err, eventlog.ErrFailed) {
		t.Fatalf("append after a failed sync: %v, want ErrFailed", err)
	}
	if err := l.AppendRaw(l.End(), encoded(t, acked[0]), func(error) {}); !errors.Is(err, eventlog.ErrFailed) {
		t.Fatalf("raw append after a failed sync: %v, want ErrFailed", err)
	}
	if err := l.Truncate(0, func(error) {}); !errors.Is(err, eventlog.ErrFailed) {
		t.Fatalf("truncate after a failed sync: %v, want ErrFailed", err)
	}
	r.checkAll(l, acked)

	r.crash()
	l = r.mustOpen()
	r.checkAll(l, acked)
	acked = append(acked, fillLog(r, l, rng, 5, 900)...)
	r.checkAll(l, acked)
}

// A full disk fails the append that needs a new segment with a clear
// error and leaves the log as it was, readable and writable; once space
// frees up appends succeed again, and nothing acknowledged is lost.
func TestDiskFull(t *testing.T) {
	r := newRig(t, 12, smallDisk(), eventlog.Config{SegmentSize: 64 << 10})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(12, 0))
	acked := fillLog(r, l, rng, 80, 1500)
	r.store.SetCapacity(r.store.Used())

	// Appends into the preallocated segment still succeed; the first one
	// that needs another segment fails.
	var full error
	for i := 0; full == nil && i < 200; i++ {
		rec := []eventlog.Record{event(rng, "fill", int64(i), 1000)}
		if err := r.append(l, rec...); err != nil {
			full = err
		} else {
			acked = append(acked, rec...)
		}
	}
	if !errors.Is(full, env.ErrNoSpace) || errors.Is(full, eventlog.ErrFailed) ||
		!strings.Contains(full.Error(), "preallocating") || !strings.Contains(full.Error(), "a later append may succeed") {
		t.Fatalf("append on a full disk: %v; want ErrNoSpace from preallocating the segment, saying the log is usable", full)
	}
	if !l.OutOfSpace() {
		t.Fatal("OutOfSpace is false after an append failed for want of space")
	}
	if l.Failed() != nil || l.End() != l.Durable() || l.Durable() != acked[len(acked)-1].End() {
		t.Fatalf("after a full disk: Failed %v, end %d, durable %d; want a usable log ending at %d", l.Failed(), l.End(), l.Durable(), acked[len(acked)-1].End())
	}
	r.checkAll(l, acked)
	if err := r.append(l, event(rng, "again", 0, 1000)); !errors.Is(err, env.ErrNoSpace) {
		t.Fatalf("a second append on the still full disk: %v, want ErrNoSpace", err)
	}

	r.store.SetCapacity(0)
	acked = append(acked, fillLog(r, l, rng, 10, 1500)...)
	if l.OutOfSpace() {
		t.Fatal("OutOfSpace is still true after appends succeeded again")
	}
	r.checkAll(l, acked)
	r.crash()
	r.checkAll(r.mustOpen(), acked)
}

// Read errors are reported, never taken for the end of the log.
func TestReadErrorsAreReported(t *testing.T) {
	r := newRig(t, 13, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	recs := fillLog(r, l, rand.New(rand.NewPCG(13, 0)), 20, 900)
	r.store.SetFaults(1, 0, 0)
	if _, err := r.readForward(l, 0, l.Durable(), 5000); !errors.Is(err, env.ErrIO) {
		t.Fatalf("ReadForward on a failing disk: %v, want env.ErrIO", err)
	}
	if _, err := r.readBackward(l, l.Durable(), 5000); !errors.Is(err, env.ErrIO) {
		t.Fatalf("ReadBackward on a failing disk: %v, want env.ErrIO", err)
	}
	if _, _, err := r.readAt(l, recs[5].Position); !errors.Is(err, env.ErrIO) {
		t.Fatalf("ReadAt on a failing disk: %v, want env.ErrIO", err)
	}
	r.restart()
	if _, err := r.open(); !errors.Is(err, env.ErrIO) {
		t.Fatalf("Open on a failing disk: %v, want env.ErrIO", err)
	}
	r.store.SetFaults(0, 0, 0)
	r.restart()
	r.checkAll(r.mustOpen(), recs)
}

// A crash at any point of a truncation leaves a consistent log: either
// the old one, whole, or the truncated one; appends then go on from its
// end and survive the next crash.
func TestTruncateThenCrash(t *testing.T) {
	outcomes := map[string]int{}
	for steps := 0; ; steps++ {
		r := newRig(t, 14, smallDisk(), eventlog.Config{SegmentSize: smallSegment})
		l := r.mustOpen()
		rng := rand.New(rand.NewPCG(14, 0))
		recs := fillLog(r, l, rng, 40, 900)
		cut := 15
		old := l.Durable()
		finished := false
		if err := l.Truncate(recs[cut].Position, func(err error) {
			if err != nil {
				t.Fatalf("truncate: %v", err)
			}
			finished = true
		}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < steps && !finished; i++ {
			r.w.Step()
		}
		r.crash()
		l = r.mustOpen()
		var kept []eventlog.Record
		switch l.Durable() {
		case old:
			if finished {
				t.Fatalf("steps %d: the truncation completed, but the log came back whole", steps)
			}
			kept = recs
			outcomes["old"]++
		case recs[cut].Position:
			kept = recs[:cut]
			outcomes["truncated"]++
		default:
			t.Fatalf("steps %d: after a crash during truncation the durable end is %d; want %d or %d", steps, l.Durable(), old, recs[cut].Position)
		}
		r.checkAll(l, kept)
		for _, name := range r.store.Files() {
			var n int64
			if _, err := fmt.Sscanf(name, "log/segment-%d", &n); err == nil && n*smallSegment >= l.Durable() {
				t.Fatalf("steps %d: segment %s, past the durable end %d, survived recovery", steps, name, l.Durable())
			}
		}
		kept = append(kept, fillLog(r, l, rng, 8, 900)...)
		r.crash()
		r.checkAll(r.mustOpen(), kept)
		if finished {
			break
		}
	}
	t.Logf("crashes during truncation: %v", outcomes)
	if outcomes["old"] == 0 || outcomes["truncated"] < 2 {
		t.Fatalf("outcomes %v: the crashes did not land both before and after the new end became durable", outcomes)
	}
}

// A flipped bit in a synced record is reported as corruption with the
// record's range, never returned; TruncateDamaged cuts the log back to that
// record (which Truncate refuses: no valid record starts there), and the
// records appended after it are read back intact.
func TestTruncateDamagedCutsACorruptRecord(t *testing.T) {
	r := newRig(t, 21, smallDisk(), eventlog.Config{SegmentSize: 64 << 10})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(21, 0))
	acked := fillLog(r, l, rng, 20, 500)
	victim := acked[12]
	if err := r.store.FlipBit("log/segment-000000", 512+victim.Position+7, 3); err != nil {
		t.Fatal(err)
	}
	_, err := r.readForward(l, victim.Position, l.Durable(), 1<<20)
	var c *eventlog.CorruptError
	if !errors.As(err, &c) || c.From != victim.Position || c.To != victim.End() {
		t.Fatalf("reading the flipped record: %v; want a *CorruptError over [%d, %d)", err, victim.Position, victim.End())
	}
	if file, off := l.Location(c.From); file != "log/segment-000000" || off != 512+victim.Position {
		t.Fatalf("Location(%d) = %s, %d; want log/segment-000000, %d", c.From, file, off, 512+victim.Position)
	}
	if err := r.truncate(l, c.From); !errors.Is(err, eventlog.ErrPosition) {
		t.Fatalf("Truncate to the corrupt record: %v; want ErrPosition (it cannot verify the boundary)", err)
	}
	done := false
	if err := l.TruncateDamaged(c, func(e error) { err, done = e, true }); err != nil {
		t.Fatal(err)
	}
	r.wait(&done, "TruncateDamaged")
	if err != nil || l.Durable() != victim.Position {
		t.Fatalf("TruncateDamaged: %v, durable end %d; want nil and %d", err, l.Durable(), victim.Position)
	}
	acked = append(acked[:12], fillLog(r, l, rng, 5, 500)...)
	r.checkAll(l, acked)
	r.crash()
	r.checkAll(r.mustOpen(), acked)
}
