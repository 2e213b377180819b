package workload

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
)

// Subscribers are catch-up subscribers: applications that follow one
// stream, or $all, from its start for the whole run. A subscription is a
// long-lived server stream, which the nodes' request/response RPC cannot
// carry, so a subscriber sits next to the node it subscribes to and calls
// its entry points (core/node's SubscribeToStream and SubscribeToAll) on
// the node's own loop, as a transport handler would. What the node sends
// reaches the subscriber after a simulated network delay, in order; the
// credits it grants back take the same delay. When a subscription ends
// (the node drops it, the node's process dies, or its host falls silent
// past the keepalive timeout) the subscriber subscribes again, on any
// running node, after the last event it received.
type Subscribers struct {
	w     *world.World
	nodes Nodes
	sink  SubscriptionSink
	subs  []*Subscriber
	stats SubscriberStats
}

// SubscriberConfig describes one subscriber.
type SubscriberConfig struct {
	// Stream is the stream it follows, or "$all".
	Stream string
	// Node is the node it subscribes to whenever that node runs (-1: any
	// running node).
	Node int
	// Slow is how long it takes to process one event (0: no time). A slow
	// subscriber grants credits only as it gets through its events, so the
	// node holds its messages, then falls back to reading the log for it.
	Slow time.Duration
	// Credits is how many messages it lets the node send ahead of its
	// processing (0: DefaultCredits). It grants more in batches of half
	// this (one at a time when it is 1).
	Credits int
	// RequireLeader subscribes on the leader only.
	RequireLeader bool
}

// Subscriber defaults and pacing.
const (
	DefaultCredits = 32
	// DefaultSubscribers is how many subscribers DefaultSubscriberConfigs
	// makes for a workload with clients: one of $all and two of streams.
	DefaultSubscribers = 3
	// MaxSubscribers bounds the subscribers of one run.
	MaxSubscribers = 64
	// keepalivePoll is how often a subscriber looks at its connection;
	// keepaliveTimeout is how long a silent node (frozen, powered off)
	// keeps it waiting before it gives up, as a gRPC keepalive does.
	keepalivePoll    = 250 * time.Millisecond
	keepaliveTimeout = 10 * time.Second
	// One-way delay between a subscriber and its node.
	subscriberLatency = 200 * time.Microsecond
	subscriberJitter  = 300 * time.Microsecond
	resubscribeBase   = 100 * time.Millisecond
	resubscribeMax    = 2 * time.Second
)

// DefaultSubscriberConfigs are the subscribers a workload with clients gets
// unless told otherwise: n of them, the first following $all, the others
// the clients' streams in turn, each on its own node (round robin).
func DefaultSubscriberConfigs(n, nodes, streams int) []SubscriberConfig {
	if streams <= 0 {
		streams = DefaultStreams
	}
	out := make([]SubscriberConfig, n)
	for k := range out {
		out[k] = SubscriberConfig{Stream: "$all", Node: k % max(nodes, 1)}
		if k > 0 {
			out[k].Stream = StreamName((k - 1) % streams)
		}
	}
	return out
}

// StreamName is the name of the clients' shared stream s (from 0).
func StreamName(s int) string { return fmt.Sprintf("stream-%d", s+1) }

// Reach is what a subscriber's connection to a node sees.
type Reach uint8

const (
	// Up: the node's process runs and answers.
	Up Reach = iota
	// Down: no process listens (killed, exited, not yet started): the
	// host's kernel refuses or resets connections at once.
	Down
	// Silent: the host is frozen or powered off: nothing answers.
	Silent
)

// Nodes gives subscribers in-process access to the cluster's nodes.
type Nodes interface {
	// Count is the number of nodes.
	Count() int
	// Process is node i's current process when reach is Up.
	Process(i int) (p Process, reach Reach)
	// Index is the node serving client endpoint ep, or -1.
	Index(ep env.Endpoint) int
	// Name is node i's name.
	Name(i int) string
}

// Process is one running incarnation of a node.
type Process struct {
	Node Subscribable
	// Loop runs calls on the node's loop (env.Clock.AfterFunc of its
	// process): after the delay, charged to its CPU, never once the
	// process has died.
	Loop        env.Clock
	Incarnation int
}

