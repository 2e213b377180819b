package eventlog_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/world"
)

const smallSegment = 4096

// fillLog appends n events of random sizes up to maxData, one append of
// one to three records at a time, and returns them as appended.
func fillLog(r *rig, l *eventlog.Log, rng *rand.Rand, n, maxData int) []eventlog.Record {
	r.t.Helper()
	var all []eventlog.Record
	for len(all) < n {
		batch := make([]eventlog.Record, min(1+rng.IntN(3), n-len(all)))
		for i := range batch {
			batch[i] = event(rng, fmt.Sprintf("s-%d", rng.IntN(5)), int64(len(all)+i), rng.IntN(maxData+1))
		}
		all = append(all, r.mustAppend(l, batch...)...)
	}
	return all
}

// Records fill segments exactly (padding the rest), never straddle one,
// and read back forward, backward and one by one across the boundaries,
// before and after a restart.
func TestAppendsCrossSegments(t *testing.T) {
	r := newRig(t, 1, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(1, 2))
	recs := fillLog(r, l, rng, 150, 1500)
	recs = append(recs, r.mustAppend(l, eventlog.NewEpoch(eventlog.Epoch{Number: 3, PrevPosition: -1, Created: 99}))...)

	segsSeen := map[int64]bool{}
	for i, rec := range recs {
		if off := rec.Position % smallSegment; off+int64(rec.Size) > smallSegment {
			t.Fatalf("record %d at %d (%d bytes) straddles a segment boundary", i, rec.Position, rec.Size)
		}
		if i > 0 && rec.Position < recs[i-1].End() {
			t.Fatalf("record %d at %d overlaps the one before, which ends at %d", i, rec.Position, recs[i-1].End())
		}
		segsSeen[rec.Position/smallSegment] = true
	}
	if len(segsSeen) < 10 {
		t.Fatalf("records span only %d segments; the test must cross many boundaries", len(segsSeen))
	}
	if want := recs[len(recs)-1].End(); l.Durable() != want || l.End() != want {
		t.Fatalf("durable %d, end %d; want both at the last record's end %d", l.Durable(), l.End(), want)
	}
	r.checkAll(l, recs)

	for i, rec := range recs {
		got, next, err := r.readAt(l, rec.Position)
		if err != nil {
			t.Fatalf("ReadAt(%d): %v", rec.Position, err)
		}
		sameRecords(t, "ReadAt", []eventlog.Record{got}, []eventlog.Record{rec})
		if next != rec.End() {
			t.Fatalf("ReadAt(%d) next %d, want %d", rec.Position, next, rec.End())
		}
		// Where padding follows, reading at the padding lands on the next
		// segment's first record.
		if i+1 < len(recs) && recs[i+1].Position != rec.End() {
			got, _, err := r.readAt(l, rec.End())
			if err != nil || got.Position != recs[i+1].Position {
				t.Fatalf("ReadAt(padding at %d) gave the record at %d, %v; want the one at %d", rec.End(), got.Position, err, recs[i+1].Position)
			}
		}
	}

	files := r.store.Files()
	for n := range int64(len(segsSeen)) {
		name := fmt.Sprintf("log/segment-%06d", n)
		data, ok := r.store.Contents(name)
		if !ok {
			t.Fatalf("segment file %s is missing; files: %v", name, files)
		}
		if len(data) != 512+smallSegment || string(data[:4]) != "ANSG" || binary.LittleEndian.Uint64(data[8:]) != uint64(n) {
			t.Fatalf("segment %s: %d bytes, header %x; want %d bytes, magic ANSG, number %d", name, len(data), data[:24], 512+smallSegment, n)
		}
	}

	r.restart()
	l2 := r.mustOpen()
	if l2.Durable() != l.Durable() {
		t.Fatalf("after restart the durable end is %d, want %d", l2.Durable(), l.Durable())
	}
	r.checkAll(l2, recs)
	more := fillLog(r, l2, rng, 20, 1500)
	r.checkAll(l2, append(recs, more...))
}

