// Package check holds the simulator's data checkers: what every replica
// applies must agree with one committed log, every acknowledged write must
// stay in it unchanged, stream revisions must have no gaps, reads must
// return only committed events, every subscriber must receive the
// committed events of its stream (or of $all) exactly once and in order,
// and the clients' history must be linearizable per stream.
//
// The checkers know nothing of clusters or hosts: replicas are numbered,
// and whoever drives them (sim/cluster) feeds them what nodes apply and
// what clients are told. They report each violation through a callback at
// the moment they see it.
package check

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/meta"
)

// maxReportsPerReplica bounds the violations one replica can produce
// before its checking pauses until its next incarnation: after the first
// divergence every later record differs too, and the first says enough.
const maxReportsPerReplica = 3

// Log is the committed log as the replicas apply it. The first replica to
// apply a position defines what that position holds; every other replica
// (and every later incarnation of the same one) must apply exactly the same
// records, in the same order, with nothing skipped.
type Log struct {
	names   []string
	violate func(string)
	// segment is the log's segment size: a record either follows the
	// previous one directly or starts the next segment (padding is never
	// applied). 0 turns that check off.
	segment int64

	recs     []entry // position order
	replicas []replica
	streams  map[string]*streamLog
	ids      map[[16]byte]idPlace
	acks     []Ack
	maxAcks  int
	stats    LogStats
	feeds    FeedStats
}

// entry is one committed record, reduced to what the checks compare.
type entry struct {
	pos, end int64
	sum      uint64
	kind     eventlog.Kind
	stream   string
	number   int64
	id       [16]byte
	by       int // the replica that applied it first
}

type replica struct {
	incarnation int
	next        int   // index in recs of the record this replica must apply next
	end         int64 // end of its last applied record, this incarnation
	high        int64 // highest end it ever applied, any incarnation
	reports     int
	// partial: the last record applied is an event of a client append
	// whose later events are not applied yet (last says which).
	partial bool
	last    AppendRef
	stream  string
}

// streamLog is one stream of the committed log.
type streamLog struct {
	ids        [][16]byte // by revision
	positions  []int64
	tombstoned bool
	// tombstoneAt is the tombstone's position, once tombstoned.
	tombstoneAt int64
	// open is the client append whose later events must come next (nil
	// when the last event completed its append).
	open *AppendRef
	// truncations are the stream's committed metadata events, for the
	// revisions they hide from readers and subscribers.
	truncations []truncation
}

// truncation is one committed metadata event of a stream: its position,
// its $tb (meta.DeletedStream for a soft delete) and its $maxCount.
type truncation struct {
	pos, before, maxCount int64
}

// hidden reports whether revisions below rev may be skipped by a reader
// of the stream: some committed metadata hides them (a $tb at rev or
// beyond, a soft delete written after revision rev-1, or a $maxCount that
// the events from rev on fill).
func (s *streamLog) hidden(rev int64) bool {
	if s == nil || rev <= 0 || rev > int64(len(s.positions)) {
		return false
	}
	n := int64(len(s.positions))
	after := s.positions[rev-1]
	for _, t := range s.truncations {
		switch {
		case t.before == meta.DeletedStream && t.pos > after,
			t.before != meta.DeletedStream && t.before >= rev,
			t.maxCount > 0 && n-t.maxCount >= rev:
			return true
		}
	}
	return false
}

type idPlace struct {
	stream string
	number int64
}

// Ack is a write a client was told succeeded: events IDs at revisions
// First, First+1, ... of Stream, the last of them at log Position.
type Ack struct {
	Client     string
	Stream     string
	First      int64
	IDs        [][16]byte
	Position   int64
	Idempotent bool
	At         time.Duration
}

// DeleteAck is a delete or tombstone a client was told succeeded, written
// at log Position.
type DeleteAck struct {
	Client    string
	Stream    string
	Tombstone bool
	Position  int64
	At        time.Duration
}

func (d *DeleteAck) String() string {
	what := "delete"
	if d.Tombstone {
		what = "tombstone"
	}
	return fmt.Sprintf("%s by %s of %q at position %d, acknowledged at %v", what, d.Client, d.Stream, d.Position, d.At)
}

// Last is the revision of the ack's last event.
func (a *Ack) Last() int64 { return a.First + int64(len(a.IDs)) - 1 }

