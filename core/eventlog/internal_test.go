package eventlog

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"
)

// framesBuffered counts whole records by their length prefixes, within the
// budget, and stops at a length that cannot be a record instead of
// trusting it: it only sizes a slice.
func TestFramesBufferedCountsWholeRecords(t *testing.T) {
	var buf []byte
	var starts []int
	for i := range 5 {
		starts = append(starts, len(buf))
		var err error
		buf, err = Encode(buf, NewEvent(Event{Stream: "s", Number: int64(i), Type: "t", Data: make([]byte, 10*i)}))
		if err != nil {
			t.Fatal(err)
		}
	}
	size := len(buf)
	garbage := append([]byte(nil), buf...)
	binary.LittleEndian.PutUint32(garbage[starts[1]:], 3) // below MinRecordSize

	cases := []struct {
		name   string
		buf    []byte
		budget int
		want   int
	}{
		{"all", buf, size, 5},
		{"budget ends just inside the third", buf, starts[2] + 1, 3},
		{"cut inside the last", buf[:size-1], size, 4},
		{"only a partial prefix", buf[:3], size, 1},
		{"garbage length", garbage, size, 1},
	}
	for _, c := range cases {
		f := &forward{buf: c.buf}
		if got := f.framesBuffered(c.budget); got != c.want {
			t.Errorf("%s: framesBuffered(%d) over %d bytes = %d, want %d", c.name, c.budget, len(c.buf), got, c.want)
		}
	}
}

// positionCRC is crc32's CRC-32C of the position's little-endian bytes.
func TestPositionCRCMatchesCRC32(t *testing.T) {
	for _, p := range []int64{0, 1, 255, 256, 4096, 1<<40 + 12345, -1, math.MaxInt64} {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(p))
		if got, want := positionCRC(p), crc32.Checksum(b[:], castagnoli); got != want {
			t.Errorf("positionCRC(%d) = %08x, want %08x", p, got, want)
		}
	}
}
