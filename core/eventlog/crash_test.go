package eventlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/sim/disk"
)

// Random appends, some concurrent, cut by power losses at random virtual
// times, again and again. After every crash: every acknowledged record is
// present, byte for byte; whatever else is visible was appended at exactly
// that position (a flush can be durable before its acknowledgement is
// delivered); nothing durable is ever lost or changed; and reading never
// fails.
func TestCrashRecoveryProperty(t *testing.T) {
	// What the runs exercised, so the test shows it is not vacuous.
	var crashes, ackedTotal, lostTotal, lateDurable, pagesDamaged, segmentsCrossed int
	defer func() {
		t.Logf("%d crashes: %d acknowledged records kept, %d unacknowledged lost, %d durable before their acknowledgement, %d torn or zeroed pages, %d segments filled",
			crashes, ackedTotal, lostTotal, lateDurable, pagesDamaged, segmentsCrossed)
		if !t.Failed() && (ackedTotal == 0 || lostTotal == 0 || pagesDamaged == 0 || segmentsCrossed == 0) {
			t.Errorf("the runs never exercised one of the cases the property is about")
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		segment := rapid.SampledFrom([]int64{4096, 8192, 65536}).Draw(rt, "segment")
		dcfg := disk.DefaultConfig()
		dcfg.CrashSurvive = rapid.Float64Range(0, 0.4).Draw(rt, "survive")
		dcfg.CrashTorn = rapid.Float64Range(0, 0.3).Draw(rt, "torn")
		dcfg.CrashZeroed = rapid.Float64Range(0, 0.3).Draw(rt, "zeroed")
		r := newRig(rt, seed, dcfg, eventlog.Config{SegmentSize: segment})
		rng := rand.New(rand.NewPCG(seed, 99))
		maxData := int(min(segment/3, 2500))

		var known []eventlog.Record // verified durable by an earlier recovery
		l := r.mustOpen()
		rounds := rapid.IntRange(1, 6).Draw(rt, "rounds")
		for round := range rounds {
			attempted := map[int64][]byte{}
			var acked []eventlog.Record
			appenders := rapid.IntRange(1, 6).Draw(rt, "appenders")
			for a := range appenders {
				left := rapid.IntRange(1, 6).Draw(rt, "appends")
				var next func()
				next = func() {
					recs := make([]eventlog.Record, 1+rng.IntN(3))
					for i := range recs {
						recs[i] = event(rng, fmt.Sprintf("r%d-a%d", round, a), int64(i), rng.IntN(maxData+1))
					}
					err := l.Append(recs, func(err error) {
						if err != nil {
							rt.Fatalf("round %d: append failed on a healthy disk: %v", round, err)
						}
						acked = append(acked, recs...)
						if left--; left > 0 {
							next()
						}
					})
					if err != nil {
						rt.Fatalf("round %d: append refused: %v", round, err)
					}
					for _, rec := range recs {
						attempted[rec.Position] = encoded(rt, rec)
					}
				}
				next()
			}
			// Drawn from the seeded stream rather than by rapid, whose draws
			// lean toward small values: crashes should land anywhere in the
			// run of appends.
			crashAt := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
			r.w.RunUntil(r.w.Now() + crashAt)
			before := l.Durable()
			r.crash()

			l = r.mustOpen()
			w := l.Durable()
			if w < before {
				rt.Fatalf("round %d: the durable end went back from %d to %d across a crash", round, before, w)
			}
			got, err := r.readForward(l, 0, w, 1+rng.IntN(9000))
			if err != nil {
				rt.Fatalf("round %d: reading after recovery: %v", round, err)
			}
			if len(got) < len(known) {
				rt.Fatalf("round %d: %d records after recovery, %d were durable before", round, len(got), len(known))
			}
			sameRecords(rt, "durable records after a crash", got[:len(known)], known)
			byPos := map[int64][]byte{}
			for _, rec := range got[len(known):] {
				b := encoded(rt, rec)
				if want, ok := attempted[rec.Position]; !ok || !bytes.Equal(b, want) {
					rt.Fatalf("round %d: the record at %d was never appended there (attempted there: %v)", round, rec.Position, ok)
				}
				byPos[rec.Position] = b
			}
			for _, rec := range acked {
				if b, ok := byPos[rec.Position]; !ok || !bytes.Equal(b, attempted[rec.Position]) {
					rt.Fatalf("round %d: acknowledged record at %d (%d bytes) is missing after the crash (durable end %d)", round, rec.Position, rec.Size, w)
				}
			}
			crashes++
			ackedTotal += len(acked)
			lostTotal += len(attempted) - (len(got) - len(known))
			lateDurable += len(got) - len(known) - len(acked)
			if len(got) > 0 && got[len(got)-1].End() != w {
				rt.Fatalf("round %d: the last record ends at %d, the durable end is %d", round, got[len(got)-1].End(), w)
			}
			if l.End() != w {
				rt.Fatalf("round %d: after recovery the end is %d, the durable end %d", round, l.End(), w)
			}
			back, err := r.readBackward(l, w, 1+rng.IntN(9000))
			if err != nil {
				rt.Fatalf("round %d: reading backward after recovery: %v", round, err)
			}
			if len(back) != len(got) {
				rt.Fatalf("round %d: %d records backward, %d forward", round, len(back), len(got))
			}
			known = got
		}
		s := r.store.Stats()
		pagesDamaged += int(s.PagesTorn + s.PagesZeroed)
		segmentsCrossed += int(l.Durable() / segment)
	})
}

