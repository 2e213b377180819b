package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/realnet/netstack"
)

// rawExchange sends b on a new connection to the node port and returns
// the status line of the answer ("" when the node closed without one).
func rawExchange(t *testing.T, n *testNode, b []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", n.rt.NodeEndpoint().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(guard))
	go func() { _, _ = c.Write(b) }() // the node may answer before it has read it all
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("reading the answer: %v", err)
	}
	return strings.TrimSpace(line)
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// Whatever a client sends on the HTTP side, it gets a clear status at
// once and the node goes on serving both protocols.
func TestBadRequestsGetAClearStatus(t *testing.T) {
	n := startNode(t, "n1", nil, netstack.Options{SniffTimeout: 500 * time.Millisecond})
	waitUntil(t, "n1 to lead", func() bool { return n.state() == member.Leader })

	for _, tc := range []struct {
		name, send, want string
	}{
		{"malformed request line", "GARBAGE\r\n\r\n", "400"},
		{"unknown HTTP version", "GET /info HTTP/9.9\r\nHost: x\r\n\r\n", "505"},
		{"header name with a space", "GET /info HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "400"},
		{"header without a colon", "GET /info HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", "400"},
		{"non-numeric Content-Length", "POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n", "400"},
		{"two Content-Lengths", "POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400"},
		{"headers over 1 MiB", "GET /info HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n", "431"},
		{"body announced over the limit", "POST /streams/x HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n", "413"},
		{"no Host header", "GET /info HTTP/1.1\r\n\r\n", "400"},
		{"wrong method on /info", "DELETE /info HTTP/1.1\r\nHost: x\r\n\r\n", "405"},
	} {
		line := rawExchange(t, n, []byte(tc.send))
		if f := strings.Fields(line); len(f) < 2 || f[1] != tc.want {
			t.Errorf("%s: the node answered %q, want status %s", tc.name, line, tc.want)
		}
	}

	// Slowloris: headers trickled in forever are cut off by the port's
	// header timeout (SniffTimeout here), well before the client stops.
	c, err := net.Dial("tcp", n.rt.NodeEndpoint().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = c.SetReadDeadline(time.Now().Add(guard))
		_, _ = io.Copy(io.Discard, c)
	}()
	if _, err := c.Write([]byte("GET /info HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	trickled := 0
trickle:
	for deadline := time.Now().Add(guard); time.Now().Before(deadline); trickled++ {
		select {
		case <-closed:
			break trickle
		case <-time.After(50 * time.Millisecond):
			if _, err := c.Write([]byte("a")); err != nil {
				break trickle // closed by the node; the reader sees it too
			}
		}
	}
	select {
	case <-closed:
	case <-time.After(guard):
		t.Fatalf("a client trickling its headers was still connected after %d bytes", trickled)
	}

	// Still serving, both protocols.
	if code, _, _ := n.do(http.MethodGet, "/health/live"); code != http.StatusNoContent {
		t.Errorf("GET /health/live after the bad clients: %d", code)
	}
	if err := appendEvents(testContext(t), n.streams(), "after", 1); err != nil {
		t.Errorf("a gRPC append after the bad clients: %v", err)
	}
}

// HTTP/1.1 and gRPC clients loading one node at once: both keep being
// served. Every worker runs until both sides have their count, so each
// side's successes happened under the other's load. The deadline is a
// hang detector: a side that is starved never reaches its count.
func TestHTTPAndGRPCUnderLoadTogether(t *testing.T) {
	n := startNode(t, "n1", nil, netstack.Options{})
	waitUntil(t, "n1 to lead", func() bool { return n.state() == member.Leader })

	const httpWorkers, grpcWorkers = 8, 4
	const httpTarget, grpcTarget = 400, 100
	var httpOK, httpRefused, grpcOK atomic.Int64
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	deadline := time.Now().Add(guard)
	running := func() bool {
		return time.Now().Before(deadline) && (httpOK.Load() < httpTarget || grpcOK.Load() < grpcTarget)
	}
	ctx := testContext(t)
	paths := []string{"/info", "/stats", "/gossip", "/metrics", "/health/live", "/stats/es/queue"}
	var wg sync.WaitGroup
	for w := range httpWorkers {
		wg.Go(func() {
			for i := w; running(); i++ {
				resp, err := n.http.Get(n.base + paths[i%len(paths)])
				if err != nil {
					fail("GET %s: %v", paths[i%len(paths)], err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusServiceUnavailable:
					// A limit refusing at once (scrapes in flight,
					// requests in progress) is a clear answer, not
					// starvation; it is not counted as served.
					httpRefused.Add(1)
				case resp.StatusCode >= 300:
					fail("GET %s: %d", paths[i%len(paths)], resp.StatusCode)
					return
				default:
					httpOK.Add(1)
				}
			}
		})
	}
	for w := range grpcWorkers {
		wg.Go(func() {
			stream := fmt.Sprintf("load-%d", w)
			for i := 0; running(); i++ {
				if err := appendEvents(ctx, n.streams(), stream, 1); err != nil {
					fail("append to %s: %v", stream, err)
					return
				}
				if i%10 == 9 {
					if _, err := readEvents(ctx, n.streams(), stream); err != nil {
						fail("read %s: %v", stream, err)
						return
					}
				}
				grpcOK.Add(1)
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if httpOK.Load() < httpTarget || grpcOK.Load() < grpcTarget {
		t.Fatalf("one side starved: %d HTTP requests of %d, %d gRPC calls of %d served within %v",
			httpOK.Load(), httpTarget, grpcOK.Load(), grpcTarget, guard)
	}
	t.Logf("served %d HTTP requests (%d more refused by a limit) and %d gRPC appends side by side", httpOK.Load(), httpRefused.Load(), grpcOK.Load())
}
