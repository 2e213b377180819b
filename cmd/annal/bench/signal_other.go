//go:build !unix

package bench

import "errors"

var errNoSignals = errors.New("failover mode sends Unix signals (SIGKILL, SIGSTOP); it runs on Unix systems only")

func sendSignal(int, Signal) error { return errNoSignals }

func resume(int) error { return errNoSignals }
