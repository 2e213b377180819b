package streams_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
	"github.com/annal-db/annal/core/streams"
)

// Stream states the expected-revision table starts from.
const (
	stateMissing     = "missing"
	stateThreeEvents = "three events"
	stateMetaOnly    = "metadata only"
	stateSoftDeleted = "soft-deleted after three events"
	stateTombstoned  = "tombstoned after three events"
)

func prepare(t *testing.T, state string) *harness {
	h := newHarness(t, streams.Config{}, false)
	switch state {
	case stateThreeEvents:
		h.mustAppend("s", streams.NoStream, "a", "b", "c")
	case stateMetaOnly:
		h.setMetadata("s", `{"owner":"x"}`)
	case stateSoftDeleted:
		h.mustAppend("s", streams.NoStream, "a", "b", "c")
		if res := h.write(h.svc.Delete, "s", streams.Any); res.Err != nil {
			t.Fatal(res.Err)
		}
	case stateTombstoned:
		h.mustAppend("s", streams.NoStream, "a", "b", "c")
		if res := h.write(h.svc.Tombstone, "s", streams.Any); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	return h
}

// TestExpectedRevisionTable checks every expected revision against every
// stream state, with EventStoreDB's answers.
func TestExpectedRevisionTable(t *testing.T) {
	const (
		ok      = "ok"
		wev     = "wrong expected version"
		deleted = "stream deleted"
	)
	cases := []struct {
		state    string
		expected streams.ExpectedRevision
		want     string
		revision int64 // on ok: the new revision; on wev: the actual one
	}{
		{stateMissing, streams.Any, ok, 0},
		{stateMissing, streams.NoStream, ok, 0},
		{stateMissing, streams.StreamExists, wev, -1},
		{stateMissing, streams.Exact(0), wev, -1},
		{stateMissing, streams.Exact(5), wev, -1},

		{stateThreeEvents, streams.Any, ok, 3},
		{stateThreeEvents, streams.NoStream, wev, 2},
		{stateThreeEvents, streams.StreamExists, ok, 3},
		{stateThreeEvents, streams.Exact(0), wev, 2},
		{stateThreeEvents, streams.Exact(2), ok, 3},
		{stateThreeEvents, streams.Exact(3), wev, 2},

		{stateMetaOnly, streams.Any, ok, 0},
		{stateMetaOnly, streams.NoStream, ok, 0},
		{stateMetaOnly, streams.StreamExists, ok, 0},
		{stateMetaOnly, streams.Exact(0), wev, -1},

		// A soft-deleted stream keeps its numbering; writing recreates it.
		{stateSoftDeleted, streams.Any, ok, 3},
		{stateSoftDeleted, streams.NoStream, ok, 3},
		{stateSoftDeleted, streams.StreamExists, deleted, 0},
		{stateSoftDeleted, streams.Exact(2), ok, 3},
		{stateSoftDeleted, streams.Exact(1), wev, 2},
		{stateSoftDeleted, streams.Exact(4), wev, 2},

		{stateTombstoned, streams.Any, deleted, 0},
		{stateTombstoned, streams.NoStream, deleted, 0},
		{stateTombstoned, streams.StreamExists, deleted, 0},
		{stateTombstoned, streams.Exact(2), deleted, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/expected %v", c.state, c.expected), func(t *testing.T) {
			h := prepare(t, c.state)
			written := h.log.Written()
			res := h.append("s", c.expected, h.events("new"))
			switch c.want {
			case ok:
				if res.Err != nil || res.Revision != c.revision || res.Idempotent {
					t.Fatalf("got %+v, want success at revision %d", res, c.revision)
				}
				evs, err := h.readStreamFully("s", streams.Forwards, streams.Start())
				if err != nil {
					t.Fatal(err)
				}
				if got := types(evs); c.state == stateSoftDeleted && !slices.Equal(got, []string{"new"}) {
					t.Fatalf("recreated stream reads %v, want only the new event", got)
				}
				if last := evs[len(evs)-1]; last.Position != res.Position || last.Number != res.Revision {
					t.Fatalf("result %+v does not match the stored event %d at %d", res, last.Number, last.Position)
				}
			case wev:
				e, isWEV := errors.AsType[*streams.WrongExpectedVersionError](res.Err)
				if !isWEV || e.Actual != c.revision || e.Expected != c.expected || e.Stream != "s" {
					t.Fatalf("got %+v (%v), want wrong expected version with actual %d", res, res.Err, c.revision)
				}
				if h.log.Written() != written {
					t.Fatal("a refused append wrote to the log")
				}
			case deleted:
				if _, isDel := errors.AsType[*streams.StreamDeletedError](res.Err); !isDel {
					t.Fatalf("got %+v, want stream deleted", res)
				}
			}
		})
	}
}

