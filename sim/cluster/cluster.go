// Package cluster runs a simulated annal cluster: real core nodes on
// simulated hosts, a fault timeline, and the invariant checker watching
// every event. It is what `annal sim run` and the scenario tests drive.
package cluster

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/sim/check"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/host"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/scenario"
	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/workload"
	"github.com/annal-db/annal/sim/world"
)

// Config describes one run.
type Config struct {
	Seed     uint64
	Nodes    int
	Duration time.Duration
	Link     network.LinkProfile
	// Options apply to every node; NodeOptions to one (by name n1..nN).
	// Keys are option names in any spelling the schema accepts.
	Options     map[string]string
	NodeOptions map[string]map[string]string
	NAT         *scenario.NAT
	// DiscoverViaDNS makes nodes find each other through ClusterDNS instead
	// of gossip seeds.
	DiscoverViaDNS bool
	// DiskFaults, when set, are every node's disk fault rates.
	DiskFaults *scenario.DiskFaults
	Timeline   []scenario.Step
	// Trace receives the text trace when set.
	Trace io.Writer
	// LogLevel is the least important node log level traced (default Info).
	LogLevel env.Level
	// Progress, when set, is called every few hundred thousand events.
	Progress func(now time.Duration, events uint64)

	// Clients is how many simulated clients run a workload against the
	// cluster (0: none); Rate is their appends per second, all together
	// (0: workload.DefaultRate).
	Clients int
	Rate    float64
	// Deletes is the share of the clients' writes that delete their
	// stream (see workload.Config.Deletes).
	Deletes float64
	// Metadata is the share of the clients' writes that replace their
	// stream's metadata (see workload.Config.Metadata).
	Metadata float64
	// Subscribers follow streams or $all from their start, attached to
	// nodes in-process (see workload.Subscribers); none by default.
	Subscribers []workload.SubscriberConfig
	// MaxOps bounds the clients' history (0: workload.DefaultMaxOps).
	MaxOps int
	// LinearizabilityTimeout bounds the check of one stream's history
	// (0: none; a check that runs out reports "unknown").
	LinearizabilityTimeout time.Duration
	// LinearizabilityModel is the specification histories are checked
	// against (default check.Strict).
	LinearizabilityModel check.Model
	// LinearizabilityHTML is where porcupine's rendering of a history found
	// not linearizable is written ("": nowhere).
	LinearizabilityHTML string
	// ApplyStepBytes is the nodes' node.Settings.ApplyStepBytes (0: their
	// default).
	ApplyStepBytes int
	// EventPadding is the workload's workload.Config.EventPadding.
	EventPadding int
}

// FromScenario turns a scenario into a run configuration.
func FromScenario(s *scenario.Scenario, seed uint64) Config {
	var subs []workload.SubscriberConfig
	for _, sub := range s.Subscribers {
		node := -1
		if k, err := strconv.Atoi(strings.TrimPrefix(sub.Node, "n")); err == nil {
			node = k - 1 // validated: n1..nN
		}
		subs = append(subs, workload.SubscriberConfig{
			Stream: sub.Stream, Node: node, Slow: sub.Slow.D(), Credits: sub.Credits, RequireLeader: sub.RequireLeader,
		})
	}
	return Config{
		Seed: seed, Nodes: s.Nodes, Duration: s.Duration.D(),
		Link:    network.LinkProfile{Latency: s.Network.Latency.D(), Jitter: s.Network.Jitter.D(), Loss: s.Network.Loss},
		Options: s.Options, NodeOptions: s.NodeOptions, NAT: s.NAT, Timeline: s.Timeline,
		DiscoverViaDNS: s.Discovery == "dns",
		DiskFaults:     s.Disk,
		Clients:        s.Clients, Rate: s.Rate, Deletes: s.Deletes, Metadata: s.Metadata, Subscribers: subs,
		ApplyStepBytes: s.ApplyStepBytes, EventPadding: s.EventPadding,
	}
}

// Cluster is a running simulation.
type Cluster struct {
	cfg     Config
	W       *world.World
	Fabric  *network.Fabric
	Hosts   []*host.Host
	nodes   []*node.Node
	opts    []*options.Values
	checker *Checker
	bound   map[string]*host.Host
	// public maps every address a node can be reached at to its host;
	// publics is each node's address for clients.
	public  map[netip.Addr]*host.Host
	publics []netip.Addr
	// workload is the clients' (nil without clients); subscribers nil
	// without subscribers.
	workload    *workload.Workload
	subscribers *workload.Subscribers
	// procs is the process each host runs (or last ran), for in-process
	// subscribers.
	procs    []process
	finished bool
	// stepErr is the first timeline step that could not be played: the
	// run stops there, as its outcome would not be the scenario's.
	stepErr error
}

