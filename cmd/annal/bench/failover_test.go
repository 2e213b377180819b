//go:build linux

package bench

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A child process stands in for the leader's process: the node keeps
// leading, and the test sees what the signal did to the child.
func startChild(t *testing.T) *exec.Cmd {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep command to stand in for a node's process: %v", err)
	}
	cmd := exec.Command(sleep, "30")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", sleep, err)
	}
	return cmd
}

// processState is the state letter of /proc/PID/stat (T: stopped).
func processState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// pid (comm) state ...: comm may hold spaces, so look after the ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

func TestFailoverSignalsTheLeadersProcess(t *testing.T) {
	ep := startNode(t)

	// SIGKILL: the process mapped to the leader dies.
	child := startChild(t)
	res, err := Run(t.Context(), Config{
		Mode: ModeFailover, Endpoints: []string{ep}, Size: 64, Dur: 500 * time.Millisecond, Max: 1000, Wait: guard,
		Interval: 10 * time.Millisecond, KillAfter: 150 * time.Millisecond, Signal: SignalKill,
		PIDs: map[string]int{ep: child.Process.Pid},
	}, nil)
	waitErr := child.Wait()
	if err != nil {
		t.Fatalf("failover run: %v", err)
	}
	if waitErr == nil || !strings.Contains(waitErr.Error(), "killed") {
		t.Fatalf("the leader's process ended with %v; want it killed by the signal", waitErr)
	}
	f := res.Failover
	if f == nil || f.Victim != ep || f.PID != child.Process.Pid || f.Signal != SignalKill {
		t.Fatalf("failover result %+v; want the signal sent to %s (pid %d)", f, ep, child.Process.Pid)
	}
	// The node itself was not touched: writes go on.
	if !f.Recovered || f.FailedOps != 0 || f.Writes < 2 || res.Errors != 0 {
		t.Fatalf("failover result %+v, %d errors; want every write acknowledged", f, res.Errors)
	}
	for _, key := range []string{"signal=SIGKILL", "killed=" + ep, "recovered=1", "gap_ms=", "kill_to_first_ack_ms=", "max_ack_gap_ms=", "failed_ops=0"} {
		if !strings.Contains(res.Line, key) {
			t.Fatalf("failover line %q lacks %q", res.Line, key)
		}
	}

	// SIGSTOP: the process is stopped during the run and continued at
	// its end.
	child = startChild(t)
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	var sawStopped atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				if processState(child.Process.Pid) == "T" {
					sawStopped.Store(true)
				}
			}
		}
	}()
	res, err = Run(t.Context(), Config{
		Mode: ModeFailover, Endpoints: []string{ep}, Size: 64, Dur: 500 * time.Millisecond, Max: 1000, Wait: guard,
		Interval: 10 * time.Millisecond, KillAfter: 150 * time.Millisecond, Signal: SignalStop,
		PIDs: map[string]int{ep: child.Process.Pid},
	}, nil)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("failover run with SIGSTOP: %v", err)
	}
	if !sawStopped.Load() {
		t.Fatalf("the leader's process was never seen stopped during the run")
	}
	if st := processState(child.Process.Pid); st == "T" || st == "" {
		t.Fatalf("after the run the process is in state %q; want it continued (running or sleeping)", st)
	}
	if !strings.Contains(res.Line, "signal=SIGSTOP") {
		t.Fatalf("failover line %q does not name SIGSTOP", res.Line)
	}
}

func TestFailoverRefusesALeaderMissingFromThePIDMap(t *testing.T) {
	ep := startNode(t)
	_, err := Run(t.Context(), Config{
		Mode: ModeFailover, Endpoints: []string{ep}, Size: 8, Dur: 400 * time.Millisecond, Max: 1000, Wait: guard,
		Interval: 10 * time.Millisecond, KillAfter: 100 * time.Millisecond, Signal: SignalKill,
		PIDs: map[string]int{"127.0.0.1:1": 999999},
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "the leader "+ep+" is not in -pidmap") {
		t.Fatalf("failover with a pidmap lacking the leader: %v; want an error naming the leader", err)
	}
}
