package netstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/netstack/clusterpb"
	"github.com/annal-db/annal/realnet/tlsconfig"
	"github.com/annal-db/annal/realnet/tlsconfig/tlstest"
)

// secure is a node's TLS options, from a certificate that ca issues for
// cn, the node name being cn.
func secure(t *testing.T, ca *tlstest.CA, cn string) *TLS {
	t.Helper()
	f := ca.WriteNode(t, t.TempDir(), "node", ca.Node(t, cn))
	v := options.Defaults()
	for o, s := range map[*options.Option]string{
		options.CertificateFile:             f.Cert,
		options.CertificatePrivateKeyFile:   f.Key,
		options.TrustedRootCertificatesPath: f.Roots,
	} {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatal(err)
		}
	}
	m, err := tlsconfig.Load(v, tlsconfig.Inputs{})
	if err != nil {
		t.Fatalf("certificates of %s: %v", cn, err)
	}
	return &TLS{NodePort: m.NodePortServer(), Replication: m.ReplicationServer(), Peer: m.PeerClient(), IsNode: m.IsNodeConnection}
}

func rootsOf(ca *tlstest.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func TestSecureReplicationConnectionsCarryMessagesBothWays(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	a := newNode(t, "a", Options{TLS: secure(t, ca, "eventstoredb-node")})
	b := newNode(t, "b", Options{TLS: secure(t, ca, "eventstoredb-node")})
	const count, maxSize = 500, 5000
	server := newPump(t, count, count, maxSize)
	ln := a.listen(server.accept)
	client := newPump(t, count, count, maxSize)
	b.on(func() { client.conn = b.net.Connect(ln.Addr(), client) })
	wait(t, client.estab, "the secure connection to be established")
	wait(t, server.doneRecv, "the server to receive every message")
	wait(t, client.doneRecv, "the client to receive every message")
	a.on(func() {
		if server.bad != nil {
			t.Error(server.bad)
		}
	})
	b.on(func() {
		if client.bad != nil {
			t.Error(client.bad)
		}
		client.conn.Close()
	})
	select {
	case err := <-server.closed:
		if !errors.Is(err, env.ErrClosed) {
			t.Fatalf("the server saw the client's Close as %v; want env.ErrClosed", err)
		}
	case <-time.After(guard):
		t.Fatal("the server never saw the client close")
	}
}

// A node of another CA cannot open a replication connection: it refuses
// the cluster's certificate itself; a dialer that checks nothing is
// refused by the port, which logs why. The node never sees either.
func TestSecureReplicationRefusesStrangers(t *testing.T) {
	ca, other := tlstest.NewCA(t, "cluster CA"), tlstest.NewCA(t, "other CA")
	a := newNode(t, "a", Options{TLS: secure(t, ca, "eventstoredb-node")})
	stranger := newNode(t, "stranger", Options{TLS: secure(t, other, "eventstoredb-node")})
	accepted := make(chan struct{}, 4)
	ln := a.listen(func(env.Conn) env.ConnHandler { accepted <- struct{}{}; return newRecorder() })

	h := newRecorder()
	stranger.connect(ln.Addr(), h)
	e := h.next(t, "closed")
	if !errors.Is(e.err, env.ErrUnreachable) || !strings.Contains(e.err.Error(), "x509: certificate signed by unknown authority") {
		t.Errorf("the stranger's dial ended with %v; want unreachable, saying the certificate is not trusted", e.err)
	}
	if line := stranger.log.find(env.LevelWarn, "TLS handshake with "+ln.Addr().String()+" failed"); line == "" {
		t.Errorf("the stranger's log does not say why it could not connect:\n%s", stranger.log.all())
	}

	otherCert := secure(t, other, "eventstoredb-node").NodePort.Certificates
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, Certificates: otherCert})
	if err == nil {
		_, err = c.Read(make([]byte, 1))
		_ = c.Close()
	}
	if err == nil {
		t.Fatal("a certificate of another CA was accepted on the replication port")
	}
	waitFor(t, "the replication port to log the refusal", func() bool {
		return a.log.find(env.LevelWarn, "not trusted by TrustedRootCertificatesPath") != ""
	})
	select {
	case <-accepted:
		t.Fatal("the node was handed a connection from a stranger")
	default:
	}
}

