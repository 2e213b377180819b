package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/options"
)

// defaults < config file < EVENTSTORE_ < KURRENTDB_ < command line, each
// level overriding the ones below it, and the origin following the winner.
func TestPrecedence(t *testing.T) {
	file := files{conf: "NodePort: 1001\n"}
	cases := []struct {
		name   string
		args   []string
		env    []string
		files  files
		want   string
		origin string
	}{
		{"default", nil, nil, nil, "2113", "default"},
		{"file over default", nil, nil, file, "1001", "config file " + conf + ", line 1, key NodePort"},
		{"EVENTSTORE_ over file", nil, []string{"EVENTSTORE_NODE_PORT=1002"}, file, "1002", "environment EVENTSTORE_NODE_PORT"},
		{"KURRENTDB_ over EVENTSTORE_", nil, []string{"KURRENTDB_NODE_PORT=1003", "EVENTSTORE_NODE_PORT=1002"}, file, "1003", "environment KURRENTDB_NODE_PORT"},
		{"command line over all", []string{"--node-port", "1004"}, []string{"KURRENTDB_NODE_PORT=1003", "EVENTSTORE_NODE_PORT=1002"}, file, "1004", "command line --node-port"},
		{"old name in a higher source still wins", []string{"--http-port=1005"}, []string{"EVENTSTORE_NODE_PORT=1002"}, file, "1005", "command line --http-port"},
		{"new name in a higher source overrides an old one", nil, []string{"EVENTSTORE_NODE_PORT=1002"}, files{conf: "HttpPort: 1001\n"}, "1002", "environment EVENTSTORE_NODE_PORT"},
		{"KURRENTDB_ new name over EVENTSTORE_ old name", nil, []string{"EVENTSTORE_HTTP_PORT=1002", "KURRENTDB_NODE_PORT=1003"}, nil, "1003", "environment KURRENTDB_NODE_PORT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.args, tc.env, tc.files)
			if got := c.Values.String(options.NodePort); got != tc.want {
				t.Errorf("NodePort = %s, want %s", got, tc.want)
			}
			if got := c.Origin(options.NodePort).Text; got != tc.origin {
				t.Errorf("origin = %q, want %q", got, tc.origin)
			}
		})
	}
}

// An old name and its new name with different values in one source is an
// error naming both, in each kind of source; the same value is accepted.
func TestOldAndNewNameConflict(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		env   []string
		files files
		parts []string
	}{
		{"command line", []string{"--int-ip", "10.0.0.1", "--replication-ip", "10.0.0.2"}, nil, nil,
			[]string{"ReplicationIp is given two different values on the command line", `--int-ip "10.0.0.1"`, `--replication-ip "10.0.0.2"`, "as --replication-ip"}},
		{"EVENTSTORE_ variables", nil, []string{"EVENTSTORE_INT_TCP_PORT=1", "EVENTSTORE_REPLICATION_PORT=2"}, nil,
			[]string{"ReplicationPort is given two different values in the environment", "EVENTSTORE_INT_TCP_PORT=\"1\"", "EVENTSTORE_REPLICATION_PORT=\"2\""}},
		{"KURRENTDB_ variables", nil, []string{"KURRENTDB_INT_TCP_PORT=1", "KURRENTDB_REPLICATION_PORT=2"}, nil,
			[]string{"ReplicationPort is given two different values in the environment", "as KURRENTDB_REPLICATION_PORT"}},
		{"config file", nil, nil, files{conf: "IntTcpHeartbeatInterval: 5000\nReplicationHeartbeatInterval: 700\n"},
			[]string{"ReplicationHeartbeatInterval is given two different values in the config file " + conf, `IntTcpHeartbeatInterval: "5000" (line 1)`, `ReplicationHeartbeatInterval: "700" (line 2)`}},
		{"config file, section and plain name", nil, nil, files{conf: "ExtTcpPort: 1113\nTcpPlugin:\n  NodeTcpPort: 8113\n"},
			[]string{"NodeTcpPort is given two different values", "ExtTcpPort", "TcpPlugin.NodeTcpPort", "as TcpPlugin.NodeTcpPort"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(append(tc.args, "--insecure"), tc.env, tc.files)
			wantProblem(t, err, tc.parts...)
		})
	}
	// Same value under both names: fine, with the old name warned about
	// and the new name shown as the origin.
	c := mustLoad(t, []string{"--insecure", "--int-ip", "10.0.0.1", "--replication-ip", "10.0.0.1"}, nil, nil)
	if org := c.Origin(options.ReplicationIp); org.Key != "--replication-ip" || org.OldName != nil {
		t.Errorf("origin = %+v, want the new name --replication-ip", org)
	}
	if ws := warnings(c); len(ws) != 1 || !strings.HasPrefix(ws[0], "IntIp (3.x-24.x) is deprecated") {
		t.Errorf("warnings = %q, want one about IntIp", ws)
	}
}

