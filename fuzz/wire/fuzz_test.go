// Package wirefuzz fuzzes the wire codec: whatever bytes arrive from the
// network, decoding must fail cleanly or yield a message that re-encodes to
// exactly those bytes.
package wirefuzz

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/wire"
	"github.com/annal-db/annal/core/wire/wiretest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func FuzzUnmarshal(f *testing.F) {
	f.Add(wire.Marshal(&wiretest.Sample{
		Uvarint: 300, Varint: -2, Name: "stream-1", Payload: []byte{1, 2, 3},
		Timeout: time.Second, Stamp: time.Unix(1_700_000_000, 42).UTC(),
		Tags: []string{"a"}, Peers: []wiretest.Peer{{Host: "h", Port: 1113, Alive: true}},
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUnmarshal(t, data)
		checkPrimitives(t, data)
	})
}

// checkUnmarshal: a message either fails with a positioned *DecodeError or
// re-encodes to the very bytes it came from.
func checkUnmarshal(t *testing.T, data []byte) {
	m, err := wire.Unmarshal(data)
	if err != nil {
		if m != nil {
			t.Fatalf("Unmarshal returned a %T along with error %v", m, err)
		}
		checkDecodeError(t, err, len(data))
		return
	}
	if again := wire.Marshal(m); !bytes.Equal(again, data) {
		t.Fatalf("Unmarshal accepted %x as %T but it re-encodes as %x", data, m, again)
	}
	if k, err := wire.KindOf(data); err != nil || k != m.Kind() {
		t.Fatalf("KindOf(%x) = %v, %v; Unmarshal decoded a %v", data, k, err, m.Kind())
	}
}

func checkDecodeError(t *testing.T, err error, inputLen int) {
	var de *wire.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("decoding failed with %T (%v), want a *wire.DecodeError", err, err)
	}
	if de.Offset < 0 || de.Offset > inputLen {
		t.Fatalf("error %q points at offset %d of a %d-byte input", err, de.Offset, inputLen)
	}
	if de.Err == nil || !strings.HasPrefix(err.Error(), "wire: ") {
		t.Fatalf("error %q has no cause or does not say it comes from wire", err)
	}
}

// checkPrimitives reads data as a program: each op byte picks a primitive
// (low nibble) and a size or limit (high nibble), and the value follows.
// Every read that succeeds is re-encoded; the result must equal the bytes
// consumed, because each primitive has one encoding per value.
func checkPrimitives(t *testing.T, data []byte) {
	d := wire.NewDecoder(data)
	var e wire.Encoder
	consumed := 0
	for d.Remaining() > 0 {
		mark := e.Len()
		op := d.Uint8("op")
		e.Uint8(op)
		readAndEncode(d, &e, op)
		if d.Err() != nil {
			e.Reset(e.Data()[:mark])
			break
		}
		consumed = d.Offset()
	}
	if err := d.Finish(); err != nil {
		checkDecodeError(t, err, len(data))
	} else if consumed != len(data) {
		t.Fatalf("decoder finished cleanly after %d of %d bytes", consumed, len(data))
	}
	if !bytes.Equal(e.Data(), data[:consumed]) {
		t.Fatalf("primitives read from %x re-encode as %x", data[:consumed], e.Data())
	}
}

func readAndEncode(d *wire.Decoder, e *wire.Encoder, op uint8) {
	arg := int(op >> 4)
	switch op & 0x0f {
	case 0:
		e.Uvarint(d.Uvarint("uvarint"))
	case 1:
		e.Varint(d.Varint("varint"))
	case 2:
		e.Uint8(d.Uint8("uint8"))
	case 3:
		e.Uint16(d.Uint16("uint16"))
	case 4:
		e.Uint32(d.Uint32("uint32"))
	case 5:
		e.Uint64(d.Uint64("uint64"))
	case 6:
		e.Float64(d.Float64("float64"))
	case 7:
		e.Bool(d.Bool("bool"))
	case 8:
		e.String(d.String("string"))
	case 9:
		e.Bytes(d.Bytes("bytes"))
	case 10:
		buf := make([]byte, arg)
		d.Fixed("fixed", buf)
		e.Fixed(buf)
	case 11:
		e.Count(d.Count("count", arg))
	case 12:
		e.Duration(d.Duration("duration"))
	case 13:
		e.Time(d.Time("time"))
	case 14:
		// A message's own validation: odd high nibbles are "invalid".
		if arg%2 == 1 {
			d.Invalid("check", "odd")
		}
	case 15:
		if arg%2 == 0 {
			e.Varint32(d.Varint32("varint32"))
		} else {
			e.Uvarint32(d.Uvarint32("uvarint32"))
		}
	}
}
