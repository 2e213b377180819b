package clienttests

import (
	"testing"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
)

func TestDeleteAndTombstone(t *testing.T) {
	g := startSingleNode(t)
	c := connect(t, g.connString())

	t.Run("a deleted stream reads as not found", func(t *testing.T) {
		stream := uniqueName("del")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(3, "TestEvent", 0)...)
		_, err := c.DeleteStream(opContext(t), stream, kurrentdb.DeleteStreamOptions{StreamState: kurrentdb.Revision(2)})
		require.NoError(t, err, "delete expecting revision 2")
		for _, opts := range []kurrentdb.ReadStreamOptions{{Direction: kurrentdb.Forwards}, {Direction: kurrentdb.Backwards, From: kurrentdb.End{}}} {
			_, err := readStream(opContext(t), c, stream, opts, 100)
			requireCode(t, err, kurrentdb.ErrorCodeResourceNotFound, "read after a delete")
		}
	})

	t.Run("a deleted stream can be written again and continues its revisions", func(t *testing.T) {
		stream := uniqueName("del-again")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(2, "TestEvent", 0)...)
		_, err := c.DeleteStream(opContext(t), stream, kurrentdb.DeleteStreamOptions{StreamState: kurrentdb.Any{}})
		require.NoError(t, err)
		again := makeEvents(1, "TestEvent", 2)
		res := appendEvents(t, c, stream, kurrentdb.Any{}, again...)
		require.Equal(t, uint64(2), res.NextExpectedVersion, "revisions continue after a soft delete")
		evs := mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100)
		require.Equal(t, ids(again), eventIDs(evs), "only the event written after the delete is visible")
		require.Equal(t, []uint64{2}, revisions(evs))
	})

	t.Run("deleting with a wrong expected revision fails", func(t *testing.T) {
		stream := uniqueName("del-wev")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(3, "TestEvent", 0)...)
		_, err := c.DeleteStream(opContext(t), stream, kurrentdb.DeleteStreamOptions{StreamState: kurrentdb.Revision(0)})
		require.Error(t, err, "delete expecting revision 0 of a stream at 2")
		// The Go client has no wrong-expected-version mapping for a status
		// error: FAILED_PRECONDITION with exception=wrong-expected-version
		// surfaces as ErrorCodeUnknown carrying the gRPC status.
		code, _ := errorCode(err)
		require.Contains(t, []kurrentdb.ErrorCode{kurrentdb.ErrorCodeWrongExpectedVersion, kurrentdb.ErrorCodeUnknown}, code, "got %s: %v", codeName(code), err)
		require.Contains(t, err.Error(), "FailedPrecondition", "the status is FAILED_PRECONDITION: %v", err)
		require.Len(t, mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100), 3, "the refused delete left the stream alone")
	})

	t.Run("soft-deleting a stream that never existed fails, whatever the expected state", func(t *testing.T) {
		for _, state := range []kurrentdb.StreamState{kurrentdb.Any{}, kurrentdb.NoStream{}} {
			_, err := c.DeleteStream(opContext(t), uniqueName("del-never"), kurrentdb.DeleteStreamOptions{StreamState: state})
			require.Error(t, err, "delete %T of a stream that never existed", state)
			require.Contains(t, err.Error(), "FailedPrecondition", "the status is FAILED_PRECONDITION: %v", err)
		}
	})

	t.Run("a tombstoned stream fails reads and appends with ErrorCodeStreamDeleted", func(t *testing.T) {
		stream := uniqueName("tomb")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(2, "TestEvent", 0)...)
		_, err := c.TombstoneStream(opContext(t), stream, kurrentdb.TombstoneStreamOptions{StreamState: kurrentdb.Revision(1)})
		require.NoError(t, err, "tombstone expecting revision 1")
		for _, opts := range []kurrentdb.ReadStreamOptions{{Direction: kurrentdb.Forwards}, {Direction: kurrentdb.Backwards, From: kurrentdb.End{}}} {
			_, err := readStream(opContext(t), c, stream, opts, 100)
			requireCode(t, err, kurrentdb.ErrorCodeStreamDeleted, "read of a tombstoned stream")
			require.Contains(t, err.Error(), stream, "the error names the stream")
		}
		for _, state := range []kurrentdb.StreamState{kurrentdb.Any{}, kurrentdb.NoStream{}, kurrentdb.Revision(1)} {
			_, err := c.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{StreamState: state}, makeEvents(1, "TestEvent", 0)...)
			requireCode(t, err, kurrentdb.ErrorCodeStreamDeleted, "append to a tombstoned stream")
		}
		_, err = c.TombstoneStream(opContext(t), stream, kurrentdb.TombstoneStreamOptions{StreamState: kurrentdb.Any{}})
		requireCode(t, err, kurrentdb.ErrorCodeStreamDeleted, "tombstoning a tombstoned stream")
		_, err = c.DeleteStream(opContext(t), stream, kurrentdb.DeleteStreamOptions{StreamState: kurrentdb.Any{}})
		requireCode(t, err, kurrentdb.ErrorCodeStreamDeleted, "deleting a tombstoned stream")
	})
}
