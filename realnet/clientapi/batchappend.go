package clientapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// Bounds of one BatchAppend call. A client multiplexes all its appends on
// one call; most arrive whole in one request, so these are generous for
// well-behaved clients and cap what a misbehaving one can make the node
// hold (about (maxUnfinishedBatches + maxBatchWritesInFlight) × the
// maximum append size).
const (
	// maxBatchWritesInFlight bounds appends handed to the node and not
	// answered yet; beyond it the call stops reading requests until one
	// is answered.
	maxBatchWritesInFlight = 32
	// maxUnfinishedBatches bounds appends whose requests have begun
	// (options seen) but not ended (is_final); beyond it the call fails
	// with RESOURCE_EXHAUSTED.
	maxUnfinishedBatches = 16
)

// batch is one append of a BatchAppend call, from its options to its
// is_final request.
type batch struct {
	key         [16]byte
	correlation *sharedpb.UUID // echoed as the client sent it
	streamID    *sharedpb.StreamIdentifier
	stream      string
	expected    streams.ExpectedRevision
	deadline    time.Time // zero: none
	events      []streams.EventData
	size        int
}

// batchResult is a finished append's answer; fatal, when set, ends the
// whole call instead (not-leader, node not ready), as EventStoreDB does,
// so that the client reconnects.
type batchResult struct {
	resp  *pb.BatchAppendResp
	fatal error
}

type received struct {
	req *pb.BatchAppendReq
	err error
}

func (s *streamsService) BatchAppend(stream pb.Streams_BatchAppendServer) error {
	if err := s.batchAppend(stream); err != nil {
		return s.fail(stream.SetTrailer, "Streams.BatchAppend", err)
	}
	return nil
}

// batchAppend runs one call. This goroutine is the only one that sends,
// and it hands finished appends to the node itself, so that the node takes
// them in the order they arrived; a receiver goroutine reads requests (so
// that a failed append can end the call while the client is quiet), and
// one goroutine per append waits for the node's answer, at most
// maxBatchWritesInFlight of them, so that commits overlap.
func (s *streamsService) batchAppend(stream pb.Streams_BatchAppendServer) error {
	callCtx := stream.Context()
	ctx, cancel := context.WithCancel(callCtx)
	defer cancel()
	leader := requiresLeader(callCtx)

	incoming := make(chan received)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case incoming <- received{req, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	results := make(chan batchResult, maxBatchWritesInFlight)
	pending := map[[16]byte]*batch{}
	inFlight := 0
	reading := true
	var fatal error
	callDone := callCtx.Done()
	end := func(err error) {
		if fatal == nil {
			fatal = err
		}
		reading = false
		callDone = nil
		cancel()
	}
	send := func(resp *pb.BatchAppendResp) {
		if fatal != nil {
			return
		}
		if err := stream.Send(resp); err != nil {
			end(err)
		}
	}
	// One timer answers the earliest deadline of the unfinished appends,
	// so that a client that stops sending still hears of them.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for reading || inFlight > 0 {
		var in <-chan received
		if reading && inFlight < maxBatchWritesInFlight {
			in = incoming
		}
		var expiry <-chan time.Time
		if next, ok := earliestDeadline(pending); ok && fatal == nil {
			timer.Reset(max(next.Sub(s.opts.Now()), 0))
			expiry = timer.C
		}
		select {
		case r := <-in:
			if r.err == io.EOF {
				// The client sends no more; answer what is in flight.
				reading = false
				continue
			}
			if r.err != nil {
				end(r.err)
				continue
			}
			start, err := s.batchRequest(callCtx, pending, r.req, send)
			if err != nil {
				end(err)
				continue
			}
			if start != nil && fatal == nil {
				inFlight++
				finish := s.startWrite(ctx, start, leader)
				go func() { results <- finish() }()
			}
		case r := <-results:
			inFlight--
			if r.fatal != nil {
				end(r.fatal)
				continue
			}
			send(r.resp)
		case <-expiry:
			s.expire(pending, send)
		case <-callDone:
			end(callCtx.Err())
		}
		timer.Stop()
	}
	return fatal
}

func earliestDeadline(pending map[[16]byte]*batch) (time.Time, bool) {
	var first time.Time
	for _, b := range pending {
		if !b.deadline.IsZero() && (first.IsZero() || b.deadline.Before(first)) {
			first = b.deadline
		}
	}
	return first, !first.IsZero()
}

