package tlsconfig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/annal-db/annal/core/options"
	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

// Inputs are what Load reads. Nil fields read the host's files and clock.
type Inputs struct {
	// ReadFile reads a whole file as os.ReadFile does: a missing file's
	// error matches fs.ErrNotExist, a forbidden one's fs.ErrPermission.
	ReadFile func(path string) ([]byte, error)
	// ReadDir lists a directory as os.ReadDir does; on a file it fails
	// with an error matching syscall.ENOTDIR.
	ReadDir func(path string) ([]fs.DirEntry, error)
	// Now is the time certificates must be valid at.
	Now func() time.Time
}

func (in Inputs) withDefaults() Inputs {
	if in.ReadFile == nil {
		in.ReadFile = os.ReadFile
	}
	if in.ReadDir == nil {
		in.ReadDir = os.ReadDir
	}
	if in.Now == nil {
		in.Now = time.Now
	}
	return in
}

// Problems are everything that keeps the certificates from being used, in
// the order found.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "certificate problem: " + p[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the certificates have %d problems:", len(p))
	for _, s := range p {
		b.WriteString("\n  - ")
		b.WriteString(s)
	}
	return b.String()
}

// expiryWarning is how close to its end a certificate's validity draws a
// warning at start.
const expiryWarning = 30 * 24 * time.Hour

// Material is a secure node's checked certificates: its own, the roots it
// trusts, and the name other nodes' certificates must match.
type Material struct {
	cert          tls.Certificate
	leaf          *x509.Certificate
	intermediates *x509.CertPool
	roots         *x509.CertPool
	nodeName      string
	// Warnings are worth logging at start: nothing is wrong yet.
	Warnings []string
}

// Leaf is the node's own certificate.
func (m *Material) Leaf() *x509.Certificate { return m.leaf }

// NodeName is the pattern a node's certificate must match: the
// CertificateReservedNodeCommonName option, or this node's common name.
func (m *Material) NodeName() string { return m.nodeName }

// Load reads and checks the certificate options of a secure node. The
// error, when not nil, is Problems.
func Load(v *options.Values, in Inputs) (*Material, error) {
	in = in.withDefaults()
	l := &loader{in: in, v: v, now: in.Now()}
	m := l.load()
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return m, nil
}

type loader struct {
	in       Inputs
	v        *options.Values
	now      time.Time
	problems Problems
	warnings []string
}

func (l *loader) fail(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *loader) warn(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

func (l *loader) load() *Material {
	certPath := l.v.String(options.CertificateFile)
	if certPath == "" {
		l.fail("CertificateFile is not set, and a node that is not Insecure serves TLS with it. Give the node's certificate (PEM) with %s "+
			"and its key with %s, or, for development only, run with --insecure.",
			options.CLIName(options.CertificateFile), options.CLIName(options.CertificatePrivateKeyFile))
		return nil
	}
	chain, certBlocks := l.readCertificates(certPath)
	var key crypto.Signer
	// A key to come from a certificate file that could not be read has
	// nothing more to say.
	if chain != nil || l.v.String(options.CertificatePrivateKeyFile) != "" {
		key = l.readKey(certPath, certBlocks)
	}
	roots := l.readRoots()
	if chain == nil || key == nil || roots == nil {
		return nil
	}
	leaf := chain[0]
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		kinds := ""
		if a, b := keyKind(leaf.PublicKey), keyKind(key.Public()); a != b {
			kinds = fmt.Sprintf(": the certificate's key is %s, this one is %s", a, b)
		}
		l.fail("%s: the private key does not belong to the certificate in %s (%s)%s; give the key the certificate was issued for",
			l.keyOrigin(certPath), certPath, describe(leaf), kinds)
	}
	valid := l.checkValidity(certPath, chain)
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	if valid {
		l.checkTrust(certPath, leaf, intermediates, roots)
	}
	name := l.nodeName(certPath, leaf)
	if len(l.problems) > 0 {
		return nil
	}
	der := make([][]byte, len(chain))
	for i, c := range chain {
		der[i] = c.Raw
	}
	return &Material{
		cert:          tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf},
		leaf:          leaf,
		intermediates: intermediates,
		roots:         roots,
		nodeName:      name,
		Warnings:      l.warnings,
	}
}

