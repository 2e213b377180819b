// Package network is the simulated network the nodes of a simulated cluster
// talk over: hosts with addresses in the public network or in private realms
// behind NAT, directional links with latency, jitter, loss and bandwidth,
// partitions, frozen and powered-off hosts, and on top of them TCP-like
// stream connections and gRPC-like call channels. A Stack (one process
// incarnation's sockets) implements env.Network.
//
// The model, and what it leaves out:
//   - A message is one segment. Each transmission of a data segment, SYN or
//     SYN-ACK is lost with the link's Loss probability; a lost data segment is
//     sent again after the retransmission timeout (RTO: the smoothed round
//     trip plus four deviations, at least RTOMin, doubled per consecutive
//     loss of that segment, at most RTOMax; each ACK echoes the transmission
//     that prompted it, as TCP timestamps do). A lost SYN or SYN-ACK goes
//     again after SynRTO (1 s, Linux's initial RTO: no round trip is known
//     yet), doubled per loss. The receiver holds segments that
//     arrive after a gap and hands them over in order, so loss shows as delay
//     and head-of-line blocking, never as a missing or repeated message.
//   - ACKs and RSTs are never lost at random (cumulative ACKs make a single
//     lost ACK invisible in practice), but partitions, frozen and
//     powered-off hosts drop them like anything else. An ACK's fate is
//     decided when it is sent; a vanished ACK makes the sender retransmit.
//   - Flow control: a sender has at most RecvWindow bytes transmitted but not
//     yet handled by the receiving process. When half the window frees up,
//     a window update reaches the sender one latency later; it stands in
//     for the answer to TCP's persist probes too, so partitions do not drop
//     it (the segments it releases then meet the partition). A sender held
//     back probes the window (backing off like retransmissions): the
//     peer's kernel answers while the path both ways is open and its host
//     runs, and UserTimeout without an answer breaks the connection.
//   - Writable comes after ErrSendQueueFull once the queue is at most half
//     full, and whenever the queue drains (every message acknowledged).
//   - Within one connection's direction nothing overtakes: jitter never
//     reorders. Across connections anything goes.
//   - A frozen host is a pulled cable: nothing in or out, but its kernel's
//     timers keep running (its retransmissions back off, its user timeouts
//     expire). A powered-off host loses all kernel state at once: after
//     PowerOn, segments of its old connections are answered with a reset.
//   - A killed process's kernel resets every connection the process had, and
//     refuses later SYNs to its ports.
//
// Randomness: every ordered host pair has its own stream, named
// "net/link/<from>><to>", drawn for jitter and loss of that direction only;
// every process incarnation has "net/stack/<host>#<n>" for the jitter of its
// call channels' reconnect backoff. Traffic on one link never shifts the
// draws of another.
package network

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"time"

	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
)

// LinkProfile is the behaviour of one direction between two hosts.
type LinkProfile struct {
	// Latency is the mean one-way delay.
	Latency time.Duration
	// Jitter spreads the delay uniformly over Latency ± Jitter.
	Jitter time.Duration
	// Loss is the probability that one transmission is lost, in [0, 1).
	Loss float64
	// BandwidthBps is the link's capacity in bits per second; 0 is
	// unlimited. Segments queue behind each other on a limited link.
	BandwidthBps int64
}

func (p LinkProfile) validate(what string) error {
	switch {
	case p.Latency < 0:
		return fmt.Errorf("network: %s latency %v is negative; give 0 or more", what, p.Latency)
	case p.Jitter < 0:
		return fmt.Errorf("network: %s jitter %v is negative; give 0 or more", what, p.Jitter)
	case math.IsNaN(p.Loss) || p.Loss < 0 || p.Loss >= 1:
		return fmt.Errorf("network: %s loss %v is outside [0, 1); a link that loses everything is a partition (use Block)", what, p.Loss)
	case p.BandwidthBps < 0:
		return fmt.Errorf("network: %s bandwidth %d bit/s is negative; give 0 for unlimited", what, p.BandwidthBps)
	}
	return nil
}