func (a *Ack) String() string {
	s := fmt.Sprintf("append by %s to %q at revisions %d..%d, position %d, acknowledged at %v", a.Client, a.Stream, a.First, a.Last(), a.Position, a.At)
	if a.Idempotent {
		s += " (idempotent)"
	}
	return s
}

// LogStats counts what the log checkers saw.
type LogStats struct {
	// Records is how many records the committed log holds (first
	// applications).
	Records int `json:"committed_records"`
	// Events is how many of them are events.
	Events int `json:"committed_events"`
	// Applied counts every record applied by every replica (re-applications
	// after a restart included), each compared with the committed log.
	Applied uint64 `json:"records_applied_and_compared"`
	// AcksChecked counts acknowledged appends checked when answered.
	AcksChecked int `json:"acks_checked"`
	// ReadEvents counts events returned by reads and checked.
	ReadEvents int `json:"read_events_checked"`
	// FinalAcks counts acknowledged appends found on the replicas checked
	// at the end; FinalReplicas names how many replicas that was.
	FinalAcks     int `json:"final_acks_present"`
	FinalReplicas int `json:"final_replicas_checked"`
	// Behind lists replicas that were up at the end but not caught up, and
	// so not checked.
	Behind []string `json:"final_replicas_behind,omitempty"`
	// FinalSkipped says why the end check did not run ("" if it did).
	FinalSkipped string `json:"final_check_skipped,omitempty"`
}

// NewLog makes the checker for replicas with the given names. violate is
// called once per violation found, with a message that says what, where
// and what was expected. maxAcks bounds the acknowledged appends kept for
// the end check (0: no bound).
func NewLog(names []string, segmentSize int64, maxAcks int, violate func(string)) *Log {
	return &Log{
		names: names, violate: violate, segment: segmentSize, maxAcks: maxAcks,
		replicas: make([]replica, len(names)),
		streams:  map[string]*streamLog{},
		ids:      map[[16]byte]idPlace{},
	}
}

// Stats reports what the checker saw so far.
func (l *Log) Stats() LogStats { return l.stats }

// Acks lists the acknowledged appends kept for the end check.
func (l *Log) Acks() []Ack { return l.acks }

// AppliedEnd is the end of the last record replica i applied in its
// current incarnation.
func (l *Log) AppliedEnd(i int) int64 { return l.replicas[i].end }

func (l *Log) report(format string, args ...any) { l.violate(fmt.Sprintf(format, args...)) }

// Applied takes records replica i applied, in log order, during its given
// incarnation (a new incarnation starts applying from the log's start
// again).
func (l *Log) Applied(i, incarnation int, recs []eventlog.Record) {
	rp := &l.replicas[i]
	if rp.incarnation != incarnation {
		*rp = replica{incarnation: incarnation, high: rp.high}
	}
	for k := range recs {
		r := &recs[k]
		l.stats.Applied++
		if rp.reports >= maxReportsPerReplica {
			continue
		}
		sum := recordSum(r)
		if rp.next < len(l.recs) {
			e := &l.recs[rp.next]
			switch {
			case e.pos != r.Position:
				rp.reports++
				l.report("%s applied %s at position %d, but the next committed record after position %d is at %d (%s, first applied by %s): a record was skipped or misplaced",
					l.names[i], describeRecord(r), r.Position, rp.end, e.pos, e.describe(), l.names[e.by])
			case e.sum != sum:
				rp.reports++
				l.report("%s applied %s at position %d, but %s applied %s there: committed prefixes disagree",
					l.names[i], describeRecord(r), r.Position, l.names[e.by], e.describe())
			}
		} else {
			l.define(i, r, sum)
		}
		rp.next++
		rp.end = r.End()
		rp.high = max(rp.high, rp.end)
		rp.partial = false
		if r.Kind == eventlog.KindEvent {
			if ref, ok := ParseAppendEventID(r.Event.ID); ok && ref.Index < ref.Count-1 {
				rp.partial, rp.last, rp.stream = true, ref, r.Event.Stream
			}
		}
	}
}

