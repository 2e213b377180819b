package streams

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// indexOnlyLog is a log that holds nothing: the index lookups measured
// here never read it (the streams layer's own fakes import this package,
// so an internal benchmark cannot use them).
type indexOnlyLog struct{}

func (indexOnlyLog) Committed() int64 { return 0 }
func (indexOnlyLog) ReadAt(int64, func(Event, error)) {
	panic("the index benchmark reads no events")
}
func (indexOnlyLog) ReadForward(int64, int64, int, func([]Event, int64, error)) {
	panic("the index benchmark reads no events")
}
func (indexOnlyLog) ReadBackward(int64, int, func([]Event, int64, error)) {
	panic("the index benchmark reads no events")
}
func (indexOnlyLog) Append([]Event, func([]int64, error)) {
	panic("the index benchmark appends nothing")
}

// indexBenchSizes are the log sizes the index lookup is measured at; ten
// events a stream.
var indexBenchSizes = []int{1_000_000, 10_000_000}

const indexBenchPerStream = 10

// indexBenchLayers keeps each built layer across the benchmark's runs:
// applying ten million events takes seconds.
var indexBenchLayers = map[int]*Service{}

func indexBenchLayer(b *testing.B, events int) *Service {
	if svc := indexBenchLayers[events]; svc != nil {
		return svc
	}
	svc, err := New(indexOnlyLog{}, Config{})
	if err != nil {
		b.Fatal(err)
	}
	streams := events / indexBenchPerStream
	batch := make([]Event, 0, 4096)
	pos := int64(0)
	for i := range events {
		// Round robin over the streams: a stream's events are spread over
		// the whole log, as with interleaved writers.
		s, rev := i%streams, int64(i/streams)
		var id [16]byte
		binary.BigEndian.PutUint64(id[8:], uint64(i+1))
		batch = append(batch, Event{Position: pos, Stream: indexBenchStream(s), Number: rev, ID: id, Type: "t"})
		pos += 128
		if len(batch) == cap(batch) {
			svc.Apply(batch)
			batch = batch[:0]
		}
	}
	svc.Apply(batch)
	indexBenchLayers[events] = svc
	return svc
}

func indexBenchStream(s int) string { return fmt.Sprintf("stream-%08d", s) }

// BenchmarkIndexLookup measures finding the log position of a given
// revision of a given stream, what every stream read, subscription and
// expected-version check starts from, at random (stream, revision) pairs
// over a log of one and of ten million events (ten events a stream). One
// op is one lookup: the stream by name, then the revision's position.
// stream-state is the public Service.Stream call (name to last revision
// and flags) over the same keys. map-baseline, measured in the same run, is
// a plain Go map from the same stream names to an int64, looked up with
// the same keys: the floor any name-keyed index pays. Compare the two
// sizes' ns/op for how the lookup scales (cache misses grow with the
// index; the work does not).
func BenchmarkIndexLookup(b *testing.B) {
	for _, events := range indexBenchSizes {
		b.Run(fmt.Sprintf("events=%dM", events/1_000_000), func(b *testing.B) {
			svc := indexBenchLayer(b, events)
			if st := svc.Stats(); st.Events != int64(events) {
				b.Fatalf("the index holds %d events, want %d", st.Events, events)
			}
			streams := events / indexBenchPerStream
			rng := rand.New(rand.NewPCG(uint64(events), 1))
			const keys = 1 << 16
			names := make([]string, keys)
			revs := make([]int64, keys)
			for k := range keys {
				names[k] = indexBenchStream(rng.IntN(streams))
				revs[k] = int64(rng.IntN(indexBenchPerStream))
			}
			b.Run("position", func(b *testing.B) {
				var sum int64
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					k := i & (keys - 1)
					st := svc.idx.get(names[k])
					sum += st.positions[revs[k]]
				}
				if sum < 0 {
					b.Fatal("positions are never negative")
				}
			})
			b.Run("map-baseline", func(b *testing.B) {
				m := make(map[string]int64, streams)
				for k := range streams {
					m[indexBenchStream(k)] = int64(k)
				}
				var sum int64
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					sum += m[names[i&(keys-1)]]
				}
				if sum < 0 {
					b.Fatal("values are never negative")
				}
			})
			b.Run("stream-state", func(b *testing.B) {
				var sum int64
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					st, ok := svc.Stream(names[i&(keys-1)])
					if !ok {
						b.Fatal("a stream the index holds was not found")
					}
					sum += st.LastRevision
				}
				if sum < 0 {
					b.Fatal("every stream has events")
				}
			})
		})
	}
}
