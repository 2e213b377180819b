package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/annal-db/annal/core/checkpoint"
	"github.com/annal-db/annal/core/env"
)

// Limits and defaults of Config.
const (
	DefaultDir             = "log"
	DefaultSegmentSize     = 256 << 20 // EventStoreDB's chunk size
	MinSegmentSize         = 4 << 10
	MaxSegmentSize         = 1 << 40
	DefaultMaxPendingBytes = 64 << 20
)

// writerCheckpoint is the file, inside Config.Dir, holding the durable end.
const writerCheckpoint = "writer.chk"

// Config describes a log. The zero value takes every default.
type Config struct {
	// Dir is the directory of the segments and writer.chk ("log").
	Dir string
	// SegmentSize is the data bytes of one segment (256 MiB). It cannot
	// change once the log exists.
	SegmentSize int64
	// MaxPendingBytes bounds the bytes of appends not yet durable (64 MiB).
	MaxPendingBytes int64
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.SegmentSize < MinSegmentSize || c.SegmentSize > MaxSegmentSize {
		return c, fmt.Errorf("eventlog: SegmentSize %d is out of range; use %d to %d bytes (0 means the default, %d)",
			c.SegmentSize, MinSegmentSize, int64(MaxSegmentSize), DefaultSegmentSize)
	}
	if c.MaxPendingBytes < 0 {
		return c, fmt.Errorf("eventlog: MaxPendingBytes %d is negative; use a positive bound (0 means the default, %d)", c.MaxPendingBytes, DefaultMaxPendingBytes)
	}
	if c.Dir[0] == '/' || c.Dir[len(c.Dir)-1] == '/' {
		return c, fmt.Errorf("eventlog: Dir %q must be a relative directory name without a trailing slash, such as %q", c.Dir, DefaultDir)
	}
	return c, nil
}

// Stats counts what a log did since Open.
type Stats struct {
	Appends         uint64 // Append and AppendRaw calls accepted
	Records         uint64 // records appended, padding excluded
	Bytes           uint64 // bytes appended, padding included
	Flushes         uint64 // group commits started
	DataSyncs       uint64 // syncs of segment files
	CheckpointSyncs uint64 // durable writes of writer.chk
	DirSyncs        uint64 // syncs of the log directory
	SegmentsCreated uint64
	Truncations     uint64
}

// Syncs is every sync the log asked of the disk.
func (s Stats) Syncs() uint64 { return s.DataSyncs + s.CheckpointSyncs + s.DirSyncs }

// Log is one node's event log: an append-only sequence of records in
// fixed-size segment files, durable up to the position in writer.chk. All
// its methods run on the node's loop.
type Log struct {
	disk env.Disk
	cfg  Config
	chk  *checkpoint.File

	maxRecord int   // largest framed record that fits a segment
	durable   int64 // W: the end of what is durable
	end       int64 // where the next record goes
	segsReady int64 // segments 0..segsReady-1 exist durably with their headers

	// The writer: records placed but not yet handed to the disk, and the
	// group commit in flight.
	pending      []extent
	pendingAcks  []ack
	pendingBytes int64 // placed and not yet durable, in flight included
	flushing     bool
	acking       bool // completions are running: appends they make wait for the next flush
	truncating   bool
	failed       error
	noSpace      bool   // the last flush failed for want of space
	gen          uint64 // bumped by Truncate, so reads in flight know

	// The name of the segment last named: every read and write names
	// one, nearly always the same.
	segNum  int64
	segName string

	stats Stats
}

// Open loads the log in cfg.Dir, creating it if absent, and recovers it:
// it reads the durable end W from writer.chk, checks the header of every
// segment below W, deletes segments at or past W (they hold nothing
// durable), and verifies every record of the last segment up to W.
//
// Open returns an error at once for an invalid Config (and then never
// calls done). Otherwise done runs later with the log, or with an error:
// a *FormatVersionError, a configuration mismatch or an I/O failure (no
// log), or a *CorruptError, which comes with a log that serves reads
// outside the damaged range.
func Open(disk env.Disk, cfg Config, done func(*Log, error)) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if done == nil {
		return errors.New("eventlog: Open needs a completion callback; got nil")
	}
	l := &Log{disk: disk, cfg: cfg, maxRecord: int(min(MaxRecordSize, cfg.SegmentSize-MinRecordSize))}
	name := cfg.Dir + "/" + writerCheckpoint
	checkpoint.Open(disk, name, func(f *checkpoint.File, err error) {
		if err != nil {
			done(nil, fmt.Errorf("eventlog: loading the durable end: %w", err))
			return
		}
		l.chk = f
		if v := f.Value(); v != nil {
			if len(v) != 8 || int64(binary.LittleEndian.Uint64(v)) < 0 {
				done(nil, fmt.Errorf("eventlog: %s holds %x, not a log position; it was written by something else", name, v))
				return
			}
			l.durable = int64(binary.LittleEndian.Uint64(v))
		}
		l.end = l.durable
		l.segsReady = (l.durable + cfg.SegmentSize - 1) / cfg.SegmentSize
		(&recovery{l: l, done: done}).start()
	})
	return nil
}

