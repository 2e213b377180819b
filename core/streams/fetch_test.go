package streams_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/streamstest"
)

// spanLog is the fake log, noting what each forward read asked for and
// how many events the reads handed back. Its forward reads keep strictly
// within maxBytes (after the first event), as the node's log does: the
// fake alone may run one event over.
type spanLog struct {
	*streamstest.Log
	from     []int64
	asked    []int
	returned int
	ids      uint64 // the last event id written
}

func (l *spanLog) ReadForward(from, upTo int64, maxBytes int, done func([]streams.Event, int64, error)) {
	l.from = append(l.from, from)
	l.asked = append(l.asked, maxBytes)
	l.Log.ReadForward(from, upTo, maxBytes, func(evs []streams.Event, next int64, err error) {
		used := int64(0)
		for i, ev := range evs {
			if used += streamstest.Size(ev); i > 0 && used > int64(maxBytes) {
				evs, next = evs[:i], ev.Position
				break
			}
		}
		l.returned += len(evs)
		done(evs, next, err)
	})
}

// newSpanLog is a layer over a synchronous fake log that records reads.
func newSpanLog(t *testing.T) (*spanLog, *streams.Service) {
	t.Helper()
	log := &spanLog{Log: streamstest.New()}
	log.SyncCommits, log.SyncReads = true, true
	svc, err := streams.New(log, streams.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log.OnCommit = svc.Apply
	return log, svc
}

// appendOrFail writes events with fresh ids (never taken for retries).
func appendOrFail(t *testing.T, log *spanLog, svc *streams.Service, stream string, data ...string) {
	t.Helper()
	var evs []streams.EventData
	for _, d := range data {
		log.ids++
		var id [16]byte
		binary.BigEndian.PutUint64(id[8:], log.ids)
		evs = append(evs, streams.EventData{ID: id, Type: "t", Data: []byte(d)})
	}
	var res streams.WriteResult
	answered := false
	svc.Append(streams.AppendRequest{Stream: stream, Expected: streams.Any, Events: evs, Now: epoch}, func(r streams.WriteResult) {
		res, answered = r, true
	})
	if !answered || res.Err != nil {
		t.Fatalf("append to %q: answered=%v err=%v; the synchronous fake log should commit at once", stream, answered, res.Err)
	}
}

func readBack(t *testing.T, svc *streams.Service, stream string, count uint64) []streams.Event {
	t.Helper()
	var res streams.ReadStreamResult
	answered := false
	svc.ReadStream(streams.ReadStreamRequest{Stream: stream, From: streams.End(), Direction: streams.Backwards, Count: count, Now: epoch},
		func(r streams.ReadStreamResult) { res, answered = r, true })
	if !answered || res.Err != nil {
		t.Fatalf("read %q backwards: answered=%v err=%v", stream, answered, res.Err)
	}
	return res.Events
}

// A stream's few newest events are read with one ranged read that covers
// them and little more, however much of the log follows them.
func TestFetchReadsOnlyTheGroupsSpan(t *testing.T) {
	for _, interleaved := range []bool{false, true} {
		t.Run(fmt.Sprintf("interleaved=%v", interleaved), func(t *testing.T) {
			log, svc := newSpanLog(t)
			if interleaved {
				for i := range 3 {
					appendOrFail(t, log, svc, "s", fmt.Sprintf("s%d", i))
					appendOrFail(t, log, svc, "other", "o1", "o2")
				}
			} else {
				appendOrFail(t, log, svc, "s", "s0", "s1", "s2")
			}
			// Far more than a read chunk after the stream's events.
			for i := range 200 {
				appendOrFail(t, log, svc, fmt.Sprintf("later-%d", i%7), strings.Repeat("x", 2000))
			}
			log.from, log.asked, log.returned = nil, nil, 0

			evs := readBack(t, svc, "s", 3)
			if got := numbers(evs); !slices.Equal(got, []int64{2, 1, 0}) {
				t.Fatalf("read revisions %v, want [2 1 0]", got)
			}
			first, last := evs[2].Position, evs[0].Position
			if len(log.asked) != 1 || log.from[0] != first {
				t.Fatalf("forward reads from %v asking %v bytes; want one ranged read from %d", log.from, log.asked, first)
			}
			if limit := int(last-first) + 4<<10; log.asked[0] > limit {
				t.Errorf("the ranged read asked for %d bytes; the events span %d bytes, so at most %d (span and a page) is needed",
					log.asked[0], last-first, limit)
			}
			// Three wanted, two others between each when interleaved, and
			// at most a few past the last.
			if log.returned > 12 {
				t.Errorf("the log handed back %d events to serve 3: the read ran far past the last wanted one", log.returned)
			}
		})
	}
}

// When the last event of a group is larger than the room a read leaves for
// it, a second read starting at that event gets it.
func TestFetchLargeLastEventTakesASecondRead(t *testing.T) {
	log, svc := newSpanLog(t)
	appendOrFail(t, log, svc, "s", "a", "b")
	appendOrFail(t, log, svc, "s", strings.Repeat("big", 3000))
	appendOrFail(t, log, svc, "other", "o")
	log.from, log.asked, log.returned = nil, nil, 0

	evs := readBack(t, svc, "s", 3)
	if got := numbers(evs); !slices.Equal(got, []int64{2, 1, 0}) {
		t.Fatalf("read revisions %v, want [2 1 0]", got)
	}
	if len(evs[0].Data) != 9000 {
		t.Fatalf("the large event came back with %d bytes of data, want 9000", len(evs[0].Data))
	}
	if len(log.from) != 2 || log.from[1] != evs[0].Position {
		t.Errorf("forward reads started at %v; want two, the second at the large event's position %d", log.from, evs[0].Position)
	}
}
