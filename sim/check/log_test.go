package check

import (
	"math"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logRig builds committed logs by hand and collects what the checker says.
type logRig struct {
	t    *testing.T
	log  *Log
	got  []string
	next int64 // where the next built record goes
}

func newLogRig(t *testing.T, replicas int) *logRig {
	names := []string{"n1", "n2", "n3", "n4"}[:replicas]
	r := &logRig{t: t}
	r.log = NewLog(names, 0, 0, func(msg string) { r.got = append(r.got, msg) })
	return r
}

const recSize = 100

// event builds the next record: event number of stream with id.
func (r *logRig) event(stream string, number int64, id [16]byte) eventlog.Record {
	rec := eventlog.Record{Kind: eventlog.KindEvent, Position: r.next, Size: recSize,
		Event: eventlog.Event{Stream: stream, Number: number, ID: id, Type: "t", Data: []byte("d"), Created: 7}}
	r.next += recSize
	return rec
}

func (r *logRig) epoch(number int32) eventlog.Record {
	rec := eventlog.Record{Kind: eventlog.KindEpoch, Position: r.next, Size: recSize, Epoch: eventlog.Epoch{Number: number, PrevPosition: -1}}
	r.next += recSize
	return rec
}

func id(n byte) [16]byte { return [16]byte{0xEE, n} }

// quiet fails unless the checker said nothing.
func (r *logRig) quiet() {
	r.t.Helper()
	if len(r.got) > 0 {
		r.t.Fatalf("violations on a correct log: %q", r.got)
	}
}

// said fails unless the checker reported exactly one violation containing
// every fragment.
func (r *logRig) said(fragments ...string) {
	r.t.Helper()
	if len(r.got) != 1 {
		r.t.Fatalf("got %d violations %q, want exactly one containing %q", len(r.got), r.got, fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(r.got[0], f) {
			r.t.Fatalf("violation %q does not say %q", r.got[0], f)
		}
	}
	r.got = nil
}

func TestReplicasApplyingTheSameLogAgree(t *testing.T) {
	r := newLogRig(t, 3)
	recs := []eventlog.Record{r.epoch(1), r.event("a", 0, id(1)), r.event("b", 0, id(2)), r.event("a", 1, id(3))}
	r.log.Applied(0, 1, recs[:2])
	r.log.Applied(1, 1, recs)
	r.log.Applied(0, 1, recs[2:])
	r.log.Applied(2, 1, recs[:3])
	// A restarted replica applies from the start again.
	r.log.Applied(2, 2, recs)
	r.quiet()
	if s := r.log.Stats(); s.Records != 4 || s.Events != 3 || s.Applied != 4+4+3+4 {
		t.Fatalf("stats %+v, want 4 records, 3 events, 15 applications", s)
	}
}

func TestDivergentRecordAtAPositionIsReported(t *testing.T) {
	r := newLogRig(t, 2)
	good := []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 1, id(2))}
	r.log.Applied(0, 1, good)
	bad := good[1]
	bad.Event.Data = []byte("changed")
	r.log.Applied(1, 1, []eventlog.Record{good[0], bad})
	r.said("n2 applied event 1@\"a\"", "position 100", "but n1 applied", "committed prefixes disagree")
}

func TestSkippedRecordIsReported(t *testing.T) {
	r := newLogRig(t, 2)
	recs := []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 1, id(2)), r.event("a", 2, id(3))}
	r.log.Applied(0, 1, recs)
	r.log.Applied(1, 1, []eventlog.Record{recs[0], recs[2]})
	r.said("n2 applied event 2@\"a\" (", "at position 200", "next committed record after position 100 is at 100", "skipped")
}

func TestHoleInTheCommittedLogIsReported(t *testing.T) {
	r := newLogRig(t, 1)
	first := r.event("a", 0, id(1))
	r.next += 40
	r.log.Applied(0, 1, []eventlog.Record{first, r.event("a", 1, id(2))})
	r.said("at position 140", "record before it ends at 100", "hole")
}