func TestCommandLineForms(t *testing.T) {
	cases := []struct {
		name string
		args []string
		opt  *options.Option
		want string
	}{
		{"--name value", []string{"--node-port", "1"}, options.NodePort, "1"},
		{"--name=value", []string{"--node-port=1"}, options.NodePort, "1"},
		{"single dash", []string{"-node-port", "1"}, options.NodePort, "1"},
		{"PascalCase", []string{"--NodePort", "1"}, options.NodePort, "1"},
		{"old PascalCase from the 5.x docs", []string{"--ExtTcpPortAdvertiseAs", "1114"}, options.NodeTcpPortAdvertiseAs, "1114"},
		{"old kebab", []string{"--int-ip", "10.0.0.9"}, options.ReplicationIp, "10.0.0.9"},
		{"bare bool", []string{"--mem-db"}, options.MemDb, "true"},
		{"bool=false", []string{"--admin-on-ext=false"}, options.AdminOnExt, "false"},
		{"bool then false", []string{"--admin-on-ext", "false"}, options.AdminOnExt, "false"},
		{"bool then TRUE", []string{"--mem-db", "TRUE"}, options.MemDb, "true"},
		{"bool followed by a flag", []string{"--mem-db", "--node-port", "1"}, options.MemDb, "true"},
		{"negative number value", []string{"--keep-alive-interval", "-1"}, options.KeepAliveInterval, "-1"},
		{"value with =", []string{"--certificate-password=a=b"}, options.CertificatePassword, "a=b"},
		{"empty value", []string{"--node-host-advertise-as="}, options.NodeHostAdvertiseAs, ""},
		{"section-qualified", []string{"--tcp-plugin:node-tcp-port", "8113"}, options.NodeTcpPort, "8113"},
		{"-h", []string{"-h"}, options.Help, "true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, append([]string{"--insecure"}, tc.args...), nil, nil)
			if got := c.Values.String(tc.opt); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.opt.Name, got, tc.want)
			}
		})
	}
	// A bool followed by anything other than true/false leaves it alone.
	_, err := load([]string{"--insecure", "yes"}, nil, nil)
	wantProblem(t, err, `unexpected argument "yes"`)
}

// The environment: only prefixed variables, any case, KURRENTDB_ winning.
func TestEnvironment(t *testing.T) {
	c := mustLoad(t, nil, []string{
		"EVENTSTORE_INSECURE=true",
		"EVENTSTORE_Int_IP=10.0.0.4",              // the 20.x docs' spelling
		"eventstore_cluster_size=1",               // lower case
		"EVENTSTORE__TcpPlugin__NodeTcpPort=8113", // .NET section separators
		"KEEP_ALIVE_INTERVAL=1",                   // unprefixed: never read
		"NODE_PORT=9",                             // unprefixed: never read
		"GOSSIP_SEED=x",                           // unprefixed, and not even valid
		"KURRENTDB_GOSSIP_INTERVAL_MS=1500",
		"EVENTSTORE_GOSSIP_INTERVAL_MS=1000",
		"NOT_A_PAIR",
	}, nil)
	check := map[*options.Option]string{
		options.ReplicationIp: "10.0.0.4", options.NodeTcpPort: "8113", options.KeepAliveInterval: "10000",
		options.NodePort: "2113", options.GossipSeed: "", options.GossipIntervalMs: "1500",
	}
	for o, want := range check {
		if got := c.Values.String(o); got != want {
			t.Errorf("%s = %q, want %q", o.Name, got, want)
		}
	}
	if got := c.Origin(options.GossipIntervalMs).Text; got != "environment KURRENTDB_GOSSIP_INTERVAL_MS" {
		t.Errorf("GossipIntervalMs origin = %q", got)
	}
	for _, name := range []string{"KEEP_ALIVE_INTERVAL", "NODE_PORT", "GOSSIP_SEED"} {
		if !strings.Contains(notesText(c), "notice: "+name+" is set in the environment but not read") {
			t.Errorf("no notice about the unprefixed %s:\n%s", name, notesText(c))
		}
	}
}

