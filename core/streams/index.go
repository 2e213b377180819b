package streams

import (
	"fmt"
	"slices"
	"strings"

	"github.com/annal-db/annal/core/streams/meta"
)

// metaPrefix starts the name of every metadata stream: "$$name" holds the
// metadata of "name".
const metaPrefix = "$$"

// AllStream is $all's name; it is virtual and cannot be written.
const AllStream = "$all"

func isMetastream(name string) bool { return strings.HasPrefix(name, metaPrefix) }

// MetastreamOf is the name of the stream holding name's metadata.
func MetastreamOf(name string) string { return metaPrefix + name }

func originalOf(metastream string) string { return metastream[len(metaPrefix):] }

// StreamDescribedBy returns the stream whose metadata name holds, and
// whether name is a metadata stream at all.
func StreamDescribedBy(name string) (string, bool) { return strings.CutPrefix(name, metaPrefix) }

// stream is the committed state of one stream. It is kept small: this
// struct (48 bytes with allocation rounding), its map entry and its name are
// the whole per-stream cost, plus 8 bytes per event in positions (and the
// index's 8 bytes per markEvery events).
type stream struct {
	// positions[r] is the log position of revision r. Revisions are dense
	// from 0; a tombstone is not in the list.
	positions []int64
	// meta is the parsed metadata from the last event of "$$name" (nil:
	// none, or not a JSON object, which EventStoreDB reads as none).
	meta *meta.Metadata
	// tombstone is the position of the stream's tombstone, -1 if none.
	tombstone int64
}

func (s *stream) last() int64 { return int64(len(s.positions)) - 1 }

func (s *stream) tombstoned() bool { return s.tombstone >= 0 }

// index is the committed view: built only from Apply.
type index struct {
	streams map[string]*stream
	// lastPos is the position of the last applied event (-1: none). Every
	// event at or before it is in the index; reads of the log stop there
	// so that they agree with the index.
	lastPos int64
	events  int64
	ids     idCache
	// marks holds the position of every markEvery-th event, in order: the
	// record boundaries a read from a client's position starts at.
	marks []int64
}

// markEvery spaces the index's marks: a read from a client's position
// passes over fewer than markEvery events, for 8 bytes per markEvery
// events.
const markEvery = 32

// boundaryAtOrBefore is a position at or before p where a record starts:
// the last mark at or before p, else 0, the log's start. A position a
// client gives need not be one (it may be stale, or made up), and reading
// the log anywhere else looks like corruption.
func (x *index) boundaryAtOrBefore(p int64) int64 {
	i, found := slices.BinarySearch(x.marks, p)
	switch {
	case found:
		return p
	case i == 0:
		return 0
	}
	return x.marks[i-1]
}

// boundaryAtOrAfter is the first mark at or after p; false when none is.
func (x *index) boundaryAtOrAfter(p int64) (int64, bool) {
	i, _ := slices.BinarySearch(x.marks, p)
	if i == len(x.marks) {
		return 0, false
	}
	return x.marks[i], true
}

func newIndex(idCacheSize int) index {
	return index{streams: map[string]*stream{}, lastPos: -1, ids: newIDCache(idCacheSize)}
}

func (x *index) get(name string) *stream { return x.streams[name] }

func (x *index) getOrCreate(name string) *stream {
	st := x.streams[name]
	if st == nil {
		st = &stream{tombstone: -1}
		x.streams[name] = st
	}
	return st
}

// apply adds one committed event. It panics when the log breaks the
// invariants the index depends on (positions increase, revisions are dense,
// nothing follows a tombstone): serving reads from such an index would give
// wrong answers, and the cause is a bug in the log or the node.
func (x *index) apply(ev *Event) {
	if ev.Position <= x.lastPos {
		panic(fmt.Sprintf("streams: Apply got event %d@%q at position %d, not after the last applied position %d; the node must feed committed events once each, in log order",
			ev.Number, ev.Stream, ev.Position, x.lastPos))
	}
	if ev.Stream == "" {
		panic(fmt.Sprintf("streams: Apply got an event without a stream at position %d", ev.Position))
	}
	st := x.getOrCreate(ev.Stream)
	if st.tombstoned() {
		panic(fmt.Sprintf("streams: Apply got event %d@%q at position %d after the stream's tombstone at %d",
			ev.Number, ev.Stream, ev.Position, st.tombstone))
	}
	if ev.Tombstone {
		st.tombstone = ev.Position
	} else {
		if ev.Number != int64(len(st.positions)) {
			panic(fmt.Sprintf("streams: Apply got event %d@%q at position %d, but the stream's next revision is %d; stream revisions must have no gaps",
				ev.Number, ev.Stream, ev.Position, len(st.positions)))
		}
		st.positions = append(st.positions, ev.Position)
		if isMetastream(ev.Stream) {
			orig := x.getOrCreate(originalOf(ev.Stream))
			orig.meta = parseMetadata(ev.Data)
		}
	}
	x.ids.put(ev.ID, st, ev.Number)
	if x.events%markEvery == 0 {
		x.marks = append(x.marks, ev.Position)
	}
	x.lastPos = ev.Position
	x.events++
}

// parseMetadata reads a metadata event's data; a document that is not a
// JSON object means "no metadata", as in EventStoreDB.
func parseMetadata(data []byte) *meta.Metadata {
	m, err := meta.Parse(data)
	if err != nil {
		return nil
	}
	return &m
}

