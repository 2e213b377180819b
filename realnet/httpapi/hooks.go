package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// The hooks below are where the counts come from. Each wraps something
// the runtime already hands the node or the client API, and only counts:
// no hook changes what passes through it.

// Observer counts the node's events and passes each on to next (which
// may be nil). It runs on the node's loop, so it only touches counters.
func (a *API) Observer(next env.Observer) env.Observer {
	return &observer{a: a, next: next, state: member.Initializing}
}

type observer struct {
	a     *API
	next  env.Observer
	state member.State // touched only on the loop
}

func (o *observer) Observe(e env.Event) {
	m := o.a.m
	switch ev := e.(type) {
	case node.StateChanged:
		m.statuses.changed(o.state, ev.State, time.Now())
		o.state = ev.State
	case node.ElectionDecided:
		m.elections.Inc()
	case node.PeerDeclaredDead:
		m.heartbeatTimeouts.Inc()
	case node.ClockSkewDetected:
		m.clockSkews.Inc()
	case node.Truncated:
		m.truncations.Inc()
	}
	if o.next != nil {
		o.next.Observe(e)
	}
}

// CountNode wraps the node the client API calls, counting events written
// and read and appends by outcome.
func (a *API) CountNode(n clientapi.Node) clientapi.Node { return &countingNode{Node: n, m: a.m} }

type countingNode struct {
	clientapi.Node
	m *metrics
}

func (c *countingNode) Append(ctx context.Context, req node.AppendRequest) (node.WriteResult, error) {
	res, err := c.Node.Append(ctx, req)
	c.countAppend(req, res, err)
	return res, err
}

func (c *countingNode) StartAppend(ctx context.Context, req node.AppendRequest) (clientapi.AppendWait, error) {
	wait, err := c.Node.StartAppend(ctx, req)
	if err != nil {
		c.countAppend(req, node.WriteResult{}, err)
		return nil, err
	}
	return func(ctx context.Context) (node.WriteResult, error) {
		res, err := wait(ctx)
		c.countAppend(req, res, err)
		return res, err
	}, nil
}

func (c *countingNode) countAppend(req node.AppendRequest, res node.WriteResult, err error) {
	switch {
	case err != nil:
		c.m.appendsFailed.Inc()
	case res.Err != nil:
		c.m.appendsRefused.Inc()
	default:
		c.m.appendsOK.Inc()
		if !res.Idempotent {
			c.m.written.Add(float64(len(req.Events)))
		}
	}
}

func (c *countingNode) ReadStream(ctx context.Context, req node.ReadRequest) (node.ReadResult, error) {
	res, err := c.Node.ReadStream(ctx, req)
	if err == nil && res.Err == nil {
		c.m.read(res.Events)
	}
	return res, err
}

func (c *countingNode) ReadAll(ctx context.Context, req streams.ReadAllRequest, requireLeader bool) (streams.ReadAllResult, error) {
	res, err := c.Node.ReadAll(ctx, req, requireLeader)
	if err == nil && res.Err == nil {
		c.m.read(res.Events)
	}
	return res, err
}

func (c *countingNode) Subscribe(ctx context.Context, req clientapi.SubscribeRequest) (clientapi.Subscription, error) {
	sub, err := c.Node.Subscribe(ctx, req)
	if err != nil {
		return sub, err
	}
	return &countingSubscription{Subscription: sub, m: c.m}, nil
}

func (m *metrics) read(evs []streams.Event) {
	if len(evs) == 0 {
		return
	}
	n := 0
	for i := range evs {
		n += len(evs[i].Data) + len(evs[i].Metadata)
	}
	m.eventsRead.Add(float64(len(evs)))
	m.bytesRead.Add(float64(n))
}

type countingSubscription struct {
	clientapi.Subscription
	m *metrics
}

func (s *countingSubscription) Next(ctx context.Context) (streams.Message, error) {
	msg, err := s.Subscription.Next(ctx)
	if err == nil && msg.Kind == streams.EventAppeared {
		s.m.read([]streams.Event{msg.Event})
	}
	return msg, err
}

// TimeDisk wraps the node's disk, timing every sync from its issue to its
// completion on the loop: the latency the node's appends wait for.
func (a *API) TimeDisk(d env.Disk) env.Disk { return &timedDisk{Disk: d, m: a.m} }

type timedDisk struct {
	env.Disk
	m *metrics
}

func (d *timedDisk) Sync(name string, done func(error)) {
	start := time.Now()
	d.Disk.Sync(name, func(err error) {
		d.m.synced(d.m.syncFile, time.Since(start), err)
		done(err)
	})
}

