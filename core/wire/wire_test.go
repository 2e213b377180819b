package wire_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/wire"
	"github.com/annal-db/annal/core/wire/wiretest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// sampleGen draws samples over the whole range of every field.
var sampleGen = rapid.Custom(func(t *rapid.T) *wiretest.Sample {
	s := &wiretest.Sample{
		Uvarint: rapid.Uint64().Draw(t, "uvarint"),
		Varint:  rapid.Int64().Draw(t, "varint"),
		U8:      rapid.Uint8().Draw(t, "u8"),
		U16:     rapid.Uint16().Draw(t, "u16"),
		U32:     rapid.Uint32().Draw(t, "u32"),
		U64:     rapid.Uint64().Draw(t, "u64"),
		F64:     math.Float64frombits(rapid.Uint64().Draw(t, "f64bits")),
		Flag:    rapid.Bool().Draw(t, "flag"),
		Name:    rapid.String().Draw(t, "name"),
		Payload: nilIfEmpty(rapid.SliceOf(rapid.Byte()).Draw(t, "payload")),
		Timeout: time.Duration(rapid.Int64().Draw(t, "timeout")),
		Stamp: time.Unix(rapid.Int64().Draw(t, "stampSec"),
			rapid.Int64Range(0, 999_999_999).Draw(t, "stampNsec")).UTC(),
		Mode: wiretest.Mode(rapid.IntRange(int(wiretest.ModeIdle), int(wiretest.ModeDraining)).Draw(t, "mode")),
		Tags: nilIfEmpty(rapid.SliceOfN(rapid.String(), 0, wiretest.MaxTags).Draw(t, "tags")),
		Peers: nilIfEmpty(rapid.SliceOfN(rapid.Custom(func(t *rapid.T) wiretest.Peer {
			return wiretest.Peer{
				Host:  rapid.StringMatching(`[a-z0-9.-]{0,20}`).Draw(t, "host"),
				Port:  rapid.Uint16().Draw(t, "port"),
				Alive: rapid.Bool().Draw(t, "alive"),
			}
		}), 0, wiretest.MaxPeers).Draw(t, "peers")),
	}
	copy(s.ID[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id"))
	return s
})

func TestRoundTripPreservesEveryField(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := sampleGen.Draw(t, "sample")
		b := wire.Marshal(want)
		m, err := wire.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal of a marshalled sample failed: %v\nbytes: %x", err, b)
		}
		got, ok := m.(*wiretest.Sample)
		if !ok {
			t.Fatalf("Unmarshal returned a %T, want *wiretest.Sample", m)
		}
		if !got.Equal(want) {
			t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, want)
		}
		if again := wire.Marshal(got); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding a decoded message changed its bytes:\nfirst  %x\nsecond %x", b, again)
		}
	})
}

// checkDecodeOf asserts Unmarshal does not panic on b, fails only with a
// *DecodeError, and that anything it accepts re-encodes to exactly b.
func checkDecodeOf(t *rapid.T, b []byte) {
	m, err := wire.Unmarshal(b)
	if err != nil {
		var de *wire.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("Unmarshal(%x) failed with %T (%v), want a *wire.DecodeError", b, err, err)
		}
		if m != nil {
			t.Fatalf("Unmarshal(%x) returned a message along with the error %v", b, err)
		}
		return
	}
	if again := wire.Marshal(m); !bytes.Equal(again, b) {
		t.Fatalf("Unmarshal accepted %x but it re-encodes as %x: the encoding is not canonical", b, again)
	}
}

func TestUnmarshalSurvivesArbitraryBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkDecodeOf(t, rapid.SliceOf(rapid.Byte()).Draw(t, "input"))
	})
}

func TestUnmarshalSurvivesArbitraryBodies(t *testing.T) {
	header := wire.Marshal(&wiretest.Sample{})[:wire.HeaderSize]
	rapid.Check(t, func(t *rapid.T) {
		body := rapid.SliceOf(rapid.Byte()).Draw(t, "body")
		checkDecodeOf(t, append(bytes.Clone(header), body...))
	})
}

