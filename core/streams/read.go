package streams

import (
	"fmt"
	"math"
	"time"

	"github.com/annal-db/annal/core/streams/filter"
)

// ReadStream reads one page of a stream, honouring its metadata ($tb,
// $maxCount, and $maxAge judged against req.Now). A stream that never had
// events, or is soft-deleted, answers StreamNotFoundError; a tombstoned one
// StreamDeletedError. System streams ("$..."), metadata streams included,
// are readable like any other.
func (s *Service) ReadStream(req ReadStreamRequest, done func(ReadStreamResult)) {
	fail := func(err error) { done(ReadStreamResult{Next: -1, LastRevision: NoRevision, Err: err}) }
	if err := validateRead(req); err != nil {
		fail(err)
		return
	}
	st, vis, err := s.idx.readState(req.Stream)
	if err != nil {
		fail(err)
		return
	}
	if s.reads >= s.cfg.MaxReads {
		fail(&TooBusyError{What: "reads in progress", Limit: s.cfg.MaxReads})
		return
	}
	s.reads++
	r := &streamRead{
		s: s, name: req.Stream, st: st, vis: vis, last: st.last(),
		backwards: req.Direction == Backwards,
		want:      int(min(req.Count, uint64(s.cfg.MaxReadCount))),
		ageLimit:  ageLimit(req.Now, vis.maxAge),
		done: func(res ReadStreamResult) {
			s.reads--
			done(res)
		},
	}
	switch req.From.kind {
	case fromStart:
		r.next = 0
	case fromEnd:
		r.next = r.last + 1
		if r.backwards {
			r.next = r.last
		}
	case fromAt:
		r.next = req.From.value
		if r.backwards {
			r.next = min(r.next, r.last)
		}
	}
	r.loop.run(r.step)
}

func validateRead(req ReadStreamRequest) error {
	if req.Stream == "" {
		return invalid("the stream name is empty")
	}
	if req.Stream == AllStream {
		return invalid("read %q with ReadAll", AllStream)
	}
	if req.Count == 0 {
		return invalid("read count is 0; ask for at least one event")
	}
	if req.Direction != Forwards && req.Direction != Backwards {
		return invalid("unknown read direction %d", req.Direction)
	}
	switch req.From.kind {
	case fromStart, fromEnd:
	case fromAt:
		if req.From.value < 0 {
			return invalid("read of %q from revision %d: revisions start at 0", req.Stream, req.From.value)
		}
	default:
		return invalid("a read starts at the start, the end or a revision, not %v", req.From)
	}
	if req.Now.IsZero() {
		return invalid("the read has no Now; the node must pass its wall clock (env.Clock.Wall) for $maxAge")
	}
	return nil
}

// ageLimit is the oldest Created (ticks) still visible, or the minimum
// int64 when the stream has no $maxAge, or one too large to count in ticks
// (about 29,000 years or more), which must not hide more than a smaller
// one.
func ageLimit(now time.Time, maxAge int64) int64 {
	const ticksPerSecond = int64(time.Second / 100)
	if maxAge <= 0 || maxAge > math.MaxInt64/ticksPerSecond {
		return math.MinInt64
	}
	return now.UnixNano()/100 - maxAge*ticksPerSecond
}

type streamRead struct {
	s         *Service
	name      string
	st        *stream
	vis       visibility
	last      int64 // the stream's last revision when the read began
	backwards bool
	want      int
	ageLimit  int64
	next      int64 // next revision to look at
	out       []Event
	bytes     int
	scanned   int
	done      func(ReadStreamResult)
	loop      loop
}

// readBatch bounds the revisions asked of one fetch.
const readBatch = 512

func (r *streamRead) finish(end bool, err error) {
	res := ReadStreamResult{Events: r.out, Next: r.next, End: end, LastRevision: r.last, Err: err}
	if end {
		res.Next = -1
	}
	if err != nil {
		res.Events = nil
	}
	r.done(res)
}

