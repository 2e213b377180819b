package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/sim/check"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/scenario"
	"github.com/annal-db/annal/sim/workload"
)

// leaderKilledAt30sBackAt40s kills the leader's process mid-run and
// restarts it ten seconds later.
var leaderKilledAt30sBackAt40s = []scenario.Step{
	{At: scenario.Duration(30 * time.Second), Do: "kill", Target: "leader", As: "old"},
	{At: scenario.Duration(40 * time.Second), Do: "restart", Target: "old"},
}

// lossy is a LAN link losing 2% of transmissions.
var lossy = network.LinkProfile{Latency: 250 * time.Microsecond, Jitter: 100 * time.Microsecond, Loss: 0.02}

// runClean runs a cluster to its end and fails the test on any violation.
func runClean(t *testing.T, cfg Config) (*Cluster, *Report) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Run()
	if len(r.Violations) > 0 {
		t.Fatalf("violations: %q", r.Violations)
	}
	return c, r
}

// Eight clients at the default rate for two minutes: the log crosses a
// segment boundary, conflicts abound, and the history is checked against
// the strict model.
func TestClientsOnALossyClusterSeeEveryInvariantHold(t *testing.T) {
	_, r := runClean(t, Config{Seed: 1, Nodes: 3, Duration: 2 * time.Minute, Link: lossy, Clients: 8,
		LinearizabilityHTML: t.TempDir() + "/history.html"})
	if r.Clients != 8 || r.Rate != 100 {
		t.Fatalf("report says %d clients at %v/s, want 8 at the default 100", r.Clients, r.Rate)
	}
	// 115 s of load at 100 appends/s, a good share rejected by conflicts.
	if r.Checks.Log.Records*100 < 1<<20 {
		t.Fatalf("the committed log holds %d records, too few to cross a segment", r.Checks.Log.Records)
	}
	if r.AppendsAcknowledged < 4000 || r.AppendsFailed["wrong-expected-version"] == 0 || r.Reads < 500 {
		t.Fatalf("%d appends acknowledged, failed %v, %d reads: want thousands acknowledged, some conflicts, hundreds of reads",
			r.AppendsAcknowledged, r.AppendsFailed, r.Reads)
	}
	lin := r.Checks.Linearizability
	if !r.Linearizable || lin == nil || lin.Model != check.Strict || lin.Operations < r.AppendsAcknowledged || lin.Streams != 4 {
		t.Fatalf("linearizable %v, check %+v: want ok over every operation of the 4 streams", r.Linearizable, lin)
	}
	l := r.Checks.Log
	if l.FinalAcks != r.AppendsAcknowledged || l.FinalReplicas < 1 || l.AcksChecked != r.AppendsAcknowledged || l.ReadEvents == 0 {
		t.Fatalf("log checks %+v: want every one of the %d acknowledged appends checked when answered and found at the end", l, r.AppendsAcknowledged)
	}
	t.Logf("%d appends acknowledged, failed %v, %d reads; linearizability checked in %.3f s", r.AppendsAcknowledged, r.AppendsFailed, r.Reads, r.LinearizabilityCheckSeconds)
}

func TestAcknowledgedWritesSurviveTheLeadersKill(t *testing.T) {
	c, r := runClean(t, Config{Seed: 2, Nodes: 3, Duration: 60 * time.Second, Link: lossy, Clients: 8, Rate: 200,
		Timeline: leaderKilledAt30sBackAt40s})
	if r.LeaderChanges < 2 || r.LeaderAtEnd == "" {
		t.Fatalf("%d leader changes, leader at end %q: the kill did not move leadership", r.LeaderChanges, r.LeaderAtEnd)
	}
	// The kill hit appends in flight: some were invoked before it and
	// settled after.
	spanning := 0
	for _, op := range c.Workload().History() {
		if op.Kind == check.OpAppend && op.Call < 30*time.Second && (op.Return > 30*time.Second || op.Outcome == check.Unknown) {
			spanning++
		}
	}
	if spanning == 0 {
		t.Fatal("no append was in flight when the leader was killed")
	}
	l := r.Checks.Log
	if r.AppendsAcknowledged < 2000 || l.FinalSkipped != "" || l.FinalAcks != r.AppendsAcknowledged || l.FinalReplicas < 1 {
		t.Fatalf("%d appends acknowledged; end check %+v: want every one present on the leader and the replicas caught up with it", r.AppendsAcknowledged, l)
	}
	if !r.Linearizable {
		t.Fatalf("not linearizable: %+v", r.Checks.Linearizability)
	}
	t.Logf("%d appends acknowledged (%d idempotent), %d spanning the kill, failed %v; end check on %d replicas (behind: %v)",
		r.AppendsAcknowledged, r.AppendsIdempotent, spanning, r.AppendsFailed, l.FinalReplicas, l.Behind)
}