// Mutated valid messages reach far deeper into a message than random bytes.
func TestUnmarshalSurvivesMutatedMessages(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := wire.Marshal(sampleGen.Draw(t, "sample"))
		for range rapid.IntRange(1, 4).Draw(t, "mutations") {
			i := rapid.IntRange(0, len(b)).Draw(t, "at")
			switch rapid.IntRange(0, 3).Draw(t, "how") {
			case 0:
				b = b[:i]
			case 1:
				if i < len(b) {
					b[i] = rapid.Byte().Draw(t, "byte")
				}
			case 2:
				b = append(b[:i:i], append([]byte{rapid.Byte().Draw(t, "inserted")}, b[i:]...)...)
			case 3:
				if i < len(b) {
					b = append(b[:i:i], b[i+1:]...)
				}
			}
		}
		checkDecodeOf(t, b)
	})
}

// Each primitive decodes what its encoder wrote, consumes exactly that, and
// the decoded value re-encodes to the same bytes.
func TestPrimitivesRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := rapid.Uint64().Draw(t, "uvarint")
		i := rapid.Int64().Draw(t, "varint")
		f := math.Float64frombits(rapid.Uint64().Draw(t, "f64"))
		s := rapid.String().Draw(t, "string")
		dur := time.Duration(rapid.Int64().Draw(t, "duration"))
		i32 := rapid.Int32().Draw(t, "varint32")
		u32 := rapid.Uint32().Draw(t, "uvarint32")
		var e wire.Encoder
		e.Uvarint(u)
		e.Varint(i)
		e.Float64(f)
		e.String(s)
		e.Duration(dur)
		e.Uint32(uint32(u))
		e.Varint32(i32)
		e.Uvarint32(u32)
		d := wire.NewDecoder(e.Data())
		gu, gi, gf, gs, gd, g32 := d.Uvarint("u"), d.Varint("i"), d.Float64("f"), d.String("s"), d.Duration("d"), d.Uint32("u32")
		g32s, g32u := d.Varint32("i32"), d.Uvarint32("u32v")
		if err := d.Finish(); err != nil {
			t.Fatalf("decoding what the encoder wrote failed: %v", err)
		}
		if g32s != i32 || g32u != u32 {
			t.Fatalf("32-bit varints decoded as %d, %d; encoded %d, %d", g32s, g32u, i32, u32)
		}
		if gu != u || gi != i || math.Float64bits(gf) != math.Float64bits(f) || gs != s || gd != dur || g32 != uint32(u) {
			t.Fatalf("decoded (%d %d %v %q %v %d), encoded (%d %d %v %q %v %d)",
				gu, gi, gf, gs, gd, g32, u, i, f, s, dur, uint32(u))
		}
	})
}

