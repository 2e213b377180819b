package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/annal-db/annal/core/env"
)

// probeSize is the least a read fetches: one page holds the length of the
// next record and usually the whole record.
const probeSize = 4096

// errPastBound: the next record ends past the caller's bound (not the
// durable end). The read stops before it; nothing is wrong.
var errPastBound = errors.New("record ends past the read bound")

// readAhead is how much a read fetches at once for a byte budget.
func readAhead(maxBytes int) int { return min(max(maxBytes, probeSize), env.MaxRead) }

// readSpan reads n bytes at position p, all inside p's segment, in steps
// of at most env.MaxRead. A short file gives fewer bytes, not an error.
func (l *Log) readSpan(p int64, n int, done func([]byte, error)) {
	name, off := l.fileOf(p)
	if n <= env.MaxRead {
		// One read, the usual case: its buffer is the span.
		l.disk.ReadAt(name, off, n, func(data []byte, err error) {
			switch {
			case errors.Is(err, env.ErrShortRead):
				done(nil, nil)
			case err != nil:
				done(nil, err)
			default:
				done(data, nil)
			}
		})
		return
	}
	var out []byte
	var next func()
	next = func() {
		k := min(n-len(out), env.MaxRead)
		l.disk.ReadAt(name, off+int64(len(out)), k, func(data []byte, err error) {
			if errors.Is(err, env.ErrShortRead) {
				done(out, nil)
				return
			}
			if err != nil {
				done(nil, err)
				return
			}
			if out == nil && (len(data) == n || len(data) < k) {
				done(data, nil) // one read was all of it: no copy
				return
			}
			out = append(out, data...)
			if len(data) < k || len(out) == n {
				done(out, nil)
				return
			}
			next()
		})
	}
	next()
}

// forward walks records from p toward bound, buffering what it read of
// p's segment. Reads take bounded steps: each load is one or a few disk
// reads of at most env.MaxRead.
type forward struct {
	l       *Log
	gen     uint64
	durable int64 // the durable end when the walk began: a record boundary
	p       int64 // the next record; buf[0] is there
	bound   int64
	chunk   int
	buf     []byte
}

func (l *Log) newForward(p, bound int64, chunk int) *forward {
	return &forward{l: l, gen: l.gen, durable: l.durable, p: p, bound: bound, chunk: chunk}
}

// limit is the most bytes available from p: to its segment's end or the
// bound.
func (f *forward) limit() int64 { return min(f.l.segmentEnd(f.p), f.bound) - f.p }

// peek looks at the record at p. It returns the whole record when the
// buffer holds it, or want > 0, the bytes the buffer must hold first. Only
// the length prefix is checked here; decodeExact checks the rest.
func (f *forward) peek() (raw []byte, want int, err error) {
	if avail := f.limit(); avail < MinRecordSize {
		if f.p+avail == f.bound && f.bound < f.durable {
			return nil, 0, errPastBound
		}
		return nil, 0, &frameError{position: f.p, reason: fmt.Sprintf("only %d bytes are left before the end of the segment or the log, too few for a record", avail)}
	}
	if len(f.buf) < 4 {
		return nil, 4, nil
	}
	n, err := recordLen(f.buf, f.p, f.l.segmentEnd(f.p)-f.p)
	if err != nil {
		return nil, 0, err
	}
	if end := f.p + int64(n); end > f.durable {
		return nil, 0, &frameError{position: f.p, reason: fmt.Sprintf("length %d runs past the durable end %d, which is always a record boundary", n, f.durable)}
	} else if end > f.bound {
		return nil, 0, errPastBound
	}
	if len(f.buf) < n {
		return nil, n, nil
	}
	return f.buf[:n], 0, nil
}

// framesBuffered counts the records the buffer holds whole from p that
// start within budget bytes, going by their length prefixes alone: a
// capacity hint, so a read that returns many records allocates once.
func (f *forward) framesBuffered(budget int) int {
	n := 0
	for off := 0; off+4 <= len(f.buf) && off < budget; n++ {
		size := int(binary.LittleEndian.Uint32(f.buf[off:]))
		if size < MinRecordSize || size > len(f.buf)-off {
			break
		}
		off += size
	}
	return max(n, 1)
}

