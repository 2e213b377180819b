package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/options"
)

func TestFirstNonLoopback(t *testing.T) {
	a := netip.MustParseAddr
	cases := []struct {
		name  string
		addrs []netip.Addr
		want  string
	}{
		{"none", nil, ""},
		{"loopback only", []netip.Addr{a("127.0.0.1"), a("::1")}, ""},
		{"first IPv4 after loopback", []netip.Addr{a("127.0.0.1"), a("10.0.0.5"), a("192.168.1.2")}, "10.0.0.5"},
		{"IPv4 before an earlier IPv6", []netip.Addr{a("fd00::5"), a("10.0.0.5")}, "10.0.0.5"},
		{"link-local skipped", []netip.Addr{a("169.254.1.1"), a("fe80::1"), a("fd00::5")}, "fd00::5"},
		{"IPv4-mapped IPv6 is IPv4", []netip.Addr{a("::ffff:10.1.1.1")}, "10.1.1.1"},
		{"unspecified skipped", []netip.Addr{a("0.0.0.0"), a("172.16.0.9")}, "172.16.0.9"},
	}
	for _, tc := range cases {
		got, ok := FirstNonLoopback(tc.addrs)
		if tc.want == "" {
			if ok {
				t.Errorf("%s: picked %v, want none", tc.name, got)
			}
			continue
		}
		if !ok || got.String() != tc.want {
			t.Errorf("%s: picked %v (%v), want %s", tc.name, got, ok, tc.want)
		}
	}
}

func TestHostAddrs(t *testing.T) {
	addrs, err := HostAddrs()
	if err != nil {
		t.Skipf("interfaces cannot be listed here: %v", err)
	}
	for _, a := range addrs {
		if !a.IsValid() || a.Is4In6() {
			t.Errorf("HostAddrs gave %v", a)
		}
	}
}

// NodeIp's default: loopback for an insecure node (with a notice), the
// first non-loopback address for a secure one (with a notice).
func TestNodeIpDefault(t *testing.T) {
	c := mustLoad(t, []string{"--insecure"}, nil, nil)
	if got := c.Values.String(options.NodeIp); got != "127.0.0.1" {
		t.Errorf("insecure NodeIp = %s", got)
	}
	if !strings.Contains(notesText(c), "notice: NodeIp is not set: this insecure node listens on 127.0.0.1 (loopback) only") {
		t.Errorf("no loopback notice:\n%s", notesText(c))
	}

	c = mustLoad(t, []string{"--certificate-file", "/c.pem"}, nil, nil)
	if got := c.Values.String(options.NodeIp); got != "10.1.2.3" {
		t.Errorf("secure NodeIp = %s, want the first non-loopback address", got)
	}
	if org := c.Origin(options.NodeIp); org.Source != options.SourceDefault || !strings.Contains(org.Text, "first non-loopback") {
		t.Errorf("origin = %+v", org)
	}

	noAddrs := func() ([]netip.Addr, error) { return nil, errors.New("no interfaces") }
	c, err := Load(Inputs{Args: []string{"--certificate-file", "/c.pem"}, InterfaceAddrs: noAddrs})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Values.String(options.NodeIp); got != "127.0.0.1" || !strings.Contains(notesText(c), "no interfaces") {
		t.Errorf("NodeIp = %s; notes:\n%s", got, notesText(c))
	}

	// A NodeIp given in any source is kept, with no notice.
	c = mustLoad(t, []string{"--certificate-file", "/c.pem"}, []string{"EVENTSTORE_NODE_IP=10.9.9.9"}, nil)
	if got := c.Values.String(options.NodeIp); got != "10.9.9.9" || strings.Contains(notesText(c), "NodeIp is not set") {
		t.Errorf("NodeIp = %s; notes:\n%s", got, notesText(c))
	}
}

