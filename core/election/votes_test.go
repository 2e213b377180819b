package election_test

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/election"
	"github.com/annal-db/annal/core/member"
)

// A view is decided by a quorum of distinct nodes. The same node's Accept
// can arrive more than once (a network that duplicates, a retry, and every
// decider relays the votes it counted), and each copy must count once:
// otherwise two nodes of five would elect a leader, and three others could
// elect another in the same view.
func TestAVoteCountsOncePerNode(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 5, 0)
		a, b, d, e := c.nodes[0], c.nodes[1], c.nodes[2], c.nodes[3]
		view := coordinate(rt, a, b, d)
		copies := rapid.IntRange(2, 6).Draw(rt, "copies of b's accept")
		number := int32(rapid.IntRange(1, 9).Draw(rt, "proposal number"))
		vote := func(from *tnode) {
			a.svc.Handle(&election.Accept{From: from.from(), Leader: b.from(), View: view, Number: number})
		}
		for range copies {
			vote(b)
		}
		// A relayed copy of b's vote names b as its voter too.
		vote(b)
		if len(a.elected) > 0 {
			rt.Fatalf("decided view %d on %d copies of one node's accept; a quorum of 5 is 3 distinct nodes", view, copies+1)
		}
		vote(d)
		if len(a.elected) > 0 {
			rt.Fatalf("decided view %d on the accepts of 2 distinct nodes; a quorum of 5 is 3", view)
		}
		vote(e)
		if len(a.elected) != 1 {
			rt.Fatalf("3 distinct nodes accepted b in view %d and a decided %d times", view, len(a.elected))
		}
	})
}

// An acceptor accepts one candidate per view: once it has sent its Accept
// for one leader, a proposal of another leader in the same view (a second
// coordinator's, even with a higher number) gets no Accept. Two Accepts of
// one node for two leaders could each complete a different quorum.
func TestAnAcceptorVotesForOneCandidatePerView(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := newCluster(rt, 5, 0)
		a, b, d := c.nodes[0], c.nodes[1], c.nodes[2]
		for _, n := range c.nodes {
			n.down = n != a // a's messages go nowhere; the test delivers theirs
			n.state.WriterCheckpoint = a.state.WriterCheckpoint
		}
		a.svc.StartElections()
		view := a.svc.Installed() + 1
		a.svc.Handle(&election.Prepare{From: b.from(), View: view})
		c.clock.Advance(10 * time.Millisecond) // the promise is persisted
		if a.svc.Phase() != election.Acceptor {
			rt.Fatalf("a is %v after b's prepare for view %d, not an acceptor", a.svc.Phase(), view)
		}
		number := int32(rapid.IntRange(1, 9).Draw(rt, "first proposal number"))
		a.sent = nil
		a.svc.Handle(&election.Proposal{From: b.from(), Leader: b.state, View: view, Number: number})
		c.clock.Advance(10 * time.Millisecond)
		if accepts := acceptsFor(a.sent, view); len(accepts) != 1 || accepts[0] != b.info.InstanceID {
			rt.Fatalf("a accepted %v for b's proposal in view %d; want one Accept for b", accepts, view)
		}
		higher := number + int32(rapid.IntRange(1, 5).Draw(rt, "how much higher the second proposal is"))
		a.svc.Handle(&election.Proposal{From: d.from(), Leader: d.state, View: view, Number: higher})
		c.clock.Advance(10 * time.Millisecond)
		for _, id := range acceptsFor(a.sent, view) {
			if id != b.info.InstanceID {
				rt.Fatalf("a accepted b, then d, in view %d (numbers %d and %d): one vote per view", view, number, higher)
			}
		}
	})
}

// acceptsFor lists the leaders of the Accepts among ms for view, in order,
// without the copies of one leader.
func acceptsFor(ms []election.Message, view int32) []member.ID {
	var out []member.ID
	for _, m := range ms {
		if acc, ok := m.(*election.Accept); ok && acc.View == view && !slices.Contains(out, acc.Leader.ServerID) {
			out = append(out, acc.Leader.ServerID)
		}
	}
	return out
}
