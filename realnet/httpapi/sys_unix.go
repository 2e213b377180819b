//go:build linux || darwin || freebsd

package httpapi

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used, user and system.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// fileSystemOf reads the size and free space of the file system holding
// dir.
func fileSystemOf(dir string) fsUsage {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fsUsage{}
	}
	bsize := uint64(st.Bsize) //nolint:unconvert // its type differs between systems
	return fsUsage{Total: uint64(st.Blocks) * bsize, Available: uint64(st.Bavail) * bsize, ok: true}
}
