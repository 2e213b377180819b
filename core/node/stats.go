package node

import (
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/replication"
)

// Stats is what the node reports about itself for monitoring: its role,
// its log's checkpoints and, on a leader, what it knows of each replica.
// It is a copy; reading it never changes the node.
type Stats struct {
	ID     member.ID
	State  member.State
	Epoch  int32
	Leader member.ID // the leader it follows (itself when leading), zero when none
	// LogEnd is where the log's written records end; WriterCheckpoint how
	// much of it is durable; Committed the commit point this node knows.
	LogEnd           int64
	WriterCheckpoint int64
	Committed        int64
	// AppendsWaiting counts local appends waiting for their commit.
	AppendsWaiting int
	// Replicas are the replicas this node serves as leader (none on a
	// replica), in subscription order.
	Replicas []ReplicaStats
	// ReplicaHeartbeatTimeouts counts replica connections this node closed
	// as leader because the replica fell silent; ReplicationBytesSent the
	// log bytes it streamed to replicas.
	ReplicaHeartbeatTimeouts uint64
	ReplicationBytesSent     uint64
}

// ReplicaStats is what a leader knows of one replica.
type ReplicaStats struct {
	ReplicaID member.ID
	// Node and Replication are the replica's advertised endpoints as
	// gossip has them (zero when gossip does not list it yet).
	Node, Replication env.Endpoint
	State             member.State // as gossip last said
	Promotable        bool         // votes and counts towards the quorum
	Role              string       // "follower", "clone", or "" before assignment
	// Acknowledged is the replica's durable end as it last reported it
	// (-1 before its first report); Lag how far the leader's log end is
	// ahead of it, in bytes.
	Acknowledged int64
	Lag          int64
}

// Stats reports the node's state. Like every method it runs on the node's
// loop.
func (n *Node) Stats() Stats {
	s := Stats{ID: n.id, State: n.state, Epoch: n.epoch.Number, Leader: n.leaderID,
		Committed: n.st.committed, AppendsWaiting: len(n.st.waiters)}
	if n.st.log != nil {
		s.LogEnd = n.st.log.End()
		s.WriterCheckpoint = n.st.log.Durable()
	}
	if n.server == nil {
		return s
	}
	s.ReplicaHeartbeatTimeouts = n.server.HeartbeatTimeouts
	s.ReplicationBytesSent = n.server.BytesSent
	if !n.state.IsLeaderish() {
		return s
	}
	var view []member.Info
	if n.gossip != nil {
		view = n.gossip.View()
	}
	for _, sub := range n.server.Subscriptions() {
		r := ReplicaStats{ReplicaID: sub.ReplicaID, Promotable: sub.Promotable, Role: roleName(sub.Role),
			Acknowledged: sub.Acked, Lag: s.LogEnd - max(sub.Acked, 0)}
		if r.Lag < 0 {
			r.Lag = 0
		}
		if i := member.Find(view, sub.Node); i >= 0 {
			r.Node, r.Replication, r.State = view[i].HTTPEndPoint, view[i].InternalTCP, view[i].State
		}
		s.Replicas = append(s.Replicas, r)
	}
	return s
}

func roleName(r replication.Role) string {
	switch r {
	case replication.RoleFollower:
		return "follower"
	case replication.RoleClone:
		return "clone"
	default:
		return ""
	}
}