// Subscribable is what a subscriber calls on a node; core/node.Node has
// it.
type Subscribable interface {
	SubscribeToStream(req streams.SubscribeStreamRequest, requireLeader bool, sink func(streams.Message), started func(*streams.Subscription, error))
	SubscribeToAll(req streams.SubscribeAllRequest, requireLeader bool, sink func(streams.Message), started func(*streams.Subscription, error))
}

// SubscriptionSink hears what subscribers receive, when they receive it,
// so that the checkers can hold it against the committed log at once.
type SubscriptionSink interface {
	// SubscriberMessage: subscriber sub received m from node i (every
	// message, Confirmed to Dropped).
	SubscriberMessage(sub, i int, m streams.Message)
	// SubscriberEnded: subscriber sub's subscription on node i is over
	// for reason; it will subscribe again.
	SubscriberEnded(sub, i int, reason string)
	// SubscriberMoved: node i dropped subscriber sub because its stream
	// is tombstoned; it follows stream, from its start, from now on.
	SubscriberMoved(sub, i int, stream string)
}

// SubscriberStats counts what the subscribers did.
type SubscriberStats struct {
	Subscribers int `json:"subscribers"`
	// Started counts subscriptions confirmed; Dropped those that ended, by
	// reason; Refused attempts to subscribe that a node turned down, by
	// reason.
	Started int            `json:"subscriptions_started"`
	Dropped map[string]int `json:"subscriptions_dropped"`
	Refused map[string]int `json:"subscribe_refused"`
	// Deliveries counts events received, FellBehind and CaughtUp the
	// messages of those kinds.
	Deliveries int `json:"subscription_deliveries"`
	FellBehind int `json:"fell_behind"`
	CaughtUp   int `json:"caught_up"`
}