func TestWrongExpectedVersionMessage(t *testing.T) {
	h := prepare(t, stateThreeEvents)
	res := h.append("s", streams.Exact(7), h.events("x"))
	msg := res.Err.Error()
	for _, want := range []string{`"s"`, "expected 7", "revision 2", "retry"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	res = h.append("other", streams.StreamExists, h.events("x"))
	if !strings.Contains(res.Err.Error(), "does not exist") || !strings.Contains(res.Err.Error(), "stream exists") {
		t.Errorf("message %q should say the stream does not exist", res.Err)
	}
}

func TestIdempotentRetries(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	first := h.events("a", "b")
	r1 := h.append("s", streams.NoStream, first)
	written := h.log.Written()

	for _, expected := range []streams.ExpectedRevision{streams.NoStream, streams.Any, streams.StreamExists} {
		r := h.append("s", expected, first)
		if r.Err != nil || !r.Idempotent || r.Revision != r1.Revision || r.Position != r1.Position {
			t.Errorf("retry with %v: got %+v, want idempotent %+v", expected, r, r1)
		}
	}
	// A retry of just the first event matches too, answering for it.
	r := h.append("s", streams.NoStream, first[:1])
	if r.Err != nil || !r.Idempotent || r.Revision != 0 {
		t.Errorf("retry of the first event: got %+v, want idempotent at revision 0", r)
	}
	second := h.events("c")
	r2 := h.append("s", streams.Exact(1), second)
	if r := h.append("s", streams.Exact(1), second); !r.Idempotent || r.Revision != r2.Revision || r.Position != r2.Position {
		t.Errorf("exact retry: got %+v, want idempotent %+v", r, r2)
	}
	if h.log.Written() != written+1 {
		t.Fatalf("retries wrote events: %d written, want %d", h.log.Written(), written+1)
	}

	// Partly matching retries are neither retries nor new writes.
	mixed := []streams.EventData{first[0], h.events("x")[0]}
	for _, expected := range []streams.ExpectedRevision{streams.NoStream, streams.Any} {
		res := h.append("s", expected, mixed)
		e, ok := errors.AsType[*streams.CorruptedIdempotencyError](res.Err)
		if !ok || e.Actual != 2 {
			t.Errorf("partial retry with %v: got %+v, want corrupted idempotency (actual 2)", expected, res)
		}
	}
	// The same events in another order do not sit where a retry would.
	if res := h.append("s", streams.Any, []streams.EventData{first[1], first[0]}); !isCorrupted(res.Err) {
		t.Errorf("reordered retry: got %+v, want corrupted idempotency", res)
	}
	// First event different: a plain wrong expected version.
	if res := h.append("s", streams.NoStream, []streams.EventData{h.events("y")[0], first[1]}); !isWEV(res.Err) {
		t.Errorf("retry differing at its first event: got %+v, want wrong expected version", res)
	}
	if h.log.Written() != written+1 {
		t.Fatal("refused retries wrote events")
	}
}

func isCorrupted(err error) bool {
	_, ok := errors.AsType[*streams.CorruptedIdempotencyError](err)
	return ok
}
func isWEV(err error) bool {
	_, ok := errors.AsType[*streams.WrongExpectedVersionError](err)
	return ok
}

// TestIdempotencyBeyondTheIDCache: exact retries compare with the stored
// events (read from the log) once the id cache has forgotten them; Any
// retries, as in EventStoreDB, then count as new writes.
func TestIdempotencyBeyondTheIDCache(t *testing.T) {
	h := newHarness(t, streams.Config{IDCacheSize: 2}, false)
	first := h.events("a", "b", "c")
	r1 := h.append("s", streams.NoStream, first)
	h.mustAppend("other", streams.Any, "x", "y", "z") // evicts the ids of s
	reads := h.log.Reads.At + h.log.Reads.Forward
	r := h.append("s", streams.NoStream, first)
	if r.Err != nil || !r.Idempotent || r.Revision != r1.Revision || r.Position != r1.Position {
		t.Fatalf("exact retry after eviction: got %+v, want idempotent %+v", r, r1)
	}
	if h.log.Reads.At+h.log.Reads.Forward == reads {
		t.Fatal("the retry was decided without reading the stored events")
	}
	mixed := append(slices.Clone(first[:2]), h.events("q")...)
	if res := h.append("s", streams.NoStream, mixed); !isCorrupted(res.Err) {
		t.Fatalf("partial retry after eviction: got %+v, want corrupted idempotency", res)
	}
	written := h.log.Written()
	if res := h.append("s", streams.Any, first); res.Err != nil || res.Idempotent || res.Revision != 5 {
		t.Fatalf("Any retry after eviction: got %+v, want a new write at revision 5", res)
	}
	if h.log.Written() != written+3 {
		t.Fatal("the Any retry after eviction should have been written again")
	}
}

// TestConcurrentAppendsSameExpectedRevision: the writer's view includes
// appends in flight, so exactly one of two appends expecting the same
// revision wins.
func TestConcurrentAppendsSameExpectedRevision(t *testing.T) {
	for _, expected := range []streams.ExpectedRevision{streams.NoStream, streams.Exact(0)} {
		h := newHarness(t, streams.Config{}, true)
		if expected == streams.Exact(0) {
			p := h.appendAsync("s", streams.NoStream, h.events("first"))
			h.log.RunAll()
			if !p.done || p.res.Err != nil {
				t.Fatal(p.res)
			}
		}
		a := h.appendAsync("s", expected, h.events("a"))
		b := h.appendAsync("s", expected, h.events("b"))
		if a.done {
			t.Fatal("the first append was answered before its commit")
		}
		// The refusal rests on a proposal in flight: it is answered once
		// that proposal settles, never telling of a revision no read shows.
		if b.done {
			t.Fatalf("expected %v: second append answered %+v while the first is in flight", expected, b.res)
		}
		h.log.RunAll()
		if !a.done || a.res.Err != nil || a.res.Revision != int64(expected)+1 {
			t.Fatalf("first append: %+v", a.res)
		}
		if !b.done || !isWEV(b.res.Err) {
			t.Fatalf("expected %v: second append got %+v, want wrong expected version", expected, b.res)
		}
		if e, _ := errors.AsType[*streams.WrongExpectedVersionError](b.res.Err); e.Actual != int64(expected)+1 {
			t.Fatalf("actual revision %d, want %d (the first append's)", e.Actual, int64(expected)+1)
		}
		// Numbering continues after the in-flight append, never over it.
		c := h.appendAsync("s", streams.Any, h.events("c"))
		d := h.appendAsync("s", streams.Any, h.events("d"))
		h.log.RunAll()
		if c.res.Revision != a.res.Revision+1 || d.res.Revision != a.res.Revision+2 {
			t.Fatalf("Any appends in flight got revisions %d and %d, want %d and %d",
				c.res.Revision, d.res.Revision, a.res.Revision+1, a.res.Revision+2)
		}
	}
}

// TestRetryOfAnAppendInFlight waits for the original and answers with its
// outcome.
func TestRetryOfAnAppendInFlight(t *testing.T) {
	h := newHarness(t, streams.Config{}, true)
	evs := h.events("a", "b")
	orig := h.appendAsync("s", streams.NoStream, evs)
	retry := h.appendAsync("s", streams.NoStream, evs)
	retryAny := h.appendAsync("s", streams.Any, evs)
	if orig.done || retry.done || retryAny.done {
		t.Fatal("answered before the commit")
	}
	h.log.RunAll()
	for _, p := range []*pending{retry, retryAny} {
		if !p.done || p.res.Err != nil || !p.res.Idempotent || p.res.Revision != orig.res.Revision || p.res.Position != orig.res.Position {
			t.Fatalf("retry got %+v, want idempotent %+v", p.res, orig.res)
		}
	}
	if h.log.Written() != 2 {
		t.Fatalf("%d events written, want 2", h.log.Written())
	}
}

// TestTimeoutKeepsTheWriteInTheView: after a timeout the events may still
// commit, so later writes are numbered after them, and a retry learns the
// outcome once they commit.
func TestTimeoutKeepsTheWriteInTheView(t *testing.T) {
	h := newHarness(t, streams.Config{}, true)
	evs := h.events("a")
	h.log.FailNext(fmt.Errorf("quorum did not answer: %w", env.ErrTimeout), true)
	orig := h.appendAsync("s", streams.NoStream, evs)
	h.log.RunAll()
	te, ok := errors.AsType[*streams.TimeoutError](orig.res.Err)
	if !orig.done || !ok || !errors.Is(orig.res.Err, env.ErrTimeout) || te.Stream != "s" {
		t.Fatalf("got %+v, want a timeout that wraps env.ErrTimeout", orig.res)
	}
	if !strings.Contains(te.Error(), "same event ids") {
		t.Errorf("timeout message %q should tell the client how to retry", te)
	}
	// Not committed yet: a retry cannot know either.
	if r := h.append("s", streams.NoStream, evs); !errors.Is(r.Err, env.ErrTimeout) {
		t.Fatalf("retry before the commit: got %+v, want the timeout again", r)
	}
	// A different write expecting no stream conflicts with the timed-out
	// one, once that one settles.
	conflict := h.appendAsync("s", streams.NoStream, h.events("b"))
	next := h.appendAsync("s", streams.Any, h.events("c"))
	h.log.RunAll()
	if !conflict.done || !isWEV(conflict.res.Err) {
		t.Fatalf("conflicting write: got %+v, want wrong expected version", conflict.res)
	}
	if next.res.Err != nil || next.res.Revision != 1 {
		t.Fatalf("write after the timed-out one: %+v, want revision 1", next.res)
	}
	if r := h.append("s", streams.NoStream, evs); r.Err != nil || !r.Idempotent || r.Revision != 0 {
		t.Fatalf("retry after the commit: got %+v, want idempotent at 0", r)
	}
	if st := h.svc.Stats(); st.WritesInFlight != 0 || st.ProposedStreams != 0 {
		t.Fatalf("writes still in flight after everything settled: %+v", st)
	}
}

// TestResetWriterForgetsProposalsThatCannotCommit: a proposal the log
// dropped stays in the view (the log refuses what follows) until the node
// resets the writer.
func TestResetWriterForgetsProposalsThatCannotCommit(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a")
	diskFull := errors.New("disk full")
	h.log.FailNext(diskFull, false)
	if r := h.append("s", streams.Exact(0), h.events("b")); !errors.Is(r.Err, diskFull) {
		t.Fatalf("got %+v, want the log's error passed through", r)
	}
	// A conflicting write waits while the dropped proposal is in the view.
	c := h.appendAsync("s", streams.Exact(0), h.events("c"))
	if c.done {
		t.Fatalf("before the reset: answered %+v while the dropped proposal is in the view", c.res)
	}
	if h.svc.Stats().WritesInFlight != 2 {
		t.Fatalf("the dropped proposal and the waiting write should hold their slots until reset: %+v", h.svc.Stats())
	}
	h.log.Unrefuse()
	h.svc.ResetWriter()
	h.log.RunAll()
	if !c.done || c.res.Err != nil || c.res.Revision != 1 {
		t.Fatalf("after the reset: got %+v, want revision 1", c.res)
	}
	if st := h.svc.Stats(); st.WritesInFlight != 0 {
		t.Fatalf("slots still held: %+v", st)
	}
}

// TestResetAtTermStartDropsWritesRedecidedIntoARefusingLog: a refusal
// deferred behind a write in flight is decided again when the writer
// resets at the end of a term; if it now passes it is proposed to a log
// that refuses it, and stays in the view. The node resets the writer again
// when its next term starts, so that term numbers after what committed,
// not after what was refused (else the index meets a revision gap).
func TestResetAtTermStartDropsWritesRedecidedIntoARefusingLog(t *testing.T) {
	h := newHarness(t, streams.Config{}, true)
	first := h.appendAsync("s", streams.NoStream, h.events("x"))
	h.log.RunAll()
	if first.res.Err != nil {
		t.Fatal(first.res.Err)
	}
	inFlight := h.appendAsync("s", streams.Exact(0), h.events("a"))
	waiting := h.appendAsync("s", streams.Exact(0), h.events("b1", "b2"))
	if waiting.done {
		t.Fatalf("a conflict with a write in flight was answered at once: %+v", waiting.res)
	}
	// The term ends: the log refuses, and the writer resets.
	notLeader := errors.New("not leader")
	h.log.FailNext(notLeader, false)
	h.svc.ResetWriter()
	h.log.RunAll() // the write in flight commits after all; the re-decided one is refused
	if inFlight.res.Err != nil || inFlight.res.Revision != 1 {
		t.Fatalf("write in flight: %+v, want revision 1", inFlight.res)
	}
	if !waiting.done || !errors.Is(waiting.res.Err, notLeader) {
		t.Fatalf("re-decided write: %+v, want the log's refusal", waiting.res)
	}
	if st := h.svc.Stats(); st.ProposedStreams != 1 {
		t.Fatalf("the refused proposal should still be in the view until the next reset: %+v", st)
	}
	// The next term starts.
	h.log.Unrefuse()
	h.svc.ResetWriter()
	next := h.appendAsync("s", streams.Any, h.events("c"))
	h.log.RunAll()
	if next.res.Err != nil || next.res.Revision != 2 {
		t.Fatalf("first write of the new term: %+v, want revision 2, right after the committed one", next.res)
	}
	if got := numbers(h.log.CommittedEvents()); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("committed revisions %v, want 0 1 2", got)
	}
}

