package disk

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/annal-db/annal/core/env"
)

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

func (k opKind) String() string { return opNames[k] }

// isBarrier: operations that touch a directory or two names run alone, in
// issue order with everything else (see the package comment).
func (k opKind) isBarrier() bool { return k == opRename || k == opList || k == opSyncDir }

// op is one issued operation, its result and its callback.
type op struct {
	kind    opKind
	name    string
	to      string
	off     int64 // offset for WriteAt and ReadAt; -1 otherwise
	n       int64 // size or length
	data    []byte
	invalid string // why the arguments are unacceptable
	fence   *fence // set only on barrier markers

	err   error
	resN  int64 // Append's offset, Size's size
	resB  []byte
	names []string

	done      func(error)
	doneOff   func(int64, error)
	doneData  func([]byte, error)
	doneNames func([]string, error)
	doneSize  func(int64, error)
}

// completion is the callback call that runs on the loop.
func (o *op) completion() func() {
	switch {
	case o.done != nil:
		return func() { o.done(o.err) }
	case o.doneOff != nil:
		off := o.resN
		if o.err != nil {
			off = -1
		}
		return func() { o.doneOff(off, o.err) }
	case o.doneData != nil:
		return func() { o.doneData(o.resB, o.err) }
	case o.doneNames != nil:
		return func() { o.doneNames(o.names, o.err) }
	case o.doneSize != nil:
		return func() { o.doneSize(o.resN, o.err) }
	}
	panic("disk: operation without a callback")
}

func mustDone(f any, method string) {
	if f == nil {
		panic("disk: " + method + " needs a completion callback; got nil")
	}
}

func (o *op) checkName(name string) {
	if why := validName(name); why != "" && o.invalid == "" {
		o.invalid = invalidNameDetail(name, why)
	}
}

func (o *op) checkDir(dir string) {
	if why := validDir(dir); why != "" && o.invalid == "" {
		o.invalid = invalidNameDetail(dir, why) + " (\"\" is the root)"
	}
}

func (o *op) checkRange(off, n int64, what string) {
	if o.invalid != "" {
		return
	}
	if off < 0 || n < 0 {
		o.invalid = what + " must not be negative"
	} else if off > math.MaxInt64-n {
		o.invalid = what + " overflows a file offset"
	}
}

// Create implements env.Disk.
func (d *Disk) Create(name string, done func(err error)) {
	mustDone(done, "Create")
	o := &op{kind: opCreate, name: name, off: -1, done: done}
	o.checkName(name)
	d.issue(o)
}

// Delete implements env.Disk.
func (d *Disk) Delete(name string, done func(err error)) {
	mustDone(done, "Delete")
	o := &op{kind: opDelete, name: name, off: -1, done: done}
	o.checkName(name)
	d.issue(o)
}

// Rename implements env.Disk: an atomic rename(2), replacing any file at to.
func (d *Disk) Rename(from, to string, done func(err error)) {
	mustDone(done, "Rename")
	o := &op{kind: opRename, name: from, to: to, off: -1, done: done}
	o.checkName(from)
	o.checkName(to)
	d.issue(o)
}

// List implements env.Disk: the regular files directly inside dir, sorted.
func (d *Disk) List(dir string, done func(names []string, err error)) {
	mustDone(done, "List")
	o := &op{kind: opList, name: dir, off: -1, doneNames: done}
	o.checkDir(dir)
	d.issue(o)
}

// Size implements env.Disk.
func (d *Disk) Size(name string, done func(size int64, err error)) {
	mustDone(done, "Size")
	o := &op{kind: opSize, name: name, off: -1, doneSize: done}
	o.checkName(name)
	d.issue(o)
}

// WriteAt implements env.Disk. data is copied before it returns.
func (d *Disk) WriteAt(name string, off int64, data []byte, done func(err error)) {
	mustDone(done, "WriteAt")
	o := &op{kind: opWrite, name: name, off: off, data: append([]byte(nil), data...), done: done}
	o.checkName(name)
	o.checkRange(off, int64(len(data)), "the offset")
	d.issue(o)
}

// Append implements env.Disk: data goes at the file's end as this disk
// tracks it (its size when first opened, then every write, truncation and
// preallocation through this disk). data is copied before it returns.
func (d *Disk) Append(name string, data []byte, done func(off int64, err error)) {
	mustDone(done, "Append")
	o := &op{kind: opAppend, name: name, off: -1, data: append([]byte(nil), data...), doneOff: done}
	o.checkName(name)
	d.issue(o)
}

// Preallocate implements env.Disk with fallocate(2) on Linux: blocks are
// reserved and the file is extended to at least size (never shrunk).
func (d *Disk) Preallocate(name string, size int64, done func(err error)) {
	mustDone(done, "Preallocate")
	o := &op{kind: opPreallocate, name: name, off: -1, n: size, done: done}
	o.checkName(name)
	o.checkRange(0, size, "the size")
	d.issue(o)
}

