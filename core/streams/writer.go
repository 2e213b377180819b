package streams

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/sorted"
	"github.com/annal-db/annal/core/streams/meta"
)

// System event types this layer writes.
const (
	MetadataEventType      = "$metadata"
	StreamDeletedEventType = "$streamDeleted"
)

// Append appends events to a stream, checking the expected revision against
// the writer's view (committed state plus this node's proposals in flight).
// done runs once: after the events are committed and applied on this node
// (so a read here sees them), or with an error; for answers that need no
// log write (validation errors, wrong expected version, idempotent retries
// of committed events) it runs before Append returns.
func (s *Service) Append(req AppendRequest, done func(WriteResult)) {
	if err := s.validateAppend(req); err != nil {
		done(failed(err))
		return
	}
	s.writer.accept(&writeOp{kind: opAppend, stream: req.Stream, expected: req.Expected, events: req.Events, now: req.Now, abandoned: req.Abandoned, done: done})
}

// Delete soft-deletes a stream, as EventStoreDB does: it writes metadata
// with $tb = DeletedStream to "$$stream". Reads then answer
// StreamNotFoundError; a later append recreates the stream, its numbering
// continuing, older events staying hidden. The expected revision is checked
// against the stream itself.
func (s *Service) Delete(req DeleteRequest, done func(WriteResult)) {
	if err := s.validateDelete(req, "delete"); err != nil {
		done(failed(err))
		return
	}
	s.writer.accept(&writeOp{kind: opDelete, stream: req.Stream, expected: req.Expected, now: req.Now, abandoned: req.Abandoned, done: done})
}

// Tombstone hard-deletes a stream: it writes a tombstone event, after which
// the stream (and its metadata stream) can never be written or read again.
func (s *Service) Tombstone(req DeleteRequest, done func(WriteResult)) {
	if err := s.validateDelete(req, "tombstone"); err != nil {
		done(failed(err))
		return
	}
	s.writer.accept(&writeOp{kind: opTombstone, stream: req.Stream, expected: req.Expected, now: req.Now, abandoned: req.Abandoned, done: done})
}

func failed(err error) WriteResult {
	return WriteResult{Revision: NoRevision, Position: -1, Err: err}
}

func validateStreamName(name string) error {
	if name == "" {
		return invalid("the stream name is empty")
	}
	if name == AllStream {
		return invalid("%q is the virtual stream of all events; it cannot be written", AllStream)
	}
	if name == metaPrefix {
		return invalid("%q would be the metadata stream of a stream without a name", name)
	}
	return nil
}

func validateWrite(stream string, expected ExpectedRevision, now time.Time) error {
	if err := validateStreamName(stream); err != nil {
		return err
	}
	if !expected.valid() {
		return invalid("expected revision %d for stream %q is neither a revision (>= 0) nor Any (-2), NoStream (-1) or StreamExists (-4)",
			int64(expected), stream)
	}
	if now.IsZero() {
		return invalid("the request has no Now; the node must stamp writes with its wall clock (env.Clock.Wall)")
	}
	return nil
}

func (s *Service) validateAppend(req AppendRequest) error {
	if err := validateWrite(req.Stream, req.Expected, req.Now); err != nil {
		return err
	}
	total := 0
	for i, e := range req.Events {
		if e.ID == ([16]byte{}) {
			return invalid("event %d of the append to %q has no id; every event needs a unique id (a UUID)", i, req.Stream)
		}
		if e.Type == "" {
			return invalid("event %d of the append to %q has no type", i, req.Stream)
		}
		size := len(e.Data) + len(e.Metadata) + len(e.Type)
		if size > s.cfg.MaxEventSize {
			return invalid("event %d of the append to %q is %d bytes, over the maximum event size of %d bytes", i, req.Stream, size, s.cfg.MaxEventSize)
		}
		total += size
	}
	if total > s.cfg.MaxAppendSize {
		return &MaxAppendSizeExceededError{Stream: req.Stream, Size: total, Max: s.cfg.MaxAppendSize}
	}
	return nil
}

