//go:build !linux

package disk

import "os"

// fdatasync falls back to a full fsync where fdatasync is not offered.
func fdatasync(f *os.File) error { return f.Sync() }

// allocate extends f to at least size. Without fallocate this reserves no
// blocks: the extension is a hole that reads as zeros, and a later write
// into it can still fail for space.
func allocate(f *os.File, size int64) error { return extend(f, size) }
