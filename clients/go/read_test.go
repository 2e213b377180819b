package clienttests

import (
	"testing"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	g := startSingleNode(t)
	c := connect(t, g.connString())

	streamOf := func(t *testing.T, prefix string, n int) (string, []kurrentdb.EventData) {
		stream := uniqueName(prefix)
		events := makeEvents(n, "TestEvent", 0)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, events...)
		return stream, events
	}
	fwd := func(from kurrentdb.StreamPosition) kurrentdb.ReadStreamOptions {
		return kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: from}
	}
	bwd := func(from kurrentdb.StreamPosition) kurrentdb.ReadStreamOptions {
		return kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: from}
	}

	t.Run("a stream forwards from the start, from a revision, with a count", func(t *testing.T) {
		stream, events := streamOf(t, "read-fwd", 5)
		all := mustReadStream(t, c, stream, fwd(kurrentdb.Start{}), 100)
		require.Equal(t, []uint64{0, 1, 2, 3, 4}, revisions(all))
		require.Equal(t, ids(events), eventIDs(all))
		for _, e := range all {
			require.Equal(t, stream, e.OriginalEvent().StreamID)
			require.Equal(t, "TestEvent", e.OriginalEvent().EventType)
		}
		require.Equal(t, []uint64{2, 3, 4}, revisions(mustReadStream(t, c, stream, fwd(kurrentdb.Revision(2)), 100)))
		require.Equal(t, []uint64{0, 1}, revisions(mustReadStream(t, c, stream, fwd(kurrentdb.Start{}), 2)))
		require.Equal(t, []uint64{1, 2, 3}, revisions(mustReadStream(t, c, stream, fwd(kurrentdb.Revision(1)), 3)))
		require.Empty(t, mustReadStream(t, c, stream, fwd(kurrentdb.Revision(9)), 100), "past the end")
		require.Empty(t, mustReadStream(t, c, stream, fwd(kurrentdb.End{}), 100), "forwards from the end")
	})

	t.Run("a stream backwards from the end, from a revision, with a count", func(t *testing.T) {
		stream, events := streamOf(t, "read-bwd", 5)
		all := mustReadStream(t, c, stream, bwd(kurrentdb.End{}), 100)
		require.Equal(t, []uint64{4, 3, 2, 1, 0}, revisions(all))
		require.Equal(t, reversed(ids(events)), eventIDs(all))
		require.Equal(t, []uint64{4, 3}, revisions(mustReadStream(t, c, stream, bwd(kurrentdb.End{}), 2)))
		require.Equal(t, []uint64{2, 1, 0}, revisions(mustReadStream(t, c, stream, bwd(kurrentdb.Revision(2)), 100)))
		require.Equal(t, []uint64{3, 2}, revisions(mustReadStream(t, c, stream, bwd(kurrentdb.Revision(3)), 2)))
		require.Equal(t, []uint64{0}, revisions(mustReadStream(t, c, stream, bwd(kurrentdb.Start{}), 100)), "backwards from the start")
	})

	t.Run("reads longer than one server page come back whole and in order", func(t *testing.T) {
		stream := uniqueName("read-long")
		const n = 1100
		for i := 0; i < n; i += 100 {
			var state kurrentdb.StreamState = kurrentdb.NoStream{}
			if i > 0 {
				state = kurrentdb.Revision(uint64(i - 1))
			}
			appendEvents(t, c, stream, state, makeEvents(100, "TestEvent", i)...)
		}
		all := mustReadStream(t, c, stream, fwd(kurrentdb.Start{}), 1_000_000)
		require.Len(t, all, n)
		for i, r := range revisions(all) {
			require.Equal(t, uint64(i), r, "forwards: revisions 0..%d in order", n-1)
		}
		mid := mustReadStream(t, c, stream, fwd(kurrentdb.Revision(500)), 600)
		require.Equal(t, []uint64{600, 500, 1099}, []uint64{uint64(len(mid)), revisions(mid)[0], revisions(mid)[599]}, "forwards from 500, 600 events")
		back := mustReadStream(t, c, stream, bwd(kurrentdb.End{}), 1024)
		require.Len(t, back, 1024)
		for i, r := range revisions(back) {
			require.Equal(t, uint64(n-1-i), r, "backwards from the end")
		}
		require.Len(t, inStreams(mustReadAll(t, c, kurrentdb.ReadAllOptions{}, 1_000_000), stream), n, "$all holds every event of the long stream")
	})

	t.Run("a stream that does not exist reads as ErrorCodeResourceNotFound", func(t *testing.T) {
		stream := uniqueName("read-missing")
		for _, opts := range []kurrentdb.ReadStreamOptions{fwd(kurrentdb.Start{}), bwd(kurrentdb.End{})} {
			_, err := readStream(opContext(t), c, stream, opts, 100)
			requireCode(t, err, kurrentdb.ErrorCodeResourceNotFound, "read of a missing stream")
			require.Contains(t, err.Error(), stream, "the error names the stream")
		}
	})

	t.Run("$all forwards and backwards in commit order, with a count and from a position", func(t *testing.T) {
		a, aEvents := streamOf(t, "readall-a", 3)
		b, bEvents := streamOf(t, "readall-b", 2)
		want := append(ids(aEvents), ids(bEvents)...)

		forwards := inStreams(mustReadAll(t, c, kurrentdb.ReadAllOptions{Direction: kurrentdb.Forwards, From: kurrentdb.Start{}}, 1_000_000), a, b)
		require.Equal(t, want, eventIDs(forwards), "$all forwards holds our events in append order")
		for i := 1; i < len(forwards); i++ {
			require.Greater(t, forwards[i].OriginalEvent().Position.Commit, forwards[i-1].OriginalEvent().Position.Commit, "commit positions grow")
		}
		backwards := inStreams(mustReadAll(t, c, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 1_000_000), a, b)
		require.Equal(t, reversed(want), eventIDs(backwards))

		last3 := mustReadAll(t, c, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 3)
		require.Equal(t, reversed(want)[:3], eventIDs(last3), "a count of 3 backwards gives the newest 3 events")

		from := forwards[0].OriginalEvent().Position
		two := mustReadAll(t, c, kurrentdb.ReadAllOptions{Direction: kurrentdb.Forwards, From: from}, 2)
		require.Equal(t, want[:2], eventIDs(two), "forwards from an event's position starts with that event")

		last := forwards[len(forwards)-1].OriginalEvent().Position
		before := mustReadAll(t, c, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: last}, 1_000_000)
		for _, e := range before {
			require.LessOrEqual(t, e.OriginalEvent().Position.Commit, last.Commit, "backwards from a position gives nothing after it")
		}
		ours := eventIDs(inStreams(before, a, b))
		if len(ours) == 5 {
			require.Equal(t, reversed(want), ours)
		} else {
			require.Equal(t, reversed(want)[1:], ours, "backwards from a position gives the earlier events, newest first")
		}
	})
}
