package gossip

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
	"github.com/annal-db/annal/core/member"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	selfEP = env.Endpoint{Host: "10.0.0.1", Port: 2113}
	aEP    = env.Endpoint{Host: "10.0.0.2", Port: 2113}
	bEP    = env.Endpoint{Host: "10.0.0.3", Port: 2113}
	cEP    = env.Endpoint{Host: "10.0.0.4", Port: 2113}
	epoch  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// call is one outgoing request the service made; the test answers it.
type call struct {
	to     env.Endpoint
	method string
	req    []byte
	done   func([]byte, error)
}

// fakeNet records calls and DNS lookups; nothing else is used by gossip.
type fakeNet struct {
	env.Network
	calls    []call
	resolves []func([]string, error)
}

func (f *fakeNet) Call(to env.Endpoint, method string, req []byte, _ time.Duration, done func([]byte, error)) {
	f.calls = append(f.calls, call{to, method, req, done})
}

func (f *fakeNet) Resolve(_ string, done func([]string, error)) {
	f.resolves = append(f.resolves, done)
}

// fakeNode is the node the service serves.
type fakeNode struct {
	self     member.Info
	leader   env.Endpoint
	prune    bool
	changes  int // ViewChanged(true) calls
	skewedBy map[env.Endpoint]time.Duration
	clock    *envtest.Clock
}

func (n *fakeNode) Self() member.Info {
	s := n.self
	s.TimeStamp = n.clock.Wall()
	return s
}
func (n *fakeNode) Leader() env.Endpoint { return n.leader }
func (n *fakeNode) CanPrune() bool       { return n.prune }
func (n *fakeNode) ViewChanged(changed bool) {
	if changed {
		n.changes++
	}
}
func (n *fakeNode) ClockSkew(peer env.Endpoint, skew time.Duration) { n.skewedBy[peer] = skew }

type rig struct {
	clock *envtest.Clock
	net   *fakeNet
	node  *fakeNode
	svc   *Service
}

func newRig(cfg Config) *rig {
	clock := envtest.NewClock(epoch)
	net := &fakeNet{}
	node := &fakeNode{
		self:     member.Info{InstanceID: member.ID{1}, State: member.Follower, IsAlive: true, HTTPEndPoint: selfEP},
		skewedBy: map[env.Endpoint]time.Duration{},
		clock:    clock,
	}
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2500 * time.Millisecond
	}
	if cfg.AllowedDifference == 0 {
		cfg.AllowedDifference = time.Minute
	}
	if cfg.RemovalPeriod == 0 {
		cfg.RemovalPeriod = 30 * time.Minute
	}
	return &rig{clock: clock, net: net, node: node,
		svc: New(env.Env{Clock: clock, Net: net, Rand: envtest.NewRand(1)}, cfg, node)}
}

// record finds ep in the service's view.
func (r *rig) record(t *testing.T, ep env.Endpoint) member.Info {
	t.Helper()
	i := member.Find(r.svc.View(), ep)
	if i < 0 {
		t.Fatalf("%v is not in the view %v", ep, r.svc.View())
	}
	return r.svc.View()[i]
}

// own is the record a member gives of itself.
func (r *rig) own(ep env.Endpoint, id byte, st member.State, seq uint64) member.Info {
	return member.Info{InstanceID: member.ID{id}, State: st, IsAlive: true, HTTPEndPoint: ep,
		TimeStamp: r.clock.Wall(), Seq: seq, EpochNumber: 3, EpochPosition: 100}
}

func TestStartSeedsTheViewThenBurstsAndSlowsDown(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{selfEP, aEP, bEP}})
	r.svc.Start()
	if got := len(r.svc.View()); got != 3 {
		t.Fatalf("view after start has %d records, want self and two seeds (its own endpoint among the seeds is skipped)", got)
	}
	for _, ep := range []env.Endpoint{aEP, bEP} {
		m := r.record(t, ep)
		if !m.InstanceID.IsZero() || m.State != member.Manager || !m.IsAlive || m.EpochNumber != -1 {
			t.Errorf("seed %v starts as %+v; want an alive Manager placeholder with no instance id and no epoch", ep, m)
		}
	}
	if r.node.changes != 1 {
		t.Errorf("start reported %d view changes, want 1", r.node.changes)
	}

	// Twenty rounds 100 ms apart, then one per interval.
	r.clock.Advance(2 * time.Second)
	if got := len(r.net.calls); got != burstRounds {
		t.Fatalf("%d calls in the first 2 s, want %d", got, burstRounds)
	}
	r.clock.Advance(2*time.Second - time.Millisecond)
	if got := len(r.net.calls); got != burstRounds {
		t.Fatalf("%d calls just before the first slow round, want %d", got, burstRounds)
	}
	r.clock.Advance(time.Millisecond)
	if got := len(r.net.calls); got != burstRounds+1 {
		t.Fatalf("%d calls after the first slow round, want %d", got, burstRounds+1)
	}
	picked := map[env.Endpoint]int{}
	for _, c := range r.net.calls {
		if c.method != MethodUpdate {
			t.Errorf("a round called %q, want %q", c.method, MethodUpdate)
		}
		picked[c.to]++
	}
	if picked[selfEP] != 0 || picked[aEP] == 0 || picked[bEP] == 0 {
		t.Errorf("rounds went to %v; want both seeds and never the node itself", picked)
	}
	r.svc.Stop()
}

