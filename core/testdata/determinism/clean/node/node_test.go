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
