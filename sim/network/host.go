package network

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/annal-db/annal/sim/world"
)

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// Linux's default ephemeral range, and the range a NAT maps from.
const (
	ephemeralFirst = 32768
	ephemeralLast  = 60999
	natPortFirst   = 1024
	natPortLast    = 65535
)

// Host is one simulated machine's network side: its addresses and its
// kernel (listeners, ports, connections), which outlives processes and is
// lost at power-off.
type Host struct {
	f       *Fabric
	name    string
	idx     int
	realm   *realm
	addrs   []netip.Addr // as given; the first is the source of connections
	primary netip.Addr
	ifAddrs []string // sorted, loopback included

	frozen bool
	down   bool
	// epoch counts power cycles: kernel state of an older epoch is gone.
	epoch uint32

	listeners map[uint16][]*listener
	ports     map[uint16]int // ephemeral ports held by connections
	nextPort  uint16
	links     []*link // by destination host index, created on first use
	stacks    []*Stack
	stackSeq  int
}

// Name is the host's name, as traces show it.
func (h *Host) Name() string { return h.name }

// Addrs lists the host's addresses as given to AddHost.
func (h *Host) Addrs() []netip.Addr { return append([]netip.Addr(nil), h.addrs...) }

// NewStack starts a process incarnation's sockets on the host. Every
// callback into the process goes through exec.
func (h *Host) NewStack(exec world.Executor) *Stack {
	if h.down {
		panic(fmt.Sprintf("network: NewStack on host %q while it is powered off; call PowerOn first", h.name))
	}
	h.stackSeq++
	s := &Stack{
		f:        h.f,
		host:     h,
		exec:     exec,
		rng:      h.f.w.Rand("net/stack/" + h.name + "#" + strconv.Itoa(h.stackSeq)),
		channels: map[channelKey]*channel{},
	}
	h.stacks = append(h.stacks, s)
	return s
}

// Freeze silences the host (a paused VM, a pulled cable): no packet leaves
// or arrives, nothing answers, and its connections stay open.
func (h *Host) Freeze() { h.frozen = true }

// Thaw ends a Freeze; retransmissions that come due afterwards get through.
func (h *Host) Thaw() { h.frozen = false }

// Frozen reports whether the host is frozen.
func (h *Host) Frozen() bool { return h.frozen }

// PowerOff silences the host and loses its kernel state: every process on
// it dies without a word to its peers, and after PowerOn segments of the old
// connections are answered with resets.
func (h *Host) PowerOff() {
	if h.down {
		return
	}
	h.down = true
	h.epoch++
	for len(h.stacks) > 0 {
		h.stacks[len(h.stacks)-1].die(false)
	}
	clear(h.listeners)
	clear(h.ports)
}

// PowerOn boots the host's kernel empty: nothing listens until a new stack
// does.
func (h *Host) PowerOn() { h.down = false }

// Down reports whether the host is powered off.
func (h *Host) Down() bool { return h.down }

func (h *Host) hasAddr(a netip.Addr) bool {
	if a == loopback {
		return true
	}
	for _, b := range h.addrs {
		if a == b {
			return true
		}
	}
	return false
}

// allocPort takes a free ephemeral port, cycling through the range so that
// a port is reused as late as possible.
func (h *Host) allocPort() (uint16, bool) {
	for range ephemeralLast - ephemeralFirst + 1 {
		p := h.nextPort
		h.nextPort++
		if h.nextPort > ephemeralLast {
			h.nextPort = ephemeralFirst
		}
		if h.ports[p] == 0 && len(h.listeners[p]) == 0 {
			h.ports[p]++
			return p, true
		}
	}
	return 0, false
}

func (h *Host) releasePort(p uint16, epoch uint32) {
	if epoch != h.epoch {
		return // the power cycle freed it already
	}
	if h.ports[p] <= 1 {
		delete(h.ports, p)
		return
	}
	h.ports[p]--
}

// lookup finds the listener a SYN to dst reaches: one bound to the exact
// address first, then one bound to all addresses.
func (h *Host) lookup(dst netip.AddrPort) *listener {
	var wild *listener
	for _, l := range h.listeners[dst.Port()] {
		if l.addr == dst.Addr() {
			return l
		}
		if !l.addr.IsValid() {
			wild = l
		}
	}
	return wild
}

// link is one direction between two hosts.
type link struct {
	p         LinkProfile
	blocked   bool
	rng       *rand.Rand
	busyUntil time.Duration // a bandwidth-limited link is serialising until then
}

func (f *Fabric) link(from, to *Host) *link {
	if to.idx < len(from.links) {
		if l := from.links[to.idx]; l != nil {
			return l
		}
	} else {
		from.links = append(from.links, make([]*link, to.idx+1-len(from.links))...)
	}
	p := f.cfg.Link
	if from == to {
		p = f.cfg.Loopback
	}
	l := &link{p: p, rng: f.w.Rand("net/link/" + from.name + ">" + to.name)}
	from.links[to.idx] = l
	return l
}

// headerBytes is what one segment costs on the wire beyond its payload.
const headerBytes = 40

