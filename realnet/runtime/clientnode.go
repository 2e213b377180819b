package runtime

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
	"github.com/annal-db/annal/realnet/loop"
)

// clientNode is the node as the client API sees it: every call becomes an
// input on the node's loop, and the calling goroutine waits for the
// answer, for its context, or for the node to stop.
type clientNode struct {
	r             *Runtime
	maxAppendSize int
}

var _ clientapi.Node = (*clientNode)(nil)

func newClientNode(r *Runtime, opts *options.Values) *clientNode {
	return &clientNode{r: r, maxAppendSize: int(opts.Int(options.MaxAppendSize))}
}

// ask runs start on the loop with the node, and waits for the answer it
// passes to its callback. The callback may run at most once; a node that
// does not exist yet or any more answers notReady.
func ask[T any](ctx context.Context, r *Runtime, notReady T, start func(n *node.Node, done func(T))) (T, error) {
	wait, err := begin(ctx, r, notReady, start)
	if err != nil {
		var zero T
		return zero, err
	}
	return wait(ctx)
}

// begin posts start to the loop before it returns, so calls begun one
// after another from one goroutine reach the node in that order, and
// returns what waits for the answer. Posting gives up when ctx ends: a
// swamped loop must not hold a caller past its deadline.
func begin[T any](ctx context.Context, r *Runtime, notReady T, start func(n *node.Node, done func(T))) (func(context.Context) (T, error), error) {
	answer := make(chan T, 1)
	reply := func(v T) {
		select {
		case answer <- v:
		default: // answered already: a second answer would be a node bug, never a reason to block the loop
		}
	}
	err := r.loop.PostContext(ctx, func() {
		if r.node == nil {
			reply(notReady)
			return
		}
		start(r.node, reply)
	})
	switch {
	case errors.Is(err, loop.ErrStopped):
		return nil, clientapi.ErrNodeStopped
	case err != nil:
		return nil, err
	}
	return func(ctx context.Context) (T, error) {
		var zero T
		select {
		case v := <-answer:
			return v, nil
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-r.loop.Done():
			return zero, clientapi.ErrNodeStopped
		}
	}, nil
}

func (c *clientNode) Append(ctx context.Context, req node.AppendRequest) (node.WriteResult, error) {
	return ask(ctx, c.r, node.WriteResult{Err: node.ErrNotReady}, appendOn(req))
}

func (c *clientNode) StartAppend(ctx context.Context, req node.AppendRequest) (clientapi.AppendWait, error) {
	return begin(ctx, c.r, node.WriteResult{Err: node.ErrNotReady}, appendOn(req))
}

func appendOn(req node.AppendRequest) func(n *node.Node, done func(node.WriteResult)) {
	return func(n *node.Node, done func(node.WriteResult)) { n.Append(req, done) }
}

func (c *clientNode) Delete(ctx context.Context, req node.DeleteRequest) (node.WriteResult, error) {
	return ask(ctx, c.r, node.WriteResult{Err: node.ErrNotReady}, func(n *node.Node, done func(node.WriteResult)) {
		n.Delete(req, done)
	})
}

func (c *clientNode) ReadStream(ctx context.Context, req node.ReadRequest) (node.ReadResult, error) {
	return ask(ctx, c.r, node.ReadResult{Err: node.ErrNotReady}, func(n *node.Node, done func(node.ReadResult)) {
		n.ReadStream(req, done)
	})
}

func (c *clientNode) ReadAll(ctx context.Context, req streams.ReadAllRequest, requireLeader bool) (streams.ReadAllResult, error) {
	return ask(ctx, c.r, streams.ReadAllResult{Err: node.ErrNotReady, Checkpoint: -1}, func(n *node.Node, done func(streams.ReadAllResult)) {
		n.ReadAll(req, requireLeader, done)
	})
}

func (c *clientNode) ClusterView(ctx context.Context) ([]member.Info, error) {
	type view struct {
		members []member.Info
		err     error
	}
	v, err := ask(ctx, c.r, view{err: node.ErrNotReady}, func(n *node.Node, done func(view)) {
		// A copy: the view is the gossip service's own, which it updates
		// in place on the loop while the caller reads this one.
		done(view{members: slices.Clone(n.ClusterView())})
	})
	if err != nil {
		return nil, err
	}
	return v.members, v.err
}

func (c *clientNode) MaxAppendSize() int { return c.maxAppendSize }

// subscriptionWindow is how many messages a subscription may have on
// their way to its consumer: the credits it holds plus what waits in its
// channel never exceed it, so the node's sink never blocks the loop.
const subscriptionWindow = 64

// subscriptionWindowBytes bounds the event bytes waiting in a
// subscription's channel as the window bounds its messages: once they
// reach it, the sink withdraws the credits the subscription has left, and
// the consumer grants them again when it has taken the channel below it.
// So an idle consumer holds this much (and one event more) here, besides
// the node's own bounded buffer, whatever the size of the events: 64 big
// events would be up to 64 times the maximum append size.
const subscriptionWindowBytes = 1 << 20

