package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/serverfeaturespb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
	"github.com/annal-db/annal/realnet/netstack"
	"github.com/annal-db/annal/realnet/tlsconfig/tlstest"
)

// Cheap password hashes: the tests check who may do what, not the cost of
// guessing.
func init() { passwordIterations = 1000 }

// secureOptions are a test node's options with TLS: the certificate ca
// issues it (common name eventstoredb-node, for 127.0.0.1), written to a
// directory of its own, and the ops user's password changed.
func secureOptions(t *testing.T, ca *tlstest.CA, set map[*options.Option]string) *options.Values {
	t.Helper()
	f := ca.WriteNode(t, t.TempDir(), "node", ca.Node(t, "eventstoredb-node"))
	base := map[*options.Option]string{
		options.Insecure:                    "false",
		options.CertificateFile:             f.Cert,
		options.CertificatePrivateKeyFile:   f.Key,
		options.TrustedRootCertificatesPath: f.Roots,
	}
	for o, s := range set {
		base[o] = s
	}
	v := nodeOptions(t, t.TempDir(), base)
	if err := v.Set(options.DefaultOpsPassword, "ops-secret", options.SourceEnvironment); err != nil {
		t.Fatal(err)
	}
	return v
}

// secureCluster starts three nodes on loopback, each with its own
// certificate from ca, seeded as cluster() seeds them.
func secureCluster(t *testing.T, ca *tlstest.CA) []*testNode {
	t.Helper()
	var nodes []*testNode
	var seeds []string
	for i := 1; i <= 3; i++ {
		set := clusterOptions(seeds)
		nodes = append(nodes, start(t, fmt.Sprintf("n%d", i), secureOptions(t, ca, set)))
		seeds = append(seeds, nodes[i-1].rt.NodeEndpoint().String())
	}
	return nodes
}

func clusterOptions(seeds []string) map[*options.Option]string {
	set := map[*options.Option]string{
		options.ClusterSize:                  "3",
		options.GossipIntervalMs:             "200",
		options.GossipTimeoutMs:              "500",
		options.ReplicationHeartbeatInterval: fmt.Sprint(hbInterval.Milliseconds()),
		options.ReplicationHeartbeatTimeout:  fmt.Sprint(hbTimeout.Milliseconds()),
	}
	if len(seeds) > 0 {
		set[options.GossipSeed] = strings.Join(seeds, ",")
	}
	return set
}

// client is an official client's view of a secure node: gRPC over TLS
// trusting the cluster's CA, no client certificate.
type client struct {
	conn     *grpc.ClientConn
	streams  pb.StreamsClient
	gossip   gossippb.GossipClient
	features serverfeaturespb.ServerFeaturesClient
}

func dialSecure(t *testing.T, ca *tlstest.CA, n *testNode) *client {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	conn, err := grpc.NewClient(n.rt.NodeEndpoint().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &client{conn: conn, streams: pb.NewStreamsClient(conn), gossip: gossippb.NewGossipClient(conn), features: serverfeaturespb.NewServerFeaturesClient(conn)}
}

// as is a call context carrying Basic credentials ("" user: none).
func as(t *testing.T, user, password string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	if user == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

// appendEvent appends one JSON event to stream and returns the status
// and trailers.
func (c *client) appendEvent(ctx context.Context, stream string, n byte) (*pb.AppendResp, metadata.MD, error) {
	return c.appendTyped(ctx, stream, n, "OrderPlaced", `{"n":1}`)
}

// appendTyped appends one JSON event of type typ with data to stream.
func (c *client) appendTyped(ctx context.Context, stream string, n byte, typ, data string) (*pb.AppendResp, metadata.MD, error) {
	st, err := c.streams.Append(ctx)
	if err != nil {
		return nil, nil, err
	}
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
	for _, m := range []*pb.AppendReq{
		{Content: &pb.AppendReq_Options_{Options: &pb.AppendReq_Options{
			StreamIdentifier:       &sharedpb.StreamIdentifier{StreamName: []byte(stream)},
			ExpectedStreamRevision: &pb.AppendReq_Options_Any{Any: &sharedpb.Empty{}},
		}}},
		{Content: &pb.AppendReq_ProposedMessage_{ProposedMessage: &pb.AppendReq_ProposedMessage{
			Id:       &sharedpb.UUID{Value: &sharedpb.UUID_String_{String_: id}},
			Metadata: map[string]string{"type": typ, "content-type": "application/json"},
			Data:     []byte(data),
		}}},
	} {
		if err := st.Send(m); err != nil {
			break // answered early: CloseAndRecv has it
		}
	}
	resp, err := st.CloseAndRecv()
	return resp, st.Trailer(), err
}

// read reads up to 100 events of stream ("" for $all) and returns how
// many, the status and the trailers.
func (c *client) read(ctx context.Context, stream string) (int, metadata.MD, error) {
	o := &pb.ReadReq_Options{
		ReadDirection: pb.ReadReq_Options_Forwards,
		CountOption:   &pb.ReadReq_Options_Count{Count: 100},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: &sharedpb.Empty{}},
		UuidOption:    &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: &sharedpb.Empty{}}},
	}
	if stream == "" {
		o.StreamOption = &pb.ReadReq_Options_All{All: &pb.ReadReq_Options_AllOptions{AllOption: &pb.ReadReq_Options_AllOptions_Start{Start: &sharedpb.Empty{}}}}
	} else {
		o.StreamOption = &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{
			StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(stream)},
			RevisionOption:   &pb.ReadReq_Options_StreamOptions_Start{Start: &sharedpb.Empty{}},
		}}
	}
	st, err := c.streams.Read(ctx, &pb.ReadReq{Options: o})
	if err != nil {
		return 0, nil, err
	}
	events := 0
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return events, st.Trailer(), nil
		}
		if err != nil {
			return events, st.Trailer(), err
		}
		if m.GetEvent() != nil {
			events++
		}
	}
}