func TestRunsWithClientsAreDeterministic(t *testing.T) {
	run := func(seed uint64) *Report {
		c, err := New(Config{Seed: seed, Nodes: 3, Duration: 20 * time.Second, Link: lossy, Clients: 4, Rate: 50})
		if err != nil {
			t.Fatal(err)
		}
		return c.Run()
	}
	a, b, other := run(3), run(3), run(4)
	if a.TraceHash != b.TraceHash || a.AppendsAcknowledged != b.AppendsAcknowledged {
		t.Fatalf("same seed, different runs: %s/%d vs %s/%d", a.TraceHash, a.AppendsAcknowledged, b.TraceHash, b.AppendsAcknowledged)
	}
	if a.TraceHash == other.TraceHash {
		t.Fatal("different seeds, same trace hash")
	}
	if a.AppendsAcknowledged == 0 {
		t.Fatal("no append acknowledged in 20 s")
	}
}

func TestRunWithoutClientsStillChecksTheCommittedLog(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Run()
	if c.Workload() != nil || r.Clients != 0 || r.Checks.Workload != nil {
		t.Fatalf("a run without clients has a workload: %+v", r.Checks.Workload)
	}
	// The first leader's epoch record, applied by the leader and a
	// follower at least (a follower may not learn the commit point of the
	// last record until something more is written).
	if r.Checks.Log.Records < 1 || r.Checks.Log.Applied < 2 {
		t.Fatalf("log checks %+v: the epoch record was not seen applied", r.Checks.Log)
	}
	if !r.Linearizable || r.Checks.Linearizability.Operations != 0 {
		t.Fatalf("an empty history must check out: %+v", r.Checks.Linearizability)
	}
}

// The data checkers are wired to the nodes and clients: fabricated bad
// inputs are reported as violations of the run.
func TestDataCheckersReportThroughTheRun(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.RunUntil(10 * time.Second)
	k := c.checker
	if len(k.violations) > 0 {
		t.Fatalf("violations before anything was fabricated: %q", k.violations)
	}
	// A node applies, where the others applied the first epoch, an event.
	forged := eventlog.Record{Kind: eventlog.KindEvent, Position: 0, Size: 50, Event: eventlog.Event{Stream: "x", ID: [16]byte{1}}}
	k.applied(0, c.Hosts[0].Incarnation+1, []eventlog.Record{forged})
	k.Acknowledged(check.Ack{Client: "c9", Stream: "x", First: 0, IDs: [][16]byte{{2}}, Position: 1 << 30})
	if v := k.violations; len(v) != 2 || !strings.Contains(v[0], "committed prefixes disagree") || !strings.Contains(v[1], "no replica has applied a record at position 1073741824") {
		t.Fatalf("violations %q: want a disagreement and an acknowledged write that was never applied", v)
	}
}

// Clients that also delete streams and replace their metadata, while the
// leader is killed and comes back: soft deletes hide a stream until an
// append (or new metadata) recreates it, numbering on; a $maxCount limits
// what reads show; tombstones end one for good, and the clients and its
// subscriber move to a fresh one. Every outcome is checked against the model with
// deletes, and every subscriber must skip only what a delete hid.
func TestClientsThatDeleteStreamsSeeEveryInvariantHold(t *testing.T) {
	c, r := runClean(t, Config{Seed: 3, Nodes: 3, Duration: 60 * time.Second, Link: lossy, Clients: 8, Rate: 150, Deletes: 0.1, Metadata: 0.1,
		Subscribers: workload.DefaultSubscriberConfigs(workload.DefaultSubscribers, 3, 0),
		Timeline:    leaderKilledAt30sBackAt40s})
	lin := r.Checks.Linearizability
	if !r.Linearizable || lin == nil || lin.Model != check.Strict {
		t.Fatalf("linearizable %v, check %+v: want ok under the strict model", r.Linearizable, lin)
	}
	seen := map[string]int{}
	for _, op := range c.workload.History() {
		seen[op.Kind.String()+" "+op.Outcome.String()]++
	}
	for _, want := range []string{"delete ok", "tombstone ok", "append stream-deleted", "read not-found", "read stream-deleted", "delete wrong-expected-version", "metadata ok"} {
		if seen[want] == 0 {
			t.Errorf("no %q in the history (%v): the run does not exercise what it is for", want, seen)
		}
	}
	ws := r.Checks.Workload
	if ws.DeletesAcknowledged < 100 || r.Checks.Log.AcksChecked < r.AppendsAcknowledged+ws.DeletesAcknowledged {
		t.Fatalf("%d deletes acknowledged, %d acknowledgements checked for %d appends: want every delete's checked too",
			ws.DeletesAcknowledged, r.Checks.Log.AcksChecked, r.AppendsAcknowledged)
	}
	ss, fs := r.Checks.Subscribers, r.Checks.Subscriptions
	if ss.Dropped["stream-deleted"] == 0 || fs.Complete != r.Subscribers {
		t.Fatalf("subscribers %+v, checks %+v: want some moved on from a tombstoned stream, and all complete at the end", ss, fs)
	}
	t.Logf("history %v; %d subscriptions dropped for a tombstone", seen, ss.Dropped["stream-deleted"])
}
