package wire

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"
)

// Decoder reads encoded values from a byte slice. It never panics and never
// allocates more than the input holds: every read checks the bytes left, and
// the first failure sticks. After a failure every read returns the zero
// value and Err reports that first failure, so a message's Decode can read
// all its fields and check once at the end.
//
// Every read names the field it reads; the name and the field's offset are in
// the error.
type Decoder struct {
	buf        []byte
	off        int
	fieldStart int // where the last field read began, for Invalid
	err        error
}

// NewDecoder returns a decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Reset makes d read b from its start, forgetting any error.
func (d *Decoder) Reset(b []byte) { *d = Decoder{buf: b} }

// Err is the first failure, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset is the number of bytes consumed.
func (d *Decoder) Offset() int { return d.off }

// Remaining is the number of bytes not yet consumed.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Finish reports the first failure, or an error if input is left over: a
// message must consume all its bytes.
func (d *Decoder) Finish() error {
	if d.err == nil && d.off < len(d.buf) {
		d.err = &DecodeError{Offset: d.off, Err: ErrTrailing,
			Detail: strconv.Itoa(len(d.buf)-d.off) + " bytes left after the last field"}
	}
	return d.err
}

// Invalid records that the field just read holds a value the message does
// not allow (an unknown enum, an out-of-range number). reason says what was
// wrong and what was found. A failure already recorded wins.
func (d *Decoder) Invalid(field, reason string) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Offset: d.fieldStart, Err: ErrInvalid, Detail: reason}
	}
}

func (d *Decoder) fail(field, typ string, offset int, err error, detail string) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Type: typ, Offset: offset, Err: err, Detail: detail}
	}
}

// take consumes n bytes, or fails and returns nil.
func (d *Decoder) take(field, typ string, n int) []byte {
	if d.err != nil {
		return nil
	}
	d.fieldStart = d.off
	if n > len(d.buf)-d.off {
		d.fail(field, typ, d.off, ErrTruncated,
			"needs "+strconv.Itoa(n)+" bytes, "+strconv.Itoa(len(d.buf)-d.off)+" left")
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// Uvarint reads a minimal-length unsigned varint of at most 10 bytes.
func (d *Decoder) Uvarint(field string) uint64 { return d.uvarint(field, "uvarint") }

func (d *Decoder) uvarint(field, typ string) uint64 {
	if d.err != nil {
		return 0
	}
	start := d.off
	d.fieldStart = start
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if start+i >= len(d.buf) {
			d.fail(field, typ, start, ErrTruncated, "input ends inside the varint")
			return 0
		}
		b := d.buf[start+i]
		if i == binary.MaxVarintLen64-1 && b > 1 {
			d.fail(field, typ, start, ErrOverflow, "varint exceeds 64 bits")
			return 0
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				d.fail(field, typ, start, ErrNonCanonical, "varint has a redundant zero final byte")
				return 0
			}
			d.off = start + i + 1
			return v
		}
	}
	d.fail(field, typ, start, ErrOverflow, "varint exceeds 64 bits")
	return 0
}

// Varint reads a zig-zag folded varint.
func (d *Decoder) Varint(field string) int64 { return d.varint(field, "varint") }

func (d *Decoder) varint(field, typ string) int64 {
	u := d.uvarint(field, typ)
	return int64(u>>1) ^ -int64(u&1)
}

// Uvarint32 reads a Uvarint that must fit in 32 bits.
func (d *Decoder) Uvarint32(field string) uint32 {
	start := d.off
	v := d.uvarint(field, "uvarint32")
	if v > math.MaxUint32 {
		d.fail(field, "uvarint32", start, ErrOverflow, strconv.FormatUint(v, 10)+" does not fit in 32 bits")
		return 0
	}
	return uint32(v)
}

// Varint32 reads a Varint that must fit in 32 bits.
func (d *Decoder) Varint32(field string) int32 {
	start := d.off
	v := d.varint(field, "varint32")
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(field, "varint32", start, ErrOverflow, strconv.FormatInt(v, 10)+" does not fit in 32 bits")
		return 0
	}
	return int32(v)
}