func TestMaxAppendSize(t *testing.T) {
	h := newHarness(t, streams.Config{MaxAppendSize: 100}, false)
	// Data, metadata and type count: 59+1 and 39+1 bytes.
	big := []streams.EventData{{ID: h.id(), Type: "t", Data: make([]byte, 59)}, {ID: h.id(), Type: "t", Data: make([]byte, 39)}}
	if r := h.append("s", streams.Any, big); r.Err != nil {
		t.Fatalf("100 bytes fit the limit: %v", r.Err)
	}
	big[1] = streams.EventData{ID: h.id(), Type: "t", Data: make([]byte, 40)}
	r := h.append("s", streams.Any, big)
	e, ok := errors.AsType[*streams.MaxAppendSizeExceededError](r.Err)
	if !ok || e.Size != 101 || e.Max != 100 || e.Stream != "s" {
		t.Fatalf("got %+v, want max append size exceeded 101 > 100", r)
	}
	for _, want := range []string{"101 bytes", "100 bytes", "MaxAppendSize"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("message %q lacks %q", e, want)
		}
	}
	if _, err := streams.New(h.log, streams.Config{MaxAppendSize: -1}); err == nil || !strings.Contains(err.Error(), "MaxAppendSize") {
		t.Errorf("a negative limit: got %v, want an error naming the setting", err)
	}
	if got := newHarness(t, streams.Config{}, false).svc.Config().MaxAppendSize; got != 1<<20 {
		t.Errorf("default MaxAppendSize = %d, want EventStoreDB's 1 MiB", got)
	}
}