// A group commit cut by a crash after its data was written and before it
// was synced: whatever the crash did to those pages (torn, zeroed, lost,
// or kept whole), the log recovers to exactly what was acknowledged, and
// the next appends overwrite the leftovers.
func TestTornZeroedAndSurvivingTails(t *testing.T) {
	fates := []struct {
		name                   string
		survive, torn, zeroed  float64
		statTorn, statZeroedOK bool
	}{
		{"torn", 0, 1, 0, true, false},
		{"zeroed", 0, 0, 1, false, true},
		{"lost", 0, 0, 0, false, false},
		{"survived", 1, 0, 0, false, false},
		{"mixed", 0.3, 0.3, 0.3, false, false},
	}
	for _, f := range fates {
		t.Run(f.name, func(t *testing.T) {
			var torn, zeroed uint64
			for seed := uint64(1); seed <= 12; seed++ {
				dcfg := disk.DefaultConfig()
				dcfg.CrashSurvive, dcfg.CrashTorn, dcfg.CrashZeroed = f.survive, f.torn, f.zeroed
				r := newRig(t, seed, dcfg, eventlog.Config{SegmentSize: 8192})
				l := r.mustOpen()
				rng := rand.New(rand.NewPCG(seed, 5))
				acked := fillLog(r, l, rng, 5+int(seed), 1500)

				issued := r.syncsIssued
				unsynced := []eventlog.Record{event(rng, "tail", 0, 1200), event(rng, "tail", 1, 3000), event(rng, "tail", 2, 700)}
				if err := l.Append(unsynced, func(err error) { t.Fatalf("seed %d: an append whose sync never ran was acknowledged (%v)", seed, err) }); err != nil {
					t.Fatal(err)
				}
				for r.syncsIssued == issued {
					if !r.w.Step() {
						t.Fatal("the flush never asked for a sync")
					}
				}
				w := l.Durable()
				r.crash()
				l = r.mustOpen()
				if l.Durable() != w || l.End() != w {
					t.Fatalf("seed %d: after the crash the durable end is %d and the end %d, want both %d", seed, l.Durable(), l.End(), w)
				}
				r.checkAll(l, acked)
				// The records past W may be intact on disk, but they are
				// not part of the log; new appends take their place.
				more := fillLog(r, l, rng, 4, 600)
				if p := more[0].Position; p < w || p >= unsynced[0].End() {
					t.Fatalf("seed %d: the next append went to %d; want it at the durable end %d (or the next segment), where the lost append was", seed, p, w)
				}
				acked = append(acked, more...)
				r.crash()
				r.checkAll(r.mustOpen(), acked)
				s := r.store.Stats()
				torn += s.PagesTorn
				zeroed += s.PagesZeroed
			}
			if f.statTorn && torn == 0 || f.statZeroedOK && zeroed == 0 {
				t.Fatalf("no page was torn (%d) or zeroed (%d): the test did not exercise what it claims", torn, zeroed)
			}
		})
	}
}

