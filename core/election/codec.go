package election

import (
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// Wire kinds of election messages.
const (
	KindViewChange          wire.Kind = 20
	KindViewChangeProof     wire.Kind = 21
	KindPrepare             wire.Kind = 22
	KindPrepareOk           wire.Kind = 23
	KindProposal            wire.Kind = 24
	KindAccept              wire.Kind = 25
	KindLeaderIsResigning   wire.Kind = 26
	KindLeaderIsResigningOk wire.Kind = 27
)

// MethodElection is the RPC method every election message is sent with.
const MethodElection = "election.Message"

func init() {
	wire.Register(KindViewChange, "election.ViewChange", func() wire.Message { return &ViewChange{} })
	wire.Register(KindViewChangeProof, "election.ViewChangeProof", func() wire.Message { return &ViewChangeProof{} })
	wire.Register(KindPrepare, "election.Prepare", func() wire.Message { return &Prepare{} })
	wire.Register(KindPrepareOk, "election.PrepareOk", func() wire.Message { return &PrepareOk{} })
	wire.Register(KindProposal, "election.Proposal", func() wire.Message { return &Proposal{} })
	wire.Register(KindAccept, "election.Accept", func() wire.Message { return &Accept{} })
	wire.Register(KindLeaderIsResigning, "election.LeaderIsResigning", func() wire.Message { return &LeaderIsResigning{} })
	wire.Register(KindLeaderIsResigningOk, "election.LeaderIsResigningOk", func() wire.Message { return &LeaderIsResigningOk{} })
}

func (f *From) encode(e *wire.Encoder) {
	member.EncodeID(e, f.ServerID)
	member.EncodeEndpoint(e, f.HTTP)
}

func (f *From) decode(d *wire.Decoder, field string) {
	f.ServerID = member.DecodeID(d, field+".server_id")
	f.HTTP = member.DecodeEndpoint(d, field+".http")
}

func (s *LogState) encode(e *wire.Encoder) {
	member.EncodeID(e, s.ServerID)
	member.EncodeEndpoint(e, s.HTTP)
	e.Varint(int64(s.EpochNumber))
	e.Varint(s.EpochPosition)
	member.EncodeID(e, s.EpochID)
	member.EncodeID(e, s.EpochLeaderID)
	e.Varint(s.LastCommitPosition)
	e.Varint(s.WriterCheckpoint)
	e.Varint(s.ChaserCheckpoint)
	e.Varint(int64(s.NodePriority))
	e.Bool(s.DiskFull)
}

func (s *LogState) decode(d *wire.Decoder) {
	s.ServerID = member.DecodeID(d, "server_id")
	s.HTTP = member.DecodeEndpoint(d, "http")
	s.EpochNumber = d.Varint32("epoch_number")
	s.EpochPosition = d.Varint("epoch_position")
	s.EpochID = member.DecodeID(d, "epoch_id")
	s.EpochLeaderID = member.DecodeID(d, "epoch_leader_id")
	s.LastCommitPosition = d.Varint("last_commit_position")
	s.WriterCheckpoint = d.Varint("writer_checkpoint")
	s.ChaserCheckpoint = d.Varint("chaser_checkpoint")
	s.NodePriority = d.Varint32("node_priority")
	s.DiskFull = d.Bool("disk_full")
}

func (*ViewChange) Kind() wire.Kind { return KindViewChange }
func (m *ViewChange) Encode(e *wire.Encoder) {
	m.From.encode(e)
	e.Varint(int64(m.AttemptedView))
}
func (m *ViewChange) Decode(d *wire.Decoder) {
	m.From.decode(d, "from")
	m.AttemptedView = d.Varint32("attempted_view")
}

func (*ViewChangeProof) Kind() wire.Kind { return KindViewChangeProof }
func (m *ViewChangeProof) Encode(e *wire.Encoder) {
	m.From.encode(e)
	e.Varint(int64(m.InstalledView))
}
func (m *ViewChangeProof) Decode(d *wire.Decoder) {
	m.From.decode(d, "from")
	m.InstalledView = d.Varint32("installed_view")
}

func (*Prepare) Kind() wire.Kind { return KindPrepare }
func (m *Prepare) Encode(e *wire.Encoder) {
	m.From.encode(e)
	e.Varint(int64(m.View))
}
func (m *Prepare) Decode(d *wire.Decoder) {
	m.From.decode(d, "from")
	m.View = d.Varint32("view")
}

func (*PrepareOk) Kind() wire.Kind { return KindPrepareOk }
func (m *PrepareOk) Encode(e *wire.Encoder) {
	e.Varint(int64(m.View))
	m.State.encode(e)
	e.Varint32(m.Proposal)
	member.EncodeView(e, m.Cluster)
}
func (m *PrepareOk) Decode(d *wire.Decoder) {
	m.View = d.Varint32("view")
	m.State.decode(d)
	m.Proposal = d.Varint32("proposal")
	m.Cluster = member.DecodeView(d, "cluster")
}

func (*Proposal) Kind() wire.Kind { return KindProposal }
func (m *Proposal) Encode(e *wire.Encoder) {
	m.From.encode(e)
	m.Leader.encode(e)
	e.Varint(int64(m.View))
	e.Varint(int64(m.Number))
}
func (m *Proposal) Decode(d *wire.Decoder) {
	m.From.decode(d, "from")
	m.Leader.decode(d)
	m.View = d.Varint32("view")
	m.Number = d.Varint32("number")
}

func (*Accept) Kind() wire.Kind { return KindAccept }
func (m *Accept) Encode(e *wire.Encoder) {
	m.From.encode(e)
	m.Leader.encode(e)
	e.Varint(int64(m.View))
	e.Varint(int64(m.Number))
}
func (m *Accept) Decode(d *wire.Decoder) {
	m.From.decode(d, "from")
	m.Leader.decode(d, "leader")
	m.View = d.Varint32("view")
	m.Number = d.Varint32("number")
}

func (*LeaderIsResigning) Kind() wire.Kind          { return KindLeaderIsResigning }
func (m *LeaderIsResigning) Encode(e *wire.Encoder) { m.Leader.encode(e) }
func (m *LeaderIsResigning) Decode(d *wire.Decoder) { m.Leader.decode(d, "leader") }

func (*LeaderIsResigningOk) Kind() wire.Kind { return KindLeaderIsResigningOk }
func (m *LeaderIsResigningOk) Encode(e *wire.Encoder) {
	m.From.encode(e)
	m.Leader.encode(e)
}
func (m *LeaderIsResigningOk) Decode(d *wire.Decoder) {
	m.From.decode(d, "from")
	m.Leader.decode(d, "leader")
}

// Decode reads any election message.
func Decode(b []byte) (Message, error) {
	m, err := wire.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	em, ok := m.(Message)
	if !ok {
		return nil, &wire.DecodeError{Field: "kind", Type: "uint16", Offset: 1, Err: wire.ErrUnknownKind,
			Detail: m.Kind().String() + " is not an election message"}
	}
	return em, nil
}
