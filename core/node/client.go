package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/wire"
)

// NotLeaderError answers a request that needs the leader on a node that is
// not: Leader is the leader's client-facing node endpoint (zero when no
// leader is known, EventStoreDB's NotReady).
type NotLeaderError struct {
	Leader env.Endpoint
}

func (e *NotLeaderError) Error() string {
	if e.Leader.IsZero() {
		return "no leader is known yet; retry shortly"
	}
	return fmt.Sprintf("this node is not the leader; the leader is at %v", e.Leader)
}

// ErrNotReady answers client requests while the node starts or stops, and
// reads of a range of its log that it found damaged and is fetching again.
var ErrNotReady = errors.New("the node is not ready to serve requests")

// Streams is the node's client-operation layer (nil until the node has
// opened its log).
func (n *Node) Streams() *streams.Service { return n.streams }

// newStreams builds the client layer over this node's committed log.
func (n *Node) newStreams() error {
	svc, err := streams.New(clientLog{n}, streams.Config{
		MaxAppendSize: int(n.opts.Int(options.MaxAppendSize)),
		NewID:         func() [16]byte { return [16]byte(member.NewID(n.e.Rand)) },
	})
	if err != nil {
		return err
	}
	n.streams = svc
	return nil
}

// leaderEndpoint is the client-facing endpoint of the leader this node
// knows of, or zero.
func (n *Node) leaderEndpoint() env.Endpoint {
	if n.leaderID.IsZero() {
		return env.Endpoint{}
	}
	for _, m := range n.gossip.View() {
		if m.InstanceID == n.leaderID {
			return m.ClientEndpoint()
		}
	}
	return env.Endpoint{}
}

// clientLog is the committed log as the client layer sees it.
type clientLog struct{ n *Node }

func (c clientLog) Committed() int64 { return c.n.st.applied }

func toEvent(r *eventlog.Record) streams.Event {
	e := &r.Event
	return streams.Event{
		Position: r.Position, Stream: e.Stream, Number: e.Number, ID: e.ID, Type: e.Type,
		Data: e.Data, Metadata: e.Metadata, IsJSON: e.IsJSON(), Created: e.Created, Tombstone: e.IsTombstone(),
	}
}

func events(recs []eventlog.Record) []streams.Event {
	out := make([]streams.Event, 0, len(recs))
	for i := range recs {
		if recs[i].Kind == eventlog.KindEvent {
			out = append(out, toEvent(&recs[i]))
		}
	}
	return out
}

func (c clientLog) ReadAt(pos int64, done func(streams.Event, error)) {
	n := c.n
	if pos >= n.st.applied {
		done(streams.Event{}, fmt.Errorf("position %d is not committed yet", pos))
		return
	}
	err := n.st.log.ReadAt(pos, func(r eventlog.Record, _ int64, err error) {
		if err == nil && r.Kind != eventlog.KindEvent {
			err = fmt.Errorf("position %d holds no event", pos)
		}
		if err != nil {
			done(streams.Event{}, n.readFailed(err, fmt.Sprintf("serving a read at %d", pos)))
			return
		}
		done(toEvent(&r), nil)
	})
	if err != nil {
		done(streams.Event{}, err)
	}
}

func (c clientLog) ReadForward(from, upTo int64, maxBytes int, done func([]streams.Event, int64, error)) {
	n := c.n
	upTo = min(upTo, n.st.applied)
	if from >= upTo {
		done(nil, from, nil)
		return
	}
	var step func(from int64, acc []streams.Event)
	step = func(from int64, acc []streams.Event) {
		err := n.st.log.ReadForward(from, upTo, maxBytes, func(recs []eventlog.Record, next int64, err error) {
			if err != nil {
				done(nil, from, n.readFailed(err, fmt.Sprintf("serving a read from %d", from)))
				return
			}
			acc = append(acc, events(recs)...)
			// Epoch records carry no events: keep going until one is
			// found or the range ends.
			if len(acc) == 0 && next < upTo && next > from {
				step(next, acc)
				return
			}
			done(acc, next, nil)
		})
		if errors.Is(err, eventlog.ErrNothingToRead) {
			done(acc, from, nil)
		} else if err != nil {
			done(nil, from, err)
		}
	}
	step(from, nil)
}