func TestLoopbackClusterWarnings(t *testing.T) {
	c := mustLoad(t, []string{"--insecure", "--cluster-size", "3", "--node-ip", "10.0.0.1"}, nil, nil)
	ws := warnings(c)
	if len(ws) != 1 || !strings.HasPrefix(ws[0], "ReplicationIp is 127.0.0.1 (from default) while ClusterSize is 3: a multi-node cluster cannot form that way") {
		t.Errorf("warnings = %q", ws)
	}
	c = mustLoad(t, []string{"--insecure", "--cluster-size", "3", "--node-ip", "10.0.0.1", "--replication-ip", "0.0.0.0"}, nil, nil)
	if ws := warnings(c); len(ws) != 0 {
		t.Errorf("warnings = %q", ws)
	}
	c = mustLoad(t, []string{"--insecure", "--replication-ip", "127.0.0.1"}, nil, nil)
	if ws := warnings(c); len(ws) != 0 {
		t.Errorf("a single node on loopback is fine; warnings = %q", ws)
	}
}

// The start-up check is separate from loading, so --what-if can show a
// configuration a node would refuse.
func TestCheckNodeStart(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		parts []string // empty: starts
	}{
		{"no certificate, not insecure", nil, []string{"no certificate is configured and Insecure is off", "--insecure"}},
		{"insecure", []string{"--insecure"}, nil},
		{"certificate", []string{"--certificate-file", "/etc/annal/node.p12"}, nil},
		{"external TCP", []string{"--insecure", "--enable-external-tcp"}, []string{"EnableExternalTcp is true (from command line --enable-external-tcp)", "does not serve the legacy TCP client API yet"}},
		// EventStoreDB refuses these at start-up (ClusterVNodeOptionsValidator).
		{"gossip seeds but ClusterSize 1", []string{"--insecure", "--gossip-seed", "10.0.0.2:2113,10.0.0.3:2113"},
			[]string{"GossipSeed lists 2 other nodes (from command line --gossip-seed) but ClusterSize is 1 (from default)", "--cluster-size"}},
		{"one gossip seed, ClusterSize 1", []string{"--insecure", "--gossip-seed", "10.0.0.2:2113"}, nil},
		{"gossip seeds and ClusterSize 3", []string{"--insecure", "--cluster-size", "3", "--gossip-seed", "10.0.0.2:2113,10.0.0.3:2113"}, nil},
		{"read-only replica alone", []string{"--insecure", "--read-only-replica"},
			[]string{"ReadOnlyReplica is true (from command line --read-only-replica) but ClusterSize is 1 (from default)"}},
		{"database path with ~", []string{"--insecure", "--db", "~/annal"}, []string{`Db is "~/annal" (from command line --db)`, "is not expanded"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.args, nil, nil)
			err := CheckNodeStart(c)
			if len(tc.parts) == 0 {
				if err != nil {
					t.Errorf("CheckNodeStart: %v", err)
				}
				return
			}
			wantProblem(t, err, tc.parts...)
		})
	}
	// Both problems at once.
	c := mustLoad(t, []string{"--enable-external-tcp"}, nil, nil)
	if p, _ := CheckNodeStart(c).(Problems); len(p) != 2 {
		t.Errorf("CheckNodeStart = %v, want two problems", p)
	}
}

// TCP plugin options parse and validate like any other.
func TestTcpPluginOptionsValidate(t *testing.T) {
	c := mustLoad(t, []string{"--insecure"}, nil, files{conf: "TcpPlugin:\n  NodeTcpPort: 8113\n  NodeTcpPortAdvertiseAs: 8114\n  NodeHeartbeatInterval: 2500\n  NodeHeartbeatTimeout: 1200\n"})
	if c.Values.Port(options.NodeTcpPort) != 8113 || c.Values.Port(options.NodeTcpPortAdvertiseAs) != 8114 ||
		c.Values.Int(options.NodeHeartbeatInterval) != 2500 || c.Values.Int(options.NodeHeartbeatTimeout) != 1200 {
		t.Errorf("TcpPlugin values not applied")
	}
	_, err := load([]string{"--insecure"}, []string{"EVENTSTORE__TcpPlugin__NodeHeartbeatTimeout=0"}, nil)
	wantProblem(t, err, `NodeHeartbeatTimeout: "0" (from environment EVENTSTORE__TcpPlugin__NodeHeartbeatTimeout) is out of range: allowed 1..2147483647 ms`)
}