func TestTooBusy(t *testing.T) {
	h := newHarness(t, streams.Config{MaxWritesInFlight: 2}, true)
	a := h.appendAsync("a", streams.Any, h.events("x"))
	b := h.appendAsync("b", streams.Any, h.events("x"))
	c := h.appendAsync("c", streams.Any, h.events("x"))
	e, ok := errors.AsType[*streams.TooBusyError](c.res.Err)
	if !c.done || !ok || e.Limit != 2 || !strings.Contains(e.Error(), "retry later") {
		t.Fatalf("third write: got %+v, want too busy", c.res)
	}
	h.log.RunAll()
	if a.res.Err != nil || b.res.Err != nil {
		t.Fatal(a.res, b.res)
	}
	d := h.appendAsync("c", streams.Any, h.events("x"))
	h.log.RunAll()
	if d.res.Err != nil {
		t.Fatalf("after the first two settled: %v", d.res.Err)
	}

	hb := newHarness(t, streams.Config{MaxWriteBytesInFlight: 100}, true)
	big := func() []streams.EventData {
		return []streams.EventData{{ID: hb.id(), Type: "t", Data: make([]byte, 79)}}
	}
	first := hb.appendAsync("a", streams.Any, big())
	second := hb.appendAsync("a", streams.Any, big())
	if e, ok := errors.AsType[*streams.TooBusyError](second.res.Err); !second.done || !ok || !strings.Contains(e.Error(), "bytes") {
		t.Fatalf("160 bytes in flight over a bound of 100: %+v", second.res)
	}
	if st := hb.svc.Stats(); st.WriteBytesInFlight != 80 {
		t.Fatalf("bytes in flight %d, want 80", st.WriteBytesInFlight)
	}
	hb.log.RunAll()
	if first.res.Err != nil || hb.svc.Stats().WriteBytesInFlight != 0 {
		t.Fatalf("%+v %+v", first.res, hb.svc.Stats())
	}
}