// visibility is what metadata hides in a stream.
type visibility struct {
	// min is the lowest visible revision ($tb, $maxCount).
	min int64
	// maxAge in seconds, 0 when unset.
	maxAge int64
}

// metastreamMaxCount is EventStoreDB's fixed $maxCount for metadata
// streams: only the newest metadata is visible.
const metastreamMaxCount = 1

// visibilityOf computes what readers of name may see, given its last
// revision.
func (x *index) visibilityOf(name string, last int64) visibility {
	var m meta.Metadata
	if isMetastream(name) {
		m.MaxCount = metastreamMaxCount
	} else if st := x.get(name); st != nil && st.meta != nil {
		m = *st.meta
	}
	v := visibility{maxAge: m.MaxAge}
	if m.MaxCount > 0 {
		v.min = max(v.min, last-m.MaxCount+1)
	}
	v.min = max(v.min, m.TruncateBefore)
	return v
}

// readState is how a reader sees a stream: deleted, missing, or its last
// revision and visibility.
func (x *index) readState(name string) (st *stream, vis visibility, err error) {
	if isMetastream(name) {
		if orig := x.get(originalOf(name)); orig != nil && orig.tombstoned() {
			return nil, vis, &StreamDeletedError{Stream: name}
		}
	}
	st = x.get(name)
	if st != nil && st.tombstoned() {
		return nil, vis, &StreamDeletedError{Stream: name}
	}
	if st == nil || len(st.positions) == 0 {
		return nil, vis, &StreamNotFoundError{Stream: name}
	}
	if !isMetastream(name) && st.meta != nil && st.meta.SoftDeleted() {
		return nil, vis, &StreamNotFoundError{Stream: name}
	}
	return st, x.visibilityOf(name, st.last()), nil
}

// idCache remembers where recently committed events went, by event id, for
// idempotent retries with Any/StreamExists (EventStoreDB keeps a bounded
// cache the same way; an id forgotten is treated as new). It is two
// generations of at most half its capacity each: ids go into the current
// one; when that is full it becomes the previous one and the old previous
// is dropped whole. So it remembers at least the newest capacity/2 ids and
// never more than capacity, and it never deletes single entries (deletes
// leave hash tables slow to probe).
type idCache struct {
	cur, prev map[[16]byte]idEntry
	half      int
}

type idEntry struct {
	st  *stream
	rev int64
}

func newIDCache(capacity int) idCache {
	half := (capacity + 1) / 2
	return idCache{cur: make(map[[16]byte]idEntry, half), half: half}
}

func (c *idCache) put(id [16]byte, st *stream, rev int64) {
	if c.half == 0 {
		return
	}
	c.cur[id] = idEntry{st: st, rev: rev}
	if len(c.cur) >= c.half {
		c.prev = c.cur
		c.cur = make(map[[16]byte]idEntry, c.half)
	}
}

func (c *idCache) get(id [16]byte) (idEntry, bool) {
	if e, ok := c.cur[id]; ok {
		return e, true
	}
	e, ok := c.prev[id]
	return e, ok
}

func (c *idCache) len() int { return len(c.cur) + len(c.prev) }

// recent keeps the newest applied events in memory (bounded by count and by
// bytes) so that live subscribers take them without a log read. A
// subscriber whose next event has left the ring reads it from the log.
type recent struct {
	evs      []Event // circular, capacity fixed at creation
	head     int     // index of the oldest
	n        int
	bytes    int
	maxBytes int
	// evicted is the position of the newest event that left the ring (-1:
	// none), so the ring holds every applied event after it.
	evicted int64
}

func newRecent(count, maxBytes int) recent {
	return recent{evs: make([]Event, count), maxBytes: maxBytes, evicted: -1}
}

func (r *recent) at(i int) *Event { return &r.evs[(r.head+i)%len(r.evs)] }

func (r *recent) push(ev Event) {
	if len(r.evs) == 0 {
		r.evicted = ev.Position
		return
	}
	for r.n > 0 && (r.n == len(r.evs) || r.bytes+ev.size() > r.maxBytes) {
		r.popOldest()
	}
	if ev.size() > r.maxBytes {
		r.evicted = ev.Position // too big to keep; readers go to the log
		return
	}
	r.evs[(r.head+r.n)%len(r.evs)] = ev
	r.n++
	r.bytes += ev.size()
}

func (r *recent) popOldest() {
	old := r.at(0)
	r.evicted = old.Position
	r.bytes -= old.size()
	*old = Event{}
	r.head = (r.head + 1) % len(r.evs)
	r.n--
}

// firstAfter is the ring index of the first event after pos; ok is false
// when events after pos may have left the ring (read the log instead).
// i == r.n means no applied event follows pos.
func (r *recent) firstAfter(pos int64) (i int, ok bool) {
	if pos < r.evicted {
		return 0, false
	}
	lo, hi := 0, r.n
	for lo < hi {
		mid := (lo + hi) / 2
		if r.at(mid).Position <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, true
}

// find returns the event at pos if the ring holds it.
func (r *recent) find(pos int64) (*Event, bool) {
	i, ok := r.firstAfter(pos - 1)
	if !ok || i >= r.n || r.at(i).Position != pos {
		return nil, false
	}
	return r.at(i), true
}