func TestSecureCallsBetweenNodesOnly(t *testing.T) {
	ca, other := tlstest.NewCA(t, "cluster CA"), tlstest.NewCA(t, "other CA")
	a := newNode(t, "a", Options{TLS: secure(t, ca, "eventstoredb-node")})
	b := newNode(t, "b", Options{TLS: secure(t, ca, "eventstoredb-node")})
	stranger := newNode(t, "stranger", Options{TLS: secure(t, other, "eventstoredb-node")})
	p := a.serve(newHandler())
	if resp, err := b.call(p.Addr(), "echo", []byte("over TLS"), guard); err != nil || string(resp) != "over TLS" {
		t.Fatalf("a call between two nodes: %q, %v", resp, err)
	}
	_, err := stranger.call(p.Addr(), "echo", nil, guard)
	if !errors.Is(err, env.ErrUnreachable) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("a call from a node of another CA: %v; want unreachable, saying why", err)
	}
	if line := stranger.log.find(env.LevelWarn, "call channel to "+p.Addr().String()); line == "" {
		t.Errorf("the stranger's log does not say why its calls fail:\n%s", stranger.log.all())
	}

	// A client of the node port reaches the gRPC server but not the
	// cluster's calls, with or without a certificate of its own.
	roots := rootsOf(ca)
	alice := ca.Issue(t, tlstest.Spec{CN: "alice", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	aliceCert, err := tls.X509KeyPair(alice.CertPEM, alice.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		want  string
	}{
		{"no certificate", nil, "presented no certificate"},
		{"a user's certificate", []tls.Certificate{aliceCert}, `certificate (CN "alice") is not a cluster node's`},
	} {
		conn, err := grpc.NewClient(p.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: roots, ServerName: "localhost", Certificates: tc.certs,
		})))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), guard)
		_, err = clusterpb.NewClusterClient(conn).Call(ctx, &clusterpb.CallRequest{Method: "echo"})
		cancel()
		_ = conn.Close()
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: the cluster's call answered %v; want PERMISSION_DENIED saying %q", tc.name, err, tc.want)
		}
	}
}

// peerHealth answers SERVING when the call came over TLS as gRPC's own
// credentials would report it, so a test sees what handlers see.
type peerHealth struct {
	healthpb.UnimplementedHealthServer
}

