package netstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/netstack/clusterpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// UnknownErrorCode is the RemoteError code a caller sees when the peer's
// handler replied with an error that is not a *env.RemoteError, or the
// peer answered with a gRPC status that is neither a transport failure nor
// ours (it does not serve the cluster service, say): the way gRPC maps a
// plain error to Unknown. The simulator uses the same value.
const UnknownErrorCode uint16 = 0xFFFF

// maxCallMessage bounds one gRPC message of the cluster service: a
// payload of env.MaxMessageSize plus the method name and framing.
const maxCallMessage = env.MaxMessageSize + 64<<10

// channel is the node's call channel to one endpoint: a grpc.ClientConn
// whose connections it dials itself, so that it knows why the latest
// connect failed or the latest connection broke, and when the peer last
// sent anything.
type channel struct {
	s      *Stack
	to     env.Endpoint
	toStr  string
	cc     *grpc.ClientConn
	client clusterpb.ClusterClient
	origin time.Time

	lastRecv  atomic.Int64 // time since origin of the latest bytes read, 0: never
	abandoned atomic.Bool
	// loggedPlainRefused: the peer's refusal of cleartext is logged, once
	// until a call succeeds.
	loggedPlainRefused atomic.Bool
	tls                *tls.Config // nil: cleartext

	mu       sync.Mutex
	dialErr  error // the latest connect's failure; nil after a success
	breakErr error // why the latest connection ended; nil after a connect
	// loggedTLS is the latest TLS failure logged, so that a peer refused
	// at every reconnect is logged once, and again when the reason changes.
	loggedTLS string
}

// channelTo returns the current channel to the endpoint, making it on
// first use (no connection is dialed before a call needs one).
func (s *Stack) channelTo(to env.Endpoint) (*channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errStackClosed
	}
	if ch := s.channels[to]; ch != nil {
		return ch, nil
	}
	ch := &channel{s: s, to: to, toStr: to.String(), origin: time.Now()}
	creds := insecure.NewCredentials()
	if s.opts.TLS != nil {
		// The dialer does the handshake (so that it knows why one
		// failed); gRPC is told the connection's TLS state.
		creds = terminatedTLS{}
		ch.tls = s.opts.TLS.Peer.Clone()
		ch.tls.NextProtos = []string{alpnH2}
	}
	cc, err := grpc.NewClient("passthrough:///"+ch.toStr,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(ch.dial),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  callBackoffBase,
				Multiplier: callBackoffMultiplier,
				Jitter:     callBackoffJitter,
				MaxDelay:   callBackoffMax,
			},
			MinConnectTimeout: s.opts.ConnectTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxCallMessage), grpc.MaxCallSendMsgSize(maxCallMessage)),
	)
	if err != nil {
		return nil, &NetError{Op: "call channel", Remote: ch.toStr, Err: env.ErrUnreachable, Cause: err}
	}
	ch.cc = cc
	ch.client = clusterpb.NewClusterClient(cc)
	s.channels[to] = ch
	return ch, nil
}

func (ch *channel) now() int64 { return int64(time.Since(ch.origin)) + 1 }

// dial is the channel's connect: TCP with keepalive off and NODELAY on,
// then TLS on a secure node, recording the outcome.
func (ch *channel) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAlive: -1}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		ne := &NetError{Op: "connect", Remote: addr, Err: classifyDial(err), Cause: err}
		ch.mu.Lock()
		ch.dialErr = ne
		ch.mu.Unlock()
		return nil, ne
	}
	_ = nc.(*net.TCPConn).SetNoDelay(true)
	if ch.tls != nil {
		tc, err := ch.s.clientHandshake(ctx, nc, ch.tls)
		if err != nil {
			_ = nc.Close()
			ne := &NetError{Op: "connect", Remote: addr, Err: classifyHandshake(err), Cause: err}
			ch.mu.Lock()
			ch.dialErr = ne
			first := ch.loggedTLS != err.Error()
			ch.loggedTLS = err.Error()
			ch.mu.Unlock()
			if first && ctx.Err() == nil {
				ch.s.logf(env.LevelWarn, "netstack: call channel to %s: %v", addr, err)
			}
			return nil, ne
		}
		nc = tc
	}
	ch.mu.Lock()
	ch.dialErr, ch.breakErr, ch.loggedTLS = nil, nil, ""
	ch.mu.Unlock()
	return &trackedConn{Conn: nc, ch: ch}, nil
}

