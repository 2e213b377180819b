package clientapi

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// gate is an Options.Authorize that records what it is asked and refuses
// streams whose name starts with "secret" (access denied) and callers
// whose test header says "stranger" (unauthenticated).
type gate struct {
	mu    sync.Mutex
	asked []string
}

func (g *gate) authorize(ctx context.Context, op Operation, stream string) error {
	g.mu.Lock()
	g.asked = append(g.asked, fmt.Sprintf("%d %s", op, stream))
	g.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-caller"); len(v) == 1 && v[0] == "stranger" {
		return fmt.Errorf("%w: wrong password", ErrUnauthenticated)
	}
	if strings.HasPrefix(stream, "secret") || stream == AllStream {
		return fmt.Errorf("%w: %s is off limits", ErrAccessDenied, stream)
	}
	return nil
}

func (g *gate) questions() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.asked...)
}

func TestAuthorizeGuardsEveryStreamOperation(t *testing.T) {
	n := newFakeNode()
	n.seed("secret-plans", "x")
	n.seed("open", "x")
	g := &gate{}
	c := serve(t, n, Options{Authorize: g.authorize})
	ctx := testContext(t)
	denied := func(what string, md metadata.MD, err error) {
		t.Helper()
		wantStatus(t, what, md, err, codes.PermissionDenied, "exception", "access-denied")
		if !strings.Contains(err.Error(), "Access Denied: ") || !strings.Contains(err.Error(), "is off limits") {
			t.Errorf("%s: message %q lacks EventStoreDB's text and the reason", what, err)
		}
	}

	_, md, err := readToEnd(t, c, readStreamReq("secret-plans", fromStart, false, 10, false))
	denied("read of a refused stream", md, err)
	_, md, err = readToEnd(t, c, readAllReq(fromStart, false, 10, nil))
	denied("read of $all", md, err)
	sub, err := c.streams.Read(ctx, subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("secret-plans", fromStart)}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sub.Recv()
	denied("subscription to a refused stream", sub.Trailer(), err)
	_, md, err = appendCall(ctx, t, c, []*pb.AppendReq{appendOptions("secret-plans", "any"), proposed(idOf(1), false, "T", "application/json", "{}")})
	denied("append", md, err)
	var trailer metadata.MD
	_, err = c.streams.Delete(ctx, &pb.DeleteReq{Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("secret-plans"), ExpectedStreamRevision: &pb.DeleteReq_Options_Any{Any: empty()}}}, grpc.Trailer(&trailer))
	denied("delete", trailer, err)
	_, err = c.streams.Tombstone(ctx, &pb.TombstoneReq{Options: &pb.TombstoneReq_Options{StreamIdentifier: streamID("secret-plans"), ExpectedStreamRevision: &pb.TombstoneReq_Options_Any{Any: empty()}}}, grpc.Trailer(&trailer))
	denied("tombstone", trailer, err)

	// A caller the hook does not recognise is UNAUTHENTICATED.
	_, _, err = readToEndCtx(metadata.AppendToOutgoingContext(ctx, "x-caller", "stranger"), t, c, readStreamReq("open", fromStart, false, 10, false))
	if statusCode(err) != codes.Unauthenticated {
		t.Errorf("a caller with bad credentials: %v, want UNAUTHENTICATED", err)
	}
	// What the hook allows goes through.
	if msgs, _, err := readToEnd(t, c, readStreamReq("open", fromStart, false, 10, false)); err != nil || len(msgs) != 1 {
		t.Errorf("an allowed read: %d messages, %v", len(msgs), err)
	}
	// Gossip and server features are not stream operations.
	if _, err := c.gossip.Read(ctx, empty()); err != nil {
		t.Errorf("Gossip.Read: %v", err)
	}
	if _, err := c.features.GetSupportedMethods(ctx, empty()); err != nil {
		t.Errorf("GetSupportedMethods: %v", err)
	}

	n.mu.Lock()
	reached := len(n.appends) + len(n.deletes) + len(n.allReads) + len(n.subscribes)
	for _, r := range n.streamReads {
		if r.Stream != "open" {
			reached++
		}
	}
	n.mu.Unlock()
	if reached != 0 {
		t.Errorf("%d refused operations reached the node", reached)
	}
	want := []string{"1 secret-plans", "1 $all", "1 secret-plans", "2 secret-plans", "3 secret-plans", "3 secret-plans", "1 open", "1 open"}
	if got := g.questions(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the hook was asked %q, want %q", got, want)
	}
}

