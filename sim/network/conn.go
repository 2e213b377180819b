package network

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/annal-db/annal/core/env"
)

// Events fired on an end: the world.Handler argument packs the kind (top 8
// bits), a transmission count (next 8) and a sequence number (low 48), so
// scheduling one costs no allocation.
const (
	evData           uint64 = iota + 1 // a data segment of the peer's flow reaches this end's host
	evAck                              // a cumulative ACK for this end's flow arrives
	evRetx                             // retransmission timer of one of this end's segments
	evUserTimeout                      // the oldest unacknowledged segment may be too old
	evSynArrive                        // this (client) end's SYN reaches the destination host
	evSynAck                           // the SYN-ACK reaches this (client) end
	evSynRetx                          // retransmission timer of this end's SYN
	evRefused                          // the reset answering this end's SYN arrives
	evRst                              // a reset for this end arrives
	evHsAck                            // the handshake's last ACK reaches this (server) end
	evHsRetry                          // this (client) end sends the handshake's last ACK again
	evConnectTimeout                   // this (client) end's connect may have taken too long
	evWindowOpen                       // the peer's window update reaches this end
	evProbe                            // this end, held back by the peer's window, probes it
)

const seqMask = 1<<48 - 1

func pack(kind uint64, tries uint8, seq uint64) uint64 {
	return kind<<56 | uint64(tries)<<48 | seq&seqMask
}

type endState uint8

const (
	stSynSent endState = iota
	stSynRcvd
	stEstablished
	stDead
)

// seg is one message in a flow, kept by the sender until acknowledged. The
// receiver reads it in place: the simulator shares memory where a real
// network would copy.
type seg struct {
	data    []byte
	firstTx time.Duration
	lastTx  time.Duration
	tries   uint8 // transmissions lost so far (drives the RTO's doubling)
	fin     bool
	arrived bool // at the receiver, waiting behind a gap
}

// item is one callback owed to the process, run in order through its
// executor.
type item struct {
	kind itemKind
	msg  []byte
	err  error
}

type itemKind uint8

const (
	itAccept itemKind = iota
	itEstablished
	itRecv
	itWritable
	itClosed
)

// end is one side of a connection: kernel state (the flows, timers and
// handshake) and the process's view (env.Conn, its handler, its callbacks).
type end struct {
	f    *Fabric
	st   *Stack // owning process (for a server end: the listener's)
	host *Host
	peer *end
	out  *link     // this end's host -> the peer's host
	lst  *listener // server ends: the listener the SYN reached
	rt   route     // client ends: where the SYNs go, NAT mapping held

	id        uint64
	epoch     uint32
	state     endState
	client    bool
	internal  bool // a call channel's: no Writable callbacks
	visible   bool // the process knows, or will be told, of this connection
	appClosed bool // Close was called: no more callbacks
	stackIdx  int  // position in st.ends, -1 when not there
	port      uint16

	local, remote       env.Endpoint
	localStr, remoteStr string
	handler             env.ConnHandler
	deathErr            error

	// Outgoing flow: a ring of segments from the oldest unacknowledged.
	segs          []seg
	segHead       int
	segCount      int
	una           uint64 // sequence number of segs[segHead]
	nxt           uint64 // next sequence number to transmit for the first time
	queuedBytes   int
	finInRing     bool
	sentBytes     int64         // payload bytes transmitted at least once
	txClock       time.Duration // latest arrival scheduled in this direction: nothing overtakes it
	srtt, rttvar  time.Duration
	utArmed       bool
	windowBlocked bool
	probeArmed    bool
	probeTries    uint8
	lastHeard     time.Duration // when an ACK, a window update or a probe's answer last came in
	wantWritable  bool
	wantDrained   bool // NotifyDrained: signal once the queue is empty

	// Incoming flow.
	rcvNxt    uint64
	processed int64 // payload bytes the process has handled

	synTries uint8
	hsTries  uint8
	synTx    time.Duration

	// Callbacks owed to the process, in order.
	items          []item
	itemHead       int
	itemCount      int
	writableQueued bool
}

func (f *Fabric) newEnd(st *Stack, h *Host, client bool) *end {
	e := &end{f: f, st: st, host: h, id: f.newID(), epoch: h.epoch, client: client, stackIdx: -1}
	return e
}

