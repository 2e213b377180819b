package netstack

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annal-db/annal/core/env"
)

// Buffer sizes and the reader's batching bound: messages already buffered
// go to the loop together, one input per batch rather than per message.
const (
	readBufferSize  = 64 << 10
	writeBufferSize = 64 << 10
	maxBatchCount   = 256
	maxBatchBytes   = 256 << 10
	// progressEvery spaces the reports of bytes received before a whole
	// message (env.ProgressHandler): often enough for any heartbeat
	// interval worth having, rare enough to cost nothing.
	progressEvery = 10 * time.Millisecond
)

// conn is one stream connection: the node's env.Conn, a reader goroutine
// handing whole messages to the loop and a writer goroutine draining the
// send queue.
type conn struct {
	s  *Stack
	id uint64
	h  env.ConnHandler // set before the reader starts; used on the loop

	dialCancel context.CancelFunc // dialed connections: abandons the dial

	// appClosed: Close was called, no callback runs for it any more.
	appClosed atomic.Bool
	// closedReported is touched only on the loop.
	closedReported bool
	// progressPending: a Progress waits on the loop (one at a time).
	progressPending atomic.Bool

	wake chan struct{} // one token: the writer has something to look at

	mu              sync.Mutex
	nc              *net.TCPConn // nil while dialing
	tc              *tls.Conn    // TLS over nc; nil in cleartext
	local, remote   env.Endpoint
	queue           [][]byte // waiting for the writer
	count, bytes    int      // queued, including the batch being written
	wantWritable    bool     // a Send was refused: signal when half empty
	wantDrained     bool     // NotifyDrained: signal when empty
	writablePending bool     // a Writable is on its way to the loop
	closing         bool     // Close was called: flush, then FIN
	broken          error    // why the connection ended; nil while it lives
}

var _ env.Conn = (*conn)(nil)

func (s *Stack) newConn(nc *net.TCPConn, remote env.Endpoint) (*conn, bool) {
	c := &conn{s: s, id: s.nextID.Add(1), nc: nc, remote: remote, wake: make(chan struct{}, 1)}
	if nc != nil {
		c.local, c.remote = endpointOf(nc.LocalAddr()), endpointOf(nc.RemoteAddr())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return c, false
	}
	s.conns[c] = struct{}{}
	return c, true
}

func (s *Stack) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// ID implements env.Conn.
func (c *conn) ID() uint64 { return c.id }

// Local implements env.Conn; empty until a dialed connection is up.
func (c *conn) Local() env.Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.local
}

// Remote implements env.Conn: the peer's address, or the endpoint as
// dialed until the connection is up.
func (c *conn) Remote() env.Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

func (c *conn) names() (local, remote string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local != (env.Endpoint{}) {
		local = c.local.String()
	}
	return local, c.remote.String()
}

// Queued implements env.Conn: messages not yet written to the socket.
func (c *conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return 0
	}
	return c.count
}

// NotifyDrained implements env.Conn: the queue has drained when every
// message is written to the socket.
func (c *conn) NotifyDrained() {
	c.mu.Lock()
	signal := false
	switch {
	case c.closing || c.broken != nil:
	case c.count > 0:
		c.wantDrained = true
	case !c.writablePending:
		c.writablePending = true
		signal = true
	}
	c.mu.Unlock()
	if signal {
		c.s.deliver(c.writable)
	}
}

// Send implements env.Conn.
func (c *conn) Send(msg []byte) error {
	if len(msg) > env.MaxMessageSize {
		l, r := c.names()
		return &NetError{Op: "send", Local: l, Remote: r, Err: env.ErrMessageTooLarge,
			Cause: fmt.Errorf("message of %d bytes, the limit is %d", len(msg), env.MaxMessageSize)}
	}
	data := make([]byte, len(msg))
	copy(data, msg)
	o := &c.s.opts
	c.mu.Lock()
	if c.closing || c.broken != nil {
		c.mu.Unlock()
		return c.sendErr(env.ErrClosed, errors.New("the connection is closed or broken"))
	}
	if c.count >= o.SendQueueLimit || (c.count > 0 && c.bytes+len(data) > o.SendQueueBytes) {
		c.wantWritable = true
		n, b := c.count, c.bytes
		c.mu.Unlock()
		return c.sendErr(env.ErrSendQueueFull, fmt.Errorf("%d messages (%d bytes) wait, the limits are %d messages and %d bytes; wait for Writable",
			n, b, o.SendQueueLimit, o.SendQueueBytes))
	}
	c.queue = append(c.queue, data)
	c.count++
	c.bytes += len(data)
	first := len(c.queue) == 1
	c.mu.Unlock()
	if first {
		c.wakeWriter()
	}
	return nil
}

