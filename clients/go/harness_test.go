package clienttests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	liveTimeout   = 15 * time.Second
	leaderTimeout = 30 * time.Second
	stopGrace     = 3 * time.Second
	logTailLines  = 150
)

// annalBinary is the server under test; without it nothing can run, so
// the message says how to build it.
func annalBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("ANNAL_BIN")
	if bin == "" {
		t.Fatal("ANNAL_BIN is not set: build the server (cd /work/main && go build -o /tmp/annal ./cmd/annal) and run with ANNAL_BIN=/tmp/annal")
	}
	st, err := os.Stat(bin)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("ANNAL_BIN=%s is not an executable file (%v); build it with go build -o %s ./cmd/annal", bin, err, bin)
	}
	return bin
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort asks the kernel for an unused loopback port, never handing out
// the same one twice in this process.
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("no free loopback port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port
		}
	}
	t.Fatal("no free loopback port found after 50 tries")
	return 0
}

// Every started process, so that TestMain can kill what a failing test
// left behind.
var (
	procsMu sync.Mutex
	procs   = map[*annalNode]bool{}
)

func killAllProcesses() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for n := range procs {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
		_ = n.cmd.Process.Kill()
	}
}

// annalNode is one annal process.
type annalNode struct {
	name               string
	nodePort, replPort int
	seeds              []string
	clusterSize        int
	dir, logPath       string
	// certs makes the node secure (TLS, authentication, authorization);
	// nil starts it with --insecure.
	certs *nodeCerts
	// durable keeps the node's database in dataDir, on disk, so that it
	// survives a kill and a restart; otherwise it is in memory.
	durable bool

	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error

	mu     sync.Mutex
	frozen bool
}

func (n *annalNode) endpoint() string { return "127.0.0.1:" + strconv.Itoa(n.nodePort) }

// httpClient talks to the node's HTTP endpoints (health, gossip), over
// TLS trusting the test CA when the node is secure.
func (n *annalNode) httpClient() *http.Client {
	if n.certs == nil {
		return &http.Client{Timeout: time.Second}
	}
	return &http.Client{Timeout: time.Second, Transport: n.certs.transport}
}

func (n *annalNode) url(path string) string {
	scheme := "http"
	if n.certs != nil {
		scheme = "https"
	}
	return scheme + "://" + n.endpoint() + path
}

func (n *annalNode) dataDir() string { return filepath.Join(n.dir, n.name+"-data") }

func (n *annalNode) args() []string {
	a := []string{"--mem-db"}
	if n.durable {
		a = []string{"--db", n.dataDir()}
	}
	if n.certs == nil {
		a = append(a, "--insecure")
	} else {
		a = append(a, "--certificate-file", n.certs.certFile, "--certificate-private-key-file", n.certs.keyFile,
			"--trusted-root-certificates-path", n.certs.caDir)
	}
	a = append(a,
		"--node-ip", "127.0.0.1", "--replication-ip", "127.0.0.1",
		"--node-port", strconv.Itoa(n.nodePort), "--replication-port", strconv.Itoa(n.replPort),
	)
	if n.clusterSize > 1 {
		a = append(a, "--cluster-size", strconv.Itoa(n.clusterSize), "--discover-via-dns", "false",
			"--gossip-seed", strings.Join(n.seeds, ","))
	}
	return a
}

func (n *annalNode) start(t testing.TB) {
	t.Helper()
	bin := annalBinary(t)
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("node log %s: %v", n.logPath, err)
	}
	fmt.Fprintf(f, "# %s %s\n", bin, strings.Join(n.args(), " "))
	cmd := exec.Command(bin, n.args()...)
	cmd.Stdout, cmd.Stderr = f, f
	// The in-memory database lives in a temporary directory; TMPDIR puts
	// it in ours, so even a killed node leaves nothing behind.
	cmd.Env = append(os.Environ(), "TMPDIR="+n.dir)
	// A test binary that dies takes its nodes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	n.cmd = cmd
	n.done = make(chan struct{})
	procsMu.Lock()
	procs[n] = true
	procsMu.Unlock()
	go func() {
		n.exitErr = cmd.Wait()
		_ = f.Close()
		procsMu.Lock()
		delete(procs, n)
		procsMu.Unlock()
		close(n.done)
	}()
}

func (n *annalNode) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func (n *annalNode) isFrozen() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.frozen
}