// read reads a file an option names, reporting why it cannot.
func (l *loader) read(option *options.Option, path string) ([]byte, bool) {
	data, err := l.in.ReadFile(path)
	if err != nil {
		l.fail("%s %s %s", option.Name, path, unreadable(err))
		return nil, false
	}
	data = withoutBOM(data)
	if len(bytes.TrimSpace(data)) == 0 {
		l.fail("%s %s is empty; it must hold PEM data", option.Name, path)
		return nil, false
	}
	return data, true
}

// utf8BOM is what editors on Windows put before the text of a file saved
// as UTF-8. PEM decoding looks for "-----BEGIN" at the start of a line, so
// a file opening with one would be called "not a PEM file" while it
// plainly holds a certificate.
var utf8BOM = []byte("\xef\xbb\xbf")

func withoutBOM(data []byte) []byte { return bytes.TrimPrefix(data, utf8BOM) }

// unreadable says why a file could not be read, and what to do.
func unreadable(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist; give the path of an existing file"
	case errors.Is(err, fs.ErrPermission):
		return "cannot be read by this process (permission denied); let the user the node runs as read it"
	case errors.Is(err, syscall.EISDIR):
		return "is a directory, not a file"
	default:
		return "cannot be read: " + err.Error()
	}
}

// readCertificates reads the node's certificate chain; certBlocks are the
// file's other PEM blocks (a key may be among them).
func (l *loader) readCertificates(path string) (chain []*x509.Certificate, others []*pem.Block) {
	data, ok := l.read(options.CertificateFile, path)
	if !ok {
		return nil, nil
	}
	blocks := pemBlocks(data)
	if len(blocks) == 0 {
		switch {
		case isPKCS12(path, data):
			return l.readPKCS12(path, data)
		case parsesAsDER(data):
			l.fail("CertificateFile %s holds a DER (binary) certificate; annal reads PEM. Convert it: openssl x509 -inform der -in %s -out node.crt", path, path)
		default:
			l.fail("CertificateFile %s is not a PEM file (no -----BEGIN CERTIFICATE----- block); give the node's certificate in PEM form", path)
		}
		return nil, nil
	}
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			others = append(others, b)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			l.fail("CertificateFile %s: certificate %d of the file cannot be parsed: %v", path, len(chain)+1, err)
			return nil, nil
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		l.fail("CertificateFile %s holds no certificate (its PEM blocks are: %s); give the node's certificate in PEM form", path, blockTypes(blocks))
		return nil, nil
	}
	return chain, others
}

// decryptKey opens an encrypted PKCS #8 key with CertificatePrivateKeyPassword.
func (l *loader) decryptKey(option, path string, b *pem.Block) crypto.Signer {
	password := l.v.String(options.CertificatePrivateKeyPassword)
	if password == "" {
		l.fail("%s holds an encrypted private key, and CertificatePrivateKeyPassword is not set; give the key's password with %s",
			option, options.CLIName(options.CertificatePrivateKeyPassword))
		return nil
	}
	k, err := pkcs8.ParsePKCS8PrivateKey(b.Bytes, []byte(password))
	if err != nil {
		l.fail("%s holds an encrypted private key that cannot be opened with CertificatePrivateKeyPassword (%v); check the password and the file", option, err)
		return nil
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		l.fail("%s holds a %T key, which cannot sign; give the node's RSA, ECDSA or Ed25519 key", option, k)
		return nil
	}
	return signer
}

// readPKCS12 reads a PKCS #12 bundle, opened with CertificatePassword
// (empty for none): the node's certificate and the chain after it, and its
// key, handed on as a PEM block, as if the file had held them in PEM.
func (l *loader) readPKCS12(path string, data []byte) (chain []*x509.Certificate, others []*pem.Block) {
	key, cert, cas, err := pkcs12.DecodeChain(data, l.v.String(options.CertificatePassword))
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		l.fail("CertificateFile %s is a PKCS #12 bundle that CertificatePassword does not open; give its password", path)
		return nil, nil
	case err != nil:
		l.fail("CertificateFile %s is a PKCS #12 bundle that cannot be read: %v. "+
			"Convert it to PEM files: openssl pkcs12 -in %s -clcerts -nokeys -out node.crt and openssl pkcs12 -in %s -nocerts -nodes -out node.key, "+
			"then set CertificateFile and CertificatePrivateKeyFile to them", path, err, path, path)
		return nil, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		l.fail("CertificateFile %s: the key in the PKCS #12 bundle cannot be used: %v", path, err)
		return nil, nil
	}
	return append([]*x509.Certificate{cert}, cas...), []*pem.Block{{Type: "PRIVATE KEY", Bytes: der}}
}

