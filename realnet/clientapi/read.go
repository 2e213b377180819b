package clientapi

import (
	"context"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/filter"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// streamsService is event_store.client.streams.Streams.
type streamsService struct {
	pb.UnimplementedStreamsServer
	*server
}

// readPlan is a validated ReadReq.
type readPlan struct {
	stream     string // empty for $all
	backwards  bool
	subscribe  bool
	count      uint64 // finite reads
	structured bool   // ids as structured UUIDs
	compat     uint32 // control_option.compatibility
	// resolveLinks answers link events with the events they point at.
	resolveLinks bool

	// Where to start: fromStart, fromEnd, or value (a revision or a $all
	// commit position).
	fromStart, fromEnd bool
	value              int64

	filter *streams.AllFilter
}

func (s *streamsService) Read(req *pb.ReadReq, stream pb.Streams_ReadServer) error {
	ctx := stream.Context()
	err := s.read(ctx, req, stream)
	if err != nil {
		return s.fail(stream.SetTrailer, "Streams.Read", err)
	}
	return nil
}

func (s *streamsService) read(ctx context.Context, req *pb.ReadReq, stream pb.Streams_ReadServer) error {
	p, err := parseRead(req)
	if err != nil {
		return err
	}
	target := p.stream
	if target == "" {
		target = AllStream
	}
	if err := s.authorize(ctx, OpRead, target); err != nil {
		return err
	}
	leader := requiresLeader(ctx)
	switch {
	case p.subscribe:
		return s.subscribe(ctx, p, target, leader, stream.Send)
	case p.stream != "":
		return s.readStream(ctx, p, leader, stream.Send)
	default:
		return s.readAll(ctx, p, leader, stream.Send)
	}
}

// parseRead checks a request against the combinations EventStoreDB
// accepts: stream or $all, count or subscription, forwards or backwards
// (subscriptions forwards only), a filter on $all only.
func parseRead(req *pb.ReadReq) (readPlan, error) {
	var p readPlan
	o := req.GetOptions()
	if o == nil {
		return p, invalidArgument("the read request has no options")
	}
	switch o.GetUuidOption().GetContent().(type) {
	case *pb.ReadReq_Options_UUIDOption_Structured:
		p.structured = true
	case *pb.ReadReq_Options_UUIDOption_String_:
	default:
		return p, invalidArgument("the read request has no uuid_option; set it to structured or string")
	}
	switch o.GetReadDirection() {
	case pb.ReadReq_Options_Forwards:
	case pb.ReadReq_Options_Backwards:
		p.backwards = true
	default:
		return p, invalidArgument("read direction %d is neither Forwards (0) nor Backwards (1)", int32(o.GetReadDirection()))
	}
	switch c := o.GetCountOption().(type) {
	case *pb.ReadReq_Options_Count:
		p.count = c.Count
	case *pb.ReadReq_Options_Subscription:
		p.subscribe = true
		if p.backwards {
			return p, invalidArgument("The combination of a subscription and reading backwards is invalid; subscriptions read forwards")
		}
	default:
		return p, invalidArgument("the read request sets neither count nor subscription")
	}
	p.compat = o.GetControlOption().GetCompatibility()
	p.resolveLinks = o.GetResolveLinks()

	var filterOpts *pb.ReadReq_Options_FilterOptions
	switch f := o.GetFilterOption().(type) {
	case *pb.ReadReq_Options_Filter:
		filterOpts = f.Filter
		if filterOpts == nil {
			return p, invalidArgument("the read request's filter is empty")
		}
	case *pb.ReadReq_Options_NoFilter, nil:
		// No filter_option at all reads unfiltered: every official
		// client sends no_filter, and nothing is lost by leniency.
	}

	switch so := o.GetStreamOption().(type) {
	case *pb.ReadReq_Options_Stream:
		if filterOpts != nil {
			return p, invalidArgument("The combination of a stream read and a filter is invalid; filters apply to $all only")
		}
		name, err := streamName(so.Stream.GetStreamIdentifier())
		if err != nil {
			return p, err
		}
		p.stream = name
		switch r := so.Stream.GetRevisionOption().(type) {
		case *pb.ReadReq_Options_StreamOptions_Revision:
			p.value = clampInt64(r.Revision)
		case *pb.ReadReq_Options_StreamOptions_Start:
			p.fromStart = true
		case *pb.ReadReq_Options_StreamOptions_End:
			p.fromEnd = true
		default:
			return p, invalidArgument("the stream read of %q sets none of revision, start and end", name)
		}
	case *pb.ReadReq_Options_All:
		switch a := so.All.GetAllOption().(type) {
		case *pb.ReadReq_Options_AllOptions_Position:
			p.value = clampInt64(a.Position.GetCommitPosition())
		case *pb.ReadReq_Options_AllOptions_Start:
			p.fromStart = true
		case *pb.ReadReq_Options_AllOptions_End:
			p.fromEnd = true
		default:
			return p, invalidArgument("the $all read sets none of position, start and end")
		}
		if filterOpts != nil {
			f, err := parseFilter(filterOpts)
			if err != nil {
				return p, err
			}
			p.filter = f
		}
	default:
		return p, invalidArgument("the read request sets neither stream nor all")
	}
	return p, nil
}

func parseFilter(o *pb.ReadReq_Options_FilterOptions) (*streams.AllFilter, error) {
	var (
		f    streams.AllFilter
		expr *pb.ReadReq_Options_FilterOptions_Expression
	)
	switch x := o.GetFilter().(type) {
	case *pb.ReadReq_Options_FilterOptions_StreamIdentifier:
		f.On, expr = filter.StreamName, x.StreamIdentifier
	case *pb.ReadReq_Options_FilterOptions_EventType:
		f.On, expr = filter.EventType, x.EventType
	default:
		return nil, invalidArgument("the filter sets neither stream_identifier nor event_type")
	}
	f.Regex, f.Prefixes = expr.GetRegex(), expr.GetPrefix()
	if w, ok := o.GetWindow().(*pb.ReadReq_Options_FilterOptions_Max); ok {
		f.MaxSearchWindow = w.Max
	}
	f.CheckpointIntervalMultiplier = o.GetCheckpointIntervalMultiplier()
	// Compile once here so that a bad expression is the client's
	// INVALID_ARGUMENT before anything is read.
	if _, err := filter.New(f.Spec); err != nil {
		return nil, invalidArgument("%v", err)
	}
	return &f, nil
}

// streamName reads a stream identifier: a UTF-8 name, not empty.
func streamName(id *sharedpb.StreamIdentifier) (string, error) {
	if id == nil {
		return "", invalidArgument("the stream_identifier is missing")
	}
	b := id.GetStreamName()
	if len(b) == 0 {
		return "", invalidArgument("the stream name is empty")
	}
	if !utf8.Valid(b) {
		return "", invalidArgument("the stream name %s is not valid UTF-8", quote(string(b)))
	}
	return string(b), nil
}

// clampInt64 maps a client's unsigned revision or position onto the
// node's signed ones; nothing lies beyond math.MaxInt64.
func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func (s *streamsService) readStream(ctx context.Context, p readPlan, leader bool, send func(*pb.ReadResp) error) error {
	req := node.ReadRequest{Stream: p.stream, FromEnd: p.fromEnd, From: p.value, Backwards: p.backwards, RequireLeader: leader}
	remaining := p.count
	last := int64(streams.NoRevision)
	for page := 0; remaining > 0; page++ {
		req.Count = min(remaining, uint64(s.opts.ReadPageSize))
		res, err := s.node.ReadStream(ctx, req)
		if err != nil {
			return err
		}
		var nf *streams.StreamNotFoundError
		if errors.As(res.Err, &nf) {
			return send(&pb.ReadResp{Content: &pb.ReadResp_StreamNotFound_{StreamNotFound: &pb.ReadResp_StreamNotFound{
				StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(p.stream)},
			}}})
		}
		if res.Err != nil {
			return res.Err
		}
		last = res.LastRevision
		// A first page that is empty although the stream goes on tells
		// the clients that ask (compatibility 1) where it really starts.
		if page == 0 && p.compat >= 1 && !p.backwards && !req.FromEnd && len(res.Events) == 0 && !res.End && res.Next != req.From && res.Next >= 0 {
			if err := send(&pb.ReadResp{Content: &pb.ReadResp_FirstStreamPosition{FirstStreamPosition: uint64(res.Next)}}); err != nil {
				return err
			}
		}
		if err := sendEvents(ctx, s.resolver(p, leader), res.Events, &remaining, send); err != nil {
			return err
		}
		if res.End || remaining == 0 {
			break
		}
		if len(res.Events) == 0 && !req.FromEnd && res.Next == req.From {
			s.logf("Streams.Read: the node's page of %q from %d made no progress; ending the read there", p.stream, req.From)
			break
		}
		req.FromEnd, req.From = false, res.Next
	}
	if p.compat >= 1 && last >= 0 {
		return send(&pb.ReadResp{Content: &pb.ReadResp_LastStreamPosition{LastStreamPosition: uint64(last)}})
	}
	return nil
}

