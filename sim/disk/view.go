package disk

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/world"
)

// View is one process incarnation's handle on its host's disk. It
// implements env.Disk. It dies when its process is killed (Close) or its
// host crashes (Store.Crash); a dead view's callbacks never run.
type View struct {
	s      *Store
	exec   world.Executor
	epoch  uint64
	closed bool
}

var _ env.Disk = (*View)(nil)

// Open gives a new process incarnation its disk. Every completion is handed
// to exec.
func (s *Store) Open(exec world.Executor) *View {
	if exec == nil {
		panic("disk: Open needs the process's executor; got nil")
	}
	s.w.Trace.Rec(s.w.Now(), s.host, "disk.open").End()
	return &View{s: s, exec: exec, epoch: s.epoch}
}

// Close marks the view's process as killed. Its queued operations still
// take effect (the kernel has them) but their callbacks are dropped.
func (v *View) Close() {
	if v.closed {
		return
	}
	v.closed = true
	v.s.w.Trace.Rec(v.s.w.Now(), v.s.host, "disk.close").End()
}

// Dead reports whether the view was closed or its host crashed since Open.
func (v *View) Dead() bool { return v.closed || v.epoch != v.s.epoch }

type opKind uint8

const (
	opCreate opKind = iota
	opDelete
	opRename
	opList
	opSize
	opWrite
	opAppend
	opPreallocate
	opRead
	opTruncate
	opSync
	opSyncDir
)

var opNames = [...]string{
	opCreate:      "create",
	opDelete:      "delete",
	opRename:      "rename",
	opList:        "list",
	opSize:        "size",
	opWrite:       "write",
	opAppend:      "append",
	opPreallocate: "preallocate",
	opRead:        "read",
	opTruncate:    "truncate",
	opSync:        "sync",
	opSyncDir:     "syncdir",
}

// traceKinds are "disk."+opNames, built once so records cost no allocation.
var traceKinds = func() [len(opNames)]string {
	var k [len(opNames)]string
	for i, n := range opNames {
		k[i] = "disk." + n
	}
	return k
}()

type faultClass uint8

const (
	faultRead faultClass = iota
	faultWrite
	faultSync
)

func (k opKind) faultClass() faultClass {
	switch k {
	case opRead, opList, opSize:
		return faultRead
	case opSync, opSyncDir:
		return faultSync
	}
	return faultWrite
}

func (c *Config) latencyOf(k opKind) [2]time.Duration {
	switch k {
	case opWrite, opAppend:
		return c.WriteLatency
	case opRead:
		return c.ReadLatency
	case opSync, opSyncDir:
		return c.SyncLatency
	}
	return c.MetaLatency
}

// op is one queued operation; it fires at its completion time.
type op struct {
	v       *View
	epoch   uint64
	kind    opKind
	fault   bool
	invalid string // why the arguments are unacceptable
	name    string
	to      string
	off     int64
	n       int64
	data    []byte

	done      func(error)
	doneOff   func(int64, error)
	doneData  func([]byte, error)
	doneNames func([]string, error)
	doneSize  func(int64, error)

	// The outcome, set at completion for the callback. A read's data
	// goes in data, an Append's offset or a Size in n.
	err   error
	names []string
}

// Run implements world.Input: it runs the issuer's callback with the
// outcome, on the issuing process's loop.
func (o *op) Run() {
	switch {
	case o.doneData != nil:
		o.doneData(o.data, o.err)
	case o.doneOff != nil:
		o.doneOff(o.n, o.err)
	case o.doneNames != nil:
		o.doneNames(o.names, o.err)
	case o.doneSize != nil:
		o.doneSize(o.n, o.err)
	default:
		o.done(o.err)
	}
}

func (o *op) Fire(uint64) { o.v.s.complete(o) }

// issue queues o behind everything already queued on the device.
func (v *View) issue(o *op) {
	if v.Dead() {
		// A dead process runs no code; if something still calls, it gets
		// no answer, as a dead process would not.
		return
	}
	s := v.s
	o.v = v
	o.epoch = s.epoch
	rate := [...]float64{faultRead: s.cfg.ReadFaultRate, faultWrite: s.cfg.WriteFaultRate, faultSync: s.cfg.SyncFaultRate}[o.kind.faultClass()]
	at := max(s.tail, s.w.Now()+s.latency(s.cfg.latencyOf(o.kind)))
	o.fault = env.Bool(s.rng, rate)
	s.tail = at
	s.pending++
	s.w.At(at, o, 0)
}

