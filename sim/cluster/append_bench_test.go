package cluster

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
)

// BenchmarkClusterAppends measures acknowledged appends per wall-clock
// second through a simulated three-node cluster: each append of one
// 200-byte event goes to the leader's entry point on its loop, is written,
// replicated to the followers, committed by a quorum, applied, and
// answered, with every simulated cost (CPU per input, disk latency, network
// latency) and the invariant checker running as in any run. One op is one
// acknowledged append; appenders appends are kept in flight, each on its
// own stream, so that group commit and replication have work to share.
// The same number of appends through a one-node cluster (no replication)
// is measured in the same run as the baseline: x-one-node is the
// three-node rate over it. sim-appends/s (one-node-sim-appends/s) is the
// rate in simulated time, what the modelled cluster sustains; the wall
// rate is what the simulator costs.
func BenchmarkClusterAppends(b *testing.B) {
	for _, appenders := range []int{8, 64} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			b.ReportAllocs()
			b.StopTimer()
			wall, simulated := clusterAppends(b, 3, appenders, b.N, true)
			baseWall, baseSimulated := clusterAppends(b, 1, appenders, b.N, false)
			rate := float64(b.N) / wall.Seconds()
			b.ReportMetric(rate, "appends/s")
			b.ReportMetric(float64(b.N)/simulated.Seconds(), "sim-appends/s")
			b.ReportMetric(float64(b.N)/baseWall.Seconds(), "one-node-appends/s")
			b.ReportMetric(float64(b.N)/baseSimulated.Seconds(), "one-node-sim-appends/s")
			b.ReportMetric(rate/(float64(b.N)/baseWall.Seconds()), "x-one-node")
		})
	}
}

// clusterAppends boots a cluster of the given size, waits for its leader,
// then drives n appends through it, appenders at a time, and says how long
// that took in wall time and in simulated time; timed runs the
// benchmark's timer meanwhile.
func clusterAppends(b *testing.B, nodes, appenders, n int, timed bool) (wall, simulated time.Duration) {
	c, err := New(Config{Seed: 7, Nodes: nodes, Duration: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	c.Start()
	leader := -1
	for leader < 0 {
		if c.W.Now() > time.Minute {
			b.Fatalf("no %d-node leader after a minute of simulated time", nodes)
		}
		c.RunUntil(c.W.Now() + 100*time.Millisecond)
		if i := c.checker.leaderIndex(); i >= 0 && c.Node(i).State() == member.Leader {
			leader = i
		}
	}
	p := c.procs[leader]
	data := make([]byte, 200)
	issued, acked := 0, 0
	var failed error
	var appendNext func(stream string)
	appendNext = func(stream string) {
		if issued >= n || failed != nil {
			return
		}
		issued++
		var id [16]byte
		binary.BigEndian.PutUint64(id[8:], uint64(issued))
		id[0] = 0xBE
		req := node.AppendRequest{Stream: stream, Expected: int64(streams.Any), Events: []streams.EventData{{ID: id, Type: "bench", Data: data}}}
		p.loop.AfterFunc(0, func() {
			p.node.Append(req, func(r node.WriteResult) {
				if r.Err != nil {
					failed = fmt.Errorf("append %d to %q: %w", req.Events[0].ID, stream, r.Err)
					return
				}
				acked++
				appendNext(stream)
			})
		})
	}
	start, simStart := time.Now(), c.W.Now()
	if timed {
		b.StartTimer()
	}
	for k := range appenders {
		appendNext(fmt.Sprintf("bench-%d", k))
	}
	for acked < n && failed == nil && c.W.Step() {
	}
	if timed {
		b.StopTimer()
	}
	wall, simulated = time.Since(start), c.W.Now()-simStart
	if failed != nil || acked < n {
		b.Fatalf("%d of %d appends acknowledged through %d nodes: %v", acked, n, nodes, failed)
	}
	if v := c.Violations(); len(v) > 0 {
		b.Fatalf("violations: %q", v)
	}
	return wall, simulated
}
