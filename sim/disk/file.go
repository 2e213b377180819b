package disk

import "slices"

// page is one page of a file. A nil slice reads as zeros. When the page is
// clean, cache and durable are the same slice; the first write after that
// copies it, so a synced page costs no second buffer.
type page struct {
	durable []byte
	cache   []byte
	dirty   bool
	// stale: a failed sync already wrote the page back, as far as it got
	// (see inode.failSync). It is clean, so no later sync writes it again,
	// but its cache may still differ from its durable copy; a crash drops
	// the cache. Writing to it makes it dirty again.
	stale  bool
	listed bool // scratch mark of compactDirty
}

// inode is a file's data, independent of the names that lead to it: a
// rename moves the name, an unsynced delete may come back at a crash.
//
// Invariants: cached bytes at or past size are zero, durable bytes at or
// past durableSize are zero, and a page past size exists only to remember
// durable content a crash could bring back.
type inode struct {
	pageSize    int64
	pages       map[int64]*page
	dirty       []int64 // indices of pages that became dirty since the last sync, in order
	size        int64
	durableSize int64
	// spare holds page buffers a sync left unreferenced (the durable copies
	// it replaced), for the next pages that become dirty: a file appended
	// and synced in turn dirties its last page again after every sync.
	spare [][]byte
}

// maxSpare bounds the buffers one file keeps for reuse.
const maxSpare = 8

// newBuffer is a page buffer whose content the caller overwrites.
func (f *inode) newBuffer() []byte {
	if n := len(f.spare); n > 0 {
		buf := f.spare[n-1]
		f.spare[n-1] = nil
		f.spare = f.spare[:n-1]
		return buf
	}
	return make([]byte, f.pageSize)
}

// release keeps buf, which nothing references any more, for reuse.
func (f *inode) release(buf []byte) {
	if buf != nil && len(f.spare) < maxSpare {
		f.spare = append(f.spare, buf)
	}
}

func newInode(pageSize int) *inode {
	return &inode{pageSize: int64(pageSize), pages: make(map[int64]*page)}
}

// pagesFor is the number of whole pages that size bytes occupy.
func (f *inode) pagesFor(size int64) int64 {
	return (size + f.pageSize - 1) / f.pageSize
}

// read copies n bytes at off from the cached (or durable) copy; the range
// must lie within the file.
func (f *inode) read(off, n int64, durable bool) []byte {
	out := make([]byte, n)
	for pos := off; pos < off+n; {
		idx := pos / f.pageSize
		in := pos - idx*f.pageSize
		m := min(f.pageSize-in, off+n-pos)
		if p := f.pages[idx]; p != nil {
			src := p.cache
			if durable {
				src = p.durable
			}
			if src != nil {
				copy(out[pos-off:pos-off+m], src[in:in+m])
			}
		}
		pos += m
	}
	return out
}

// dirtyPage returns page idx ready to be modified in the cache. whole says
// the caller overwrites all of it, so the old content need not be copied.
func (f *inode) dirtyPage(idx int64, whole bool) *page {
	p := f.pages[idx]
	if p == nil {
		p = &page{}
		f.pages[idx] = p
	}
	if p.stale {
		// The cache holds what reads see, which is not the durable copy:
		// keep it (its buffer is the page's own) and make it dirty again.
		p.stale = false
		if p.cache == nil {
			p.cache = f.newBuffer()
			if !whole {
				clear(p.cache)
			}
		}
		f.markDirty(idx, p)
	} else if !p.dirty {
		buf := f.newBuffer()
		switch {
		case whole:
		case p.durable != nil:
			copy(buf, p.durable)
		default:
			clear(buf)
		}
		p.cache = buf
		f.markDirty(idx, p)
	} else if p.cache == nil {
		p.cache = f.newBuffer()
		if !whole {
			clear(p.cache)
		}
	}
	return p
}

// markDirty records that page idx now differs from its durable copy.
func (f *inode) markDirty(idx int64, p *page) {
	p.dirty = true
	f.dirty = append(f.dirty, idx)
	if len(f.dirty) > 2*len(f.pages)+64 {
		f.compactDirty()
	}
}

// compactDirty drops stale and repeated indices from the dirty list, which
// a file that is cut and rewritten without syncing would otherwise grow
// without bound.
func (f *inode) compactDirty() {
	kept := f.dirty[:0]
	for _, idx := range f.dirty {
		if p := f.pages[idx]; p != nil && p.dirty && !p.listed {
			p.listed = true
			kept = append(kept, idx)
		}
	}
	for _, idx := range kept {
		f.pages[idx].listed = false
	}
	f.dirty = kept
}

