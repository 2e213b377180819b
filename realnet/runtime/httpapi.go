package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/disk"
	"github.com/annal-db/annal/realnet/httpapi"
	"github.com/annal-db/annal/realnet/netstack"
)

// runtimeAPI is the node's HTTP API (realnet/httpapi) and the runtime as
// the API reads it.
type runtimeAPI struct {
	*httpapi.API
	node *apiNode
}

func newRuntimeAPI(r *Runtime, opts *options.Values, sec *security) (*runtimeAPI, error) {
	n := &apiNode{r: r}
	admin, err := newAdminUI(r, opts, sec)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{Options: opts, Node: n, Admin: admin})
	if err != nil {
		return nil, err
	}
	return &runtimeAPI{API: api, node: n}, nil
}

// publish hands the API the bound node port. The port's first request may
// race the runtime's assignment of r.port, so the API reads its own copy.
func (a *runtimeAPI) publish(p *netstack.NodePort) { a.node.port.Store(p) }

// apiNode is the runtime as the HTTP API reads it. The loop, the disk and
// the directory exist before the node port serves; the port is published
// once bound.
type apiNode struct {
	r      *Runtime
	port   atomic.Pointer[netstack.NodePort]
	queued atomic.Int32 // Stats inputs in the loop's queue
}

var _ httpapi.Node = (*apiNode)(nil)

func (a *apiNode) Status() httpapi.Status {
	s := a.r.Status()
	return httpapi.Status{State: s.State, Epoch: s.Epoch, ID: s.ID, Leader: s.Leader}
}

// maxStatsQueued bounds the statistics requests waiting in the loop's
// queue at once.
const maxStatsQueued = 4

// errStatsBusy answers a statistics request while maxStatsQueued others
// still wait for the loop.
var errStatsBusy = errors.New("the node's loop has not yet answered earlier statistics requests; it is busy or stalled")

// Stats asks the node on its loop. It queues with Deliver, which never
// waits for room in the inbox: a request for statistics must not hang
// behind a flood of client calls, or on a stalled loop, beyond ctx. The
// few it may leave queued (maxStatsQueued) run when the loop frees up.
func (a *apiNode) Stats(ctx context.Context) (node.Stats, error) {
	if a.queued.Add(1) > maxStatsQueued {
		a.queued.Add(-1)
		return node.Stats{}, errStatsBusy
	}
	answer := make(chan node.Stats, 1)
	r := a.r
	err := r.loop.Deliver(func() {
		a.queued.Add(-1)
		if r.node != nil {
			answer <- r.node.Stats()
		} else {
			close(answer)
		}
	})
	if err != nil {
		a.queued.Add(-1)
		return node.Stats{}, node.ErrNotReady
	}
	select {
	case s, ok := <-answer:
		if !ok {
			return node.Stats{}, node.ErrNotReady
		}
		return s, nil
	case <-ctx.Done():
		return node.Stats{}, fmt.Errorf("the node's loop did not answer: %w", ctx.Err())
	case <-r.loop.Done():
		return node.Stats{}, node.ErrNotReady
	}
}

func (a *apiNode) LoopQueue() (length, capacity int) {
	return a.r.loop.Len(), a.r.loop.Capacity()
}

func (a *apiNode) DiskStats() disk.Stats {
	return a.r.disk.Stats()
}

func (a *apiNode) PortStats() netstack.NodePortStats {
	p := a.port.Load()
	if p == nil {
		return netstack.NodePortStats{}
	}
	return p.Stats()
}

func (a *apiNode) Dir() string { return a.r.dir }
