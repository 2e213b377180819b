package network

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

type handlerFunc func(from env.Endpoint, method string, req []byte, reply func([]byte, error))

func (h handlerFunc) HandleRequest(from env.Endpoint, method string, req []byte, reply func([]byte, error)) {
	h(from, method, req, reply)
}

type callResult struct {
	n    int
	resp []byte
	err  error
	at   time.Duration
}

func (fx *fixture) call(s *Stack, to, method string, req []byte, timeout time.Duration) *callResult {
	fx.t.Helper()
	ep, err := env.ParseEndpoint(to)
	if err != nil {
		fx.t.Fatal(err)
	}
	r := &callResult{}
	s.Call(ep, method, req, timeout, func(resp []byte, err error) {
		r.n++
		r.resp, r.err, r.at = resp, err, fx.now()
	})
	return r
}

// callPair: client host a, server host b serving on :2113 with h.
func callPair(t *testing.T, cfg Config, h env.RequestHandler) (*fixture, *Stack, *Stack) {
	fx := newFixture(t, cfg)
	a := fx.host("a", "", "10.0.0.1")
	b := fx.host("b", "", "10.0.0.2")
	sa, _ := fx.stack(a)
	sb, _ := fx.stack(b)
	if h != nil {
		if _, err := sb.Serve(env.Endpoint{Host: "0.0.0.0", Port: 2113}, h); err != nil {
			t.Fatal(err)
		}
	}
	return fx, sa, sb
}

func TestCallRoundTripAndRemoteError(t *testing.T) {
	var froms []env.Endpoint
	fx, sa, _ := callPair(t, quietConfig(), handlerFunc(func(from env.Endpoint, method string, req []byte, reply func([]byte, error)) {
		froms = append(froms, from)
		switch method {
		case "echo":
			reply(append([]byte("re:"), req...), nil)
		case "fail":
			reply(nil, &env.RemoteError{Code: 7, Message: "not leader"})
		case "plain":
			reply(nil, errors.New("boom"))
		}
	}))
	start := fx.now()
	echo := fx.call(sa, "10.0.0.2:2113", "echo", []byte("hi"), time.Second)
	fail := fx.call(sa, "10.0.0.2:2113", "fail", nil, time.Second)
	plain := fx.call(sa, "10.0.0.2:2113", "plain", nil, time.Second)
	fx.run(time.Second)
	if echo.n != 1 || echo.err != nil || string(echo.resp) != "re:hi" {
		t.Fatalf("echo: %d results, resp %q, err %v", echo.n, echo.resp, echo.err)
	}
	// Handshake (1 RTT), then the request and the reply (1 RTT).
	if d := echo.at - start; d != 4*time.Millisecond {
		t.Errorf("first call on a new channel took %v, want 4ms (two round trips of 2ms)", d)
	}
	var re *env.RemoteError
	if !errors.As(fail.err, &re) || re.Code != 7 || re.Message != "not leader" {
		t.Fatalf("fail: %v, want RemoteError{7, not leader}", fail.err)
	}
	if !errors.As(plain.err, &re) || re.Code != UnknownErrorCode || re.Message != "boom" {
		t.Fatalf("plain error: %v, want RemoteError{UnknownErrorCode, boom}", plain.err)
	}
	for _, f := range froms {
		if f.Host != "10.0.0.1" || f != froms[0] {
			t.Fatalf("calls on one channel came from %v, want one endpoint on 10.0.0.1", froms)
		}
	}
	if fx.f.Stats().Connects != 1 {
		t.Fatalf("three calls opened %d connections, want one channel", fx.f.Stats().Connects)
	}
	// A second call on the ready channel costs one round trip.
	start = fx.now()
	again := fx.call(sa, "10.0.0.2:2113", "echo", nil, time.Second)
	fx.run(time.Second)
	if again.at-start != 2*time.Millisecond {
		t.Errorf("call on a ready channel took %v, want one round trip of 2ms", again.at-start)
	}
}

