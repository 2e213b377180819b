package workload

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/wire"
	"github.com/annal-db/annal/sim/check"
)

// Retry pacing: a client that must try again waits a little, more after
// each failure, never long.
const (
	backoffBase = 50 * time.Millisecond
	backoffMax  = time.Second
	// maxLag: a client that fell this far behind its arrival schedule
	// drops the arrivals it missed instead of bursting to catch up.
	maxLag = time.Second
	// maxReadCount bounds the events one read asks for.
	maxReadCount = 5
	// maxAppendEvents bounds the events of one append.
	maxAppendEvents = 3
	// tombstoneEvery: one delete in this many is a tombstone.
	tombstoneEvery = 10
	// maxMetadataCount bounds the $maxCount of a metadata write.
	maxMetadataCount = 8
)

// client is one simulated application: one operation at a time.
type client struct {
	wl   *Workload
	num  int
	name string
	rnd  *rand.Rand
	e    env.Env

	target  env.Endpoint
	pinned  env.Endpoint     // when set, every request goes there
	known   map[string]int64 // last revision learned per stream
	appends uint64           // appends started, numbering their event ids
	arrival time.Duration    // when the next operation is due
	cur     *inFlight
	stopped bool
}

// inFlight is the operation a client is working on.
type inFlight struct {
	op            check.Op
	slot          int // the stream's index in the workload's streams
	events        []streams.EventData
	requireLeader bool
	count         uint64 // reads
	// ambiguous: some attempt may have written the events.
	ambiguous bool
	reason    string // why the last attempt failed
}

func newClient(wl *Workload, num int) *client {
	name := fmt.Sprintf("c%d", num)
	return &client{
		wl: wl, num: num, name: name,
		rnd:   wl.w.Rand("workload/" + name),
		known: map[string]int64{},
	}
}

// run is the client's program on its host.
func (c *client) run(e env.Env) func() {
	c.e = e
	c.stopped = false
	if f := c.cur; f != nil {
		// The client's previous process died with an operation in
		// flight: nobody will ever learn how it ended.
		c.cur = nil
		switch f.op.Kind {
		case check.OpAppend:
			c.wl.stats.Appends++
			c.wl.stats.Failed["unknown-outcome"]++
		case check.OpDelete, check.OpTombstone:
			c.wl.stats.Deletes++
		case check.OpMetadata:
			c.wl.stats.MetadataWrites++
		}
		if f.op.Kind.Writes() {
			f.op.Outcome = check.Unknown
			c.wl.record(f.op)
		}
	}
	nodes := c.wl.cfg.Nodes
	c.target = nodes[c.rnd.IntN(len(nodes))]
	if !c.pinned.IsZero() {
		c.target = c.pinned
	}
	c.arrival = c.wl.w.Now()
	c.scheduleNext()
	return func() { c.stopped = true }
}

// meanGap is the mean time between one client's operations.
func (c *client) meanGap() time.Duration {
	cfg := &c.wl.cfg
	opsPerSecond := cfg.Rate / (1 - cfg.ReadFraction) / float64(cfg.Clients)
	return time.Duration(float64(time.Second) / opsPerSecond)
}

// scheduleNext waits for the next arrival (exponential gaps: a Poisson
// process per client) and starts an operation.
func (c *client) scheduleNext() {
	if c.stopped {
		return
	}
	now := c.wl.w.Now()
	c.arrival += time.Duration(c.rnd.ExpFloat64() * float64(c.meanGap()))
	if now-c.arrival > maxLag {
		c.arrival = now
	}
	c.e.Clock.AfterFunc(max(0, c.arrival-now), c.begin)
}

