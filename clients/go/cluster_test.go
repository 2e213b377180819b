package clienttests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/gossip"
	"github.com/stretchr/testify/require"
)

// A frozen leader is noticed only through missed heartbeats: by the other
// nodes, and by the client's keepalive (10 s interval + 10 s timeout by
// default). The bound on the retry loop leaves room for both.
const (
	failoverBound   = 45 * time.Second
	attemptDeadline = 5 * time.Second
	readBackBound   = 20 * time.Second
)

// failover is what it took to get an append acknowledged after a failure.
type failover struct {
	elapsed    time.Duration
	ids        []uuid.UUID
	attempts   []string
	newClients int
}

func (f failover) String() string {
	s := fmt.Sprintf("next acknowledged append after %v (%d failed attempts", f.elapsed.Round(time.Millisecond), len(f.attempts))
	if f.newClients > 0 {
		s += fmt.Sprintf(", %d new client(s) because the old one closed itself", f.newClients)
	}
	if len(f.attempts) > 0 {
		s += ": " + strings.Join(f.attempts[:min(3, len(f.attempts))], " | ")
	}
	return s + ")"
}

// appendUntilAcknowledged retries one append until the cluster takes it.
// The Go client closes itself for good when a discovery fails; then a new
// client, from the same connection string, carries on, and that is counted.
func appendUntilAcknowledged(t *testing.T, c **kurrentdb.Client, connString, stream string, since time.Time) failover {
	t.Helper()
	var f failover
	deadline := attemptDeadline
	for time.Since(since) < failoverBound {
		events := makeEvents(1, "AfterFailure", 0)
		ctx, cancel := context.WithTimeout(context.Background(), attemptDeadline+time.Second)
		_, err := (*c).AppendToStream(ctx, stream, kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Any{}, Deadline: &deadline}, events...)
		cancel()
		if err == nil {
			f.elapsed = time.Since(since)
			f.ids = ids(events)
			return f
		}
		code, _ := errorCode(err)
		f.attempts = append(f.attempts, fmt.Sprintf("+%v %s: %v", time.Since(since).Round(time.Millisecond), codeName(code), firstLine(err)))
		if code == kurrentdb.ErrorCodeConnectionClosed {
			*c = connect(t, connString)
			f.newClients++
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no append was acknowledged within %v of the failure; attempts:\n  %s", failoverBound, strings.Join(f.attempts, "\n  "))
	return f
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// readBack reads the stream until it holds every acknowledged event (a
// replica may still be catching up), bounded in time, and checks it.
func readBack(t *testing.T, c *kurrentdb.Client, stream string, acked []uuid.UUID, what string) []*kurrentdb.ResolvedEvent {
	t.Helper()
	var evs []*kurrentdb.ResolvedEvent
	var lastErr error
	has := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		evs, lastErr = readStream(ctx, c, stream, kurrentdb.ReadStreamOptions{}, 1_000_000)
		if lastErr != nil {
			return false
		}
		got := eventIDs(evs)
		for _, id := range acked {
			if !slices.Contains(got, id) {
				return false
			}
		}
		return true
	}
	if !waitUntil(context.Background(), readBackBound, 300*time.Millisecond, has) {
		got := eventIDs(evs)
		var missing []uuid.UUID
		for _, id := range acked {
			if !slices.Contains(got, id) {
				missing = append(missing, id)
			}
		}
		t.Fatalf("%s: after %v, %d of %d acknowledged events are missing (read %d events, last error %v)", what, readBackBound, len(missing), len(acked), len(evs), lastErr)
	}
	revs := revisions(evs)
	for i, r := range revs {
		require.Equal(t, uint64(i), r, "%s: revisions are contiguous from 0", what)
	}
	got := eventIDs(evs)
	last := -1
	seen := map[uuid.UUID]bool{}
	for _, id := range got {
		require.False(t, seen[id], "%s: event %v is stored twice", what, id)
		seen[id] = true
	}
	for _, id := range acked {
		i := slices.Index(got, id)
		require.Greater(t, i, last, "%s: acknowledged events keep their order", what)
		last = i
	}
	return evs
}

// talkingTo names the node the client last connected to, and its role, to
// tell a failover that hit the client's node from one that did not.
func talkingTo(g *group, c *kurrentdb.Client, old *annalNode) string {
	ep := ""
	if l, ok := clientLogs.Load(c); ok {
		ep = l.(*clientLog).lastConnection()
	}
	for _, n := range g.nodes {
		if n.endpoint() == ep {
			if n == old {
				return "client on " + n.name + " (the failed leader)"
			}
			return "client on " + n.name + " (" + n.lastState() + ")"
		}
	}
	return "client on " + ep
}

func appendBefore(t *testing.T, c *kurrentdb.Client, stream string) []uuid.UUID {
	var acked []uuid.UUID
	for i := range 5 {
		events := makeEvents(2, "BeforeFailure", 2*i)
		appendEvents(t, c, stream, kurrentdb.Any{}, events...)
		acked = append(acked, ids(events)...)
	}
	return acked
}

func TestClusterGossipSeedsThenLeaderKilled(t *testing.T) {
	g := startCluster(t)

	t.Run("the client's gossip shows one leader and two followers", func(t *testing.T) {
		leader := g.leader(t, 2)
		c := connect(t, g.connString("nodePreference=leader"))
		// Gossip spreads states in rounds, so a member's view may lag
		// the logs for a little while.
		const bound = 10 * time.Second
		var leaders, followers, seen []string
		var err error
		started := time.Now()
		converged := waitUntil(context.Background(), bound, 200*time.Millisecond, func() bool {
			var members []*gossip.MemberInfo
			members, err = c.Gossip(opContext(t))
			if err != nil {
				return false
			}
			leaders, followers, seen = nil, nil, nil
			for _, m := range members {
				ep := fmt.Sprintf("%s:%d", m.GetHttpEndPoint().GetAddress(), m.GetHttpEndPoint().GetPort())
				seen = append(seen, fmt.Sprintf("%s %v alive=%v", ep, m.GetState(), m.GetIsAlive()))
				if !m.GetIsAlive() {
					continue
				}
				switch m.GetState() {
				case gossip.MemberInfo_Leader:
					leaders = append(leaders, ep)
				case gossip.MemberInfo_Follower:
					followers = append(followers, ep)
				}
			}
			return len(members) == 3 && len(leaders) == 1 && len(followers) == 2
		})
		require.NoError(t, err, "Gossip.Read")
		require.True(t, converged, "within %v, gossip (from the node the client uses) should list the three members alive, one Leader and two Followers, as their logs say; last gossip: %v\n%s", bound, seen, g.describe())
		t.Logf("gossip showed one leader and two followers %v after the logs did", time.Since(started).Round(time.Millisecond))
		require.Equal(t, []string{leader.endpoint()}, leaders, "gossip's leader is the node whose log says Leader")
		require.ElementsMatch(t, g.endpoints(), append(leaders, followers...), "gossip advertises the client-reachable node endpoints")
	})

	t.Run("appends and reads with nodePreference=leader", func(t *testing.T) {
		c := connect(t, g.connString("nodePreference=leader"))
		stream := uniqueName("cluster-leader")
		first := makeEvents(3, "TestEvent", 0)
		second := makeEvents(2, "TestEvent", 3)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, first...)
		res := appendEvents(t, c, stream, kurrentdb.Revision(2), second...)
		require.Equal(t, uint64(4), res.NextExpectedVersion)
		want := append(ids(first), ids(second)...)
		require.Equal(t, want, eventIDs(mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100)))
		require.Equal(t, []uint64{4, 3}, revisions(mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 2)))
		all := inStreams(mustReadAll(t, c, kurrentdb.ReadAllOptions{}, 1_000_000), stream)
		require.Equal(t, want, eventIDs(all), "$all on the cluster holds the events in order")
	})

	t.Run("appends and reads with nodePreference=follower", func(t *testing.T) {
		c := connect(t, g.connString("nodePreference=follower"))
		stream := uniqueName("cluster-follower")
		var acked []uuid.UUID
		var notLeader []string
		// Writes reaching a follower are forwarded to the leader; a server
		// that answers not-leader instead costs one attempt (the client then
		// reconnects to the leader it names).
		for i := range 3 {
			events := makeEvents(2, "TestEvent", 2*i)
			for attempt := 0; ; attempt++ {
				_, err := c.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{}, events...)
				if err == nil {
					break
				}
				code, _ := errorCode(err)
				if code != kurrentdb.ErrorCodeNotLeader || attempt >= 2 {
					t.Fatalf("append through a follower: %s: %v", codeName(code), err)
				}
				notLeader = append(notLeader, firstLine(err))
			}
			acked = append(acked, ids(events)...)
		}
		if len(notLeader) > 0 {
			t.Logf("follower preference: appends answered not-leader %d time(s): %s", len(notLeader), notLeader[0])
		}
		readBack(t, c, stream, acked, "a read with follower preference")
	})

	t.Run("a follower asked directly forwards writes to the leader", func(t *testing.T) {
		leader := g.leader(t, 2)
		var follower *annalNode
		for _, n := range g.nodes {
			if n != leader {
				follower = n
				break
			}
		}
		// One host: a direct connection, no discovery. (This client never
		// sends requires-leader, so the follower must forward.)
		c := connect(t, "esdb://"+follower.endpoint()+"?tls=false&nodePreference=follower")
		stream := uniqueName("cluster-direct")
		events := makeEvents(3, "TestEvent", 0)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, events...)
		readBack(t, c, stream, ids(events), "a read from follower "+follower.name)
	})

	t.Run("the leader killed with SIGKILL: the client carries on and keeps every acknowledged event", func(t *testing.T) {
		cs := g.connString("nodePreference=leader")
		c := connect(t, cs)
		stream := uniqueName("failover-kill")
		acked := appendBefore(t, c, stream)
		old := g.leader(t, 2)
		via := talkingTo(g, c, old)
		since := time.Now()
		require.NoError(t, old.kill())
		f := appendUntilAcknowledged(t, &c, cs, stream, since)
		acked = append(acked, f.ids...)
		fmt.Printf("FAILOVER go KurrentDB-Client-Go SIGKILL leader %s, %s: %v\n", old.name, via, f)
		now := g.leader(t, 1, old)
		require.NotEqual(t, old, now)
		for range 3 {
			events := makeEvents(1, "AfterFailover", 0)
			appendEvents(t, c, stream, kurrentdb.Any{}, events...)
			acked = append(acked, ids(events)...)
		}
		readBack(t, c, stream, acked, "a read from the new leader "+now.name)
	})
}

