package streams_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/filter"
)

// recorder collects what a subscription delivers.
type recorder struct {
	msgs []streams.Message
}

func (r *recorder) sink(m streams.Message) { r.msgs = append(r.msgs, m) }

func (r *recorder) kinds() []string {
	out := make([]string, len(r.msgs))
	for i, m := range r.msgs {
		out[i] = m.Kind.String()
		if m.Kind == streams.EventAppeared {
			out[i] = m.Event.Type
		}
	}
	return out
}

func (r *recorder) events() []streams.Event {
	var out []streams.Event
	for _, m := range r.msgs {
		if m.Kind == streams.EventAppeared {
			out = append(out, m.Event)
		}
	}
	return out
}

func (h *harness) subscribeStream(stream string, from streams.From) (*streams.Subscription, *recorder) {
	h.t.Helper()
	rec := &recorder{}
	sub, err := h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: stream, From: from, Now: h.now}, rec.sink)
	if err != nil {
		h.t.Fatal(err)
	}
	return sub, rec
}

func (h *harness) subscribeAll(from streams.From, f *streams.AllFilter) (*streams.Subscription, *recorder) {
	h.t.Helper()
	rec := &recorder{}
	sub, err := h.svc.SubscribeToAll(streams.SubscribeAllRequest{From: from, Filter: f}, rec.sink)
	if err != nil {
		h.t.Fatal(err)
	}
	return sub, rec
}

func TestStreamSubscriptionHistoryCaughtUpLive(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a", "b")
	h.mustAppend("other", streams.Any, "x")
	sub, rec := h.subscribeStream("s", streams.Start())
	if len(rec.msgs) != 0 {
		t.Fatal("delivered without credits")
	}
	sub.Request(100)
	want := []string{"confirmed", "a", "b", "caught-up"}
	if !slices.Equal(rec.kinds(), want) {
		t.Fatalf("got %v, want %v", rec.kinds(), want)
	}
	if rec.msgs[0].SubscriptionID != sub.ID() || len(sub.ID()) != 36 {
		t.Fatalf("confirmation id %q, subscription id %q", rec.msgs[0].SubscriptionID, sub.ID())
	}
	if rec.msgs[3].Revision != 1 {
		t.Fatalf("caught up at revision %d, want 1", rec.msgs[3].Revision)
	}
	h.mustAppend("s", streams.Any, "c")
	h.mustAppend("other", streams.Any, "y")
	h.mustAppend("s", streams.Any, "d")
	want = append(want, "c", "d")
	if !slices.Equal(rec.kinds(), want) {
		t.Fatalf("live: got %v, want %v", rec.kinds(), want)
	}
	if !sub.Live() || sub.Credits() != 100-len(want) {
		t.Fatalf("live=%v credits=%d", sub.Live(), sub.Credits())
	}
	sub.Close()
	h.mustAppend("s", streams.Any, "e")
	if len(rec.msgs) != len(want) || h.svc.Stats().Subscriptions != 0 {
		t.Fatal("a closed subscription still delivers or is still registered")
	}
}

func TestSubscriptionStartingPoints(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a", "b", "c")
	_, fromEnd := h.subscribeStream("s", streams.End())
	subAfter, after := h.subscribeStream("s", streams.After(0))
	subMissing, missing := h.subscribeStream("later", streams.Start())
	all, allRec := h.subscribeAll(streams.End(), nil)
	log := h.log.CommittedEvents()
	allAfter, allAfterRec := h.subscribeAll(streams.After(log[1].Position), nil)
	for _, s := range []*streams.Subscription{subAfter, subMissing, all, allAfter} {
		s.Request(100)
	}
	// fromEnd gets no credits yet: nothing is delivered, nothing is lost.
	h.mustAppend("s", streams.Any, "d")
	h.mustAppend("later", streams.Any, "z")
	if got := types(after.events()); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("after revision 0: %v", got)
	}
	if got := types(missing.events()); !slices.Equal(got, []string{"z"}) {
		t.Errorf("stream created later: %v", got)
	}
	if got := types(allRec.events()); !slices.Equal(got, []string{"d", "z"}) {
		t.Errorf("$all from the end: %v", got)
	}
	if got := types(allAfterRec.events()); !slices.Equal(got, []string{"c", "d", "z"}) {
		t.Errorf("$all after the second event: %v", got)
	}
	if len(fromEnd.msgs) != 0 {
		t.Fatal("delivered without credits")
	}
	if k := allRec.kinds(); k[1] != "caught-up" || allRec.msgs[1].Position != log[2].Position {
		t.Errorf("$all from the end: %v, caught up at %d, want caught up at %d first", k, allRec.msgs[1].Position, log[2].Position)
	}
}

