package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/annal-db/annal/core/wire"
)

// Kind says what a record holds. Zero is never a kind, so zeroed bytes
// never frame a record.
type Kind uint8

const (
	// KindEvent is an event appended to a stream (EventStoreDB's prepare,
	// implicitly committed).
	KindEvent Kind = 1
	// KindEpoch marks the start of a leader's term (EventStoreDB's system
	// record).
	KindEpoch Kind = 2
	// KindPadding fills the rest of a segment when the next record does not
	// fit. Reads skip it; its body is filler that no checksum covers.
	KindPadding Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindEpoch:
		return "epoch"
	case KindPadding:
		return "padding"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Framing sizes: length(4) kind(1) body crc(4) length(4).
const (
	prefixSize  = 4 + 1
	trailerSize = 4 + 4
	// MinRecordSize is the framed size of a record with an empty body.
	MinRecordSize = prefixSize + trailerSize
	// MaxRecordSize bounds one framed record, as EventStoreDB bounds its
	// log records (16 MiB).
	MaxRecordSize = 16 << 20
	// maxPaddingSize: padding fills only what a record did not fit in, so
	// it is shorter than the largest record plus the smallest.
	maxPaddingSize = MaxRecordSize + MinRecordSize - 1
)

// EventFlags are markers an event carries.
type EventFlags uint8

const (
	// FlagJSON: the event's data (and metadata) are JSON.
	FlagJSON EventFlags = 1 << 0
	// FlagTombstone: the event is the tombstone of a hard-deleted stream
	// (EventStoreDB's StreamDelete prepare flag); the stream can never be
	// written again.
	FlagTombstone EventFlags = 1 << 1
	// FlagContinued: more events of the same append follow this one. An
	// append's events are committed and applied together, so a log whose
	// last event carries this flag ends inside an append.
	FlagContinued EventFlags = 1 << 2

	knownEventFlags = FlagJSON | FlagTombstone | FlagContinued
)

// Event is one event as the log stores it.
type Event struct {
	Stream string
	// Number is the event's number (revision) in its stream; a tombstone
	// carries math.MaxInt64.
	Number   int64
	ID       [16]byte
	Type     string
	Data     []byte
	Metadata []byte
	Flags    EventFlags
	// Created is the creation time in .NET ticks (100 ns since
	// 0001-01-01 UTC), as EventStoreDB stores it; see Ticks.
	Created int64
}

// IsJSON reports whether the event's data is JSON.
func (e *Event) IsJSON() bool { return e.Flags&FlagJSON != 0 }

// IsTombstone reports whether the event marks a hard-deleted stream.
func (e *Event) IsTombstone() bool { return e.Flags&FlagTombstone != 0 }

// EndsAppend reports whether a record is the last of its append: an epoch
// record, or an event not flagged FlagContinued (padding ends nothing).
func (r *Record) EndsAppend() bool {
	return r.Kind == KindEpoch || (r.Kind == KindEvent && r.Event.Flags&FlagContinued == 0)
}

// Epoch is a leader's term as the log records it. Its position is the
// position of its record (Record.Position): it is not stored twice.
type Epoch struct {
	Number int32
	ID     [16]byte
	// PrevPosition is the position of the previous epoch record, -1 for
	// the first.
	PrevPosition int64
	LeaderID     [16]byte
	// Created is in .NET ticks, as Event.Created.
	Created int64
}

// Record is one entry of the log.
type Record struct {
	Kind Kind
	// Position is the record's global byte offset in the log. Append sets
	// it; Encode seals it into the checksum, so a record is valid only at
	// its own position.
	Position int64
	// Size is the record's framed length on disk. Append, Decode and reads
	// set it; Encode ignores it except for padding, whose length it is.
	Size  int
	Event Event // when Kind is KindEvent
	Epoch Epoch // when Kind is KindEpoch
}

// NewEvent makes an event record.
func NewEvent(e Event) Record { return Record{Kind: KindEvent, Event: e} }

// NewEpoch makes an epoch record.
func NewEpoch(e Epoch) Record { return Record{Kind: KindEpoch, Epoch: e} }

// AllPosition is an event's position in $all as EventStoreDB reports it.
type AllPosition struct{ Commit, Prepare int64 }

// AllPosition is (Position, Position): every event is implicitly committed
// by its own record.
func (r *Record) AllPosition() AllPosition {
	return AllPosition{Commit: r.Position, Prepare: r.Position}
}

// End is the position just after the record.
func (r *Record) End() int64 { return r.Position + int64(r.Size) }

// ErrBadRecord marks bytes that are not a valid record at the position
// they were read from: torn, zeroed, corrupt, or not a record boundary.
var ErrBadRecord = errors.New("bad record")

// ErrRecordTooLarge marks a record above the size limit.
var ErrRecordTooLarge = errors.New("record too large")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum covers the record's position and everything from its length
// prefix to the end of its body (for padding, only the prefix: the body is
// filler).
func checksum(position int64, covered []byte) uint32 {
	return crc32.Update(positionCRC(position), castagnoli, covered)
}

// positionCRC is the CRC-32C of position's 8 little-endian bytes, taken a
// byte at a time from the table: handing crc32 an array would move it to
// the heap on every record.
func positionCRC(position int64) uint32 {
	crc := ^uint32(0)
	for i := 0; i < 8; i++ {
		crc = castagnoli[byte(crc)^byte(uint64(position)>>(8*i))] ^ crc>>8
	}
	return ^crc
}

// Encode appends r, framed and sealed for position r.Position, to dst.
// Padding takes its length from r.Size and has a zero body.
func Encode(dst []byte, r Record) ([]byte, error) {
	start := len(dst)
	if r.Kind == KindPadding {
		if r.Size < MinRecordSize || r.Size > maxPaddingSize {
			return dst, fmt.Errorf("eventlog: padding of %d bytes: padding is %d to %d bytes", r.Size, MinRecordSize, maxPaddingSize)
		}
		dst = append(dst, make([]byte, r.Size)...)
		sealPadding(dst[start:], r.Position)
		return dst, nil
	}
	if err := checkEncodable(&r); err != nil {
		return dst, err
	}
	dst = append(dst, 0, 0, 0, 0, byte(r.Kind))
	e := wire.NewEncoder(dst)
	switch r.Kind {
	case KindEvent:
		encodeEvent(e, &r.Event)
	case KindEpoch:
		encodeEpoch(e, &r.Epoch)
	}
	dst = e.Data()
	size := len(dst) - start + trailerSize
	if size > MaxRecordSize {
		return dst[:start], tooLarge(&r, size, MaxRecordSize, "")
	}
	dst = append(dst, make([]byte, trailerSize)...)
	seal(dst[start:], r.Position)
	return dst, nil
}

// checkEncodable rejects what has no encoding, before any work is done.
func checkEncodable(r *Record) error {
	switch r.Kind {
	case KindEvent:
		if f := r.Event.Flags &^ knownEventFlags; f != 0 {
			return fmt.Errorf("eventlog: event flags %#x include unknown bits %#x; known flags are FlagJSON, FlagTombstone and FlagContinued", uint8(r.Event.Flags), uint8(f))
		}
		payload := len(r.Event.Data) + len(r.Event.Metadata) + len(r.Event.Stream) + len(r.Event.Type)
		if payload > MaxRecordSize {
			return tooLarge(r, payload, MaxRecordSize, "")
		}
	case KindEpoch:
	default:
		return fmt.Errorf("eventlog: cannot encode a record of %v; append events and epochs (padding is the log's own)", r.Kind)
	}
	return nil
}

func tooLarge(r *Record, size, limit int, why string) error {
	what := r.Kind.String()
	if r.Kind == KindEvent {
		what = fmt.Sprintf("event %q in stream %q (data %d bytes, metadata %d bytes)", r.Event.Type, r.Event.Stream, len(r.Event.Data), len(r.Event.Metadata))
	}
	return fmt.Errorf("eventlog: %w: %s takes at least %d bytes framed; the limit is %d%s; split the data or store it elsewhere",
		ErrRecordTooLarge, what, size, limit, why)
}

// seal writes the trailer of a framed record whose prefix and body are in
// place: b is exactly the record.
func seal(b []byte, position int64) {
	n := len(b)
	binary.LittleEndian.PutUint32(b, uint32(n))
	binary.LittleEndian.PutUint32(b[n-trailerSize:], checksum(position, b[:n-trailerSize]))
	binary.LittleEndian.PutUint32(b[n-4:], uint32(n))
}

func sealPadding(b []byte, position int64) {
	n := len(b)
	binary.LittleEndian.PutUint32(b, uint32(n))
	b[4] = byte(KindPadding)
	binary.LittleEndian.PutUint32(b[n-trailerSize:], checksum(position, b[:prefixSize]))
	binary.LittleEndian.PutUint32(b[n-4:], uint32(n))
}

// paddingFrame returns the two pieces of a padding record of n bytes at
// position: its prefix and its trailer. The filler between is never read.
func paddingFrame(position int64, n int) (head, tail []byte) {
	head = make([]byte, prefixSize)
	binary.LittleEndian.PutUint32(head, uint32(n))
	head[4] = byte(KindPadding)
	tail = make([]byte, trailerSize)
	binary.LittleEndian.PutUint32(tail, checksum(position, head))
	binary.LittleEndian.PutUint32(tail[4:], uint32(n))
	return head, tail
}

func encodeEvent(e *wire.Encoder, ev *Event) {
	e.String(ev.Stream)
	e.Varint(ev.Number)
	e.Fixed(ev.ID[:])
	e.String(ev.Type)
	e.Uint8(uint8(ev.Flags))
	e.Varint(ev.Created)
	e.Bytes(ev.Data)
	e.Bytes(ev.Metadata)
}

func decodeEvent(d *wire.Decoder, ev *Event) {
	stream, typ, data, meta := eventFields(d, ev)
	// Every applied and replicated record passes through here: two
	// allocations (the names, the payloads) instead of one per field.
	names := string(stream) + string(typ)
	ev.Stream, ev.Type = names[:len(stream)], names[len(stream):]
	ev.Data, ev.Metadata = nil, nil
	if n := len(data) + len(meta); n > 0 {
		buf := make([]byte, n)
		copy(buf, data)
		copy(buf[len(data):], meta)
		if len(data) > 0 {
			ev.Data = buf[:len(data):len(data)]
		}
		if len(meta) > 0 {
			ev.Metadata = buf[len(data):]
		}
	}
}

// eventFields decodes an event's fixed-size fields into ev and returns its
// variable ones as views of the decoder's bytes, copied by nothing.
func eventFields(d *wire.Decoder, ev *Event) (stream, typ, data, meta []byte) {
	stream = d.View("stream")
	ev.Number = d.Varint("number")
	d.Fixed("id", ev.ID[:])
	typ = d.View("type")
	ev.Flags = EventFlags(d.Uint8("flags"))
	if f := ev.Flags &^ knownEventFlags; f != 0 {
		d.Invalid("flags", fmt.Sprintf("unknown flag bits %#x", uint8(f)))
	}
	ev.Created = d.Varint("created")
	data = d.View("data")
	meta = d.View("metadata")
	return stream, typ, data, meta
}

func encodeEpoch(e *wire.Encoder, ep *Epoch) {
	e.Varint32(ep.Number)
	e.Fixed(ep.ID[:])
	e.Varint(ep.PrevPosition)
	e.Fixed(ep.LeaderID[:])
	e.Varint(ep.Created)
}

func decodeEpoch(d *wire.Decoder, ep *Epoch) {
	ep.Number = d.Varint32("number")
	d.Fixed("id", ep.ID[:])
	ep.PrevPosition = d.Varint("prev_position")
	d.Fixed("leader_id", ep.LeaderID[:])
	ep.Created = d.Varint("created")
}

// frameError says why bytes are not a record. extent is the record's
// length when its length fields agree (the damage is inside it), 0 when
// the boundary itself is unknown.
type frameError struct {
	position int64
	extent   int
	reason   string
}

func (e *frameError) Error() string {
	return fmt.Sprintf("%v at position %d: %s", ErrBadRecord, e.position, e.reason)
}

func (e *frameError) Unwrap() error { return ErrBadRecord }

// recordLen reads a record's length prefix and checks it is possible for
// a record at position with room bytes left in its segment.
func recordLen(b []byte, position int64, room int64) (int, error) {
	n := int(binary.LittleEndian.Uint32(b))
	if n < MinRecordSize {
		return 0, &frameError{position: position, reason: fmt.Sprintf("length %d is below the minimum record size %d", n, MinRecordSize)}
	}
	if int64(n) > room {
		return 0, &frameError{position: position, reason: fmt.Sprintf("length %d runs past the end of its segment (%d bytes left)", n, room)}
	}
	return n, nil
}

// recordLenBack reads the length suffix of a record ending at end.
func recordLenBack(b []byte, end int64, room int64) (int, error) {
	n := int(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if n < MinRecordSize {
		return 0, &frameError{position: end, reason: fmt.Sprintf("length suffix %d of the record ending here is below the minimum record size %d", n, MinRecordSize)}
	}
	if int64(n) > room {
		return 0, &frameError{position: end, reason: fmt.Sprintf("length suffix %d of the record ending here reaches before the start of its segment (%d bytes)", n, room)}
	}
	return n, nil
}

// verify checks that b, exactly one framed record, is valid at position:
// length fields, kind and checksum. It does not decode the body.
func verify(b []byte, position int64) (Kind, error) {
	n := len(b)
	if n < MinRecordSize {
		return 0, &frameError{position: position, reason: fmt.Sprintf("%d bytes are fewer than the minimum record size %d", n, MinRecordSize)}
	}
	if pre := int(binary.LittleEndian.Uint32(b)); pre != n {
		return 0, &frameError{position: position, reason: fmt.Sprintf("length prefix %d does not match the record's %d bytes", pre, n)}
	}
	if suf := int(binary.LittleEndian.Uint32(b[n-4:])); suf != n {
		return 0, &frameError{position: position, reason: fmt.Sprintf("length suffix %d does not match the length prefix %d", suf, n)}
	}
	kind := Kind(b[4])
	covered := b[:n-trailerSize]
	switch kind {
	case KindEvent, KindEpoch:
		if n > MaxRecordSize {
			return 0, &frameError{position: position, extent: n, reason: fmt.Sprintf("%v record of %d bytes exceeds the limit of %d", kind, n, MaxRecordSize)}
		}
	case KindPadding:
		if n > maxPaddingSize {
			return 0, &frameError{position: position, extent: n, reason: fmt.Sprintf("padding of %d bytes exceeds the limit of %d", n, maxPaddingSize)}
		}
		covered = b[:prefixSize]
	default:
		return 0, &frameError{position: position, extent: n, reason: fmt.Sprintf("unknown record kind %d", b[4])}
	}
	stored := binary.LittleEndian.Uint32(b[n-trailerSize:])
	if got := checksum(position, covered); got != stored {
		return 0, &frameError{position: position, extent: n,
			reason: fmt.Sprintf("checksum mismatch (stored %08x, computed %08x): the record is torn or corrupt, or %d is not a record boundary", stored, got, position)}
	}
	return kind, nil
}

// Decode reads the record at the start of b, which was read from position.
// b may hold more after the record; the record's length is in Size.
// Errors wrap ErrBadRecord.
func Decode(b []byte, position int64) (Record, error) {
	if len(b) < 4 {
		return Record{}, &frameError{position: position, reason: fmt.Sprintf("%d bytes cannot hold a length prefix", len(b))}
	}
	n, err := recordLen(b, position, int64(len(b)))
	if err != nil {
		return Record{}, err
	}
	return decodeExact(b[:n], position)
}

// decodeExact decodes b, which is exactly one framed record.
func decodeExact(b []byte, position int64) (Record, error) {
	return decodeFramed(b, position, true)
}

// checkExact checks that b is exactly one well-formed framed record, as
// decodeExact would, without copying an event's names and payloads out:
// an event record it returns has its kind and place, no event.
func checkExact(b []byte, position int64) (Record, error) {
	return decodeFramed(b, position, false)
}

func decodeFramed(b []byte, position int64, copyOut bool) (Record, error) {
	kind, err := verify(b, position)
	if err != nil {
		return Record{}, err
	}
	r := Record{Kind: kind, Position: position, Size: len(b)}
	if kind == KindPadding {
		return r, nil
	}
	d := wire.NewDecoder(b[prefixSize : len(b)-trailerSize])
	switch {
	case kind == KindEvent && copyOut:
		decodeEvent(d, &r.Event)
	case kind == KindEvent:
		var ev Event
		eventFields(d, &ev)
	case kind == KindEpoch:
		decodeEpoch(d, &r.Epoch)
	}
	if err := d.Finish(); err != nil {
		return Record{}, &frameError{position: position, extent: len(b), reason: fmt.Sprintf("%v body: %v", kind, err)}
	}
	return r, nil
}

// unixEpochTicks is 1970-01-01 UTC in .NET ticks.
const unixEpochTicks = 621_355_968_000_000_000

// Ticks converts t to .NET ticks (100 ns since 0001-01-01 UTC), the unit
// of Event.Created and Epoch.Created.
func Ticks(t time.Time) int64 {
	return unixEpochTicks + t.Unix()*10_000_000 + int64(t.Nanosecond()/100)
}

// TimeOfTicks converts .NET ticks to a UTC time.
func TimeOfTicks(ticks int64) time.Time {
	d := ticks - unixEpochTicks
	sec := d / 10_000_000
	rem := d % 10_000_000
	if rem < 0 {
		sec--
		rem += 10_000_000
	}
	return time.Unix(sec, rem*100).UTC()
}
