package clienttests

import (
	"testing"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSubscribe(t *testing.T) {
	g := startSingleNode(t)
	c := connect(t, g.connString())

	subStream := func(t *testing.T, stream string, from kurrentdb.StreamPosition, keep func(*kurrentdb.ResolvedEvent) bool) *watcher {
		t.Helper()
		sub, err := c.SubscribeToStream(opContext(t), stream, kurrentdb.SubscribeToStreamOptions{From: from})
		require.NoError(t, err, "subscribe to %s", stream)
		return watch(t, sub, keep)
	}
	subAll := func(t *testing.T, opts kurrentdb.SubscribeToAllOptions, keep func(*kurrentdb.ResolvedEvent) bool) *watcher {
		t.Helper()
		sub, err := c.SubscribeToAll(opContext(t), opts)
		require.NoError(t, err, "subscribe to $all")
		return watch(t, sub, keep)
	}
	ofStream := func(stream string) func(*kurrentdb.ResolvedEvent) bool {
		return func(e *kurrentdb.ResolvedEvent) bool { return e.OriginalEvent().StreamID == stream }
	}

	t.Run("a stream subscription from the start gets history, caught-up, then live events", func(t *testing.T) {
		stream := uniqueName("sub-stream")
		history := makeEvents(3, "TestEvent", 0)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, history...)
		w := subStream(t, stream, kurrentdb.Start{}, nil)
		items := w.until(t, "3 history events and caught-up", func(items []item) bool { return countEvents(items) >= 3 && hasCaughtUp(items) })
		require.True(t, items[3].caughtUp, "caught-up comes right after the 3 history events; got %v", items)
		live := makeEvents(2, "TestEvent", 3)
		appendEvents(t, c, stream, kurrentdb.Revision(2), live...)
		w.until(t, "2 live events", func(items []item) bool { return countEvents(items) >= 5 })
		require.Equal(t, append(ids(history), ids(live)...), eventIDs(w.events()))
		require.Equal(t, []uint64{0, 1, 2, 3, 4}, revisions(w.events()))
	})

	t.Run("a catch-up longer than one server page delivers every event before caught-up", func(t *testing.T) {
		stream := uniqueName("sub-long")
		const n = 1100
		for i := 0; i < n; i += 100 {
			var state kurrentdb.StreamState = kurrentdb.NoStream{}
			if i > 0 {
				state = kurrentdb.Revision(uint64(i - 1))
			}
			appendEvents(t, c, stream, state, makeEvents(100, "TestEvent", i)...)
		}
		w := subStream(t, stream, kurrentdb.Start{}, nil)
		items := w.until(t, "the history and caught-up", hasCaughtUp)
		require.True(t, items[len(items)-1].caughtUp)
		require.Equal(t, n, countEvents(items), "caught-up comes after all the history")
		for i, r := range revisions(w.events()) {
			require.Equal(t, uint64(i), r, "history in order, none missing or repeated")
		}
		appendEvents(t, c, stream, kurrentdb.Revision(n-1), makeEvents(1, "TestEvent", n)...)
		w.until(t, "the live event", func(items []item) bool { return countEvents(items) >= n+1 })
	})

	t.Run("a stream subscription from a revision starts after it; from the end gets only new events", func(t *testing.T) {
		stream := uniqueName("sub-from")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(4, "TestEvent", 0)...)
		after1 := subStream(t, stream, kurrentdb.Revision(1), nil)
		fromEnd := subStream(t, stream, kurrentdb.End{}, nil)
		after1.until(t, "events after revision 1", func(items []item) bool { return countEvents(items) >= 2 })
		appendEvents(t, c, stream, kurrentdb.Revision(3), makeEvents(1, "TestEvent", 4)...)
		after1.until(t, "the live event", func(items []item) bool { return countEvents(items) >= 3 })
		fromEnd.until(t, "the live event", func(items []item) bool { return countEvents(items) >= 1 })
		require.Equal(t, []uint64{2, 3, 4}, revisions(after1.events()), "subscribing from revision 1 starts at 2")
		require.Equal(t, []uint64{4}, revisions(fromEnd.events()), "subscribing from the end delivers only the new event")
	})

	t.Run("a subscription to a stream not written yet delivers it once written", func(t *testing.T) {
		stream := uniqueName("sub-later")
		w := subStream(t, stream, kurrentdb.Start{}, nil)
		w.until(t, "caught-up on an empty stream", hasCaughtUp)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(2, "TestEvent", 0)...)
		w.until(t, "2 live events", func(items []item) bool { return countEvents(items) >= 2 })
		require.Equal(t, []uint64{0, 1}, revisions(w.events()))
	})

	t.Run("a stream subscription to a tombstoned stream is refused with ErrorCodeStreamDeleted", func(t *testing.T) {
		// As EventStoreDB: no confirmation, so the client's subscribe call
		// itself fails with the stream-deleted error.
		stream := uniqueName("sub-tombstoned")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(3, "TestEvent", 0)...)
		_, err := c.TombstoneStream(opContext(t), stream, kurrentdb.TombstoneStreamOptions{StreamState: kurrentdb.Any{}})
		require.NoError(t, err, "tombstone")
		for _, from := range []kurrentdb.StreamPosition{kurrentdb.Start{}, kurrentdb.End{}} {
			sub, err := c.SubscribeToStream(opContext(t), stream, kurrentdb.SubscribeToStreamOptions{From: from})
			if sub != nil {
				_ = sub.Close()
			}
			requireCode(t, err, kurrentdb.ErrorCodeStreamDeleted, "subscribing to a tombstoned stream")
		}
	})

	t.Run("a live stream subscription gets the tombstone event, then is dropped as deleted", func(t *testing.T) {
		stream := uniqueName("sub-live-tombstoned")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(2, "TestEvent", 0)...)
		w := subStream(t, stream, kurrentdb.Start{}, nil)
		w.until(t, "the history and caught-up", hasCaughtUp)
		_, err := c.TombstoneStream(opContext(t), stream, kurrentdb.TombstoneStreamOptions{StreamState: kurrentdb.Any{}})
		require.NoError(t, err, "tombstone")
		_, dropped := w.untilDropped(t)
		// The client hands a drop after confirmation over as the call's
		// gRPC status, not as a *kurrentdb.Error.
		st, ok := status.FromError(dropped)
		require.True(t, ok, "the drop is a gRPC status: %v", dropped)
		require.Equal(t, codes.FailedPrecondition, st.Code(), "the drop's code: %v", dropped)
		require.Contains(t, st.Message(), "is deleted", "the drop says the stream is deleted")
		evs := w.events()
		require.Len(t, evs, 3, "the two events and the tombstone")
		require.Equal(t, "$streamDeleted", evs[2].OriginalEvent().EventType)
		require.Equal(t, uint64(1<<63-1), evs[2].OriginalEvent().EventNumber)
	})

	t.Run("a $all subscription from the start gets history, caught-up, then live events", func(t *testing.T) {
		stream := uniqueName("sub-all")
		history := makeEvents(3, "TestEvent", 0)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, history...)
		w := subAll(t, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}}, ofStream(stream))
		all := subAll(t, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}}, nil)
		items := w.until(t, "history and caught-up", func(items []item) bool { return countEvents(items) >= 3 && hasCaughtUp(items) })
		require.True(t, items[3].caughtUp, "caught-up comes after the history; got %v", items)
		live := makeEvents(2, "TestEvent", 3)
		appendEvents(t, c, stream, kurrentdb.Revision(2), live...)
		w.until(t, "2 live events in $all", func(items []item) bool { return countEvents(items) >= 5 })
		require.Equal(t, append(ids(history), ids(live)...), eventIDs(w.events()))
		all.until(t, "our events in the unfiltered view", func([]item) bool { return len(inStreams(all.events(), stream)) >= 5 })
		evs := all.events()
		for i := 1; i < len(evs); i++ {
			require.Greater(t, evs[i].OriginalEvent().Position.Commit, evs[i-1].OriginalEvent().Position.Commit, "$all subscription positions grow")
		}
	})

	t.Run("a $all subscription from the end gets only new events", func(t *testing.T) {
		stream := uniqueName("sub-all-end")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(2, "TestEvent", 0)...)
		w := subAll(t, kurrentdb.SubscribeToAllOptions{From: kurrentdb.End{}}, ofStream(stream))
		appendEvents(t, c, stream, kurrentdb.Revision(1), makeEvents(1, "TestEvent", 2)...)
		w.until(t, "the live event", func(items []item) bool { return countEvents(items) >= 1 })
		require.Equal(t, []uint64{2}, revisions(w.events()))
	})

	t.Run("a $all subscription filtered by stream-name prefix delivers only those streams", func(t *testing.T) {
		prefix := uniqueName("subf")
		w := subAll(t, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}, Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: []string{prefix}}}, nil)
		appendEvents(t, c, prefix+"-a", kurrentdb.NoStream{}, makeEvents(2, "TestEvent", 0)...)
		appendEvents(t, c, uniqueName("subf-other"), kurrentdb.NoStream{}, makeEvents(3, "TestEvent", 0)...)
		appendEvents(t, c, prefix+"-b", kurrentdb.NoStream{}, makeEvents(1, "TestEvent", 0)...)
		appendEvents(t, c, prefix+"-c", kurrentdb.NoStream{}, makeEvents(1, "TestEvent", 0)...)
		w.until(t, "4 events of the prefixed streams", func(items []item) bool { return countEvents(items) >= 4 })
		var streams []string
		for _, e := range w.events() {
			streams = append(streams, e.OriginalEvent().StreamID)
		}
		require.Equal(t, []string{prefix + "-a", prefix + "-a", prefix + "-b", prefix + "-c"}, streams)
	})

	t.Run("a $all subscription filtered by event type delivers only those types", func(t *testing.T) {
		tag := uniqueName("SubType")
		stream := uniqueName("subtype")
		batch := append(append(makeEvents(1, tag+"-keep", 0), makeEvents(2, tag+"-drop", 1)...), makeEvents(1, tag+"-keep", 3)...)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, batch...)
		w := subAll(t, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}, Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.EventFilterType, Prefixes: []string{tag + "-keep"}}}, nil)
		w.until(t, "2 history events of the kept type", func(items []item) bool { return countEvents(items) >= 2 })
		appendEvents(t, c, stream, kurrentdb.Revision(3), append(makeEvents(1, tag+"-drop", 4), makeEvents(1, tag+"-keep", 5)...)...)
		w.until(t, "the live event of the kept type", func(items []item) bool { return countEvents(items) >= 3 })
		require.Equal(t, []uint64{0, 3, 5}, revisions(w.events()))
		for _, e := range w.events() {
			require.Equal(t, tag+"-keep", e.OriginalEvent().EventType)
		}
	})

	t.Run("a filtered $all subscription checkpoints where its catch-up ended, before caught-up", func(t *testing.T) {
		// EventStoreDB sends a checkpoint when a filtered catch-up reaches
		// the end of the log, so a subscriber whose filter matched nothing
		// (here, fewer events than one checkpoint interval) still learns
		// where to resume from.
		stream := uniqueName("subcp")
		last := appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(3, "TestEvent", 0)...)
		sub, err := c.SubscribeToAll(opContext(t), kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{},
			Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.EventFilterType, Prefixes: []string{uniqueName("NoSuchType")}}})
		require.NoError(t, err, "subscribe to $all")
		defer sub.Close()
		var checkpoints []kurrentdb.Position
		for {
			ev := sub.Recv()
			require.Nil(t, ev.SubscriptionDropped, "the subscription dropped")
			require.Nil(t, ev.EventAppeared, "the filter matches no event")
			if ev.CheckPointReached != nil {
				checkpoints = append(checkpoints, *ev.CheckPointReached)
			}
			if ev.CaughtUp != nil {
				break
			}
		}
		require.NotEmpty(t, checkpoints, "a checkpoint before caught-up")
		require.Equal(t, last.CommitPosition, checkpoints[len(checkpoints)-1].Commit, "the last checkpoint is at the last event of the log")
	})

	t.Run("a $all subscription filtered by an event-type regex", func(t *testing.T) {
		tag := uniqueName("RegexType")
		stream := uniqueName("subregex")
		w := subAll(t, kurrentdb.SubscribeToAllOptions{From: kurrentdb.End{}, Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.EventFilterType, Regex: "^" + tag + "-(a|c)$"}}, nil)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, append(append(makeEvents(1, tag+"-a", 0), makeEvents(1, tag+"-b", 1)...), makeEvents(1, tag+"-c", 2)...)...)
		w.until(t, "the 2 matching events", func(items []item) bool { return countEvents(items) >= 2 })
		require.Equal(t, []uint64{0, 2}, revisions(w.events()))
	})
}