func (e *end) alive() bool { return e.state != stDead && e.epoch == e.host.epoch }

func (e *end) setEndpoints(local, remote netip.AddrPort) {
	e.local = env.Endpoint{Host: local.Addr().String(), Port: local.Port()}
	e.remote = env.Endpoint{Host: remote.Addr().String(), Port: remote.Port()}
	e.localStr, e.remoteStr = e.local.String(), e.remote.String()
}

// ---- env.Conn ----

// ID implements env.Conn.
func (e *end) ID() uint64 { return e.id }

// Local implements env.Conn.
func (e *end) Local() env.Endpoint { return e.local }

// Remote implements env.Conn.
func (e *end) Remote() env.Endpoint { return e.remote }

// Queued implements env.Conn.
func (e *end) Queued() int {
	if e.state == stDead {
		return 0
	}
	return e.queued()
}

// NotifyDrained implements env.Conn: the queue has drained when every
// message sent is acknowledged.
func (e *end) NotifyDrained() {
	if e.appClosed || e.state == stDead {
		return
	}
	if e.queued() == 0 {
		e.signalWritable()
		return
	}
	e.wantDrained = true
}

func (e *end) queued() int {
	if e.finInRing {
		return e.segCount - 1
	}
	return e.segCount
}

var (
	errSendClosed = fmt.Errorf("network: send on a closed or broken connection: %w", env.ErrClosed)
	errQueueFull  = fmt.Errorf("network: the connection's send queue is full; wait for Writable: %w", env.ErrSendQueueFull)
)

// Send implements env.Conn.
func (e *end) Send(msg []byte) error {
	if len(msg) > env.MaxMessageSize {
		return fmt.Errorf("network: message of %d bytes on %s -> %s exceeds the limit of %d bytes: %w",
			len(msg), e.localStr, e.remoteStr, env.MaxMessageSize, env.ErrMessageTooLarge)
	}
	return e.send(msg, true)
}

// send queues one message, copied when copyMsg (a call frame is built fresh
// and handed over).
func (e *end) send(msg []byte, copyMsg bool) error {
	if e.appClosed || e.state == stDead {
		return errSendClosed
	}
	cfg := &e.f.cfg
	n := e.queued()
	if n >= cfg.SendQueueLimit || (n > 0 && e.queuedBytes+len(msg) > cfg.SendQueueBytes) {
		e.wantWritable = true
		return errQueueFull
	}
	data := msg
	if copyMsg {
		data = make([]byte, len(msg))
		copy(data, msg)
	}
	seq := e.pushSeg(data, false)
	e.queuedBytes += len(data)
	e.f.stats.Sent++
	e.f.rec(e.host, "send").Uint("conn", e.id).Uint("seq", seq).Int("len", int64(len(data))).End()
	if e.state == stEstablished {
		e.pump()
	}
	return nil
}

// Close implements env.Conn: queued messages still go out, then a FIN; no
// more callbacks run. Data arriving after Close is answered with a reset,
// as a real kernel does.
func (e *end) Close() {
	if e.appClosed {
		return
	}
	e.appClosed = true
	if e.state == stDead {
		return
	}
	e.f.rec(e.host, "close").Uint("conn", e.id).Str("local", e.localStr).Str("remote", e.remoteStr).End()
	switch e.state {
	case stSynSent:
		// Abandon the connect. A half-open server side is kernel state
		// nobody was told of; it goes with it.
		if p := e.peer; p != nil && p.state == stSynRcvd {
			p.die(nil)
		}
		e.die(nil)
	case stEstablished:
		e.pushSeg(nil, true)
		e.finInRing = true
		e.pump()
	}
}

// ---- rings ----

func (e *end) pushSeg(data []byte, fin bool) uint64 {
	if e.segCount == len(e.segs) {
		n := max(4, 2*len(e.segs))
		segs := make([]seg, n)
		for i := range e.segCount {
			segs[i] = e.segs[(e.segHead+i)&(len(e.segs)-1)]
		}
		e.segs, e.segHead = segs, 0
	}
	seq := e.una + uint64(e.segCount)
	e.segs[(e.segHead+e.segCount)&(len(e.segs)-1)] = seg{data: data, fin: fin}
	e.segCount++
	return seq
}