// A bit flipped in a synced record of the last segment is corruption:
// Open reports exactly that record's range, still returns the log, and
// everything around the damage reads.
func TestBitFlipInTailIsCorruption(t *testing.T) {
	for _, c := range []struct {
		name string
		off  int64 // inside the victim record
		bit  uint
	}{
		{"body", 20, 3},
		{"length prefix", 0, 4},
		{"length suffix", -2, 1},
		{"checksum", -6, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, 8, disk.DefaultConfig(), eventlog.Config{SegmentSize: 64 << 10})
			l := r.mustOpen()
			rng := rand.New(rand.NewPCG(8, 8))
			recs := fillLog(r, l, rng, 30, 800)
			victim := recs[12]
			off := c.off
			if off < 0 {
				off += int64(victim.Size)
			}
			if err := r.store.FlipBit("log/segment-000000", 512+victim.Position+off, c.bit); err != nil {
				t.Fatal(err)
			}
			r.restart()
			l, err := r.open()
			var ce *eventlog.CorruptError
			if !errors.As(err, &ce) || ce.From != victim.Position || ce.To != victim.End() {
				t.Fatalf("open after a flipped bit: %v; want a *CorruptError for [%d, %d)", err, victim.Position, victim.End())
			}
			if want := fmt.Sprintf("corrupt data in log positions [%d, %d)", victim.Position, victim.End()); !strings.Contains(err.Error(), want) {
				t.Fatalf("the error %q does not say %q", err, want)
			}
			if l == nil || l.Durable() != recs[len(recs)-1].End() {
				t.Fatalf("open with corruption returned log %v; want the log, its durable end untouched", l)
			}
			before, err := r.readForward(l, 0, victim.Position, 4000)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, "records before the damage", before, recs[:12])
			after, err := r.readForward(l, victim.End(), l.Durable(), 4000)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, "records after the damage", after, recs[13:])
			_, _, err = r.readAt(l, victim.Position)
			if !errors.As(err, &ce) || ce.From != victim.Position {
				t.Fatalf("reading the damaged record: %v, want a *CorruptError from %d", err, victim.Position)
			}
		})
	}
}

// Damage in an earlier segment is found when it is read, with its range;
// a damaged or missing segment header is found by Open.
func TestCorruptionInEarlierSegments(t *testing.T) {
	r := newRig(t, 9, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(9, 9))
	recs := fillLog(r, l, rng, 60, 900)
	var victim eventlog.Record
	for _, rec := range recs {
		if rec.Position/smallSegment == 2 {
			victim = rec
			break
		}
	}
	if err := r.store.FlipBit("log/segment-000002", 512+victim.Position%smallSegment+9, 0); err != nil {
		t.Fatal(err)
	}
	r.restart()
	l = r.mustOpen()
	_, err := r.readForward(l, 0, l.Durable(), 100_000)
	var ce *eventlog.CorruptError
	if !errors.As(err, &ce) || ce.From != victim.Position || ce.To != victim.End() {
		t.Fatalf("reading over a flipped bit in segment 2: %v; want a *CorruptError for [%d, %d)", err, victim.Position, victim.End())
	}
	if _, err := r.readBackward(l, l.Durable(), 100_000); !errors.As(err, &ce) || ce.From != victim.Position {
		t.Fatalf("reading backward over it: %v; want a *CorruptError from %d", err, victim.Position)
	}

	// A damaged header of segment 1.
	if err := r.store.FlipBit("log/segment-000001", 10, 2); err != nil {
		t.Fatal(err)
	}
	r.restart()
	_, err = r.open()
	if !errors.As(err, &ce) || ce.From != smallSegment || ce.To != 2*smallSegment || !strings.Contains(ce.Reason, "header") {
		t.Fatalf("open with a damaged segment header: %v; want a *CorruptError for [%d, %d) about the header", err, smallSegment, 2*smallSegment)
	}

	// A missing segment.
	done := false
	r.view.Delete("log/segment-000003", func(err error) {
		if err != nil {
			t.Fatal(err)
		}
		r.view.SyncDir("log", func(error) { done = true })
	})
	r.wait(&done, "delete")
	r.restart()
	_, err = r.open()
	if !errors.As(err, &ce) || ce.From != smallSegment || ce.To != 4*smallSegment || !strings.Contains(err.Error(), "segment-000003 is missing") {
		t.Fatalf("open with segments 1 damaged and 3 missing: %v; want a *CorruptError spanning both", err)
	}
}

