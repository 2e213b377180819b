// Package wire is the binary encoding of the messages nodes send each other.
// The same bytes travel between simulated nodes and real ones; realnet adds
// framing (a length prefix and a checksum), this package only turns a message
// into bytes and back.
//
// Every value has exactly one encoding, and the decoder accepts nothing else
// (no over-long varints, no bool other than 0 or 1, no trailing bytes), so
// whatever decodes re-encodes to the same bytes. That makes a message's bytes
// a fair thing to hash, compare and trace.
//
// Encodings:
//   - Uvarint, Varint: LEB128, signed values zig-zag folded (as
//     encoding/binary), at most 10 bytes, minimal length. Uvarint32 and
//     Varint32 are the same encodings, range-checked on decoding.
//   - Uint8, Uint16, Uint32, Uint64, Float64: fixed width, little endian.
//   - Bool: one byte, 0 or 1.
//   - String, Bytes: a Uvarint length, then the bytes.
//   - Fixed: raw bytes whose length both sides know (UUIDs).
//   - Duration: Varint nanoseconds.
//   - Time: Varint Unix seconds, then Uvarint nanoseconds below 1e9; it
//     decodes as UTC, without a monotonic reading.
//   - Count: a Uvarint element count that the decoder bounds.
//
// A message on the wire is a header (FormatVersion, then its Kind as a
// Uint16) followed by the body its Encode method writes.
package wire

import (
	"encoding/binary"
	"math"
	"time"
)

// Encoder appends encoded values to a byte slice. Its zero value is ready to
// use; Reset it onto a reused buffer to encode without allocating.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an encoder that appends to buf.
func NewEncoder(buf []byte) *Encoder { return &Encoder{buf: buf} }

// Reset makes the encoder append to buf (pass buf[:0] to overwrite it).
func (e *Encoder) Reset(buf []byte) { e.buf = buf }

// Data returns everything appended so far, including what buf held before.
func (e *Encoder) Data() []byte { return e.buf }

// Len is the length of Data.
func (e *Encoder) Len() int { return len(e.buf) }

// Uvarint appends v as a minimal-length unsigned varint.
func (e *Encoder) Uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

// Varint appends v zig-zag folded as a minimal-length varint.
func (e *Encoder) Varint(v int64) { e.buf = binary.AppendVarint(e.buf, v) }

// Uvarint32 appends v as a Uvarint; Decoder.Uvarint32 checks it fits.
func (e *Encoder) Uvarint32(v uint32) { e.Uvarint(uint64(v)) }

// Varint32 appends v as a Varint; Decoder.Varint32 checks it fits.
func (e *Encoder) Varint32(v int32) { e.Varint(int64(v)) }

// Uint8 appends one byte.
func (e *Encoder) Uint8(v uint8) { e.buf = append(e.buf, v) }

// Uint16 appends v as 2 bytes, little endian.
func (e *Encoder) Uint16(v uint16) { e.buf = binary.LittleEndian.AppendUint16(e.buf, v) }

// Uint32 appends v as 4 bytes, little endian.
func (e *Encoder) Uint32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }

// Uint64 appends v as 8 bytes, little endian.
func (e *Encoder) Uint64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

// Float64 appends v's IEEE 754 bits as 8 bytes, little endian. NaN payloads
// are kept bit for bit.
func (e *Encoder) Float64(v float64) { e.Uint64(math.Float64bits(v)) }

// Bool appends 1 for true, 0 for false.
func (e *Encoder) Bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// String appends len(s) as a Uvarint, then s.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// Bytes appends len(b) as a Uvarint, then b. Nil and empty encode alike.
func (e *Encoder) Bytes(b []byte) {
	e.Uvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// Fixed appends b with no length: the decoder must know it (Decoder.Fixed).
func (e *Encoder) Fixed(b []byte) { e.buf = append(e.buf, b...) }

// Count appends the number of elements that follow (Decoder.Count).
func (e *Encoder) Count(n int) { e.Uvarint(uint64(n)) }

// Duration appends d's nanoseconds as a Varint.
func (e *Encoder) Duration(d time.Duration) { e.Varint(int64(d)) }

// Time appends t's Unix seconds (Varint) and nanoseconds (Uvarint). The
// zone and any monotonic reading are dropped: t decodes as t.UTC() without
// one.
func (e *Encoder) Time(t time.Time) {
	e.Varint(t.Unix())
	e.Uvarint(uint64(t.Nanosecond()))
}

// Message appends m's header and body, as Marshal does, onto the encoder's
// buffer; with a reused buffer it does not allocate.
func (e *Encoder) Message(m Message) {
	e.Uint8(FormatVersion)
	e.Uint16(uint16(m.Kind()))
	m.Encode(e)
}