func TestRevisionGapIsReported(t *testing.T) {
	r := newLogRig(t, 1)
	r.log.Applied(0, 1, []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 2, id(2))})
	r.said("event 2 of stream \"a\"", "next revision is 1", "no gaps")
}

func TestEventAfterTombstoneIsReported(t *testing.T) {
	r := newLogRig(t, 1)
	first := r.event("a", 0, id(1))
	tomb := r.event("a", math.MaxInt64, id(2))
	tomb.Event.Flags = eventlog.FlagTombstone
	r.log.Applied(0, 1, []eventlog.Record{first, tomb})
	r.quiet()
	r.log.Applied(0, 1, []eventlog.Record{r.event("a", 1, id(3))})
	r.said("after the stream's tombstone")
}

func TestEventWrittenTwiceIsReported(t *testing.T) {
	r := newLogRig(t, 1)
	r.log.Applied(0, 1, []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 1, id(1))})
	r.said("already holds it as 0@\"a\"", "applied twice")
}

func TestAcknowledgedWriteMustBeInTheCommittedLog(t *testing.T) {
	r := newLogRig(t, 2)
	recs := []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 1, id(2))}
	r.log.Applied(0, 1, recs)
	r.log.Acknowledged(Ack{Client: "c1", Stream: "a", First: 0, IDs: [][16]byte{id(1), id(2)}, Position: 100})
	r.quiet()

	// Acknowledged where nothing was applied.
	r.log.Acknowledged(Ack{Client: "c1", Stream: "a", First: 2, IDs: [][16]byte{id(3)}, Position: 200})
	r.said("append by c1 to \"a\" at revisions 2..2, position 200", "no replica has applied a record at position 200")
	// Acknowledged with another event there.
	r.log.Acknowledged(Ack{Client: "c2", Stream: "a", First: 1, IDs: [][16]byte{id(9)}, Position: 100})
	r.said("append by c2", "committed log holds event 1@\"a\"")
	// The earlier events of the append are not where the answer says.
	r.log.Acknowledged(Ack{Client: "c3", Stream: "a", First: 0, IDs: [][16]byte{id(7), id(2)}, Position: 100})
	r.said("should be revision 0")
}

func TestAcknowledgedWriteMissingAtTheEndIsReported(t *testing.T) {
	r := newLogRig(t, 3)
	recs := []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 1, id(2))}
	r.log.Applied(0, 1, recs)
	r.log.Applied(1, 1, recs)
	r.log.Applied(2, 1, recs[:1])
	r.log.Acknowledged(Ack{Client: "c1", Stream: "a", First: 1, IDs: [][16]byte{id(2)}, Position: 100})
	// n1 restarts and has re-applied only the first record: as the leader
	// at the end it lacks the acknowledged write (n3 is down).
	r.log.Applied(0, 2, recs[:1])
	r.log.Final([]bool{true, true, false}, 0)
	r.said("position 100", "n1 (up, applied up to position 100) does not have it at the end of the run")
	if s := r.log.Stats(); s.FinalReplicas != 2 || s.FinalAcks != 0 {
		t.Fatalf("final stats %+v: want 2 replicas checked (the leader, and n2 as far as it), 0 acks present", s)
	}
}

func TestFinalCheckSkipsReplicasBehindAndRunsWithoutLeaderNot(t *testing.T) {
	r := newLogRig(t, 3)
	recs := []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 1, id(2))}
	r.log.Applied(0, 1, recs)
	r.log.Applied(1, 1, recs[:1])
	r.log.Acknowledged(Ack{Client: "c1", Stream: "a", First: 1, IDs: [][16]byte{id(2)}, Position: 100})
	r.log.Final([]bool{true, true, false}, 0)
	r.quiet()
	s := r.log.Stats()
	if s.FinalAcks != 1 || s.FinalReplicas != 1 || len(s.Behind) != 1 || s.Behind[0] != "n2" {
		t.Fatalf("final stats %+v: want the ack found on the leader, n2 listed as behind", s)
	}
	r2 := newLogRig(t, 1)
	r2.log.Final([]bool{true}, -1)
	if r2.log.Stats().FinalSkipped == "" {
		t.Fatal("the end check ran without a leader; it must say it was skipped")
	}
}

