package streams_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/filter"
)

func tenEvents(h *harness, stream string) {
	h.t.Helper()
	var ts []string
	for i := 0; i < 10; i++ {
		ts = append(ts, fmt.Sprint(i))
	}
	h.mustAppend(stream, streams.NoStream, ts...)
}

func TestReadStreamDirectionsAndStarts(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	tenEvents(h, "s")
	cases := []struct {
		from  streams.From
		dir   streams.Direction
		count uint64
		want  []int64
		end   bool
	}{
		{streams.Start(), streams.Forwards, 3, []int64{0, 1, 2}, false},
		{streams.At(8), streams.Forwards, 5, []int64{8, 9}, true},
		{streams.At(20), streams.Forwards, 5, nil, true},
		{streams.End(), streams.Forwards, 5, nil, true},
		{streams.End(), streams.Backwards, 3, []int64{9, 8, 7}, false},
		{streams.At(1), streams.Backwards, 5, []int64{1, 0}, true},
		{streams.At(50), streams.Backwards, 2, []int64{9, 8}, false},
		{streams.Start(), streams.Backwards, 5, []int64{0}, true},
	}
	for _, c := range cases {
		res := h.readStream(streams.ReadStreamRequest{Stream: "s", From: c.from, Direction: c.dir, Count: c.count})
		if res.Err != nil || !slices.Equal(numbers(res.Events), c.want) || res.End != c.end || res.LastRevision != 9 {
			t.Errorf("read %v from %v count %d: got %v end=%v last=%d err=%v, want %v end=%v",
				c.dir, c.from, c.count, numbers(res.Events), res.End, res.LastRevision, res.Err, c.want, c.end)
		}
	}
	// Continuing from Next covers the stream.
	res := h.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.Start(), Count: 4})
	if res.Next != 4 {
		t.Fatalf("next = %d, want 4", res.Next)
	}
	back := h.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.End(), Direction: streams.Backwards, Count: 4})
	if back.Next != 5 {
		t.Fatalf("backward next = %d, want 5", back.Next)
	}
}

func TestReadStreamPagesAreBounded(t *testing.T) {
	h := newHarness(t, streams.Config{MaxReadCount: 3, ReadChunkBytes: 64}, false)
	tenEvents(h, "s")
	h.mustAppend("other", streams.Any, "x")
	tenEvents(h, "t") // interleaves nothing, but the chunk is small
	res := h.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.Start(), Count: 100})
	if len(res.Events) != 3 || res.End || res.Next != 3 {
		t.Fatalf("page: %v end=%v next=%d, want 3 events and more to come", numbers(res.Events), res.End, res.Next)
	}
	for _, dir := range []streams.Direction{streams.Forwards, streams.Backwards} {
		from := streams.Start()
		if dir == streams.Backwards {
			from = streams.End()
		}
		evs, err := h.readStreamFully("s", dir, from)
		want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		if dir == streams.Backwards {
			slices.Reverse(want)
		}
		if err != nil || !slices.Equal(numbers(evs), want) {
			t.Fatalf("%v in pages: %v %v", dir, numbers(evs), err)
		}
	}
	h2 := newHarness(t, streams.Config{MaxReadBytes: 1}, false)
	tenEvents(h2, "s")
	if res := h2.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.Start()}); len(res.Events) != 1 || res.End {
		t.Fatalf("a 1-byte page still returns one event: got %d", len(res.Events))
	}
}