func TestInvalidWrites(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	cases := []struct {
		req  streams.AppendRequest
		want string
	}{
		{streams.AppendRequest{Stream: "", Expected: streams.Any, Now: h.now}, "stream name is empty"},
		{streams.AppendRequest{Stream: "$all", Expected: streams.Any, Now: h.now}, "cannot be written"},
		{streams.AppendRequest{Stream: "s", Expected: -3, Now: h.now}, "expected revision -3"},
		{streams.AppendRequest{Stream: "s", Expected: streams.Any}, "no Now"},
		{streams.AppendRequest{Stream: "s", Expected: streams.Any, Now: h.now, Events: []streams.EventData{{Type: "t"}}}, "no id"},
		{streams.AppendRequest{Stream: "s", Expected: streams.Any, Now: h.now, Events: []streams.EventData{{ID: h.id()}}}, "no type"},
	}
	for _, c := range cases {
		var res streams.WriteResult
		h.svc.Append(c.req, func(r streams.WriteResult) { res = r })
		if _, ok := errors.AsType[*streams.InvalidArgumentError](res.Err); !ok || !strings.Contains(res.Err.Error(), c.want) {
			t.Errorf("%+v: got %v, want invalid argument containing %q", c.req, res.Err, c.want)
		}
	}
	for _, op := range []func(streams.DeleteRequest, func(streams.WriteResult)){h.svc.Delete, h.svc.Tombstone} {
		res := h.write(op, "$$s", streams.Any)
		if _, ok := errors.AsType[*streams.InvalidArgumentError](res.Err); !ok || !strings.Contains(res.Err.Error(), `"s" instead`) {
			t.Errorf("deleting a metadata stream: got %v", res.Err)
		}
	}
}

