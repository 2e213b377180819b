package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/sim/check"
	"github.com/annal-db/annal/sim/scenario"
)

func TestExpectationsOnCatchUpSubscribersAndMarksByClient(t *testing.T) {
	ten := 10
	r := &Report{
		AppendsAcknowledged: 5, SubscriptionDeliveries: 3,
		Checks: Checks{
			Log:           check.LogStats{Behind: []string{"n2"}},
			Subscriptions: &check.FeedStats{Feeds: 2, Complete: 1, Unsettled: []string{"s2"}},
		},
		marks: []mark{
			{at: 21 * time.Second, node: "n3", kind: "subscription-dropped", state: "keepalive-timeout", client: "s1"},
			{at: 22 * time.Second, node: "n1", kind: "not-leader", state: "read", client: "c1"},
		},
	}
	failed := r.Check(scenario.Expect{
		CaughtUpAtEnd: true, SubscribersCaughtUpAtEnd: true, MinAcknowledged: &ten, MinSubscriptionDeliveries: &ten,
		MustHappen: []scenario.Mark{
			{Event: "subscription-dropped", Client: "s1", State: "keepalive-timeout", After: scenario.Duration(20 * time.Second)},
			{Event: "not-leader", Client: "c2"},
		},
		MustNotHappen: []scenario.Mark{{Event: "not-leader", State: "read", Node: "n1"}},
	})
	for i, want := range []string{
		"caught up at end: [n2] up but behind the leader",
		"subscribers caught up at end: [s2] still waiting",
		"appends acknowledged: 5, expected at least 10",
		"subscription deliveries: 3, expected at least 10",
		"never happened: not-leader by c2",
		"happened 1 times: not-leader on n1 to read",
	} {
		if i >= len(failed) || !strings.Contains(failed[i], want) {
			t.Fatalf("failed expectations %q: want %q at %d", failed, want, i)
		}
	}
	if len(failed) != 6 {
		t.Fatalf("failed expectations %q: want exactly 6 (the dropped subscription by s1 did happen)", failed)
	}
}