// expire answers Timeout to the unfinished appends whose deadline passed
// and forgets them; their later requests are ignored.
func (s *streamsService) expire(pending map[[16]byte]*batch, send func(*pb.BatchAppendResp)) {
	now := s.opts.Now()
	for k, b := range pending {
		if !b.deadline.IsZero() && !now.Before(b.deadline) {
			delete(pending, k)
			send(b.answer(timeoutStatus()))
		}
	}
}

// batchRequest takes one request: it may begin an append (options), add
// events to one, or finish it (is_final: start is the append to write).
// Refusals of one append are sent as its response; err ends the call.
func (s *streamsService) batchRequest(ctx context.Context, pending map[[16]byte]*batch, req *pb.BatchAppendReq, send func(*pb.BatchAppendResp)) (start *batch, err error) {
	key, err := fromUUID(req.GetCorrelationId())
	if err != nil {
		return nil, invalidArgument("a BatchAppend request has no usable correlation_id (%v); every request needs one", err)
	}
	s.expire(pending, send)
	now := s.opts.Now()
	b := pending[key]
	if o := req.GetOptions(); o != nil && b == nil {
		if len(pending) >= maxUnfinishedBatches {
			return nil, newRPCError(codes.ResourceExhausted, fmt.Sprintf("more than %d appends begun on this BatchAppend call are not finished (is_final); finish them first", maxUnfinishedBatches))
		}
		var refusal *pb.BatchAppendResp
		if b, refusal = s.newBatch(key, req.GetCorrelationId(), o, now); refusal != nil {
			send(refusal)
			return nil, nil
		}
		if err := s.authorize(ctx, OpWrite, b.stream); err != nil {
			if !errors.Is(err, ErrAccessDenied) {
				return nil, err
			}
			send(b.answer(batchError(codes.PermissionDenied, accessDeniedMessage(err), &sharedpb.AccessDenied{})))
			return nil, nil
		}
		pending[key] = b
	}
	if b == nil {
		// Requests of an append already answered (refused, expired) or
		// never begun: EventStoreDB ignores them too.
		return nil, nil
	}
	limit := s.node.MaxAppendSize()
	for _, pm := range req.GetProposedMessages() {
		ev, err := proposedEvent(len(b.events), pm.GetId(), pm.GetMetadata(), pm.GetCustomMetadata(), pm.GetData())
		if err != nil {
			delete(pending, key)
			send(b.answer(badRequest(err.Error())))
			return nil, nil
		}
		if b.size += eventSize(&ev); b.size > limit || len(b.events) == s.opts.maxEvents {
			delete(pending, key)
			send(b.answer(batchError(codes.InvalidArgument, "MaximumAppendSizeExceeded", &sharedpb.MaximumAppendSizeExceeded{MaxAppendSize: uint32(min(limit, 1<<32-1))})))
			return nil, nil
		}
		b.events = append(b.events, ev)
	}
	if !req.GetIsFinal() {
		return nil, nil
	}
	delete(pending, key)
	return b, nil
}

// newBatch begins an append from its options, or answers it at once.
func (s *streamsService) newBatch(key [16]byte, correlation *sharedpb.UUID, o *pb.BatchAppendReq_Options, now time.Time) (*batch, *pb.BatchAppendResp) {
	b := &batch{key: key, correlation: correlation, streamID: o.GetStreamIdentifier()}
	name, err := streamName(o.GetStreamIdentifier())
	if err != nil {
		return nil, b.answer(badRequest(err.Error()))
	}
	b.stream = name
	switch e := o.GetExpectedStreamPosition().(type) {
	case *pb.BatchAppendReq_Options_StreamPosition:
		if b.expected, err = exactRevision(e.StreamPosition); err != nil {
			return nil, b.answer(badRequest(err.Error()))
		}
	case *pb.BatchAppendReq_Options_NoStream:
		b.expected = streams.NoStream
	case *pb.BatchAppendReq_Options_Any:
		b.expected = streams.Any
	case *pb.BatchAppendReq_Options_StreamExists:
		b.expected = streams.StreamExists
	default:
		return nil, b.answer(badRequest(fmt.Sprintf("the append to %q sets no expected stream position (stream_position, no_stream, any or stream_exists)", name)))
	}
	switch d := o.GetDeadlineOption().(type) {
	case *pb.BatchAppendReq_Options_Deadline_21_10_0:
		if err := d.Deadline_21_10_0.CheckValid(); err != nil {
			return nil, b.answer(badRequest("the append's deadline is not a valid timestamp: " + err.Error()))
		}
		b.deadline = d.Deadline_21_10_0.AsTime()
	case *pb.BatchAppendReq_Options_Deadline:
		if err := d.Deadline.CheckValid(); err != nil {
			return nil, b.answer(badRequest("the append's deadline is not a valid duration: " + err.Error()))
		}
		b.deadline = now.Add(d.Deadline.AsDuration())
	}
	if !b.deadline.IsZero() && !now.Before(b.deadline) {
		return nil, b.answer(timeoutStatus())
	}
	return b, nil
}