func TestDecoderRejectsMalformedInput(t *testing.T) {
	tests := []struct {
		name   string
		input  []byte
		read   func(d *wire.Decoder)
		err    error
		offset int
		text   string // must appear in the error message
	}{
		{"truncated uvarint", []byte{0x80, 0x80}, func(d *wire.Decoder) { d.Uvarint("term") },
			wire.ErrTruncated, 0, `field "term" (uvarint) at offset 0`},
		{"eleven-byte varint", bytes.Repeat([]byte{0xff}, 11), func(d *wire.Decoder) { d.Uvarint("n") },
			wire.ErrOverflow, 0, "exceeds 64 bits"},
		{"tenth byte above 1", append(bytes.Repeat([]byte{0xff}, 9), 0x02), func(d *wire.Decoder) { d.Varint("n") },
			wire.ErrOverflow, 0, `field "n" (varint)`},
		{"uvarint32 above 32 bits", []byte{0x80, 0x80, 0x80, 0x80, 0x10}, func(d *wire.Decoder) { d.Uvarint32("count") },
			wire.ErrOverflow, 0, "4294967296 does not fit in 32 bits"},
		{"varint32 below -2^31", []byte{0x81, 0x80, 0x80, 0x80, 0x10}, func(d *wire.Decoder) { d.Varint32("epoch") },
			wire.ErrOverflow, 0, `field "epoch" (varint32) at offset 0: integer overflow: -2147483649 does not fit in 32 bits`},
		{"over-long zero", []byte{0x80, 0x00}, func(d *wire.Decoder) { d.Uvarint("n") },
			wire.ErrNonCanonical, 0, "redundant zero"},
		{"over-long one", []byte{0x81, 0x80, 0x00}, func(d *wire.Decoder) { d.Uvarint("n") },
			wire.ErrNonCanonical, 0, "redundant zero"},
		{"bool of 2", []byte{1, 2}, func(d *wire.Decoder) { d.Bool("a"); d.Bool("alive") },
			wire.ErrNonCanonical, 1, `field "alive" (bool) at offset 1`},
		{"string longer than input", []byte{0x05, 'a', 'b'}, func(d *wire.Decoder) { d.String("stream") },
			wire.ErrTooLong, 0, "declared length 5 exceeds the 2 bytes left"},
		{"huge byte string is not allocated", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
			func(d *wire.Decoder) { d.Bytes("payload") }, wire.ErrTooLong, 0, `field "payload" (bytes)`},
		{"viewed byte string longer than input", []byte{0x04, 'a'}, func(d *wire.Decoder) { d.View("data") },
			wire.ErrTooLong, 0, "declared length 4 exceeds the 1 bytes left"},
		{"uint32 short", []byte{7, 1, 2, 3}, func(d *wire.Decoder) { d.Uint8("x"); d.Uint32("epoch") },
			wire.ErrTruncated, 1, "needs 4 bytes, 3 left"},
		{"fixed short", []byte{1, 2}, func(d *wire.Decoder) { d.Fixed("id", make([]byte, 16)) },
			wire.ErrTruncated, 0, `field "id" (fixed)`},
		{"count over limit", []byte{0x05, 1, 1, 1, 1, 1}, func(d *wire.Decoder) { d.Count("tags", 4) },
			wire.ErrTooLong, 0, "count 5 exceeds the limit of 4"},
		{"count over input", []byte{0x03, 1}, func(d *wire.Decoder) { d.Count("tags", 100) },
			wire.ErrTooLong, 0, "count 3 exceeds the 1 bytes left"},
		{"nanoseconds not below 1e9", append([]byte{0x00}, 0x80, 0x94, 0xeb, 0xdc, 0x03),
			func(d *wire.Decoder) { d.Time("stamp") }, wire.ErrNonCanonical, 0, "nanoseconds 1000000000"},
		{"trailing bytes", []byte{1, 2, 3}, func(d *wire.Decoder) { d.Uint8("x") },
			wire.ErrTrailing, 1, "2 bytes left after the last field"},
		{"invalid value", []byte{9, 9}, func(d *wire.Decoder) {
			d.Uint8("a")
			d.Uint8("mode")
			d.Invalid("mode", "mode 9 is unknown")
		}, wire.ErrInvalid, 1, `field "mode" at offset 1: invalid value: mode 9 is unknown`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := wire.NewDecoder(tc.input)
			tc.read(d)
			err := d.Finish()
			if !errors.Is(err, tc.err) {
				t.Fatalf("decoding %x: got error %v, want %v", tc.input, err, tc.err)
			}
			var de *wire.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is a %T, want *wire.DecodeError", err, err)
			}
			if de.Offset != tc.offset {
				t.Errorf("error %q reports offset %d, want %d", err, de.Offset, tc.offset)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

func TestFirstErrorSticks(t *testing.T) {
	d := wire.NewDecoder([]byte{0x80, 0x00, 1, 2, 3, 4, 5, 6, 7, 8})
	if v := d.Uvarint("first"); v != 0 {
		t.Fatalf("a failed read returned %d, want 0", v)
	}
	first := d.Err()
	if first == nil {
		t.Fatal("an over-long varint was accepted")
	}
	off := d.Offset()
	if v := d.Uint64("second"); v != 0 {
		t.Errorf("a read after a failure returned %d, want 0", v)
	}
	if s := d.String("third"); s != "" {
		t.Errorf("a read after a failure returned %q, want empty", s)
	}
	d.Invalid("fourth", "ignored")
	if d.Err() != first || d.Finish() != first {
		t.Errorf("the first error was replaced: now %v, was %v", d.Err(), first)
	}
	if d.Offset() != off {
		t.Errorf("reads after a failure advanced the offset from %d to %d", off, d.Offset())
	}
}

func TestEmptyValuesDecodeAsNil(t *testing.T) {
	m, err := wire.Unmarshal(wire.Marshal(&wiretest.Sample{Payload: []byte{}, Tags: []string{}}))
	if err != nil {
		t.Fatal(err)
	}
	s := m.(*wiretest.Sample)
	if s.Payload != nil || s.Tags != nil || s.Peers != nil {
		t.Fatalf("empty payload, tags and peers decoded as %#v, %#v, %#v; want nil", s.Payload, s.Tags, s.Peers)
	}
}

func TestTimeDecodesAsUTC(t *testing.T) {
	zone := time.FixedZone("X", 3*3600)
	in := time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, zone)
	var e wire.Encoder
	e.Time(in)
	d := wire.NewDecoder(e.Data())
	out := d.Time("t")
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	if !out.Equal(in) || out.Location() != time.UTC {
		t.Fatalf("decoded %v (zone %v), want the instant %v in UTC", out, out.Location(), in)
	}
}

func TestUnmarshalRejectsBadHeaders(t *testing.T) {
	valid := wire.Marshal(&wiretest.Sample{})
	unknownVersion := bytes.Clone(valid)
	unknownVersion[0] = 7
	unknownKind := bytes.Clone(valid)
	unknownKind[1], unknownKind[2] = 0x01, 0x02
	tests := []struct {
		name  string
		input []byte
		err   error
		text  string
	}{
		{"empty", nil, wire.ErrTruncated, `field "version" (uint8) at offset 0`},
		{"header cut", valid[:2], wire.ErrTruncated, `field "kind" (uint16) at offset 1`},
		{"unknown version", unknownVersion, wire.ErrUnknownVersion, "the message says version 7, this node reads version 1"},
		{"unknown kind", unknownKind, wire.ErrUnknownKind, "kind 513 is not registered"},
		{"body cut", valid[:len(valid)-1], wire.ErrTruncated, "decoding wiretest.sample (kind 65534): field "},
		{"trailing", append(bytes.Clone(valid), 0), wire.ErrTrailing, "decoding wiretest.sample (kind 65534): at offset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := wire.Unmarshal(tc.input)
			if m != nil || !errors.Is(err, tc.err) {
				t.Fatalf("Unmarshal(%x) = %v, %v; want no message and %v", tc.input, m, err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

func TestInvalidEnumNamesTheFieldAndMessage(t *testing.T) {
	b := wire.Marshal(&wiretest.Sample{Mode: 7})
	_, err := wire.Unmarshal(b)
	if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), `wiretest.sample (kind 65534): field "mode" at offset`) ||
		!strings.Contains(err.Error(), "mode 7 is not 0 (idle)") {
		t.Fatalf("Unmarshal of mode 7 gave %v; want ErrInvalid naming the message, the field and the value", err)
	}
}

func TestKindOfReadsOnlyTheHeader(t *testing.T) {
	k, err := wire.KindOf([]byte{wire.FormatVersion, 0x34, 0x12, 0xff})
	if err != nil || k != 0x1234 {
		t.Fatalf("KindOf = %v, %v; want kind 0x1234 and no error", k, err)
	}
	if _, err := wire.KindOf([]byte{9, 1, 0}); !errors.Is(err, wire.ErrUnknownVersion) {
		t.Fatalf("KindOf with version 9 gave %v, want ErrUnknownVersion", err)
	}
	if got := wiretest.SampleKind.String(); got != "wiretest.sample" {
		t.Errorf("SampleKind.String() = %q, want the registered name", got)
	}
	if got := wire.Kind(0x1234).String(); got != "kind(4660)" {
		t.Errorf("an unregistered kind prints as %q, want kind(4660)", got)
	}
}

// other is a second registered kind, for receivers expecting a given one.
type other struct{ N uint64 }

const otherKind wire.Kind = 0xFFF0

func init() { wire.Register(otherKind, "wire_test.other", func() wire.Message { return new(other) }) }

func (o *other) Kind() wire.Kind        { return otherKind }
func (o *other) Encode(e *wire.Encoder) { e.Uvarint(o.N) }
func (o *other) Decode(d *wire.Decoder) { o.N = d.Uvarint("n") }

func TestUnmarshalIntoChecksTheKind(t *testing.T) {
	var got other
	if err := wire.UnmarshalInto(wire.Marshal(&other{N: 77}), &got); err != nil || got.N != 77 {
		t.Fatalf("UnmarshalInto of its own kind gave %+v, %v; want N=77", got, err)
	}
	err := wire.UnmarshalInto(wire.Marshal(fullSample()), &got)
	if !errors.Is(err, wire.ErrUnknownKind) || !strings.Contains(err.Error(), "expected wire_test.other, got wiretest.sample") {
		t.Fatalf("UnmarshalInto of a sample into another kind gave %v; want an error naming both kinds", err)
	}
	if got.N != 77 {
		t.Fatalf("a failed UnmarshalInto changed its destination to %+v", got)
	}
}

func fullSample() *wiretest.Sample {
	return &wiretest.Sample{
		Uvarint: 1 << 40, Varint: -12345, U8: 7, U16: 2113, U32: 1112, U64: math.MaxUint64,
		F64: 0.25, Flag: true, Name: "$all", Payload: bytes.Repeat([]byte("x"), 64),
		Timeout: 1500 * time.Millisecond, Stamp: time.Unix(1_700_000_000, 5).UTC(),
		Mode: wiretest.ModeActive, Tags: []string{"a", "b", "c"},
		Peers: []wiretest.Peer{{Host: "10.0.0.1", Port: 2113, Alive: true}, {Host: "10.0.0.2", Port: 2113}},
	}
}

func TestEncodingIntoAReusedBufferDoesNotAllocate(t *testing.T) {
	m := fullSample()
	var e wire.Encoder
	e.Message(m)
	want := bytes.Clone(e.Data())
	allocs := testing.AllocsPerRun(100, func() {
		e.Reset(e.Data()[:0])
		e.Message(m)
	})
	if allocs != 0 {
		t.Errorf("encoding into a reused buffer made %.1f allocations per message, want 0", allocs)
	}
	if !bytes.Equal(e.Data(), want) {
		t.Errorf("re-encoding into the reused buffer gave different bytes")
	}
}

func BenchmarkEncode(b *testing.B) {
	m := fullSample()
	var e wire.Encoder
	e.Message(m)
	b.SetBytes(int64(e.Len()))
	b.ReportAllocs()
	for b.Loop() {
		e.Reset(e.Data()[:0])
		e.Message(m)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	data := wire.Marshal(fullSample())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestViewAliasesTheInput: View hands back the bytes in place, capped so
// that appending to them cannot write over the fields after them.
func TestViewAliasesTheInput(t *testing.T) {
	e := wire.NewEncoder(nil)
	e.Bytes([]byte("abc"))
	e.Bytes(nil)
	e.Uint8(7)
	in := e.Data()
	d := wire.NewDecoder(in)
	first, empty := d.View("first"), d.View("empty")
	if d.Uint8("after") != 7 || d.Finish() != nil {
		t.Fatalf("decoding after the views failed: %v", d.Finish())
	}
	if string(first) != "abc" || len(empty) != 0 {
		t.Fatalf("views %q and %q, want \"abc\" and empty", first, empty)
	}
	if cap(first) != len(first) {
		t.Fatalf("view capacity %d beyond its length %d", cap(first), len(first))
	}
	in[1] = 'X'
	if first[0] != 'X' {
		t.Fatal("the view is a copy; it should alias the input")
	}
}