// write puts data at off into the cache, extending the file. An empty
// write changes nothing, not even the size.
func (f *inode) write(off int64, data []byte) {
	if len(data) == 0 {
		return
	}
	end := off + int64(len(data))
	for pos := off; pos < end; {
		idx := pos / f.pageSize
		in := pos - idx*f.pageSize
		m := min(f.pageSize-in, end-pos)
		p := f.dirtyPage(idx, in == 0 && m == f.pageSize)
		copy(p.cache[in:in+m], data[pos-off:pos-off+m])
		pos += m
	}
	if end > f.size {
		f.size = end
	}
}

// resize sets the current size; shrinking zeroes what is cut off so that a
// later extension reads zeros there.
func (f *inode) resize(size int64) {
	if size >= f.size {
		f.size = size
		return
	}
	old := f.size
	f.size = size
	if in := size % f.pageSize; in != 0 && f.pages[size/f.pageSize] != nil {
		p := f.dirtyPage(size/f.pageSize, false)
		clear(p.cache[in:])
	}
	// Pages past the old size hold only durable content from before an
	// earlier shrink; they are already cached as zeros.
	first, last := f.pagesFor(size), f.pagesFor(old)
	if last-first <= int64(len(f.pages)) {
		for idx := first; idx < last; idx++ {
			f.dropCached(idx)
		}
		return
	}
	// A sparse file: visit the pages that exist, not every index in the
	// range, in index order so that the dirty list stays deterministic.
	var cut []int64
	for idx := range f.pages {
		if idx >= first && idx < last {
			cut = append(cut, idx)
		}
	}
	slices.Sort(cut)
	for _, idx := range cut {
		f.dropCached(idx)
	}
}

// dropCached makes page idx read as zeros in the cache, keeping its durable
// copy until a sync or crash decides its fate.
func (f *inode) dropCached(idx int64) {
	p := f.pages[idx]
	if p == nil {
		return
	}
	if p.durable == nil {
		delete(f.pages, idx)
		return
	}
	p.stale = false
	if !p.dirty {
		f.markDirty(idx, p)
	}
	p.cache = nil
}

// sync makes the cached content and size durable; it returns the number of
// pages it wrote.
func (f *inode) sync() int {
	n := 0
	for _, idx := range f.dirty {
		p := f.pages[idx]
		if p == nil || !p.dirty {
			continue // already synced through a duplicate index, or dropped
		}
		n++
		if !sameBuffer(p.durable, p.cache) {
			f.release(p.durable)
		}
		p.durable = p.cache
		p.dirty = false
		if p.durable == nil && idx*f.pageSize >= f.size {
			delete(f.pages, idx)
		}
	}
	f.dirty = f.dirty[:0]
	f.durableSize = f.size
	return n
}

// failSync is a sync that failed (env.ErrIO) at its completion. As Linux
// does after a failed writeback, it leaves every dirty page clean: fate
// decides, for each, how far the failed write reached the media (kept,
// torn, zeroed or lost, as at a crash), and a later sync does not write it
// again. Reads still see the cached content until a crash replaces it with
// what the media hold. The durable size does not change: the failed sync
// committed no metadata. It returns the number of pages it consumed.
func (f *inode) failSync(fate func(p *page) []byte) int {
	n := 0
	for _, idx := range f.dirty {
		p := f.pages[idx]
		if p == nil || !p.dirty {
			continue
		}
		n++
		p.dirty = false
		durable := fate(p)
		switch {
		case sameBuffer(durable, p.cache) || durable == nil && p.cache == nil:
			// The whole page reached the media: an ordinary clean page.
			if !sameBuffer(p.durable, p.cache) {
				f.release(p.durable)
			}
			p.durable = p.cache
			if p.durable == nil && idx*f.pageSize >= f.size {
				delete(f.pages, idx)
			}
		default:
			if !sameBuffer(durable, p.durable) {
				f.release(p.durable)
			}
			p.durable = durable
			p.stale = true
		}
	}
	f.dirty = f.dirty[:0]
	return n
}

// dropStale makes the cache of every page a failed sync left behind what
// the media hold (a crash emptied the page cache). Order does not matter:
// it draws nothing.
func (f *inode) dropStale() {
	for _, p := range f.pages {
		if p.stale {
			p.stale = false
			p.cache = p.durable
		}
	}
}

// flipDurable flips one bit of the durable copy.
func (f *inode) flipDurable(off int64, bit uint) {
	idx := off / f.pageSize
	p := f.pages[idx]
	if p == nil {
		p = &page{}
		f.pages[idx] = p
	}
	if p.durable == nil {
		p.durable = make([]byte, f.pageSize)
		if !p.dirty && !p.stale {
			p.cache = p.durable
		}
	}
	p.durable[off-idx*f.pageSize] ^= 1 << bit
}

// sameBuffer reports whether a and b are the same page buffer.
func sameBuffer(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}
