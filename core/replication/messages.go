// Package replication is the leader-replica channel: one stream connection
// from each replica to the leader's replication port, a subscription
// handshake that agrees on the leader's epoch, role assignments, and the
// heartbeats that find a silent peer. The replicated log's data flows on the
// same connection.
package replication

import (
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// Wire kinds of replication messages.
const (
	KindHeartbeatRequest  wire.Kind = 40
	KindHeartbeatResponse wire.Kind = 41
	KindSubscribe         wire.Kind = 42
	KindSubscribed        wire.Kind = 43
	KindSubscriptionRetry wire.Kind = 44
	KindAssignment        wire.Kind = 45
	KindEpochAck          wire.Kind = 46
	KindDrop              wire.Kind = 47
)

func init() {
	wire.Register(KindHeartbeatRequest, "replication.HeartbeatRequest", func() wire.Message { return &HeartbeatRequest{} })
	wire.Register(KindHeartbeatResponse, "replication.HeartbeatResponse", func() wire.Message { return &HeartbeatResponse{} })
	wire.Register(KindSubscribe, "replication.Subscribe", func() wire.Message { return &Subscribe{} })
	wire.Register(KindSubscribed, "replication.Subscribed", func() wire.Message { return &Subscribed{} })
	wire.Register(KindSubscriptionRetry, "replication.SubscriptionRetry", func() wire.Message { return &SubscriptionRetry{} })
	wire.Register(KindAssignment, "replication.Assignment", func() wire.Message { return &Assignment{} })
	wire.Register(KindEpochAck, "replication.EpochAck", func() wire.Message { return &EpochAck{} })
	wire.Register(KindDrop, "replication.Drop", func() wire.Message { return &Drop{} })
}

// Epoch is a leader's term: its number (the election's proposal number), a
// random id, the log position where it starts, and who leads it.
type Epoch struct {
	Number   int32
	ID       member.ID
	Position int64
	LeaderID member.ID
}

// None is the epoch of a node that has never seen one.
var None = Epoch{Number: -1, Position: -1}

func (e *Epoch) encode(enc *wire.Encoder) {
	enc.Varint(int64(e.Number))
	member.EncodeID(enc, e.ID)
	enc.Varint(e.Position)
	member.EncodeID(enc, e.LeaderID)
}

func (e *Epoch) decode(d *wire.Decoder) {
	e.Number = d.Varint32("epoch.number")
	e.ID = member.DecodeID(d, "epoch.id")
	e.Position = d.Varint("epoch.position")
	e.LeaderID = member.DecodeID(d, "epoch.leader_id")
}

// MarshalBinary encodes an epoch for a checkpoint file.
func (e Epoch) MarshalBinary() []byte {
	var enc wire.Encoder
	e.encode(&enc)
	return enc.Data()
}

// UnmarshalEpoch decodes a checkpointed epoch.
func UnmarshalEpoch(b []byte) (Epoch, error) {
	d := wire.NewDecoder(b)
	var e Epoch
	e.decode(d)
	return e, d.Finish()
}

// HeartbeatRequest asks the peer to answer at once.
type HeartbeatRequest struct{ Seq uint64 }

// HeartbeatResponse answers a request with its sequence number.
type HeartbeatResponse struct{ Seq uint64 }

// Subscribe: a replica asks the leader for its log.
type Subscribe struct {
	ReplicaID      member.ID
	LeaderID       member.ID
	SubscriptionID member.ID
	IsPromotable   bool
	LastEpoch      Epoch
	Writer         int64
}

// Subscribed: the leader accepts, telling the replica its epoch.
type Subscribed struct {
	LeaderID       member.ID
	SubscriptionID member.ID
	Epoch          Epoch
}

// SubscriptionRetry: the leader is not ready (not yet leader, or the
// replica names another leader); try again shortly.
type SubscriptionRetry struct {
	LeaderID       member.ID
	SubscriptionID member.ID
}

// Role assigned to a replica.
type Role uint8

const (
	RoleFollower Role = iota + 1
	RoleClone
)

// Assignment tells a replica its role.
type Assignment struct {
	SubscriptionID member.ID
	Role           Role
}

// EpochAck: the replica has the leader's epoch on disk.
type EpochAck struct {
	SubscriptionID member.ID
	EpochNumber    int32
}

// Drop ends a subscription (the leader is stepping down or the replica is
// surplus).
type Drop struct {
	SubscriptionID member.ID
	Reason         string
}

func (*HeartbeatRequest) Kind() wire.Kind           { return KindHeartbeatRequest }
func (m *HeartbeatRequest) Encode(e *wire.Encoder)  { e.Uvarint(m.Seq) }
func (m *HeartbeatRequest) Decode(d *wire.Decoder)  { m.Seq = d.Uvarint("seq") }
func (*HeartbeatResponse) Kind() wire.Kind          { return KindHeartbeatResponse }
func (m *HeartbeatResponse) Encode(e *wire.Encoder) { e.Uvarint(m.Seq) }
func (m *HeartbeatResponse) Decode(d *wire.Decoder) { m.Seq = d.Uvarint("seq") }

func (*Subscribe) Kind() wire.Kind { return KindSubscribe }
func (m *Subscribe) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.ReplicaID)
	member.EncodeID(e, m.LeaderID)
	member.EncodeID(e, m.SubscriptionID)
	e.Bool(m.IsPromotable)
	m.LastEpoch.encode(e)
	e.Varint(m.Writer)
}
func (m *Subscribe) Decode(d *wire.Decoder) {
	m.ReplicaID = member.DecodeID(d, "replica_id")
	m.LeaderID = member.DecodeID(d, "leader_id")
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.IsPromotable = d.Bool("is_promotable")
	m.LastEpoch.decode(d)
	m.Writer = d.Varint("writer")
}

func (*Subscribed) Kind() wire.Kind { return KindSubscribed }
func (m *Subscribed) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.LeaderID)
	member.EncodeID(e, m.SubscriptionID)
	m.Epoch.encode(e)
}
func (m *Subscribed) Decode(d *wire.Decoder) {
	m.LeaderID = member.DecodeID(d, "leader_id")
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.Epoch.decode(d)
}

func (*SubscriptionRetry) Kind() wire.Kind { return KindSubscriptionRetry }
func (m *SubscriptionRetry) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.LeaderID)
	member.EncodeID(e, m.SubscriptionID)
}
func (m *SubscriptionRetry) Decode(d *wire.Decoder) {
	m.LeaderID = member.DecodeID(d, "leader_id")
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
}

func (*Assignment) Kind() wire.Kind { return KindAssignment }
func (m *Assignment) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.SubscriptionID)
	e.Uint8(uint8(m.Role))
}
func (m *Assignment) Decode(d *wire.Decoder) {
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.Role = Role(d.Uint8("role"))
	if d.Err() == nil && m.Role != RoleFollower && m.Role != RoleClone {
		d.Invalid("role", "unknown role")
	}
}

func (*EpochAck) Kind() wire.Kind { return KindEpochAck }
func (m *EpochAck) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.SubscriptionID)
	e.Varint(int64(m.EpochNumber))
}
func (m *EpochAck) Decode(d *wire.Decoder) {
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.EpochNumber = d.Varint32("epoch_number")
}

func (*Drop) Kind() wire.Kind { return KindDrop }
func (m *Drop) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.SubscriptionID)
	e.String(m.Reason)
}
func (m *Drop) Decode(d *wire.Decoder) {
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.Reason = d.String("reason")
}
