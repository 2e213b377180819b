package workload

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/streamstest"
	"github.com/annal-db/annal/sim/world"
)

// fakeProc is one node of the subscriber rig: a real streams layer over a
// log every node shares (all of them apply each commit at once), which the
// test kills, restarts, silences and makes drop its subscriptions.
type fakeProc struct {
	rig   *subRig
	i     int
	reach Reach
	inc   int
	svc   *streams.Service
}

func (p *fakeProc) SubscribeToStream(req streams.SubscribeStreamRequest, _ bool, sink func(streams.Message), started func(*streams.Subscription, error)) {
	req.Now = time.Unix(1_700_000_000, 0)
	started(p.svc.SubscribeToStream(req, sink))
}

func (p *fakeProc) SubscribeToAll(req streams.SubscribeAllRequest, requireLeader bool, sink func(streams.Message), started func(*streams.Subscription, error)) {
	if requireLeader && p.i != 0 {
		started(nil, &node.NotLeaderError{Leader: env.Endpoint{Host: "n1", Port: 2113}})
		return
	}
	started(p.svc.SubscribeToAll(req, sink))
}

// procLoop is a process's loop: calls run after their delay unless the
// process died meanwhile, and wait while its host is silent.
type procLoop struct {
	p   *fakeProc
	inc int
}

func (l procLoop) Now() env.Mono   { return env.Mono(l.p.rig.w.Now()) }
func (l procLoop) Wall() time.Time { return time.Unix(0, int64(l.p.rig.w.Now())) }
func (l procLoop) AfterFunc(d time.Duration, f func()) env.Timer {
	var run func()
	run = func() {
		switch {
		case l.p.inc != l.inc || l.p.reach == Down:
		case l.p.reach == Silent:
			l.p.rig.w.Func(10*time.Millisecond, run)
		default:
			f()
		}
	}
	return l.p.rig.w.NewTimer(d, run)
}

// subRig runs subscribers against fake nodes n1..n3 while the test commits
// events to streams a and b.
type subRig struct {
	t     *testing.T
	w     *world.World
	log   *streamstest.Log
	cfg   streams.Config
	procs []*fakeProc
	next  map[string]int64
	got   map[int][]streams.Event // per subscriber, in arrival order
	ended map[int][]string
	set   *Subscribers
}

func newSubRig(t *testing.T, cfg streams.Config, subs []SubscriberConfig) *subRig {
	r := &subRig{t: t, w: world.New(1, nil), log: streamstest.New(), cfg: cfg, next: map[string]int64{},
		got: map[int][]streams.Event{}, ended: map[int][]string{}}
	r.log.SyncCommits, r.log.SyncReads = true, true
	r.log.OnCommit = func(evs []streams.Event) {
		for _, p := range r.procs {
			if p.reach != Down {
				p.svc.Apply(evs)
			}
		}
	}
	for i := range 3 {
		p := &fakeProc{rig: r, i: i}
		r.procs = append(r.procs, p)
		r.restart(i)
	}
	set, err := NewSubscribers(r.w, r, subs, r)
	if err != nil {
		t.Fatal(err)
	}
	r.set = set
	set.Start()
	return r
}

func (r *subRig) Count() int        { return len(r.procs) }
func (r *subRig) Name(i int) string { return fmt.Sprintf("n%d", i+1) }
func (r *subRig) Index(ep env.Endpoint) int {
	if ep.Host == "n1" {
		return 0
	}
	return -1
}
func (r *subRig) Process(i int) (Process, Reach) {
	p := r.procs[i]
	if p.reach != Up {
		return Process{}, p.reach
	}
	return Process{Node: p, Loop: procLoop{p: p, inc: p.inc}, Incarnation: p.inc}, Up
}

func (r *subRig) SubscriberMessage(sub, _ int, m streams.Message) {
	if m.Kind == streams.EventAppeared {
		r.got[sub] = append(r.got[sub], m.Event)
	}
}
func (r *subRig) SubscriberEnded(sub, _ int, reason string) {
	r.ended[sub] = append(r.ended[sub], reason)
}
func (r *subRig) SubscriberMoved(int, int, string) {}