// Config sets the fabric's defaults and the TCP and channel parameters.
type Config struct {
	// Link is the profile of every ordered pair of distinct hosts unless
	// SetLink overrides it.
	Link LinkProfile
	// Loopback is the profile of a host talking to itself.
	Loopback LinkProfile
	// RTOMin is the least retransmission timeout; it doubles per
	// consecutive loss of the same segment (and of a SYN).
	RTOMin time.Duration
	// RTOMax caps the doubled retransmission timeout (Linux's TCP_RTO_MAX
	// is 120 s).
	RTOMax time.Duration
	// SynRTO is the retransmission timeout of a handshake (a SYN, a
	// SYN-ACK), sent before any round trip was measured; it doubles per
	// consecutive loss up to RTOMax. Linux's is 1 s (TCP_TIMEOUT_INIT,
	// RFC 6298 2.1), so one lost handshake packet costs a connect a second.
	SynRTO time.Duration
	// UserTimeout breaks a connection with env.ErrTimeout when a segment
	// stays unacknowledged this long, or a closed window's probes go
	// unanswered this long. Production sets no TCP_USER_TIMEOUT, so the
	// default is Linux's: tcp_retries2 = 15 retransmissions, about 924.6 s.
	UserTimeout time.Duration
	// ConnectTimeout fails a connect with env.ErrTimeout when no answer to
	// its SYNs came in this long.
	ConnectTimeout time.Duration
	// SendQueueLimit bounds the messages queued on one connection (sent but
	// unacknowledged, or not yet sent); Send returns env.ErrSendQueueFull
	// beyond it.
	SendQueueLimit int
	// SendQueueBytes bounds the same queue in bytes (one message is always
	// accepted into an empty queue).
	SendQueueBytes int
	// RecvWindow bounds the bytes a receiver holds delivered but not yet
	// processed by its process, plus those in flight towards it: a process
	// that does not run holds its senders back.
	RecvWindow int
	// CallBackoffBase and CallBackoffMax bound the reconnect backoff of a
	// call channel after a failed connect: the base doubles per consecutive
	// failure up to the max.
	CallBackoffBase time.Duration
	CallBackoffMax  time.Duration
	// CallBackoffJitter spreads each backoff by ± this fraction.
	CallBackoffJitter float64
	// MessageCPU and ByteCPU are the simulated CPU cost of handing one
	// message to a process: MessageCPU + len*ByteCPU.
	MessageCPU time.Duration
	ByteCPU    time.Duration
}

// DefaultConfig is a data-centre LAN with Linux-like TCP and grpc-go-like
// channels.
func DefaultConfig() Config {
	return Config{
		Link:              LinkProfile{Latency: 250 * time.Microsecond, Jitter: 100 * time.Microsecond},
		Loopback:          LinkProfile{Latency: 20 * time.Microsecond, Jitter: 5 * time.Microsecond},
		RTOMin:            200 * time.Millisecond,
		RTOMax:            120 * time.Second,
		SynRTO:            time.Second,
		UserTimeout:       924600 * time.Millisecond,
		ConnectTimeout:    2 * time.Second,
		SendQueueLimit:    1024,
		SendQueueBytes:    4 << 20,
		RecvWindow:        4 << 20,
		CallBackoffBase:   100 * time.Millisecond,
		CallBackoffMax:    time.Second,
		CallBackoffJitter: 0.2,
		MessageCPU:        5 * time.Microsecond,
		ByteCPU:           1 * time.Nanosecond,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if err := c.Link.validate("default link"); err != nil {
		return err
	}
	if err := c.Loopback.validate("loopback"); err != nil {
		return err
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"RTOMin", c.RTOMin}, {"RTOMax", c.RTOMax}, {"SynRTO", c.SynRTO}, {"UserTimeout", c.UserTimeout},
		{"ConnectTimeout", c.ConnectTimeout}, {"CallBackoffBase", c.CallBackoffBase},
		{"CallBackoffMax", c.CallBackoffMax},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return fmt.Errorf("network: %s is %v; it must be positive", p.name, p.d)
		}
	}
	switch {
	case c.RTOMax < c.RTOMin:
		return fmt.Errorf("network: RTOMax %v is below RTOMin %v", c.RTOMax, c.RTOMin)
	case c.RTOMax < c.SynRTO:
		return fmt.Errorf("network: RTOMax %v is below SynRTO %v", c.RTOMax, c.SynRTO)
	case c.CallBackoffMax < c.CallBackoffBase:
		return fmt.Errorf("network: CallBackoffMax %v is below CallBackoffBase %v", c.CallBackoffMax, c.CallBackoffBase)
	case c.SendQueueLimit < 1:
		return fmt.Errorf("network: SendQueueLimit %d must be at least 1", c.SendQueueLimit)
	case c.SendQueueBytes < 1:
		return fmt.Errorf("network: SendQueueBytes %d must be at least 1", c.SendQueueBytes)
	case c.RecvWindow < 1:
		return fmt.Errorf("network: RecvWindow %d must be at least 1", c.RecvWindow)
	case math.IsNaN(c.CallBackoffJitter) || c.CallBackoffJitter < 0 || c.CallBackoffJitter >= 1:
		return fmt.Errorf("network: CallBackoffJitter %v is outside [0, 1)", c.CallBackoffJitter)
	case c.MessageCPU < 0 || c.ByteCPU < 0:
		return fmt.Errorf("network: MessageCPU %v and ByteCPU %v must not be negative", c.MessageCPU, c.ByteCPU)
	}
	return nil
}