func (s *Service) validateDelete(req DeleteRequest, what string) error {
	if err := validateWrite(req.Stream, req.Expected, req.Now); err != nil {
		return err
	}
	if isMetastream(req.Stream) {
		return invalid("cannot %s the metadata stream %q; %s the stream %q instead", what, req.Stream, what, originalOf(req.Stream))
	}
	return nil
}

type opKind uint8

const (
	opAppend opKind = iota
	opDelete
	opTombstone
)

// writeOp is one client write from acceptance until it is settled.
type writeOp struct {
	kind     opKind
	stream   string
	expected ExpectedRevision
	events   []EventData
	now      time.Time
	done     func(WriteResult)
	// abandoned: see AppendRequest.Abandoned (nil: never).
	abandoned func() bool

	// known holds event ids read from the log, by revision of stream, for
	// idempotency checks against evicted or uncached events.
	known map[int64][16]byte

	size     int // event bytes, counted against MaxWriteBytesInFlight
	prop     *proposal
	answered bool
	released bool
}

func (op *writeOp) ids() [][16]byte {
	ids := make([][16]byte, len(op.events))
	for i, e := range op.events {
		ids[i] = e.ID
	}
	return ids
}

// proposal is what one write handed to Log.Append. It stays in the writer
// view until its events are applied (or ResetWriter), whatever the log
// answered: after a timeout the events may still commit, and writes after
// it must be numbered after it.
type proposal struct {
	seq    uint64
	events []Event
	// metas[i] is the parsed metadata of events[i] when it is a metadata
	// event (nil otherwise, or when not a JSON object).
	metas   []*meta.Metadata
	touches []touch
	op      *writeOp
	// resultIdx is the index in events of the op's last own event.
	resultIdx int

	positions []int64 // from the log, on success
	logDone   bool
	err       error
	retired   int  // touches whose events are applied
	inView    bool // still in writer.pending
	freed     bool
	waiters   []waiter
}

type touch struct {
	stream string
	last   int64 // last number written to stream (tombstoneNumber for a tombstone)
}

// waiter is a retry matched to events of a proposal not yet settled; it is
// answered with that proposal's outcome.
type waiter struct {
	op  *writeOp
	idx int // index in events of the retry's last matched event
}

type writer struct {
	s       *Service
	pending map[string][]*proposal // by stream touched, oldest first
	seq     uint64
	// inFlight counts ops not yet released (see release), bytes their
	// event bytes.
	inFlight int
	bytes    int
	// awaiting holds proposals the log committed whose events Apply has
	// not delivered yet, oldest first.
	awaiting []*proposal
	// deferred holds, by stream, refusals that were decided with this
	// node's proposals still in flight for the stream: they are decided
	// again once those settle. Answering at once would tell a client of a
	// revision no read shows yet (and that may never commit).
	deferred map[string][]*writeOp
}

func (w *writer) init(s *Service) {
	w.s = s
	w.pending = map[string][]*proposal{}
	w.deferred = map[string][]*writeOp{}
}

// inFlightFor reports whether proposals of this node touching stream (or
// its metadata stream, or, for a metadata stream, the stream it describes)
// are still in the writer view.
func (w *writer) inFlightFor(stream string) bool {
	if len(w.pending[stream]) > 0 {
		return true
	}
	if isMetastream(stream) {
		// Metadata of a stream whose tombstone is in flight is refused
		// as deleted: that refusal waits for the tombstone too.
		return len(w.pending[originalOf(stream)]) > 0
	}
	return len(w.pending[MetastreamOf(stream)]) > 0
}

// redecide runs the refusals deferred on stream again.
func (w *writer) redecide(stream string) {
	ops := w.deferred[stream]
	if len(ops) == 0 {
		return
	}
	delete(w.deferred, stream)
	for _, op := range ops {
		w.process(op)
	}
}

