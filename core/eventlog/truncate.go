package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/annal-db/annal/core/env"
)

// Truncate cuts the log back to position, a record boundary at or below
// the durable end: a replica drops the suffix its new leader does not
// have. The new end is made durable in writer.chk first; only then are the
// segments past it deleted (and the directory synced), so a crash in
// between leaves a consistent log (Open deletes what is left). Reads in
// flight fail with ErrTruncated.
//
// Truncate returns an error at once, and never calls done, when appends
// are in flight (ErrBusy), position is out of range, or the log failed.
// done gets ErrPosition when position is not a record boundary.
func (l *Log) Truncate(position int64, done func(error)) error {
	if err := l.writable("truncate"); err != nil {
		return err
	}
	if done == nil {
		return errors.New("eventlog: Truncate needs a completion callback; got nil")
	}
	if l.flushing || len(l.pendingAcks) > 0 {
		return fmt.Errorf("eventlog: truncate to %d: %w: appends up to %d are in flight; wait for them to complete", position, ErrBusy, l.end)
	}
	if position < 0 || position > l.durable {
		return fmt.Errorf("eventlog: truncate to %d: %w: the position must lie in [0, %d], the durable end", position, ErrPosition, l.durable)
	}
	l.truncating = true
	if position == l.durable || position%l.cfg.SegmentSize == 0 {
		l.truncate(position, done)
		return nil
	}
	// A position inside a segment must start a record: the record there
	// verifies only at its own position.
	f := l.newForward(position, l.durable, probeSize)
	var step func()
	step = func() {
		raw, want, err := f.peek()
		if err == nil && want > 0 {
			f.load(want, func(err error) {
				if err != nil {
					l.truncating = false
					done(fmt.Errorf("eventlog: truncate to %d: reading the record there: %w", position, l.damage(err)))
					return
				}
				step()
			})
			return
		}
		if err == nil {
			_, err = decodeExact(raw, position)
		}
		if err != nil {
			l.truncating = false
			done(fmt.Errorf("eventlog: truncate to %d: %w: no valid record starts there (%v); truncate to a record boundary",
				position, ErrPosition, err))
			return
		}
		l.truncate(position, done)
	}
	step()
	return nil
}

func (l *Log) truncate(position int64, done func(error)) {
	l.gen++
	old := l.durable
	l.durable, l.end = position, position
	l.stats.Truncations++
	l.stats.CheckpointSyncs++
	l.chk.Write(binary.LittleEndian.AppendUint64(nil, uint64(position)), func(err error) {
		if err != nil {
			l.failed = fmt.Errorf("eventlog: %w: truncating from %d to %d: %w; the log refuses all writes, restart to recover from what is durable",
				ErrFailed, old, position, err)
			l.truncating = false
			done(l.failed)
			return
		}
		l.segsReady = (position + l.cfg.SegmentSize - 1) / l.cfg.SegmentSize
		l.deleteFrom(l.segsReady, func(err error) {
			l.truncating = false
			if err != nil {
				err = fmt.Errorf("eventlog: truncated to %d durably, but removing the segments past it failed: %w", position, err)
			}
			done(err)
		})
	})
}

// deleteFrom deletes every segment numbered n or more and syncs the
// directory. A failed delete is reported (the writer reuses such a file,
// and Open deletes it); a failed directory sync fails the log.
func (l *Log) deleteFrom(n int64, done func(error)) {
	l.disk.List(l.cfg.Dir, func(names []string, err error) {
		if err != nil {
			done(fmt.Errorf("listing %s: %w", l.cfg.Dir, err))
			return
		}
		var stale []string
		for _, base := range names {
			if num, ok := parseSegmentName(base); ok && num >= n {
				stale = append(stale, l.cfg.Dir+"/"+base)
			}
		}
		if len(stale) == 0 {
			done(nil)
			return
		}
		left := len(stale)
		var first error
		for _, name := range stale {
			l.disk.Delete(name, func(err error) {
				if err != nil && !errors.Is(err, env.ErrNotExist) && first == nil {
					first = fmt.Errorf("deleting %s: %w", name, err)
				}
				if left--; left > 0 {
					return
				}
				l.stats.DirSyncs++
				l.disk.SyncDir(l.cfg.Dir, func(err error) {
					if err != nil {
						l.failed = fmt.Errorf("eventlog: %w: syncing %s after deleting segments: %w; the log refuses all writes, restart to recover from what is durable",
							ErrFailed, l.cfg.Dir, err)
						done(l.failed)
						return
					}
					done(first)
				})
			})
		}
	})
}

// TruncateDamaged cuts the log back to the start of damage that a read or
// Open reported (a *CorruptError's From), so that a replica can fetch the
// range again from its leader. Unlike Truncate it does not re-read the
// record there to confirm the boundary: that record is the one that fails
// its checks. From is a record boundary by construction (reads walk from
// boundaries, and damage that hides them starts at a segment's start).
// Errors are as for Truncate.
func (l *Log) TruncateDamaged(c *CorruptError, done func(error)) error {
	if err := l.writable("truncate"); err != nil {
		return err
	}
	if done == nil {
		return errors.New("eventlog: TruncateDamaged needs a completion callback; got nil")
	}
	if l.flushing || len(l.pendingAcks) > 0 {
		return fmt.Errorf("eventlog: truncate to %d: %w: appends up to %d are in flight; wait for them to complete", c.From, ErrBusy, l.end)
	}
	if c.From < 0 || c.From > l.durable {
		return fmt.Errorf("eventlog: truncate to %d: %w: the position must lie in [0, %d], the durable end", c.From, ErrPosition, l.durable)
	}
	l.truncating = true
	l.truncate(c.From, done)
	return nil
}

// Location names the segment file holding position p and p's byte offset
// in it, for messages that send a person to the damaged bytes.
func (l *Log) Location(p int64) (file string, off int64) {
	return segmentName(l.cfg.Dir, p/l.cfg.SegmentSize), headerSize + p%l.cfg.SegmentSize
}
