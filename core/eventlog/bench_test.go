package eventlog_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/sim/disk"
)

// BenchmarkAppend: records per wall-clock second appended through the
// simulated disk by 64 concurrent appenders of one 200-byte event each,
// group commit included.
func BenchmarkAppend(b *testing.B) {
	r := newRig(b, 1, disk.DefaultConfig(), eventlog.Config{SegmentSize: 4 << 20})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(1, 2))
	template := event(rng, "bench", 0, 200)
	issued, acked := 0, 0
	var appendOne func()
	appendOne = func() {
		if issued >= b.N {
			return
		}
		issued++
		rec := template
		rec.Event.Number = int64(issued)
		if err := l.Append([]eventlog.Record{rec}, func(err error) {
			if err != nil {
				b.Fatal(err)
			}
			acked++
			appendOne()
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range 64 {
		appendOne()
	}
	for acked < b.N && r.w.Step() {
	}
	b.StopTimer()
	if acked != b.N {
		b.Fatalf("%d of %d appends acknowledged", acked, b.N)
	}
	s := l.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(s.Syncs())/float64(s.Appends), "syncs/append")
}

// BenchmarkReadForward: bytes per wall-clock second read forward through
// the simulated disk in 64 KiB steps, records decoded and verified.
func BenchmarkReadForward(b *testing.B) {
	r := newRig(b, 2, disk.DefaultConfig(), eventlog.Config{SegmentSize: 1 << 20})
	l := r.mustOpen()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; l.Durable() < 8<<20; i++ {
		batch := make([]eventlog.Record, 64)
		for j := range batch {
			batch[j] = event(rng, fmt.Sprintf("s-%d", j%8), int64(i), 100+rng.IntN(900))
		}
		r.mustAppend(l, batch...)
	}
	b.SetBytes(l.Durable())
	b.ResetTimer()
	records := 0
	for range b.N {
		recs, err := r.readForward(l, 0, math.MaxInt64, 64<<10)
		if err != nil {
			b.Fatal(err)
		}
		records += len(recs)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