func (w *writer) accept(op *writeOp) {
	if w.inFlight >= w.s.cfg.MaxWritesInFlight {
		op.done(failed(&TooBusyError{What: "writes in flight", Limit: w.s.cfg.MaxWritesInFlight}))
		return
	}
	for _, e := range op.events {
		op.size += len(e.Data) + len(e.Metadata) + len(e.Type)
	}
	if w.inFlight > 0 && w.bytes+op.size > w.s.cfg.MaxWriteBytesInFlight {
		op.done(failed(&TooBusyError{What: "bytes of writes in flight", Limit: w.s.cfg.MaxWriteBytesInFlight}))
		return
	}
	w.inFlight++
	w.bytes += op.size
	w.process(op)
}

// answer runs op's callback once, releasing its slot first when it holds
// nothing else, so the callback may write again.
func (w *writer) answer(op *writeOp, res WriteResult) {
	if op.answered {
		return
	}
	op.answered = true
	w.release(op)
	op.done(res)
}

// release frees op's in-flight slot once it is answered and its proposal
// (if any) has left the writer view with the log's answer in.
func (w *writer) release(op *writeOp) {
	if op.released || !op.answered || (op.prop != nil && !op.prop.freed) {
		return
	}
	op.released = true
	w.inFlight--
	w.bytes -= op.size
}

// view is a stream as the writer sees it.
type view struct {
	last        int64
	tombstoned  bool
	softDeleted bool           // metadata $tb is DeletedStream (plain streams only)
	metaLast    int64          // last revision of "$$name" (plain streams only)
	meta        *meta.Metadata // latest metadata (plain streams only)
	// st is the committed stream (nil if never applied).
	st *stream
}

func (w *writer) view(name string) view {
	v := view{last: NoRevision, metaLast: NoRevision, st: w.s.idx.get(name)}
	if v.st != nil {
		v.last = v.st.last()
		v.tombstoned = v.st.tombstoned()
	}
	if isMetastream(name) {
		if w.view(originalOf(name)).tombstoned {
			v.tombstoned = true
		}
		for _, p := range w.pending[name] {
			for i := range p.events {
				if p.events[i].Stream == name {
					v.last = p.events[i].Number
				}
			}
		}
		return v
	}
	if v.st != nil {
		v.meta = v.st.meta
	}
	mname := MetastreamOf(name)
	if mst := w.s.idx.get(mname); mst != nil {
		v.metaLast = mst.last()
	}
	for _, p := range mergeBySeq(w.pending[name], w.pending[mname]) {
		for i := range p.events {
			ev := &p.events[i]
			switch ev.Stream {
			case name:
				if ev.Tombstone {
					v.tombstoned = true
				} else {
					v.last = ev.Number
				}
			case mname:
				v.metaLast = ev.Number
				v.meta = p.metas[i]
			}
		}
	}
	v.softDeleted = v.meta != nil && v.meta.SoftDeleted()
	return v
}

func mergeBySeq(a, b []*proposal) []*proposal {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]*proposal, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].seq < b[0].seq):
			out = append(out, a[0])
			a = a[1:]
		case len(a) > 0 && a[0] == b[0]:
			out = append(out, a[0])
			a, b = a[1:], b[1:]
		default:
			out = append(out, b[0])
			b = b[1:]
		}
	}
	return out
}

type verdict uint8

const (
	vOK verdict = iota
	vIdempotent
	vWrongVersion
	vDeleted
	vCorrupted
	vNeedRead
)

type decision struct {
	verdict verdict
	view    view
	// undelete: the write recreates a soft-deleted stream.
	undelete bool
	// idempotent: the retry's last matched event.
	end location
	// needRead: committed revisions whose ids must be read from the log.
	reads []int64
	// nothingToDelete: a soft delete of a stream that never existed.
	nothingToDelete bool
}