// recovery is Open's work after writer.chk is read.
type recovery struct {
	l       *Log
	done    func(*Log, error)
	present []int64 // segment numbers found, ascending
	corrupt *CorruptError
	// tailUnreadable: the last segment is missing or its header damaged,
	// so its records cannot be verified.
	tailUnreadable bool
}

func (r *recovery) start() {
	l := r.l
	l.disk.List(l.cfg.Dir, func(names []string, err error) {
		if err != nil && !errors.Is(err, env.ErrNotExist) {
			r.done(nil, fmt.Errorf("eventlog: listing %s: %w", l.cfg.Dir, err))
			return
		}
		for _, n := range names {
			if num, ok := parseSegmentName(n); ok {
				r.present = append(r.present, num)
			}
		}
		slices.Sort(r.present)
		if len(r.present) > 0 && l.chk.Created() {
			r.refuseWithoutEnd()
			return
		}
		r.checkHeader(0)
	})
}

// refuseWithoutEnd fails Open for a directory that holds segments but held
// no writer.chk. writer.chk is created, durably, before the first segment
// is, so its durable end was lost to something other than a crash; taking
// that end as 0 would delete every segment. The writer.chk Open just made
// is removed again, so that the next Open refuses too.
func (r *recovery) refuseWithoutEnd() {
	l := r.l
	name := l.cfg.Dir + "/" + writerCheckpoint
	err := fmt.Errorf("eventlog: %s holds segment files (%s, ...) but no %s, the log's durable end, which is written before any segment; "+
		"without it no record can be trusted, so the segments were left as they are: restore %s from a backup, or move the directory aside to start an empty log",
		l.cfg.Dir, segmentName(l.cfg.Dir, r.present[0]), writerCheckpoint, name)
	l.disk.Delete(name, func(derr error) {
		if derr != nil {
			r.done(nil, fmt.Errorf("%w (removing the empty %s made meanwhile failed too: %w)", err, name, derr))
			return
		}
		l.disk.SyncDir(l.cfg.Dir, func(derr error) {
			if derr != nil {
				r.done(nil, fmt.Errorf("%w (syncing %s after removing the empty %s made meanwhile failed too: %w)", err, l.cfg.Dir, name, derr))
				return
			}
			r.done(nil, err)
		})
	})
}

// segmentRange is the part of segment n that lies below the durable end.
func (l *Log) segmentRange(n int64) (from, to int64) {
	from = n * l.cfg.SegmentSize
	return from, min(from+l.cfg.SegmentSize, l.durable)
}

// checkHeader checks segment n and those after it that hold durable data.
func (r *recovery) checkHeader(n int64) {
	l := r.l
	if n >= l.segsReady {
		r.deleteStale()
		return
	}
	from, to := l.segmentRange(n)
	if _, found := slices.BinarySearch(r.present, n); !found {
		r.corrupt = r.corrupt.merge(&CorruptError{From: from, To: to,
			Reason: fmt.Sprintf("segment file %s is missing", segmentName(l.cfg.Dir, n))})
		r.tailUnreadable = n == l.segsReady-1
		r.checkHeader(n + 1)
		return
	}
	name := l.segment(n)
	l.disk.ReadAt(name, 0, headerSize, func(h []byte, err error) {
		if err != nil && !errors.Is(err, env.ErrShortRead) {
			r.done(nil, fmt.Errorf("eventlog: reading the header of %s: %w", name, err))
			return
		}
		fatal, damage := checkHeader(h, name, n, l.cfg.SegmentSize)
		if fatal != nil {
			r.done(nil, fatal)
			return
		}
		if damage != "" {
			r.corrupt = r.corrupt.merge(&CorruptError{From: from, To: to, Reason: name + ": " + damage})
			r.tailUnreadable = n == l.segsReady-1
		}
		r.checkHeader(n + 1)
	})
}

// deleteStale removes the segments at or past the durable end: a crash
// may leave them half created, or holding records that were never made
// durable, and the writer creates them afresh.
func (r *recovery) deleteStale() {
	l := r.l
	l.deleteFrom(l.segsReady, func(err error) {
		if err != nil {
			r.done(nil, fmt.Errorf("eventlog: removing segments past the durable end %d: %w", l.durable, err))
			return
		}
		r.verifyTail()
	})
}

