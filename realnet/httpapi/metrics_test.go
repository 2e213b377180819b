package httpapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// stubClientNode answers every call with what the test put in it.
type stubClientNode struct {
	clientapi.Node
	write node.WriteResult
	read  node.ReadResult
	err   error
}

func (s *stubClientNode) Append(context.Context, node.AppendRequest) (node.WriteResult, error) {
	return s.write, s.err
}

func (s *stubClientNode) StartAppend(context.Context, node.AppendRequest) (clientapi.AppendWait, error) {
	return func(context.Context) (node.WriteResult, error) { return s.write, s.err }, nil
}

func (s *stubClientNode) ReadStream(context.Context, node.ReadRequest) (node.ReadResult, error) {
	return s.read, s.err
}

// stubDisk completes every sync at once, failing when told to.
type stubDisk struct {
	env.Disk
	fail error
}

func (d stubDisk) Sync(_ string, done func(error))    { done(d.fail) }
func (d stubDisk) SyncDir(_ string, done func(error)) { done(d.fail) }

func scrape(t *testing.T, h http.Handler) (map[string]string, string) {
	t.Helper()
	w := do(t, h, http.MethodGet, "/metrics", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	return map[string]string{"Content-Type": w.Header().Get("Content-Type")}, w.Body.String()
}

func TestMetricsCountWhatTheHooksSee(t *testing.T) {
	n := newFakeNode(t)
	n.port.Open, n.port.Accepted, n.port.GRPC, n.port.HTTP = 2, 5, 3, 2
	n.disk.Fsyncs, n.disk.SyncRequests = 4, 9
	n.loopLen = 3
	n.stats = node.Stats{State: member.Leader, Epoch: 2, WriterCheckpoint: 900, Committed: 800, LogEnd: 1000,
		Replicas: []node.ReplicaStats{
			{ReplicaID: member.ID{2}, Node: env.Endpoint{Host: "10.0.0.2", Port: 2113}, Acknowledged: 700, Lag: 300},
			{ReplicaID: member.ID{3}, Node: env.Endpoint{Host: "10.0.0.3", Port: 2113}, Acknowledged: 1000, Lag: 0},
		}}
	a := newAPI(t, n, Config{}, nil)
	h := a.Wrap(portMux())

	// The node's events, through the observer chain.
	var passed int
	obs := a.Observer(observerFunc(func(env.Event) { passed++ }))
	for _, e := range []env.Event{
		node.StateChanged{State: member.Unknown}, node.ElectionDecided{View: 1, Epoch: 1}, node.StateChanged{State: member.Leader},
		node.ElectionDecided{View: 2, Epoch: 2}, node.PeerDeclaredDead{}, node.PeerDeclaredDead{}, node.PeerDeclaredDead{},
		node.ClockSkewDetected{}, node.Truncated{To: 5}, node.Committed{Position: 800},
	} {
		obs.Observe(e)
	}
	if passed != 10 {
		t.Errorf("the observer passed on %d events of 10", passed)
	}

	// Client calls: two appends of 3 events (one started, then awaited),
	// one refused, one failed;
	// one read of two events.
	stub := &stubClientNode{write: node.WriteResult{Revision: 2}}
	cn := a.CountNode(stub)
	ctx := context.Background()
	three := node.AppendRequest{Events: make([]streams.EventData, 3)}
	_, _ = cn.Append(ctx, three)
	// BatchAppend's appends go through StartAppend and count the same.
	if wait, err := cn.StartAppend(ctx, three); err != nil {
		t.Fatalf("StartAppend: %v", err)
	} else {
		_, _ = wait(ctx)
	}
	stub.write.Err = errors.New("wrong expected version")
	_, _ = cn.Append(ctx, three)
	stub.err = context.DeadlineExceeded
	_, _ = cn.Append(ctx, three)
	stub.err = nil
	stub.read = node.ReadResult{Events: []streams.Event{{Data: []byte("abc"), Metadata: []byte("de")}, {Data: []byte("f")}}}
	_, _ = cn.ReadStream(ctx, node.ReadRequest{})

	// Syncs, one failing.
	d := a.TimeDisk(stubDisk{})
	d.Sync("chunk", func(error) {})
	d.SyncDir("", func(error) {})
	a.TimeDisk(stubDisk{fail: env.ErrIO}).Sync("chunk", func(error) {})

	// gRPC calls: an append that succeeds, a read that fails, a gossip
	// read that is hidden.
	opts := a.GRPCServerOptions()
	if len(opts) != 2 {
		t.Fatalf("%d gRPC server options, want a unary and a stream interceptor", len(opts))
	}
	unary := func(method string, err error) {
		done := a.m.grpcStart(method)
		done(err)
	}
	unary("/event_store.client.streams.Streams/Append", nil)
	unary("/event_store.client.streams.Streams/Read", status.Error(codes.Unavailable, "no leader"))
	unary("/event_store.client.gossip.Gossip/Read", status.Error(codes.Unimplemented, "hidden"))
	unary("/event_store.client.streams.Streams/Delete", status.Error(codes.DeadlineExceeded, "late"))

	hdr, body := scrape(t, h)
	if ct := hdr["Content-Type"]; ct == "" {
		t.Errorf("GET /metrics has no content type")
	}
	fams := parseMetrics(t, body)
	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{metricElections, nil, 2},
		{metricHeartbeatTimeouts, nil, 3},
		{metricClockSkews, nil, 1},
		{metricTruncations, nil, 1},
		{metricIOEvents, []string{"activity", "written"}, 6},
		{metricIOEvents, []string{"activity", "read"}, 2},
		{metricIOBytes, []string{"activity", "read"}, 6},
		{metricAppends, []string{"result", "ok"}, 2},
		{metricAppends, []string{"result", "refused"}, 1},
		{metricAppends, []string{"result", "failed"}, 1},
		{metricSyncDuration, []string{"kind", "file"}, 2},
		{metricSyncDuration, []string{"kind", "dir"}, 1},
		{metricFsyncs, nil, 4},
		{metricSyncRequests, nil, 9},
		{metricGRPCCalls, []string{"kind", "total"}, 4},
		{metricGRPCCalls, []string{"kind", "failed"}, 3},
		{metricGRPCCalls, []string{"kind", "unimplemented"}, 1},
		{metricGRPCCalls, []string{"kind", "deadline-exceeded"}, 1},
		{metricGRPCDuration, []string{"activity", "append", "status", "successful"}, 1},
		{metricGRPCDuration, []string{"activity", "read", "status", "failed"}, 1},
		{metricGRPCDuration, []string{"activity", "delete", "status", "failed"}, 1},
		{metricGRPCCurrent, nil, 0},
		{metricKestrel, nil, 2},
		{metricConnections, []string{"port", "node", "direction", "in"}, 2},
		{metricAccepted, []string{"port", "node"}, 5},
		{metricNodePortConns, []string{"outcome", "grpc"}, 3},
		{metricLoopQueue, nil, 3},
		{metricCheckpoints, []string{"name", "writer"}, 900},
		{metricCheckpoints, []string{"name", "replication"}, 800},
		{metricReplAcked, []string{"follower", "10.0.0.2:2113"}, 700},
		{metricReplLag, []string{"follower", "10.0.0.2:2113"}, 300},
		{metricReplLag, []string{"follower", "10.0.0.3:2113"}, 0},
		{metricReplicas, nil, 2},
		{metricDBSize, nil, 4096},
	}
	for _, w := range want {
		got, ok := sample(fams, w.name, w.labels...)
		if !ok || got != w.value {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	if v, _ := sample(fams, metricGRPCDuration, "activity", "read", "status", "successful"); v != 0 {
		t.Errorf("the gossip read was timed as a successful streams read (%v)", v)
	}
	if v, ok := sample(fams, metricStatuses, "name", "Node", "status", "Leader"); !ok || time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("eventstore_statuses for the current state Leader: %v %v; want the scrape's time", v, ok)
	}
	if _, ok := sample(fams, metricStatuses, "status", "Unknown"); !ok {
		t.Errorf("eventstore_statuses lacks the Unknown state the node passed through")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", metricUpTime} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	// On a follower, no per-follower series.
	n.mu.Lock()
	n.stats.State, n.stats.Replicas = member.Follower, nil
	n.mu.Unlock()
	_, body = scrape(t, h)
	if _, ok := sample(parseMetrics(t, body), metricReplLag); ok {
		t.Errorf("a follower reports replication lag series")
	}
}

// A node whose loop does not answer still gets scraped, without its own
// figures, and the miss is counted.
func TestMetricsWithoutTheNode(t *testing.T) {
	n := newFakeNode(t)
	n.statsErr = errNodeBusy
	h := newAPI(t, n, Config{}, nil).Wrap(portMux())
	_, body := scrape(t, h)
	fams := parseMetrics(t, body)
	if _, ok := sample(fams, metricCheckpoints, "name", "writer"); ok {
		t.Errorf("checkpoints reported from a node that did not answer")
	}
	if fams[metricLoopQueue] == nil || fams[metricKestrel] == nil {
		t.Errorf("the drivers' figures are missing when the node is silent")
	}
	_, body = scrape(t, h)
	if v, ok := sample(parseMetrics(t, body), metricNodeStatsMissed); !ok || v < 1 {
		t.Errorf("%s = %v (%v), want the missed scrape counted", metricNodeStatsMissed, v, ok)
	}
}

type observerFunc func(env.Event)

func (f observerFunc) Observe(e env.Event) { f(e) }

// fakeNet hands the test the accept function and the dialed handler.
type fakeNet struct {
	env.Network
	accept func(env.Conn) env.ConnHandler
	dialed env.ConnHandler
}

func (f *fakeNet) Listen(_ env.Endpoint, accept func(env.Conn) env.ConnHandler) (env.Listener, error) {
	f.accept = accept
	return nil, nil
}

func (f *fakeNet) Connect(_ env.Endpoint, h env.ConnHandler) env.Conn {
	f.dialed = h
	return &fakeConn{}
}

type fakeConn struct {
	env.Conn
	closed bool
}

func (c *fakeConn) Close() { c.closed = true }

// recordingHandler remembers the connection its events came with.
type recordingHandler struct{ seen []env.Conn }

func (h *recordingHandler) Established(c env.Conn)        { h.seen = append(h.seen, c) }
func (h *recordingHandler) Received(c env.Conn, _ []byte) { h.seen = append(h.seen, c) }
func (h *recordingHandler) Writable(c env.Conn)           { h.seen = append(h.seen, c) }
func (h *recordingHandler) Closed(c env.Conn, _ error)    { h.seen = append(h.seen, c) }

// Replication connections are counted open from accept or establishment
// until either end closes them, once; the node only ever sees the
// counting connection, in every event.
func TestReplicationConnectionsAreCountedBothWays(t *testing.T) {
	a := newAPI(t, newFakeNode(t), Config{}, nil)
	fn := &fakeNet{}
	n := a.CountConnections(fn)
	open := func() (int64, int64) { return a.m.replIn.Load(), a.m.replOut.Load() }

	// Inbound: one refused, one closed by the peer, one closed by the node.
	var accepted []env.Conn
	h := &recordingHandler{}
	_, _ = n.Listen(env.Endpoint{}, func(c env.Conn) env.ConnHandler {
		accepted = append(accepted, c)
		if len(accepted) == 1 {
			return nil
		}
		return h
	})
	raw := []*fakeConn{{}, {}, {}}
	if fn.accept(raw[0]) != nil {
		t.Fatal("a refused connection got a handler")
	}
	byPeer := fn.accept(raw[1])
	if fn.accept(raw[2]) == nil {
		t.Fatal("an accepted connection got no handler")
	}
	if in, _ := open(); in != 2 || a.m.replAccepted.Load() != 2 {
		t.Fatalf("after two accepted: %d open, %d accepted; want 2 and 2", in, a.m.replAccepted.Load())
	}
	byPeer.Received(raw[1], nil)
	byPeer.Closed(raw[1], env.ErrReset)
	byPeer.Closed(raw[1], env.ErrReset) // reported once by contract; counted once regardless
	accepted[2].Close()
	if in, _ := open(); in != 0 || !raw[2].closed {
		t.Fatalf("after one closed by the peer and one by the node: %d open (closed through: %v); want 0", in, raw[2].closed)
	}
	for _, c := range h.seen {
		if c != accepted[1] {
			t.Fatalf("the node's handler saw connection %v, not the one it accepted", c)
		}
	}

	// Outbound: open once established, closed once.
	dh := &recordingHandler{}
	c := n.Connect(env.Endpoint{}, dh)
	if _, out := open(); out != 0 {
		t.Fatalf("a connection still dialing is counted open")
	}
	fn.dialed.Established(nil)
	if _, out := open(); out != 1 {
		t.Fatalf("an established connection: %d open, want 1", out)
	}
	c.Close()
	fn.dialed.Closed(nil, env.ErrClosed)
	if _, out := open(); out != 0 {
		t.Fatalf("after the node closed it: %d open, want 0", out)
	}
	if len(dh.seen) != 2 || dh.seen[0] != c || dh.seen[1] != c {
		t.Fatalf("the dialing handler saw %v, want the connection Connect returned", dh.seen)
	}
	// A dial that fails is never counted.
	n.Connect(env.Endpoint{}, &recordingHandler{})
	fn.dialed.Closed(nil, env.ErrRefused)
	if _, out := open(); out != 0 {
		t.Fatalf("a failed dial left %d open", out)
	}
}