func wantDenied(t *testing.T, what string, md metadata.MD, err error) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied || strings.Join(md.Get("exception"), ",") != "access-denied" {
		t.Errorf("%s: %v (trailers %v); want PERMISSION_DENIED with exception=access-denied", what, err, md)
	}
}

// A secure cluster on loopback: nodes find each other, elect and
// replicate over TLS; clients reach it over TLS only, with credentials.
func TestSecureThreeNodeCluster(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	nodes := secureCluster(t, ca)
	leader := waitSoleLeader(t, nodes)
	t.Logf("leader %s: %s", leader.name, statesOf(nodes))
	c := dialSecure(t, ca, leader)

	t.Run("anonymous clients discover the cluster", func(t *testing.T) {
		info, err := c.gossip.Read(as(t, "", ""), &sharedpb.Empty{})
		if err != nil {
			t.Fatalf("Gossip.Read without credentials: %v", err)
		}
		alive, leaders := 0, 0
		for _, m := range info.GetMembers() {
			if m.GetIsAlive() {
				alive++
			}
			if m.GetIsAlive() && m.GetState() == gossippb.MemberInfo_Leader {
				leaders++
			}
		}
		if alive != 3 || leaders != 1 {
			t.Errorf("gossip over TLS: %d alive, %d leaders; want 3 and 1: %v", alive, leaders, info)
		}
		if _, err := c.features.GetSupportedMethods(as(t, "", ""), &sharedpb.Empty{}); err != nil {
			t.Errorf("ServerFeatures without credentials: %v", err)
		}
	})

	t.Run("admin appends and reads, replicated to every node", func(t *testing.T) {
		admin := as(t, "admin", "changeit")
		for i := range 3 {
			resp, _, err := c.appendEvent(admin, "orders", byte(i))
			if err != nil || resp.GetSuccess() == nil {
				t.Fatalf("append %d as admin: %v %v", i, resp, err)
			}
		}
		if n, _, err := c.read(admin, "orders"); err != nil || n != 3 {
			t.Fatalf("read as admin: %d events, %v; want 3", n, err)
		}
		if n, _, err := c.read(admin, ""); err != nil || n < 3 {
			t.Fatalf("read $all as admin: %d events, %v", n, err)
		}
		for _, n := range others(nodes, leader) {
			f := dialSecure(t, ca, n)
			waitUntil(t, n.name+" to have the events", func() bool {
				got, _, err := f.read(as(t, "admin", "changeit"), "orders")
				return err == nil && got == 3
			})
		}
	})

	t.Run("wrong credentials are UNAUTHENTICATED", func(t *testing.T) {
		ctx := as(t, "admin", "wrong")
		if _, _, err := c.appendEvent(ctx, "orders", 9); status.Code(err) != codes.Unauthenticated {
			t.Errorf("append with a wrong password: %v, want UNAUTHENTICATED", err)
		}
		if _, _, err := c.read(ctx, "orders"); status.Code(err) != codes.Unauthenticated {
			t.Errorf("read with a wrong password: %v, want UNAUTHENTICATED", err)
		}
		if _, err := c.gossip.Read(as(t, "nobody", "changeit"), &sharedpb.Empty{}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("gossip with an unknown user: %v, want UNAUTHENTICATED", err)
		}
	})

	t.Run("anonymous callers may not touch streams", func(t *testing.T) {
		_, md, err := c.appendEvent(as(t, "", ""), "orders", 10)
		wantDenied(t, "anonymous append", md, err)
		_, md, err = c.read(as(t, "", ""), "orders")
		wantDenied(t, "anonymous read", md, err)
	})

	t.Run("ops may use user streams but not the whole log", func(t *testing.T) {
		ops := as(t, "ops", "ops-secret")
		if resp, _, err := c.appendEvent(ops, "orders", 11); err != nil || resp.GetSuccess() == nil {
			t.Errorf("append as ops: %v %v", resp, err)
		}
		if n, _, err := c.read(ops, "orders"); err != nil || n != 4 {
			t.Errorf("read as ops: %d events, %v; want 4", n, err)
		}
		_, md, err := c.read(ops, "")
		wantDenied(t, "ops reading $all", md, err)
		_, md, err = c.appendEvent(ops, "$system-settings", 12)
		wantDenied(t, "ops appending to a system stream", md, err)
		if _, _, err := c.appendEvent(as(t, "ops", "changeit"), "orders", 13); status.Code(err) != codes.Unauthenticated {
			t.Errorf("ops with the default password after it was changed: %v, want UNAUTHENTICATED", err)
		}
	})

	t.Run("HTTP over TLS: open routes, 401 with a challenge otherwise", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(ca.Cert)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		hc := &http.Client{Transport: tr, Timeout: guard}
		get := func(path, user, password string) *http.Response {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, "https://"+leader.rt.NodeEndpoint().String()+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if user != "" {
				req.SetBasicAuth(user, password)
			}
			res, err := hc.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			return res
		}
		if res := get("/health/live", "", ""); res.StatusCode != http.StatusNoContent || res.Proto != "HTTP/1.1" {
			t.Errorf("GET /health/live anonymously: %d over %s; want 204 over HTTP/1.1", res.StatusCode, res.Proto)
		}
		if res := get("/gossip", "", ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET /gossip anonymously: %d, want 200", res.StatusCode)
		}
		for _, tc := range []struct{ path, user, password string }{{"/stats", "", ""}, {"/health/live", "admin", "wrong"}} {
			res := get(tc.path, tc.user, tc.password)
			if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Basic realm="ESDB"`) {
				t.Errorf("GET %s as %q: %d, WWW-Authenticate %q; want 401 with a Basic challenge", tc.path, tc.user, res.StatusCode, res.Header.Get("WWW-Authenticate"))
			}
		}
		if res := get("/stats", "admin", "changeit"); res.StatusCode == http.StatusUnauthorized {
			t.Errorf("GET /stats as admin: 401")
		}
	})

	t.Run("cleartext reaches nothing", func(t *testing.T) {
		conn, err := net.Dial("tcp", leader.rt.NodeEndpoint().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(guard))
		_, _ = io.WriteString(conn, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
		got, err := io.ReadAll(conn)
		_ = conn.Close()
		if err != nil || len(got) != 0 {
			t.Errorf("plain HTTP: %q, %v; want an empty reply", got, err)
		}
		plain, err := grpc.NewClient(leader.rt.NodeEndpoint().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		_, err = gossippb.NewGossipClient(plain).Read(as(t, "", ""), &sharedpb.Empty{})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "serves TLS only") {
			t.Errorf("gRPC with tls=false: %v; want UNAVAILABLE saying the node serves TLS only", err)
		}
	})

	t.Run("the start-up log warns of the default admin password", func(t *testing.T) {
		log := leader.log.String()
		if !strings.Contains(log, "WRN "+leader.name+" the admin user's password is the default (changeit)") ||
			!strings.Contains(log, "EVENTSTORE_DEFAULT_ADMIN_PASSWORD") {
			t.Errorf("no warning about the admin user's default password:\n%s", log)
		}
		if strings.Contains(log, "the ops user's password is the default") {
			t.Error("a warning about the ops user's password, which was changed")
		}
		if !strings.Contains(log, `TLS on both ports: certificate CN "eventstoredb-node"`) {
			t.Errorf("the log does not say how the node is secured:\n%s", log)
		}
	})
}

// freeNodePorts picks n ports the kernel has free now, so that nodes can
// be seeded with one another's addresses before they start.
func freeNodePorts(t *testing.T, n int) []string {
	t.Helper()
	var eps []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		eps = append(eps, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return eps
}

// A node whose certificate comes from another CA cannot join: the cluster
// forms without it, and the logs on both sides say why.
func TestNodeWithAnUntrustedCertificateCannotJoin(t *testing.T) {
	ca, other := tlstest.NewCA(t, "annal test CA"), tlstest.NewCA(t, "untrusted CA")
	eps := freeNodePorts(t, 3) // n1, n2, the stranger: each seeded with the others
	withPort := func(i int, set map[*options.Option]string) map[*options.Option]string {
		set[options.NodePort] = eps[i][strings.LastIndexByte(eps[i], ':')+1:]
		return set
	}
	n1 := start(t, "n1", secureOptions(t, ca, withPort(0, clusterOptions([]string{eps[1], eps[2]}))))
	n2 := start(t, "n2", secureOptions(t, ca, withPort(1, clusterOptions([]string{eps[0], eps[2]}))))
	stranger := start(t, "stranger", secureOptions(t, other, withPort(2, clusterOptions([]string{eps[0], eps[1]}))))
	members := []*testNode{n1, n2}
	leader := waitSoleLeader(t, members)

	waitUntil(t, "n1's log to say why the stranger is refused", func() bool {
		log := n1.log.String()
		return strings.Contains(log, "WRN n1 netstack: call channel to "+eps[2]) &&
			strings.Contains(log, `issued by "untrusted CA") is not trusted by TrustedRootCertificatesPath: x509: certificate signed by unknown authority`)
	})
	waitUntil(t, "the stranger's log to say why it is alone", func() bool {
		log := stranger.log.String()
		return strings.Contains(log, "WRN stranger netstack: call channel to "+eps[0]) &&
			strings.Contains(log, `issued by "annal test CA") is not trusted by TrustedRootCertificatesPath: x509: certificate signed by unknown authority`)
	})
	// Some gossip rounds later, still out.
	time.Sleep(10 * 200 * time.Millisecond)
	if s := stranger.rt.Status().State; s == member.Leader || s == member.Follower {
		t.Errorf("the stranger is %v", s)
	}
	if soleLeader(members) != leader {
		t.Errorf("the cluster changed: %s", statesOf(members))
	}
	info, err := dialSecure(t, ca, leader).gossip.Read(as(t, "", ""), &sharedpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range info.GetMembers() {
		if m.GetIsAlive() && fmt.Sprintf("%s:%d", m.GetHttpEndPoint().GetAddress(), m.GetHttpEndPoint().GetPort()) == eps[2] {
			t.Errorf("the leader's gossip lists the stranger as alive: %v", m)
		}
	}
}

// kestrelsettings.json's limits as a client meets them: connections over
// MaxConcurrentConnections are closed at once while those open go on, and
// a gRPC client is offered InitialStreamWindowSize per stream and
// InitialConnectionWindowSize per connection.
func TestConnectionLimitAndHTTP2WindowsSeenByClients(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	v := secureOptions(t, ca, nil)
	for o, s := range map[*options.Option]string{
		options.MaxConcurrentConnections:    "2",
		options.InitialConnectionWindowSize: "4194304",
		options.InitialStreamWindowSize:     "1048576",
	} {
		if err := v.Set(o, s, options.SourceConfigFile); err != nil {
			t.Fatal(err)
		}
	}
	n := start(t, "n1", v)
	waitUntil(t, "the node to lead", leads(n))
	ep := n.rt.NodeEndpoint().String()

	// The first connection: an official client's.
	first := dialSecure(t, ca, n)
	if _, err := first.gossip.Read(as(t, "", ""), &sharedpb.Empty{}); err != nil {
		t.Fatalf("the first client: %v", err)
	}

	// The second: HTTP/2 by hand, to read what the server offers.
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	raw, err := tls.Dial("tcp", ep, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(guard))
	if _, err := io.WriteString(raw, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(raw, raw)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	streamWindow, connIncrement, maxStreams := uint32(0), uint32(0), uint32(0)
	for streamWindow == 0 || connIncrement == 0 || maxStreams == 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's first frames: %v (stream window %d, connection increment %d so far)", err, streamWindow, connIncrement)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				streamWindow = v
			}
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				maxStreams = v
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connIncrement = f.Increment
			}
		}
	}
	if maxStreams != netstack.MaxConcurrentStreams {
		t.Errorf("the server allows %d concurrent calls per connection; want %d", maxStreams, netstack.MaxConcurrentStreams)
	}
	if streamWindow != 1048576 || connIncrement+65535 != 4194304 {
		t.Errorf("the server offers a stream window of %d and a connection window of %d; want 1048576 and 4194304",
			streamWindow, connIncrement+65535)
	}

	// A third is over the limit: closed before TLS begins.
	over, err := net.Dial("tcp", ep)
	if err != nil {
		t.Fatal(err)
	}
	_ = over.SetDeadline(time.Now().Add(guard))
	_, _ = over.Write([]byte{0x16})
	if got, err := io.ReadAll(over); len(got) != 0 || isTimeout(err) {
		t.Errorf("a connection over the limit: read %q, %v; want it closed at once", got, err)
	}
	_ = over.Close()
	late := dialSecure(t, ca, n)
	if _, err := late.gossip.Read(as(t, "", ""), &sharedpb.Empty{}); status.Code(err) != codes.Unavailable {
		t.Errorf("a client over the limit: %v; want UNAVAILABLE", err)
	}
	_ = late.conn.Close()
	if st := n.rt.port.Stats(); st.Rejected < 2 || st.Open != 2 {
		t.Errorf("node port stats %+v; want the two refusals counted and two connections open", st)
	}
	// The connections already open carry on.
	if _, err := first.gossip.Read(as(t, "", ""), &sharedpb.Empty{}); err != nil {
		t.Errorf("the first client after the refusals: %v", err)
	}
	// Once one closes, a new client gets in.
	_ = raw.Close()
	waitUntil(t, "the hand-made connection to be uncounted", func() bool { return n.rt.port.Stats().Open == 1 })
	if _, err := dialSecure(t, ca, n).gossip.Read(as(t, "", ""), &sharedpb.Empty{}); err != nil {
		t.Errorf("a client under the limit again: %v", err)
	}
}

// TestStreamAccessListsAreEnforced: a stream's $acl, set in its metadata,
// decides who may read and write it; removing it restores the defaults.
func TestStreamAccessListsAreEnforced(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	n := start(t, "n1", secureOptions(t, ca, nil))
	waitUntil(t, "the node to lead", leads(n))
	c := dialSecure(t, ca, n)
	mustAppend := func(user, password, stream string, k byte, typ, data string) {
		t.Helper()
		if resp, md, err := c.appendTyped(as(t, user, password), stream, k, typ, data); err != nil || resp.GetSuccess() == nil {
			t.Fatalf("%s appending to %s: %v %v %v", user, stream, resp, md, err)
		}
	}
	mustAppend("admin", "changeit", "secret", 1, "OrderPlaced", `{}`)
	mustAppend("admin", "changeit", "$$secret", 2, "$metadata", `{"$acl":{"$r":"$admins","$w":["$admins"]}}`)
	ops := func() context.Context { return as(t, "ops", "ops-secret") }
	waitUntil(t, "the $acl to apply", func() bool { _, _, err := c.read(ops(), "secret"); return err != nil })
	_, md, err := c.read(ops(), "secret")
	wantDenied(t, "ops reading a stream whose $r is $admins", md, err)
	_, md, err = c.appendEvent(ops(), "secret", 3)
	wantDenied(t, "ops appending to a stream whose $w is $admins", md, err)
	if got, _, err := c.read(as(t, "admin", "changeit"), "secret"); err != nil || got != 1 {
		t.Fatalf("admin reading secret: %d events, %v", got, err)
	}
	if _, _, err := c.appendEvent(ops(), "public", 4); err != nil {
		t.Fatalf("ops appending to a stream without an $acl: %v", err)
	}
	// A link does not show what a read would refuse: ops's own link to
	// secret's event resolves for admin, not for ops.
	mustAppend("ops", "ops-secret", "ops-links", 6, "$>", "0@secret")
	if got := c.resolvedTargets(t, ops(), "ops-links"); got != 0 {
		t.Fatalf("ops resolved %d links into a stream it may not read", got)
	}
	if got := c.resolvedTargets(t, as(t, "admin", "changeit"), "ops-links"); got != 1 {
		t.Fatalf("admin resolved %d links into secret, want 1", got)
	}
	// ops may read secret's metadata ($mr unset: everyone) but not write it.
	if _, _, err := c.read(ops(), "$$secret"); err != nil {
		t.Fatalf("ops reading secret's metadata: %v", err)
	}
	_, md, err = c.appendTyped(ops(), "$$secret", 5, "$metadata", `{}`)
	if err != nil {
		t.Fatalf("ops writing secret's metadata ($mw unset: everyone): %v %v", md, err)
	}
	waitUntil(t, "the $acl's removal to apply", func() bool { _, _, err := c.read(ops(), "secret"); return err == nil })
}

// TestRevokedReadAccessEndsALiveSubscription: a subscriber that loses
// the right to read a stream (its $acl changes) gets none of the events
// written after that, and its subscription ends with access denied, as
// EventStoreDB drops subscriptions whose stream metadata or $settings
// change takes their access away.
func TestRevokedReadAccessEndsALiveSubscription(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	n := start(t, "n1", secureOptions(t, ca, nil))
	waitUntil(t, "the node to lead", leads(n))
	c := dialSecure(t, ca, n)
	admin := func() context.Context { return as(t, "admin", "changeit") }
	mustAppend := func(stream string, k byte, typ, data string) {
		t.Helper()
		if resp, md, err := c.appendTyped(admin(), stream, k, typ, data); err != nil || resp.GetSuccess() == nil {
			t.Fatalf("admin appending to %s: %v %v %v", stream, resp, md, err)
		}
	}
	mustAppend("watched", 1, "OrderPlaced", `{}`)
	sub, err := c.streams.Read(as(t, "ops", "ops-secret"), &pb.ReadReq{Options: &pb.ReadReq_Options{
		StreamOption: &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{
			StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte("watched")},
			RevisionOption:   &pb.ReadReq_Options_StreamOptions_Start{Start: &sharedpb.Empty{}},
		}},
		CountOption:  &pb.ReadReq_Options_Subscription{Subscription: &pb.ReadReq_Options_SubscriptionOptions{}},
		FilterOption: &pb.ReadReq_Options_NoFilter{NoFilter: &sharedpb.Empty{}},
		UuidOption:   &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: &sharedpb.Empty{}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"confirmation", "event", "caught-up"} {
		m, err := sub.Recv()
		if err != nil {
			t.Fatalf("ops subscribing to watched, waiting for the %s: %v", want, err)
		}
		if got := fmt.Sprintf("%T", m.GetContent()); !strings.Contains(strings.ToLower(got), strings.ReplaceAll(want, "-", "")) {
			t.Fatalf("ops subscribing to watched: got %s, want the %s", got, want)
		}
	}
	mustAppend("$$watched", 2, "$metadata", `{"$acl":{"$r":"$admins"}}`)
	mustAppend("watched", 3, "OrderPaid", `{"card":"4111"}`)
	m, err := sub.Recv()
	if err == nil {
		t.Fatalf("ops may no longer read watched, yet its subscription delivered %v", m)
	}
	wantDenied(t, "a subscription whose read access was revoked", sub.Trailer(), err)
}

// resolvedTargets reads stream with resolve_links and counts the links
// that came with their targets.
func (c *client) resolvedTargets(t *testing.T, ctx context.Context, stream string) int {
	t.Helper()
	st, err := c.streams.Read(ctx, &pb.ReadReq{Options: &pb.ReadReq_Options{
		StreamOption: &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{
			StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(stream)},
			RevisionOption:   &pb.ReadReq_Options_StreamOptions_Start{Start: &sharedpb.Empty{}},
		}},
		ReadDirection: pb.ReadReq_Options_Forwards,
		ResolveLinks:  true,
		CountOption:   &pb.ReadReq_Options_Count{Count: 100},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: &sharedpb.Empty{}},
		UuidOption:    &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: &sharedpb.Empty{}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	resolved := 0
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return resolved
		}
		if err != nil {
			t.Fatalf("reading %s with resolve_links: %v", stream, err)
		}
		if ev := m.GetEvent(); ev != nil && ev.GetLink() != nil && ev.GetEvent() != nil {
			resolved++
		}
	}
}

// TestGossipOverGRPCFollowsTheGossipOverride: with
// OverrideAnonymousEndpointAccessForGossip off, gRPC Gossip.Read needs a
// user, as GET /gossip does.
func TestGossipOverGRPCFollowsTheGossipOverride(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	n := start(t, "n1", secureOptions(t, ca, map[*options.Option]string{options.OverrideAnonymousEndpointAccessForGossip: "false"}))
	waitUntil(t, "the node to lead", leads(n))
	c := dialSecure(t, ca, n)
	var md metadata.MD
	_, err := c.gossip.Read(as(t, "", ""), &sharedpb.Empty{}, grpc.Trailer(&md))
	wantDenied(t, "anonymous Gossip.Read with the gossip override off", md, err)
	if info, err := c.gossip.Read(as(t, "ops", "ops-secret"), &sharedpb.Empty{}); err != nil || len(info.GetMembers()) != 1 {
		t.Fatalf("Gossip.Read as ops: %v %v", info, err)
	}
}

// TestASecureNodeGossipsItsReplicationPortAsSecure: a secure node
// replicates over TLS only, and its gossip says so.
func TestASecureNodeGossipsItsReplicationPortAsSecure(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	n := start(t, "n1", secureOptions(t, ca, nil))
	waitUntil(t, "the node to lead", leads(n))
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
	t.Cleanup(tr.CloseIdleConnections)
	_, body := httpGet(t, &http.Client{Transport: tr, Timeout: guard}, "https://"+n.rt.NodeEndpoint().String(), "/gossip", "", "")
	var doc struct {
		Members []struct {
			InternalTCPPort       int `json:"internalTcpPort"`
			InternalSecureTCPPort int `json:"internalSecureTcpPort"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Members) != 1 {
		t.Fatalf("gossip %s: %v", body, err)
	}
	if m, repl := doc.Members[0], int(n.rt.ReplicationEndpoint().Port); m.InternalSecureTCPPort != repl || m.InternalTCPPort != 0 {
		t.Errorf("internalTcpPort %d, internalSecureTcpPort %d; want 0 and %d", m.InternalTCPPort, m.InternalSecureTCPPort, repl)
	}
}