func TestClusterLeaderFrozen(t *testing.T) {
	g := startCluster(t)
	cs := g.connString("nodePreference=leader")
	c := connect(t, cs)
	stream := uniqueName("failover-stop")
	acked := appendBefore(t, c, stream)
	old := g.leader(t, 2)
	via := talkingTo(g, c, old)
	since := time.Now()
	old.freeze(t)
	f := appendUntilAcknowledged(t, &c, cs, stream, since)
	acked = append(acked, f.ids...)
	fmt.Printf("FAILOVER go KurrentDB-Client-Go SIGSTOP leader %s, %s: %v\n", old.name, via, f)
	now := g.leader(t, 1, old)
	require.NotEqual(t, old, now)
	readBack(t, c, stream, acked, "a read from the new leader "+now.name)

	thawed := time.Now()
	old.thaw(t)
	// A leader that sees another leader in gossip calls an election (as
	// EventStoreDB does), so leadership may move once the stale leader is
	// back; what must hold is one leader and two followers, the old leader
	// among them.
	settled := g.leader(t, 2)
	moved := "unchanged"
	if settled != now {
		moved = "moved from " + now.name
	}
	fmt.Printf("go: %s back as %s, logs and gossip agreeing, %v after SIGCONT; leader %s (%s)\n", old.name, old.lastState(), time.Since(thawed).Round(time.Millisecond), settled.name, moved)

	// The client carries on through any election the rejoin caused.
	after := appendUntilAcknowledged(t, &c, cs, stream, time.Now())
	acked = append(acked, after.ids...)
	if len(after.attempts) > 0 {
		fmt.Printf("go: appends after the rejoin: %v\n", after)
	}
	direct := connect(t, "esdb://"+old.endpoint()+"?tls=false&nodePreference=follower")
	readBack(t, direct, stream, acked, "a read from the rejoined "+old.name)
}