// process is one node incarnation as subscribers reach it.
type process struct {
	node        *node.Node
	loop        env.Clock
	incarnation int
}

// ClusterDNS is the name the simulated DNS answers with every node's
// address when the cluster discovers itself through DNS.
const ClusterDNS = "cluster.annal.test"

// SegmentSize is the simulated nodes' log segment size: small, so that runs
// cross segment boundaries often.
const SegmentSize = 1 << 20

// QuietEnd is how long before the end of a run clients stop starting
// operations (at most a tenth of the run).
const QuietEnd = 5 * time.Second

// Ports every simulated node uses.
const (
	NodePort        = 2113
	ReplicationPort = 1112
)

// New builds the cluster; Run starts it.
func New(cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("cluster: %d nodes; need at least 1", cfg.Nodes)
	}
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("cluster: duration %v; need a positive duration", cfg.Duration)
	}
	if m := cfg.LinearizabilityModel; m != "" && !m.Valid() {
		return nil, fmt.Errorf("cluster: linearizability model %q; use %q or %q", m, check.Strict, check.WriterView)
	}
	w := world.New(cfg.Seed, trace.New(cfg.Trace))
	ncfg := network.DefaultConfig()
	if cfg.Link.Latency > 0 || cfg.Link.Jitter > 0 || cfg.Link.Loss > 0 {
		ncfg.Link = cfg.Link
	}
	fabric := network.New(w, ncfg)
	c := &Cluster{cfg: cfg, W: w, Fabric: fabric, bound: map[string]*host.Host{}, public: map[netip.Addr]*host.Host{}}
	c.nodes = make([]*node.Node, cfg.Nodes)
	c.procs = make([]process, cfg.Nodes)

	addrs := make([]netip.Addr, cfg.Nodes)   // what the node binds
	publics := make([]netip.Addr, cfg.Nodes) // what others dial
	for i := range cfg.Nodes {
		publics[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		addrs[i] = publics[i]
		if cfg.NAT != nil {
			// Each node in its own private network, reachable from the
			// others only through its NAT's public address.
			addrs[i] = netip.AddrFrom4([4]byte{192, 168, byte(i + 1), 10})
		}
	}
	if cfg.DiscoverViaDNS {
		names := make([]string, len(publics))
		for i, a := range publics {
			names[i] = a.String()
		}
		fabric.SetDNS(ClusterDNS, names...)
	}
	var errs []string
	for i := range cfg.Nodes {
		name := fmt.Sprintf("n%d", i+1)
		realm := ""
		if cfg.NAT != nil {
			realm = "vpc-" + name
			fabric.AddRealm(realm)
		}
		o, err := c.nodeOptions(i, addrs, publics)
		if err != nil {
			// Options set for every node fail alike on each: say it once.
			if !slices.Contains(errs, err.Error()) {
				errs = append(errs, err.Error())
			}
			continue
		}
		c.opts = append(c.opts, o)
		idx := i
		h := host.New(w, fabric, host.Config{
			Name: name, Realm: realm, Addrs: []netip.Addr{addrs[i]},
			Disk: diskConfig(cfg.DiskFaults), TimerCPU: 5 * time.Microsecond, LogLevel: cfg.LogLevel,
		}, func(e env.Env) func() {
			incarnation := c.Hosts[idx].Incarnation
			applied := func(recs []eventlog.Record) { c.checker.applied(idx, incarnation, recs) }
			n := node.New(e, o.Clone(), node.Settings{SegmentSize: SegmentSize, OnApplied: applied, ApplyStepBytes: cfg.ApplyStepBytes})
			c.nodes[idx] = n
			c.procs[idx] = process{node: n, loop: e.Clock, incarnation: incarnation}
			n.Start()
			return n.Stop
		}, nil)
		if cfg.NAT != nil {
			nat := fabric.AddNAT(realm, publics[i])
			nat.Forward(NodePort, addrs[i], NodePort)
			nat.Forward(ReplicationPort, addrs[i], ReplicationPort)
		}
		c.Hosts = append(c.Hosts, h)
		c.public[publics[i]] = h
		c.bound[name] = h
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cluster options: %s", strings.Join(errs, "; "))
	}
	c.publics = publics
	c.checker = newChecker(c)
	for _, h := range c.Hosts {
		h.SetObserver(c.checker.observe)
	}
	w.AfterEvent = c.checker.afterEvent
	if cfg.Clients > 0 {
		o := c.opts[0]
		endpoints := make([]env.Endpoint, len(publics))
		for i, a := range publics {
			endpoints[i] = env.Endpoint{Host: a.String(), Port: NodePort}
		}
		wl, err := workload.New(w, fabric, workload.Config{
			Clients: cfg.Clients, Rate: cfg.Rate, Deletes: cfg.Deletes, Metadata: cfg.Metadata, EventPadding: cfg.EventPadding, Nodes: endpoints, MaxOps: cfg.MaxOps,
			// A quiet end lets every replica catch up before the end
			// check looks for every acknowledged write on each.
			StopAt: cfg.Duration - min(QuietEnd, cfg.Duration/10),
			// Past the node's own answer to a write it forwards (prepare
			// and commit timeouts, plus forwarding's margin).
			CallTimeout: o.Duration(options.PrepareTimeoutMs) + o.Duration(options.CommitTimeoutMs) + 2*time.Second,
		}, c.checker)
		if err != nil {
			return nil, err
		}
		c.workload = wl
	}
	if len(cfg.Subscribers) > 0 {
		subs, err := workload.NewSubscribers(w, clusterNodes{c}, cfg.Subscribers, c.checker)
		if err != nil {
			return nil, err
		}
		c.subscribers = subs
		c.checker.watchSubscribers(subs)
	}
	return c, nil
}

