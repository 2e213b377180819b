package node

import (
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/wire"
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

// A timeout answered by the leader crosses the wire as its cause only;
// the forwarding node names the stream. Its message says each thing once,
// and it stays an ambiguous timeout.
func TestATimeoutFromTheLeaderKeepsItsCauseOnce(t *testing.T) {
	cause := fmt.Errorf("not committed within 4s: %w", ErrAmbiguous)
	var got WriteResult
	if err := wire.UnmarshalInto(wire.Marshal(&WriteResult{Err: &streams.TimeoutError{Stream: "orders", Err: cause}}), &got); err != nil {
		t.Fatal(err)
	}
	te, ok := errors.AsType[*streams.TimeoutError](got.Err)
	if !ok || !errors.Is(got.Err, ErrAmbiguous) || Classify(got.Err) != ClassTimeout {
		t.Fatalf("decoded %#v; want an ambiguous TimeoutError", got.Err)
	}
	te.Stream = "orders" // as forward does
	const want = `write to stream "orders" timed out (not committed within 4s: write outcome unknown); it may still be committed: retry with the same event ids`
	if msg := got.Err.Error(); msg != want {
		t.Fatalf("message %q\nwant    %q", msg, want)
	}
}