// realm is one addressing domain: the public network ("") or a private
// network behind a NAT. Private addresses may repeat across realms.
type realm struct {
	name  string
	hosts map[netip.Addr]*Host
	nat   *NAT
}

// Fabric is the whole simulated network of one run.
type Fabric struct {
	w   *world.World
	cfg Config

	public       *realm
	realms       map[string]*realm
	hosts        []*Host
	hostByName   map[string]*Host
	natByPublic  map[netip.Addr]*NAT
	privateAddrs map[netip.Addr]int // how many realms use each private address
	dns          map[string][]string
	methods      map[string]string // interned call method names

	nextID     uint64
	nextCallID uint64
	stats      Stats
}

// New builds an empty fabric with the public realm. It panics on an invalid
// configuration: a scenario with one is a bug to fix, not a run to make.
func New(w *world.World, cfg Config) *Fabric {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	pub := &realm{hosts: map[netip.Addr]*Host{}}
	return &Fabric{
		w:            w,
		cfg:          cfg,
		public:       pub,
		realms:       map[string]*realm{"": pub},
		hostByName:   map[string]*Host{},
		natByPublic:  map[netip.Addr]*NAT{},
		privateAddrs: map[netip.Addr]int{},
		dns:          map[string][]string{},
		methods:      map[string]string{},
	}
}

// Config is the configuration the fabric runs with.
func (f *Fabric) Config() Config { return f.cfg }

// AddRealm adds a private network. Its hosts reach each other directly and
// the public network only through the realm's NAT (AddNAT).
func (f *Fabric) AddRealm(name string) {
	if name == "" {
		panic("network: AddRealm with an empty name; \"\" is the public network, which always exists")
	}
	if _, ok := f.realms[name]; ok {
		panic(fmt.Sprintf("network: realm %q added twice", name))
	}
	f.realms[name] = &realm{name: name, hosts: map[netip.Addr]*Host{}}
}