// startWrite hands one append to the node before it returns, and returns
// what waits for the node's answer and turns it into the append's
// response. Handing over waits while a swamped node's inbox is full,
// which pushes back on this call's client; the append's deadline and the
// call's end still bound that wait.
func (s *streamsService) startWrite(ctx context.Context, b *batch, leader bool) func() batchResult {
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if !b.deadline.IsZero() {
		wctx, cancel = context.WithDeadline(ctx, b.deadline)
	}
	wait, err := s.node.StartAppend(wctx, node.AppendRequest{Stream: b.stream, Expected: int64(b.expected), Events: b.events, RequireLeader: leader})
	if err != nil {
		cancel()
		r := s.writeFailed(ctx, b, err)
		return func() batchResult { return r }
	}
	return func() batchResult {
		defer cancel()
		res, err := wait(wctx)
		if err != nil {
			return s.writeFailed(ctx, b, err)
		}
		return s.writeAnswered(b, res)
	}
}

// writeFailed answers an append whose call to the node failed: its own
// deadline passing is its Timeout; anything else ends the whole call.
func (s *streamsService) writeFailed(ctx context.Context, b *batch, err error) batchResult {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return batchResult{resp: b.answer(timeoutStatus())}
	}
	return batchResult{fatal: err}
}

// writeAnswered turns the node's answer into the append's response.
func (s *streamsService) writeAnswered(b *batch, res node.WriteResult) batchResult {
	err := res.Err
	if err == nil {
		return batchResult{resp: b.success(res)}
	}
	switch node.Classify(err) {
	case node.ClassNotLeader, node.ClassNotReady:
		return batchResult{fatal: err}
	case node.ClassWrongExpectedVersion:
		_, expected, actual := wrongExpectedOf(err)
		return batchResult{resp: b.answer(wrongExpectedStatus(expected, actual))}
	case node.ClassStreamDeleted:
		return batchResult{resp: b.answer(batchError(codes.NotFound, "StreamDeleted", &sharedpb.StreamDeleted{StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(b.stream)}}))}
	case node.ClassTooLarge:
		var size *streams.MaxAppendSizeExceededError
		errors.As(err, &size)
		return batchResult{resp: b.answer(batchError(codes.InvalidArgument, "MaximumAppendSizeExceeded", &sharedpb.MaximumAppendSizeExceeded{MaxAppendSize: uint32(min(size.Max, 1<<32-1))}))}
	case node.ClassTimeout:
		return batchResult{resp: b.answer(timeoutStatus())}
	case node.ClassTooBusy:
		return batchResult{resp: b.answer(batchError(codes.Unavailable, "Server Is Too Busy: "+err.Error(), &sharedpb.Unknown{}))}
	case node.ClassDiskFull:
		// As for Append: another node takes the write.
		return batchResult{resp: b.answer(batchError(codes.Unavailable, err.Error(), &sharedpb.Unknown{}))}
	case node.ClassInvalidArgument:
		var inv *streams.InvalidArgumentError
		errors.As(err, &inv)
		return batchResult{resp: b.answer(badRequest(inv.What))}
	default:
		if _, known := toRPCError(err); !known {
			s.logf("Streams.BatchAppend: unexpected error answered as Unknown: %v", err)
		}
		return batchResult{resp: b.answer(batchError(codes.Unknown, err.Error(), &sharedpb.Unknown{}))}
	}
}