// The 20.x-24.x documentation's unprefixed names are not options under any
// prefix-less spelling: they only earn a notice.
func TestUnprefixedSeedSpellingsAreNeverRead(t *testing.T) {
	for _, name := range []string{"KEEP_ALIVE_INTERVAL", "KEEP_ALIVE_TIMEOUT", "ENABLE_ATOM_PUB_OVER_HTTP"} {
		o, _, ok := options.Lookup(name)
		if !ok {
			t.Fatalf("%s names no option", name)
		}
		raw, _ := sample(o)
		c := mustLoad(t, []string{"--insecure"}, []string{name + "=" + raw}, nil)
		if c.Values.Source(o) != options.SourceDefault {
			t.Errorf("%s was read from the unprefixed %s", o.Name, name)
		}
	}
}

// Kubernetes service-link variables are ignored only when they name no
// option: a real option whose value looks like a link is still read.
func TestKubernetesServiceLinks(t *testing.T) {
	for _, o := range options.All() {
		for _, env := range options.EnvNames(o) {
			_, err := load([]string{"--insecure"}, []string{env + "=tcp://10.0.0.1:2113"}, nil)
			link, _ := isKubernetesLink(env, "tcp://10.0.0.1:2113")
			if link != "" && err == nil && o.Type != options.String && o.Type != options.Path {
				t.Errorf("%s=tcp://... was taken for a Kubernetes link instead of a value of %s", env, o.Name)
			}
		}
	}
	_, err := load([]string{"--insecure"}, []string{"EVENTSTORE_NODE_PORT=tcp://10.0.0.1:2113"}, nil)
	wantProblem(t, err, `NodePort: "tcp://10.0.0.1:2113" (from environment EVENTSTORE_NODE_PORT) is not a whole number`)
	// NAME_PORT without a URL is no link: it stays an unknown option.
	_, err = load([]string{"--insecure"}, []string{"EVENTSTORE_PORT=2113"}, nil)
	wantProblem(t, err, `unknown option "EVENTSTORE_PORT"`)
	c := mustLoad(t, []string{"--insecure"}, []string{"EVENTSTORE_PORT=tcp://10.0.0.1:2113"}, nil)
	if !strings.Contains(notesText(c), `for a Service named "eventstore"`) {
		t.Errorf("no notice for EVENTSTORE_PORT=tcp://...:\n%s", notesText(c))
	}
}

