package heartbeat_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
	"github.com/annal-db/annal/core/heartbeat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipe is one direction of an in-order connection with a random delay per
// message, delivered through the shared manual clock.
type pipe struct {
	clock    *envtest.Clock
	delay    func() time.Duration
	lastDue  env.Mono
	deliver  func(kind msgKind)
	cut      bool // the sending host is lost: nothing more leaves it
	inFlight int
}

type msgKind uint8

const (
	data msgKind = iota
	request
	response
)

func (p *pipe) send(k msgKind) {
	if p.cut {
		return
	}
	due := max(p.clock.Now().Add(p.delay()), p.lastDue)
	p.lastDue = due
	p.inFlight++
	p.clock.AfterFunc(due.Sub(p.clock.Now()), func() {
		p.inFlight--
		p.deliver(k)
	})
}

// end is one side of a connection with its detector.
type end struct {
	name     string
	det      *heartbeat.Detector
	out      *pipe
	lost     bool // this host is lost: it neither receives nor sends
	deadAt   env.Mono
	dead     bool
	lastRecv env.Mono
}

func (e *end) receive(k msgKind, now env.Mono) {
	if e.lost || e.dead {
		return
	}
	e.lastRecv = now
	e.det.Received()
	if k == request {
		e.out.send(response)
	}
}

type link struct {
	clock *envtest.Clock
	a, b  *end
}

func newLink(t *rapid.T, interval, timeout, minLat, maxLat time.Duration) *link {
	c := envtest.NewClock(time.Unix(0, 0))
	delay := func() time.Duration {
		return time.Duration(rapid.Int64Range(int64(minLat), int64(maxLat)).Draw(t, "delay"))
	}
	l := &link{clock: c, a: &end{name: "a"}, b: &end{name: "b"}}
	l.a.out = &pipe{clock: c, delay: delay}
	l.b.out = &pipe{clock: c, delay: delay}
	l.a.out.deliver = func(k msgKind) { l.b.receive(k, c.Now()) }
	l.b.out.deliver = func(k msgKind) { l.a.receive(k, c.Now()) }
	for _, e := range []*end{l.a, l.b} {
		e := e
		e.det = heartbeat.New(c, interval, timeout,
			func() { e.out.send(request) },
			func() { e.dead = true; e.deadAt = c.Now() })
		e.det.Start()
	}
	return l
}

func durations(t *rapid.T) (interval, timeout, minLat, maxLat time.Duration) {
	interval = time.Duration(rapid.Int64Range(int64(10*time.Millisecond), int64(10*time.Second)).Draw(t, "interval"))
	timeout = time.Duration(rapid.Int64Range(int64(10*time.Millisecond), int64(10*time.Second)).Draw(t, "timeout"))
	// Round trip strictly below the timeout: one-way latency below half.
	maxLat = time.Duration(rapid.Int64Range(0, int64(timeout/2)-1).Draw(t, "maxLatency"))
	minLat = time.Duration(rapid.Int64Range(0, int64(maxLat)).Draw(t, "minLatency"))
	return
}

// A live peer whose round trip stays below the timeout is never declared
// dead, whatever the traffic on the connection.
func TestLivePeerNeverDeclaredDead(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		interval, timeout, minLat, maxLat := durations(t)
		l := newLink(t, interval, timeout, minLat, maxLat)
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			gap := time.Duration(rapid.Int64Range(0, int64(3*(interval+timeout))).Draw(t, "gap"))
			l.clock.Advance(gap)
			switch rapid.IntRange(0, 2).Draw(t, "who") {
			case 0:
				l.a.out.send(data)
			case 1:
				l.b.out.send(data)
			}
			if l.a.dead || l.b.dead {
				t.Fatalf("live peer declared dead at %v (interval %v, timeout %v, latency %v..%v)",
					time.Duration(l.clock.Now()), interval, timeout, minLat, maxLat)
			}
		}
	})
}