func (c *conn) sendErr(err, cause error) error {
	l, r := c.names()
	return &NetError{Op: "send", Local: l, Remote: r, Err: err, Cause: cause}
}

func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close implements env.Conn: the writer flushes what is queued (for at most
// CloseLinger), then sends FIN; the reader discards until the peer closes
// too. A connection still dialing is abandoned.
func (c *conn) Close() {
	if c.appClosed.Swap(true) {
		return
	}
	c.mu.Lock()
	c.closing = true
	nc, broken := c.nc, c.broken
	c.mu.Unlock()
	if nc == nil {
		if c.dialCancel != nil {
			c.dialCancel()
		}
		return
	}
	if broken == nil {
		_ = nc.SetDeadline(time.Now().Add(c.s.opts.CloseLinger))
	}
	c.wakeWriter()
}

// breakWith ends the connection with reason unless it has ended already,
// and returns the reason it ended with. rst resets it (SO_LINGER 0) so the
// peer sees ErrReset.
func (c *conn) breakWith(reason error, rst bool) error {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = reason
	}
	reason = c.broken
	nc := c.nc
	c.queue = nil
	c.mu.Unlock()
	if nc != nil {
		if rst {
			_ = nc.SetLinger(0)
		}
		_ = nc.Close()
	} else if c.dialCancel != nil {
		c.dialCancel()
	}
	c.wakeWriter()
	return reason
}

// abort is the stack's shutdown of the connection.
func (c *conn) abort(reason error, rst bool) {
	c.appClosed.Store(true)
	c.breakWith(reason, rst)
}

// ---- events on the loop ----

func (c *conn) established() {
	if c.appClosed.Load() || c.closedReported {
		return
	}
	c.h.Established(c)
}

func (c *conn) received(batch [][]byte) {
	for _, m := range batch {
		if c.appClosed.Load() || c.closedReported {
			return
		}
		c.h.Received(c, m)
	}
}

func (c *conn) writable() {
	c.mu.Lock()
	c.writablePending = false
	c.mu.Unlock()
	if c.appClosed.Load() || c.closedReported {
		return
	}
	c.h.Writable(c)
}

func (c *conn) progressed() {
	c.progressPending.Store(false)
	if c.appClosed.Load() || c.closedReported {
		return
	}
	if ph, ok := c.h.(env.ProgressHandler); ok {
		ph.Progress(c)
	}
}

func (c *conn) reportClosed(reason error) {
	if c.appClosed.Load() || c.closedReported {
		return
	}
	c.closedReported = true
	c.h.Closed(c, reason)
}

// ---- goroutines ----

// start runs the writer on its own goroutine and the reader on this one.
func (c *conn) start() {
	c.mu.Lock()
	nc, tc := c.nc, c.tc
	c.mu.Unlock()
	var stream net.Conn = nc
	if tc != nil {
		stream = tc
	}
	if !c.s.spawn(func() { c.writeLoop(stream, nc, tc) }) {
		c.breakWith(errStackClosed, false)
	}
	c.readLoop(stream)
}

// dial connects, then becomes the connection's reader.
func (c *conn) dial(ctx context.Context, to env.Endpoint) {
	d := net.Dialer{Timeout: c.s.opts.ConnectTimeout, KeepAlive: -1}
	nc, err := d.DialContext(ctx, "tcp", to.String())
	if err != nil {
		c.s.forget(c)
		if c.appClosed.Load() {
			return // abandoned by Close or the stack's shutdown
		}
		reason := c.breakWith(&NetError{Op: "connect", Remote: to.String(), Err: classifyDial(err), Cause: err}, false)
		c.s.logf(env.LevelDebug, "%v", reason)
		c.s.deliver(func() { c.reportClosed(reason) })
		return
	}
	raw := nc.(*net.TCPConn)
	_ = raw.SetNoDelay(true)
	var tc *tls.Conn
	if c.s.opts.TLS != nil {
		tc, err = c.s.clientHandshake(ctx, raw, c.s.opts.TLS.Peer)
	}
	c.dialCancel() // the dial is over; a cancel now affects nothing
	if err != nil {
		_ = raw.Close()
		c.s.forget(c)
		if c.appClosed.Load() {
			return
		}
		reason := c.breakWith(&NetError{Op: "connect", Remote: to.String(), Err: classifyHandshake(err), Cause: err}, false)
		c.s.logf(env.LevelWarn, "netstack: replication connection to %s: %v", to, err)
		c.s.deliver(func() { c.reportClosed(reason) })
		return
	}
	c.mu.Lock()
	if c.appClosed.Load() || c.broken != nil {
		c.mu.Unlock()
		_ = raw.Close()
		c.s.forget(c)
		return
	}
	c.nc, c.tc = raw, tc
	c.local, c.remote = endpointOf(raw.LocalAddr()), endpointOf(raw.RemoteAddr())
	c.mu.Unlock()
	c.s.deliver(c.established)
	c.start()
}