// readFailed is the answer to a client read that failed. A corrupt range
// starts its repair, as any read that meets one does (the node cuts its
// log there and fetches the rest again from the leader), and is answered
// as not ready: retry later, or on another node.
func (n *Node) readFailed(err error, while string) error {
	var c *eventlog.CorruptError
	if !errors.As(err, &c) {
		return err
	}
	n.corruption(err, while)
	return fmt.Errorf("%w: log positions [%d, %d) are damaged on this node and are being fetched again from the leader; retry, or read from another node",
		ErrNotReady, c.From, c.To)
}

func (c clientLog) ReadBackward(before int64, maxBytes int, done func([]streams.Event, int64, error)) {
	n := c.n
	before = min(before, n.st.applied)
	var step func(before int64)
	step = func(before int64) {
		if before <= 0 {
			done(nil, 0, nil)
			return
		}
		err := n.st.log.ReadBackward(before, maxBytes, func(recs []eventlog.Record, prev int64, err error) {
			if err != nil {
				done(nil, before, n.readFailed(err, fmt.Sprintf("serving a backward read before %d", before)))
				return
			}
			evs := events(recs)
			if len(evs) == 0 && prev < before && prev > 0 {
				step(prev)
				return
			}
			done(evs, prev, nil)
		})
		if errors.Is(err, eventlog.ErrNothingToRead) {
			done(nil, before, nil)
		} else if err != nil {
			done(nil, before, err)
		}
	}
	step(before)
}

// Append writes the client layer's proposals. Only the leader writes; the
// node routes client requests so that this is never called elsewhere, but
// a leadership change between routing and writing is answered as
// not-leader.
func (c clientLog) Append(evs []streams.Event, done func([]int64, error)) {
	n := c.n
	// epochWritten is cleared first when a leader steps down, so writes
	// the client layer re-decides while it resets are refused here.
	if n.state != member.Leader || n.leaderID != n.id || !n.epochWritten {
		done(nil, &NotLeaderError{Leader: n.leaderEndpoint()})
		return
	}
	recs := make([]eventlog.Record, len(evs))
	for i := range evs {
		e := &evs[i]
		var flags eventlog.EventFlags
		if e.IsJSON {
			flags |= eventlog.FlagJSON
		}
		if e.Tombstone {
			flags |= eventlog.FlagTombstone
		}
		if i < len(evs)-1 {
			flags |= eventlog.FlagContinued
		}
		recs[i] = eventlog.NewEvent(eventlog.Event{
			Stream: e.Stream, Number: e.Number, ID: e.ID, Type: e.Type, Data: e.Data,
			Metadata: e.Metadata, Flags: flags, Created: e.Created,
		})
	}
	n.appendLocal(recs, func(err error) {
		if err != nil {
			done(nil, err)
			return
		}
		positions := make([]int64, len(recs))
		for i := range recs {
			positions[i] = recs[i].Position
		}
		done(positions, nil)
	})
}

// forwardTimeout is how long a follower waits for the leader to answer a
// forwarded write: the leader's write timeout and 300 ms, as EventStoreDB's.
func (n *Node) forwardTimeout() time.Duration {
	return n.writeTimeout() + 300*time.Millisecond
}

// writeTimeout is how long the leader waits for a write to commit before
// answering with a timeout (the write may still commit): WriteTimeoutMs
// when set, else PrepareTimeoutMs + CommitTimeoutMs.
func (n *Node) writeTimeout() time.Duration {
	if n.opts.Source(options.WriteTimeoutMs) != options.SourceDefault {
		return n.opts.Duration(options.WriteTimeoutMs)
	}
	return n.opts.Duration(options.PrepareTimeoutMs) + n.opts.Duration(options.CommitTimeoutMs)
}

