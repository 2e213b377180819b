package clientapi

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

func TestAppendSuccess(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{})
	ctx := testContext(t)
	resp, md, err := appendCall(ctx, t, c, []*pb.AppendReq{
		appendOptions("orders", "no_stream"),
		proposed(idOf(1), false, "Created", "application/json", `{"a":1}`),
		proposed(idOf(2), false, "Blob", "application/octet-stream", "raw"),
	})
	wantStatus(t, "append", md, err, codes.OK)
	ok := resp.GetSuccess()
	if ok == nil || ok.GetCurrentRevision() != 1 || ok.GetPosition().GetCommitPosition() != uint64(positionOf(1)) || ok.GetPosition().GetPreparePosition() != uint64(positionOf(1)) {
		t.Fatalf("response %v, want success at revision 1, position %d", resp, positionOf(1))
	}
	n.mu.Lock()
	got := n.appends[0]
	n.mu.Unlock()
	if got.Stream != "orders" || got.Expected != int64(streams.NoStream) || len(got.Events) != 2 {
		t.Fatalf("node got %+v, want 2 events to orders expecting no stream", got)
	}
	e0, e1 := got.Events[0], got.Events[1]
	if e0.Type != "Created" || !e0.IsJSON || string(e0.Data) != `{"a":1}` || string(e0.Metadata) != "cm" || e0.ID != idOf(1) {
		t.Fatalf("event 0 reached the node as %+v", e0)
	}
	if e1.Type != "Blob" || e1.IsJSON {
		t.Fatalf("event 1 reached the node as %+v, want a non-JSON Blob", e1)
	}

	// An empty append to a new stream: no revision, no position.
	resp, md, err = appendCall(ctx, t, c, []*pb.AppendReq{appendOptions("empty", "any")})
	wantStatus(t, "empty append", md, err, codes.OK)
	if resp.GetSuccess().GetNoStream() == nil || resp.GetSuccess().GetNoPosition() == nil {
		t.Fatalf("empty append answered %v, want no_stream and no_position", resp)
	}
}

func TestAppendExpectedRevisionsReachTheNode(t *testing.T) {
	n := newFakeNode()
	n.seed("s", "a", "b")
	c := serve(t, n, Options{})
	for _, tc := range []struct {
		expected any
		want     int64
	}{
		{"any", int64(streams.Any)}, {"stream_exists", int64(streams.StreamExists)}, {uint64(3), 3},
	} {
		_, md, err := appendCall(testContext(t), t, c, []*pb.AppendReq{appendOptions("s", tc.expected), proposed(idOf(5), false, "t", "x", "")})
		wantStatus(t, "append", md, err, codes.OK)
		n.mu.Lock()
		got := n.appends[len(n.appends)-1].Expected
		n.mu.Unlock()
		if got != tc.want {
			t.Fatalf("expected %v reached the node as %d, want %d", tc.expected, got, tc.want)
		}
	}
	_, md, err := appendCall(testContext(t), t, c, []*pb.AppendReq{appendOptions("s", uint64(math.MaxInt64)+1)})
	wantStatus(t, "expected revision beyond int64", md, err, codes.InvalidArgument)
}

