package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/annal-db/annal/cmd/annal/bench"
)

// benchCommand is `annal bench MODE [flags]`: load on a running cluster
// through the client API, until its bounds or the first SIGINT/SIGTERM.
// An interrupted run still prints what it measured, then ends by the
// signal that stopped it, so that a calling shell script stops too
// rather than take the printed line for a finished run.
func benchCommand(args []string, stdout, stderr io.Writer) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		received os.Signal
		wg       sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case received = <-sigs:
			// A second signal ends a run whose shutdown hangs.
			signal.Stop(sigs)
			cancel()
		case <-done:
		}
	}()
	err := bench.Main(ctx, args, stdout, stderr)
	close(done)
	wg.Wait()
	signal.Stop(sigs)
	cancel()
	if received != nil {
		dieBy(received)
		return exitCode(130)
	}
	if errors.Is(err, bench.ErrUsage) {
		return errUsage
	}
	return err
}

// dieBy ends the process by sig, with the signal's default action. Where
// that cannot be done (Windows), it returns and the caller exits with a
// status.
func dieBy(sig os.Signal) {
	signal.Reset(sig)
	p, err := os.FindProcess(os.Getpid())
	if err != nil || p.Signal(sig) != nil {
		return
	}
	// Delivery is asynchronous; the process ends within this wait.
	time.Sleep(time.Second)
}
