package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// minVersion: TLS 1.2 and later, as the official clients and EventStoreDB
// use.
const minVersion = tls.VersionTLS12

// NodePortServer is the node port's server configuration: this node's
// certificate, and a client certificate verified against the trusted roots
// when one is given (nodes give theirs; clients usually give none). The
// node port chooses the application protocol (ALPN) itself.
func (m *Material) NodePortServer() *tls.Config {
	return &tls.Config{
		MinVersion:   minVersion,
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    m.roots,
	}
}

// ReplicationServer is the replication port's server configuration: only
// nodes connect there, so the peer must present a node's certificate.
func (m *Material) ReplicationServer() *tls.Config {
	return &tls.Config{
		MinVersion:   minVersion,
		Certificates: []tls.Certificate{m.cert},
		// Verified by VerifyConnection, with the same rules and messages
		// as every other node-to-node check.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return m.VerifyNode(cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
		},
	}
}

// PeerClient is the configuration for dialing another node (its
// replication port, its node port for the cluster's calls): this node's
// certificate for the peer to check, and the peer's checked as a node's.
func (m *Material) PeerClient() *tls.Config {
	return &tls.Config{
		MinVersion:   minVersion,
		Certificates: []tls.Certificate{m.cert},
		// Nodes are dialed at gossiped addresses that their certificates
		// need not name; the node check below replaces the host name
		// check, as EventStoreDB recognises nodes by their common name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return m.VerifyNode(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
		},
	}
}

// VerifyNode checks that a peer's certificates (its own first, then any
// intermediates) are a node's: chained to a trusted root, valid now, fit
// for usage, and matching the node name.
func (m *Material) VerifyNode(certs []*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("the peer presented no certificate; nodes must present their node certificate")
	}
	leaf := certs[0]
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("the peer's certificate (%s, issued by %q) is not trusted by TrustedRootCertificatesPath: %w", describe(leaf), leaf.Issuer.CommonName, err)
	}
	if !MatchesNodeName(leaf, m.nodeName) {
		return fmt.Errorf("the peer's certificate (%s) is not a cluster node's: it does not match CertificateReservedNodeCommonName %q", describe(leaf), m.nodeName)
	}
	return nil
}

// IsNodeConnection checks a node-port connection whose client certificate
// the handshake verified already (NodePortServer): it must be a node's to
// make the cluster's calls.
func (m *Material) IsNodeConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the caller presented no certificate; the cluster's calls are for nodes, which present their node certificate")
	}
	if len(cs.VerifiedChains) == 0 {
		return m.VerifyNode(cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
	}
	leaf := cs.PeerCertificates[0]
	if !MatchesNodeName(leaf, m.nodeName) {
		return fmt.Errorf("the caller's certificate (%s) is not a cluster node's: it does not match CertificateReservedNodeCommonName %q", describe(leaf), m.nodeName)
	}
	return nil
}
