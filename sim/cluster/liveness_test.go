package cluster_test

import (
	"testing"
	"time"

	"github.com/annal-db/annal/core/election"
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/wire"
	"github.com/annal-db/annal/sim/cluster"
	"github.com/annal-db/annal/sim/scenario"
)

// believesAlive reports what n's gossip view says of the member at ep.
func believesAlive(n *node.Node, ep env.Endpoint) (alive, known bool) {
	for _, m := range n.Gossip() {
		if m.HTTPEndPoint == ep {
			return m.IsAlive, true
		}
	}
	return false, false
}

// An election message that arrives straight from a member proves that it
// lives, at once: two nodes that marked each other dead during a partition
// must not wait for random gossip to pair them before they take each other's
// election messages again (found-members-dead-to-each-other-after-heal).
func TestAnElectionMessageMarksItsSenderAlive(t *testing.T) {
	c, err := cluster.New(cluster.Config{Seed: 1, Nodes: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.RunUntil(5 * time.Second)
	var followers []int
	for i := range 3 {
		if n := c.Node(i); n != nil && n.State() == member.Follower {
			followers = append(followers, i)
		}
	}
	if len(followers) != 2 {
		t.Fatalf("after 5 s, followers %v; want two (the test needs a settled cluster)", followers)
	}
	// Cut the two followers from each other: each one's gossip with the
	// other fails, and it marks the other dead. The leader reaches both.
	a, b := c.Node(followers[0]), c.Node(followers[1])
	bEP := b.AdvertisedNode()
	c.Apply(scenario.Step{Do: "partition", Target: names[followers[0]], With: []string{names[followers[1]]}})
	for deadline := 5 * time.Second; ; deadline += 500 * time.Millisecond {
		if alive, known := believesAlive(a, bEP); known && !alive {
			break
		}
		if deadline > 60*time.Second {
			t.Fatalf("%s never marked %s dead while cut from it", names[followers[0]], names[followers[1]])
		}
		c.RunUntil(deadline)
	}

	// A message from b arrives (as it would the moment the partition heals):
	// a must count b alive before anything else runs, gossip included.
	msg := &election.ViewChange{From: election.From{ServerID: b.ID(), HTTP: bEP}, AttemptedView: 0}
	answered := false
	a.HandleRequest(bEP, election.MethodElection, wire.Marshal(msg), func(_ []byte, err error) {
		answered = true
		if err != nil {
			t.Errorf("the election message was refused: %v", err)
		}
	})
	if !answered {
		t.Fatal("the election message got no answer")
	}
	if alive, _ := believesAlive(a, bEP); !alive {
		t.Errorf("%s still believes %s dead after an election message straight from it", names[followers[0]], names[followers[1]])
	}
	c.Finish()
	if v := c.Violations(); len(v) > 0 {
		t.Errorf("violations: %v", v)
	}
}

var names = []string{"n1", "n2", "n3"}
