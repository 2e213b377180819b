package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/tlsconfig/tlstest"
)

// A node's files as an operator lays them out, read from the real file
// system: an intermediate CA's chain in the certificate file, the root
// alone in the trusted directory, and the key in the certificate file
// itself when no key file is named.
func TestLoadReadsChainsAndKeysFromRealFiles(t *testing.T) {
	root := tlstest.NewCA(t, "root")
	inter := root.Intermediate(t, "intermediate")
	leaf := inter.Node(t, "eventstoredb-node")
	dir := t.TempDir()
	files := root.WriteNode(t, dir, "node", leaf)
	// The chain: the node's certificate, then the intermediate.
	if err := os.WriteFile(files.Cert, append(append([]byte{}, leaf.CertPEM...), inter.PEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := Load(values(t, map[*options.Option]string{
		options.CertificateFile:             files.Cert,
		options.CertificatePrivateKeyFile:   files.Key,
		options.TrustedRootCertificatesPath: files.Roots,
	}), Inputs{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := len(m.NodePortServer().Certificates[0].Certificate); got != 2 {
		t.Errorf("the served chain has %d certificates, want the node's and the intermediate", got)
	}
	if m.NodeName() != "eventstoredb-node" || m.Leaf().Subject.CommonName != "eventstoredb-node" {
		t.Errorf("node name %q, leaf %q", m.NodeName(), m.Leaf().Subject.CommonName)
	}

	combined := filepath.Join(dir, "combined.pem")
	if err := os.WriteFile(combined, append(append([]byte{}, leaf.CertPEM...), append(inter.PEM, leaf.KeyPEM...)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(values(t, map[*options.Option]string{
		options.CertificateFile:             combined,
		options.TrustedRootCertificatesPath: files.Roots,
	}), Inputs{}); err != nil {
		t.Errorf("Load of a certificate file holding the key too: %v", err)
	}
}

func TestMatchesNodeName(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	cases := []struct {
		cn, dns, pattern string
		want             bool
	}{
		{"eventstoredb-node", "", "eventstoredb-node", true},
		{"EventStoreDB-Node", "", "eventstoredb-node", true},
		{"node1.cluster.local", "", "*.cluster.local", true},
		{"a.node1.cluster.local", "", "*.cluster.local", false},
		{"cluster.local", "", "*.cluster.local", false},
		{"node1.cluster.localx", "", "*.cluster.local", false},
		{"alice", "node2.cluster.local", "*.cluster.local", false},
		{"eventstoredb-node", "*.cluster.local", "*.cluster.local", false},
		{"alice", "", "*.cluster.local", false},
		{"*.cluster.local", "", "*.cluster.local", false},
		// A wildcard over one label matches nothing, as in EventStoreDB:
		// "*.local" (or "*.com") would take any name a public CA signs.
		{"node1.local", "", "*.local", false},
		{"example.com", "", "*.com", false},
		{"", "", "", false},
		{"x", "", "", false},
	}
	for _, tc := range cases {
		spec := tlstest.Spec{CN: tc.cn}
		if tc.dns != "" {
			spec.DNSNames = []string{tc.dns}
		}
		c := ca.Issue(t, spec).Cert
		if got := MatchesNodeName(c, tc.pattern); got != tc.want {
			t.Errorf("MatchesNodeName(CN %q, DNS %q, %q) = %v, want %v", tc.cn, tc.dns, tc.pattern, got, tc.want)
		}
	}
}

// node is a node's checked material, made from a CA and a common name.
func node(t *testing.T, ca *tlstest.CA, cn, reserved string) *Material {
	t.Helper()
	dir := t.TempDir()
	f := ca.WriteNode(t, dir, "node", ca.Node(t, cn))
	m, err := Load(values(t, map[*options.Option]string{
		options.CertificateFile:                   f.Cert,
		options.CertificatePrivateKeyFile:         f.Key,
		options.TrustedRootCertificatesPath:       f.Roots,
		options.CertificateReservedNodeCommonName: reserved,
	}), Inputs{})
	if err != nil {
		t.Fatalf("Load %s: %v", cn, err)
	}
	return m
}

// handshake runs a TLS handshake between a server and a client
// configuration over an in-memory connection, and a byte each way so that
// a refusal of the client's certificate (sent after the client's own
// handshake ends, in TLS 1.3) reaches the client.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, state tls.ConnectionState) {
	t.Helper()
	// Loopback TCP rather than net.Pipe: a side that gives up must not
	// leave the other blocked in an unbuffered write.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	srv, cli := tls.Server(a, server), tls.Client(b, client)
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err == nil {
			_, err = srv.Write([]byte{1})
		}
		_ = srv.Close()
		done <- err
	}()
	clientErr = cli.Handshake()
	if clientErr == nil {
		_, clientErr = cli.Read(make([]byte, 1))
	}
	_ = cli.Close()
	serverErr = <-done
	return serverErr, clientErr, srv.ConnectionState()
}

func TestNodesRecogniseEachOtherAndNoOneElse(t *testing.T) {
	ca, other := tlstest.NewCA(t, "cluster CA"), tlstest.NewCA(t, "other CA")
	n1, n2 := node(t, ca, "eventstoredb-node", ""), node(t, ca, "eventstoredb-node", "")
	stranger := node(t, other, "eventstoredb-node", "")
	impostor := node(t, ca, "intruder", "")

	if s, c, _ := handshake(t, n1.ReplicationServer(), n2.PeerClient()); s != nil || c != nil {
		t.Fatalf("two nodes of one cluster: server %v, client %v", s, c)
	}
	// The dialer checks the server first: a stranger refuses the
	// cluster's node, and a cluster's node refuses a stranger.
	_, c, _ := handshake(t, n1.ReplicationServer(), stranger.PeerClient())
	if c == nil || !strings.Contains(c.Error(), "not trusted by TrustedRootCertificatesPath") {
		t.Errorf("a node of another CA dialing the cluster's node: %v, want it to refuse the cluster's certificate", c)
	}
	_, c, _ = handshake(t, stranger.ReplicationServer(), n1.PeerClient())
	if c == nil || !strings.Contains(c.Error(), "not trusted by TrustedRootCertificatesPath: x509: certificate signed by unknown authority") {
		t.Errorf("the cluster's node dialing a node of another CA: %v", c)
	}
	// A dialer that checks nothing and presents a certificate of another
	// CA, or of the right CA under another name, is refused by the
	// replication port, which says why.
	careless := func(m *Material) *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, Certificates: m.NodePortServer().Certificates}
	}
	s, _, _ := handshake(t, n1.ReplicationServer(), careless(stranger))
	if s == nil || !strings.Contains(s.Error(), "not trusted by TrustedRootCertificatesPath") {
		t.Errorf("a certificate of another CA on the replication port: %v", s)
	}
	s, _, _ = handshake(t, n1.ReplicationServer(), careless(impostor))
	if s == nil || !strings.Contains(s.Error(), `certificate (CN "intruder", DNS names localhost) is not a cluster node's: it does not match CertificateReservedNodeCommonName "eventstoredb-node"`) {
		t.Errorf("a certificate of the right CA with another name on the replication port: %v", s)
	}
	_, c, _ = handshake(t, impostor.NodePortServer(), n1.PeerClient())
	if c == nil || !strings.Contains(c.Error(), "not a cluster node's") {
		t.Errorf("a node dialing an impostor: %v, want the impostor refused", c)
	}
	noCert := &tls.Config{InsecureSkipVerify: true}
	if s, _, _ := handshake(t, n1.ReplicationServer(), noCert); s == nil || !strings.Contains(s.Error(), "certificate") {
		t.Errorf("a client without a certificate on the replication port: %v", s)
	}
}

func TestWildcardNodeNames(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	n1 := node(t, ca, "node1.cluster.local", "*.cluster.local")
	n2 := node(t, ca, "node2.cluster.local", "*.cluster.local")
	outsider := node(t, ca, "node3.other.local", "*.other.local")
	if s, c, _ := handshake(t, n1.ReplicationServer(), n2.PeerClient()); s != nil || c != nil {
		t.Fatalf("node1 and node2 under *.cluster.local: server %v, client %v", s, c)
	}
	if s, _, _ := handshake(t, n1.ReplicationServer(), outsider.PeerClient()); s == nil {
		t.Error("node3.other.local was accepted under *.cluster.local")
	}
}

// The node port takes clients without certificates; only a node's
// certificate lets a caller make the cluster's calls.
func TestNodePortCallersAndTheClusterCalls(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	n1, n2 := node(t, ca, "eventstoredb-node", ""), node(t, ca, "eventstoredb-node", "")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	anonymous := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	s, c, st := handshake(t, n1.NodePortServer(), anonymous)
	if s != nil || c != nil {
		t.Fatalf("a client without a certificate: server %v, client %v", s, c)
	}
	if err := n1.IsNodeConnection(st); err == nil || !strings.Contains(err.Error(), "presented no certificate") {
		t.Errorf("a client without a certificate may make the cluster's calls: %v", err)
	}

	s, c, st = handshake(t, n1.NodePortServer(), n2.PeerClient())
	if s != nil || c != nil {
		t.Fatalf("a node: server %v, client %v", s, c)
	}
	if err := n1.IsNodeConnection(st); err != nil {
		t.Errorf("a node may not make the cluster's calls: %v", err)
	}

	alice := ca.Issue(t, tlstest.Spec{CN: "alice", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	userCert, err := tls.X509KeyPair(alice.CertPEM, alice.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	user := &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{userCert}}
	s, c, st = handshake(t, n1.NodePortServer(), user)
	if s != nil || c != nil {
		t.Fatalf("a client with a user certificate of the cluster's CA: server %v, client %v", s, c)
	}
	if err := n1.IsNodeConnection(st); err == nil || !strings.Contains(err.Error(), `certificate (CN "alice") is not a cluster node's`) {
		t.Errorf("a user's certificate may make the cluster's calls: %v", err)
	}
}
