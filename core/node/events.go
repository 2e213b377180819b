package node

import (
	"strconv"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
)

// StateChanged: the node moved to a new state. Epoch is the node's epoch
// number now; Leader is the leader it follows (itself when leading).
type StateChanged struct {
	State  member.State
	Epoch  int32
	Leader member.ID
	ID     member.ID
}

func (StateChanged) Kind() string { return "state" }
func (e StateChanged) AppendTrace(b []byte) []byte {
	b = append(b, "state="...)
	b = append(b, e.State.String()...)
	b = append(b, " epoch="...)
	b = strconv.AppendInt(b, int64(e.Epoch), 10)
	b = append(b, " leader="...)
	return append(b, e.Leader.Short()...)
}

// ElectionDecided: this node learned an election's outcome.
type ElectionDecided struct {
	View, Epoch int32
	Leader      member.ID
}

func (ElectionDecided) Kind() string { return "elected" }
func (e ElectionDecided) AppendTrace(b []byte) []byte {
	b = append(b, "view="...)
	b = strconv.AppendInt(b, int64(e.View), 10)
	b = append(b, " epoch="...)
	b = strconv.AppendInt(b, int64(e.Epoch), 10)
	b = append(b, " leader="...)
	return append(b, e.Leader.Short()...)
}

// PeerDeclaredDead: a replication connection's heartbeats found the peer
// silent.
type PeerDeclaredDead struct {
	Peer env.Endpoint
}

func (PeerDeclaredDead) Kind() string { return "peer-dead" }
func (e PeerDeclaredDead) AppendTrace(b []byte) []byte {
	return append(append(b, "peer="...), e.Peer.String()...)
}

// ClockSkewDetected: gossip saw a member whose clock is off by more than the
// allowed difference.
type ClockSkewDetected struct {
	Peer env.Endpoint
	Skew time.Duration
}

func (ClockSkewDetected) Kind() string { return "clock-skew" }
func (e ClockSkewDetected) AppendTrace(b []byte) []byte {
	b = append(append(b, "peer="...), e.Peer.String()...)
	return append(append(b, " skew="...), e.Skew.String()...)
}

// Fatal: the node stops because it cannot go on safely.
type Fatal struct{ Reason string }

func (Fatal) Kind() string { return "fatal" }
func (e Fatal) AppendTrace(b []byte) []byte {
	return append(append(b, "reason="...), strconv.Quote(e.Reason)...)
}

// Committed: the node's commit point moved (the log is written on a quorum
// up to Position and will never lose it).
type Committed struct{ Position int64 }

func (Committed) Kind() string { return "committed" }
func (e Committed) AppendTrace(b []byte) []byte {
	return strconv.AppendInt(append(b, "position="...), e.Position, 10)
}

// Truncated: the node cut its log back to To (a suffix the leader did not
// have).
type Truncated struct{ To int64 }

func (Truncated) Kind() string { return "truncated" }
func (e Truncated) AppendTrace(b []byte) []byte {
	return strconv.AppendInt(append(b, "to="...), e.To, 10)
}

// CommittedCut: a new leader lacks records this node knows are committed
// and asked it to cut them. The node refuses and stops; in a correct
// cluster this never happens (the simulator reports it as a violation).
type CommittedCut struct{ To, Committed int64 }

func (CommittedCut) Kind() string { return "committed-cut" }
func (e CommittedCut) AppendTrace(b []byte) []byte {
	b = strconv.AppendInt(append(b, "to="...), e.To, 10)
	return strconv.AppendInt(append(b, " committed="...), e.Committed, 10)
}

// Corrupted: a read of this node's own log met synced data that fails its
// checks. The node serves nothing of [From, To) and fetches it again from
// its leader. File and Offset locate From on disk.
type Corrupted struct {
	From, To int64
	File     string
	Offset   int64
}

func (Corrupted) Kind() string { return "corrupt" }
func (e Corrupted) AppendTrace(b []byte) []byte {
	b = strconv.AppendInt(append(b, "from="...), e.From, 10)
	b = strconv.AppendInt(append(b, " to="...), e.To, 10)
	b = append(append(b, " file="...), e.File...)
	return strconv.AppendInt(append(b, " offset="...), e.Offset, 10)
}

// Repaired: the log again holds, intact, everything up to To that a
// corrupt range had taken from it.
type Repaired struct{ To int64 }

func (Repaired) Kind() string { return "repaired" }
func (e Repaired) AppendTrace(b []byte) []byte {
	return strconv.AppendInt(append(b, "to="...), e.To, 10)
}