func TestConfigFileLocation(t *testing.T) {
	t.Run("default absent is fine", func(t *testing.T) {
		c := mustLoad(t, []string{"--insecure"}, nil, nil)
		if c.ConfigPath != options.Config.Default || c.ConfigRead {
			t.Errorf("ConfigPath %q read %v", c.ConfigPath, c.ConfigRead)
		}
	})
	t.Run("explicit file is read; kestrelsettings.json beside it", func(t *testing.T) {
		c := mustLoad(t, []string{"--config", "/srv/a/node.yaml"}, nil, files{
			"/srv/a/node.yaml":            "Insecure: true\n",
			"/srv/a/kestrelsettings.json": `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 100}}}`,
			kestrel:                       `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 5}}}`,
		})
		if !c.ConfigRead || !c.Values.Bool(options.Insecure) {
			t.Errorf("config file not read")
		}
		if c.KestrelPath != "/srv/a/kestrelsettings.json" || c.Values.Int(options.MaxConcurrentConnections) != 100 {
			t.Errorf("kestrel %q: %d", c.KestrelPath, c.Values.Int(options.MaxConcurrentConnections))
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		c := mustLoad(t, nil, []string{"KURRENTDB_CONFIG=/srv/b.conf"}, files{"/srv/b.conf": "Insecure: true\n"})
		if !c.Values.Bool(options.Insecure) {
			t.Error("config file named by KURRENTDB_CONFIG not read")
		}
	})
	t.Run("command line over environment", func(t *testing.T) {
		c := mustLoad(t, []string{"--config", "/srv/c.conf"}, []string{"EVENTSTORE_CONFIG=/srv/missing.conf"}, files{"/srv/c.conf": "Insecure: true\n"})
		if c.ConfigPath != "/srv/c.conf" {
			t.Errorf("ConfigPath %q", c.ConfigPath)
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		broken := func(string) ([]byte, error) { return nil, errors.New("permission denied") }
		_, err := Load(Inputs{Args: []string{"--insecure"}, ReadFile: broken})
		wantProblem(t, err, "config file "+conf+" cannot be read: permission denied")
	})
	t.Run("nil reader means no files", func(t *testing.T) {
		_, err := Load(Inputs{Args: []string{"--insecure", "--config", "/x"}})
		wantProblem(t, err, "config file /x (from command line --config) does not exist")
		if _, err := Load(Inputs{Args: []string{"--insecure"}}); err != nil {
			t.Error(err)
		}
	})
}

// YAML values: strings, numbers, booleans, lists, flow mappings for
// sections, anchors and aliases; null leaves an option alone.
func TestYAMLValues(t *testing.T) {
	c := mustLoad(t, []string{"--node-host-advertise-as", "from-cli.example"}, nil, files{conf: strings.Join([]string{
		"Insecure: true",
		"GossipSeed:",
		"  - node2:2113",
		"  - node3:2113",
		"NodePort: '2114'",
		"clustersize: 3",
		"NodeIp: 10.0.0.1",
		"ReplicationIp: 10.0.0.1",
		"NodeHostAdvertiseAs: ~", // null: the command line's value stays
		"TcpPlugin: {NodeTcpPort: 8113, NodeHeartbeatTimeout: 1500}",
		"GossipIntervalMs: &interval 1500",
		"GossipTimeoutMs: *interval",
		"",
	}, "\n")})
	want := map[*options.Option]string{
		options.Insecure: "true", options.GossipSeed: "node2:2113,node3:2113", options.NodePort: "2114",
		options.ClusterSize: "3", options.NodeTcpPort: "8113", options.NodeHeartbeatTimeout: "1500",
		options.GossipIntervalMs: "1500", options.GossipTimeoutMs: "1500", options.NodeHostAdvertiseAs: "from-cli.example",
	}
	for o, w := range want {
		if got := c.Values.String(o); got != w {
			t.Errorf("%s = %q, want %q", o.Name, got, w)
		}
	}
	// GossipSeed as one comma-separated string works as well.
	c = mustLoad(t, []string{"--insecure"}, nil, files{conf: "GossipSeed: node2:2113, node3:2113\n"})
	if got := c.Values.Strings(options.GossipSeed); len(got) != 2 || got[1] != "node3:2113" {
		t.Errorf("GossipSeed = %q", got)
	}
	// An empty file, a comment-only file and a null document set nothing.
	for _, doc := range []string{"", "# nothing\n", "~\n", "---\n"} {
		if _, err := load([]string{"--insecure"}, nil, files{conf: doc}); err != nil {
			t.Errorf("config file %q: %v", doc, err)
		}
	}
}

// A file with several YAML documents is refused: only one would be read,
// and the settings of the others would silently not apply. Empty
// documents do not count: a file whose first document is empty is read
// (it used to set nothing at all).
func TestYAMLSeveralDocuments(t *testing.T) {
	for _, doc := range []string{
		"Insecure: true\n---\nNodePort: 9999\n",
		"Insecure: true\n...\n---\n# node 2\nNodePort: 9999\n",
	} {
		_, err := load([]string{"--insecure"}, nil, files{conf: doc})
		wantProblem(t, err, "config file "+conf+", line ", "is in a second YAML document", "only one document is read")
	}
	// Empty documents around the one that holds the options are fine.
	for _, doc := range []string{"---\nInsecure: true\nNodePort: 9999\n", "---\nInsecure: true\nNodePort: 9999\n---\n",
		"# header\n---\n---\nInsecure: true\nNodePort: 9999\n...\n"} {
		c := mustLoad(t, nil, nil, files{conf: doc})
		if !c.Values.Bool(options.Insecure) || c.Values.Port(options.NodePort) != 9999 {
			t.Errorf("%q: the options were not read", doc)
		}
	}
}

// A configuration file written for EventStoreDB 25 (KurrentDB) loads with
// the expected values and no warnings.
func TestEventStoreDB25StyleConfig(t *testing.T) {
	const yaml25 = `---
# Cluster node 1
Db: /var/lib/kurrentdb
Log: /var/log/kurrentdb
Index: /var/lib/kurrentdb/index
CertificateFile: /etc/kurrentdb/certs/node.crt
CertificatePrivateKeyFile: /etc/kurrentdb/certs/node.key
TrustedRootCertificatesPath: /etc/kurrentdb/certs/ca
CertificateReservedNodeCommonName: "*.cluster.local"
ClusterSize: 3
DiscoverViaDns: false
GossipSeed: node2.cluster.local:2113,node3.cluster.local:2113
NodeIp: 0.0.0.0
NodeHostAdvertiseAs: node1.cluster.local
NodePort: 2113
ReplicationIp: 0.0.0.0
ReplicationHostAdvertiseAs: node1.cluster.local
ReplicationPort: 1112
ReplicationHeartbeatInterval: 5000
ReplicationHeartbeatTimeout: 1000
KeepAliveInterval: 10000
KeepAliveTimeout: 10000
LeaderElectionTimeoutMs: 2000
GossipTimeoutMs: 5000
EnableAtomPubOverHttp: false
RunProjections: None
LogLevel: Information
TcpPlugin:
  EnableExternalTcp: false
  NodeTcpPort: 1113
  NodeHeartbeatInterval: 2000
`
	c := mustLoad(t, nil, []string{"KURRENTDB_DEFAULT_ADMIN_PASSWORD=s3cret"}, files{conf: yaml25})
	want := map[*options.Option]string{
		options.ClusterSize: "3", options.DiscoverViaDns: "false", options.NodeIp: "0.0.0.0",
		options.GossipSeed:          "node2.cluster.local:2113,node3.cluster.local:2113",
		options.NodeHostAdvertiseAs: "node1.cluster.local", options.ReplicationIp: "0.0.0.0",
		options.ReplicationHeartbeatInterval: "5000", options.ReplicationHeartbeatTimeout: "1000",
		options.LeaderElectionTimeoutMs: "2000", options.CertificateReservedNodeCommonName: "*.cluster.local",
		options.LogLevel: "Information", options.NodeTcpPort: "1113", options.DefaultAdminPassword: "s3cret",
	}
	for o, w := range want {
		if got := c.Values.String(o); got != w {
			t.Errorf("%s = %q, want %q", o.Name, got, w)
		}
	}
	// Only that two of its settings mean nothing to annal.
	if got := notesText(c); len(c.Notes) != 2 || !strings.Contains(got, "notice: Log (from config file") ||
		!strings.Contains(got, "notice: Index (from config file") || !strings.Contains(got, "has no effect: annal keeps its stream index in memory") {
		t.Errorf("notes for a clean 25.x configuration:\n%s", got)
	}
	if err := CheckNodeStart(c); err != nil {
		t.Errorf("CheckNodeStart: %v", err)
	}
}

// A 22.x configuration, with the names EventStoreDB used then, loads with
// the values on the new options and exactly one warning per old name.
func TestEventStoreDB22StyleConfig(t *testing.T) {
	const yaml22 = `# EventStoreDB 22.10 node
Db: /var/lib/eventstore
Insecure: true
ClusterSize: 3
DiscoverViaDns: false
GossipSeed: 10.0.0.2:2113,10.0.0.3:2113
ExtIp: 10.0.0.1
IntIp: 10.0.0.1
HttpPort: 2113
IntTcpPort: 1112
ExtTcpPort: 1113
EnableExternalTcp: true
ExtHostAdvertiseAs: node1.example
IntHostAdvertiseAs: node1.internal
HttpPortAdvertiseAs: 2213
IntTcpPortAdvertiseAs: 1212
ExtTcpPortAdvertiseAs: 1213
AdvertiseHttpPortToClientAs: 80
IntTcpHeartbeatInterval: 5000
IntTcpHeartbeatTimeout: 1000
ExtTcpHeartbeatInterval: 3000
ExtTcpHeartbeatTimeout: 1500
EnableAtomPubOverHttp: true
`
	c := mustLoad(t, nil, nil, files{conf: yaml22})
	want := map[*options.Option]string{
		options.NodeIp: "10.0.0.1", options.ReplicationIp: "10.0.0.1", options.NodePort: "2113",
		options.ReplicationPort: "1112", options.NodeTcpPort: "1113", options.EnableExternalTcp: "true",
		options.NodeHostAdvertiseAs: "node1.example", options.ReplicationHostAdvertiseAs: "node1.internal",
		options.NodePortAdvertiseAs: "2213", options.ReplicationTcpPortAdvertiseAs: "1212", options.NodeTcpPortAdvertiseAs: "1213",
		options.AdvertiseNodePortToClientAs: "80", options.ReplicationHeartbeatInterval: "5000",
		options.ReplicationHeartbeatTimeout: "1000", options.NodeHeartbeatInterval: "3000", options.NodeHeartbeatTimeout: "1500",
		options.EnableAtomPubOverHttp: "true",
	}
	for o, w := range want {
		if got := c.Values.String(o); got != w {
			t.Errorf("%s = %q, want %q", o.Name, got, w)
		}
	}
	oldNames := []string{"ExtIp", "IntIp", "HttpPort", "IntTcpPort", "ExtTcpPort", "ExtHostAdvertiseAs", "IntHostAdvertiseAs",
		"HttpPortAdvertiseAs", "IntTcpPortAdvertiseAs", "ExtTcpPortAdvertiseAs", "AdvertiseHttpPortToClientAs",
		"IntTcpHeartbeatInterval", "IntTcpHeartbeatTimeout", "ExtTcpHeartbeatInterval", "ExtTcpHeartbeatTimeout"}
	ws := warnings(c)
	if len(ws) != len(oldNames) {
		t.Errorf("%d warnings, want %d (one per old name):\n%s", len(ws), len(oldNames), notesText(c))
	}
	for _, name := range oldNames {
		_, old, _ := options.Lookup(name)
		n := 0
		for _, w := range ws {
			if strings.HasPrefix(w, old.Message()) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings about %s, want 1", n, name)
		}
	}
	// The legacy TCP client API is configured, and annal says it cannot
	// serve it rather than silently not listening.
	wantStartProblem(t, c, "EnableExternalTcp is true (from config file "+conf+", line 12, key EnableExternalTcp)", "does not serve the legacy TCP client API yet")
}

func wantStartProblem(t *testing.T, c *Config, parts ...string) {
	t.Helper()
	wantProblem(t, CheckNodeStart(c), parts...)
}

// Aliases cannot make a small file expand into a huge configuration.
func TestYAMLAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, y, z, w, v, u, t, s, r, q]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "s%d: &l%d {", i, i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&b, "k%d: *l%d, ", j, i-1)
		}
		b.WriteString("}\n")
	}
	_, err := load([]string{"--insecure"}, nil, files{conf: b.String()})
	wantProblem(t, err, "has more than 1000 keys and values")
	wantProblem(t, err, "more unknown options (not listed)")
	if p := problems(t, err); len(p) > maxUnknownReported+5 {
		t.Errorf("%d problems", len(p))
	}
}