// ReadAt implements env.Disk.
func (d *Disk) ReadAt(name string, off int64, n int, done func(data []byte, err error)) {
	mustDone(done, "ReadAt")
	o := &op{kind: opRead, name: name, off: off, n: int64(n), doneData: done}
	o.checkName(name)
	o.checkRange(off, int64(n), "the offset and length")
	d.issue(o)
}

// Truncate implements env.Disk.
func (d *Disk) Truncate(name string, size int64, done func(err error)) {
	mustDone(done, "Truncate")
	o := &op{kind: opTruncate, name: name, off: -1, n: size, done: done}
	o.checkName(name)
	o.checkRange(0, size, "the size")
	d.issue(o)
}

// Sync implements env.Disk with fdatasync(2), shared by concurrent Syncs of
// the same file (group commit).
func (d *Disk) Sync(name string, done func(err error)) {
	mustDone(done, "Sync")
	o := &op{kind: opSync, name: name, off: -1, done: done}
	o.checkName(name)
	d.issue(o)
}

// SyncDir implements env.Disk by fsyncing the directory.
func (d *Disk) SyncDir(dir string, done func(err error)) {
	mustDone(done, "SyncDir")
	o := &op{kind: opSyncDir, name: dir, off: -1, done: done}
	o.checkDir(dir)
	d.issue(o)
}

// fail records o's error: cause is the OS error (nil for a refusal).
func (d *Disk) fail(o *op, kind, cause error, detail string) {
	off := o.off
	if kind == env.ErrNotExist || kind == env.ErrExist || kind == ErrInvalid {
		off = -1
	}
	path := ""
	if o.invalid == "" {
		path = d.hostPath(o.name)
	}
	o.err = &OpError{Op: o.kind.String(), Name: o.name, Path: path, Off: off, Err: kind, Cause: cause, Detail: detail}
}

// failOS records an OS error under its env class.
func (d *Disk) failOS(o *op, err error) { d.fail(o, classify(err), err, "") }

// exec runs one operation other than a valid Sync, on a worker.
func (d *Disk) exec(o *op) {
	if o.invalid != "" {
		d.fail(o, ErrInvalid, nil, o.invalid)
		return
	}
	switch o.kind {
	case opCreate:
		d.create(o)
	case opDelete:
		d.delete(o)
	case opRename:
		d.rename(o)
	case opList:
		d.list(o)
	case opSyncDir:
		d.syncDir(o)
	case opRead:
		if o.n > env.MaxRead {
			d.fail(o, env.ErrReadTooLarge, nil, fmt.Sprintf("asked for %d bytes, at most %d per read; read in chunks", o.n, env.MaxRead))
			return
		}
		d.withFile(o, d.read)
	case opSize:
		d.withFile(o, func(o *op, h *handle) error {
			fi, err := h.f.Stat()
			if err != nil {
				return err
			}
			o.resN = fi.Size()
			return nil
		})
	case opWrite:
		d.withFile(o, func(o *op, h *handle) error {
			_, err := h.f.WriteAt(o.data, o.off)
			if err == nil {
				h.end = max(h.end, o.off+int64(len(o.data)))
			}
			return err
		})
	case opAppend:
		d.withFile(o, func(o *op, h *handle) error {
			if h.end > math.MaxInt64-int64(len(o.data)) {
				return errors.New("the append would overflow a file offset")
			}
			o.off = h.end
			if _, err := h.f.WriteAt(o.data, h.end); err != nil {
				return err
			}
			o.resN = h.end
			h.end += int64(len(o.data))
			return nil
		})
	case opPreallocate:
		d.withFile(o, func(o *op, h *handle) error {
			if o.n == 0 {
				return nil
			}
			if err := allocate(h.f, o.n); err != nil {
				return err
			}
			h.end = max(h.end, o.n)
			return nil
		})
	case opTruncate:
		d.withFile(o, func(o *op, h *handle) error {
			if err := h.f.Truncate(o.n); err != nil {
				return err
			}
			h.end = o.n
			return nil
		})
	default:
		panic("disk: exec of " + o.kind.String())
	}
}

// withFile runs f on o's open file and records its error. After a failed
// write the tracked end is re-read, since a partial write may have moved it.
func (d *Disk) withFile(o *op, f func(*op, *handle) error) {
	h, err := d.files.acquire(o.name, d.hostPath(o.name))
	if err != nil {
		d.failOS(o, err)
		return
	}
	defer d.files.release(h)
	if err := f(o, h); err != nil {
		if fi, serr := h.f.Stat(); serr == nil {
			h.end = fi.Size()
		}
		d.failOS(o, err)
	}
}

