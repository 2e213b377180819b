package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/annal-db/annal/core/options"
)

// checkNetwork settles NodeIp's default and warns about addresses and
// ports with which a cluster cannot form.
func (l *loader) checkNetwork() {
	v := l.cfg.Values
	if v.Source(options.NodeIp) == options.SourceDefault {
		l.defaultNodeIp()
	}
	if size := v.Int(options.ClusterSize); size > 1 && !v.Bool(options.DiscoverViaDns) && len(v.Strings(options.GossipSeed)) == 0 {
		l.fail("ClusterSize is %d (from %s) but the node has no way to find the others: DiscoverViaDns is false (from %s) and no GossipSeed is given. "+
			"List the other nodes with GossipSeed (%s host:port,host:port), or turn DiscoverViaDns on with ClusterDns naming them.",
			size, l.cfg.Origin(options.ClusterSize), l.cfg.Origin(options.DiscoverViaDns), options.CLIName(options.GossipSeed))
	}
	if size := v.Int(options.ClusterSize); size > 1 && v.Bool(options.DiscoverViaDns) && len(v.Strings(options.GossipSeed)) == 0 &&
		v.String(options.ClusterDns) == "" {
		l.fail("ClusterSize is %d (from %s) and the other nodes are to be found through DNS (DiscoverViaDns, from %s), but ClusterDns is empty (from %s). "+
			"Give ClusterDns the DNS name whose addresses are the cluster's nodes (%s cluster.example), or list the other nodes with GossipSeed.",
			size, l.cfg.Origin(options.ClusterSize), l.cfg.Origin(options.DiscoverViaDns), l.cfg.Origin(options.ClusterDns), options.CLIName(options.ClusterDns))
	}
	if size := v.Int(options.ClusterSize); size > 1 {
		for _, o := range []*options.Option{options.NodeIp, options.ReplicationIp} {
			if !v.IP(o).IsLoopback() {
				continue
			}
			what := "gossip and elections on the node port"
			if o == options.ReplicationIp {
				what = "replication"
			}
			l.note(Warning, "%s is %s (from %s) while ClusterSize is %d: a multi-node cluster cannot form that way, "+
				"because nodes on other hosts cannot reach this node's %s on a loopback address. "+
				"Set %s to this node's address (or 0.0.0.0, advertising the address others use), unless every node runs on this machine.",
				o.Name, v.String(o), l.cfg.Origin(o), size, what, o.Name)
		}
	}
	l.checkOldGossipPorts()
	l.checkNoEffect()
}

// checkNoEffect tells of options set that annal accepts but does not act
// on.
func (l *loader) checkNoEffect() {
	v := l.cfg.Values
	for _, o := range options.All() {
		if o.NoEffect != "" && v.Source(o) != options.SourceDefault {
			l.note(Notice, "%s (from %s) has no effect: %s.", o.Name, l.cfg.Origin(o), o.NoEffect)
		}
	}
}

// defaultNodeIp applies EventStoreDB's rule for a node without NodeIp.
func (l *loader) defaultNodeIp() {
	v := l.cfg.Values
	if v.Bool(options.Insecure) {
		l.note(Notice, "NodeIp is not set: this insecure node listens on %s (loopback) only, so only clients on this machine can reach it. "+
			"Set NodeIp (--node-ip 0.0.0.0 for every interface) to accept others.", v.String(options.NodeIp))
		return
	}
	var addrs []netip.Addr
	var err error
	if l.in.InterfaceAddrs != nil {
		addrs, err = l.in.InterfaceAddrs()
	}
	a, ok := FirstNonLoopback(addrs)
	if !ok {
		why := "this host has no non-loopback address"
		if err != nil {
			why = "this host's addresses cannot be listed: " + err.Error()
		}
		l.note(Notice, "NodeIp is not set and %s, so the node listens on %s (loopback) only. Set NodeIp to the address to listen on.",
			why, v.String(options.NodeIp))
		return
	}
	if err := v.Set(options.NodeIp, a.String(), options.SourceDefault); err != nil {
		panic("config: a parsed address was refused: " + err.Error())
	}
	l.cfg.origins[options.NodeIp] = Origin{Source: options.SourceDefault, Text: "default: first non-loopback address of this host"}
	l.note(Notice, "NodeIp is not set: this secure node listens on %s, the first non-loopback address of this host. "+
		"Set NodeIp to choose the address (0.0.0.0 for every interface).", a)
}

// checkOldGossipPorts explains gossip pointed at the internal HTTP port of
// EventStoreDB 5.x's four-port layout, which no longer exists.
func (l *loader) checkOldGossipPorts() {
	v := l.cfg.Values
	nodePort := v.Port(options.NodePort)
	old, given := l.givenInternalHTTPPort()
	if !given {
		old = oldInternalHTTPPort
	}
	if old == nodePort {
		return
	}
	what := "the internal HTTP port of EventStoreDB 5.x's four-port layout"
	if given {
		what = "the IntHttpPort of this configuration (EventStoreDB 5.x's four-port layout)"
	}
	var stale, fixed []string
	for _, ep := range v.Strings(options.GossipSeed) {
		ap, err := netip.ParseAddrPort(ep)
		host, port := ap.Addr().String(), ap.Port()
		if err != nil {
			i := strings.LastIndexByte(ep, ':')
			n, _ := strconv.ParseUint(ep[i+1:], 10, 16)
			host, port = ep[:i], uint16(n)
		}
		if port == old {
			stale = append(stale, ep)
			fixed = append(fixed, net.JoinHostPort(host, strconv.Itoa(int(nodePort))))
		}
	}
	if len(stale) > 0 {
		l.note(Warning, "GossipSeed (from %s) points at port %d, %s: %s. Gossip now rides the node port: use %s if the other nodes use NodePort %d like this one.",
			l.cfg.Origin(options.GossipSeed), old, what, strings.Join(stale, ","), strings.Join(fixed, ","), nodePort)
	}
	if v.Source(options.ClusterGossipPort) != options.SourceDefault && v.Port(options.ClusterGossipPort) == old {
		l.note(Warning, "ClusterGossipPort is %d (from %s), %s. Gossip now rides the node port: set ClusterGossipPort to the other nodes' NodePort (%d here).",
			old, l.cfg.Origin(options.ClusterGossipPort), what, nodePort)
	}
}