func checkName(o *op, name string) {
	if why := validName(name); why != "" && o.invalid == "" {
		o.invalid = fmt.Sprintf("%q is not a relative slash-separated file name: %s", name, why)
	}
}

func checkRange(o *op, off, n int64, what string) {
	if o.invalid != "" {
		return
	}
	if off < 0 || n < 0 {
		o.invalid = fmt.Sprintf("%s must not be negative", what)
	} else if off > math.MaxInt64-n {
		o.invalid = fmt.Sprintf("%s overflows a file offset", what)
	}
}

func mustDone(f any, method string) {
	if f == nil {
		panic("disk: " + method + " needs a completion callback; got nil")
	}
}

// Create implements env.Disk.
func (v *View) Create(name string, done func(err error)) {
	mustDone(done, "Create")
	o := &op{kind: opCreate, name: name, off: -1, done: done}
	checkName(o, name)
	v.issue(o)
}

// Delete implements env.Disk.
func (v *View) Delete(name string, done func(err error)) {
	mustDone(done, "Delete")
	o := &op{kind: opDelete, name: name, off: -1, done: done}
	checkName(o, name)
	v.issue(o)
}

// Rename implements env.Disk.
func (v *View) Rename(from, to string, done func(err error)) {
	mustDone(done, "Rename")
	o := &op{kind: opRename, name: from, to: to, off: -1, done: done}
	checkName(o, from)
	checkName(o, to)
	v.issue(o)
}

// List implements env.Disk. It gives base names, sorted.
func (v *View) List(dir string, done func(names []string, err error)) {
	mustDone(done, "List")
	o := &op{kind: opList, name: dir, off: -1, doneNames: done}
	if why := validDir(dir); why != "" {
		o.invalid = fmt.Sprintf("%q is not a directory path (\"\" is the root): %s", dir, why)
	}
	v.issue(o)
}

// Size implements env.Disk.
func (v *View) Size(name string, done func(size int64, err error)) {
	mustDone(done, "Size")
	o := &op{kind: opSize, name: name, off: -1, doneSize: done}
	checkName(o, name)
	v.issue(o)
}

// WriteAt implements env.Disk. data is copied before it returns.
func (v *View) WriteAt(name string, off int64, data []byte, done func(err error)) {
	mustDone(done, "WriteAt")
	o := &op{kind: opWrite, name: name, off: off, data: append([]byte(nil), data...), done: done}
	checkName(o, name)
	checkRange(o, off, int64(len(data)), "the offset")
	v.issue(o)
}

// Append implements env.Disk. data is copied before it returns.
func (v *View) Append(name string, data []byte, done func(off int64, err error)) {
	mustDone(done, "Append")
	o := &op{kind: opAppend, name: name, off: -1, data: append([]byte(nil), data...), doneOff: done}
	checkName(o, name)
	v.issue(o)
}

// Preallocate implements env.Disk.
func (v *View) Preallocate(name string, size int64, done func(err error)) {
	mustDone(done, "Preallocate")
	o := &op{kind: opPreallocate, name: name, off: -1, n: size, done: done}
	checkName(o, name)
	checkRange(o, 0, size, "the size")
	v.issue(o)
}

// ReadAt implements env.Disk.
func (v *View) ReadAt(name string, off int64, n int, done func(data []byte, err error)) {
	mustDone(done, "ReadAt")
	o := &op{kind: opRead, name: name, off: off, n: int64(n), doneData: done}
	checkName(o, name)
	checkRange(o, off, int64(n), "the offset and length")
	v.issue(o)
}

// Truncate implements env.Disk.
func (v *View) Truncate(name string, size int64, done func(err error)) {
	mustDone(done, "Truncate")
	o := &op{kind: opTruncate, name: name, off: -1, n: size, done: done}
	checkName(o, name)
	checkRange(o, 0, size, "the size")
	v.issue(o)
}

// Sync implements env.Disk.
func (v *View) Sync(name string, done func(err error)) {
	mustDone(done, "Sync")
	o := &op{kind: opSync, name: name, off: -1, done: done}
	checkName(o, name)
	v.issue(o)
}