// kill ends node i's process; restart boots a new one that re-applies the
// committed log.
func (r *subRig) kill(i int) { r.procs[i].reach = Down }
func (r *subRig) restart(i int) {
	p := r.procs[i]
	svc, err := streams.New(r.log, r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	svc.Apply(r.log.CommittedEvents())
	p.svc, p.inc, p.reach = svc, p.inc+1, Up
}

// write commits events at rate per second until stop, over streams a and
// b, one to three at a time.
func (r *subRig) write(rate int, stop time.Duration) {
	rnd := r.w.Rand("writer")
	var tick func()
	tick = func() {
		if r.w.Now() >= stop {
			return
		}
		stream := []string{"a", "b"}[rnd.IntN(2)]
		var evs []streams.Event
		for range 1 + rnd.IntN(3) {
			evs = append(evs, streams.Event{Stream: stream, Number: r.next[stream], ID: [16]byte{byte(r.next[stream]), byte(len(stream))},
				Type: "t", Data: make([]byte, 40)})
			r.next[stream]++
		}
		r.log.Append(evs, func([]int64, error) {})
		r.w.Func(time.Second/time.Duration(rate), tick)
	}
	tick()
}

// expectEverything checks that subscriber k received the committed events
// of stream ("$all": every one), each once, in order.
func (r *subRig) expectEverything(k int, stream string) {
	r.t.Helper()
	var want []int64
	for _, ev := range r.log.CommittedEvents() {
		if stream == streams.AllStream || ev.Stream == stream {
			want = append(want, ev.Position)
		}
	}
	var got []int64
	for _, ev := range r.got[k] {
		got = append(got, ev.Position)
	}
	if !slices.Equal(got, want) {
		r.t.Fatalf("s%d (%s) received %d events, the committed log has %d for it; first difference at %d",
			k+1, stream, len(got), len(want), firstDifference(got, want))
	}
	if node, ok := r.set.List()[k].Settled(); !ok {
		r.t.Fatalf("s%d is not settled on n%d at the end: it should be live with nothing pending", k+1, node+1)
	}
}

func firstDifference(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestSubscribersReceiveEveryEventOnceThroughKillsDropsAndSilence(t *testing.T) {
	r := newSubRig(t, streams.Config{}, []SubscriberConfig{
		{Stream: "$all", Node: 0}, {Stream: "a", Node: 1}, {Stream: "b", Node: 2},
	})
	r.write(200, 35*time.Second)
	at := func(d time.Duration, f func()) { r.w.Func(d, f) }
	// s3's node falls silent, s1's dies, s2's stops serving; a subscriber
	// that moved onto one of them meanwhile loses it too.
	at(3*time.Second, func() { r.procs[2].reach = Silent })
	at(20*time.Second, func() { r.procs[2].reach = Up })
	at(25*time.Second, func() { r.kill(0) })
	at(28*time.Second, func() { r.restart(0) })
	at(32*time.Second, func() { r.procs[1].svc.DropAll(node.ErrNotReady) })
	r.w.RunUntil(40 * time.Second)

	r.expectEverything(0, "$all")
	r.expectEverything(1, "a")
	r.expectEverything(2, "b")
	for k, want := range []string{"connection-reset", "node-stopping", "keepalive-timeout"} {
		if !slices.Contains(r.ended[k], want) {
			t.Errorf("s%d's subscriptions ended for %q; want %q among the reasons", k+1, r.ended[k], want)
		}
	}
	st := r.set.Stats()
	if st.Started != 3+st.DroppedTotal() || st.Deliveries != len(r.got[0])+len(r.got[1])+len(r.got[2]) {
		t.Fatalf("stats %+v: want one subscription started for each subscriber and after each drop, every event counted", st)
	}
}

func TestSlowSubscriberFallsBehindAndStillGetsEveryEventOnce(t *testing.T) {
	// A small ring and buffer, so that falling behind takes little.
	r := newSubRig(t, streams.Config{RecentEvents: 32, SubscriptionBuffer: 8}, []SubscriberConfig{
		{Stream: "$all", Node: 0, Slow: 20 * time.Millisecond, Credits: 1},
		{Stream: "a", Node: 1, Slow: 20 * time.Millisecond, Credits: 2},
		{Stream: "b", Node: -1},
	})
	r.write(100, 5*time.Second)
	r.w.RunUntil(60 * time.Second)
	r.expectEverything(0, "$all")
	r.expectEverything(1, "a")
	r.expectEverything(2, "b")
	st := r.set.Stats()
	if st.FellBehind < 2 || st.DroppedTotal() != 0 {
		t.Fatalf("stats %+v: both slow subscribers should have fallen behind (and none dropped)", st)
	}
}

func TestSubscriberFollowsANotLeaderAnswer(t *testing.T) {
	r := newSubRig(t, streams.Config{}, []SubscriberConfig{{Stream: "$all", Node: 2, RequireLeader: true}})
	r.write(50, 2*time.Second)
	r.w.RunUntil(5 * time.Second)
	r.expectEverything(0, "$all")
	if n, _ := r.set.List()[0].Settled(); n != 0 || r.set.Stats().Refused["not-leader"] != 1 {
		t.Fatalf("subscribed on n%d after refusals %v; want n1, the leader the refusal named", n+1, r.set.Stats().Refused)
	}
}

func TestSubscriberConfigsAreChecked(t *testing.T) {
	w := world.New(1, nil)
	r := &subRig{procs: make([]*fakeProc, 2)}
	for _, c := range []struct {
		cfg  SubscriberConfig
		want string
	}{
		{SubscriberConfig{Node: 0}, "follows no stream"},
		{SubscriberConfig{Stream: "a", Node: 2}, "attaches to node 2; there are 2"},
		{SubscriberConfig{Stream: "a", Slow: -time.Second}, "must not be negative"},
	} {
		if _, err := NewSubscribers(w, r, []SubscriberConfig{c.cfg}, r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %+v: err %v, want one saying %q", c.cfg, err, c.want)
		}
	}
	defaults := DefaultSubscriberConfigs(DefaultSubscribers, 3, 0)
	want := []SubscriberConfig{{Stream: "$all", Node: 0}, {Stream: "stream-1", Node: 1}, {Stream: "stream-2", Node: 2}}
	if !slices.Equal(defaults, want) {
		t.Fatalf("default subscribers %+v, want %+v", defaults, want)
	}
}