func (n *annalNode) waitLive(t testing.TB) {
	t.Helper()
	hc := n.httpClient()
	url := n.url("/health/live")
	deadline := time.Now().Add(liveTimeout)
	for time.Now().Before(deadline) {
		if !n.running() {
			t.Fatalf("%s exited (%v) before answering %s:\n%s", n.name, n.exitErr, url, n.logTail(40))
		}
		resp, err := hc.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer GET %s with 204 within %v", n.name, url, liveTimeout)
}

func (n *annalNode) log() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

func (n *annalNode) logTail(lines int) string {
	all := strings.Split(n.log(), "\n")
	if len(all) > lines+1 {
		all = all[len(all)-lines-1:]
	}
	return strings.Join(all, "\n")
}

var stateLine = regexp.MustCompile(` state (\w+) \(epoch`)

// lastState is the node's latest VNode state as its log reports it.
func (n *annalNode) lastState() string {
	m := stateLine.FindAllStringSubmatch(n.log(), -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

func (n *annalNode) freeze(t testing.TB) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", n.name, err)
	}
	n.mu.Lock()
	n.frozen = true
	n.mu.Unlock()
}

func (n *annalNode) thaw(t testing.TB) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT %s: %v", n.name, err)
	}
	n.mu.Lock()
	n.frozen = false
	n.mu.Unlock()
}

func (n *annalNode) kill() error {
	if !n.running() {
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGCONT)
	_ = n.cmd.Process.Kill()
	n.mu.Lock()
	n.frozen = false
	n.mu.Unlock()
	select {
	case <-n.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit within 10 s of SIGKILL", n.name, n.cmd.Process.Pid)
	}
}

func (n *annalNode) stop() error {
	if !n.running() {
		return nil
	}
	if n.isFrozen() {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		return nil
	case <-time.After(stopGrace):
		return n.kill()
	}
}

// group is a set of annal nodes sharing one temporary directory.
type group struct {
	dir   string
	nodes []*annalNode
	// ca is the test CA of a secure group, nil for an insecure one.
	ca *testCA
}

func (g *group) endpoints() []string {
	var eps []string
	for _, n := range g.nodes {
		eps = append(eps, n.endpoint())
	}
	return eps
}

// connString is the client connection string: the node for one node,
// gossip seeds for a cluster.
func (g *group) connString(query ...string) string {
	q := append([]string{"tls=false"}, query...)
	return "esdb://" + strings.Join(g.endpoints(), ",") + "?" + strings.Join(q, "&")
}

// secureConnString is the connection string of a secure group: userinfo
// ("admin:changeit", or "" for none) and TLS trusting the group's CA.
func (g *group) secureConnString(userinfo string, query ...string) string {
	if userinfo != "" {
		userinfo += "@"
	}
	q := append([]string{"tls=true", "tlsCAFile=" + g.ca.certFile}, query...)
	return "esdb://" + userinfo + strings.Join(g.endpoints(), ",") + "?" + strings.Join(q, "&")
}