func TestSubscriptionErrors(t *testing.T) {
	h := newHarness(t, streams.Config{MaxSubscriptions: 1}, false)
	rec := &recorder{}
	if _, err := h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: "$all", Now: h.now}, rec.sink); err == nil {
		t.Error("subscribing to $all as a stream must fail")
	}
	if _, err := h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: "s"}, rec.sink); err == nil {
		t.Error("a stream subscription without Now must fail")
	}
	if _, err := h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: "s", From: streams.At(3), Now: h.now}, rec.sink); err == nil {
		t.Error("At is for reads; subscriptions start After")
	}
	if _, err := h.svc.SubscribeToAll(streams.SubscribeAllRequest{Filter: &streams.AllFilter{Spec: filter.Spec{On: filter.StreamName}}}, rec.sink); err == nil {
		t.Error("a filter without regex or prefixes must fail")
	}
	if _, err := h.svc.SubscribeToAll(streams.SubscribeAllRequest{}, nil); err == nil {
		t.Error("a subscription without a sink must fail")
	}
	h.subscribeAll(streams.Start(), nil)
	_, err := h.svc.SubscribeToAll(streams.SubscribeAllRequest{}, rec.sink)
	if e, ok := errors.AsType[*streams.TooBusyError](err); !ok || e.Limit != 1 {
		t.Fatalf("second subscription over the limit: %v", err)
	}
}

func TestStreamSubscriptionDroppedByTombstone(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a")
	sub, rec := h.subscribeStream("s", streams.Start())
	sub.Request(2)
	h.mustAppend("s", streams.Any, "b")
	h.write(h.svc.Tombstone, "s", streams.Any)
	// Two credits: confirmed and a. b is still owed; the drop waits for it.
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "a"}) {
		t.Fatalf("got %v", got)
	}
	sub.Request(10)
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "a", "caught-up", "b", streams.StreamDeletedEventType, "dropped"}) {
		t.Fatalf("got %v, want the events, the tombstone, then dropped", got)
	}
	if last := rec.msgs[len(rec.msgs)-1]; !isDeleted(last.Err) {
		t.Fatalf("dropped with %v, want stream deleted", last.Err)
	}
	// Subscribing to a tombstoned stream is refused, from the end or from
	// the start: its events are deleted, as a read of it says.
	for _, from := range []streams.From{streams.End(), streams.Start()} {
		rec2 := &recorder{}
		if _, err := h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: "s", From: from, Now: h.now}, rec2.sink); !isDeleted(err) {
			t.Fatalf("subscription to a tombstoned stream from %v: %v, want stream deleted", from, err)
		}
	}
}

