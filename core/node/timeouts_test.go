package node

import (
	"testing"
	"time"

	"github.com/annal-db/annal/core/options"
)

// WriteTimeoutMs, when set, bounds a write on the leader (and a forwarded
// one, 300 ms more); unset, PrepareTimeoutMs + CommitTimeoutMs do.
func TestWriteTimeoutMsWhenSet(t *testing.T) {
	v := options.Defaults()
	n := &Node{opts: v}
	if got := n.writeTimeout(); got != 4*time.Second {
		t.Errorf("defaults: %v, want PrepareTimeoutMs + CommitTimeoutMs = 4s", got)
	}
	if err := v.Set(options.WriteTimeoutMs, "1500", options.SourceConfigFile); err != nil {
		t.Fatal(err)
	}
	if got, fwd := n.writeTimeout(), n.forwardTimeout(); got != 1500*time.Millisecond || fwd != 1800*time.Millisecond {
		t.Errorf("WriteTimeoutMs 1500: write %v, forwarded %v; want 1.5s and 1.8s", got, fwd)
	}
}