// sendEvents sends events, at most *remaining of them, counting them off.
func sendEvents(ctx context.Context, r resolver, evs []streams.Event, remaining *uint64, send func(*pb.ReadResp) error) error {
	for i := range evs {
		if *remaining == 0 {
			return nil
		}
		m, err := r.message(ctx, &evs[i])
		if err != nil {
			return err
		}
		if err := send(m); err != nil {
			return err
		}
		*remaining--
	}
	return nil
}

func (s *streamsService) readAll(ctx context.Context, p readPlan, leader bool, send func(*pb.ReadResp) error) error {
	req := streams.ReadAllRequest{From: startOf(p, streams.At), Direction: direction(p.backwards), Filter: p.filter}
	remaining := p.count
	prev := int64(-1) // where the previous page said to continue
	for remaining > 0 {
		req.Count = min(remaining, uint64(s.opts.ReadPageSize))
		res, err := s.node.ReadAll(ctx, req, leader)
		if err != nil {
			return err
		}
		if res.Err != nil {
			return res.Err
		}
		if err := sendEvents(ctx, s.resolver(p, leader), res.Events, &remaining, send); err != nil {
			return err
		}
		if res.End || remaining == 0 {
			break
		}
		if len(res.Events) == 0 && res.Next == prev {
			s.logf("Streams.Read: the node's $all page from %d made no progress; ending the read there", res.Next)
			break
		}
		prev = res.Next
		req.From = streams.At(res.Next)
	}
	return nil
}

