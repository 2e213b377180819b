package workload

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/wire"
	"github.com/annal-db/annal/sim/check"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/host"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/world"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode answers the client protocol as a script says.
type fakeNode struct {
	ep      env.Endpoint
	appends []node.AppendRequest // every append request received
	reads   int
	answer  func(req *node.AppendRequest) node.WriteResult
	read    func(req *node.ReadRequest) node.ReadResult
}

func (f *fakeNode) HandleRequest(_ env.Endpoint, method string, raw []byte, reply func([]byte, error)) {
	switch method {
	case node.MethodAppend:
		var req node.AppendRequest
		if err := wire.UnmarshalInto(raw, &req); err != nil {
			reply(nil, &env.RemoteError{Code: 400, Message: err.Error()})
			return
		}
		f.appends = append(f.appends, req)
		res := f.answer(&req)
		reply(wire.Marshal(&res), nil)
	case node.MethodReadStream:
		var req node.ReadRequest
		if err := wire.UnmarshalInto(raw, &req); err != nil {
			reply(nil, &env.RemoteError{Code: 400, Message: err.Error()})
			return
		}
		f.reads++
		res := f.read(&req)
		reply(wire.Marshal(&res), nil)
	}
}

// sink collects what clients are told.
type sink struct {
	acks  []check.Ack
	reads int
}

func (s *sink) Acknowledged(a check.Ack)                         { s.acks = append(s.acks, a) }
func (s *sink) ReadServed(env.Endpoint, string, []streams.Event) { s.reads++ }

type rig struct {
	w      *world.World
	fabric *network.Fabric
	nodes  []*fakeNode
	sink   *sink
	wl     *Workload
}

