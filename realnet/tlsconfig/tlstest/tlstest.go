// Package tlstest makes certificate authorities and certificates for
// tests: a CA, node certificates with a chosen common name, certificates
// that are expired or not yet valid, and the PEM files the certificate
// options name. Keys are ECDSA P-256, quick to generate.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is the CA's certificate as a PEM block.
	PEM []byte
}

// Spec describes a certificate to issue. Zero fields take the defaults
// noted.
type Spec struct {
	CN       string
	DNSNames []string
	IPs      []net.IP
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
	// Usages are the extended key usages; nil means server and client
	// authentication, as nodes need.
	Usages []x509.ExtKeyUsage
	// Serial defaults to a random number.
	Serial int64
}

// NewCA makes a self-signed CA named cn, valid from a day ago for ten
// years.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	now := time.Now()
	return NewCAAt(t, cn, now.Add(-24*time.Hour), now.Add(10*365*24*time.Hour), serial(t, 0).Int64())
}

// NewCAAt is NewCA with a fixed validity and serial, for messages that
// must not change between runs.
func NewCAAt(t testing.TB, cn string, notBefore, notAfter time.Time, serialNumber int64) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialNumber),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("tlstest: creating CA %q: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: pemBlock("CERTIFICATE", der)}
}

// Leaf is an issued certificate and its key.
type Leaf struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	// KeyPEM is the key as an unencrypted PKCS #8 PEM block.
	KeyPEM []byte
}

// Issue signs a certificate as spec says.
func (ca *CA) Issue(t testing.TB, spec Spec) *Leaf {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	if spec.NotBefore.IsZero() {
		spec.NotBefore = now.Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = now.Add(24 * time.Hour)
	}
	if spec.Usages == nil {
		spec.Usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t, spec.Serial),
		Subject:      pkix.Name{CommonName: spec.CN},
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
		NotBefore:    spec.NotBefore,
		NotAfter:     spec.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  spec.Usages,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("tlstest: issuing %q: %v", spec.CN, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: KeyPEM(t, key)}
}

// Node issues a node certificate: common name cn, valid for 127.0.0.1
// and localhost, for server and client authentication.
func (ca *CA) Node(t testing.TB, cn string) *Leaf {
	t.Helper()
	return ca.Issue(t, Spec{CN: cn, DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

// NewKey makes a fresh ECDSA P-256 key.
func NewKey(t testing.TB) crypto.Signer {
	t.Helper()
	return newKey(t)
}

// KeyPEM encodes a key as an unencrypted PKCS #8 PEM block.
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: encoding a key: %v", err)
	}
	return pemBlock("PRIVATE KEY", der)
}

// Files are a node's certificate files on disk.
type Files struct {
	Cert, Key string // CertificateFile, CertificatePrivateKeyFile
	Roots     string // TrustedRootCertificatesPath: a directory
}

// WriteNode writes leaf as name.crt and name.key in dir, and the CA's
// certificate into dir/ca/ca.crt.
func (ca *CA) WriteNode(t testing.TB, dir, name string, leaf *Leaf) Files {
	t.Helper()
	f := Files{
		Cert:  filepath.Join(dir, name+".crt"),
		Key:   filepath.Join(dir, name+".key"),
		Roots: filepath.Join(dir, "ca"),
	}
	write(t, f.Cert, leaf.CertPEM)
	write(t, f.Key, leaf.KeyPEM)
	if err := os.MkdirAll(f.Roots, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(f.Roots, "ca.crt"), ca.PEM)
	return f
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
}

func newKey(t testing.TB) crypto.Signer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generating a key: %v", err)
	}
	return key
}

func serial(t testing.TB, n int64) *big.Int {
	if n != 0 {
		return big.NewInt(n)
	}
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return s.Add(s, big.NewInt(1))
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// Intermediate makes a CA signed by ca, valid as long as ca.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t, 0),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             ca.Cert.NotBefore,
		NotAfter:              ca.Cert.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("tlstest: creating intermediate CA %q: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: pemBlock("CERTIFICATE", der)}
}
