// Package tlsconfig turns a secure node's certificate options into the TLS
// configurations of its ports, and checks them before the node starts.
//
// Load reads CertificateFile (PEM: the node's certificate, then any
// intermediates; or a PKCS #12 bundle with the key, opened with
// CertificatePassword), CertificatePrivateKeyFile (PEM: PKCS #8, PKCS #1
// or SEC 1; an encrypted PKCS #8 key is opened with
// CertificatePrivateKeyPassword) and TrustedRootCertificatesPath (a
// directory of PEM or DER certificates, or one PEM file), and refuses, with
// every problem named by option, file and cause: a file missing or
// unreadable, a format it does not read (DER files, OpenSSL's legacy
// encrypted keys: each with the command that converts it), a wrong
// password, a certificate expired or not yet valid, a key that is not
// the certificate's, a certificate the trusted roots do not vouch for, one
// that cannot serve as both TLS server and TLS client (nodes are both to
// each other), and one that does not carry the reserved node common name.
//
// A node is recognised by its certificate: it must chain to a trusted root
// and its common name (DNS names do not count: they say where a server
// is, not that it is a node) must match CertificateReservedNodeCommonName
// (a leftmost "*." label matches any one label under a domain of two
// labels or more, so "*.com" is refused; empty means this node's
// own common name). Peers are checked that
// way on the replication port (both directions: mutual TLS), on the
// cluster's gRPC calls, and before a node-port caller may make one. Host
// names are not checked: nodes find each other by gossiped addresses,
// which certificates need not list.
package tlsconfig
