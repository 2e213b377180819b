package netstack

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// listen binds a replication listener on loopback from the node's loop.
func (n *node) listen(accept func(env.Conn) env.ConnHandler) env.Listener {
	n.t.Helper()
	var ln env.Listener
	var err error
	n.on(func() { ln, err = n.net.Listen(local, accept) })
	if err != nil {
		n.t.Fatalf("Listen: %v", err)
	}
	return ln
}

func (n *node) connect(to env.Endpoint, h env.ConnHandler) env.Conn {
	n.t.Helper()
	var c env.Conn
	n.on(func() { c = n.net.Connect(to, h) })
	return c
}

func TestMessagesArriveWholeAndInOrderBothWays(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	const count, maxSize = 3000, 5000
	server := newPump(t, count, count, maxSize)
	ln := a.listen(server.accept)
	client := newPump(t, count, count, maxSize)
	b.on(func() { client.conn = b.net.Connect(ln.Addr(), client) })
	wait(t, client.estab, "the dialed connection to be established")
	wait(t, server.doneRecv, "the server to receive every message")
	wait(t, client.doneRecv, "the client to receive every message")

	var serverConn env.Conn
	a.on(func() {
		if server.bad != nil {
			t.Errorf("server side: %v", server.bad)
		}
		serverConn = server.conn
	})
	b.on(func() {
		if client.bad != nil {
			t.Errorf("client side: %v", client.bad)
		}
		if client.conn.Local() != serverConn.Remote() || client.conn.Remote() != serverConn.Local() {
			t.Errorf("endpoints disagree: client %v -> %v, server %v <- %v",
				client.conn.Local(), client.conn.Remote(), serverConn.Local(), serverConn.Remote())
		}
		if client.conn.Remote() != ln.Addr() {
			t.Errorf("client's remote is %v, want the listener's %v", client.conn.Remote(), ln.Addr())
		}
		client.conn.Close()
	})
	select {
	case err := <-server.closed:
		if !errors.Is(err, env.ErrClosed) {
			t.Fatalf("server saw the client's Close as %v; want env.ErrClosed", err)
		}
	case <-time.After(guard):
		t.Fatal("the server never saw the client close")
	}
	select {
	case err := <-client.closed:
		t.Fatalf("Closed(%v) was delivered after Close; a closed connection must report nothing further", err)
	default:
	}
}

func TestBackpressurePausedReceiverFillsTheQueueThenWritableResumes(t *testing.T) {
	receiver := newNodeCap(t, "receiver", 2, Options{})
	sender := newNode(t, "sender", Options{SendQueueLimit: 16, SendQueueBytes: 512 << 10})
	const size = 64 << 10
	// 400 x 64 KiB is well past what loopback's socket buffers hold.
	const count = 400
	recv := newPump(t, 0, count, size)
	ln := receiver.listen(recv.accept)
	send := newPump(t, count, 0, size)
	resume := receiver.pause()
	sender.on(func() { send.conn = sender.net.Connect(ln.Addr(), send) })
	wait(t, send.estab, "the connection to be established")

	// With the receiver's loop paused its reader stops, TCP's windows
	// close, and the send queue must fill and stay full.
	var sent, fulls, queued int
	lastSent, still := -1, 0
	for still < 5 {
		time.Sleep(100 * time.Millisecond)
		sender.on(func() { sent, fulls, queued = send.sent, send.fulls, send.conn.Queued() })
		if sent == count {
			t.Fatalf("all %d messages of %d bytes were sent while the receiver was paused; backpressure is missing", count, size)
		}
		if sent == lastSent {
			still++
		} else {
			lastSent, still = sent, 0
		}
	}
	if fulls == 0 {
		t.Fatalf("sending stalled after %d messages without Send ever returning env.ErrSendQueueFull", sent)
	}
	if queued == 0 {
		t.Fatalf("sending stalled after %d messages with an empty send queue", sent)
	}

	resume()
	wait(t, recv.doneRecv, "the receiver to get every message once resumed")
	receiver.on(func() {
		if recv.bad != nil {
			t.Fatal(recv.bad)
		}
	})
	sender.on(func() {
		if send.sent != count || send.bad != nil {
			t.Fatalf("sender sent %d of %d (%v); Writable must let it finish", send.sent, count, send.bad)
		}
	})
	t.Logf("stalled after %d messages with %d queued; %d refusals", sent, queued, fulls)
}

func frame(payload []byte, sum uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, sum)
	return append(b, payload...)
}

