// Package wiretest holds a message that uses every encoding wire offers, for
// the codec's own tests and fuzz targets. Importing it registers the message
// (kind SampleKind); production code never imports it.
package wiretest

import (
	"math"
	"strconv"
	"time"

	"github.com/annal-db/annal/core/wire"
)

// SampleKind is the sample's kind. Kinds from 0xFF00 up are left to tests.
const SampleKind wire.Kind = 0xFFFE

// MaxTags bounds Sample.Tags; MaxPeers bounds Sample.Peers.
const (
	MaxTags  = 64
	MaxPeers = 16
)

// Mode is an enumeration the decoder validates.
type Mode uint8

const (
	ModeIdle Mode = iota
	ModeActive
	ModeDraining
	modeCount
)

// Peer is a nested value, encoded inline.
type Peer struct {
	Host  string
	Port  uint16
	Alive bool
}

// Sample has a field of every encoding.
type Sample struct {
	Uvarint uint64
	Varint  int64
	U8      uint8
	U16     uint16
	U32     uint32
	U64     uint64
	F64     float64
	Flag    bool
	Name    string
	Payload []byte // empty decodes as nil
	ID      [16]byte
	Timeout time.Duration
	Stamp   time.Time // UTC, no monotonic reading
	Mode    Mode
	Tags    []string // empty decodes as nil
	Peers   []Peer   // empty decodes as nil
}

func init() {
	wire.Register(SampleKind, "wiretest.sample", func() wire.Message { return new(Sample) })
}

// Kind implements wire.Message.
func (s *Sample) Kind() wire.Kind { return SampleKind }

// Encode implements wire.Message.
func (s *Sample) Encode(e *wire.Encoder) {
	e.Uvarint(s.Uvarint)
	e.Varint(s.Varint)
	e.Uint8(s.U8)
	e.Uint16(s.U16)
	e.Uint32(s.U32)
	e.Uint64(s.U64)
	e.Float64(s.F64)
	e.Bool(s.Flag)
	e.String(s.Name)
	e.Bytes(s.Payload)
	e.Fixed(s.ID[:])
	e.Duration(s.Timeout)
	e.Time(s.Stamp)
	e.Uint8(uint8(s.Mode))
	e.Count(len(s.Tags))
	for _, t := range s.Tags {
		e.String(t)
	}
	e.Count(len(s.Peers))
	for _, p := range s.Peers {
		e.String(p.Host)
		e.Uint16(p.Port)
		e.Bool(p.Alive)
	}
}

// Decode implements wire.Message.
func (s *Sample) Decode(d *wire.Decoder) {
	s.Uvarint = d.Uvarint("uvarint")
	s.Varint = d.Varint("varint")
	s.U8 = d.Uint8("u8")
	s.U16 = d.Uint16("u16")
	s.U32 = d.Uint32("u32")
	s.U64 = d.Uint64("u64")
	s.F64 = d.Float64("f64")
	s.Flag = d.Bool("flag")
	s.Name = d.String("name")
	s.Payload = d.Bytes("payload")
	d.Fixed("id", s.ID[:])
	s.Timeout = d.Duration("timeout")
	s.Stamp = d.Time("stamp")
	s.Mode = Mode(d.Uint8("mode"))
	if s.Mode >= modeCount {
		d.Invalid("mode", "mode "+strconv.Itoa(int(s.Mode))+" is not 0 (idle), 1 (active) or 2 (draining)")
	}
	s.Tags = nil
	if n := d.Count("tags", MaxTags); n > 0 {
		s.Tags = make([]string, n)
		for i := range s.Tags {
			s.Tags[i] = d.String("tags")
		}
	}
	s.Peers = nil
	if n := d.Count("peers", MaxPeers); n > 0 {
		s.Peers = make([]Peer, n)
		for i := range s.Peers {
			s.Peers[i] = Peer{Host: d.String("peers.host"), Port: d.Uint16("peers.port"), Alive: d.Bool("peers.alive")}
		}
	}
}

// Equal reports whether s and o hold the same values, comparing floats bit
// for bit (so a NaN equals itself) and times as instants in the same zone.
func (s *Sample) Equal(o *Sample) bool {
	if s.Uvarint != o.Uvarint || s.Varint != o.Varint || s.U8 != o.U8 || s.U16 != o.U16 ||
		s.U32 != o.U32 || s.U64 != o.U64 || math.Float64bits(s.F64) != math.Float64bits(o.F64) ||
		s.Flag != o.Flag || s.Name != o.Name || string(s.Payload) != string(o.Payload) ||
		(s.Payload == nil) != (o.Payload == nil) || s.ID != o.ID || s.Timeout != o.Timeout ||
		!s.Stamp.Equal(o.Stamp) || s.Stamp.Location() != o.Stamp.Location() || s.Mode != o.Mode ||
		len(s.Tags) != len(o.Tags) || (s.Tags == nil) != (o.Tags == nil) ||
		len(s.Peers) != len(o.Peers) || (s.Peers == nil) != (o.Peers == nil) {
		return false
	}
	for i := range s.Tags {
		if s.Tags[i] != o.Tags[i] {
			return false
		}
	}
	for i := range s.Peers {
		if s.Peers[i] != o.Peers[i] {
			return false
		}
	}
	return true
}
