package cluster

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/annal-db/annal/sim/scenario"
)

// exploreActions are the faults random schedules draw from.
var exploreActions = []string{
	"kill", "restart", "freeze", "thaw", "power-off", "power-on", "pause",
	"partition", "one-way", "bridge", "heal", "clock-jump", "resign", "isolate",
	"reboot", "strand",
}

// drawCluster draws a cluster of three or five nodes, and gives a drawer of
// a node name and one of a target (the leader or a node, even odds).
func drawCluster(r *rand.Rand) (nodes int, node, target func() string) {
	nodes = 3 + 2*r.IntN(2)
	node = func() string { return fmt.Sprintf("n%d", 1+r.IntN(nodes)) }
	target = func() string {
		if r.IntN(2) == 0 {
			return "leader"
		}
		return node()
	}
	return nodes, node, target
}

// randomSchedule draws 2 to 7 faults from 10 s on (a reboot or a strand is
// two or three steps), then heals and restarts every node, and leaves 40 s
// for the clients to see the cluster recover. Three subscribers (one of
// them slow) follow the log throughout.
func randomSchedule(seed uint64) scenario.Scenario {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	nodes, node, target := drawCluster(r)
	var steps []scenario.Step
	at := 10 * time.Second
	for k := range 2 + r.IntN(6) {
		at += time.Duration(r.IntN(6000)) * time.Millisecond
		st := scenario.Step{At: scenario.Duration(at), Do: exploreActions[r.IntN(len(exploreActions))]}
		if st.Do == "reboot" {
			// A host that loses power and boots again within the time its
			// peers take to find it silent: the node comes back under a
			// new instance while its old connections still look alive.
			name := fmt.Sprintf("rebooted%d", k)
			steps = append(steps, scenario.Step{At: st.At, Do: "power-off", Target: target(), As: name})
			at += shortOutage(r)
			steps = append(steps, scenario.Step{At: scenario.Duration(at), Do: "power-on", Target: name})
			continue
		}
		if st.Do == "strand" {
			steps, at = strand(r, nodes, at, steps)
			continue
		}
		switch st.Do {
		case "heal":
		case "bridge":
			st.Target, st.With = target(), []string{node()}
		case "partition", "one-way":
			// One to all but one of the nodes on the far side, as a rack or
			// zone split leaves them: a leader can keep a minority (itself
			// and one follower, of five) while the rest elect.
			st.Target = target()
			for _, i := range r.Perm(nodes)[:1+r.IntN(nodes-1)] {
				st.With = append(st.With, fmt.Sprintf("n%d", i+1))
			}
		default:
			st.Target = target()
		}
		switch st.Do {
		case "pause":
			st.For = scenario.Duration(time.Duration(100+r.IntN(8000)) * time.Millisecond)
		case "clock-jump":
			st.By = scenario.Duration(time.Duration(r.IntN(240)-120) * time.Second)
		}
		steps = append(steps, st)
	}
	at += 2 * time.Second
	steps = append(steps, scenario.Step{At: scenario.Duration(at), Do: "heal"})
	for k := 1; k <= nodes; k++ {
		steps = append(steps, scenario.Step{At: scenario.Duration(at), Do: "restart", Target: fmt.Sprintf("n%d", k)})
	}
	zero := 0
	return scenario.Scenario{
		Name: fmt.Sprintf("explore-%d", seed), Description: "A random fault schedule with clients that broke an invariant.",
		Seed: &seed, Nodes: nodes, Duration: scenario.Duration(at + 40*time.Second),
		Network: scenario.Network{Latency: scenario.Duration(time.Millisecond), Jitter: scenario.Duration(300 * time.Microsecond), Loss: 0.01},
		Clients: 8, Rate: 150, Timeline: steps,
		Subscribers: []scenario.Subscriber{
			{Stream: "$all", Node: "n1"}, {Stream: "stream-1", Node: "n2"}, {Stream: "$all", Node: "n3", Slow: scenario.Duration(2 * time.Millisecond), Credits: 2},
		},
		Expect: scenario.Expect{Violations: &zero, MustHappen: []scenario.Mark{{Event: "state", State: "Leader"}}},
	}
}

// TestExploreFaultsWithClients runs random fault schedules under a client
// workload and prints every one that breaks an invariant, or panics, as a
// scenario file to save under scenarios/found-*.yaml. It is a search, not
// a regression test: it runs only when asked, as
//
//	ANNAL_EXPLORE=200 ANNAL_EXPLORE_FROM=1000 go test ./sim/cluster -run TestExploreFaultsWithClients -v -timeout 30m
func TestExploreFaultsWithClients(t *testing.T) { explore(t, randomSchedule) }