func TestReadStreamHonoursMetadata(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	tenEvents(h, "s")
	read := func(dir streams.Direction, from streams.From) []int64 {
		evs, err := h.readStreamFully("s", dir, from)
		if err != nil {
			t.Fatal(err)
		}
		return numbers(evs)
	}

	h.setMetadata("s", `{"$maxCount":3}`)
	if got := read(streams.Forwards, streams.Start()); !slices.Equal(got, []int64{7, 8, 9}) {
		t.Errorf("$maxCount 3 forwards: %v", got)
	}
	if got := read(streams.Forwards, streams.At(2)); !slices.Equal(got, []int64{7, 8, 9}) {
		t.Errorf("$maxCount 3 from a hidden revision: %v", got)
	}
	if got := read(streams.Backwards, streams.End()); !slices.Equal(got, []int64{9, 8, 7}) {
		t.Errorf("$maxCount 3 backwards: %v", got)
	}

	h.setMetadata("s", `{"$tb":5,"custom":{"a":1}}`)
	if got := read(streams.Forwards, streams.Start()); !slices.Equal(got, []int64{5, 6, 7, 8, 9}) {
		t.Errorf("$tb 5: %v", got)
	}
	if got := read(streams.Backwards, streams.At(6)); !slices.Equal(got, []int64{6, 5}) {
		t.Errorf("$tb 5 backwards from 6: %v", got)
	}
	h.setMetadata("s", `{"$tb":5,"$maxCount":2}`)
	if got := read(streams.Forwards, streams.Start()); !slices.Equal(got, []int64{8, 9}) {
		t.Errorf("$tb 5 and $maxCount 2: %v", got)
	}
	h.setMetadata("s", `{"$tb":50}`)
	res := h.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.Start()})
	if res.Err != nil || len(res.Events) != 0 || !res.End {
		t.Errorf("everything truncated: %+v, want an empty read that is not an error", res)
	}

	// Only the newest metadata is visible in the metadata stream.
	m, _ := h.readStreamFully("$$s", streams.Forwards, streams.Start())
	if len(m) != 1 || string(m[0].Data) != `{"$tb":50}` {
		t.Errorf("metadata stream reads %d events, want only the newest", len(m))
	}
	if st, _ := h.svc.Stream("s"); !st.HasMetadata || st.SoftDeleted || st.LastRevision != 9 {
		t.Errorf("stream state: %+v", st)
	}
}

func TestReadStreamHonoursMaxAge(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	for i := 0; i < 6; i++ {
		h.now = epoch.Add(time.Duration(i) * 30 * time.Second)
		h.mustAppend("s", streams.Any, fmt.Sprint(i))
	}
	h.setMetadata("s", `{"$maxAge":60}`)
	// At epoch+150s events created at 90s or later are younger than 60s.
	res := h.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.Start(), Now: epoch.Add(150 * time.Second)})
	if !slices.Equal(numbers(res.Events), []int64{3, 4, 5}) {
		t.Fatalf("$maxAge 60 at +150s: %v", numbers(res.Events))
	}
	res = h.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.End(), Direction: streams.Backwards, Now: epoch.Add(10 * time.Minute)})
	if res.Err != nil || len(res.Events) != 0 || !res.End {
		t.Fatalf("all expired: %+v", res)
	}
	if res := h.readStream(streams.ReadStreamRequest{Stream: "s", From: streams.Start(), Now: time.Time{}}); res.Err == nil {
		// The harness fills a zero Now; call the service directly.
		var got streams.ReadStreamResult
		h.svc.ReadStream(streams.ReadStreamRequest{Stream: "s", Count: 1}, func(r streams.ReadStreamResult) { got = r })
		if _, ok := errors.AsType[*streams.InvalidArgumentError](got.Err); !ok {
			t.Fatalf("a read without Now: %v, want invalid argument", got.Err)
		}
	}
}

