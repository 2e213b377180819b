package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// errNoLeader is a call not made because no leader is known.
var errNoLeader = &callError{kind: "no-leader", err: errors.New("no leader is known; looking for one")}

// runAppend: every client appends one event per call, back to back.
func (r *runner) runAppend(ctx context.Context) (Result, error) {
	cfg := r.cfg
	data := payload(cfg.Size)
	prefix := "annal-bench-" + runID()
	if err := r.warmUp(ctx, prefix+"-warmup", data); err != nil {
		return Result{}, err
	}
	nstreams := cfg.Streams
	if nstreams == 0 {
		nstreams = cfg.Clients
	}
	leader := r.cl.currentLeader()

	var ops, errs atomic.Int64
	lat := make([][]time.Duration, cfg.Clients)
	start := time.Now()
	b := newBudget(ctx, start.Add(cfg.Dur), cfg.Max)
	stop := r.reportProgress(func() string {
		return fmt.Sprintf("append %.0fs: ops=%d errors=%d", time.Since(start).Seconds(), ops.Load(), errs.Load())
	})
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := newUUIDs()
			opts := appendOptions(prefix + "-" + strconv.Itoa(i%nstreams))
			l := make([]time.Duration, 0, 1024)
			for b.take() {
				sc, gen, ok := r.cl.client(i)
				if !ok {
					errs.Add(1)
					r.failed(errNoLeader)
					r.cl.rediscover(ctx, gen)
					_ = sleep(ctx, 10*time.Millisecond)
					continue
				}
				t0 := time.Now()
				err := r.cl.appendCall(ctx, sc, []*pb.AppendReq{opts, proposed(ids, data)})
				d := time.Since(t0)
				if err == nil {
					ops.Add(1)
					l = append(l, d)
					continue
				}
				if isCancelled(ctx, err) {
					break
				}
				errs.Add(1)
				r.failed(err)
				r.cl.recover(ctx, gen, err)
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()

	s := Summarize(samples(lat))
	res := Result{Elapsed: elapsed, Ops: ops.Load(), Errors: errs.Load(), Latency: s}
	res.Line = fmt.Sprintf("annalbench mode=append leader=%s endpoints=%d clients=%d conns=%d streams=%d size=%d dur_s=%.2f ops=%d errors=%d ops_per_s=%.0f latency: %s",
		leader, len(cfg.Endpoints), cfg.Clients, cfg.conns(), nstreams, cfg.Size, elapsed.Seconds(),
		res.Ops, res.Errors, perSecond(res.Ops, elapsed), s)
	return res, nil
}