// seg returns the segment with sequence number seq, which must be in the
// ring.
func (e *end) seg(seq uint64) *seg {
	return &e.segs[(e.segHead+int(seq-e.una))&(len(e.segs)-1)]
}

func (e *end) inRing(seq uint64) bool { return seq >= e.una && seq < e.una+uint64(e.segCount) }

// push owes the process one callback and hands it to the executor.
func (e *end) push(k itemKind, msg []byte, err error) {
	if e.st.killed {
		return
	}
	if e.itemCount == len(e.items) {
		n := max(4, 2*len(e.items))
		items := make([]item, n)
		for i := range e.itemCount {
			items[i] = e.items[(e.itemHead+i)&(len(e.items)-1)]
		}
		e.items, e.itemHead = items, 0
	}
	e.items[(e.itemHead+e.itemCount)&(len(e.items)-1)] = item{kind: k, msg: msg, err: err}
	e.itemCount++
	cfg := &e.f.cfg
	e.st.exec.Exec(cfg.MessageCPU+time.Duration(len(msg))*cfg.ByteCPU, e)
}

// Run implements world.Input: the next owed callback on the process's loop.
func (e *end) Run() { e.runNext() }

// runNext runs the oldest owed callback. Every executor run takes the head
// of the queue, so callbacks of one connection keep their order even if an
// executor reorders runs.
func (e *end) runNext() {
	if e.itemCount == 0 {
		return
	}
	it := e.items[e.itemHead]
	e.items[e.itemHead] = item{}
	e.itemHead = (e.itemHead + 1) & (len(e.items) - 1)
	e.itemCount--
	switch it.kind {
	case itRecv:
		e.processed += int64(len(it.msg))
		e.openPeerWindow()
	case itWritable:
		e.writableQueued = false
	}
	if e.st.killed || e.appClosed {
		return
	}
	switch it.kind {
	case itAccept:
		e.runAccept()
	case itEstablished:
		e.handler.Established(e)
	case itRecv:
		e.handler.Received(e, it.msg)
	case itWritable:
		e.handler.Writable(e)
	case itClosed:
		e.handler.Closed(e, it.err)
	}
}

func (e *end) runAccept() {
	l := e.lst
	if l.serve != nil {
		e.handler = &serverConn{st: e.st, h: l.serve}
		return
	}
	if l.closed {
		e.abort()
		return
	}
	h := l.accept(e)
	if h == nil {
		// Refused by the process: the dialer sees a reset.
		e.abort()
		return
	}
	e.handler = h
}

// abort resets the connection from this side, with no callback here.
func (e *end) abort() {
	e.appClosed = true
	if e.alive() {
		e.rstTo(e.peer)
		e.die(nil)
	}
}

// die ends the connection at this side; a non-nil reason is reported to the
// process (after the callbacks already owed).
func (e *end) die(reason error) {
	if e.state == stDead {
		return
	}
	e.state = stDead
	e.deathErr = reason
	if e.deathErr == nil {
		e.deathErr = errSendClosed
	}
	if e.client && e.port != 0 {
		e.host.releasePort(e.port, e.epoch)
		e.rt.release()
	}
	if e.stackIdx >= 0 {
		e.st.removeEnd(e)
	}
	if reason != nil && e.visible && !e.appClosed {
		e.push(itClosed, nil, reason)
	}
}

// ---- the sending side ----

// rto is the retransmission timeout after tries consecutive losses.
func (e *end) rto(tries uint8) time.Duration {
	cfg := &e.f.cfg
	base := max(cfg.RTOMin, e.srtt+4*e.rttvar)
	for range tries {
		base *= 2
		if base >= cfg.RTOMax {
			return cfg.RTOMax
		}
	}
	return min(base, cfg.RTOMax)
}

func (e *end) updateRTT(sample time.Duration) {
	if e.srtt == 0 {
		e.srtt, e.rttvar = sample, sample/2
		return
	}
	d := e.srtt - sample
	if d < 0 {
		d = -d
	}
	e.rttvar = (3*e.rttvar + d) / 4
	e.srtt = (7*e.srtt + sample) / 8
}