// serving reports whether the node takes client requests at all.
func (n *Node) serving() bool {
	switch n.state {
	case member.Initializing, member.ShuttingDown, member.Shutdown:
		return false
	}
	return !n.stopped && n.streams != nil
}

// Append is the one entry point for client appends, whatever transport
// they came by: the leader writes; a follower forwards to the leader
// unless the client requires the leader (then: not-leader with the
// leader's endpoint).
func (n *Node) Append(req AppendRequest, done func(WriteResult)) {
	n.write(req.Stream, req.RequireLeader, MethodAppend, &req, func(abandoned func() bool, reply func(WriteResult)) {
		n.streams.Append(streams.AppendRequest{
			Stream: req.Stream, Expected: streams.ExpectedRevision(req.Expected), Events: req.Events, Now: n.e.Clock.Wall(),
			Abandoned: abandoned,
		}, func(r streams.WriteResult) {
			reply(WriteResult{Revision: r.Revision, Position: r.Position, Idempotent: r.Idempotent, Err: r.Err})
		})
	}, done)
}

// Delete soft-deletes or tombstones a stream, routed as Append.
func (n *Node) Delete(req DeleteRequest, done func(WriteResult)) {
	n.write(req.Stream, req.RequireLeader, MethodDelete, &req, func(abandoned func() bool, reply func(WriteResult)) {
		r := streams.DeleteRequest{Stream: req.Stream, Expected: streams.ExpectedRevision(req.Expected), Now: n.e.Clock.Wall(), Abandoned: abandoned}
		answer := func(r streams.WriteResult) {
			reply(WriteResult{Revision: r.Revision, Position: r.Position, Idempotent: r.Idempotent, Err: r.Err})
		}
		if req.Tombstone {
			n.streams.Tombstone(r, answer)
		} else {
			n.streams.Delete(r, answer)
		}
	}, done)
}

// write runs a client write to stream: local on the leader (given whether
// its client has been answered already, and the reply), forwarded otherwise.
func (n *Node) write(stream string, requireLeader bool, method string, req wire.Message, local func(abandoned func() bool, reply func(WriteResult)), done func(WriteResult)) {
	switch {
	case !n.serving():
		done(WriteResult{Err: ErrNotReady})
	case n.state == member.Leader:
		// Answer within the write timeout; the write itself goes on and
		// may still commit (the client retries with the same ids).
		answered := false
		timer := n.e.Clock.AfterFunc(n.writeTimeout(), func() {
			if !answered {
				answered = true
				done(WriteResult{Err: &streams.TimeoutError{Stream: stream, Err: fmt.Errorf("not committed within %v: %w", n.writeTimeout(), ErrAmbiguous)}})
			}
		})
		local(func() bool { return answered }, func(r WriteResult) {
			if answered {
				return
			}
			if !isRefusal(r.Err) {
				answered = true
				timer.Stop()
				done(r)
				return
			}
			// A refusal is definite, and decided on this node's view of the
			// stream: answer it only once a quorum confirms this node still
			// leads, as for reads that require the leader. A deposed leader
			// that has not heard yet would refuse from a stale state.
			epoch := n.epoch.Number
			n.server.ConfirmLeadership(epoch, n.clusterSize/2, func(ok bool) {
				if answered {
					return
				}
				answered = true
				timer.Stop()
				if !ok || n.state != member.Leader || n.epoch.Number != epoch {
					done(WriteResult{Err: &NotLeaderError{Leader: n.leaderEndpoint()}})
					return
				}
				done(r)
			})
		})
	case requireLeader || n.readOnly || n.leaderHTTP.IsZero() || !n.leaderFollowed():
		done(WriteResult{Err: &NotLeaderError{Leader: n.leaderEndpoint()}})
	default:
		n.forward(stream, method, req, done)
	}
}