// PartialAppend says, when replica i's applied log ends inside a client
// append (some of its events applied, the rest not), which append that
// is. A replica that serves reads in that state shows them half an
// append: appends must be atomic.
func (l *Log) PartialAppend(i int) (string, bool) {
	rp := &l.replicas[i]
	if !rp.partial {
		return "", false
	}
	return fmt.Sprintf("%s applied only %d of the %d events of append #%d by c%d to %q (up to position %d)",
		l.names[i], rp.last.Index+1, rp.last.Count, rp.last.Seq, rp.last.Client, rp.stream, rp.end), true
}

// define records a position applied for the first time and checks the
// stream it extends.
func (l *Log) define(i int, r *eventlog.Record, sum uint64) {
	e := entry{pos: r.Position, end: r.End(), sum: sum, kind: r.Kind, by: i}
	if len(l.recs) == 0 && r.Position != 0 {
		l.report("%s applied %s at position %d as the first record of the log, which starts at 0", l.names[i], describeRecord(r), r.Position)
	}
	if n := len(l.recs); n > 0 {
		prev := &l.recs[n-1]
		if r.Position != prev.end && !(l.segment > 0 && r.Position%l.segment == 0 && r.Position > prev.end && r.Position-prev.end < l.segment) {
			l.report("%s applied %s at position %d, but the committed record before it ends at %d: the log has a hole or an overlap",
				l.names[i], describeRecord(r), r.Position, prev.end)
		}
	}
	l.stats.Records++
	if r.Kind == eventlog.KindEvent {
		ev := &r.Event
		e.stream, e.number, e.id = ev.Stream, ev.Number, ev.ID
		l.stats.Events++
		l.extendStream(i, r)
	}
	l.recs = append(l.recs, e)
}

// extendStream checks that the event continues its stream: revisions
// 0, 1, 2, ... with nothing after a tombstone (whose number is the
// largest int64), and that no event id is written twice (a retry applied
// twice would show so).
func (l *Log) extendStream(i int, r *eventlog.Record) {
	ev := &r.Event
	s := l.streams[ev.Stream]
	if s == nil {
		s = &streamLog{}
		l.streams[ev.Stream] = s
	}
	switch {
	case s.tombstoned:
		l.report("%s applied event %d of stream %q at position %d after the stream's tombstone", l.names[i], ev.Number, ev.Stream, r.Position)
	case ev.IsTombstone():
		if ev.Number != math.MaxInt64 {
			l.report("%s applied the tombstone of stream %q at position %d numbered %d, not %d", l.names[i], ev.Stream, r.Position, ev.Number, int64(math.MaxInt64))
		}
		s.tombstoned, s.tombstoneAt = true, r.Position
	case ev.Number != int64(len(s.ids)):
		l.report("%s applied event %d of stream %q at position %d, but the stream's next revision is %d: revisions must have no gaps or repeats",
			l.names[i], ev.Number, ev.Stream, r.Position, len(s.ids))
	default:
		s.ids = append(s.ids, ev.ID)
		s.positions = append(s.positions, r.Position)
	}
	l.checkAtomic(i, r, s)
	if orig, ok := streams.StreamDescribedBy(ev.Stream); ok && ev.Type == streams.MetadataEventType {
		if m, err := meta.Parse(ev.Data); err == nil {
			o := l.streams[orig]
			if o == nil {
				o = &streamLog{}
				l.streams[orig] = o
			}
			o.truncations = append(o.truncations, truncation{pos: r.Position, before: m.TruncateBefore, maxCount: m.MaxCount})
		}
	}
	if prev, dup := l.ids[ev.ID]; dup {
		l.report("%s applied event id %x as %d@%q at position %d, but the log already holds it as %d@%q: a write was applied twice",
			l.names[i], ev.ID, ev.Number, ev.Stream, r.Position, prev.number, prev.stream)
	} else {
		l.ids[ev.ID] = idPlace{stream: ev.Stream, number: ev.Number}
	}
}

