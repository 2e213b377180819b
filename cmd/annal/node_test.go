package main

import (
	"bytes"
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"github.com/annal-db/annal/realnet/config"
)

// nodeInputs starts a node with args and env on a host whose only files
// are the given ones and whose one LAN address is 10.1.2.3.
func nodeInputs(args, env []string, files map[string]string) config.Inputs {
	return config.Inputs{
		Args:    args,
		Environ: env,
		ReadFile: func(path string) ([]byte, error) {
			if s, ok := files[path]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		},
		InterfaceAddrs: func() ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3")}, nil
		},
	}
}

func TestNodeCommand(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		env       []string
		files     map[string]string
		exit      error // nil: status 0
		stdout    []string
		stderr    []string
		notStderr []string
	}{
		{
			name: "valid insecure node: not available yet", args: []string{"--insecure"},
			exit:   exitCode(2),
			stderr: []string{"notice: NodeIp is not set", "running a production node is not available in this build yet", "annal sim run"},
		},
		{
			name: "secure node without certificate", args: []string{"--node-ip", "10.1.2.3"},
			exit:   exitCode(1),
			stderr: []string{"annal: the node cannot start: no certificate is configured", "--insecure"},
		},
		{
			name: "both start-up problems", args: []string{"--enable-external-tcp"},
			exit:   exitCode(1),
			stderr: []string{"annal: the node cannot start:\n  - no certificate", "\n  - EnableExternalTcp is true (from command line --enable-external-tcp)"},
		},
		{
			name: "configuration errors are all listed", args: []string{"--node-port", "70000", "--node-prot", "1"},
			env:    []string{"EVENTSTORE_CLUSTER_SIZE=0"},
			files:  map[string]string{"/etc/eventstore/eventstore.conf": "ExtIp: 10.0.0.1\n"},
			exit:   exitCode(1),
			stderr: []string{"annal: the configuration has 3 problems:", `NodePort: "70000" (from command line --node-port) is out of range: allowed 0..65535`, `unknown option "--node-prot"`, `ClusterSize: "0" (from environment EVENTSTORE_CLUSTER_SIZE)`, "warning: ExtIp (3.x-24.x) is deprecated"},
		},
		{
			name: "what-if prints and exits 0", args: []string{"--what-if", "--insecure"},
			env:       []string{"EVENTSTORE_DEFAULT_ADMIN_PASSWORD=topsecret", "KURRENTDB_NODE_PORT=3113"},
			stdout:    []string{"Effective configuration", "NodePort", "3113", "environment KURRENTDB_NODE_PORT", "A node could start"},
			stderr:    []string{"notice: NodeIp is not set"},
			notStderr: []string{"not available"},
		},
		{
			name: "what-if of a node that would not start", args: []string{"--what-if"},
			stdout: []string{"A node would not start with this configuration:", "no certificate"},
		},
		{
			name: "what-if with errors fails", args: []string{"--what-if", "--node-port", "x"},
			exit:   exitCode(1),
			stderr: []string{`NodePort: "x" (from command line --node-port) is not a whole number`},
		},
		{
			name: "help despite errors", args: []string{"--node-port", "x", "--help"},
			stdout: []string{"Usage: annal [options]", "\nInterface\n", "--node-port <port>", "EVENTSTORE_NODE_PORT", "yaml NodePort", "default 2113"},
		},
		{
			name: "help from the environment", env: []string{"EVENTSTORE_HELP=true"},
			stdout: []string{"Usage: annal [options]"},
		},
		{
			name: "version", args: []string{"--version"},
			stdout: []string{"annal " + version + " (go"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runNode(nodeInputs(tc.args, tc.env, tc.files), &stdout, &stderr)
			if err != tc.exit {
				t.Errorf("runNode = %v, want %v\nstderr:\n%s", err, tc.exit, stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			for _, unwanted := range tc.notStderr {
				if strings.Contains(stderr.String(), unwanted) {
					t.Errorf("stderr has %q:\n%s", unwanted, stderr.String())
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), "topsecret") {
				t.Error("a secret was printed")
			}
		})
	}
}

// `annal` with an option as its first argument goes to the node command;
// subcommands and the overview are unchanged.
func TestRunRoutesOptionsToTheNode(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "annal ") {
		t.Errorf("annal --version: status %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"--help=true"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--replication-heartbeat-timeout <ms>") {
		t.Errorf("annal --help=true: status %d, stdout %.200q", code, stdout.String())
	}
	stderr.Reset()
	if code := run(nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "annal [options]") {
		t.Errorf("annal: status %d, usage %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"node"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "node"`) {
		t.Errorf("annal node: status %d, %q", code, stderr.String())
	}
}
