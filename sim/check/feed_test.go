package check

import (
	"math"
	"testing"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/meta"
)

// delivered is a committed record as a subscription hands it out.
func delivered(rec eventlog.Record) streams.Event {
	e := rec.Event
	return streams.Event{Position: rec.Position, Stream: e.Stream, Number: e.Number, ID: e.ID, Type: e.Type,
		Data: e.Data, Metadata: e.Metadata, IsJSON: e.IsJSON(), Created: e.Created}
}

// feedRig: a committed log of an epoch and five events over streams a and
// b, applied whole by n1 and up to the fourth record by n2.
func feedRig(t *testing.T) (*logRig, []eventlog.Record) {
	r := newLogRig(t, 2)
	recs := []eventlog.Record{
		r.epoch(1), r.event("a", 0, id(1)), r.event("b", 0, id(2)), r.event("a", 1, id(3)),
		r.event("a", 2, id(4)), r.event("b", 1, id(5)),
	}
	r.log.Applied(0, 1, recs)
	r.log.Applied(1, 1, recs[:4])
	r.quiet()
	return r, recs
}

func TestFeedsTakeEveryCommittedEventOnceAcrossResubscriptions(t *testing.T) {
	r, recs := feedRig(t)
	a := r.log.NewFeed("s1", "a")
	all := r.log.NewFeed("s2", streams.AllStream)
	// Both start on n2, which has applied up to a:1, then move to n1.
	a.Event(1, delivered(recs[1]))
	a.Event(1, delivered(recs[3]))
	a.CaughtUp(1, streams.Message{Kind: streams.CaughtUp, Revision: 1})
	a.Event(0, delivered(recs[4]))
	for _, k := range []int{1, 2, 3} {
		all.Event(1, delivered(recs[k]))
	}
	all.CaughtUp(1, streams.Message{Kind: streams.CaughtUp, Position: recs[3].Position})
	all.Event(0, delivered(recs[4]))
	all.Event(0, delivered(recs[5]))
	a.Complete(0, 1, true)
	all.Complete(0, 1, true)
	r.quiet()
	if s := r.log.FeedStats(); s.Feeds != 2 || s.Events != 8 || s.Complete != 2 || len(s.Unsettled) != 0 {
		t.Fatalf("feed stats %+v: want 2 feeds, 8 events checked, both complete", s)
	}
	if a.Events() != 3 || a.Name() != "s1" {
		t.Fatalf("feed %s counted %d events, want s1 with 3", a.Name(), a.Events())
	}
}

func TestFeedsReportGapsRepeatsAndForeignEvents(t *testing.T) {
	r, recs := feedRig(t)
	a := r.log.NewFeed("s1", "a")
	a.Event(0, delivered(recs[1]))
	a.Event(0, delivered(recs[1]))
	r.said("subscriber s1 received from n1 event 0@\"a\"", "already received revision 0", "delivered twice")
	a.Event(0, delivered(recs[4]))
	r.said("never received revision 1", "skipped")
	a.Event(0, delivered(recs[2]))
	r.said("event 0@\"b\"", "it follows stream \"a\"")

	all := r.log.NewFeed("s2", streams.AllStream)
	all.Event(0, delivered(recs[1]))
	all.Event(0, delivered(recs[3]))
	r.said("subscriber s2", "never received event 0@\"b\"", "position 200", "skipped")
	all.Event(0, delivered(recs[2]))
	r.said("already received the event at position 300", "out of $all order")
}

func TestFeedsReportUncommittedAndUnappliedEvents(t *testing.T) {
	r, recs := feedRig(t)
	a := r.log.NewFeed("s1", "a")
	// Served by n2, which has not applied position 400.
	a.Event(1, delivered(recs[1]))
	a.Event(1, delivered(recs[3]))
	a.Event(1, delivered(recs[4]))
	r.said("received from n2 event 2@\"a\"", "which n2 has not applied")
	// An event nobody applied.
	a.Event(0, delivered(r.event("a", 3, id(9))))
	r.said("which no replica has applied", "uncommitted event")
	// Different content at a committed position.
	changed := delivered(recs[5])
	changed.Data = []byte("other")
	r.log.NewFeed("s3", "b").Event(0, changed)
	r.said("subscriber s3", "committed log holds event 1@\"b\"")
}

