package runtime

import (
	"sync/atomic"

	"github.com/annal-db/annal/core/env"
)

// countingDisk is the node's disk with a count of operations issued and
// not yet completed, so that a graceful stop can wait until the node's
// last writes and syncs have landed. Issues and completions both happen
// on the loop; the count is atomic because the stopping goroutine reads
// it.
type countingDisk struct {
	d       env.Disk
	pending atomic.Int64
	// drained gets a token whenever the count falls to zero.
	drained chan struct{}
}

var _ env.Disk = (*countingDisk)(nil)

func newCountingDisk(d env.Disk) *countingDisk {
	return &countingDisk{d: d, drained: make(chan struct{}, 1)}
}

func (c *countingDisk) begin() { c.pending.Add(1) }

// end runs after the node's callback, so that an operation the callback
// issues is counted before this one stops being: the count never touches
// zero in the middle of a chain.
func (c *countingDisk) end() {
	if c.pending.Add(-1) == 0 {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

func (c *countingDisk) Create(name string, done func(error)) {
	c.begin()
	c.d.Create(name, func(err error) { done(err); c.end() })
}

func (c *countingDisk) Delete(name string, done func(error)) {
	c.begin()
	c.d.Delete(name, func(err error) { done(err); c.end() })
}

func (c *countingDisk) Rename(from, to string, done func(error)) {
	c.begin()
	c.d.Rename(from, to, func(err error) { done(err); c.end() })
}

func (c *countingDisk) List(dir string, done func([]string, error)) {
	c.begin()
	c.d.List(dir, func(names []string, err error) { done(names, err); c.end() })
}

func (c *countingDisk) Size(name string, done func(int64, error)) {
	c.begin()
	c.d.Size(name, func(size int64, err error) { done(size, err); c.end() })
}

func (c *countingDisk) WriteAt(name string, off int64, data []byte, done func(error)) {
	c.begin()
	c.d.WriteAt(name, off, data, func(err error) { done(err); c.end() })
}

func (c *countingDisk) Append(name string, data []byte, done func(int64, error)) {
	c.begin()
	c.d.Append(name, data, func(off int64, err error) { done(off, err); c.end() })
}

func (c *countingDisk) Preallocate(name string, size int64, done func(error)) {
	c.begin()
	c.d.Preallocate(name, size, func(err error) { done(err); c.end() })
}

func (c *countingDisk) ReadAt(name string, off int64, n int, done func([]byte, error)) {
	c.begin()
	c.d.ReadAt(name, off, n, func(data []byte, err error) { done(data, err); c.end() })
}

func (c *countingDisk) Truncate(name string, size int64, done func(error)) {
	c.begin()
	c.d.Truncate(name, size, func(err error) { done(err); c.end() })
}

func (c *countingDisk) Sync(name string, done func(error)) {
	c.begin()
	c.d.Sync(name, func(err error) { done(err); c.end() })
}

func (c *countingDisk) SyncDir(dir string, done func(error)) {
	c.begin()
	c.d.SyncDir(dir, func(err error) { done(err); c.end() })
}
