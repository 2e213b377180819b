package config

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt with the current messages")

// goldenCase is one configuration whose every message is pinned in
// testdata/golden/<name>.txt.
type goldenCase struct {
	name  string
	args  []string
	env   []string
	files files
}

const (
	conf    = "/etc/eventstore/eventstore.conf"
	kestrel = "/etc/eventstore/kestrelsettings.json"
)

var goldenCases = []goldenCase{
	{name: "unknown-option-cli", args: []string{"--node-prot", "2113", "--insecure"}},
	{name: "unknown-option-env", args: []string{"--insecure"}, env: []string{"EVENTSTORE_NODE_PROT=2113", "KURRENTDB_GOSIP_SEED=a:1"}},
	{name: "unknown-option-yaml", args: []string{"--insecure"}, files: files{conf: "NodePrt: 2113\nTcpPlugin:\n  NodeTcpProt: 1113\nZzzzzzzzzz: 1\n"}},
	{name: "unknown-option-allowed", args: []string{"--insecure", "--allow-unknown-options", "--node-prot", "1"}},
	{name: "bad-bool", args: []string{"--insecure=yes"}},
	{name: "bad-number", args: []string{"--insecure", "--cluster-size", "three"}},
	{name: "duration-for-milliseconds", args: []string{"--insecure", "--gossip-interval-ms", "2s"}},
	{name: "out-of-range", args: []string{"--insecure", "--node-port", "70000", "--leader-election-timeout-ms=999"}, env: []string{"EVENTSTORE_MAX_APPEND_SIZE=0"}},
	{name: "bad-ip", args: []string{"--insecure", "--node-ip", "node1.example"}},
	{name: "bad-host", args: []string{"--insecure", "--node-host-advertise-as", "node1:2113"}},
	{name: "bad-gossip-seed", args: []string{"--insecure", "--gossip-seed", "node1,node2:99999"}},
	{name: "bad-enum", args: []string{"--insecure"}, files: files{conf: "LogLevel: Loud\n"}},
	{name: "env-only-from-cli-and-file", args: []string{"--insecure", "--default-admin-password", "s3cret"}, files: files{conf: "DefaultOpsPassword: hunter2\n"}},
	{name: "not-supported", args: []string{"--insecure", "--run-projections", "All"}, files: files{conf: "CertificateThumbprint: abc\n"}},
	{name: "no-equivalent-four-port", args: []string{"--insecure"}, files: files{conf: "ExtHttpPort: 2113\nIntHttpPort: 2112\nIntHttpPortAdvertiseAs: 2112\nGossipSeed: [node2:2112, node3:2112]\nClusterSize: 3\nNodeIp: 10.0.0.1\nReplicationIp: 10.0.0.1\n"}},
	{name: "gossip-seed-old-port", args: []string{"--insecure", "--node-ip", "10.0.0.1", "--replication-ip", "10.0.0.1", "--cluster-size", "3", "--gossip-seed", "node2:2112,[fd00::3]:2112"}},
	{name: "cluster-gossip-port-old-port", args: []string{"--insecure", "--cluster-gossip-port", "2112"}},
	{name: "removed-name", args: []string{"--insecure", "--prepare-count", "2"}},
	{name: "conflict-old-new-yaml", args: []string{"--insecure"}, files: files{conf: "HttpPort: 2113\nNodePort: 2114\n"}},
	{name: "conflict-old-new-env", args: []string{"--insecure"}, env: []string{"EVENTSTORE_EXT_IP=10.0.0.1", "EVENTSTORE_NODE_IP=10.0.0.2"}},
	{name: "conflict-two-old-names-cli", args: []string{"--insecure", "--http-port", "1", "--ext-http-port=2"}},
	{name: "conflict-same-flag-twice", args: []string{"--insecure", "--node-port", "1", "--node-port", "2"}},
	{name: "conflict-secret", env: []string{"EVENTSTORE_CERTIFICATE_PASSWORD=a", "EVENTSTORE_Certificate_Password=b", "EVENTSTORE_INSECURE=true"}},
	{name: "config-file-missing", args: []string{"--config", "/srv/missing.conf", "--insecure"}},
	{name: "config-file-not-yaml", args: []string{"--insecure"}, files: files{conf: "NodePort: [1\n"}},
	{name: "config-file-not-a-mapping", args: []string{"--insecure"}, files: files{conf: "- NodePort\n"}},
	{name: "config-in-config-file", args: []string{"--insecure"}, files: files{conf: "Config: /other.conf\n"}},
	{name: "yaml-list-for-single-value", args: []string{"--insecure"}, files: files{conf: "NodePort: [2113, 2114]\n"}},
	{name: "yaml-section-for-value", args: []string{"--insecure"}, files: files{conf: "NodePort:\n  Value: 2113\n"}},
	{name: "missing-flag-value", args: []string{"--insecure", "--node-ip", "--cluster-size"}},
	{name: "positional-argument", args: []string{"--insecure", "run", "--", "-"}},
	{name: "kestrel-invalid-json", args: []string{"--insecure"}, files: files{kestrel: `{"Kestrel": {"Limits": }`}},
	{name: "kestrel-out-of-range", args: []string{"--insecure"}, files: files{kestrel: "{\n  \"Kestrel\": {\n    \"Limits\": {\n      \"MaxConcurrentConnections\": -5,\n      \"Http2\": {\n        \"InitialConnectionWindowSize\": 1024,\n        \"InitialStreamWindowSize\": 2147483648\n      }\n    }\n  }\n}\n"}},
	{name: "kestrel-unknown-and-foreign", args: []string{"--insecure"}, files: files{kestrel: `{"Kestrel": {"Limits": {"MaxRequestBodySize": 10, "MaxConcurentConnections": 5}}, "NodePort": 2113}`}},
	{name: "kestrel-not-an-object", args: []string{"--insecure"}, files: files{kestrel: `[1, 2]`}},
	{name: "unprefixed-variables", args: []string{"--insecure"}, env: []string{"KEEP_ALIVE_INTERVAL=5000", "ENABLE_ATOM_PUB_OVER_HTTP=true", "LOG=x", "PATH=/bin"}},
	{name: "kubernetes-service-links", args: []string{"--insecure"}, env: []string{"EVENTSTORE_SERVICE_HOST=10.96.0.5", "EVENTSTORE_SERVICE_PORT=2113", "EVENTSTORE_SERVICE_PORT_HTTP=2113", "EVENTSTORE_PORT=tcp://10.96.0.5:2113", "EVENTSTORE_PORT_2113_TCP_ADDR=10.96.0.5", "KURRENTDB_NODES_SERVICE_HOST=10.96.0.6"}},
	{name: "insecure-loopback", args: []string{"--insecure"}},
	{name: "secure-first-non-loopback", args: []string{"--certificate-file", "/etc/annal/node.crt"}},
	{name: "cluster-on-loopback", args: []string{"--insecure", "--cluster-size", "3"}},
	{name: "many-problems-at-once", args: []string{"--node-port", "-1", "--cluster-size=0", "--node-prot", "1", "--int-http-port", "2112"},
		env:   []string{"EVENTSTORE_GOSSIP_INTERVAL_MS=fast", "KURRENTDB_INSECURE=maybe"},
		files: files{conf: "ExtIp: 300.1.1.1\nRunProjections: All\n", kestrel: `{"Kestrel": {"Limits": {"Http2": {"InitialStreamWindowSize": 1}}}}`}},
	{name: "start-no-certificate"},
	{name: "start-external-tcp", args: []string{"--insecure"}, files: files{conf: "TcpPlugin:\n  EnableExternalTcp: true\n  NodeTcpPort: 1113\n"}},
}

