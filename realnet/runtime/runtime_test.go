package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/netstack"
	"github.com/annal-db/annal/realnet/tlsconfig"
)

func leads(n *testNode) func() bool {
	return func() bool { return n.rt.Status().State == member.Leader }
}

// A run ended by its context (SIGTERM in the command) leaves a directory
// the next runtime opens as it was left: the epoch the node wrote is read
// back from its log. A database written by another format version is
// refused, and the reason reaches the caller whole.
func TestCancelledRunReopensAndAnotherFormatVersionIsRefused(t *testing.T) {
	dir := t.TempDir()

	// The first run ends as the command ends on SIGTERM: its context is
	// cancelled (here, once the node leads).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	firstRec := &recorder{}
	var firstLog syncBuffer
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, Config{Options: nodeOptions(t, dir, nil), Name: "n1", Log: &firstLog, Settings: settings(),
			Observer: observerFunc(func(e env.Event) {
				firstRec.Observe(e)
				if sc, ok := e.(node.StateChanged); ok && sc.State == member.Leader {
					cancel()
				}
			})})
	}()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run after its context ended: %v\nlog:\n%s", err, firstLog.String())
		}
	case <-time.After(guard):
		t.Fatalf("Run did not return within %v of leading and being cancelled:\n%s", guard, firstLog.String())
	}
	epoch := int32(-1)
	for _, e := range firstRec.all() {
		if sc, ok := e.ev.(node.StateChanged); ok && sc.State == member.Leader {
			epoch = sc.Epoch
		}
	}
	if epoch < 0 {
		t.Fatalf("the first run never led in an epoch:\n%s", firstLog.String())
	}
	if log := firstLog.String(); !strings.HasSuffix(log, "INF n1 stopped\n") {
		t.Errorf("the log does not end with a clean stop:\n%s", log)
	}
	if !hasState(firstRec.all(), member.Shutdown) {
		t.Errorf("the node never reported Shutdown; events: %v", firstRec.all())
	}

	second := start(t, "n1", nodeOptions(t, dir, nil))
	waitUntil(t, "the reopened node to lead", leads(second))
	// Its first state change happens after it scanned its log, before any
	// election: the epoch it reports there is the one read from disk.
	var firstChange node.StateChanged
	for _, e := range second.rec.all() {
		if sc, ok := e.ev.(node.StateChanged); ok {
			firstChange = sc
			break
		}
	}
	if firstChange.Epoch != epoch {
		t.Errorf("the reopened node starts at epoch %d; the first run wrote epoch %d", firstChange.Epoch, epoch)
	}
	if got := second.rt.Status().Epoch; got <= epoch {
		t.Errorf("the reopened node leads in epoch %d, not after the first run's %d", got, epoch)
	}
	if err := second.rt.Stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// Another build's format version in the first segment's header.
	other := uint16(eventlog.FormatVersion + 1)
	seg := filepath.Join(dir, "log", "segment-000000")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("the log's first segment: %v", err)
	}
	if _, err := f.WriteAt(binary.LittleEndian.AppendUint16(nil, other), 4); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	var log syncBuffer
	rt, err := Start(Config{Options: nodeOptions(t, dir, nil), Name: "n1", Log: &log, Settings: settings()})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	waitUntil(t, "the node to give up", func() bool {
		select {
		case <-rt.Exited():
			return true
		default:
			return false
		}
	})
	err = rt.Stop()
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Stop after the node gave up = %v, want an *ExitError\nlog:\n%s", err, log.String())
	}
	msg := err.Error()
	for _, want := range []string{
		"exit code 1",
		fmt.Sprintf("database written by format version %d", other),
		fmt.Sprintf("this build reads version %d", eventlog.FormatVersion),
		"segment-000000",
		dir,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	if exit.Code != 1 {
		t.Errorf("exit code %d, want 1", exit.Code)
	}
	if !strings.Contains(log.String(), "ERR n1 fatal: cannot open the log") {
		t.Errorf("the log does not carry the fatal error:\n%s", log.String())
	}
}

type observerFunc func(env.Event)

func (f observerFunc) Observe(e env.Event) { f(e) }

func hasState(evs []stamped, s member.State) bool {
	for _, e := range evs {
		if sc, ok := e.ev.(node.StateChanged); ok && sc.State == s {
			return true
		}
	}
	return false
}