// readLoop hands whole messages to the loop until the connection ends,
// then reports why (after every message it read).
func (c *conn) readLoop(stream io.Reader) {
	fr := frameReader{br: bufio.NewReaderSize(&progressReader{r: stream, c: c}, readBufferSize)}
	var err error
	for err == nil {
		var batch [][]byte
		size := 0
		var msg []byte
		msg, err = fr.read()
		for err == nil {
			batch = append(batch, msg)
			size += len(msg)
			if len(batch) >= maxBatchCount || size >= maxBatchBytes || !fr.buffered() {
				break
			}
			msg, err = fr.read()
		}
		if len(batch) > 0 && !c.appClosed.Load() {
			if perr := c.s.post(func() { c.received(batch) }); perr != nil {
				err = fmt.Errorf("the node's loop stopped: %w", perr)
			}
		}
	}
	malformed := errors.Is(err, ErrMalformedFrame)
	l, r := c.names()
	cause := &NetError{Op: "read", Local: l, Remote: r, Err: classifyBreak(err), Cause: err}
	if malformed {
		cause.Err = env.ErrReset
		c.s.logf(env.LevelError, "netstack: connection %d %s <- %s: %v; the connection is reset, others are unaffected", c.id, l, r, err)
	}
	if isTLSAlert(err) && !c.appClosed.Load() {
		// In TLS 1.3 a peer refuses our certificate after our side of the
		// handshake is over: the refusal arrives here.
		c.s.logf(env.LevelWarn, "netstack: connection %d %s <- %s: the peer ended TLS: %v", c.id, l, r, err)
	}
	reason := c.breakWith(cause, malformed)
	c.s.forget(c)
	if !c.appClosed.Load() {
		c.s.deliver(func() { c.reportClosed(reason) })
	}
}

// progressReader tells the node, at most every progressEvery and one
// report at a time, that bytes arrived: the reader may be in the middle
// of a message that takes longer than a heartbeat interval to arrive, and
// the peer is alive all the same (as EventStoreDB counts bytes received,
// not messages).
type progressReader struct {
	r    io.Reader
	c    *conn
	last time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		if now := time.Now(); now.Sub(p.last) >= progressEvery && !p.c.appClosed.Load() &&
			p.c.progressPending.CompareAndSwap(false, true) {
			p.last = now
			p.c.s.deliver(p.c.progressed)
		}
	}
	return n, err
}

// writeLoop writes queued messages in batches, one flush (usually one
// system call) per batch, to stream (raw, or tc over it).
func (c *conn) writeLoop(stream io.Writer, raw *net.TCPConn, tc *tls.Conn) {
	bw := bufio.NewWriterSize(stream, writeBufferSize)
	var batch [][]byte
	hdr := make([]byte, 0, frameHeader)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closing && c.broken == nil {
			c.mu.Unlock()
			<-c.wake
			c.mu.Lock()
		}
		if c.broken != nil {
			c.mu.Unlock()
			return
		}
		if len(c.queue) == 0 {
			// Closing with everything written: close_notify under TLS,
			// then FIN; the reader waits for the peer's.
			c.mu.Unlock()
			if tc != nil {
				_ = tc.CloseWrite()
			}
			_ = raw.CloseWrite()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()
		size := 0
		for _, m := range batch {
			hdr = appendFrameHeader(hdr[:0], m)
			_, _ = bw.Write(hdr)
			_, _ = bw.Write(m)
			size += len(m)
		}
		err := bw.Flush()
		n := len(batch)
		clear(batch)
		if err != nil {
			l, r := c.names()
			c.breakWith(&NetError{Op: "write", Local: l, Remote: r, Err: classifyBreak(err), Cause: err}, false)
			return
		}
		c.sent(n, size)
	}
}

// sent accounts for a written batch and owes the node a Writable when a
// refused sender may go on, or when the queue has drained and the node
// asked to know (NotifyDrained).
func (c *conn) sent(n, size int) {
	o := &c.s.opts
	c.mu.Lock()
	c.count -= n
	c.bytes -= size
	signal := c.count == 0 && c.wantDrained
	if signal {
		c.wantDrained = false
	}
	if c.wantWritable && c.count <= o.SendQueueLimit/2 && c.bytes <= o.SendQueueBytes/2 {
		c.wantWritable = false
		signal = true
	}
	signal = signal && !c.writablePending && !c.closing
	if signal {
		c.writablePending = true
	}
	c.mu.Unlock()
	if signal {
		c.s.deliver(c.writable)
	}
}
