package network

import (
	"errors"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// natWorld: realm "dc" with p1 (10.0.0.1) and p2 (10.0.0.2) behind NAT
// 203.0.113.1, which forwards :2113 to p1:2113; outside host o
// (198.51.100.7) on the public network.
type natWorld struct {
	fx         *fixture
	p1, p2, o  *Host
	sp1, sp2   *Stack
	so         *Stack
	nat        *NAT
	p1srv, osr *server
}

func newNATWorld(t *testing.T) *natWorld {
	fx := newFixture(t, quietConfig())
	fx.f.AddRealm("dc")
	nw := &natWorld{fx: fx}
	nw.p1 = fx.host("p1", "dc", "10.0.0.1")
	nw.p2 = fx.host("p2", "dc", "10.0.0.2")
	nw.o = fx.host("o", "", "198.51.100.7")
	nw.nat = fx.f.AddNAT("dc", addr("203.0.113.1"))
	nw.nat.Forward(2113, addr("10.0.0.1"), 2113)
	nw.sp1, _ = fx.stack(nw.p1)
	nw.sp2, _ = fx.stack(nw.p2)
	nw.so, _ = fx.stack(nw.o)
	nw.p1srv = fx.listen(nw.sp1, "0.0.0.0:2113")
	fx.listen(nw.sp1, "0.0.0.0:9999")
	nw.osr = fx.listen(nw.so, "198.51.100.7:80")
	return nw
}

func (nw *natWorld) dialWait(s *Stack, ep string) *connLog {
	_, l := nw.fx.dial(s, ep)
	nw.fx.run(3 * time.Second)
	return l
}

func TestNATOutsideToPrivateAddressTimesOut(t *testing.T) {
	nw := newNATWorld(t)
	l := nw.dialWait(nw.so, "10.0.0.1:2113")
	if !errors.Is(l.err, env.ErrTimeout) {
		t.Fatalf("outside -> private address: %v, want ErrTimeout", l.err)
	}
	if nw.fx.f.Stats().DroppedNAT == 0 {
		t.Fatal("the SYNs to a private address were not counted as NAT drops")
	}
	if len(nw.p1srv.logs) != 0 {
		t.Fatal("the private listener accepted a connection to its private address from outside")
	}
}

func TestNATForwardedPortReachesPrivateListener(t *testing.T) {
	nw := newNATWorld(t)
	l := nw.dialWait(nw.so, "203.0.113.1:2113")
	if !l.established || l.closed {
		t.Fatalf("outside -> NAT forwarded port: established=%v err=%v", l.established, l.err)
	}
	if len(nw.p1srv.logs) != 1 {
		t.Fatalf("the forwarded listener accepted %d connections, want 1", len(nw.p1srv.logs))
	}
	sc := nw.p1srv.logs[0].conn
	if got := sc.Remote().Host; got != "198.51.100.7" {
		t.Errorf("the private server sees the client as %s, want 198.51.100.7 (inbound is not source-translated)", got)
	}
	if got := sc.Local(); got != (env.Endpoint{Host: "10.0.0.1", Port: 2113}) {
		t.Errorf("the private server's local endpoint is %v, want 10.0.0.1:2113", got)
	}
	if got := l.conn.Remote(); got != (env.Endpoint{Host: "203.0.113.1", Port: 2113}) {
		t.Errorf("the client's remote endpoint is %v, want 203.0.113.1:2113 as dialed", got)
	}
}

func TestNATUnforwardedPortTimesOut(t *testing.T) {
	nw := newNATWorld(t)
	// p1 listens on 9999, but the NAT does not forward it.
	l := nw.dialWait(nw.so, "203.0.113.1:9999")
	if !errors.Is(l.err, env.ErrTimeout) {
		t.Fatalf("outside -> unforwarded NAT port: %v, want ErrTimeout", l.err)
	}
}

func TestNATOutboundIsSourceTranslated(t *testing.T) {
	nw := newNATWorld(t)
	l := nw.dialWait(nw.sp1, "198.51.100.7:80")
	if !l.established || l.closed {
		t.Fatalf("inside -> outside: established=%v err=%v", l.established, l.err)
	}
	sc := nw.osr.logs[0].conn
	if got := sc.Remote().Host; got != "203.0.113.1" {
		t.Fatalf("the outside server sees the client as %s, want the NAT's 203.0.113.1", got)
	}
	if got := l.conn.Local().Host; got != "10.0.0.1" {
		t.Fatalf("the client's local address is %s, want its private 10.0.0.1", got)
	}
	// Calls too: the handler's from is the translated source.
	var from env.Endpoint
	if _, err := nw.so.Serve(env.Endpoint{Host: "0.0.0.0", Port: 2113}, handlerFunc(func(f env.Endpoint, _ string, _ []byte, reply func([]byte, error)) {
		from = f
		reply(nil, nil)
	})); err != nil {
		t.Fatal(err)
	}
	r := nw.fx.call(nw.sp2, "198.51.100.7:2113", "ping", nil, time.Second)
	nw.fx.run(time.Second)
	if r.n != 1 || r.err != nil {
		t.Fatalf("call from behind the NAT: %d results, err %v", r.n, r.err)
	}
	if from.Host != "203.0.113.1" || from.Port == 0 {
		t.Fatalf("HandleRequest saw from=%v, want 203.0.113.1 with the NAT's port", from)
	}
}

func TestSameRealmTalksDirectly(t *testing.T) {
	nw := newNATWorld(t)
	l := nw.dialWait(nw.sp2, "10.0.0.1:2113")
	if !l.established || l.closed {
		t.Fatalf("p2 -> p1 inside the realm: established=%v err=%v", l.established, l.err)
	}
	if got := nw.p1srv.logs[0].conn.Remote().Host; got != "10.0.0.2" {
		t.Fatalf("p1 sees p2 as %s, want 10.0.0.2 (no NAT inside the realm)", got)
	}
	// The outside host's address is not in the realm, and the realm's
	// private addresses are not reachable from another realm either.
	nw.fx.f.AddRealm("other")
	q := nw.fx.host("q", "other", "10.0.0.9")
	sq, _ := nw.fx.stack(q)
	if l := nw.dialWait(sq, "10.0.0.1:2113"); !errors.Is(l.err, env.ErrTimeout) {
		t.Fatalf("another realm -> dc's private address: %v, want ErrTimeout", l.err)
	}
}
