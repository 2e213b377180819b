package network

import (
	"errors"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/world"
)

// BenchmarkStreamDelivery measures messages delivered per wall second on one
// connection kept full (default config: jitter, per-message CPU cost, trace
// hashing of every payload).
func BenchmarkStreamDelivery(b *testing.B) {
	w := world.New(1, nil)
	f := New(w, DefaultConfig())
	ha := f.AddHost("a", "", addr("10.0.0.1"))
	hb := f.AddHost("b", "", addr("10.0.0.2"))
	sa := ha.NewStack(&testExec{w: w})
	sb := hb.NewStack(&testExec{w: w})
	received := 0
	if _, err := sb.Listen(env.Endpoint{Port: 1112}, func(env.Conn) env.ConnHandler {
		return &countHandler{n: &received}
	}); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 128)
	sent := 0
	var fill func(c env.Conn)
	fill = func(c env.Conn) {
		for sent < b.N {
			if err := c.Send(msg); err != nil {
				if errors.Is(err, env.ErrSendQueueFull) {
					return
				}
				b.Fatal(err)
			}
			sent++
		}
	}
	h := &countHandler{n: new(int), onWritable: fill}
	c := sa.Connect(env.Endpoint{Host: "10.0.0.2", Port: 1112}, h)
	w.RunUntil(10 * time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	fill(c)
	for received < b.N && w.Step() {
	}
	b.StopTimer()
	if received != b.N {
		b.Fatalf("delivered %d of %d", received, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

type countHandler struct {
	n          *int
	onWritable func(env.Conn)
}

func (h *countHandler) Established(env.Conn)      {}
func (h *countHandler) Received(env.Conn, []byte) { *h.n++ }
func (h *countHandler) Closed(env.Conn, error)    {}
func (h *countHandler) Writable(c env.Conn) {
	if h.onWritable != nil {
		h.onWritable(c)
	}
}