func TestAppendWrongExpectedVersionIsInTheBody(t *testing.T) {
	n := newFakeNode()
	n.seed("exists", "a", "b", "c")
	c := serve(t, n, Options{})
	type want struct {
		current, current2060           *uint64 // nil: no stream
		expRev, expRev2060             *uint64
		expAny, expExists, expNoStream bool
		expAny2060, expExists2060      bool
	}
	u := func(v uint64) *uint64 { return &v }
	cases := []struct {
		name     string
		stream   string
		expected any
		w        want
	}{
		{"exact on existing", "exists", uint64(7), want{current: u(2), current2060: u(2), expRev: u(7), expRev2060: u(7)}},
		{"no stream on existing", "exists", "no_stream", want{current: u(2), current2060: u(2), expNoStream: true, expRev2060: u(math.MaxUint64)}},
		{"stream exists on missing", "missing", "stream_exists", want{expExists: true, expExists2060: true}},
		{"exact on missing", "missing", uint64(0), want{expRev: u(0), expRev2060: u(0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, md, err := appendCall(testContext(t), t, c, []*pb.AppendReq{appendOptions(tc.stream, tc.expected), proposed(idOf(9), false, "t", "x", "")})
			wantStatus(t, tc.name, md, err, codes.OK)
			w := resp.GetWrongExpectedVersion()
			if w == nil {
				t.Fatalf("response %v, want wrong_expected_version", resp)
			}
			check := func(field string, present bool, got uint64, wantP *uint64) {
				t.Helper()
				if (wantP != nil) != present || (present && got != *wantP) {
					t.Fatalf("%s: present %v value %d, want %v", field, present, got, wantP)
				}
			}
			_, hasCur := w.GetCurrentRevisionOption().(*pb.AppendResp_WrongExpectedVersion_CurrentRevision)
			check("current_revision", hasCur, w.GetCurrentRevision(), tc.w.current)
			if !hasCur && w.GetCurrentNoStream() == nil {
				t.Fatalf("neither current_revision nor current_no_stream set: %v", w)
			}
			_, hasCur2060 := w.GetCurrentRevisionOption_20_6_0().(*pb.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0)
			check("current_revision_20_6_0", hasCur2060, w.GetCurrentRevision_20_6_0(), tc.w.current2060)
			if !hasCur2060 && w.GetNoStream_20_6_0() == nil {
				t.Fatalf("neither current_revision_20_6_0 nor no_stream_20_6_0 set: %v", w)
			}
			_, hasExp := w.GetExpectedRevisionOption().(*pb.AppendResp_WrongExpectedVersion_ExpectedRevision)
			check("expected_revision", hasExp, w.GetExpectedRevision(), tc.w.expRev)
			_, hasExp2060 := w.GetExpectedRevisionOption_20_6_0().(*pb.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0)
			check("expected_revision_20_6_0", hasExp2060, w.GetExpectedRevision_20_6_0(), tc.w.expRev2060)
			if (w.GetExpectedAny() != nil) != tc.w.expAny || (w.GetExpectedStreamExists() != nil) != tc.w.expExists || (w.GetExpectedNoStream() != nil) != tc.w.expNoStream {
				t.Fatalf("expected-kind fields of %v, want any %v exists %v no_stream %v", w, tc.w.expAny, tc.w.expExists, tc.w.expNoStream)
			}
			if (w.GetAny_20_6_0() != nil) != tc.w.expAny2060 || (w.GetStreamExists_20_6_0() != nil) != tc.w.expExists2060 {
				t.Fatalf("20.6.0 expected-kind fields of %v, want any %v exists %v", w, tc.w.expAny2060, tc.w.expExists2060)
			}
		})
	}

	// A retry that partly repeats written events is answered the same way.
	n.inject(nil, &streams.CorruptedIdempotencyError{Stream: "exists", Expected: streams.Any, Actual: 2})
	resp, md, err := appendCall(testContext(t), t, c, []*pb.AppendReq{appendOptions("exists", "any"), proposed(idOf(9), false, "t", "x", "")})
	wantStatus(t, "corrupted idempotency", md, err, codes.OK)
	if w := resp.GetWrongExpectedVersion(); w == nil || w.GetCurrentRevision() != 2 || w.GetExpectedAny() == nil || w.GetAny_20_6_0() == nil {
		t.Fatalf("corrupted idempotency answered %v, want wrong_expected_version current 2 expected any", resp)
	}
}

func TestAppendRefusals(t *testing.T) {
	n := newFakeNode()
	n.maxAppend = 100
	n.seed("gone", "a")
	n.streams["gone"].tombstoned = true
	c := serve(t, n, Options{})
	big := strings.Repeat("x", 60)
	cases := []struct {
		name     string
		msgs     []*pb.AppendReq
		code     codes.Code
		trailers []string
	}{
		{"missing type", []*pb.AppendReq{appendOptions("s", "any"), proposed(idOf(1), false, "", "application/json", "{}")},
			codes.InvalidArgument, []string{"exception", "missing-required-metadata-property", "required-metadata-properties", "type,content-type"}},
		{"missing content-type", []*pb.AppendReq{appendOptions("s", "any"), proposed(idOf(1), false, "t", "", "{}")},
			codes.InvalidArgument, []string{"exception", "missing-required-metadata-property", "required-metadata-properties", "type,content-type"}},
		{"too large", []*pb.AppendReq{appendOptions("s", "any"), proposed(idOf(1), false, "t", "x", big), proposed(idOf(2), false, "t", "x", big)},
			codes.InvalidArgument, []string{"exception", "maximum-append-size-exceeded", "maximum-append-size", "100"}},
		{"tombstoned stream", []*pb.AppendReq{appendOptions("gone", "any"), proposed(idOf(1), false, "t", "x", "")},
			codes.FailedPrecondition, []string{"exception", "stream-deleted", "stream-name", "gone"}},
		{"event without id", []*pb.AppendReq{appendOptions("s", "any"), {Content: &pb.AppendReq_ProposedMessage_{ProposedMessage: &pb.AppendReq_ProposedMessage{Metadata: map[string]string{"type": "t", "content-type": "x"}}}}},
			codes.InvalidArgument, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.mu.Lock()
			before := len(n.appends)
			n.mu.Unlock()
			_, md, err := appendCall(testContext(t), t, c, tc.msgs)
			wantStatus(t, tc.name, md, err, tc.code, tc.trailers...)
			n.mu.Lock()
			reached := len(n.appends) - before
			n.mu.Unlock()
			if tc.code == codes.InvalidArgument && reached != 0 {
				t.Fatalf("an append refused by the API reached the node")
			}
		})
	}

	// The node's own limit (counted there) maps the same way.
	n.mu.Lock()
	n.maxAppend = 1 << 20
	n.mu.Unlock()
	n.inject(nil, &streams.MaxAppendSizeExceededError{Stream: "s", Size: 2000, Max: 1000})
	_, md, err := appendCall(testContext(t), t, c, []*pb.AppendReq{appendOptions("s", "any"), proposed(idOf(1), false, "t", "x", "")})
	wantStatus(t, "node-side size limit", md, err, codes.InvalidArgument, "exception", "maximum-append-size-exceeded", "maximum-append-size", "1000")
}