// checkAtomic checks that a client append's events follow each other in
// their stream, all of them: an append cut short (its first events
// committed, the rest lost or overtaken) is not atomic.
func (l *Log) checkAtomic(i int, r *eventlog.Record, s *streamLog) {
	ev := &r.Event
	ref, ok := ParseAppendEventID(ev.ID)
	switch {
	case s.open != nil && (!ok || !ref.sameAppend(*s.open) || ref.Index != s.open.Index+1):
		what := describeRecord(r)
		if ok {
			what = ref.String() + " (" + what + ")"
		}
		l.report("%s applied %s at position %d, but the committed stream %q holds only %d of the %d events of append #%d by c%d before it: the append was cut; appends must be atomic",
			l.names[i], what, r.Position, ev.Stream, s.open.Index+1, s.open.Count, s.open.Seq, s.open.Client)
	case s.open == nil && ok && ref.Index > 0:
		l.report("%s applied %s (%s) at position %d, but the committed stream %q does not hold that append's earlier events just before it: appends must be atomic",
			l.names[i], ref.String(), describeRecord(r), r.Position, ev.Stream)
	}
	s.open = nil
	if ok && ref.Index < ref.Count-1 {
		s.open = &ref
	}
}

// find returns the committed record at pos, or nil.
func (l *Log) find(pos int64) *entry {
	k := sort.Search(len(l.recs), func(k int) bool { return l.recs[k].pos >= pos })
	if k < len(l.recs) && l.recs[k].pos == pos {
		return &l.recs[k]
	}
	return nil
}

// Acknowledged checks a write a client was just told succeeded: a node
// answers only once the write is committed and applied there, so the
// committed log must already hold every event of it, where the answer
// says. The ack is kept for the end check.
func (l *Log) Acknowledged(a Ack) {
	l.stats.AcksChecked++
	if len(a.IDs) == 0 {
		return
	}
	e := l.find(a.Position)
	last := a.IDs[len(a.IDs)-1]
	switch {
	case e == nil:
		l.report("%s, but no replica has applied a record at position %d", a.String(), a.Position)
		return
	case e.kind != eventlog.KindEvent || e.stream != a.Stream || e.number != a.Last() || e.id != last:
		l.report("%s with last event %x, but the committed log holds %s at position %d", a.String(), last, e.describe(), a.Position)
		return
	}
	s := l.streams[a.Stream]
	for k, id := range a.IDs {
		rev := a.First + int64(k)
		if s == nil || rev < 0 || rev >= int64(len(s.ids)) || s.ids[rev] != id {
			l.report("%s: event %x should be revision %d, but the committed stream has %s there", a.String(), id, rev, s.describe(rev))
			return
		}
	}
	if l.maxAcks == 0 || len(l.acks) < l.maxAcks {
		l.acks = append(l.acks, a)
	}
}

// DeleteAcknowledged checks a delete a client was just told succeeded: the
// committed log must already hold, where the answer says, the stream's
// tombstone or a metadata event of the stream (the soft delete's).
func (l *Log) DeleteAcknowledged(d DeleteAck) {
	l.stats.AcksChecked++
	e := l.find(d.Position)
	want := streams.MetastreamOf(d.Stream)
	if d.Tombstone {
		want = d.Stream
	}
	switch {
	case e == nil:
		l.report("%s, but no replica has applied a record at position %d", d.String(), d.Position)
	case e.kind != eventlog.KindEvent || e.stream != want || d.Tombstone != (e.number == math.MaxInt64):
		l.report("%s, but the committed log holds %s at position %d", d.String(), e.describe(), d.Position)
	}
}

// ReadServed checks events a read on replica i returned: each must be in
// the committed log, as it is there, and already applied by replica i.
// Since committed records never change (Applied checks every later
// application), an event that passes here is never contradicted later.
func (l *Log) ReadServed(i int, client string, evs []streams.Event) {
	for k := range evs {
		ev := &evs[k]
		l.stats.ReadEvents++
		e := l.find(ev.Position)
		switch {
		case e == nil:
			l.report("a read by %s on %s returned event %d@%q at position %d, which no replica has applied: an uncommitted read",
				client, l.names[i], ev.Number, ev.Stream, ev.Position)
			return
		case e.sum != eventSum(ev):
			l.report("a read by %s on %s returned event %d@%q (id %x) at position %d, but the committed log holds %s there",
				client, l.names[i], ev.Number, ev.Stream, ev.ID, ev.Position, e.describe())
			return
		case ev.Position >= l.replicas[i].high:
			l.report("a read by %s on %s returned event %d@%q at position %d, which %s has not applied (it applied up to %d)",
				client, l.names[i], ev.Number, ev.Stream, ev.Position, l.names[i], l.replicas[i].high)
			return
		}
	}
}

