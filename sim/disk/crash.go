package disk

import "github.com/annal-db/annal/core/env"

// pageOutcome is what a crash did to one unsynced page.
type pageOutcome uint8

const (
	pageKept pageOutcome = iota
	pageTorn
	pageZeroed
	pageLost
)

// Crash is a power loss of the host: the namespace reverts to what its
// directories' journals reached, every unsynced page meets its fate, queued
// operations never happen, and every view opened before is dead. The page
// cache then equals the media.
func (s *Store) Crash() {
	dropped := s.pending
	s.pending = 0
	s.epoch++
	s.tail = s.w.Now()

	dirKept, dirLost := s.ns.crash(s.rng)
	var counts [4]int
	seen := make(map[*inode]bool, len(s.ns.current))
	s.usedPages = 0
	for _, name := range sortedNames(s.ns.current) {
		ino := s.ns.current[name]
		if seen[ino] {
			continue
		}
		seen[ino] = true
		s.crashFile(ino, &counts)
		s.usedPages += ino.pagesFor(ino.size)
	}

	s.stats.Crashes++
	s.stats.PagesKept += uint64(counts[pageKept])
	s.stats.PagesTorn += uint64(counts[pageTorn])
	s.stats.PagesZeroed += uint64(counts[pageZeroed])
	s.stats.PagesLost += uint64(counts[pageLost])
	s.stats.DirOpsKept += uint64(dirKept)
	s.stats.DirOpsLost += uint64(dirLost)
	s.stats.DroppedOps += uint64(dropped)
	s.w.Trace.Rec(s.w.Now(), s.host, "disk.crash").
		Int("kept", int64(counts[pageKept])).
		Int("torn", int64(counts[pageTorn])).
		Int("zeroed", int64(counts[pageZeroed])).
		Int("lost", int64(counts[pageLost])).
		Int("dirkept", int64(dirKept)).
		Int("dirlost", int64(dirLost)).
		Int("dropped", int64(dropped)).
		Int("files", int64(len(s.ns.current))).
		End()
}

// crashFile decides the fate of each unsynced page of one file and sets its
// size: the durable size, extended over every page that reached the media in
// some form, never past the size the file had.
func (s *Store) crashFile(f *inode, counts *[4]int) {
	ps := f.pageSize
	newSize := f.durableSize
	f.dropStale()
	for _, idx := range f.dirty {
		p := f.pages[idx]
		if p == nil || !p.dirty {
			continue
		}
		p.dirty = false
		out := s.pageFate()
		switch out {
		case pageKept:
			p.durable = p.cache
		case pageTorn:
			p.durable = s.tear(p, ps)
		case pageZeroed:
			// The size reached the media, the data did not: the page keeps
			// its durable content, which past the durable size is zeros.
		}
		p.cache = p.durable
		counts[out]++
		if out != pageLost && idx*ps < f.size {
			newSize = max(newSize, min((idx+1)*ps, f.size))
		}
	}
	f.dirty = f.dirty[:0]
	f.size, f.durableSize = newSize, newSize

	// Keep the invariant that nothing past the size reads as anything but
	// zeros if the file grows again.
	for idx := range f.pages {
		if idx*ps >= newSize {
			delete(f.pages, idx)
		}
	}
	if in := newSize % ps; in != 0 {
		if p := f.pages[newSize/ps]; p != nil && p.durable != nil {
			clear(p.durable[in:])
		}
	}
}

// failedWriteback draws how far a failed sync wrote one dirty page to the
// media, with the crash probabilities (the device failed part way): the
// durable content the page is left with.
func (s *Store) failedWriteback(p *page) []byte {
	switch s.pageFate() {
	case pageKept:
		return p.cache
	case pageTorn:
		return s.tear(p, int64(s.cfg.PageSize))
	}
	return p.durable
}

// pageFate draws what happens to one unsynced page.
func (s *Store) pageFate() pageOutcome {
	r := env.Float64(s.rng)
	c := &s.cfg
	switch {
	case r < c.CrashSurvive:
		return pageKept
	case r < c.CrashSurvive+c.CrashTorn:
		if s.cfg.PageSize == s.cfg.SectorSize {
			return pageKept // one sector cannot tear
		}
		return pageTorn
	case r < c.CrashSurvive+c.CrashTorn+c.CrashZeroed:
		return pageZeroed
	}
	return pageLost
}

// tear builds a page whose first sectors (at least one, not all) are new
// and whose rest is the old durable content.
func (s *Store) tear(p *page, ps int64) []byte {
	sector := int64(s.cfg.SectorSize)
	sectors := ps / sector
	cut := (1 + int64(env.Intn(s.rng, int(sectors-1)))) * sector
	buf := make([]byte, ps)
	if p.durable != nil {
		copy(buf[cut:], p.durable[cut:])
	}
	if p.cache != nil {
		copy(buf[:cut], p.cache[:cut])
	}
	return buf
}