func (c *client) begin() {
	if c.stopped {
		return
	}
	wl := c.wl
	if wl.cfg.StopAt > 0 && wl.w.Now() >= wl.cfg.StopAt {
		return
	}
	if wl.started >= wl.cfg.MaxOps {
		wl.stats.HistoryFull = true
		return
	}
	wl.started++
	slot := c.rnd.IntN(len(wl.streams))
	stream := wl.streams[slot]
	f := &inFlight{op: check.Op{Client: c.num, Stream: stream, Call: wl.w.Now()}, slot: slot, requireLeader: c.rnd.IntN(2) == 0}
	c.cur = f
	rec := wl.w.Trace.Rec(wl.w.Now(), c.name, "client-op").Str("stream", stream)
	if c.rnd.Float64() < wl.cfg.ReadFraction {
		f.op.Kind = check.OpRead
		f.count = uint64(1 + c.rnd.IntN(maxReadCount))
		rec.Str("op", "read").Int("count", int64(f.count)).Int("require_leader", boolInt(f.requireLeader)).End()
	} else if wl.cfg.Metadata > 0 && c.rnd.Float64() < wl.cfg.Metadata {
		// Drawn only when asked for, as deletes below.
		f.op.Kind = check.OpMetadata
		f.op.Expected = check.ExpectAny
		f.op.MaxCount = int64(c.rnd.IntN(maxMetadataCount + 1))
		f.op.Revision = streams.NoRevision
		c.appends++
		f.op.IDs = [][16]byte{check.AppendEventID(c.num, c.appends, 0, 1)}
		f.events = []streams.EventData{{ID: f.op.IDs[0], Type: streams.MetadataEventType, Data: metadataDocument(f.op.MaxCount), IsJSON: true}}
		rec.Str("op", "metadata").Int("max_count", f.op.MaxCount).Int("require_leader", boolInt(f.requireLeader)).End()
	} else if wl.cfg.Deletes > 0 && c.rnd.Float64() < wl.cfg.Deletes/(1-wl.cfg.Metadata) {
		// Drawn only when deletes are asked for, so that a workload
		// without them draws exactly what it drew before they existed.
		f.op.Kind = check.OpDelete
		if c.rnd.IntN(tombstoneEvery) == 0 {
			f.op.Kind = check.OpTombstone
		}
		f.op.Expected = c.chooseExpected(stream)
		f.op.Revision = streams.NoRevision
		rec.Str("op", f.op.Kind.String()).Int("expected", f.op.Expected).Int("require_leader", boolInt(f.requireLeader)).End()
	} else {
		f.op.Kind = check.OpAppend
		f.op.Expected = c.chooseExpected(stream)
		n := 1 + c.rnd.IntN(maxAppendEvents)
		c.appends++
		for k := range n {
			id := check.AppendEventID(c.num, c.appends, k, n)
			f.op.IDs = append(f.op.IDs, id)
			f.events = append(f.events, streams.EventData{
				ID: id, Type: "workload-event", Data: eventData(c.num, wl.started, k, wl.cfg.EventPadding), IsJSON: true,
			})
		}
		rec.Str("op", "append").Int("expected", f.op.Expected).Int("events", int64(n)).Bytes("first_id", f.op.IDs[0][:]).
			Int("require_leader", boolInt(f.requireLeader)).End()
	}
	c.attempt()
}

