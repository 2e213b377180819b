package eventlog

import (
	"bytes"
	"testing"
)

// FuzzRecordBodies frames arbitrary bodies with valid lengths and a valid
// checksum, so that what is fuzzed is the body decoding a replica runs on
// the leader's bytes. Checking a record (AppendRaw's path, which copies
// nothing out) and decoding it must agree on every input, and a record
// that decodes must encode back to exactly its bytes: the encoding is
// canonical, and replicas compare raw bytes.
func FuzzRecordBodies(f *testing.F) {
	for _, r := range []Record{
		NewEvent(Event{Stream: "orders-1", Number: 3, ID: [16]byte{1}, Type: "placed", Data: []byte(`{"qty":3}`), Metadata: []byte(`{}`), Flags: FlagJSON, Created: 1}),
		NewEvent(Event{Stream: "s", Type: "t"}),
		NewEpoch(Epoch{Number: 2, PrevPosition: 4096, Created: 5}),
	} {
		b, err := Encode(nil, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[4], b[prefixSize:len(b)-trailerSize])
	}
	f.Add(byte(KindEvent), []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(byte(KindEvent), []byte{})
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		const position = 8192
		b := make([]byte, 0, prefixSize+len(body)+trailerSize)
		b = append(b, 0, 0, 0, 0, kind)
		b = append(b, body...)
		b = append(b, make([]byte, trailerSize)...)
		if len(b) < MinRecordSize {
			return
		}
		seal(b, position)
		decoded, derr := decodeExact(b, position)
		checked, cerr := checkExact(b, position)
		if (derr == nil) != (cerr == nil) {
			t.Fatalf("kind %d, body %x: decoding says %v, checking says %v", kind, body, derr, cerr)
		}
		if derr != nil {
			return
		}
		if checked.Kind != decoded.Kind || checked.Position != decoded.Position || checked.Size != decoded.Size {
			t.Fatalf("kind %d, body %x: checked as %v at %d (%d bytes), decoded as %v at %d (%d bytes)",
				kind, body, checked.Kind, checked.Position, checked.Size, decoded.Kind, decoded.Position, decoded.Size)
		}
		if decoded.Kind == KindPadding {
			return
		}
		again, err := Encode(nil, decoded)
		if err != nil {
			t.Fatalf("kind %d, body %x: decoded to a record that does not encode: %v", kind, body, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("kind %d, body %x: encodes back as %x, not %x", kind, body, again, b)
		}
	})
}
