package disk

import (
	"container/list"
	"errors"
	"os"
	"sync"
)

// handle is an open file and what the disk knows about it. end (where the
// next Append goes) is touched only by the worker that owns the file's
// name, or by a barrier while every worker waits, so it needs no lock of
// its own.
type handle struct {
	name string
	f    *os.File
	end  int64
	refs int
	lru  *list.Element
}

// handleCache keeps up to max files open, least recently used closed first.
// A handle in use is never closed; if every one is in use the cache holds
// more than max until they are released (at most one per worker more).
type handleCache struct {
	mu    sync.Mutex
	max   int
	open  map[string]*handle
	order list.List // front is most recently used

	opens, evictions uint64 // guarded by mu
}

func newHandleCache(max int) *handleCache {
	return &handleCache{max: max, open: make(map[string]*handle)}
}

// acquire returns the open handle for name, opening path if needed. Only
// the worker owning name (or a barrier) calls it for that name, so two
// opens of one name never race.
func (c *handleCache) acquire(name, path string) (*handle, error) {
	c.mu.Lock()
	if h, ok := c.open[name]; ok {
		h.refs++
		c.order.MoveToFront(h.lru)
		c.mu.Unlock()
		return h, nil
	}
	c.mu.Unlock()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	return c.insert(name, f, fi.Size()), nil
}

var errNotRegular = errors.New("not a regular file")

// insert caches a freshly opened file, held once by the caller.
func (c *handleCache) insert(name string, f *os.File, end int64) *handle {
	h := &handle{name: name, f: f, end: end, refs: 1}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opens++
	h.lru = c.order.PushFront(h)
	c.open[name] = h
	c.evictLocked()
	return h
}

func (c *handleCache) release(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.refs--
	c.evictLocked()
}

func (c *handleCache) evictLocked() {
	for e := c.order.Back(); e != nil && len(c.open) > c.max; {
		h := e.Value.(*handle)
		prev := e.Prev()
		if h.refs == 0 {
			c.order.Remove(e)
			delete(c.open, h.name)
			c.evictions++
			// Nothing was written through this handle that a close could
			// lose: data is in the page cache and a later fdatasync on a
			// new handle flushes it.
			h.f.Close()
		}
		e = prev
	}
}

// drop closes name's handle, if cached, before its file is deleted or
// renamed. The caller owns name, so the handle is not in use.
func (c *handleCache) drop(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.open[name]
	if !ok {
		return nil
	}
	c.order.Remove(h.lru)
	delete(c.open, name)
	return h.f.Close()
}

// closeAll closes every handle, at Close when no worker runs.
func (c *handleCache) closeAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for e := c.order.Front(); e != nil; e = e.Next() {
		if err := e.Value.(*handle).f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	c.order.Init()
	clear(c.open)
	return errors.Join(errs...)
}

func (c *handleCache) counts() (open int, opens, evictions uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open), c.opens, c.evictions
}
