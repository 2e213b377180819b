package clienttests

import (
	"testing"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
)

func TestStreamMetadata(t *testing.T) {
	g := startSingleNode(t)
	c := connect(t, g.connString())

	t.Run("metadata round-trips, custom properties included", func(t *testing.T) {
		stream := uniqueName("meta")
		// Without metadata the client reads $$stream and finds nothing: an
		// empty result or the not-found error, depending on the client.
		none, err := c.GetStreamMetadata(opContext(t), stream, kurrentdb.ReadStreamOptions{})
		if err != nil {
			requireCode(t, err, kurrentdb.ErrorCodeResourceNotFound, "metadata of a stream without any")
		} else {
			require.Nil(t, none.MaxCount())
		}
		var meta kurrentdb.StreamMetadata
		meta.SetMaxCount(7)
		meta.AddCustomProperty("owner", "tests")
		_, err = c.SetStreamMetadata(opContext(t), stream, kurrentdb.AppendToStreamOptions{}, meta)
		require.NoError(t, err)
		got, err := c.GetStreamMetadata(opContext(t), stream, kurrentdb.ReadStreamOptions{})
		require.NoError(t, err)
		require.NotNil(t, got.MaxCount())
		require.Equal(t, uint64(7), *got.MaxCount())
		require.Equal(t, "tests", got.CustomProperty("owner"))
		var next kurrentdb.StreamMetadata
		next.SetMaxCount(9)
		_, err = c.SetStreamMetadata(opContext(t), stream, kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.Revision(0)}, next)
		require.NoError(t, err, "the second metadata write expects metastream revision 0")
		got, err = c.GetStreamMetadata(opContext(t), stream, kurrentdb.ReadStreamOptions{})
		require.NoError(t, err)
		require.Equal(t, uint64(9), *got.MaxCount())
	})

	t.Run("maxCount limits what reads return", func(t *testing.T) {
		stream := uniqueName("meta-maxcount")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(5, "TestEvent", 0)...)
		var meta kurrentdb.StreamMetadata
		meta.SetMaxCount(2)
		_, err := c.SetStreamMetadata(opContext(t), stream, kurrentdb.AppendToStreamOptions{}, meta)
		require.NoError(t, err)
		require.Equal(t, []uint64{3, 4}, revisions(mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100)), "forwards")
		require.Equal(t, []uint64{4, 3}, revisions(mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 100)), "backwards")
		appendEvents(t, c, stream, kurrentdb.Revision(4), makeEvents(1, "TestEvent", 5)...)
		require.Equal(t, []uint64{4, 5}, revisions(mustReadStream(t, c, stream, kurrentdb.ReadStreamOptions{}, 100)), "the window moves with new events")
	})

	t.Run("setting metadata with a wrong expected revision fails", func(t *testing.T) {
		stream := uniqueName("meta-wev")
		var meta kurrentdb.StreamMetadata
		meta.SetMaxCount(3)
		_, err := c.SetStreamMetadata(opContext(t), stream, kurrentdb.AppendToStreamOptions{}, meta)
		require.NoError(t, err)
		_, err = c.SetStreamMetadata(opContext(t), stream, kurrentdb.AppendToStreamOptions{StreamState: kurrentdb.NoStream{}}, meta)
		requireCode(t, err, kurrentdb.ErrorCodeWrongExpectedVersion, "metadata write expecting no metastream")
	})
}
