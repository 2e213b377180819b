package clientapi

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/filter"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// nextSub waits for the subscription the server opened on the fake.
func nextSub(t *testing.T, n *fakeNode) *fakeSub {
	t.Helper()
	select {
	case s := <-n.subs:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("the server opened no subscription on the node")
		return nil
	}
}

// waitClosed fails unless the server closes the node's subscription.
func waitClosed(t *testing.T, s *fakeSub) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server never closed the node's subscription")
	}
}

func event(stream string, rev, pos int64) streams.Event {
	return streams.Event{Position: pos, Stream: stream, Number: rev, ID: idOf(byte(rev)), Type: "t", Created: createdBase + rev}
}

func TestStreamSubscriptionOrderAndCancellation(t *testing.T) {
	n := newFakeNode()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	c := serve(t, n, Options{Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()

	st, err := c.streams.Read(ctx, subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("orders", fromAt(4)), UuidOption: uuidOption(true)}))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	sub := nextSub(t, n)
	if k, v := fromParts(sub.req.From); k != "after" || v != 4 || sub.req.Stream != "orders" || sub.req.Filter != nil {
		t.Fatalf("node got %+v (from %v), want stream orders after revision 4", sub.req, sub.req.From)
	}
	sub.push(streams.Message{Kind: streams.EventAppeared, Event: event("orders", 5, 50)})
	sub.push(streams.Message{Kind: streams.CaughtUp, Revision: 5, Position: -1})
	sub.push(streams.Message{Kind: streams.EventAppeared, Event: event("orders", 6, 60)})
	sub.push(streams.Message{Kind: streams.FellBehind})
	sub.push(streams.Message{Kind: streams.EventAppeared, Event: event("orders", 7, 70)})
	sub.push(streams.Message{Kind: streams.CaughtUp, Revision: 7, Position: -1})

	var got []string
	caughtUpAt := []int64{5, 7}
	for len(got) < 7 {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		switch x := m.GetContent().(type) {
		case *pb.ReadResp_Confirmation:
			got = append(got, "confirmation:"+x.Confirmation.GetSubscriptionId())
		case *pb.ReadResp_Event:
			if x.Event.GetEvent().GetId().GetStructured() == nil {
				t.Fatalf("event id %v, want the structured form asked for", x.Event.GetEvent().GetId())
			}
			got = append(got, "event")
		case *pb.ReadResp_CaughtUp_:
			if x.CaughtUp.StreamRevision == nil || x.CaughtUp.GetStreamRevision() != caughtUpAt[0] || x.CaughtUp.Position != nil {
				t.Fatalf("caught_up %v, want stream_revision %d and no position", x.CaughtUp, caughtUpAt[0])
			}
			caughtUpAt = caughtUpAt[1:]
			if !x.CaughtUp.GetTimestamp().AsTime().Equal(now) {
				t.Fatalf("caught_up timestamp %v, want %v", x.CaughtUp.GetTimestamp().AsTime(), now)
			}
			got = append(got, "caught_up")
		case *pb.ReadResp_FellBehind_:
			got = append(got, "fell_behind")
		default:
			t.Fatalf("unexpected message %T", x)
		}
	}
	want := []string{"confirmation:sub-1", "event", "caught_up", "event", "fell_behind", "event", "caught_up"}
	if !equalStrings(got, want) {
		t.Fatalf("messages %v, want %v", got, want)
	}

	cancel()
	waitClosed(t, sub)
	if _, err := st.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("after cancelling, Recv gave %v, want Canceled", err)
	}
}