// DroppedTotal is the number of subscriptions that ended.
func (s SubscriberStats) DroppedTotal() int {
	n := 0
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// NewSubscribers makes the subscribers; they do nothing until Start.
func NewSubscribers(w *world.World, nodes Nodes, cfgs []SubscriberConfig, sink SubscriptionSink) (*Subscribers, error) {
	if len(cfgs) > MaxSubscribers {
		return nil, fmt.Errorf("workload: %d subscribers; give at most %d", len(cfgs), MaxSubscribers)
	}
	set := &Subscribers{w: w, nodes: nodes, sink: sink, stats: SubscriberStats{
		Subscribers: len(cfgs), Dropped: map[string]int{}, Refused: map[string]int{},
	}}
	for k, cfg := range cfgs {
		switch {
		case cfg.Stream == "":
			return nil, fmt.Errorf("workload: subscriber %d follows no stream; name one, or $all", k+1)
		case cfg.Node < -1 || cfg.Node >= nodes.Count():
			return nil, fmt.Errorf("workload: subscriber %d attaches to node %d; there are %d (or -1: any)", k+1, cfg.Node, nodes.Count())
		case cfg.Slow < 0 || cfg.Credits < 0:
			return nil, fmt.Errorf("workload: subscriber %d: slow %v and credits %d must not be negative", k+1, cfg.Slow, cfg.Credits)
		}
		if cfg.Credits == 0 {
			cfg.Credits = DefaultCredits
		}
		name := fmt.Sprintf("s%d", k+1)
		set.subs = append(set.subs, &Subscriber{
			set: set, k: k, name: name, cfg: cfg, slow: cfg.Slow, rnd: w.Rand("subscriber/" + name),
			lastRev: -1, lastPos: -1, redirect: -1, silentSince: -1,
		})
	}
	return set, nil
}

// Start subscribes every subscriber, once the nodes' processes have had a
// moment to boot.
func (set *Subscribers) Start() {
	for _, s := range set.subs {
		gen := s.gen
		s.after(s.latency(), gen, s.attach)
		s.set.w.Func(keepalivePoll, s.poll)
	}
}

// List is every subscriber, s1 first.
func (set *Subscribers) List() []*Subscriber { return set.subs }

// ByName finds a subscriber (s1, s2, ...), or nil.
func (set *Subscribers) ByName(name string) *Subscriber {
	for _, s := range set.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Stats reports what the subscribers did so far.
func (set *Subscribers) Stats() SubscriberStats {
	s := set.stats
	s.Dropped, s.Refused = map[string]int{}, map[string]int{}
	for k, v := range set.stats.Dropped {
		s.Dropped[k] = v
	}
	for k, v := range set.stats.Refused {
		s.Refused[k] = v
	}
	return s
}

// Subscriber is one catch-up subscriber.
type Subscriber struct {
	set  *Subscribers
	k    int
	name string
	cfg  SubscriberConfig
	slow time.Duration
	rnd  *rand.Rand

	// gen numbers subscription attempts: messages and callbacks of an
	// earlier one are ignored, as a client ignores a stream it cancelled.
	gen    uint64
	active bool // an attempt is under way or confirmed
	node   int
	proc   Process
	sub    *streams.Subscription // set on the node's loop once started
	// silentSince is when the node fell silent (-1: it answers).
	silentSince time.Duration
	// inFlight counts messages of this attempt on their way; arrival is
	// when the last one arrives (deliveries keep their order).
	inFlight int
	arrival  time.Duration
	queue    []streams.Message // received, not yet processed
	busy     bool              // processing an event
	consumed int               // processed since the last credit grant
	live     bool              // the last CaughtUp is newer than the last FellBehind

	// Where to resume: the last revision (stream) or position ($all)
	// received, -1 when nothing was.
	lastRev, lastPos int64
	redirect         int // node to try next (a not-leader answer named it), -1: none
	failures         int
}

// Name is the subscriber's name (s1, s2, ...).
func (s *Subscriber) Name() string { return s.name }

// Config is the subscriber's configuration.
func (s *Subscriber) Config() SubscriberConfig { return s.cfg }

// SetSlow changes how long the subscriber takes per event from now on.
func (s *Subscriber) SetSlow(d time.Duration) { s.slow = max(d, 0) }

// reasonStreamDeleted: the node ended a subscription because its stream
// is tombstoned.
const reasonStreamDeleted = "stream-deleted"

// Settled reports whether the subscriber has received everything its
// subscription on node (its current one) holds for it: confirmed, live,
// nothing buffered on the node, nothing on the way, nothing waiting to be
// processed, and the node's process still the one it subscribed to.
func (s *Subscriber) Settled() (node int, ok bool) {
	if !s.active || s.sub == nil || !s.live || s.inFlight > 0 || len(s.queue) > 0 || s.busy {
		return s.node, false
	}
	p, reach := s.set.nodes.Process(s.node)
	if reach != Up || p.Incarnation != s.proc.Incarnation || !s.sub.Live() || s.sub.Buffered() > 0 {
		return s.node, false
	}
	return s.node, true
}

func (s *Subscriber) trace(kind string) trace.Rec {
	return s.set.w.Trace.Rec(s.set.w.Now(), s.name, kind)
}

func (s *Subscriber) latency() time.Duration {
	return subscriberLatency + time.Duration(s.rnd.Int64N(int64(subscriberJitter)+1))
}

// chooseNode picks where to subscribe: the node a not-leader answer
// named, else the configured node if it runs, else any running node.
func (s *Subscriber) chooseNode() int {
	nodes := s.set.nodes
	if i := s.redirect; i >= 0 {
		s.redirect = -1
		return i
	}
	if i := s.cfg.Node; i >= 0 {
		if _, reach := nodes.Process(i); reach == Up {
			return i
		}
	}
	var up []int
	for i := range nodes.Count() {
		if _, reach := nodes.Process(i); reach == Up {
			up = append(up, i)
		}
	}
	if len(up) == 0 {
		return s.rnd.IntN(nodes.Count())
	}
	return up[s.rnd.IntN(len(up))]
}

// attach starts a subscription attempt.
func (s *Subscriber) attach() {
	s.gen++
	gen := s.gen
	i := s.chooseNode()
	s.node, s.sub, s.inFlight, s.queue, s.busy, s.consumed, s.live = i, nil, 0, nil, false, 0, false
	s.silentSince = -1
	p, reach := s.set.nodes.Process(i)
	if reach != Up {
		s.active = false
		s.set.stats.Refused["unreachable"]++
		s.trace("sub-refused").Str("node", s.set.nodes.Name(i)).Str("reason", "unreachable").End()
		s.retryLater()
		return
	}
	s.active, s.proc = true, p
	from := streams.Start()
	switch {
	case s.cfg.Stream == streams.AllStream && s.lastPos >= 0:
		from = streams.After(s.lastPos)
	case s.cfg.Stream != streams.AllStream && s.lastRev >= 0:
		from = streams.After(s.lastRev)
	}
	s.trace("sub-attach").Str("node", s.set.nodes.Name(i)).Str("stream", s.cfg.Stream).Str("from", from.String()).End()
	sink := func(m streams.Message) { s.sent(gen, m) }
	started := func(sub *streams.Subscription, err error) {
		if err != nil {
			s.after(s.latency(), gen, func() { s.refused(err) })
			return
		}
		if gen != s.gen {
			// Given up on meanwhile: the client cancelled the call.
			sub.Close()
			return
		}
		s.sub = sub
		// The first window of credits travels with the request.
		sub.Request(s.cfg.Credits)
	}
	p.Loop.AfterFunc(s.latency(), func() {
		if s.cfg.Stream == streams.AllStream {
			p.Node.SubscribeToAll(streams.SubscribeAllRequest{From: from}, s.cfg.RequireLeader, sink, started)
		} else {
			p.Node.SubscribeToStream(streams.SubscribeStreamRequest{Stream: s.cfg.Stream, From: from}, s.cfg.RequireLeader, sink, started)
		}
	})
}

// after runs f on the subscriber's side once d has passed, unless the
// attempt gen is over by then.
func (s *Subscriber) after(d time.Duration, gen uint64, f func()) {
	s.set.w.Func(d, func() {
		if s.gen == gen {
			f()
		}
	})
}

// sent runs on the node's loop: the node hands the subscription's next
// message to the transport, which delivers it in order after a delay.
func (s *Subscriber) sent(gen uint64, m streams.Message) {
	if gen != s.gen {
		return
	}
	now := s.set.w.Now()
	s.arrival = max(s.arrival, now+s.latency())
	s.inFlight++
	s.after(s.arrival-now, gen, func() { s.received(m) })
}

func (s *Subscriber) received(m streams.Message) {
	s.inFlight--
	set := s.set
	if m.Kind == streams.Dropped {
		set.sink.SubscriberMessage(s.k, s.node, m)
		s.ended(droppedReason(m.Err))
		return
	}
	set.sink.SubscriberMessage(s.k, s.node, m)
	switch m.Kind {
	case streams.Confirmed:
		set.stats.Started++
		s.failures = 0
		s.trace("sub-started").Str("node", set.nodes.Name(s.node)).End()
	case streams.EventAppeared:
		set.stats.Deliveries++
		if s.cfg.Stream == streams.AllStream {
			s.lastPos = m.Event.Position
		} else {
			s.lastRev = m.Event.Number
		}
	case streams.CaughtUp:
		set.stats.CaughtUp++
		s.live = true
		// What the subscriber resumes from, and what the node claims
		// (past revisions a delete hid, which it never received).
		s.trace("sub-caught-up").Str("node", set.nodes.Name(s.node)).Int("revision", s.lastRev).Int("position", s.lastPos).
			Int("claimed_revision", m.Revision).Int("claimed_position", m.Position).End()
	case streams.FellBehind:
		set.stats.FellBehind++
		s.live = false
		s.trace("sub-fell-behind").Str("node", set.nodes.Name(s.node)).Int("revision", s.lastRev).Int("position", s.lastPos).End()
	}
	s.queue = append(s.queue, m)
	s.process()
}

// process works through received messages: an event takes the
// subscriber's processing time, other messages none; each one processed
// returns its credit.
func (s *Subscriber) process() {
	for !s.busy && len(s.queue) > 0 {
		m := s.queue[0]
		s.queue[0] = streams.Message{}
		s.queue = s.queue[1:]
		if m.Kind == streams.EventAppeared && s.slow > 0 {
			s.busy = true
			s.after(s.slow, s.gen, func() {
				s.busy = false
				s.processed()
				s.process()
			})
			return
		}
		s.processed()
	}
}

// processed returns one credit, in batches of half the window.
func (s *Subscriber) processed() {
	s.consumed++
	if s.consumed < max(1, s.cfg.Credits/2) {
		return
	}
	n := s.consumed
	s.consumed = 0
	gen, sub := s.gen, s.sub
	s.proc.Loop.AfterFunc(s.latency(), func() {
		if s.gen == gen && sub != nil {
			sub.Request(n)
		}
	})
}

// refused: the node turned the subscription down.
func (s *Subscriber) refused(err error) {
	var nl *node.NotLeaderError
	reason := "refused"
	switch {
	case errors.As(err, &nl):
		reason = "not-leader"
		if i := s.set.nodes.Index(nl.Leader); i >= 0 {
			s.redirect = i
		}
	case errors.Is(err, node.ErrNotReady):
		reason = "not-ready"
	case droppedReason(err) == reasonStreamDeleted:
		reason = reasonStreamDeleted
	}
	s.set.stats.Refused[reason]++
	s.trace("sub-refused").Str("node", s.set.nodes.Name(s.node)).Str("reason", reason).End()
	s.active = false
	s.gen++
	if reason == reasonStreamDeleted {
		s.moveOn()
	}
	s.retryLater()
}

// ended: the subscription is over; subscribe again after a pause.
func (s *Subscriber) ended(reason string) {
	set := s.set
	set.stats.Dropped[reason]++
	set.sink.SubscriberEnded(s.k, s.node, reason)
	s.trace("sub-ended").Str("node", set.nodes.Name(s.node)).Str("reason", reason).End()
	if sub := s.sub; sub != nil {
		// A client giving up cancels its call, so the node frees the
		// subscription (a no-op when the node ended it, or died).
		s.proc.Loop.AfterFunc(s.latency(), sub.Close)
	}
	s.active, s.sub = false, nil
	s.gen++
	if reason == reasonStreamDeleted {
		s.moveOn()
	}
	s.retryLater()
}

// moveOn follows the stream the clients write in place of a tombstoned
// one (see Workload.retire): the application's next stream.
func (s *Subscriber) moveOn() {
	if s.cfg.Stream == streams.AllStream {
		return
	}
	s.cfg.Stream = NextStream(s.cfg.Stream)
	s.lastRev = -1
	s.set.sink.SubscriberMoved(s.k, s.node, s.cfg.Stream)
	s.trace("sub-moved").Str("stream", s.cfg.Stream).End()
}

func (s *Subscriber) retryLater() {
	s.failures++
	d := min(resubscribeBase<<min(s.failures-1, 5), resubscribeMax)
	d = d/2 + time.Duration(s.rnd.Int64N(int64(d/2)+1))
	gen := s.gen
	s.after(d, gen, s.attach)
}

// poll watches the connection to the node, as keepalives do: a process
// that died resets it at once; a silent host ends it after the keepalive
// timeout.
func (s *Subscriber) poll() {
	s.set.w.Func(keepalivePoll, s.poll)
	if !s.active {
		return
	}
	p, reach := s.set.nodes.Process(s.node)
	switch {
	case reach == Down || (reach == Up && p.Incarnation != s.proc.Incarnation):
		s.ended("connection-reset")
	case reach == Silent:
		now := s.set.w.Now()
		if s.silentSince < 0 {
			s.silentSince = now
		} else if now-s.silentSince >= keepaliveTimeout {
			s.ended("keepalive-timeout")
		}
	default:
		s.silentSince = -1
	}
}

func droppedReason(err error) string {
	var del *streams.StreamDeletedError
	switch {
	case errors.Is(err, node.ErrNotReady):
		return "node-stopping"
	case errors.As(err, &del):
		return reasonStreamDeleted
	}
	return "dropped-by-node"
}
