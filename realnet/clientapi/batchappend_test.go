package clientapi

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

func batchOptions(stream string, expected any) *pb.BatchAppendReq_Options {
	o := &pb.BatchAppendReq_Options{StreamIdentifier: streamID(stream)}
	switch e := expected.(type) {
	case uint64:
		o.ExpectedStreamPosition = &pb.BatchAppendReq_Options_StreamPosition{StreamPosition: e}
	case string:
		switch e {
		case "any":
			o.ExpectedStreamPosition = &pb.BatchAppendReq_Options_Any{Any: &emptypb.Empty{}}
		case "no_stream":
			o.ExpectedStreamPosition = &pb.BatchAppendReq_Options_NoStream{NoStream: &emptypb.Empty{}}
		case "stream_exists":
			o.ExpectedStreamPosition = &pb.BatchAppendReq_Options_StreamExists{StreamExists: &emptypb.Empty{}}
		}
	}
	return o
}

func batchEvent(id [16]byte, typ string, data string) *pb.BatchAppendReq_ProposedMessage {
	return &pb.BatchAppendReq_ProposedMessage{Id: toUUID(id, false), Metadata: map[string]string{"type": typ, "content-type": "application/json"}, Data: []byte(data)}
}

// corr is a correlation id in the string form the Node clients send.
func corr(n byte) *sharedpb.UUID { return toUUID(idOf(n), false) }

func corrKey(t *testing.T, u *sharedpb.UUID) string {
	t.Helper()
	id, err := fromUUID(u)
	if err != nil {
		t.Fatalf("response without a usable correlation id: %v", err)
	}
	return member.ID(id).String()
}

// detailOf unpacks the one detail of a BatchAppend error.
func detailOf(t *testing.T, r *pb.BatchAppendResp, into proto.Message) {
	t.Helper()
	st := r.GetError()
	if st == nil {
		t.Fatalf("response %v, want an error", r)
	}
	if len(st.GetDetails()) != 1 {
		t.Fatalf("error %v has %d details, want exactly one (the clients' copy of Status has a singular details)", st, len(st.GetDetails()))
	}
	a := st.GetDetails()[0]
	wantURL := "type.googleapis.com/" + string(into.ProtoReflect().Descriptor().FullName())
	if a.GetTypeUrl() != wantURL {
		t.Fatalf("detail type %q, want %q", a.GetTypeUrl(), wantURL)
	}
	if err := anypb.UnmarshalTo(a, into, proto.UnmarshalOptions{}); err != nil {
		t.Fatalf("detail does not decode as %T: %v", into, err)
	}
}