// verifyTail reads every record of the last segment up to the durable
// end. Damage there is corruption of synced data: it is reported with its
// range and nothing is cut off.
func (r *recovery) verifyTail() {
	l := r.l
	if l.durable == 0 || r.tailUnreadable {
		r.finish()
		return
	}
	r.scan((l.segsReady - 1) * l.cfg.SegmentSize)
}

// scan verifies records forward from p to the durable end. A record whose
// length fields agree but whose contents fail is damaged over its own
// extent and the scan goes on after it; when the lengths themselves are
// damaged, a backward scan from the durable end finds where good records
// resume.
func (r *recovery) scan(p int64) {
	l := r.l
	w := l.newForward(p, l.durable, env.MaxRead)
	var step func()
	step = func() {
		for w.p < w.bound {
			raw, want, err := w.peek()
			if err != nil {
				r.scanBack(w.p, err)
				return
			}
			if want > 0 {
				w.load(want, func(err error) {
					var fe *frameError
					switch {
					case errors.As(err, &fe):
						r.scanBack(w.p, err)
					case err != nil:
						r.done(nil, fmt.Errorf("eventlog: verifying the log tail: %w", err))
					default:
						step()
					}
				})
				return
			}
			if _, err := decodeExact(raw, w.p); err != nil {
				var fe *frameError
				if errors.As(err, &fe) && fe.extent > 0 {
					r.corrupt = r.corrupt.merge(&CorruptError{From: w.p, To: w.p + int64(fe.extent), Reason: fe.reason})
					w.skip(fe.extent)
					continue
				}
				r.scanBack(w.p, err)
				return
			}
			w.skip(len(raw))
		}
		r.finish()
	}
	step()
}

// scanBack walks back from the durable end over good records down to bad,
// where the forward scan lost the record boundaries; the damage is
// [bad, lowest good record).
func (r *recovery) scanBack(bad int64, cause error) {
	l := r.l
	b := l.newBackward(l.durable, bad, env.MaxRead)
	reason := cause.Error()
	var fe *frameError
	if errors.As(cause, &fe) {
		reason = fe.reason
	}
	end := func() {
		r.corrupt = r.corrupt.merge(&CorruptError{From: bad, To: max(b.q, bad+1), Reason: reason})
		r.finish()
	}
	var step func()
	step = func() {
		for b.q > b.bound {
			raw, want, err := b.peek()
			if err != nil {
				break
			}
			if want > 0 {
				b.load(want, func(err error) {
					var fe *frameError
					switch {
					case errors.As(err, &fe):
						end()
					case err != nil:
						r.done(nil, fmt.Errorf("eventlog: verifying the log tail: %w", err))
					default:
						step()
					}
				})
				return
			}
			if _, err := decodeExact(raw, b.q-int64(len(raw))); err != nil {
				break
			}
			b.skip(len(raw))
		}
		end()
	}
	step()
}

func (r *recovery) finish() {
	if r.corrupt != nil {
		r.done(r.l, r.corrupt)
		return
	}
	r.done(r.l, nil)
}

// Config is the log's configuration, defaults filled in.
func (l *Log) Config() Config { return l.cfg }

// OutOfSpace reports whether the last flush failed for want of space (and
// none has succeeded since): the log is usable, but appends that need
// room will fail until space returns.
func (l *Log) OutOfSpace() bool { return l.noSpace }

// Durable is W, the end of what is durable: reads never go past it.
func (l *Log) Durable() int64 { return l.durable }

// Generation changes whenever Truncate cuts the log: what a caller keeps
// about records of an older generation may describe records now gone.
func (l *Log) Generation() uint64 { return l.gen }

// End is where the next appended record goes (at or past Durable).
func (l *Log) End() int64 { return l.end }

// MaxRecord is the largest framed record this log accepts: MaxRecordSize,
// or less when segments are small.
func (l *Log) MaxRecord() int { return l.maxRecord }

// Failed is the failure that made the log refuse writes, or nil.
func (l *Log) Failed() error { return l.failed }

// Stats reports the log's counters.
func (l *Log) Stats() Stats { return l.stats }

func (l *Log) segmentStart(p int64) int64 { return p - p%l.cfg.SegmentSize }

// segmentEnd is the end of the segment that holds position p (a position
// on a boundary belongs to the segment it starts).
func (l *Log) segmentEnd(p int64) int64 { return l.segmentStart(p) + l.cfg.SegmentSize }

func (l *Log) fileOf(p int64) (name string, off int64) {
	return l.segment(p / l.cfg.SegmentSize), headerSize + p%l.cfg.SegmentSize
}

// segment is the file name of segment n.
func (l *Log) segment(n int64) string {
	if l.segName == "" || l.segNum != n {
		l.segNum, l.segName = n, segmentName(l.cfg.Dir, n)
	}
	return l.segName
}