func TestAllSubscriptionFilterCheckpointsAndStarts(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()

	f := &pb.ReadReq_Options_FilterOptions{
		Filter:                       &pb.ReadReq_Options_FilterOptions_EventType{EventType: &pb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"Order"}}},
		Window:                       &pb.ReadReq_Options_FilterOptions_Max{Max: 10},
		CheckpointIntervalMultiplier: 2,
	}
	st, err := c.streams.Read(ctx, subscribeReq(&pb.ReadReq_Options{StreamOption: allOption(fromAt(1234)), FilterOption: &pb.ReadReq_Options_Filter{Filter: f}}))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	sub := nextSub(t, n)
	if k, v := fromParts(sub.req.From); k != "after" || v != 1234 || sub.req.Stream != "" {
		t.Fatalf("node got %+v, want $all after position 1234", sub.req)
	}
	want := streams.AllFilter{Spec: filter.Spec{On: filter.EventType, Prefixes: []string{"Order"}}, MaxSearchWindow: 10, CheckpointIntervalMultiplier: 2}
	if sub.req.Filter == nil || sub.req.Filter.On != want.On || sub.req.Filter.Prefixes[0] != "Order" || sub.req.Filter.MaxSearchWindow != 10 || sub.req.Filter.CheckpointIntervalMultiplier != 2 {
		t.Fatalf("node got filter %+v, want %+v", sub.req.Filter, want)
	}
	sub.push(streams.Message{Kind: streams.Checkpoint, Position: 1300})
	sub.push(streams.Message{Kind: streams.CaughtUp, Position: 1400, Revision: -1})
	if m, err := st.Recv(); err != nil || m.GetConfirmation() == nil {
		t.Fatalf("first message %v, %v; want the confirmation", m, err)
	}
	m, err := st.Recv()
	if err != nil || m.GetCheckpoint().GetCommitPosition() != 1300 || m.GetCheckpoint().GetPreparePosition() != 1300 || m.GetCheckpoint().GetTimestamp() == nil {
		t.Fatalf("second message %v, %v; want a checkpoint at 1300 with a timestamp", m, err)
	}
	m, err = st.Recv()
	if err != nil || m.GetCaughtUp().GetPosition().GetCommitPosition() != 1400 || m.GetCaughtUp().StreamRevision != nil {
		t.Fatalf("third message %v, %v; want caught_up at position 1400", m, err)
	}
	cancel()
	waitClosed(t, sub)

	// Start and end map to the node's Start and End.
	for _, tc := range []struct {
		o    *pb.ReadReq_Options
		want string
	}{
		{&pb.ReadReq_Options{StreamOption: allOption(fromStart)}, "start"},
		{&pb.ReadReq_Options{StreamOption: allOption(fromEnd)}, "end"},
		{&pb.ReadReq_Options{StreamOption: streamOption("s", fromStart)}, "start"},
		{&pb.ReadReq_Options{StreamOption: streamOption("s", fromEnd)}, "end"},
	} {
		ctx, cancel := context.WithCancel(testContext(t))
		st, err := c.streams.Read(ctx, subscribeReq(tc.o))
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		sub := nextSub(t, n)
		if k, _ := fromParts(sub.req.From); k != tc.want {
			t.Fatalf("node got from %v, want %s", sub.req.From, tc.want)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("confirmation: %v", err)
		}
		cancel()
		waitClosed(t, sub)
	}
}

func TestSubscriptionEndings(t *testing.T) {
	cases := []struct {
		name     string
		end      subItem
		code     codes.Code
		trailers []string
	}{
		{"stream tombstoned", subItem{msg: streams.Message{Kind: streams.Dropped, Err: &streams.StreamDeletedError{Stream: "s"}}}, codes.FailedPrecondition, []string{"exception", "stream-deleted", "stream-name", "s"}},
		{"node stops serving", subItem{msg: streams.Message{Kind: streams.Dropped, Err: node.ErrNotReady}}, codes.Unavailable, nil},
		{"dropped without a reason", subItem{msg: streams.Message{Kind: streams.Dropped}}, codes.Unavailable, nil},
		{"node gone", subItem{err: ErrNodeStopped}, codes.Unavailable, nil},
		{"not leader any more", subItem{msg: streams.Message{Kind: streams.Dropped, Err: &node.NotLeaderError{Leader: env.Endpoint{Host: "10.0.0.2", Port: 2113}}}}, codes.NotFound, []string{"exception", "not-leader", "leader-endpoint-host", "10.0.0.2", "leader-endpoint-port", "2113"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNode()
			c := serve(t, n, Options{})
			st, err := c.streams.Read(testContext(t), subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("s", fromStart)}))
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			sub := nextSub(t, n)
			sub.items <- tc.end
			if m, err := st.Recv(); err != nil || m.GetConfirmation() == nil {
				t.Fatalf("first message %v, %v; want the confirmation", m, err)
			}
			_, err = st.Recv()
			wantStatus(t, tc.name, st.Trailer(), err, tc.code, tc.trailers...)
			waitClosed(t, sub)
		})
	}
}

func TestSubscribeRefusals(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{})
	n.inject(nil, &streams.TooBusyError{What: "subscriptions", Limit: 1})
	_, md, err := readToEnd(t, c, subscribeReq(&pb.ReadReq_Options{StreamOption: allOption(fromStart)}))
	wantStatus(t, "too many subscriptions", md, err, codes.Unavailable)

	n.inject(nil, nil)
	backwards := subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("s", fromStart), ReadDirection: pb.ReadReq_Options_Backwards})
	_, md, err = readToEnd(t, c, backwards)
	wantStatus(t, "backwards subscription", md, err, codes.InvalidArgument)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.subscribes) != 1 {
		t.Fatalf("node got %d subscribe calls, want 1 (the invalid request must not reach it)", len(n.subscribes))
	}
}