func TestFeedsCheckCaughtUpClaims(t *testing.T) {
	r, recs := feedRig(t)
	a := r.log.NewFeed("s1", "a")
	a.Event(0, delivered(recs[1]))
	a.CaughtUp(0, streams.Message{Kind: streams.CaughtUp, Revision: 2})
	r.said("caught-up at revision 2 of \"a\"", "last revision it received is 0")
	all := r.log.NewFeed("s2", streams.AllStream)
	all.CaughtUp(0, streams.Message{Kind: streams.CaughtUp, Position: 100})
	r.said("caught-up at $all position 100", "last event it received is at -1")
}

func TestFeedsIncompleteAtTheEndAreReported(t *testing.T) {
	r, recs := feedRig(t)
	a := r.log.NewFeed("s1", "a")
	a.Event(0, delivered(recs[1]))
	// On n2, which applied a:0 and a:1, s1 has only a:0.
	a.Complete(1, 1, true)
	r.said("s1 of \"a\" is caught up on n2", "received revisions up to 0 of the 2 there", "missing event")
	all := r.log.NewFeed("s2", streams.AllStream)
	all.Complete(0, 1, true)
	r.said("s2 of $all is caught up on n1", "never received event 0@\"a\"")
	// Nothing missing on a replica that is behind the subscriber.
	b := r.log.NewFeed("s3", "b")
	b.Event(0, delivered(recs[2]))
	b.Event(0, delivered(recs[5]))
	b.Complete(1, 1, true)
	r.quiet()
	// A new incarnation of n1 that has applied nothing yet lacks nothing.
	r.log.NewFeed("s5", "a").Complete(0, 2, true)
	r.quiet()
	// Not settled: recorded, not judged.
	r.log.NewFeed("s4", "a").Complete(0, 1, false)
	r.quiet()
	if s := r.log.FeedStats(); s.Complete != 2 || len(s.Unsettled) != 1 || s.Unsettled[0] != "s4" {
		t.Fatalf("feed stats %+v: want s3 and s5 complete and s4 unsettled", s)
	}
}

func TestFeedReportsStopAfterAFew(t *testing.T) {
	r, recs := feedRig(t)
	a := r.log.NewFeed("s1", "a")
	for range 10 {
		a.Event(0, delivered(recs[2]))
	}
	if len(r.got) != maxReportsPerFeed {
		t.Fatalf("%d reports for one broken feed, want %d", len(r.got), maxReportsPerFeed)
	}
}

// metadata builds the next record: metadata event number of stream's
// metastream with $tb set to before.
func (r *logRig) metadata(stream string, number, before int64, id [16]byte) eventlog.Record {
	rec := r.event(streams.MetastreamOf(stream), number, id)
	rec.Event.Type = streams.MetadataEventType
	rec.Event.Data = meta.Metadata{}.WithTruncateBefore(before)
	return rec
}

