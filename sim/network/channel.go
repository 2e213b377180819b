package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/annal-db/annal/core/env"
)

// Calls ride a channel per (process, destination as dialed), the way a gRPC
// client multiplexes calls over one HTTP/2 connection. The channel's
// connection is an ordinary simulated TCP connection; its frames are:
//
//	request: 1, call id (8 bytes), uvarint method length, method, payload
//	reply:   2, call id (8 bytes), payload
//	error:   3, call id (8 bytes), code (2 bytes), message
const (
	frameRequest     byte = 1
	frameReply       byte = 2
	frameRemoteError byte = 3
	frameHeader           = 1 + 8
	requestHeader         = frameHeader + 8 // and the call's deadline
)

// UnknownErrorCode is the RemoteError code a caller sees when the handler
// replied with an error that is not a *env.RemoteError (the way gRPC maps a
// plain error to Unknown).
const UnknownErrorCode uint16 = 0xFFFF

type channelKey = env.Endpoint

type chanState uint8

const (
	chIdle chanState = iota
	chConnecting
	chReady
	chBackoff
)

var chanStateNames = [...]string{"idle", "connecting", "ready", "backoff"}

func (s chanState) String() string { return chanStateNames[s] }

// channel is one process's call channel to one endpoint.
type channel struct {
	st           *Stack
	to           env.Endpoint
	toStr        string
	state        chanState
	conn         *end
	waiting      []*call // issued while connecting, sent once ready
	inflight     map[uint64]*call
	failures     int // consecutive failed connects
	backoffUntil time.Duration
	lastErr      error
	lastRecv     time.Duration // when a reply last arrived on the connection
}

// call is one request awaiting its reply.
type call struct {
	ch       *channel
	id       uint64
	method   string
	frame    []byte // until sent
	done     func(resp []byte, err error)
	finished bool
	timeout  time.Duration
	issued   time.Duration
}

func (s *Stack) channel(to env.Endpoint) *channel {
	if ch := s.channels[to]; ch != nil {
		return ch
	}
	ch := &channel{st: s, to: to, toStr: to.String(), inflight: map[uint64]*call{}}
	s.channels[to] = ch
	return ch
}

// ChannelState reports the state of this process's call channel to the
// endpoint: "idle", "connecting", "ready" or "backoff".
func (s *Stack) ChannelState(to env.Endpoint) string {
	ch := s.channels[to]
	if ch == nil {
		return chIdle.String()
	}
	if ch.state == chBackoff && s.f.w.Now() >= ch.backoffUntil {
		return chIdle.String()
	}
	return ch.state.String()
}

// Call implements env.Network. The call waits for its channel while it
// connects (until its own deadline); a channel backing off after a failed
// connect fails it at once with env.ErrUnreachable wrapping the connect's
// error; a channel that breaks fails it with the break's error; the deadline
// fails it with env.ErrTimeout and a later reply is dropped.
func (s *Stack) Call(to env.Endpoint, method string, req []byte, timeout time.Duration, done func(resp []byte, err error)) {
	if done == nil {
		panic("network: Call with a nil done function")
	}
	if s.killed {
		return
	}
	f := s.f
	f.stats.Calls++
	f.nextCallID++
	id := f.nextCallID
	f.rec(s.host, "call").Uint("id", id).Str("to", to.String()).Str("method", method).Int("len", int64(len(req))).Dur("timeout", timeout).End()
	if len(req) > env.MaxMessageSize {
		err := fmt.Errorf("network: call %s to %s: request of %d bytes exceeds the limit of %d: %w", method, to, len(req), env.MaxMessageSize, env.ErrMessageTooLarge)
		s.later(func() { done(nil, err) })
		return
	}
	ch := s.channel(to)
	if ch.state == chBackoff {
		if f.w.Now() < ch.backoffUntil {
			f.stats.CallsFailedFast++
			err := fmt.Errorf("network: call %s to %s: the channel is backing off for %v after: %w: %w",
				method, to, ch.backoffUntil-f.w.Now(), env.ErrUnreachable, ch.lastErr)
			f.rec(s.host, "call-failed").Uint("id", id).Str("why", "backoff").End()
			s.later(func() { done(nil, err) })
			return
		}
		ch.state = chIdle
	}
	c := &call{ch: ch, id: id, method: method, done: done, timeout: timeout, frame: encodeRequest(id, f.w.Now()+max(timeout, 0), method, req), issued: f.w.Now()}
	ch.inflight[id] = c
	f.w.After(max(timeout, 0), c, 0)
	switch ch.state {
	case chIdle:
		ch.connect()
		ch.waiting = append(ch.waiting, c)
	case chConnecting:
		ch.waiting = append(ch.waiting, c)
	case chReady:
		ch.send(c)
	}
}