func (r *streamRead) step() {
	if !r.backwards {
		r.next = max(r.next, r.vis.min)
	}
	if len(r.out) >= r.want || (len(r.out) > 0 && r.bytes >= r.s.cfg.MaxReadBytes) || r.scanned >= r.s.cfg.MaxScanBytes {
		r.finish(r.atEnd(), nil)
		return
	}
	if r.atEnd() {
		r.finish(true, nil)
		return
	}
	var positions []int64
	if r.backwards {
		lo := max(r.vis.min, r.next-readBatch+1, r.next-int64(r.want-len(r.out))+1)
		for rev := r.next; rev >= lo; rev-- {
			positions = append(positions, r.st.positions[rev])
		}
	} else {
		hi := min(r.last, r.next+readBatch-1, r.next+int64(r.want-len(r.out))-1)
		positions = r.st.positions[r.next : hi+1]
	}
	budget := max(r.s.cfg.MaxReadBytes-r.bytes, 1)
	r.s.fetch(positions, budget, func(evs []Event, err error) {
		if err != nil {
			r.finish(false, fmt.Errorf("reading stream %q: %w", r.name, err))
			return
		}
		for _, ev := range evs {
			if ev.Stream != r.name || ev.Number != r.next {
				r.finish(false, fmt.Errorf("reading stream %q: the log holds %d@%q where the index has revision %d", r.name, ev.Number, ev.Stream, r.next))
				return
			}
			r.scanned += ev.size()
			if ev.Created >= r.ageLimit {
				r.out = append(r.out, ev)
				r.bytes += ev.size()
			}
			if r.backwards {
				r.next--
			} else {
				r.next++
			}
		}
		r.loop.run(r.step)
	})
}

func (r *streamRead) atEnd() bool {
	if r.backwards {
		return r.next < r.vis.min || r.next < 0
	}
	return r.next > r.last
}

// ReadAll reads one page of $all: every committed event in log order
// (forwards from At(p) inclusive, backwards from At(p) exclusive), with an
// optional server-side filter. Stream metadata does not hide events from
// $all, as in EventStoreDB before a scavenge.
func (s *Service) ReadAll(req ReadAllRequest, done func(ReadAllResult)) {
	fail := func(err error) { done(ReadAllResult{Next: -1, Checkpoint: -1, Err: err}) }
	if req.Count == 0 {
		fail(invalid("read count is 0; ask for at least one event"))
		return
	}
	if req.Direction != Forwards && req.Direction != Backwards {
		fail(invalid("unknown read direction %d", req.Direction))
		return
	}
	if req.From.kind == fromAfter || (req.From.kind == fromAt && req.From.value < 0) {
		fail(invalid("a $all read starts at the start, the end or a position >= 0, not %v", req.From))
		return
	}
	f, interval, err := compileFilter(req.Filter)
	if err != nil {
		fail(err)
		return
	}
	if s.reads >= s.cfg.MaxReads {
		fail(&TooBusyError{What: "reads in progress", Limit: s.cfg.MaxReads})
		return
	}
	s.reads++
	r := &allRead{
		s: s, filter: f, interval: interval,
		backwards:  req.Direction == Backwards,
		want:       int(min(req.Count, uint64(s.cfg.MaxReadCount))),
		checkpoint: -1,
		applied:    s.idx.lastPos,
		done: func(res ReadAllResult) {
			s.reads--
			done(res)
		},
	}
	r.edge = 0
	if r.backwards {
		r.edge = math.MaxInt64
	}
	switch req.From.kind {
	case fromStart:
		r.pos = 0
	case fromEnd:
		r.pos = s.log.Committed()
	case fromAt:
		r.edge = req.From.value
		r.pos = r.startAt(r.edge)
	}
	if !r.backwards {
		if req.From.kind == fromEnd {
			r.finish(true)
			return
		}
		r.loop.run(r.step)
		return
	}
	if req.From.kind == fromStart {
		r.finish(true)
		return
	}
	r.loop.run(r.stepBack)
}

// compileFilter compiles a request's filter; interval is the number of
// considered events between checkpoints (0 without a filter).
func compileFilter(af *AllFilter) (*filter.Filter, int, error) {
	if af == nil {
		return nil, 0, nil
	}
	f, err := filter.New(af.Spec)
	if err != nil {
		return nil, 0, &InvalidArgumentError{What: err.Error()}
	}
	window := int(af.MaxSearchWindow)
	if window == 0 {
		window = DefaultSearchWindow
	}
	mult := int(af.CheckpointIntervalMultiplier)
	if mult == 0 {
		mult = 1
	}
	return f, window * mult, nil
}

type allRead struct {
	s          *Service
	filter     *filter.Filter
	interval   int
	considered int
	checkpoint int64
	backwards  bool
	want       int
	// applied is the last applied position when the read began: the read
	// returns nothing after it, so it agrees with the index.
	applied int64
	pos     int64 // forwards: next read's from; backwards: next read's before
	// edge is the client's position: forwards, events before it are passed
	// over; backwards, events at or after it.
	edge    int64
	out     []Event
	bytes   int
	scanned int
	done    func(ReadAllResult)
	loop    loop
}