// A segment written by another format version is refused with a message
// naming both versions; so is a changed segment size.
func TestFormatVersionMismatchRefused(t *testing.T) {
	r := newRig(t, 10, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	fillLog(r, l, rand.New(rand.NewPCG(1, 0)), 10, 500)

	r.restart()
	r.cfg.SegmentSize = 2 * smallSegment
	_, err := r.open()
	if err == nil || !strings.Contains(err.Error(), "segment size cannot change") || !strings.Contains(err.Error(), "set SegmentSize to 4096") {
		t.Fatalf("open with another segment size: %v; want a refusal naming the size on disk", err)
	}
	r.cfg.SegmentSize = smallSegment

	done := false
	r.view.WriteAt("log/segment-000000", 4, []byte{2, 0}, func(err error) {
		if err != nil {
			t.Fatal(err)
		}
		r.view.Sync("log/segment-000000", func(error) { done = true })
	})
	r.wait(&done, "write")
	r.restart()
	l, err = r.open()
	var fe *eventlog.FormatVersionError
	if !errors.As(err, &fe) || fe.Found != 2 || l != nil {
		t.Fatalf("open of a version-2 segment: log %v, %v; want no log and a *FormatVersionError", l, err)
	}
	if want := "database written by format version 2; this build reads version 1"; !strings.Contains(err.Error(), want) {
		t.Fatalf("the error %q does not say %q", err, want)
	}
}

// A damaged header of the last segment is reported over the segment's
// durable range; nothing is cut off.
func TestDamagedTailHeader(t *testing.T) {
	r := newRig(t, 15, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	recs := fillLog(r, l, rand.New(rand.NewPCG(15, 0)), 20, 900)
	w := l.Durable()
	tail := (w - 1) / smallSegment
	if err := r.store.FlipBit(fmt.Sprintf("log/segment-%06d", tail), 17, 5); err != nil {
		t.Fatal(err)
	}
	r.restart()
	l, err := r.open()
	var ce *eventlog.CorruptError
	if !errors.As(err, &ce) || ce.From != tail*smallSegment || ce.To != w || l == nil || l.Durable() != w {
		t.Fatalf("open with the last segment's header damaged: log %v, %v; want the log, durable end %d, and a *CorruptError for [%d, %d)", l, err, w, tail*smallSegment, w)
	}
	var before []eventlog.Record
	for _, rec := range recs {
		if rec.Position < tail*smallSegment {
			before = append(before, rec)
		}
	}
	got, err := r.readForward(l, 0, tail*smallSegment, 5000)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "records before the damaged segment", got, before)
}

// writer.chk is created, and its creation made durable, before the first
// segment is: a log with segments and no writer.chk has lost its durable
// end to something other than a crash. Open must say so, not take the end
// as 0 and delete every segment.
func TestMissingWriterCheckpointIsRefused(t *testing.T) {
	r := newRig(t, 9, disk.DefaultConfig(), eventlog.Config{SegmentSize: 16 << 10})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(9, 9))
	fillLog(r, l, rng, 100, 900)
	if l.Durable() < 2*(16<<10) {
		t.Fatalf("the log ends at %d; the test needs more than one segment", l.Durable())
	}
	deleted := false
	var derr error
	r.view.Delete("log/writer.chk", func(err error) { derr, deleted = err, true })
	r.wait(&deleted, "Delete")
	if derr != nil {
		t.Fatal(derr)
	}
	r.restart()
	l, err := r.open()
	if err == nil || l != nil {
		t.Fatalf("open without writer.chk: log %v, error %v; want an error and no log", l, err)
	}
	if !strings.Contains(err.Error(), "writer.chk") {
		t.Fatalf("the error %q does not name writer.chk", err)
	}
	listed := false
	var names []string
	r.view.List("log", func(n []string, err error) { names, listed = n, true })
	r.wait(&listed, "List")
	if len(names) < 2 || slices.Contains(names, "writer.chk") {
		t.Fatalf("the log directory holds %v after the refused open; its segments must be left alone, and no writer.chk made", names)
	}
	// Refused again: an empty writer.chk left by the first attempt would
	// let the second take the end as 0.
	r.restart()
	if l, err := r.open(); err == nil || l != nil {
		t.Fatalf("second open without writer.chk: log %v, error %v; want an error and no log", l, err)
	}
}