// CheckNodeStart reports what keeps a node with this configuration from
// starting, beyond the configuration's own validity: a secure node needs a
// certificate, and annal does not serve the legacy TCP client API yet. The
// error, when not nil, is Problems.
func CheckNodeStart(c *Config) error {
	v := c.Values
	var p Problems
	if !v.Bool(options.Insecure) && v.String(options.CertificateFile) == "" {
		p = append(p, fmt.Sprintf("no certificate is configured and Insecure is off, so the node cannot serve TLS. "+
			"Give the node's certificate (PEM) with CertificateFile (%s), its key with CertificatePrivateKeyFile (%s) "+
			"and the directory holding the CA's certificate with TrustedRootCertificatesPath (%s), "+
			"or, for development only, run with --insecure (%s=true, or Insecure: true in the config file).",
			options.CLIName(options.CertificateFile), options.CLIName(options.CertificatePrivateKeyFile),
			options.CLIName(options.TrustedRootCertificatesPath), options.EnvNames(options.Insecure)[0]))
	}
	if seeds := v.Strings(options.GossipSeed); len(seeds) > 1 && v.Int(options.ClusterSize) == 1 {
		p = append(p, fmt.Sprintf("GossipSeed lists %d other nodes (from %s) but ClusterSize is 1 (from %s): every node would lead a cluster of its own "+
			"and accept writes alone, and their logs would diverge. Set ClusterSize (%s) to the number of voting nodes, e.g. %d.",
			len(seeds), c.Origin(options.GossipSeed), c.Origin(options.ClusterSize), options.CLIName(options.ClusterSize), len(seeds)+1))
	}
	if v.Bool(options.ReadOnlyReplica) && v.Int(options.ClusterSize) <= 1 {
		p = append(p, fmt.Sprintf("ReadOnlyReplica is true (from %s) but ClusterSize is 1 (from %s): a read-only replica follows the leader of a cluster "+
			"and never leads, so on its own it would never serve. Set ClusterSize (%s) to the number of voting nodes of the cluster it follows, "+
			"with GossipSeed or ClusterDns to find them.",
			c.Origin(options.ReadOnlyReplica), c.Origin(options.ClusterSize), options.CLIName(options.ClusterSize)))
	}
	if db := v.String(options.Db); strings.HasPrefix(db, "~") && !v.Bool(options.MemDb) {
		p = append(p, fmt.Sprintf("Db is %q (from %s): a path starting with '~' is not expanded (that is the shell's work), so the database would go "+
			"into a directory literally named %q. Give the full path.", db, c.Origin(options.Db), strings.SplitN(db, "/", 2)[0]))
	}
	if v.Bool(options.Insecure) {
		for _, o := range []*options.Option{options.DefaultAdminPassword, options.DefaultOpsPassword} {
			if v.Source(o) != options.SourceDefault && v.String(o) != o.Default {
				p = append(p, fmt.Sprintf("%s is set (from %s) but Insecure is true (from %s): an insecure node has no authentication, so the password "+
					"would protect nothing. Remove %s, or turn Insecure off and give the node its certificates.",
					o.Name, c.Origin(o), c.Origin(options.Insecure), o.Name))
			}
		}
	}
	if v.Bool(options.EnableExternalTcp) {
		p = append(p, fmt.Sprintf("EnableExternalTcp is true (from %s), but annal does not serve the legacy TCP client API yet. "+
			"Connect clients over gRPC on the node port (esdb:// or kurrentdb:// connection strings, port %d) and set EnableExternalTcp to false.",
			c.Origin(options.EnableExternalTcp), v.Port(options.NodePort)))
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// FirstNonLoopback picks the address EventStoreDB listens on when NodeIp is
// not set: the first IPv4 address that is not loopback (nor link-local),
// else the first such IPv6 address.
func FirstNonLoopback(addrs []netip.Addr) (netip.Addr, bool) {
	usable := func(a netip.Addr) bool {
		return a.IsValid() && !a.IsLoopback() && !a.IsUnspecified() && !a.IsLinkLocalUnicast() && !a.IsMulticast()
	}
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() && usable(a) {
			return a, true
		}
	}
	for _, a := range addrs {
		if a = a.Unmap(); a.Is6() && usable(a) {
			return a.WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// HostAddrs lists the addresses of this host's network interfaces, for
// Inputs.InterfaceAddrs.
func HostAddrs() ([]netip.Addr, error) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ia := range ifaddrs {
		var ip net.IP
		switch a := ia.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}