func (peerHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || !info.State.HandshakeComplete || info.SecurityLevel != credentials.PrivacyAndIntegrity {
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func TestSecureNodePortTellsGRPCClientsFromBrowsersByALPN(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	routes := http.NewServeMux()
	routes.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			_, _ = io.WriteString(w, "cleartext")
			return
		}
		_, _ = io.WriteString(w, "tls "+r.TLS.NegotiatedProtocol)
	})
	a := newNode(t, "a", Options{
		TLS:          secure(t, ca, "eventstoredb-node"),
		HTTP:         routes,
		GRPCServices: func(s grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(s, peerHealth{}) },
	})
	p := a.serve(newHandler())
	roots := rootsOf(ca)

	// A gRPC client offers h2 alone, and reaches gRPC's own server, whose
	// handlers see the TLS state.
	conn, err := grpc.NewClient(p.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC over TLS: %v %v; want SERVING (the handler saw TLS credentials)", resp.GetStatus(), err)
	}

	// A browser offers h2 and http/1.1, and gets HTTP/1.1.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: guard}
	res, err := hc.Get("https://" + p.Addr().String() + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.Proto != "HTTP/1.1" || string(body) != "tls http/1.1" {
		t.Errorf("a browser: %s %q; want HTTP/1.1 and a request that knows its TLS state", res.Proto, body)
	}

	// A client that offers no protocol is told apart by its first bytes.
	raw, err := tls.Dial("tcp", p.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(guard))
	_, _ = io.WriteString(raw, "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	got, _ := io.ReadAll(raw)
	_ = raw.Close()
	if !strings.HasPrefix(string(got), "HTTP/1.1 204") {
		t.Errorf("HTTP/1.1 over TLS without ALPN: %q", got)
	}
	if st := p.Stats(); st.GRPC != 1 || st.HTTP != 2 || st.TLSFailed != 0 || st.PlainRefused != 0 {
		t.Errorf("stats %+v; want 1 gRPC and 2 HTTP connections", st)
	}
}

// A secure node port reached in cleartext: HTTP/1.1 gets an empty reply
// (no redirect), gRPC with tls=false a GOAWAY that says what to do.
func TestSecureNodePortRefusesCleartext(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	a := newNode(t, "a", Options{TLS: secure(t, ca, "eventstoredb-node")})
	p := a.serve(newHandler())

	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(guard))
	_, _ = io.WriteString(c, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
	got, err := io.ReadAll(c)
	_ = c.Close()
	if err != nil || len(got) != 0 {
		t.Errorf("plain HTTP on a secure port: read %q, %v; want an empty reply ended by FIN", got, err)
	}

	c = rawH2(t, p.Addr())
	typ, _, _, err := readH2Frame(c)
	if err != nil || typ != h2Settings {
		t.Fatalf("cleartext HTTP/2: first frame %#x, %v; want the server's SETTINGS", typ, err)
	}
	typ, _, payload, err := readH2Frame(c)
	if err != nil || typ != h2GoAway || len(payload) < 8 {
		t.Fatalf("cleartext HTTP/2: second frame %#x (%d bytes), %v; want GOAWAY", typ, len(payload), err)
	}
	if code := binary.BigEndian.Uint32(payload[4:8]); code != errInadequateSecurity || !strings.Contains(string(payload[8:]), "tls=true") {
		t.Errorf("GOAWAY code %#x, debug %q; want INADEQUATE_SECURITY saying to use tls=true", code, payload[8:])
	}

	conn, err := grpc.NewClient(p.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "INADEQUATE_SECURITY") || !strings.Contains(err.Error(), "serves TLS only") {
		t.Errorf("a gRPC client with tls=false: %v; want UNAVAILABLE carrying the node's GOAWAY text", err)
	}
	waitFor(t, "three refusals to be counted", func() bool { return p.Stats().PlainRefused >= 3 })
	if st := p.Stats(); st.GRPC != 0 || st.HTTP != 0 {
		t.Errorf("stats %+v; cleartext reached a server", st)
	}
}

// A client certificate the node cannot verify ends the handshake, and the
// log says why (it is probably a node with the wrong CA).
func TestSecureNodePortLogsUnverifiableClientCertificates(t *testing.T) {
	ca, other := tlstest.NewCA(t, "cluster CA"), tlstest.NewCA(t, "other CA")
	a := newNode(t, "a", Options{TLS: secure(t, ca, "eventstoredb-node")})
	p := a.serve(newHandler())
	// A Go client sends no certificate the server's CA list does not
	// name; this one sends its own regardless, as a misconfigured node's
	// TLS library may.
	cert := secure(t, other, "eventstoredb-node").NodePort.Certificates[0]
	c, err := tls.Dial("tcp", p.Addr().String(), &tls.Config{RootCAs: rootsOf(ca), ServerName: "localhost", NextProtos: []string{"h2"},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(guard))
		_, err = c.Read(make([]byte, 1))
		_ = c.Close()
	}
	if err == nil {
		t.Fatal("an unverifiable client certificate was accepted")
	}
	waitFor(t, "the failed handshake to be counted and logged", func() bool {
		return p.Stats().TLSFailed == 1 && a.log.find(env.LevelWarn, "TLS handshake with") != ""
	})
}

func TestTLSOptionsMustBeComplete(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	partial := *secure(t, ca, "eventstoredb-node")
	partial.Replication, partial.IsNode = nil, nil
	_, err := New(newNode(t, "a", Options{}).loop, Options{TLS: &partial})
	if err == nil || !strings.Contains(err.Error(), "Replication, IsNode missing") {
		t.Fatalf("New with half a TLS configuration: %v", err)
	}
}

// One host holding connections open in the TLS handshake takes at most
// its share of the replication port's handshake slots: its next
// connection is closed at once, while another host's node still
// completes its handshake.
func TestSecureReplicationPortSharesHandshakeSlotsBetweenHosts(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	a := newNode(t, "a", Options{TLS: secure(t, ca, "eventstoredb-node")})
	ln := a.listen(func(env.Conn) env.ConnHandler { return newRecorder() })
	sl := ln.(*streamListener)
	dialFrom := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: guard}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	for range maxPendingHandshakesPerHost {
		dialFrom("127.0.0.1") // silent: its handshake stays pending
	}
	waitFor(t, "the silent connections' handshakes to be pending", func() bool {
		sl.mu.Lock()
		defer sl.mu.Unlock()
		return sl.pendingFrom[netip.MustParseAddr("127.0.0.1")] == maxPendingHandshakesPerHost
	})
	over := dialFrom("127.0.0.1")
	_ = over.SetReadDeadline(time.Now().Add(guard))
	if _, err := over.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection beyond its host's share: read %v; want it closed at once", err)
	}

	d := tls.Dialer{
		NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: guard},
		Config:    &tls.Config{InsecureSkipVerify: true, Certificates: secure(t, ca, "eventstoredb-node").NodePort.Certificates},
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("a node on another host could not complete its handshake: %v", err)
	}
	_ = c.Close()
}

