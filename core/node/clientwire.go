package node

import (
	"errors"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/wire"
)

// RPC methods of the node's own client protocol: what simulated clients
// call, and what a follower uses to forward a write to its leader.
const (
	MethodAppend     = "client.Append"
	MethodDelete     = "client.Delete"
	MethodReadStream = "client.ReadStream"
)

// Wire kinds of client messages.
const (
	KindAppendRequest wire.Kind = 60
	KindDeleteRequest wire.Kind = 61
	KindWriteResult   wire.Kind = 62
	KindReadRequest   wire.Kind = 63
	KindReadResult    wire.Kind = 64
)

// Bounds of decoded client messages.
const (
	// MaxEventsPerAppend bounds the events of one append on every
	// transport: MaxAppendSize counts only event bytes, so without it an
	// append of empty events could hold millions of them in memory.
	MaxEventsPerAppend = 1 << 15
	// maxEventsPerMessage bounds the events of a read page.
	maxEventsPerMessage = 4096
)

func init() {
	wire.Register(KindAppendRequest, "client.AppendRequest", func() wire.Message { return &AppendRequest{} })
	wire.Register(KindDeleteRequest, "client.DeleteRequest", func() wire.Message { return &DeleteRequest{} })
	wire.Register(KindWriteResult, "client.WriteResult", func() wire.Message { return &WriteResult{} })
	wire.Register(KindReadRequest, "client.ReadRequest", func() wire.Message { return &ReadRequest{} })
	wire.Register(KindReadResult, "client.ReadResult", func() wire.Message { return &ReadResult{} })
}

// AppendRequest is an append as it travels between nodes and clients.
type AppendRequest struct {
	Stream        string
	Expected      int64
	Events        []streams.EventData
	RequireLeader bool
}

// DeleteRequest is a soft delete or a tombstone.
type DeleteRequest struct {
	Stream        string
	Expected      int64
	Tombstone     bool
	RequireLeader bool
}

// WriteResult answers an append or delete.
type WriteResult struct {
	Revision   int64
	Position   int64
	Idempotent bool
	Err        error
}

// ReadRequest reads one page of a stream.
type ReadRequest struct {
	Stream        string
	FromEnd       bool
	From          int64 // a revision, when not FromEnd
	Backwards     bool
	Count         uint64
	RequireLeader bool
}

// ReadResult is one page of a stream read.
type ReadResult struct {
	Events       []streams.Event
	Next         int64
	End          bool
	LastRevision int64
	Err          error
}

// Error codes on the wire.
const (
	errNone uint8 = iota
	errWrongExpectedVersion
	errStreamDeleted
	errStreamNotFound
	errMaxAppendSize
	errNotLeader
	errNotReady
	errTimeout
	errTooBusy
	errInvalidArgument
	errCorruptedIdempotency
	errOther
	errDiskFull
)

func encodeError(e *wire.Encoder, err error) {
	// errors.AsType, not errors.As: its targets stay off the heap, which
	// matters on a path every refused request takes.
	if err == nil {
		e.Uint8(errNone)
	} else if wev, ok := errors.AsType[*streams.WrongExpectedVersionError](err); ok {
		e.Uint8(errWrongExpectedVersion)
		e.String(wev.Stream)
		e.Varint(int64(wev.Expected))
		e.Varint(wev.Actual)
	} else if ci, ok := errors.AsType[*streams.CorruptedIdempotencyError](err); ok {
		e.Uint8(errCorruptedIdempotency)
		e.String(ci.Stream)
		e.Varint(int64(ci.Expected))
		e.Varint(ci.Actual)
	} else if del, ok := errors.AsType[*streams.StreamDeletedError](err); ok {
		e.Uint8(errStreamDeleted)
		e.String(del.Stream)
	} else if nf, ok := errors.AsType[*streams.StreamNotFoundError](err); ok {
		e.Uint8(errStreamNotFound)
		e.String(nf.Stream)
	} else if size, ok := errors.AsType[*streams.MaxAppendSizeExceededError](err); ok {
		e.Uint8(errMaxAppendSize)
		e.String(size.Stream)
		e.Varint(int64(size.Size))
		e.Varint(int64(size.Max))
	} else if nl, ok := errors.AsType[*NotLeaderError](err); ok {
		e.Uint8(errNotLeader)
		member.EncodeEndpoint(e, nl.Leader)
	} else if errors.Is(err, ErrNotReady) {
		e.Uint8(errNotReady)
	} else if full, ok := errors.AsType[*DiskFullError](err); ok {
		e.Uint8(errDiskFull)
		e.String(full.Message)
	} else if isTimeout(err) {
		e.Uint8(errTimeout)
		// The cause, not the whole message: the forwarding node wraps it
		// in a TimeoutError of its own, which names the stream.
		if te, ok := errors.AsType[*streams.TimeoutError](err); ok && te.Err != nil {
			e.String(te.Err.Error())
		} else {
			e.String(err.Error())
		}
	} else if busy, ok := errors.AsType[*streams.TooBusyError](err); ok {
		e.Uint8(errTooBusy)
		e.String(busy.What)
		e.Varint(int64(busy.Limit))
	} else if inv, ok := errors.AsType[*streams.InvalidArgumentError](err); ok {
		e.Uint8(errInvalidArgument)
		e.String(inv.What)
	} else {
		e.Uint8(errOther)
		e.String(err.Error())
	}
}