func TestCallDeadlineAndLateReply(t *testing.T) {
	var held []func([]byte, error)
	fx, sa, _ := callPair(t, quietConfig(), handlerFunc(func(_ env.Endpoint, _ string, _ []byte, reply func([]byte, error)) {
		held = append(held, reply)
	}))
	start := fx.now()
	r := fx.call(sa, "10.0.0.2:2113", "slow", nil, 300*time.Millisecond)
	fx.run(time.Second)
	if r.n != 1 || !errors.Is(r.err, env.ErrTimeout) || r.at-start != 300*time.Millisecond {
		t.Fatalf("call past its deadline: %d results, err %v after %v; want one ErrTimeout after 300ms", r.n, r.err, r.at-start)
	}
	if len(held) != 1 {
		t.Fatalf("server got %d requests, want 1", len(held))
	}
	held[0]([]byte("late"), nil)
	fx.run(time.Second)
	if r.n != 1 {
		t.Fatalf("a late reply completed the call again (%d results)", r.n)
	}
	if fx.f.Stats().CallTimeouts != 1 {
		t.Fatalf("CallTimeouts = %d, want 1", fx.f.Stats().CallTimeouts)
	}
}

// pausableServer is a call pair whose server, on b, records the methods it
// handles and runs on an executor the test pauses and resumes.
func pausableServer(t *testing.T) (fx *fixture, sa *Stack, xb *testExec, handled *[]string) {
	handled = new([]string)
	fx, sa, sb := callPair(t, quietConfig(), handlerFunc(func(_ env.Endpoint, method string, _ []byte, reply func([]byte, error)) {
		*handled = append(*handled, method)
		reply(nil, nil)
	}))
	return fx, sa, sb.exec.(*testExec), handled
}

// A process paused past a call's deadline finds the call cancelled when it
// wakes, as production's gRPC server does: it never acts on it. A call
// whose caller still waits when the process wakes is served.
func TestRequestWhoseCallerGaveUpIsNotHandled(t *testing.T) {
	fx, sa, xb, got := pausableServer(t)

	xb.paused = true
	awaited := fx.call(sa, "10.0.0.2:2113", "awaited", nil, 2*time.Second)
	fx.run(500 * time.Millisecond)
	xb.resume()
	fx.run(100 * time.Millisecond)
	if awaited.n != 1 || awaited.err != nil {
		t.Fatalf("call still awaited at the wake: %d results, err %v", awaited.n, awaited.err)
	}

	xb.paused = true
	gone := fx.call(sa, "10.0.0.2:2113", "gone", nil, 300*time.Millisecond)
	fx.run(time.Second)
	xb.resume()
	fx.run(time.Second)
	if !errors.Is(gone.err, env.ErrTimeout) {
		t.Fatalf("call past its deadline: err %v, want ErrTimeout", gone.err)
	}
	if want := []string{"awaited"}; !slices.Equal(*got, want) {
		t.Fatalf("server handled %v, want %v", got, want)
	}
	if n := fx.f.Stats().CallsExpired; n != 1 {
		t.Fatalf("CallsExpired = %d, want 1", n)
	}
}

// A request whose caller's process was killed, and whose connection the
// kernel's reset closed, before the serving process took it up, is not
// handled: production's gRPC server cancels it with the connection.
func TestRequestOfAKilledCallerIsNotHandled(t *testing.T) {
	fx, sa, xb, got := pausableServer(t)
	xb.paused = true
	fx.call(sa, "10.0.0.2:2113", "orphaned", nil, 5*time.Second)
	fx.run(100 * time.Millisecond) // the request waits in b's queue
	sa.Kill()
	fx.run(100 * time.Millisecond) // the reset reaches b
	xb.resume()
	fx.run(time.Second)
	if len(*got) != 0 {
		t.Fatalf("server handled %v for a caller killed before it took the request up", *got)
	}
}

