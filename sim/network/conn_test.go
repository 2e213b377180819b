package network

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// pacedStream sends n stamped messages from a to b, one every gap, and
// returns the receiving side's log once everything had time to arrive.
func pacedStream(t *testing.T, cfg Config, n int, gap time.Duration) (*fixture, *connLog) {
	t.Helper()
	fx, c, cl, srv, _ := connected(t, cfg)
	fx.run(40 * time.Millisecond)
	if !cl.established || len(srv.logs) != 1 {
		t.Fatalf("connection not up after 50ms: established=%v accepted=%d", cl.established, len(srv.logs))
	}
	for i := range n {
		if err := c.Send(stamp(i, fx.now(), 64)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		fx.run(gap)
	}
	fx.run(30 * time.Second)
	rl := srv.logs[0]
	if len(rl.msgs) != n {
		t.Fatalf("received %d of %d messages", len(rl.msgs), n)
	}
	for i, m := range rl.msgs {
		if seq, _ := unstamp(m); seq != i {
			t.Fatalf("message %d carries sequence %d: out of order or duplicated", i, seq)
		}
	}
	return fx, rl
}

func latencies(rl *connLog) []time.Duration {
	out := make([]time.Duration, len(rl.msgs))
	for i, m := range rl.msgs {
		_, sent := unstamp(m)
		out[i] = rl.at[i] - sent
	}
	return out
}

func TestLatencyMatchesProfile(t *testing.T) {
	cfg := quietConfig()
	cfg.Link = LinkProfile{Latency: time.Millisecond, Jitter: 200 * time.Microsecond}
	const n = 4000
	fx, rl := pacedStream(t, cfg, n, 5*time.Millisecond)
	var sum, lo, hi time.Duration = 0, time.Hour, 0
	for _, d := range latencies(rl) {
		sum += d
		lo, hi = min(lo, d), max(hi, d)
	}
	mean := sum / n
	// Uniform on ±200µs: sd 115µs, so the mean of 4000 is within ±6µs at 3 sigma.
	if mean < 990*time.Microsecond || mean > 1010*time.Microsecond {
		t.Errorf("mean one-way latency %v, want 1ms ± 10µs", mean)
	}
	if lo < 800*time.Microsecond || hi > 1200*time.Microsecond {
		t.Errorf("latency range [%v, %v], want within [800µs, 1.2ms]", lo, hi)
	}
	if hi-lo < 300*time.Microsecond {
		t.Errorf("latency range [%v, %v] is too narrow for ±200µs jitter", lo, hi)
	}
	if st := fx.f.Stats(); st.Retransmits != 0 || st.Lost != 0 {
		t.Errorf("lossless link: retransmits %d, lost %d, want 0", st.Retransmits, st.Lost)
	}
}

func TestLossShowsAsRetransmitDelay(t *testing.T) {
	cfg := quietConfig()
	cfg.Link = LinkProfile{Latency: time.Millisecond, Loss: 0.1}
	const n = 5000
	// Messages 1s apart, so a lost one delays only itself.
	fx, rl := pacedStream(t, cfg, n, time.Second)
	delayed := 0
	for _, d := range latencies(rl) {
		switch {
		case d < time.Millisecond:
			t.Fatalf("a message arrived in %v, faster than the link's latency", d)
		case d == time.Millisecond:
		case d >= cfg.RTOMin+time.Millisecond:
			delayed++
		default:
			t.Fatalf("a message took %v: neither the latency nor a retransmission after RTOMin", d)
		}
	}
	frac := float64(delayed) / n
	if math.Abs(frac-0.1) > 0.015 {
		t.Errorf("%.3f of messages were delayed by a retransmission, want 0.1 ± 0.015", frac)
	}
	st := fx.f.Stats()
	// Each transmission is lost with p, so retransmits per message average p/(1-p).
	per := float64(st.Retransmits) / float64(st.Sent)
	if math.Abs(per-0.1/0.9) > 0.02 {
		t.Errorf("retransmits per message %.4f, want %.4f ± 0.02 (stats %+v)", per, 0.1/0.9, st)
	}
	if st.Delivered != n || st.Duplicates != 0 {
		t.Errorf("delivered %d (want %d), duplicates %d (want 0)", st.Delivered, n, st.Duplicates)
	}
}

// streamAll sends n messages as fast as the send queue allows, resuming on
// Writable, and returns the receiver's log.
func streamAll(t *testing.T, fx *fixture, c env.Conn, cl *connLog, n, size int) {
	t.Helper()
	next := 0
	fill := func(c env.Conn) {
		for next < n {
			err := c.Send(stamp(next, fx.now(), size))
			if errors.Is(err, env.ErrSendQueueFull) {
				return
			}
			if err != nil {
				t.Fatalf("send %d: %v", next, err)
			}
			next++
		}
	}
	cl.onWritable = fill
	fill(c)
}

func TestInOrderExactlyOnceUnderHeavyLoss(t *testing.T) {
	cfg := quietConfig()
	cfg.Link = LinkProfile{Latency: 500 * time.Microsecond, Jitter: 400 * time.Microsecond, Loss: 0.25}
	cfg.SendQueueLimit = 64
	fx := newFixture(t, cfg)
	a := fx.host("a", "", "10.0.0.1")
	b := fx.host("b", "", "10.0.0.2")
	sa, _ := fx.stack(a)
	sb, _ := fx.stack(b)
	srv := fx.listen(sb, "0.0.0.0:1112")
	c, cl := fx.dial(sa, "10.0.0.2:1112")
	fx.run(5 * time.Second) // SYNs may be lost too
	if !cl.established {
		t.Fatal("connection not established in 5s at 25% loss")
	}
	const n = 20000
	streamAll(t, fx, c, cl, n, 100)
	fx.run(10 * time.Minute)
	rl := srv.logs[0]
	if len(rl.msgs) != n {
		t.Fatalf("received %d of %d messages (stats %+v)", len(rl.msgs), n, fx.f.Stats())
	}
	for i, m := range rl.msgs {
		if seq, _ := unstamp(m); seq != i {
			t.Fatalf("message %d carries sequence %d", i, seq)
		}
	}
	st := fx.f.Stats()
	if st.Retransmits < n/5 {
		t.Errorf("only %d retransmits for %d messages at 25%% loss", st.Retransmits, n)
	}
	if cl.closed || rl.closed {
		t.Errorf("loss broke the connection: client %v, server %v", cl.err, rl.err)
	}
}

func TestSendQueueFullThenWritable(t *testing.T) {
	cfg := quietConfig()
	cfg.SendQueueLimit = 16
	fx, c, cl, _, _ := connected(t, cfg)
	for i := range 16 {
		if err := c.Send([]byte{byte(i)}); err != nil {
			t.Fatalf("send %d of 16 into an empty queue of 16: %v", i, err)
		}
	}
	if err := c.Send([]byte{16}); !errors.Is(err, env.ErrSendQueueFull) {
		t.Fatalf("17th send into a queue of 16: %v, want ErrSendQueueFull", err)
	}
	if c.Queued() != 16 {
		t.Fatalf("Queued() = %d, want 16", c.Queued())
	}
	if cl.writable != 0 {
		t.Fatalf("Writable before anything was acknowledged")
	}
	fx.run(10 * time.Millisecond) // one round trip: everything acknowledged
	if cl.writable != 1 {
		t.Fatalf("Writable called %d times after the queue drained, want 1", cl.writable)
	}
	if c.Queued() != 0 {
		t.Fatalf("Queued() = %d after the round trip, want 0", c.Queued())
	}
	if err := c.Send([]byte{16}); err != nil {
		t.Fatalf("send after Writable: %v", err)
	}
}

// Writable follows a drained queue only when asked: a sender is not woken
// each time its queue empties.
func TestWritableOnDrainOnlyWhenAsked(t *testing.T) {
	fx, c, cl, _, _ := connected(t, quietConfig())

	for i := range 4 {
		if err := c.Send([]byte{byte(i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	fx.run(10 * time.Millisecond)
	if c.Queued() != 0 || cl.writable != 0 {
		t.Fatalf("unasked: queue %d (want 0), Writable %d times (want 0)", c.Queued(), cl.writable)
	}

	for i := range 4 {
		if err := c.Send([]byte{byte(i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	c.NotifyDrained()
	c.NotifyDrained() // asking twice still gives one
	if cl.writable != 0 {
		t.Fatal("Writable before the queue drained")
	}
	fx.run(10 * time.Millisecond)
	if c.Queued() != 0 || cl.writable != 1 {
		t.Fatalf("asked: queue %d (want 0), Writable %d times (want 1)", c.Queued(), cl.writable)
	}

	c.NotifyDrained() // already empty: at once
	fx.run(time.Millisecond)
	if cl.writable != 2 {
		t.Fatalf("asked with an empty queue: Writable %d times, want 2", cl.writable)
	}
}

func TestPausedReceiverHoldsSenderBack(t *testing.T) {
	cfg := quietConfig()
	cfg.SendQueueLimit = 64
	cfg.RecvWindow = 1000
	fx, c, cl, srv, xb := connected(t, cfg)
	xb.paused = true
	sent := 0
	for ; sent < 1000; sent++ {
		if err := c.Send(stamp(sent, 0, 100)); err != nil {
			if !errors.Is(err, env.ErrSendQueueFull) {
				t.Fatalf("send %d: %v", sent, err)
			}
			break
		}
	}
	fx.run(2 * fx.f.cfg.UserTimeout) // a paused process is not a dead host: its kernel answers window probes
	if sent != 64 {
		t.Fatalf("sent %d messages before the queue was full, want 64", sent)
	}
	st := fx.f.Stats()
	if st.Delivered != 10 {
		t.Fatalf("a paused receiver with a 1000-byte window took %d messages of 100 bytes, want 10", st.Delivered)
	}
	if cl.closed {
		t.Fatalf("the sender's connection broke while the receiver was paused: %v", cl.err)
	}
	if c.Queued() != 54 || cl.writable != 0 {
		t.Fatalf("sender queue %d (want 54), Writable %d (want 0)", c.Queued(), cl.writable)
	}
	xb.resume()
	fx.run(time.Second)
	if got := len(srv.logs[0].msgs); got != 64 {
		t.Fatalf("after resume the receiver has %d messages, want 64", got)
	}
	if cl.writable == 0 {
		t.Fatal("no Writable after the receiver resumed and the queue half drained")
	}
}

func TestCloseDeliversQueuedThenErrClosed(t *testing.T) {
	fx, c, cl, srv, _ := connected(t, quietConfig())
	for i := range 5 {
		if err := c.Send([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if err := c.Send([]byte{9}); !errors.Is(err, env.ErrClosed) {
		t.Fatalf("send after Close: %v, want ErrClosed", err)
	}
	fx.run(time.Second)
	rl := srv.logs[0]
	if len(rl.msgs) != 5 {
		t.Fatalf("peer received %d of the 5 messages queued before Close", len(rl.msgs))
	}
	if !errors.Is(rl.err, env.ErrClosed) || rl.closes != 1 {
		t.Fatalf("peer Closed %d times with %v, want once with ErrClosed", rl.closes, rl.err)
	}
	if cl.closed {
		t.Fatalf("the closing side got a callback after Close: %v", cl.err)
	}
	if rl.closedAt < rl.at[4] {
		t.Fatal("Closed came before the last message")
	}
}

func TestListenRulesAndInterfaceAddrs(t *testing.T) {
	fx := newFixture(t, quietConfig())
	a := fx.f.AddHost("a", "", addr("192.168.1.5"), addr("10.0.0.1"))
	b := fx.host("b", "", "10.0.0.2")
	sa, _ := fx.stack(a)
	sb, _ := fx.stack(b)
	got := sa.InterfaceAddrs()
	want := []string{"10.0.0.1", "127.0.0.1", "192.168.1.5"}
	if len(got) != len(want) {
		t.Fatalf("InterfaceAddrs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("InterfaceAddrs = %v, want %v", got, want)
		}
	}
	if _, err := sa.Listen(env.Endpoint{Host: "10.0.0.2", Port: 1}, func(env.Conn) env.ConnHandler { return nil }); !errors.Is(err, env.ErrAddrNotAvailable) {
		t.Fatalf("listen on another host's address: %v, want ErrAddrNotAvailable", err)
	}
	fx.listen(sa, "127.0.0.1:2113")
	if _, err := sa.Listen(env.Endpoint{Host: "0.0.0.0", Port: 2113}, func(env.Conn) env.ConnHandler { return nil }); !errors.Is(err, env.ErrAddrInUse) {
		t.Fatalf("listen on 0.0.0.0:2113 over 127.0.0.1:2113: %v, want ErrAddrInUse", err)
	}
	fx.listen(sa, "10.0.0.1:2113") // another address, same port: fine
	// 127.0.0.1 is each host's own: b dialing it reaches b, where nothing listens.
	_, bl := fx.dial(sb, "127.0.0.1:2113")
	_, al := fx.dial(sa, "127.0.0.1:2113")
	fx.run(100 * time.Millisecond)
	if !errors.Is(bl.err, env.ErrRefused) {
		t.Fatalf("b dialing 127.0.0.1:2113 (bound only on a): %v, want ErrRefused", bl.err)
	}
	if !al.established {
		t.Fatalf("a dialing its own 127.0.0.1:2113 did not connect: %v", al.err)
	}
	l := fx.listen(sb, "0.0.0.0:0")
	if p := l.l.Addr().Port; p == 0 {
		t.Fatal("listen on port 0 did not pick a port")
	}
}

func TestSendQueueByteLimit(t *testing.T) {
	cfg := quietConfig()
	cfg.SendQueueBytes = 1000
	_, c, _, _, _ := connected(t, cfg)
	if err := c.Send(make([]byte, 1500)); err != nil {
		t.Fatalf("one message above the byte limit into an empty queue: %v, want accepted", err)
	}
	if err := c.Send(make([]byte, 10)); !errors.Is(err, env.ErrSendQueueFull) {
		t.Fatalf("send with 1500 of 1000 bytes queued: %v, want ErrSendQueueFull", err)
	}
	if err := c.Send(make([]byte, env.MaxMessageSize+1)); !errors.Is(err, env.ErrMessageTooLarge) {
		t.Fatalf("send above MaxMessageSize: %v, want ErrMessageTooLarge", err)
	}
}

func TestBandwidthSerialisesSegments(t *testing.T) {
	cfg := quietConfig()
	cfg.SendQueueLimit = 1000
	fx := newFixture(t, cfg)
	a := fx.host("a", "", "10.0.0.1")
	b := fx.host("b", "", "10.0.0.2")
	// 8 Mbit/s: a 960-byte payload plus 40 bytes of header takes 1ms.
	fx.f.SetLink(a, b, LinkProfile{Latency: time.Millisecond, BandwidthBps: 8_000_000})
	sa, _ := fx.stack(a)
	sb, _ := fx.stack(b)
	srv := fx.listen(sb, "10.0.0.2:1112")
	c, _ := fx.dial(sa, "10.0.0.2:1112")
	fx.run(10 * time.Millisecond)
	start := fx.now()
	for i := range 100 {
		if err := c.Send(make([]byte, 960)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	fx.run(time.Second)
	rl := srv.logs[0]
	if len(rl.msgs) != 100 {
		t.Fatalf("received %d of 100", len(rl.msgs))
	}
	if d := rl.at[0] - start; d != 2*time.Millisecond {
		t.Errorf("first message after %v, want 1ms serialisation + 1ms latency", d)
	}
	if d := rl.at[99] - start; d != 101*time.Millisecond {
		t.Errorf("last of 100 after %v, want 100ms serialisation + 1ms latency", d)
	}
}

func TestAcceptRefusalResetsAndClosedListenerRefuses(t *testing.T) {
	fx := newFixture(t, quietConfig())
	a := fx.host("a", "", "10.0.0.1")
	b := fx.host("b", "", "10.0.0.2")
	sa, _ := fx.stack(a)
	sb, _ := fx.stack(b)
	l, err := sb.Listen(env.Endpoint{Host: "10.0.0.2", Port: 1112}, func(env.Conn) env.ConnHandler { return nil })
	if err != nil {
		t.Fatal(err)
	}
	_, cl := fx.dial(sa, "10.0.0.2:1112")
	fx.run(100 * time.Millisecond)
	if !cl.established || !errors.Is(cl.err, env.ErrReset) {
		t.Fatalf("dial to a listener whose accept returns nil: established=%v err=%v; want established, then ErrReset", cl.established, cl.err)
	}
	l.Close()
	_, cl2 := fx.dial(sa, "10.0.0.2:1112")
	fx.run(100 * time.Millisecond)
	if cl2.established || !errors.Is(cl2.err, env.ErrRefused) {
		t.Fatalf("dial to a closed listener: established=%v err=%v; want ErrRefused", cl2.established, cl2.err)
	}
}

// A segment that reaches a killed peer is answered with a reset; when the
// network loses that reset, the sender hears nothing and must send the
// segment again, so that after the partition heals the next answer (a
// reset) arrives within a few RTOs instead of the user timeout.
func TestASegmentAnsweredByALostResetIsSentAgain(t *testing.T) {
	fx, c, cl, srv, _ := connected(t, quietConfig())
	a, b := fx.f.Host("a"), fx.f.Host("b")
	sb := srv.logs[0].conn.(*end).st
	fx.f.Block(b, a) // b's resets cannot reach a
	sb.Kill()
	if err := c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fx.run(100 * time.Millisecond)
	fx.f.Heal()
	fx.run(5 * time.Second)
	if !errors.Is(cl.err, env.ErrReset) {
		t.Fatalf("5 s after the heal: closed %v, error %v; want a reset", cl.closed, cl.err)
	}
}