func (c *Cluster) nodeOptions(i int, addrs, publics []netip.Addr) (*options.Values, error) {
	o := options.Defaults()
	var seeds []string
	for j := range c.cfg.Nodes {
		if j != i {
			seeds = append(seeds, netip.AddrPortFrom(publics[j], NodePort).String())
		}
	}
	set := map[*options.Option]string{
		options.NodeIp:          addrs[i].String(),
		options.ReplicationIp:   addrs[i].String(),
		options.NodePort:        fmt.Sprint(NodePort),
		options.ReplicationPort: fmt.Sprint(ReplicationPort),
		options.ClusterSize:     fmt.Sprint(c.cfg.Nodes),
		options.DiscoverViaDns:  "false",
		options.Insecure:        "true",
		options.MemDb:           "false",
	}
	switch {
	case c.cfg.DiscoverViaDNS:
		set[options.DiscoverViaDns] = "true"
		set[options.ClusterDns] = ClusterDNS
		set[options.ClusterGossipPort] = fmt.Sprint(NodePort)
	case len(seeds) > 0:
		set[options.GossipSeed] = strings.Join(seeds, ",")
	}
	if c.cfg.NAT != nil && c.cfg.NAT.Advertise {
		set[options.NodeHostAdvertiseAs] = publics[i].String()
		set[options.ReplicationHostAdvertiseAs] = publics[i].String()
	}
	keys := make([]*options.Option, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].Name < keys[b].Name })
	for _, k := range keys {
		if err := o.Set(k, set[k], options.SourceScenario); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("n%d", i+1)
	for _, m := range []map[string]string{c.cfg.Options, c.cfg.NodeOptions[name]} {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			opt, old, ok := options.Lookup(k)
			if !ok || opt == nil {
				if old != nil {
					return nil, fmt.Errorf("%s: %s", k, old.Message())
				}
				return nil, fmt.Errorf("unknown option %q%s", k, suggest(k))
			}
			if err := o.Set(opt, m[k], options.SourceScenario); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

func suggest(k string) string {
	if s := options.Suggest(k); s != "" {
		return "; did you mean " + s + "?"
	}
	return ""
}

// Options is node i's option set.
func (c *Cluster) Options(i int) *options.Values { return c.opts[i] }

// ClientEndpoint is where clients reach node i.
func (c *Cluster) ClientEndpoint(i int) env.Endpoint {
	return env.Endpoint{Host: c.publics[i].String(), Port: NodePort}
}

// Node is the node running on host i now (nil if none).
func (c *Cluster) Node(i int) *node.Node {
	if c.Hosts[i].State() == host.Stopped || c.Hosts[i].State() == host.Powered {
		return nil
	}
	return c.nodes[i]
}

// Run starts every host, plays the timeline, and runs to the end.
func (c *Cluster) Run() *Report {
	c.Start()
	end := c.cfg.Duration
	for c.W.Now() < end && !c.W.Halted() {
		c.RunUntil(min(end, c.W.Now()+10*time.Second))
		if c.cfg.Progress != nil {
			c.cfg.Progress(c.W.Now(), c.W.Fired())
		}
	}
	c.Finish()
	return c.Report()
}

// Finish runs the end-of-run checks once: every acknowledged write is on
// the leader and on every replica caught up with it, and the clients'
// history is linearizable. Run calls it; a caller stepping the run itself
// calls it when done.
func (c *Cluster) Finish() {
	if c.finished {
		return
	}
	c.finished = true
	k := c.checker
	up := make([]bool, k.n)
	for i := range up {
		up[i] = k.up(i)
	}
	k.log.Final(up, k.leaderIndex())
	k.finishSubscribers()
	var history []check.Op
	if c.workload != nil {
		history = c.workload.History()
	}
	res := check.CheckLinearizable(history, check.LinearizabilityOptions{
		Model: c.cfg.LinearizabilityModel, Timeout: linearizabilityTimeout(c.cfg.LinearizabilityTimeout, len(k.violations)),
		Visualization: c.cfg.LinearizabilityHTML,
	})
	k.lin = &res
	if len(res.Illegal) > 0 {
		where := ""
		if res.Visualization != "" {
			where = "; see " + res.Visualization
		}
		k.violate("the clients' history is not linearizable (%s model) for stream(s) %s%s", res.Model, strings.Join(res.Illegal, ", "), where)
	}
}

// ViolatedRunLinearizabilityTimeout bounds the linearizability check of one
// stream when the run has already broken an invariant and no bound was
// configured. A history shaped by a broken invariant (an acknowledged write
// lost, prefixes that disagree) can send porcupine into a search that does
// not end in any useful time: the run is failing anyway, and it must say so
// instead of hanging until the test's own timeout.
const ViolatedRunLinearizabilityTimeout = 10 * time.Second

// linearizabilityTimeout is the bound of the final check: the configured one,
// or ViolatedRunLinearizabilityTimeout when none is configured and the run
// already has violations.
func linearizabilityTimeout(configured time.Duration, violations int) time.Duration {
	if configured == 0 && violations > 0 {
		return ViolatedRunLinearizabilityTimeout
	}
	return configured
}

// Workload is the clients' workload (nil without clients).
func (c *Cluster) Workload() *workload.Workload { return c.workload }

// Subscribers are the run's subscribers (nil without any).
func (c *Cluster) Subscribers() *workload.Subscribers { return c.subscribers }

// Start boots every host and schedules the configured timeline.
func (c *Cluster) Start() {
	for _, h := range c.Hosts {
		h.Start()
	}
	if c.workload != nil {
		c.workload.Start()
	}
	if c.subscribers != nil {
		c.subscribers.Start()
	}
	for i := range c.cfg.Timeline {
		st := c.cfg.Timeline[i]
		c.W.Func(st.At.D()-c.W.Now(), func() { c.Apply(st) })
	}
}

// RunUntil runs the simulation up to virtual time t.
func (c *Cluster) RunUntil(t time.Duration) { c.W.RunUntil(t) }

// Err is the first timeline step that could not be played (nil if none):
// the run stopped at it, so its report is not the scenario's outcome.
func (c *Cluster) Err() error { return c.stepErr }

// Violations so far.
func (c *Cluster) Violations() []string { return c.checker.violations }

// Report summarises the run so far.
func (c *Cluster) Report() *Report { return c.checker.report() }

// Checker is the run's invariant checker.
func (c *Cluster) Checker() *Checker { return c.checker }

func diskConfig(f *scenario.DiskFaults) disk.Config {
	c := disk.DefaultConfig()
	if f != nil {
		c.ReadFaultRate, c.WriteFaultRate, c.SyncFaultRate = f.Read, f.Write, f.Sync
		if d := f.SyncLatency.D(); d > 0 {
			c.SyncLatency = [2]time.Duration{d, d}
		}
		if f.CrashSurvive != nil || f.CrashTorn != nil || f.CrashZeroed != nil {
			// Fates given in part: the ones not given are none.
			c.CrashSurvive, c.CrashTorn, c.CrashZeroed = 0, 0, 0
			for _, p := range []struct {
				to   *float64
				from *float64
			}{{&c.CrashSurvive, f.CrashSurvive}, {&c.CrashTorn, f.CrashTorn}, {&c.CrashZeroed, f.CrashZeroed}} {
				if p.from != nil {
					*p.to = *p.from
				}
			}
		}
	}
	return c
}

// clusterNodes gives subscribers in-process access to the nodes.
type clusterNodes struct{ c *Cluster }

func (n clusterNodes) Count() int { return len(n.c.Hosts) }

func (n clusterNodes) Name(i int) string { return n.c.Hosts[i].Name }

func (n clusterNodes) Process(i int) (workload.Process, workload.Reach) {
	h := n.c.Hosts[i]
	switch h.State() {
	case host.Frozen, host.Powered:
		return workload.Process{}, workload.Silent
	case host.Running:
		// A process starting is not listening yet: its node is built on
		// its first input.
		if p := n.c.procs[i]; p.node != nil && p.incarnation == h.Incarnation {
			return workload.Process{Node: p.node, Loop: p.loop, Incarnation: p.incarnation}, workload.Up
		}
	}
	return workload.Process{}, workload.Down
}

func (n clusterNodes) Index(ep env.Endpoint) int { return n.c.checker.hostOf(ep) }