// chooseExpected mixes expectations: Any, the revision this client last
// learned (often stale: other clients write too), no stream, stream
// exists.
func (c *client) chooseExpected(stream string) int64 {
	u := c.rnd.Float64()
	switch {
	case u < 0.35:
		return check.ExpectAny
	case u < 0.8:
		if rev, ok := c.known[stream]; ok {
			return rev // -1 (no events yet) is NoStream
		}
		return check.ExpectNoStream
	case u < 0.9:
		return check.ExpectNoStream
	}
	return check.ExpectStreamExists
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// attempt sends the current operation to the current target.
func (c *client) attempt() {
	f := c.cur
	f.op.Attempts++
	c.wl.stats.Attempts++
	to := c.target
	var method string
	var req []byte
	switch f.op.Kind {
	case check.OpAppend:
		method = node.MethodAppend
		req = wire.Marshal(&node.AppendRequest{Stream: f.op.Stream, Expected: f.op.Expected, Events: f.events, RequireLeader: f.requireLeader})
	case check.OpMetadata:
		method = node.MethodAppend
		req = wire.Marshal(&node.AppendRequest{Stream: streams.MetastreamOf(f.op.Stream), Expected: f.op.Expected, Events: f.events, RequireLeader: f.requireLeader})
	case check.OpDelete, check.OpTombstone:
		method = node.MethodDelete
		req = wire.Marshal(&node.DeleteRequest{Stream: f.op.Stream, Expected: f.op.Expected, Tombstone: f.op.Kind == check.OpTombstone, RequireLeader: f.requireLeader})
	default:
		method = node.MethodReadStream
		req = wire.Marshal(&node.ReadRequest{Stream: f.op.Stream, FromEnd: true, Backwards: true, Count: f.count, RequireLeader: f.requireLeader})
	}
	c.e.Net.Call(to, method, req, c.wl.cfg.CallTimeout, func(resp []byte, err error) {
		if c.stopped || c.cur != f {
			return
		}
		if err != nil {
			c.transportFailed(f, err)
			return
		}
		if f.op.Kind.Writes() {
			c.writeAnswered(to, f, resp)
		} else {
			c.readAnswered(to, f, resp)
		}
	})
}

// transportFailed: the call got no answer. A request that never left
// (refused, unreachable) wrote nothing; any other failure may have
// delivered it.
func (c *client) transportFailed(f *inFlight, err error) {
	var remote *env.RemoteError
	switch {
	case errors.As(err, &remote):
		c.retry(f, "node-refused-request", false, true)
	case errors.Is(err, env.ErrRefused) || (errors.Is(err, env.ErrUnreachable) && !errors.Is(err, env.ErrTimeout)):
		c.retry(f, "unreachable", false, true)
	case errors.Is(err, env.ErrTimeout):
		c.retry(f, "call-timeout", true, true)
	default:
		c.retry(f, "connection-lost", true, true)
	}
}

func (c *client) writeAnswered(to env.Endpoint, f *inFlight, resp []byte) {
	var r node.WriteResult
	if err := wire.UnmarshalInto(resp, &r); err != nil {
		c.retry(f, "undecodable-answer", true, false)
		return
	}
	switch err := r.Err; {
	case err == nil && f.op.Kind == check.OpMetadata:
		c.wl.answered(c, to, f.op.Kind, AnswerMetadataAcknowledged)
		c.wl.stats.MetadataAcknowledged++
		c.wl.sink.Acknowledged(check.Ack{
			Client: c.name, Stream: streams.MetastreamOf(f.op.Stream), First: r.Revision, IDs: f.op.IDs,
			Position: r.Position, Idempotent: r.Idempotent, At: c.wl.w.Now(),
		})
		c.settle(f, check.OK, "")
	case err == nil && f.op.Kind != check.OpAppend:
		c.wl.answered(c, to, f.op.Kind, AnswerDeleteAcknowledged)
		c.wl.stats.DeletesAcknowledged++
		if ds, ok := c.wl.sink.(DeleteSink); ok {
			ds.DeleteAcknowledged(check.DeleteAck{
				Client: c.name, Stream: f.op.Stream, Tombstone: f.op.Kind == check.OpTombstone, Position: r.Position, At: c.wl.w.Now(),
			})
		}
		c.settle(f, check.OK, "")
	case err == nil:
		c.wl.answered(c, to, f.op.Kind, AnswerAcknowledged)
		c.known[f.op.Stream] = r.Revision
		f.op.Revision = r.Revision
		c.wl.stats.Acknowledged++
		if r.Idempotent {
			c.wl.stats.Idempotent++
		}
		c.wl.sink.Acknowledged(check.Ack{
			Client: c.name, Stream: f.op.Stream, First: r.Revision - int64(len(f.op.IDs)) + 1, IDs: f.op.IDs,
			Position: r.Position, Idempotent: r.Idempotent, At: c.wl.w.Now(),
		})
		c.settle(f, check.OK, "")
	default:
		c.writeRefused(to, f, err)
	}
}

// writeRefused handles a write's error answer. errors.AsType keeps the
// error types' targets off the heap, as errors.As's pointers would not.
func (c *client) writeRefused(to env.Endpoint, f *inFlight, err error) {
	if wev, ok := errors.AsType[*streams.WrongExpectedVersionError](err); ok {
		c.known[f.op.Stream] = wev.Actual
		f.op.Revision = wev.Actual
		c.refused(f, check.WrongVersion, "wrong-expected-version")
	} else if nl, ok := errors.AsType[*node.NotLeaderError](err); ok {
		c.notLeader(f, to, nl.Leader)
	} else if errors.Is(err, node.ErrNotReady) {
		c.retry(f, "not-ready", false, true)
	} else if _, ok := errors.AsType[*node.DiskFullError](err); ok {
		// The leader's disk is full and it gave up leadership: the write
		// may still commit, and another node may take it.
		c.wl.answered(c, to, f.op.Kind, AnswerDiskFull)
		c.retry(f, "disk-full", true, true)
	} else if _, ok := errors.AsType[*streams.TimeoutError](err); ok {
		c.retry(f, "timeout", true, false)
	} else if _, ok := errors.AsType[*streams.TooBusyError](err); ok {
		c.retry(f, "too-busy", false, false)
	} else if _, ok := errors.AsType[*streams.StreamDeletedError](err); ok {
		c.refused(f, check.Deleted, "stream-deleted")
	} else if _, ok := errors.AsType[*streams.CorruptedIdempotencyError](err); ok {
		c.fail(f, "corrupted-idempotency")
	} else if invalidRequest(err) {
		c.fail(f, "invalid-request")
	} else {
		// A leader's error the wire does not carry in full: it may have
		// written the events.
		c.retry(f, "remote-error", true, false)
	}
}

func invalidRequest(err error) bool {
	_, inv := errors.AsType[*streams.InvalidArgumentError](err)
	_, size := errors.AsType[*streams.MaxAppendSizeExceededError](err)
	return inv || size
}

func (c *client) readAnswered(to env.Endpoint, f *inFlight, resp []byte) {
	var r node.ReadResult
	if err := wire.UnmarshalInto(resp, &r); err != nil {
		c.retry(f, "undecodable-answer", false, false)
		return
	}
	if r.Err != nil {
		c.readRefused(to, f, r.Err)
		return
	}
	if f.requireLeader {
		c.wl.answered(c, to, f.op.Kind, AnswerLeaderRead)
	}
	c.wl.sink.ReadServed(to, c.name, r.Events)
	c.known[f.op.Stream] = r.LastRevision
	f.op.Revision = r.LastRevision
	for _, ev := range r.Events {
		f.op.Events = append(f.op.Events, check.ReadEvent{Revision: ev.Number, ID: ev.ID})
	}
	c.settle(f, check.OK, "")
}

// readRefused handles a read's error answer: "not found" and "deleted"
// are answers the model checks; the rest are tried again.
func (c *client) readRefused(to env.Endpoint, f *inFlight, err error) {
	_, notFound := errors.AsType[*streams.StreamNotFoundError](err)
	_, deleted := errors.AsType[*streams.StreamDeletedError](err)
	if notFound || deleted {
		if f.requireLeader {
			c.wl.answered(c, to, f.op.Kind, AnswerLeaderRead)
		}
		f.op.Revision = streams.NoRevision
		if deleted {
			c.settle(f, check.Deleted, "")
		} else {
			c.settle(f, check.NotFound, "")
		}
	} else if nl, ok := errors.AsType[*node.NotLeaderError](err); ok {
		c.notLeader(f, to, nl.Leader)
	} else if errors.Is(err, node.ErrNotReady) {
		c.retry(f, "not-ready", false, true)
	} else {
		c.retry(f, "read-error", false, false)
	}
}

// notLeader follows the leader the node named, or looks elsewhere when it
// named none (or itself).
func (c *client) notLeader(f *inFlight, from, leader env.Endpoint) {
	c.wl.answered(c, from, f.op.Kind, AnswerNotLeader)
	if !c.pinned.IsZero() {
		// A client that insists on one node takes its refusal as the
		// operation's answer and goes on with the next one.
		f.reason = "not-leader"
		c.giveUp(f)
		return
	}
	if leader.IsZero() || leader == from {
		c.retry(f, "no-leader", false, true)
		return
	}
	c.target = leader
	f.reason = "not-leader"
	if c.exhausted(f) {
		c.giveUp(f)
		return
	}
	c.attempt()
}

func (c *client) exhausted(f *inFlight) bool {
	return f.op.Attempts >= c.wl.cfg.MaxAttempts || c.wl.w.Now()-f.op.Call >= c.wl.cfg.MaxOpTime
}

// retry tries again after a backoff, on another node when this one cannot
// serve. The events keep their ids, so a write that did land is found and
// answered as an idempotent success.
func (c *client) retry(f *inFlight, reason string, ambiguous, elsewhere bool) {
	f.reason = reason
	f.ambiguous = f.ambiguous || (ambiguous && f.op.Kind.Writes())
	if ambiguous && (f.op.Kind == check.OpDelete || f.op.Kind == check.OpTombstone) {
		// A delete carries no id a node could know a retry by: sent
		// again, it is a second delete, maybe after others recreated
		// the stream. An application that cares does not resend it
		// blindly; its outcome stays unknown.
		c.giveUp(f)
		return
	}
	if c.exhausted(f) {
		c.giveUp(f)
		return
	}
	if elsewhere && c.pinned.IsZero() {
		nodes := c.wl.cfg.Nodes
		c.target = nodes[c.rnd.IntN(len(nodes))]
	}
	d := backoffBase << min(f.op.Attempts-1, 5)
	d = min(d, backoffMax)
	d = d/2 + time.Duration(c.rnd.Int64N(int64(d/2)+1))
	c.e.Clock.AfterFunc(d, func() {
		if !c.stopped && c.cur == f {
			c.attempt()
		}
	})
}

// giveUp ends an operation whose retries ran out: a write that may have
// been written stays unknown for ever.
func (c *client) giveUp(f *inFlight) { c.fail(f, f.reason) }

// fail ends an operation that had no effect, as far as its last answer
// says.
func (c *client) fail(f *inFlight, reason string) { c.refused(f, check.Failed, reason) }

// refused settles an operation a node refused with outcome, unless an
// earlier attempt's answer was lost: that request may still reach a node
// and be written (a frozen host reads its queue when it thaws; the delete
// this attempt met may have been its own), so the outcome is unknown.
func (c *client) refused(f *inFlight, outcome check.Outcome, reason string) {
	if f.ambiguous {
		c.settle(f, check.Unknown, "unknown-outcome")
		return
	}
	c.settle(f, outcome, reason)
}

// settle records the operation's outcome and moves on.
func (c *client) settle(f *inFlight, outcome check.Outcome, reason string) {
	wl := c.wl
	f.op.Outcome = outcome
	f.op.Return = wl.w.Now()
	c.cur = nil
	rec := wl.w.Trace.Rec(wl.w.Now(), c.name, "client-done").Str("op", f.op.Kind.String()).Str("stream", f.op.Stream).
		Str("outcome", outcome.String()).Int("revision", f.op.Revision).Int("attempts", int64(f.op.Attempts))
	if reason != "" {
		rec = rec.Str("reason", reason)
	}
	rec.End()
	switch f.op.Kind {
	case check.OpAppend:
		wl.stats.Appends++
		if outcome != check.OK {
			wl.stats.Failed[reason]++
		}
		wl.record(f.op)
	case check.OpMetadata:
		wl.stats.MetadataWrites++
		wl.record(f.op)
	case check.OpDelete, check.OpTombstone:
		wl.stats.Deletes++
		if f.op.Kind == check.OpTombstone && (outcome == check.OK || outcome == check.Unknown) {
			// The stream is, or may be, gone for good: the slot moves on
			// to a fresh stream, while operations already started on
			// this one meet the tombstone.
			wl.retire(f.slot, f.op.Stream)
		}
		wl.record(f.op)
	case check.OpRead:
		switch {
		case outcome == check.OK || outcome == check.NotFound || outcome == check.Deleted:
			wl.stats.Reads++
			if f.requireLeader {
				// Only a leader's answer is linearizable: followers serve
				// what they have applied, which may be behind.
				wl.stats.LeaderReads++
				wl.record(f.op)
			}
		default:
			wl.stats.ReadsFailed++
		}
	}
	c.scheduleNext()
}

// metadataDocument is the metadata a metadata write sets: a $maxCount, or
// none (which also drops a $tb the stream had).
func metadataDocument(maxCount int64) []byte {
	if maxCount == 0 {
		return []byte("{}")
	}
	return fmt.Appendf(nil, `{"$maxCount":%d}`, maxCount)
}

// eventData is an appended event's JSON, padded to carry padding more
// bytes.
func eventData(client, op, event, padding int) []byte {
	b := fmt.Appendf(nil, `{"client":%d,"op":%d,"event":%d`, client, op, event)
	if padding > 0 {
		b = append(b, `,"pad":"`...)
		b = append(b, bytes.Repeat([]byte{'.'}, padding)...)
		b = append(b, '"')
	}
	return append(b, '}')
}
