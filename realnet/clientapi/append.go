package clientapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

func (s *streamsService) Append(stream pb.Streams_AppendServer) error {
	resp, err := s.append(stream)
	if err != nil {
		return s.fail(stream.SetTrailer, "Streams.Append", err)
	}
	return stream.SendAndClose(resp)
}

// append reads one append (options, then proposed events), refusing it as
// soon as its events pass the maximum append size so that a client cannot
// make the call hold more, and hands it to the node.
func (s *streamsService) append(stream pb.Streams_AppendServer) (*pb.AppendResp, error) {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err == io.EOF {
		return nil, invalidArgument("the append has no options message; the first message must be options")
	}
	if err != nil {
		return nil, err
	}
	opts := first.GetOptions()
	if opts == nil {
		return nil, invalidArgument("the first message of an append must be options, not a proposed message")
	}
	name, err := streamName(opts.GetStreamIdentifier())
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, OpWrite, name); err != nil {
		return nil, err
	}
	var expected streams.ExpectedRevision
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *pb.AppendReq_Options_Revision:
		expected, err = exactRevision(e.Revision)
	case *pb.AppendReq_Options_NoStream:
		expected = streams.NoStream
	case *pb.AppendReq_Options_Any:
		expected = streams.Any
	case *pb.AppendReq_Options_StreamExists:
		expected = streams.StreamExists
	default:
		err = invalidArgument("the append to %q sets no expected revision (revision, no_stream, any or stream_exists)", name)
	}
	if err != nil {
		return nil, err
	}

	limit := s.node.MaxAppendSize()
	var (
		events []streams.EventData
		size   int
	)
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		pm := msg.GetProposedMessage()
		if pm == nil {
			return nil, invalidArgument("message %d of the append to %q is not a proposed message; only the first message carries options", len(events)+2, name)
		}
		ev, err := proposedEvent(len(events), pm.GetId(), pm.GetMetadata(), pm.GetCustomMetadata(), pm.GetData())
		if err != nil {
			return nil, err
		}
		if size += eventSize(&ev); size > limit {
			return nil, maxAppendSizeExceeded(name, size, limit)
		}
		if len(events) == s.opts.maxEvents {
			return nil, s.tooManyEvents(name, limit)
		}
		events = append(events, ev)
	}

	res, err := s.node.Append(ctx, node.AppendRequest{Stream: name, Expected: int64(expected), Events: events, RequireLeader: requiresLeader(ctx)})
	if err != nil {
		return nil, err
	}
	var (
		wev *streams.WrongExpectedVersionError
		ci  *streams.CorruptedIdempotencyError
	)
	switch {
	case errors.As(res.Err, &wev):
		return appendWrongExpected(wev.Expected, wev.Actual), nil
	case errors.As(res.Err, &ci):
		return appendWrongExpected(ci.Expected, ci.Actual), nil
	case res.Err != nil:
		return nil, res.Err
	}
	ok := &pb.AppendResp_Success{}
	if res.Revision >= 0 {
		ok.CurrentRevisionOption = &pb.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.Revision)}
	} else {
		ok.CurrentRevisionOption = &pb.AppendResp_Success_NoStream{NoStream: &sharedpb.Empty{}}
	}
	if res.Position >= 0 {
		ok.PositionOption = &pb.AppendResp_Success_Position{Position: &pb.AppendResp_Position{
			CommitPosition: uint64(res.Position), PreparePosition: uint64(res.Position),
		}}
	} else {
		ok.PositionOption = &pb.AppendResp_Success_NoPosition{NoPosition: &sharedpb.Empty{}}
	}
	return &pb.AppendResp{Result: &pb.AppendResp_Success_{Success: ok}}, nil
}