// A second runtime on a directory in use is refused with the directory
// and the holder's pid, and takes nothing: once the first stops, it starts.
func TestLockedDirectoryRefusesASecondRuntime(t *testing.T) {
	dir := t.TempDir()
	first := start(t, "a", nodeOptions(t, dir, nil))

	rt, err := Start(Config{Options: nodeOptions(t, dir, nil), Log: io.Discard})
	if err == nil {
		_ = rt.Stop()
		t.Fatal("a second runtime started on a directory in use")
	}
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("error %v (%T), want a *LockedError", err, err)
	}
	if locked.Dir != first.rt.Dir() || locked.PID != os.Getpid() {
		t.Errorf("LockedError names %s, pid %d; want %s, pid %d", locked.Dir, locked.PID, first.rt.Dir(), os.Getpid())
	}
	for _, want := range []string{dir, "pid " + strconv.Itoa(os.Getpid()), "in use by another annal process"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message lacks %q: %s", want, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, lockFileName)); parsePID(b) != os.Getpid() {
		t.Errorf("the lock file holds %q, want our pid %d", b, os.Getpid())
	}

	if err := first.rt.Stop(); err != nil {
		t.Fatal(err)
	}
	second := start(t, "b", nodeOptions(t, dir, nil))
	if err := second.rt.Stop(); err != nil {
		t.Fatalf("the directory was not released: %v", err)
	}
}

// A port in use stops Start with the port and the option to change, and
// releases what Start had taken (the directory's lock).
func TestPortInUseIsAStartError(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port

	rt, err := Start(Config{Options: nodeOptions(t, dir, map[*options.Option]string{options.NodePort: strconv.Itoa(port)}), Log: io.Discard})
	if err == nil {
		_ = rt.Stop()
		t.Fatalf("Start succeeded on a node port in use")
	}
	var bind *BindError
	if !errors.Is(err, env.ErrAddrInUse) || !errors.As(err, &bind) || bind.PortOption != options.NodePort {
		t.Errorf("error %v (%T) is not a BindError of NodePort matching env.ErrAddrInUse", err, err)
	}
	for _, want := range []string{fmt.Sprintf("node port 127.0.0.1:%d", port), "--node-port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message lacks %q: %v", want, err)
		}
	}
	n := start(t, "after", nodeOptions(t, dir, nil))
	if err := n.rt.Stop(); err != nil {
		t.Fatal(err)
	}
}

// A node port and a replication port given the same number collide with
// each other, not with another process: the error says so, and names
// both options.
func TestNodePortOnItsOwnReplicationPortIsExplained(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	_ = free.Close()

	rt, err := Start(Config{Options: nodeOptions(t, t.TempDir(), map[*options.Option]string{
		options.NodePort: port, options.ReplicationPort: port}), Log: io.Discard})
	if err == nil {
		_ = rt.Stop()
		t.Fatalf("Start succeeded with NodePort and ReplicationPort both %s", port)
	}
	var bind *BindError
	if !errors.Is(err, env.ErrAddrInUse) || !errors.As(err, &bind) {
		t.Fatalf("error %v (%T) is not a BindError matching env.ErrAddrInUse", err, err)
	}
	if strings.Contains(err.Error(), "another process") {
		t.Errorf("the message blames another process for the node's own replication port: %v", err)
	}
	for _, want := range []string{"own ReplicationPort", "give NodePort and ReplicationPort different values"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message lacks %q: %v", want, err)
		}
	}
}

// A port the process may not bind (below 1024 without the capability, or
// forbidden by SELinux) is a permission problem, not a missing address.
func TestPrivilegedPortIsExplained(t *testing.T) {
	var err error
	if os.Geteuid() != 0 {
		rt, serr := Start(Config{Options: nodeOptions(t, t.TempDir(), map[*options.Option]string{options.NodePort: "1"}), Log: io.Discard})
		if serr == nil {
			_ = rt.Stop()
			t.Skip("this process may bind port 1")
		}
		err = serr
	} else {
		// Root binds any port: the error netstack returns for EACCES.
		err = &BindError{Port: "node port", Endpoint: env.Endpoint{Host: "0.0.0.0", Port: 443},
			IPOption: options.NodeIp, PortOption: options.NodePort,
			Err: &netstack.NetError{Op: "listen", Local: "0.0.0.0:443", Err: env.ErrAddrNotAvailable,
				Cause: &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EACCES)}}}
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("error %v does not match EACCES", err)
	}
	if strings.Contains(err.Error(), "has no address") {
		t.Errorf("the message blames the address for a permission problem: %v", err)
	}
	for _, want := range []string{"permission denied", "CAP_NET_BIND_SERVICE", "--node-port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message lacks %q: %v", want, err)
		}
	}
}

