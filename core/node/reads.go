package node

import (
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/streams"
)

// The read-side entry points beyond ReadStream: $all reads and catch-up
// subscriptions. Any node serves them from its own committed log; a caller
// that requires the leader gets the leader only, confirmed by a quorum as
// for ReadStream, so that what it reads includes every write acknowledged
// before it asked.

// leaderGate runs next once the node may serve a read: at once unless the
// caller requires the leader; then only after a quorum confirms this node
// still leads and everything committed by then is applied. Otherwise next
// gets ErrNotReady or a *NotLeaderError.
func (n *Node) leaderGate(requireLeader bool, next func(error)) {
	switch {
	case !n.serving():
		next(ErrNotReady)
		return
	case !requireLeader:
		next(nil)
		return
	case n.state != member.Leader:
		next(&NotLeaderError{Leader: n.leaderEndpoint()})
		return
	}
	epoch := n.epoch.Number
	n.server.ConfirmLeadership(epoch, n.clusterSize/2, func(ok bool) {
		if !ok || n.state != member.Leader || n.epoch.Number != epoch {
			next(&NotLeaderError{Leader: n.leaderEndpoint()})
			return
		}
		n.afterApplied(n.st.committed, func() {
			if !n.serving() {
				next(ErrNotReady)
				return
			}
			next(nil)
		})
	})
}

// ReadAll reads one page of $all (Count, From and Filter as
// streams.ReadAllRequest); the caller continues from Next.
func (n *Node) ReadAll(req streams.ReadAllRequest, requireLeader bool, done func(streams.ReadAllResult)) {
	n.leaderGate(requireLeader, func(err error) {
		if err != nil {
			done(streams.ReadAllResult{Err: err, Checkpoint: -1})
			return
		}
		n.streams.ReadAll(req, done)
	})
}

// SubscribeToStream starts a catch-up subscription to one stream. started
// gets the subscription (the caller grants credits and closes it) or why
// there is none. Messages go to sink on the node's loop; the subscription
// ends with a Dropped message if the node stops serving.
func (n *Node) SubscribeToStream(req streams.SubscribeStreamRequest, requireLeader bool, sink func(streams.Message), started func(*streams.Subscription, error)) {
	n.leaderGate(requireLeader, func(err error) {
		if err != nil {
			started(nil, err)
			return
		}
		req.Now = n.e.Clock.Wall()
		started(n.streams.SubscribeToStream(req, sink))
	})
}

// SubscribeToAll starts a catch-up subscription to $all, as
// SubscribeToStream.
func (n *Node) SubscribeToAll(req streams.SubscribeAllRequest, requireLeader bool, sink func(streams.Message), started func(*streams.Subscription, error)) {
	n.leaderGate(requireLeader, func(err error) {
		if err != nil {
			started(nil, err)
			return
		}
		started(n.streams.SubscribeToAll(req, sink))
	})
}

// ClusterView is the members as this node sees them, itself included,
// for client gossip: clients pick the node to talk to from it.
func (n *Node) ClusterView() []member.Info {
	if n.gossip == nil {
		return []member.Info{n.self()}
	}
	return n.gossip.View()
}
