package cluster

import (
	"testing"
	"time"
)

// BenchmarkFixedWorkload is the simulator's speed at the workload every
// release re-measures: five nodes, default options, ten simulated minutes
// of a quiet cluster (with appends once the replicated log exists). The
// figure is simulated seconds per wall second (target: 1000 or more).
func BenchmarkFixedWorkload(b *testing.B) {
	const simulated = 10 * time.Minute
	b.ReportAllocs()
	var events uint64
	for i := 0; i < b.N; i++ {
		c, err := New(Config{Seed: uint64(i + 1), Nodes: 5, Duration: simulated})
		if err != nil {
			b.Fatal(err)
		}
		r := c.Run()
		if len(r.Violations) > 0 {
			b.Fatalf("violations: %v", r.Violations)
		}
		events += r.Events
	}
	wall := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)*simulated.Seconds()/wall, "sim-s/wall-s")
	b.ReportMetric(float64(events)/wall, "events/s")
}

// BenchmarkFixedWorkloadWithAppends is the fixed workload with the log in
// use: five nodes, default options, ten simulated minutes, 100 appends per
// second from four clients.
func BenchmarkFixedWorkloadWithAppends(b *testing.B) {
	const simulated = 10 * time.Minute
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, err := New(Config{Seed: uint64(i + 1), Nodes: 5, Duration: simulated, Clients: 4, Rate: 100})
		if err != nil {
			b.Fatal(err)
		}
		if r := c.Run(); len(r.Violations) > 0 {
			b.Fatalf("violations: %v", r.Violations)
		}
	}
	b.ReportMetric(float64(b.N)*simulated.Seconds()/b.Elapsed().Seconds(), "sim-s/wall-s")
}