// SyncDir implements env.Disk.
func (v *View) SyncDir(dir string, done func(err error)) {
	mustDone(done, "SyncDir")
	o := &op{kind: opSyncDir, name: dir, off: -1, done: done}
	if why := validDir(dir); why != "" {
		o.invalid = fmt.Sprintf("%q is not a directory path (\"\" is the root): %s", dir, why)
	}
	v.issue(o)
}

// callbackCost is the CPU a process spends taking a completion: a syscall
// return plus copying the bytes at memory speed (4 GB/s).
func callbackCost(bytes int) time.Duration {
	return 2*time.Microsecond + time.Duration(bytes/4)
}

func (s *Store) opErr(o *op, err error, detail string) error {
	off := o.off
	if err == env.ErrNotExist || err == env.ErrExist {
		off = -1
	}
	return &OpError{Host: s.host, Op: opNames[o.kind], Name: o.name, Off: off, Err: err, Detail: detail}
}

// precheck settles an operation that fails before touching anything: bad
// arguments or an injected fault.
func (s *Store) precheck(o *op) error {
	if o.invalid != "" {
		return s.opErr(o, ErrInvalid, o.invalid)
	}
	if o.fault {
		switch o.kind.faultClass() {
		case faultRead:
			s.stats.ReadFaults++
		case faultWrite:
			s.stats.WriteFaults++
		case faultSync:
			s.stats.SyncFaults++
		}
		return s.opErr(o, env.ErrIO, "injected device fault")
	}
	return nil
}

func (s *Store) noSpace(o *op, extra int64) error {
	s.stats.NoSpace++
	return s.opErr(o, env.ErrNoSpace, fmt.Sprintf("needs %d more bytes; capacity %d, in use %d; delete files or raise the capacity",
		extra*int64(s.cfg.PageSize), s.cfg.Capacity, s.Used()))
}

// lookup finds a current file for o, or says it is missing.
func (s *Store) lookup(o *op, name string) (*inode, error) {
	ino, ok := s.ns.current[name]
	if !ok {
		return nil, s.opErr(o, env.ErrNotExist, "")
	}
	return ino, nil
}

// account charges or refunds the space of resizing a file to size; growth
// past capacity fails and charges nothing.
func (s *Store) account(o *op, ino *inode, size int64) error {
	extra := ino.pagesFor(size) - ino.pagesFor(ino.size)
	if !s.fits(extra) {
		return s.noSpace(o, extra)
	}
	s.usedPages += extra
	return nil
}

