package streams_test

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/streamstest"
)

// applyEvents feeds n events spread round-robin over the given number of
// streams (names "stream-0000001" and so on, 14 bytes), in batches, the way
// a node replays its log at start.
func applyEvents(svc *streams.Service, n, streamCount int) {
	names := make([]string, streamCount)
	for i := range names {
		names[i] = fmt.Sprintf("stream-%07d", i)
	}
	next := make([]int64, streamCount)
	batch := make([]streams.Event, 0, 1024)
	pos := int64(0)
	for i := 0; i < n; i++ {
		s := i % streamCount
		var id [16]byte
		binary.BigEndian.PutUint64(id[8:], uint64(i+1))
		batch = append(batch, streams.Event{Position: pos, Stream: names[s], Number: next[s], ID: id, Type: "t"})
		next[s]++
		pos += 100
		if len(batch) == cap(batch) {
			svc.Apply(batch)
			batch = batch[:0]
		}
	}
	svc.Apply(batch)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestIndexMemoryAtOneMillionEvents measures what the index costs at one
// million events (and, for the per-stream cost, at 200,000 streams of one
// event) and holds it to the bound stated in the
// package documentation: 16 bytes per event (an 8-byte position, doubled
// at worst by slice growth) plus 160 bytes per stream (its map entry, its
// state and a 14-byte name) beyond the fixed id cache and recent-events
// ring.
func TestIndexMemoryAtOneMillionEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory at one million events")
	}
	for _, c := range []struct{ events, streams int }{
		{1_000_000, 1},       // one long stream: the per-event cost
		{1_000_000, 100_000}, // ten events a stream
		{200_000, 200_000},   // one event a stream: the per-stream cost
	} {
		events, streamCount := c.events, c.streams
		t.Run(fmt.Sprintf("%d events in %d streams", events, streamCount), func(t *testing.T) {
			before := heapInUse()
			svc, err := streams.New(streamstest.New(), streams.Config{})
			if err != nil {
				t.Fatal(err)
			}
			base := heapInUse()
			t.Logf("fixed cost of a new layer (id cache, recent-events ring): %.1f MB", float64(int64(base)-int64(before))/1e6)
			applyEvents(svc, events, streamCount)
			used := heapInUse() - base
			runtime.KeepAlive(svc)
			if st := svc.Stats(); st.Events != int64(events) || st.Streams != streamCount {
				t.Fatalf("stats %+v", st)
			}
			bound := uint64(16*events + 160*streamCount)
			t.Logf("%d events in %d streams: %.1f MB, %.1f bytes/event (bound %.1f MB)",
				events, streamCount, float64(used)/1e6, float64(used)/float64(events), float64(bound)/1e6)
			if used > bound {
				t.Errorf("the index uses %d bytes, over the documented bound of %d", used, bound)
			}
		})
	}
}

// BenchmarkApply reports the cost of indexing one event and the memory it
// keeps, with ten events a stream and with one (run with -benchtime
// 1000000x for the figures at a million events).
func BenchmarkApply(b *testing.B) {
	for _, perStream := range []int{10, 1} {
		b.Run(fmt.Sprintf("%d events a stream", perStream), func(b *testing.B) {
			svc, err := streams.New(streamstest.New(), streams.Config{})
			if err != nil {
				b.Fatal(err)
			}
			base := heapInUse()
			b.ResetTimer()
			applyEvents(svc, b.N, max(b.N/perStream, 1))
			b.StopTimer()
			b.ReportMetric(float64(int64(heapInUse())-int64(base))/float64(b.N), "heap-B/event")
			runtime.KeepAlive(svc)
		})
	}
}