func TestMalformedFramesCloseThatConnectionOnly(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	rec := newRecorder()
	ln := a.listen(rec.accept)
	good := []byte("hello")
	cases := []struct {
		name  string
		bytes []byte
		log   string
	}{
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "above the limit"},
		{"oversized", append(binary.LittleEndian.AppendUint32(nil, env.MaxMessageSize+1), 0, 0, 0, 0), "above the limit"},
		{"bad checksum", frame(good, crc32.Checksum(good, castagnoli)+1), "CRC-32C"},
	}

	// A healthy connection stays up throughout.
	keep := newRecorder()
	kept := b.connect(ln.Addr(), keep)
	keep.next(t, "established")

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			e := rec.next(t, "closed")
			if !errors.Is(e.err, ErrMalformedFrame) || !errors.Is(e.err, env.ErrReset) {
				t.Fatalf("Closed(%v); want env.ErrReset wrapping ErrMalformedFrame", e.err)
			}
			if line := a.log.find(env.LevelError, tc.log); line == "" {
				t.Fatalf("no error logged mentioning %q; log:\n%s", tc.log, a.log.all())
			}
			_ = raw.SetReadDeadline(time.Now().Add(guard))
			if _, err := io.ReadAll(raw); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the offending client's connection was not closed: %v", err)
			}
		})
	}

	var err error
	b.on(func() { err = kept.Send([]byte("still here")) })
	if err != nil {
		t.Fatal(err)
	}
	e := rec.next(t, "received")
	if string(e.msg) != "still here" {
		t.Fatalf("the healthy connection delivered %q", e.msg)
	}
	keep.none(t)
}

func TestTruncatedFrameThenEOFIsAClose(t *testing.T) {
	a := newNode(t, "a", Options{})
	rec := newRecorder()
	ln := a.listen(rec.accept)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	whole := frame([]byte("complete"), crc32.Checksum([]byte("complete"), castagnoli))
	part := frame(make([]byte, 100), 0)[:20]
	if _, err := raw.Write(append(whole, part...)); err != nil {
		t.Fatal(err)
	}
	_ = raw.(*net.TCPConn).CloseWrite()
	if e := rec.next(t, "received"); string(e.msg) != "complete" {
		t.Fatalf("received %q, want the complete frame", e.msg)
	}
	e := rec.next(t, "closed")
	if !errors.Is(e.err, env.ErrClosed) || !errors.Is(e.err, io.ErrUnexpectedEOF) {
		t.Fatalf("Closed(%v); a peer closing inside a frame is env.ErrClosed with io.ErrUnexpectedEOF", e.err)
	}
}

func TestEmptyMessagesAndTooLarge(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	rec := newRecorder()
	ln := a.listen(rec.accept)
	h := newRecorder()
	c := b.connect(ln.Addr(), h)
	h.next(t, "established")
	var errEmpty, errBig error
	b.on(func() {
		errEmpty = c.Send(nil)
		errBig = c.Send(make([]byte, env.MaxMessageSize+1))
	})
	if errEmpty != nil {
		t.Fatalf("Send(empty): %v", errEmpty)
	}
	if !errors.Is(errBig, env.ErrMessageTooLarge) {
		t.Fatalf("Send of MaxMessageSize+1 bytes: %v; want env.ErrMessageTooLarge", errBig)
	}
	if e := rec.next(t, "received"); len(e.msg) != 0 {
		t.Fatalf("an empty message arrived as %d bytes", len(e.msg))
	}
	b.on(func() { c.Close() })
	var err error
	b.on(func() { err = c.Send([]byte("x")) })
	if !errors.Is(err, env.ErrClosed) {
		t.Fatalf("Send after Close: %v; want env.ErrClosed", err)
	}
}

func TestCloseFlushesQueuedMessagesAndReportsNothing(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	const count, size = 200, 2000
	recv := newPump(t, 0, count, size)
	ln := a.listen(recv.accept)
	h := newRecorder()
	c := b.connect(ln.Addr(), h)
	h.next(t, "established")
	b.on(func() {
		for i := range count {
			if err := c.Send(seqMsg(i, size)); err != nil {
				t.Errorf("send %d: %v", i, err)
			}
		}
		c.Close()
	})
	wait(t, recv.doneRecv, "every message queued before Close to arrive")
	select {
	case err := <-recv.closed:
		if !errors.Is(err, env.ErrClosed) {
			t.Fatalf("the receiver saw %v; want env.ErrClosed", err)
		}
	case <-time.After(guard):
		t.Fatal("the receiver never saw the close")
	}
	a.on(func() {
		if recv.bad != nil {
			t.Fatal(recv.bad)
		}
	})
	h.none(t)
}