// Reads stop at the bound the caller gives and at the durable end, say
// where to continue, and respect the byte budget while always making
// progress.
func TestReadBounds(t *testing.T) {
	r := newRig(t, 2, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	for _, read := range []func() error{
		func() error { return l.ReadForward(0, math.MaxInt64, 100, func([]eventlog.Record, int64, error) {}) },
		func() error { return l.ReadBackward(math.MaxInt64, 100, func([]eventlog.Record, int64, error) {}) },
		func() error { return l.ReadAt(0, func(eventlog.Record, int64, error) {}) },
	} {
		if err := read(); !errors.Is(err, eventlog.ErrNothingToRead) {
			t.Fatalf("reading an empty log: %v, want ErrNothingToRead", err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	recs := fillLog(r, l, rng, 40, 700)

	// A bound at a record boundary inside the log.
	cut := recs[25].Position
	got, err := r.readForward(l, 0, cut, 2000)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "read up to a bound", got, recs[:25])
	// A bound inside a record stops before that record.
	got, err = r.readForward(l, 0, cut+5, 2000)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "read up to a bound inside a record", got, recs[:25])
	// A bound past the durable end means the durable end.
	got, err = r.readForward(l, recs[30].Position, math.MaxInt64, 2000)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "read past the end", got, recs[30:])

	// The budget: a tiny one still returns one record per call.
	var first []eventlog.Record
	var next int64
	done := false
	if err := l.ReadForward(0, math.MaxInt64, 1, func(rs []eventlog.Record, n int64, _ error) { first, next, done = rs, n, true }); err != nil {
		t.Fatal(err)
	}
	r.wait(&done, "ReadForward")
	if len(first) != 1 || next != recs[0].End() {
		t.Fatalf("ReadForward with a 1-byte budget gave %d records, next %d; want 1 record, next %d", len(first), next, recs[0].End())
	}
	budget := recs[0].Size + recs[1].Size + recs[2].Size
	done = false
	if err := l.ReadForward(0, math.MaxInt64, budget, func(rs []eventlog.Record, n int64, _ error) { first, done = rs, true }); err != nil {
		t.Fatal(err)
	}
	r.wait(&done, "ReadForward")
	if len(first) != 3 {
		t.Fatalf("a budget of exactly three records' bytes gave %d records", len(first))
	}

	if err := l.ReadAt(l.Durable(), func(eventlog.Record, int64, error) {}); !errors.Is(err, eventlog.ErrNothingToRead) {
		t.Fatalf("ReadAt at the durable end: %v, want ErrNothingToRead", err)
	}
	if err := l.ReadForward(-1, 10, 10, func([]eventlog.Record, int64, error) {}); err == nil {
		t.Fatal("a negative position was accepted")
	}
	// Not a record boundary: the checksum, which covers the position,
	// says so.
	_, _, err = r.readAt(l, recs[3].Position+1)
	var ce *eventlog.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("ReadAt off a boundary: %v, want a *CorruptError", err)
	}
}

// Many concurrent appenders share syncs: each group commit carries every
// append that arrived while the previous one was in flight.
func TestGroupCommit(t *testing.T) {
	r := newRig(t, 3, disk.DefaultConfig(), eventlog.Config{SegmentSize: 1 << 20})
	l := r.mustOpen()
	const appenders, rounds = 64, 30
	rng := rand.New(rand.NewPCG(5, 6))
	acked := make([]int, appenders)
	var order []int64
	var appendOne func(a int)
	appendOne = func(a int) {
		recs := []eventlog.Record{event(rng, fmt.Sprintf("a-%d", a), int64(acked[a]), 100+rng.IntN(200))}
		if err := l.Append(recs, func(err error) {
			if err != nil {
				t.Fatalf("appender %d: %v", a, err)
			}
			order = append(order, recs[0].Position)
			if acked[a]++; acked[a] < rounds {
				appendOne(a)
			}
		}); err != nil {
			t.Fatalf("appender %d: %v", a, err)
		}
	}
	for a := range appenders {
		appendOne(a)
	}
	for r.w.Step() {
	}
	for a, n := range acked {
		if n != rounds {
			t.Fatalf("appender %d got %d acknowledgements, want %d", a, n, rounds)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("acknowledgement %d is for position %d, after one for %d: acknowledgements must come in position order", i, order[i], order[i-1])
		}
	}
	s := l.Stats()
	perAppend := float64(s.Syncs()) / float64(s.Appends)
	t.Logf("group commit, %d concurrent appenders: %d appends, %d flushes, %d data + %d checkpoint + %d directory syncs = %.4f syncs per append",
		appenders, s.Appends, s.Flushes, s.DataSyncs, s.CheckpointSyncs, s.DirSyncs, perAppend)
	if s.Appends != appenders*rounds || perAppend > 0.1 {
		t.Fatalf("%d appends cost %d syncs (%.3f per append); group commit must keep it at most 0.1", s.Appends, s.Syncs(), perAppend)
	}
}