// delay draws the time a packet of size payload bytes sent now takes to
// arrive: queueing and serialisation on a limited link, then latency ±
// jitter.
func (l *link) delay(now time.Duration, size int) time.Duration {
	d := l.p.Latency
	if j := l.p.Jitter; j > 0 {
		d += time.Duration(l.rng.Int64N(int64(2*j)+1)) - j
		if d < 0 {
			d = 0
		}
	}
	if bps := l.p.BandwidthBps; bps > 0 && size > 0 {
		bits := int64(size+headerBytes) * 8
		ser := time.Duration((bits*int64(time.Second) + bps - 1) / bps)
		start := max(now, l.busyUntil)
		l.busyUntil = start + ser
		d += l.busyUntil - now
	}
	return d
}

// lose draws whether one transmission is lost.
func (l *link) lose() bool {
	return l.p.Loss > 0 && l.rng.Float64() < l.p.Loss
}

// NAT is a private realm's gateway: source translation out, port forwards in.
type NAT struct {
	f        *Fabric
	realm    *realm
	public   netip.Addr
	forwards map[uint16]netip.AddrPort
	inUse    map[uint16]bool
	nextPort uint16
}

// Public is the NAT's public address.
func (n *NAT) Public() netip.Addr { return n.public }

// Forward sends connections to public:publicPort on to private:privatePort
// inside the realm. The private address must be a host of the realm.
func (n *NAT) Forward(publicPort uint16, private netip.Addr, privatePort uint16) {
	private = private.Unmap()
	if n.realm.hosts[private] == nil {
		panic(fmt.Sprintf("network: NAT %v forward of port %d to %v, which no host of realm %q has", n.public, publicPort, private, n.realm.name))
	}
	if publicPort == 0 || privatePort == 0 {
		panic(fmt.Sprintf("network: NAT %v forward %d -> %v:%d uses port 0", n.public, publicPort, private, privatePort))
	}
	n.forwards[publicPort] = netip.AddrPortFrom(private, privatePort)
}

// Unforward removes the forward of publicPort.
func (n *NAT) Unforward(publicPort uint16) { delete(n.forwards, publicPort) }

// alloc maps one outbound connection to a public port, cycling through the
// range so that ports are reused as late as possible.
func (n *NAT) alloc() (uint16, bool) {
	for range natPortLast - natPortFirst + 1 {
		p := n.nextPort
		if n.nextPort == natPortLast {
			n.nextPort = natPortFirst
		} else {
			n.nextPort++
		}
		if !n.inUse[p] && n.forwards[p] == (netip.AddrPort{}) {
			n.inUse[p] = true
			return p, true
		}
	}
	return 0, false
}

// route is where a connection's packets go and how each side names the
// other.
type route struct {
	reason   dropReason // dropNone when the destination is reachable
	dst      *Host
	dstLocal netip.AddrPort // the destination as its own kernel sees it (after NAT)
	srcLocal netip.Addr     // the address the source connects from
	srcSeen  netip.AddrPort // the source as the destination sees it (after NAT)
	nat      *NAT           // the NAT holding a mapping for this connection
	natPort  uint16
}

// route resolves a connection from src's port srcPort to dst:dstPort.
func (f *Fabric) route(src *Host, dst netip.Addr, dstPort, srcPort uint16) route {
	rt := route{srcLocal: src.primary, srcSeen: netip.AddrPortFrom(src.primary, srcPort)}
	if dst.IsLoopback() {
		if dst != loopback {
			rt.reason = dropUnroutable
			return rt
		}
		rt.dst = src
		rt.dstLocal = netip.AddrPortFrom(dst, dstPort)
		rt.srcLocal = loopback
		rt.srcSeen = netip.AddrPortFrom(loopback, srcPort)
		return rt
	}
	if h := src.realm.hosts[dst]; h != nil {
		rt.dst = h
		rt.dstLocal = netip.AddrPortFrom(dst, dstPort)
		return rt
	}
	// Leaving the realm: find the destination in the public network.
	var dstHost *Host
	dstLocal := netip.AddrPortFrom(dst, dstPort)
	if h := f.public.hosts[dst]; h != nil {
		dstHost = h
	} else if n := f.natByPublic[dst]; n != nil {
		fw, ok := n.forwards[dstPort]
		if !ok {
			rt.reason = dropNAT
			return rt
		}
		dstHost, dstLocal = n.realm.hosts[fw.Addr()], fw
	} else {
		rt.reason = dropUnroutable
		if f.privateAddrs[dst] > 0 {
			rt.reason = dropNAT
		}
		return rt
	}
	if src.realm != f.public {
		n := src.realm.nat
		if n == nil {
			rt.reason = dropUnroutable // a private realm without a way out
			return rt
		}
		port, ok := n.alloc()
		if !ok {
			rt.reason = dropNAT // mapping table full
			return rt
		}
		rt.nat, rt.natPort = n, port
		rt.srcSeen = netip.AddrPortFrom(n.public, port)
	}
	rt.dst, rt.dstLocal = dstHost, dstLocal
	return rt
}

func (rt *route) release() {
	if rt.nat != nil {
		delete(rt.nat.inUse, rt.natPort)
		rt.nat = nil
	}
}