func direction(backwards bool) streams.Direction {
	if backwards {
		return streams.Backwards
	}
	return streams.Forwards
}

// startOf is where a plan starts; at makes a From of a revision or
// position (streams.At for reads, streams.After for subscriptions).
func startOf(p readPlan, at func(int64) streams.From) streams.From {
	switch {
	case p.fromStart:
		return streams.Start()
	case p.fromEnd:
		return streams.End()
	}
	return at(p.value)
}

// eventMessage is one event as the clients read it.
func eventMessage(ev *streams.Event, structured bool) *pb.ReadResp {
	e := recordedEvent(ev, structured)
	return &pb.ReadResp{Content: &pb.ReadResp_Event{Event: &pb.ReadResp_ReadEvent{
		Event:    e,
		Position: &pb.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.CommitPosition},
	}}}
}

// recordedEvent is an event's fields as the clients read them.
func recordedEvent(ev *streams.Event, structured bool) *pb.ReadResp_ReadEvent_RecordedEvent {
	contentType := contentTypeBinary
	if ev.IsJSON {
		contentType = contentTypeJSON
	}
	pos := uint64(max(ev.Position, 0))
	return &pb.ReadResp_ReadEvent_RecordedEvent{
		Id:               toUUID(ev.ID, structured),
		StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(ev.Stream)},
		StreamRevision:   uint64(max(ev.Number, 0)),
		PreparePosition:  pos,
		CommitPosition:   pos,
		Metadata: map[string]string{
			metaType:        ev.Type,
			metaContentType: contentType,
			metaCreated:     strconv.FormatInt(ev.Created, 10),
		},
		CustomMetadata: ev.Metadata,
		Data:           ev.Data,
	}
}

