package clienttests

import (
	"fmt"
	"testing"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
)

// Link events ($>, data "revision@stream") that a client writes itself are
// resolved on reads and subscriptions that ask for it.
func TestLinksResolve(t *testing.T) {
	g := startSingleNode(t)
	c := connect(t, g.connString())

	target := uniqueName("link-target")
	events := makeEvents(3, "Placed", 0)
	appendEvents(t, c, target, kurrentdb.NoStream{}, events...)
	links := uniqueName("links")
	link := func(rev int) kurrentdb.EventData {
		return kurrentdb.EventData{EventType: "$>", ContentType: kurrentdb.ContentTypeBinary, Data: fmt.Appendf(nil, "%d@%s", rev, target)}
	}
	appendEvents(t, c, links, kurrentdb.NoStream{}, link(2), link(0), link(9))

	t.Run("a read with ResolveLinkTos gets each target beside its link", func(t *testing.T) {
		got := mustReadStream(t, c, links, kurrentdb.ReadStreamOptions{From: kurrentdb.Start{}, ResolveLinkTos: true}, 100)
		require.Len(t, got, 3)
		for i, want := range []int{2, 0} {
			require.NotNil(t, got[i].Link, "link %d", i)
			require.NotNil(t, got[i].Event, "link %d's target", i)
			require.Equal(t, target, got[i].Event.StreamID)
			require.Equal(t, uint64(want), got[i].Event.EventNumber)
			require.Equal(t, events[want].EventID, got[i].Event.EventID)
			require.Equal(t, links, got[i].OriginalEvent().StreamID, "the original event is the link")
			require.Equal(t, kurrentdb.Revision(uint64(i)), got[i].OriginalStreamRevision())
		}
		require.NotNil(t, got[2].Link, "a link past its target's end comes alone")
		require.Nil(t, got[2].Event)
	})

	t.Run("a read without it gets the links as they are", func(t *testing.T) {
		got := mustReadStream(t, c, links, kurrentdb.ReadStreamOptions{From: kurrentdb.Start{}}, 100)
		require.Len(t, got, 3)
		for _, e := range got {
			require.Nil(t, e.Link)
			require.Equal(t, "$>", e.Event.EventType)
		}
	})

	t.Run("a subscription with ResolveLinkTos resolves too", func(t *testing.T) {
		sub, err := c.SubscribeToStream(opContext(t), links, kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Start{}, ResolveLinkTos: true})
		require.NoError(t, err)
		defer sub.Close()
		for {
			ev := sub.Recv()
			if ev.SubscriptionDropped != nil {
				t.Fatalf("dropped: %v", ev.SubscriptionDropped.Error)
			}
			if ev.EventAppeared == nil {
				continue
			}
			require.NotNil(t, ev.EventAppeared.Event)
			require.Equal(t, target, ev.EventAppeared.Event.StreamID)
			require.Equal(t, uint64(2), ev.EventAppeared.Event.EventNumber)
			return
		}
	})
}
