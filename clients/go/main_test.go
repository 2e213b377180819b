package clienttests

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// grpcConnInternals are the goroutines of a *grpc.ClientConn. The client
// leaks one connection each time it rediscovers after an unavailable node
// (its connection state machine drops the old connection without closing
// it), which the failover tests make it do; those connections' goroutines
// are the client's, not the tests'.
var grpcConnInternals = []goleak.Option{
	goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc.(*addrConn).resetTransportAndUnlock"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Client).reader"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Client).keepalive"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*loopyWriter).run"),
}

func TestMain(m *testing.M) {
	code := m.Run()
	// A test that failed half-way may have left nodes running.
	killAllProcesses()
	if code == 0 {
		// Every subscription reader and process watcher the tests started
		// must be gone once those tests have ended.
		if err := goleak.Find(grpcConnInternals...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
