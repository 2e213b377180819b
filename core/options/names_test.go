package options

import (
	"slices"
	"strings"
	"testing"
)

func TestDerivedNamesOfTrickyOptions(t *testing.T) {
	cases := []struct {
		opt      *Option
		cli, env string
	}{
		{GossipIntervalMs, "--gossip-interval-ms", "GOSSIP_INTERVAL_MS"},
		{NodeIp, "--node-ip", "NODE_IP"},
		{ReplicationTcpPortAdvertiseAs, "--replication-tcp-port-advertise-as", "REPLICATION_TCP_PORT_ADVERTISE_AS"},
		{AdvertiseNodePortToClientAs, "--advertise-node-port-to-client-as", "ADVERTISE_NODE_PORT_TO_CLIENT_AS"},
		{AdvertiseHostToClientAs, "--advertise-host-to-client-as", "ADVERTISE_HOST_TO_CLIENT_AS"},
		{EnableAtomPubOverHttp, "--enable-atom-pub-over-http", "ENABLE_ATOM_PUB_OVER_HTTP"},
		{DisableHttpCaching, "--disable-http-caching", "DISABLE_HTTP_CACHING"},
		{DeadMemberRemovalPeriodSec, "--dead-member-removal-period-sec", "DEAD_MEMBER_REMOVAL_PERIOD_SEC"},
		{KeepAliveInterval, "--keep-alive-interval", "KEEP_ALIVE_INTERVAL"},
		{MemDb, "--mem-db", "MEM_DB"},
		{Db, "--db", "DB"},
		{DisableAdminUi, "--disable-admin-ui", "DISABLE_ADMIN_UI"},
		{NodeTcpPortAdvertiseAs, "--node-tcp-port-advertise-as", "NODE_TCP_PORT_ADVERTISE_AS"},
		{OverrideAnonymousEndpointAccessForGossip, "--override-anonymous-endpoint-access-for-gossip", "OVERRIDE_ANONYMOUS_ENDPOINT_ACCESS_FOR_GOSSIP"},
		{CertificateReservedNodeCommonName, "--certificate-reserved-node-common-name", "CERTIFICATE_RESERVED_NODE_COMMON_NAME"},
		{InitialConnectionWindowSize, "--initial-connection-window-size", "INITIAL_CONNECTION_WINDOW_SIZE"},
	}
	for _, c := range cases {
		if got := CLIName(c.opt); got != c.cli {
			t.Errorf("CLIName(%s) = %q, want %q", c.opt.Name, got, c.cli)
		}
		want := []string{"EVENTSTORE_" + c.env, "KURRENTDB_" + c.env}
		if got := EnvNames(c.opt); !slices.Equal(got, want) {
			t.Errorf("EnvNames(%s) = %v, want %v", c.opt.Name, got, want)
		}
	}
}

func TestWordSplitting(t *testing.T) {
	cases := map[string]string{
		"IntIp":                 "int-ip",
		"ExtTcpPortAdvertiseAs": "ext-tcp-port-advertise-as",
		"HTTPPort":              "http-port",
		"Http2WindowSize":       "http2-window-size",
		"IPAddress":             "ip-address",
		"X":                     "x",
	}
	for in, want := range cases {
		if got := Kebab(in); got != want {
			t.Errorf("Kebab(%q) = %q, want %q", in, got, want)
		}
		if got, w := UpperSnake(in), strings.ToUpper(strings.ReplaceAll(want, "-", "_")); got != w {
			t.Errorf("UpperSnake(%q) = %q, want %q", in, got, w)
		}
	}
}

// Every derived spelling of every option and old name finds it again.
func TestDerivedSpellingsRoundTrip(t *testing.T) {
	for _, o := range All() {
		spellings := append([]string{o.Name, CLIName(o), Kebab(o.Name), strings.ToLower(o.Name), ConfigKey(o)}, EnvNames(o)...)
		for _, s := range spellings {
			got, old, ok := Lookup(s)
			if !ok || got != o || old != nil {
				t.Errorf("Lookup(%q) = %v, %v, %v; want %s", s, got, old, ok, o.Name)
			}
		}
	}
}

