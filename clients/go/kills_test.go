package clienttests

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
)

// killRounds nodes are killed with SIGKILL, one at a time, every other one
// the leader, each restarted on its own data after a pause.
const (
	killRounds   = 6
	killWriters  = 3
	betweenKills = 1500 * time.Millisecond
	downFor      = 500 * time.Millisecond
	// maxAppends bounds each writer however fast the cluster is.
	maxAppends = 20_000
)

// killWriter appends one event at a time to its own stream, through its
// own client, until stopped, and keeps what it learned of each append.
type killWriter struct {
	stream  string
	cs      string
	mu      sync.Mutex
	acked   []uuid.UUID        // acknowledged, in order
	unknown map[uuid.UUID]bool // failed: written or not
	ackedAt []time.Time
	clients int
	lastErr string
}

func (w *killWriter) run(stop <-chan struct{}) {
	c, err := newClient(w.cs)
	if err != nil {
		w.note(uuid.Nil, err)
		return
	}
	defer func() { _ = c.Close() }()
	deadline := 2 * time.Second
	for range maxAppends {
		select {
		case <-stop:
			return
		default:
		}
		events := makeEvents(1, "Kill", 0)
		ctx, cancel := context.WithTimeout(context.Background(), deadline+time.Second)
		_, err := c.AppendToStream(ctx, w.stream, kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Any{}, Deadline: &deadline}, events...)
		cancel()
		w.note(events[0].EventID, err)
		if err == nil {
			continue
		}
		// The Go client closes itself for good when a discovery fails
		// (no leader for a while); a new one carries on.
		if code, _ := errorCode(err); code == kurrentdb.ErrorCodeConnectionClosed {
			_ = c.Close()
			if c, err = newClient(w.cs); err != nil {
				w.note(uuid.Nil, err)
				return
			}
			w.mu.Lock()
			w.clients++
			w.mu.Unlock()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *killWriter) note(id uuid.UUID, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.acked = append(w.acked, id)
		w.ackedAt = append(w.ackedAt, time.Now())
	case id != uuid.Nil:
		w.unknown[id] = true
		w.lastErr = firstLine(err)
	default:
		w.lastErr = firstLine(err)
	}
}

func (w *killWriter) ackedSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.ackedAt {
		if !at.Before(t) {
			n++
		}
	}
	return n
}

func newClient(connString string) (*kurrentdb.Client, error) {
	cfg, err := kurrentdb.ParseConnectionString(connString)
	if err != nil {
		return nil, err
	}
	cfg.Logger = func(kurrentdb.LogLevel, string, ...any) {}
	return kurrentdb.NewClient(cfg)
}

// Nodes on disk, killed with SIGKILL one after another under a steady
// stream of appends, then all at once, each restarted on its own data:
// every acknowledged append is kept, once, in order, on every node, and
// the cluster takes appends again once the kills stop. (A kill leaves the
// kernel's page cache, so this proves recovery and replication, not the
// syncs: the simulator's crashes lose unsynced pages.)
func TestAcknowledgedAppendsSurviveRepeatedKills(t *testing.T) {
	g := startGroupWith(t, 3, false, true)
	cs := g.connString("nodePreference=leader")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	writers := make([]*killWriter, killWriters)
	for i := range writers {
		writers[i] = &killWriter{stream: uniqueName("kills"), cs: cs, unknown: map[uuid.UUID]bool{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			writers[i].run(stop)
		}()
	}
	stopped := false
	stopWriters := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopWriters)

	var killed []string
	for round := range killRounds {
		time.Sleep(betweenKills)
		victim := g.nodes[rng.IntN(len(g.nodes))]
		if round%2 == 0 {
			if l, _, _ := g.agreedLeader(0, nil); l != nil {
				victim = l
			}
		}
		role := victim.lastState()
		require.NoError(t, victim.kill())
		killed = append(killed, victim.name+" ("+role+")")
		time.Sleep(downFor)
		victim.start(t)
		victim.waitLive(t)
	}
	// Last, the whole cluster at once: no node keeps what the others
	// lost, so each must recover every acknowledged append from its own disk.
	var kills sync.WaitGroup
	for _, n := range g.nodes {
		kills.Add(1)
		go func() {
			defer kills.Done()
			_ = n.kill()
		}()
	}
	kills.Wait()
	killed = append(killed, "all")
	for _, n := range g.nodes {
		require.False(t, n.running(), "%s survived SIGKILL", n.name)
		n.start(t)
	}
	for _, n := range g.nodes {
		n.waitLive(t)
	}
	g.leader(t, 2)
	recovered := time.Now()
	// Appends go on once the cluster is whole again.
	require.True(t, waitUntil(context.Background(), 20*time.Second, 100*time.Millisecond, func() bool {
		for _, w := range writers {
			if w.ackedSince(recovered) == 0 {
				return false
			}
		}
		return true
	}), "no append acknowledged for some writer within 20 s after the cluster recovered:\n%s", g.describe())
	stopWriters()

	total, unknown, clients := 0, 0, 0
	for _, w := range writers {
		total += len(w.acked)
		unknown += len(w.unknown)
		clients += w.clients
		require.NotEmpty(t, w.acked, "writer of %s: nothing acknowledged (last error %s)", w.stream, w.lastErr)
	}
	t.Logf("killed %v; %d appends acknowledged, %d with unknown outcome, %d new clients", killed, total, unknown, clients)

	// Every node, asked directly, holds the same events: each
	// acknowledged one, in order, and nothing that was never sent.
	var reference map[string][]uuid.UUID
	for _, n := range g.nodes {
		c := connect(t, "esdb://"+n.endpoint()+"?tls=false&nodePreference=follower")
		here := map[string][]uuid.UUID{}
		for _, w := range writers {
			got := eventIDs(readBack(t, c, w.stream, w.acked, "a read from "+n.name))
			for _, id := range got {
				if !w.unknown[id] && !slices.Contains(w.acked, id) {
					t.Errorf("%s on %s holds %v, which was never appended", w.stream, n.name, id)
				}
			}
			here[w.stream] = got
		}
		if reference == nil {
			reference = here
			continue
		}
		for _, w := range writers {
			require.Equal(t, reference[w.stream], here[w.stream], "%s reads the same on %s as on %s", w.stream, n.name, g.nodes[0].name)
		}
	}
}