// Every problem is reported at once, not just the first.
func TestAllProblemsAtOnce(t *testing.T) {
	_, err := load([]string{"--node-port", "x", "--cluster-size", "0", "--bogus", "1"},
		[]string{"EVENTSTORE_GOSSIP_SEED=nope", "KURRENTDB_LOG_LEVEL=loud"},
		files{conf: "ReplicationPort: 99999\nInsecure: perhaps\n"})
	p := problems(t, err)
	for _, want := range []string{"NodePort", "ClusterSize", "--bogus", "GossipSeed", "LogLevel", "ReplicationPort", "Insecure"} {
		found := false
		for _, s := range p {
			found = found || strings.Contains(s, want)
		}
		if !found {
			t.Errorf("no problem about %s among:\n%v", want, err)
		}
	}
	if len(p) != 7 {
		t.Errorf("%d problems, want 7:\n%v", len(p), err)
	}
}

// A cluster needs a way to find its members: DNS discovery, or seeds.
func TestAClusterWithoutDiscoveryIsRefused(t *testing.T) {
	_, err := load([]string{"--insecure", "--node-ip", "10.1.2.3", "--replication-ip", "10.1.2.3", "--cluster-size", "3", "--discover-via-dns", "false"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "but the node has no way to find the others: DiscoverViaDns is false") {
		t.Fatalf("ClusterSize 3, DiscoverViaDns false, no GossipSeed: %v", err)
	}
	for _, args := range [][]string{
		{"--cluster-size", "3", "--discover-via-dns", "false", "--gossip-seed", "10.1.2.4:2113,10.1.2.5:2113"},
		{"--cluster-size", "3", "--cluster-dns", "cluster.example"},
		{"--cluster-size", "1", "--discover-via-dns", "false"},
	} {
		base := []string{"--insecure", "--node-ip", "10.1.2.3", "--replication-ip", "10.1.2.3"}
		if _, err := load(append(base, args...), nil, nil); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// An insecure node has no authentication: EventStoreDB refuses to start
// when the default users' passwords are set anyway, rather than let the
// operator believe the node is protected.
func TestInsecureNodeRefusesDefaultPasswords(t *testing.T) {
	c := mustLoad(t, []string{"--insecure"}, []string{"EVENTSTORE_DEFAULT_ADMIN_PASSWORD=s3cret"}, nil)
	wantStartProblem(t, c, "DefaultAdminPassword is set (from environment EVENTSTORE_DEFAULT_ADMIN_PASSWORD) but Insecure is true (from command line --insecure)")
	if err := CheckNodeStart(c); err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the password shows in %v", err)
	}
	c = mustLoad(t, []string{"--certificate-file", "/c.pem"}, []string{"KURRENTDB_DEFAULT_OPS_PASSWORD=s3cret"}, nil)
	if err := CheckNodeStart(c); err != nil {
		t.Errorf("secure node with an ops password: %v", err)
	}
}

// DNS discovery needs a name to look up.
func TestDNSDiscoveryWithoutAName(t *testing.T) {
	base := []string{"--insecure", "--node-ip", "10.1.2.3", "--replication-ip", "10.1.2.3", "--cluster-size", "3"}
	_, err := load(append(base, "--cluster-dns="), nil, nil)
	wantProblem(t, err, "ClusterSize is 3 (from command line --cluster-size)", "but ClusterDns is empty (from command line --cluster-dns)")
	if _, err := load(append(base, "--cluster-dns=", "--gossip-seed", "10.1.2.4:2113,10.1.2.5:2113"), nil, nil); err != nil {
		t.Errorf("seeds instead of DNS: %v", err)
	}
}
