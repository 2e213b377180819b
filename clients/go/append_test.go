package clienttests

import (
	"testing"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
)

func TestAppend(t *testing.T) {
	g := startSingleNode(t)
	c := connect(t, g.connString())

	t.Run("expected revision any appends to a new and to an existing stream", func(t *testing.T) {
		stream := uniqueName("append-any")
		first := appendEvents(t, c, stream, kurrentdb.Any{}, makeEvents(2, "TestEvent", 0)...)
		require.Equal(t, uint64(1), first.NextExpectedVersion, "two events into a new stream end at revision 1")
		second := appendEvents(t, c, stream, kurrentdb.Any{}, makeEvents(1, "TestEvent", 2)...)
		require.Equal(t, uint64(2), second.NextExpectedVersion)
		require.Greater(t, second.CommitPosition, first.CommitPosition, "commit positions grow")
		evs := mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100)
		require.Equal(t, []uint64{0, 1, 2}, revisions(evs))
	})

	t.Run("expected revision no_stream creates a stream and refuses an existing one", func(t *testing.T) {
		stream := uniqueName("append-nostream")
		res := appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(1, "TestEvent", 0)...)
		require.Equal(t, uint64(0), res.NextExpectedVersion)
		_, err := c.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.NoStream{}}, makeEvents(1, "TestEvent", 1)...)
		requireCode(t, err, kurrentdb.ErrorCodeWrongExpectedVersion, "append with no_stream to an existing stream")
		require.Contains(t, err.Error(), "expecting 'no_stream' but got '0'", "the error reports what was expected and the current revision")
	})

	t.Run("an exact expected revision appends when it matches and is refused when it does not", func(t *testing.T) {
		stream := uniqueName("append-exact")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(3, "TestEvent", 0)...)
		ok := appendEvents(t, c, stream, kurrentdb.Revision(2), makeEvents(1, "TestEvent", 3)...)
		require.Equal(t, uint64(3), ok.NextExpectedVersion)
		_, err := c.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Revision(1)}, makeEvents(1, "TestEvent", 9)...)
		requireCode(t, err, kurrentdb.ErrorCodeWrongExpectedVersion, "append expecting revision 1 of a stream at 3")
		require.Contains(t, err.Error(), "expecting '1' but got '3'")
		_, err = c.AppendToStream(opContext(t), uniqueName("append-exact-missing"), kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Revision(0)}, makeEvents(1, "TestEvent", 0)...)
		requireCode(t, err, kurrentdb.ErrorCodeWrongExpectedVersion, "append expecting revision 0 of a missing stream")
		require.Contains(t, err.Error(), "but got 'no_stream'")
		require.Len(t, mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100), 4, "refused appends wrote nothing")
	})

	t.Run("expected revision stream_exists needs the stream to exist", func(t *testing.T) {
		stream := uniqueName("append-exists")
		_, err := c.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.StreamExists{}}, makeEvents(1, "TestEvent", 0)...)
		requireCode(t, err, kurrentdb.ErrorCodeWrongExpectedVersion, "append with stream_exists to a missing stream")
		require.Contains(t, err.Error(), "expecting 'stream_exists' but got 'no_stream'")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(1, "TestEvent", 0)...)
		res := appendEvents(t, c, stream, kurrentdb.StreamExists{}, makeEvents(2, "TestEvent", 1)...)
		require.Equal(t, uint64(2), res.NextExpectedVersion)
	})

	t.Run("an append of the same event ids with the same expectation is idempotent", func(t *testing.T) {
		stream := uniqueName("append-idem")
		events := makeEvents(2, "TestEvent", 0)
		a := appendEvents(t, c, stream, kurrentdb.NoStream{}, events...)
		b := appendEvents(t, c, stream, kurrentdb.NoStream{}, events...)
		require.Equal(t, a.NextExpectedVersion, b.NextExpectedVersion)
		require.Equal(t, ids(events), eventIDs(mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100)), "a retried append must not duplicate events")
	})

	t.Run("event fields round-trip", func(t *testing.T) {
		stream := uniqueName("append-fields")
		ev := kurrentdb.EventData{
			EventID:     makeEvents(1, "x", 0)[0].EventID,
			EventType:   "FieldsChecked",
			ContentType: kurrentdb.ContentTypeJson,
			Data:        []byte(`{"hello":"world"}`),
			Metadata:    []byte(`{"correlation":"abc"}`),
		}
		bin := kurrentdb.EventData{EventID: makeEvents(1, "x", 0)[0].EventID, EventType: "Binary", ContentType: kurrentdb.ContentTypeBinary, Data: []byte{0, 1, 2, 255}}
		appendEvents(t, c, stream, kurrentdb.NoStream{}, ev, bin)
		evs := mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 10)
		require.Len(t, evs, 2)
		got := evs[0].OriginalEvent()
		require.Equal(t, ev.EventID, got.EventID)
		require.Equal(t, stream, got.StreamID)
		require.Equal(t, "FieldsChecked", got.EventType)
		require.Equal(t, "application/json", got.ContentType)
		require.JSONEq(t, `{"hello":"world"}`, string(got.Data))
		require.JSONEq(t, `{"correlation":"abc"}`, string(got.UserMetadata))
		require.WithinDuration(t, time.Now(), got.CreatedDate, time.Minute, "the created date is the time of the append")
		b := evs[1].OriginalEvent()
		require.Equal(t, "application/octet-stream", b.ContentType)
		require.Equal(t, []byte{0, 1, 2, 255}, b.Data)
	})
	t.Run("an append larger than the maximum append size is refused", func(t *testing.T) {
		stream := uniqueName("append-big")
		big := kurrentdb.EventData{EventID: makeEvents(1, "x", 0)[0].EventID, EventType: "Big", ContentType: kurrentdb.ContentTypeBinary, Data: make([]byte, 1100*1024)}
		_, err := c.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{}, big)
		// The client has no code of its own for exception
		// maximum-append-size-exceeded: it surfaces as ErrorCodeUnknown
		// carrying the INVALID_ARGUMENT status.
		requireCode(t, err, kurrentdb.ErrorCodeUnknown, "append of a 1.1 MiB event")
		require.Contains(t, err.Error(), "InvalidArgument")
		res := appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(1, "TestEvent", 0)...)
		require.Equal(t, uint64(0), res.NextExpectedVersion, "the refused append wrote nothing")
	})
}
