package netstack

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
	"github.com/annal-db/annal/realnet/netstack/clusterpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// benchNode is a node for benchmarks, closed by b.Cleanup.
func benchNode(b *testing.B, name string) (*loop.Loop, *Stack) {
	b.Helper()
	l := loop.New(name, 0)
	s, err := New(l, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		l.Stop()
	})
	return l, s
}

// flood sends n copies of msg, refilling on Writable.
type flood struct {
	conn env.Conn
	msg  []byte
	left int
}

func (f *flood) fill() {
	for f.left > 0 {
		if err := f.conn.Send(f.msg); err != nil {
			return
		}
		f.left--
	}
}
func (f *flood) Established(env.Conn)      { f.fill() }
func (f *flood) Writable(env.Conn)         { f.fill() }
func (f *flood) Received(env.Conn, []byte) {}
func (f *flood) Closed(env.Conn, error)    {}

// counter counts received messages and signals at want.
type counter struct {
	want, got int
	done      chan struct{}
}

func (c *counter) Established(env.Conn) {}
func (c *counter) Writable(env.Conn)    {}
func (c *counter) Received(env.Conn, []byte) {
	c.got++
	if c.got == c.want {
		close(c.done)
	}
}
func (c *counter) Closed(env.Conn, error) {}

// BenchmarkStreamMessages measures messages per second over one
// replication connection on loopback, from one node's loop to another's.
func BenchmarkStreamMessages(b *testing.B) {
	for _, size := range []int{256, 4096} {
		b.Run("size="+strconv.Itoa(size), func(b *testing.B) {
			la, sa := benchNode(b, "receiver")
			lb, sb := benchNode(b, "sender")
			cnt := &counter{want: b.N, done: make(chan struct{})}
			var ln env.Listener
			var err error
			ready := make(chan struct{})
			_ = la.Post(func() {
				ln, err = sa.Listen(local, func(env.Conn) env.ConnHandler { return cnt })
				close(ready)
			})
			<-ready
			if err != nil {
				b.Fatal(err)
			}
			f := &flood{msg: make([]byte, size), left: b.N}
			b.SetBytes(int64(size))
			b.ResetTimer()
			_ = lb.Post(func() { f.conn = sb.Connect(ln.Addr(), f) })
			<-cnt.done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

type echo struct{}

func (echo) HandleRequest(_ env.Endpoint, _ string, req []byte, reply func([]byte, error)) {
	reply(req, nil)
}

// BenchmarkCalls measures cluster calls per second over the node port, from
// one node's loop to another's, with 1 and 16 calls outstanding.
func BenchmarkCalls(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run("outstanding="+strconv.Itoa(conc), func(b *testing.B) {
			la, sa := benchNode(b, "server")
			lb, sb := benchNode(b, "client")
			var p *NodePort
			var err error
			ready := make(chan struct{})
			_ = la.Post(func() { p, err = sa.ServeNode(local, echo{}); close(ready) })
			<-ready
			if err != nil {
				b.Fatal(err)
			}
			req := make([]byte, 256)
			var issued atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res := make(chan error, 1)
					for issued.Add(1) <= int64(b.N) {
						_ = lb.Post(func() {
							sb.Call(p.Addr(), "echo", req, guard, func(_ []byte, err error) { res <- err })
						})
						if err := <-res; err != nil {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d calls failed", n)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

type rawEcho struct {
	clusterpb.UnimplementedClusterServer
}

func (rawEcho) Call(_ context.Context, in *clusterpb.CallRequest) (*clusterpb.CallReply, error) {
	return &clusterpb.CallReply{Payload: in.Payload}, nil
}

// BenchmarkCallsBareGRPC is the baseline for BenchmarkCalls in the same
// run: the same service and payload on plain grpc-go, with no node loops,
// no port sniffing and no call channel policy.
func BenchmarkCallsBareGRPC(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	clusterpb.RegisterClusterServer(srv, rawEcho{})
	served := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(served) }()
	defer func() { srv.Stop(); <-served }()
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	client := clusterpb.NewClusterClient(cc)
	req := &clusterpb.CallRequest{Method: "echo", Payload: make([]byte, 256)}
	b.ResetTimer()
	for range b.N {
		if _, err := client.Call(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