// location is where an event is: applied (pos) or in a proposal.
type location struct {
	rev  int64
	pos  int64
	prop *proposal
	idx  int
}

// decide is EventStoreDB's commit check, run on the writer's view, then its
// one rule for soft deletes: a stream that never existed (no events, no
// metadata) is not deleted, whatever the expected revision; the client
// learns so as a wrong expected version, as EventStoreDB answers it.
func (w *writer) decide(op *writeOp) decision {
	d := w.commitCheck(op)
	if d.verdict == vOK && op.kind == opDelete && d.view.last < 0 && d.view.metaLast < 0 {
		d.verdict, d.nothingToDelete = vWrongVersion, true
	}
	return d
}

// commitCheck is EventStoreDB's commit check, run on the writer's view.
func (w *writer) commitCheck(op *writeOp) decision {
	v := w.view(op.stream)
	d := decision{view: v}
	if v.tombstoned {
		d.verdict = vDeleted
		return d
	}
	exp := op.expected
	if exp == StreamExists {
		if v.softDeleted {
			d.verdict = vDeleted
			return d
		}
		if v.last < 0 && v.metaLast < 0 {
			d.verdict = vWrongVersion
			return d
		}
	}
	// Deletes and tombstones carry a fresh event id: never a retry.
	fresh := op.kind != opAppend
	ids := op.ids()
	if exp == Any || exp == StreamExists {
		if fresh || len(ids) == 0 || !w.retryByID(op.stream, v, ids, &d) {
			d.undelete = v.softDeleted
		}
		return d
	}
	if exp == NoStream && !fresh && len(ids) > 0 && w.retryByID(op.stream, v, ids, &d) {
		// A NoStream write that recreated a soft-deleted stream put its
		// events after the old ones, not at revision 0, where the check
		// below looks: a retry of it is found by id.
		return d
	}
	e := int64(exp)
	if e > v.last {
		d.verdict = vWrongVersion
		return d
	}
	if e == v.last {
		d.undelete = v.softDeleted
		return d
	}
	// e < v.last: the same events at e+1, e+2, ... make a retry.
	if len(ids) == 0 {
		d.verdict = vWrongVersion
		return d
	}
	matches := make([]bool, len(ids))
	for i, id := range ids {
		rev := e + 1 + int64(i)
		if fresh || rev > v.last {
			continue
		}
		loc, match, known := w.idAt(op, v, rev, id)
		if !known {
			d.reads = append(d.reads, rev)
			continue
		}
		matches[i] = match
		if match && i == len(ids)-1 {
			d.end = loc
		}
	}
	if len(d.reads) > 0 {
		d.verdict = vNeedRead
		return d
	}
	for i, m := range matches {
		if m {
			continue
		}
		switch {
		case i > 0:
			d.verdict = vCorrupted
		case exp == NoStream && v.softDeleted:
			d.undelete = true // recreating a soft-deleted stream
		default:
			d.verdict = vWrongVersion
		}
		return d
	}
	d.verdict = vIdempotent
	return d
}

// retryByID looks a write's events up by id (proposals in flight, the
// id cache). All found, one after the other, make a retry (vIdempotent);
// only the first ones, a corrupted one (vCorrupted). found is false when
// the first is not found: a new write, as far as this node remembers.
func (w *writer) retryByID(stream string, v view, ids [][16]byte, d *decision) (found bool) {
	for i, id := range ids {
		loc, ok := w.locate(stream, v, id)
		if ok && i > 0 && loc.rev != d.end.rev+1 {
			ok = false // not where a retry of this write would have put it
		}
		if !ok {
			if i == 0 {
				return false
			}
			d.verdict = vCorrupted
			return true
		}
		d.end = loc
	}
	d.verdict = vIdempotent
	return true
}

