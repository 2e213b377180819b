package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/config"
	noderuntime "github.com/annal-db/annal/realnet/runtime"
)

// guard bounds every wait: a hang detector, never a speed assertion.
const guard = 30 * time.Second

// mustNotRun stands in for the signal context where no node may start.
func mustNotRun(t *testing.T) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		t.Fatal("a node was started")
		return nil, nil
	}
}

// watchWriter collects output and notes when it first contains match.
type watchWriter struct {
	mu      sync.Mutex
	b       bytes.Buffer
	match   string
	once    sync.Once
	matched chan struct{}
}

func newWatchWriter(match string) *watchWriter {
	return &watchWriter{match: match, matched: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if strings.Contains(w.b.String(), w.match) {
		w.once.Do(func() { close(w.matched) })
	}
	return n, err
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// interruptWhenSeen is the signal context of a node whose operator presses
// Ctrl-C once w shows its match (or, failing that, after guard).
func interruptWhenSeen(w *watchWriter) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		go func() {
			select {
			case <-w.matched:
				cancel()
			case <-ctx.Done():
			}
		}()
		return ctx, cancel
	}
}

// `annal --insecure` runs a node until interrupted, then stops it cleanly
// (exit 0); the directory it leaves opens again. A database of another
// format version makes the node stop, and the command exit 1, with the
// reason on stderr.
func TestNodeRunsUntilInterrupted(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--insecure", "--db", dir, "--node-port", "0", "--replication-port", "0"}

	stderr := newWatchWriter(" role Leader ")
	var stdout bytes.Buffer
	if err := runNode(nodeInputs(args, nil, nil), &stdout, stderr, interruptWhenSeen(stderr)); err != nil {
		t.Fatalf("annal %v = %v, want a clean exit\nstderr:\n%s", args, err, stderr.String())
	}
	select {
	case <-stderr.matched:
	default:
		t.Fatalf("the node never led within %v:\n%s", guard, stderr.String())
	}
	if !strings.HasSuffix(stderr.String(), " stopped\n") {
		t.Errorf("stderr does not end with a clean stop:\n%s", stderr.String())
	}

	seg := filepath.Join(dir, "log", "segment-000000")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("the node left no log segment: %v", err)
	}
	other := uint16(eventlog.FormatVersion + 1)
	if _, err := f.WriteAt(binary.LittleEndian.AppendUint16(nil, other), 4); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	stderr = newWatchWriter("never printed")
	err = runNode(nodeInputs(args, nil, nil), &stdout, stderr, interruptWhenSeen(stderr))
	if err != exitCode(1) {
		t.Fatalf("annal on a database of format version %d = %v, want exit status 1\nstderr:\n%s", other, err, stderr.String())
	}
	last := stderr.String()[strings.LastIndex(strings.TrimSuffix(stderr.String(), "\n"), "\n")+1:]
	for _, want := range []string{
		"annal: node 127.0.0.1:", "stopped with exit code 1: cannot open the log",
		fmt.Sprintf("database written by format version %d; this build reads version %d", other, eventlog.FormatVersion),
		dir,
	} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line of stderr lacks %q:\n%s", want, last)
		}
	}
}

// A directory in use by another node is refused with its holder's pid.
func TestNodeRefusesADirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	v := options.Defaults()
	for o, s := range map[*options.Option]string{options.Insecure: "true", options.Db: dir, options.NodePort: "0", options.ReplicationPort: "0"} {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatal(err)
		}
	}
	holder, err := noderuntime.Start(noderuntime.Config{Options: v, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := holder.Stop(); err != nil {
			t.Error(err)
		}
	}()
	var stdout, stderr bytes.Buffer
	args := []string{"--insecure", "--db", dir, "--node-port", "0", "--replication-port", "0"}
	err = runNode(nodeInputs(args, nil, nil), &stdout, &stderr, func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), guard)
	})
	want := "annal: the node cannot start: database directory " + dir + " is in use by another annal process (pid " + strconv.Itoa(os.Getpid()) + ")"
	if err != exitCode(1) || !strings.Contains(stderr.String(), want) {
		t.Errorf("annal on a directory in use = %v, stderr:\n%s\nwant status 1 and %q", err, stderr.String(), want)
	}
}

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
			name: "secure node whose certificate files are missing",
			args: []string{"--node-ip", "10.1.2.3", "--certificate-file", "/nonexistent/annal/node.crt", "--certificate-private-key-file", "/nonexistent/annal/node.key",
				"--trusted-root-certificates-path", "/nonexistent/annal/ca"},
			exit: exitCode(1),
			stderr: []string{"annal: the node cannot start: the certificates have 3 problems:",
				"CertificateFile /nonexistent/annal/node.crt does not exist", "CertificatePrivateKeyFile /nonexistent/annal/node.key does not exist",
				"TrustedRootCertificatesPath /nonexistent/annal/ca does not exist"},
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
			name: "what-if prints and exits 0", args: []string{"--what-if", "--certificate-file", "/etc/annal/node.p12"},
			env:       []string{"EVENTSTORE_DEFAULT_ADMIN_PASSWORD=topsecret", "KURRENTDB_NODE_PORT=3113"},
			stdout:    []string{"Effective configuration", "NodePort", "3113", "environment KURRENTDB_NODE_PORT", "A node could start"},
			stderr:    []string{"notice: NodeIp is not set"},
			notStderr: []string{"starting:"},
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
			err := runNode(nodeInputs(tc.args, tc.env, tc.files), &stdout, &stderr, mustNotRun(t))
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
	noOutsideConfig(t)
	if code := run(nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "annal [options]") {
		t.Errorf("annal: status %d, usage %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"node"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "node"`) {
		t.Errorf("annal node: status %d, %q", code, stderr.String())
	}
}