// AddHost places a host in a realm ("" is the public network) with its
// addresses; the first is the one it connects from. Every host also has
// 127.0.0.1, reachable only from itself.
func (f *Fabric) AddHost(name, realmName string, addrs ...netip.Addr) *Host {
	if name == "" {
		panic("network: AddHost with an empty name")
	}
	if _, ok := f.hostByName[name]; ok {
		panic(fmt.Sprintf("network: host %q added twice", name))
	}
	r, ok := f.realms[realmName]
	if !ok {
		panic(fmt.Sprintf("network: host %q in unknown realm %q; call AddRealm first", name, realmName))
	}
	h := &Host{
		f:         f,
		name:      name,
		idx:       len(f.hosts),
		realm:     r,
		listeners: map[uint16][]*listener{},
		ports:     map[uint16]int{},
		nextPort:  ephemeralFirst,
	}
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case !a.IsValid() || a.IsUnspecified():
			panic(fmt.Sprintf("network: host %q given the address %v, which no host can have", name, a))
		case a.IsLoopback():
			panic(fmt.Sprintf("network: host %q given loopback %v; every host has 127.0.0.1 already", name, a))
		case r.hosts[a] != nil:
			panic(fmt.Sprintf("network: host %q given %v, which host %q in the same realm has", name, a, r.hosts[a].name))
		case r == f.public && f.natByPublic[a] != nil:
			panic(fmt.Sprintf("network: host %q given %v, which is the public address of realm %q's NAT", name, a, f.natByPublic[a].realm.name))
		}
		r.hosts[a] = h
		if r != f.public {
			f.privateAddrs[a]++
		}
		h.addrs = append(h.addrs, a)
	}
	h.primary = loopback
	if len(h.addrs) > 0 {
		h.primary = h.addrs[0]
	}
	all := append([]netip.Addr{loopback}, h.addrs...)
	sort.Slice(all, func(i, j int) bool { return all[i].Less(all[j]) })
	for _, a := range all {
		h.ifAddrs = append(h.ifAddrs, a.String())
	}
	f.hosts = append(f.hosts, h)
	f.hostByName[name] = h
	return h
}

// Host finds a host by name (nil if none).
func (f *Fabric) Host(name string) *Host { return f.hostByName[name] }

// AddNAT gives a private realm its way out: connections from the realm to
// the public network leave with public as their source address, and public
// ports forwarded with NAT.Forward lead in.
func (f *Fabric) AddNAT(realmName string, public netip.Addr) *NAT {
	public = public.Unmap()
	r, ok := f.realms[realmName]
	switch {
	case !ok:
		panic(fmt.Sprintf("network: NAT for unknown realm %q; call AddRealm first", realmName))
	case r == f.public:
		panic("network: the public network has no NAT; give a private realm's name")
	case r.nat != nil:
		panic(fmt.Sprintf("network: realm %q already has NAT %v", realmName, r.nat.public))
	case !public.IsValid() || public.IsUnspecified() || public.IsLoopback():
		panic(fmt.Sprintf("network: NAT for realm %q given the unusable public address %v", realmName, public))
	case f.public.hosts[public] != nil:
		panic(fmt.Sprintf("network: NAT address %v belongs to public host %q", public, f.public.hosts[public].name))
	case f.natByPublic[public] != nil:
		panic(fmt.Sprintf("network: NAT address %v is already realm %q's", public, f.natByPublic[public].realm.name))
	}
	n := &NAT{f: f, realm: r, public: public, forwards: map[uint16]netip.AddrPort{}, inUse: map[uint16]bool{}, nextPort: natPortFirst}
	r.nat = n
	f.natByPublic[public] = n
	return n
}

// Link is the profile of the direction from -> to now.
func (f *Fabric) Link(from, to *Host) LinkProfile { return f.link(from, to).p }

// SetLink overrides the profile of the direction from -> to (from == to is
// the host's loopback).
func (f *Fabric) SetLink(from, to *Host, p LinkProfile) {
	if err := p.validate(fmt.Sprintf("link %s->%s", from.name, to.name)); err != nil {
		panic(err)
	}
	f.link(from, to).p = p
}

// Block drops every packet from -> to (a one-way partition) until Unblock
// or Heal. A host's loopback cannot be blocked.
func (f *Fabric) Block(from, to *Host) {
	if from == to {
		return
	}
	f.link(from, to).blocked = true
}

// Unblock lets packets from -> to pass again.
func (f *Fabric) Unblock(from, to *Host) {
	if from == to {
		return
	}
	f.link(from, to).blocked = false
}

// Partition blocks both directions between every host of a and every host
// of b.
func (f *Fabric) Partition(a, b []*Host) {
	for _, x := range a {
		for _, y := range b {
			f.Block(x, y)
			f.Block(y, x)
		}
	}
}