// A lost host is found within interval + timeout of the last thing heard
// from it (the manual clock runs timers exactly on time: the "one timer
// tick" of slack is zero here).
func TestLostPeerDetectedWithinBound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		interval, timeout, minLat, maxLat := durations(t)
		l := newLink(t, interval, timeout, minLat, maxLat)
		lossAt := time.Duration(rapid.Int64Range(0, int64(5*(interval+timeout))).Draw(t, "lossAt"))
		busy := rapid.Bool().Draw(t, "busy")
		for l.clock.Now() < env.Mono(lossAt) {
			if busy {
				l.b.out.send(data)
			}
			l.clock.Advance(min(interval/3+1, lossAt-time.Duration(l.clock.Now())))
		}
		l.b.lost = true
		l.b.out.cut = true
		l.b.det.Stop()
		// Let what was already in flight from b arrive, then wait long enough.
		l.clock.Advance(maxLat + 2*(interval+timeout))
		if !l.a.dead {
			t.Fatalf("lost peer never declared dead")
		}
		bound := l.a.lastRecv.Add(interval + timeout)
		if l.a.deadAt > bound {
			t.Fatalf("declared dead at %v, last heard %v: over interval+timeout bound %v by %v",
				time.Duration(l.a.deadAt), time.Duration(l.a.lastRecv), time.Duration(bound), l.a.deadAt.Sub(bound))
		}
		if l.a.deadAt < l.a.lastRecv.Add(timeout) {
			t.Fatalf("declared dead %v after last receipt, sooner than the timeout %v",
				l.a.deadAt.Sub(l.a.lastRecv), timeout)
		}
	})
}

// A connection that hears from its peer more often than the interval sends
// no heartbeat requests at all.
func TestBusyConnectionSendsNoRequests(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		interval, timeout, _, _ := durations(t)
		c := envtest.NewClock(time.Unix(0, 0))
		requests := 0
		d := heartbeat.New(c, interval, timeout, func() { requests++ }, func() { t.Fatalf("declared dead") })
		d.Start()
		n := rapid.IntRange(1, 200).Draw(t, "messages")
		for i := 0; i < n; i++ {
			gap := time.Duration(rapid.Int64Range(0, int64(interval)-1).Draw(t, "gap"))
			c.Advance(gap)
			d.Received()
		}
		if requests != 0 || d.Requests != 0 {
			t.Fatalf("busy connection sent %d heartbeat requests", requests)
		}
	})
}

func TestSilentPeerExactTimeline(t *testing.T) {
	c := envtest.NewClock(time.Unix(0, 0))
	var requests []time.Duration
	var deadAt time.Duration = -1
	d := heartbeat.New(c, 700*time.Millisecond, 700*time.Millisecond,
		func() { requests = append(requests, time.Duration(c.Now())) },
		func() { deadAt = time.Duration(c.Now()) })
	d.Start()
	c.Advance(500 * time.Millisecond)
	d.Received() // heard at 500ms: request due at 1200ms, death at 1900ms
	c.Advance(5 * time.Second)
	if len(requests) != 1 || requests[0] != 1200*time.Millisecond {
		t.Fatalf("requests at %v, want exactly one at 1.2s", requests)
	}
	if deadAt != 1900*time.Millisecond {
		t.Fatalf("declared dead at %v, want 1.9s", deadAt)
	}
	if c.Pending() != 0 {
		t.Fatalf("%d timers left after death", c.Pending())
	}
}

func TestResponseClearsRequest(t *testing.T) {
	c := envtest.NewClock(time.Unix(0, 0))
	requests := 0
	d := heartbeat.New(c, time.Second, 500*time.Millisecond,
		func() { requests++ }, func() { t.Fatal("declared dead after answering") })
	d.Start()
	for i := 0; i < 10; i++ {
		c.Advance(time.Second) // request goes out
		c.Advance(100 * time.Millisecond)
		d.Received() // answer 100ms later
	}
	if requests != 10 {
		t.Fatalf("%d requests over 10 idle intervals, want 10", requests)
	}
	d.Stop()
	if c.Advance(10 * time.Second); requests != 10 {
		t.Fatalf("stopped detector kept sending")
	}
}
