package netstack

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/annal-db/annal/core/env"
)

// frameHeader is the length and the CRC-32C of the payload, both 4 bytes
// little-endian.
const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrameHeader appends the header for payload.
func appendFrameHeader(b, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
}

// frameReader reads frames from a buffered stream.
type frameReader struct {
	br  *bufio.Reader
	hdr [frameHeader]byte
}

// read returns the next payload, freshly allocated (it is handed to the
// node, which keeps it). A clean end of stream between frames is io.EOF;
// inside one, io.ErrUnexpectedEOF. A frame the stack would never send is an
// error wrapping ErrMalformedFrame.
func (r *frameReader) read() ([]byte, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(r.hdr[0:4])
	sum := binary.LittleEndian.Uint32(r.hdr[4:8])
	if n > env.MaxMessageSize {
		who := "is something other than an annal node writing to this port?"
		if looksLikeTLS(r.hdr[:]) {
			who = "these bytes open a TLS handshake: the peer is a secure node and this node runs with Insecure; " +
				"every node of a cluster must be secure, or every node insecure"
		}
		return nil, fmt.Errorf("frame header announces %d bytes, above the limit of %d (header bytes % x; %s): %w",
			n, env.MaxMessageSize, r.hdr[:], who, ErrMalformedFrame)
	}
	msg, err := r.payload(int(n))
	if err != nil {
		return nil, err
	}
	if got := crc32.Checksum(msg, castagnoli); got != sum {
		return nil, fmt.Errorf("frame of %d bytes has CRC-32C %08x, its header says %08x (corrupted in transit, or not an annal node): %w",
			n, got, sum, ErrMalformedFrame)
	}
	return msg, nil
}

// looksLikeTLS: a TLS record header (a handshake record of TLS 1.0 to
// 1.3, as every ClientHello starts).
func looksLikeTLS(hdr []byte) bool {
	return len(hdr) >= 3 && hdr[0] == 0x16 && hdr[1] == 0x03 && hdr[2] <= 0x04
}

// firstChunk is what a payload's buffer starts at: the buffer doubles as
// the bytes arrive, so a header alone (8 bytes announcing 16 MiB, on a port
// anyone can reach) does not make the node allocate what it announces.
const firstChunk = 64 << 10

// payload reads n bytes into a buffer that grows with what arrives.
func (r *frameReader) payload(n int) ([]byte, error) {
	msg := make([]byte, 0, min(n, firstChunk))
	for len(msg) < n {
		if len(msg) == cap(msg) {
			msg = append(make([]byte, 0, min(n, 2*cap(msg))), msg...)
		}
		k, err := io.ReadFull(r.br, msg[len(msg):cap(msg)])
		msg = msg[:len(msg)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return msg, nil
}

// buffered reports whether a whole next frame (or a malformed header) is
// already buffered, so reading it will not wait for the network.
func (r *frameReader) buffered() bool {
	avail := r.br.Buffered()
	if avail < frameHeader {
		return false
	}
	hdr, err := r.br.Peek(frameHeader)
	if err != nil {
		return false
	}
	n := binary.LittleEndian.Uint32(hdr)
	return n > env.MaxMessageSize || uint64(avail) >= frameHeader+uint64(n)
}
