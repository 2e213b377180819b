package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

func appendOne(t *testing.T, c clientapi.Node, stream string, i int) node.WriteResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	id := [16]byte{byte(i), byte(i >> 8), 1}
	res, err := c.Append(ctx, node.AppendRequest{Stream: stream, Expected: int64(streams.Any),
		Events: []streams.EventData{{ID: id, Type: "t", Data: []byte(fmt.Sprintf(`{"i":%d}`, i)), IsJSON: true}}})
	if err != nil || res.Err != nil {
		t.Fatalf("append %d to %s: call error %v, result %v", i, stream, err, res.Err)
	}
	return res
}

func TestClientNodeServesWritesReadsAndSubscriptions(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), nil))
	waitUntil(t, "the node to lead", leads(n))
	c := n.rt.client

	for i := range 3 {
		if res := appendOne(t, c, "orders", i); res.Revision != int64(i) {
			t.Fatalf("append %d got revision %d", i, res.Revision)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	read, err := c.ReadStream(ctx, node.ReadRequest{Stream: "orders", Count: 10, RequireLeader: true})
	if err != nil || read.Err != nil || len(read.Events) != 3 {
		t.Fatalf("read back: call error %v, result error %v, %d events; want 3", err, read.Err, len(read.Events))
	}
	all, err := c.ReadAll(ctx, streams.ReadAllRequest{From: streams.Start(), Count: 100}, false)
	if err != nil || all.Err != nil {
		t.Fatalf("read $all: %v %v", err, all.Err)
	}
	found := 0
	for _, e := range all.Events {
		if e.Stream == "orders" {
			found++
		}
	}
	if found != 3 {
		t.Fatalf("$all holds %d events of orders, want 3", found)
	}
	view, err := c.ClusterView(ctx)
	if err != nil || len(view) != 1 || view[0].State != member.Leader {
		t.Fatalf("cluster view: %v %+v", err, view)
	}

	// A subscription: confirmation, the three events, caught up, then a
	// live event; more events than the credit window, to exercise the
	// grants.
	sub, err := c.Subscribe(ctx, clientapi.SubscribeRequest{Stream: "orders", From: streams.Start()})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	next := func() streams.Message {
		t.Helper()
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscription next: %v", err)
		}
		return m
	}
	if m := next(); m.Kind != streams.Confirmed {
		t.Fatalf("first message is %v, want confirmed", m.Kind)
	}
	var revs []int64
	for len(revs) < 3 {
		if m := next(); m.Kind == streams.EventAppeared {
			revs = append(revs, m.Event.Number)
		}
	}
	live := 3 * subscriptionWindow
	go func() {
		for i := 3; i < 3+live; i++ {
			id := [16]byte{byte(i), byte(i >> 8), 1}
			_, _ = c.Append(ctx, node.AppendRequest{Stream: "orders", Expected: int64(streams.Any),
				Events: []streams.EventData{{ID: id, Type: "t", Data: []byte("{}"), IsJSON: true}}})
		}
	}()
	for len(revs) < 3+live {
		if m := next(); m.Kind == streams.EventAppeared {
			if want := int64(len(revs)); m.Event.Number != want {
				t.Fatalf("subscription delivered revision %d, want %d", m.Event.Number, want)
			}
			revs = append(revs, m.Event.Number)
		}
	}
	sub.Close()

	// A cancelled context ends a wait at once.
	short, stop := context.WithCancel(context.Background())
	stop()
	if _, err := c.Append(short, node.AppendRequest{Stream: "x", Expected: int64(streams.Any),
		Events: []streams.EventData{{ID: [16]byte{9}, Type: "t"}}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestClientNodeAfterStopAnswersNodeStopped(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), nil))
	waitUntil(t, "the node to lead", leads(n))
	c := n.rt.client
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	sub, err := c.Subscribe(ctx, clientapi.SubscribeRequest{From: streams.End()})
	if err != nil {
		t.Fatalf("subscribe to $all: %v", err)
	}
	if err := n.rt.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	deadline := time.Now().Add(guard)
	for {
		m, err := sub.Next(ctx)
		if errors.Is(err, clientapi.ErrNodeStopped) || (err == nil && m.Kind == streams.Dropped) {
			break
		}
		if err != nil {
			t.Fatalf("subscription after stop: %v, want ErrNodeStopped or a Dropped message", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription never ended after the node stopped")
		}
	}
	sub.Close()
	if _, err := c.ReadStream(ctx, node.ReadRequest{Stream: "x", Count: 1}); !errors.Is(err, clientapi.ErrNodeStopped) {
		t.Fatalf("read after stop: %v, want ErrNodeStopped", err)
	}
}

// batchAppendPair sends, on one BatchAppend call, an append creating
// stream and one expecting the revision the first wrote, as a Node client
// does with two appends it awaits together; it returns both answers.
func batchAppendPair(t *testing.T, ctx context.Context, c pb.StreamsClient, stream string, i int) []*pb.BatchAppendResp {
	t.Helper()
	st, err := c.BatchAppend(ctx)
	if err != nil {
		t.Fatalf("BatchAppend: %v", err)
	}
	for k, expected := range []*pb.BatchAppendReq_Options{
		{StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(stream)}, ExpectedStreamPosition: &pb.BatchAppendReq_Options_NoStream{NoStream: &emptypb.Empty{}}},
		{StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(stream)}, ExpectedStreamPosition: &pb.BatchAppendReq_Options_StreamPosition{StreamPosition: 0}},
	} {
		uuid := func(kind int) *sharedpb.UUID {
			return &sharedpb.UUID{Value: &sharedpb.UUID_String_{String_: fmt.Sprintf("%08x-%04x-4000-8000-%012x", i, k, kind)}}
		}
		req := &pb.BatchAppendReq{CorrelationId: uuid(0), Options: expected, IsFinal: true,
			ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{{Id: uuid(1), Metadata: map[string]string{"type": "t", "content-type": "application/json"}, Data: []byte("{}")}}}
		if err := st.Send(req); err != nil {
			t.Fatalf("send append %d of pair %d: %v", k, i, err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	var out []*pb.BatchAppendResp
	for {
		r, err := st.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("pair %d after %d answers: %v", i, len(out), err)
		}
		out = append(out, r)
	}
}

func TestBatchAppendReachesTheNodeInArrivalOrder(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), nil))
	waitUntil(t, "the node to lead", leads(n))
	conn, err := grpc.NewClient(n.rt.NodeEndpoint().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %v: %v", n.rt.NodeEndpoint(), err)
	}
	defer conn.Close()
	c := pb.NewStreamsClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for i := range 50 {
		answers := batchAppendPair(t, ctx, c, fmt.Sprintf("pair-%d", i), i)
		if len(answers) != 2 {
			t.Fatalf("pair %d: %d answers, want 2", i, len(answers))
		}
		for _, a := range answers {
			if a.GetSuccess() == nil {
				t.Fatalf("pair %d: append expecting %v answered %v; the second append of a call must reach the node after the first", i, a.GetExpectedStreamPosition(), a.GetError())
			}
		}
	}
}