// locate finds where the event with id was written in stream, if this node
// remembers (proposals in flight, the committed id cache).
func (w *writer) locate(name string, v view, id [16]byte) (location, bool) {
	for _, p := range w.pending[name] {
		for i := range p.events {
			if ev := &p.events[i]; ev.Stream == name && !ev.Tombstone && ev.ID == id {
				return location{rev: ev.Number, prop: p, idx: i}, true
			}
		}
	}
	if e, ok := w.s.idx.ids.get(id); ok && v.st != nil && e.st == v.st && e.rev >= 0 && e.rev <= v.st.last() {
		return location{rev: e.rev, pos: v.st.positions[e.rev]}, true
	}
	return location{}, false
}

// idAt compares id with the event at rev of op's stream. known is false
// when only a log read can tell.
func (w *writer) idAt(op *writeOp, v view, rev int64, id [16]byte) (loc location, match, known bool) {
	for _, p := range w.pending[op.stream] {
		for i := range p.events {
			if ev := &p.events[i]; ev.Stream == op.stream && !ev.Tombstone && ev.Number == rev {
				return location{rev: rev, prop: p, idx: i}, ev.ID == id, true
			}
		}
	}
	if v.st == nil || rev > v.st.last() {
		return location{}, false, true
	}
	loc = location{rev: rev, pos: v.st.positions[rev]}
	if e, ok := w.s.idx.ids.get(id); ok && e.st == v.st && e.rev == rev {
		return loc, true, true
	}
	if got, ok := op.known[rev]; ok {
		return loc, got == id, true
	}
	return loc, false, false
}

func (w *writer) process(op *writeOp) {
	if op.abandoned != nil && op.abandoned() {
		// Decided again after a wait (a deferred refusal, a read of ids),
		// but its client was answered meanwhile: drop it unproposed.
		w.answer(op, failed(&TimeoutError{Stream: op.stream, Err: errAbandoned}))
		return
	}
	d := w.decide(op)
	v := d.view
	switch d.verdict {
	case vDeleted, vWrongVersion, vCorrupted:
		if w.inFlightFor(op.stream) {
			w.deferred[op.stream] = append(w.deferred[op.stream], op)
			return
		}
	}
	switch d.verdict {
	case vDeleted:
		w.answer(op, failed(&StreamDeletedError{Stream: op.stream}))
	case vWrongVersion:
		w.answer(op, failed(&WrongExpectedVersionError{Stream: op.stream, Expected: op.expected, Actual: v.last, NothingToDelete: d.nothingToDelete}))
	case vCorrupted:
		w.answer(op, failed(&CorruptedIdempotencyError{Stream: op.stream, Expected: op.expected, Actual: v.last}))
	case vNeedRead:
		w.readIDs(op, d.reads)
	case vIdempotent:
		w.idempotent(op, d.end)
	case vOK:
		w.propose(op, d)
	}
}

// idempotent answers a retry with the original write's outcome.
func (w *writer) idempotent(op *writeOp, end location) {
	p := end.prop
	if p == nil {
		w.answer(op, WriteResult{Revision: end.rev, Position: end.pos, Idempotent: true})
		return
	}
	if p.logDone && p.err != nil {
		// The original's fate is unknown; so is the retry's.
		w.answer(op, failed(p.err))
		return
	}
	p.waiters = append(p.waiters, waiter{op: op, idx: end.idx})
}

// readIDs fetches the ids at revs (ascending, committed) from the log,
// then decides again. Committed events never change, so each round only
// adds facts.
func (w *writer) readIDs(op *writeOp, revs []int64) {
	if op.known == nil {
		op.known = make(map[int64][16]byte, len(revs))
	}
	st := w.s.idx.get(op.stream)
	positions := make([]int64, len(revs))
	for i, rev := range revs {
		positions[i] = st.positions[rev]
	}
	w.s.fetch(positions, math.MaxInt, func(evs []Event, err error) {
		for i, ev := range evs {
			if err == nil && (ev.Stream != op.stream || ev.Number != revs[i]) {
				err = fmt.Errorf("the log holds event %d@%q at position %d where the index expects %d@%q",
					ev.Number, ev.Stream, positions[i], revs[i], op.stream)
			}
		}
		if err != nil {
			w.answer(op, failed(fmt.Errorf("reading stream %q to check for a retried write: %w", op.stream, err)))
			return
		}
		for i, ev := range evs {
			op.known[revs[i]] = ev.ID
		}
		w.process(op)
	})
}

