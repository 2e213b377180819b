// Package checkpoint keeps small values (a proposal number, the last epoch,
// a log position) durable across crashes. Each file holds two slots of one
// sector each, written alternately with a sequence number and a CRC-32C: a
// write torn or zeroed by a crash damages only the slot being written, and
// loading falls back to the other, which still holds the previous durable
// value. A value is reported durable only after its sync completes, so
// falling back never loses anything that was acknowledged.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/annal-db/annal/core/env"
)

const (
	slotSize = 512
	// MaxValue is the largest value a checkpoint holds.
	MaxValue = slotSize - headerSize - 4
	magic    = 0x4b43_4e41 // "ANCK" little-endian
	version  = 1
	// magic(4) version(1) seq(8) len(2)
	headerSize = 4 + 1 + 8 + 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt means neither slot of an existing, non-empty checkpoint file
// is valid: the file was damaged after it was durable.
var ErrCorrupt = errors.New("checkpoint corrupt")

// File is one checkpoint.
type File struct {
	disk  env.Disk
	name  string
	seq   uint64
	value []byte

	created bool // Open made the file: it did not exist

	writing bool
	pending []byte // latest value waiting for the write in flight
	waiters []func(error)
	next    []func(error)
	failed  error
}

// Open loads a checkpoint, creating it empty (and making its creation
// durable) if it does not exist.
func Open(disk env.Disk, name string, done func(f *File, err error)) {
	f := &File{disk: disk, name: name}
	disk.ReadAt(name, 0, 2*slotSize, func(data []byte, err error) {
		switch {
		case errors.Is(err, env.ErrNotExist):
			f.create(done)
		case errors.Is(err, env.ErrShortRead):
			// Exists, never written: its reservation may not have
			// survived a crash.
			f.reserve(done)
		case err != nil:
			done(nil, fmt.Errorf("checkpoint %s: read: %w", name, err))
		default:
			if err := f.load(data); err != nil {
				done(nil, err)
				return
			}
			f.confirm(done)
		}
	})
}

func (f *File) create(done func(*File, error)) {
	f.disk.Create(f.name, func(err error) {
		if err != nil && !errors.Is(err, env.ErrExist) {
			done(nil, fmt.Errorf("checkpoint %s: create: %w", f.name, err))
			return
		}
		f.disk.SyncDir(dirOf(f.name), func(err error) {
			if err != nil {
				done(nil, fmt.Errorf("checkpoint %s: sync directory: %w", f.name, err))
				return
			}
			f.created = true
			f.reserve(done)
		})
	})
}

// confirm writes the value just loaded again, into the other slot, before
// anyone acts on it. A value read back is not necessarily durable: when an
// earlier process's sync of it failed, the kernel may have marked its page
// clean without writing it, so that reads still return it and a later sync
// writes nothing, until a power loss takes it back. Only a new write makes
// it durable.
func (f *File) confirm(done func(*File, error)) {
	if f.value == nil {
		done(f, nil)
		return
	}
	f.Write(f.value, func(err error) {
		if err != nil {
			done(nil, fmt.Errorf("checkpoint %s: writing back the value read: %w", f.name, err))
			return
		}
		done(f, nil)
	})
}

// reserve allocates both slots before the first write: a node whose disk
// fills later must still be able to write its checkpoints (a failed
// checkpoint write stops it), so a checkpoint never grows once open. With
// no room even for that, opening fails, and the node does not start.
func (f *File) reserve(done func(*File, error)) {
	f.disk.Preallocate(f.name, 2*slotSize, func(err error) {
		if err != nil {
			done(nil, fmt.Errorf("checkpoint %s: reserving %d bytes: %w", f.name, 2*slotSize, err))
			return
		}
		done(f, nil)
	})
}

func dirOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i]
		}
	}
	return ""
}

