package check

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// streamState is one stream in the sequential model: its events' ids,
// newest first, as a shared list, so that a step costs one allocation and
// states that share a history share memory.
type streamState struct {
	prev *streamState
	id   [16]byte
	n    int64 // events in the stream, this one included
	hash uint64
}

func (s *streamState) len() int64 {
	if s == nil {
		return 0
	}
	return s.n
}

func (s *streamState) push(ids [][16]byte) *streamState {
	for _, id := range ids {
		h := uint64(14695981039346656037)
		if s != nil {
			h = s.hash
		}
		h ^= binary.LittleEndian.Uint64(id[:8])
		h *= 1099511628211
		h ^= binary.LittleEndian.Uint64(id[8:])
		h *= 1099511628211
		s = &streamState{prev: s, id: id, n: s.len() + 1, hash: h}
	}
	return s
}

// at is the id of revision rev (which must exist).
func (s *streamState) at(rev int64) [16]byte {
	for s.n-1 > rev {
		s = s.prev
	}
	return s.id
}

func sameStream(a, b *streamState) bool {
	for a != b {
		if a == nil || b == nil || a.n != b.n || a.hash != b.hash || a.id != b.id {
			return false
		}
		a, b = a.prev, b.prev
	}
	return true
}

// expectationHolds is the expected-revision check of a stream with n
// events.
func expectationHolds(expected, n int64) bool {
	switch expected {
	case ExpectAny:
		return true
	case ExpectNoStream:
		return n == 0
	case ExpectStreamExists:
		return n > 0
	}
	return expected == n-1
}

// Model names the sequential specification a history is checked against.
type Model string

const (
	// Strict: an append's expected revision is checked exactly against
	// the committed stream, rejections included.
	Strict Model = "strict"
	// WriterView: as Strict, except that a rejection may be decided
	// against the node's writer view (the committed stream plus its own
	// proposals still in flight, as EventStoreDB decides): it must agree
	// with the actual revision it reports, and that revision must not be
	// behind the committed stream.
	WriterView Model = "writer-view"
)

// Valid reports whether m names a model.
func (m Model) Valid() bool { return m == Strict || m == WriterView }

// step is the sequential specification of one stream: appends check their
// expected revision exactly and number their events after the stream's
// last; reads see the stream as it is.
func step(model Model, s *streamState, op *Op) (bool, *streamState) {
	n := s.len()
	switch op.Kind {
	case OpAppend:
		holds := expectationHolds(op.Expected, n)
		switch op.Outcome {
		case OK:
			if !holds || op.Revision != n-1+int64(len(op.IDs)) {
				return false, s
			}
			return true, s.push(op.IDs)
		case WrongVersion:
			// The actual revision a node reports is its writer's view:
			// the committed stream plus its own proposals still in
			// flight (as EventStoreDB's), so it may run ahead of the
			// committed stream, but never behind it.
			if op.Revision < n-1 {
				return false, s
			}
			if model == WriterView {
				return !expectationHolds(op.Expected, op.Revision+1), s
			}
			return !holds, s
		case Unknown:
			// It may have been written, if its expectation held; placed
			// after everything else it is as if it never was.
			if holds {
				return true, s.push(op.IDs)
			}
			return true, s
		}
	case OpRead:
		switch op.Outcome {
		case NotFound:
			return n == 0, s
		case OK:
			if op.Revision != n-1 || int64(len(op.Events)) > n {
				return false, s
			}
			for k, ev := range op.Events {
				if ev.Revision != n-1-int64(k) || s.at(ev.Revision) != ev.ID {
					return false, s
				}
			}
			return true, s
		}
	}
	return false, s
}

func streamModel(model Model) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return (*streamState)(nil) },
		Step: func(state, input, _ any) (bool, any) {
			ok, next := step(model, state.(*streamState), input.(*Op))
			return ok, next
		},
		Equal: func(a, b any) bool { return sameStream(a.(*streamState), b.(*streamState)) },
		Hash:  func(state any) uint64 { return state.(*streamState).hashOrZero() },
		DescribeOperation: func(input, _ any) string {
			return input.(*Op).String()
		},
		DescribeState: func(state any) string {
			s := state.(*streamState)
			if s == nil {
				return "no events"
			}
			return fmt.Sprintf("last revision %d (id %x)", s.n-1, s.id)
		},
	}
}

func (s *streamState) hashOrZero() uint64 {
	if s == nil {
		return 0
	}
	return s.hash
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