// TestTombstoneAnswersSubscribersAsEventStoreDB: EventStoreDB refuses a
// subscription to a stream tombstoned before it started (stream deleted,
// no confirmation: the Go clients then return ErrorCodeStreamDeleted from
// the subscribe call itself), and hands a live subscriber the tombstone
// event ($streamDeleted, revision 2^63-1) before dropping it.
func TestTombstoneAnswersSubscribersAsEventStoreDB(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a")
	sub, rec := h.subscribeStream("s", streams.Start())
	sub.Request(100)
	h.mustAppend("s", streams.Any, "b")
	h.write(h.svc.Tombstone, "s", streams.Any)
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "a", "caught-up", "b", streams.StreamDeletedEventType, "dropped"}) {
		t.Fatalf("a live subscriber got %v, want the events, the tombstone event, then dropped", got)
	}
	if ev := rec.events()[2]; ev.Number != math.MaxInt64 || ev.Stream != "s" || !ev.Tombstone {
		t.Fatalf("the tombstone event delivered is %+v", ev)
	}
	if last := rec.msgs[len(rec.msgs)-1]; !isDeleted(last.Err) {
		t.Fatalf("dropped with %v, want stream deleted", last.Err)
	}
	for _, from := range []streams.From{streams.Start(), streams.End(), streams.After(0)} {
		rec := &recorder{}
		sub, err := h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: "s", From: from, Now: h.now}, rec.sink)
		if !isDeleted(err) || sub != nil {
			if sub != nil {
				sub.Request(10)
			}
			t.Errorf("subscribing to a tombstoned stream from %v: subscription %v, error %v, delivered %v; want stream deleted and no subscription", from, sub != nil, err, rec.kinds())
		}
	}
}

// TestCatchUpStopsAtTheTombstone: a subscriber still catching up when the
// stream is tombstoned receives what was buffered for it, then the drop,
// and none of the events it had not reached.
func TestCatchUpStopsAtTheTombstone(t *testing.T) {
	h := newHarness(t, streams.Config{SubscriptionBuffer: 4, RecentEvents: 2}, false)
	for range 10 {
		h.mustAppend("s", streams.Any, "e")
	}
	sub, rec := h.subscribeStream("s", streams.Start())
	h.write(h.svc.Tombstone, "s", streams.Any)
	sub.Request(100)
	got := rec.kinds()
	if len(got) < 2 || got[0] != "confirmed" || got[len(got)-1] != "dropped" || !isDeleted(rec.msgs[len(rec.msgs)-1].Err) {
		t.Fatalf("got %v, want confirmed, what was buffered, then dropped for the tombstone", got)
	}
	if n := len(rec.events()); n >= 10 {
		t.Fatalf("received %d of the 10 events of a stream tombstoned before it reached them", n)
	}
}

// TestAReadInFlightAtTheTombstoneDeliversNothing: the events a catch-up
// read brings back after the stream was tombstoned are not delivered.
func TestAReadInFlightAtTheTombstoneDeliversNothing(t *testing.T) {
	h := newHarness(t, streams.Config{RecentEvents: 2}, false)
	for range 10 {
		h.mustAppend("s", streams.Any, "e")
	}
	h.log.SyncReads = false
	sub, rec := h.subscribeStream("s", streams.Start())
	sub.Request(100)
	if h.log.Pending() == 0 {
		t.Fatal("the catch-up read is not in flight")
	}
	h.write(h.svc.Tombstone, "s", streams.Any)
	h.log.RunAll()
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "dropped"}) || !isDeleted(rec.msgs[1].Err) {
		t.Fatalf("got %v, want confirmed then dropped for the tombstone", got)
	}
}

func TestStreamSubscriptionAcrossSoftDelete(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.NoStream, "a", "b")
	h.write(h.svc.Delete, "s", streams.Any)
	sub, rec := h.subscribeStream("s", streams.Start())
	sub.Request(100)
	h.mustAppend("s", streams.Any, "c")
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "caught-up", "c"}) {
		t.Fatalf("got %v, want the deleted history skipped and the recreated event delivered", got)
	}
}

