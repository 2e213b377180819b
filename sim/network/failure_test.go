package network

import (
	"errors"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// pair is a client process on a connected to a server process on b.
type pair struct {
	fx     *fixture
	a, b   *Host
	sa, sb *Stack
	srv    *server
	c      env.Conn
	cl     *connLog // client side
	sl     *connLog // server side
}

func newPair(t *testing.T) *pair {
	fx := newFixture(t, quietConfig())
	p := &pair{fx: fx}
	p.a = fx.host("a", "", "10.0.0.1")
	p.b = fx.host("b", "", "10.0.0.2")
	p.sa, _ = fx.stack(p.a)
	p.sb, _ = fx.stack(p.b)
	p.srv = fx.listen(p.sb, "10.0.0.2:1112")
	p.c, p.cl = fx.dial(p.sa, "10.0.0.2:1112")
	fx.run(10 * time.Millisecond)
	if !p.cl.established || len(p.srv.logs) != 1 {
		t.Fatal("pair not connected")
	}
	p.sl = p.srv.logs[0]
	return p
}

func TestKillResetsPeerPromptlyThenRefuses(t *testing.T) {
	p := newPair(t)
	fx := p.fx
	killed := fx.now()
	p.sb.Kill()
	fx.run(100 * time.Millisecond)
	if !errors.Is(p.cl.err, env.ErrReset) || p.cl.closedAt-killed != time.Millisecond {
		t.Fatalf("peer of a killed process: %v after %v, want ErrReset after one latency (1ms)", p.cl.err, p.cl.closedAt-killed)
	}
	if p.sl.closed {
		t.Fatal("a killed process got a callback")
	}
	if err := p.c.Send([]byte("x")); !errors.Is(err, env.ErrClosed) {
		t.Fatalf("send on a reset connection: %v, want ErrClosed", err)
	}
	start := fx.now()
	_, l := fx.dial(p.sa, "10.0.0.2:1112")
	fx.run(100 * time.Millisecond)
	if !errors.Is(l.err, env.ErrRefused) || l.closedAt-start != 2*time.Millisecond {
		t.Fatalf("dial to a dead process's port: %v after %v, want ErrRefused after one round trip", l.err, l.closedAt-start)
	}
	// A new incarnation listens again.
	sb2, _ := fx.stack(p.b)
	fx.listen(sb2, "10.0.0.2:1112")
	_, l2 := fx.dial(p.sa, "10.0.0.2:1112")
	fx.run(100 * time.Millisecond)
	if !l2.established {
		t.Fatalf("dial to the restarted process: %v", l2.err)
	}
}

func TestKilledClientResetsServer(t *testing.T) {
	p := newPair(t)
	p.sa.Kill()
	p.fx.run(100 * time.Millisecond)
	if !errors.Is(p.sl.err, env.ErrReset) {
		t.Fatalf("server side of a killed client: %v, want ErrReset", p.sl.err)
	}
}

func TestFreezeIsSilenceUntilUserTimeout(t *testing.T) {
	p := newPair(t)
	fx := p.fx
	// A second, idle connection to the same host.
	_, idle := fx.dial(p.sa, "10.0.0.2:1112")
	fx.run(10 * time.Millisecond)
	p.b.Freeze()
	sent := fx.now()
	if err := p.c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fx.run(fx.f.cfg.UserTimeout - time.Millisecond)
	if p.cl.closed {
		t.Fatalf("peer of a frozen host broke after %v, before UserTimeout: %v", fx.now()-sent, p.cl.err)
	}
	fx.run(2 * time.Millisecond)
	if !errors.Is(p.cl.err, env.ErrTimeout) || p.cl.closedAt-sent != fx.f.cfg.UserTimeout {
		t.Fatalf("peer of a frozen host: %v after %v, want ErrTimeout after UserTimeout %v", p.cl.err, p.cl.closedAt-sent, fx.f.cfg.UserTimeout)
	}
	fx.run(2 * fx.f.cfg.UserTimeout)
	if idle.closed {
		t.Fatalf("an idle connection to a frozen host broke: %v (nothing was sent, so nothing can tell)", idle.err)
	}
	if fx.f.Stats().Resets != 0 {
		t.Fatal("a frozen host sent a reset")
	}
	if len(p.sl.msgs) != 0 || p.sl.closed {
		t.Fatal("the process on the frozen host received something")
	}
	// Connects to a frozen host time out rather than being refused.
	_, l := fx.dial(p.sa, "10.0.0.2:1")
	fx.run(3 * time.Second)
	if !errors.Is(l.err, env.ErrTimeout) {
		t.Fatalf("dial to a closed port of a frozen host: %v, want ErrTimeout", l.err)
	}
}

func TestThawResumesRetransmission(t *testing.T) {
	p := newPair(t)
	fx := p.fx
	p.b.Freeze()
	if err := p.c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fx.run(2 * time.Second)
	p.b.Thaw()
	if len(p.sl.msgs) != 0 {
		t.Fatal("a frozen host received a message")
	}
	// Retransmissions at 0.2, 0.6, 1.4, 3.0s: the one at 3.0s gets through.
	fx.run(1100 * time.Millisecond)
	if len(p.sl.msgs) != 1 || p.cl.closed || p.sl.closed {
		t.Fatalf("after Thaw: %d messages, errors %v / %v; want the message and a live connection", len(p.sl.msgs), p.cl.err, p.sl.err)
	}
	if p.sl.at[0] != 3*time.Second+10*time.Millisecond+time.Millisecond {
		t.Fatalf("delivered at %v, want at the fourth retransmission (3s after sending) plus 1ms", p.sl.at[0])
	}
}

func TestPowerOffIsSilenceThenResetAfterPowerOn(t *testing.T) {
	p := newPair(t)
	fx := p.fx
	p.b.PowerOff()
	sent := fx.now()
	if err := p.c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fx.run(5 * time.Second)
	if p.cl.closed {
		t.Fatalf("peer of a powered-off host heard something: %v", p.cl.err)
	}
	p.b.PowerOn()
	// Nothing is bound after a power cycle, and dials are refused.
	_, l := fx.dial(p.sa, "10.0.0.2:1112")
	fx.run(100 * time.Millisecond)
	if !errors.Is(l.err, env.ErrRefused) {
		t.Fatalf("dial after PowerOn with no process: %v, want ErrRefused", l.err)
	}
	// The old connection's next retransmission (6.2s after sending) is reset.
	fx.run(2 * time.Second)
	if !errors.Is(p.cl.err, env.ErrReset) {
		t.Fatalf("old connection after PowerOn: %v, want ErrReset", p.cl.err)
	}
	if d := p.cl.closedAt - sent; d != 6200*time.Millisecond+2*time.Millisecond {
		t.Fatalf("reset %v after sending, want at the retransmission 6.2s after sending plus a round trip", d)
	}
	if p.sl.closed || len(p.sl.msgs) != 0 {
		t.Fatal("the powered-off process got a callback")
	}
}

func TestPowerOffAndNewStackServesAgain(t *testing.T) {
	p := newPair(t)
	fx := p.fx
	p.b.PowerOff()
	fx.run(time.Second)
	p.b.PowerOn()
	sb2, _ := fx.stack(p.b)
	srv2 := fx.listen(sb2, "10.0.0.2:1112")
	_, l := fx.dial(p.sa, "10.0.0.2:1112")
	fx.run(100 * time.Millisecond)
	if !l.established || len(srv2.logs) != 1 {
		t.Fatalf("dial to the new incarnation after a power cycle: %v", l.err)
	}
	// The idle old connection learns of the reboot only when it speaks.
	if p.cl.closed {
		t.Fatal("an idle connection noticed a power cycle without sending")
	}
	if err := p.c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	fx.run(100 * time.Millisecond)
	if !errors.Is(p.cl.err, env.ErrReset) {
		t.Fatalf("old connection speaking after the reboot: %v, want ErrReset", p.cl.err)
	}
}

// A sender held back by a full receive window probes it (TCP's persist
// timer): a receiving process that is only slow answers through its kernel
// and the connection lives on (TestPausedReceiverHoldsSenderBack), but a
// receiver whose host fell silent answers nothing, and the connection
// breaks after the user timeout, as Linux's does when its window probes go
// unanswered. Nothing unacknowledged is in flight in that state, so the
// ordinary user timeout never starts: without probes the sender would wait
// on a dead host forever.
func TestWindowBlockedSenderTimesOutOnASilentReceiver(t *testing.T) {
	for _, silence := range []string{"freeze", "partition", "power-off"} {
		t.Run(silence, func(t *testing.T) {
			cfg := quietConfig()
			cfg.SendQueueLimit = 64
			cfg.RecvWindow = 1000
			fx, c, cl, _, xb := connected(t, cfg)
			a, b := fx.f.Host("a"), fx.f.Host("b")
			xb.paused = true // b's process stops reading: its window fills
			for i := range 20 {
				if err := c.Send(stamp(i, 0, 100)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			fx.run(time.Second)
			if c.Queued() != 10 {
				t.Fatalf("queue %d after the window filled, want 10 held back", c.Queued())
			}
			silent := fx.now()
			switch silence {
			case "freeze":
				b.Freeze()
			case "partition":
				fx.f.Partition([]*Host{a}, []*Host{b})
			case "power-off":
				b.PowerOff()
			}
			fx.run(fx.f.cfg.UserTimeout + time.Minute)
			if !cl.closed || !errors.Is(cl.err, env.ErrTimeout) {
				t.Fatalf("a sender blocked on the window of a silent host: closed %v, err %v after %v; want ErrTimeout",
					cl.closed, cl.err, fx.now()-silent)
			}
			// Counted from the last probe b answered, at most a second
			// before it fell silent.
			if d := cl.closedAt - silent; d > fx.f.cfg.UserTimeout || d < fx.f.cfg.UserTimeout-time.Second {
				t.Fatalf("broke %v after the host fell silent, want the user timeout %v since b was last heard", d, fx.f.cfg.UserTimeout)
			}
		})
	}
}