func TestDeleteAndTombstone(t *testing.T) {
	n := newFakeNode()
	n.seed("a", "x", "y")
	n.seed("b", "x")
	c := serve(t, n, Options{})
	ctx := testContext(t)

	del, err := c.streams.Delete(ctx, &pb.DeleteReq{Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("a"), ExpectedStreamRevision: &pb.DeleteReq_Options_Revision{Revision: 1}}})
	if err != nil || del.GetPosition().GetCommitPosition() != uint64(positionOf(3)) || del.GetPosition().GetPreparePosition() != uint64(positionOf(3)) {
		t.Fatalf("delete answered %v, %v; want position %d", del, err, positionOf(3))
	}
	n.mu.Lock()
	if d := n.deletes[0]; d.Stream != "a" || d.Expected != 1 || d.Tombstone {
		t.Fatalf("node got %+v, want a soft delete of a expecting 1", d)
	}
	n.mu.Unlock()

	tomb, err := c.streams.Tombstone(ctx, &pb.TombstoneReq{Options: &pb.TombstoneReq_Options{StreamIdentifier: streamID("b"), ExpectedStreamRevision: &pb.TombstoneReq_Options_StreamExists{StreamExists: empty()}}})
	if err != nil || tomb.GetPosition().GetCommitPosition() != uint64(positionOf(4)) {
		t.Fatalf("tombstone answered %v, %v; want position %d", tomb, err, positionOf(4))
	}
	n.mu.Lock()
	if d := n.deletes[1]; d.Stream != "b" || d.Expected != int64(streams.StreamExists) || !d.Tombstone {
		t.Fatalf("node got %+v, want a tombstone of b expecting stream exists", d)
	}
	n.mu.Unlock()

	// Wrong expected versions are errors here, with the versions as
	// decimal trailers.
	n.seed("c", "x", "y", "z")
	for _, tc := range []struct {
		name     string
		req      *pb.DeleteReq_Options
		expected string
	}{
		{"exact", &pb.DeleteReq_Options{StreamIdentifier: streamID("c"), ExpectedStreamRevision: &pb.DeleteReq_Options_Revision{Revision: 5}}, "5"},
		{"no stream", &pb.DeleteReq_Options{StreamIdentifier: streamID("c"), ExpectedStreamRevision: &pb.DeleteReq_Options_NoStream{NoStream: empty()}}, "-1"},
	} {
		var md metadata.MD
		_, err := c.streams.Delete(ctx, &pb.DeleteReq{Options: tc.req}, grpc.Trailer(&md))
		wantStatus(t, "delete "+tc.name, md, err, codes.FailedPrecondition,
			"exception", "wrong-expected-version", "stream-name", "c", "expected-version", tc.expected, "actual-version", "2")
	}
	var md metadata.MD
	_, err = c.streams.Tombstone(ctx, &pb.TombstoneReq{Options: &pb.TombstoneReq_Options{StreamIdentifier: streamID("nothing"), ExpectedStreamRevision: &pb.TombstoneReq_Options_StreamExists{StreamExists: empty()}}}, grpc.Trailer(&md))
	wantStatus(t, "tombstone expecting an existing stream", md, err, codes.FailedPrecondition,
		"exception", "wrong-expected-version", "stream-name", "nothing", "expected-version", "-4", "actual-version", "")
	n.inject(nil, &streams.WrongExpectedVersionError{Stream: "c", Expected: streams.Any, Actual: 2})
	_, err = c.streams.Delete(ctx, &pb.DeleteReq{Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("c"), ExpectedStreamRevision: &pb.DeleteReq_Options_Any{Any: empty()}}}, grpc.Trailer(&md))
	wantStatus(t, "delete expecting any", md, err, codes.FailedPrecondition, "expected-version", "-2")
	n.inject(nil, nil)

	// Tombstoned: stream-deleted.
	_, err = c.streams.Tombstone(ctx, &pb.TombstoneReq{Options: &pb.TombstoneReq_Options{StreamIdentifier: streamID("b"), ExpectedStreamRevision: &pb.TombstoneReq_Options_Any{Any: empty()}}}, grpc.Trailer(&md))
	wantStatus(t, "tombstone of a tombstoned stream", md, err, codes.FailedPrecondition, "exception", "stream-deleted", "stream-name", "b")
	_, err = c.streams.Delete(ctx, &pb.DeleteReq{Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("b"), ExpectedStreamRevision: &pb.DeleteReq_Options_NoStream{NoStream: empty()}}}, grpc.Trailer(&md))
	wantStatus(t, "delete of a tombstoned stream", md, err, codes.FailedPrecondition, "exception", "stream-deleted", "stream-name", "b")

	// A delete that wrote nothing has no position.
	n.mu.Lock()
	n.writeNothing = true
	n.mu.Unlock()
	del, err = c.streams.Delete(ctx, &pb.DeleteReq{Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("c"), ExpectedStreamRevision: &pb.DeleteReq_Options_Any{Any: empty()}}})
	if err != nil || del.GetNoPosition() == nil {
		t.Fatalf("delete that wrote nothing answered %v, %v; want no_position", del, err)
	}
	tomb, err = c.streams.Tombstone(ctx, &pb.TombstoneReq{Options: &pb.TombstoneReq_Options{StreamIdentifier: streamID("c"), ExpectedStreamRevision: &pb.TombstoneReq_Options_Any{Any: empty()}}})
	if err != nil || tomb.GetNoPosition() == nil {
		t.Fatalf("tombstone that wrote nothing answered %v, %v; want no_position", tomb, err)
	}
}