// arrival is when a packet of size bytes sent now from this end reaches the
// peer: never before one sent earlier in the same direction.
func (e *end) arrival(size int) time.Duration {
	now := e.f.w.Now()
	at := now + e.out.delay(now, size)
	if at < e.txClock {
		at = e.txClock
	}
	e.txClock = at
	return at
}

// pump transmits queued segments for the first time while the peer's
// receive window has room.
func (e *end) pump() {
	if e.state != stEstablished {
		return
	}
	window := int64(e.f.cfg.RecvWindow)
	r := e.peer
	for e.nxt < e.una+uint64(e.segCount) {
		sg := e.seg(e.nxt)
		if !sg.fin {
			outstanding := e.sentBytes - r.processed
			if outstanding > 0 && outstanding+int64(len(sg.data)) > window {
				e.windowBlocked = true
				e.armProbe()
				return
			}
			e.sentBytes += int64(len(sg.data))
		}
		seq := e.nxt
		e.nxt++
		e.transmit(sg, seq, true)
	}
}

func (e *end) transmit(sg *seg, seq uint64, first bool) {
	f := e.f
	now := f.w.Now()
	sg.lastTx = now
	pkt := pktData
	if sg.fin {
		pkt = pktFin
	}
	if first {
		sg.firstTx = now
	} else {
		f.stats.Retransmits++
		f.rec(e.host, "retransmit").Str("pkt", pkt).Uint("conn", e.id).Uint("seq", seq).Int("try", int64(sg.tries)).End()
	}
	if why := sendBlock(e.host, e.out); why != dropNone {
		f.drop(e.host, why, pkt, e.id, seq)
		e.schedRetx(seq, sg)
	} else if e.out.lose() {
		f.stats.Lost++
		f.rec(e.host, "loss").Str("pkt", pkt).Uint("conn", e.id).Uint("seq", seq).End()
		e.schedRetx(seq, sg)
	} else {
		f.w.At(e.arrival(len(sg.data)), e.peer, pack(evData, 0, seq))
	}
	e.armUserTimeout()
}

// schedRetx sends sg again one RTO after its last transmission.
func (e *end) schedRetx(seq uint64, sg *seg) {
	e.f.w.At(sg.lastTx+e.rto(sg.tries), e, pack(evRetx, sg.tries, seq))
}

// retxAfterLoss: the latest transmission of seq (or its ACK) vanished.
func (e *end) retxAfterLoss(seq uint64) {
	if !e.alive() || seq < e.una || seq >= e.nxt {
		return
	}
	e.schedRetx(seq, e.seg(seq))
}

func (e *end) onRetx(seq uint64, tries uint8) {
	if !e.alive() || seq < e.una || seq >= e.nxt {
		return
	}
	sg := e.seg(seq)
	if sg.tries != tries {
		return
	}
	if sg.tries < 255 {
		sg.tries++
	}
	e.transmit(sg, seq, false)
}

func (e *end) armUserTimeout() {
	if e.utArmed || e.nxt == e.una {
		return
	}
	e.utArmed = true
	e.f.w.At(e.seg(e.una).firstTx+e.f.cfg.UserTimeout, e, pack(evUserTimeout, 0, 0))
}

func (e *end) onUserTimeout() {
	e.utArmed = false
	if !e.alive() || e.nxt == e.una {
		return
	}
	first := e.seg(e.una).firstTx
	if e.f.w.Now()-first < e.f.cfg.UserTimeout {
		e.armUserTimeout()
		return
	}
	e.f.stats.Timeouts++
	e.f.rec(e.host, "timeout").Str("what", "ack").Uint("conn", e.id).Str("local", e.localStr).Str("remote", e.remoteStr).End()
	e.die(fmt.Errorf("network: connection %s -> %s: no acknowledgement for %v: %w", e.localStr, e.remoteStr, e.f.cfg.UserTimeout, env.ErrTimeout))
}