// startAt is where the log is read for a read from the client's position
// p, which need not be where a record starts: the log is read from a mark
// at or before p (forwards), or at or after it (backwards), and the
// events between the mark and p are passed over.
func (r *allRead) startAt(p int64) int64 {
	x := &r.s.idx
	switch {
	case p <= 0:
		return 0
	case !r.backwards && p > r.applied:
		return p // nothing applied lies there: the read ends at once
	case !r.backwards:
		return x.boundaryAtOrBefore(p)
	}
	if m, ok := x.boundaryAtOrAfter(p); ok {
		return m
	}
	return r.s.log.Committed()
}

func (r *allRead) finish(end bool) {
	res := ReadAllResult{Events: r.out, Next: r.pos, End: end, Checkpoint: r.checkpoint}
	if end {
		res.Next = -1
	}
	r.done(res)
}

func (r *allRead) fail(err error) {
	r.done(ReadAllResult{Next: -1, Checkpoint: -1, Err: fmt.Errorf("reading $all: %w", err)})
}

func (r *allRead) pageFull() bool {
	return len(r.out) >= r.want || (len(r.out) > 0 && r.bytes >= r.s.cfg.MaxReadBytes) || r.scanned >= r.s.cfg.MaxScanBytes
}

// consider runs one event through the filter and the checkpoint count.
func (r *allRead) consider(ev Event) {
	r.scanned += ev.size()
	if r.filter.Match(ev.Stream, ev.Type) {
		r.out = append(r.out, ev)
		r.bytes += ev.size()
	}
	if r.filter != nil {
		r.considered++
		if r.considered%r.interval == 0 {
			r.checkpoint = ev.Position
		}
	}
}

func (r *allRead) step() {
	if r.pos > r.applied {
		r.finish(true)
		return
	}
	r.s.log.ReadForward(r.pos, r.s.log.Committed(), r.s.cfg.ReadChunkBytes, func(evs []Event, next int64, err error) {
		if err != nil {
			r.fail(err)
			return
		}
		if len(evs) == 0 {
			r.finish(true)
			return
		}
		for i, ev := range evs {
			if i > 0 && ev.Position <= evs[i-1].Position {
				r.fail(fmt.Errorf("the log's forward read returned position %d after %d", ev.Position, evs[i-1].Position))
				return
			}
			if ev.Position > r.applied {
				r.pos = ev.Position
				r.finish(true)
				return
			}
			if ev.Position < r.edge {
				continue
			}
			if r.pageFull() {
				r.pos = ev.Position
				r.finish(false)
				return
			}
			r.consider(ev)
		}
		if next <= r.pos {
			r.fail(fmt.Errorf("the log's forward read from %d did not advance (next %d)", r.pos, next))
			return
		}
		r.pos = next
		if r.pageFull() {
			r.finish(r.pos > r.applied)
			return
		}
		r.loop.run(r.step)
	})
}

func (r *allRead) stepBack() {
	if r.pos <= 0 {
		r.finish(true)
		return
	}
	r.s.log.ReadBackward(r.pos, r.s.cfg.ReadChunkBytes, func(evs []Event, prev int64, err error) {
		if err != nil {
			r.fail(err)
			return
		}
		if len(evs) == 0 {
			r.finish(true)
			return
		}
		for _, ev := range evs {
			if ev.Position > r.applied || ev.Position >= r.edge {
				// Committed but not applied here (not visible yet), or
				// between the mark read from and the client's position.
				r.pos = ev.Position
				continue
			}
			if r.pageFull() {
				r.finish(false)
				return
			}
			if ev.Position >= r.pos {
				r.fail(fmt.Errorf("the log's backward read before %d returned position %d", r.pos, ev.Position))
				return
			}
			r.consider(ev)
			r.pos = ev.Position
		}
		if r.pageFull() {
			r.finish(r.pos <= 0)
			return
		}
		r.loop.run(r.stepBack)
	})
}

// loop runs a read's steps. A step whose log read completes before it
// returns asks for another round instead of calling itself, so a log that
// answers synchronously does not deepen the stack with every chunk.
type loop struct{ running, again bool }

func (l *loop) run(step func()) {
	if l.running {
		l.again = true
		return
	}
	l.running = true
	for {
		l.again = false
		step()
		if !l.again {
			break
		}
	}
	l.running = false
}