// readKey reads the private key from CertificatePrivateKeyFile, or from
// the certificate file when that option is not set.
func (l *loader) readKey(certPath string, certBlocks []*pem.Block) crypto.Signer {
	path := l.v.String(options.CertificatePrivateKeyFile)
	password := l.v.String(options.CertificatePrivateKeyPassword) != ""
	var blocks []*pem.Block
	if path == "" {
		blocks = certBlocks
		if !hasKeyBlock(blocks) {
			l.fail("CertificatePrivateKeyFile is not set, and CertificateFile %s holds no private key; give the node's key (PEM) with %s",
				certPath, options.CLIName(options.CertificatePrivateKeyFile))
			return nil
		}
		path = certPath
	} else {
		data, ok := l.read(options.CertificatePrivateKeyFile, path)
		if !ok {
			return nil
		}
		blocks = pemBlocks(data)
		if len(blocks) == 0 {
			if _, err := x509.ParsePKCS8PrivateKey(data); err == nil {
				l.fail("CertificatePrivateKeyFile %s holds a DER (binary) key; annal reads PEM. Convert it: openssl pkey -inform der -in %s -out node.key", path, path)
			} else {
				l.fail("CertificatePrivateKeyFile %s is not a PEM file (no -----BEGIN PRIVATE KEY----- block); give the node's key in PEM form", path)
			}
			return nil
		}
	}
	option := "CertificatePrivateKeyFile " + path
	if path == certPath {
		option = "CertificateFile " + path
	}
	for _, b := range blocks {
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" {
			return l.decryptKey(option, path, b)
		}
		if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			l.fail("%s holds a private key encrypted in OpenSSL's legacy PEM format, which annal does not read (its cipher is obsolete). "+
				"Convert it to an encrypted PKCS #8 key (openssl pkcs8 -topk8 -in %s -out node.key, for CertificatePrivateKeyPassword), "+
				"or decrypt it once and protect the file by its owner and mode: openssl pkey -in %s -out node.key", option, path, path)
			return nil
		}
		key, err := parseKey(b)
		if err != nil {
			l.fail("%s: the %s block cannot be parsed: %v", option, b.Type, err)
			return nil
		}
		if password {
			l.warn("CertificatePrivateKeyPassword is set, but the key in %s is not encrypted; the password is not used", path)
		}
		return key
	}
	l.fail("%s holds no private key (its PEM blocks are: %s); give the node's key in PEM form", option, blockTypes(blocks))
	return nil
}

func (l *loader) keyOrigin(certPath string) string {
	if p := l.v.String(options.CertificatePrivateKeyFile); p != "" {
		return "CertificatePrivateKeyFile " + p
	}
	return "CertificateFile " + certPath
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch b.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("annal reads PKCS #8 (PRIVATE KEY), PKCS #1 (RSA PRIVATE KEY) and SEC 1 (EC PRIVATE KEY) keys; convert it with openssl pkey -in KEY -out node.key")
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	return s, nil
}

