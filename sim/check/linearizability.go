package check

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// events are a stream's event ids, newest first, as a shared list, so that
// a step costs one allocation and states that share a history share
// memory.
type events struct {
	prev *events
	id   [16]byte
	n    int64 // events in the stream, this one included
	hash uint64
}

func (e *events) len() int64 {
	if e == nil {
		return 0
	}
	return e.n
}

func (e *events) hashOrZero() uint64 {
	if e == nil {
		return 0
	}
	return e.hash
}

func (e *events) push(ids [][16]byte) *events {
	for _, id := range ids {
		h := uint64(14695981039346656037)
		if e != nil {
			h = e.hash
		}
		h ^= binary.LittleEndian.Uint64(id[:8])
		h *= 1099511628211
		h ^= binary.LittleEndian.Uint64(id[8:])
		h *= 1099511628211
		e = &events{prev: e, id: id, n: e.len() + 1, hash: h}
	}
	return e
}

// at is the id of revision rev (which must exist).
func (e *events) at(rev int64) [16]byte {
	for e.n-1 > rev {
		e = e.prev
	}
	return e.id
}

func sameEvents(a, b *events) bool {
	for a != b {
		if a == nil || b == nil || a.n != b.n || a.hash != b.hash || a.id != b.id {
			return false
		}
		a, b = a.prev, b.prev
	}
	return true
}

// streamState is one stream in the sequential model, as core/streams
// keeps it: its events, and what deletes did to it.
type streamState struct {
	events *events
	// visibleFrom is the first revision reads return: a stream recreated
	// after a soft delete shows only the events written since.
	visibleFrom int64
	// softDeleted: reads find nothing until an append recreates it.
	softDeleted bool
	// hasMeta: the stream has metadata (a delete or a recreate wrote it),
	// which makes StreamExists hold even without events.
	hasMeta bool
	// tombstoned: nothing can be written or read any more.
	tombstoned bool
	// maxCount: reads show at most the last maxCount events (0: all).
	maxCount int64
}

// firstVisible is the first revision reads return: from a recreate's
// $tb on, and within the last maxCount events.
func (s streamState) firstVisible() int64 {
	first := s.visibleFrom
	if s.maxCount > 0 {
		first = max(first, s.last()-s.maxCount+1)
	}
	return first
}

func (s streamState) last() int64 { return s.events.len() - 1 }

func (s streamState) hash() uint64 {
	h := s.events.hashOrZero()
	h ^= uint64(s.visibleFrom)
	h *= 1099511628211
	h ^= uint64(s.maxCount)
	h *= 1099511628211
	for _, b := range []bool{s.softDeleted, s.hasMeta, s.tombstoned} {
		h <<= 1
		if b {
			h |= 1
		}
	}
	return h
}

func sameStream(a, b streamState) bool {
	return a.visibleFrom == b.visibleFrom && a.softDeleted == b.softDeleted && a.hasMeta == b.hasMeta &&
		a.tombstoned == b.tombstoned && a.maxCount == b.maxCount && sameEvents(a.events, b.events)
}

// accepts is the expected-revision check a write of kind passes on a
// stream whose last revision is last (core/streams' commit decision, as
// EventStoreDB's): NoStream lets an append recreate a soft-deleted stream,
// while a delete with NoStream wants a stream without events, and no soft
// delete passes on a stream that never existed (no events, no metadata).
func (s streamState) accepts(kind OpKind, expected, last int64) bool {
	if kind == OpDelete && last == -1 && !s.hasMeta {
		return false // a soft delete of a stream that never existed
	}
	switch expected {
	case ExpectAny:
		return true
	case ExpectNoStream:
		return last == -1 || (kind == OpAppend && s.softDeleted)
	case ExpectStreamExists:
		return !s.softDeleted && (last >= 0 || s.hasMeta)
	}
	return expected == last
}

// refusesAsDeleted: the write is answered "stream deleted" before its
// expected revision is looked at.
func (s streamState) refusesAsDeleted(expected int64) bool {
	return s.tombstoned || (expected == ExpectStreamExists && s.softDeleted)
}

