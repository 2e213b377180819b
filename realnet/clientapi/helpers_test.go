package clientapi

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testContext bounds a test's calls, so that a server that never answers
// fails the test instead of hanging it.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func empty() *sharedpb.Empty { return &sharedpb.Empty{} }

func streamID(name string) *sharedpb.StreamIdentifier {
	return &sharedpb.StreamIdentifier{StreamName: []byte(name)}
}

// start and end are read positions; a *uint64 is a revision or position.
type readFrom struct {
	start, end bool
	at         uint64
}

var (
	fromStart = readFrom{start: true}
	fromEnd   = readFrom{end: true}
)

func fromAt(v uint64) readFrom { return readFrom{at: v} }

func uuidOption(structured bool) *pb.ReadReq_Options_UUIDOption {
	if structured {
		return &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_Structured{Structured: empty()}}
	}
	return &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: empty()}}
}

func streamOption(name string, from readFrom) *pb.ReadReq_Options_Stream {
	so := &pb.ReadReq_Options_StreamOptions{StreamIdentifier: streamID(name)}
	switch {
	case from.start:
		so.RevisionOption = &pb.ReadReq_Options_StreamOptions_Start{Start: empty()}
	case from.end:
		so.RevisionOption = &pb.ReadReq_Options_StreamOptions_End{End: empty()}
	default:
		so.RevisionOption = &pb.ReadReq_Options_StreamOptions_Revision{Revision: from.at}
	}
	return &pb.ReadReq_Options_Stream{Stream: so}
}

func allOption(from readFrom) *pb.ReadReq_Options_All {
	ao := &pb.ReadReq_Options_AllOptions{}
	switch {
	case from.start:
		ao.AllOption = &pb.ReadReq_Options_AllOptions_Start{Start: empty()}
	case from.end:
		ao.AllOption = &pb.ReadReq_Options_AllOptions_End{End: empty()}
	default:
		ao.AllOption = &pb.ReadReq_Options_AllOptions_Position{Position: &pb.ReadReq_Options_Position{CommitPosition: from.at, PreparePosition: from.at}}
	}
	return &pb.ReadReq_Options_All{All: ao}
}

func readDirection(backwards bool) pb.ReadReq_Options_ReadDirection {
	if backwards {
		return pb.ReadReq_Options_Backwards
	}
	return pb.ReadReq_Options_Forwards
}

// readStreamReq is a finite stream read as the clients send it.
func readStreamReq(name string, from readFrom, backwards bool, count uint64, structured bool) *pb.ReadReq {
	return &pb.ReadReq{Options: &pb.ReadReq_Options{
		StreamOption:  streamOption(name, from),
		ReadDirection: readDirection(backwards),
		CountOption:   &pb.ReadReq_Options_Count{Count: count},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: empty()},
		UuidOption:    uuidOption(structured),
	}}
}

func readAllReq(from readFrom, backwards bool, count uint64, f *pb.ReadReq_Options_FilterOptions) *pb.ReadReq {
	o := &pb.ReadReq_Options{
		StreamOption:  allOption(from),
		ReadDirection: readDirection(backwards),
		CountOption:   &pb.ReadReq_Options_Count{Count: count},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: empty()},
		UuidOption:    uuidOption(false),
	}
	if f != nil {
		o.FilterOption = &pb.ReadReq_Options_Filter{Filter: f}
	}
	return &pb.ReadReq{Options: o}
}

func subscribeReq(o *pb.ReadReq_Options) *pb.ReadReq {
	o.CountOption = &pb.ReadReq_Options_Subscription{Subscription: &pb.ReadReq_Options_SubscriptionOptions{}}
	if o.UuidOption == nil {
		o.UuidOption = uuidOption(false)
	}
	if o.FilterOption == nil {
		o.FilterOption = &pb.ReadReq_Options_NoFilter{NoFilter: empty()}
	}
	return &pb.ReadReq{Options: o}
}