// isTimeout reports whether err leaves a write's outcome unknown for want
// of time: the node's own timeout, a lost leadership, a call's deadline.
func isTimeout(err error) bool {
	_, to := errors.AsType[*streams.TimeoutError](err)
	return to || errors.Is(err, ErrLeadershipLost) || errors.Is(err, env.ErrTimeout)
}

// remoteAmbiguous is the cause of a write that timed out on the leader, as
// its message came over the wire: a write outcome unknown.
type remoteAmbiguous string

func (r remoteAmbiguous) Error() string { return string(r) }
func (r remoteAmbiguous) Unwrap() error { return ErrAmbiguous }

// RemoteWriteError is a write error whose cause the wire does not carry in
// full (a disk error on the leader, say).
type RemoteWriteError struct{ Message string }

func (e *RemoteWriteError) Error() string { return e.Message }

// DiskFullError answers appends the leader could not write because its
// disk is full. The leader gives up leadership (replicas may hold part of
// what it could not write, and only a new term cuts that), so the outcome
// is unknown: errors.Is(err, ErrAmbiguous) holds, and the client retries
// with the same event ids, at a new leader or once space returns.
type DiskFullError struct{ Message string }

func (e *DiskFullError) Error() string { return e.Message }

// Is makes a disk-full answer an ambiguous one.
func (e *DiskFullError) Is(target error) bool { return target == ErrAmbiguous }

// ErrAmbiguous marks a write whose outcome is unknown (a timeout, a lost
// leader): it may still commit; retry with the same event ids.
var ErrAmbiguous = errors.New("write outcome unknown")

func decodeError(d *wire.Decoder) error {
	switch code := d.Uint8("error"); code {
	case errNone:
		return nil
	case errWrongExpectedVersion:
		return &streams.WrongExpectedVersionError{Stream: d.String("stream"), Expected: streams.ExpectedRevision(d.Varint("expected")), Actual: d.Varint("actual")}
	case errCorruptedIdempotency:
		return &streams.CorruptedIdempotencyError{Stream: d.String("stream"), Expected: streams.ExpectedRevision(d.Varint("expected")), Actual: d.Varint("actual")}
	case errStreamDeleted:
		return &streams.StreamDeletedError{Stream: d.String("stream")}
	case errStreamNotFound:
		return &streams.StreamNotFoundError{Stream: d.String("stream")}
	case errMaxAppendSize:
		return &streams.MaxAppendSizeExceededError{Stream: d.String("stream"), Size: int(d.Varint("size")), Max: int(d.Varint("max"))}
	case errNotLeader:
		return &NotLeaderError{Leader: member.DecodeEndpoint(d, "leader")}
	case errNotReady:
		return ErrNotReady
	case errTimeout:
		return &streams.TimeoutError{Err: remoteAmbiguous(d.String("message"))}
	case errTooBusy:
		return &streams.TooBusyError{What: d.String("what"), Limit: int(d.Varint("limit"))}
	case errInvalidArgument:
		return &streams.InvalidArgumentError{What: d.String("what")}
	case errOther:
		return &RemoteWriteError{Message: d.String("message")}
	case errDiskFull:
		return &DiskFullError{Message: d.String("message")}
	default:
		d.Invalid("error", "unknown error code")
		return nil
	}
}

func encodeEventData(e *wire.Encoder, ev *streams.EventData) {
	e.Fixed(ev.ID[:])
	e.String(ev.Type)
	e.Bytes(ev.Data)
	e.Bytes(ev.Metadata)
	e.Bool(ev.IsJSON)
}

