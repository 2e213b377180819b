package cluster

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/election"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/replication"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/scenario"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The checker must be able to fail: feed it the events of a broken cluster.
func TestCheckerCatchesBrokenInvariants(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	k := c.checker
	k.observe(c.Hosts[0], node.ElectionDecided{View: 6, Epoch: 5})
	k.observe(c.Hosts[0], node.StateChanged{State: member.Leader, Epoch: 5})
	k.observe(c.Hosts[1], node.StateChanged{State: member.Leader, Epoch: 5})
	if v := k.violations; len(v) != 1 || !strings.Contains(v[0], "two leaders of epoch 5: n1 and n2") {
		t.Fatalf("violations %v, want one about two leaders of epoch 5", v)
	}
	k.observe(c.Hosts[2], node.ElectionDecided{View: 7, Epoch: 4})
	if v := k.violations; len(v) != 2 || !strings.Contains(v[1], "epoch went backwards: n3 learned of an election of epoch 4, first decided after epoch 5") {
		t.Fatalf("violations %v, want a second about the epoch going backwards", v)
	}
	k.observe(c.Hosts[2], node.StateChanged{State: member.Leader, Epoch: 9})
	if v := k.violations; len(v) != 3 || !strings.Contains(v[2], "n3 leads epoch 9, which no election decided") {
		t.Fatalf("violations %v, want a third about an epoch led without an election", v)
	}
}

// A leader-elect paused before it takes office leads, late, an epoch that
// a later election replaced: that is no violation, as long as the epochs
// were decided in order.
func TestCheckerLetsALeaderElectTakeOfficeLate(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	k := c.checker
	k.observe(c.Hosts[1], node.ElectionDecided{View: 4, Epoch: 3})
	k.observe(c.Hosts[0], node.ElectionDecided{View: 5, Epoch: 4})
	k.observe(c.Hosts[0], node.StateChanged{State: member.Leader, Epoch: 4})
	k.observe(c.Hosts[2], node.ElectionDecided{View: 4, Epoch: 3}) // a late learner
	k.observe(c.Hosts[1], node.StateChanged{State: member.Leader, Epoch: 3})
	if len(k.violations) != 0 {
		t.Fatalf("violations %v", k.violations)
	}
}

// A replica's acknowledgements are held to its promises: none to a leader
// of an epoch below an election it promised, in the same process. A new
// process is bound by what it reports as it starts, not by what died.
func TestCheckerCatchesAckToAnOlderLeaderAfterAPromise(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	k := c.checker
	h := c.Hosts[2]
	k.observe(h, election.PromiseMade{Number: 3})
	k.observe(h, replication.Acked{Epoch: 3, Durable: 100})
	if len(k.violations) != 0 {
		t.Fatalf("violations %v for an acknowledgement to the leader of the promised epoch", k.violations)
	}
	k.observe(h, election.PromiseMade{Number: 4})
	k.observe(h, replication.Acked{Epoch: 3, Durable: 200})
	if v := k.violations; len(v) != 1 || !strings.Contains(v[0], "n3 acknowledged its log up to 200 to the leader of epoch 3 after promising election 4") {
		t.Fatalf("violations %v, want one about n3 acknowledging epoch 3 after promising 4", v)
	}
	// A later process of another node starts unbound (its promise of 4
	// was never persisted) and follows the leader of epoch 3.
	g := c.Hosts[1]
	k.observe(g, election.PromiseMade{Number: 4})
	g.Incarnation++
	k.observe(g, replication.Acked{Epoch: 3, Durable: 200})
	k.observe(g, election.PromiseMade{Number: 3})
	k.observe(g, replication.Acked{Epoch: 3, Durable: 300})
	if len(k.violations) != 1 {
		t.Fatalf("violations %v, want only the first: a restarted node is bound by its new process's promises", k.violations)
	}
}

func TestCheckerCatchesLeaderThatKeepsLeadingWithoutQuorum(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Only n1 runs: alone in a three-node cluster it can never lead, and
	// after its discovery wait it reports no further state changes.
	c.Hosts[0].Start()
	c.RunUntil(5 * time.Second)
	k := c.checker
	// Pretend n1 leads and is cut off: nothing will make it step down.
	k.observe(c.Hosts[0], node.StateChanged{State: member.Leader, Epoch: -1})
	c.Apply(scenario.Step{Do: "isolate", Target: "n1"})
	c.RunUntil(5*time.Second + k.StepDownBound + time.Second)
	found := false
	for _, v := range k.violations {
		found = found || strings.Contains(v, "after losing its quorum")
	}
	if !found {
		t.Fatalf("no step-down violation for a leader cut off for %v: %v", k.StepDownBound+time.Second, k.violations)
	}
}

