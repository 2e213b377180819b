package bench

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	noderuntime "github.com/annal-db/annal/realnet/runtime"
)

// guard bounds every wait: a hang detector, never a speed assertion.
const guard = 20 * time.Second

// startNode runs a one-node cluster on free loopback ports and returns
// its client endpoint once it leads.
func startNode(t *testing.T) string {
	t.Helper()
	v := options.Defaults()
	for o, s := range map[*options.Option]string{
		options.Insecure:        "true",
		options.NodeIp:          "127.0.0.1",
		options.ReplicationIp:   "127.0.0.1",
		options.NodePort:        "0",
		options.ReplicationPort: "0",
		options.DiscoverViaDns:  "false",
		options.Db:              t.TempDir(),
	} {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatalf("option %s=%q: %v", o.Name, s, err)
		}
	}
	log := &syncBuffer{}
	rt, err := noderuntime.Start(noderuntime.Config{Options: v, Name: "n1", Log: log, Settings: node.Settings{SegmentSize: 1 << 20}})
	if err != nil {
		t.Fatalf("starting the node: %v", err)
	}
	t.Cleanup(func() {
		if err := rt.Stop(); err != nil {
			t.Errorf("stopping the node: %v", err)
		}
		if t.Failed() {
			t.Logf("node log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(guard)
	for rt.Status().State != member.Leader {
		if time.Now().After(deadline) {
			t.Fatalf("the node did not lead within %v (state %v)", guard, rt.Status().State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rt.NodeEndpoint().String()
}

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

// perfkitKeys are the keys of the peer tools' lines that a table of them
// reads: an annal line must have them too.
var perfkitKeys = regexp.MustCompile(`errors=\d+ .*latency: n=\d+ mean_ms=[0-9.]+ p50_ms=[0-9.]+ p90_ms=[0-9.]+ p99_ms=[0-9.]+ p999_ms=[0-9.]+ max_ms=[0-9.]+$`)

func TestAppendAndReadAgainstARunningNode(t *testing.T) {
	ep := startNode(t)
	progress := &syncBuffer{}

	res, err := Run(t.Context(), Config{
		Mode: ModeAppend, Endpoints: []string{ep}, Clients: 4, Conns: 2, Size: 256,
		Dur: time.Second, Max: 1_000_000, Wait: guard, Progress: 200 * time.Millisecond,
	}, progress)
	if err != nil {
		t.Fatalf("append run: %v\nprogress:\n%s", err, progress)
	}
	if res.Ops == 0 || res.Errors != 0 || len(res.ErrorKinds) != 0 {
		t.Fatalf("append run: %d ops, %d errors (%v); want some ops and no errors\nprogress:\n%s", res.Ops, res.Errors, res.ErrorKinds, progress)
	}
	if res.Latency.N != int(res.Ops) {
		t.Fatalf("append run: %d latency samples for %d ops", res.Latency.N, res.Ops)
	}
	if !strings.HasPrefix(res.Line, "annalbench mode=append leader="+ep+" ") || !strings.Contains(res.Line, " ops_per_s=") || !perfkitKeys.MatchString(res.Line) {
		t.Fatalf("append line lacks the keys a table reads: %q", res.Line)
	}
	if !strings.Contains(progress.String(), "append ") {
		t.Fatalf("no progress line was written:\n%s", progress)
	}

	// Reads of exactly -count events each, from the stream and from $all.
	for _, from := range []ReadFrom{FromStream, FromAll} {
		res, err := Run(t.Context(), Config{
			Mode: ModeRead, Endpoints: []string{ep}, Clients: 2, Size: 64, Dur: 300 * time.Millisecond,
			Max: 1_000_000, Wait: guard, From: from, Count: 10, Events: 50,
		}, nil)
		if err != nil {
			t.Fatalf("read %s: %v", from, err)
		}
		if res.Ops == 0 || res.Errors != 0 {
			t.Fatalf("read %s: %d reads, %d errors (%v); want some reads and no errors", from, res.Ops, res.Errors, res.ErrorKinds)
		}
		if from == FromStream && res.Events != 10*res.Ops {
			t.Fatalf("read stream: %d events in %d reads of 10", res.Events, res.Ops)
		}
		if res.Events == 0 || !strings.Contains(res.Line, " events_per_s=") || !perfkitKeys.MatchString(res.Line) {
			t.Fatalf("read %s: %d events, line %q", from, res.Events, res.Line)
		}
	}
}

func TestMaxBoundsTheOperations(t *testing.T) {
	ep := startNode(t)
	res, err := Run(t.Context(), Config{Mode: ModeAppend, Endpoints: []string{ep}, Clients: 3, Size: 8, Dur: guard, Max: 25, Wait: guard}, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Ops+res.Errors != 25 {
		t.Fatalf("-max 25 made %d ops and %d errors; want 25 calls in all", res.Ops, res.Errors)
	}
}

func TestNoLeaderIsExplained(t *testing.T) {
	// Port 1 on loopback: nothing listens there.
	_, err := Run(t.Context(), Config{Mode: ModeAppend, Endpoints: []string{"127.0.0.1:1"}, Clients: 1, Dur: time.Second, Max: 1, Wait: 300 * time.Millisecond}, nil)
	if err == nil || !strings.Contains(err.Error(), "no leader found") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("run against nothing: %v; want an error saying no leader was found at 127.0.0.1:1", err)
	}
}

func TestMainPrintsOneLineAndExplainsMistakes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := Main(t.Context(), []string{"append", "-clients", "0"}, &stdout, &stderr)
	if !errors.Is(err, ErrUsage) || stdout.Len() != 0 || !strings.Contains(stderr.String(), "annal bench: -clients 0 is out of range") {
		t.Fatalf("Main with -clients 0: err %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}

	ep := startNode(t)
	stdout.Reset()
	stderr.Reset()
	if err := Main(t.Context(), []string{"append", "-endpoints", ep, "-dur", "200ms", "-progress", "0"}, &stdout, &stderr); err != nil {
		t.Fatalf("Main append: %v\nstderr: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "annalbench mode=append ") {
		t.Fatalf("stdout is not one result line: %q", stdout.String())
	}
}