// An anonymous CORS preflight is let through authentication (browsers send
// it without credentials), so no route may serve anything to it: every
// answer to OPTIONS without a user has an empty body, whatever the path.
func TestAnonymousPreflightsServeNothing(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	n := start(t, "n1", secureOptions(t, ca, map[*options.Option]string{options.EnableAtomPubOverHttp: "true"}))
	waitUntil(t, "the node to lead", leads(n))
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	cl := &http.Client{Transport: tr, Timeout: guard, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + n.rt.NodeEndpoint().String()
	for _, path := range []string{
		"/", "/gossip", "/info", "/stats", "/stats/replication", "/metrics", "/health/live", "/web", "/web/", "/web/index.html",
		"/admin", "/ui", "/streams/secret", "/streams/$all", "/streams/secret/0", "/streams/secret/metadata", "/users",
		"/projections", "/subscriptions", "/event_store.client.streams.Streams/Read", "/event_store.client.gossip.Gossip/Read", "/no/such/route",
	} {
		req, err := http.NewRequest(http.MethodOptions, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://dashboard.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		res, err := cl.Do(req)
		if err != nil {
			t.Fatalf("OPTIONS %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if len(body) > 0 && res.StatusCode < 400 {
			t.Errorf("anonymous OPTIONS %s: %d with a %d-byte body %q; a preflight must be served nothing", path, res.StatusCode, len(body), body)
		}
	}
}

// An empty default password (an environment variable set to nothing, as a
// compose file's ${ADMIN_PASSWORD} gives when that is unset) is refused
// at start: the node would otherwise run without that user, silently.
func TestAnEmptyDefaultPasswordIsRefusedAtStart(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	for _, o := range []*options.Option{options.DefaultAdminPassword, options.DefaultOpsPassword} {
		v := secureOptions(t, ca, nil)
		if err := v.Set(o, "", options.SourceEnvironment); err != nil {
			t.Fatal(err)
		}
		rt, err := Start(Config{Options: v, Name: "n1", Log: io.Discard, Settings: settings()})
		if err == nil {
			_ = rt.Stop()
			t.Fatalf("%s set to nothing: the node started", o.Name)
		}
		if want := o.Name + " is empty"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), options.EnvNames(o)[0]) {
			t.Errorf("%s set to nothing: %v; want it to say %q and name %s", o.Name, err, want, options.EnvNames(o)[0])
		}
	}
}
