package check

import (
	"encoding/binary"
	"fmt"
)

// appendIDMarker starts the id of every event the simulated clients
// write, so that the checkers can tell which append an event belongs to
// from the committed log alone.
const appendIDMarker = 0xC1

// AppendRef names one event of one client append: the client, the
// append's sequence number at that client, and the event's index among
// the append's Count events.
type AppendRef struct {
	Client int
	Seq    uint64
	Index  int
	Count  int
}

func (r AppendRef) String() string {
	return fmt.Sprintf("event %d of %d of append #%d by c%d", r.Index+1, r.Count, r.Seq, r.Client)
}

// sameAppend reports whether r and o are events of one append.
func (r AppendRef) sameAppend(o AppendRef) bool { return r.Client == o.Client && r.Seq == o.Seq }

// AppendEventID is the id of event index (from 0) of count in the append
// number seq of client: unique per event, never zero.
func AppendEventID(client int, seq uint64, index, count int) [16]byte {
	var id [16]byte
	id[0] = appendIDMarker
	id[1] = byte(count)
	binary.BigEndian.PutUint16(id[2:], uint16(client))
	id[4] = byte(index)
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}

// ParseAppendEventID reads an id AppendEventID made; ok is false for any
// other id.
func ParseAppendEventID(id [16]byte) (r AppendRef, ok bool) {
	if id[0] != appendIDMarker || id[1] == 0 || id[4] >= id[1] || id[5] != 0 || id[6] != 0 || id[7] != 0 {
		return AppendRef{}, false
	}
	return AppendRef{Client: int(binary.BigEndian.Uint16(id[2:])), Seq: binary.BigEndian.Uint64(id[8:]), Index: int(id[4]), Count: int(id[1])}, true
}