// propose numbers op's events on the writer view and hands them to the log.
func (w *writer) propose(op *writeOp, d decision) {
	v := d.view
	created := op.now.UnixNano() / 100
	var events []Event
	mname := MetastreamOf(op.stream)
	resultIdx := -1
	switch op.kind {
	case opAppend:
		if len(op.events) == 0 {
			w.answer(op, WriteResult{Revision: v.last, Position: -1})
			return
		}
		if d.undelete && !isMetastream(op.stream) {
			// Recreate: visible history starts at the first new event.
			var m meta.Metadata
			if v.meta != nil {
				m = *v.meta
			}
			events = append(events, w.systemEvent(mname, v.metaLast+1, MetadataEventType, m.WithTruncateBefore(v.last+1), created))
		}
		for i, e := range op.events {
			events = append(events, Event{
				Stream: op.stream, Number: v.last + 1 + int64(i), ID: e.ID, Type: e.Type,
				Data: e.Data, Metadata: e.Metadata, IsJSON: e.IsJSON, Created: created,
			})
		}
		resultIdx = len(events) - 1
		if isMetastream(op.stream) {
			// New metadata for a soft-deleted stream recreates it, as in
			// EventStoreDB: the written document again, with $tb past the
			// stream's last event.
			orig := w.view(originalOf(op.stream))
			if orig.softDeleted {
				if m, err := meta.Parse(op.events[len(op.events)-1].Data); err == nil {
					number := events[resultIdx].Number + 1
					events = append(events, w.systemEvent(op.stream, number, MetadataEventType, m.WithTruncateBefore(orig.last+1), created))
				}
			}
		}
	case opDelete:
		events = append(events, w.systemEvent(mname, v.metaLast+1, MetadataEventType, meta.SoftDeleteDocument(), created))
		resultIdx = 0
	case opTombstone:
		ev := w.systemEvent(op.stream, tombstoneNumber, StreamDeletedEventType, nil, created)
		ev.IsJSON = false
		ev.Tombstone = true
		events = append(events, ev)
		resultIdx = 0
	}

	w.seq++
	p := &proposal{seq: w.seq, events: events, op: op, resultIdx: resultIdx, inView: true}
	p.metas = make([]*meta.Metadata, len(events))
	for i := range events {
		ev := &events[i]
		if isMetastream(ev.Stream) {
			p.metas[i] = parseMetadata(ev.Data)
		}
		last := ev.Number
		if j := p.touchIndex(ev.Stream); j >= 0 {
			p.touches[j].last = last
		} else {
			p.touches = append(p.touches, touch{stream: ev.Stream, last: last})
			w.pending[ev.Stream] = append(w.pending[ev.Stream], p)
		}
	}
	op.prop = p
	// The proposal is in the view before the log sees it: the log may
	// answer, and Apply run, before Append returns.
	w.s.log.Append(events, func(positions []int64, err error) { w.logAnswered(p, positions, err) })
}

func (p *proposal) touchIndex(stream string) int {
	for i, t := range p.touches {
		if t.stream == stream {
			return i
		}
	}
	return -1
}

func (w *writer) systemEvent(stream string, number int64, typ string, data []byte, created int64) Event {
	return Event{Stream: stream, Number: number, ID: w.s.cfg.NewID(), Type: typ, Data: data, IsJSON: true, Created: created}
}