// The bytes waiting for the disk are bounded: past the bound an append is
// refused at once with a clear error, and accepted again once earlier
// ones are durable.
func TestBacklogIsBounded(t *testing.T) {
	r := newRig(t, 4, disk.DefaultConfig(), eventlog.Config{SegmentSize: 64 << 10, MaxPendingBytes: 10_000})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(7, 8))
	accepted, acked := 0, 0
	var refused error
	for i := 0; i < 100 && refused == nil; i++ {
		if err := l.Append([]eventlog.Record{event(rng, "s", int64(i), 900)}, func(err error) {
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			acked++
		}); err != nil {
			refused = err
		} else {
			accepted++
		}
	}
	if !errors.Is(refused, eventlog.ErrBacklog) || !strings.Contains(refused.Error(), "limit 10000") {
		t.Fatalf("after %d appends the backlog gave %v; want ErrBacklog naming the limit", accepted, refused)
	}
	if accepted < 5 || accepted > 11 {
		t.Fatalf("%d appends of about 1000 bytes were accepted under a 10000-byte bound", accepted)
	}
	for r.w.Step() {
	}
	if acked != accepted {
		t.Fatalf("%d of %d accepted appends were acknowledged", acked, accepted)
	}
	r.mustAppend(l, event(rng, "s", 1000, 900))
}