func (f *forward) skip(n int) {
	f.buf = f.buf[n:]
	f.p += int64(n)
}

// load reads until the buffer holds at least want bytes at p, reading
// ahead up to chunk bytes but never past p's segment or the bound.
func (f *forward) load(want int, done func(error)) {
	have := len(f.buf)
	n := int(min(int64(max(want, f.chunk)), f.limit()))
	f.l.readSpan(f.p+int64(have), n-have, func(data []byte, err error) {
		if f.l.gen != f.gen {
			done(fmt.Errorf("eventlog: %w; read again from a position below the new end %d", ErrTruncated, f.l.durable))
			return
		}
		if err != nil {
			done(fmt.Errorf("eventlog: reading log position %d: %w", f.p+int64(have), err))
			return
		}
		if len(f.buf) == 0 {
			f.buf = data // the read's own buffer: no copy
		} else {
			f.buf = append(f.buf, data...)
		}
		if len(f.buf) < want {
			name, _ := f.l.fileOf(f.p)
			done(&frameError{position: f.p, reason: fmt.Sprintf("segment file %s ends before the record does", name)})
			return
		}
		done(nil)
	})
}

// backward walks records from q (the end of the next one) down to bound.
type backward struct {
	l     *Log
	gen   uint64
	q     int64 // the end of the next record; buf ends here
	bound int64
	chunk int
	buf   []byte
}

func (l *Log) newBackward(q, bound int64, chunk int) *backward {
	return &backward{l: l, gen: l.gen, q: q, bound: bound, chunk: chunk}
}

// segStart is the start of the segment holding the byte before q.
func (b *backward) segStart() int64 { return b.l.segmentStart(b.q - 1) }

func (b *backward) limit() int64 { return b.q - max(b.segStart(), b.bound) }

func (b *backward) peek() (raw []byte, want int, err error) {
	if avail := b.limit(); avail < MinRecordSize {
		if b.bound > b.segStart() {
			return nil, 0, errPastBound
		}
		return nil, 0, &frameError{position: b.q, reason: fmt.Sprintf("only %d bytes lie between the segment start and this record end, too few for a record", avail)}
	}
	if len(b.buf) < 4 {
		return nil, 4, nil
	}
	n, err := recordLenBack(b.buf, b.q, b.q-b.segStart())
	if err != nil {
		return nil, 0, err
	}
	if b.q-int64(n) < b.bound {
		return nil, 0, errPastBound
	}
	if len(b.buf) < n {
		return nil, n, nil
	}
	return b.buf[len(b.buf)-n:], 0, nil
}

func (b *backward) skip(n int) {
	b.buf = b.buf[:len(b.buf)-n]
	b.q -= int64(n)
}

func (b *backward) load(want int, done func(error)) {
	have := len(b.buf)
	n := int(min(int64(max(want, b.chunk)), b.limit()))
	from := b.q - int64(n)
	b.l.readSpan(from, n-have, func(data []byte, err error) {
		if b.l.gen != b.gen {
			done(fmt.Errorf("eventlog: %w; read again from a position below the new end %d", ErrTruncated, b.l.durable))
			return
		}
		if err != nil {
			done(fmt.Errorf("eventlog: reading log position %d: %w", from, err))
			return
		}
		if len(data) < n-have {
			name, _ := b.l.fileOf(from)
			done(&frameError{position: from, reason: fmt.Sprintf("segment file %s ends before position %d", name, b.q)})
			return
		}
		b.buf = append(data, b.buf...)
		done(nil)
	})
}

// damage turns a frame error met reading forward into corruption of the
// durable range it covers; other errors pass through.
func (l *Log) damage(err error) error {
	var fe *frameError
	if !errors.As(err, &fe) {
		return err
	}
	to := min(l.segmentEnd(fe.position), l.durable)
	if fe.extent > 0 {
		to = fe.position + int64(fe.extent)
	}
	return &CorruptError{From: fe.position, To: max(to, fe.position+1), Reason: fe.reason}
}

