package member

import (
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/wire"
)

// MaxViewSize bounds a decoded cluster view: far above any real cluster,
// far below what would let a forged count allocate much.
const MaxViewSize = 64

// EncodeEndpoint appends an endpoint.
func EncodeEndpoint(e *wire.Encoder, ep env.Endpoint) {
	e.String(ep.Host)
	e.Uint16(ep.Port)
}

// DecodeEndpoint reads an endpoint.
func DecodeEndpoint(d *wire.Decoder, field string) env.Endpoint {
	return env.Endpoint{Host: d.String(field + ".host"), Port: d.Uint16(field + ".port")}
}

// EncodeID appends a 16-byte id.
func EncodeID(e *wire.Encoder, id ID) { e.Fixed(id[:]) }

// DecodeID reads a 16-byte id.
func DecodeID(d *wire.Decoder, field string) (id ID) {
	d.Fixed(field, id[:])
	return id
}

// Encode appends one member record.
func (m *Info) Encode(e *wire.Encoder) {
	EncodeID(e, m.InstanceID)
	e.Time(m.TimeStamp)
	e.Varint(int64(m.State))
	e.Bool(m.IsAlive)
	EncodeEndpoint(e, m.HTTPEndPoint)
	EncodeEndpoint(e, m.InternalTCP)
	EncodeEndpoint(e, m.ExternalTCP)
	e.Bool(m.InternalTCPUsesTLS)
	e.Bool(m.ExternalTCPUsesTLS)
	e.Varint(m.LastCommitPosition)
	e.Varint(m.WriterCheckpoint)
	e.Varint(m.ChaserCheckpoint)
	e.Varint(m.EpochPosition)
	e.Varint(int64(m.EpochNumber))
	EncodeID(e, m.EpochID)
	e.Varint(int64(m.NodePriority))
	e.Bool(m.IsReadOnlyReplica)
	e.String(m.AdvertiseHostToClientAs)
	e.Uint16(m.AdvertiseHTTPPortToClientAs)
	e.Uint16(m.AdvertiseTCPPortToClientAs)
	e.String(m.Version)
	e.Uvarint(m.Seq)
}

// Decode reads one member record.
func (m *Info) Decode(d *wire.Decoder) {
	m.InstanceID = DecodeID(d, "instance_id")
	m.TimeStamp = d.Time("time_stamp")
	m.State = State(d.Varint32("state"))
	if d.Err() == nil && !m.State.Valid() {
		d.Invalid("state", "unknown node state "+m.State.String())
	}
	m.IsAlive = d.Bool("is_alive")
	m.HTTPEndPoint = DecodeEndpoint(d, "http_end_point")
	m.InternalTCP = DecodeEndpoint(d, "internal_tcp")
	m.ExternalTCP = DecodeEndpoint(d, "external_tcp")
	m.InternalTCPUsesTLS = d.Bool("internal_tcp_uses_tls")
	m.ExternalTCPUsesTLS = d.Bool("external_tcp_uses_tls")
	m.LastCommitPosition = d.Varint("last_commit_position")
	m.WriterCheckpoint = d.Varint("writer_checkpoint")
	m.ChaserCheckpoint = d.Varint("chaser_checkpoint")
	m.EpochPosition = d.Varint("epoch_position")
	m.EpochNumber = d.Varint32("epoch_number")
	m.EpochID = DecodeID(d, "epoch_id")
	m.NodePriority = d.Varint32("node_priority")
	m.IsReadOnlyReplica = d.Bool("is_read_only_replica")
	m.AdvertiseHostToClientAs = d.String("advertise_host_to_client_as")
	m.AdvertiseHTTPPortToClientAs = d.Uint16("advertise_http_port_to_client_as")
	m.AdvertiseTCPPortToClientAs = d.Uint16("advertise_tcp_port_to_client_as")
	m.Version = d.String("es_version")
	m.Seq = d.Uvarint("seq")
}

// EncodeView appends a cluster view.
func EncodeView(e *wire.Encoder, view []Info) {
	e.Count(len(view))
	for i := range view {
		view[i].Encode(e)
	}
}

// DecodeView reads a cluster view of at most MaxViewSize members.
func DecodeView(d *wire.Decoder, field string) []Info {
	n := d.Count(field, MaxViewSize)
	if n == 0 {
		return nil
	}
	view := make([]Info, n)
	for i := range view {
		view[i].Decode(d)
	}
	return view
}
