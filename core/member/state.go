// Package member is what nodes say about each other: node states, member
// records with EventStoreDB's fields, the cluster view, and the rules for
// merging a view received by gossip into one's own.
package member

import "strconv"

// State is a node's role, with EventStoreDB's VNodeState numbering (the
// numbers travel in gossip; new states may only be appended).
type State int32

const (
	Initializing       State = 0
	DiscoverLeader     State = 1
	Unknown            State = 2
	PreReplica         State = 3
	CatchingUp         State = 4
	Clone              State = 5
	Follower           State = 6
	PreLeader          State = 7
	Leader             State = 8
	Manager            State = 9
	ShuttingDown       State = 10
	Shutdown           State = 11
	ReadOnlyLeaderless State = 12
	PreReadOnlyReplica State = 13
	ReadOnlyReplica    State = 14
	ResigningLeader    State = 15
)

var stateNames = [...]string{
	"Initializing", "DiscoverLeader", "Unknown", "PreReplica", "CatchingUp", "Clone",
	"Follower", "PreLeader", "Leader", "Manager", "ShuttingDown", "Shutdown",
	"ReadOnlyLeaderless", "PreReadOnlyReplica", "ReadOnlyReplica", "ResigningLeader",
}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is a known state.
func (s State) Valid() bool { return s >= 0 && int(s) < len(stateNames) }

// IsReplica: a node that receives the leader's log.
func (s State) IsReplica() bool {
	return s == CatchingUp || s == Clone || s == Follower || s == ReadOnlyReplica
}

// IsLeaderish: a state in which a node is, or is becoming, or is handing
// over, the leader. Replicas keep following such a node.
func (s State) IsLeaderish() bool {
	return s == PreLeader || s == Leader || s == ResigningLeader
}
