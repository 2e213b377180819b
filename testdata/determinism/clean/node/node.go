// Package node uses only what the determinism rule allows, including
// look-alikes of forbidden things.
package node

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/annal-db/annal/core/sorted"
)

// Clock is handed in; its methods share names with the time package.
type Clock interface {
	Now() time.Duration
	AfterFunc(d time.Duration, f func()) Stopper
	Sleep(d time.Duration)
}

// Stopper cancels a timer.
type Stopper interface{ Stop() bool }

// Node has fields named like the forbidden things.
type Node struct {
	clock  Clock
	chanID int
	peers  map[string]time.Duration
	log    func(string)
}

// print shadows the builtin: calling it is not printing.
func print(n *Node, s string) { n.log(s) }

// Describe renders the peers in key order.
func (n *Node) Describe() string {
	var sb strings.Builder
	for _, p := range sorted.Keys(n.peers) {
		sb.WriteString(fmt.Sprintf("%s=%s ", p, n.peers[p]))
	}
	for p, rtt := range sorted.Range(n.peers) {
		sb.Write(fmt.Appendf(nil, "%s:%d ", p, rtt.Milliseconds()))
	}
	print(n, sb.String())
	return sb.String()
}

// Arm uses the handed-in clock.
func (n *Node) Arm(timeout time.Duration) (time.Duration, error) {
	n.clock.Sleep(0)
	n.clock.AfterFunc(timeout, func() { n.chanID++ })
	deadline := n.clock.Now() + 2*timeout
	if deadline < 0 {
		return 0, errors.New("deadline overflow")
	}
	select_ := []int{1, 2}
	for i, v := range select_ {
		n.chanID += i * v
	}
	return deadline, fmt.Errorf("armed at %v", time.Unix(0, int64(deadline)).UTC())
}
