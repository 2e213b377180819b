package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/sim/scenario"
	"github.com/annal-db/annal/sim/workload"
)

// Subscribers on every node, one of them slow, while the leader is killed
// and a follower loses power: every event each one receives is checked
// against the committed log as it arrives, and at the end each must have
// everything its node applied.
func TestSubscribersGetEveryCommittedEventOnceThroughFaults(t *testing.T) {
	subs := append(workload.DefaultSubscriberConfigs(workload.DefaultSubscribers, 3, 0),
		workload.SubscriberConfig{Stream: "stream-3", Node: 0, Slow: 3 * time.Millisecond, Credits: 2})
	_, r := runClean(t, Config{Seed: 3, Nodes: 3, Duration: 45 * time.Second, Link: lossy, Clients: 4, Rate: 100, Subscribers: subs,
		Timeline: []scenario.Step{
			{At: scenario.Duration(10 * time.Second), Do: "kill", Target: "leader", As: "old"},
			{At: scenario.Duration(15 * time.Second), Do: "restart", Target: "old"},
			{At: scenario.Duration(20 * time.Second), Do: "power-off", Target: "follower", As: "lost"},
			{At: scenario.Duration(35 * time.Second), Do: "power-on", Target: "lost"},
		}})
	fs := r.Checks.Subscriptions
	if fs == nil || fs.Feeds != 4 || fs.Complete != 4 || fs.Events != r.SubscriptionDeliveries {
		t.Fatalf("subscription checks %+v: want all 4 subscribers checked event by event (%d deliveries) and complete at the end", fs, r.SubscriptionDeliveries)
	}
	// The $all subscriber alone receives every committed event.
	if r.Subscribers != 4 || r.SubscriptionDeliveries < r.Checks.Log.Events || r.Checks.Log.Events < 2000 {
		t.Fatalf("%d subscribers received %d events; the log committed %d: want thousands, all of them at least once",
			r.Subscribers, r.SubscriptionDeliveries, r.Checks.Log.Events)
	}
	if r.SubscriptionsDropped < 2 || r.SubscriptionsStarted != r.Subscribers+r.SubscriptionsDropped {
		t.Fatalf("%d subscriptions started, %d dropped: want the kill and the power loss to drop some, each followed by a new subscription",
			r.SubscriptionsStarted, r.SubscriptionsDropped)
	}
	dropped := r.Checks.Subscribers.Dropped
	if dropped["connection-reset"] == 0 || dropped["keepalive-timeout"] == 0 {
		t.Fatalf("dropped %v: want resets from the kill and keepalive timeouts from the power loss", dropped)
	}
}

// The subscription checks report through the run: forged messages are
// violations.
func TestSubscriptionChecksReportThroughTheRun(t *testing.T) {
	c, err := New(Config{Seed: 1, Nodes: 3, Duration: time.Minute, Clients: 2,
		Subscribers: []workload.SubscriberConfig{{Stream: "stream-1", Node: 0}, {Stream: "$all", Node: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.RunUntil(10 * time.Second)
	k := c.checker
	if len(k.violations) > 0 {
		t.Fatalf("violations before anything was forged: %q", k.violations)
	}
	k.SubscriberMessage(0, 0, streams.Message{Kind: streams.EventAppeared, Event: streams.Event{Position: 1 << 40, Stream: "stream-1", Number: 99}})
	k.SubscriberMessage(1, 1, streams.Message{Kind: streams.CaughtUp, Position: 1 << 40})
	if v := k.violations; len(v) != 2 || !strings.Contains(v[0], "subscriber s1 received from n1 event 99@\"stream-1\"") ||
		!strings.Contains(v[0], "uncommitted event") || !strings.Contains(v[1], "subscriber s2 got caught-up at $all position 1099511627776") {
		t.Fatalf("violations %q: want an uncommitted delivery to s1 and a false caught-up to s2", v)
	}
}

func TestRunsWithSubscribersAreDeterministic(t *testing.T) {
	run := func(seed uint64) *Report {
		c, err := New(Config{Seed: seed, Nodes: 3, Duration: 20 * time.Second, Link: lossy, Clients: 2, Rate: 50,
			Subscribers: append(workload.DefaultSubscriberConfigs(3, 3, 0), workload.SubscriberConfig{Stream: "$all", Node: -1, Slow: time.Millisecond, Credits: 1}),
			Timeline:    []scenario.Step{{At: scenario.Duration(8 * time.Second), Do: "kill", Target: "leader", As: "old"}, {At: scenario.Duration(12 * time.Second), Do: "restart", Target: "old"}}})
		if err != nil {
			t.Fatal(err)
		}
		return c.Run()
	}
	a, b, other := run(5), run(5), run(6)
	if a.TraceHash != b.TraceHash || a.SubscriptionDeliveries != b.SubscriptionDeliveries {
		t.Fatalf("same seed, different runs: %s/%d vs %s/%d", a.TraceHash, a.SubscriptionDeliveries, b.TraceHash, b.SubscriptionDeliveries)
	}
	if a.TraceHash == other.TraceHash {
		t.Fatal("different seeds, same trace hash")
	}
	if a.SubscriptionDeliveries == 0 || a.SubscriptionsDropped == 0 || len(a.Violations) > 0 {
		t.Fatalf("%d deliveries, %d dropped, violations %q: want deliveries, drops from the kill, no violation",
			a.SubscriptionDeliveries, a.SubscriptionsDropped, a.Violations)
	}
}
