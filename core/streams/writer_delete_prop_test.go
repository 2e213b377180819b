package streams_test

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/streams"
)

// TestWriterPropertiesWithDeletes mixes soft deletes and tombstones into
// random appends and retries on one stream, all in flight together,
// committed in random order and sometimes timed out, and checks what the
// log must hold whatever the interleaving: the stream and its metadata
// stream numbered without gaps or repeats, no event written twice (a
// retry recognised wherever its original landed, a recreate included),
// nothing after a tombstone, every request answered once, nothing left in
// flight.
func TestWriterPropertiesWithDeletes(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t, streams.Config{}, true)
		h.log.AnswerFirst = rapid.Bool().Draw(rt, "answerFirst")
		h.log.BatchCommits = rapid.Bool().Draw(rt, "batchCommits")
		expected := func() streams.ExpectedRevision {
			switch rapid.IntRange(0, 3).Draw(rt, "expectedKind") {
			case 0:
				return streams.Any
			case 1:
				return streams.NoStream
			case 2:
				return streams.StreamExists
			}
			return streams.Exact(int64(rapid.IntRange(0, 8).Draw(rt, "exact")))
		}
		type request struct {
			what   string
			exp    streams.ExpectedRevision
			events []streams.EventData
			p      *pending
		}
		var reqs []*request
		deleteAsync := func(tombstone bool, exp streams.ExpectedRevision) *pending {
			p := &pending{}
			op := h.svc.Delete
			if tombstone {
				op = h.svc.Tombstone
			}
			op(streams.DeleteRequest{Stream: "s", Expected: exp, Now: h.now}, func(r streams.WriteResult) {
				if p.done {
					rt.Errorf("delete answered twice")
				}
				p.res, p.done = r, true
			})
			return p
		}
		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			if rapid.IntRange(0, 9).Draw(rt, "timeout") == 0 {
				h.log.FailNext(env.ErrTimeout, true)
			}
			switch a := rapid.IntRange(0, 12).Draw(rt, "action"); {
			case a <= 3:
				r := &request{what: "append", exp: expected()}
				for range rapid.IntRange(1, 3).Draw(rt, "n") {
					r.events = append(r.events, h.events(fmt.Sprintf("e%d", len(reqs)))...)
				}
				r.p = h.appendAsync("s", r.exp, r.events)
				reqs = append(reqs, r)
			case a <= 5 && len(reqs) > 0:
				orig := reqs[rapid.IntRange(0, len(reqs)-1).Draw(rt, "retryOf")]
				if orig.what != "append" {
					continue
				}
				r := &request{what: "retry", exp: orig.exp, events: orig.events}
				r.p = h.appendAsync("s", r.exp, r.events)
				reqs = append(reqs, r)
			case a <= 7:
				r := &request{what: "delete", exp: expected()}
				r.p = deleteAsync(false, r.exp)
				reqs = append(reqs, r)
			case a == 8 && rapid.IntRange(0, 3).Draw(rt, "tombstone") == 0:
				r := &request{what: "tombstone", exp: expected()}
				r.p = deleteAsync(true, r.exp)
				reqs = append(reqs, r)
			default:
				if n := h.log.Pending(); n > 0 {
					h.log.Run(rapid.IntRange(0, n-1).Draw(rt, "task"))
				}
			}
		}
		for range 10 {
			h.log.RunAll()
			h.log.CommitAll()
			h.log.RunAll()
		}
		next := map[string]int64{}
		tombstoned := false
		written := map[[16]byte]bool{}
		for _, ev := range h.log.CommittedEvents() {
			if written[ev.ID] {
				rt.Fatalf("event id %x written twice (again as %d@%q): a retry was not recognised", ev.ID, ev.Number, ev.Stream)
			}
			written[ev.ID] = true
			switch {
			case tombstoned:
				rt.Fatalf("%d@%q written after the tombstone", ev.Number, ev.Stream)
			case ev.Tombstone:
				tombstoned = true
			case ev.Number != next[ev.Stream]:
				rt.Fatalf("%d@%q written where revision %d comes next", ev.Number, ev.Stream, next[ev.Stream])
			default:
				next[ev.Stream]++
			}
		}
		for i, r := range reqs {
			if !r.p.done {
				rt.Fatalf("request %d (%s, expected %v) never answered", i, r.what, r.exp)
			}
		}
		if st := h.svc.Stats(); st.WritesInFlight != 0 || st.ProposedStreams != 0 {
			rt.Fatalf("left in flight: %+v", st)
		}
	})
}