func (ch *channel) connect() {
	ch.state = chConnecting
	ch.conn = ch.st.connect(ch.to, ch, true)
}

// send puts the request on the channel's connection; a refusal fails the
// call on the process's loop.
func (ch *channel) send(c *call) {
	frame := c.frame
	c.frame = nil
	err := ch.conn.send(frame, false)
	if err == nil {
		return
	}
	if errors.Is(err, env.ErrClosed) && ch.conn.deathErr != nil {
		err = ch.conn.deathErr
	}
	err = fmt.Errorf("network: call %s to %s: %w", c.method, ch.toStr, err)
	ch.st.later(func() { c.finish(nil, err) })
}

// finish completes the call once, on the process's loop.
func (c *call) finish(resp []byte, err error) {
	if c.finished {
		return
	}
	c.finished = true
	c.frame = nil
	delete(c.ch.inflight, c.id)
	c.done(resp, err)
}

// Fire implements world.Handler: the call's deadline.
func (c *call) Fire(uint64) {
	if c.finished {
		return
	}
	s := c.ch.st
	s.later(func() {
		if c.finished {
			return
		}
		s.f.stats.CallTimeouts++
		s.f.rec(s.host, "call-timeout").Uint("id", c.id).Str("method", c.method).End()
		err := fmt.Errorf("network: call %s to %s: no reply within %v: %w", c.method, c.ch.toStr, c.timeout, env.ErrTimeout)
		c.finish(nil, err)
		// A connection that has carried nothing back for a whole call
		// deadline is presumed dead (its segments may sit in a long
		// retransmission backoff after the peer came back): drop it, so
		// that the next call dials afresh. Production does the same.
		if ch := c.ch; ch.state == chReady && ch.conn != nil && ch.lastRecv < c.issued {
			s.f.rec(s.host, "channel-abandoned").Str("to", ch.toStr).End()
			conn := ch.conn
			ch.Closed(conn, err)
			conn.Close()
		}
	})
}

// Established implements env.ConnHandler for the channel's connection.
func (ch *channel) Established(c env.Conn) {
	if ch.conn != c {
		return
	}
	ch.state = chReady
	ch.failures = 0
	waiting := ch.waiting
	ch.waiting = nil
	for _, cl := range waiting {
		if !cl.finished {
			ch.send(cl)
		}
	}
}

// Received implements env.ConnHandler: a reply.
func (ch *channel) Received(c env.Conn, msg []byte) {
	ch.lastRecv = ch.st.f.w.Now()
	id, resp, err, ok := decodeReply(msg)
	if !ok {
		panic(fmt.Sprintf("network: malformed reply frame of %d bytes on channel to %s", len(msg), ch.toStr))
	}
	cl := ch.inflight[id]
	if cl == nil {
		ch.st.f.rec(ch.st.host, "late-reply").Uint("id", id).End()
		return
	}
	cl.finish(resp, err)
}

// Writable implements env.ConnHandler.
func (ch *channel) Writable(env.Conn) {}

// Closed implements env.ConnHandler: the connect failed, or the channel
// broke. Either way its calls fail with the reason.
func (ch *channel) Closed(c env.Conn, reason error) {
	if ch.conn != c {
		return
	}
	ch.conn = nil
	s := ch.st
	if ch.state == chConnecting {
		ch.failures++
		d := ch.backoff()
		ch.state = chBackoff
		ch.backoffUntil = s.f.w.Now() + d
		ch.lastErr = reason
		s.f.rec(s.host, "backoff").Str("to", ch.toStr).Dur("for", d).Int("failures", int64(ch.failures)).End()
	} else {
		// A connection that worked: reconnect at the next call, with the
		// backoff reset, as gRPC does.
		ch.state = chIdle
	}
	ch.waiting = nil
	ids := make([]uint64, 0, len(ch.inflight))
	for id := range ch.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if cl := ch.inflight[id]; cl != nil {
			cl.finish(nil, fmt.Errorf("network: call %s to %s: %w", cl.method, ch.toStr, reason))
		}
	}
}

// backoff is the wait after the latest failed connect: the base doubled per
// earlier consecutive failure, capped, and spread by the jitter.
func (ch *channel) backoff() time.Duration {
	cfg := &ch.st.f.cfg
	d := cfg.CallBackoffBase
	for i := 1; i < ch.failures && d < cfg.CallBackoffMax; i++ {
		d *= 2
	}
	d = min(d, cfg.CallBackoffMax)
	if j := cfg.CallBackoffJitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*ch.st.rng.Float64()-1)))
	}
	return d
}

// serverConn serves the calls arriving on one accepted channel.
type serverConn struct {
	st *Stack
	h  env.RequestHandler
}

