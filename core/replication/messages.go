// Package replication is the leader-replica channel: one stream connection
// from each replica to the leader's replication port, a subscription
// handshake that agrees on the leader's epoch, role assignments, and the
// heartbeats that find a silent peer. The replicated log's data flows on the
// same connection.
package replication

import (
	"github.com/annal-db/annal/core/env"
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
	KindDrop              wire.Kind = 47
	KindData              wire.Kind = 48
	KindAck               wire.Kind = 49
	KindCommitted         wire.Kind = 50
	KindLeaderCheck       wire.Kind = 51
	KindLeaderCheckOk     wire.Kind = 52
	KindAhead             wire.Kind = 53
)

// MaxDataBytes bounds the raw log bytes of one Data message, unless its
// one record is larger (a large event is never split).
const MaxDataBytes = 256 << 10

func init() {
	wire.Register(KindHeartbeatRequest, "replication.HeartbeatRequest", func() wire.Message { return &HeartbeatRequest{} })
	wire.Register(KindHeartbeatResponse, "replication.HeartbeatResponse", func() wire.Message { return &HeartbeatResponse{} })
	wire.Register(KindSubscribe, "replication.Subscribe", func() wire.Message { return &Subscribe{} })
	wire.Register(KindSubscribed, "replication.Subscribed", func() wire.Message { return &Subscribed{} })
	wire.Register(KindSubscriptionRetry, "replication.SubscriptionRetry", func() wire.Message { return &SubscriptionRetry{} })
	wire.Register(KindAssignment, "replication.Assignment", func() wire.Message { return &Assignment{} })
	wire.Register(KindDrop, "replication.Drop", func() wire.Message { return &Drop{} })
	wire.Register(KindData, "replication.Data", func() wire.Message { return &Data{} })
	wire.Register(KindAck, "replication.Ack", func() wire.Message { return &Ack{} })
	wire.Register(KindCommitted, "replication.Committed", func() wire.Message { return &Committed{} })
	wire.Register(KindLeaderCheck, "replication.LeaderCheck", func() wire.Message { return &LeaderCheck{} })
	wire.Register(KindLeaderCheckOk, "replication.LeaderCheckOk", func() wire.Message { return &LeaderCheckOk{} })
	wire.Register(KindAhead, "replication.Ahead", func() wire.Message { return &Ahead{} })
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

// MaxEpochs is how many of its latest epochs a replica sends when it
// subscribes (EventStoreDB sends 20).
const MaxEpochs = 20

// Subscribe: a replica asks the leader for its log, telling it where its
// own log ends and the epochs in it (newest first), so that the leader can
// find where their histories part.
type Subscribe struct {
	ReplicaID      member.ID
	LeaderID       member.ID
	SubscriptionID member.ID
	IsPromotable   bool
	Epochs         []Epoch
	Writer         int64
	// ReplicaNode is the replica's advertised node endpoint: unlike
	// ReplicaID, which is new at every start, it names the same node
	// across restarts.
	ReplicaNode env.Endpoint
}

// Subscribed: the leader accepts, telling the replica its epoch and where
// streaming starts. A Start below the replica's writer position means the
// replica holds a suffix the leader does not have: it truncates to Start.
type Subscribed struct {
	LeaderID       member.ID
	SubscriptionID member.ID
	Epoch          Epoch
	Start          int64
}

// Data carries raw log records from the leader, to be written at exactly
// From (the next segment's start when the leader padded the rest of one).
type Data struct {
	SubscriptionID member.ID
	From           int64
	Raw            []byte
	// Committed is the leader's replication checkpoint when it sent this.
	Committed int64
}

// Ack reports the replica's durable end.
type Ack struct {
	SubscriptionID member.ID
	Durable        int64
}

// LeaderCheck asks a replica whether it still follows this leader in this
// epoch (a read that requires the leader waits for a quorum of yeses).
type LeaderCheck struct {
	Seq   uint64
	Epoch int32
}

// LeaderCheckOk answers a LeaderCheck: Yes when the replica still follows
// the asking leader and has promised no newer election.
type LeaderCheckOk struct {
	Seq uint64
	Yes bool
}

// Ahead tells the leader that the replica has promised an election
// proposal above the leader's epoch, so it will not take the leader's
// records: the leader calls an election, which a higher number settles.
type Ahead struct {
	Promised int32
}

// Committed tells replicas how far the log is committed (quorum-durable):
// EventStoreDB's LeaderReplicatedTo.
type Committed struct {
	Position int64
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

// Drop ends a subscription (the leader is stepping down or the replica is
// surplus).
type Drop struct {
	SubscriptionID member.ID
	Reason         string
	// Surplus: the leader has all the followers ClusterSize allows and
	// this replica would be one more; it stops rather than reconnect.
	Surplus bool
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
	e.Count(len(m.Epochs))
	for i := range m.Epochs {
		m.Epochs[i].encode(e)
	}
	e.Varint(m.Writer)
	member.EncodeEndpoint(e, m.ReplicaNode)
}
func (m *Subscribe) Decode(d *wire.Decoder) {
	m.ReplicaID = member.DecodeID(d, "replica_id")
	m.LeaderID = member.DecodeID(d, "leader_id")
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.IsPromotable = d.Bool("is_promotable")
	if n := d.Count("epochs", MaxEpochs); n > 0 {
		m.Epochs = make([]Epoch, n)
		for i := range m.Epochs {
			m.Epochs[i].decode(d)
		}
	}
	m.Writer = d.Varint("writer")
	m.ReplicaNode = member.DecodeEndpoint(d, "replica_node")
}

func (*Subscribed) Kind() wire.Kind { return KindSubscribed }
func (m *Subscribed) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.LeaderID)
	member.EncodeID(e, m.SubscriptionID)
	m.Epoch.encode(e)
	e.Varint(m.Start)
}
func (m *Subscribed) Decode(d *wire.Decoder) {
	m.LeaderID = member.DecodeID(d, "leader_id")
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.Epoch.decode(d)
	m.Start = d.Varint("start")
}