func TestEmptyAppend(t *testing.T) {
	h := prepare(t, stateThreeEvents)
	written := h.log.Written()
	if r := h.append("s", streams.Exact(2), nil); r.Err != nil || r.Revision != 2 || r.Position != -1 {
		t.Fatalf("empty append: %+v, want revision 2 and no position", r)
	}
	if r := h.append("s", streams.Exact(1), nil); !isWEV(r.Err) {
		t.Fatalf("empty append with a stale revision: %+v", r)
	}
	if h.log.Written() != written {
		t.Fatal("an empty append wrote to the log")
	}
}

func TestSoftDeleteAndRecreate(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a", "b", "c")
	h.setMetadata("s", `{"owner":"x","$maxCount":100}`)
	if r := h.write(h.svc.Delete, "s", streams.Exact(1)); !isWEV(r.Err) {
		t.Fatalf("delete with a stale revision: %+v", r)
	}
	del := h.write(h.svc.Delete, "s", streams.Exact(2))
	if del.Err != nil || del.Position < 0 {
		t.Fatalf("delete: %+v", del)
	}
	if _, err := h.readStreamFully("s", streams.Forwards, streams.Start()); !isNotFound(err) {
		t.Fatalf("reading a soft-deleted stream: %v, want not found", err)
	}
	if st, _ := h.svc.Stream("s"); !st.SoftDeleted || st.LastRevision != 2 {
		t.Fatalf("state after delete: %+v", st)
	}
	m, err := h.readStreamFully("$$s", streams.Backwards, streams.End())
	if err != nil || len(m) != 1 || string(m[0].Data) != `{"$tb":9223372036854775807}` || m[0].Position != del.Position {
		t.Fatalf("metadata after delete: %v %v", m, err)
	}

	r := h.mustAppend("s", streams.Any, "d", "e")
	if r.Revision != 4 {
		t.Fatalf("recreated at revision %d, want 4 (numbering continues)", r.Revision)
	}
	evs, err := h.readStreamFully("s", streams.Forwards, streams.Start())
	if err != nil || !slices.Equal(types(evs), []string{"d", "e"}) || !slices.Equal(numbers(evs), []int64{3, 4}) {
		t.Fatalf("recreated stream reads %v %v %v, want d, e at 3, 4", types(evs), numbers(evs), err)
	}
	m, _ = h.readStreamFully("$$s", streams.Backwards, streams.End())
	if string(m[0].Data) != `{"$tb":3}` {
		t.Fatalf("metadata after recreate = %s, want $tb at the first new event", m[0].Data)
	}

	// Delete again, then set metadata: that recreates too, keeping the new
	// document's keys.
	h.write(h.svc.Delete, "s", streams.Any)
	h.setMetadata("s", `{"$maxCount":10,"k":"v"}`)
	m, _ = h.readStreamFully("$$s", streams.Backwards, streams.End())
	if string(m[0].Data) != `{"$maxCount":10,"k":"v","$tb":5}` {
		t.Fatalf("metadata written to a soft-deleted stream = %s, want it with $tb past the last event", m[0].Data)
	}
	if evs, err := h.readStreamFully("s", streams.Forwards, streams.Start()); err != nil || len(evs) != 0 {
		t.Fatalf("stream recreated by metadata reads %v %v, want no events and no error", evs, err)
	}
	if r := h.append("s", streams.StreamExists, h.events("f")); r.Err != nil || r.Revision != 5 {
		t.Fatalf("StreamExists after recreate by metadata: %+v", r)
	}
}

func isNotFound(err error) bool { _, ok := errors.AsType[*streams.StreamNotFoundError](err); return ok }
func isDeleted(err error) bool  { _, ok := errors.AsType[*streams.StreamDeletedError](err); return ok }