func TestReadsMustReturnCommittedEventsTheNodeApplied(t *testing.T) {
	r := newLogRig(t, 2)
	recs := []eventlog.Record{r.event("a", 0, id(1)), r.event("a", 1, id(2))}
	r.log.Applied(0, 1, recs)
	r.log.Applied(1, 1, recs[:1])
	asRead := func(rec eventlog.Record) streams.Event {
		e := rec.Event
		return streams.Event{Position: rec.Position, Stream: e.Stream, Number: e.Number, ID: e.ID, Type: e.Type,
			Data: e.Data, Metadata: e.Metadata, IsJSON: e.IsJSON(), Created: e.Created}
	}
	r.log.ReadServed(0, "c1", []streams.Event{asRead(recs[1]), asRead(recs[0])})
	r.log.ReadServed(1, "c1", []streams.Event{asRead(recs[0])})
	r.quiet()

	// n2 has not applied position 100.
	r.log.ReadServed(1, "c2", []streams.Event{asRead(recs[1])})
	r.said("read by c2 on n2", "which n2 has not applied")
	// Nobody applied position 200.
	r.log.ReadServed(0, "c3", []streams.Event{asRead(r.event("a", 2, id(3)))})
	r.said("no replica has applied", "uncommitted read")
	// Something else than what is committed there.
	changed := asRead(recs[0])
	changed.Data = []byte("other")
	r.log.ReadServed(0, "c4", []streams.Event{changed})
	r.said("read by c4 on n1", "committed log holds event 0@\"a\"")
}

func TestAppendsMustBeAtomic(t *testing.T) {
	r := newLogRig(t, 2)
	a0, a1 := AppendEventID(1, 5, 0, 2), AppendEventID(1, 5, 1, 2)
	whole := []eventlog.Record{r.event("s", 0, a0), r.event("s", 1, a1)}
	r.log.Applied(0, 1, whole[:1])
	if what, partial := r.log.PartialAppend(0); !partial || !strings.Contains(what, "n1 applied only 1 of the 2 events of append #5 by c1") {
		t.Fatalf("PartialAppend after half an append = %q, %v", what, partial)
	}
	r.log.Applied(0, 1, whole[1:])
	if _, partial := r.log.PartialAppend(0); partial {
		t.Fatal("PartialAppend still true once the whole append is applied")
	}
	r.quiet()

	// An append cut short: its first event, then another append's.
	cut := AppendEventID(2, 1, 0, 3)
	r.log.Applied(0, 1, []eventlog.Record{r.event("s", 2, cut), r.event("s", 3, AppendEventID(3, 1, 0, 1))})
	r.said("holds only 1 of the 3 events of append #1 by c2", "the append was cut")
	// A continuation without its beginning.
	r.log.Applied(0, 1, []eventlog.Record{r.event("s", 4, AppendEventID(4, 1, 1, 2))})
	r.said("does not hold that append's earlier events")
}

func TestAppendEventIDsRoundTrip(t *testing.T) {
	for _, ref := range []AppendRef{{Client: 1, Seq: 1, Index: 0, Count: 1}, {Client: 250, Seq: 1 << 40, Index: 2, Count: 3}} {
		got, ok := ParseAppendEventID(AppendEventID(ref.Client, ref.Seq, ref.Index, ref.Count))
		if !ok || got != ref {
			t.Fatalf("round trip of %+v gave %+v, %v", ref, got, ok)
		}
	}
	if _, ok := ParseAppendEventID([16]byte{1, 2, 3}); ok {
		t.Fatal("an id the clients did not make parsed as theirs")
	}
}