// MemDb keeps the database in a temporary directory that goes at stop.
func TestMemDbDirectoryIsDeletedAtStop(t *testing.T) {
	n := start(t, "mem", nodeOptions(t, t.TempDir(), map[*options.Option]string{options.MemDb: "true"}))
	dir := n.rt.Dir()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("MemDb directory %s: %v", dir, err)
	}
	waitUntil(t, "the node to lead", leads(n))
	if err := n.rt.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MemDb directory %s still exists after stop (%v)", dir, err)
	}
	if !strings.Contains(n.log.String(), "deleted when the node stops") {
		t.Errorf("the log does not say the database is temporary:\n%s", n.log.String())
	}
}

// A secure node whose certificates cannot be used is refused, with every
// problem named, before anything is created.
func TestSecureNodeWithoutUsableCertificatesIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := Start(Config{Options: nodeOptions(t, dir, map[*options.Option]string{
		options.Insecure:                    "false",
		options.CertificateFile:             missing + "/node.crt",
		options.CertificatePrivateKeyFile:   missing + "/node.key",
		options.TrustedRootCertificatesPath: missing + "/ca",
	}), Log: io.Discard})
	var p tlsconfig.Problems
	if !errors.As(err, &p) || len(p) != 3 || !strings.Contains(err.Error(), "CertificateFile "+missing+"/node.crt does not exist") {
		t.Fatalf("error %v, want the three missing files named", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused node created %s", dir)
	}
}

// Log lines are "time level node message", whole even when written from
// many goroutines, and below the configured level they are dropped.
func TestLogLines(t *testing.T) {
	var out bytes.Buffer // only the logger's lock guards it: -race checks that lock
	l := &lineLogger{w: &out, name: "n2", min: env.LevelInfo}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				l.Log(env.LevelInfo, fmt.Sprintf("goroutine %d line %d", g, i))
				l.Log(env.LevelDebug, "hidden")
			}
		}()
	}
	wg.Wait()
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INF n2 goroutine \d line \d+$`)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400 (debug lines dropped)", len(lines))
	}
	for _, s := range lines {
		if !line.MatchString(s) {
			t.Fatalf("malformed line %q", s)
		}
	}
}

func TestLevelFromOptions(t *testing.T) {
	for in, want := range map[string]env.Level{
		"Default": env.LevelInfo, "Information": env.LevelInfo, "Verbose": env.LevelDebug, "Debug": env.LevelDebug,
		"Warning": env.LevelWarn, "Error": env.LevelError, "Fatal": env.LevelError,
	} {
		v := options.Defaults()
		if err := v.Set(options.LogLevel, in, options.SourceCommandLine); err != nil {
			t.Fatal(err)
		}
		if got := levelOf(v); got != want {
			t.Errorf("LogLevel %s gives %v, want %v", in, got, want)
		}
	}
}

// Only a replication listener on the node port's own address (or on every
// address) makes the node's bind fail by itself.
func TestOwnPortsOverlap(t *testing.T) {
	ep := func(h string, p uint16) env.Endpoint { return env.Endpoint{Host: h, Port: p} }
	for _, c := range []struct {
		node, repl env.Endpoint
		want       bool
	}{
		{ep("127.0.0.1", 2113), ep("127.0.0.1", 2113), true},
		{ep("127.0.0.1", 2113), ep("0.0.0.0", 2113), true},
		{ep("0.0.0.0", 2113), ep("127.0.0.2", 2113), true},
		{ep("::", 2113), ep("::1", 2113), true},
		{ep("127.0.0.1", 2113), ep("127.0.0.2", 2113), false},
		{ep("127.0.0.1", 2113), ep("127.0.0.1", 1112), false},
		{ep("127.0.0.1", 0), ep("127.0.0.1", 0), false},
	} {
		if got := overlaps(c.node, c.repl); got != c.want {
			t.Errorf("overlaps(%v, %v) = %v, want %v", c.node, c.repl, got, c.want)
		}
	}
}
