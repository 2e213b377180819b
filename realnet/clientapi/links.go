package clientapi

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// LinkEventType is the type of a link event: its data, "revision@stream",
// points at another stream's event.
const LinkEventType = "$>"

// LinkTarget reads a link event's data: the revision and stream it points
// at. ok is false for data that is not "revision@stream".
func LinkTarget(data []byte) (stream string, revision int64, ok bool) {
	num, name, found := strings.Cut(string(data), "@")
	if !found || name == "" || !utf8.ValidString(name) {
		return "", 0, false
	}
	revision, err := strconv.ParseInt(num, 10, 64)
	if err != nil || revision < 0 {
		return "", 0, false
	}
	return name, revision, true
}

// resolver turns a read's events into the messages the client gets: with
// resolve_links, a link event becomes the event it points at, with the
// link beside it; one the reader may not see, or that is gone (deleted,
// truncated, past the end of its stream), comes as the link alone, as
// EventStoreDB answers a link it could not resolve.
type resolver struct {
	s          *streamsService
	resolve    bool
	structured bool
	leader     bool
}

func (s *streamsService) resolver(p readPlan, leader bool) resolver {
	return resolver{s: s, resolve: p.resolveLinks, structured: p.structured, leader: leader}
}

// message is ev as the client reads it. An error is the node's failure to
// answer the target's read (no leader, shutting down): the read ends with
// it, as any of its own reads would.
func (r resolver) message(ctx context.Context, ev *streams.Event) (*pb.ReadResp, error) {
	if !r.resolve || ev.Type != LinkEventType {
		return eventMessage(ev, r.structured), nil
	}
	target, err := r.target(ctx, ev)
	if err != nil {
		return nil, err
	}
	link := recordedEvent(ev, r.structured)
	re := &pb.ReadResp_ReadEvent{Link: link, Position: &pb.ReadResp_ReadEvent_CommitPosition{CommitPosition: link.CommitPosition}}
	if target != nil {
		re.Event = recordedEvent(target, r.structured)
	}
	return &pb.ReadResp{Content: &pb.ReadResp_Event{Event: re}}, nil
}

// target is the event a link points at, nil when it cannot be resolved.
func (r resolver) target(ctx context.Context, link *streams.Event) (*streams.Event, error) {
	return ResolveLink(ctx, r.s.node, r.s.opts.Authorize, link, r.leader)
}

// ResolveLink is the event link points at, nil when it cannot be resolved:
// data that is not "revision@stream", a target stream the caller in ctx
// may not read (authorize, when not nil, is asked as for a read of it: a
// link must not show what a read would refuse), or a target that is gone.
// An error is the node's failure to answer the target's read.
func ResolveLink(ctx context.Context, n Node, authorize func(context.Context, Operation, string) error, link *streams.Event, requireLeader bool) (*streams.Event, error) {
	stream, revision, ok := LinkTarget(link.Data)
	if !ok {
		return nil, nil
	}
	if authorize != nil && authorize(ctx, OpRead, stream) != nil {
		return nil, nil
	}
	res, err := n.ReadStream(ctx, node.ReadRequest{Stream: stream, From: revision, Count: 1, RequireLeader: requireLeader})
	if err != nil {
		return nil, err
	}
	if res.Err != nil || len(res.Events) == 0 || res.Events[0].Number != revision {
		return nil, nil
	}
	return &res.Events[0], nil
}