func TestReadStreamNotFoundAndErrors(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	if res := h.readStream(streams.ReadStreamRequest{Stream: "never"}); !isNotFound(res.Err) || !strings.Contains(res.Err.Error(), `"never"`) {
		t.Fatalf("missing stream: %v", res.Err)
	}
	h.setMetadata("metaonly", `{"$maxCount":1}`)
	if res := h.readStream(streams.ReadStreamRequest{Stream: "metaonly"}); !isNotFound(res.Err) {
		t.Fatalf("stream with only metadata: %v", res.Err)
	}
	// System streams read like any other.
	h.mustAppend("$stats-1", streams.Any, "s")
	if res := h.readStream(streams.ReadStreamRequest{Stream: "$stats-1"}); res.Err != nil || len(res.Events) != 1 {
		t.Fatalf("system stream: %+v", res)
	}
	for _, req := range []streams.ReadStreamRequest{
		{Stream: ""},
		{Stream: "$all"},
		{Stream: "s", From: streams.At(-1)},
		{Stream: "s", From: streams.After(1)},
	} {
		if res := h.readStream(req); res.Err == nil {
			t.Errorf("%+v: no error", req)
		} else if _, ok := errors.AsType[*streams.InvalidArgumentError](res.Err); !ok {
			t.Errorf("%+v: %v, want invalid argument", req, res.Err)
		}
	}
	var res streams.ReadStreamResult
	h.svc.ReadStream(streams.ReadStreamRequest{Stream: "s", Now: h.now}, func(r streams.ReadStreamResult) { res = r })
	if _, ok := errors.AsType[*streams.InvalidArgumentError](res.Err); !ok {
		t.Errorf("count 0: %v", res.Err)
	}
}

// TestReadsNeverPassTheAppliedLog: events written but not committed, or
// committed but not yet applied on this node, are invisible.
func TestReadsNeverPassTheAppliedLog(t *testing.T) {
	h := newHarness(t, streams.Config{}, true)
	h.log.SyncReads = true
	var held [][]streams.Event
	h.log.OnCommit = func(evs []streams.Event) { held = append(held, evs) }
	p := h.appendAsync("s", streams.Any, h.events("a"))
	check := func(stage string) {
		var all streams.ReadAllResult
		h.svc.ReadAll(streams.ReadAllRequest{From: streams.Start(), Count: 10}, func(r streams.ReadAllResult) { all = r })
		var back streams.ReadAllResult
		h.svc.ReadAll(streams.ReadAllRequest{From: streams.End(), Direction: streams.Backwards, Count: 10}, func(r streams.ReadAllResult) { back = r })
		if all.Err != nil || len(all.Events) != 0 || !all.End || back.Err != nil || len(back.Events) != 0 {
			t.Fatalf("%s: $all shows %d forwards, %d backwards (%v %v), want nothing", stage, len(all.Events), len(back.Events), all.Err, back.Err)
		}
	}
	check("written, not committed")
	h.log.Run(0) // commit: the log now has it, Apply has not run
	if h.log.Committed() == 0 {
		t.Fatal("the fake did not commit")
	}
	check("committed, not applied")
	if p.done {
		t.Fatal("the append was answered before its event was applied on this node")
	}
	h.svc.Apply(held[0])
	if !p.done || p.res.Err != nil {
		t.Fatalf("after Apply: %+v", p.res)
	}
}

// allFixture writes an interleaved log over several streams and types.
func allFixture(h *harness) {
	h.mustAppend("order-1", streams.Any, "OrderPlaced")
	h.mustAppend("cart-1", streams.Any, "ItemAdded", "ItemAdded")
	h.mustAppend("order-2", streams.Any, "OrderPlaced")
	h.setMetadata("order-1", `{"$maxCount":5}`)
	h.mustAppend("order-1", streams.Any, "OrderShipped")
	h.mustAppend("cart-1", streams.Any, "CartCheckedOut")
}