func TestRefusedAcceptIsAResetForTheDialer(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	ln := a.listen(func(env.Conn) env.ConnHandler { return nil })
	h := newRecorder()
	b.connect(ln.Addr(), h)
	// The reset may reach the dialer before or after the handshake
	// completes there.
	var e event
	select {
	case e = <-h.events:
	case <-time.After(guard):
		t.Fatal("the dialer of a refused connection heard nothing")
	}
	if e.kind == "established" {
		e = h.next(t, "closed")
	}
	if !errors.Is(e.err, env.ErrReset) {
		t.Fatalf("a connection the node refused reached the dialer as %v; want env.ErrReset", e.err)
	}
}

func TestConnectRefused(t *testing.T) {
	b := newNode(t, "b", Options{})
	port := freePort(t)
	h := newRecorder()
	c := b.connect(env.Endpoint{Host: "127.0.0.1", Port: port}, h)
	e := h.next(t, "closed")
	if !errors.Is(e.err, env.ErrRefused) || !errors.Is(e.err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to a closed port: %v; want env.ErrRefused wrapping ECONNREFUSED", e.err)
	}
	if e.conn != c {
		t.Fatal("Closed named another connection")
	}
	var err error
	b.on(func() { err = c.Send([]byte("x")) })
	if !errors.Is(err, env.ErrClosed) {
		t.Fatalf("Send on a failed connect: %v; want env.ErrClosed", err)
	}
	h2 := newRecorder()
	b.connect(env.Endpoint{Host: "127.0.0.1", Port: 0}, h2)
	if e := h2.next(t, "closed"); !errors.Is(e.err, env.ErrUnreachable) {
		t.Fatalf("connect to port 0: %v; want env.ErrUnreachable", e.err)
	}
}

// freePort finds a loopback port with nothing listening on it.
func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return uint16(p)
}

// fullBacklogListener is a loopback socket that listens with a backlog of
// zero and never accepts; once its one queued connection is taken, the
// kernel drops further SYNs, so a dial to it hangs.
func fullBacklogListener(t *testing.T) (env.Endpoint, func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("cannot make a raw socket for the connect-timeout test: %v", err)
	}
	sa := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		_ = syscall.Close(fd)
		t.Fatal(err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		t.Fatal(err)
	}
	port := got.(*syscall.SockaddrInet4).Port
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var fillers []net.Conn
	cleanup := func() {
		for _, c := range fillers {
			_ = c.Close()
		}
		_ = syscall.Close(fd)
	}
	// Fill the accept queue until a dial hangs.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return env.Endpoint{Host: "127.0.0.1", Port: uint16(port)}, cleanup
		}
		fillers = append(fillers, c)
	}
	cleanup()
	t.Skip("this kernel completes connects to a listener whose backlog is full; cannot provoke a connect timeout on loopback")
	return env.Endpoint{}, nil
}

func TestConnectTimeout(t *testing.T) {
	ep, cleanup := fullBacklogListener(t)
	defer cleanup()
	b := newNode(t, "b", Options{ConnectTimeout: 300 * time.Millisecond})
	h := newRecorder()
	b.connect(ep, h)
	e := h.next(t, "closed")
	if !errors.Is(e.err, env.ErrTimeout) {
		t.Fatalf("connect to a listener that never answers: %v; want env.ErrTimeout", e.err)
	}
}

func TestCloseWhileConnectingReportsNothing(t *testing.T) {
	ep, cleanup := fullBacklogListener(t)
	defer cleanup()
	b := newNode(t, "b", Options{ConnectTimeout: 5 * time.Second})
	h := newRecorder()
	c := b.connect(ep, h)
	b.on(func() { c.Close() })
	b.net.Close() // waits for the dial goroutine: it must end at once
	h.none(t)
}

func TestPeerResetAndPeerCloseAreClassified(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ep, _ := env.ParseEndpoint(raw.Addr().String())
	b := newNode(t, "b", Options{})
	for _, tc := range []struct {
		name  string
		reset bool
		want  error
	}{{"reset", true, env.ErrReset}, {"close", false, env.ErrClosed}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newRecorder()
			b.connect(ep, h)
			peer, err := raw.Accept()
			if err != nil {
				t.Fatal(err)
			}
			h.next(t, "established")
			if tc.reset {
				_ = peer.(*net.TCPConn).SetLinger(0)
			}
			_ = peer.Close()
			if e := h.next(t, "closed"); !errors.Is(e.err, tc.want) {
				t.Fatalf("peer %s: Closed(%v); want %v", tc.name, e.err, tc.want)
			}
		})
	}
}