func TestFeedsMaySkipOnlyWhatADeleteHid(t *testing.T) {
	r := newLogRig(t, 1)
	recs := []eventlog.Record{
		r.epoch(1), r.event("a", 0, id(1)), r.event("a", 1, id(2)),
		// Soft-deleted, then recreated from revision 2.
		r.metadata("a", 0, meta.DeletedStream, id(3)),
		r.metadata("a", 1, 2, id(4)), r.event("a", 2, id(5)), r.event("a", 3, id(6)),
		// Soft-deleted again: revisions 2 and 3 hidden, nothing after.
		r.metadata("a", 2, meta.DeletedStream, id(7)),
	}
	r.log.Applied(0, 1, recs)
	r.quiet()

	// A subscriber that saw revision 0 resubscribes after the recreate:
	// revision 1 is hidden, revision 2 comes next.
	late := r.log.NewFeed("s1", "a")
	late.Event(0, delivered(recs[1]))
	late.Event(0, delivered(recs[5]))
	late.Event(0, delivered(recs[6]))
	late.CaughtUp(0, streams.Message{Kind: streams.CaughtUp, Revision: 3})
	late.Complete(0, 1, true)
	r.quiet()

	// One that resubscribes after the second delete sees nothing more,
	// and is caught up at the stream's end.
	gone := r.log.NewFeed("s2", "a")
	gone.Event(0, delivered(recs[1]))
	gone.CaughtUp(0, streams.Message{Kind: streams.CaughtUp, Revision: 3})
	gone.Complete(0, 1, true)
	r.quiet()
	if s := r.log.FeedStats(); s.Complete != 2 {
		t.Fatalf("feed stats %+v: want both subscribers complete", s)
	}
}

func TestFeedsMayNotSkipWhatNoDeleteHid(t *testing.T) {
	r := newLogRig(t, 1)
	recs := []eventlog.Record{
		r.epoch(1), r.event("a", 0, id(1)), r.event("a", 1, id(2)),
		// Recreated from revision 1 only: revision 0 is hidden, 1 is not.
		r.metadata("a", 0, 1, id(3)), r.event("a", 2, id(4)),
	}
	r.log.Applied(0, 1, recs)
	f := r.log.NewFeed("s1", "a")
	f.Event(0, delivered(recs[4]))
	r.said("never received revision 0", "skipped")

	// A soft delete hides only what was written before it.
	r2 := newLogRig(t, 1)
	recs = []eventlog.Record{
		r2.epoch(1), r2.event("b", 0, id(1)), r2.metadata("b", 0, meta.DeletedStream, id(2)),
		r2.event("b", 1, id(3)), r2.event("b", 2, id(4)),
	}
	r2.log.Applied(0, 1, recs)
	g := r2.log.NewFeed("s2", "b")
	g.Event(0, delivered(recs[4]))
	r2.said("never received revision 0", "skipped")
	h := r2.log.NewFeed("s3", "b")
	h.CaughtUp(0, streams.Message{Kind: streams.CaughtUp, Revision: 2})
	r2.said("caught-up at revision 2", "last revision it received is -1")
}

func TestDeleteAcknowledgementsMustBeInTheLog(t *testing.T) {
	r := newLogRig(t, 1)
	recs := []eventlog.Record{
		r.epoch(1), r.event("a", 0, id(1)), r.metadata("a", 0, meta.DeletedStream, id(2)),
		r.event("b", math.MaxInt64, id(3)),
	}
	recs[3].Event.Flags = eventlog.FlagTombstone
	r.log.Applied(0, 1, recs)
	r.log.DeleteAcknowledged(DeleteAck{Client: "c1", Stream: "a", Position: recs[2].Position})
	r.log.DeleteAcknowledged(DeleteAck{Client: "c1", Stream: "b", Tombstone: true, Position: recs[3].Position})
	r.quiet()
	r.log.DeleteAcknowledged(DeleteAck{Client: "c2", Stream: "a", Tombstone: true, Position: recs[2].Position})
	r.said("tombstone by c2 of \"a\"", "holds event 0@\"$$a\"")
	r.log.DeleteAcknowledged(DeleteAck{Client: "c2", Stream: "a", Position: recs[1].Position})
	r.said("delete by c2 of \"a\"", "holds event 0@\"a\"")
	r.log.DeleteAcknowledged(DeleteAck{Client: "c2", Stream: "a", Position: 5000})
	r.said("no replica has applied a record at position 5000")
}

