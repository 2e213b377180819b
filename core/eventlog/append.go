package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/annal-db/annal/core/env"
)

// extent is bytes placed in the log and not yet written to disk. It never
// spans two segments.
type extent struct {
	pos  int64
	data []byte
}

// ack is an append waiting for everything before end to be durable.
type ack struct {
	end  int64
	done func(error)
}

// writable reports why the log cannot take a write now.
func (l *Log) writable(op string) error {
	if l.failed != nil {
		return l.failed
	}
	if l.truncating {
		return fmt.Errorf("eventlog: %s: %w: a truncation is in flight; wait for it to complete", op, ErrBusy)
	}
	return nil
}

// fits reports whether a record of size bytes may start with rem bytes
// left in its segment. It must leave either nothing or room for padding,
// so that every segment is tiled by records exactly and a backward read
// always finds a record ending at a segment's end.
func fits(size, rem int64) bool { return size == rem || size+MinRecordSize <= rem }

// Append assigns the records consecutive positions at the end of the log
// (setting each one's Position and Size), writes them, and calls done once
// they are durable: data synced, then writer.chk synced. Appends made
// while a flush is in flight share the next one, so concurrent appends
// share syncs (group commit). Acknowledgements come in position order.
//
// Append returns an error at once, and never calls done, when the records
// cannot be appended: too large, invalid, the backlog full, or the log
// failed. If done gets an error the records are not in the log (a full
// disk leaves it usable; a failed sync fails it for good).
func (l *Log) Append(recs []Record, done func(error)) error {
	if err := l.writable("append"); err != nil {
		return err
	}
	if done == nil {
		return errors.New("eventlog: Append needs a completion callback; got nil")
	}
	if len(recs) == 0 {
		return errors.New("eventlog: append of no records; pass at least one")
	}
	// Encode everything before changing anything, so a bad record leaves
	// the log as it was.
	var buf []byte
	sizes := make([]int, len(recs))
	for i := range recs {
		if recs[i].Kind == KindPadding {
			return fmt.Errorf("eventlog: record %d of the append is padding; padding is the log's own, append events and epochs", i)
		}
		before := len(buf)
		var err error
		if buf, err = Encode(buf, recs[i]); err != nil {
			return fmt.Errorf("eventlog: record %d of the append: %w", i, err)
		}
		sizes[i] = len(buf) - before
		if sizes[i] > l.maxRecord {
			return fmt.Errorf("eventlog: record %d of the append: %w", i,
				tooLarge(&recs[i], sizes[i], l.maxRecord, fmt.Sprintf(" (segments of this log hold %d bytes)", l.cfg.SegmentSize)))
		}
	}
	// Padding costs only its 13 framing bytes in memory.
	if l.pendingBytes+int64(len(buf)) > l.cfg.MaxPendingBytes {
		return fmt.Errorf("eventlog: append of %d bytes: %w: %d bytes already wait for the disk (limit %d); retry when earlier appends complete",
			len(buf), ErrBacklog, l.pendingBytes, l.cfg.MaxPendingBytes)
	}
	off := 0
	for i := range recs {
		b := buf[off : off+sizes[i]]
		off += sizes[i]
		p := l.place(int64(len(b)))
		seal(b, p)
		recs[i].Position, recs[i].Size = p, len(b)
		l.addExtent(p, b)
	}
	l.stats.Records += uint64(len(recs))
	l.queue(done)
	return nil
}

