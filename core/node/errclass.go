package node

import (
	"errors"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/streams"
)

// ErrorClass says what kind of answer an error of a client operation is.
// Each transport (gRPC, AtomPub, the admin UI) maps classes to its own
// vocabulary and reads the details it needs from the typed error, so that
// a new error, or a new way of being ambiguous, is classified once, here.
type ErrorClass uint8

const (
	// Unclassified is no error of the node's (or nil).
	Unclassified ErrorClass = iota
	// ClassNotLeader: a *NotLeaderError; its Leader is zero while no
	// leader is known.
	ClassNotLeader
	// ClassNotReady: the node is starting or stopping, or a read met a
	// range of its log that it found damaged and is fetching again.
	ClassNotReady
	ClassStreamDeleted
	// ClassWrongExpectedVersion: a *streams.WrongExpectedVersionError, or a
	// *streams.CorruptedIdempotencyError, which EventStoreDB answers alike.
	ClassWrongExpectedVersion
	ClassStreamNotFound
	// ClassTooLarge: a *streams.MaxAppendSizeExceededError.
	ClassTooLarge
	// ClassDiskFull: a *DiskFullError. Its outcome is unknown, like a
	// timeout's, but the node gave up leadership: another node takes the
	// write, so transports answer "unavailable", not "timed out".
	ClassDiskFull
	// ClassTimeout: not confirmed in time, or leadership lost before the
	// commit; the write may still commit.
	ClassTimeout
	ClassTooBusy
	ClassInvalidArgument
	// ClassRemote: the leader's error, relayed without its type.
	ClassRemote
)

// Classify sorts err into its class; Unclassified when it is none of the
// node's errors.
func Classify(err error) ErrorClass {
	var (
		nl   *NotLeaderError
		del  *streams.StreamDeletedError
		wev  *streams.WrongExpectedVersionError
		ci   *streams.CorruptedIdempotencyError
		nf   *streams.StreamNotFoundError
		size *streams.MaxAppendSizeExceededError
		full *DiskFullError
		to   *streams.TimeoutError
		busy *streams.TooBusyError
		inv  *streams.InvalidArgumentError
		rem  *RemoteWriteError
	)
	switch {
	case err == nil:
		return Unclassified
	case errors.As(err, &nl):
		return ClassNotLeader
	case errors.Is(err, ErrNotReady):
		return ClassNotReady
	case errors.As(err, &del):
		return ClassStreamDeleted
	case errors.As(err, &wev), errors.As(err, &ci):
		return ClassWrongExpectedVersion
	case errors.As(err, &nf):
		return ClassStreamNotFound
	case errors.As(err, &size):
		return ClassTooLarge
	case errors.As(err, &full): // before the timeouts: it is ambiguous too
		return ClassDiskFull
	case errors.As(err, &to), errors.Is(err, ErrAmbiguous), errors.Is(err, ErrLeadershipLost), errors.Is(err, env.ErrTimeout):
		return ClassTimeout
	case errors.As(err, &busy):
		return ClassTooBusy
	case errors.As(err, &inv):
		return ClassInvalidArgument
	case errors.As(err, &rem):
		return ClassRemote
	}
	return Unclassified
}
