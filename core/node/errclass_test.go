package node

import (
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every transport answers from these classes, so the subtle cases are
// pinned here: a full disk is ambiguous yet not a timeout, and wrapped
// errors keep their class.
func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want ErrorClass
	}{
		{nil, Unclassified},
		{errors.New("something else"), Unclassified},
		{&NotLeaderError{}, ClassNotLeader},
		{fmt.Errorf("forwarding: %w", ErrNotReady), ClassNotReady},
		{&streams.StreamDeletedError{Stream: "s"}, ClassStreamDeleted},
		{&streams.WrongExpectedVersionError{Stream: "s"}, ClassWrongExpectedVersion},
		{&streams.CorruptedIdempotencyError{Stream: "s"}, ClassWrongExpectedVersion},
		{&streams.StreamNotFoundError{Stream: "s"}, ClassStreamNotFound},
		{&streams.MaxAppendSizeExceededError{Stream: "s"}, ClassTooLarge},
		{&DiskFullError{Message: "disk full"}, ClassDiskFull},
		{&streams.TimeoutError{Err: ErrAmbiguous}, ClassTimeout},
		{fmt.Errorf("stepping down: %w", ErrLeadershipLost), ClassTimeout},
		{fmt.Errorf("forwarding: %w: %w", env.ErrTimeout, ErrAmbiguous), ClassTimeout},
		{&streams.TooBusyError{What: "writes", Limit: 1}, ClassTooBusy},
		{&streams.InvalidArgumentError{What: "x"}, ClassInvalidArgument},
		{&RemoteWriteError{Message: "leader's disk"}, ClassRemote},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if !errors.Is(&DiskFullError{}, ErrAmbiguous) {
		t.Error("a disk-full answer must stay ambiguous for clients that retry")
	}
}