// leader waits until exactly one running, unfrozen node outside exclude
// reports Leader in its log, with at least minFollowers Followers beside
// it, and every one of them agrees in its gossip (GET /gossip): one alive
// Leader at that node's endpoint, and the Followers too. Gossip lags the
// logs by up to a round, and clients pick their node from gossip, so a test
// goes on only once both agree.
func (g *group) leader(t testing.TB, minFollowers int, exclude ...*annalNode) *annalNode {
	t.Helper()
	deadline := time.Now().Add(leaderTimeout)
	last := ""
	for time.Now().Before(deadline) {
		l, why, err := g.agreedLeader(minFollowers, exclude)
		if err != nil {
			t.Fatal(err)
		}
		if l != nil {
			return l
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no single leader with %d followers within %v (last seen: %s):\n%s", minFollowers, leaderTimeout, last, g.describe())
	return nil
}

// agreedLeader is the leader when logs and gossip agree on one, else why
// not; the error is for a node without the gossip endpoint, which waiting
// will not fix.
func (g *group) agreedLeader(minFollowers int, exclude []*annalNode) (*annalNode, string, error) {
	var candidates, leaders []*annalNode
	followers := 0
	var states []string
	for _, n := range g.nodes {
		if !n.running() || n.isFrozen() || contains(exclude, n) {
			continue
		}
		candidates = append(candidates, n)
		st := n.lastState()
		states = append(states, n.name+" "+st)
		switch st {
		case "Leader":
			leaders = append(leaders, n)
		case "Follower":
			followers++
		}
	}
	if len(leaders) != 1 || followers < minFollowers {
		return nil, "logs: " + strings.Join(states, ", "), nil
	}
	for _, n := range candidates {
		view, err := gossipView(n)
		if errors.Is(err, errNoGossip) {
			return nil, "", err
		}
		if err != nil {
			return nil, err.Error(), nil
		}
		var seen []string
		viewLeaders, viewFollowers := 0, 0
		leaderHere := false
		for _, m := range view {
			seen = append(seen, fmt.Sprintf("%d %s alive=%v", m.HTTPEndPointPort, m.State, m.IsAlive))
			if !m.IsAlive {
				continue
			}
			switch m.State {
			case "Leader":
				viewLeaders++
				leaderHere = m.HTTPEndPointPort == leaders[0].nodePort
			case "Follower":
				viewFollowers++
			}
		}
		if viewLeaders != 1 || !leaderHere || viewFollowers < minFollowers {
			return nil, "gossip of " + n.name + ": " + strings.Join(seen, ", "), nil
		}
	}
	return leaders[0], "", nil
}

var errNoGossip = errors.New("HTTP 404: the node has no gossip endpoint, which the harness needs to know the leader")

type gossipMember struct {
	State            string `json:"state"`
	IsAlive          bool   `json:"isAlive"`
	HTTPEndPointPort int    `json:"httpEndPointPort"`
}

// gossipView is the cluster as a node's GET /gossip shows it.
func gossipView(n *annalNode) ([]gossipMember, error) {
	hc := n.httpClient()
	resp, err := hc.Get(n.url("/gossip"))
	if err != nil {
		return nil, fmt.Errorf("GET /gossip on %s: %w", n.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("GET /gossip on %s (%s): %w", n.name, n.endpoint(), errNoGossip)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /gossip on %s: HTTP %d", n.name, resp.StatusCode)
	}
	var body struct {
		Members []gossipMember `json:"members"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET /gossip on %s: %w", n.name, err)
	}
	return body.Members, nil
}

func contains(list []*annalNode, n *annalNode) bool {
	for _, m := range list {
		if m == n {
			return true
		}
	}
	return false
}

func (g *group) describe() string {
	var b strings.Builder
	for _, n := range g.nodes {
		status := "running"
		switch {
		case !n.running():
			status = fmt.Sprintf("exited (%v)", n.exitErr)
		case n.isFrozen():
			status = "frozen"
		}
		fmt.Fprintf(&b, "%s %s: %s, last state %q\n", n.name, n.endpoint(), status, n.lastState())
	}
	return b.String()
}

func (g *group) dumpLogs(t testing.TB) {
	t.Logf("annal node logs (%s):\n%s", g.dir, g.describe())
	for _, n := range g.nodes {
		t.Logf("----- %s %s (%s) -----\n%s", n.name, n.endpoint(), n.logPath, n.logTail(logTailLines))
	}
}

func (g *group) close() error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range g.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, n := range g.nodes {
		if n.certs != nil {
			n.certs.transport.CloseIdleConnections()
		}
	}
	if err := os.RemoveAll(g.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// startGroup starts size nodes (a cluster when size > 1) and waits until
// every one is live and one leads the others. The nodes stop, and their
// directory goes, when the test ends; their logs are printed if it failed.
func startGroup(t *testing.T, size int, secure bool) *group {
	return startGroupWith(t, size, secure, false)
}

// startGroupWith is startGroup with the choice of durable nodes: their
// databases on disk, so that a killed node restarts with its data.
func startGroupWith(t *testing.T, size int, secure, durable bool) *group {
	t.Helper()
	annalBinary(t)
	dir, err := os.MkdirTemp("", "annal-go-clients-")
	if err != nil {
		t.Fatal(err)
	}
	g := &group{dir: dir}
	t.Cleanup(func() {
		if err := g.close(); err != nil {
			t.Errorf("stopping the nodes: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			g.dumpLogs(t)
		}
	})
	type ports struct{ node, repl int }
	ps := make([]ports, size)
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t)}
	}
	if secure {
		g.ca = newTestCA(t, dir)
	}
	for i := range size {
		var seeds []string
		for j, p := range ps {
			if j != i {
				seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(p.node))
			}
		}
		g.nodes = append(g.nodes, &annalNode{
			name:        "n" + strconv.Itoa(i+1),
			nodePort:    ps[i].node,
			replPort:    ps[i].repl,
			seeds:       seeds,
			clusterSize: size,
			dir:         dir,
			logPath:     filepath.Join(dir, "n"+strconv.Itoa(i+1)+".log"),
			durable:     durable,
		})
		if secure {
			g.nodes[i].certs = g.ca.issueNodeCert(t, "node"+strconv.Itoa(i+1))
		}
	}
	for _, n := range g.nodes {
		n.start(t)
	}
	for _, n := range g.nodes {
		n.waitLive(t)
	}
	g.leader(t, size-1)
	return g
}

func startSingleNode(t *testing.T) *group { return startGroup(t, 1, false) }
func startCluster(t *testing.T) *group    { return startGroup(t, 3, false) }

// startSecureCluster starts three nodes without --insecure: TLS with
// certificates from a CA made for the group, and authentication.
func startSecureCluster(t *testing.T) *group { return startGroup(t, 3, true) }

// waitUntil polls cond until it holds or the bound passes.
func waitUntil(ctx context.Context, bound, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(every)
	}
}