func TestBatchAppendCorrelatesChunkedAppends(t *testing.T) {
	n := newFakeNode()
	n.seed("exists", "a")
	c := serve(t, n, Options{})
	ctx := testContext(t)
	st, err := c.streams.BatchAppend(ctx)
	if err != nil {
		t.Fatalf("BatchAppend: %v", err)
	}
	// Two appends interleaved, each in chunks, plus one refused by the
	// node: every response echoes its own correlation id and stream.
	reqs := []*pb.BatchAppendReq{
		{CorrelationId: corr(1), Options: batchOptions("first", "no_stream"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(10), "A", "{}")}},
		{CorrelationId: corr(2), Options: batchOptions("second", "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(20), "B", "{}")}},
		{CorrelationId: corr(1), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(11), "A", "{}"), batchEvent(idOf(12), "A", "{}")}, IsFinal: true},
		{CorrelationId: toUUID(idOf(3), true), Options: batchOptions("exists", uint64(5)), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(30), "C", "{}")}, IsFinal: true},
		{CorrelationId: corr(2), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(21), "B", "{}")}, IsFinal: true},
	}
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	got := map[string]*pb.BatchAppendResp{}
	for range 3 {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d responses: %v", len(got), err)
		}
		got[corrKey(t, r.GetCorrelationId())] = r
	}
	// After the client's half-close and every answer, the call ends OK.
	if r, err := st.Recv(); err == nil || endCode(err) != codes.OK {
		t.Fatalf("after all answers: %v, %v; want the call to end OK", r, err)
	}

	first := got[member.ID(idOf(1)).String()]
	if first.GetSuccess().GetCurrentRevision() != 2 || first.GetSuccess().GetPosition().GetCommitPosition() != uint64(positionOf(3)) ||
		string(first.GetStreamIdentifier().GetStreamName()) != "first" || first.GetNoStream() == nil {
		t.Fatalf("first append answered %v, want success at revision 2 echoing stream first and no_stream", first)
	}
	second := got[member.ID(idOf(2)).String()]
	if second.GetSuccess().GetCurrentRevision() != 1 || string(second.GetStreamIdentifier().GetStreamName()) != "second" || second.GetAny() == nil {
		t.Fatalf("second append answered %v, want success at revision 1 echoing stream second and any", second)
	}
	third := got[member.ID(idOf(3)).String()]
	if third.GetCorrelationId().GetStructured() == nil {
		t.Fatalf("correlation id %v, want it echoed in the structured form it was sent in", third.GetCorrelationId())
	}
	if third.GetError().GetCode() != int32(codes.AlreadyExists) || third.GetStreamPosition() != 5 {
		t.Fatalf("third append answered %v, want ALREADY_EXISTS echoing stream_position 5", third)
	}
	var wev sharedpb.WrongExpectedVersion
	detailOf(t, third, &wev)
	if wev.GetCurrentStreamRevision() != 0 || wev.GetExpectedStreamPosition() != 5 {
		t.Fatalf("wrong expected version detail %v, want current 0 expected 5", &wev)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range n.appends {
		if a.Stream == "first" && (len(a.Events) != 3 || a.Events[2].ID != idOf(12)) {
			t.Fatalf("the node got the first append as %d events, want its 3 chunked events in order", len(a.Events))
		}
	}
}

// endCode is the code a stream ended with: OK for io.EOF.
func endCode(err error) codes.Code {
	if err == nil || errors.Is(err, io.EOF) {
		return codes.OK
	}
	return statusCode(err)
}