func TestAppendOfTooManyEventsIsRefusedEarly(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{maxEvents: 100})
	msgs := []*pb.AppendReq{appendOptions("s", "any")}
	for i := range 101 {
		msgs = append(msgs, proposed(idOf(byte(i)), false, "t", "x", ""))
	}
	_, md, err := appendCall(testContext(t), t, c, msgs)
	wantStatus(t, "append of too many events", md, err, codes.InvalidArgument, "exception", "maximum-append-size-exceeded")
	if !strings.Contains(err.Error(), "events") {
		t.Fatalf("error %v does not say the count of events is the problem", err)
	}
	// Exactly at the bound is fine.
	_, md, err = appendCall(testContext(t), t, c, msgs[:101])
	wantStatus(t, "append of as many events as allowed", md, err, codes.OK)

	// The same bound holds for each append of a BatchAppend call.
	st, err := c.streams.BatchAppend(testContext(t))
	if err != nil {
		t.Fatalf("BatchAppend: %v", err)
	}
	req := &pb.BatchAppendReq{CorrelationId: corr(1), Options: batchOptions("s", "any"), IsFinal: true}
	for i := range 101 {
		req.ProposedMessages = append(req.ProposedMessages, batchEvent(idOf(byte(i)), "t", ""))
	}
	if err := st.Send(req); err != nil {
		t.Fatalf("send: %v", err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	var size sharedpb.MaximumAppendSizeExceeded
	detailOf(t, r, &size)
	_ = st.CloseSend()
	if _, err := st.Recv(); endCode(err) != codes.OK {
		t.Fatalf("after the half-close: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.appends) != 1 || len(n.appends[0].Events) != 100 {
		t.Fatalf("the node got %d appends, want only the one of 100 events", len(n.appends))
	}
}