// TestSlowSubscriberStaysBounded: a subscriber without credits holds one
// buffer of messages while thousands of events commit; granted credits, it
// catches up from the log and receives every event once, in order.
func TestSlowSubscriberStaysBounded(t *testing.T) {
	cfg := streams.Config{SubscriptionBuffer: 4, RecentEvents: 8, ReadChunkBytes: 256}
	h := newHarness(t, cfg, false)
	all, allRec := h.subscribeAll(streams.Start(), nil)
	st, stRec := h.subscribeStream("s", streams.Start())
	all.Request(3) // confirmed, caught-up, then one event
	st.Request(2)
	for i := 0; i < 2000; i++ {
		stream := "s"
		if i%3 == 0 {
			stream = "other"
		}
		h.mustAppend(stream, streams.Any, fmt.Sprint(i))
		if all.Buffered() > 4 || st.Buffered() > 4 {
			t.Fatalf("buffer over its bound: %d and %d", all.Buffered(), st.Buffered())
		}
	}
	reads := h.log.Reads.Forward + h.log.Reads.At
	for len(allRec.events()) < 2000 || len(stRec.events()) < 1333 {
		all.Request(7)
		st.Request(5)
	}
	if h.log.Reads.Forward+h.log.Reads.At == reads {
		t.Fatal("the slow subscribers caught up without reading the log")
	}
	if all.HighWater() > 4 || st.HighWater() > 4 {
		t.Fatalf("high water %d and %d over the bound 4", all.HighWater(), st.HighWater())
	}
	log := h.log.CommittedEvents()
	if got := allRec.events(); !slices.EqualFunc(got, log, func(a, b streams.Event) bool { return a.Position == b.Position }) {
		t.Fatalf("$all subscriber got %d events, not the log's %d in order", len(got), len(log))
	}
	var want []int64
	for i := range int64(1333) {
		want = append(want, i)
	}
	if got := numbers(stRec.events()); !slices.Equal(got, want) {
		t.Fatalf("stream subscriber got %v...", got[:min(len(got), 10)])
	}
	if !slices.Contains(allRec.kinds(), "fell-behind") {
		t.Fatal("the $all subscriber was live, then starved; it should have reported falling behind")
	}
	// Live again with credits: new events come straight from the ring.
	all.Request(1000)
	reads = h.log.Reads.Forward + h.log.Reads.At
	h.mustAppend("s", streams.Any, "new")
	if last := allRec.msgs[len(allRec.msgs)-1]; last.Kind != streams.EventAppeared || last.Event.Type != "new" {
		t.Fatalf("last message %v", allRec.kinds()[len(allRec.msgs)-1])
	}
	if h.log.Reads.Forward+h.log.Reads.At != reads {
		t.Fatal("a live subscriber read the log for an event in the ring")
	}
}

func TestSubscriptionBufferBytes(t *testing.T) {
	h := newHarness(t, streams.Config{SubscriptionBuffer: 100, SubscriptionBufferBytes: 300, RecentEvents: 2}, false)
	sub, rec := h.subscribeAll(streams.Start(), nil)
	for i := 0; i < 50; i++ {
		h.append("s", streams.Any, []streams.EventData{{ID: h.id(), Type: "t", Data: make([]byte, 100)}})
		if sub.BufferedBytes() > 300 || sub.Buffered() > 10 {
			t.Fatalf("buffered %d messages, %d bytes; the byte bound is 300 (102 bytes an event)", sub.Buffered(), sub.BufferedBytes())
		}
	}
	for len(rec.events()) < 50 {
		sub.Request(1)
		if sub.BufferedBytes() > 300 {
			t.Fatalf("buffered %d bytes", sub.BufferedBytes())
		}
	}
}

func TestFilteredSubscriptionCheckpoints(t *testing.T) {
	h := newHarness(t, streams.Config{RecentEvents: 3, SubscriptionBuffer: 3}, false)
	for i := 0; i < 10; i++ {
		h.mustAppend(fmt.Sprintf("noise-%d", i), streams.Any, "Noise")
	}
	f := &streams.AllFilter{Spec: filter.Spec{On: filter.EventType, Prefixes: []string{"Wanted"}}, MaxSearchWindow: 2, CheckpointIntervalMultiplier: 2}
	sub, rec := h.subscribeAll(streams.Start(), f)
	sub.Request(1000)
	for i := 0; i < 10; i++ {
		h.mustAppend("w", streams.Any, "Wanted")
		h.mustAppend("n", streams.Any, "Noise")
	}
	log := h.log.CommittedEvents()
	var wantCps []int64
	for i := 3; i < len(log); i += 4 {
		wantCps = append(wantCps, log[i].Position)
		if i == 7 {
			// The catch-up through the 10 noise events ends with one.
			wantCps = append(wantCps, log[9].Position)
		}
	}
	var cps []int64
	for _, m := range rec.msgs {
		if m.Kind == streams.Checkpoint {
			cps = append(cps, m.Position)
		}
	}
	if !slices.Equal(cps, wantCps) {
		t.Fatalf("checkpoints at %v, want every 4th event considered and the end of the catch-up: %v", cps, wantCps)
	}
	if got := types(rec.events()); len(got) != 10 || slices.ContainsFunc(got, func(s string) bool { return s != "Wanted" }) {
		t.Fatalf("events %v, want the 10 Wanted", got)
	}
}