func (w *writer) logAnswered(p *proposal, positions []int64, err error) {
	if p.logDone {
		panic(fmt.Sprintf("streams: the log answered the append to %q twice", p.op.stream))
	}
	p.logDone = true
	if err == nil && len(positions) != len(p.events) {
		err = fmt.Errorf("the log returned %d positions for %d events", len(positions), len(p.events))
	}
	if err != nil {
		p.err = logError(p.op.stream, err)
		w.free(p)
		w.answer(p.op, failed(p.err))
		for _, wt := range p.waiters {
			w.answer(wt.op, failed(p.err))
		}
		return
	}
	p.positions = positions
	if positions[len(positions)-1] <= w.s.idx.lastPos {
		w.complete(p)
		return
	}
	w.awaiting = append(w.awaiting, p)
}

func logError(stream string, err error) error {
	if errors.Is(err, env.ErrTimeout) {
		return &TimeoutError{Stream: stream, Err: err}
	}
	return err
}

// complete answers a committed proposal whose events are applied.
func (w *writer) complete(p *proposal) {
	w.free(p)
	res := WriteResult{Revision: NoRevision, Position: p.positions[p.resultIdx]}
	if p.op.kind == opAppend {
		res.Revision = p.events[p.resultIdx].Number
	}
	w.answer(p.op, res)
	for _, wt := range p.waiters {
		w.answer(wt.op, WriteResult{Revision: p.events[wt.idx].Number, Position: p.positions[wt.idx], Idempotent: true})
	}
}

// free marks the proposal settled once the log answered and it left the
// view, releasing its op.
func (w *writer) free(p *proposal) {
	if p.freed || !p.logDone || p.inView {
		return
	}
	p.freed = true
	w.release(p.op)
}

// settleApplied completes proposals whose events Apply has now delivered.
func (w *writer) settleApplied() {
	n := 0
	var ready []*proposal
	for _, p := range w.awaiting {
		if p.positions[len(p.positions)-1] <= w.s.idx.lastPos {
			ready = append(ready, p)
		} else {
			w.awaiting[n] = p
			n++
		}
	}
	clear(w.awaiting[n:])
	w.awaiting = w.awaiting[:n]
	for _, p := range ready {
		w.complete(p)
	}
}

// retire drops from the view the proposals on name whose events are now
// applied. The refusals deferred on name are decided again only by
// redecideApplied, once every stream of the batch is retired: a proposal
// that wrote to two streams (a recreate writes metadata and events) is
// listed under both, and a view taken between the two retirements would
// see its already applied half override newer applied metadata.
func (w *writer) retire(name string) {
	list := w.pending[name]
	st := w.s.idx.get(name)
	for len(list) > 0 {
		p := list[0]
		last := p.touches[p.touchIndex(name)].last
		applied := st != nil && ((last == tombstoneNumber && st.tombstoned()) || (last != tombstoneNumber && st.last() >= last))
		if !applied {
			break
		}
		list[0] = nil
		list = list[1:]
		p.retired++
		if p.retired == len(p.touches) {
			p.inView = false
			w.free(p)
		}
	}
	if len(list) == 0 {
		delete(w.pending, name)
	} else {
		w.pending[name] = list
	}
}

// redecideApplied decides again the refusals deferred on a stream whose
// events (or metadata) were just applied and retired.
func (w *writer) redecideApplied(name string) {
	if len(w.deferred) == 0 {
		return // the usual case: no name to build
	}
	w.redecide(name)
	if isMetastream(name) {
		w.redecide(originalOf(name))
	} else {
		w.redecide(MetastreamOf(name))
	}
}

func (w *writer) reset() {
	for _, name := range sorted.Keys(w.pending) {
		for _, p := range w.pending[name] {
			if p.inView {
				p.inView = false
				w.free(p)
			}
		}
	}
	w.pending = map[string][]*proposal{}
	for _, name := range sorted.Keys(w.deferred) {
		w.redecide(name)
	}
}
