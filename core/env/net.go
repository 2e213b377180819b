package env

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Endpoint is a host and port, as a node binds, advertises or dials it. Host
// is an IP address literal or a DNS name.
type Endpoint struct {
	Host string
	Port uint16
}

// String renders host:port, bracketing a host with a colon in it (an IPv6
// literal, IPv4-mapped ones included), so that ParseEndpoint reads it back.
func (e Endpoint) String() string {
	if strings.Contains(e.Host, ":") {
		return "[" + e.Host + "]:" + strconv.Itoa(int(e.Port))
	}
	return e.Host + ":" + strconv.Itoa(int(e.Port))
}

// IsZero reports whether the endpoint is unset.
func (e Endpoint) IsZero() bool { return e.Host == "" && e.Port == 0 }

// ParseEndpoint reads host:port (IPv6 literals in brackets).
func ParseEndpoint(s string) (Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err == nil {
		return Endpoint{Host: ap.Addr().String(), Port: ap.Port()}, nil
	}
	i := lastColon(s)
	if i <= 0 || i == len(s)-1 {
		return Endpoint{}, errors.New("endpoint " + strconv.Quote(s) + " is not host:port")
	}
	p, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil {
		return Endpoint{}, errors.New("endpoint " + strconv.Quote(s) + " has a port outside 0..65535")
	}
	host := s[:i]
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return Endpoint{Host: host, Port: uint16(p)}, nil
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

// Transport errors, as a node sees them. Drivers wrap them with detail;
// match with errors.Is.
var (
	// ErrRefused: the peer's host answered that nothing listens there
	// (a TCP RST to a SYN).
	ErrRefused = errors.New("connection refused")
	// ErrTimeout: nothing answered in time (connect, call deadline, or a
	// heartbeat timeout declared by core itself).
	ErrTimeout = errors.New("timed out")
	// ErrReset: an established connection was reset by the peer's kernel
	// (the peer process died, or it closed with unread data).
	ErrReset = errors.New("connection reset")
	// ErrClosed: closed cleanly by the peer, or used after Close.
	ErrClosed = errors.New("connection closed")
	// ErrUnreachable: no route to the host.
	ErrUnreachable = errors.New("host unreachable")
	// ErrAddrInUse: Listen on an endpoint that is already bound.
	ErrAddrInUse = errors.New("address already in use")
	// ErrAddrNotAvailable: Listen on an address this host does not have.
	ErrAddrNotAvailable = errors.New("address not available")
	// ErrSendQueueFull: the connection's bounded send queue has no room;
	// wait for ConnHandler.Writable.
	ErrSendQueueFull = errors.New("send queue full")
	// ErrMessageTooLarge: a message above MaxMessageSize.
	ErrMessageTooLarge = errors.New("message too large")
	// ErrNoSuchHost: DNS has no address for the name.
	ErrNoSuchHost = errors.New("no such host")
)

// MaxMessageSize bounds one message on a stream connection or one call
// payload. Drivers reject larger ones with ErrMessageTooLarge.
const MaxMessageSize = 16 << 20

// RemoteError is an error answered by the peer's request handler, as opposed
// to a transport failure. Code values are the peer's to define (core/wire).
type RemoteError struct {
	Code    uint16
	Message string
}

func (e *RemoteError) Error() string {
	return "remote error " + strconv.Itoa(int(e.Code)) + ": " + e.Message
}

// Network is the node's view of the network: message-framed stream
// connections (the replication channel), request/response calls with a
// deadline (gossip, elections, forwarded and client calls), DNS and the
// host's interface addresses.
type Network interface {
	// Listen binds a stream listener. Accepted connections are announced to
	// accept, which returns the handler for that connection's events (nil
	// refuses it: the dialer sees a reset).
	Listen(ep Endpoint, accept func(c Conn) ConnHandler) (Listener, error)
	// Connect dials to. The returned Conn is not usable until
	// h.Established; on failure h.Closed reports ErrRefused, ErrTimeout or
	// ErrUnreachable.
	Connect(to Endpoint, h ConnHandler) Conn

	// Serve binds the request endpoint; every incoming call is handed to h.
	Serve(ep Endpoint, h RequestHandler) (Listener, error)
	// Call sends a request and calls done exactly once, with the response
	// or an error: a *RemoteError, ErrTimeout when the deadline passes,
	// or a transport error.
	Call(to Endpoint, method string, req []byte, timeout time.Duration, done func(resp []byte, err error))

	// Resolve looks a DNS name up; done gets its addresses in the resolver's
	// order.
	Resolve(name string, done func(addrs []string, err error))
	// InterfaceAddrs lists the host's addresses, loopback included, in a
	// stable order.
	InterfaceAddrs() []string
}

// Listener is a bound endpoint.
type Listener interface {
	Addr() Endpoint
	Close()
}

// Conn is one stream connection. Messages arrive whole and in order, or the
// connection breaks.
type Conn interface {
	// ID is unique within the node's run, for logs and traces.
	ID() uint64
	Local() Endpoint
	Remote() Endpoint
	// Send queues one message. It returns ErrSendQueueFull when the
	// connection's bounded queue is full (the caller waits for Writable),
	// ErrMessageTooLarge, or ErrClosed after Close or a break.
	Send(msg []byte) error
	// Queued reports how many messages wait in the send queue.
	Queued() int
	// NotifyDrained asks for one Writable once the send queue is empty,
	// at once if it is already. A sender that holds back below the queue's
	// limit (a leader keeping a replica's queue short) waits this way;
	// others are not woken every time their queue empties.
	NotifyDrained()
	// Close closes the connection; queued messages are still sent. No more
	// events are delivered for it.
	Close()
}

// ConnHandler receives one connection's events on the node's loop.
type ConnHandler interface {
	// Established: a dialed connection is up (not called for accepted ones).
	Established(c Conn)
	// Received: one whole message from the peer.
	Received(c Conn, msg []byte)
	// Writable: the send queue has room again after ErrSendQueueFull, or
	// has drained after NotifyDrained.
	Writable(c Conn)
	// Closed: the connection is gone, with the reason (ErrClosed,
	// ErrReset, ErrTimeout, ErrRefused, ErrUnreachable). Called once.
	Closed(c Conn, reason error)
}

// ProgressHandler is a ConnHandler that also wants to hear that bytes
// arrived before a whole message did: a message of megabytes takes
// seconds on a slow link, and a heartbeat answer queued behind it cannot
// overtake it. Heartbeats count such progress as hearing from the peer,
// as EventStoreDB counts every byte received. Drivers that hand over
// messages whole at once (the simulator) never call it; a driver that
// does calls it on the node's loop, at most a few times per heartbeat
// interval, and never after Closed.
type ProgressHandler interface {
	Progress(c Conn)
}

// RequestHandler serves incoming calls. reply must be called exactly once,
// now or later (an append waits for its quorum). A nil resp with a nil err is
// an empty response.
type RequestHandler interface {
	HandleRequest(from Endpoint, method string, req []byte, reply func(resp []byte, err error))
}
