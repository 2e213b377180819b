package streams_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/filter"
)

// TestSubscriptionProperties interleaves appends, commits, log reads
// completing in any order, credits granted a few at a time and
// subscriptions starting mid-run, with tiny buffers and rings so that
// subscribers fall behind and catch up again and again. Every subscription
// must deliver exactly the committed events it covers, once each, in log
// order, with checkpoints every interval, never holding more than its
// buffer bound, and end caught up.
func TestSubscriptionProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		bound := rapid.IntRange(2, 6).Draw(rt, "buffer")
		cfg := streams.Config{
			SubscriptionBuffer:      bound,
			SubscriptionBufferBytes: rapid.SampledFrom([]int{0, 120, 400}).Draw(rt, "bufferBytes"),
			RecentEvents:            rapid.IntRange(-1, 10).Draw(rt, "recent"),
			ReadChunkBytes:          rapid.IntRange(40, 400).Draw(rt, "chunk"),
		}
		h := newHarness(t, cfg, true)
		h.log.AnswerFirst = rapid.Bool().Draw(rt, "answerFirst")
		h.log.SyncReads = rapid.Bool().Draw(rt, "syncReads")
		names := []string{"a", "b", "c"}

		type tracked struct {
			sub      *streams.Subscription
			rec      *recorder
			all      bool
			stream   string
			filter   *filter.Filter
			interval int
			afterPos int64 // $all: events after this position
			fromRev  int64 // stream: events from this revision
		}
		var subs []*tracked
		// after is the value of an After(after) start.
		subscribe := func(all bool, stream string, from streams.From, after int64, withFilter bool) {
			tr := &tracked{all: all, stream: stream, rec: &recorder{}}
			var err error
			if all {
				var af *streams.AllFilter
				if withFilter {
					af = &streams.AllFilter{
						Spec:                         filter.Spec{On: filter.StreamName, Prefixes: []string{"a", "c"}},
						MaxSearchWindow:              uint32(rapid.IntRange(1, 3).Draw(rt, "window")),
						CheckpointIntervalMultiplier: uint32(rapid.IntRange(1, 2).Draw(rt, "multiplier")),
					}
					tr.filter, _ = filter.New(af.Spec)
					tr.interval = int(af.MaxSearchWindow * af.CheckpointIntervalMultiplier)
				}
				tr.afterPos = -1
				switch from {
				case streams.End():
					tr.afterPos = h.svc.Stats().LastPosition
				case streams.Start():
				default:
					tr.afterPos = after
				}
				tr.sub, err = h.svc.SubscribeToAll(streams.SubscribeAllRequest{From: from, Filter: af}, tr.rec.sink)
			} else {
				switch from {
				case streams.End():
					st, _ := h.svc.Stream(stream)
					tr.fromRev = st.LastRevision + 1
				case streams.Start():
				default:
					tr.fromRev = after + 1
				}
				tr.sub, err = h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: stream, From: from, Now: h.now}, tr.rec.sink)
			}
			if err != nil {
				rt.Fatal(err)
			}
			subs = append(subs, tr)
		}
		subscribe(true, "", streams.Start(), 0, rapid.Bool().Draw(rt, "filtered"))
		subscribe(false, "a", streams.Start(), 0, false)

		checkBound := func(when string) {
			for i, s := range subs {
				if s.sub.Buffered() > bound || s.sub.HighWater() > bound {
					rt.Fatalf("%s: subscription %d holds %d messages (high water %d), bound %d", when, i, s.sub.Buffered(), s.sub.HighWater(), bound)
				}
			}
		}
		steps := rapid.IntRange(1, 150).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2:
				stream := rapid.SampledFrom(names).Draw(rt, "stream")
				n := rapid.IntRange(1, 3).Draw(rt, "n")
				var ts []string
				for j := 0; j < n; j++ {
					ts = append(ts, fmt.Sprint(step))
				}
				// Events of drawn sizes, so that the byte bound, not only
				// the count, ends reads and refuses events that came back.
				evs := h.events(ts...)
				pad := strings.Repeat("x", rapid.IntRange(0, 60).Draw(rt, "pad"))
				for k := range evs {
					evs[k].Data = fmt.Appendf(nil, `{"n":%s,"pad":%q}`, ts[k], pad)
				}
				h.appendAsync(stream, streams.Any, evs)
			case 3, 4, 5:
				if n := h.log.Pending(); n > 0 {
					h.log.Run(rapid.IntRange(0, n-1).Draw(rt, "task"))
				}
			case 6, 7, 8:
				s := subs[rapid.IntRange(0, len(subs)-1).Draw(rt, "sub")]
				s.sub.Request(rapid.IntRange(1, 5).Draw(rt, "credits"))
			case 9:
				if len(subs) >= 6 {
					continue
				}
				log := h.log.CommittedEvents()
				applied := h.svc.Stats().LastPosition
				if rapid.Bool().Draw(rt, "lateAll") {
					from, after := streams.End(), int64(0)
					if len(log) > 0 && log[0].Position <= applied && rapid.Bool().Draw(rt, "after") {
						i := rapid.IntRange(0, len(log)-1).Draw(rt, "afterEvent")
						if log[i].Position <= applied {
							from, after = streams.After(log[i].Position), log[i].Position
						}
					}
					subscribe(true, "", from, after, rapid.Bool().Draw(rt, "lateFiltered"))
				} else {
					stream := rapid.SampledFrom(names).Draw(rt, "lateStream")
					from, after := streams.End(), int64(0)
					if st, ok := h.svc.Stream(stream); ok && st.LastRevision >= 0 && rapid.Bool().Draw(rt, "afterRev") {
						after = int64(rapid.IntRange(0, int(st.LastRevision)).Draw(rt, "rev"))
						from = streams.After(after)
					}
					subscribe(false, stream, from, after, false)
				}
			}
			checkBound(fmt.Sprintf("step %d", step))
		}

		// Settle: commit everything, then let every consumer take all.
		h.log.CommitAll()
		for round := 0; ; round++ {
			h.log.RunAll()
			for _, s := range subs {
				s.sub.Request(1000)
			}
			checkBound("settling")
			if h.log.Pending() == 0 {
				break
			}
			if round > 10000 {
				rt.Fatalf("subscriptions do not settle: %v", h.log.PendingWhat())
			}
		}

		log := h.log.CommittedEvents()
		for i, s := range subs {
			var want []int64
			var wantCps []int64
			considered := 0
			for _, ev := range log {
				if s.all {
					if ev.Position <= s.afterPos {
						continue
					}
					if s.filter.Match(ev.Stream, ev.Type) {
						want = append(want, ev.Position)
					}
					if s.interval > 0 {
						considered++
						if considered%s.interval == 0 {
							wantCps = append(wantCps, ev.Position)
						}
					}
				} else if ev.Stream == s.stream && ev.Number >= s.fromRev {
					want = append(want, ev.Position)
				}
			}
			var got, cps []int64
			lastState := streams.MessageKind(0)
			lastCp := int64(-1)
			for j, m := range s.rec.msgs {
				switch m.Kind {
				case streams.Confirmed:
					if j != 0 {
						rt.Fatalf("subscription %d: confirmation at message %d", i, j)
					}
				case streams.EventAppeared:
					got = append(got, m.Event.Position)
				case streams.Checkpoint:
					if m.Position <= lastCp {
						rt.Fatalf("subscription %d: checkpoint at %d after one at %d", i, m.Position, lastCp)
					}
					lastCp = m.Position
					if len(cps) < len(wantCps) && wantCps[len(cps)] == m.Position {
						cps = append(cps, m.Position)
						continue
					}
					// Not an interval's: it must end a catch-up (caught-up
					// next) or follow fell-behind, at the last event
					// considered (or, before any, where the subscription
					// started): every event delivered so far is at or
					// before it.
					endsCatchUp := j+1 < len(s.rec.msgs) && s.rec.msgs[j+1].Kind == streams.CaughtUp
					afterFellBehind := s.rec.msgs[j-1].Kind == streams.FellBehind
					if !endsCatchUp && !afterFellBehind {
						rt.Fatalf("subscription %d: checkpoint at %d is neither an interval's (next %v) nor at a catch-up's end or a fell-behind", i, m.Position, wantCps[len(cps):])
					}
					considered := m.Position == s.afterPos || slices.ContainsFunc(log, func(ev streams.Event) bool { return ev.Position == m.Position && ev.Position > s.afterPos })
					if len(got) > 0 && got[len(got)-1] > m.Position || !considered {
						rt.Fatalf("subscription %d: catch-up checkpoint at %d, not an event it considered (delivered so far %v)", i, m.Position, got)
					}
				case streams.CaughtUp, streams.FellBehind:
					lastState = m.Kind
				case streams.Dropped:
					rt.Fatalf("subscription %d dropped: %v", i, m.Err)
				}
			}
			if len(s.rec.msgs) == 0 || s.rec.msgs[0].Kind != streams.Confirmed {
				rt.Fatalf("subscription %d: no confirmation first", i)
			}
			if !slices.Equal(got, want) {
				rt.Fatalf("subscription %d (all=%v stream=%q after=%d from=%d filter=%v): got positions\n%v\nwant\n%v",
					i, s.all, s.stream, s.afterPos, s.fromRev, s.filter, got, want)
			}
			if !slices.Equal(cps, wantCps) {
				rt.Fatalf("subscription %d: checkpoints %v, want %v", i, cps, wantCps)
			}
			if lastState != streams.CaughtUp || !s.sub.Live() {
				rt.Fatalf("subscription %d ends in state %v (live %v), want caught up", i, lastState, s.sub.Live())
			}
		}
	})
}