// explore runs the schedules ANNAL_EXPLORE and ANNAL_EXPLORE_FROM ask for
// and prints each one that breaks an invariant as a scenario file.
func explore(t *testing.T, schedule func(seed uint64) scenario.Scenario) {
	runs, err := strconv.Atoi(os.Getenv("ANNAL_EXPLORE"))
	if err != nil || runs <= 0 {
		t.Skip("a search, run on demand: set ANNAL_EXPLORE to the number of schedules to try")
	}
	from, _ := strconv.ParseUint(os.Getenv("ANNAL_EXPLORE_FROM"), 10, 64)
	for seed := from; seed < from+uint64(runs); seed++ {
		sc := schedule(seed)
		if err := sc.Validate(); err != nil {
			t.Fatalf("schedule %d is not a valid scenario: %v", seed, err)
		}
		if what := exploreOne(&sc); what != "" {
			b, err := yaml.Marshal(&sc)
			if err != nil {
				t.Fatal(err)
			}
			t.Errorf("schedule %d: %s\n%s", seed, what, b)
		}
	}
}

// exploreOne runs a schedule and says what broke ("" if nothing).
func exploreOne(sc *scenario.Scenario) (what string) {
	defer func() {
		if p := recover(); p != nil {
			where := ""
			for _, line := range strings.Split(string(debug.Stack()), "\n") {
				if strings.Contains(line, "annal/core/") {
					where = " in " + strings.TrimSpace(line)
					break
				}
			}
			what = fmt.Sprintf("panic: %v%s", p, where)
		}
	}()
	c, err := New(FromScenario(sc, *sc.Seed))
	if err != nil {
		return err.Error()
	}
	r := c.Run()
	if err := c.Err(); err != nil {
		return err.Error()
	}
	if len(r.Violations) == 0 {
		return ""
	}
	return fmt.Sprintf("%d violation(s), the first: %s", len(r.Violations), r.Violations[0])
}

// strandFailures are how a stranded leader's last follower fails: each
// fault and the step that ends it (a pause ends by itself).
var strandFailures = [][2]string{{"power-off", "power-on"}, {"kill", "restart"}, {"freeze", "thaw"}, {"pause", ""}}

// strand leaves the leader with one follower, cut off from the rest (a
// minority of five, a majority of three), and has that follower fail soon
// after in one of the ways hosts do. A leader in a minority must commit
// nothing, whatever its last follower does. The follower kept is drawn
// before the leader is known: one time in n it is the leader itself, which
// is then isolated and fails.
func strand(r *rand.Rand, nodes int, at time.Duration, steps []scenario.Step) ([]scenario.Step, time.Duration) {
	kept := fmt.Sprintf("n%d", 1+r.IntN(nodes))
	var far []string
	for i := 1; i <= nodes; i++ {
		if n := fmt.Sprintf("n%d", i); n != kept {
			far = append(far, n) // the leader may be among them: a host is never cut from itself
		}
	}
	steps = append(steps, scenario.Step{At: scenario.Duration(at), Do: "partition", Target: "leader", With: far})
	at += time.Duration(r.IntN(3000)) * time.Millisecond
	gap := shortOutage(r)
	f := strandFailures[r.IntN(len(strandFailures))]
	st := scenario.Step{At: scenario.Duration(at), Do: f[0], Target: kept}
	if f[1] == "" {
		st.For = scenario.Duration(gap)
	}
	steps = append(steps, st)
	at += gap
	if f[1] != "" {
		steps = append(steps, scenario.Step{At: scenario.Duration(at), Do: f[1], Target: kept})
	}
	return steps, at
}

// shortOutage is how long a quick fault lasts: 0.1-1.5 s, ended before
// peers' heartbeats find the host silent.
func shortOutage(r *rand.Rand) time.Duration {
	return time.Duration(100+r.IntN(1400)) * time.Millisecond
}

// storageActions are the faults the storage search draws from: crashes that
// tear unsynced pages, a full disk, clocks that drift and jump, a network
// that turns lossy or slow, and the partitions and pauses that make those
// matter.
var storageActions = []string{
	"crash", "kill", "disk-full", "clock-drift", "clock-jump", "loss", "latency", "partition", "pause",
}

// outages are the storage search's faults that a later step ends, with
// how long they last: least plus up to spread. A crash is power lost and
// back, so that what was not synced meets its fate.
var outages = map[string]struct {
	begin, end    string
	least, spread time.Duration
}{
	"crash":     {"power-off", "power-on", 100 * time.Millisecond, 5 * time.Second},
	"kill":      {"kill", "restart", 100 * time.Millisecond, 5 * time.Second},
	"disk-full": {"disk-full", "disk-free", 500 * time.Millisecond, 8 * time.Second},
}

