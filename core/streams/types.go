package streams

import (
	"strconv"
	"time"

	"github.com/annal-db/annal/core/streams/filter"
)

// Event is one stored event as the log holds it.
type Event struct {
	// Position is the event's log position; its $all position is
	// (Position, Position).
	Position int64
	Stream   string
	// Number is the event's revision in its stream (math.MaxInt64 for a
	// tombstone, as EventStoreDB numbers it).
	Number   int64
	ID       [16]byte
	Type     string
	Data     []byte
	Metadata []byte
	IsJSON   bool
	// Created is the creation time in 100-ns ticks since the Unix epoch
	// (EventStoreDB's "created").
	Created int64
	// Tombstone marks the hard delete of Stream.
	Tombstone bool
}

// size is what an event counts against byte bounds (read pages,
// subscription buffers, the recent-events ring).
func (e *Event) size() int { return len(e.Data) + len(e.Metadata) + len(e.Type) + len(e.Stream) }

// Log is the committed, replicated log as the node exposes it. Reads never
// return anything beyond Committed(); every callback runs on the node's loop
// and may run before the call returns. A read starts at 0 (the start of the
// log), at the position of an event, or at Committed(); the layer never
// starts one anywhere else, so a log may reject other positions.
type Log interface {
	// Committed is the end of the committed log (exclusive).
	Committed() int64
	// ReadAt reads the event at pos.
	ReadAt(pos int64, done func(Event, error))
	// ReadForward reads events with from <= Position < upTo in log order,
	// about maxBytes of them but at least one if there is any. next is
	// where the following read starts: the position just past the last
	// event returned.
	ReadForward(from, upTo int64, maxBytes int, done func(evs []Event, next int64, err error))
	// ReadBackward reads events with Position < before, newest first,
	// about maxBytes of them but at least one if there is any. prev is the
	// position of the oldest event returned (the following read's before).
	ReadBackward(before int64, maxBytes int, done func(evs []Event, prev int64, err error))
	// Append proposes events, already validated and numbered by this
	// layer, to the leader's log. done runs once they are committed, with
	// their positions, or with an error (timeout, not leader, disk full).
	//
	// The log writes proposals in call order. After an error the outcome
	// is unknown: the events may still commit. If the log drops a proposal
	// without writing it, it must refuse every later one too until the
	// node calls Service.ResetWriter (later proposals are numbered after
	// it, so writing them would leave a gap in a stream's revisions).
	Append(evs []Event, done func(positions []int64, err error))
}

// ExpectedRevision is what a writer expects a stream's revision to be:
// Any, NoStream, StreamExists, or an exact revision (>= 0).
type ExpectedRevision int64

// The expected-revision sentinels, with EventStoreDB's values.
const (
	Any          ExpectedRevision = -2
	NoStream     ExpectedRevision = -1
	StreamExists ExpectedRevision = -4
)

// Exact expects the stream's last event to be revision n.
func Exact(n int64) ExpectedRevision { return ExpectedRevision(n) }

func (e ExpectedRevision) String() string {
	switch e {
	case Any:
		return "any"
	case NoStream:
		return "no stream"
	case StreamExists:
		return "stream exists"
	}
	return strconv.FormatInt(int64(e), 10)
}

func (e ExpectedRevision) valid() bool {
	return e >= 0 || e == Any || e == NoStream || e == StreamExists
}

// NoRevision is the revision of a stream without events.
const NoRevision = -1

// EventData is an event as a client proposes it.
type EventData struct {
	ID       [16]byte
	Type     string
	Data     []byte
	Metadata []byte
	IsJSON   bool
}

// AppendRequest appends events to one stream. Metadata is written by
// appending an event of type "$metadata" to the stream "$$name".
type AppendRequest struct {
	Stream   string
	Expected ExpectedRevision
	Events   []EventData
	// Now is the node's wall clock; it stamps the events' Created.
	Now time.Time
	// Abandoned, when set, reports whether the client has been answered
	// without this write (its timeout passed). A write not yet proposed
	// by then is dropped rather than decided later: its client may have
	// moved on, or retried with another expected revision, and a write
	// taking effect after that would surprise it (written twice, say).
	Abandoned func() bool
}

// DeleteRequest soft-deletes (Delete) or tombstones (Tombstone) a stream.
type DeleteRequest struct {
	Stream   string
	Expected ExpectedRevision
	// Now is the node's wall clock; it stamps the event written.
	Now time.Time
	// Abandoned is as for AppendRequest.
	Abandoned func() bool
}

// WriteResult answers an append, a delete or a tombstone.
type WriteResult struct {
	// Revision is the stream's revision after the write: the number of the
	// last event appended (NoRevision after an empty append to a stream
	// without events; NoRevision for deletes and tombstones).
	Revision int64
	// Position is the $all position (commit = prepare) of the last event
	// written, or -1 when nothing was written.
	Position int64
	// Idempotent is set when the events had already been written by an
	// earlier request with the same event ids; Revision and Position are
	// then the original ones.
	Idempotent bool
	// Err is nil on success, or one of this package's error types, or the
	// log's own error passed through (not-leader, for the node to map).
	Err error
}

// Direction of a read.
type Direction uint8

const (
	Forwards Direction = iota
	Backwards
)

