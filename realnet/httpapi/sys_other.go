//go:build !(linux || darwin || freebsd)

package httpapi

import "time"

// processCPU is not read on this system.
func processCPU() (time.Duration, bool) { return 0, false }

// fileSystemOf is not read on this system.
func fileSystemOf(string) fsUsage { return fsUsage{} }