// apply is a write's effect.
func (s streamState) apply(op *Op) streamState {
	switch op.Kind {
	case OpAppend:
		if s.softDeleted {
			// Recreated: the history before stays hidden.
			s.visibleFrom, s.softDeleted = s.last()+1, false
		}
		s.events = s.events.push(op.IDs)
	case OpDelete:
		// The soft delete's metadata is only $tb: a $maxCount goes.
		s.softDeleted, s.hasMeta, s.maxCount = true, true, 0
	case OpTombstone:
		s.tombstoned = true
	case OpMetadata:
		// The document replaces the last one, $tb included; on a
		// soft-deleted stream it recreates it, past its last event.
		s.maxCount, s.hasMeta, s.visibleFrom = op.MaxCount, true, 0
		if s.softDeleted {
			s.visibleFrom, s.softDeleted = s.last()+1, false
		}
	}
	return s
}

// Model names the sequential specification a history is checked against.
type Model string

const (
	// Strict: a write's expected revision is checked exactly against
	// the committed stream, rejections included.
	Strict Model = "strict"
	// WriterView: as Strict, except that a wrong-version rejection may be
	// decided against the node's writer view (the committed stream plus
	// its own proposals still in flight, as EventStoreDB decides): it must
	// agree with the actual revision it reports, and that revision must
	// not be behind the committed stream.
	WriterView Model = "writer-view"
)

// Valid reports whether m names a model.
func (m Model) Valid() bool { return m == Strict || m == WriterView }

// step is the sequential specification of one stream: writes check their
// expected revision exactly, appends number their events after the
// stream's last; reads see the stream as it is.
func step(model Model, s streamState, op *Op) (bool, streamState) {
	if op.Kind.Writes() {
		return writeStep(model, s, op)
	}
	last := s.last()
	switch op.Outcome {
	case Deleted:
		return s.tombstoned, s
	case NotFound:
		return !s.tombstoned && (last == -1 || s.softDeleted), s
	case OK:
		if s.tombstoned || s.softDeleted || op.Revision != last || int64(len(op.Events)) > last+1-s.firstVisible() {
			return false, s
		}
		for k, ev := range op.Events {
			if ev.Revision != last-int64(k) || s.events.at(ev.Revision) != ev.ID {
				return false, s
			}
		}
		return true, s
	}
	return false, s
}

func writeStep(model Model, s streamState, op *Op) (bool, streamState) {
	last := s.last()
	deleted := s.refusesAsDeleted(op.Expected)
	holds := !deleted && s.accepts(op.Kind, op.Expected, last)
	switch op.Outcome {
	case OK:
		if !holds || (op.Kind == OpAppend && op.Revision != last+int64(len(op.IDs))) {
			return false, s
		}
		return true, s.apply(op)
	case Deleted:
		return deleted, s
	case WrongVersion:
		// The actual revision a node reports is its writer's view:
		// the committed stream plus its own proposals still in
		// flight (as EventStoreDB's), so it may run ahead of the
		// committed stream, but never behind it.
		if deleted || op.Revision < last {
			return false, s
		}
		if model == WriterView {
			return !s.accepts(op.Kind, op.Expected, op.Revision), s
		}
		return !holds, s
	case Unknown:
		// It may have taken effect, if its expectation held; placed
		// after everything else it is as if it never was.
		if holds {
			return true, s.apply(op)
		}
		return true, s
	}
	return false, s
}

func streamModel(model Model) porcupine.Model {
	return porcupine.Model{
		// States are passed as pointers, and a step that changes
		// nothing hands back the one it got: a read or a refusal costs
		// no allocation.
		Init: func() any { return &streamState{} },
		Step: func(state, input, _ any) (bool, any) {
			cur := state.(*streamState)
			ok, next := step(model, *cur, input.(*Op))
			if next == *cur {
				return ok, state
			}
			return ok, &next
		},
		Equal: func(a, b any) bool { return sameStream(*a.(*streamState), *b.(*streamState)) },
		Hash:  func(state any) uint64 { return state.(*streamState).hash() },
		DescribeOperation: func(input, _ any) string {
			return input.(*Op).String()
		},
		DescribeState: func(state any) string { return state.(*streamState).String() },
	}
}

