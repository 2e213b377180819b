package node

import (
	"slices"
	"testing"

	"github.com/annal-db/annal/core/eventlog"
)

// ev makes an event record of size bytes at pos; continued marks it as not
// the last of its append.
func ev(pos int64, size int, continued bool) eventlog.Record {
	r := eventlog.NewEvent(eventlog.Event{Stream: "s"})
	if continued {
		r.Event.Flags |= eventlog.FlagContinued
	}
	r.Position, r.Size = pos, size
	return r
}

func positions(recs []eventlog.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Position)
	}
	return out
}

// expect checks what take returned: the positions of the records, and next.
func expect(t *testing.T, recs []eventlog.Record, next int64, wantPos []int64, wantNext int64) {
	t.Helper()
	if got := positions(recs); !slices.Equal(got, wantPos) || next != wantNext {
		t.Fatalf("take returned records at %v and next %d; want %v and %d", got, next, wantPos, wantNext)
	}
}

func TestUnappliedTakesWholeAppendsUpToTheCommitPoint(t *testing.T) {
	var u unapplied
	// Two appends: [0,10) alone, then [10,20)+[20,30) together.
	u.add(0, []eventlog.Record{ev(0, 10, false)})
	u.add(0, []eventlog.Record{ev(10, 10, true), ev(20, 10, false)})

	recs, next := u.take(0, 0, 25) // the commit point inside the second append
	expect(t, recs, next, []int64{0}, 10)

	recs, next = u.take(0, 10, 25) // still inside: nothing yet
	expect(t, recs, next, nil, 10)

	recs, next = u.take(0, 10, 30)
	expect(t, recs, next, []int64{10, 20}, 30)
	if u.bytes != 0 {
		t.Fatalf("%d bytes still counted after everything was taken", u.bytes)
	}
}

func TestUnappliedLeavesGapsToTheLog(t *testing.T) {
	var u unapplied
	u.add(0, []eventlog.Record{ev(0, 10, false)})
	// The log padded [10,100): the next append starts a segment.
	u.add(0, []eventlog.Record{ev(100, 10, false)})

	recs, next := u.take(0, 0, 110)
	expect(t, recs, next, []int64{0}, 10)

	recs, next = u.take(0, 10, 110)
	expect(t, recs, next, nil, 10)

	// The log read applied up to 110: nothing is applied twice.
	if recs, _ = u.take(0, 110, 110); len(recs) != 0 {
		t.Fatalf("records below the applied position returned: %v", positions(recs))
	}

	// Records that do not start at the applied position are not used.
	u.add(0, []eventlog.Record{ev(200, 10, false)})
	recs, next = u.take(0, 150, 300)
	expect(t, recs, next, nil, 150)
}

func TestUnappliedForgetsAnOlderLogGeneration(t *testing.T) {
	var u unapplied
	u.add(0, []eventlog.Record{ev(0, 10, false), ev(10, 10, false)})
	// A truncation (generation 1) may have cut and rewritten [10,20).
	recs, next := u.take(1, 10, 20)
	expect(t, recs, next, nil, 10)
	if len(u.recs) != 0 {
		t.Fatalf("records of the older generation kept: %v", positions(u.recs))
	}
}

func TestUnappliedIsBounded(t *testing.T) {
	var u unapplied
	u.add(0, []eventlog.Record{ev(0, unappliedBytes, false)})
	u.add(0, []eventlog.Record{ev(unappliedBytes, 1, false)})
	if len(u.recs) != 0 || u.bytes != 0 {
		t.Fatalf("over the bound everything kept must be dropped; kept %v (%d bytes)", positions(u.recs), u.bytes)
	}

	recs, next := u.take(0, 0, unappliedBytes+1)
	expect(t, recs, next, nil, 0)
}

func TestUnappliedNeverRewritesWhatItReturned(t *testing.T) {
	var u unapplied
	u.add(0, []eventlog.Record{ev(0, 10, false)})
	first, _ := u.take(0, 0, 10)
	u.add(0, []eventlog.Record{ev(10, 10, false)})
	if len(first) != 1 || first[0].Position != 0 {
		t.Fatalf("a later add changed what take returned: %v", positions(first))
	}
}

// Under steady load one append always waits, so the kept records never all
// drain: the array must still not grow with everything ever taken.
func TestUnappliedDoesNotKeepWhatItHandedOn(t *testing.T) {
	var u unapplied
	u.add(0, []eventlog.Record{ev(0, 10, false)})
	for i := int64(1); i <= 10000; i++ {
		u.add(0, []eventlog.Record{ev(i*10, 10, false)})
		recs, next := u.take(0, (i-1)*10, i*10) // commits all but the newest
		expect(t, recs, next, []int64{(i - 1) * 10}, i*10)
	}
	if n := len(u.recs); n > 4 {
		t.Fatalf("%d records held for 1 waiting: records already applied stay reachable", n)
	}
}
