package cluster

import (
	"testing"
	"time"
)

// A run that has already broken an invariant bounds its final
// linearizability check: a history shaped by the bug (a lost acknowledged
// write, prefixes that disagree) can keep porcupine searching for many
// minutes, and the run must fail with its violations instead of hanging
// until the test's own timeout. A clean run keeps the configured bound,
// none by default: its verdict stays exact.
func TestAViolatedRunBoundsItsLinearizabilityCheck(t *testing.T) {
	for _, c := range []struct {
		configured time.Duration
		violations int
		want       time.Duration
	}{
		{0, 0, 0},
		{0, 1, ViolatedRunLinearizabilityTimeout},
		{0, 40, ViolatedRunLinearizabilityTimeout},
		{3 * time.Second, 0, 3 * time.Second},
		{3 * time.Minute, 2, 3 * time.Minute},
	} {
		if got := linearizabilityTimeout(c.configured, c.violations); got != c.want {
			t.Errorf("configured %v with %d violations: bound %v, want %v", c.configured, c.violations, got, c.want)
		}
	}
}
