package netstack

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/annal-db/annal/core/env"
)

func TestFrameReaderRoundTripAndRejections(t *testing.T) {
	var stream []byte
	msgs := [][]byte{{}, []byte("a"), bytes.Repeat([]byte{7}, 100_000)}
	for _, m := range msgs {
		stream = appendFrameHeader(stream, m)
		stream = append(stream, m...)
	}
	fr := frameReader{br: bufio.NewReaderSize(bytes.NewReader(stream), 16)}
	for i, want := range msgs {
		got, err := fr.read()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	if _, err := fr.read(); err != io.EOF {
		t.Fatalf("after the last frame: %v; want io.EOF", err)
	}

	bad := func(b []byte) error {
		fr := frameReader{br: bufio.NewReader(bytes.NewReader(b))}
		_, err := fr.read()
		return err
	}
	over := appendFrameHeader(nil, nil)
	over[0], over[1], over[2], over[3] = 0x01, 0x00, 0x00, 0x01 // MaxMessageSize+1
	if err := bad(over); !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("a header announcing %d bytes: %v; want ErrMalformedFrame", env.MaxMessageSize+1, err)
	}
	flipped := append(appendFrameHeader(nil, []byte("abc")), "abd"...)
	if err := bad(flipped); !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("a payload that fails its checksum: %v; want ErrMalformedFrame", err)
	}
	if err := bad(append(appendFrameHeader(nil, []byte("abc")), "ab"...)); err != io.ErrUnexpectedEOF {
		t.Fatalf("a frame cut short: %v; want io.ErrUnexpectedEOF", err)
	}
	if err := bad([]byte{1, 2, 3}); err != io.ErrUnexpectedEOF {
		t.Fatalf("a header cut short: %v; want io.ErrUnexpectedEOF", err)
	}
}

// TestAFrameHeaderAloneDoesNotAllocateWhatItAnnounces: eight bytes on the
// replication port announcing a 16 MiB frame, then nothing, must not cost
// 16 MiB; the buffer grows with the bytes that arrive.
func TestAFrameHeaderAloneDoesNotAllocateWhatItAnnounces(t *testing.T) {
	big := bytes.Repeat([]byte{3}, env.MaxMessageSize)
	cut := append(appendFrameHeader(nil, big), big[:10]...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fr := frameReader{br: bufio.NewReader(bytes.NewReader(cut))}
	if _, err := fr.read(); err != io.ErrUnexpectedEOF {
		t.Fatalf("a 16 MiB frame cut after 10 bytes: %v; want io.ErrUnexpectedEOF", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("reading 18 bytes of a frame announcing %d allocated %d bytes", env.MaxMessageSize, got)
	}
	// The whole frame still arrives whole.
	fr = frameReader{br: bufio.NewReader(bytes.NewReader(append(appendFrameHeader(nil, big), big...)))}
	if got, err := fr.read(); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("a frame of %d bytes: %d bytes, %v", len(big), len(got), err)
	}
}
