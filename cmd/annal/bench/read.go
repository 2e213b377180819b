package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// prefillBatchBytes bounds one prefill append well under the default
// MaxAppendSize (1 MiB); prefillBatchEvents bounds its events.
const (
	prefillBatchBytes  = 512 << 10
	prefillBatchEvents = 500
)

// runRead: every client reads -count events per call, of the stream
// written first (at random revisions) or of $all (page after page).
func (r *runner) runRead(ctx context.Context) (Result, error) {
	cfg := r.cfg
	stream := "annal-bench-" + runID() + "-read"
	if err := r.prefill(ctx, stream); err != nil {
		return Result{}, err
	}
	leader := r.cl.currentLeader()

	var reads, events, errs atomic.Int64
	lat := make([][]time.Duration, cfg.Clients)
	var seed [8]byte
	_, _ = crand.Read(seed[:])
	start := time.Now()
	b := newBudget(ctx, start.Add(cfg.Dur), cfg.Max)
	stop := r.reportProgress(func() string {
		return fmt.Sprintf("read %.0fs: reads=%d events=%d errors=%d", time.Since(start).Seconds(), reads.Load(), events.Load(), errs.Load())
	})
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:]), uint64(i)))
			l := make([]time.Duration, 0, 1024)
			var cursor uint64 // $all: position of the last event read
			paging := false   // $all: cursor is set
			for b.take() {
				sc, gen, ok := r.cl.client(i)
				if !ok {
					errs.Add(1)
					r.failed(errNoLeader)
					r.cl.rediscover(ctx, gen)
					_ = sleep(ctx, 10*time.Millisecond)
					continue
				}
				var req *pb.ReadReq
				if cfg.From == FromStream {
					req = streamRead(stream, uint64(rng.IntN(cfg.Events-cfg.Count+1)), cfg.Count)
				} else if paging {
					// A read from a position includes the event there:
					// one more, and that one is skipped.
					req = allRead(true, cursor, cfg.Count+1)
				} else {
					req = allRead(false, 0, cfg.Count)
				}
				t0 := time.Now()
				res, err := r.cl.readCall(ctx, sc, req, paging, cursor)
				d := time.Since(t0)
				if err != nil {
					if isCancelled(ctx, err) {
						break
					}
					errs.Add(1)
					r.failed(err)
					r.cl.recover(ctx, gen, err)
					continue
				}
				if cfg.From == FromStream && (res.notFound || res.events != cfg.Count) {
					errs.Add(1)
					r.failed(&callError{kind: "short-read", err: fmt.Errorf("read of %s returned %d events (stream not found: %v), want %d", stream, res.events, res.notFound, cfg.Count)})
					continue
				}
				reads.Add(1)
				events.Add(int64(res.events))
				l = append(l, d)
				if cfg.From == FromAll {
					// At the end of $all, start again from its start.
					paging = res.events >= cfg.Count
					cursor = res.lastPos
				}
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()

	s := Summarize(samples(lat))
	res := Result{Elapsed: elapsed, Ops: reads.Load(), Errors: errs.Load(), Events: events.Load(), Latency: s}
	res.Line = fmt.Sprintf("annalbench mode=read leader=%s endpoints=%d from=%s count=%d stream_events=%d clients=%d conns=%d size=%d dur_s=%.2f reads=%d events=%d errors=%d reads_per_s=%.0f events_per_s=%.0f latency: %s",
		leader, len(cfg.Endpoints), cfg.From, cfg.Count, cfg.Events, cfg.Clients, cfg.conns(), cfg.Size, elapsed.Seconds(),
		res.Ops, res.Events, res.Errors, perSecond(res.Ops, elapsed), perSecond(res.Events, elapsed), s)
	return res, nil
}

// prefill writes -events events into stream, in appends of many events.
func (r *runner) prefill(ctx context.Context, stream string) error {
	cfg := r.cfg
	data := payload(cfg.Size)
	per := max(1, min(prefillBatchEvents, prefillBatchBytes/(cfg.Size+len(eventType)+1)))
	ids := newUUIDs()
	t0 := time.Now()
	for written := 0; written < cfg.Events; {
		n := min(per, cfg.Events-written)
		msgs := make([]*pb.AppendReq, 0, n+1)
		msgs = append(msgs, appendOptions(stream))
		for range n {
			msgs = append(msgs, proposed(ids, data))
		}
		if err := r.appendRetrying(ctx, msgs, time.Now().Add(cfg.Wait)); err != nil {
			return fmt.Errorf("writing the %d events to read: %w", cfg.Events, err)
		}
		written += n
	}
	r.logf("wrote %d events of %d bytes to %s in %.1fs", cfg.Events, cfg.Size, stream, time.Since(t0).Seconds())
	return nil
}