func (e *end) onAck(val uint64) {
	if !e.alive() {
		return
	}
	e.lastHeard = e.f.w.Now()
	if val <= e.una {
		return
	}
	finAcked := false
	for e.una < val {
		sg := &e.segs[e.segHead]
		if sg.fin {
			finAcked = true
			e.finInRing = false
		} else {
			e.queuedBytes -= len(sg.data)
		}
		*sg = seg{}
		e.segHead = (e.segHead + 1) & (len(e.segs) - 1)
		e.segCount--
		e.una++
	}
	if finAcked {
		e.die(nil) // closed here, acknowledged there: done
		return
	}
	if e.internal || e.appClosed {
		return
	}
	cfg := &e.f.cfg
	if e.wantWritable && e.queued() <= cfg.SendQueueLimit/2 && e.queuedBytes <= cfg.SendQueueBytes/2 {
		e.wantWritable = false
		e.signalWritable()
	} else if e.wantDrained && e.segCount == 0 {
		e.wantDrained = false
		e.signalWritable() // drained: every message sent is acknowledged
	}
}

func (e *end) signalWritable() {
	if e.writableQueued {
		return
	}
	e.writableQueued = true
	e.push(itWritable, nil, nil)
}

// armProbe starts the persist timer of a sender held back by the peer's
// window: the window update that releases it may never come, and nothing
// unacknowledged is in flight to time out.
func (e *end) armProbe() {
	if e.probeArmed {
		return
	}
	e.probeArmed = true
	now := e.f.w.Now()
	at := now + e.rto(e.probeTries)
	if deadline := e.lastHeard + e.f.cfg.UserTimeout; deadline > now && deadline < at {
		at = deadline // as Linux clamps the probe timer to the user timeout
	}
	e.f.w.At(at, e, pack(evProbe, 0, 0))
}

// onProbe sends a window probe. The peer's kernel answers it (with the
// window still closed) whenever the path both ways is open and the host
// runs, even if its process does not read; a kernel that lost the
// connection (a power cycle) answers with a reset. Unanswered for the user
// timeout since the peer was last heard, the connection breaks, as Linux's
// does. Probes back off like retransmissions.
func (e *end) onProbe() {
	e.probeArmed = false
	if !e.alive() || !e.windowBlocked {
		e.probeTries = 0
		return
	}
	f := e.f
	p := e.peer
	now := f.w.Now()
	if sendBlock(e.host, e.out) == dropNone && arriveBlock(p.host) == dropNone {
		if !p.alive() {
			if p.rstTo(e) {
				return // the reset breaks the connection on arrival
			}
		} else if sendBlock(p.host, p.out) == dropNone {
			e.lastHeard = now
		}
	}
	if now-e.lastHeard >= f.cfg.UserTimeout {
		f.stats.Timeouts++
		f.rec(e.host, "timeout").Str("what", "probe").Uint("conn", e.id).Str("local", e.localStr).Str("remote", e.remoteStr).End()
		e.die(fmt.Errorf("network: connection %s -> %s: the peer's window stayed closed and its probes unanswered for %v: %w",
			e.localStr, e.remoteStr, f.cfg.UserTimeout, env.ErrTimeout))
		return
	}
	if e.probeTries < 255 {
		e.probeTries++
	}
	e.armProbe()
}

// ---- the receiving side ----

func (r *end) onData(seq uint64) {
	f := r.f
	s := r.peer
	if why := arriveBlock(r.host); why != dropNone {
		f.drop(r.host, why, pktData, r.id, seq)
		s.retxAfterLoss(seq)
		return
	}
	if r.state == stSynRcvd && r.alive() {
		r.accept() // the segment carries the handshake's last ACK
		if r.state == stDead {
			return
		}
	}
	if !r.alive() {
		// No such connection in this kernel. A reset lost on the way is
		// like a lost ACK: the sender, hearing nothing, sends again.
		if !r.rstTo(s) {
			s.retxAfterLoss(seq)
		}
		return
	}
	if seq < r.rcvNxt || !s.inRing(seq) {
		f.stats.Duplicates++
		r.ackTo(seq)
		return
	}
	sg := s.seg(seq)
	if r.appClosed && !sg.fin {
		if !r.rstTo(s) { // data for a closed socket
			s.retxAfterLoss(seq)
		}
		r.die(nil)
		return
	}
	if seq > r.rcvNxt {
		if sg.arrived {
			f.stats.Duplicates++
		}
		sg.arrived = true
		r.ackTo(seq)
		return
	}
	for {
		r.rcvNxt++
		if sg.fin {
			r.finReceived()
			break
		}
		r.deliver(sg, r.rcvNxt-1)
		if !s.inRing(r.rcvNxt) {
			break
		}
		sg = s.seg(r.rcvNxt)
		if !sg.arrived {
			break
		}
	}
	r.ackTo(seq)
}