// damageBack is damage for a walk backward from q: when the record's
// extent is unknown, the damage reaches back to its segment's start.
func (l *Log) damageBack(err error, q int64) error {
	var fe *frameError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.extent > 0 {
		return &CorruptError{From: fe.position, To: fe.position + int64(fe.extent), Reason: fe.reason}
	}
	return &CorruptError{From: l.segmentStart(q - 1), To: q, Reason: fe.reason}
}

// ReadAt reads the record at position, skipping padding to the next
// segment's first record. next is the position after it. A position at or
// past the durable end fails at once with ErrNothingToRead; otherwise done
// runs later. Damage is a *CorruptError; so is a position that is not a
// record boundary, since a record verifies only at its own position. A
// failed read wraps env.ErrIO.
func (l *Log) ReadAt(position int64, done func(rec Record, next int64, err error)) error {
	if position < 0 {
		return fmt.Errorf("eventlog: ReadAt(%d): a log position is not negative", position)
	}
	if position >= l.durable {
		return fmt.Errorf("eventlog: ReadAt(%d): %w: the durable end is %d", position, ErrNothingToRead, l.durable)
	}
	f := l.newForward(position, l.durable, probeSize)
	var step func()
	step = func() {
		for f.p < f.bound {
			raw, want, err := f.peek()
			if err != nil {
				done(Record{}, position, l.damage(err))
				return
			}
			if want > 0 {
				f.load(want, func(err error) {
					if err != nil {
						done(Record{}, position, l.damage(err))
						return
					}
					step()
				})
				return
			}
			rec, err := decodeExact(raw, f.p)
			if err != nil {
				done(Record{}, position, l.damage(err))
				return
			}
			f.skip(rec.Size)
			if rec.Kind != KindPadding {
				done(rec, f.p, nil)
				return
			}
		}
		done(Record{}, f.p, fmt.Errorf("eventlog: ReadAt(%d): %w: only padding lies before the durable end %d", position, ErrNothingToRead, f.bound))
	}
	step()
	return nil
}

// ReadForward reads records from position from (a record boundary) up to
// upTo, never past the durable end: whole records totalling at most
// maxBytes, but always at least one. Padding is skipped and segment ends
// crossed. next is where to continue; no records with next == from means
// the next record ends past upTo. A read starting at its bound fails at
// once with ErrNothingToRead; otherwise done runs later. Errors are as for
// ReadAt.
func (l *Log) ReadForward(from, upTo int64, maxBytes int, done func(recs []Record, next int64, err error)) error {
	if from < 0 || maxBytes <= 0 {
		return fmt.Errorf("eventlog: ReadForward(from %d, maxBytes %d): the position must not be negative and the byte budget must be positive", from, maxBytes)
	}
	bound := min(upTo, l.durable)
	if from >= bound {
		return fmt.Errorf("eventlog: ReadForward(from %d, upTo %d): %w: the durable end is %d", from, upTo, ErrNothingToRead, l.durable)
	}
	f := l.newForward(from, bound, readAhead(maxBytes))
	var recs []Record
	used := 0
	var step func()
	step = func() {
		for f.p < f.bound && (used < maxBytes || len(recs) == 0) {
			raw, want, err := f.peek()
			if errors.Is(err, errPastBound) {
				break
			}
			if err != nil {
				done(nil, from, l.damage(err))
				return
			}
			if want > 0 {
				if want > 4 && len(recs) > 0 && used+want > maxBytes {
					break
				}
				f.load(want, func(err error) {
					if err != nil {
						done(nil, from, l.damage(err))
						return
					}
					step()
				})
				return
			}
			rec, err := decodeExact(raw, f.p)
			if err != nil {
				done(nil, from, l.damage(err))
				return
			}
			if rec.Kind != KindPadding {
				if len(recs) > 0 && used+rec.Size > maxBytes {
					break
				}
				if recs == nil {
					recs = make([]Record, 0, f.framesBuffered(maxBytes))
				}
				recs = append(recs, rec)
				used += rec.Size
			}
			f.skip(rec.Size)
		}
		done(recs, f.p, nil)
	}
	step()
	return nil
}