// Final checks, after the run, that every acknowledged append is on the
// leader and on every running replica caught up with it. up[i] says
// whether replica i runs now; leader is the leader's index or -1 (then
// nothing is checked: without a leader no replica need have applied
// everything that was committed).
func (l *Log) Final(up []bool, leader int) {
	if leader < 0 {
		l.stats.FinalSkipped = "no leader at the end of the run"
		return
	}
	ref := l.replicas[leader].end
	var check []int
	for i := range l.replicas {
		switch {
		case i == leader:
			check = append(check, i)
		case !up[i]:
		case l.replicas[i].end >= ref:
			check = append(check, i)
		default:
			l.stats.Behind = append(l.stats.Behind, l.names[i])
		}
	}
	l.stats.FinalReplicas = len(check)
	for _, a := range l.acks {
		ok := true
		for _, i := range check {
			if rp := &l.replicas[i]; a.Position >= rp.end || rp.reports > 0 {
				ok = false
				l.report("%s, but %s (up, applied up to position %d) does not have it at the end of the run", a.String(), l.names[i], rp.end)
			}
		}
		if ok {
			l.stats.FinalAcks++
		}
	}
}

func (e *entry) describe() string {
	if e.kind == eventlog.KindEvent {
		if e.number == math.MaxInt64 {
			return fmt.Sprintf("the tombstone of %q (id %x)", e.stream, e.id)
		}
		return fmt.Sprintf("event %d@%q (id %x)", e.number, e.stream, e.id)
	}
	return fmt.Sprintf("a %v record", e.kind)
}

func (s *streamLog) describe(rev int64) string {
	if s == nil || rev < 0 || rev >= int64(len(s.ids)) {
		return "no event"
	}
	return fmt.Sprintf("event %x", s.ids[rev])
}

func describeRecord(r *eventlog.Record) string {
	switch r.Kind {
	case eventlog.KindEvent:
		return fmt.Sprintf("event %d@%q (id %x)", r.Event.Number, r.Event.Stream, r.Event.ID)
	case eventlog.KindEpoch:
		return fmt.Sprintf("epoch %d (id %x)", r.Epoch.Number, r.Epoch.ID)
	}
	return r.Kind.String() + " record"
}

// recordSum fingerprints every field of a record that a replica could get
// wrong; an event read back from a node gives the same sum (eventSum).
func recordSum(r *eventlog.Record) uint64 {
	if r.Kind == eventlog.KindEvent {
		e := &r.Event
		// FlagContinued is framing of the append, which a read does not show.
		return sumEvent(r.Position, e.Stream, e.Number, e.ID, e.Type, e.Data, e.Metadata, e.Flags&^eventlog.FlagContinued, e.Created)
	}
	h := fnv.New64a()
	var b [8]byte
	put := func(v int64) {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	put(int64(r.Kind))
	put(r.Position)
	put(int64(r.Size))
	if r.Kind == eventlog.KindEpoch {
		ep := &r.Epoch
		put(int64(ep.Number))
		h.Write(ep.ID[:])
		put(ep.PrevPosition)
		h.Write(ep.LeaderID[:])
		put(ep.Created)
	}
	return h.Sum64()
}

func eventSum(ev *streams.Event) uint64 {
	var flags eventlog.EventFlags
	if ev.IsJSON {
		flags |= eventlog.FlagJSON
	}
	if ev.Tombstone {
		flags |= eventlog.FlagTombstone
	}
	return sumEvent(ev.Position, ev.Stream, ev.Number, ev.ID, ev.Type, ev.Data, ev.Metadata, flags, ev.Created)
}

func sumEvent(pos int64, stream string, number int64, id [16]byte, typ string, data, metadata []byte, flags eventlog.EventFlags, created int64) uint64 {
	h := fnv.New64a()
	var b [8]byte
	put := func(v int64) {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	put(int64(eventlog.KindEvent))
	put(pos)
	for _, s := range [][]byte{[]byte(stream), []byte(typ), data, metadata} {
		put(int64(len(s)))
		h.Write(s)
	}
	put(number)
	h.Write(id[:])
	put(int64(flags))
	put(created)
	return h.Sum64()
}
