// Package disk is a production node's env.Disk: real files under one data
// directory, with every operation run on a small pool of worker goroutines
// and its completion delivered to the node's loop. The loop never waits on
// a file system call.
//
// Names. Files are named by slash-separated paths relative to the root
// directory. Absolute names, empty elements, "." and ".." are refused with
// ErrInvalid, so no name reaches outside the root. Parent directories are
// implicit: Create and Rename make missing ones (and fsync the directory
// that gained each new one, so a SyncDir of the file's own directory is all
// a node needs for the name to be durable). List names regular files only;
// a directory that does not exist lists as empty and SyncDirs as a no-op,
// as in the simulator.
//
// Ordering. Each file's operations run on one worker, chosen by its name,
// so operations naming the same file take effect and complete in the order
// they were issued. Rename, List and SyncDir are barriers: they take effect
// after every operation issued before them has completed (its completion
// already handed to the loop) and before any issued after them starts, so a
// SyncDir covers every Create, Delete and Rename issued before it, and a
// List sees them. Operations on different files otherwise run in parallel
// and complete in any order. A worker busy with one file's fsync delays the
// other files it serves; more workers spread that.
//
// Group commit. A worker about to fsync a file takes with it every other
// Sync of that file already queued behind, up to the first other operation
// on that file: one fdatasync answers them all, and covers everything
// written before each was issued. Syncs issued while an fsync is in flight
// therefore share the next one. Stats counts requests and fsyncs.
//
// Failed syncs. After an fsync of a file fails, every later Sync of it
// fails too (env.ErrIO) until it is deleted or replaced: the kernel may
// have dropped the dirty pages and would report the next fsync as a
// success.
//
// Bounds. At most MaxPending operations are outstanding (issued, not
// completed). Issuing one more waits for room; on the loop that is a pause,
// never a deadlock, because workers deliver completions without waiting
// for inbox room (loop.Deliver). Up to MaxOpenFiles files stay open,
// least recently used closed first.
//
// Errors. Every error is an *OpError naming the operation, the name, the
// host path and the offset; errors.Is matches the env error
// (ENOENT -> env.ErrNotExist, EEXIST -> env.ErrExist, ENOSPC and EDQUOT ->
// env.ErrNoSpace, anything else, EIO included -> env.ErrIO) and the
// underlying OS error. Even a refused operation completes through its
// callback on the loop, never inside the call.
package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
)

// Options sizes a Disk. Zero fields take the defaults.
type Options struct {
	// Workers is the number of goroutines running file system calls
	// (default 4).
	Workers int
	// MaxPending bounds operations issued and not yet completed (default
	// 1024).
	MaxPending int
	// MaxOpenFiles bounds the cache of open files (default 64).
	MaxOpenFiles int
}

// Defaults for Options.
const (
	DefaultWorkers      = 4
	DefaultMaxPending   = 1024
	DefaultMaxOpenFiles = 64
)

// Stats counts what a disk did since Open.
type Stats struct {
	Ops          uint64 // operations completed, whatever the outcome
	SyncRequests uint64 // Sync calls completed
	Fsyncs       uint64 // fdatasync calls those cost
	DirSyncs     uint64 // directory fsyncs (SyncDir, new parent directories)
	Opens        uint64 // files opened into the cache
	Evictions    uint64 // files closed to stay within MaxOpenFiles
	OpenFiles    int    // files open now
	IssueWaits   uint64 // issues that waited because MaxPending were outstanding
	Dropped      uint64 // completions the stopped loop refused
}

// Disk implements env.Disk on the files under one root directory.
type Disk struct {
	root string
	loop *loop.Loop
	opts Options

	mu        sync.Mutex
	room      sync.Cond // issuers wait here for pending < MaxPending
	fenceDone sync.Cond // workers parked at a barrier wait here
	shards    []*shard
	pending   int
	closed    bool
	poisoned  map[string]error // names whose last fsync failed
	workers   sync.WaitGroup
	files     *handleCache

	// syncFile is fdatasync; tests substitute failures and delays.
	syncFile func(*os.File) error

	ops, syncRequests, fsyncs, dirSyncs, issueWaits, dropped atomic.Uint64
}