// eventBytes is what an event counts against subscriptionWindowBytes.
func eventBytes(m *streams.Message) int64 {
	if m.Kind != streams.EventAppeared {
		return 0
	}
	e := &m.Event
	return int64(len(e.Data) + len(e.Metadata) + len(e.Type) + len(e.Stream))
}

func (c *clientNode) Subscribe(ctx context.Context, req clientapi.SubscribeRequest) (clientapi.Subscription, error) {
	s := &loopSubscription{
		r: c.r,
		// One slot more than the window for the final Dropped, which the
		// node sends without a credit.
		msgs:   make(chan streams.Message, subscriptionWindow+1),
		broken: make(chan struct{}),
	}
	sink := func(m streams.Message) {
		// Counted, and the credits withdrawn, before the message is in the
		// channel: the consumer, who subtracts it and grants the credits
		// back, cannot take it before.
		if s.bytes.Add(eventBytes(&m)) >= subscriptionWindowBytes && s.sub != nil {
			if n := s.sub.Withdraw(); n > 0 {
				s.owed += n
				s.withheld.Store(true)
			}
		}
		select {
		case s.msgs <- m:
		default:
			// Unreachable while the window holds; dropping rather than
			// blocking keeps the node alive if it ever does not.
			s.overflow()
		}
	}
	type started struct {
		sub *streams.Subscription
		err error
	}
	st, err := ask(ctx, c.r, started{err: node.ErrNotReady}, func(n *node.Node, done func(started)) {
		begin := func(sub *streams.Subscription, err error) {
			if err == nil {
				if s.closed {
					sub.Close() // the caller gave up while the node confirmed its leadership
				} else {
					s.sub = sub
					sub.Request(subscriptionWindow)
				}
			}
			done(started{sub: sub, err: err})
		}
		if req.Stream != "" {
			n.SubscribeToStream(streams.SubscribeStreamRequest{Stream: req.Stream, From: req.From}, req.RequireLeader, sink, begin)
		} else {
			n.SubscribeToAll(streams.SubscribeAllRequest{From: req.From, Filter: req.Filter}, req.RequireLeader, sink, begin)
		}
	})
	if err != nil {
		// The subscription may have started on the loop after ctx ended:
		// close it there.
		s.Close()
		return nil, err
	}
	if st.err != nil {
		return nil, st.err
	}
	return s, nil
}

// loopSubscription carries a core subscription's messages from the loop
// to one consumer goroutine, granting credits back as it takes them.
type loopSubscription struct {
	r      *Runtime
	msgs   chan streams.Message
	broken chan struct{} // closed if the window was ever exceeded

	// Touched only on the loop.
	sub        *streams.Subscription
	closed     bool
	overflowed bool
	owed       int // credits withdrawn while the channel held too many bytes

	// bytes is the event bytes in msgs; withheld is set while credits are
	// owed, until the consumer, having taken bytes below the bound, asks
	// the loop to grant them again.
	bytes    atomic.Int64
	withheld atomic.Bool

	taken int // messages taken since the last grant (consumer only)

	closeOnce sync.Once
}

// errSubscriptionOverflow ends a subscription that was sent more than its
// window; its order could no longer be trusted.
var errSubscriptionOverflow = errors.New("the subscription was sent more messages than its credit window; it was closed, subscribe again")

func (s *loopSubscription) Next(ctx context.Context) (streams.Message, error) {
	select {
	case m := <-s.msgs:
		if b := eventBytes(&m); b > 0 && s.bytes.Add(-b) < subscriptionWindowBytes && s.withheld.CompareAndSwap(true, false) {
			// Deliver, as for grants below.
			_ = s.r.loop.Deliver(func() {
				if s.sub != nil && s.owed > 0 {
					n := s.owed
					s.owed = 0
					s.sub.Request(n)
				}
			})
		}
		if s.taken++; s.taken >= subscriptionWindow/2 {
			n := s.taken
			s.taken = 0
			// Deliver, not Post: a grant returns credits for messages the
			// node sent, so their number is bounded by the window, and a
			// grant must neither wait for a full inbox nor be lost to the
			// consumer's context.
			_ = s.r.loop.Deliver(func() {
				if s.sub != nil {
					s.sub.Request(n)
				}
			})
		}
		return m, nil
	case <-s.broken:
		return streams.Message{}, errSubscriptionOverflow
	case <-ctx.Done():
		return streams.Message{}, ctx.Err()
	case <-s.r.loop.Done():
		return streams.Message{}, clientapi.ErrNodeStopped
	}
}

func (s *loopSubscription) Close() {
	s.closeOnce.Do(func() {
		// Deliver: Close has no context to give up with, must not be lost,
		// and comes at most once per Subscribe call, which PostContext bounded.
		_ = s.r.loop.Deliver(func() {
			s.closed = true
			if s.sub != nil {
				s.sub.Close()
			}
		})
	})
}

// overflow ends a subscription whose sink found its channel full, which
// the credit window rules out; closing it beats blocking the node.
func (s *loopSubscription) overflow() {
	if s.overflowed {
		return
	}
	s.overflowed = true
	close(s.broken)
	if s.sub != nil {
		s.sub.Close()
	}
	s.r.log.logf(env.LevelError, "a client subscription was sent more than its credit window of %d messages and was closed", subscriptionWindow)
}
