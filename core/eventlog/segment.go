package eventlog

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// FormatVersion is the on-disk format this build writes and reads. Bump it
// whenever a segment, record or checkpoint layout changes.
const FormatVersion = 1

// Segment header layout (one 512-byte sector, so a crash never tears it).
const (
	headerSize    = 512
	segmentMagic  = 0x4753_4e41 // "ANSG" little-endian
	hdrMagic      = 0           // uint32
	hdrVersion    = 4           // uint16, at this offset in every version
	hdrHeaderSize = 6           // uint16
	hdrNumber     = 8           // uint64
	hdrDataSize   = 16          // uint64
	hdrChecksum   = headerSize - 4
)

const segmentPrefix = "segment-"

// segmentName is the file of segment n: "log/segment-000042".
func segmentName(dir string, n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < 6 {
		s = strings.Repeat("0", 6-len(s)) + s
	}
	return dir + "/" + segmentPrefix + s
}

// parseSegmentName returns the number of a segment file's base name.
func parseSegmentName(base string) (int64, bool) {
	digits, ok := strings.CutPrefix(base, segmentPrefix)
	if !ok || len(digits) < 6 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || segmentName("", n) != "/"+base {
		return 0, false
	}
	return n, true
}

func encodeHeader(number, dataSize int64) []byte {
	h := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(h[hdrMagic:], segmentMagic)
	binary.LittleEndian.PutUint16(h[hdrVersion:], FormatVersion)
	binary.LittleEndian.PutUint16(h[hdrHeaderSize:], headerSize)
	binary.LittleEndian.PutUint64(h[hdrNumber:], uint64(number))
	binary.LittleEndian.PutUint64(h[hdrDataSize:], uint64(dataSize))
	binary.LittleEndian.PutUint32(h[hdrChecksum:], checksum(0, h[:hdrChecksum]))
	return h
}

// FormatVersionError: a segment was written by a build with another
// on-disk format. The log refuses to open rather than misread it.
type FormatVersionError struct {
	File  string
	Found uint16
}

func (e *FormatVersionError) Error() string {
	return fmt.Sprintf("eventlog: %s: database written by format version %d; this build reads version %d; run a build that reads version %d, or move the data directory aside",
		e.File, e.Found, FormatVersion, e.Found)
}

// headerProblem says what is wrong with a segment header: a
// *FormatVersionError, a configuration mismatch (fatal to Open), or damage
// (reason, reported as corruption of the segment's range).
func checkHeader(h []byte, name string, number, dataSize int64) (fatal error, damage string) {
	if len(h) < headerSize {
		return nil, fmt.Sprintf("the file has %d bytes, fewer than its %d-byte header", len(h), headerSize)
	}
	if m := binary.LittleEndian.Uint32(h[hdrMagic:]); m != segmentMagic {
		return nil, fmt.Sprintf("header magic is %#08x, not %#08x", m, segmentMagic)
	}
	if v := binary.LittleEndian.Uint16(h[hdrVersion:]); v != FormatVersion {
		return &FormatVersionError{File: name, Found: v}, ""
	}
	if stored, got := binary.LittleEndian.Uint32(h[hdrChecksum:]), checksum(0, h[:hdrChecksum]); stored != got {
		return nil, fmt.Sprintf("header checksum mismatch (stored %08x, computed %08x)", stored, got)
	}
	if hs := binary.LittleEndian.Uint16(h[hdrHeaderSize:]); hs != headerSize {
		return nil, fmt.Sprintf("header size is %d, format version %d has %d", hs, FormatVersion, headerSize)
	}
	if n := int64(binary.LittleEndian.Uint64(h[hdrNumber:])); n != number {
		return nil, fmt.Sprintf("header says segment %d, the file name says %d", n, number)
	}
	if s := int64(binary.LittleEndian.Uint64(h[hdrDataSize:])); s != dataSize {
		return fmt.Errorf("eventlog: %s holds %d data bytes but the log is configured with SegmentSize %d; a log's segment size cannot change, so set SegmentSize to %d", name, s, dataSize, s), ""
	}
	return nil, ""
}
