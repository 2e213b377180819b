package streams

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// WrongExpectedVersionError: the stream's revision is not what the writer
// expected. Actual is the revision in the writer's view (NoRevision: the
// stream has no events). EventStoreDB answers appends with it in the body
// and deletes with the wrong-expected-version exception.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedRevision
	Actual   int64
	// NothingToDelete: a soft delete met a stream that never existed (no
	// events, no metadata), which no expected revision lets through.
	NothingToDelete bool
}

func (e *WrongExpectedVersionError) Error() string {
	if e.NothingToDelete {
		return fmt.Sprintf("wrong expected version for stream %q: expected %v, but the stream has never existed (no events, no metadata), so there is nothing to soft-delete",
			e.Stream, e.Expected)
	}
	return fmt.Sprintf("wrong expected version for stream %q: expected %v, but the stream %s; read the stream and retry with its current revision, or append with Any",
		e.Stream, e.Expected, describeRevision(e.Actual))
}

func describeRevision(r int64) string {
	if r < 0 {
		return "does not exist"
	}
	return "is at revision " + strconv.FormatInt(r, 10)
}

// StreamDeletedError: the stream is tombstoned (hard-deleted) and can never
// be written or read again, or a StreamExists write met a soft-deleted
// stream.
type StreamDeletedError struct {
	Stream string
}

func (e *StreamDeletedError) Error() string {
	return fmt.Sprintf("stream %q is deleted; a tombstoned stream can never be written or read again, and a soft-deleted one does not satisfy StreamExists", e.Stream)
}

// StreamNotFoundError: the stream has no events, or is soft-deleted.
type StreamNotFoundError struct {
	Stream string
}

func (e *StreamNotFoundError) Error() string {
	return fmt.Sprintf("stream %q not found: it has no events or was soft-deleted", e.Stream)
}

// MaxAppendSizeExceededError: an append's events add up to more than the
// configured MaxAppendSize (EventStoreDB's default is 1 MiB).
type MaxAppendSizeExceededError struct {
	Stream string
	Size   int
	Max    int
}

func (e *MaxAppendSizeExceededError) Error() string {
	return fmt.Sprintf("append to stream %q is %d bytes, over the maximum append size of %d bytes (MaxAppendSize); split the events into smaller appends",
		e.Stream, e.Size, e.Max)
}

// TimeoutError: the log did not confirm the write in time. The outcome is
// unknown: the events may still be committed, and retrying with the same
// event ids is safe (idempotent).
type TimeoutError struct {
	Stream string
	Err    error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("write to stream %q timed out (%v); it may still be committed: retry with the same event ids", e.Stream, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// errAbandoned ends a write dropped before it was proposed because its
// client had already been answered (AppendRequest.Abandoned).
var errAbandoned = errors.New("dropped unwritten: the client's answer had already been sent")

// CorruptedIdempotencyError: a retried write matched some events already
// written (by id, at the same place) but not all of them, so it is neither
// a retry nor a new write. EventStoreDB answers it as a wrong expected
// version; Actual is the stream's revision for that answer.
type CorruptedIdempotencyError struct {
	Stream   string
	Expected ExpectedRevision
	Actual   int64
}

func (e *CorruptedIdempotencyError) Error() string {
	return fmt.Sprintf("append to stream %q (expected %v) partly repeats events already written there with the same ids; a retry must resend exactly the same events, a new write needs new ids",
		e.Stream, e.Expected)
}

// TooBusyError: a bounded resource of this layer is full (writes in flight,
// concurrent reads, subscriptions). Transports answer "unavailable"; the
// client should retry later.
type TooBusyError struct {
	What  string
	Limit int
}

func (e *TooBusyError) Error() string {
	return fmt.Sprintf("server too busy: already %d %s, the most this node accepts at once; retry later", e.Limit, e.What)
}

// InvalidArgumentError: the request itself is wrong.
type InvalidArgumentError struct {
	What string
}

func (e *InvalidArgumentError) Error() string { return "invalid argument: " + e.What }

func invalid(format string, args ...any) error {
	return &InvalidArgumentError{What: fmt.Sprintf(format, args...)}
}

// tombstoneNumber is the event number of a tombstone.
const tombstoneNumber = math.MaxInt64
