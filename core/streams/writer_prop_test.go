package streams_test

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/streams"
)

// TestWriterProperties drives one stream with random appends (new events
// or retries of earlier requests, any expected revision), commits in random
// order relative to them, and timeouts, then checks what EventStoreDB
// promises: revisions without gaps, each success where its expected
// revision says and holding its events, every idempotent answer pointing at
// the original events, nothing refused ever written, every request answered
// once, nothing left in flight.
func TestWriterProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t, streams.Config{}, true)
		h.log.AnswerFirst = rapid.Bool().Draw(rt, "answerFirst")
		type request struct {
			expected streams.ExpectedRevision
			events   []streams.EventData
			p        *pending
		}
		var reqs []*request
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3:
				r := &request{}
				switch rapid.IntRange(0, 3).Draw(rt, "expectedKind") {
				case 0:
					r.expected = streams.Any
				case 1:
					r.expected = streams.NoStream
				case 2:
					r.expected = streams.StreamExists
				default:
					r.expected = streams.Exact(int64(rapid.IntRange(0, 8).Draw(rt, "exact")))
				}
				n := rapid.IntRange(1, 3).Draw(rt, "n")
				for j := 0; j < n; j++ {
					r.events = append(r.events, h.events(fmt.Sprintf("e%d", len(reqs)))...)
				}
				if rapid.IntRange(0, 9).Draw(rt, "timeout") == 0 {
					h.log.FailNext(env.ErrTimeout, true)
				}
				r.p = h.appendAsync("s", r.expected, r.events)
				reqs = append(reqs, r)
			case 4, 5:
				if len(reqs) == 0 {
					continue
				}
				orig := reqs[rapid.IntRange(0, len(reqs)-1).Draw(rt, "retryOf")]
				r := &request{expected: orig.expected, events: orig.events}
				r.p = h.appendAsync("s", r.expected, r.events)
				reqs = append(reqs, r)
			default:
				if n := h.log.Pending(); n > 0 {
					h.log.Run(rapid.IntRange(0, n-1).Draw(rt, "task"))
				}
			}
		}
		// Settle: a refusal deferred behind writes in flight is decided
		// again when they are applied, and may then propose a write of its
		// own, which needs another round.
		for round := 0; round < 10; round++ {
			h.log.RunAll()
			h.log.CommitAll()
			h.log.RunAll()
		}

		log := h.log.CommittedEvents()
		byRev := map[int64]streams.Event{}
		where := map[[16]byte]int64{}
		for _, ev := range log {
			if ev.Stream != "s" {
				continue
			}
			if _, dup := byRev[ev.Number]; dup {
				rt.Fatalf("revision %d written twice", ev.Number)
			}
			if _, dup := where[ev.ID]; dup {
				rt.Fatalf("event id %x written twice", ev.ID)
			}
			byRev[ev.Number] = ev
			where[ev.ID] = ev.Number
		}
		for r := int64(0); r < int64(len(byRev)); r++ {
			if _, ok := byRev[r]; !ok {
				rt.Fatalf("revision %d missing of %d: a gap", r, len(byRev))
			}
		}
		succeededIDs := map[[16]byte]bool{}
		for i, r := range reqs {
			if !r.p.done {
				rt.Fatalf("request %d (expected %v) never answered", i, r.expected)
			}
			res := r.p.res
			if res.Err != nil {
				continue
			}
			first := res.Revision - int64(len(r.events)) + 1
			for j, e := range r.events {
				ev, ok := byRev[first+int64(j)]
				if !ok || ev.ID != e.ID {
					rt.Fatalf("request %d succeeded at revisions %d..%d (idempotent %v) but revision %d holds %x, not its event %x",
						i, first, res.Revision, res.Idempotent, first+int64(j), ev.ID, e.ID)
				}
				succeededIDs[e.ID] = true
			}
			if ev := byRev[res.Revision]; ev.Position != res.Position {
				rt.Fatalf("request %d: position %d, the event is at %d", i, res.Position, ev.Position)
			}
			if !res.Idempotent {
				switch {
				case r.expected >= 0 && first != int64(r.expected)+1:
					rt.Fatalf("request %d expected %v but its events start at %d", i, r.expected, first)
				case r.expected == streams.NoStream && first != 0:
					rt.Fatalf("request %d expected no stream but its events start at %d", i, first)
				case r.expected == streams.StreamExists && first == 0:
					rt.Fatalf("request %d expected the stream to exist but wrote its first event", i)
				}
			}
		}
		// Events of timed-out requests may be in the log: their outcome was
		// unknown.
		timedOutIDs := map[[16]byte]bool{}
		for _, r := range reqs {
			if _, timedOut := errors.AsType[*streams.TimeoutError](r.p.res.Err); timedOut {
				for _, e := range r.events {
					timedOutIDs[e.ID] = true
				}
			}
		}
		for i, r := range reqs {
			if r.p.res.Err == nil {
				continue
			}
			for _, e := range r.events {
				if _, written := where[e.ID]; written && !succeededIDs[e.ID] && !timedOutIDs[e.ID] {
					rt.Fatalf("request %d was refused (%v) yet its event %x is in the log", i, r.p.res.Err, e.ID)
				}
			}
		}
		if st := h.svc.Stats(); st.WritesInFlight != 0 || st.ProposedStreams != 0 {
			rt.Fatalf("left in flight: %+v", st)
		}
	})
}