func (r *end) deliver(sg *seg, seq uint64) {
	f := r.f
	f.stats.Delivered++
	f.stats.Bytes += uint64(len(sg.data))
	f.rec(r.host, "deliver").Uint("conn", r.id).Uint("seq", seq).Bytes("msg", sg.data).End()
	if r.appClosed {
		r.processed += int64(len(sg.data))
		return
	}
	r.push(itRecv, sg.data, nil)
}

func (r *end) finReceived() {
	f := r.f
	f.stats.PeerClose++
	f.rec(r.host, "fin").Uint("conn", r.id).Str("local", r.localStr).Str("remote", r.remoteStr).End()
	r.die(fmt.Errorf("network: connection %s -> %s closed by the peer: %w", r.localStr, r.remoteStr, env.ErrClosed))
}

// ackTo acknowledges, cumulatively, everything received in order; seq is
// the segment whose arrival prompted it, sent again if the ACK vanishes.
func (r *end) ackTo(seq uint64) {
	s := r.peer
	if !s.alive() {
		return // nobody there to hear it
	}
	why := sendBlock(r.host, r.out)
	if why == dropNone {
		why = arriveBlock(s.host)
	}
	if why != dropNone {
		r.f.drop(r.host, why, pktAck, r.id, seq)
		s.retxAfterLoss(seq)
		return
	}
	at := r.arrival(0)
	if s.inRing(seq) {
		// The ACK echoes the transmission that prompted it, as TCP
		// timestamps do, so a segment held behind a gap does not inflate
		// the estimate. The sender learns it half a round trip early.
		s.updateRTT(at - s.seg(seq).lastTx)
	}
	r.f.w.At(at, s, pack(evAck, 0, r.rcvNxt))
}

// openPeerWindow tells a sender held back by this end's window that half of
// it is free again.
func (r *end) openPeerWindow() {
	s := r.peer
	if s == nil || !s.windowBlocked || !s.alive() {
		return
	}
	if s.sentBytes-r.processed > int64(r.f.cfg.RecvWindow/2) {
		return
	}
	s.windowBlocked = false
	r.f.w.At(r.arrival(0), s, pack(evWindowOpen, 0, 0))
}

// rstTo sends a reset from this end's kernel to p.
// rstTo sends p a reset; false when the network lost it on the way.
func (e *end) rstTo(p *end) bool {
	if p == nil || !p.alive() {
		return true // nobody there to need it
	}
	f := e.f
	f.rec(e.host, "rst").Uint("conn", e.id).Uint("to", p.id).End()
	if why := sendBlock(e.host, e.out); why != dropNone {
		f.drop(e.host, why, pktRst, e.id, 0)
		return false
	}
	f.w.At(e.arrival(0), p, pack(evRst, 0, 0))
	return true
}

func (e *end) onRst() {
	f := e.f
	if why := arriveBlock(e.host); why != dropNone {
		f.drop(e.host, why, pktRst, e.id, 0)
		// Lost on arrival: data still unacknowledged goes again, and its
		// next answer is another reset.
		e.retxAfterLoss(e.una)
		return
	}
	if !e.alive() {
		return
	}
	if e.state == stSynSent {
		e.refused()
		return
	}
	f.stats.Resets++
	f.rec(e.host, "reset").Uint("conn", e.id).Str("local", e.localStr).Str("remote", e.remoteStr).End()
	e.die(fmt.Errorf("network: connection %s -> %s: %w", e.localStr, e.remoteStr, env.ErrReset))
}