// answer is the append's response carrying an error status.
func (b *batch) answer(st *rpcstatus.Status) *pb.BatchAppendResp {
	r := b.response()
	r.Result = &pb.BatchAppendResp_Error{Error: st}
	return r
}

func (b *batch) success(res node.WriteResult) *pb.BatchAppendResp {
	ok := &pb.BatchAppendResp_Success{}
	if res.Revision >= 0 {
		ok.CurrentRevisionOption = &pb.BatchAppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.Revision)}
	} else {
		ok.CurrentRevisionOption = &pb.BatchAppendResp_Success_NoStream{NoStream: &emptypb.Empty{}}
	}
	if res.Position >= 0 {
		ok.PositionOption = &pb.BatchAppendResp_Success_Position{Position: &sharedpb.AllStreamPosition{
			CommitPosition: uint64(res.Position), PreparePosition: uint64(res.Position),
		}}
	} else {
		ok.PositionOption = &pb.BatchAppendResp_Success_NoPosition{NoPosition: &emptypb.Empty{}}
	}
	r := b.response()
	r.Result = &pb.BatchAppendResp_Success_{Success: ok}
	return r
}

// response echoes what the clients match and dereference: the
// correlation id, the stream, the expected position.
func (b *batch) response() *pb.BatchAppendResp {
	r := &pb.BatchAppendResp{CorrelationId: b.correlation, StreamIdentifier: b.streamID}
	if r.StreamIdentifier == nil {
		r.StreamIdentifier = &sharedpb.StreamIdentifier{}
	}
	switch {
	case b.stream == "":
		// Refused before the options were read.
	case b.expected == streams.Any:
		r.ExpectedStreamPosition = &pb.BatchAppendResp_Any{Any: &emptypb.Empty{}}
	case b.expected == streams.NoStream:
		r.ExpectedStreamPosition = &pb.BatchAppendResp_NoStream{NoStream: &emptypb.Empty{}}
	case b.expected == streams.StreamExists:
		r.ExpectedStreamPosition = &pb.BatchAppendResp_StreamExists{StreamExists: &emptypb.Empty{}}
	default:
		r.ExpectedStreamPosition = &pb.BatchAppendResp_StreamPosition{StreamPosition: uint64(b.expected)}
	}
	return r
}

// batchError is a google.rpc.Status with one detail: the clients switch
// on the detail's type name (event_store.client.WrongExpectedVersion, …).
func batchError(code codes.Code, msg string, detail proto.Message) *rpcstatus.Status {
	st := &rpcstatus.Status{Code: int32(code), Message: msg}
	if a, err := anypb.New(detail); err == nil {
		st.Details = []*anypb.Any{a}
	}
	return st
}

func badRequest(msg string) *rpcstatus.Status {
	return batchError(codes.InvalidArgument, msg, &sharedpb.BadRequest{Message: msg})
}

func timeoutStatus() *rpcstatus.Status {
	return batchError(codes.DeadlineExceeded, "Timeout", &sharedpb.Timeout{})
}

func wrongExpectedStatus(expected streams.ExpectedRevision, actual int64) *rpcstatus.Status {
	w := &sharedpb.WrongExpectedVersion{}
	if actual >= 0 {
		w.CurrentStreamRevisionOption = &sharedpb.WrongExpectedVersion_CurrentStreamRevision{CurrentStreamRevision: uint64(actual)}
	} else {
		w.CurrentStreamRevisionOption = &sharedpb.WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &emptypb.Empty{}}
	}
	switch expected {
	case streams.Any:
		w.ExpectedStreamPositionOption = &sharedpb.WrongExpectedVersion_ExpectedAny{ExpectedAny: &emptypb.Empty{}}
	case streams.StreamExists:
		w.ExpectedStreamPositionOption = &sharedpb.WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &emptypb.Empty{}}
	case streams.NoStream:
		w.ExpectedStreamPositionOption = &sharedpb.WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &emptypb.Empty{}}
	default:
		w.ExpectedStreamPositionOption = &sharedpb.WrongExpectedVersion_ExpectedStreamPosition{ExpectedStreamPosition: uint64(expected)}
	}
	return batchError(codes.AlreadyExists, "WrongExpectedVersion", w)
}