// TestFilteredSubscriptionCheckpointsAroundCatchUp: EventStoreDB's
// filtered $all subscription issues a checkpoint when its catch-up reaches
// the end of the log, before caught-up (so that a subscriber whose filter
// matched nothing still learns how far it got), and one after fell-behind,
// both at the last event it considered. A subscription that starts at the
// end has no catch-up and gets none; a checkpoint is never repeated.
func TestFilteredSubscriptionCheckpointsAroundCatchUp(t *testing.T) {
	h := newHarness(t, streams.Config{RecentEvents: 4, SubscriptionBuffer: 4}, false)
	for i := 0; i < 5; i++ {
		h.mustAppend(fmt.Sprintf("noise-%d", i), streams.Any, "Noise")
	}
	log := h.log.CommittedEvents()
	last := log[len(log)-1].Position
	f := &streams.AllFilter{Spec: filter.Spec{On: filter.EventType, Prefixes: []string{"Wanted"}}}
	summary := func(rec *recorder) []string {
		var out []string
		for _, m := range rec.msgs {
			switch m.Kind {
			case streams.Checkpoint:
				out = append(out, fmt.Sprintf("checkpoint@%d", m.Position))
			case streams.EventAppeared:
				out = append(out, fmt.Sprintf("%s@%d", m.Event.Type, m.Event.Position))
			default:
				out = append(out, m.Kind.String())
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		from streams.From
		want []string
	}{
		{"from the start", streams.Start(), []string{"confirmed", fmt.Sprintf("checkpoint@%d", last), "caught-up"}},
		{"from a position before the end", streams.After(log[1].Position), []string{"confirmed", fmt.Sprintf("checkpoint@%d", last), "caught-up"}},
		{"from the end", streams.End(), []string{"confirmed", "caught-up"}},
	} {
		sub, rec := h.subscribeAll(tc.from, f)
		sub.Request(100)
		if got := summary(rec); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		sub.Close()
	}

	// A live subscriber without credits, its buffer full, falls behind
	// the ring of recent events: fell-behind and a checkpoint where it got
	// to, the history from the log, a checkpoint at its end, caught-up.
	sub, rec := h.subscribeAll(streams.End(), f)
	sub.Request(2) // confirmed, caught-up
	var want []string
	for i := 0; i < 4; i++ {
		pos := h.mustAppend("w", streams.Any, "Wanted").Position
		want = append(want, fmt.Sprintf("Wanted@%d", pos))
	}
	var noise int64
	for i := 0; i < 12; i++ {
		noise = h.mustAppend("noise", streams.Any, "Noise").Position
	}
	sub.Request(100)
	want = append([]string{"confirmed", "caught-up"}, want...)
	want = append(want, "fell-behind", strings.Replace(want[len(want)-1], "Wanted", "checkpoint", 1),
		fmt.Sprintf("checkpoint@%d", noise), "caught-up")
	if got := summary(rec); !slices.Equal(got, want) {
		t.Errorf("a filtered subscription falling behind: got %v, want %v", got, want)
	}
}

// TestSinkMayWriteAndSubscribe: callbacks re-enter the layer; a
// synchronous log even commits inside them.
func TestSinkMayWriteAndSubscribe(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	var echoes []*pending
	var sub *streams.Subscription
	var inner *recorder
	sub, err := h.svc.SubscribeToStream(streams.SubscribeStreamRequest{Stream: "ping", From: streams.Start(), Now: h.now}, func(m streams.Message) {
		if m.Kind != streams.EventAppeared {
			return
		}
		if len(echoes) < 5 {
			// Inside Apply the write cannot be answered yet: its commit
			// is applied after the running Apply finishes.
			echoes = append(echoes, h.appendAsync("ping", streams.Any, h.events(fmt.Sprint("echo", len(echoes)))))
		}
		if inner == nil {
			_, inner = h.subscribeStream("ping", streams.Start())
		}
		sub.Request(1)
	})
	if err != nil {
		t.Fatal(err)
	}
	sub.Request(3)
	h.mustAppend("ping", streams.Any, "start")
	evs, _ := h.readStreamFully("ping", streams.Forwards, streams.Start())
	if len(evs) != 6 {
		t.Fatalf("%d events in ping, want 6", len(evs))
	}
	for i, p := range echoes {
		if !p.done || p.res.Err != nil || p.res.Revision != int64(i+1) {
			t.Fatalf("echo %d: %+v", i, p.res)
		}
	}
	if inner == nil || len(inner.msgs) != 0 {
		t.Fatal("the inner subscription should exist and have no credits")
	}
}

func TestMessageKindStrings(t *testing.T) {
	for k := streams.Confirmed; k <= streams.Dropped; k++ {
		if strings.HasPrefix(k.String(), "message(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}

// TestStreamSubscriptionHonoursMetadataInHistory: history hidden by $tb or
// $maxCount when the subscription reaches it is skipped.
func TestStreamSubscriptionHonoursMetadataInHistory(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	tenEvents(h, "s")
	h.setMetadata("s", `{"$maxCount":3}`)
	sub, rec := h.subscribeStream("s", streams.Start())
	sub.Request(100)
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "7", "8", "9", "caught-up"}) {
		t.Fatalf("got %v", got)
	}
	h.setMetadata("s", `{"$tb":12}`)
	h.mustAppend("s", streams.Any, "10", "11", "12")
	if got := rec.kinds()[5:]; !slices.Equal(got, []string{"12"}) {
		t.Fatalf("after $tb 12: %v", got)
	}
}

// TestStreamSubscriptionAfterTheLastPossibleRevision: after revision
// MaxInt64 (where a client's 2^64-1 lands) lies nothing, not the stream
// from its start.
func TestStreamSubscriptionAfterTheLastPossibleRevision(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	h.mustAppend("s", streams.Any, "a", "b")
	sub, rec := h.subscribeStream("s", streams.After(math.MaxInt64))
	sub.Request(100)
	h.mustAppend("s", streams.Any, "c")
	if evs := rec.events(); len(evs) != 0 {
		t.Fatalf("a subscription after revision MaxInt64 delivered %v", rec.kinds())
	}
}

// TestALiveSubscriberGetsWhatCameWithTheTombstone: a live subscriber is
// handed each event as it commits, so events applied in the same batch as
// the tombstone still reach it, and the tombstone itself, before the drop.
func TestALiveSubscriberGetsWhatCameWithTheTombstone(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	res := h.mustAppend("s", streams.NoStream, "a")
	sub, rec := h.subscribeStream("s", streams.Start())
	sub.Request(100)
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "a", "caught-up"}) {
		t.Fatalf("before: %v", got)
	}
	p := res.Position
	h.svc.Apply([]streams.Event{
		{Position: p + 100, Stream: "s", Number: 1, ID: h.id(), Type: "b", Data: []byte(`{}`), IsJSON: true},
		{Position: p + 200, Stream: "s", Number: math.MaxInt64, ID: h.id(), Type: "$streamDeleted", Tombstone: true},
	})
	if got := rec.kinds(); !slices.Equal(got, []string{"confirmed", "a", "caught-up", "b", "$streamDeleted", "dropped"}) || !isDeleted(rec.msgs[len(rec.msgs)-1].Err) {
		t.Fatalf("got %v, want b, the tombstone, then dropped for the tombstone", got)
	}
}
