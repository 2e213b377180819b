package tlsconfig

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/tlsconfig/tlstest"
	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt with the current messages")

// Fixed times and names, so that every message is the same at every run.
var (
	goldenNow  = time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	caFrom     = time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	caUntil    = time.Date(2039, 1, 1, 0, 0, 0, 0, time.UTC)
	nodeFrom   = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	nodeUntil  = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	certPath   = "/etc/annal/node.crt"
	keyPath    = "/etc/annal/node.key"
	rootsDir   = "/etc/annal/ca"
	nodeCN     = "eventstoredb-node"
	nodeDNS    = "node1.cluster.local"
	secureOpts = map[*options.Option]string{
		options.CertificateFile:             certPath,
		options.CertificatePrivateKeyFile:   keyPath,
		options.TrustedRootCertificatesPath: rootsDir,
	}
)

// goldenWorld is a CA, a second CA nobody trusts, and a good node
// certificate, all with fixed validity.
type goldenWorld struct {
	ca, other *tlstest.CA
	node      *tlstest.Leaf
}

func newGoldenWorld(t *testing.T) *goldenWorld {
	ca := tlstest.NewCAAt(t, "annal test CA", caFrom, caUntil, 1)
	return &goldenWorld{
		ca:    ca,
		other: tlstest.NewCAAt(t, "untrusted CA", caFrom, caUntil, 2),
		node:  ca.Issue(t, tlstest.Spec{CN: nodeCN, DNSNames: []string{nodeDNS}, NotBefore: nodeFrom, NotAfter: nodeUntil, Serial: 10}),
	}
}

// good is the file system of a node whose certificates are all right.
func (w *goldenWorld) good() *memFS {
	m := newMemFS()
	m.put(certPath, w.node.CertPEM)
	m.put(keyPath, w.node.KeyPEM)
	m.put(rootsDir+"/ca.crt", w.ca.PEM)
	return m
}

func (w *goldenWorld) leaf(t *testing.T, spec tlstest.Spec) *tlstest.Leaf {
	if spec.CN == "" {
		spec.CN = nodeCN
	}
	if spec.NotBefore.IsZero() {
		spec.NotBefore = nodeFrom
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = nodeUntil
	}
	if spec.Serial == 0 {
		spec.Serial = 11
	}
	return w.ca.Issue(t, spec)
}

type goldenCase struct {
	name string
	// set overrides secureOpts ("" removes an option).
	set   map[*options.Option]string
	files func(t *testing.T, w *goldenWorld, m *memFS)
}

// pfxOf is a leaf's certificate and key as a PKCS #12 bundle, sealed with
// password.
func pfxOf(t *testing.T, l *tlstest.Leaf, password string) []byte {
	pfx, err := pkcs12.Modern.Encode(l.Key, l.Cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return pfx
}

func pemOf(typ string, der []byte, headers map[string]string) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der})
}

