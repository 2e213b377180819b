package election

import (
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// LogState is what a node reports about its log in an election: the order
// in which candidates are compared and the acceptor's legitimacy check both
// read it.
type LogState struct {
	ServerID           member.ID
	HTTP               env.Endpoint
	EpochNumber        int32
	EpochPosition      int64
	EpochID            member.ID
	EpochLeaderID      member.ID // who led the node's last epoch
	LastCommitPosition int64
	WriterCheckpoint   int64
	ChaserCheckpoint   int64
	NodePriority       int32
	// DiskFull: the node's disk had no room for its log when it last
	// wrote. Among candidates with as good a log, it is chosen last: as
	// leader it would fail its first append and step down again.
	DiskFull bool
}

// From identifies the sender of every election message.
type From struct {
	ServerID member.ID
	HTTP     env.Endpoint
}

// ViewChange: "I want to elect in view AttemptedView".
type ViewChange struct {
	From
	AttemptedView int32
}

// ViewChangeProof: "view InstalledView is installed", so late nodes can join it.
type ViewChangeProof struct {
	From
	InstalledView int32
}

// Prepare: the view's coordinator asks for the acceptors' log states.
type Prepare struct {
	From
	View int32
}

// PrepareOk: an acceptor's log state, its cluster view, and the highest
// proposal number it has persisted (EventStoreDB's has no such field; with
// it the coordinator never proposes a number the quorum would refuse as
// outdated).
type PrepareOk struct {
	View     int32
	State    LogState
	Proposal int32
	Cluster  []member.Info // the sender's gossip view
}

// Proposal: the coordinator proposes Leader under proposal number Number
// (the next epoch number).
type Proposal struct {
	From
	Leader LogState
	View   int32
	Number int32
}

// Accept: the sender has persisted Number and accepts Leader for View.
// (EventStoreDB's Accept has no number; carrying it lets a node that missed
// the proposal still learn which epoch was decided.)
type Accept struct {
	From
	Leader From
	View   int32
	Number int32
}

// LeaderIsResigning: the leader asks to step down.
type LeaderIsResigning struct {
	Leader From
}

// LeaderIsResigningOk acknowledges a resignation.
type LeaderIsResigningOk struct {
	From
	Leader From
}

// Message is any election message (always a pointer).
type Message interface {
	wire.Message
	electionMessage()
}

func (*ViewChange) electionMessage()          {}
func (*ViewChangeProof) electionMessage()     {}
func (*Prepare) electionMessage()             {}
func (*PrepareOk) electionMessage()           {}
func (*Proposal) electionMessage()            {}
func (*Accept) electionMessage()              {}
func (*LeaderIsResigning) electionMessage()   {}
func (*LeaderIsResigningOk) electionMessage() {}

// Sender is the node endpoint of the member that sent m.
func Sender(m Message) env.Endpoint {
	switch m := m.(type) {
	case *ViewChange:
		return m.HTTP
	case *ViewChangeProof:
		return m.HTTP
	case *Prepare:
		return m.HTTP
	case *PrepareOk:
		return m.State.HTTP
	case *Proposal:
		return m.HTTP
	case *Accept:
		return m.HTTP
	case *LeaderIsResigning:
		return m.Leader.HTTP
	case *LeaderIsResigningOk:
		return m.HTTP
	}
	return env.Endpoint{}
}
