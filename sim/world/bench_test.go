package world

import (
	"fmt"
	"testing"
	"time"
)

// ticker is a long-lived handler that reschedules itself forever with a
// pseudo-random delay, as a node's heartbeat or a link's delivery would. Its
// own xorshift keeps the benchmark free of allocation and of the cost of
// math/rand.
type ticker struct {
	w     *World
	state uint64
	fired uint64
}

func (t *ticker) Fire(uint64) {
	t.fired++
	t.state ^= t.state << 13
	t.state ^= t.state >> 7
	t.state ^= t.state << 17
	// Delays of 1 µs to about 1 ms: a spread like that of link latencies
	// and timers, so that the queue really reorders.
	t.w.After(time.Microsecond+time.Duration(t.state%(1<<20)), t, 0)
}

// population schedules n tickers on w and returns them.
func population(w *World, n int) []*ticker {
	ts := make([]*ticker, n)
	for i := range ts {
		ts[i] = &ticker{w: w, state: uint64(i)*0x9E3779B97F4A7C15 | 1}
		w.After(time.Duration(i), ts[i], 0)
	}
	return ts
}

// BenchmarkEventLoop measures the bare event loop: pop, fire, push, with a
// fixed population of pending events.
func BenchmarkEventLoop(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			w := New(1, nil)
			population(w, n)
			for range 4 * n { // warm up: the queue reaches its steady shape
				w.Step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.Step()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