func TestCallRefusedThenBackoffFailsFast(t *testing.T) {
	fx, sa, _ := callPair(t, quietConfig(), nil)
	to := env.Endpoint{Host: "10.0.0.2", Port: 2113}
	start := fx.now()
	r1 := fx.call(sa, "10.0.0.2:2113", "x", nil, time.Second)
	fx.run(10 * time.Millisecond)
	if !errors.Is(r1.err, env.ErrRefused) || r1.at-start != 2*time.Millisecond {
		t.Fatalf("call to a port nothing listens on: %v after %v, want ErrRefused after one round trip (2ms)", r1.err, r1.at-start)
	}
	if st := sa.ChannelState(to); st != "backoff" {
		t.Fatalf("channel state after a refused connect: %s, want backoff", st)
	}
	start = fx.now()
	r2 := fx.call(sa, "10.0.0.2:2113", "x", nil, time.Second)
	fx.run(time.Millisecond)
	if r2.n != 1 || !errors.Is(r2.err, env.ErrUnreachable) || !errors.Is(r2.err, env.ErrRefused) || r2.at != start {
		t.Fatalf("call during backoff: %d results, %v at +%v; want ErrUnreachable wrapping ErrRefused at once", r2.n, r2.err, r2.at-start)
	}
	if fx.f.Stats().CallsFailedFast != 1 || fx.f.Stats().Connects != 1 {
		t.Fatalf("fast failure opened a connection or was not counted: %+v", fx.f.Stats())
	}
	// The first backoff is 100ms ± 20%; after it, a call dials again.
	fx.run(200 * time.Millisecond)
	r3 := fx.call(sa, "10.0.0.2:2113", "x", nil, time.Second)
	fx.run(10 * time.Millisecond)
	if !errors.Is(r3.err, env.ErrRefused) || errors.Is(r3.err, env.ErrUnreachable) || fx.f.Stats().Connects != 2 {
		t.Fatalf("call after the backoff: %v with %d connects; want a new dial, refused", r3.err, fx.f.Stats().Connects)
	}
	// The second backoff doubles: 200ms ± 20%, so still backing off at 150ms.
	fx.run(140 * time.Millisecond)
	if st := sa.ChannelState(to); st != "backoff" {
		t.Fatalf("150ms after the second refusal the channel is %s, want backoff (200ms ± 20%%)", st)
	}
	// Many failures: the backoff stays at most CallBackoffMax plus jitter.
	for range 8 {
		fx.run(2 * time.Second)
		fx.call(sa, "10.0.0.2:2113", "x", nil, time.Second)
	}
	fx.run(10 * time.Millisecond)
	ch := sa.channels[to]
	if d := ch.backoffUntil - fx.now(); d > 1200*time.Millisecond || d < 700*time.Millisecond {
		t.Fatalf("backoff after 10 failures is %v, want CallBackoffMax 1s ± 20%%", d)
	}
}

func TestCallWaitsForConnectUntilItsDeadline(t *testing.T) {
	fx, sa, _ := callPair(t, quietConfig(), handlerFunc(func(_ env.Endpoint, _ string, _ []byte, reply func([]byte, error)) { reply(nil, nil) }))
	b := fx.f.Host("b")
	b.Freeze()
	start := fx.now()
	r := fx.call(sa, "10.0.0.2:2113", "x", nil, 500*time.Millisecond)
	fx.run(time.Second)
	if !errors.Is(r.err, env.ErrTimeout) || r.at-start != 500*time.Millisecond {
		t.Fatalf("call to a frozen host: %v after %v, want ErrTimeout at its 500ms deadline", r.err, r.at-start)
	}
	to := env.Endpoint{Host: "10.0.0.2", Port: 2113}
	if st := sa.ChannelState(to); st != "connecting" {
		t.Fatalf("channel after 1s of a 2s connect timeout: %s, want connecting", st)
	}
	// A call issued while connecting succeeds once the host answers.
	b.Thaw()
	r2 := fx.call(sa, "10.0.0.2:2113", "x", nil, 5*time.Second)
	fx.run(3 * time.Second)
	if r2.n != 1 || r2.err != nil {
		t.Fatalf("call waiting on a connect that then succeeds: %d results, err %v", r2.n, r2.err)
	}
}