// AppendRaw writes records framed by another log (the leader's) at
// exactly the positions they were sealed for; raw must start at position,
// the end of this log, and hold whole records. If position is the start
// of the segment after the end's, the rest of the current segment is
// padded first, as the leader did. Every record's lengths, checksum
// (which covers its position) and contents are verified before anything
// is written; one bad record rejects them all. done runs as for Append.
func (l *Log) AppendRaw(position int64, raw []byte, done func(error)) error {
	if err := l.writable("raw append"); err != nil {
		return err
	}
	if done == nil {
		return errors.New("eventlog: AppendRaw needs a completion callback; got nil")
	}
	if len(raw) == 0 {
		return errors.New("eventlog: raw append of no bytes; pass at least one record")
	}
	pad := false
	if position != l.end {
		if l.end%l.cfg.SegmentSize == 0 || position != l.segmentEnd(l.end) {
			return fmt.Errorf("eventlog: raw append at position %d: %w: this log ends at %d; a replica writes the leader's records at the leader's positions, so truncate to or continue from %d",
				position, ErrPosition, l.end, l.end)
		}
		if rem := l.segmentEnd(l.end) - l.end; rem > maxPaddingSize {
			return fmt.Errorf("eventlog: raw append at position %d: %w: skipping the %d bytes left in this log's segment would need padding longer than any log writes (%d); the sender does not lay out segments as this log does",
				position, ErrPosition, rem, maxPaddingSize)
		}
		pad = true
	}
	if l.pendingBytes+int64(len(raw)) > l.cfg.MaxPendingBytes {
		return fmt.Errorf("eventlog: raw append of %d bytes: %w: %d bytes already wait for the disk (limit %d); retry when earlier appends complete",
			len(raw), ErrBacklog, l.pendingBytes, l.cfg.MaxPendingBytes)
	}
	records := 0
	for p, off := position, 0; off < len(raw); {
		rem := l.segmentEnd(p) - p
		left := len(raw) - off
		if left < 4 {
			return fmt.Errorf("eventlog: raw append at position %d: %w: the %d bytes at position %d are not a whole record", position, ErrBadRecord, left, p)
		}
		n, err := recordLen(raw[off:], p, rem)
		if err != nil {
			return fmt.Errorf("eventlog: raw append at position %d: %w", position, err)
		}
		if n > left {
			return fmt.Errorf("eventlog: raw append at position %d: %w: the record at position %d has %d bytes, only %d are given", position, ErrBadRecord, p, n, left)
		}
		rec, err := checkExact(raw[off:off+n], p)
		if err != nil {
			return fmt.Errorf("eventlog: raw append at position %d: %w", position, err)
		}
		if !fits(int64(n), rem) {
			return fmt.Errorf("eventlog: raw append at position %d: %w: the %d-byte record at position %d leaves %d bytes at the end of its segment, too few for padding; the sender does not lay out segments as this log does",
				position, ErrBadRecord, n, p, rem-int64(n))
		}
		if rec.Kind != KindPadding {
			records++
		}
		off += n
		p += int64(n)
	}
	if pad {
		l.pad()
	}
	// One copy per run of records inside one segment, which is one
	// extent: addExtent would join the records of a run anyway.
	runPos, runOff := position, 0
	for p, off := position, 0; off < len(raw); {
		n := int(binary.LittleEndian.Uint32(raw[off:]))
		off += n
		p += int64(n)
		if off == len(raw) || p%l.cfg.SegmentSize == 0 {
			l.addExtent(runPos, append([]byte(nil), raw[runOff:off]...))
			runPos, runOff = p, off
		}
	}
	l.end = position + int64(len(raw))
	l.stats.Records += uint64(records)
	l.queue(done)
	return nil
}

// place returns where a record of size bytes goes, padding the rest of the
// current segment if it does not fit there, and moves the end past it.
func (l *Log) place(size int64) int64 {
	if !fits(size, l.segmentEnd(l.end)-l.end) {
		l.pad()
	}
	p := l.end
	l.end = p + size
	return p
}

// pad fills the rest of the current segment with a padding record. Only
// its prefix and trailer are written: the filler between is never read.
func (l *Log) pad() {
	p := l.end
	rem := l.segmentEnd(p) - p
	head, tail := paddingFrame(p, int(rem))
	l.addExtent(p, head)
	l.addExtent(p+rem-trailerSize, tail)
	l.end = p + rem
}

// addExtent queues data for position p, joining the previous extent when
// it continues it in the same segment.
func (l *Log) addExtent(p int64, data []byte) {
	l.pendingBytes += int64(len(data))
	l.stats.Bytes += uint64(len(data))
	if n := len(l.pending); n > 0 {
		last := &l.pending[n-1]
		if last.pos+int64(len(last.data)) == p && p%l.cfg.SegmentSize != 0 {
			last.data = append(last.data, data...)
			return
		}
	}
	// Clip the capacity: data may share an array with bytes placed later,
	// which appending to this extent must not overwrite.
	l.pending = append(l.pending, extent{pos: p, data: data[:len(data):len(data)]})
}

func (l *Log) queue(done func(error)) {
	l.stats.Appends++
	l.pendingAcks = append(l.pendingAcks, ack{end: l.end, done: done})
	l.kick()
}

// kick starts a flush of what is pending unless one is in flight or
// completions are running (whose appends then share one flush).
func (l *Log) kick() {
	if l.flushing || l.acking || l.failed != nil || len(l.pendingAcks) == 0 {
		return
	}
	(&flush{l: l}).start()
}

// flush is one group commit: create any new segments, write the placed
// bytes, sync the segment files (and the directory when segments were
// created), then make the new end durable in writer.chk.
type flush struct {
	l        *Log
	extents  []extent
	acks     []ack
	from     int64 // the durable end it starts from
	end      int64
	bytes    int64
	firstSeg int64 // segment of the first byte written
	lastSeg  int64 // segment of the last byte written
	created  bool

	// The step in progress (writes, then syncs): completions still to
	// come and the first failure.
	left  int
	first error
}

func (fl *flush) start() {
	l := fl.l
	fl.extents, fl.acks, fl.from, fl.end = l.pending, l.pendingAcks, l.durable, l.end
	for _, e := range fl.extents {
		fl.bytes += int64(len(e.data))
	}
	l.pending, l.pendingAcks = nil, nil
	l.flushing = true
	l.stats.Flushes++
	fl.firstSeg = fl.extents[0].pos / l.cfg.SegmentSize
	fl.lastSeg = (fl.end - 1) / l.cfg.SegmentSize
	fl.createSegment(l.segsReady)
}