// ReadBackward reads records ending at or before position before (a
// record boundary; a bound past the durable end means the durable end),
// newest first: whole records totalling at most maxBytes, but always at
// least one. prev is where to continue backward. A read from position 0
// fails at once with ErrNothingToRead; otherwise done runs later. Errors
// are as for ReadAt.
func (l *Log) ReadBackward(before int64, maxBytes int, done func(recs []Record, prev int64, err error)) error {
	if before < 0 || maxBytes <= 0 {
		return fmt.Errorf("eventlog: ReadBackward(before %d, maxBytes %d): the position must not be negative and the byte budget must be positive", before, maxBytes)
	}
	before = min(before, l.durable)
	if before == 0 {
		return fmt.Errorf("eventlog: ReadBackward: %w: nothing lies before position 0", ErrNothingToRead)
	}
	b := l.newBackward(before, 0, readAhead(maxBytes))
	var recs []Record
	used := 0
	var step func()
	step = func() {
		for b.q > b.bound && (used < maxBytes || len(recs) == 0) {
			raw, want, err := b.peek()
			if err != nil {
				done(nil, before, l.damageBack(err, b.q))
				return
			}
			if want > 0 {
				if want > 4 && len(recs) > 0 && used+want > maxBytes {
					break
				}
				b.load(want, func(err error) {
					if err != nil {
						done(nil, before, l.damageBack(err, b.q))
						return
					}
					step()
				})
				return
			}
			rec, err := decodeExact(raw, b.q-int64(len(raw)))
			if err != nil {
				done(nil, before, l.damageBack(err, b.q))
				return
			}
			if rec.Kind != KindPadding {
				if len(recs) > 0 && used+rec.Size > maxBytes {
					break
				}
				recs = append(recs, rec)
				used += rec.Size
			}
			b.skip(rec.Size)
		}
		done(recs, b.q, nil)
	}
	step()
	return nil
}

// ReadRaw reads records forward as ReadForward does, but returns them as
// they lie on disk, verified: raw holds the consecutive records in [first,
// next), where first is from or, if from is at padding, the next segment's
// start. It stops before padding, so raw never spans a gap; a replica
// writes it with AppendRaw(first, raw).
func (l *Log) ReadRaw(from, upTo int64, maxBytes int, done func(raw []byte, first, next int64, err error)) error {
	if from < 0 || maxBytes <= 0 {
		return fmt.Errorf("eventlog: ReadRaw(from %d, maxBytes %d): the position must not be negative and the byte budget must be positive", from, maxBytes)
	}
	bound := min(upTo, l.durable)
	if from >= bound {
		return fmt.Errorf("eventlog: ReadRaw(from %d, upTo %d): %w: the durable end is %d", from, upTo, ErrNothingToRead, l.durable)
	}
	f := l.newForward(from, bound, readAhead(maxBytes))
	var out []byte
	first := from
	var step func()
	step = func() {
		for f.p < f.bound && (len(out) < maxBytes || len(out) == 0) {
			raw, want, err := f.peek()
			if errors.Is(err, errPastBound) {
				break
			}
			if err != nil {
				done(nil, from, from, l.damage(err))
				return
			}
			if want > 0 {
				if want > 4 && len(out) > 0 && len(out)+want > maxBytes {
					break
				}
				f.load(want, func(err error) {
					if err != nil {
						done(nil, from, from, l.damage(err))
						return
					}
					step()
				})
				return
			}
			rec, err := decodeExact(raw, f.p)
			if err != nil {
				done(nil, from, from, l.damage(err))
				return
			}
			if rec.Kind == KindPadding {
				if len(out) > 0 {
					break
				}
				f.skip(rec.Size)
				first = f.p
				continue
			}
			if len(out) > 0 && len(out)+rec.Size > maxBytes {
				break
			}
			out = append(out, raw...)
			f.skip(rec.Size)
		}
		done(out, first, f.p, nil)
	}
	step()
	return nil
}
