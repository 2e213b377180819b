package eventlog

import (
	"errors"
	"fmt"
)

var (
	// ErrNothingToRead: a read starts at its bound (the durable end, or the
	// bound the caller gave; the start of the log for a backward read).
	ErrNothingToRead = errors.New("nothing to read")
	// ErrFailed: a write or sync failed earlier, so the files' state is
	// unknown and the log refuses every write. Restart to recover from
	// what is durable.
	ErrFailed = errors.New("log failed")
	// ErrBusy: an operation that needs the writer idle (Truncate) met
	// appends in flight, or an append met a truncation in flight.
	ErrBusy = errors.New("log busy")
	// ErrBacklog: appends waiting for the disk already hold the most bytes
	// the log buffers (Config.MaxPendingBytes).
	ErrBacklog = errors.New("append backlog full")
	// ErrPosition: raw records were offered at a position other than the
	// log's end, or a truncation point is not a record boundary.
	ErrPosition = errors.New("wrong log position")
	// ErrTruncated: the log was truncated while a read was in flight.
	ErrTruncated = errors.New("log truncated during the read")
)

// CorruptError reports synced data that fails its checks: records whose
// checksums or lengths are wrong, a segment whose header is damaged, or a
// segment file that is missing. [From, To) covers every damaged position
// found; when the damage hides where records begin, To is the first
// position known to be good (or the end of the segment or of the log).
// The data there was durable, so it must be repaired, never cut off.
type CorruptError struct {
	From, To int64
	// Reason describes the (first) damage found.
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("eventlog: corrupt data in log positions [%d, %d): %s; this data was synced, so it must be restored from a replica or a backup",
		e.From, e.To, e.Reason)
}

// Is makes errors.Is(err, ErrBadRecord) hold for corruption.
func (e *CorruptError) Is(target error) bool { return target == ErrBadRecord }

// merge widens e to cover another damaged range.
func (e *CorruptError) merge(o *CorruptError) *CorruptError {
	if e == nil {
		return o
	}
	return &CorruptError{From: min(e.From, o.From), To: max(e.To, o.To), Reason: e.Reason + "; also " + o.Reason}
}
