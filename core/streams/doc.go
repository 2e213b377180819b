// Package streams is the client-operation layer of a node: the one entry
// point that gRPC, HTTP and simulated clients all call for appends, soft
// deletes, tombstones, stream and $all reads and catch-up subscriptions,
// with EventStoreDB's semantics and answers. It knows nothing of transports
// or replication: it sits over a Log the node provides (the committed,
// replicated log; the node handles leadership, forwarding and replication)
// and is fed every committed event, in log order, through Apply, on every
// node, leader or follower.
//
// # Two views of every stream
//
// The committed view is the index, built only from Apply: per stream its
// last revision, the log position of each event (for reads by revision),
// its parsed metadata (from the newest event of "$$name": $maxCount,
// $maxAge, $tb, custom keys kept) and whether it is soft-deleted ($tb =
// DeletedStream) or tombstoned. Reads and subscriptions use it, and they
// never look past the last applied event, so no read returns an event the
// index does not know, let alone an uncommitted one. At start the node
// replays the whole log through Apply; that rebuilds it.
//
// The writer's view, used only to decide appends on the leader, is the
// committed view plus the proposals this node handed to Log.Append that
// Apply has not delivered yet. Expected revisions and idempotency are
// checked against it, and new events are numbered after it, so two appends
// in flight expecting the same revision cannot both succeed, and numbering
// never reuses a revision. A proposal leaves the writer's view when its
// events are applied, whatever the log answered: after a timeout they may
// still commit. When proposals may never commit (the node stops leading,
// its log is truncated or refused a write) the node calls ResetWriter. An
// append is answered once its events are committed and applied here, so a
// client reading from this node right after sees its write.
//
// The commit decision follows EventStoreDB's: a tombstoned stream refuses
// everything (StreamDeletedError); StreamExists fails on a soft-deleted
// stream and on one with neither events nor metadata; Any and StreamExists
// retries are recognised by event id through a bounded cache of recent ids
// (ids forgotten count as new, as in EventStoreDB), exact revisions by
// comparing the ids with the events stored after the expected revision
// (from the cache, the proposals in flight, or the log); a partial match is
// CorruptedIdempotencyError. NoStream retries are looked up by id first: a
// NoStream write that recreated a soft-deleted stream put its events after
// the old ones, where a comparison from revision 0 would miss them and
// write them again. Writing to a soft-deleted stream recreates it:
// a metadata event moves $tb to the first new event and numbering goes on.
// Metadata is written by appending to "$$name" (type "$metadata").
//
// # Memory
//
// Per event the index keeps one 8-byte position; slices grow by doubling,
// so at worst 16 bytes. Per stream it keeps a 40-byte state (48 with
// allocation rounding), a map entry (24 bytes a slot, about 30 to 55 with
// the map's load and growth) and the name: about 100 bytes plus the name
// (measured: 120 bytes for a stream of one event with a 14-byte name,
// position included).
// Streams with metadata add the parsed document. Fixed, whatever the log
// size: the id cache (IDCacheSize ids, two generations of 16-byte keys and
// 16-byte values, about 4 MB at the default 100,000) and the ring of recent
// events (RecentEvents slots of 136 bytes, 1.1 MB at the default 8,192,
// keeping at most RecentBytes of event data alive).
//
// Measured at one million events (TestIndexMemoryAtOneMillionEvents): 11.1
// bytes an event in one stream, 25.3 bytes an event at ten events a
// stream. The bound the test holds it to is 16 bytes an event plus 160
// bytes a stream (14-byte names). At ten million events: at most 160 MB
// for one stream (111 MB at the measured rate); 320 MB for a million
// streams of ten events (253 MB measured rate); 1.8 GB for ten million
// streams of one event (1.2 GB measured rate), where the per-stream cost
// dominates and an index on disk is the way further.
//
// Everything else is bounded by configuration: writes in flight
// (MaxWritesInFlight, MaxWriteBytesInFlight), read pages in progress and
// their size (MaxReads × MaxReadBytes, MaxReadCount events; one page scans
// at most MaxScanBytes of the log), subscriptions and their buffers
// (MaxSubscriptions × SubscriptionBuffer messages and
// SubscriptionBufferBytes). Beyond a bound the answer is TooBusyError.
//
// # Reads
//
// A read returns one page and where to continue; the transport streams
// pages until the client's count is reached, so a read of $all with a count
// of 2^53 never holds more than a page. Log reads ask for at most
// ReadChunkBytes at a time. Stream reads honour $tb, $maxCount and $maxAge
// (against the Now the node passes: core has no clock); a stream that never
// had events, or is soft-deleted, is StreamNotFoundError, a tombstoned one
// StreamDeletedError. $all reads take EventStoreDB's server-side filters
// (stream name or event type, prefixes or a regex) and report a checkpoint
// every MaxSearchWindow × CheckpointIntervalMultiplier events considered.
//
// # Subscriptions and flow control
//
// A subscription delivers Confirmed, history, CaughtUp, then live events,
// every covered committed event exactly once and in order. The consumer
// grants credits (Request): one message, one credit. A subscription holds
// at most SubscriptionBuffer messages: it pulls events only into free
// room, from the ring of recent events while the next one is still there,
// else from the log by position. Apply only wakes subscriptions; it never
// pushes into them. So a slow subscriber holds one buffer and falls back to
// reading the log (FellBehind, then CaughtUp again when it is back at the
// head); nothing grows with its lag. Buffered and HighWater let tests
// assert the bound. A consumer that bounds what it holds itself can take
// its unused credits back (Withdraw) and grant them again later.
//
// A filtered $all subscription checkpoints every MaxSearchWindow ×
// CheckpointIntervalMultiplier events considered and, as EventStoreDB's,
// also where a catch-up ends (before CaughtUp) and where it falls behind
// (after FellBehind), at the last event it considered.
//
// # Calling convention
//
// Everything runs on the node's loop. Answers come through callbacks, which
// may run before the call returns (immediate answers, a log that completes
// synchronously) or later. Callbacks may call back into the layer; an Apply
// re-entered from a callback is queued and applied when the running one
// finishes. Errors are typed (WrongExpectedVersionError,
// StreamDeletedError, StreamNotFoundError, MaxAppendSizeExceededError,
// TimeoutError, CorruptedIdempotencyError, TooBusyError,
// InvalidArgumentError) for the transports to map to EventStoreDB's; other
// errors from the log, such as not-leader, pass through for the node.
package streams