// In BatchAppend a refusal answers that append alone, with the
// AccessDenied detail the clients switch on; the call goes on.
func TestAuthorizeInBatchAppendRefusesOneAppend(t *testing.T) {
	n := newFakeNode()
	g := &gate{}
	c := serve(t, n, Options{Authorize: g.authorize})
	st, err := c.streams.BatchAppend(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*pb.BatchAppendReq{
		{CorrelationId: corr(1), Options: batchOptions("secret-plans", "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(10), "A", "{}")}, IsFinal: true},
		{CorrelationId: corr(2), Options: batchOptions("open", "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(20), "B", "{}")}, IsFinal: true},
	} {
		if err := st.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.CloseSend()
	got := map[string]*pb.BatchAppendResp{}
	for range 2 {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(got), err)
		}
		got[corrKey(t, r.GetCorrelationId())] = r
	}
	refused := got[member.ID(idOf(1)).String()]
	if refused.GetError().GetCode() != int32(codes.PermissionDenied) || string(refused.GetStreamIdentifier().GetStreamName()) != "secret-plans" {
		t.Fatalf("the refused append: %v", refused)
	}
	detailOf(t, refused, &sharedpb.AccessDenied{})
	if ok := got[member.ID(idOf(2)).String()]; ok.GetSuccess() == nil {
		t.Fatalf("the allowed append: %v", ok)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.appends) != 1 || n.appends[0].Stream != "open" {
		t.Fatalf("the node got %d appends; want only the allowed one", len(n.appends))
	}
}

// TestAuthorizeEndsASubscriptionWhoseAccessWasRevoked: access may be
// taken away while a subscription runs (the stream's $acl or $settings
// change). EventStoreDB re-checks its subscriptions when either changes
// and drops those that may no longer read (access denied); here each
// event is checked as it goes out, so a reader who lost the right gets
// none of the events that follow.
func TestAuthorizeEndsASubscriptionWhoseAccessWasRevoked(t *testing.T) {
	n := newFakeNode()
	var mu sync.Mutex
	revoked := false
	authorize := func(ctx context.Context, op Operation, stream string) error {
		mu.Lock()
		defer mu.Unlock()
		if revoked {
			return fmt.Errorf("%w: the $acl of %s no longer lets this reader in", ErrAccessDenied, stream)
		}
		return nil
	}
	c := serve(t, n, Options{Authorize: authorize})
	st, err := c.streams.Read(testContext(t), subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("orders", fromStart)}))
	if err != nil {
		t.Fatal(err)
	}
	sub := nextSub(t, n)
	sub.push(streams.Message{Kind: streams.EventAppeared, Event: event("orders", 0, 10)})
	for _, want := range []string{"confirmation", "event"} {
		m, err := st.Recv()
		if err != nil || (want == "confirmation") != (m.GetConfirmation() != nil) {
			t.Fatalf("want the %s first: %v, %v", want, m, err)
		}
	}
	mu.Lock()
	revoked = true
	mu.Unlock()
	sub.push(streams.Message{Kind: streams.EventAppeared, Event: event("orders", 1, 20)})
	m, err := st.Recv()
	if err == nil {
		t.Fatalf("after read access was revoked the subscription delivered %v; want it ended with access denied", m)
	}
	wantStatus(t, "a subscription whose access was revoked", st.Trailer(), err, codes.PermissionDenied, "exception", "access-denied")
	waitClosed(t, sub)
}