func TestReadAll(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	allFixture(h)
	log := h.log.CommittedEvents()
	evs, _ := h.readAllFully(streams.Forwards, nil)
	if len(evs) != len(log) {
		t.Fatalf("forwards: %d events, the log has %d", len(evs), len(log))
	}
	for i := range log {
		if evs[i].Position != log[i].Position || evs[i].Stream != log[i].Stream || evs[i].Number != log[i].Number {
			t.Fatalf("event %d: %+v, want %+v", i, evs[i], log[i])
		}
	}
	back, _ := h.readAllFully(streams.Backwards, nil)
	slices.Reverse(back)
	if !slices.EqualFunc(back, log, func(a, b streams.Event) bool { return a.Position == b.Position }) {
		t.Fatal("backwards is not the log reversed")
	}
	// At(p) is inclusive forwards, exclusive backwards.
	p := log[3].Position
	fwd := h.readAll(streams.ReadAllRequest{From: streams.At(p), Count: 2})
	if fwd.Err != nil || len(fwd.Events) != 2 || fwd.Events[0].Position != p || fwd.Next != log[5].Position || fwd.End {
		t.Fatalf("forwards at %d: %+v", p, fwd)
	}
	bwd := h.readAll(streams.ReadAllRequest{From: streams.At(p), Direction: streams.Backwards, Count: 2})
	if bwd.Err != nil || len(bwd.Events) != 2 || bwd.Events[0].Position != log[2].Position || bwd.Next != log[1].Position {
		t.Fatalf("backwards at %d: %+v", p, bwd)
	}
	if r := h.readAll(streams.ReadAllRequest{From: streams.End(), Count: 5}); len(r.Events) != 0 || !r.End {
		t.Fatalf("forwards from the end: %+v", r)
	}
	if r := h.readAll(streams.ReadAllRequest{From: streams.Start(), Direction: streams.Backwards, Count: 5}); len(r.Events) != 0 || !r.End {
		t.Fatalf("backwards from the start: %+v", r)
	}
	// Paging by count and by bytes gives the same events.
	h2 := newHarness(t, streams.Config{MaxReadCount: 2, MaxReadBytes: 150, ReadChunkBytes: 100, MaxScanBytes: 200}, false)
	allFixture(h2)
	for _, dir := range []streams.Direction{streams.Forwards, streams.Backwards} {
		paged, _ := h2.readAllFully(dir, nil)
		if len(paged) != len(log) {
			t.Fatalf("%v in small pages: %d events, want %d", dir, len(paged), len(log))
		}
	}
}

