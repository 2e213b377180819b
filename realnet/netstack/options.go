package netstack

import (
	"fmt"
	"net/http"
	"time"

	"github.com/annal-db/annal/core/env"
	"google.golang.org/grpc"
)

// Options configures a Stack. Zero fields take the defaults below.
type Options struct {
	// Log receives the stack's own log lines (a malformed frame, a refused
	// node-port connection). It is called from the stack's goroutines, so
	// it must be safe for concurrent use. Nil discards them.
	Log env.Logger

	// SendQueueLimit and SendQueueBytes bound one stream connection's send
	// queue, in messages and in bytes (defaults 1024 and 4 MiB, as the
	// simulator's). One message larger than SendQueueBytes is still
	// accepted into an empty queue.
	SendQueueLimit int
	SendQueueBytes int
	// ConnectTimeout bounds a stream connect and a call channel's connect
	// (default 2 s).
	ConnectTimeout time.Duration
	// CloseLinger bounds how long a closed connection keeps flushing its
	// queue to a peer that does not read (default 5 s).
	CloseLinger time.Duration

	// ResolveTimeout bounds one DNS lookup (default 5 s).
	ResolveTimeout time.Duration

	// SniffTimeout is how long a new node-port connection may take to send
	// the bytes that tell gRPC from HTTP/1.1 (default 10 s), and then, a
	// gRPC one, to finish the HTTP/2 handshake.
	SniffTimeout time.Duration
	// KeepAliveInterval is the idle time after which the gRPC server pings a
	// client; KeepAliveTimeout how long it waits for the answer before
	// closing the connection (both default 10 s, as EventStoreDB's
	// KeepAliveInterval and KeepAliveTimeout; negative turns pings off, or
	// waits forever).
	KeepAliveInterval time.Duration
	KeepAliveTimeout  time.Duration
	// KeepAliveMinTime is the shortest interval between client pings the
	// server tolerates (default 100 ms); a client pinging faster three
	// times over is sent GOAWAY (ENHANCE_YOUR_CALM, too_many_pings) and
	// disconnected. EventStoreDB's server answers pings at any rate, and
	// the official clients let users set their keepAliveInterval as they
	// like (NodeJS warns below 10 s; .NET allows 1 s): a bound of seconds
	// cut their calls and subscriptions off with RESOURCE_EXHAUSTED. The
	// bound only stops a ping flood.
	KeepAliveMinTime time.Duration
	// GRPCServices registers further gRPC services (the client API) on
	// each node port's server, next to the cluster service.
	GRPCServices func(grpc.ServiceRegistrar)
	// GRPCServerOptions are appended to the node port's own server options,
	// so they override them.
	GRPCServerOptions []grpc.ServerOption
	// HTTP serves what no node-port route matches. The node port itself
	// answers GET /health/live; NodePort.HandleHTTP adds routes later.
	HTTP http.Handler
	// WrapHTTP, when set, wraps the node port's whole HTTP/1.1 handler
	// (the routes above and HandleHTTP's): the node's HTTP API puts its
	// own routes, /health/live included, its limits and its exposure
	// switches in front of everything the port serves.
	WrapHTTP func(http.Handler) http.Handler
	// AdmitNodeConn decides whether a new node-port connection is served,
	// given how many the port already has open (upgraded connections not
	// counted). Nil admits every one.
	AdmitNodeConn func(open int) bool
	// AdmitUpgrade decides whether an HTTP/1.1 request asking to switch
	// protocols (Connection: upgrade, with an Upgrade header; WebSockets)
	// is served, given how many such connections the port has (switched,
	// or being switched). Refused ones are answered 503. Nil admits every
	// one.
	AdmitUpgrade func(upgraded int) bool

	// TLS, when set, secures the node: TLS on both ports and on the
	// cluster's calls. Nil serves and dials cleartext.
	TLS *TLS
	// HandshakeTimeout bounds a TLS handshake on the replication port and
	// when dialing another node (default 10 s). On the node port the
	// handshake is part of what SniffTimeout bounds.
	HandshakeTimeout time.Duration
}

// Defaults for Options.
const (
	DefaultSendQueueLimit    = 1024
	DefaultSendQueueBytes    = 4 << 20
	DefaultConnectTimeout    = 2 * time.Second
	DefaultCloseLinger       = 5 * time.Second
	DefaultResolveTimeout    = 5 * time.Second
	DefaultSniffTimeout      = 10 * time.Second
	DefaultKeepAliveInterval = 10 * time.Second
	DefaultKeepAliveTimeout  = 10 * time.Second
	DefaultKeepAliveMinTime  = 100 * time.Millisecond
	DefaultHandshakeTimeout  = 10 * time.Second
)

// Call channel reconnect backoff, as the simulator's.
const (
	callBackoffBase       = 100 * time.Millisecond
	callBackoffMultiplier = 2
	callBackoffMax        = time.Second
	callBackoffJitter     = 0.2
)

func (o *Options) withDefaults() (Options, error) {
	r := *o
	for _, f := range []struct {
		name string
		v    int
	}{{"SendQueueLimit", r.SendQueueLimit}, {"SendQueueBytes", r.SendQueueBytes}} {
		if f.v < 0 {
			return r, fmt.Errorf("netstack: option %s is %d; use a positive number, or 0 for the default", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"ConnectTimeout", r.ConnectTimeout}, {"CloseLinger", r.CloseLinger}, {"ResolveTimeout", r.ResolveTimeout},
		{"SniffTimeout", r.SniffTimeout}, {"KeepAliveMinTime", r.KeepAliveMinTime}, {"HandshakeTimeout", r.HandshakeTimeout}} {
		if f.v < 0 {
			return r, fmt.Errorf("netstack: option %s is %v; use a positive duration, or 0 for the default", f.name, f.v)
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&r.SendQueueLimit, DefaultSendQueueLimit)
	def(&r.SendQueueBytes, DefaultSendQueueBytes)
	defDur(&r.ConnectTimeout, DefaultConnectTimeout)
	defDur(&r.CloseLinger, DefaultCloseLinger)
	defDur(&r.ResolveTimeout, DefaultResolveTimeout)
	defDur(&r.SniffTimeout, DefaultSniffTimeout)
	defDur(&r.KeepAliveInterval, DefaultKeepAliveInterval)
	defDur(&r.KeepAliveTimeout, DefaultKeepAliveTimeout)
	defDur(&r.KeepAliveMinTime, DefaultKeepAliveMinTime)
	defDur(&r.HandshakeTimeout, DefaultHandshakeTimeout)
	if t := r.TLS; t != nil && (t.NodePort == nil || t.Replication == nil || t.Peer == nil || t.IsNode == nil) {
		return r, fmt.Errorf("netstack: option TLS needs NodePort, Replication, Peer and IsNode; %s missing", t.missing())
	}
	return r, nil
}
