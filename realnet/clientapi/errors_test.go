package clientapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// operation runs one client call and returns its trailers and status.
type operation struct {
	name string
	call func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error)
}

var operations = []operation{
	{"read stream", func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error) {
		_, md, err := readToEndCtx(ctx, t, c, readStreamReq("s", fromStart, false, 10, false))
		return md, err
	}},
	{"read $all", func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error) {
		_, md, err := readToEndCtx(ctx, t, c, readAllReq(fromStart, false, 10, nil))
		return md, err
	}},
	{"subscribe", func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error) {
		_, md, err := readToEndCtx(ctx, t, c, subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("s", fromStart)}))
		return md, err
	}},
	{"append", func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error) {
		_, md, err := appendCall(ctx, t, c, []*pb.AppendReq{appendOptions("s", "any"), proposed(idOf(1), false, "t", "x", "")})
		return md, err
	}},
	{"delete", func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error) {
		var md metadata.MD
		_, err := c.streams.Delete(ctx, &pb.DeleteReq{Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("s"), ExpectedStreamRevision: &pb.DeleteReq_Options_Any{Any: empty()}}}, grpc.Trailer(&md))
		return md, err
	}},
	{"tombstone", func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error) {
		var md metadata.MD
		_, err := c.streams.Tombstone(ctx, &pb.TombstoneReq{Options: &pb.TombstoneReq_Options{StreamIdentifier: streamID("s"), ExpectedStreamRevision: &pb.TombstoneReq_Options_Any{Any: empty()}}}, grpc.Trailer(&md))
		return md, err
	}},
	{"gossip", func(ctx context.Context, t *testing.T, c clients) (metadata.MD, error) {
		var md metadata.MD
		_, err := c.gossip.Read(ctx, &sharedpb.Empty{}, grpc.Trailer(&md))
		return md, err
	}},
}

// TestErrorMappings is the table every operation answers by: what the
// node said, the status code, the message start, and the trailers.
func TestErrorMappings(t *testing.T) {
	cases := []struct {
		name              string
		callErr, nodeErr  error
		code              codes.Code
		msgPrefix         string
		trailers          []string
		logged            bool
		noTrailerExpected bool
	}{
		{name: "not leader, leader known", nodeErr: &node.NotLeaderError{Leader: env.Endpoint{Host: "node2.example", Port: 2113}},
			code: codes.NotFound, msgPrefix: "Leader info available",
			trailers: []string{"exception", "not-leader", "leader-endpoint-host", "node2.example", "leader-endpoint-port", "2113"}},
		{name: "not leader, no leader yet", nodeErr: &node.NotLeaderError{}, code: codes.Unavailable, msgPrefix: "no leader yet", noTrailerExpected: true},
		{name: "node not ready", nodeErr: node.ErrNotReady, code: codes.Unavailable, noTrailerExpected: true},
		{name: "node stopped", callErr: ErrNodeStopped, code: codes.Unavailable, noTrailerExpected: true},
		{name: "write timeout", nodeErr: &streams.TimeoutError{Stream: "s", Err: fmt.Errorf("not committed: %w", node.ErrAmbiguous)}, code: codes.Aborted, msgPrefix: "Operation timed out: "},
		{name: "ambiguous forward", nodeErr: fmt.Errorf("forwarding: %w", node.ErrAmbiguous), code: codes.Aborted, msgPrefix: "Operation timed out: "},
		{name: "leadership lost", nodeErr: node.ErrLeadershipLost, code: codes.Aborted, msgPrefix: "Operation timed out: "},
		{name: "too busy", nodeErr: &streams.TooBusyError{What: "reads in progress", Limit: 256}, code: codes.Unavailable},
		{name: "invalid argument", nodeErr: &streams.InvalidArgumentError{What: "the stream name is empty"}, code: codes.InvalidArgument, msgPrefix: "the stream name is empty"},
		{name: "remote write error", nodeErr: &node.RemoteWriteError{Message: "disk full on the leader"}, code: codes.Unknown, msgPrefix: "disk full on the leader"},
		{name: "unforeseen error", nodeErr: errors.New("boom"), code: codes.Unknown, msgPrefix: "boom", logged: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNode()
			var (
				mu   sync.Mutex
				logs []string
			)
			c := serve(t, n, Options{Logf: func(format string, args ...any) {
				mu.Lock()
				logs = append(logs, fmt.Sprintf(format, args...))
				mu.Unlock()
			}})
			n.inject(tc.callErr, tc.nodeErr)
			for _, op := range operations {
				md, err := op.call(testContext(t), t, c)
				wantStatus(t, op.name, md, err, tc.code, tc.trailers...)
				if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, tc.msgPrefix) {
					t.Fatalf("%s: message %q, want it to start with %q", op.name, msg, tc.msgPrefix)
				}
				if tc.noTrailerExpected && len(md.Get("exception")) != 0 {
					t.Fatalf("%s: exception trailer %v, want none", op.name, md.Get("exception"))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.logged != (len(logs) > 0) {
				t.Fatalf("logged %q; want logging %v (only errors the table does not know are logged)", logs, tc.logged)
			}
		})
	}
}

func TestToRPCErrorPassesStatusesThrough(t *testing.T) {
	e, known := toRPCError(status.Error(codes.ResourceExhausted, "too big"))
	if !known || e.st.Code() != codes.ResourceExhausted {
		t.Fatalf("a gRPC status became %v (known %v), want it unchanged", e.st, known)
	}
	e, _ = toRPCError(context.Canceled)
	if e.st.Code() != codes.Canceled {
		t.Fatalf("context.Canceled became %v, want Canceled", e.st.Code())
	}
	e, _ = toRPCError(context.DeadlineExceeded)
	if e.st.Code() != codes.DeadlineExceeded {
		t.Fatalf("context.DeadlineExceeded became %v, want DeadlineExceeded", e.st.Code())
	}
	e, _ = toRPCError(&streams.StreamNotFoundError{Stream: "x"})
	if e.st.Code() != codes.NotFound || e.trailer.Get("exception")[0] != "stream-not-found" || e.trailer.Get("stream-name")[0] != "x" {
		t.Fatalf("StreamNotFoundError became %v %v, want NOT_FOUND stream-not-found", e.st, e.trailer)
	}
}