func TestBatchAppendErrorDetails(t *testing.T) {
	n := newFakeNode()
	n.maxAppend = 50
	n.seed("gone", "a")
	n.streams["gone"].tombstoned = true
	c := serve(t, n, Options{})
	ctx := testContext(t)
	st, err := c.streams.BatchAppend(ctx)
	if err != nil {
		t.Fatalf("BatchAppend: %v", err)
	}
	past := timestamppb.New(time.Now().Add(-time.Minute))
	missingType := &pb.BatchAppendReq_ProposedMessage{Id: toUUID(idOf(9), false), Metadata: map[string]string{"content-type": "application/json"}}
	send := []*pb.BatchAppendReq{
		{CorrelationId: corr(1), Options: batchOptions("gone", "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(1), "t", "{}")}, IsFinal: true},
		{CorrelationId: corr(2), Options: batchOptions("s", "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(2), "t", strings.Repeat("x", 60))}, IsFinal: true},
		{CorrelationId: corr(3), Options: batchOptions("s", "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{missingType}, IsFinal: true},
		{CorrelationId: corr(4), Options: withDeadline(batchOptions("s", "any"), past), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(4), "t", "{}")}, IsFinal: true},
		{CorrelationId: corr(5), Options: withDuration(batchOptions("s", "any"), 0), IsFinal: true},
		{CorrelationId: corr(6), Options: batchOptions("s", nil), IsFinal: true},
		{CorrelationId: corr(7), Options: &pb.BatchAppendReq_Options{ExpectedStreamPosition: &pb.BatchAppendReq_Options_Any{Any: &emptypb.Empty{}}}, IsFinal: true},
	}
	for _, r := range send {
		if err := st.Send(r); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	got := map[string]*pb.BatchAppendResp{}
	for len(got) < len(send) {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d responses: %v", len(got), err)
		}
		got[corrKey(t, r.GetCorrelationId())] = r
	}
	code := func(i byte) codes.Code { return codes.Code(got[member.ID(idOf(i)).String()].GetError().GetCode()) }

	var deleted sharedpb.StreamDeleted
	detailOf(t, got[member.ID(idOf(1)).String()], &deleted)
	if code(1) != codes.NotFound || string(deleted.GetStreamIdentifier().GetStreamName()) != "gone" {
		t.Fatalf("append to a tombstoned stream: code %v detail %v, want NOT_FOUND StreamDeleted naming gone", code(1), &deleted)
	}
	var size sharedpb.MaximumAppendSizeExceeded
	detailOf(t, got[member.ID(idOf(2)).String()], &size)
	if code(2) != codes.InvalidArgument || size.GetMaxAppendSize() != 50 {
		t.Fatalf("oversized append: code %v detail %v, want INVALID_ARGUMENT MaximumAppendSizeExceeded 50", code(2), &size)
	}
	var bad sharedpb.BadRequest
	detailOf(t, got[member.ID(idOf(3)).String()], &bad)
	if code(3) != codes.InvalidArgument || !strings.Contains(bad.GetMessage(), "type") {
		t.Fatalf("event without a type: code %v detail %v, want INVALID_ARGUMENT BadRequest about the type", code(3), &bad)
	}
	for _, i := range []byte{4, 5} {
		var to sharedpb.Timeout
		detailOf(t, got[member.ID(idOf(i)).String()], &to)
		if code(i) != codes.DeadlineExceeded {
			t.Fatalf("append %d past its deadline: code %v, want DEADLINE_EXCEEDED with a Timeout detail", i, code(i))
		}
	}
	for _, i := range []byte{6, 7} {
		detailOf(t, got[member.ID(idOf(i)).String()], &bad)
		if code(i) != codes.InvalidArgument {
			t.Fatalf("append %d with incomplete options: code %v, want INVALID_ARGUMENT", i, code(i))
		}
	}
	if got[member.ID(idOf(7)).String()].GetStreamIdentifier() == nil {
		t.Fatalf("a response must carry a stream_identifier even when the request had none: the Node clients dereference it")
	}

	// Node refusals of other kinds.
	for _, tc := range []struct {
		err    error
		code   codes.Code
		detail proto.Message
	}{
		{&streams.TimeoutError{Stream: "s", Err: node.ErrAmbiguous}, codes.DeadlineExceeded, &sharedpb.Timeout{}},
		{&streams.CorruptedIdempotencyError{Stream: "s", Expected: streams.Any, Actual: 3}, codes.AlreadyExists, &sharedpb.WrongExpectedVersion{}},
		{&streams.TooBusyError{What: "writes", Limit: 1}, codes.Unavailable, &sharedpb.Unknown{}},
		{&streams.InvalidArgumentError{What: "event 0 has no id"}, codes.InvalidArgument, &sharedpb.BadRequest{}},
		{&node.RemoteWriteError{Message: "disk full"}, codes.Unknown, &sharedpb.Unknown{}},
		{&streams.MaxAppendSizeExceededError{Stream: "s", Size: 9, Max: 8}, codes.InvalidArgument, &sharedpb.MaximumAppendSizeExceeded{}},
	} {
		n.inject(nil, tc.err)
		if err := st.Send(&pb.BatchAppendReq{CorrelationId: corr(50), Options: batchOptions("s", "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(50), "t", "{}")}, IsFinal: true}); err != nil {
			t.Fatalf("send: %v", err)
		}
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("node error %v: %v", tc.err, err)
		}
		if codes.Code(r.GetError().GetCode()) != tc.code {
			t.Fatalf("node error %v answered code %v, want %v", tc.err, codes.Code(r.GetError().GetCode()), tc.code)
		}
		detailOf(t, r, tc.detail)
	}
	n.inject(nil, nil)
	if err := st.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	if _, err := st.Recv(); endCode(err) != codes.OK {
		t.Fatalf("after the half-close: %v, want the call to end OK", err)
	}
}

func withDeadline(o *pb.BatchAppendReq_Options, at *timestamppb.Timestamp) *pb.BatchAppendReq_Options {
	o.DeadlineOption = &pb.BatchAppendReq_Options_Deadline_21_10_0{Deadline_21_10_0: at}
	return o
}

func withDuration(o *pb.BatchAppendReq_Options, d time.Duration) *pb.BatchAppendReq_Options {
	o.DeadlineOption = &pb.BatchAppendReq_Options_Deadline{Deadline: durationpb.New(d)}
	return o
}

func TestBatchAppendWritesConcurrently(t *testing.T) {
	n := newFakeNode()
	gate := make(chan struct{})
	n.gates["slow"] = gate
	c := serve(t, n, Options{})
	st, err := c.streams.BatchAppend(testContext(t))
	if err != nil {
		t.Fatalf("BatchAppend: %v", err)
	}
	for i, s := range []string{"slow", "fast"} {
		if err := st.Send(&pb.BatchAppendReq{CorrelationId: corr(byte(i + 1)), Options: batchOptions(s, "any"), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(byte(10+i)), "t", "{}")}, IsFinal: true}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	r, err := st.Recv()
	if err != nil || corrKey(t, r.GetCorrelationId()) != member.ID(idOf(2)).String() {
		t.Fatalf("first response %v, %v; want the fast append's while the slow one waits", r, err)
	}
	close(gate)
	r, err = st.Recv()
	if err != nil || corrKey(t, r.GetCorrelationId()) != member.ID(idOf(1)).String() || r.GetSuccess() == nil {
		t.Fatalf("second response %v, %v; want the slow append's success", r, err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	if _, err := st.Recv(); endCode(err) != codes.OK {
		t.Fatalf("after the half-close: %v", err)
	}
}

func TestBatchAppendUnfinishedAppendTimesOut(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{})
	st, err := c.streams.BatchAppend(testContext(t))
	if err != nil {
		t.Fatalf("BatchAppend: %v", err)
	}
	// Begun, never finished, and then the client says nothing more: the
	// deadline still gets it answered.
	if err := st.Send(&pb.BatchAppendReq{CorrelationId: corr(1), Options: withDuration(batchOptions("s", "any"), 30*time.Millisecond), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(1), "t", "{}")}}); err != nil {
		t.Fatalf("send: %v", err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	var to sharedpb.Timeout
	detailOf(t, r, &to)
	// Its late final chunk is ignored, as EventStoreDB does.
	if err := st.Send(&pb.BatchAppendReq{CorrelationId: corr(1), IsFinal: true}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	if _, err := st.Recv(); endCode(err) != codes.OK {
		t.Fatalf("after the half-close: %v, want the call to end with nothing more", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.appends) != 0 {
		t.Fatalf("the node got %d appends, want none", len(n.appends))
	}
}

func TestBatchAppendCallFailures(t *testing.T) {
	cases := []struct {
		name     string
		nodeErr  error
		req      *pb.BatchAppendReq
		code     codes.Code
		trailers []string
	}{
		{"not leader", &node.NotLeaderError{Leader: env.Endpoint{Host: "10.1.1.1", Port: 2114}},
			&pb.BatchAppendReq{CorrelationId: corr(1), Options: batchOptions("s", "any"), IsFinal: true},
			codes.NotFound, []string{"exception", "not-leader", "leader-endpoint-host", "10.1.1.1", "leader-endpoint-port", "2114"}},
		{"node not ready", node.ErrNotReady, &pb.BatchAppendReq{CorrelationId: corr(1), Options: batchOptions("s", "any"), IsFinal: true}, codes.Unavailable, nil},
		{"no correlation id", nil, &pb.BatchAppendReq{Options: batchOptions("s", "any"), IsFinal: true}, codes.InvalidArgument, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNode()
			n.inject(nil, tc.nodeErr)
			c := serve(t, n, Options{})
			st, err := c.streams.BatchAppend(testContext(t))
			if err != nil {
				t.Fatalf("BatchAppend: %v", err)
			}
			if err := st.Send(tc.req); err != nil {
				t.Fatalf("send: %v", err)
			}
			// The client keeps the call open: the server must end it.
			_, err = st.Recv()
			wantStatus(t, tc.name, st.Trailer(), err, tc.code, tc.trailers...)
		})
	}

	t.Run("too many unfinished appends", func(t *testing.T) {
		n := newFakeNode()
		c := serve(t, n, Options{})
		st, err := c.streams.BatchAppend(testContext(t))
		if err != nil {
			t.Fatalf("BatchAppend: %v", err)
		}
		for i := range maxUnfinishedBatches + 1 {
			if err := st.Send(&pb.BatchAppendReq{CorrelationId: corr(byte(i)), Options: batchOptions("s", "any")}); err != nil {
				break
			}
		}
		_, err = st.Recv()
		wantStatus(t, "unfinished appends beyond the bound", st.Trailer(), err, codes.ResourceExhausted)
	})

	t.Run("client cancels with writes in flight", func(t *testing.T) {
		n := newFakeNode()
		n.gates["s"] = make(chan struct{}) // never opened
		c := serve(t, n, Options{})
		ctx, cancel := context.WithCancel(testContext(t))
		st, err := c.streams.BatchAppend(ctx)
		if err != nil {
			t.Fatalf("BatchAppend: %v", err)
		}
		if err := st.Send(&pb.BatchAppendReq{CorrelationId: corr(1), Options: batchOptions("s", "any"), IsFinal: true}); err != nil {
			t.Fatalf("send: %v", err)
		}
		for {
			n.mu.Lock()
			started := len(n.appends)
			n.mu.Unlock()
			if started > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if _, err := st.Recv(); statusCode(err) != codes.Canceled {
			t.Fatalf("after cancelling: %v, want Canceled", err)
		}
		// goleak (TestMain) checks that the write and the receiver ended.
	})
}

// The Node clients multiplex every append of a channel on one BatchAppend
// call, so a client awaiting appends it sent together (an append that
// creates a stream and one expecting its revision 0) relies on the node
// taking them in the order they arrived, as EventStoreDB does.
func TestBatchAppendHandsAppendsToTheNodeInArrivalOrder(t *testing.T) {
	const count = 200
	n := newFakeNode()
	c := serve(t, n, Options{})
	st, err := c.streams.BatchAppend(testContext(t))
	if err != nil {
		t.Fatalf("BatchAppend: %v", err)
	}
	sent := make(chan error, 1)
	go func() {
		for i := range count {
			var expected any = "no_stream"
			if i > 0 {
				expected = uint64(i - 1)
			}
			req := &pb.BatchAppendReq{CorrelationId: corr(byte(i)), Options: batchOptions("s", expected), ProposedMessages: []*pb.BatchAppendReq_ProposedMessage{batchEvent(idOf(byte(i)), "t", "{}")}, IsFinal: true}
			if err := st.Send(req); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.CloseSend()
	}()
	for i := range count {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if r.GetSuccess() == nil {
			t.Fatalf("append %s (expected position %v) answered %v; every append expects the revision the one sent before it wrote, so the node took them out of order",
				corrKey(t, r.GetCorrelationId()), r.GetExpectedStreamPosition(), r.GetError())
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, err := st.Recv(); endCode(err) != codes.OK {
		t.Fatalf("after the half-close: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, a := range n.appends {
		if want := int64(i - 1); a.Expected != want && !(i == 0 && a.Expected == int64(streams.NoStream)) {
			t.Fatalf("the node's append %d expected revision %d; want the order sent (%d)", i, a.Expected, want)
		}
	}
}