// EventStoreDB refuses only unknown top-level options: settings nested in
// a section configure its plugins (Licensing, ...) or the HTTP server
// (anything in kestrelsettings.json), and a configuration using them
// starts. annal warns and ignores them; a misspelling of an option of one
// of its own sections is still refused.
func TestSettingsInForeignSectionsAreIgnored(t *testing.T) {
	c := mustLoad(t, []string{"--insecure", "--Licensing:LicenseKey", "k1"},
		[]string{"EVENTSTORE_LICENSING__LICENSE_KEY=k2", "KURRENTDB__AutoScavenge__Enabled=true"},
		files{
			conf:    "Licensing:\n  LicenseKey: k3\nTcpPlugin:\n  EnableExternalTcp: false\n  TcpReadTimeoutMs: 10000\nEventStore:\n  Plugins:\n    UserCertificates:\n      Enabled: true\n",
			kestrel: `{"Kestrel": {"Limits": {"MaxRequestBodySize": 10, "MaxConcurrentConnections": 5}, "EndpointDefaults": {"Protocols": "Http2"}}, "Logging": {"LogLevel": {"Default": "Warning"}}}`,
		})
	if c.Values.Int(options.MaxConcurrentConnections) != 5 {
		t.Errorf("MaxConcurrentConnections = %d", c.Values.Int(options.MaxConcurrentConnections))
	}
	for _, key := range []string{"--Licensing:LicenseKey", "EVENTSTORE_LICENSING__LICENSE_KEY", "KURRENTDB__AutoScavenge__Enabled",
		"Licensing.LicenseKey", "TcpPlugin.TcpReadTimeoutMs", "EventStore.Plugins.UserCertificates.Enabled",
		"Kestrel.Limits.MaxRequestBodySize", "Kestrel.EndpointDefaults.Protocols", "Logging.LogLevel.Default"} {
		if !strings.Contains(notesText(c), "warning: \""+key+"\" (from ") {
			t.Errorf("no warning that %s is ignored:\n%s", key, notesText(c))
		}
	}
	for _, secret := range []string{"k1", "k2", "k3"} {
		if strings.Contains(notesText(c), secret) {
			t.Errorf("a notice shows the value %q:\n%s", secret, notesText(c))
		}
	}
	// Misspellings stay errors: top-level, and within annal's own sections.
	_, err := load([]string{"--insecure"}, []string{"EVENTSTORE_CLUSTER_SIZ=3"}, files{conf: "TcpPlugin:\n  NodeTcpPrt: 8113\n"})
	wantProblem(t, err, `unknown option "EVENTSTORE_CLUSTER_SIZ"`, "did you mean EVENTSTORE_CLUSTER_SIZE?")
	wantProblem(t, err, `unknown option "TcpPlugin.NodeTcpPrt"`, "did you mean TcpPlugin.NodeTcpPort?")
}

