package netstack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every wait in the tests: it is a hang detector, never a
// speed assertion.
const guard = 20 * time.Second

// node is one loop and its network.
type node struct {
	t    *testing.T
	loop *loop.Loop
	net  *Stack
	log  *testLog
}

func newNode(t *testing.T, name string, opts Options) *node {
	t.Helper()
	return newNodeCap(t, name, 0, opts)
}

func newNodeCap(t *testing.T, name string, capacity int, opts Options) *node {
	t.Helper()
	l := loop.New(name, capacity)
	lg := &testLog{}
	if opts.Log == nil {
		opts.Log = lg
	}
	s, err := New(l, opts)
	if err != nil {
		l.Stop()
		t.Fatalf("New: %v", err)
	}
	n := &node{t: t, loop: l, net: s, log: lg}
	t.Cleanup(func() {
		s.Close()
		l.Stop()
	})
	return n
}

// on runs f on the node's loop and waits for it.
func (n *node) on(f func()) {
	n.t.Helper()
	done := make(chan struct{})
	if err := n.loop.Post(func() { f(); close(done) }); err != nil {
		n.t.Fatalf("post to %s: %v", n.loop.Name(), err)
	}
	wait(n.t, done, "an input on "+n.loop.Name())
}

// pause blocks the node's loop until the returned function is called.
func (n *node) pause() (resume func()) {
	n.t.Helper()
	entered := make(chan struct{})
	gate := make(chan struct{})
	if err := n.loop.Post(func() { close(entered); <-gate }); err != nil {
		n.t.Fatal(err)
	}
	wait(n.t, entered, "the loop to pause")
	var once sync.Once
	resume = func() { once.Do(func() { close(gate) }) }
	n.t.Cleanup(resume)
	return resume
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(guard):
		t.Fatalf("waited %v for %s; it never happened", guard, what)
	}
}

// testLog keeps the stack's log lines.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) Log(level env.Level, msg string) {
	l.mu.Lock()
	l.lines = append(l.lines, level.String()+" "+msg)
	l.mu.Unlock()
}

func (l *testLog) find(level env.Level, substr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.HasPrefix(s, level.String()+" ") && strings.Contains(s, substr) {
			return s
		}
	}
	return ""
}

func (l *testLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// event is one ConnHandler callback.
type event struct {
	kind string // established, received, writable, closed
	conn env.Conn
	msg  []byte
	err  error
}

// recorder is a ConnHandler that reports every callback on a channel.
type recorder struct {
	events chan event
}

func newRecorder() *recorder { return &recorder{events: make(chan event, 1<<16)} }

func (r *recorder) Established(c env.Conn) { r.events <- event{kind: "established", conn: c} }
func (r *recorder) Received(c env.Conn, m []byte) {
	r.events <- event{kind: "received", conn: c, msg: m}
}
func (r *recorder) Writable(c env.Conn) { r.events <- event{kind: "writable", conn: c} }
func (r *recorder) Closed(c env.Conn, err error) {
	r.events <- event{kind: "closed", conn: c, err: err}
}
func (r *recorder) accept(c env.Conn) env.ConnHandler { return r }

// next returns the next event that is not a Writable (unless kind asks
// for one), failing if its kind is not the one wanted.
func (r *recorder) next(t *testing.T, kind string) event {
	t.Helper()
	for {
		select {
		case e := <-r.events:
			if e.kind == "writable" && kind != "writable" {
				continue
			}
			if e.kind != kind {
				t.Fatalf("got event %s (err %v), want %s", e.kind, e.err, kind)
			}
			return e
		case <-time.After(guard):
			t.Fatalf("waited %v for event %s; none came", guard, kind)
		}
	}
}

// none checks that no event other than Writable is pending now.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	for {
		select {
		case e := <-r.events:
			if e.kind != "writable" {
				t.Fatalf("unexpected event %s (err %v)", e.kind, e.err)
			}
		default:
			return
		}
	}
}

// seqMsg is message i: its number, then filler of a size that varies with
// i, so that order and integrity are both checked.
func seqMsg(i, maxSize int) []byte {
	size := 8 + (i*7919)%maxSize
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, uint64(i))
	for j := 8; j < size; j++ {
		b[j] = byte(i + j)
	}
	return b
}

func checkSeqMsg(m []byte, want, maxSize int) error {
	if exp := seqMsg(want, maxSize); !bytes.Equal(m, exp) {
		got := -1
		if len(m) >= 8 {
			got = int(binary.LittleEndian.Uint64(m))
		}
		return fmt.Errorf("message %d: got %d bytes numbered %d, want %d bytes numbered %d", want, len(m), got, len(exp), want)
	}
	return nil
}

// pump sends count numbered messages on c from the loop, waiting for
// Writable when the queue is full. It is a ConnHandler that also checks
// the messages it receives and counts them.
type pump struct {
	t        *testing.T
	maxSize  int
	toSend   int
	sent     int
	fulls    int
	received int
	bad      error
	closed   chan error
	doneRecv chan struct{}
	wantRecv int
	conn     env.Conn
	accepted chan env.Conn
	estab    chan struct{}
}

func newPump(t *testing.T, toSend, wantRecv, maxSize int) *pump {
	return &pump{t: t, maxSize: maxSize, toSend: toSend, wantRecv: wantRecv,
		closed: make(chan error, 1), doneRecv: make(chan struct{}), accepted: make(chan env.Conn, 1), estab: make(chan struct{})}
}

func (p *pump) accept(c env.Conn) env.ConnHandler {
	p.conn = c
	p.accepted <- c
	p.fill()
	return p
}

// fill sends until the quota is met or the queue is full. Loop only.
func (p *pump) fill() {
	for p.sent < p.toSend {
		err := p.conn.Send(seqMsg(p.sent, p.maxSize))
		if err != nil {
			if isQueueFull(err) {
				p.fulls++
				return
			}
			p.bad = fmt.Errorf("send %d: %w", p.sent, err)
			return
		}
		p.sent++
	}
}

func (p *pump) Established(env.Conn) { close(p.estab); p.fill() }
func (p *pump) Writable(env.Conn)    { p.fill() }
func (p *pump) Received(_ env.Conn, m []byte) {
	if p.bad == nil {
		if err := checkSeqMsg(m, p.received, p.maxSize); err != nil {
			p.bad = err
		}
	}
	p.received++
	if p.received == p.wantRecv {
		close(p.doneRecv)
	}
}
func (p *pump) Closed(_ env.Conn, err error) { p.closed <- err }

func isQueueFull(err error) bool { return errors.Is(err, env.ErrSendQueueFull) }

// local is a loopback endpoint with a port the kernel picks.
var local = env.Endpoint{Host: "127.0.0.1"}
