package netstack

import (
	"bytes"
	"hash/crc32"
	"net"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// progressRecorder is a recorder that also hears of partial messages.
type progressRecorder struct{ *recorder }

func (r progressRecorder) Progress(c env.Conn) { r.events <- event{kind: "progress", conn: c} }

// A message that takes longer to arrive than a heartbeat interval is
// announced while its bytes come in, to a handler that asks
// (env.ProgressHandler): on a slow link a replica's heartbeat answer waits
// behind a Data message of megabytes, and EventStoreDB counts every byte
// received as a sign of life, not whole messages only.
func TestProgressIsReportedWhileALargeMessageArrives(t *testing.T) {
	a := newNode(t, "a", Options{})
	rec := progressRecorder{newRecorder()}
	ln := a.listen(func(env.Conn) env.ConnHandler { return rec })
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	payload := bytes.Repeat([]byte("slow link "), 50_000) // 500 kB
	b := frame(payload, crc32.Checksum(payload, castagnoli))
	const pieces, gap = 20, 25 * time.Millisecond // half a second in all
	began := time.Now()
	go func() {
		step := len(b) / pieces
		for i := 0; i < len(b); i += step {
			if _, err := raw.Write(b[i:min(i+step, len(b))]); err != nil {
				return
			}
			time.Sleep(gap)
		}
	}()

	var progress []time.Duration
	for {
		e := <-rec.events
		switch e.kind {
		case "progress":
			progress = append(progress, time.Since(began))
			continue
		case "received":
			if !bytes.Equal(e.msg, payload) {
				t.Fatalf("received %d bytes, want the %d sent", len(e.msg), len(payload))
			}
		default:
			t.Fatalf("event %s (%v) while the message arrived", e.kind, e.err)
		}
		break
	}
	took := time.Since(began)
	// Bytes arrived every 25 ms for half a second: the handler must have
	// heard of them all along, not only when the message was whole.
	if len(progress) < pieces/2 {
		t.Fatalf("%d progress reports in the %v the message took to arrive (at %v); want one per piece or so", len(progress), took, progress)
	}
	for i := 1; i < len(progress); i++ {
		if gapSeen := progress[i] - progress[i-1]; gapSeen > 10*gap {
			t.Errorf("no progress reported for %v while bytes kept arriving (reports at %v)", gapSeen, progress)
		}
	}
}
