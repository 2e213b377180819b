package streams

import (
	"fmt"
	"slices"
)

// fetch reads the events at positions (all ascending or all descending; the
// events come back in that order) from the log. Positions close together
// are read with one ranged read (a stream's events written together sit
// next to each other), others one by one; every log read asks for at most
// ReadChunkBytes. It stops early once the events add up to budget bytes
// (after at least one), so done may get a prefix.
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
	var read func(from int64)
	read = func(from int64) {
		upTo := f.s.log.Committed()
		f.s.log.ReadForward(from, upTo, f.s.cfg.ReadChunkBytes, func(evs []Event, next int64, err error) {
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

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