func (s streamState) String() string {
	var what string
	switch {
	case s.events == nil:
		what = "no events"
	default:
		what = fmt.Sprintf("last revision %d (id %x)", s.last(), s.events.id)
	}
	switch {
	case s.tombstoned:
		what += ", tombstoned"
	case s.softDeleted:
		what += ", soft-deleted"
	case s.visibleFrom > 0:
		what += fmt.Sprintf(", recreated at revision %d", s.visibleFrom)
	}
	if s.maxCount > 0 {
		what += fmt.Sprintf(", $maxCount %d", s.maxCount)
	}
	return what
}

// LinearizabilityOptions tune the check.
type LinearizabilityOptions struct {
	// Model is the specification (default Strict).
	Model Model
	// Timeout bounds the check of one stream's history (0: none). A check
	// that runs out says "unknown".
	Timeout time.Duration
	// Visualization is where porcupine's HTML rendering of the first
	// stream found not linearizable is written ("": nowhere).
	Visualization string
}

// LinearizabilityResult is what the check found.
type LinearizabilityResult struct {
	// Result is "ok", "illegal" or "unknown" (a timeout).
	Result string `json:"result"`
	Model  Model  `json:"model"`
	// Seconds is the check's wall time: a figure for the report, measured
	// after the simulated run and never fed back into it.
	Seconds    float64 `json:"check_seconds"`
	Operations int     `json:"operations"`
	Pending    int     `json:"pending"`
	Streams    int     `json:"streams"`
	// Illegal names the streams whose history is not linearizable.
	Illegal []string `json:"illegal_streams,omitempty"`
	// Visualization is the HTML file written for the first illegal stream.
	Visualization string `json:"visualization,omitempty"`
	// VisualizationError says why it could not be written.
	VisualizationError string `json:"visualization_error,omitempty"`
}

// OK reports whether every stream's history is linearizable.
func (r LinearizabilityResult) OK() bool { return r.Result == "ok" }

// CheckLinearizable checks the history per stream with porcupine: appends
// with their expected revisions, and reads (which the caller passes only
// when they required the leader). Failed operations are left out;
// operations with an unknown outcome are pending: they may take effect at
// any time after their invocation, or never.
func CheckLinearizable(ops []Op, opts LinearizabilityOptions) LinearizabilityResult {
	start := time.Now()
	if opts.Model == "" {
		opts.Model = Strict
	}
	res := LinearizabilityResult{Result: "ok", Model: opts.Model}
	var end time.Duration
	byStream := map[string][]*Op{}
	for k := range ops {
		op := &ops[k]
		if op.Outcome == Failed || (op.Kind == OpRead && op.Outcome == Unknown) {
			continue
		}
		end = max(end, op.Call, op.Return)
		byStream[op.Stream] = append(byStream[op.Stream], op)
	}
	names := make([]string, 0, len(byStream))
	for name := range byStream {
		names = append(names, name)
	}
	slices.Sort(names)
	model := streamModel(opts.Model)
	unknown := false
	for _, name := range names {
		history := make([]porcupine.Operation, 0, len(byStream[name]))
		for _, op := range byStream[name] {
			ret := op.Return
			if op.Outcome == Unknown {
				// Pending: it may take effect after everything else.
				ret = end + 1
				res.Pending++
			}
			history = append(history, porcupine.Operation{ClientId: max(op.Client-1, 0), Input: op, Call: int64(op.Call), Return: int64(ret)})
		}
		res.Operations += len(history)
		switch porcupine.CheckOperationsTimeout(model, history, opts.Timeout) {
		case porcupine.Illegal:
			res.Illegal = append(res.Illegal, name)
			if opts.Visualization != "" && res.Visualization == "" && res.VisualizationError == "" {
				_, info := porcupine.CheckOperationsVerbose(model, history, opts.Timeout)
				if err := porcupine.VisualizePath(model, info, opts.Visualization); err != nil {
					res.VisualizationError = err.Error()
				} else {
					res.Visualization = opts.Visualization
				}
			}
		case porcupine.Unknown:
			unknown = true
		}
	}
	res.Streams = len(names)
	switch {
	case len(res.Illegal) > 0:
		res.Result = "illegal"
	case unknown:
		res.Result = "unknown"
	}
	res.Seconds = time.Since(start).Seconds()
	return res
}
