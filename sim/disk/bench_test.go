package disk

import (
	"testing"

	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
)

// BenchmarkWriteSync measures group-commit style traffic: 8 appends of 512
// bytes then one sync, repeated. simops/s is disk operations simulated per
// wall-clock second; sim-s/wall-s how much faster than real time it runs.
func BenchmarkWriteSync(b *testing.B) {
	w := world.New(1, trace.New(nil))
	s := NewStore(w, "h1", DefaultConfig())
	d := s.Open(&testExec{w: w})
	created := false
	d.Create("log", func(err error) {
		if err != nil {
			b.Fatal(err)
		}
		created = true
	})
	for !created {
		w.Step()
	}
	data := make([]byte, 512)
	appended := func(_ int64, err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	start := w.Now()
	ops := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		synced := false
		for range 8 {
			d.Append("log", data, appended)
		}
		d.Sync("log", func(err error) {
			if err != nil {
				b.Fatal(err)
			}
			synced = true
		})
		for !synced {
			w.Step()
		}
		ops += 9
		// Keep the file small so the benchmark measures the queue and
		// page cache, not memory growth.
		if ops%9000 == 0 {
			done := false
			d.Truncate("log", 0, func(error) { done = true })
			for !done {
				w.Step()
			}
		}
	}
	b.StopTimer()
	wall := b.Elapsed().Seconds()
	b.ReportMetric(float64(ops)/wall, "simops/s")
	b.ReportMetric((w.Now()-start).Seconds()/wall, "sim-s/wall-s")
}