// newRig places fake nodes n1..nN (10.0.0.i:2113) and the clients.
func newRig(t *testing.T, seed uint64, fakes []*fakeNode, cfg Config) *rig {
	t.Helper()
	w := world.New(seed, nil)
	r := &rig{w: w, fabric: network.New(w, network.DefaultConfig()), nodes: fakes, sink: &sink{}}
	for i, f := range fakes {
		addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		f.ep = env.Endpoint{Host: addr.String(), Port: 2113}
		cfg.Nodes = append(cfg.Nodes, f.ep)
		fake := f
		h := host.New(w, r.fabric, host.Config{Name: fmt.Sprintf("n%d", i+1), Addrs: []netip.Addr{addr}, Disk: disk.DefaultConfig()},
			func(e env.Env) func() {
				if fake.answer == nil {
					return func() {} // a host whose node is down: nothing listens
				}
				l, err := e.Net.Serve(fake.ep, fake)
				if err != nil {
					t.Errorf("fake node cannot serve: %v", err)
					return func() {}
				}
				return l.Close
			}, nil)
		h.Start()
	}
	wl, err := New(w, r.fabric, cfg, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	r.wl = wl
	wl.Start()
	return r
}

// committing answers appends as a leader that writes them; with
// timeoutFirst, the first attempt of each append times out after writing
// (the client must retry, and the retry is answered as idempotent).
func committing(timeoutFirst bool) func(*node.AppendRequest) node.WriteResult {
	last := map[string]int64{}
	written := map[[16]byte]int64{}
	pos := int64(0)
	return func(req *node.AppendRequest) node.WriteResult {
		if rev, ok := written[req.Events[0].ID]; ok {
			return node.WriteResult{Revision: rev + int64(len(req.Events)) - 1, Position: pos, Idempotent: true}
		}
		rev := last[req.Stream] + 1
		if _, ok := last[req.Stream]; !ok {
			rev = 0
		}
		written[req.Events[0].ID] = rev
		last[req.Stream] = rev + int64(len(req.Events)) - 1
		pos += 100
		if timeoutFirst {
			return node.WriteResult{Err: &streams.TimeoutError{Stream: req.Stream, Err: node.ErrAmbiguous}}
		}
		return node.WriteResult{Revision: last[req.Stream], Position: pos}
	}
}

func notFound(*node.ReadRequest) node.ReadResult {
	return node.ReadResult{LastRevision: -1, Err: &streams.StreamNotFoundError{}}
}

func TestClientsFollowTheLeaderAndRetryAmbiguousWritesWithTheSameIDs(t *testing.T) {
	leader := &fakeNode{answer: committing(true), read: notFound}
	follower := &fakeNode{read: func(*node.ReadRequest) node.ReadResult {
		return node.ReadResult{Err: &node.NotLeaderError{Leader: leader.ep}}
	}}
	follower.answer = func(*node.AppendRequest) node.WriteResult {
		return node.WriteResult{Err: &node.NotLeaderError{Leader: leader.ep}}
	}
	r := newRig(t, 1, []*fakeNode{follower, leader}, Config{Clients: 3, Rate: 20, StopAt: 10 * time.Second})
	r.w.RunUntil(20 * time.Second)

	history := r.wl.History()
	appends := 0
	for _, op := range history {
		if op.Kind != check.OpAppend {
			continue
		}
		appends++
		if op.Outcome != check.OK || op.Attempts < 2 {
			t.Fatalf("append %v: outcome %v after %d attempts; want OK after a retry of the timed-out first attempt", &op, op.Outcome, op.Attempts)
		}
	}
	if appends < 100 {
		t.Fatalf("%d appends in 10 s at 20/s; want about 200", appends)
	}
	// The leader saw each append exactly twice, with the same ids.
	seen := map[[16]byte][]node.AppendRequest{}
	for _, req := range leader.appends {
		seen[req.Events[0].ID] = append(seen[req.Events[0].ID], req)
	}
	if len(seen) != appends {
		t.Fatalf("the leader saw %d distinct appends, the clients made %d", len(seen), appends)
	}
	for first, reqs := range seen {
		if len(reqs) != 2 {
			t.Fatalf("append %x reached the leader %d times, want 2 (the ambiguous attempt and its retry)", first, len(reqs))
		}
		a, b := reqs[0], reqs[1]
		if a.Stream != b.Stream || a.Expected != b.Expected || len(a.Events) != len(b.Events) {
			t.Fatalf("retry differs from the first attempt: %+v vs %+v", a, b)
		}
		for k := range a.Events {
			if a.Events[k].ID != b.Events[k].ID {
				t.Fatalf("retry of %x changed event %d's id: %x vs %x", first, k, a.Events[k].ID, b.Events[k].ID)
			}
		}
	}
	if len(follower.appends) == 0 {
		t.Fatal("no client ever called the follower; the test does not exercise following the leader")
	}
	if len(r.sink.acks) != appends {
		t.Fatalf("%d acks reached the sink, want one per append (%d)", len(r.sink.acks), appends)
	}
	for _, a := range r.sink.acks {
		if !a.Idempotent {
			t.Fatalf("ack %v is not idempotent, but every success answered a retry", &a)
		}
	}
	s := r.wl.Stats()
	if s.Acknowledged != appends || s.Idempotent != appends || len(s.Failed) != 0 {
		t.Fatalf("stats %+v: want %d acknowledged, all idempotent, none failed", s, appends)
	}
}

func TestAppendsWithoutADefiniteAnswerEndUnknown(t *testing.T) {
	timeouts := &fakeNode{read: notFound, answer: func(req *node.AppendRequest) node.WriteResult {
		return node.WriteResult{Err: &streams.TimeoutError{Stream: req.Stream, Err: node.ErrAmbiguous}}
	}}
	r := newRig(t, 2, []*fakeNode{timeouts}, Config{Clients: 1, Rate: 10, MaxAttempts: 3, StopAt: 5 * time.Second})
	r.w.RunUntil(30 * time.Second)
	unknown := 0
	for _, op := range r.wl.History() {
		if op.Kind == check.OpAppend {
			if op.Outcome != check.Unknown || op.Attempts != 3 {
				t.Fatalf("append %v: outcome %v after %d attempts, want unknown after 3", &op, op.Outcome, op.Attempts)
			}
			unknown++
		}
	}
	if unknown == 0 || r.wl.Stats().Failed["unknown-outcome"] != unknown {
		t.Fatalf("%d unknown appends, stats %+v", unknown, r.wl.Stats())
	}
}

func TestAppendsNoNodeEverTookFailForSure(t *testing.T) {
	down := &fakeNode{} // nothing listens: every call is refused
	r := newRig(t, 3, []*fakeNode{down}, Config{Clients: 1, Rate: 10, MaxAttempts: 4, StopAt: 3 * time.Second})
	r.w.RunUntil(20 * time.Second)
	failed := 0
	for _, op := range r.wl.History() {
		if op.Kind == check.OpAppend {
			if op.Outcome != check.Failed {
				t.Fatalf("append %v to a node that refuses every connection: outcome %v, want failed (it cannot have been written)", &op, op.Outcome)
			}
			failed++
		}
	}
	if failed == 0 || r.wl.Stats().Failed["unreachable"] != failed {
		t.Fatalf("%d failed appends, stats %+v; want all counted as unreachable", failed, r.wl.Stats())
	}
}

func TestRateAndHistoryAreDeterministic(t *testing.T) {
	run := func(seed uint64) []check.Op {
		leader := &fakeNode{answer: committing(false), read: notFound}
		r := newRig(t, seed, []*fakeNode{leader}, Config{Clients: 4, Rate: 100, StopAt: 10 * time.Second})
		r.w.RunUntil(11 * time.Second)
		return r.wl.History()
	}
	a, b, c := run(5), run(5), run(6)
	appends := 0
	for _, op := range a {
		if op.Kind == check.OpAppend {
			appends++
		}
	}
	// 10 s at 100 appends/s: a Poisson count of mean 1000 (sd about 32).
	if appends < 850 || appends > 1150 {
		t.Fatalf("%d appends in 10 s at 100/s", appends)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same seed gave two different histories")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("different seeds gave the same history")
	}
}

func TestConfigIsChecked(t *testing.T) {
	w := world.New(1, nil)
	fabric := network.New(w, network.DefaultConfig())
	nodes := []env.Endpoint{{Host: "10.0.0.1", Port: 2113}}
	for _, cfg := range []Config{
		{Clients: 0, Nodes: nodes},
		{Clients: MaxClients + 1, Nodes: nodes},
		{Clients: 1},
		{Clients: 1, Nodes: nodes, ReadFraction: 1},
		{Clients: 1, Nodes: nodes, Rate: -1},
		{Clients: 1, Nodes: nodes, Deletes: -0.1},
		{Clients: 1, Nodes: nodes, Deletes: 1.5},
		{Clients: 1, Nodes: nodes, Metadata: -1},
		{Clients: 1, Nodes: nodes, Deletes: 0.6, Metadata: 0.6},
	} {
		if _, err := New(w, fabric, cfg, &sink{}); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestAnAppendInFlightWhenItsClientDiesStaysUnknown(t *testing.T) {
	silent := &fakeNode{read: notFound}
	silent.answer = func(*node.AppendRequest) node.WriteResult {
		return node.WriteResult{Err: &streams.TimeoutError{Err: node.ErrAmbiguous}}
	}
	r := newRig(t, 4, []*fakeNode{silent}, Config{Clients: 1, Rate: 50, ReadFraction: 0.01, MaxAttempts: 1000, MaxOpTime: time.Hour})
	r.w.RunUntil(5 * time.Second)
	h := r.wl.Hosts()[0]
	h.Kill()
	r.w.RunUntil(6 * time.Second)
	h.Start()
	r.w.RunUntil(7 * time.Second)
	history := r.wl.History()
	if len(history) < 2 || history[0].Outcome != check.Unknown || history[0].Kind != check.OpAppend {
		t.Fatalf("history %v: want first the append cut short by the client's death, unknown", history)
	}
	if history[0].Attempts < 5 || history[1].Call < 6*time.Second {
		t.Fatalf("history %v: want an append retried for 5 s, then one the restarted client began", history)
	}
}

// answers records the answers clients reported, as the scenario marks do.
type answers struct {
	sink
	got []string
}

func (a *answers) Answered(client string, node env.Endpoint, op, what string) {
	a.got = append(a.got, fmt.Sprintf("%s %s %s %s", client, node.Host, op, what))
}

func TestPinnedClientsStayOnTheirNodeAndTakeNotLeaderAsTheAnswer(t *testing.T) {
	leader := &fakeNode{answer: committing(false), read: notFound}
	follower := &fakeNode{read: func(*node.ReadRequest) node.ReadResult {
		return node.ReadResult{Err: &node.NotLeaderError{Leader: leader.ep}}
	}}
	follower.answer = func(*node.AppendRequest) node.WriteResult {
		return node.WriteResult{Err: &node.NotLeaderError{Leader: leader.ep}}
	}
	w := world.New(1, nil)
	r := &rig{w: w, fabric: network.New(w, network.DefaultConfig()), nodes: []*fakeNode{follower, leader}, sink: &sink{}}
	marks := &answers{}
	cfg := Config{Clients: 2, Rate: 40, StopAt: 10 * time.Second}
	for i, f := range r.nodes {
		addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		f.ep = env.Endpoint{Host: addr.String(), Port: 2113}
		cfg.Nodes = append(cfg.Nodes, f.ep)
		fake := f
		host.New(w, r.fabric, host.Config{Name: fmt.Sprintf("n%d", i+1), Addrs: []netip.Addr{addr}, Disk: disk.DefaultConfig()},
			func(e env.Env) func() {
				l, err := e.Net.Serve(fake.ep, fake)
				if err != nil {
					t.Errorf("fake node cannot serve: %v", err)
					return func() {}
				}
				return l.Close
			}, nil).Start()
	}
	wl, err := New(w, r.fabric, cfg, marks)
	if err != nil {
		t.Fatal(err)
	}
	if err := wl.Pin([]string{"c1", "c2"}, follower.ep); err != nil {
		t.Fatal(err)
	}
	wl.Start()
	w.RunUntil(5 * time.Second)
	if len(leader.appends) != 0 || leader.reads != 0 {
		t.Fatalf("pinned clients reached the leader %d times", len(leader.appends)+leader.reads)
	}
	s := wl.Stats()
	if s.Failed["not-leader"] < 50 || s.Acknowledged != 0 || !slices.Contains(marks.got, "c1 10.0.0.1 append not-leader") ||
		!slices.Contains(marks.got, "c2 10.0.0.1 read not-leader") {
		t.Fatalf("stats %+v, %d answers: want every append failed as not-leader at once, and the refusals reported", s, len(marks.got))
	}
	// Let go, they follow the redirect and get acknowledged by the leader.
	if err := wl.Unpin([]string{"c1", "c2"}); err != nil {
		t.Fatal(err)
	}
	if err := wl.SetRate(80); err != nil {
		t.Fatal(err)
	}
	w.RunUntil(10 * time.Second)
	if wl.Stats().Acknowledged < 50 || !slices.Contains(marks.got, "c1 10.0.0.2 append append-acknowledged") {
		t.Fatalf("after unpinning: %d acknowledged; want the clients to follow the leader", wl.Stats().Acknowledged)
	}
	if err := wl.Pin([]string{"c9"}, leader.ep); err == nil || !strings.Contains(err.Error(), `no client "c9"`) {
		t.Fatalf("pinning an unknown client: err %v", err)
	}
	if err := wl.SetRate(0); err == nil {
		t.Fatal("a zero rate was accepted")
	}
}

func TestATombstonedStreamIsFollowedByTheNextOne(t *testing.T) {
	for in, want := range map[string]string{
		"stream-1": "stream-1.1", "stream-1.1": "stream-1.2", "stream-4.19": "stream-4.20", "a.b": "a.b.1", "x.0": "x.0.1",
	} {
		if got := NextStream(in); got != want {
			t.Errorf("NextStream(%q) = %q, want %q", in, got, want)
		}
	}
}