// appendWrongExpected answers a wrong expected version in the body, as
// EventStoreDB does for Append: the current fields (6-11) and the 20.6.0
// ones (1-5) that older clients read.
func appendWrongExpected(expected streams.ExpectedRevision, actual int64) *pb.AppendResp {
	w := &pb.AppendResp_WrongExpectedVersion{}
	empty := &sharedpb.Empty{}
	if actual >= 0 {
		w.CurrentRevisionOption = &pb.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(actual)}
		w.CurrentRevisionOption_20_6_0 = &pb.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(actual)}
	} else {
		w.CurrentRevisionOption = &pb.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: empty}
		w.CurrentRevisionOption_20_6_0 = &pb.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: empty}
	}
	switch expected {
	case streams.Any:
		w.ExpectedRevisionOption = &pb.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: empty}
		w.ExpectedRevisionOption_20_6_0 = &pb.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: empty}
	case streams.StreamExists:
		w.ExpectedRevisionOption = &pb.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: empty}
		w.ExpectedRevisionOption_20_6_0 = &pb.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: empty}
	case streams.NoStream:
		w.ExpectedRevisionOption = &pb.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: empty}
		// 20.6.0 had no field for it: EventStoreDB sends -1 as unsigned.
		w.ExpectedRevisionOption_20_6_0 = &pb.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: math.MaxUint64}
	default:
		w.ExpectedRevisionOption = &pb.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(expected)}
		w.ExpectedRevisionOption_20_6_0 = &pb.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(expected)}
	}
	return &pb.AppendResp{Result: &pb.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// exactRevision reads an expected revision the node can hold.
func exactRevision(v uint64) (streams.ExpectedRevision, error) {
	if v > math.MaxInt64 {
		return 0, invalidArgument("expected revision %d is beyond the largest revision, %d", v, int64(math.MaxInt64))
	}
	return streams.Exact(int64(v)), nil
}

// proposedEvent turns the i-th proposed event of an append into the
// node's form: type and content-type are required, application/json marks
// JSON.
func proposedEvent(i int, id *sharedpb.UUID, md map[string]string, custom, data []byte) (streams.EventData, error) {
	typ, ok := md[metaType]
	if !ok {
		return streams.EventData{}, missingMetadata(i, metaType)
	}
	contentType, ok := md[metaContentType]
	if !ok {
		return streams.EventData{}, missingMetadata(i, metaContentType)
	}
	eventID, err := fromUUID(id)
	if err != nil {
		return streams.EventData{}, invalidArgument("event %d of the append has no usable id: %v", i, err)
	}
	return streams.EventData{ID: eventID, Type: typ, Data: data, Metadata: custom, IsJSON: contentType == contentTypeJSON}, nil
}

// maxEventsPerAppend bounds the events of one append, as the node's own
// bound for appends on every transport.
const maxEventsPerAppend = node.MaxEventsPerAppend

// tooManyEvents answers it as an append too large, which is what it is
// to the clients.
func (s *streamsService) tooManyEvents(stream string, limit int) *rpcError {
	e := maxAppendSizeExceeded(stream, 0, limit)
	e.st = status.New(codes.InvalidArgument, fmt.Sprintf("the append to %q has more than %d events, the most one append may hold; split it into smaller appends", stream, s.opts.maxEvents))
	return e
}

// eventSize is what an event counts against the maximum append size, as
// the node counts it.
func eventSize(ev *streams.EventData) int { return len(ev.Data) + len(ev.Metadata) + len(ev.Type) }

func (s *streamsService) Delete(ctx context.Context, req *pb.DeleteReq) (*pb.DeleteResp, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, s.fail(unaryTrailer(ctx), "Streams.Delete", invalidArgument("the delete request has no options"))
	}
	var expected streams.ExpectedRevision
	var err error
	switch e := o.GetExpectedStreamRevision().(type) {
	case *pb.DeleteReq_Options_Revision:
		expected, err = exactRevision(e.Revision)
	case *pb.DeleteReq_Options_NoStream:
		expected = streams.NoStream
	case *pb.DeleteReq_Options_Any:
		expected = streams.Any
	case *pb.DeleteReq_Options_StreamExists:
		expected = streams.StreamExists
	default:
		err = invalidArgument("the delete sets no expected revision (revision, no_stream, any or stream_exists)")
	}
	pos, err := s.remove(ctx, o.GetStreamIdentifier(), expected, err, false)
	if err != nil {
		return nil, s.fail(unaryTrailer(ctx), "Streams.Delete", err)
	}
	if pos < 0 {
		return &pb.DeleteResp{PositionOption: &pb.DeleteResp_NoPosition{NoPosition: &sharedpb.Empty{}}}, nil
	}
	return &pb.DeleteResp{PositionOption: &pb.DeleteResp_Position_{Position: &pb.DeleteResp_Position{
		CommitPosition: uint64(pos), PreparePosition: uint64(pos),
	}}}, nil
}

func (s *streamsService) Tombstone(ctx context.Context, req *pb.TombstoneReq) (*pb.TombstoneResp, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, s.fail(unaryTrailer(ctx), "Streams.Tombstone", invalidArgument("the tombstone request has no options"))
	}
	var expected streams.ExpectedRevision
	var err error
	switch e := o.GetExpectedStreamRevision().(type) {
	case *pb.TombstoneReq_Options_Revision:
		expected, err = exactRevision(e.Revision)
	case *pb.TombstoneReq_Options_NoStream:
		expected = streams.NoStream
	case *pb.TombstoneReq_Options_Any:
		expected = streams.Any
	case *pb.TombstoneReq_Options_StreamExists:
		expected = streams.StreamExists
	default:
		err = invalidArgument("the tombstone sets no expected revision (revision, no_stream, any or stream_exists)")
	}
	pos, err := s.remove(ctx, o.GetStreamIdentifier(), expected, err, true)
	if err != nil {
		return nil, s.fail(unaryTrailer(ctx), "Streams.Tombstone", err)
	}
	if pos < 0 {
		return &pb.TombstoneResp{PositionOption: &pb.TombstoneResp_NoPosition{NoPosition: &sharedpb.Empty{}}}, nil
	}
	return &pb.TombstoneResp{PositionOption: &pb.TombstoneResp_Position_{Position: &pb.TombstoneResp_Position{
		CommitPosition: uint64(pos), PreparePosition: uint64(pos),
	}}}, nil
}

// remove soft-deletes or tombstones a stream and returns the position of
// what it wrote (-1: nothing). A wrong expected version is an error here,
// unlike for Append.
func (s *streamsService) remove(ctx context.Context, id *sharedpb.StreamIdentifier, expected streams.ExpectedRevision, parseErr error, tombstone bool) (int64, error) {
	name, err := streamName(id)
	if err != nil {
		return 0, err
	}
	if parseErr != nil {
		return 0, parseErr
	}
	if err := s.authorize(ctx, OpDelete, name); err != nil {
		return 0, err
	}
	res, err := s.node.Delete(ctx, node.DeleteRequest{Stream: name, Expected: int64(expected), Tombstone: tombstone, RequireLeader: requiresLeader(ctx)})
	if err != nil {
		return 0, err
	}
	if res.Err != nil {
		return 0, res.Err
	}
	return res.Position, nil
}

// unaryTrailer sets the trailers of a unary call.
func unaryTrailer(ctx context.Context) func(metadata.MD) {
	return func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
}
