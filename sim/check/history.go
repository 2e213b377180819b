package check

import (
	"fmt"
	"time"
)

// OpKind says what a client operation did.
type OpKind uint8

const (
	// OpAppend appends events to a stream with an expected revision.
	OpAppend OpKind = iota + 1
	// OpRead reads the last events of a stream on the leader (backwards
	// from the end).
	OpRead
	// OpDelete soft-deletes a stream with an expected revision: reads find
	// nothing until an append recreates it, numbering on.
	OpDelete
	// OpTombstone hard-deletes a stream with an expected revision: it can
	// never be written or read again.
	OpTombstone
	// OpMetadata replaces a stream's metadata (written to its metadata
	// stream, expecting any revision) with {"$maxCount": MaxCount}, or {}
	// when MaxCount is 0: reads then show at most the last MaxCount
	// events, and a $tb the stream had is gone.
	OpMetadata
)

// Writes reports whether k changes the stream (an append or a delete):
// a write whose answer was lost may have taken effect.
func (k OpKind) Writes() bool { return k != OpRead }

func (k OpKind) String() string {
	switch k {
	case OpAppend:
		return "append"
	case OpRead:
		return "read"
	case OpDelete:
		return "delete"
	case OpTombstone:
		return "tombstone"
	case OpMetadata:
		return "metadata"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Outcome is what a client finally learned about an operation.
type Outcome uint8

const (
	// OK: the append was written (Revision is its last event's revision),
	// the delete or tombstone was written, or the read answered (Revision
	// is the stream's last revision).
	OK Outcome = iota + 1
	// WrongVersion: the write's expected revision did not hold; Revision
	// is the actual one the node reported.
	WrongVersion
	// NotFound: the read found no stream.
	NotFound
	// Unknown: the client never learned whether the write took effect
	// (it timed out, the leader changed, retries ran out).
	Unknown
	// Failed: the operation had no effect, for sure (every attempt was
	// refused before it could write). Failed operations are left out of
	// the linearizability check.
	Failed
	// Deleted: the stream is tombstoned (any operation), or soft-deleted
	// and the write expected it to exist.
	Deleted
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case WrongVersion:
		return "wrong-expected-version"
	case NotFound:
		return "not-found"
	case Deleted:
		return "stream-deleted"
	case Unknown:
		return "unknown"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Expected-revision values, as core/streams numbers them.
const (
	ExpectAny          int64 = -2
	ExpectNoStream     int64 = -1
	ExpectStreamExists int64 = -4
)

// ReadEvent is one event a read returned.
type ReadEvent struct {
	Revision int64
	ID       [16]byte
}

// Op is one client operation: from the first attempt's invocation to the
// answer that settled it, retries included.
type Op struct {
	// Client numbers the client, from 1.
	Client int
	Kind   OpKind
	Stream string
	// Expected is a write's expected revision (ExpectAny, ExpectNoStream,
	// ExpectStreamExists, or a revision).
	Expected int64
	// IDs are an append's event ids, the same in every attempt.
	IDs [][16]byte
	// MaxCount is a metadata write's $maxCount (0: none).
	MaxCount int64
	// Call and Return are the virtual times of the first invocation and of
	// the settling answer (Return is ignored when the outcome is Unknown:
	// such an operation may take effect at any time after Call).
	Call, Return time.Duration
	Outcome      Outcome
	// Revision: see Outcome.
	Revision int64
	// Events are what a read returned, newest first.
	Events   []ReadEvent
	Attempts int
}

func (op *Op) String() string {
	switch op.Kind {
	case OpAppend:
		return fmt.Sprintf("c%d append %q expected %s, %d event(s) first %x: %s %d", op.Client, op.Stream, describeExpected(op.Expected), len(op.IDs), firstID(op.IDs), op.Outcome, op.Revision)
	case OpRead:
		return fmt.Sprintf("c%d read %q: %s last revision %d, %d event(s)", op.Client, op.Stream, op.Outcome, op.Revision, len(op.Events))
	case OpDelete, OpTombstone:
		return fmt.Sprintf("c%d %s %q expected %s: %s", op.Client, op.Kind, op.Stream, describeExpected(op.Expected), op.Outcome)
	case OpMetadata:
		return fmt.Sprintf("c%d metadata of %q: $maxCount %d: %s", op.Client, op.Stream, op.MaxCount, op.Outcome)
	}
	return op.Kind.String()
}

func firstID(ids [][16]byte) []byte {
	if len(ids) == 0 {
		return nil
	}
	return ids[0][:]
}

func describeExpected(e int64) string {
	switch e {
	case ExpectAny:
		return "any"
	case ExpectNoStream:
		return "no-stream"
	case ExpectStreamExists:
		return "stream-exists"
	}
	return fmt.Sprint(e)
}