// Fire implements world.Handler.
func (e *end) Fire(arg uint64) {
	seq := arg & seqMask
	tries := uint8(arg >> 48)
	switch arg >> 56 {
	case evData:
		e.onData(seq)
	case evAck:
		e.onAck(seq)
	case evRetx:
		e.onRetx(seq, tries)
	case evUserTimeout:
		e.onUserTimeout()
	case evSynArrive:
		e.onSynArrive()
	case evSynAck:
		e.onSynAck()
	case evSynRetx:
		e.onSynRetx(tries)
	case evRefused:
		e.onRefused()
	case evRst:
		e.onRst()
	case evHsAck:
		e.onHsAck()
	case evHsRetry:
		e.onHsRetry(tries)
	case evConnectTimeout:
		e.onConnectTimeout()
	case evWindowOpen:
		if e.alive() {
			e.lastHeard = e.f.w.Now()
			e.pump()
		}
	case evProbe:
		e.onProbe()
	}
}

// ---- the handshake ----

// sendSyn transmits the client's SYN (again, when synTries > 0).
func (c *end) sendSyn() {
	f := c.f
	now := f.w.Now()
	c.synTx = now
	if c.synTries > 0 {
		f.stats.Retransmits++
		f.rec(c.host, "retransmit").Str("pkt", pktSyn).Uint("conn", c.id).Int("try", int64(c.synTries)).End()
	}
	if c.rt.reason != dropNone {
		why := arriveBlock(c.host) // a silent host sends nothing
		if why == dropNone {
			why = c.rt.reason
		}
		f.drop(c.host, why, pktSyn, c.id, 0)
		c.schedSynRetx()
		return
	}
	if why := sendBlock(c.host, c.out); why != dropNone {
		f.drop(c.host, why, pktSyn, c.id, 0)
		c.schedSynRetx()
		return
	}
	if c.out.lose() {
		f.stats.Lost++
		f.rec(c.host, "loss").Str("pkt", pktSyn).Uint("conn", c.id).End()
		c.schedSynRetx()
		return
	}
	f.w.At(c.arrival(0), c, pack(evSynArrive, c.synTries, 0))
}

func (c *end) schedSynRetx() {
	c.f.w.At(c.synTx+c.synRTO(c.synTries), c, pack(evSynRetx, c.synTries, 0))
}

// synRTO is the retransmission timeout of a handshake packet after tries
// consecutive losses: SynRTO doubled per loss, at most RTOMax.
func (c *end) synRTO(tries uint8) time.Duration {
	cfg := &c.f.cfg
	d := cfg.SynRTO
	for range tries {
		d = min(2*d, cfg.RTOMax)
	}
	return d
}

func (c *end) onSynRetx(tries uint8) {
	if c.state != stSynSent || tries != c.synTries {
		return
	}
	if c.synTries < 255 {
		c.synTries++
	}
	c.sendSyn()
}

// onSynArrive: the SYN reached the destination host's kernel.
func (c *end) onSynArrive() {
	if c.state != stSynSent {
		return
	}
	f := c.f
	dst := c.rt.dst
	if why := arriveBlock(dst); why != dropNone {
		f.drop(dst, why, pktSyn, c.id, 0)
		c.schedSynRetx()
		return
	}
	back := f.link(dst, c.host)
	lst := dst.lookup(c.rt.dstLocal)
	if lst == nil {
		f.rec(dst, "refuse").Uint("conn", c.id).Str("src", c.rt.srcSeen.String()).Str("dst", c.rt.dstLocal.String()).End()
		if why := sendBlock(dst, back); why != dropNone {
			f.drop(dst, why, pktRst, c.id, 0)
			c.schedSynRetx()
			return
		}
		now := f.w.Now()
		f.w.At(now+back.delay(now, 0), c, pack(evRefused, c.synTries, 0))
		return
	}
	sv := c.peer
	if sv == nil || !sv.alive() {
		sv = f.newEnd(lst.st, dst, false)
		sv.state = stSynRcvd
		sv.lst = lst
		sv.out = back
		sv.peer = c
		sv.setEndpoints(c.rt.dstLocal, c.rt.srcSeen)
		c.peer = sv
	}
	if why := sendBlock(dst, back); why != dropNone {
		f.drop(dst, why, pktSynAck, sv.id, 0)
		c.schedSynRetx()
		return
	}
	if back.lose() {
		f.stats.Lost++
		f.rec(dst, "loss").Str("pkt", pktSynAck).Uint("conn", sv.id).End()
		c.schedSynRetx()
		return
	}
	f.w.At(sv.arrival(0), c, pack(evSynAck, c.synTries, 0))
}