// Uint8 reads one byte.
func (d *Decoder) Uint8(field string) uint8 {
	b := d.take(field, "uint8", 1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Uint16 reads 2 bytes, little endian.
func (d *Decoder) Uint16(field string) uint16 {
	b := d.take(field, "uint16", 2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

// Uint32 reads 4 bytes, little endian.
func (d *Decoder) Uint32(field string) uint32 {
	b := d.take(field, "uint32", 4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// Uint64 reads 8 bytes, little endian.
func (d *Decoder) Uint64(field string) uint64 {
	b := d.take(field, "uint64", 8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// Float64 reads 8 bytes of IEEE 754 bits, little endian.
func (d *Decoder) Float64(field string) float64 {
	b := d.take(field, "float64", 8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// Bool reads one byte that must be 0 or 1.
func (d *Decoder) Bool(field string) bool {
	b := d.take(field, "bool", 1)
	if b == nil {
		return false
	}
	if b[0] > 1 {
		d.fail(field, "bool", d.off-1, ErrNonCanonical,
			"byte is "+strconv.Itoa(int(b[0]))+", a bool is 0 or 1")
		return false
	}
	return b[0] == 1
}

// length reads a Uvarint length and checks that many bytes are left, so a
// forged length never causes an allocation.
func (d *Decoder) length(field, typ string) (int, bool) {
	start := d.off
	n := d.uvarint(field, typ)
	if d.err != nil {
		return 0, false
	}
	if left := len(d.buf) - d.off; n > uint64(left) {
		d.fail(field, typ, start, ErrTooLong,
			"declared length "+strconv.FormatUint(n, 10)+" exceeds the "+strconv.Itoa(left)+" bytes left")
		return 0, false
	}
	d.fieldStart = start
	return int(n), true
}

// String reads a length-prefixed string (copied out of the input).
func (d *Decoder) String(field string) string {
	n, ok := d.length(field, "string")
	if !ok {
		return ""
	}
	s := string(d.buf[d.off : d.off+n])
	d.off += n
	return s
}

// Bytes reads a length-prefixed byte string, copied out of the input so the
// input buffer can be reused. An empty one decodes as nil.
func (d *Decoder) Bytes(field string) []byte {
	n, ok := d.length(field, "bytes")
	if !ok || n == 0 {
		return nil
	}
	b := make([]byte, n)
	copy(b, d.buf[d.off:])
	d.off += n
	return b
}

// View reads a length-prefixed byte string without copying it: the result
// aliases the input and is valid only as long as the input is. Decoders of
// records with several such fields use it to copy them out in one piece.
func (d *Decoder) View(field string) []byte {
	n, ok := d.length(field, "bytes")
	if !ok {
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// Fixed fills dst with the next len(dst) bytes (written by Encoder.Fixed).
// On failure dst is left as it was.
func (d *Decoder) Fixed(field string, dst []byte) {
	if b := d.take(field, "fixed", len(dst)); b != nil {
		copy(dst, b)
	}
}

// Count reads an element count and bounds it: by max, the most the message
// allows, and by the bytes left, since every element takes at least one
// byte. A caller can then size a slice by the count without trusting the
// sender. Elements that encode to zero bytes cannot be counted this way.
func (d *Decoder) Count(field string, max int) int {
	start := d.off
	n := d.uvarint(field, "count")
	if d.err != nil {
		return 0
	}
	if max < 0 {
		max = 0
	}
	if n > uint64(max) {
		d.fail(field, "count", start, ErrTooLong,
			"count "+strconv.FormatUint(n, 10)+" exceeds the limit of "+strconv.Itoa(max))
		return 0
	}
	if left := len(d.buf) - d.off; n > uint64(left) {
		d.fail(field, "count", start, ErrTooLong,
			"count "+strconv.FormatUint(n, 10)+" exceeds the "+strconv.Itoa(left)+" bytes left")
		return 0
	}
	d.fieldStart = start
	return int(n)
}

// Duration reads Varint nanoseconds.
func (d *Decoder) Duration(field string) time.Duration {
	return time.Duration(d.varint(field, "duration"))
}

// Time reads Unix seconds and nanoseconds; nanoseconds must be below 1e9.
// The result is in UTC.
func (d *Decoder) Time(field string) time.Time {
	start := d.off
	sec := d.varint(field, "time")
	nsec := d.uvarint(field, "time")
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail(field, "time", start, ErrNonCanonical,
			"nanoseconds "+strconv.FormatUint(nsec, 10)+" are not below 1e9")
		return time.Time{}
	}
	d.fieldStart = start
	return time.Unix(sec, int64(nsec)).UTC()
}