func TestListenAddresses(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	rec := newRecorder()
	var ln env.Listener
	var err error
	a.on(func() { ln, err = a.net.Listen(env.Endpoint{Host: "0.0.0.0"}, rec.accept) })
	if err != nil {
		t.Fatalf("Listen on 0.0.0.0: %v", err)
	}
	if ln.Addr().Host != "0.0.0.0" || ln.Addr().Port == 0 {
		t.Fatalf("listener on 0.0.0.0:0 reports %v; want 0.0.0.0 and the port picked", ln.Addr())
	}
	h := newRecorder()
	b.connect(env.Endpoint{Host: "127.0.0.1", Port: ln.Addr().Port}, h)
	h.next(t, "established")

	a.on(func() { _, err = a.net.Listen(env.Endpoint{Host: "127.0.0.1", Port: ln.Addr().Port}, rec.accept) })
	if !errors.Is(err, env.ErrAddrInUse) {
		t.Fatalf("second Listen on a bound port: %v; want env.ErrAddrInUse", err)
	}
	// 192.0.2.1 is reserved for documentation: no host has it.
	a.on(func() { _, err = a.net.Listen(env.Endpoint{Host: "192.0.2.1"}, rec.accept) })
	if !errors.Is(err, env.ErrAddrNotAvailable) {
		t.Fatalf("Listen on an address the host lacks: %v; want env.ErrAddrNotAvailable", err)
	}

	a.on(func() { ln.Close() })
	h2 := newRecorder()
	b.connect(env.Endpoint{Host: "127.0.0.1", Port: ln.Addr().Port}, h2)
	if e := h2.next(t, "closed"); !errors.Is(e.err, env.ErrRefused) {
		t.Fatalf("connect after the listener closed: %v; want env.ErrRefused", e.err)
	}
}

// A drained queue wakes the node only when it asked (NotifyDrained): once,
// and at once when the queue is already empty.
func TestWritableOnDrainOnlyWhenAsked(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	const count, size = 50, 2000
	recv := newPump(t, 0, 2*count, size)
	ln := a.listen(recv.accept)
	h := newRecorder()
	c := b.connect(ln.Addr(), h)
	h.next(t, "established")

	send := func(from int) {
		b.on(func() {
			for i := from; i < from+count; i++ {
				if err := c.Send(seqMsg(i, size)); err != nil {
					t.Errorf("send %d: %v", i, err)
				}
			}
		})
	}
	send(0)
	drained := func() bool {
		var q int
		b.on(func() { q = c.Queued() })
		return q == 0
	}
	for deadline := time.Now().Add(guard); !drained(); {
		if time.Now().After(deadline) {
			t.Fatal("the send queue never drained")
		}
		time.Sleep(time.Millisecond)
	}
	b.on(func() {}) // let anything owed reach the loop
	select {
	case e := <-h.events:
		t.Fatalf("unasked, the drained queue gave event %s", e.kind)
	default:
	}

	send(count)
	b.on(func() { c.NotifyDrained() })
	h.next(t, "writable")
	wait(t, recv.doneRecv, "every message to arrive")
	b.on(func() {
		if q := c.Queued(); q != 0 {
			t.Errorf("Writable came with %d messages still queued", q)
		}
	})

	b.on(func() { c.NotifyDrained() }) // already empty: at once
	h.next(t, "writable")
	b.on(func() { c.Close() })
}

// 0.0.0.0 is every IPv4 address, as in EventStoreDB (and as an operator's
// IPv4 firewall rules assume): Go's "tcp" on 0.0.0.0 is a dual-stack
// socket, and both ports also answered on every IPv6 address of the host.
// :: is both families.
func TestListenOnZeroAddressIsIPv4Only(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		_ = ln.Close()
	}
	a := newNode(t, "a", Options{})
	rec := newRecorder()
	var repl, repl6 env.Listener
	var err error
	a.on(func() { repl, err = a.net.Listen(env.Endpoint{Host: "0.0.0.0"}, rec.accept) })
	if err != nil {
		t.Fatal(err)
	}
	port := a.serveOn(env.Endpoint{Host: "0.0.0.0"}, newHandler())
	for _, ep := range []env.Endpoint{repl.Addr(), port.Addr()} {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ep.Port))), guard); err != nil {
			t.Errorf("listener on %v refuses 127.0.0.1: %v", ep, err)
		} else {
			_ = c.Close()
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("::1", strconv.Itoa(int(ep.Port))), guard); err == nil {
			_ = c.Close()
			t.Errorf("listener on %v accepts a connection to [::1]:%d; 0.0.0.0 is IPv4 only", ep, ep.Port)
		}
	}
	a.on(func() { repl6, err = a.net.Listen(env.Endpoint{Host: "::"}, rec.accept) })
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1"} {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(int(repl6.Addr().Port))), guard); err != nil {
			t.Errorf("listener on [::]:%d refuses %s: %v", repl6.Addr().Port, host, err)
		} else {
			_ = c.Close()
		}
	}
}