func TestTombstone(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a", "b")
	if r := h.write(h.svc.Tombstone, "s", streams.Exact(0)); !isWEV(r.Err) {
		t.Fatalf("tombstone with a stale revision: %+v", r)
	}
	ts := h.write(h.svc.Tombstone, "s", streams.Exact(1))
	if ts.Err != nil {
		t.Fatal(ts.Err)
	}
	if _, err := h.readStreamFully("s", streams.Forwards, streams.Start()); !isDeleted(err) {
		t.Fatalf("read: %v, want stream deleted", err)
	}
	if _, err := h.readStreamFully("$$s", streams.Forwards, streams.Start()); !isDeleted(err) {
		t.Fatalf("read of the metadata stream: %v, want stream deleted", err)
	}
	if r := h.append("s", streams.Any, h.events("c")); !isDeleted(r.Err) {
		t.Fatalf("append: %+v", r)
	}
	if r := h.append("$$s", streams.Any, h.events("m")); !isDeleted(r.Err) {
		t.Fatalf("metadata append: %+v", r)
	}
	if r := h.write(h.svc.Delete, "s", streams.Any); !isDeleted(r.Err) {
		t.Fatalf("soft delete after tombstone: %+v", r)
	}
	all, _ := h.readAllFully(streams.Forwards, nil)
	last := all[len(all)-1]
	if !last.Tombstone || last.Number != math.MaxInt64 || last.Type != streams.StreamDeletedEventType || last.Position != ts.Position {
		t.Fatalf("tombstone in $all: %+v", last)
	}
	// A soft-deleted stream can be tombstoned.
	h.mustAppend("t", streams.NoStream, "a")
	h.write(h.svc.Delete, "t", streams.Any)
	if r := h.write(h.svc.Tombstone, "t", streams.Any); r.Err != nil {
		t.Fatal(r.Err)
	}
	if st, _ := h.svc.Stream("t"); !st.Tombstoned {
		t.Fatalf("%+v", st)
	}
}

func TestDeleteExpectedRevisions(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	if r := h.write(h.svc.Delete, "missing", streams.StreamExists); !isWEV(r.Err) {
		t.Fatalf("delete StreamExists of a missing stream: %+v", r)
	}
	// A stream that never existed is not soft-deleted, whatever the
	// expected revision: EventStoreDB answers a wrong expected version.
	for _, exp := range []streams.ExpectedRevision{streams.NoStream, streams.Any} {
		r := h.write(h.svc.Delete, "missing", exp)
		var wev *streams.WrongExpectedVersionError
		if !errors.As(r.Err, &wev) || !wev.NothingToDelete || wev.Actual != streams.NoRevision || !strings.Contains(r.Err.Error(), "never existed") {
			t.Fatalf("delete %v of a missing stream: %+v", exp, r)
		}
	}
	if _, ok := h.svc.Stream("$$missing"); ok {
		t.Fatal("the refused delete wrote the stream's metadata")
	}
	// A stream with metadata alone exists enough to be deleted.
	h.setMetadata("meta-only", `{"custom":1}`)
	if r := h.write(h.svc.Delete, "meta-only", streams.NoStream); r.Err != nil {
		t.Fatalf("delete NoStream of a stream with only metadata: %+v", r)
	}
	h.mustAppend("s", streams.NoStream, "a")
	h.write(h.svc.Delete, "s", streams.Any)
	if r := h.write(h.svc.Delete, "s", streams.StreamExists); !isDeleted(r.Err) {
		t.Fatalf("delete StreamExists of a soft-deleted stream: %+v", r)
	}
}

// TestCommitAfterAClockDelay: the fake log commits on a manual clock; the
// append is answered only once its commit is applied.
func TestCommitAfterAClockDelay(t *testing.T) {
	h := newHarness(t, streams.Config{}, true)
	clock := envtest.NewClock(epoch)
	h.log.Clock, h.log.CommitDelay = clock, 5*time.Millisecond
	a := h.appendAsync("s", streams.NoStream, h.events("a"))
	clock.Advance(2 * time.Millisecond)
	b := h.appendAsync("s", streams.Exact(0), h.events("b"))
	clock.Advance(2 * time.Millisecond)
	if a.done || b.done {
		t.Fatal("answered before the commit")
	}
	clock.Advance(time.Millisecond)
	if !a.done || a.res.Err != nil || b.done {
		t.Fatalf("at 5ms: a=%+v b done=%v", a.res, b.done)
	}
	clock.Advance(2 * time.Millisecond)
	if !b.done || b.res.Err != nil || b.res.Revision != 1 {
		t.Fatalf("at 7ms: b=%+v", b.res)
	}
}

