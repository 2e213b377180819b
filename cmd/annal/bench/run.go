package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// Result is what a run measured. Line is the one-line report.
type Result struct {
	Mode    Mode
	Elapsed time.Duration
	// Ops are the calls that succeeded (appends, reads, or failover
	// writes); Errors the calls that failed, by kind in ErrorKinds.
	Ops, Errors int64
	ErrorKinds  map[string]int64
	// Events are the events read (read mode).
	Events  int64
	Latency Summary
	// Failover is set in failover mode.
	Failover *FailoverResult
	Line     string
}

// Main is `annal bench`: it parses args, runs, prints the result line on
// stdout and progress on stderr. A command-line mistake is explained on
// stderr and returned as ErrUsage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	var usage *UsageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "annal bench: %s\n", usage.Msg)
		return ErrUsage
	}
	if err != nil {
		return err
	}
	res, err := Run(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("bench %s: %w", cfg.Mode, err)
	}
	_, err = fmt.Fprintln(stdout, res.Line)
	return err
}

// Run runs cfg against the cluster; progress lines go to progress (nil
// discards them). A cancelled ctx ends the run early with what was
// measured so far.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	if err := cfg.Check(); err != nil {
		return Result{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	r := &runner{cfg: cfg, out: &lockedWriter{w: progress}, errs: map[string]int64{}}
	cl, err := newCluster(cfg.Endpoints, cfg.conns(), cfg.opTimeout(), r.logf)
	if err != nil {
		return Result{}, err
	}
	defer cl.close()
	r.cl = cl
	leader, err := cl.findLeader(ctx, cfg.Wait)
	if err != nil {
		return Result{}, err
	}
	r.logf("%s mode: leader %s, %d connection(s), call timeout %v", cfg.Mode, leader, cfg.conns(), cfg.opTimeout())

	var res Result
	switch cfg.Mode {
	case ModeAppend:
		res, err = r.runAppend(ctx)
	case ModeRead:
		res, err = r.runRead(ctx)
	case ModeFailover:
		res, err = r.runFailover(ctx)
	}
	if err != nil {
		return res, err
	}
	res.Mode = cfg.Mode
	res.ErrorKinds = r.errorKinds()
	if len(res.ErrorKinds) > 0 {
		r.logf("errors by kind: %s", formatKinds(res.ErrorKinds))
	}
	if ctx.Err() != nil {
		r.logf("interrupted after %.1fs; the figures cover that part", res.Elapsed.Seconds())
	}
	return res, nil
}

// runner holds what the modes share.
type runner struct {
	cfg Config
	cl  *cluster
	out *lockedWriter

	mu   sync.Mutex
	errs map[string]int64
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "annal bench: "+format+"\n", args...)
}

// failed counts a failed call by kind.
func (r *runner) failed(err error) {
	kind := "other"
	var ce *callError
	if errors.As(err, &ce) {
		kind = ce.kind
	}
	r.mu.Lock()
	first := r.errs[kind] == 0
	r.errs[kind]++
	r.mu.Unlock()
	if first {
		r.logf("first %s error: %v", kind, err)
	}
}

func (r *runner) errorKinds() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.errs))
	for k, v := range r.errs {
		out[k] = v
	}
	return out
}

func formatKinds(kinds map[string]int64) string {
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, kinds[k])
	}
	return strings.Join(parts, " ")
}

// reportProgress prints status() every period until the returned stop
// is called; stop waits for the printer to end.
func (r *runner) reportProgress(status func() string) (stop func()) {
	if r.cfg.Progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.Progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.logf("%s", status())
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// runID names this run's streams, so that runs against one cluster do not
// share streams.
func runID() string {
	var b [4]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// payload is an event's data: printable, so that a person reading the
// streams sees what wrote them.
func payload(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// warmUp appends one event over every connection before the measured
// part, so that connection set-up is not measured.
func (r *runner) warmUp(ctx context.Context, stream string, data []byte) error {
	ids := newUUIDs()
	for i := range r.cfg.conns() {
		msgs := []*pb.AppendReq{appendOptions(stream), proposed(ids, data)}
		if err := r.appendRetryingOn(ctx, i, msgs, time.Now().Add(r.cfg.Wait)); err != nil {
			return fmt.Errorf("warm-up append to %s: %w", stream, err)
		}
	}
	return nil
}

// appendRetrying makes one append on the first connection, following
// the leader and retrying until it succeeds or deadline passes.
func (r *runner) appendRetrying(ctx context.Context, msgs []*pb.AppendReq, deadline time.Time) error {
	return r.appendRetryingOn(ctx, 0, msgs, deadline)
}

func (r *runner) appendRetryingOn(ctx context.Context, conn int, msgs []*pb.AppendReq, deadline time.Time) error {
	for {
		sc, gen, ok := r.cl.client(conn)
		var err error = errNoLeader
		if ok {
			if err = r.cl.appendCall(ctx, sc, msgs); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %v (-wait): %w", r.cfg.Wait, err)
		}
		r.cl.recover(ctx, gen, err)
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// lockedWriter serialises writes of whole lines from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// budget hands out the run's operations: at most max, and none after the
// deadline or once ctx ends.
type budget struct {
	ctx      context.Context
	deadline time.Time
	left     atomic.Int64
}

func newBudget(ctx context.Context, deadline time.Time, max int64) *budget {
	b := &budget{ctx: ctx, deadline: deadline}
	b.left.Store(max)
	return b
}

// take reports whether one more operation may start.
func (b *budget) take() bool {
	if b.ctx.Err() != nil || !time.Now().Before(b.deadline) {
		return false
	}
	return b.left.Add(-1) >= 0
}

// samples merges the callers' latency samples.
func samples(per [][]time.Duration) []time.Duration {
	n := 0
	for _, s := range per {
		n += len(s)
	}
	all := make([]time.Duration, 0, n)
	for _, s := range per {
		all = append(all, s...)
	}
	return all
}