var _ env.Disk = (*Disk)(nil)

type shard struct {
	queue opQueue
	wake  sync.Cond
}

// Open serves the files under root, creating the directory if needed, and
// delivers every completion to l.
func Open(root string, l *loop.Loop, opts Options) (*Disk, error) {
	if l == nil {
		panic("disk: Open needs the node's loop; got nil")
	}
	for _, o := range []struct {
		name string
		v    int
	}{{"Workers", opts.Workers}, {"MaxPending", opts.MaxPending}, {"MaxOpenFiles", opts.MaxOpenFiles}} {
		if o.v < 0 {
			return nil, fmt.Errorf("disk: option %s is %d; use a positive number, or 0 for the default", o.name, o.v)
		}
	}
	if opts.Workers == 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.MaxPending == 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.MaxOpenFiles == 0 {
		opts.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if root == "" {
		return nil, fmt.Errorf("disk: the data directory is empty; give the directory that holds the node's files")
	}
	created, err := missingDirs(root)
	if err != nil {
		return nil, fmt.Errorf("disk: cannot use data directory %q: %w", root, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("disk: cannot use data directory %q: %w", root, err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("disk: cannot use data directory %q: %w", root, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("disk: data directory %q is not a directory", root)
	}
	d := &Disk{
		root:     root,
		loop:     l,
		opts:     opts,
		poisoned: make(map[string]error),
		files:    newHandleCache(opts.MaxOpenFiles),
		syncFile: fdatasync,
	}
	// A data directory made here is made durable in its parent, as
	// makeParents does for the directories inside it: a power loss must
	// not take it away with everything synced in it.
	for _, dir := range created {
		if err := d.fsyncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("disk: cannot make the new data directory %q durable: syncing %s: %w", root, filepath.Dir(dir), err)
		}
	}
	d.room.L = &d.mu
	d.fenceDone.L = &d.mu
	d.shards = make([]*shard, opts.Workers)
	for i := range d.shards {
		s := &shard{}
		s.wake.L = &d.mu
		d.shards[i] = s
	}
	d.workers.Add(len(d.shards))
	for _, s := range d.shards {
		go d.work(s)
	}
	return d, nil
}

// Root is the data directory.
func (d *Disk) Root() string { return d.root }

// Close stops taking operations (later ones complete with ErrClosed), waits
// until every operation already issued has run and its completion was
// handed to the loop, and closes the open files. It may be called from the
// loop. It is safe to call more than once.
func (d *Disk) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.workers.Wait()
		return nil
	}
	d.closed = true
	for _, s := range d.shards {
		s.wake.Broadcast()
	}
	d.room.Broadcast()
	d.mu.Unlock()
	d.workers.Wait()
	return d.files.closeAll()
}

// Stats reports counts so far.
func (d *Disk) Stats() Stats {
	open, opens, evictions := d.files.counts()
	return Stats{
		Ops:          d.ops.Load(),
		SyncRequests: d.syncRequests.Load(),
		Fsyncs:       d.fsyncs.Load(),
		DirSyncs:     d.dirSyncs.Load(),
		Opens:        opens,
		Evictions:    evictions,
		OpenFiles:    open,
		IssueWaits:   d.issueWaits.Load(),
		Dropped:      d.dropped.Load(),
	}
}

// issue admits o and queues it on its worker, or on every worker as a
// barrier.
func (d *Disk) issue(o *op) {
	d.mu.Lock()
	if !d.closed && d.pending >= d.opts.MaxPending {
		d.issueWaits.Add(1)
		for !d.closed && d.pending >= d.opts.MaxPending {
			d.room.Wait()
		}
	}
	if d.closed {
		d.mu.Unlock()
		o.err = &OpError{Op: o.kind.String(), Name: o.name, Off: -1, Err: ErrClosed, Detail: "the node is shutting down"}
		d.deliver(o)
		return
	}
	d.pending++
	if o.kind.isBarrier() {
		f := &fence{op: o}
		for _, s := range d.shards {
			s.queue.push(&op{fence: f})
			s.wake.Signal()
		}
	} else {
		s := d.shards[shardOf(o.name, len(d.shards))]
		s.queue.push(o)
		s.wake.Signal()
	}
	d.mu.Unlock()
}

// fence is a barrier's marker, queued on every worker. The last worker to
// reach it runs the barrier; the others wait.
type fence struct {
	op       *op
	arrived  int
	released bool
}

// work is one worker: it runs its queue in order until the disk is closed
// and the queue is empty.
func (d *Disk) work(s *shard) {
	defer d.workers.Done()
	d.mu.Lock()
	for {
		for s.queue.len() == 0 && !d.closed {
			s.wake.Wait()
		}
		if s.queue.len() == 0 {
			d.mu.Unlock()
			return
		}
		if f := s.queue.peek().fence; f != nil {
			f.arrived++
			if f.arrived < len(d.shards) {
				for !f.released {
					d.fenceDone.Wait()
				}
				continue // the releasing worker took the marker off our queue
			}
			d.mu.Unlock()
			d.exec(f.op)
			d.deliver(f.op)
			d.mu.Lock()
			for _, sh := range d.shards {
				sh.queue.pop()
			}
			f.released = true
			d.fenceDone.Broadcast()
			d.finishedLocked(1)
			continue
		}
		batch := d.takeLocked(s)
		d.mu.Unlock()
		if batch[0].kind == opSync && batch[0].invalid == "" {
			d.execSync(batch)
		} else {
			d.exec(batch[0])
		}
		for _, o := range batch {
			d.deliver(o)
		}
		d.mu.Lock()
		d.finishedLocked(len(batch))
	}
}

// takeLocked removes the next operation of s, and, for a Sync, every Sync
// of the same file queued behind it before any other operation on that
// file or a barrier: one fsync answers them all.
func (d *Disk) takeLocked(s *shard) []*op {
	first := s.queue.pop()
	if first.kind != opSync || first.invalid != "" {
		return []*op{first}
	}
	batch := []*op{first}
	stopped := false
	s.queue.filter(func(o *op) bool {
		if stopped {
			return true
		}
		if o.fence != nil {
			stopped = true
			return true
		}
		if o.name != first.name {
			return true
		}
		if o.kind == opSync && o.invalid == "" {
			batch = append(batch, o)
			return false
		}
		stopped = true
		return true
	})
	return batch
}

func (d *Disk) finishedLocked(n int) {
	d.pending -= n
	d.room.Broadcast()
}

// deliver hands o's completion to the loop; a stopped loop drops it.
func (d *Disk) deliver(o *op) {
	d.ops.Add(1)
	if d.loop.Deliver(o.completion()) != nil {
		d.dropped.Add(1)
	}
}

// opQueue is a FIFO of operations on a slice compacted when half spent.
type opQueue struct {
	items []*op
	head  int
}

func (q *opQueue) len() int { return len(q.items) - q.head }

func (q *opQueue) peek() *op { return q.items[q.head] }

func (q *opQueue) push(o *op) {
	if q.head > 0 && len(q.items) == cap(q.items) && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, o)
}

func (q *opQueue) pop() *op {
	o := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return o
}

// filter keeps, in order, the queued operations for which keep is true.
func (q *opQueue) filter(keep func(*op) bool) {
	w := q.head
	for r := q.head; r < len(q.items); r++ {
		if o := q.items[r]; keep(o) {
			q.items[w] = o
			w++
		}
	}
	clear(q.items[w:])
	q.items = q.items[:w]
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
}

// missingDirs are the directories MkdirAll(root) would create, deepest
// first.
func missingDirs(root string) ([]string, error) {
	var missing []string
	for dir := filepath.Clean(root); ; dir = filepath.Dir(dir) {
		_, err := os.Stat(dir)
		if err == nil {
			return missing, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, dir)
		if filepath.Dir(dir) == dir {
			return missing, nil
		}
	}
}