func (d *timedDisk) SyncDir(dir string, done func(error)) {
	start := time.Now()
	d.Disk.SyncDir(dir, func(err error) {
		d.m.synced(d.m.syncDir, time.Since(start), err)
		done(err)
	})
}

func (m *metrics) synced(o prometheus.Observer, d time.Duration, err error) {
	o.Observe(d.Seconds())
	m.syncs.add(d, err != nil)
}

// CountConnections wraps the node's network, counting its replication
// connections: those accepted on the replication port, and those it dials
// to a leader.
func (a *API) CountConnections(n env.Network) env.Network { return &countingNet{Network: n, m: a.m} }

type countingNet struct {
	env.Network
	m *metrics
}

func (n *countingNet) Listen(ep env.Endpoint, accept func(env.Conn) env.ConnHandler) (env.Listener, error) {
	return n.Network.Listen(ep, func(c env.Conn) env.ConnHandler {
		cc := &countedConn{Conn: c, m: n.m, inbound: true}
		h := accept(cc)
		if h == nil {
			return nil
		}
		cc.h = h
		n.m.replAccepted.Add(1)
		cc.opened()
		return cc
	})
}

func (n *countingNet) Connect(to env.Endpoint, h env.ConnHandler) env.Conn {
	cc := &countedConn{h: h, m: n.m}
	cc.Conn = n.Network.Connect(to, cc)
	return cc
}

// countedConn stands for one replication connection, both as the
// connection the node holds and as the handler of its events, so that the
// node only ever sees it and it sees every end: the peer's or the
// network's (Closed) and the node's own (Close, after which Closed is not
// reported). All of it runs on the node's loop.
type countedConn struct {
	env.Conn
	h       env.ConnHandler
	m       *metrics
	inbound bool
	open    bool // counted among the open connections
	ended   bool
}

func (c *countedConn) opened() {
	if c.open || c.ended {
		return
	}
	c.open = true
	if c.inbound {
		c.m.replIn.Add(1)
	} else {
		c.m.replOut.Add(1)
	}
}

func (c *countedConn) end() {
	c.ended = true
	if !c.open {
		return
	}
	c.open = false
	if c.inbound {
		c.m.replIn.Add(-1)
	} else {
		c.m.replOut.Add(-1)
	}
}

func (c *countedConn) Close() {
	c.end()
	c.Conn.Close()
}

func (c *countedConn) Established(env.Conn) {
	c.opened()
	c.h.Established(c)
}

func (c *countedConn) Received(_ env.Conn, msg []byte) { c.h.Received(c, msg) }
func (c *countedConn) Writable(env.Conn)               { c.h.Writable(c) }

// Progress passes partial-message progress on (env.ProgressHandler): the
// node's heartbeats count it as hearing from the peer.
func (c *countedConn) Progress(env.Conn) {
	if ph, ok := c.h.(env.ProgressHandler); ok {
		ph.Progress(c)
	}
}

func (c *countedConn) Closed(_ env.Conn, reason error) {
	c.end()
	c.h.Closed(c, reason)
}

// GRPCServerOptions count the node port's gRPC calls and time the client
// API's stream operations.
func (a *API) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			done := a.m.grpcStart(info.FullMethod)
			resp, err := h(ctx, req)
			done(err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			done := a.m.grpcStart(info.FullMethod)
			err := h(srv, ss)
			done(err)
			return err
		}),
	}
}

// grpcActivities labels the client API's stream operations with the
// activities EventStoreDB's metrics configuration uses (append for both
// appends, read), and delete for deletes and tombstones.
var grpcActivities = map[string]string{
	"Read": "read", "Append": "append", "BatchAppend": "append", "Delete": "delete", "Tombstone": "delete",
}

const streamsService = "/event_store.client.streams.Streams/"

// grpcTimer is one activity's duration series.
type grpcTimer struct{ ok, failed prometheus.Observer }

func (m *metrics) grpcStart(method string) func(error) {
	m.grpcCurrent.Inc()
	start := time.Now()
	return func(err error) {
		m.grpcCurrent.Dec()
		m.grpcTotal.Inc()
		code := status.Code(err)
		failed := code != codes.OK && code != codes.Canceled // a client ending its subscription is no failure
		if failed {
			m.grpcFailed.Inc()
		}
		switch code {
		case codes.Unimplemented:
			m.grpcUnimplemented.Inc()
		case codes.DeadlineExceeded:
			m.grpcDeadline.Inc()
		}
		if t, ok := m.grpcTimers[method]; ok {
			o := t.ok
			if failed {
				o = t.failed
			}
			o.Observe(time.Since(start).Seconds())
		}
	}
}