// readRoots reads TrustedRootCertificatesPath: every certificate of every
// file in the directory (or of the one file it names).
func (l *loader) readRoots() *x509.CertPool {
	path := l.v.String(options.TrustedRootCertificatesPath)
	if path == "" {
		l.fail("TrustedRootCertificatesPath is empty; give the directory holding the certificate of the CA that signed the nodes' certificates")
		return nil
	}
	pool := x509.NewCertPool()
	var files []string
	entries, err := l.in.ReadDir(path)
	switch {
	case err == nil:
		for _, e := range entries {
			if !e.IsDir() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(files)
	case errors.Is(err, syscall.ENOTDIR):
		files = []string{path}
	default:
		l.fail("TrustedRootCertificatesPath %s %s", path, strings.Replace(unreadable(err), "file", "directory", 1))
		return nil
	}
	n := 0
	for _, f := range files {
		data, err := l.in.ReadFile(f)
		if err != nil {
			// Directories like /etc/ssl/certs hold links and files that
			// are not certificates; one bad entry must not stop the node.
			continue
		}
		for _, c := range certificatesIn(data) {
			pool.AddCert(c)
			n++
		}
	}
	if n == 0 {
		read := "1 file"
		if len(files) != 1 {
			read = fmt.Sprintf("%d files", len(files))
		}
		l.fail("TrustedRootCertificatesPath %s holds no certificates (read %s); put the PEM certificate of the CA that signed the nodes' certificates there",
			path, read)
		return nil
	}
	return pool
}

// certificatesIn reads the certificates of a PEM file, or of a file that
// is one DER certificate.
func certificatesIn(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	data = withoutBOM(data)
	blocks := pemBlocks(data)
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
	if len(blocks) == 0 {
		if c, err := x509.ParseCertificate(data); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// checkValidity reports certificates of the chain outside their validity,
// and warns about the node's when its end draws near.
func (l *loader) checkValidity(path string, chain []*x509.Certificate) bool {
	ok := true
	for i, c := range chain {
		which := "the certificate"
		if i > 0 {
			which = fmt.Sprintf("intermediate certificate %d", i)
		}
		switch {
		case l.now.After(c.NotAfter):
			l.fail("CertificateFile %s: %s (%s) expired at %s (it is now %s); renew it", path, which, describe(c), stamp(c.NotAfter), stamp(l.now))
			ok = false
		case l.now.Before(c.NotBefore):
			l.fail("CertificateFile %s: %s (%s) is not valid before %s (it is now %s); check this host's clock, or use a certificate valid now",
				path, which, describe(c), stamp(c.NotBefore), stamp(l.now))
			ok = false
		case i == 0 && c.NotAfter.Sub(l.now) < expiryWarning:
			l.warn("CertificateFile %s: the certificate (%s) expires at %s, in %d days; renew it before then",
				path, describe(c), stamp(c.NotAfter), int(c.NotAfter.Sub(l.now).Hours()/24))
		}
	}
	return ok
}

// checkTrust checks that the node's own certificate is one its peers will
// accept: trusted by the roots, fit for TLS servers and clients.
func (l *loader) checkTrust(path string, leaf *x509.Certificate, intermediates, roots *x509.CertPool) {
	rootsPath := l.v.String(options.TrustedRootCertificatesPath)
	for _, u := range []struct {
		usage x509.ExtKeyUsage
		name  string
		why   string
	}{
		{x509.ExtKeyUsageServerAuth, "serverAuth", "serve TLS with it"},
		{x509.ExtKeyUsageClientAuth, "clientAuth", "present it to the nodes it connects to"},
	} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: l.now, KeyUsages: []x509.ExtKeyUsage{u.usage}})
		if err == nil {
			continue
		}
		var invalid x509.CertificateInvalidError
		var unknown x509.UnknownAuthorityError
		switch {
		case errors.As(err, &unknown):
			l.fail("CertificateFile %s: the certificate (%s, issued by %q) is not signed by any certificate in TrustedRootCertificatesPath %s, so other nodes would refuse it; "+
				"put the certificate of the CA that signed it there (with any intermediates after the node's certificate in CertificateFile)",
				path, describe(leaf), leaf.Issuer.CommonName, rootsPath)
			return
		case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
			l.fail("CertificateFile %s: the certificate (%s) does not allow %s in its extended key usage, which a node needs to %s; issue it with both serverAuth and clientAuth",
				path, describe(leaf), u.name, u.why)
		default:
			l.fail("CertificateFile %s: the certificate (%s) cannot be verified against TrustedRootCertificatesPath %s: %v", path, describe(leaf), rootsPath, err)
			return
		}
	}
}

