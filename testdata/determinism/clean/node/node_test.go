// A fixture of the determinism checker, never compiled (testdata): it shows
// that test files may use the wall clock and I/O. Real test packages start
// with goleak.VerifyTestMain; this one is not a test package.
package node

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// Test files may do anything; the checker skips them.
func TestAnything(t *testing.T) {
	go fmt.Println(time.Now(), os.Args)
	for range map[int]int{} {
	}
}
