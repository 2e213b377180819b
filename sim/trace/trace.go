// Package trace records a simulated run: one canonical record per event
// (send, deliver, drop, connect, timer, sync, crash, state change...). Each
// record is hashed in a compact binary form as it happens, so the run's
// trace hash costs no formatting; the human-readable line is produced only
// when a text output was asked for. Two runs with the same hash did the same
// thing, byte for byte, payloads included.
package trace

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"time"
)

// Trace is the record of one run. It is not safe for concurrent use: the
// simulator has one goroutine.
type Trace struct {
	sum   hash.Hash
	out   *bufio.Writer
	bin   []byte
	txt   []byte
	lines uint64
	err   error
}

// New starts a trace; out receives text lines when non-nil.
func New(out io.Writer) *Trace {
	t := &Trace{sum: sha256.New(), bin: make([]byte, 0, hashBatch+inlinePayload+256)}
	if out != nil {
		t.out = bufio.NewWriterSize(out, 64<<10)
		t.txt = make([]byte, 0, 256)
	}
	return t
}

// Text reports whether text lines are being written.
func (t *Trace) Text() bool { return t.out != nil }

// Records counts the records so far.
func (t *Trace) Records() uint64 { return t.lines }

// Hash is the hex SHA-256 over every record so far.
func (t *Trace) Hash() string {
	t.flushBin()
	var b [sha256.Size]byte
	return hex.EncodeToString(t.sum.Sum(b[:0]))
}

// Flush writes buffered text; it returns the first write error.
func (t *Trace) Flush() error {
	if t.out != nil {
		if err := t.out.Flush(); err != nil && t.err == nil {
			t.err = err
		}
	}
	return t.err
}

// Field tags of the binary form.
const (
	tagStr byte = iota + 1
	tagInt
	tagUint
	tagDur
	tagBytes
	tagFloat
	tagEnd
	tagRaw
)

// Rec is a record under construction: t.Rec(...).Str(...).Int(...).End().
type Rec struct{ t *Trace }

// Rec begins a record at virtual time at, by who (a host or node name, "" for
// the world), of the given kind.
func (t *Trace) Rec(at time.Duration, who, kind string) Rec {
	t.bin = binary.AppendVarint(t.bin, int64(at))
	t.bin = appendStr(t.bin, who)
	t.bin = appendStr(t.bin, kind)
	if t.out != nil {
		t.txt = AppendTime(t.txt[:0], at)
		t.txt = append(t.txt, ' ')
		if who == "" {
			who = "-"
		}
		t.txt = append(t.txt, who...)
		t.txt = append(t.txt, ' ')
		t.txt = append(t.txt, kind...)
	}
	return Rec{t}
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (r Rec) key(tag byte, k string) {
	r.t.bin = append(r.t.bin, tag)
	r.t.bin = appendStr(r.t.bin, k)
	if r.t.out != nil {
		r.t.txt = append(r.t.txt, ' ')
		r.t.txt = append(r.t.txt, k...)
		r.t.txt = append(r.t.txt, '=')
	}
}

// Str adds a string field. The text shows it as it is, or quoted (Go
// syntax) when it holds a control character such as a line break, so that
// one record stays one line.
func (r Rec) Str(k, v string) Rec {
	r.key(tagStr, k)
	r.t.bin = appendStr(r.t.bin, v)
	if r.t.out != nil {
		if hasControl(v) {
			r.t.txt = strconv.AppendQuote(r.t.txt, v)
		} else {
			r.t.txt = append(r.t.txt, v...)
		}
	}
	return r
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// Int adds a signed integer field.
func (r Rec) Int(k string, v int64) Rec {
	r.key(tagInt, k)
	r.t.bin = binary.AppendVarint(r.t.bin, v)
	if r.t.out != nil {
		r.t.txt = strconv.AppendInt(r.t.txt, v, 10)
	}
	return r
}

// Uint adds an unsigned integer field.
func (r Rec) Uint(k string, v uint64) Rec {
	r.key(tagUint, k)
	r.t.bin = binary.AppendUvarint(r.t.bin, v)
	if r.t.out != nil {
		r.t.txt = strconv.AppendUint(r.t.txt, v, 10)
	}
	return r
}

// Float adds a float field (hashed by its bits).
func (r Rec) Float(k string, v float64) Rec {
	r.key(tagFloat, k)
	r.t.bin = binary.LittleEndian.AppendUint64(r.t.bin, math.Float64bits(v))
	if r.t.out != nil {
		r.t.txt = strconv.AppendFloat(r.t.txt, v, 'g', -1, 64)
	}
	return r
}

// Dur adds a duration field.
func (r Rec) Dur(k string, d time.Duration) Rec {
	r.key(tagDur, k)
	r.t.bin = binary.AppendVarint(r.t.bin, int64(d))
	if r.t.out != nil {
		r.t.txt = append(r.t.txt, d.String()...)
	}
	return r
}

// Bytes adds a payload: hashed whole; the text shows its length and CRC-32C.
func (r Rec) Bytes(k string, v []byte) Rec {
	r.key(tagBytes, k)
	r.t.bin = binary.AppendUvarint(r.t.bin, uint64(len(v)))
	if r.t.out != nil {
		r.t.txt = strconv.AppendInt(r.t.txt, int64(len(v)), 10)
		r.t.txt = append(r.t.txt, "B/crc:"...)
		r.t.txt = strconv.AppendUint(r.t.txt, uint64(crc32.Checksum(v, castagnoli)), 16)
	}
	if len(v) <= inlinePayload {
		r.t.bin = append(r.t.bin, v...)
	} else {
		// Hash a large payload in place: no copy into the record buffer.
		r.t.flushBin()
		r.t.sum.Write(v)
	}
	return r
}

// Raw adds pre-rendered "key=value ..." text (from env.Event.AppendTrace),
// hashed as given. It has a tag of its own: with a string's tag and no key,
// some series of fields would encode alike.
func (r Rec) Raw(text []byte) Rec {
	r.t.bin = append(r.t.bin, tagRaw)
	r.t.bin = binary.AppendUvarint(r.t.bin, uint64(len(text)))
	r.t.bin = append(r.t.bin, text...)
	if r.t.out != nil && len(text) > 0 {
		r.t.txt = append(r.t.txt, ' ')
		r.t.txt = append(r.t.txt, text...)
	}
	return r
}

// End completes the record.
func (r Rec) End() {
	t := r.t
	t.bin = append(t.bin, tagEnd)
	if len(t.bin) >= hashBatch {
		t.flushBin()
	}
	t.lines++
	if t.out != nil {
		t.txt = append(t.txt, '\n')
		if _, err := t.out.Write(t.txt); err != nil && t.err == nil {
			t.err = err
		}
	}
}

// Records are hashed in batches of about hashBatch bytes, payloads up to
// inlinePayload bytes copied in: SHA-256 costs per call as well as per
// byte, and the hash of the concatenation does not depend on how it was
// cut into calls.
const (
	hashBatch     = 8 << 10
	inlinePayload = 1 << 10
)

func (t *Trace) flushBin() {
	t.sum.Write(t.bin)
	t.bin = t.bin[:0]
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendTime renders a virtual time as seconds since the run's start with
// nanosecond precision ("+12.000350000s"): never a wall clock or a time zone.
func AppendTime(b []byte, at time.Duration) []byte {
	if at < 0 {
		b = append(b, '-')
		at = -at
	} else {
		b = append(b, '+')
	}
	sec := int64(at / time.Second)
	ns := int64(at % time.Second)
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	var frac [9]byte
	for i := 8; i >= 0; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	b = append(b, frac[:]...)
	return append(b, 's')
}
