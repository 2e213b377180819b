package network

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testExec runs each input at now+cost on the world's queue; paused, it
// holds inputs until resume (a process that does not run).
type testExec struct {
	w      *world.World
	paused bool
	held   []heldInput
	ran    int
}

type heldInput struct {
	cost time.Duration
	in   world.Input
}

func (x *testExec) Exec(cost time.Duration, in world.Input) {
	if x.paused {
		x.held = append(x.held, heldInput{cost, in})
		return
	}
	x.w.Func(cost, func() { x.ran++; in.Run() })
}

func (x *testExec) resume() {
	x.paused = false
	held := x.held
	x.held = nil
	for _, h := range held {
		x.Exec(h.cost, h.in)
	}
}

// fixture is one world with one fabric.
type fixture struct {
	t *testing.T
	w *world.World
	f *Fabric
}

// quietConfig has a fixed latency, no loss, and no CPU cost, so that
// timings in tests are exact.
func quietConfig() Config {
	c := DefaultConfig()
	c.Link = LinkProfile{Latency: time.Millisecond}
	c.Loopback = LinkProfile{Latency: 10 * time.Microsecond}
	c.MessageCPU, c.ByteCPU = 0, 0
	return c
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	w := world.New(1, nil)
	return &fixture{t: t, w: w, f: New(w, cfg)}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func (fx *fixture) host(name, realm, a string) *Host {
	return fx.f.AddHost(name, realm, addr(a))
}

func (fx *fixture) stack(h *Host) (*Stack, *testExec) {
	x := &testExec{w: fx.w}
	return h.NewStack(x), x
}

func (fx *fixture) run(d time.Duration) { fx.w.RunUntil(fx.w.Now() + d) }

func (fx *fixture) now() time.Duration { return fx.w.Now() }

// connLog records one connection's events.
type connLog struct {
	w             *world.World
	conn          env.Conn
	established   bool
	establishedAt time.Duration
	msgs          [][]byte
	at            []time.Duration
	writable      int
	closed        bool
	closedAt      time.Duration
	closes        int
	err           error
	onRecv        func(c env.Conn, msg []byte)
	onWritable    func(c env.Conn)
}

func newLog(w *world.World) *connLog { return &connLog{w: w} }

func (l *connLog) Established(c env.Conn) {
	l.conn = c
	l.established = true
	l.establishedAt = l.w.Now()
}

func (l *connLog) Received(c env.Conn, msg []byte) {
	l.conn = c
	l.msgs = append(l.msgs, msg)
	l.at = append(l.at, l.w.Now())
	if l.onRecv != nil {
		l.onRecv(c, msg)
	}
}

func (l *connLog) Writable(c env.Conn) {
	l.writable++
	if l.onWritable != nil {
		l.onWritable(c)
	}
}

func (l *connLog) Closed(c env.Conn, reason error) {
	l.closes++
	l.closed = true
	l.closedAt = l.w.Now()
	l.err = reason
}

// server listens on ep and logs every accepted connection.
type server struct {
	logs []*connLog
	l    env.Listener
}

func (fx *fixture) listen(s *Stack, ep string) *server {
	fx.t.Helper()
	e, err := env.ParseEndpoint(ep)
	if err != nil {
		fx.t.Fatal(err)
	}
	srv := &server{}
	l, err := s.Listen(e, func(c env.Conn) env.ConnHandler {
		lg := newLog(fx.w)
		lg.conn = c
		srv.logs = append(srv.logs, lg)
		return lg
	})
	if err != nil {
		fx.t.Fatalf("listen on %s: %v", ep, err)
	}
	srv.l = l
	return srv
}

func (fx *fixture) dial(s *Stack, ep string) (env.Conn, *connLog) {
	fx.t.Helper()
	e, err := env.ParseEndpoint(ep)
	if err != nil {
		fx.t.Fatal(err)
	}
	lg := newLog(fx.w)
	c := s.Connect(e, lg)
	lg.conn = c
	return c, lg
}

// stamp makes a message carrying its sequence number and send time.
func stamp(seq int, at time.Duration, size int) []byte {
	b := make([]byte, max(size, 16))
	binary.BigEndian.PutUint64(b, uint64(seq))
	binary.BigEndian.PutUint64(b[8:], uint64(at))
	return b
}

func unstamp(b []byte) (int, time.Duration) {
	return int(binary.BigEndian.Uint64(b)), time.Duration(binary.BigEndian.Uint64(b[8:]))
}

// newTracedWorld is a world whose trace hash the test reads.
func newTracedWorld(seed uint64) *world.World { return world.New(seed, trace.New(nil)) }

// connected is a fixture with one connection from host a (10.0.0.1) to a
// listener on host b (10.0.0.2:1112), established; xb runs b's process.
func connected(t *testing.T, cfg Config) (fx *fixture, c env.Conn, cl *connLog, srv *server, xb *testExec) {
	t.Helper()
	fx = newFixture(t, cfg)
	a := fx.host("a", "", "10.0.0.1")
	b := fx.host("b", "", "10.0.0.2")
	sa, _ := fx.stack(a)
	sb, xb := fx.stack(b)
	srv = fx.listen(sb, "10.0.0.2:1112")
	c, cl = fx.dial(sa, "10.0.0.2:1112")
	fx.run(10 * time.Millisecond)
	return fx, c, cl, srv, xb
}
