package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every wait: a hang detector, never a speed assertion.
const guard = 20 * time.Second

// testSegmentSize keeps each node's preallocated segment small.
const testSegmentSize = 1 << 20

// syncBuffer is a log destination several runtimes may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stamped is an event and the wall time it was observed.
type stamped struct {
	at time.Time
	ev env.Event
}

// recorder keeps a node's events; it is called on the node's loop and
// read by the test.
type recorder struct {
	mu  sync.Mutex
	evs []stamped
}

func (r *recorder) Observe(e env.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, stamped{at: time.Now(), ev: e})
	r.mu.Unlock()
}

func (r *recorder) all() []stamped {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stamped(nil), r.evs...)
}

// since returns the events observed at or after t.
func (r *recorder) since(t time.Time) []stamped {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []stamped
	for _, s := range r.evs {
		if !s.at.Before(t) {
			out = append(out, s)
		}
	}
	return out
}

// nodeOptions are a test node's options: insecure, loopback, any free
// ports, quick heartbeats and gossip, the given directory.
func nodeOptions(t *testing.T, dir string, set map[*options.Option]string) *options.Values {
	t.Helper()
	v := options.Defaults()
	base := map[*options.Option]string{
		options.Insecure:        "true",
		options.NodeIp:          "127.0.0.1",
		options.ReplicationIp:   "127.0.0.1",
		options.NodePort:        "0",
		options.ReplicationPort: "0",
		options.Db:              dir,
		options.DiscoverViaDns:  "false",
		options.LogLevel:        "Debug",
	}
	for o, s := range set {
		base[o] = s
	}
	for o, s := range base {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatalf("option %s=%q: %v", o.Name, s, err)
		}
	}
	return v
}

// testNode is a started runtime with its log and events.
type testNode struct {
	name string
	rt   *Runtime
	log  *syncBuffer
	rec  *recorder
}

// start runs a node whose log goes to the test's output on failure.
func start(t *testing.T, name string, opts *options.Values) *testNode {
	t.Helper()
	n := &testNode{name: name, log: &syncBuffer{}, rec: &recorder{}}
	rt, err := Start(Config{Options: opts, Name: name, Log: n.log, Observer: n.rec,
		Settings: settings()})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	n.rt = rt
	t.Cleanup(func() {
		if err := rt.Stop(); err != nil && !errors.Is(err, errCrashed) {
			t.Errorf("stop %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, n.log.String())
		}
	})
	return n
}

// waitUntil polls cond until it holds; it fails the test after guard.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", guard, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errCrashed is what Stop reports after crash.
var errCrashed = errors.New("the runtime was crashed by the test")

// crash ends a runtime the way a killed process ends: the node's loop
// stops between two inputs, its sockets close without a word from the node
// (the peers' kernels see them close, as they would the kernel of a dead
// process close them), and its files close with whatever the node had not
// synced still in the page cache. No Stop of the node, no draining.
func (r *Runtime) crash() {
	r.stopOnce.Do(func() {
		r.loop.Stop()
		r.clock.Close()
		r.net.Close()
		_ = r.disk.Close()
		r.lock.release()
		r.stopErr = errCrashed
	})
}

// freeze blocks the node's loop, as a process paused by its host: its
// sockets stay open and its kernel keeps acknowledging bytes, but nothing
// in the node runs. realnet/loop has no pause, so freeze posts an input
// that blocks until released.
func (r *Runtime) freeze(t *testing.T) (release func()) {
	t.Helper()
	entered := make(chan struct{})
	gate := make(chan struct{})
	if err := r.loop.Post(func() { close(entered); <-gate }); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	select {
	case <-entered:
	case <-time.After(guard):
		t.Fatalf("freeze: the loop did not take the input within %v", guard)
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

func statesOf(nodes []*testNode) string {
	var parts []string
	for _, n := range nodes {
		s := n.rt.Status()
		parts = append(parts, fmt.Sprintf("%s=%v(epoch %d)", n.name, s.State, s.Epoch))
	}
	return strings.Join(parts, " ")
}

// soleLeader returns the one node that leads with every other live node
// following it, or nil.
func soleLeader(nodes []*testNode) *testNode {
	var leader *testNode
	for _, n := range nodes {
		if n.rt.Status().State == member.Leader {
			if leader != nil {
				return nil
			}
			leader = n
		}
	}
	if leader == nil {
		return nil
	}
	id := leader.rt.Status().ID
	for _, n := range nodes {
		if s := n.rt.Status(); n != leader && (s.State != member.Follower || s.Leader != id) {
			return nil
		}
	}
	return leader
}

func settings() node.Settings { return node.Settings{SegmentSize: testSegmentSize} }
