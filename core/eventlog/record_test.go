package eventlog_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/eventlog"
)

func sampleRecords() []eventlog.Record {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	created := eventlog.Ticks(time.Date(2024, 6, 1, 12, 0, 0, 123456700, time.UTC))
	return []eventlog.Record{
		eventlog.NewEvent(eventlog.Event{Stream: "orders-1", Number: 0, ID: id, Type: "OrderPlaced",
			Data: []byte(`{"qty":3}`), Metadata: []byte(`{"by":"me"}`), Flags: eventlog.FlagJSON, Created: created}),
		eventlog.NewEvent(eventlog.Event{Stream: "bin", Number: 41, ID: id, Type: "blob", Data: []byte{0, 1, 2, 255}, Created: created}),
		eventlog.NewEvent(eventlog.Event{Stream: "gone", Number: math.MaxInt64, ID: id, Type: "$streamDeleted",
			Flags: eventlog.FlagTombstone, Created: created}),
		eventlog.NewEvent(eventlog.Event{Stream: "empty", Type: "e"}),
		eventlog.NewEpoch(eventlog.Epoch{Number: 7, ID: id, PrevPosition: 4096, LeaderID: [16]byte{9: 9}, Created: created}),
		eventlog.NewEpoch(eventlog.Epoch{Number: 0, PrevPosition: -1}),
	}
}

// Every kind encodes and decodes to itself, and re-encodes to the same
// bytes (the encoding is canonical, so replicas can compare raw bytes).
func TestRecordRoundTrip(t *testing.T) {
	for i, rec := range sampleRecords() {
		rec.Position = int64(1000 * (i + 1))
		raw, err := eventlog.Encode(nil, rec)
		if err != nil {
			t.Fatalf("record %d: encode: %v", i, err)
		}
		got, err := eventlog.Decode(append(raw, 0xff, 0xff), rec.Position) // trailing bytes belong to the next record
		if err != nil {
			t.Fatalf("record %d: decode: %v", i, err)
		}
		if got.Size != len(raw) || got.Position != rec.Position || got.Kind != rec.Kind {
			t.Fatalf("record %d: decoded kind %v at %d size %d, want %v at %d size %d", i, got.Kind, got.Position, got.Size, rec.Kind, rec.Position, len(raw))
		}
		rec.Size = len(raw)
		if len(rec.Event.Data) == 0 {
			rec.Event.Data = nil
		}
		if len(rec.Event.Metadata) == 0 {
			rec.Event.Metadata = nil
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("record %d: decoded %+v, want %+v", i, got, rec)
		}
		again, _ := eventlog.Encode(nil, got)
		if !bytes.Equal(again, raw) {
			t.Fatalf("record %d: re-encoding gives other bytes", i)
		}
	}
	pad, err := eventlog.Encode(nil, eventlog.Record{Kind: eventlog.KindPadding, Position: 77, Size: 100})
	if err != nil || len(pad) != 100 {
		t.Fatalf("padding: %d bytes, %v; want 100 bytes", len(pad), err)
	}
	got, err := eventlog.Decode(pad, 77)
	if err != nil || got.Kind != eventlog.KindPadding || got.Size != 100 {
		t.Fatalf("padding decoded as %+v, %v", got, err)
	}
}

// Every single-bit flip anywhere in a record is detected, and a record is
// valid only at the position it was sealed for.
func TestDecodeDetectsDamage(t *testing.T) {
	for i, rec := range sampleRecords() {
		rec.Position = 4242
		raw, _ := eventlog.Encode(nil, rec)
		for bit := 0; bit < 8*len(raw); bit++ {
			b := bytes.Clone(raw)
			b[bit/8] ^= 1 << (bit % 8)
			if _, err := eventlog.Decode(b, rec.Position); !errors.Is(err, eventlog.ErrBadRecord) {
				t.Fatalf("record %d: flipping bit %d gave %v, want ErrBadRecord", i, bit, err)
			}
		}
		if _, err := eventlog.Decode(raw, rec.Position+1); !errors.Is(err, eventlog.ErrBadRecord) || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("record %d decoded at another position: %v, want a checksum failure", i, err)
		}
		if _, err := eventlog.Decode(raw[:len(raw)-1], rec.Position); !errors.Is(err, eventlog.ErrBadRecord) {
			t.Fatalf("record %d cut short: %v, want ErrBadRecord", i, err)
		}
	}
	if _, err := eventlog.Decode(make([]byte, 64), 0); !errors.Is(err, eventlog.ErrBadRecord) {
		t.Fatalf("zeros decoded: %v, want ErrBadRecord", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	big := eventlog.NewEvent(eventlog.Event{Stream: "s", Type: "t", Data: make([]byte, eventlog.MaxRecordSize)})
	_, err := eventlog.Encode(nil, big)
	if !errors.Is(err, eventlog.ErrRecordTooLarge) || !strings.Contains(err.Error(), "16777216") || !strings.Contains(err.Error(), `stream "s"`) {
		t.Fatalf("oversized record: %v; want ErrRecordTooLarge naming the stream and the limit", err)
	}
	// Just under the payload limit, but over once framed.
	edge := eventlog.NewEvent(eventlog.Event{Stream: "s", Type: "t", Data: make([]byte, eventlog.MaxRecordSize-20)})
	if _, err := eventlog.Encode(nil, edge); !errors.Is(err, eventlog.ErrRecordTooLarge) {
		t.Fatalf("record over the limit once framed: %v, want ErrRecordTooLarge", err)
	}
	fits := eventlog.NewEvent(eventlog.Event{Stream: "s", Type: "t", Data: make([]byte, eventlog.MaxRecordSize-64)})
	if b, err := eventlog.Encode(nil, fits); err != nil || len(b) > eventlog.MaxRecordSize {
		t.Fatalf("record just under the limit: %d bytes, %v", len(b), err)
	}
	bad := eventlog.NewEvent(eventlog.Event{Stream: "s", Flags: 0x80})
	if _, err := eventlog.Encode(nil, bad); err == nil || !strings.Contains(err.Error(), "unknown bits") {
		t.Fatalf("unknown flags: %v, want an error naming them", err)
	}
	if _, err := eventlog.Encode(nil, eventlog.Record{Kind: 9}); err == nil {
		t.Fatal("a record of an unknown kind encoded")
	}
}

func TestTicks(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 4, 5, 6, 7, 890123400, time.UTC),
		time.Date(1900, 12, 31, 23, 59, 59, 999999900, time.UTC),
	} {
		if got := eventlog.TimeOfTicks(eventlog.Ticks(tm)); !got.Equal(tm) {
			t.Fatalf("ticks round trip of %v gave %v", tm, got)
		}
	}
	// .NET: new DateTime(1970,1,1).Ticks
	if got := eventlog.Ticks(time.Unix(0, 0)); got != 621355968000000000 {
		t.Fatalf("Unix epoch is %d ticks, want 621355968000000000", got)
	}
}