// subscribe runs a catch-up subscription until the client cancels or the
// node drops it; one message is in hand at a time, the node's
// subscription buffers the rest.
//
// The caller's right to read target is asked again before each event goes
// out: access can be taken away while a subscription runs (the stream's
// $acl, $settings), and EventStoreDB then drops the subscriptions that may
// no longer read, with access denied. Here the subscription ends so at the
// first event after the change, which it does not send.
func (s *streamsService) subscribe(ctx context.Context, p readPlan, target string, leader bool, send func(*pb.ReadResp) error) error {
	sub, err := s.node.Subscribe(ctx, SubscribeRequest{
		Stream:        p.stream,
		From:          startOf(p, streams.After),
		Filter:        p.filter,
		RequireLeader: leader,
	})
	if err != nil {
		return err
	}
	defer sub.Close()
	links := s.resolver(p, leader)
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		var resp *pb.ReadResp
		switch m.Kind {
		case streams.Confirmed:
			resp = &pb.ReadResp{Content: &pb.ReadResp_Confirmation{Confirmation: &pb.ReadResp_SubscriptionConfirmation{SubscriptionId: m.SubscriptionID}}}
		case streams.EventAppeared:
			if err := s.authorize(ctx, OpRead, target); err != nil {
				return err
			}
			if resp, err = links.message(ctx, &m.Event); err != nil {
				return err
			}
		case streams.Checkpoint:
			if m.Position < 0 {
				continue
			}
			resp = &pb.ReadResp{Content: &pb.ReadResp_Checkpoint_{Checkpoint: &pb.ReadResp_Checkpoint{
				CommitPosition: uint64(m.Position), PreparePosition: uint64(m.Position), Timestamp: timestamppb.New(s.opts.Now()),
			}}}
		case streams.CaughtUp:
			c := &pb.ReadResp_CaughtUp{Timestamp: timestamppb.New(s.opts.Now())}
			c.StreamRevision, c.Position = caughtUpAt(p, m)
			resp = &pb.ReadResp{Content: &pb.ReadResp_CaughtUp_{CaughtUp: c}}
		case streams.FellBehind:
			// The node says only that it happened, not where.
			resp = &pb.ReadResp{Content: &pb.ReadResp_FellBehind_{FellBehind: &pb.ReadResp_FellBehind{Timestamp: timestamppb.New(s.opts.Now())}}}
		case streams.Dropped:
			if m.Err == nil {
				return newRPCError(codes.Unavailable, "the node ended the subscription; subscribe again")
			}
			return m.Err
		default:
			s.logf("Streams.Read: subscription message of unknown kind %v skipped", m.Kind)
			continue
		}
		if err := send(resp); err != nil {
			return err
		}
	}
}

// caughtUpAt is the last revision (stream) or position ($all) a
// caught-up message reports, when there is one.
func caughtUpAt(p readPlan, m streams.Message) (*int64, *pb.ReadResp_Position) {
	if p.stream != "" {
		if m.Revision < 0 {
			return nil, nil
		}
		rev := m.Revision
		return &rev, nil
	}
	if m.Position < 0 {
		return nil, nil
	}
	return nil, &pb.ReadResp_Position{CommitPosition: uint64(m.Position), PreparePosition: uint64(m.Position)}
}