func (d *Disk) read(o *op, h *handle) error {
	if o.n == 0 {
		o.resB = []byte{}
		return nil
	}
	buf := make([]byte, o.n)
	got, err := h.f.ReadAt(buf, o.off)
	if err != nil && err != io.EOF {
		return err
	}
	if got == 0 {
		size := "?"
		if fi, err := h.f.Stat(); err == nil {
			size = strconv.FormatInt(fi.Size(), 10)
		}
		d.fail(o, env.ErrShortRead, nil, "the file has "+size+" bytes")
		return nil
	}
	o.resB = buf[:got:got]
	return nil
}

func (d *Disk) create(o *op) {
	if err := d.makeParents(o.name); err != nil {
		d.failOS(o, err)
		return
	}
	path := d.hostPath(o.name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		d.failOS(o, err)
		return
	}
	d.unpoison(o.name)
	// A handle left from a file removed behind our back must not shadow it.
	_ = d.files.drop(o.name)
	d.files.release(d.files.insert(o.name, f, 0))
}

func (d *Disk) delete(o *op) {
	path := d.hostPath(o.name)
	if err := d.files.drop(o.name); err != nil {
		d.failOS(o, err)
		return
	}
	if err := d.checkRegular(o, path); err != nil {
		return
	}
	if err := os.Remove(path); err != nil {
		d.failOS(o, err)
		return
	}
	d.unpoison(o.name)
}

// checkRegular fails o unless path is a regular file: directories are
// implicit and never named as files.
func (d *Disk) checkRegular(o *op, path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		d.failOS(o, err)
		return err
	}
	if !fi.Mode().IsRegular() {
		err := &os.PathError{Op: "lstat", Path: path, Err: errNotRegular}
		d.fail(o, env.ErrNotExist, err, "only regular files can be named")
		return err
	}
	return nil
}

func (d *Disk) rename(o *op) {
	from, to := d.hostPath(o.name), d.hostPath(o.to)
	if err := d.checkRegular(o, from); err != nil {
		return
	}
	if o.name == o.to {
		return
	}
	if err := d.makeParents(o.to); err != nil {
		d.failOS(o, err)
		return
	}
	// Both handles go: the files will be reopened under their new names.
	if err := errors.Join(d.files.drop(o.name), d.files.drop(o.to)); err != nil {
		d.failOS(o, err)
		return
	}
	if err := os.Rename(from, to); err != nil {
		d.failOS(o, err)
		return
	}
	d.mu.Lock()
	if p, ok := d.poisoned[o.name]; ok {
		d.poisoned[o.to] = p
	} else {
		delete(d.poisoned, o.to)
	}
	delete(d.poisoned, o.name)
	d.mu.Unlock()
}

func (d *Disk) list(o *op) {
	entries, err := os.ReadDir(d.hostPath(o.name))
	if errors.Is(err, os.ErrNotExist) {
		o.names = []string{}
		return
	}
	if err != nil {
		d.failOS(o, err)
		return
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries { // ReadDir sorts by name
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	o.names = names
}

func (d *Disk) syncDir(o *op) {
	err := d.fsyncDir(d.hostPath(o.name))
	if errors.Is(err, os.ErrNotExist) {
		return // never created: nothing in it to make durable
	}
	if err != nil {
		d.failOS(o, err)
	}
}

func (d *Disk) fsyncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	d.dirSyncs.Add(1)
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// makeParents creates the missing directories above name and fsyncs the
// directory that gained each, so the path to a file is durable once its
// own directory is synced.
func (d *Disk) makeParents(name string) error {
	dir := parent(name)
	if dir == "" {
		return nil
	}
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		sub := dir[:i]
		err := os.Mkdir(d.hostPath(sub), 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := d.fsyncDir(d.hostPath(parent(sub))); err != nil {
			return err
		}
	}
	return nil
}

// execSync answers a batch of Syncs of one file with one fdatasync.
func (d *Disk) execSync(batch []*op) {
	o := batch[0]
	d.syncRequests.Add(uint64(len(batch)))
	d.mu.Lock()
	poison := d.poisoned[o.name]
	d.mu.Unlock()
	if poison != nil {
		for _, b := range batch {
			d.fail(b, env.ErrIO, poison, "an earlier sync of this file failed, so its contents are unknown; the node must stop trusting it")
		}
		return
	}
	h, err := d.files.acquire(o.name, d.hostPath(o.name))
	if err == nil {
		d.fsyncs.Add(1)
		err = d.syncFile(h.f)
		d.files.release(h)
		if err != nil {
			d.mu.Lock()
			d.poisoned[o.name] = err
			d.mu.Unlock()
		}
	}
	if err != nil {
		for _, b := range batch {
			d.failOS(b, err)
		}
	}
}

func (d *Disk) unpoison(name string) {
	d.mu.Lock()
	delete(d.poisoned, name)
	d.mu.Unlock()
}

// extend grows f to size if it is shorter; the new bytes read as zeros.
func extend(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}