// randomStorageSchedule is randomSchedule's counterpart for storage and
// clocks: every disk fails a small, drawn share of its reads, writes and
// syncs (a failed sync stops its node, which the schedule restarts later);
// a host that loses power keeps, tears or zeroes each unsynced page in
// drawn proportions. At the end every fault is undone (the disks fail no
// more) and 40 s are left for the clients: the cluster must recover.
func randomStorageSchedule(seed uint64) scenario.Scenario {
	r := rand.New(rand.NewPCG(seed, 0xd15c))
	nodes, _, target := drawCluster(r)
	rate := func() float64 { return float64(r.IntN(11)) / 10000 } // 0 to 0.001
	survive, torn := float64(r.IntN(50))/100, float64(r.IntN(30))/100
	zeroed := float64(r.IntN(int(100*(1-survive-torn))+1)) / 100
	disk := &scenario.DiskFaults{Read: rate(), Write: rate(), Sync: rate(), CrashSurvive: &survive, CrashTorn: &torn, CrashZeroed: &zeroed}
	var steps []scenario.Step
	at := 10 * time.Second
	for k := range 2 + r.IntN(6) {
		at += time.Duration(r.IntN(6000)) * time.Millisecond
		do := storageActions[r.IntN(len(storageActions))]
		st := scenario.Step{At: scenario.Duration(at), Do: do, Target: target()}
		if o, ok := outages[do]; ok {
			// A fault and the step that ends it, on the same host.
			name := fmt.Sprintf("%s%d", do, k)
			steps = append(steps, scenario.Step{At: st.At, Do: o.begin, Target: st.Target, As: name})
			at += o.least + time.Duration(r.IntN(int(o.spread/time.Millisecond)))*time.Millisecond
			steps = append(steps, scenario.Step{At: scenario.Duration(at), Do: o.end, Target: name})
			continue
		}
		switch do {
		case "clock-drift":
			st.PPM = float64(r.IntN(2001) - 1000)
		case "clock-jump":
			st.By = scenario.Duration(time.Duration(r.IntN(240)-120) * time.Second)
		case "loss":
			st.Target, st.Value = "", strconv.FormatFloat(float64(r.IntN(30))/100, 'f', 2, 64)
		case "latency":
			st.Target, st.Value = "", (time.Duration(1+r.IntN(300)) * time.Millisecond).String()
		case "partition":
			for _, i := range r.Perm(nodes)[:1+r.IntN(nodes-1)] {
				st.With = append(st.With, fmt.Sprintf("n%d", i+1))
			}
		case "pause":
			st.For = scenario.Duration(time.Duration(100+r.IntN(8000)) * time.Millisecond)
		}
		steps = append(steps, st)
	}
	at += 2 * time.Second
	steps = append(steps,
		scenario.Step{At: scenario.Duration(at), Do: "heal"},
		scenario.Step{At: scenario.Duration(at), Do: "loss", Value: "0.01"},
		scenario.Step{At: scenario.Duration(at), Do: "latency", Value: "1ms"})
	for k := 1; k <= nodes; k++ {
		n := fmt.Sprintf("n%d", k)
		steps = append(steps,
			scenario.Step{At: scenario.Duration(at), Do: "disk-free", Target: n},
			scenario.Step{At: scenario.Duration(at), Do: "disk-faults", Target: n, Value: ""},
			scenario.Step{At: scenario.Duration(at), Do: "restart", Target: n})
	}
	zero := 0
	return scenario.Scenario{
		Name: fmt.Sprintf("explore-storage-%d", seed), Description: "A random storage and clock fault schedule with clients that broke an invariant.",
		Seed: &seed, Nodes: nodes, Duration: scenario.Duration(at + 40*time.Second),
		Network: scenario.Network{Latency: scenario.Duration(time.Millisecond), Jitter: scenario.Duration(300 * time.Microsecond), Loss: 0.01},
		Disk:    disk,
		Clients: 8, Rate: 150, Timeline: steps,
		Subscribers: []scenario.Subscriber{
			{Stream: "$all", Node: "n1"}, {Stream: "stream-1", Node: "n2"},
		},
		Expect: scenario.Expect{Violations: &zero, MustHappen: []scenario.Mark{{Event: "state", State: "Leader"}}},
	}
}

// TestExploreStorageAndClockFaults is the storage search, run on demand
// like TestExploreFaultsWithClients:
//
//	ANNAL_EXPLORE=200 ANNAL_EXPLORE_FROM=0 go test ./sim/cluster -run TestExploreStorageAndClockFaults -v -timeout 30m
func TestExploreStorageAndClockFaults(t *testing.T) { explore(t, randomStorageSchedule) }