func (sc *serverConn) Established(env.Conn)   {}
func (sc *serverConn) Writable(env.Conn)      {}
func (sc *serverConn) Closed(env.Conn, error) {}

// Received implements env.ConnHandler: one request.
func (sc *serverConn) Received(c env.Conn, msg []byte) {
	e := c.(*end)
	f := sc.st.f
	id, deadline, method, req, ok := decodeRequest(msg, f.methods)
	if !ok {
		panic(fmt.Sprintf("network: malformed request frame of %d bytes on %s", len(msg), e.localStr))
	}
	if !e.alive() || f.w.Now() >= deadline {
		// The call was cancelled before this process took the request up,
		// by what can reach a server: its deadline passed (gRPC's server
		// context expires with the deadline the request carries), or the
		// connection ended (the caller closed its channel, or its process
		// was killed and its kernel's reset arrived). Production drops
		// such a call before it reaches the loop (realnet/netstack's
		// clusterService.Call). A process that was paused, or busy, past a
		// call's deadline never acts on it. A caller that merely gave up,
		// with nothing of it reaching the server (a cut path), does not
		// cancel the call.
		f.stats.CallsExpired++
		f.rec(e.host, "call-expired").Uint("id", id).Str("method", method).End()
		return
	}
	replied := false
	sc.h.HandleRequest(e.remote, method, req, func(resp []byte, err error) {
		if replied {
			panic(fmt.Sprintf("network: reply called twice for call %d (%s) from %s; a handler must reply exactly once", id, method, e.remoteStr))
		}
		replied = true
		frame := encodeReply(id, resp, err)
		r := f.rec(e.host, "reply").Uint("id", id).Str("method", method).Int("len", int64(len(resp)))
		if err != nil {
			r = r.Str("err", err.Error())
		}
		r.End()
		if err := e.send(frame, false); err != nil {
			f.rec(e.host, "reply-lost").Uint("id", id).Str("err", err.Error()).End()
		}
	})
}

// encodeRequest frames a call. The request carries its deadline, as gRPC's
// grpc-timeout header does: the server's context expires with it.
func encodeRequest(id uint64, deadline time.Duration, method string, req []byte) []byte {
	b := make([]byte, 0, requestHeader+binary.MaxVarintLen64+len(method)+len(req))
	b = append(b, frameRequest)
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint64(b, uint64(deadline))
	b = binary.AppendUvarint(b, uint64(len(method)))
	b = append(b, method...)
	return append(b, req...)
}

// decodeRequest reads a request frame; the method name is interned so that
// a busy server does not allocate one per call.
func decodeRequest(b []byte, methods map[string]string) (id uint64, deadline time.Duration, method string, req []byte, ok bool) {
	if len(b) < requestHeader || b[0] != frameRequest {
		return 0, 0, "", nil, false
	}
	id = binary.BigEndian.Uint64(b[1:])
	deadline = time.Duration(binary.BigEndian.Uint64(b[frameHeader:]))
	n, k := binary.Uvarint(b[requestHeader:])
	if k <= 0 || n > uint64(len(b)-requestHeader-k) {
		return 0, 0, "", nil, false
	}
	name := b[requestHeader+k : requestHeader+k+int(n)]
	method, found := methods[string(name)]
	if !found {
		method = string(name)
		methods[method] = method
	}
	return id, deadline, method, b[requestHeader+k+int(n):], true
}

func encodeReply(id uint64, resp []byte, err error) []byte {
	if err == nil {
		b := make([]byte, 0, frameHeader+len(resp))
		b = append(b, frameReply)
		b = binary.BigEndian.AppendUint64(b, id)
		return append(b, resp...)
	}
	var re *env.RemoteError
	if !errors.As(err, &re) {
		re = &env.RemoteError{Code: UnknownErrorCode, Message: err.Error()}
	}
	b := make([]byte, 0, frameHeader+2+len(re.Message))
	b = append(b, frameRemoteError)
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint16(b, re.Code)
	return append(b, re.Message...)
}

func decodeReply(b []byte) (id uint64, resp []byte, err error, ok bool) {
	if len(b) < frameHeader {
		return 0, nil, nil, false
	}
	id = binary.BigEndian.Uint64(b[1:])
	switch b[0] {
	case frameReply:
		if len(b) > frameHeader {
			resp = b[frameHeader:]
		}
		return id, resp, nil, true
	case frameRemoteError:
		if len(b) < frameHeader+2 {
			return 0, nil, nil, false
		}
		code := binary.BigEndian.Uint16(b[frameHeader:])
		return id, nil, &env.RemoteError{Code: code, Message: string(b[frameHeader+2:])}, true
	}
	return 0, nil, nil, false
}