// A swamped node must not hold a client past its deadline: a call that
// finds the loop's inbox full gives up when its context ends, and closing
// a subscription never waits for room.
func TestClientNodeGivesUpOnAFullInboxWhenTheContextEnds(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), nil))
	waitUntil(t, "the node to lead", leads(n))
	c := n.rt.client
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	sub, err := c.Subscribe(ctx, clientapi.SubscribeRequest{From: streams.End()})
	if err != nil {
		t.Fatalf("subscribe to $all: %v", err)
	}

	release := n.rt.freeze(t)
	for n.rt.loop.Len() < n.rt.loop.Capacity() {
		if err := n.rt.loop.Deliver(func() {}); err != nil {
			t.Fatalf("filling the inbox: %v", err)
		}
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	answered := make(chan error, 1)
	go func() {
		_, err := c.Append(short, node.AppendRequest{Stream: "x", Expected: int64(streams.Any),
			Events: []streams.EventData{{ID: [16]byte{7}, Type: "t"}}})
		answered <- err
	}()
	closed := make(chan struct{})
	go func() {
		sub.Close()
		close(closed)
	}()
	select {
	case err := <-answered:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("append on a full inbox: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(guard):
		release()
		t.Fatalf("an append on a full inbox was still waiting %v after its deadline passed", guard)
	}
	select {
	case <-closed:
	case <-time.After(guard):
		release()
		t.Fatalf("closing a subscription on a full inbox was still waiting after %v", guard)
	}
	release()
	if res := appendOne(t, c, "after", 1); res.Revision != 0 {
		t.Fatalf("append after the inbox drained got revision %d, want 0", res.Revision)
	}
}

// TestAllPositionsBetweenRecordsAreNotCorruption: $all positions come from
// clients, which may hold stale or made-up ones. Reading or subscribing
// from one that is not where a record starts answers the events on its
// side of it, and the node neither takes it for damage nor cuts its log.
func TestAllPositionsBetweenRecordsAreNotCorruption(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), nil))
	waitUntil(t, "the node to lead", leads(n))
	c := n.rt.client
	var positions []int64
	for i := range 40 {
		positions = append(positions, appendOne(t, c, "orders", i).Position)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for _, p := range []int64{1, positions[0] + 1, positions[35] + 3} {
		for _, dir := range []streams.Direction{streams.Forwards, streams.Backwards} {
			res, err := c.ReadAll(ctx, streams.ReadAllRequest{From: streams.At(p), Direction: dir, Count: 100}, false)
			if err != nil || res.Err != nil {
				t.Fatalf("%v read of $all from %d: %v %v", dir, p, err, res.Err)
			}
			for _, e := range res.Events {
				if (dir == streams.Forwards) != (e.Position >= p) {
					t.Fatalf("%v read of $all from %d returned position %d", dir, p, e.Position)
				}
			}
		}
		sub, err := c.Subscribe(ctx, clientapi.SubscribeRequest{From: streams.After(p)})
		if err != nil {
			t.Fatalf("subscribe to $all after %d: %v", p, err)
		}
		for {
			m, err := sub.Next(ctx)
			if err != nil || m.Kind == streams.Dropped {
				t.Fatalf("subscription to $all after %d: %v %v", p, err, m.Err)
			}
			if m.Kind == streams.EventAppeared && m.Event.Position <= p {
				t.Fatalf("subscription to $all after %d delivered position %d", p, m.Event.Position)
			}
			if m.Kind == streams.CaughtUp {
				break
			}
		}
		sub.Close()
	}
	if !leads(n)() {
		t.Fatalf("the node no longer leads\n%s", n.log.String())
	}
	read, err := c.ReadStream(ctx, node.ReadRequest{Stream: "orders", Count: 100, RequireLeader: true})
	if err != nil || read.Err != nil || len(read.Events) != 40 {
		t.Fatalf("read back: %v %v, %d events; want 40\n%s", err, read.Err, len(read.Events), n.log.String())
	}
	if strings.Contains(n.log.String(), "corrupt") {
		t.Fatalf("the node logged corruption:\n%s", n.log.String())
	}
}