func TestLookupAnySpelling(t *testing.T) {
	cases := []struct {
		spelling string
		want     *Option
		viaOld   string
	}{
		{"--ExtTcpPortAdvertiseAs", NodeTcpPortAdvertiseAs, "ExtTcpPortAdvertiseAs"},
		{"--ext-tcp-port-advertise-as", NodeTcpPortAdvertiseAs, "ExtTcpPortAdvertiseAs"},
		{"EVENTSTORE_Int_IP", ReplicationIp, "IntIp"},
		{"EVENTSTORE_EXT_IP", NodeIp, "ExtIp"},
		{"KURRENTDB_NODE_PORT", NodePort, ""},
		{"kurrentdb_node_port", NodePort, ""},
		{"  --node-port ", NodePort, ""},
		{"-node-port", NodePort, ""},
		{"nodeport", NodePort, ""},
		{"TcpPlugin:EnableExternalTcp", EnableExternalTcp, ""},
		{"EventStore:TcpPlugin:EnableExternalTcp", EnableExternalTcp, ""},
		{"EVENTSTORE__TCP_PLUGIN__NODE_TCP_PORT", NodeTcpPort, ""},
		{"KurrentDB:TcpPlugin:NodeHeartbeatTimeout", NodeHeartbeatTimeout, ""},
		{"Kestrel:Limits:Http2:InitialStreamWindowSize", InitialStreamWindowSize, ""},
		{"Kestrel.Limits.MaxConcurrentConnections", MaxConcurrentConnections, ""},
		{"KEEP_ALIVE_INTERVAL", KeepAliveInterval, ""}, // as misprinted in the 20.x docs
		{"--advertise-as", NodeHostAdvertiseAs, "AdvertiseAs"},
		{"--int-tcp-heartbeat-interval", ReplicationHeartbeatInterval, "IntTcpHeartbeatInterval"},
	}
	for _, c := range cases {
		o, old, ok := Lookup(c.spelling)
		if !ok || o != c.want {
			t.Errorf("Lookup(%q) = %v, ok=%v; want %s", c.spelling, o, ok, c.want.Name)
			continue
		}
		switch {
		case c.viaOld == "" && old != nil:
			t.Errorf("Lookup(%q) reports old name %s", c.spelling, old.Name)
		case c.viaOld != "" && (old == nil || old.Name != c.viaOld):
			t.Errorf("Lookup(%q) old name = %v, want %s", c.spelling, old, c.viaOld)
		}
	}
	for _, unknown := range []string{"", "--", "NodePorts", "EVENTSTORE_", "EventStoreNodePort", "Kestrel:Limits:Nope", "EVENTSTORE_BOGUS"} {
		if o, old, ok := Lookup(unknown); ok {
			t.Errorf("Lookup(%q) = %v, %v; want unknown", unknown, o, old)
		}
	}
}

func TestSuggest(t *testing.T) {
	cases := map[string]string{
		"--node-prot":             "--node-port",
		"--gossip-intervl-ms":     "--gossip-interval-ms",
		"EVENTSTORE_GOSIP_SEED":   "EVENTSTORE_GOSSIP_SEED",
		"KURRENTDB_CLUSTER_SIZ":   "KURRENTDB_CLUSTER_SIZE",
		"ClusterSise":             "ClusterSize",
		"ReplicationHeartbeatInt": "ReplicationHeartbeatInterval",
		"CompletelyDifferent":     "", // too far from anything
		"IntTcpPrt":               "ReplicationPort",
		"--ext-ip-advertise-ass":  "--node-host-advertise-as",
		"xyz":                     "",
		"ip":                      "",
		"":                        "",
		strings.Repeat("a", 300):  "",
	}
	for in, want := range cases {
		if got := Suggest(in); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"nodeport", "nodeport", 0},
		{"nodeprot", "nodeport", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"ca", "abc", 3},
	}
	for _, c := range cases {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