func TestAMemberThatDoesNotAnswerIsMarkedDeadExceptTheLeaderFollowed(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{aEP, bEP}})
	r.node.leader = aEP
	r.svc.Start()
	r.clock.Advance(time.Second)
	for _, c := range r.net.calls {
		c.done(nil, env.ErrTimeout)
	}
	if r.record(t, bEP).IsAlive {
		t.Error("a member that did not answer gossip is still alive")
	}
	if !r.record(t, aEP).IsAlive {
		t.Error("the leader this node follows was marked dead by gossip; its replication connection decides")
	}
	r.svc.Stop()
}

func TestAnAnswerMergesTheMembersView(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{aEP}})
	r.svc.Start()
	r.clock.Advance(100 * time.Millisecond)
	if len(r.net.calls) != 1 || r.net.calls[0].to != aEP {
		t.Fatalf("calls %v, want one to the seed", r.net.calls)
	}
	before := r.node.changes
	answer := ClusterInfo{View: []member.Info{r.own(aEP, 2, member.Leader, 1), r.own(cEP, 4, member.Follower, 1)}}
	r.net.calls[0].done(answer.Marshal(), nil)
	if a := r.record(t, aEP); a.InstanceID != (member.ID{2}) || a.State != member.Leader {
		t.Errorf("the seed's placeholder became %+v; want the record it gave of itself", a)
	}
	if c := r.record(t, cEP); c.InstanceID != (member.ID{4}) {
		t.Errorf("a member learned through the seed is %+v", c)
	}
	if r.node.changes != before+1 {
		t.Errorf("the merge reported %d view changes, want 1", r.node.changes-before)
	}
	r.svc.Stop()
}

func TestDirectEvidenceMarksMembersDeadAndAlive(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{aEP, bEP}})
	r.node.leader = aEP
	r.svc.Start()
	changes := func() int { n := r.node.changes; r.node.changes = 0; return n }
	changes()

	r.svc.Unreachable(bEP, env.ErrTimeout)
	if r.record(t, bEP).IsAlive || changes() != 1 {
		t.Error("an unreachable member is not marked dead, or the change is not reported")
	}
	r.svc.Unreachable(bEP, env.ErrTimeout)
	if changes() != 0 {
		t.Error("marking a dead member dead again reported a change")
	}
	r.svc.Unreachable(aEP, env.ErrTimeout)
	if !r.record(t, aEP).IsAlive {
		t.Error("a failed call marked the followed leader dead")
	}

	r.svc.MarkAlive(bEP)
	if !r.record(t, bEP).IsAlive || changes() != 1 {
		t.Error("direct evidence does not bring a dead member back, or the change is not reported")
	}
	r.svc.MarkAlive(bEP)
	if changes() != 0 {
		t.Error("marking a live member alive reported a change")
	}
	view := len(r.svc.View())
	r.svc.MarkAlive(cEP)
	if len(r.svc.View()) != view || changes() != 0 {
		t.Error("evidence about a member not in the view changed the view")
	}
	r.svc.Stop()
}

func TestConfirmAsksTheMemberItself(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{aEP, bEP}})
	r.svc.Start()
	r.svc.Confirm(bEP)
	r.svc.Confirm(aEP)
	if len(r.net.calls) != 2 || r.net.calls[0].method != MethodRead || r.net.calls[0].to != bEP {
		t.Fatalf("calls %v, want reads to the members to confirm", r.net.calls)
	}
	r.net.calls[0].done(nil, env.ErrRefused)
	if r.record(t, bEP).IsAlive {
		t.Error("a member that refused the confirming read is still alive")
	}
	r.net.calls[1].done(ClusterInfo{View: []member.Info{r.own(aEP, 2, member.Follower, 1)}}.Marshal(), nil)
	if a := r.record(t, aEP); !a.IsAlive || a.InstanceID != (member.ID{2}) {
		t.Errorf("a member that answered is %+v; want its own, alive record", a)
	}

	// Silence counts like a refusal, and an answer brings it back.
	r.svc.Confirm(bEP)
	r.net.calls[2].done(nil, env.ErrTimeout)
	if r.record(t, bEP).IsAlive {
		t.Error("a member silent to the confirming read is alive")
	}
	r.svc.Confirm(bEP)
	r.net.calls[3].done(ClusterInfo{View: []member.Info{r.own(bEP, 3, member.Follower, 5)}}.Marshal(), nil)
	if !r.record(t, bEP).IsAlive {
		t.Error("a member that answered a confirming read is still dead")
	}
	r.svc.Stop()
}