// EventStoreDB looks for kestrelsettings.json in the default configuration
// directory whatever --config names; annal looks beside the configuration
// file first, then there.
func TestKestrelSettingsInTheDefaultDirectory(t *testing.T) {
	c := mustLoad(t, []string{"--config", "/srv/node.yaml"}, nil, files{
		"/srv/node.yaml": "Insecure: true\n",
		kestrel:          `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 100}}}`,
	})
	if !c.KestrelRead || c.KestrelPath != kestrel || c.Values.Int(options.MaxConcurrentConnections) != 100 {
		t.Errorf("kestrelsettings.json in %s not read (path %q, read %v)", kestrel, c.KestrelPath, c.KestrelRead)
	}
	// Beside the configuration file, it wins.
	c = mustLoad(t, []string{"--config", "/srv/node.yaml"}, nil, files{
		"/srv/node.yaml":            "Insecure: true\n",
		"/srv/kestrelsettings.json": `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 7}}}`,
		kestrel:                     `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 100}}}`,
	})
	if c.KestrelPath != "/srv/kestrelsettings.json" || c.Values.Int(options.MaxConcurrentConnections) != 7 {
		t.Errorf("path %q, MaxConcurrentConnections %d", c.KestrelPath, c.Values.Int(options.MaxConcurrentConnections))
	}
}

// Messages about a refused value never show a secret, whatever its shape.
func TestSecretInAListIsRedacted(t *testing.T) {
	_, err := load([]string{"--insecure"}, nil, files{conf: "CertificatePassword: [hunter2]\n"})
	wantProblem(t, err, `CertificatePassword: a list "****" (from config file `+conf+", line 1, key CertificatePassword)")
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the password shows in %v", err)
	}
}

// An empty Config is said to be empty, not "config file  does not exist".
func TestEmptyConfigPath(t *testing.T) {
	_, err := load([]string{"--insecure"}, []string{"EVENTSTORE_CONFIG="}, nil)
	wantProblem(t, err, "Config is empty (from environment EVENTSTORE_CONFIG)")
	if p := problems(t, err); len(p) != 1 {
		t.Errorf("problems: %v", err)
	}
}
