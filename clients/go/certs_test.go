package clienttests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// nodeCommonName is the CN a node certificate carries: annal's default
// reserved node common name is the CN of the node's own certificate, and
// EventStoreDB's tooling names node certificates this way.
const nodeCommonName = "eventstoredb-node"

// testCA is a certificate authority made for one secure group; the nodes
// trust it (its directory is their trusted root path) and so do clients
// (tlsCAFile).
type testCA struct {
	dir      string
	certFile string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	pool     *x509.CertPool
}

// nodeCerts are the files a secure node is started with, and the HTTP
// transport the harness reaches that node with.
type nodeCerts struct {
	certFile, keyFile, caDir string
	pool                     *x509.CertPool
	transport                *http.Transport
}

func newTestCA(t testing.TB, dir string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("CA key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "annal test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("CA certificate: %v", err)
	}
	// The CA has a directory of its own: a node's trusted root path must
	// hold certificates only, not keys or other nodes' files.
	caDir := filepath.Join(dir, "ca")
	ca := &testCA{dir: caDir, certFile: filepath.Join(caDir, "ca.crt"), cert: cert, key: key, pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	writePEM(t, ca.certFile, "CERTIFICATE", der)
	return ca
}

// issueNodeCert makes a node certificate in dir/<name>: CN
// eventstoredb-node, SAN IP 127.0.0.1 and DNS localhost, usable as server
// (clients, peers) and as client (dials to peers).
func (ca *testCA) issueNodeCert(t testing.TB, name string) *nodeCerts {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("node key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: nodeCommonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("node certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("node key: %v", err)
	}
	dir := filepath.Join(filepath.Dir(ca.dir), name)
	nc := &nodeCerts{
		certFile: filepath.Join(dir, "node.crt"),
		keyFile:  filepath.Join(dir, "node.key"),
		caDir:    ca.dir,
		pool:     ca.pool,
		transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12},
		},
	}
	writePEM(t, nc.certFile, "CERTIFICATE", der)
	writePEM(t, nc.keyFile, "PRIVATE KEY", keyDER)
	return nc
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	return n
}

func writePEM(t testing.TB, path, blockType string, der []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