func (c *end) onRefused() {
	f := c.f
	if why := arriveBlock(c.host); why != dropNone {
		f.drop(c.host, why, pktRst, c.id, 0)
		if c.state == stSynSent {
			c.schedSynRetx()
		}
		return
	}
	if c.state == stSynSent {
		c.refused()
	}
}

func (c *end) refused() {
	f := c.f
	f.stats.Refused++
	f.rec(c.host, "refused").Uint("conn", c.id).Str("local", c.localStr).Str("remote", c.remoteStr).End()
	c.die(fmt.Errorf("network: connect %s -> %s: %w", c.localStr, c.remoteStr, env.ErrRefused))
}

func (c *end) onSynAck() {
	f := c.f
	if why := arriveBlock(c.host); why != dropNone {
		f.drop(c.host, why, pktSynAck, c.id, 0)
		if c.state == stSynSent {
			c.schedSynRetx()
		}
		return
	}
	if c.state != stSynSent {
		return
	}
	c.state = stEstablished
	c.lastHeard = f.w.Now()
	f.rec(c.host, "established").Uint("conn", c.id).Str("local", c.localStr).Str("remote", c.remoteStr).End()
	c.push(itEstablished, nil, nil)
	c.sendHsAck()
	c.pump()
}

// sendHsAck completes the handshake at the server.
func (c *end) sendHsAck() {
	f := c.f
	sv := c.peer
	if why := sendBlock(c.host, c.out); why != dropNone {
		f.drop(c.host, why, pktAck, c.id, 0)
		c.schedHsRetry()
		return
	}
	f.w.At(c.arrival(0), sv, pack(evHsAck, 0, 0))
}

// schedHsRetry stands in for the server's SYN-ACK retransmission, which
// the client answers with the ACK again.
func (c *end) schedHsRetry() {
	c.f.w.At(c.f.w.Now()+c.synRTO(c.hsTries), c, pack(evHsRetry, c.hsTries, 0))
}

func (c *end) onHsRetry(tries uint8) {
	if c.state != stEstablished || tries != c.hsTries || c.peer.state != stSynRcvd {
		return
	}
	if c.hsTries < 255 {
		c.hsTries++
	}
	c.sendHsAck()
}

func (sv *end) onHsAck() {
	f := sv.f
	if why := arriveBlock(sv.host); why != dropNone {
		f.drop(sv.host, why, pktAck, sv.id, 0)
		sv.peer.schedHsRetry()
		return
	}
	if sv.state != stSynRcvd {
		return
	}
	if !sv.alive() {
		sv.rstTo(sv.peer) // the host was power-cycled under the handshake
		return
	}
	sv.accept()
}

// accept completes the handshake at the server and hands the connection to
// the listening process.
func (sv *end) accept() {
	f := sv.f
	l := sv.lst
	if l.closed {
		sv.rstTo(sv.peer)
		sv.die(nil)
		return
	}
	sv.state = stEstablished
	sv.lastHeard = f.w.Now()
	sv.visible = true
	sv.internal = l.serve != nil
	l.st.addEnd(sv)
	if l.serve != nil {
		l.track(sv)
	}
	f.stats.Accepts++
	f.rec(sv.host, "accept").Uint("conn", sv.id).Uint("peer", sv.peer.id).Str("local", sv.localStr).Str("remote", sv.remoteStr).End()
	sv.push(itAccept, nil, nil)
}

func (c *end) onConnectTimeout() {
	if c.state != stSynSent {
		return
	}
	f := c.f
	f.stats.Timeouts++
	f.rec(c.host, "timeout").Str("what", "connect").Uint("conn", c.id).Str("local", c.localStr).Str("remote", c.remoteStr).End()
	c.die(fmt.Errorf("network: connect %s -> %s: no answer in %v: %w", c.localStr, c.remoteStr, f.cfg.ConnectTimeout, env.ErrTimeout))
}

// failedConnect is a connect that fails before any packet (no such host).
func (c *end) failedConnect(err error) {
	c.f.rec(c.host, "unreachable").Uint("conn", c.id).Str("remote", c.remoteStr).Str("err", err.Error()).End()
	c.die(err)
}

var _ env.Conn = (*end)(nil)