// A node configured by its environment alone (a container) starts with no
// arguments; without any configuration, the usage is printed.
func TestANodeConfiguredByItsEnvironmentNeedsNoArguments(t *testing.T) {
	t.Setenv("EVENTSTORE_INSECURE", "true")
	t.Setenv("KURRENTDB_WHAT_IF", "true")
	var stdout, stderr bytes.Buffer
	if code := run(nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Insecure") {
		t.Errorf("status %d, stdout %.100q, stderr %.200q; want the effective configuration", code, stdout.String(), stderr.String())
	}
	env := func(vars ...string) config.Inputs { return nodeInputs(nil, vars, nil) }
	if !configuredElsewhere(env("kurrentdb_cluster_size=3")) {
		t.Error("a lower-case KURRENTDB_ variable was not seen")
	}
	if !configuredElsewhere(env("EVENTSTORE_INT_IP=10.0.0.1")) {
		t.Error("an option's old name was not seen")
	}
	// A service link or a client's setting is not a node's configuration.
	if configuredElsewhere(env("EVENTSTORE_PORT=tcp://10.0.0.9:2113", "EVENTSTORE_CONNECTION_STRING=esdb://x:2113")) {
		t.Error("variables that name no option counted as configuring a node")
	}
	if configuredElsewhere(env("HOME=/root", "EVENTSTORE=1")) {
		t.Error("configured without any option set")
	}
	if !configuredElsewhere(nodeInputs(nil, nil, map[string]string{options.Config.Default: "Insecure: true\n"})) {
		t.Error("the default config file was not seen")
	}
}

// A container configured only by variables whose values are refused, or a
// service whose default config file cannot be read, is told what is wrong
// (exit 1), not shown the usage as if nothing were configured.
func TestAnOutsideConfigurationWithErrorsIsReportedNotIgnored(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   config.Inputs
	}{
		{"a refused value", nodeInputs(nil, []string{"EVENTSTORE_INSECURE=yes"}, nil)},
		{"a retired name", nodeInputs(nil, []string{"KURRENTDB_INT_HTTP_PORT=2112"}, nil)},
		{"an unreadable default config file", config.Inputs{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrPermission }}},
	} {
		if !configuredElsewhere(tc.in) {
			t.Errorf("%s: not seen as a configuration, so annal would print its usage instead of the problem", tc.name)
		}
	}

	t.Setenv("EVENTSTORE_INSECURE", "yes")
	old := outside
	outside = func() config.Inputs { return nodeInputs(nil, []string{"EVENTSTORE_INSECURE=yes"}, nil) }
	t.Cleanup(func() { outside = old })
	var stdout, stderr bytes.Buffer
	code := run(nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `Insecure: "yes" (from environment EVENTSTORE_INSECURE) is not a boolean`) {
		t.Errorf("EVENTSTORE_INSECURE=yes annal: status %d, stderr %.300q; want status 1 and the refused value named", code, stderr.String())
	}
}

// noOutsideConfig makes run see no environment and no default config
// file, whatever the machine running the test has.
func noOutsideConfig(t *testing.T) {
	t.Helper()
	old := outside
	outside = func() config.Inputs { return nodeInputs(nil, nil, nil) }
	t.Cleanup(func() { outside = old })
}