// nodeName settles the name nodes' certificates must match, and checks
// this node's own.
func (l *loader) nodeName(path string, leaf *x509.Certificate) string {
	name := l.v.String(options.CertificateReservedNodeCommonName)
	if name == "" {
		if leaf.Subject.CommonName == "" {
			l.fail("CertificateFile %s: the certificate has no common name (CN) and CertificateReservedNodeCommonName is not set, so there is no name to recognise other nodes by; "+
				"set CertificateReservedNodeCommonName to the name the nodes' certificates share", path)
		}
		return leaf.Subject.CommonName
	}
	if err := checkPattern(name); err != nil {
		l.fail("CertificateReservedNodeCommonName %q %v", name, err)
		return name
	}
	if !MatchesNodeName(leaf, name) {
		l.fail("CertificateFile %s: the certificate (%s) does not match CertificateReservedNodeCommonName %q, so other nodes would refuse it; "+
			"give the node a certificate with that common name, or set CertificateReservedNodeCommonName to the name the nodes' certificates share",
			path, describe(leaf), name)
	}
	return name
}

// checkPattern accepts a name, or "*." and a name.
func checkPattern(p string) error {
	rest, wild := strings.CutPrefix(p, "*.")
	if strings.Contains(rest, "*") || (!wild && strings.Contains(p, "*")) {
		return errors.New(`has a "*" other than a whole leftmost label; use a name such as node.cluster.local, or a wildcard such as *.cluster.local`)
	}
	if wild && rest == "" {
		return errors.New(`is a wildcard with nothing after "*."; use a wildcard such as *.cluster.local`)
	}
	if wild && !strings.Contains(strings.Trim(rest, "."), ".") {
		return fmt.Errorf(`is a wildcard directly under the one-label name %q: it would take any certificate TrustedRootCertificatesPath trusts for a name there `+
			`(EventStoreDB matches no node by it); use a wildcard under the cluster's own domain, such as *.cluster.%s`, strings.Trim(rest, "."), strings.Trim(rest, "."))
	}
	return nil
}

// MatchesNodeName reports whether a certificate's common name matches
// pattern: equal ignoring case, or pattern "*.rest" with the name one
// label followed by ".rest".
func MatchesNodeName(c *x509.Certificate, pattern string) bool {
	if pattern == "" {
		return false
	}
	// The common name only, as EventStoreDB authenticates peers: a DNS
	// name says where a server may be reached, not that it is a node,
	// and a service certificate from the same CA may carry a wildcard
	// one. A certificate name with a wildcard is never a node's.
	cn := c.Subject.CommonName
	return !strings.Contains(cn, "*") && matchName(cn, pattern)
}

func matchName(name, pattern string) bool {
	if name == "" {
		return false
	}
	if strings.EqualFold(name, pattern) {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*")
	// A wildcard covers one label under a domain of two labels or more,
	// as EventStoreDB matches it: "*.com" matches nothing.
	if !ok || !strings.HasPrefix(suffix, ".") || !strings.Contains(suffix[1:], ".") || len(name) <= len(suffix) {
		return false
	}
	label, tail := name[:len(name)-len(suffix)], name[len(name)-len(suffix):]
	return strings.EqualFold(tail, suffix) && !strings.ContainsAny(label, ".*")
}

// describe names a certificate in messages: its common name and DNS
// names.
func describe(c *x509.Certificate) string {
	s := fmt.Sprintf("CN %q", c.Subject.CommonName)
	if len(c.DNSNames) > 0 {
		s += ", DNS names " + strings.Join(c.DNSNames, ",")
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func pemBlocks(data []byte) []*pem.Block {
	var out []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		out = append(out, b)
	}
}

func hasKeyBlock(blocks []*pem.Block) bool {
	for _, b := range blocks {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return true
		}
	}
	return false
}

func blockTypes(blocks []*pem.Block) string {
	types := make([]string, len(blocks))
	for i, b := range blocks {
		types[i] = b.Type
	}
	return strings.Join(types, ", ")
}

// isPKCS12 recognises a PKCS #12 bundle: by its extension, or by its
// outer structure (a SEQUENCE opening with version 3).
func isPKCS12(path string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".p12", ".pfx":
		return true
	}
	var pfx struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  asn1.RawValue `asn1:"optional"`
	}
	_, err := asn1.Unmarshal(data, &pfx)
	return err == nil && pfx.Version == 3
}

func parsesAsDER(data []byte) bool {
	_, err := x509.ParseCertificate(data)
	return err == nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// keyKind names a public key's algorithm and size.
func keyKind(k crypto.PublicKey) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", k)
	}
}