// A secure node and an insecure one cannot talk, and each side must say
// why in words an operator acts on: one of them was started with (or
// without) Insecure. The insecure caller's log said only "connection
// closed (EOF)", the node's own GOAWAY text lost; the secure replication
// port blamed the peer's certificate; the insecure one asked whether
// "something other than an annal node" was writing to it.
func TestSecureAndInsecureNodesSayWhyTheyCannotTalk(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	sec := newNode(t, "secure", Options{TLS: secure(t, ca, "eventstoredb-node")})
	plain := newNode(t, "insecure", Options{})
	const hint = "Every node of a cluster must be secure, or every node insecure"
	const hintLower = "every node of a cluster must be secure, or every node insecure"

	// The insecure node calls the secure node port (gossip, elections).
	p := sec.serve(newHandler())
	_, err := plain.call(p.Addr(), "echo", nil, guard)
	if !errors.Is(err, env.ErrUnreachable) || !strings.Contains(err.Error(), "Insecure") || !strings.Contains(err.Error(), "serves TLS only") {
		t.Errorf("an insecure node's call to a secure node port: %v; want unreachable, naming Insecure and the node's own answer", err)
	}
	if plain.log.find(env.LevelWarn, hintLower) == "" {
		t.Errorf("the insecure node's log does not say why its calls fail:\n%s", plain.log.all())
	}

	// The secure node calls the insecure node port.
	q := plain.serve(newHandler())
	_, err = sec.call(q.Addr(), "echo", nil, guard)
	if !errors.Is(err, env.ErrUnreachable) || !strings.Contains(err.Error(), "Insecure") {
		t.Errorf("a secure node's call to an insecure node port: %v; want unreachable, asking whether the peer runs with Insecure", err)
	}
	if sec.log.find(env.LevelWarn, hint) == "" {
		t.Errorf("the secure node's log does not say why its calls fail:\n%s", sec.log.all())
	}

	// The insecure node dials the secure replication port.
	secRepl := sec.listen(func(env.Conn) env.ConnHandler { return newRecorder() })
	h := newRecorder()
	c := plain.connect(secRepl.Addr(), h)
	h.next(t, "established")
	// A replica speaks first (its Subscribe).
	plain.on(func() { err = c.Send([]byte("subscribe")) })
	if err != nil {
		t.Fatal(err)
	}
	h.next(t, "closed")
	waitFor(t, "the secure replication port to say the peer speaks cleartext", func() bool {
		return sec.log.find(env.LevelWarn, "peer speaks cleartext, not TLS: is it a node started with Insecure?") != ""
	})

	// The secure node dials the insecure replication port.
	plainRepl := plain.listen(func(env.Conn) env.ConnHandler { return newRecorder() })
	h2 := newRecorder()
	sec.connect(plainRepl.Addr(), h2)
	h2.next(t, "closed")
	waitFor(t, "the insecure replication port to say the peer speaks TLS", func() bool {
		return plain.log.find(env.LevelError, "these bytes open a TLS handshake") != ""
	})
}