// createSegment makes segment n and those after it up to the last one the
// flush writes: create (an existing file, left by a failed attempt, is
// reused), preallocate, write the header. The flush's sync makes them
// durable.
func (fl *flush) createSegment(n int64) {
	l := fl.l
	if n > fl.lastSeg {
		fl.write()
		return
	}
	fl.created = true
	name := l.segment(n)
	l.disk.Create(name, func(err error) {
		if err != nil && !errors.Is(err, env.ErrExist) {
			fl.fail(fmt.Errorf("creating segment %s: %w", name, err), false)
			return
		}
		l.disk.Preallocate(name, headerSize+l.cfg.SegmentSize, func(err error) {
			if err != nil {
				fl.fail(fmt.Errorf("preallocating %d bytes for segment %s: %w", headerSize+l.cfg.SegmentSize, name, err), false)
				return
			}
			l.disk.WriteAt(name, 0, encodeHeader(n, l.cfg.SegmentSize), func(err error) {
				if err != nil {
					fl.fail(fmt.Errorf("writing the header of segment %s: %w", name, err), !errors.Is(err, env.ErrNoSpace))
					return
				}
				l.stats.SegmentsCreated++
				fl.createSegment(n + 1)
			})
		})
	})
}

// write issues every extent's write at once; the syncs wait for them all.
func (fl *flush) write() {
	l := fl.l
	fl.left, fl.first = len(fl.extents), nil
	for _, e := range fl.extents {
		name, off := l.fileOf(e.pos)
		l.disk.WriteAt(name, off, e.data, func(err error) {
			if err != nil && fl.first == nil {
				fl.first = fmt.Errorf("writing %d bytes at log position %d: %w", len(e.data), e.pos, err)
			}
			if fl.left--; fl.left > 0 {
				return
			}
			if fl.first != nil {
				fl.fail(fl.first, !errors.Is(fl.first, env.ErrNoSpace))
				return
			}
			fl.sync()
		})
	}
}

// sync makes every written segment durable, then the directory if the
// flush created segments: only then may writer.chk point into them.
func (fl *flush) sync() {
	l := fl.l
	fl.left, fl.first = int(fl.lastSeg-fl.firstSeg+1), nil
	for n := fl.firstSeg; n <= fl.lastSeg; n++ {
		name := l.segment(n)
		l.stats.DataSyncs++
		l.disk.Sync(name, func(err error) {
			if err != nil && fl.first == nil {
				fl.first = fmt.Errorf("syncing segment %s: %w", name, err)
			}
			if fl.left--; fl.left > 0 {
				return
			}
			if fl.first != nil {
				fl.fail(fl.first, true)
				return
			}
			if !fl.created {
				fl.checkpoint()
				return
			}
			l.stats.DirSyncs++
			l.disk.SyncDir(l.cfg.Dir, func(err error) {
				if err != nil {
					fl.fail(fmt.Errorf("syncing directory %s after creating segments: %w", l.cfg.Dir, err), true)
					return
				}
				fl.checkpoint()
			})
		})
	}
}

func (fl *flush) checkpoint() {
	l := fl.l
	l.stats.CheckpointSyncs++
	l.chk.Write(binary.LittleEndian.AppendUint64(nil, uint64(fl.end)), func(err error) {
		if err != nil {
			fl.fail(fmt.Errorf("making the durable end %d durable: %w", fl.end, err), true)
			return
		}
		l.durable = fl.end
		l.noSpace = false
		l.segsReady = max(l.segsReady, fl.lastSeg+1)
		l.pendingBytes -= fl.bytes
		l.flushing = false
		l.settle(fl.acks, nil)
	})
}

// fail ends the flush. A fatal failure (a write or sync whose effect is
// unknown) fails the log; any other (a full disk) leaves it as it was at
// the durable end. Either way the flush's appends and every append placed
// after them fail: their positions depended on the ones before.
func (fl *flush) fail(cause error, fatal bool) {
	l := fl.l
	var err error
	if fatal {
		err = fmt.Errorf("eventlog: %w: %w; the log refuses all writes, restart to recover from what is durable (up to position %d)", ErrFailed, cause, l.durable)
		l.failed = err
	} else {
		l.noSpace = true // the one failure that is not fatal
		err = fmt.Errorf("eventlog: append at log positions [%d, %d) failed: %w; nothing past %d was made durable, the log is unchanged and a later append may succeed",
			fl.from, l.end, cause, l.durable)
	}
	acks := append(fl.acks, l.pendingAcks...)
	l.pending, l.pendingAcks = nil, nil
	l.pendingBytes = 0
	l.end = l.durable
	l.flushing = false
	l.settle(acks, err)
}

// settle runs completions in order. Appends they make wait until all have
// run, then share one flush.
func (l *Log) settle(acks []ack, err error) {
	l.acking = true
	for _, a := range acks {
		a.done(err)
	}
	l.acking = false
	l.kick()
}
