package runtime

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
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