func (f *File) load(data []byte) error {
	best, found := -1, false
	var bestSeq uint64
	allZero := true
	for _, b := range data {
		if b != 0 {
			allZero = false
			break
		}
	}
	for slot := 0; slot < 2; slot++ {
		lo := slot * slotSize
		if lo+slotSize > len(data) {
			break
		}
		seq, _, ok := decodeSlot(data[lo : lo+slotSize])
		if ok && (!found || seq > bestSeq) {
			best, bestSeq, found = slot, seq, true
		}
	}
	if !found {
		if allZero {
			return nil
		}
		return fmt.Errorf("checkpoint %s: %w: neither slot has a valid checksum", f.name, ErrCorrupt)
	}
	lo := best * slotSize
	_, v, _ := decodeSlot(data[lo : lo+slotSize])
	f.seq, f.value = bestSeq, v
	return nil
}

func decodeSlot(b []byte) (seq uint64, value []byte, ok bool) {
	if binary.LittleEndian.Uint32(b) != magic || b[4] != version {
		return 0, nil, false
	}
	seq = binary.LittleEndian.Uint64(b[5:])
	n := int(binary.LittleEndian.Uint16(b[13:]))
	if n > MaxValue {
		return 0, nil, false
	}
	end := headerSize + n
	if binary.LittleEndian.Uint32(b[end:]) != crc32.Checksum(b[:end], castagnoli) {
		return 0, nil, false
	}
	return seq, append([]byte(nil), b[headerSize:end]...), true
}

// Created reports whether Open made the file because it did not exist.
func (f *File) Created() bool { return f.created }

// Value is the last durable value (nil if never written).
func (f *File) Value() []byte { return f.value }

// Write makes v the checkpoint's value; done runs once it is durable. Writes
// issued while one is in flight are coalesced: only the latest is written,
// and all their callbacks run when it is durable.
func (f *File) Write(v []byte, done func(error)) {
	if len(v) > MaxValue {
		done(fmt.Errorf("checkpoint %s: value of %d bytes exceeds %d", f.name, len(v), MaxValue))
		return
	}
	if f.failed != nil {
		done(f.failed)
		return
	}
	if f.writing {
		f.pending = append(f.pending[:0], v...)
		if f.pending == nil {
			f.pending = []byte{}
		}
		f.next = append(f.next, done)
		return
	}
	f.start(append([]byte(nil), v...), []func(error){done})
}

func (f *File) start(v []byte, waiters []func(error)) {
	f.writing = true
	f.waiters = waiters
	seq := f.seq + 1
	slot := make([]byte, slotSize)
	binary.LittleEndian.PutUint32(slot, magic)
	slot[4] = version
	binary.LittleEndian.PutUint64(slot[5:], seq)
	binary.LittleEndian.PutUint16(slot[13:], uint16(len(v)))
	copy(slot[headerSize:], v)
	end := headerSize + len(v)
	binary.LittleEndian.PutUint32(slot[end:], crc32.Checksum(slot[:end], castagnoli))
	off := int64(seq%2) * slotSize
	f.disk.WriteAt(f.name, off, slot, func(err error) {
		if err != nil {
			f.finish(fmt.Errorf("checkpoint %s: write: %w", f.name, err))
			return
		}
		f.disk.Sync(f.name, func(err error) {
			if err != nil {
				f.finish(fmt.Errorf("checkpoint %s: sync: %w", f.name, err))
				return
			}
			f.seq, f.value = seq, v
			f.finish(nil)
		})
	})
}

func (f *File) finish(err error) {
	if err != nil {
		// A failed write or sync leaves the file's state unknown: refuse
		// every later write rather than guess.
		f.failed = err
	}
	waiters := f.waiters
	f.waiters = nil
	f.writing = false
	if f.next != nil && err == nil {
		v, next := f.pending, f.next
		f.pending, f.next = nil, nil
		f.start(v, next)
	} else if err != nil {
		waiters = append(waiters, f.next...)
		f.next, f.pending = nil, nil
	}
	for _, w := range waiters {
		w(err)
	}
}
