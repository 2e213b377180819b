package streams

import (
	"fmt"
	"slices"
)

// fetch reads the events at positions (all ascending or all descending; the
// events come back in that order) from the log. Positions close together
// are read with one ranged read (a stream's events written together sit
// next to each other), others one by one; a ranged read asks for what spans
// its group, at most ReadChunkBytes. It stops early once the events add up
// to budget bytes (after at least one), so done may get a prefix.
func (s *Service) fetch(positions []int64, budget int, done func([]Event, error)) {
	f := &fetcher{s: s, positions: positions, budget: budget, done: done}
	f.next()
}

type fetcher struct {
	s         *Service
	positions []int64
	budget    int
	done      func([]Event, error)
	out       []Event
	bytes     int
	i         int // next position to get
}

func (f *fetcher) full() bool { return len(f.out) > 0 && f.bytes >= f.budget }

func (f *fetcher) take(ev Event) {
	f.out = append(f.out, ev)
	f.bytes += ev.size()
}

func (f *fetcher) next() {
	if f.i == len(f.positions) || f.full() {
		f.done(f.out, nil)
		return
	}
	chunk := int64(f.s.cfg.ReadChunkBytes)
	first := f.positions[f.i]
	// The group: following positions within one chunk's span of the first.
	j := f.i + 1
	for j < len(f.positions) && abs(f.positions[j]-first) < chunk {
		j++
	}
	group := f.positions[f.i:j]
	f.i = j
	if len(group) == 1 {
		f.s.log.ReadAt(first, func(ev Event, err error) {
			if err == nil && ev.Position != first {
				err = fmt.Errorf("the log returned position %d for a read at %d", ev.Position, first)
			}
			if err != nil {
				f.done(nil, err)
				return
			}
			f.take(ev)
			f.next()
		})
		return
	}
	// Ranged reads go forwards from the group's lowest position (a read
	// must start at an event); a descending group is reversed after.
	descending := group[len(group)-1] < group[0]
	ascending := group
	if descending {
		ascending = slices.Clone(group)
		slices.Reverse(ascending)
	}
	got := make([]Event, 0, len(group))
	last := ascending[len(ascending)-1]
	room := lastEventRoom(ascending)
	var read func(from int64)
	read = func(from int64) {
		upTo := f.s.log.Committed()
		f.s.log.ReadForward(from, upTo, groupReadBytes(from, last, room, f.s.cfg.ReadChunkBytes), func(evs []Event, next int64, err error) {
			if err == nil && len(evs) == 0 {
				err = fmt.Errorf("the log returned nothing in [%d, %d) where the index has event positions", from, upTo)
			}
			if err != nil {
				f.done(nil, err)
				return
			}
			for _, ev := range evs {
				if len(got) == len(ascending) {
					break
				}
				want := ascending[len(got)]
				if ev.Position > want {
					f.done(nil, fmt.Errorf("the log has no event at position %d, which the index records", want))
					return
				}
				if ev.Position == want {
					got = append(got, ev)
				}
			}
			if len(got) < len(ascending) {
				if next <= from {
					f.done(nil, fmt.Errorf("the log's forward read from %d did not advance (next %d)", from, next))
					return
				}
				read(next)
				return
			}
			if descending {
				slices.Reverse(got)
			}
			for _, ev := range got {
				if f.full() {
					break
				}
				f.take(ev)
			}
			f.next()
		})
	}
	read(ascending[0])
}

// maxEventRoom bounds what a ranged read asks for beyond the start of the
// last event it wants: a page, which holds most events whole.
const maxEventRoom = 4 << 10

// lastEventRoom guesses the bytes of the last event of a group (ascending
// positions, at least two): the widest gap between its events, each of
// which holds a whole event of the same stream, at most a page. A guess
// too small costs one more read, which starts at that event.
func lastEventRoom(ascending []int64) int64 {
	var room int64
	for i := 1; i < len(ascending); i++ {
		room = max(room, ascending[i]-ascending[i-1])
	}
	return min(room, maxEventRoom)
}

// groupReadBytes is the byte budget of a ranged read from from that must
// reach the event at last: the span between them and room for that event,
// never more than a chunk. A whole chunk would make the log read and
// decode everything after the group only for it to be dropped here.
func groupReadBytes(from, last, room int64, chunk int) int {
	return int(max(min(int64(chunk), last-from+room), 1))
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