func TestBrokenChannelFailsInFlightCalls(t *testing.T) {
	fx, sa, sb := callPair(t, quietConfig(), handlerFunc(func(_ env.Endpoint, _ string, _ []byte, _ func([]byte, error)) {}))
	r := fx.call(sa, "10.0.0.2:2113", "x", nil, 10*time.Second)
	fx.run(10 * time.Millisecond)
	killed := fx.now()
	sb.Kill()
	fx.run(time.Second)
	if !errors.Is(r.err, env.ErrReset) || r.at-killed != time.Millisecond {
		t.Fatalf("in-flight call when the server process died: %v after %v, want ErrReset after one latency (1ms)", r.err, r.at-killed)
	}
	// The next call redials (no backoff after a working connection) and is refused.
	r2 := fx.call(sa, "10.0.0.2:2113", "x", nil, time.Second)
	fx.run(10 * time.Millisecond)
	if !errors.Is(r2.err, env.ErrRefused) || errors.Is(r2.err, env.ErrUnreachable) {
		t.Fatalf("call after the server died: %v, want ErrRefused from a new dial", r2.err)
	}
}

func TestResolveAndDialByName(t *testing.T) {
	fx, sa, _ := callPair(t, quietConfig(), handlerFunc(func(_ env.Endpoint, _ string, req []byte, reply func([]byte, error)) { reply(req, nil) }))
	fx.f.SetDNS("cluster.local", "10.0.0.2", "10.0.0.3")
	var got []string
	var gerr error
	sa.Resolve("cluster.local", func(a []string, err error) { got, gerr = a, err })
	var missErr error
	sa.Resolve("nope.local", func(_ []string, err error) { missErr = err })
	fx.run(time.Millisecond)
	if gerr != nil || len(got) != 2 || got[0] != "10.0.0.2" || got[1] != "10.0.0.3" {
		t.Fatalf("Resolve = %v, %v; want [10.0.0.2 10.0.0.3]", got, gerr)
	}
	if !errors.Is(missErr, env.ErrNoSuchHost) {
		t.Fatalf("Resolve of an unknown name: %v, want ErrNoSuchHost", missErr)
	}
	r := fx.call(sa, "cluster.local:2113", "x", []byte("by-name"), time.Second)
	bad := fx.call(sa, "nope.local:2113", "x", nil, time.Second)
	fx.run(time.Second)
	if r.err != nil || string(r.resp) != "by-name" {
		t.Fatalf("call by DNS name: %q, %v", r.resp, r.err)
	}
	if !errors.Is(bad.err, env.ErrNoSuchHost) || !errors.Is(bad.err, env.ErrUnreachable) {
		t.Fatalf("call to an unknown name: %v, want ErrUnreachable and ErrNoSuchHost", bad.err)
	}
}

// The server learns that a caller gave up only from what reaches it: the
// call's own deadline (gRPC sends it along and the server's context expires
// with it), or the connection's end. A caller that abandons its channel
// while the path to the server is cut fails its other calls at once, but
// the server, which heard nothing, serves those whose deadline has not
// passed when it gets to them, as production's does. Dropping them anyway
// would tell the caller's code that a failed call never ran.
func TestRequestIsServedWhenTheCallersCancelCannotReachTheServer(t *testing.T) {
	fx, sa, xb, got := pausableServer(t)
	fx.call(sa, "10.0.0.2:2113", "warm", nil, time.Second)
	fx.run(100 * time.Millisecond) // the channel is up
	xb.paused = true
	short := fx.call(sa, "10.0.0.2:2113", "short", nil, 300*time.Millisecond)
	long := fx.call(sa, "10.0.0.2:2113", "long", nil, 10*time.Second)
	fx.run(50 * time.Millisecond) // both requests wait in b's queue
	fx.f.Block(fx.f.Host("a"), fx.f.Host("b"))
	fx.run(time.Second)
	if !errors.Is(short.err, env.ErrTimeout) || long.n != 1 || long.err == nil {
		t.Fatalf("short: %v; long: %d results, %v; want the short call timed out and the long one failed with its abandoned channel",
			short.err, long.n, long.err)
	}
	xb.resume()
	fx.run(time.Second)
	// "short" is past its own deadline; nothing told b to drop "long".
	if want := []string{"warm", "long"}; !slices.Equal(*got, want) {
		t.Fatalf("server handled %v, want %v", *got, want)
	}
}