// isRefusal reports whether a write was refused on the stream's state.
func isRefusal(err error) bool {
	_, wev := errors.AsType[*streams.WrongExpectedVersionError](err)
	_, del := errors.AsType[*streams.StreamDeletedError](err)
	_, ci := errors.AsType[*streams.CorruptedIdempotencyError](err)
	return wev || del || ci
}

// leaderFollowed reports whether this node follows a live leader.
func (n *Node) leaderFollowed() bool {
	return !n.leaderID.IsZero() && n.leaderID != n.id
}

// forward sends a write to stream to the leader and relays its answer.
func (n *Node) forward(stream, method string, req wire.Message, done func(WriteResult)) {
	n.e.Net.Call(n.leaderHTTP, method, wire.Marshal(req), n.forwardTimeout(), func(resp []byte, err error) {
		if err != nil {
			var remote *env.RemoteError
			if errors.As(err, &remote) {
				done(WriteResult{Err: &RemoteWriteError{Message: remote.Message}})
				return
			}
			// The leader may have written it: the outcome is unknown.
			done(WriteResult{Err: &streams.TimeoutError{Stream: stream, Err: fmt.Errorf("forwarding to the leader: %w: %w", err, ErrAmbiguous)}})
			return
		}
		var r WriteResult
		if err := wire.UnmarshalInto(resp, &r); err != nil {
			done(WriteResult{Err: &RemoteWriteError{Message: "leader's answer undecodable: " + err.Error()}})
			return
		}
		if te, ok := errors.AsType[*streams.TimeoutError](r.Err); ok && te.Stream == "" {
			te.Stream = stream // the wire carries the cause only
		}
		done(r)
	})
}

// ReadStream reads one page of a stream on this node (any node serves
// reads, never past its commit point). A read that requires the leader is
// answered by the leader only.
func (n *Node) ReadStream(req ReadRequest, done func(ReadResult)) {
	n.leaderGate(req.RequireLeader, func(err error) {
		if err != nil {
			done(ReadResult{Err: err})
			return
		}
		n.readLocal(req, done)
	})
}

// afterApplied runs f once every record below pos is applied.
func (n *Node) afterApplied(pos int64, f func()) {
	if n.st.applied >= pos {
		f()
		return
	}
	n.st.appliedWaiters = append(n.st.appliedWaiters, appliedWaiter{pos: pos, f: f})
}

func (n *Node) readLocal(req ReadRequest, done func(ReadResult)) {
	from := streams.At(req.From)
	if req.FromEnd {
		from = streams.End()
	}
	dir := streams.Forwards
	if req.Backwards {
		dir = streams.Backwards
	}
	n.streams.ReadStream(streams.ReadStreamRequest{
		Stream: req.Stream, From: from, Direction: dir, Count: req.Count, Now: n.e.Clock.Wall(),
	}, func(r streams.ReadStreamResult) {
		done(ReadResult{Events: r.Events, Next: r.Next, End: r.End, LastRevision: r.LastRevision, Err: r.Err})
	})
}

// handleClient serves the client methods of the node's RPC endpoint.
func (n *Node) handleClient(method string, req []byte, reply func([]byte, error)) {
	bad := func(err error) { reply(nil, &env.RemoteError{Code: 400, Message: err.Error()}) }
	switch method {
	case MethodAppend:
		var r AppendRequest
		if err := wire.UnmarshalInto(req, &r); err != nil {
			bad(err)
			return
		}
		n.Append(r, func(res WriteResult) { reply(wire.Marshal(&res), nil) })
	case MethodDelete:
		var r DeleteRequest
		if err := wire.UnmarshalInto(req, &r); err != nil {
			bad(err)
			return
		}
		n.Delete(r, func(res WriteResult) { reply(wire.Marshal(&res), nil) })
	case MethodReadStream:
		var r ReadRequest
		if err := wire.UnmarshalInto(req, &r); err != nil {
			bad(err)
			return
		}
		n.ReadStream(r, func(res ReadResult) { reply(wire.Marshal(&res), nil) })
	}
}