func TestReadAllFilters(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	allFixture(h)
	log := h.log.CommittedEvents()
	cases := []struct {
		name string
		spec filter.Spec
	}{
		{"stream prefix", filter.Spec{On: filter.StreamName, Prefixes: []string{"order-"}}},
		{"stream prefixes", filter.Spec{On: filter.StreamName, Prefixes: []string{"cart-", "$$"}}},
		{"stream regex", filter.Spec{On: filter.StreamName, Regex: `-2$`}},
		{"type prefix", filter.Spec{On: filter.EventType, Prefixes: []string{"Item"}}},
		{"type regex excluding system events", filter.Spec{On: filter.EventType, Regex: `^[^$]`}},
	}
	for _, c := range cases {
		f, err := filter.New(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for _, ev := range log {
			if f.Match(ev.Stream, ev.Type) {
				want = append(want, ev.Position)
			}
		}
		if len(want) == 0 || len(want) == len(log) {
			t.Fatalf("%s: the fixture should have some events pass and some not (%d of %d)", c.name, len(want), len(log))
		}
		for _, dir := range []streams.Direction{streams.Forwards, streams.Backwards} {
			evs, _ := h.readAllFully(dir, &streams.AllFilter{Spec: c.spec})
			got := make([]int64, len(evs))
			for i, e := range evs {
				got[i] = e.Position
			}
			w := slices.Clone(want)
			if dir == streams.Backwards {
				slices.Reverse(w)
			}
			if !slices.Equal(got, w) {
				t.Errorf("%s %v: positions %v, want %v", c.name, dir, got, w)
			}
		}
	}
	res := h.readAll(streams.ReadAllRequest{From: streams.Start(), Count: 1, Filter: &streams.AllFilter{Spec: filter.Spec{On: filter.EventType, Regex: `(?<!x)`}}})
	if _, ok := errors.AsType[*streams.InvalidArgumentError](res.Err); !ok || !strings.Contains(res.Err.Error(), "does not compile") {
		t.Fatalf("bad regex: %v", res.Err)
	}
}

// TestReadAllCheckpoints: a filtered read reports the position at which it
// last completed MaxSearchWindow × CheckpointIntervalMultiplier considered
// events; a sparse filter ends pages early (bounded scan) with the position
// to go on from.
func TestReadAllCheckpoints(t *testing.T) {
	h := newHarness(t, streams.Config{}, false)
	for i := 0; i < 20; i++ {
		h.mustAppend(fmt.Sprintf("noise-%d", i), streams.Any, "Noise")
	}
	h.mustAppend("wanted", streams.Any, "Wanted")
	log := h.log.CommittedEvents()
	f := &streams.AllFilter{Spec: filter.Spec{On: filter.StreamName, Prefixes: []string{"wanted"}}, MaxSearchWindow: 3, CheckpointIntervalMultiplier: 2}
	res := h.readAll(streams.ReadAllRequest{From: streams.Start(), Count: 10, Filter: f})
	// 21 events considered: intervals complete at the 6th, 12th, 18th.
	if res.Err != nil || len(res.Events) != 1 || res.Checkpoint != log[17].Position || !res.End {
		t.Fatalf("got %d events, checkpoint %d, end %v; want 1 event, checkpoint %d (the 18th event), end", len(res.Events), res.Checkpoint, res.End, log[17].Position)
	}
	if r := h.readAll(streams.ReadAllRequest{From: streams.Start(), Count: 10}); r.Checkpoint != -1 {
		t.Fatalf("an unfiltered read reports checkpoint %d", r.Checkpoint)
	}

	small := newHarness(t, streams.Config{MaxScanBytes: 200}, false)
	for i := 0; i < 20; i++ {
		small.mustAppend(fmt.Sprintf("noise-%d", i), streams.Any, "Noise")
	}
	small.mustAppend("wanted", streams.Any, "Wanted")
	first := small.readAll(streams.ReadAllRequest{From: streams.Start(), Count: 10, Filter: f})
	if first.End || len(first.Events) != 0 || first.Next <= 0 {
		t.Fatalf("a bounded scan should end the page early with somewhere to go on: %+v", first)
	}
	evs, cps := small.readAllFully(streams.Forwards, f)
	if len(evs) != 1 || evs[0].Stream != "wanted" || len(cps) == 0 {
		t.Fatalf("paged filtered read: %d events, %d checkpoints", len(evs), len(cps))
	}
}

func TestReadsAreBounded(t *testing.T) {
	h := newHarness(t, streams.Config{MaxReads: 1}, false)
	tenEvents(h, "s")
	h.log.SyncReads = false
	var first, second streams.ReadStreamResult
	h.svc.ReadStream(streams.ReadStreamRequest{Stream: "s", Count: 5, Now: h.now}, func(r streams.ReadStreamResult) { first = r })
	h.svc.ReadStream(streams.ReadStreamRequest{Stream: "s", Count: 5, Now: h.now}, func(r streams.ReadStreamResult) { second = r })
	if _, ok := errors.AsType[*streams.TooBusyError](second.Err); !ok {
		t.Fatalf("second concurrent read: %v, want too busy", second.Err)
	}
	var all streams.ReadAllResult
	h.svc.ReadAll(streams.ReadAllRequest{Count: 1}, func(r streams.ReadAllResult) { all = r })
	if _, ok := errors.AsType[*streams.TooBusyError](all.Err); !ok {
		t.Fatalf("concurrent $all read: %v, want too busy", all.Err)
	}
	h.log.RunAll()
	if first.Err != nil || len(first.Events) != 5 {
		t.Fatalf("first read: %+v", first)
	}
	if h.svc.Stats().Reads != 0 {
		t.Fatal("read slot not released")
	}
}

// TestApplyRejectsABrokenLog: the index refuses, loudly, a log that breaks
// what it relies on, rather than serve wrong answers.
func TestApplyRejectsABrokenLog(t *testing.T) {
	cases := []struct {
		name string
		evs  []streams.Event
		want string
	}{
		{"position going back", []streams.Event{{Position: 10, Stream: "s", Number: 0}, {Position: 5, Stream: "s", Number: 1}}, "not after the last applied position"},
		{"revision gap", []streams.Event{{Position: 0, Stream: "s", Number: 0}, {Position: 50, Stream: "s", Number: 2}}, "no gaps"},
		{"event after tombstone", []streams.Event{{Position: 0, Stream: "s", Tombstone: true, Number: math.MaxInt64}, {Position: 50, Stream: "s", Number: 0}}, "after the stream's tombstone"},
		{"no stream", []streams.Event{{Position: 0}}, "without a stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, streams.Config{}, false)
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), c.want) {
					t.Fatalf("got panic %v, want one saying %q", r, c.want)
				}
			}()
			h.svc.Apply(c.evs)
		})
	}
}