// readToEnd runs a finite read and collects its messages, its final
// status (nil for OK) and its trailers.
func readToEnd(t *testing.T, c clients, req *pb.ReadReq, opts ...grpc.CallOption) ([]*pb.ReadResp, metadata.MD, error) {
	t.Helper()
	return readToEndCtx(testContext(t), t, c, req, opts...)
}

func readToEndCtx(ctx context.Context, t *testing.T, c clients, req *pb.ReadReq, opts ...grpc.CallOption) ([]*pb.ReadResp, metadata.MD, error) {
	t.Helper()
	st, err := c.streams.Read(ctx, req, opts...)
	if err != nil {
		t.Fatalf("starting Read: %v", err)
	}
	var out []*pb.ReadResp
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, st.Trailer(), nil
		}
		if err != nil {
			return out, st.Trailer(), err
		}
		out = append(out, m)
	}
}

// wantStatus checks a call's status code and the trailers it must carry.
func wantStatus(t *testing.T, what string, md metadata.MD, err error, code codes.Code, trailers ...string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("%s: status %v (%v), want %v", what, got, err, code)
	}
	for i := 0; i+1 < len(trailers); i += 2 {
		k, v := trailers[i], trailers[i+1]
		if got := md.Get(k); len(got) != 1 || got[0] != v {
			t.Fatalf("%s: trailer %q = %q, want [%q] (all trailers: %v)", what, k, got, v, md)
		}
	}
}

// appendCall runs one Append with the given messages and returns the
// response, the status and the trailers.
func appendCall(ctx context.Context, t *testing.T, c clients, msgs []*pb.AppendReq, opts ...grpc.CallOption) (*pb.AppendResp, metadata.MD, error) {
	t.Helper()
	st, err := c.streams.Append(ctx, opts...)
	if err != nil {
		t.Fatalf("starting Append: %v", err)
	}
	for _, m := range msgs {
		if err := st.Send(m); err != nil {
			// The server answered early (a refusal); CloseAndRecv has it.
			break
		}
	}
	resp, err := st.CloseAndRecv()
	return resp, st.Trailer(), err
}

func appendOptions(name string, expected any) *pb.AppendReq {
	o := &pb.AppendReq_Options{StreamIdentifier: streamID(name)}
	switch e := expected.(type) {
	case uint64:
		o.ExpectedStreamRevision = &pb.AppendReq_Options_Revision{Revision: e}
	case string:
		switch e {
		case "any":
			o.ExpectedStreamRevision = &pb.AppendReq_Options_Any{Any: empty()}
		case "no_stream":
			o.ExpectedStreamRevision = &pb.AppendReq_Options_NoStream{NoStream: empty()}
		case "stream_exists":
			o.ExpectedStreamRevision = &pb.AppendReq_Options_StreamExists{StreamExists: empty()}
		}
	}
	return &pb.AppendReq{Content: &pb.AppendReq_Options_{Options: o}}
}

func proposed(id [16]byte, structured bool, typ, contentType string, data string) *pb.AppendReq {
	md := map[string]string{}
	if typ != "" {
		md["type"] = typ
	}
	if contentType != "" {
		md["content-type"] = contentType
	}
	return &pb.AppendReq{Content: &pb.AppendReq_ProposedMessage_{ProposedMessage: &pb.AppendReq_ProposedMessage{
		Id: toUUID(id, structured), Metadata: md, Data: []byte(data), CustomMetadata: []byte("cm"),
	}}}
}

func idOf(n byte) [16]byte {
	var id [16]byte
	for i := range id {
		id[i] = n + byte(i)
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

func leaderCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "requires-leader", "true")
}

// leaderCtxIncoming is a server-side context carrying requires-leader.
func leaderCtxIncoming(v string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("requires-leader", v))
}

func statusCode(err error) codes.Code { return status.Code(err) }