var goldenCases = []goldenCase{
	{name: "ok", files: func(*testing.T, *goldenWorld, *memFS) {}},
	{name: "no-certificate-file", set: map[*options.Option]string{options.CertificateFile: ""}},
	{name: "certificate-missing", files: func(_ *testing.T, _ *goldenWorld, m *memFS) { delete(m.files, certPath) }},
	{name: "certificate-unreadable", files: func(_ *testing.T, _ *goldenWorld, m *memFS) { m.denied[certPath] = true }},
	{name: "certificate-is-a-directory", set: map[*options.Option]string{options.CertificateFile: "/etc/annal"}},
	{name: "certificate-empty", files: func(_ *testing.T, _ *goldenWorld, m *memFS) { m.put(certPath, []byte("\n")) }},
	{name: "certificate-pkcs12", set: map[*options.Option]string{options.CertificateFile: "/etc/annal/node.pfx", options.CertificatePassword: "s3cret",
		options.CertificatePrivateKeyFile: ""},
		files: func(t *testing.T, w *goldenWorld, m *memFS) { m.put("/etc/annal/node.pfx", pfxOf(t, w.node, "s3cret")) }},
	{name: "certificate-pkcs12-wrong-password", set: map[*options.Option]string{options.CertificateFile: "/etc/annal/node.pfx", options.CertificatePassword: "guess",
		options.CertificatePrivateKeyFile: ""},
		files: func(t *testing.T, w *goldenWorld, m *memFS) { m.put("/etc/annal/node.pfx", pfxOf(t, w.node, "s3cret")) }},
	{name: "certificate-pkcs12-garbled", set: map[*options.Option]string{options.CertificateFile: "/etc/annal/node.pfx", options.CertificatePassword: "s3cret"},
		files: func(t *testing.T, _ *goldenWorld, m *memFS) {
			pfx, err := asn1.Marshal(struct {
				Version  int
				AuthSafe []int
			}{3, []int{1}})
			if err != nil {
				t.Fatal(err)
			}
			m.put("/etc/annal/node.pfx", pfx)
		}},
	{name: "certificate-der", files: func(_ *testing.T, w *goldenWorld, m *memFS) { m.put(certPath, w.node.Cert.Raw) }},
	{name: "certificate-not-pem", files: func(_ *testing.T, _ *goldenWorld, m *memFS) {
		m.put(certPath, []byte("hello, I am not a certificate\n"))
	}},
	{name: "certificate-holds-only-a-key", files: func(_ *testing.T, w *goldenWorld, m *memFS) { m.put(certPath, w.node.KeyPEM) }},
	{name: "certificate-garbled", files: func(_ *testing.T, _ *goldenWorld, m *memFS) {
		m.put(certPath, pemOf("CERTIFICATE", []byte("garbage"), nil))
	}},
	{name: "key-missing", files: func(_ *testing.T, _ *goldenWorld, m *memFS) { delete(m.files, keyPath) }},
	{name: "key-not-set", set: map[*options.Option]string{options.CertificatePrivateKeyFile: ""}},
	{name: "key-encrypted-pkcs8", set: map[*options.Option]string{options.CertificatePrivateKeyPassword: "s3cret"},
		files: func(_ *testing.T, _ *goldenWorld, m *memFS) {
			m.put(keyPath, pemOf("ENCRYPTED PRIVATE KEY", []byte("sealed"), nil))
		}},
	{name: "key-encrypted-pkcs8-opened", set: map[*options.Option]string{options.CertificatePrivateKeyPassword: "s3cret"},
		files: func(t *testing.T, w *goldenWorld, m *memFS) {
			der, err := pkcs8.MarshalPrivateKey(w.node.Key, []byte("s3cret"), nil)
			if err != nil {
				t.Fatal(err)
			}
			m.put(keyPath, pemOf("ENCRYPTED PRIVATE KEY", der, nil))
		}},
	{name: "key-encrypted-pkcs8-no-password", files: func(t *testing.T, w *goldenWorld, m *memFS) {
		der, err := pkcs8.MarshalPrivateKey(w.node.Key, []byte("s3cret"), nil)
		if err != nil {
			t.Fatal(err)
		}
		m.put(keyPath, pemOf("ENCRYPTED PRIVATE KEY", der, nil))
	}},
	{name: "key-encrypted-legacy", files: func(_ *testing.T, _ *goldenWorld, m *memFS) {
		m.put(keyPath, pemOf("EC PRIVATE KEY", []byte("sealed"), map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}))
	}},
	{name: "key-of-another-certificate", files: func(t *testing.T, w *goldenWorld, m *memFS) { m.put(keyPath, w.leaf(t, tlstest.Spec{}).KeyPEM) }},
	{name: "key-of-another-kind", files: func(t *testing.T, _ *goldenWorld, m *memFS) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		m.put(keyPath, pemOf("PRIVATE KEY", der, nil))
	}},
	{name: "key-der", files: func(t *testing.T, w *goldenWorld, m *memFS) {
		b, _ := pem.Decode(w.node.KeyPEM)
		m.put(keyPath, b.Bytes)
	}},
	{name: "key-unknown-format", files: func(_ *testing.T, _ *goldenWorld, m *memFS) {
		m.put(keyPath, pemOf("OPENSSH PRIVATE KEY", []byte("x"), nil))
	}},
	{name: "key-password-not-used", set: map[*options.Option]string{options.CertificatePrivateKeyPassword: "s3cret"}},
	{name: "certificate-expired", files: func(t *testing.T, w *goldenWorld, m *memFS) {
		l := w.leaf(t, tlstest.Spec{NotBefore: nodeFrom.AddDate(-2, 0, 0), NotAfter: nodeFrom.AddDate(0, 1, 0)})
		m.put(certPath, l.CertPEM)
		m.put(keyPath, l.KeyPEM)
	}},
	{name: "certificate-not-yet-valid", files: func(t *testing.T, w *goldenWorld, m *memFS) {
		l := w.leaf(t, tlstest.Spec{NotBefore: goldenNow.Add(48 * time.Hour), NotAfter: nodeUntil})
		m.put(certPath, l.CertPEM)
		m.put(keyPath, l.KeyPEM)
	}},
	{name: "certificate-expires-soon", files: func(t *testing.T, w *goldenWorld, m *memFS) {
		l := w.leaf(t, tlstest.Spec{NotAfter: goldenNow.Add(10 * 24 * time.Hour)})
		m.put(certPath, l.CertPEM)
		m.put(keyPath, l.KeyPEM)
	}},
	{name: "certificate-untrusted", files: func(_ *testing.T, w *goldenWorld, m *memFS) { m.put(rootsDir+"/ca.crt", w.other.PEM) }},
	{name: "certificate-server-only", files: func(t *testing.T, w *goldenWorld, m *memFS) {
		l := w.leaf(t, tlstest.Spec{Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		m.put(certPath, l.CertPEM)
		m.put(keyPath, l.KeyPEM)
	}},
	{name: "reserved-name-mismatch", set: map[*options.Option]string{options.CertificateReservedNodeCommonName: "*.nodes.example"}},
	{name: "reserved-name-wildcard", set: map[*options.Option]string{options.CertificateReservedNodeCommonName: "*.cluster.local"}},
	{name: "reserved-name-bad-pattern", set: map[*options.Option]string{options.CertificateReservedNodeCommonName: "node.*"}},
	{name: "reserved-name-too-broad", set: map[*options.Option]string{options.CertificateReservedNodeCommonName: "*.local"}},
	{name: "files-with-bom", files: func(_ *testing.T, w *goldenWorld, m *memFS) {
		bom := []byte("\xef\xbb\xbf")
		m.put(certPath, append(append([]byte{}, bom...), w.node.CertPEM...))
		m.put(keyPath, append(append([]byte{}, bom...), w.node.KeyPEM...))
		m.put(rootsDir+"/ca.crt", append(append([]byte{}, bom...), w.ca.PEM...))
	}},
	{name: "no-common-name", files: func(t *testing.T, w *goldenWorld, m *memFS) {
		l := w.ca.Issue(t, tlstest.Spec{DNSNames: []string{nodeDNS}, NotBefore: nodeFrom, NotAfter: nodeUntil, Serial: 12})
		m.put(certPath, l.CertPEM)
		m.put(keyPath, l.KeyPEM)
	}},
	{name: "roots-missing", set: map[*options.Option]string{options.TrustedRootCertificatesPath: "/etc/annal/no-such-dir"}},
	{name: "roots-without-certificates", files: func(_ *testing.T, _ *goldenWorld, m *memFS) {
		delete(m.files, rootsDir+"/ca.crt")
		m.put(rootsDir+"/README", []byte("the CA goes here\n"))
	}},
	{name: "roots-as-one-file", set: map[*options.Option]string{options.TrustedRootCertificatesPath: rootsDir + "/ca.crt"}},
	{name: "many-problems-at-once", files: func(_ *testing.T, _ *goldenWorld, m *memFS) {
		delete(m.files, certPath)
		m.denied[keyPath] = true
		delete(m.files, rootsDir+"/ca.crt")
	}},
}

// render is what a node would print about its certificates.
func render(m *Material, err error) string {
	var b strings.Builder
	b.WriteString("== problems\n")
	if err != nil {
		for _, p := range err.(Problems) {
			b.WriteString(p + "\n")
		}
	}
	b.WriteString("== warnings\n")
	if m != nil {
		for _, w := range m.Warnings {
			b.WriteString(w + "\n")
		}
		b.WriteString("== node name\n" + m.NodeName() + "\n")
	}
	return b.String()
}

// Every certificate message, pinned word for word. Regenerate with
// go test ./realnet/tlsconfig/ -run Golden -update, and read the diff.
func TestGoldenMessages(t *testing.T) {
	w := newGoldenWorld(t)
	seen := map[string]bool{}
	for _, gc := range goldenCases {
		if seen[gc.name] {
			t.Fatalf("two golden cases named %s", gc.name)
		}
		seen[gc.name] = true
		t.Run(gc.name, func(t *testing.T) {
			set := map[*options.Option]string{}
			for o, s := range secureOpts {
				set[o] = s
			}
			for o, s := range gc.set {
				set[o] = s
			}
			fsys := w.good()
			if gc.files != nil {
				gc.files(t, w, fsys)
			}
			m, err := Load(values(t, set), fsys.inputs(goldenNow))
			var p Problems
			if err != nil && !errors.As(err, &p) {
				t.Fatalf("Load's error is %T, want Problems", err)
			}
			got := render(m, err)
			path := filepath.Join("testdata", "golden", gc.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatalf("%v (run with -update to create it)", rerr)
			}
			if got != string(want) {
				t.Errorf("messages differ from %s (run with -update after checking):\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
	entries, err := os.ReadDir(filepath.Join("testdata", "golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := strings.TrimSuffix(e.Name(), ".txt"); !seen[name] {
			t.Errorf("testdata/golden/%s has no case", e.Name())
		}
	}
}

// Each refusal names the option and the file at fault: the golden files
// are checked for it, so that a new case cannot slip in a vague message.
func TestGoldenProblemsNameTheirOptionAndFile(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "golden"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata", "golden", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		section := ""
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "== ") {
				section = line
				continue
			}
			if section != "== problems" || line == "" {
				continue
			}
			n++
			if !strings.HasPrefix(line, "Certificate") && !strings.HasPrefix(line, "TrustedRootCertificatesPath") {
				t.Errorf("%s: %q does not start with the option at fault", e.Name(), line)
			}
			if !strings.Contains(line, "/etc/annal") && !strings.Contains(line, "is not set") && !strings.Contains(line, "CertificateReservedNodeCommonName \"") {
				t.Errorf("%s: %q names no file", e.Name(), line)
			}
		}
	}
	if n < 25 {
		t.Errorf("only %d problems among the golden files", n)
	}
}