// Oversized records are refused at once, naming the limit; with small
// segments the limit is what a segment holds.
func TestAppendRejectsOversizedRecords(t *testing.T) {
	r := newRig(t, 5, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	if l.MaxRecord() != smallSegment-eventlog.MinRecordSize {
		t.Fatalf("MaxRecord %d, want %d", l.MaxRecord(), smallSegment-eventlog.MinRecordSize)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	err := l.Append([]eventlog.Record{event(rng, "s", 0, 10), event(rng, "big", 1, smallSegment)}, func(error) { t.Fatal("done ran for a refused append") })
	if !errors.Is(err, eventlog.ErrRecordTooLarge) || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("oversized record: %v; want ErrRecordTooLarge naming the record and the segment size", err)
	}
	if l.End() != 0 {
		t.Fatalf("a refused append moved the end to %d", l.End())
	}
	// The largest record that fits fills a segment but for room to pad.
	max := event(rng, "m", 0, 0)
	max.Event.Data = make([]byte, l.MaxRecord()-200)
	b, _ := eventlog.Encode(nil, max)
	max.Event.Data = make([]byte, len(max.Event.Data)+l.MaxRecord()-len(b))
	recs := r.mustAppend(l, event(rng, "s", 0, 10), max)
	if recs[1].Size != l.MaxRecord() || recs[1].Position != smallSegment {
		t.Fatalf("largest record: %d bytes at %d, want %d bytes at %d", recs[1].Size, recs[1].Position, l.MaxRecord(), smallSegment)
	}
	r.checkAll(l, recs)
}

// A replica that writes the leader's raw records at the leader's positions
// ends up with the same log, byte for byte, file for file.
func TestAppendRawReplicates(t *testing.T) {
	w := world.New(6, nil)
	cfg := eventlog.Config{SegmentSize: smallSegment}
	leader := newRigIn(t, w, "leader", disk.DefaultConfig(), cfg)
	replica := newRigIn(t, w, "replica", disk.DefaultConfig(), cfg)
	ll, rl := leader.mustOpen(), replica.mustOpen()
	rng := rand.New(rand.NewPCG(9, 10))
	recs := fillLog(leader, ll, rng, 120, 1200)
	ships := 0
	for rl.Durable() < ll.Durable() {
		var raw []byte
		var first, next int64
		var err error
		done := false
		if e := ll.ReadRaw(rl.End(), ll.Durable(), 5000, func(b []byte, f, n int64, e error) { raw, first, next, err, done = b, f, n, e, true }); e != nil {
			t.Fatal(e)
		}
		leader.wait(&done, "ReadRaw")
		if err != nil {
			t.Fatal(err)
		}
		if first+int64(len(raw)) != next || len(raw) == 0 {
			t.Fatalf("ReadRaw gave %d bytes from %d, next %d", len(raw), first, next)
		}
		done = false
		if e := rl.AppendRaw(first, raw, func(e error) { err, done = e, true }); e != nil {
			t.Fatalf("AppendRaw(%d, %d bytes) with the log at %d: %v", first, len(raw), rl.End(), e)
		}
		replica.wait(&done, "AppendRaw")
		if err != nil {
			t.Fatal(err)
		}
		ships++
	}
	replica.checkAll(rl, recs)
	for _, name := range leader.store.Files() {
		if !strings.Contains(name, "segment-") {
			continue // checkpoints differ in how many writes led to the same value
		}
		a, _ := leader.store.Contents(name)
		b, ok := replica.store.Contents(name)
		if !ok || !bytes.Equal(a, b) {
			t.Fatalf("replica's %s differs from the leader's (present %v)", name, ok)
		}
	}
	t.Logf("replicated %d records (%d bytes) in %d shipments", len(recs), ll.Durable(), ships)

	// What a replica refuses, before writing anything.
	more := fillLog(leader, ll, rng, 3, 100)
	var raw []byte
	for _, rec := range more {
		raw = append(raw, encoded(t, rec)...)
	}
	end := rl.End()
	for _, c := range []struct {
		name string
		pos  int64
		raw  []byte
		want error
	}{
		{"wrong position", end + 1, raw, eventlog.ErrPosition},
		{"flipped bit", end, flip(raw, 40), eventlog.ErrBadRecord},
		{"partial record", end, raw[:len(raw)-3], eventlog.ErrBadRecord},
		{"sealed for another position", end, reseal(t, more, 64), eventlog.ErrBadRecord},
	} {
		err := rl.AppendRaw(c.pos, c.raw, func(error) { t.Fatalf("%s: done ran for a refused raw append", c.name) })
		if !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
		if rl.End() != end {
			t.Fatalf("%s: a refused raw append moved the end from %d to %d", c.name, end, rl.End())
		}
	}
}

func flip(b []byte, bit int) []byte {
	c := bytes.Clone(b)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}

// reseal encodes recs as if they started delta bytes later.
func reseal(t *testing.T, recs []eventlog.Record, delta int64) []byte {
	var raw []byte
	for _, rec := range recs {
		rec.Position += delta
		raw = append(raw, encoded(t, rec)...)
	}
	return raw
}

// Truncate cuts back to a record boundary: reads end there, the segments
// past it are gone, and appends continue from it.
func TestTruncate(t *testing.T) {
	r := newRig(t, 7, disk.DefaultConfig(), eventlog.Config{SegmentSize: smallSegment})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(11, 12))
	recs := fillLog(r, l, rng, 60, 900)

	if err := r.truncate(l, recs[20].Position+3); !errors.Is(err, eventlog.ErrPosition) {
		t.Fatalf("truncate off a boundary: %v, want ErrPosition", err)
	}
	if err := l.Truncate(l.Durable()+1, func(error) {}); !errors.Is(err, eventlog.ErrPosition) {
		t.Fatalf("truncate past the durable end: %v, want ErrPosition", err)
	}
	// Busy while an append is in flight.
	if err := l.Append([]eventlog.Record{event(rng, "s", 0, 10)}, func(error) {}); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(0, func(error) {}); !errors.Is(err, eventlog.ErrBusy) {
		t.Fatalf("truncate with an append in flight: %v, want ErrBusy", err)
	}
	for r.w.Step() {
	}

	cut := recs[20].Position
	if err := r.truncate(l, cut); err != nil {
		t.Fatal(err)
	}
	if l.Durable() != cut || l.End() != cut {
		t.Fatalf("after truncating to %d: durable %d, end %d", cut, l.Durable(), l.End())
	}
	r.checkAll(l, recs[:20])
	lastSeg := (cut - 1) / smallSegment
	for _, name := range r.store.DurableFiles() {
		var n int64
		if _, err := fmt.Sscanf(name, "log/segment-%d", &n); err == nil && n > lastSeg {
			t.Fatalf("segment %s past the truncation point %d survived", name, cut)
		}
	}
	more := fillLog(r, l, rng, 30, 900)
	kept := append(append([]eventlog.Record(nil), recs[:20]...), more...)
	r.checkAll(l, kept)
	r.restart()
	r.checkAll(r.mustOpen(), kept)

	// Truncating to a segment boundary removes the segment starting there.
	l = r.mustOpen()
	seg := (l.Durable()/smallSegment - 1) * smallSegment
	var keep []eventlog.Record
	for _, rec := range kept {
		if rec.Position < seg {
			keep = append(keep, rec)
		}
	}
	if err := r.truncate(l, seg); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.store.Contents(fmt.Sprintf("log/segment-%06d", seg/smallSegment)); ok {
		t.Fatalf("the segment starting at the truncation point %d survived", seg)
	}
	r.checkAll(l, keep)
	keep = append(keep, fillLog(r, l, rng, 10, 900)...)
	r.checkAll(l, keep)
}
