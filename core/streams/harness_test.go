package streams_test

import (
	"encoding/binary"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/streamstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is a node in miniature: the layer over the fake log, with the
// log's commits fed to Apply.
type harness struct {
	t   testing.TB
	log *streamstest.Log
	svc *streams.Service
	now time.Time
	ids uint64
}

// newHarness commits and reads synchronously unless async is set.
func newHarness(t testing.TB, cfg streams.Config, async bool) *harness {
	t.Helper()
	log := streamstest.New()
	log.SyncCommits, log.SyncReads = !async, !async
	svc, err := streams.New(log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	log.OnCommit = svc.Apply
	return &harness{t: t, log: log, svc: svc, now: epoch}
}

func (h *harness) id() [16]byte {
	h.ids++
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], 0xabcdef)
	binary.BigEndian.PutUint64(id[8:], h.ids)
	return id
}

// events makes events with fresh ids, one per type.
func (h *harness) events(types ...string) []streams.EventData {
	out := make([]streams.EventData, len(types))
	for i, typ := range types {
		out[i] = streams.EventData{ID: h.id(), Type: typ, Data: []byte(`{"n":` + typ + `}`), IsJSON: true}
	}
	return out
}

// pending is a write whose answer may not have come yet.
type pending struct {
	res  streams.WriteResult
	done bool
}

func (h *harness) appendAsync(stream string, expected streams.ExpectedRevision, evs []streams.EventData) *pending {
	p := &pending{}
	h.svc.Append(streams.AppendRequest{Stream: stream, Expected: expected, Events: evs, Now: h.now}, func(r streams.WriteResult) {
		if p.done {
			h.t.Errorf("append to %q answered twice: %+v then %+v", stream, p.res, r)
		}
		p.res, p.done = r, true
	})
	return p
}

// append writes and requires an answer before it returns (synchronous log).
func (h *harness) append(stream string, expected streams.ExpectedRevision, evs []streams.EventData) streams.WriteResult {
	h.t.Helper()
	p := h.appendAsync(stream, expected, evs)
	if !p.done {
		h.t.Fatalf("append to %q was not answered", stream)
	}
	return p.res
}

func (h *harness) mustAppend(stream string, expected streams.ExpectedRevision, types ...string) streams.WriteResult {
	h.t.Helper()
	res := h.append(stream, expected, h.events(types...))
	if res.Err != nil {
		h.t.Fatalf("append %v to %q (expected %v): %v", types, stream, expected, res.Err)
	}
	return res
}

func (h *harness) setMetadata(stream, doc string) {
	h.t.Helper()
	res := h.append("$$"+stream, streams.Any, []streams.EventData{{ID: h.id(), Type: streams.MetadataEventType, Data: []byte(doc), IsJSON: true}})
	if res.Err != nil {
		h.t.Fatalf("set metadata of %q: %v", stream, res.Err)
	}
}

func (h *harness) write(op func(streams.DeleteRequest, func(streams.WriteResult)), stream string, expected streams.ExpectedRevision) streams.WriteResult {
	h.t.Helper()
	var res streams.WriteResult
	answered := false
	op(streams.DeleteRequest{Stream: stream, Expected: expected, Now: h.now}, func(r streams.WriteResult) { res, answered = r, true })
	if !answered {
		h.t.Fatalf("write to %q was not answered", stream)
	}
	return res
}

func (h *harness) readStream(req streams.ReadStreamRequest) streams.ReadStreamResult {
	h.t.Helper()
	if req.Now.IsZero() {
		req.Now = h.now
	}
	if req.Count == 0 {
		req.Count = 1 << 40
	}
	var res streams.ReadStreamResult
	answered := false
	h.svc.ReadStream(req, func(r streams.ReadStreamResult) { res, answered = r, true })
	if !answered {
		h.t.Fatalf("read of %q was not answered", req.Stream)
	}
	return res
}

// readAllPages reads a stream to the end page by page.
func (h *harness) readStreamFully(stream string, dir streams.Direction, from streams.From) ([]streams.Event, error) {
	h.t.Helper()
	var out []streams.Event
	for pages := 0; ; pages++ {
		res := h.readStream(streams.ReadStreamRequest{Stream: stream, From: from, Direction: dir})
		if res.Err != nil {
			return out, res.Err
		}
		out = append(out, res.Events...)
		if res.End {
			return out, nil
		}
		if pages > 10000 {
			h.t.Fatal("read does not end")
		}
		from = streams.At(res.Next)
	}
}

func (h *harness) readAll(req streams.ReadAllRequest) streams.ReadAllResult {
	h.t.Helper()
	if req.Count == 0 {
		req.Count = 1 << 40
	}
	var res streams.ReadAllResult
	answered := false
	h.svc.ReadAll(req, func(r streams.ReadAllResult) { res, answered = r, true })
	if !answered {
		h.t.Fatal("$all read was not answered")
	}
	return res
}

func (h *harness) readAllFully(dir streams.Direction, f *streams.AllFilter) (evs []streams.Event, checkpoints []int64) {
	h.t.Helper()
	from := streams.Start()
	if dir == streams.Backwards {
		from = streams.End()
	}
	for pages := 0; ; pages++ {
		res := h.readAll(streams.ReadAllRequest{From: from, Direction: dir, Filter: f})
		if res.Err != nil {
			h.t.Fatalf("$all read: %v", res.Err)
		}
		evs = append(evs, res.Events...)
		if res.Checkpoint >= 0 {
			checkpoints = append(checkpoints, res.Checkpoint)
		}
		if res.End {
			return evs, checkpoints
		}
		if pages > 100000 {
			h.t.Fatal("$all read does not end")
		}
		from = streams.At(res.Next)
	}
}

func types(evs []streams.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func numbers(evs []streams.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Number
	}
	return out
}