func TestMetadataStreamOfNothing(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	if r := h.append("$$", streams.Any, h.events("x")); r.Err == nil {
		t.Fatal(`"$$" names no stream's metadata; writing it must fail`)
	}
}

// TestMetadataRefusedOnlyOnceTheTombstoneCommits: metadata of a stream
// whose tombstone is still in flight is refused as deleted only once the
// tombstone is applied; if the tombstone never commits, the metadata is
// written. Answering at once would tell a client "deleted" while a read
// still shows the stream.
func TestMetadataRefusedOnlyOnceTheTombstoneCommits(t *testing.T) {
	for _, commits := range []bool{true, false} {
		h := newHarness(t, streams.Config{}, true)
		h.appendAsync("s", streams.NoStream, h.events("x"))
		h.log.RunAll()
		if !commits {
			h.log.FailNext(errors.New("not leader"), false)
		}
		var tomb streams.WriteResult
		h.svc.Tombstone(streams.DeleteRequest{Stream: "s", Expected: streams.Any, Now: h.now}, func(r streams.WriteResult) { tomb = r })
		meta := h.appendAsync("$$s", streams.Any, []streams.EventData{{ID: h.id(), Type: streams.MetadataEventType, Data: []byte(`{"$maxCount":3}`), IsJSON: true}})
		if meta.done {
			t.Fatalf("tombstone commits %v: metadata answered while the tombstone is in flight: %+v", commits, meta.res)
		}
		if !commits {
			h.log.RunAll() // the log refuses the tombstone
			h.log.Unrefuse()
			h.svc.ResetWriter()
		}
		h.log.RunAll()
		_, deleted := errors.AsType[*streams.StreamDeletedError](meta.res.Err)
		switch {
		case !meta.done:
			t.Fatalf("tombstone commits %v: metadata never answered", commits)
		case commits && (tomb.Err != nil || !deleted):
			t.Fatalf("tombstone %+v, metadata %+v: want the tombstone written and the metadata refused as deleted", tomb, meta.res)
		case !commits && (tomb.Err == nil || meta.res.Err != nil):
			t.Fatalf("tombstone %+v, metadata %+v: want the tombstone refused and the metadata written", tomb, meta.res)
		}
	}
}

// A refusal waits while the stream has writes in flight, and is decided
// again once they are applied. If its client was answered meanwhile (the
// node's write timeout) and retried the same events with another expected
// revision, deciding the first request again could write its events a
// second time: the stream moved to exactly the revision it expected. A
// write whose client was answered is dropped instead, unproposed.
func TestAWriteAbandonedWhileWaitingIsNotDecidedLater(t *testing.T) {
	for _, abandon := range []bool{true, false} {
		h := newHarness(t, streams.Config{}, true)
		first := h.appendAsync("s", streams.Any, h.events("a"))
		b := h.events("b")
		timedOut := false
		var held pending
		h.svc.Append(streams.AppendRequest{Stream: "s", Expected: streams.ExpectedRevision(1), Events: b, Now: h.now,
			Abandoned: func() bool { return timedOut }}, func(r streams.WriteResult) { held.res, held.done = r, true })
		if held.done {
			t.Fatalf("refused at once while the stream's first write is in flight: %+v", held.res)
		}
		var retry *pending
		if abandon {
			timedOut = true // the node answered its client: a timeout
			retry = h.appendAsync("s", streams.Any, b)
		}
		h.log.RunAll()
		if !first.done || first.res.Err != nil || !held.done {
			t.Fatalf("abandoned %v: first %+v, held %+v; want the first written and the held one answered", abandon, first, held)
		}
		h.log.SyncReads = true
		evs, err := h.readStreamFully("s", streams.Forwards, streams.Start())
		if err != nil {
			t.Fatal(err)
		}
		if !abandon {
			// Nobody gave up on it: decided again once the first write is
			// applied, it is refused (the stream is at 0, not 1).
			if _, ok := errors.AsType[*streams.WrongExpectedVersionError](held.res.Err); !ok || len(evs) != 1 {
				t.Fatalf("held write %+v, stream %v; want it refused, the stream holding only the first", held.res, evs)
			}
			continue
		}
		if _, ok := errors.AsType[*streams.TimeoutError](held.res.Err); !ok {
			t.Fatalf("the abandoned write answered %+v; want a timeout (its answer goes nowhere)", held.res)
		}
		if retry.res.Err != nil || len(evs) != 2 || evs[1].ID != b[0].ID {
			t.Fatalf("retry %+v, stream %v; want b written once, by the retry, after a", retry.res, evs)
		}
	}
}