// trackedConn notes when the peer last sent something and why the
// connection ended.
type trackedConn struct {
	net.Conn
	ch     *channel
	closed atomic.Bool
}

func (t *trackedConn) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if n > 0 {
		t.ch.lastRecv.Store(t.ch.now())
	}
	if err != nil && !t.closed.Load() {
		ne := &NetError{Op: "read", Remote: t.ch.toStr, Err: classifyBreak(err), Cause: err}
		t.ch.mu.Lock()
		t.ch.breakErr = ne
		t.ch.mu.Unlock()
	}
	return n, err
}

func (t *trackedConn) Close() error {
	t.closed.Store(true)
	return t.Conn.Close()
}

// ConnectionState is the TLS state of a secure channel's connection, for
// gRPC's credentials.
func (t *trackedConn) ConnectionState() tls.ConnectionState {
	if tc, ok := t.Conn.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

func (ch *channel) close() { _ = ch.cc.Close() }

// Call implements env.Network. A call never waits for a channel in
// transient failure: it fails at once with env.ErrUnreachable wrapping the
// latest connect's error. A channel connecting holds the call until its
// deadline. After Close of the stack, done is never called.
func (s *Stack) Call(to env.Endpoint, method string, req []byte, timeout time.Duration, done func(resp []byte, err error)) {
	if done == nil {
		panic("netstack: Call needs a done function; got nil")
	}
	if len(req) > env.MaxMessageSize {
		err := &NetError{Op: "call " + method, Remote: to.String(), Err: env.ErrMessageTooLarge,
			Cause: fmt.Errorf("request of %d bytes, the limit is %d", len(req), env.MaxMessageSize)}
		s.deliver(func() { done(nil, err) })
		return
	}
	ch, err := s.channelTo(to)
	if err != nil {
		if !errors.Is(err, env.ErrClosed) {
			s.deliver(func() { done(nil, err) })
		}
		return
	}
	in := &clusterpb.CallRequest{Method: method, Payload: append([]byte(nil), req...)}
	issued := ch.now()
	s.runCall(func() {
		ctx, cancel := context.WithTimeout(s.ctx, max(timeout, 0))
		out, err := ch.client.Call(ctx, in)
		cancel()
		resp, err := ch.outcome(method, timeout, issued, out, err)
		s.deliver(func() { done(resp, err) })
	})
}

// callWorkerIdle is how long a call goroutine waits for another call
// before it exits.
const callWorkerIdle = 10 * time.Second

// runCall runs a blocking call on an idle call goroutine, or a new one.
// Reusing goroutines keeps the stacks gRPC's deep call paths have grown:
// a fresh goroutine per call spends a sixth of a call's CPU growing its
// stack.
func (s *Stack) runCall(job func()) {
	select {
	case s.callJobs <- job:
		return
	default:
	}
	s.spawn(func() {
		job()
		idle := time.NewTimer(callWorkerIdle)
		defer idle.Stop()
		for {
			select {
			case job := <-s.callJobs:
				job()
				idle.Reset(callWorkerIdle)
			case <-idle.C:
				return
			case <-s.ctx.Done():
				return
			}
		}
	})
}

// outcome turns a gRPC result into what the node expects of a call.
func (ch *channel) outcome(method string, timeout time.Duration, issued int64, out *clusterpb.CallReply, err error) ([]byte, error) {
	if err == nil {
		ch.loggedPlainRefused.Store(false)
		if re := out.GetError(); re != nil {
			return nil, &env.RemoteError{Code: uint16(min(re.GetCode(), uint32(UnknownErrorCode))), Message: re.GetMessage()}
		}
		return out.GetPayload(), nil
	}
	op := "call " + method
	st := status.Convert(err)
	fail := func(envErr, cause error) error { return &NetError{Op: op, Remote: ch.toStr, Err: envErr, Cause: cause} }
	switch st.Code() {
	case codes.DeadlineExceeded:
		e := fail(env.ErrTimeout, fmt.Errorf("no reply within %v", timeout))
		if ch.lastRecv.Load() < issued && ch.cc.GetState() == connectivity.Ready {
			ch.s.abandon(ch, e)
		}
		return nil, e
	case codes.Unavailable:
		if ch.tls == nil && strings.Contains(st.Message(), "INADEQUATE_SECURITY") {
			// The peer's node port serves TLS only and said so in its
			// GOAWAY; the connection's end (EOF) would hide that.
			cause := fmt.Errorf("the peer serves TLS only and this node runs with Insecure: "+
				"every node of a cluster must be secure, or every node insecure (%s)", st.Message())
			if !ch.loggedPlainRefused.Swap(true) {
				ch.s.logf(env.LevelWarn, "netstack: call channel to %s: %v", ch.toStr, cause)
			}
			return nil, fail(env.ErrUnreachable, cause)
		}
		ch.mu.Lock()
		dialErr, breakErr := ch.dialErr, ch.breakErr
		ch.mu.Unlock()
		switch {
		case dialErr != nil:
			return nil, fail(env.ErrUnreachable, dialErr)
		case breakErr != nil:
			var ne *NetError
			envErr := env.ErrReset
			if errors.As(breakErr, &ne) {
				envErr = ne.Err
			}
			return nil, fail(envErr, breakErr)
		default:
			return nil, fail(env.ErrUnreachable, st.Err())
		}
	case codes.Canceled:
		if ch.abandoned.Load() {
			return nil, fail(env.ErrTimeout, errors.New("the channel was abandoned: a call on it timed out with nothing received"))
		}
		return nil, fail(env.ErrClosed, st.Err())
	case codes.ResourceExhausted:
		return nil, fail(env.ErrMessageTooLarge, st.Err())
	case codes.Unimplemented:
		return nil, &env.RemoteError{Code: UnknownErrorCode, Message: "the peer does not serve the cluster's calls: " + st.Message()}
	default:
		return nil, &env.RemoteError{Code: UnknownErrorCode, Message: st.Code().String() + ": " + st.Message()}
	}
}

// abandon drops a channel whose connection carried nothing back for a
// whole call deadline: it may be dead without either kernel knowing, and a
// new connection finds out faster than TCP's retransmissions would.
func (s *Stack) abandon(ch *channel, why error) {
	if ch.abandoned.Swap(true) {
		return
	}
	s.mu.Lock()
	if s.channels[ch.to] == ch {
		delete(s.channels, ch.to)
	}
	s.mu.Unlock()
	s.logf(env.LevelInfo, "netstack: call channel to %s abandoned, the next call dials afresh: %v", ch.toStr, why)
	ch.close()
}

// ChannelState reports the state of the call channel to the endpoint:
// "idle" (none, or not connected), "connecting", "ready" or
// "transient_failure" (calls fail fast).
func (s *Stack) ChannelState(to env.Endpoint) string {
	s.mu.Lock()
	ch := s.channels[to]
	s.mu.Unlock()
	if ch == nil {
		return "idle"
	}
	switch st := ch.cc.GetState(); st {
	case connectivity.Ready:
		return "ready"
	case connectivity.Connecting:
		return "connecting"
	case connectivity.TransientFailure:
		return "transient_failure"
	default:
		return "idle"
	}
}
