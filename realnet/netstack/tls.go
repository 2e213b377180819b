package netstack

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/annal-db/annal/core/env"
	"google.golang.org/grpc/credentials"
)

// TLS secures a stack: the configurations of its two ports and of its
// dials to other nodes (realnet/tlsconfig makes them from the
// certificate options).
type TLS struct {
	// NodePort serves the node port: this node's certificate, client
	// certificates verified when given. The port sets NextProtos itself.
	NodePort *tls.Config
	// Replication serves the replication port; it must demand and check a
	// node's certificate, since only nodes connect there.
	Replication *tls.Config
	// Peer dials other nodes' replication and node ports: it presents this
	// node's certificate and checks theirs.
	Peer *tls.Config
	// IsNode decides, from a node-port connection's TLS state, whether its
	// caller may make the cluster's calls (nil: it is a node).
	IsNode func(tls.ConnectionState) error
}

func (t *TLS) missing() string {
	var m []string
	for _, f := range []struct {
		name string
		nil  bool
	}{{"NodePort", t.NodePort == nil}, {"Replication", t.Replication == nil}, {"Peer", t.Peer == nil}, {"IsNode", t.IsNode == nil}} {
		if f.nil {
			m = append(m, f.name)
		}
	}
	return strings.Join(m, ", ")
}

// ALPN protocol names.
const (
	alpnH2     = "h2"
	alpnHTTP11 = "http/1.1"
)

// nodePortTLS chooses each connection's protocol by what the client
// offers: a client that offers HTTP/1.1 (a browser, curl) gets it and the
// HTTP server; one that offers only h2 (every gRPC client) gets h2 and the
// gRPC server. A browser thus never reaches gRPC's transport, and gRPC
// clients never reach net/http's.
func nodePortTLS(base *tls.Config) *tls.Config {
	withProtos := func(protos ...string) *tls.Config {
		c := base.Clone()
		c.NextProtos = protos
		return c
	}
	h1, h2, none := withProtos(alpnHTTP11), withProtos(alpnH2), withProtos()
	c := base.Clone()
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		switch {
		case slices.Contains(hello.SupportedProtos, alpnHTTP11):
			return h1, nil
		case slices.Contains(hello.SupportedProtos, alpnH2):
			return h2, nil
		default:
			// No ALPN: the first bytes after the handshake decide.
			return none, nil
		}
	}
	return c
}

// tlsConnection is a connection whose TLS the stack has terminated.
type tlsConnection interface {
	ConnectionState() tls.ConnectionState
}

// terminatedTLS is the gRPC transport credentials of a connection whose
// TLS handshake the stack did before gRPC saw it (on the node port, to
// choose between gRPC and HTTP; on dials, to record why a handshake
// failed). It hands the connection through and reports its TLS state, so
// that handlers see the peer's certificate (peer.AuthInfo is a
// credentials.TLSInfo) as with gRPC's own TLS.
type terminatedTLS struct{}

var _ credentials.TransportCredentials = terminatedTLS{}

var errNotTLS = errors.New("netstack: a cleartext connection reached a TLS-only gRPC transport")

func authInfo(c net.Conn) (credentials.AuthInfo, error) {
	tc, ok := c.(tlsConnection)
	if !ok || !tc.ConnectionState().HandshakeComplete {
		return nil, errNotTLS
	}
	return credentials.TLSInfo{
		State:          tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

func (terminatedTLS) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	ai, err := authInfo(c)
	return c, ai, err
}

func (terminatedTLS) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	ai, err := authInfo(c)
	return c, ai, err
}

func (terminatedTLS) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (t terminatedTLS) Clone() credentials.TransportCredentials { return t }

func (terminatedTLS) OverrideServerName(string) error { return nil }

// tlsRecordHandshake is the first byte of every TLS connection (a
// handshake record carrying the ClientHello).
const tlsRecordHandshake = 0x16

// HTTP/2 frame types and the error code of the answer to cleartext
// HTTP/2 on a TLS port (RFC 9113).
const (
	frameHeaders            = 0x1
	frameSettings           = 0x4
	frameGoAway             = 0x7
	errInadequateSecurity   = 0xc
	plainGRPCRefusalMessage = "this node serves TLS only: connect with tls=true (and tlsCAFile naming the cluster's CA if it is not a public one)"
	// plainCallWait bounds how long a refused cleartext HTTP/2 client is
	// given to open its first call (see refuseHTTP2).
	plainCallWait = time.Second
)

func http2Frame(b []byte, typ byte, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, 0, 0, 0, 0, 0)
	return append(b, payload...)
}

// refuseHTTP2 answers a cleartext HTTP/2 client (gRPC with tls=false) on a
// TLS port: the server's preface (an empty SETTINGS frame), then, once the
// client has opened its first call (or after plainCallWait), a GOAWAY with
// INADEQUATE_SECURITY saying what to do. Waiting for the call lets gRPC
// clients fail it with this text rather than with a bare "transport is
// closing". The caller then ends the connection.
func refuseHTTP2(c net.Conn) {
	if _, err := c.Write(http2Frame(nil, frameSettings, nil)); err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(plainCallWait))
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			break
		}
		if hdr[3] == frameHeaders {
			break
		}
		n := int64(hdr[0])<<16 | int64(hdr[1])<<8 | int64(hdr[2])
		if _, err := io.CopyN(io.Discard, c, n); err != nil {
			break
		}
	}
	var goAway []byte
	// The highest stream id, not 0: gRPC clients then keep the call they
	// opened until the connection ends, and report it with this frame's
	// text. Nothing was processed; the call fails either way.
	goAway = binary.BigEndian.AppendUint32(goAway, 1<<31-1)
	goAway = binary.BigEndian.AppendUint32(goAway, errInadequateSecurity)
	goAway = append(goAway, plainGRPCRefusalMessage...)
	_, _ = c.Write(http2Frame(nil, frameGoAway, goAway))
}

// clientHandshake secures a dialed connection to another node, bounded by
// HandshakeTimeout and by ctx.
func (s *Stack) clientHandshake(ctx context.Context, raw net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.HandshakeTimeout)
	defer cancel()
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if isCleartextPeer(err) {
			return nil, fmt.Errorf("TLS handshake with %s failed: %w (%s)", raw.RemoteAddr(), err, mixedSecurityHint)
		}
		return nil, fmt.Errorf("TLS handshake with %s failed: %w", raw.RemoteAddr(), err)
	}
	return tc, nil
}

// classifyHandshake maps a failed TLS handshake to what a node matches on:
// silence until the deadline, a reset, or (a certificate refused, either
// way) unreachable.
func classifyHandshake(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return env.ErrTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return env.ErrReset
	default:
		return env.ErrUnreachable
	}
}

// mixedSecurityHint explains a handshake that met cleartext: the peer is
// not speaking TLS at all, which between nodes means one was started with
// Insecure and the other not.
const mixedSecurityHint = "the peer speaks cleartext, not TLS: is it a node started with Insecure? " +
	"Every node of a cluster must be secure, or every node insecure"

// isCleartextPeer: a TLS handshake failed because the peer's first bytes
// were not a TLS record.
func isCleartextPeer(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh)
}

// isTLSAlert: the peer ended the connection with a TLS alert (it refused
// our certificate, say).
func isTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}
