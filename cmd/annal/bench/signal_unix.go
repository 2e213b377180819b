//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// sendSignal sends s to the process pid.
func sendSignal(pid int, s Signal) error {
	var sig syscall.Signal
	switch s {
	case SignalKill:
		sig = syscall.SIGKILL
	case SignalStop:
		sig = syscall.SIGSTOP
	default:
		return fmt.Errorf("signal %q is neither SIGKILL nor SIGSTOP", s)
	}
	return syscall.Kill(pid, sig)
}

// resume lets a stopped process run again.
func resume(pid int) error { return syscall.Kill(pid, syscall.SIGCONT) }
