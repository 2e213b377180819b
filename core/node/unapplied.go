package node

import "github.com/annal-db/annal/core/eventlog"

// unappliedBytes bounds the decoded records kept for applying. A node whose
// commit point stalls (a replica cut off from its quorum) stops keeping
// them and reads them back from the log once the commit point moves.
const unappliedBytes = 8 << 20

// unapplied is what this node made durable and has not applied yet, kept
// decoded: the writer (the leader's append, a replica's replicated write)
// already holds every record, so applying it need not read it back from
// disk and decode it again. Records are valid only for the log generation
// they were written in: a truncation may cut them, and then the log is
// read instead.
type unapplied struct {
	gen   uint64
	recs  []eventlog.Record // position order; recs[head:] are kept
	head  int
	bytes int
}

// add keeps recs, which the log at generation gen has just made durable.
// Padding is left out: the log steps over it when read.
func (u *unapplied) add(gen uint64, recs []eventlog.Record) {
	if gen != u.gen {
		u.reset(gen)
	}
	size := 0
	for i := range recs {
		size += recs[i].Size
	}
	if u.bytes+size > unappliedBytes {
		// Applying fell far behind: the log serves it (take finds a gap
		// before whatever is added next).
		u.reset(gen)
		return
	}
	if u.head > 0 && u.head*2 >= len(u.recs) {
		// Under steady load something always waits, so the array never
		// empties: move what waits to a fresh one, or every record taken
		// since the last idle moment (payloads included) stays reachable.
		// Fresh, not copied down: slices already taken stay as they were.
		u.recs = append(make([]eventlog.Record, 0, 2*(len(u.recs)-u.head)+len(recs)), u.recs[u.head:]...)
		u.head = 0
	}
	for i := range recs {
		if recs[i].Kind != eventlog.KindPadding {
			u.recs = append(u.recs, recs[i])
			u.bytes += recs[i].Size
		}
	}
}

// take returns the kept records from applied up to committed, in order and
// contiguous, ending where an append ends (an append is applied whole or
// not at all), and the position after them; nothing when the kept records
// do not start at applied (the log must be read). Nothing is returned
// twice, and what is returned is never written again.
func (u *unapplied) take(gen uint64, applied, committed int64) (recs []eventlog.Record, next int64) {
	if gen != u.gen {
		u.reset(gen)
		return nil, applied
	}
	for u.head < len(u.recs) && u.recs[u.head].End() <= applied {
		u.advance()
	}
	// The last whole append within reach. Records stop being contiguous
	// where the log padded a segment's end, and the log is read there.
	end, next, pos := u.head, applied, applied
	for i := u.head; i < len(u.recs); i++ {
		r := &u.recs[i]
		if r.Position != pos || r.End() > committed {
			break
		}
		pos = r.End()
		if r.EndsAppend() {
			end, next = i+1, pos
		}
	}
	recs = u.recs[u.head:end]
	for range len(recs) {
		u.advance()
	}
	return recs, next
}

// advance forgets the oldest kept record. Once none is left a fresh array
// starts, so records already taken are never overwritten.
func (u *unapplied) advance() {
	u.bytes -= u.recs[u.head].Size
	u.head++
	if u.head == len(u.recs) {
		u.recs, u.head = nil, 0
	}
}

func (u *unapplied) reset(gen uint64) { *u = unapplied{gen: gen} }
