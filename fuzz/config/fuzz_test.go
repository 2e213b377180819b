// Package configfuzz fuzzes the node configuration loader: whatever bytes a
// configuration file holds and whatever arguments and environment a node is
// started with, loading must end in a configuration or a list of problems,
// never a panic, and what it loads must be a valid set of values.
package configfuzz

import (
	"bytes"
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	confPath    = "/etc/annal/node.conf"
	kestrelPath = "/etc/annal/kestrelsettings.json"
)

// inputs is a node started with args and env, on a host whose only files
// are the given ones.
func inputs(args, env []string, files map[string][]byte) config.Inputs {
	return config.Inputs{
		Args:    args,
		Environ: env,
		ReadFile: func(path string) ([]byte, error) {
			if b, ok := files[path]; ok {
				return b, nil
			}
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		},
		InterfaceAddrs: func() ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.1")}, nil
		},
	}
}

// check loads and asserts what must hold for any input.
func check(t *testing.T, in config.Inputs) {
	c, err := config.Load(in)
	if c == nil || c.Values == nil {
		t.Fatalf("Load returned no configuration (error %v)", err)
	}
	if err != nil {
		p, ok := err.(config.Problems)
		if !ok || len(p) == 0 {
			t.Fatalf("Load error is %T %v, want a non-empty Problems", err, err)
		}
		for _, s := range p {
			if strings.TrimSpace(s) == "" {
				t.Fatalf("an empty problem among %q", p)
			}
		}
	}
	// Every value loaded is one the schema accepts again as it reads back.
	again := options.Defaults()
	for _, o := range options.All() {
		src := c.Values.Source(o)
		if o.EnvOnly && src != options.SourceDefault {
			src = options.SourceEnvironment
		}
		if serr := again.Set(o, c.Values.String(o), src); serr != nil {
			t.Fatalf("%s holds %q, which the schema refuses: %v", o.Name, c.Values.String(o), serr)
		}
		if c.Values.Display(o) != c.Values.String(o) && !o.Secret {
			t.Fatalf("%s is displayed differently from its value", o.Name)
		}
	}
	for _, n := range c.Notes {
		if n.Text == "" {
			t.Fatal("an empty note")
		}
	}
	var out bytes.Buffer
	if err := config.WriteWhatIf(&out, c); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		for _, o := range options.All() {
			if o.Secret && c.Values.String(o) != "" && strings.HasPrefix(line, "  "+o.Name+" ") && !strings.Contains(line, " "+options.Redacted+" ") {
				t.Fatalf("--what-if does not redact %s: %q", o.Name, line)
			}
		}
	}
	_ = config.CheckNodeStart(c)
}

// FuzzConfigFile feeds arbitrary bytes to the YAML configuration file.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"NodePort: 2113\nInsecure: true\n",
		"TcpPlugin:\n  EnableExternalTcp: true\n  NodeTcpPort: 1113\n",
		"GossipSeed: [node2:2113, '[fd00::3]:2113']\nExtIp: 10.0.0.1\nIntHttpPort: 2112\n",
		"a: &a [*a]\n",
		"Kestrel: {Limits: {MaxConcurrentConnections: ~}}\n",
		"- 1\n- 2\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, inputs([]string{"--config", confPath}, nil, map[string][]byte{confPath: data}))
	})
}

// FuzzKestrelSettings feeds arbitrary bytes to kestrelsettings.json.
func FuzzKestrelSettings(f *testing.F) {
	for _, s := range []string{
		`{"Kestrel": {"Limits": {"MaxConcurrentConnections": null, "Http2": {"InitialStreamWindowSize": 65535}}}}`,
		`{"Kestrel": {"Limits": {"MaxConcurrentUpgradedConnections": [1, {"a": 2}]}}}`,
		`{"NodePort": 1} trailing`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, inputs([]string{"--config", confPath}, nil, map[string][]byte{confPath: nil, kestrelPath: data}))
	})
}

// FuzzCommandLine feeds an arbitrary argument list, NUL-separated.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"--node-port\x002113\x00--insecure",
		"--insecure\x00false\x00--http-port=1\x00--ext-http-port=2",
		"--config\x00" + confPath + "\x00--int-http-port\x002112\x00--gossip-seed\x00a:2112",
		"-h",
		"--node-prot\x00--\x00-\x00x",
		"--allow-unknown-options\x00--bogus\x00--prepare-count=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check(t, inputs(strings.Split(s, "\x00"), nil, map[string][]byte{confPath: []byte("Insecure: true\n")}))
	})
}

// FuzzEnvironment feeds an arbitrary environment, NUL-separated KEY=VALUE.
func FuzzEnvironment(f *testing.F) {
	for _, s := range []string{
		"EVENTSTORE_NODE_PORT=2113\x00KURRENTDB_NODE_PORT=2114",
		"EVENTSTORE_Int_IP=10.0.0.1\x00EVENTSTORE_REPLICATION_IP=10.0.0.2",
		"EVENTSTORE_SERVICE_HOST=1.2.3.4\x00EVENTSTORE_PORT=tcp://1.2.3.4:2113\x00KEEP_ALIVE_INTERVAL=1",
		"EVENTSTORE_CONFIG=" + confPath + "\x00EVENTSTORE_DEFAULT_ADMIN_PASSWORD=x",
		"=\x00EVENTSTORE_\x00KURRENTDB_=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check(t, inputs(nil, strings.Split(s, "\x00"), map[string][]byte{confPath: []byte("ClusterSize: 3\n")}))
	})
}
