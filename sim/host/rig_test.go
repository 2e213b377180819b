package host

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ms = time.Millisecond
	us = time.Microsecond
)

// rig is one world with one network fabric, and a text trace to search.
type rig struct {
	t   *testing.T
	w   *world.World
	fab *network.Fabric
	out *bytes.Buffer
}

// exactNet has a fixed link latency and no jitter or loss, so that the
// times tests assert are exact.
func exactNet() network.Config {
	c := network.DefaultConfig()
	c.Link = network.LinkProfile{Latency: ms}
	c.Loopback = network.LinkProfile{Latency: 10 * us}
	return c
}

func newRig(t *testing.T, seed uint64, cfg network.Config) *rig {
	t.Helper()
	out := &bytes.Buffer{}
	w := world.New(seed, trace.New(out))
	return &rig{t: t, w: w, fab: network.New(w, cfg), out: out}
}

func (r *rig) host(name, addr string, timerCPU time.Duration, prog Program) *Host {
	return New(r.w, r.fab, Config{
		Name:     name,
		Addrs:    []netip.Addr{netip.MustParseAddr(addr)},
		Disk:     disk.DefaultConfig(),
		TimerCPU: timerCPU,
		LogLevel: env.LevelDebug,
	}, prog, nil)
}

func (r *rig) run(d time.Duration) { r.w.RunUntil(r.w.Now() + d) }

// traced reports whether a trace line contains all the given parts.
func (r *rig) traced(parts ...string) bool {
	r.t.Helper()
	if err := r.w.Trace.Flush(); err != nil {
		r.t.Fatal(err)
	}
	for line := range strings.SplitSeq(r.out.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// idle is a program that does nothing.
func idle(env.Env) func() { return func() {} }

// conn records one connection's events as its process sees them.
type conn struct {
	w           *world.World
	c           env.Conn
	established time.Duration // -1 until then
	msgs        []string
	recvAt      []time.Duration
	closed      bool
	closedAt    time.Duration
	reason      error
}

func newConn(w *world.World) *conn { return &conn{w: w, established: -1} }

func (c *conn) Established(cn env.Conn) { c.c, c.established = cn, c.w.Now() }

func (c *conn) Received(cn env.Conn, msg []byte) {
	c.c = cn
	c.msgs = append(c.msgs, string(msg))
	c.recvAt = append(c.recvAt, c.w.Now())
}

func (c *conn) Writable(env.Conn) {}

func (c *conn) Closed(_ env.Conn, reason error) {
	if c.closed {
		panic("Closed reported twice for one connection")
	}
	c.closed, c.closedAt, c.reason = true, c.w.Now(), reason
}

// server is a program that listens on port 7000 and records every accepted
// connection, across incarnations.
type server struct {
	w        *world.World
	accepted []*conn
	onAccept func(c *conn)
	listenOK int
}

const port = 7000

func (s *server) program(e env.Env) func() {
	_, err := e.Net.Listen(env.Endpoint{Host: "0.0.0.0", Port: port}, func(c env.Conn) env.ConnHandler {
		cn := newConn(s.w)
		cn.c = c
		s.accepted = append(s.accepted, cn)
		if s.onAccept != nil {
			s.onAccept(cn)
		}
		return cn
	})
	if err != nil {
		panic("listen: " + err.Error())
	}
	s.listenOK++
	return func() {}
}

// client is a program that dials addr:7000 once at start.
type client struct {
	w     *world.World
	addr  string
	conns []*conn
	env   env.Env
}

func (c *client) program(e env.Env) func() {
	c.env = e
	c.dial()
	return func() {}
}

func (c *client) dial() *conn {
	cn := newConn(c.w)
	cn.c = c.env.Net.Connect(env.Endpoint{Host: c.addr, Port: port}, cn)
	c.conns = append(c.conns, cn)
	return cn
}

func (c *client) last() *conn { return c.conns[len(c.conns)-1] }