// TestASlowSubscriberHoldsBoundedBytes: a consumer that stops taking
// messages holds what the node's subscription buffers (bounded in bytes)
// plus what waits on its way to it. That wait is bounded in messages (the
// credit window) and must be bounded in bytes too: at 64 messages of big
// events, a few idle subscribers would hold gigabytes. Once the consumer
// takes again it gets every event, in order.
func TestASlowSubscriberHoldsBoundedBytes(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), nil))
	waitUntil(t, "the node to lead", leads(n))
	c := n.rt.client
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	const events, size = 100, 200 << 10
	for i := range events {
		id := [16]byte{byte(i), byte(i >> 8), 2}
		res, err := c.Append(ctx, node.AppendRequest{Stream: "big", Expected: int64(streams.Any),
			Events: []streams.EventData{{ID: id, Type: "t", Data: make([]byte, size)}}})
		if err != nil || res.Err != nil {
			t.Fatalf("append %d: %v %v", i, err, res.Err)
		}
	}
	sub, err := c.Subscribe(ctx, clientapi.SubscribeRequest{Stream: "big", From: streams.Start()})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	waiting := func() int { return len(sub.(*loopSubscription).msgs) }
	// Let the node fill what it may, then count.
	for prev := -1; prev != waiting(); {
		prev = waiting()
		time.Sleep(100 * time.Millisecond)
	}
	const bound = 2 << 20 // bytes of events waiting for the consumer
	if got := waiting() * size; got > bound {
		t.Fatalf("an idle consumer has %d messages (%d bytes of events) waiting for it; want at most %d bytes", waiting(), got, bound)
	}
	next := int64(0)
	for next < events {
		m, err := sub.Next(ctx)
		if err != nil || m.Kind == streams.Dropped {
			t.Fatalf("after revision %d: %v %v", next-1, err, m.Err)
		}
		if m.Kind == streams.EventAppeared {
			if m.Event.Number != next {
				t.Fatalf("delivered revision %d, want %d", m.Event.Number, next)
			}
			next++
		}
	}
}