func (d Direction) String() string {
	if d == Backwards {
		return "backwards"
	}
	return "forwards"
}

// From is where a read or subscription starts: the start, the end, at a
// revision or position (reads, inclusive), or after one (subscriptions,
// exclusive, as EventStoreDB's clients mean it).
type From struct {
	kind  fromKind
	value int64
}

type fromKind uint8

const (
	fromStart fromKind = iota
	fromEnd
	fromAt
	fromAfter
)

// Start is the beginning of the stream or of $all.
func Start() From { return From{kind: fromStart} }

// End is the end of the stream or of $all: backward reads start at the last
// event, subscriptions deliver only what is committed later.
func End() From { return From{kind: fromEnd} }

// At is a revision or $all position, inclusive (reads).
func At(v int64) From { return From{kind: fromAt, value: v} }

// After is a revision or $all position, exclusive (subscriptions).
func After(v int64) From { return From{kind: fromAfter, value: v} }

func (f From) String() string {
	switch f.kind {
	case fromStart:
		return "start"
	case fromEnd:
		return "end"
	case fromAt:
		return "at " + strconv.FormatInt(f.value, 10)
	}
	return "after " + strconv.FormatInt(f.value, 10)
}

// ReadStreamRequest reads one stream. One call returns one page (at most
// Config.MaxReadCount events and about Config.MaxReadBytes); the transport
// continues from Next until it has Count events or End.
type ReadStreamRequest struct {
	Stream    string
	From      From // Start, End or At(revision)
	Direction Direction
	Count     uint64
	// Now is the node's wall clock, against which $maxAge is judged.
	Now time.Time
}

// ReadStreamResult is one page of a stream read.
type ReadStreamResult struct {
	Events []Event
	// Next is the revision to continue from (inclusive) when End is false.
	Next int64
	// End reports that no more visible events follow in the read's
	// direction.
	End bool
	// LastRevision is the stream's last revision.
	LastRevision int64
	// Err is StreamNotFoundError, StreamDeletedError, InvalidArgumentError,
	// TooBusyError or a log read error.
	Err error
}

// AllFilter filters a $all read or subscription on the server, as
// EventStoreDB's FilterOptions.
type AllFilter struct {
	filter.Spec
	// MaxSearchWindow is the window a checkpoint interval is counted in;
	// 0 means EventStoreDB's default, 32.
	MaxSearchWindow uint32
	// CheckpointIntervalMultiplier: a checkpoint every
	// MaxSearchWindow*CheckpointIntervalMultiplier events considered;
	// 0 means 1.
	CheckpointIntervalMultiplier uint32
}

// DefaultSearchWindow is EventStoreDB's search window when the client sends
// none (its read batch size).
const DefaultSearchWindow = 32

// ReadAllRequest reads $all.
type ReadAllRequest struct {
	From      From // Start, End or At(position)
	Direction Direction
	Count     uint64
	Filter    *AllFilter // nil reads everything
}

// ReadAllResult is one page of a $all read.
type ReadAllResult struct {
	Events []Event
	// Next is the position to continue from (At(Next)) when End is false.
	Next int64
	// End reports that the read reached the end (forwards) or the start
	// (backwards) of the committed log.
	End bool
	// Checkpoint is, for filtered reads, the position of the event at
	// which the page last completed a checkpoint interval, or -1.
	Checkpoint int64
	Err        error
}

// SubscribeStreamRequest subscribes to one stream.
type SubscribeStreamRequest struct {
	Stream string
	From   From // Start, End or After(revision)
	// Now is the node's wall clock, against which $maxAge hides history.
	Now time.Time
}

// SubscribeAllRequest subscribes to $all.
type SubscribeAllRequest struct {
	From   From // Start, End or After(position)
	Filter *AllFilter
}

// MessageKind says what a subscription message carries.
type MessageKind uint8

const (
	// Confirmed is always the first message; it carries the subscription
	// id.
	Confirmed MessageKind = iota + 1
	// EventAppeared carries an event.
	EventAppeared
	// Checkpoint carries a $all position (filtered $all subscriptions).
	Checkpoint
	// CaughtUp: every committed event so far has been delivered; live
	// events follow.
	CaughtUp
	// FellBehind: the subscriber was too slow for the live feed; history
	// is read from the log until it catches up again.
	FellBehind
	// Dropped ends the subscription with Err; nothing follows.
	Dropped
)

func (k MessageKind) String() string {
	switch k {
	case Confirmed:
		return "confirmed"
	case EventAppeared:
		return "event"
	case Checkpoint:
		return "checkpoint"
	case CaughtUp:
		return "caught-up"
	case FellBehind:
		return "fell-behind"
	case Dropped:
		return "dropped"
	}
	return "message(" + strconv.Itoa(int(k)) + ")"
}

// Message is one message of a subscription.
type Message struct {
	Kind MessageKind
	// SubscriptionID is set on Confirmed.
	SubscriptionID string
	// Event is set on EventAppeared.
	Event Event
	// Position is the $all position of a Checkpoint, and of a $all
	// subscription's CaughtUp (-1 when $all is empty).
	Position int64
	// Revision is a stream subscription's last delivered revision on
	// CaughtUp (NoRevision when none).
	Revision int64
	// Err is why a Dropped subscription ended.
	Err error
}