// complete applies o's effect, records it and hands its callback over.
func (s *Store) complete(o *op) {
	if o.epoch != s.epoch {
		return // the host crashed after it was issued; counted by Crash
	}
	s.pending--
	now := s.w.Now()
	err := s.precheck(o)
	rec := s.w.Trace.Rec(now, s.host, traceKinds[o.kind]).Str("file", o.name)
	switch o.kind {
	case opCreate:
		s.stats.Creates++
		if err == nil {
			if _, exists := s.ns.current[o.name]; exists {
				err = s.opErr(o, env.ErrExist, "")
			} else {
				s.ns.record(metaOp{n: 1, sets: [2]entry{{o.name, newInode(s.cfg.PageSize)}}})
			}
		}
		rec.Str("err", errCode(err)).End()
		s.deliver(o, err, 0)

	case opDelete:
		s.stats.Deletes++
		var ino *inode
		if err == nil {
			ino, err = s.lookup(o, o.name)
		}
		if err == nil {
			s.usedPages -= ino.pagesFor(ino.size)
			s.ns.record(metaOp{n: 1, sets: [2]entry{{o.name, nil}}})
		}
		rec.Str("err", errCode(err)).End()
		s.deliver(o, err, 0)

	case opRename:
		s.stats.Renames++
		var ino *inode
		if err == nil {
			ino, err = s.lookup(o, o.name)
		}
		if err == nil && o.to != o.name {
			if old, ok := s.ns.current[o.to]; ok {
				s.usedPages -= old.pagesFor(old.size)
			}
			s.ns.record(metaOp{n: 2, sets: [2]entry{{o.name, nil}, {o.to, ino}}})
		}
		rec.Str("to", o.to).Str("err", errCode(err)).End()
		s.deliver(o, err, 0)

	case opList:
		s.stats.Lists++
		var names []string
		if err == nil {
			names = s.ns.list(o.name)
			sort.Strings(names)
		}
		rec.Int("count", int64(len(names))).Str("err", errCode(err)).End()
		o.names = names
		s.deliver(o, err, 16*len(names))

	case opSize:
		s.stats.Sizes++
		var ino *inode
		var size int64
		if err == nil {
			ino, err = s.lookup(o, o.name)
		}
		if err == nil {
			size = ino.size
		}
		rec.Int("size", size).Str("err", errCode(err)).End()
		o.n = size
		s.deliver(o, err, 0)

	case opWrite, opAppend:
		if o.kind == opWrite {
			s.stats.Writes++
		} else {
			s.stats.Appends++
		}
		var ino *inode
		if err == nil {
			ino, err = s.lookup(o, o.name)
		}
		if err == nil && o.kind == opAppend {
			o.off = ino.size
			if o.off > math.MaxInt64-int64(len(o.data)) {
				err = s.opErr(o, ErrInvalid, "the append would overflow a file offset")
			}
		}
		if err == nil && len(o.data) > 0 {
			err = s.account(o, ino, max(ino.size, o.off+int64(len(o.data))))
		}
		if err == nil {
			ino.write(o.off, o.data)
			s.stats.BytesWritten += uint64(len(o.data))
		}
		rec.Int("off", o.off).Bytes("data", o.data).Str("err", errCode(err)).End()
		o.data = nil // written: the callback needs only the offset
		o.n = o.off
		if err != nil {
			o.n = -1
		}
		s.deliver(o, err, 0)

	case opPreallocate, opTruncate:
		if o.kind == opPreallocate {
			s.stats.Preallocates++
		} else {
			s.stats.Truncates++
		}
		var ino *inode
		if err == nil {
			ino, err = s.lookup(o, o.name)
		}
		if err == nil {
			size := o.n
			if o.kind == opPreallocate {
				size = max(size, ino.size)
			}
			if err = s.account(o, ino, size); err == nil {
				ino.resize(size)
			}
		}
		rec.Int("size", o.n).Str("err", errCode(err)).End()
		s.deliver(o, err, 0)

	case opRead:
		s.stats.Reads++
		var ino *inode
		var data []byte
		if err == nil && o.n > env.MaxRead {
			err = s.opErr(o, env.ErrReadTooLarge, fmt.Sprintf("asked for %d bytes, at most %d per read; read in chunks", o.n, env.MaxRead))
		}
		if err == nil {
			ino, err = s.lookup(o, o.name)
		}
		if err == nil && o.n > 0 {
			if o.off >= ino.size {
				err = s.opErr(o, env.ErrShortRead, fmt.Sprintf("the file has %d bytes", ino.size))
			} else {
				data = ino.read(o.off, min(o.n, ino.size-o.off), false)
				s.stats.BytesRead += uint64(len(data))
			}
		}
		if err == nil && data == nil {
			data = []byte{}
		}
		rec.Int("off", o.off).Int("n", o.n).Int("got", int64(len(data))).Str("err", errCode(err)).End()
		o.data = data
		s.deliver(o, err, len(data))

	case opSync:
		s.stats.Syncs++
		var ino *inode
		pages := 0
		if err == nil {
			ino, err = s.lookup(o, o.name)
		}
		if err == nil {
			pages = ino.sync()
		} else if o.fault && o.invalid == "" {
			// The writeback failed: its pages are consumed all the same.
			if ino, ok := s.ns.current[o.name]; ok {
				pages = ino.failSync(s.failedWriteback)
			}
		}
		rec.Int("pages", int64(pages)).Str("err", errCode(err)).End()
		s.deliver(o, err, 0)

	case opSyncDir:
		s.stats.SyncDirs++
		ops := 0
		if err == nil {
			ops = s.ns.syncDir(o.name)
		}
		rec.Int("ops", int64(ops)).Str("err", errCode(err)).End()
		s.deliver(o, err, 0)

	default:
		panic(fmt.Sprintf("disk: unknown operation kind %d", o.kind))
	}
}

// deliver hands a completion with outcome err, which brought the process
// bytes of data, to the issuing process, unless it was killed.
func (s *Store) deliver(o *op, err error, bytes int) {
	if o.v.closed {
		s.stats.DroppedCallbacks++
		return
	}
	o.err = err
	o.v.exec.Exec(callbackCost(bytes), o)
}