// Heal removes every block.
func (f *Fabric) Heal() {
	for _, h := range f.hosts {
		for _, l := range h.links {
			if l != nil {
				l.blocked = false
			}
		}
	}
}

// SetDNS makes name resolve to addrs, in that order (none removes it).
func (f *Fabric) SetDNS(name string, addrs ...string) {
	if len(addrs) == 0 {
		delete(f.dns, name)
		return
	}
	f.dns[name] = append([]string(nil), addrs...)
}

// Stats counts what the fabric did.
type Stats struct {
	Sent        uint64 // messages accepted by Send (calls and replies included)
	Delivered   uint64 // messages handed to a receiving process, in order
	Bytes       uint64 // payload bytes delivered
	Duplicates  uint64 // segments that arrived again after being received
	Retransmits uint64 // data segments and SYNs sent again

	Lost              uint64 // transmissions lost to the link's Loss
	DroppedPartition  uint64 // packets dropped by a blocked direction
	DroppedFrozen     uint64 // packets to or from a frozen host
	DroppedDown       uint64 // packets to or from a powered-off host
	DroppedNAT        uint64 // packets to a private address from outside, or an unforwarded NAT port
	DroppedUnroutable uint64 // packets to an address nobody has

	Connects  uint64 // connects started
	Accepts   uint64 // handshakes completed at a listener
	Refused   uint64 // connects answered with a reset (nothing listening)
	Resets    uint64 // connections broken by a reset
	Timeouts  uint64 // connects and connections that timed out
	PeerClose uint64 // connections closed cleanly by the peer

	Calls           uint64 // calls issued
	CallsFailedFast uint64 // calls failed at once by a backing-off channel
	CallTimeouts    uint64 // calls whose deadline passed
	CallsExpired    uint64 // requests dropped unhandled: their caller had given up
}

// Stats reports the counters so far.
func (f *Fabric) Stats() Stats { return f.stats }

func (f *Fabric) rec(h *Host, kind string) trace.Rec {
	return f.w.Trace.Rec(f.w.Now(), h.name, kind)
}

func (f *Fabric) newID() uint64 {
	f.nextID++
	return f.nextID
}

// dropReason says why a packet vanished.
type dropReason uint8

const (
	dropNone dropReason = iota
	dropPartition
	dropFrozen
	dropDown
	dropNAT
	dropUnroutable
)

var dropNames = [...]string{"", "partition", "frozen", "down", "nat", "unroutable"}

func (r dropReason) String() string { return dropNames[r] }

// packet kinds, for traces.
const (
	pktData   = "data"
	pktFin    = "fin"
	pktAck    = "ack"
	pktSyn    = "syn"
	pktSynAck = "synack"
	pktRst    = "rst"
	pktWindow = "window"
)

// drop counts and traces a vanished packet; who is the host where it
// vanished (the sender's for blocked or silent senders, the receiver's for
// silent receivers).
func (f *Fabric) drop(who *Host, why dropReason, pkt string, conn, seq uint64) {
	switch why {
	case dropPartition:
		f.stats.DroppedPartition++
	case dropFrozen:
		f.stats.DroppedFrozen++
	case dropDown:
		f.stats.DroppedDown++
	case dropNAT:
		f.stats.DroppedNAT++
	case dropUnroutable:
		f.stats.DroppedUnroutable++
	}
	f.rec(who, "drop").Str("reason", why.String()).Str("pkt", pkt).Uint("conn", conn).Uint("seq", seq).End()
}

// sendBlock says whether a packet leaving from over l is dropped at once.
func sendBlock(from *Host, l *link) dropReason {
	switch {
	case from.down:
		return dropDown
	case from.frozen:
		return dropFrozen
	case l.blocked:
		return dropPartition
	}
	return dropNone
}

// arriveBlock says whether a packet reaching h is dropped there.
func arriveBlock(h *Host) dropReason {
	switch {
	case h.down:
		return dropDown
	case h.frozen:
		return dropFrozen
	}
	return dropNone
}
