package check

import (
	"fmt"
	"sort"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/streams"
)

// maxReportsPerFeed bounds the violations one subscriber produces: after
// the first gap or repeat the rest of its feed is off by the same amount.
const maxReportsPerFeed = 3

// Feed checks what one subscriber receives, across every subscription it
// opens (a resubscription continues from the last event it saw, on any
// node): each committed event of its stream, or of $all, exactly once, in
// log order, with nothing skipped and nothing that is not committed. The
// checks run as each message arrives; Complete checks, when the run ends,
// that nothing the serving node applied is missing.
type Feed struct {
	l    *Log
	name string
	// stream is the stream followed; all is set for $all.
	stream string
	all    bool
	// next is the revision the stream's next event must have (past
	// revisions metadata hid, once the node skipped them); lastEvent is
	// the revision of the last stream event received, where the
	// subscriber resumes (-1: none yet); last is the position of the last
	// $all event received (-1: none yet).
	next, lastEvent, last int64
	reports               int
	events                int
}

// FeedStats counts what the subscription checks saw.
type FeedStats struct {
	// Feeds is how many subscribers were checked.
	Feeds int `json:"subscribers"`
	// Events counts events received by subscribers and checked.
	Events int `json:"events_checked"`
	// Complete counts subscribers found, at the end, to have received
	// everything their node applied; Unsettled names those that could not
	// be checked so (no subscription open, messages still on their way,
	// or events still queued for them).
	Complete  int      `json:"complete_at_end"`
	Unsettled []string `json:"unsettled_at_end,omitempty"`
}

// NewFeed starts checking subscriber name, which follows stream (or $all,
// streams.AllStream) from its start.
func (l *Log) NewFeed(name, stream string) *Feed {
	l.feeds.Feeds++
	return &Feed{l: l, name: name, stream: stream, all: stream == streams.AllStream, lastEvent: -1, last: -1}
}

// FeedStats reports what the subscription checks saw so far.
func (l *Log) FeedStats() FeedStats { return l.feeds }

// Name is the subscriber's name.
func (f *Feed) Name() string { return f.name }

// Events is how many events the subscriber received.
func (f *Feed) Events() int { return f.events }

func (f *Feed) report(format string, args ...any) {
	if f.reports >= maxReportsPerFeed {
		return
	}
	f.reports++
	f.l.report(format, args...)
}

// Follow checks a subscriber that replica i dropped, or turned down,
// because its stream is tombstoned: replica i must have applied the
// tombstone. What it received before is any start of the stream (the
// event checks hold it to log order with nothing skipped): a subscriber
// still catching up when the tombstone is applied gets none of the rest,
// as a read of the stream then gets none of it. The subscriber follows
// stream, from its start, from then on.
func (f *Feed) Follow(i int, stream string) {
	if !f.all {
		if s := f.l.streams[f.stream]; s == nil || !s.tombstoned || f.l.replicas[i].high <= s.tombstoneAt {
			f.report("subscriber %s of %q was dropped by %s for the stream's tombstone, which %s has not applied",
				f.name, f.stream, f.l.names[i], f.l.names[i])
		}
	}
	f.stream, f.next, f.lastEvent = stream, 0, -1
}

// Subscribed: a new subscription of the subscriber was confirmed. It
// resumes after the last event it received, so revisions an earlier
// subscription skipped as hidden may come now (from a node that has not
// applied the metadata yet), and the next caught-up claim is measured from
// there.
func (f *Feed) Subscribed() {
	if !f.all {
		f.next = f.lastEvent + 1
	}
}

// Event checks an event the subscriber received from replica i.
func (f *Feed) Event(i int, ev streams.Event) {
	l := f.l
	f.events++
	l.feeds.Events++
	where := fmt.Sprintf("subscriber %s received from %s event %d@%q (id %x) at position %d", f.name, l.names[i], ev.Number, ev.Stream, ev.ID, ev.Position)
	e := l.find(ev.Position)
	switch {
	case e == nil:
		f.report("%s, which no replica has applied: an uncommitted event was delivered", where)
		return
	case e.sum != eventSum(&ev):
		f.report("%s, but the committed log holds %s there", where, e.describe())
		return
	case ev.Position >= l.replicas[i].high:
		f.report("%s, which %s has not applied (it applied up to %d)", where, l.names[i], l.replicas[i].high)
		return
	}
	if f.all {
		f.allEvent(where, ev)
	} else {
		f.streamEvent(where, ev)
	}
}