func TestAFeedDroppedForATombstoneNeedsTheTombstoneApplied(t *testing.T) {
	r := newLogRig(t, 2)
	recs := []eventlog.Record{r.epoch(1), r.event("a", 0, id(1)), r.event("a", 1, id(2)), r.event("a", math.MaxInt64, id(3))}
	recs[3].Event.Flags = eventlog.FlagTombstone
	r.log.Applied(0, 1, recs)
	r.log.Applied(1, 1, recs[:3])
	whole := r.log.NewFeed("s1", "a")
	whole.Event(0, delivered(recs[1]))
	whole.Event(0, delivered(recs[2]))
	whole.Follow(0, "a.1")
	// A subscriber still catching up at the tombstone gets none of the
	// rest of the stream.
	short := r.log.NewFeed("s2", "a")
	short.Event(0, delivered(recs[1]))
	short.Follow(0, "a.1")
	none := r.log.NewFeed("s3", "a")
	none.Follow(0, "a.1")
	r.quiet()
	early := r.log.NewFeed("s4", "a")
	early.Event(1, delivered(recs[1]))
	early.Follow(1, "a.1")
	r.said("subscriber s4 of \"a\" was dropped by n2 for the stream's tombstone, which n2 has not applied")
	// It follows the next stream from its start.
	next := r.event("a.1", 0, id(4))
	r.log.Applied(0, 1, []eventlog.Record{next})
	short.Event(0, delivered(next))
	r.quiet()
}

// TestAFeedTakesTheTombstoneLast: a live subscriber is handed the
// tombstone event after every revision of its stream, then dropped; a
// tombstone that comes before revisions it never received is a skip.
func TestAFeedTakesTheTombstoneLast(t *testing.T) {
	r := newLogRig(t, 2)
	recs := []eventlog.Record{r.epoch(1), r.event("a", 0, id(1)), r.event("a", 1, id(2)), r.event("a", math.MaxInt64, id(3))}
	recs[3].Event.Flags = eventlog.FlagTombstone
	r.log.Applied(0, 1, recs)
	tomb := delivered(recs[3])
	tomb.Tombstone = true
	live := r.log.NewFeed("s1", "a")
	live.Event(0, delivered(recs[1]))
	live.Event(0, delivered(recs[2]))
	live.Event(0, tomb)
	live.Follow(0, "a.1")
	r.quiet()
	gap := r.log.NewFeed("s2", "a")
	gap.Event(0, delivered(recs[1]))
	gap.Event(0, tomb)
	r.said("subscriber s2 received from n1 event 9223372036854775807@\"a\"", "the tombstone", "never received revision 1", "skipped")
}

func TestAResubscriptionResumesAfterTheLastEventReceived(t *testing.T) {
	r := newLogRig(t, 2)
	recs := []eventlog.Record{
		r.epoch(1), r.event("a", 0, id(1)), r.event("a", 1, id(2)), r.metadata("a", 0, meta.DeletedStream, id(3)),
	}
	r.log.Applied(0, 1, recs)
	r.log.Applied(1, 1, recs[:1]) // n2 is behind: it has none of stream a yet
	f := r.log.NewFeed("s1", "a")
	// n1 skips the deleted revisions and is caught up at the stream's end.
	f.Subscribed()
	f.CaughtUp(0, streams.Message{Kind: streams.CaughtUp, Revision: 1})
	r.quiet()
	// The subscriber received no event: it subscribes again from the
	// start, on n2, which has nothing yet, then delivers what it applies.
	f.Subscribed()
	f.CaughtUp(1, streams.Message{Kind: streams.CaughtUp, Revision: -1})
	r.quiet()
	r.log.Applied(1, 1, recs[1:3])
	f.Event(1, delivered(recs[1]))
	f.Event(1, delivered(recs[2]))
	r.quiet()
	// Once received, an event delivered again is still a repeat.
	f.Subscribed()
	f.Event(1, delivered(recs[2]))
	r.said("already received revision 1")
}