func (*Data) Kind() wire.Kind { return KindData }
func (m *Data) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.SubscriptionID)
	e.Varint(m.From)
	e.Bytes(m.Raw)
	e.Varint(m.Committed)
}
func (m *Data) Decode(d *wire.Decoder) {
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.From = d.Varint("from")
	m.Raw = d.Bytes("raw")
	m.Committed = d.Varint("committed")
	// A leader reads up to MaxDataBytes per message, but never splits a
	// record: one event larger than that (MaxAppendSize allows up to 15
	// MiB) travels alone in a larger Data. Only the message bound holds.
	if d.Err() == nil && len(m.Raw) > env.MaxMessageSize {
		d.Invalid("raw", "more log records than one message may carry")
	}
}

func (*Ack) Kind() wire.Kind { return KindAck }
func (m *Ack) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.SubscriptionID)
	e.Varint(m.Durable)
}
func (m *Ack) Decode(d *wire.Decoder) {
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.Durable = d.Varint("durable")
}

func (*Committed) Kind() wire.Kind          { return KindCommitted }
func (m *Committed) Encode(e *wire.Encoder) { e.Varint(m.Position) }
func (m *Committed) Decode(d *wire.Decoder) { m.Position = d.Varint("position") }

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

func (*Drop) Kind() wire.Kind { return KindDrop }
func (m *Drop) Encode(e *wire.Encoder) {
	member.EncodeID(e, m.SubscriptionID)
	e.String(m.Reason)
	e.Bool(m.Surplus)
}
func (m *Drop) Decode(d *wire.Decoder) {
	m.SubscriptionID = member.DecodeID(d, "subscription_id")
	m.Reason = d.String("reason")
	m.Surplus = d.Bool("surplus")
}

func (*LeaderCheck) Kind() wire.Kind { return KindLeaderCheck }
func (m *LeaderCheck) Encode(e *wire.Encoder) {
	e.Uvarint(m.Seq)
	e.Varint32(m.Epoch)
}
func (m *LeaderCheck) Decode(d *wire.Decoder) {
	m.Seq = d.Uvarint("seq")
	m.Epoch = d.Varint32("epoch")
}

func (*LeaderCheckOk) Kind() wire.Kind { return KindLeaderCheckOk }
func (m *LeaderCheckOk) Encode(e *wire.Encoder) {
	e.Uvarint(m.Seq)
	e.Bool(m.Yes)
}
func (m *LeaderCheckOk) Decode(d *wire.Decoder) {
	m.Seq = d.Uvarint("seq")
	m.Yes = d.Bool("yes")
}

func (*Ahead) Kind() wire.Kind          { return KindAhead }
func (m *Ahead) Encode(e *wire.Encoder) { e.Varint32(m.Promised) }
func (m *Ahead) Decode(d *wire.Decoder) { m.Promised = d.Varint32("promised") }