func TestAnUpdateIsMergedAndAnsweredWithTheView(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{aEP}})
	r.svc.Start()
	view := len(r.svc.View())
	_, err := r.svc.HandleUpdate([]byte{0xff, 0x00, 0x13})
	var remote *env.RemoteError
	if !errors.As(err, &remote) || remote.Code != CodeBadRequest {
		t.Fatalf("garbage for an update: got %v, want a remote error %d", err, CodeBadRequest)
	}
	if len(r.svc.View()) != view {
		t.Error("garbage changed the view")
	}

	req := UpdateRequest{View: []member.Info{r.own(bEP, 3, member.Follower, 1)}, Server: bEP}
	resp, err := r.svc.HandleUpdate(req.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var ci ClusterInfo
	if err := ci.Unmarshal(resp); err != nil {
		t.Fatal(err)
	}
	if member.Find(ci.View, bEP) < 0 || member.Find(ci.View, selfEP) < 0 || member.Find(ci.View, aEP) < 0 {
		t.Errorf("the answer %v does not hold the sender, the node and its seed", ci.View)
	}
	r.svc.Stop()
}

func TestAMemberWithAFarClockIsReported(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{aEP}, AllowedDifference: time.Minute})
	r.svc.Start()
	a := r.own(aEP, 2, member.Follower, 1)
	a.TimeStamp = a.TimeStamp.Add(-2 * time.Minute)
	if _, err := r.svc.HandleUpdate(UpdateRequest{View: []member.Info{a}, Server: aEP}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if got := r.node.skewedBy[aEP]; got != 2*time.Minute || r.svc.SkewEvents != 1 {
		t.Errorf("skew reported %v (%d events); want 2m0s once", got, r.svc.SkewEvents)
	}
	// Within the allowed difference nothing is reported.
	b := r.own(bEP, 3, member.Follower, 1)
	b.TimeStamp = b.TimeStamp.Add(30 * time.Second)
	if _, err := r.svc.HandleUpdate(UpdateRequest{View: []member.Info{b}, Server: bEP}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.node.skewedBy[bEP]; ok || r.svc.SkewEvents != 1 {
		t.Error("a clock 30 s off, within the allowed minute, was reported")
	}
	r.svc.Stop()
}

func TestStopEndsRoundsAndIgnoresLateAnswers(t *testing.T) {
	r := newRig(Config{Seeds: []env.Endpoint{aEP, bEP}})
	r.svc.Start()
	r.clock.Advance(100 * time.Millisecond)
	if len(r.net.calls) != 1 {
		t.Fatalf("%d calls after the first round, want 1", len(r.net.calls))
	}
	r.svc.Stop()
	r.clock.Advance(time.Minute)
	if len(r.net.calls) != 1 {
		t.Errorf("%d calls after Stop, want none", len(r.net.calls)-1)
	}
	to := r.net.calls[0].to
	r.net.calls[0].done(nil, env.ErrTimeout)
	if !r.record(t, to).IsAlive {
		t.Error("an answer arriving after Stop marked a member dead")
	}
	if r.clock.Pending() != 0 {
		t.Errorf("%d timers still pending after Stop", r.clock.Pending())
	}
}

func TestDNSDiscoveryRetriesUntilTheNameResolves(t *testing.T) {
	r := newRig(Config{DiscoverViaDNS: true, ClusterDNS: "cluster.example.test", GossipPort: 2113})
	r.svc.Start()
	if len(r.net.resolves) != 1 {
		t.Fatalf("%d lookups at start, want 1", len(r.net.resolves))
	}
	r.net.resolves[0](nil, env.ErrNoSuchHost)
	r.clock.Advance(dnsRetry - time.Millisecond)
	if len(r.net.resolves) != 1 {
		t.Fatalf("retried after %v, want %v", dnsRetry-time.Millisecond, dnsRetry)
	}
	r.clock.Advance(time.Millisecond)
	if len(r.net.resolves) != 2 {
		t.Fatalf("%d lookups after a failure and %v, want 2", len(r.net.resolves), dnsRetry)
	}
	r.net.resolves[1]([]string{aEP.Host, bEP.Host}, nil)
	for _, ep := range []env.Endpoint{aEP, bEP} {
		if m := r.record(t, ep); m.State != member.Manager {
			t.Errorf("resolved seed %v is %+v", ep, m)
		}
	}
	r.svc.Stop()
}