// randomOptionsSchedule is randomSchedule's faults on a cluster configured
// otherwise: timings drawn from a range of settings operators use
// (heartbeats, gossip, the election timeout), node priorities, and, one
// time in two, a read-only replica beside the voters, killed and restarted
// once along the way.
func randomOptionsSchedule(seed uint64) scenario.Scenario {
	sc := randomSchedule(seed)
	r := rand.New(rand.NewPCG(seed, 0x0b7))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	sc.Name = fmt.Sprintf("explore-options-%d", seed)
	sc.Description = "A random fault schedule on a cluster with drawn settings that broke an invariant."
	sc.Options = map[string]string{
		"LeaderElectionTimeoutMs":      pick("1000", "2000"),
		"ReplicationHeartbeatInterval": pick("200", "700", "1500"),
		"ReplicationHeartbeatTimeout":  pick("300", "700", "2000"),
		"GossipIntervalMs":             pick("500", "2000"),
		"GossipTimeoutMs":              pick("1000", "2500"),
	}
	sc.NodeOptions = map[string]map[string]string{}
	for i := 1; i <= sc.Nodes; i++ {
		if p := pick("0", "0", "5", "10"); p != "0" {
			sc.NodeOptions[fmt.Sprintf("n%d", i)] = map[string]string{"NodePriority": p}
		}
	}
	if r.IntN(2) == 0 {
		sc.Options["ClusterSize"] = strconv.Itoa(sc.Nodes)
		sc.Nodes++
		ro := fmt.Sprintf("n%d", sc.Nodes)
		sc.NodeOptions[ro] = map[string]string{"ReadOnlyReplica": "true"}
		end := sc.Timeline[len(sc.Timeline)-1].At.D()
		down := 10*time.Second + time.Duration(r.IntN(int((end-10*time.Second)/time.Millisecond)+1))*time.Millisecond
		sc.Timeline = append(sc.Timeline,
			scenario.Step{At: scenario.Duration(down), Do: "kill", Target: ro},
			scenario.Step{At: scenario.Duration(end), Do: "restart", Target: ro})
		slices.SortStableFunc(sc.Timeline, func(a, b scenario.Step) int { return cmp.Compare(a.At, b.At) })
	}
	return sc
}

// TestExploreOptionsAndRoles is the options search, run on demand like the
// others:
//
//	ANNAL_EXPLORE=200 ANNAL_EXPLORE_FROM=0 go test ./sim/cluster -run TestExploreOptionsAndRoles -v -timeout 30m
func TestExploreOptionsAndRoles(t *testing.T) { explore(t, randomOptionsSchedule) }

// randomDeletesSchedule is randomSchedule's faults with clients that also
// delete their streams: a drawn share of writes are soft deletes (one in
// ten a tombstone, after which the clients and the stream's subscriber move
// on to a fresh stream), and, two times in three, another share replace
// the stream's metadata ($maxCount, or none). Reads, retries and
// subscriptions then meet streams deleted, recreated, tombstoned and
// truncated while leaders change.
func randomDeletesSchedule(seed uint64) scenario.Scenario {
	sc := randomSchedule(seed)
	r := rand.New(rand.NewPCG(seed, 0xde1))
	sc.Name = fmt.Sprintf("explore-deletes-%d", seed)
	sc.Description = "A random fault schedule with clients that delete streams and write their metadata that broke an invariant."
	sc.Deletes = []float64{0.03, 0.1, 0.25}[r.IntN(3)]
	// Its own stream, so that the deletes drawn stay those of the
	// schedules searched before metadata writes joined.
	m := rand.New(rand.NewPCG(seed, 0x3e7a))
	sc.Metadata = []float64{0, 0.05, 0.2}[m.IntN(3)]
	return sc
}

// TestExploreDeletes is the deletes search, run on demand like the others:
//
//	ANNAL_EXPLORE=200 ANNAL_EXPLORE_FROM=0 go test ./sim/cluster -run TestExploreDeletes -v -timeout 30m
func TestExploreDeletes(t *testing.T) { explore(t, randomDeletesSchedule) }

// randomNetworkingSchedule is randomSchedule's faults on a cluster whose
// nodes sit each behind its own NAT, advertising their public addresses,
// and, one time in two, find each other through DNS rather than gossip
// seeds: every connection, vote and replicated record then passes address
// translation while hosts die, freeze and are cut off.
func randomNetworkingSchedule(seed uint64) scenario.Scenario {
	sc := randomSchedule(seed)
	r := rand.New(rand.NewPCG(seed, 0x7a7))
	sc.Name = fmt.Sprintf("explore-networking-%d", seed)
	sc.Description = "A random fault schedule on nodes behind NATs that broke an invariant."
	sc.NAT = &scenario.NAT{Advertise: true}
	if r.IntN(2) == 0 {
		sc.Discovery = "dns"
	}
	return sc
}

// TestExploreNetworking is the NAT and discovery search, run on demand like
// the others:
//
//	ANNAL_EXPLORE=200 ANNAL_EXPLORE_FROM=0 go test ./sim/cluster -run TestExploreNetworking -v -timeout 30m
func TestExploreNetworking(t *testing.T) { explore(t, randomNetworkingSchedule) }
