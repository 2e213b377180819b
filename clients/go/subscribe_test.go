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

	t.Run("a stream subscription to a tombstoned stream is dropped at once, with none of its events", func(t *testing.T) {
		stream := uniqueName("sub-tombstoned")
		appendEvents(t, c, stream, kurrentdb.NoStream{}, makeEvents(3, "TestEvent", 0)...)
		_, err := c.TombstoneStream(opContext(t), stream, kurrentdb.TombstoneStreamOptions{StreamState: kurrentdb.Any{}})
		require.NoError(t, err, "tombstone")
		w := subStream(t, stream, kurrentdb.Start{}, nil)
		items, dropped := w.untilDropped(t)
		// The client hands a subscription's drop over as the call's gRPC
		// status, not as a *kurrentdb.Error.
		st, ok := status.FromError(dropped)
		require.True(t, ok, "the drop is a gRPC status: %v", dropped)
		require.Equal(t, codes.FailedPrecondition, st.Code(), "the drop's code: %v", dropped)
		require.Contains(t, st.Message(), "is deleted", "the drop says the stream is deleted")
		require.Empty(t, items, "a tombstoned stream's events are deleted, as a read of it says")
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

	t.Run("a $all subscription filtered by an event-type regex", func(t *testing.T) {
		tag := uniqueName("RegexType")
		stream := uniqueName("subregex")
		w := subAll(t, kurrentdb.SubscribeToAllOptions{From: kurrentdb.End{}, Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.EventFilterType, Regex: "^" + tag + "-(a|c)$"}}, nil)
		appendEvents(t, c, stream, kurrentdb.NoStream{}, append(append(makeEvents(1, tag+"-a", 0), makeEvents(1, tag+"-b", 1)...), makeEvents(1, tag+"-c", 2)...)...)
		w.until(t, "the 2 matching events", func(items []item) bool { return countEvents(items) >= 2 })
		require.Equal(t, []uint64{0, 2}, revisions(w.events()))
	})
}