func (f *Feed) streamEvent(where string, ev streams.Event) {
	switch {
	case ev.Stream != f.stream:
		f.report("%s, but it follows stream %q", where, f.stream)
	case ev.Tombstone:
		// A live subscriber is handed the tombstone last, as EventStoreDB's
		// are: after every revision of the stream (or those hidden).
		s := f.l.streams[f.stream]
		if n := int64(len(s.positions)); f.next < n && !s.hidden(n) {
			f.report("%s, the tombstone, but it never received revision %d (%s): events were skipped", where, f.next, s.describe(f.next))
		}
	case ev.Number < f.next:
		f.report("%s, but it already received revision %d: delivered twice or out of order (it expects revision %d next)", where, ev.Number, f.next)
	case ev.Number > f.next && !f.l.streams[f.stream].hidden(ev.Number):
		f.report("%s, but it never received revision %d (%s): events were skipped",
			where, f.next, f.l.streams[f.stream].describe(f.next))
		f.next, f.lastEvent = ev.Number+1, ev.Number
	default:
		// The next revision, or the first after revisions metadata hid.
		f.next, f.lastEvent = ev.Number+1, ev.Number
	}
}

func (f *Feed) allEvent(where string, ev streams.Event) {
	want := f.l.nextEvent(f.last)
	switch {
	case ev.Position <= f.last:
		f.report("%s, but it already received the event at position %d: delivered twice or out of $all order", where, f.last)
	case want != nil && ev.Position > want.pos:
		f.report("%s, but it never received %s at position %d, the committed event after position %d: events were skipped",
			where, want.describe(), want.pos, f.last)
		f.last = ev.Position
	default:
		f.last = ev.Position
	}
}

// CaughtUp checks a CaughtUp message from replica i: it must claim exactly
// what the subscriber has received (all of it and no more) and nothing
// beyond the committed log.
func (f *Feed) CaughtUp(i int, m streams.Message) {
	if f.all {
		if m.Position != f.last {
			f.report("subscriber %s got caught-up at $all position %d from %s, but the last event it received is at %d", f.name, m.Position, f.l.names[i], f.last)
		}
		return
	}
	if m.Revision > f.next-1 && f.l.streams[f.stream].hidden(m.Revision+1) {
		// Caught up past revisions metadata hid.
		f.next = m.Revision + 1
	}
	if m.Revision != f.next-1 {
		f.report("subscriber %s got caught-up at revision %d of %q from %s, but the last revision it received is %d", f.name, m.Revision, f.stream, f.l.names[i], f.next-1)
	}
}

// Complete checks, when the run ends, a subscriber whose subscription on
// replica i (in its given incarnation) has handed it everything it holds
// (live, nothing buffered or on the way): it must have received every
// committed event of its stream that replica i has applied. settled false
// records that it could not be checked.
func (f *Feed) Complete(i, incarnation int, settled bool) {
	l := f.l
	if !settled {
		l.feeds.Unsettled = append(l.feeds.Unsettled, f.name)
		return
	}
	end := int64(0) // an incarnation that has applied nothing yet
	if rp := &l.replicas[i]; rp.incarnation == incarnation {
		end = rp.end
	}
	if f.all {
		if e := l.nextEvent(f.last); e != nil && e.end <= end {
			f.report("subscriber %s of $all is caught up on %s (applied up to %d) at the end of the run, but never received %s at position %d",
				f.name, l.names[i], end, e.describe(), e.pos)
			return
		}
	} else if s := l.streams[f.stream]; s != nil {
		// Events of the stream that replica i has applied.
		n := int64(sort.Search(len(s.positions), func(k int) bool { return s.positions[k] >= end }))
		if f.next < n && !s.hidden(n) {
			f.report("subscriber %s of %q is caught up on %s (applied up to %d) at the end of the run, but received revisions up to %d of the %d there (missing %s at position %d)",
				f.name, f.stream, l.names[i], end, f.next-1, n, s.describe(f.next), s.positions[f.next])
			return
		}
	}
	l.feeds.Complete++
}

// nextEvent is the first committed event after position pos, or nil.
func (l *Log) nextEvent(pos int64) *entry {
	k := sort.Search(len(l.recs), func(k int) bool { return l.recs[k].pos > pos })
	for ; k < len(l.recs); k++ {
		if l.recs[k].kind == eventlog.KindEvent {
			return &l.recs[k]
		}
	}
	return nil
}