// render is everything a node would print about a configuration: errors,
// warnings, notices, and what keeps it from starting.
func render(c *Config, err error) string {
	var b strings.Builder
	b.WriteString("== errors\n")
	if err != nil {
		for _, p := range err.(Problems) {
			b.WriteString(p + "\n")
		}
	}
	b.WriteString("== notes\n")
	b.WriteString(notesText(c))
	b.WriteString("== start\n")
	if err := CheckNodeStart(c); err != nil {
		for _, p := range err.(Problems) {
			b.WriteString(p + "\n")
		}
	}
	return b.String()
}

// Every message the loader can give, pinned word for word. Regenerate with
// go test ./realnet/config/ -run Golden -update, and read the diff.
func TestGoldenMessages(t *testing.T) {
	seen := map[string]bool{}
	for _, gc := range goldenCases {
		if seen[gc.name] {
			t.Fatalf("two golden cases named %s", gc.name)
		}
		seen[gc.name] = true
		t.Run(gc.name, func(t *testing.T) {
			c, err := load(gc.args, gc.env, gc.files)
			got := render(c, err)
			path := filepath.Join("testdata", "golden", gc.name+".txt")
			if *update {
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
	// No stale golden files: each one belongs to a case.
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

// Every value error names the value's source: the golden cases are
// checked line by line.
func TestGoldenValueErrorsNameTheirSource(t *testing.T) {
	valueError := regexp.MustCompile(`^[A-Za-z]+: ".*" `)
	n := 0
	for _, gc := range goldenCases {
		_, err := load(gc.args, gc.env, gc.files)
		if err == nil {
			continue
		}
		for _, p := range err.(Problems) {
			if valueError.MatchString(p) {
				n++
				if !strings.Contains(p, " (from ") {
					t.Errorf("%s: %q does not say where the value came from", gc.name, p)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d value errors among the golden cases", n)
	}
}
