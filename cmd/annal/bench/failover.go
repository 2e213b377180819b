package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// FailoverResult is what failover mode measured around the signal.
type FailoverResult struct {
	Signal Signal
	// Victim is the leader that got the signal, PID its process;
	// Leader is the leader the writer used last.
	Victim string
	PID    int
	Leader string
	// Recovered: a write issued after the signal was acknowledged. The
	// durations are meaningful only then.
	Recovered bool
	// Gap runs from the last acknowledgement before the signal to the
	// first acknowledgement of a write issued after it; SignalToFirstAck
	// from the signal to that acknowledgement; MaxAckGap is the longest
	// time between two acknowledgements from the signal on.
	Gap, SignalToFirstAck, MaxAckGap time.Duration
	// FailedOps are the writes that failed after the signal; Writes all
	// writes of the run.
	FailedOps, Writes int
}

// writeRecord is one write of failover mode.
type writeRecord struct {
	start, end time.Time
	ok         bool
}

// measureGap reads the writes around the signal. Writes are in the
// order they were issued, one at a time.
func measureGap(recs []writeRecord, signalled time.Time) FailoverResult {
	var (
		lastBefore, firstAfter, prevAck time.Time
		maxGap                          time.Duration
		failed                          int
	)
	for _, w := range recs {
		if !w.ok {
			if w.end.After(signalled) {
				failed++
			}
			continue
		}
		if !w.end.After(signalled) {
			lastBefore = w.end
		} else if !prevAck.IsZero() {
			maxGap = max(maxGap, w.end.Sub(prevAck))
		}
		// A write already under way at the signal proves nothing about
		// the cluster after it.
		if firstAfter.IsZero() && !w.start.Before(signalled) {
			firstAfter = w.end
		}
		prevAck = w.end
	}
	res := FailoverResult{FailedOps: failed, Writes: len(recs)}
	if firstAfter.IsZero() {
		return res
	}
	if lastBefore.IsZero() {
		lastBefore = signalled
	}
	res.Recovered = true
	res.Gap = firstAfter.Sub(lastBefore)
	res.SignalToFirstAck = firstAfter.Sub(signalled)
	res.MaxAckGap = maxGap
	return res
}

// runFailover: one writer at a fixed interval; the leader's process gets
// the signal after KillAfter.
func (r *runner) runFailover(ctx context.Context) (Result, error) {
	cfg := r.cfg
	data := payload(cfg.Size)
	stream := "annal-bench-" + runID() + "-failover"
	if err := r.warmUp(ctx, stream, data); err != nil {
		return Result{}, err
	}
	ids := newUUIDs()
	opts := appendOptions(stream)

	var (
		recs              []writeRecord
		signalled         time.Time
		victim            string
		pid               int
		acks, fails       atomic.Int64
		reportedRecovered bool
	)
	defer func() {
		if !signalled.IsZero() && cfg.Signal == SignalStop {
			if err := resume(pid); err != nil {
				r.logf("could not send SIGCONT to %s (pid %d): %v; resume it by hand (kill -CONT %d)", victim, pid, err, pid)
			} else {
				r.logf("sent SIGCONT to %s (pid %d)", victim, pid)
			}
		}
	}()

	start := time.Now()
	deadline := start.Add(cfg.Dur)
	killAt := start.Add(cfg.KillAfter)
	stop := r.reportProgress(func() string {
		return fmt.Sprintf("failover %.0fs: acks=%d failed=%d leader=%s", time.Since(start).Seconds(), acks.Load(), fails.Load(), orNone(r.cl.currentLeader()))
	})
	defer stop()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
loop:
	for int64(len(recs)) < cfg.Max {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if !time.Now().Before(deadline) {
			break
		}
		if signalled.IsZero() && !time.Now().Before(killAt) {
			ep, answers := r.cl.discover(ctx)
			if ep == "" {
				r.logf("no leader to signal yet (%s); looking again at the next write", describeAnswers(answers))
			} else {
				p, ok := cfg.PIDs[ep]
				if !ok {
					return Result{}, fmt.Errorf("the leader %s is not in -pidmap (%v): give every node as its client endpoint appears in gossip", ep, cfg.PIDs)
				}
				if err := sendSignal(p, cfg.Signal); err != nil {
					return Result{}, fmt.Errorf("sending %s to %s (pid %d): %w", cfg.Signal, ep, p, err)
				}
				signalled, victim, pid = time.Now(), ep, p
				r.logf("sent %s to the leader %s (pid %d) at %.3fs", cfg.Signal, ep, p, signalled.Sub(start).Seconds())
			}
		}

		sc, gen, ok := r.cl.client(0)
		t0 := time.Now()
		err := error(errNoLeader)
		if ok {
			err = r.cl.appendCall(ctx, sc, []*pb.AppendReq{opts, proposed(ids, data)})
		}
		if err != nil && isCancelled(ctx, err) {
			break
		}
		recs = append(recs, writeRecord{start: t0, end: time.Now(), ok: err == nil})
		if err != nil {
			fails.Add(1)
			r.failed(err)
			r.cl.recover(ctx, gen, err)
			continue
		}
		acks.Add(1)
		if !signalled.IsZero() && !reportedRecovered && !t0.Before(signalled) {
			reportedRecovered = true
			r.logf("first acknowledged write after the signal: %.1f ms after it, by %s", ms(time.Now().Sub(signalled)), r.cl.currentLeader())
		}
	}
	elapsed := time.Since(start)
	if signalled.IsZero() {
		return Result{}, fmt.Errorf("the run ended after %.1fs, before the signal (-kill-after %v, -dur %v, -max %d): no leader was found to signal", elapsed.Seconds(), cfg.KillAfter, cfg.Dur, cfg.Max)
	}

	fr := measureGap(recs, signalled)
	fr.Signal, fr.Victim, fr.PID, fr.Leader = cfg.Signal, victim, pid, r.cl.currentLeader()
	if !fr.Recovered {
		r.logf("no write issued after the signal was acknowledged within the run (%v after it)", deadline.Sub(signalled).Round(time.Millisecond))
	}
	gap, first, maxGap := "none", "none", "none"
	if fr.Recovered {
		gap, first, maxGap = ms1(fr.Gap), ms1(fr.SignalToFirstAck), ms1(fr.MaxAckGap)
	}
	res := Result{Elapsed: elapsed, Ops: acks.Load(), Errors: fails.Load(), Failover: &fr}
	res.Line = fmt.Sprintf("annalbench mode=failover signal=%s killed=%s pid=%d new_leader=%s interval_ms=%d op_timeout_ms=%d recovered=%d gap_ms=%s kill_to_first_ack_ms=%s max_ack_gap_ms=%s failed_ops=%d writes=%d",
		fr.Signal, fr.Victim, fr.PID, orNone(fr.Leader), cfg.Interval.Milliseconds(), cfg.opTimeout().Milliseconds(),
		boolInt(fr.Recovered), gap, first, maxGap, fr.FailedOps, fr.Writes)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