// TestAllReadsFromAnyPosition: a client's $all position need not be where
// a record starts (it may be stale, or made up). Reads and subscriptions
// from it answer the events on its side of it, and never ask the log to
// read from it (a log reads that as corruption, as streamstest does).
func TestAllReadsFromAnyPosition(t *testing.T) {
	h := newHarness(t, streams.Config{RecentEvents: -1, ReadChunkBytes: 300}, false)
	for i := range 100 {
		h.mustAppend([]string{"a", "b"}[i%2], streams.Any, fmt.Sprint(i))
	}
	all, _ := h.readAllFully(streams.Forwards, nil)
	if len(all) != 100 {
		t.Fatalf("read %d events, want 100", len(all))
	}
	where := func(keep func(int64) bool) []int64 {
		var out []int64
		for _, ev := range all {
			if keep(ev.Position) {
				out = append(out, ev.Position)
			}
		}
		return out
	}
	mid := all[40].Position
	for _, p := range []int64{1, all[0].Position + 1, mid - 1, mid, mid + 1, all[70].Position + 3, all[99].Position, all[99].Position + 1, all[99].Position + 1000} {
		var fwd, back []int64
		for dir, got := range map[streams.Direction]*[]int64{streams.Forwards: &fwd, streams.Backwards: &back} {
			from := streams.At(p)
			for pages := 0; ; pages++ {
				res := h.readAll(streams.ReadAllRequest{From: from, Direction: dir, Count: 7})
				if res.Err != nil {
					t.Fatalf("%v read from %d: %v", dir, p, res.Err)
				}
				for _, ev := range res.Events {
					*got = append(*got, ev.Position)
				}
				if res.End || pages > 100 {
					break
				}
				from = streams.At(res.Next)
			}
		}
		if want := where(func(q int64) bool { return q >= p }); !slices.Equal(fwd, want) {
			t.Errorf("forward read from %d: %v, want %v", p, fwd, want)
		}
		want := where(func(q int64) bool { return q < p })
		slices.Reverse(want)
		if !slices.Equal(back, want) {
			t.Errorf("backward read from %d: %v, want %v", p, back, want)
		}
		sub, rec := h.subscribeAll(streams.After(p), nil)
		sub.Request(1000)
		var subbed []int64
		for _, ev := range rec.events() {
			subbed = append(subbed, ev.Position)
		}
		if want := where(func(q int64) bool { return q > p }); !slices.Equal(subbed, want) || !slices.Contains(rec.kinds(), "caught-up") {
			t.Errorf("subscription after %d: %v (%v), want %v then caught-up", p, subbed, rec.kinds(), want)
		}
		sub.Close()
	}
}

// TestAHugeMaxAgeHidesNothing: a $maxAge too large to count in ticks must
// not wrap around and hide the whole stream.
func TestAHugeMaxAgeHidesNothing(t *testing.T) {
	for _, age := range []string{"922337203685", "922337203686", "144115188075855872", "9223372036854775807"} {
		h := newHarness(t, streams.Config{}, false)
		h.mustAppend("s", streams.Any, "a")
		h.setMetadata("s", `{"$maxAge":`+age+`}`)
		h.now = h.now.Add(time.Second)
		evs, err := h.readStreamFully("s", streams.Forwards, streams.Start())
		if err != nil || len(evs) != 1 {
			t.Errorf("read with $maxAge %s s: %d events, %v; want 1", age, len(evs), err)
		}
		sub, rec := h.subscribeStream("s", streams.Start())
		sub.Request(10)
		if n := len(rec.events()); n != 1 {
			t.Errorf("subscription with $maxAge %s s: %d events, want 1", age, n)
		}
	}
}
