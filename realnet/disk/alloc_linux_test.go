package disk

import (
	"os"
	"syscall"
	"testing"
)

// assertAllocated checks that fallocate reserved blocks, not just a hole.
func assertAllocated(t *testing.T, path string, size int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no block counts on this platform")
	}
	if got := st.Blocks * 512; got < size {
		t.Fatalf("%s has %d bytes of blocks allocated, want at least %d: Preallocate must reserve space", path, got, size)
	}
}
