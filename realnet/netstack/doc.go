// Package netstack is a production node's env.Network: the replication
// port's message connections on plain TCP, the cluster's calls as gRPC on
// the node port (which also serves HTTP/1.1), DNS and the host's interface
// addresses. Every event reaches the node on its loop (realnet/loop); the
// loop never waits on a socket.
//
// Stream connections (Listen, Connect). Each message travels as one frame:
// a 4-byte little-endian payload length, the 4-byte little-endian CRC-32C
// (Castagnoli) of the payload, then the payload, at most
// env.MaxMessageSize bytes. A frame announcing more, or failing its
// checksum, ends that connection alone: it is reset, an error is logged and
// the handler's Closed reports env.ErrReset wrapping ErrMalformedFrame.
// Every connection has one reader and one writer goroutine. The writer
// drains a send queue bounded in messages and bytes (Options.SendQueueLimit
// and SendQueueBytes); Send never blocks: it answers env.ErrSendQueueFull,
// and Writable follows once the queue is at most half full in both, and
// when it drains if the node asked (NotifyDrained); one Writable at a time
// waits on the loop. The
// reader hands messages to the loop with loop.Post, the messages already
// buffered together as one input, so a busy node stops reading, TCP's
// window fills and the sender's queue fills in turn: backpressure from end
// to end. While bytes arrive, a handler that implements
// env.ProgressHandler hears of them (at most every 10 ms, one report
// waiting on the loop at a time), so that heartbeats count bytes received,
// as EventStoreDB's do, and a message of megabytes on a slow link does not
// make its sender look dead. TCP keepalive is off (heartbeats are the node's) and TCP_NODELAY
// on. Close flushes the queue, bounded by Options.CloseLinger, then sends
// FIN.
//
// Calls (Call, Serve). The node port carries gRPC service
// annal.cluster.v1.Cluster (clusterpb). Its one unary method carries the
// node's method name and payload; a handler's error travels inside the
// reply, so any gRPC status other than OK is a transport failure. The
// client keeps one grpc.ClientConn per destination with reconnects backed
// off from 100 ms doubling to 1 s (jitter 0.2) and a 2 s connect timeout.
// Calls fail fast, never waiting for a channel in transient failure: they
// then fail with env.ErrUnreachable wrapping the last connect's error (say
// env.ErrRefused). A call that times out while the channel is up and has
// received nothing since the call was issued abandons the channel: its
// connection may be dead without either kernel knowing (a peer host lost
// or partitioned), so the next call dials afresh instead of queueing
// behind TCP's retransmission backoff. The server side posts each call to
// the loop and its gRPC handler waits for the reply, or for the caller to
// give up (a late reply is dropped).
//
// The node port (Serve, ServeNode) accepts raw connections, counts them
// (Options.AdmitNodeConn may refuse one: MaxConcurrentConnections), and
// reads each one's first bytes under a deadline: the HTTP/2 client preface
// hands the connection to grpc-go's own server, anything else to net/http
// (HTTP/1.1). One listener thus serves both on one port while gRPC keeps
// its own transport, its keepalive knobs and its speed (behind net/http it
// loses both). HTTP/1.1 requests that switch protocols (Upgrade) are
// admitted by Options.AdmitUpgrade and counted while their connections
// live.
//
// Security (Options.TLS). The node port then speaks TLS only: the stack
// does the handshake itself and chooses the server by ALPN (a client
// offering http/1.1, a browser, gets HTTP/1.1; one offering only h2, every
// gRPC client, gets gRPC; one offering nothing is sniffed as in
// cleartext), and gRPC's transport is given credentials that report the
// connection's TLS state as its own TLS would. Cleartext on a TLS port is
// refused without a redirect: HTTP/1.1 gets an empty reply, cleartext
// HTTP/2 a GOAWAY (INADEQUATE_SECURITY) saying to use tls=true. The
// cluster's calls are served only to callers whose client certificate is
// a node's (TLS.IsNode). The replication port is mutual TLS: its listener
// does each handshake on its own goroutine (at most
// maxPendingHandshakes at once) and hands the node only connections from
// nodes; dials present this node's certificate and check the peer's. A
// failed handshake is logged with its reason on the side that refused.
//
// Shutdown. Stack.Close closes every listener, connection and channel at
// once and waits for the stack's goroutines; after it no callback of the
// stack runs.
package netstack