func decodeEventData(d *wire.Decoder, ev *streams.EventData) {
	d.Fixed("id", ev.ID[:])
	ev.Type = d.String("type")
	ev.Data = d.Bytes("data")
	ev.Metadata = d.Bytes("metadata")
	ev.IsJSON = d.Bool("is_json")
}

func (*AppendRequest) Kind() wire.Kind { return KindAppendRequest }
func (m *AppendRequest) Encode(e *wire.Encoder) {
	e.String(m.Stream)
	e.Varint(m.Expected)
	e.Count(len(m.Events))
	for i := range m.Events {
		encodeEventData(e, &m.Events[i])
	}
	e.Bool(m.RequireLeader)
}
func (m *AppendRequest) Decode(d *wire.Decoder) {
	m.Stream = d.String("stream")
	m.Expected = d.Varint("expected")
	if n := d.Count("events", MaxEventsPerAppend); n > 0 {
		m.Events = make([]streams.EventData, n)
		for i := range m.Events {
			decodeEventData(d, &m.Events[i])
		}
	}
	m.RequireLeader = d.Bool("require_leader")
}

func (*DeleteRequest) Kind() wire.Kind { return KindDeleteRequest }
func (m *DeleteRequest) Encode(e *wire.Encoder) {
	e.String(m.Stream)
	e.Varint(m.Expected)
	e.Bool(m.Tombstone)
	e.Bool(m.RequireLeader)
}
func (m *DeleteRequest) Decode(d *wire.Decoder) {
	m.Stream = d.String("stream")
	m.Expected = d.Varint("expected")
	m.Tombstone = d.Bool("tombstone")
	m.RequireLeader = d.Bool("require_leader")
}

func (*WriteResult) Kind() wire.Kind { return KindWriteResult }
func (m *WriteResult) Encode(e *wire.Encoder) {
	e.Varint(m.Revision)
	e.Varint(m.Position)
	e.Bool(m.Idempotent)
	encodeError(e, m.Err)
}
func (m *WriteResult) Decode(d *wire.Decoder) {
	m.Revision = d.Varint("revision")
	m.Position = d.Varint("position")
	m.Idempotent = d.Bool("idempotent")
	m.Err = decodeError(d)
}

func (*ReadRequest) Kind() wire.Kind { return KindReadRequest }
func (m *ReadRequest) Encode(e *wire.Encoder) {
	e.String(m.Stream)
	e.Bool(m.FromEnd)
	e.Varint(m.From)
	e.Bool(m.Backwards)
	e.Uvarint(m.Count)
	e.Bool(m.RequireLeader)
}
func (m *ReadRequest) Decode(d *wire.Decoder) {
	m.Stream = d.String("stream")
	m.FromEnd = d.Bool("from_end")
	m.From = d.Varint("from")
	m.Backwards = d.Bool("backwards")
	m.Count = d.Uvarint("count")
	m.RequireLeader = d.Bool("require_leader")
}

func (*ReadResult) Kind() wire.Kind { return KindReadResult }
func (m *ReadResult) Encode(e *wire.Encoder) {
	e.Count(len(m.Events))
	for i := range m.Events {
		ev := &m.Events[i]
		e.Varint(ev.Position)
		e.String(ev.Stream)
		e.Varint(ev.Number)
		e.Fixed(ev.ID[:])
		e.String(ev.Type)
		e.Bytes(ev.Data)
		e.Bytes(ev.Metadata)
		e.Bool(ev.IsJSON)
		e.Varint(ev.Created)
		e.Bool(ev.Tombstone)
	}
	e.Varint(m.Next)
	e.Bool(m.End)
	e.Varint(m.LastRevision)
	encodeError(e, m.Err)
}
func (m *ReadResult) Decode(d *wire.Decoder) {
	if n := d.Count("events", maxEventsPerMessage); n > 0 {
		m.Events = make([]streams.Event, n)
		for i := range m.Events {
			ev := &m.Events[i]
			ev.Position = d.Varint("position")
			ev.Stream = d.String("stream")
			ev.Number = d.Varint("number")
			d.Fixed("id", ev.ID[:])
			ev.Type = d.String("type")
			ev.Data = d.Bytes("data")
			ev.Metadata = d.Bytes("metadata")
			ev.IsJSON = d.Bool("is_json")
			ev.Created = d.Varint("created")
			ev.Tombstone = d.Bool("tombstone")
		}
	}
	m.Next = d.Varint("next")
	m.End = d.Bool("end")
	m.LastRevision = d.Varint("last_revision")
	m.Err = decodeError(d)
}