func TestSameSeedSameTraceInOneProcess(t *testing.T) {
	run := func(seed uint64) *Report {
		c, err := New(Config{Seed: seed, Nodes: 5, Duration: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return c.Run()
	}
	a, b, other := run(11), run(11), run(12)
	if a.TraceHash != b.TraceHash || a.Events != b.Events {
		t.Fatalf("same seed, different runs: %s/%d vs %s/%d", a.TraceHash, a.Events, b.TraceHash, b.Events)
	}
	if a.TraceHash == other.TraceHash {
		t.Fatal("different seeds, same trace hash")
	}
	if a.LeaderAtEnd == "" || len(a.Violations) > 0 {
		t.Fatalf("quiet run: leader %q, violations %v", a.LeaderAtEnd, a.Violations)
	}
}

// A leader that acknowledges nothing is caught even though the cluster is
// healthy: here every client is cut off from every node, which the
// cluster cannot see (only cuts between its nodes make it unhealthy).
func TestCheckerCatchesALeaderThatServesNothing(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: 2 * time.Minute, Clients: 2, Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.RunUntil(10 * time.Second)
	k := c.checker
	if len(k.violations) != 0 || k.lastAck == 0 {
		t.Fatalf("before the cut: violations %v, last acknowledgement at %v; want none and some", k.violations, k.lastAck)
	}
	var nodes, clients []*network.Host
	for _, h := range c.Hosts {
		nodes = append(nodes, h.Net)
	}
	for _, h := range c.Workload().Hosts() {
		clients = append(clients, h.Net)
	}
	c.Fabric.Partition(clients, nodes)
	c.RunUntil(10*time.Second + k.LivenessBound + 2*c.Workload().Config().CallTimeout + 5*time.Second)
	if v := k.violations; len(v) != 1 || !strings.Contains(v[0], "no append acknowledged") {
		t.Fatalf("violations %v, want one about no append acknowledged", v)
	}
}

// A loss step changes every link's loss and nothing else, and a latency
// step its latency: neither undoes the other. The checker promises a
// leader only while every link is quick enough for an election view.
func TestLossAndLatencyStepsChangeOnlyTheirOwnProperty(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	if !c.checker.netFit {
		t.Fatal("a 1 ms network does not fit a 1 s election timeout")
	}
	c.Apply(scenario.Step{Do: "latency", Value: "250ms"})
	c.Apply(scenario.Step{Do: "loss", Value: "0.2"})
	for _, a := range c.Hosts {
		for _, b := range c.Hosts {
			if a == b {
				continue
			}
			if p := c.Fabric.Link(a.Net, b.Net); p.Latency != 250*time.Millisecond || p.Loss != 0.2 {
				t.Fatalf("link %s->%s is %+v after latency 250ms then loss 0.2", a.Name, b.Name, p)
			}
		}
	}
	if c.checker.netFit {
		t.Error("250 ms one way, six trips per view, fits a 1 s election timeout")
	}
	c.Apply(scenario.Step{Do: "latency", Value: "150ms"})
	if p := c.Fabric.Link(c.Hosts[0].Net, c.Hosts[1].Net); p.Loss != 0.2 {
		t.Errorf("the latency step reset the loss to %v", p.Loss)
	}
	if c.checker.netFit {
		t.Error("a network losing 20% of its messages fits an election")
	}
	c.Apply(scenario.Step{Do: "loss", Value: "0.05"})
	if !c.checker.netFit {
		t.Error("150 ms one way (plus jitter) and 5% loss do not fit a 1 s election timeout")
	}
}

// A step that cannot be played as written (a bit flip before anything is
// committed) stops the run with an error naming it, instead of a panic
// or a run that goes on to report an outcome the scenario did not test.
func TestAStepThatCannotBePlayedStopsTheRun(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: 30 * time.Second, Timeline: []scenario.Step{
		{At: scenario.Duration(time.Second), Do: "bitflip", Target: "n1", File: "log"},
		{At: scenario.Duration(5 * time.Second), Do: "kill", Target: "n2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Run()
	err = c.Err()
	if err == nil || !strings.Contains(err.Error(), "scenario: bitflip at 1s: n1 has no committed records to damage yet") {
		t.Fatalf("Err() = %v, want the bit flip's error", err)
	}
	if r.SimSeconds > 1.5 {
		t.Errorf("the run went on to %v s after the step failed at 1 s", r.SimSeconds)
	}
}

// An option that fails for every node is reported once.
func TestAnOptionErrorIsReportedOnce(t *testing.T) {
	_, err := New(Config{Seed: 1, Nodes: 5, Duration: time.Second, Options: map[string]string{"NoSuchOption": "1"}})
	if err == nil {
		t.Fatal("an unknown option was accepted")
	}
	if n := strings.Count(err.Error(), "NoSuchOption"); n != 1 {
		t.Errorf("the error names the option %d times: %v", n, err)
	}
}
