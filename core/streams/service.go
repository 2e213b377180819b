package streams

import (
	"encoding/binary"
	"fmt"
)

// Config bounds the layer. Zero fields take the defaults below.
type Config struct {
	// MaxAppendSize bounds the bytes of one append (data, metadata and
	// type of every event); EventStoreDB's default is 1 MiB.
	MaxAppendSize int
	// MaxEventSize bounds one event, so that the log never refuses a
	// proposal for its size (a refused proposal would leave later ones
	// numbered after a hole). Default 16 MiB minus 64 KiB of headroom for
	// the log's framing.
	MaxEventSize int
	// MaxWritesInFlight bounds writes accepted and not yet settled
	// (answered and out of the writer view); beyond it writes get
	// TooBusyError. MaxWriteBytesInFlight bounds their event bytes the
	// same way (one write is always let through).
	MaxWritesInFlight     int
	MaxWriteBytesInFlight int
	// MaxReads bounds concurrent read pages.
	MaxReads int
	// MaxReadCount bounds the events of one read page.
	MaxReadCount int
	// MaxReadBytes bounds the bytes of one read page (at least one event
	// is returned).
	MaxReadBytes int
	// ReadChunkBytes bounds maxBytes of each log read.
	ReadChunkBytes int
	// MaxScanBytes bounds how much of the log one read page scans; a
	// sparse filter then returns a shorter page with End false.
	MaxScanBytes int
	// MaxSubscriptions bounds live subscriptions.
	MaxSubscriptions int
	// SubscriptionBuffer bounds the messages a subscription holds for its
	// consumer; SubscriptionBufferBytes bounds their event bytes (one
	// event is always allowed).
	SubscriptionBuffer      int
	SubscriptionBufferBytes int
	// RecentEvents and RecentBytes bound the ring of newest events live
	// subscribers take events from; -1 keeps none (every subscriber reads
	// the log).
	RecentEvents int
	RecentBytes  int
	// IDCacheSize bounds the committed event ids remembered for
	// idempotent retries with Any or StreamExists (at least the newest
	// half of it are remembered); -1 remembers none.
	IDCacheSize int
	// NewID makes ids for the events this layer writes itself (soft
	// deletes, undeletes, tombstones). The node passes one drawing from
	// env.Rand; the default counts, which is fine for tests only.
	NewID func() [16]byte
}

// Defaults.
const (
	DefaultMaxAppendSize           = 1 << 20
	DefaultMaxEventSize            = 16<<20 - 64<<10
	DefaultMaxWritesInFlight       = 4096
	DefaultMaxWriteBytesInFlight   = 64 << 20
	DefaultMaxReads                = 256
	DefaultMaxReadCount            = 4096
	DefaultMaxReadBytes            = 1 << 20
	DefaultReadChunkBytes          = 256 << 10
	DefaultMaxScanBytes            = 64 << 20
	DefaultMaxSubscriptions        = 4096
	DefaultSubscriptionBuffer      = 256
	DefaultSubscriptionBufferBytes = 256 << 10
	DefaultRecentEvents            = 8192
	DefaultRecentBytes             = 32 << 20
	DefaultIDCacheSize             = 100_000
)

func (c Config) withDefaults() (Config, error) {
	fields := []struct {
		name string
		v    *int
		def  int
		min  int
	}{
		{"MaxAppendSize", &c.MaxAppendSize, DefaultMaxAppendSize, 1},
		{"MaxEventSize", &c.MaxEventSize, DefaultMaxEventSize, 1},
		{"MaxWritesInFlight", &c.MaxWritesInFlight, DefaultMaxWritesInFlight, 1},
		{"MaxWriteBytesInFlight", &c.MaxWriteBytesInFlight, DefaultMaxWriteBytesInFlight, 1},
		{"MaxReads", &c.MaxReads, DefaultMaxReads, 1},
		{"MaxReadCount", &c.MaxReadCount, DefaultMaxReadCount, 1},
		{"MaxReadBytes", &c.MaxReadBytes, DefaultMaxReadBytes, 1},
		{"ReadChunkBytes", &c.ReadChunkBytes, DefaultReadChunkBytes, 1},
		{"MaxScanBytes", &c.MaxScanBytes, DefaultMaxScanBytes, 1},
		{"MaxSubscriptions", &c.MaxSubscriptions, DefaultMaxSubscriptions, 1},
		{"SubscriptionBuffer", &c.SubscriptionBuffer, DefaultSubscriptionBuffer, 2},
		{"SubscriptionBufferBytes", &c.SubscriptionBufferBytes, DefaultSubscriptionBufferBytes, 1},
		{"RecentEvents", &c.RecentEvents, DefaultRecentEvents, -1},
		{"RecentBytes", &c.RecentBytes, DefaultRecentBytes, -1},
		{"IDCacheSize", &c.IDCacheSize, DefaultIDCacheSize, -1},
	}
	for _, f := range fields {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < f.min {
			return c, fmt.Errorf("streams: Config.%s is %d; it must be at least %d (or 0 for the default %d)", f.name, *f.v, f.min, f.def)
		}
		*f.v = max(*f.v, 0) // -1: none at all
	}
	if c.NewID == nil {
		var n uint64
		c.NewID = func() [16]byte {
			n++
			var id [16]byte
			binary.BigEndian.PutUint64(id[8:], n)
			id[6] = 0x40 // version 4 layout, so clients parse it as a UUID
			id[8] |= 0x80
			return id
		}
	}
	return c, nil
}

// Service is the client-operation layer of one node: the one entry point
// for appends, deletes, reads and subscriptions, whichever transport they
// came from. See the package documentation for the model.
//
// All methods must be called on the node's loop. Callbacks (done, sinks)
// run on it too, sometimes before the call that caused them returns.
type Service struct {
	log Log
	cfg Config
	idx index

	ring recent

	writer writer

	reads int // read pages in progress

	subs       []*Subscription // open, in subscription order
	streamSubs map[string][]*Subscription
	nextSubID  uint64

	// Apply may be re-entered from a callback it runs (a sink appending,
	// a log committing synchronously); those events wait here and are
	// applied when the outer call finishes.
	applying bool
	queued   [][]Event

	touchedSet map[string]struct{} // scratch for applyBatch
}

// New makes the layer over log. The node then feeds it every committed
// event from the start of the log through Apply before serving requests.
func New(log Log, cfg Config) (*Service, error) {
	if log == nil {
		return nil, fmt.Errorf("streams: New needs a Log")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		log:        log,
		cfg:        cfg,
		idx:        newIndex(cfg.IDCacheSize),
		ring:       newRecent(cfg.RecentEvents, cfg.RecentBytes),
		streamSubs: map[string][]*Subscription{},
		touchedSet: map[string]struct{}{},
	}
	s.writer.init(s)
	return s, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Apply feeds committed events, in log order, every event exactly once, on
// every node (leader or follower). It updates the index, settles writes
// waiting for their events, and wakes subscriptions.
func (s *Service) Apply(evs []Event) {
	if len(evs) == 0 {
		return
	}
	if s.applying {
		s.queued = append(s.queued, evs)
		return
	}
	s.applying = true
	defer func() { s.applying = false }()
	for {
		s.applyBatch(evs)
		if len(s.queued) == 0 {
			return
		}
		evs = s.queued[0]
		s.queued = s.queued[1:]
	}
}

func (s *Service) applyBatch(evs []Event) {
	// touched: streams of the batch someone waits on (proposals in the
	// writer view, stream subscriptions), each once, in first-seen order.
	var touched []string
	clear(s.touchedSet)
	for i := range evs {
		ev := &evs[i]
		s.idx.apply(ev)
		s.ring.push(*ev)
		if _, waited := s.writer.pending[ev.Stream]; !waited {
			if _, waited = s.streamSubs[ev.Stream]; !waited {
				continue
			}
		}
		if _, seen := s.touchedSet[ev.Stream]; !seen {
			s.touchedSet[ev.Stream] = struct{}{}
			touched = append(touched, ev.Stream)
		}
	}
	// The index is complete before any callback runs.
	for _, name := range touched {
		s.writer.retire(name)
	}
	for _, name := range touched {
		s.writer.redecideApplied(name)
	}
	s.writer.settleApplied()
	s.wake(touched)
}

// ResetWriter drops every proposal from the writer view, which is then the
// committed view again. The node calls it whenever proposals it made may
// never commit: when it stops leading, when its log is truncated, when the
// log refused a proposal. Before a node starts taking writes as leader, its
// whole log must be committed and applied (its epoch record commits
// everything before it), so the committed view is the writer's truth; the
// node resets the writer then too, because refusals deferred behind the
// dropped proposals are decided again here, and those that now pass are
// proposed to a log that still refuses them and stay in the view.
// Writes still waiting keep waiting for their log's answer.
func (s *Service) ResetWriter() { s.writer.reset() }

// StreamState is the committed state of one stream.
type StreamState struct {
	// LastRevision is the last event's revision (NoRevision: none). Events
	// hidden by metadata still count.
	LastRevision int64
	Tombstoned   bool
	// SoftDeleted: the metadata's $tb is DeletedStream.
	SoftDeleted bool
	// HasMetadata: the stream has metadata that parses as a JSON object.
	HasMetadata bool
}

// Stream reports the committed state of a stream; ok is false when the
// index has never seen it.
func (s *Service) Stream(name string) (st StreamState, ok bool) {
	x := s.idx.get(name)
	if x == nil {
		return StreamState{LastRevision: NoRevision}, false
	}
	return StreamState{
		LastRevision: x.last(),
		Tombstoned:   x.tombstoned(),
		SoftDeleted:  x.meta != nil && x.meta.SoftDeleted(),
		HasMetadata:  x.meta != nil,
	}, true
}

// Stats reports sizes, for tests and metrics.
type Stats struct {
	Streams int
	Events  int64
	// LastPosition is the position of the last applied event (-1: none).
	LastPosition       int64
	WritesInFlight     int
	WriteBytesInFlight int
	ProposedStreams    int // streams with proposals in the writer view
	Reads              int
	Subscriptions      int
	RecentEvents       int
	RecentBytes        int
	IDCacheEntries     int
}

// Stats returns current sizes.
func (s *Service) Stats() Stats {
	return Stats{
		Streams:            len(s.idx.streams),
		Events:             s.idx.events,
		LastPosition:       s.idx.lastPos,
		WritesInFlight:     s.writer.inFlight,
		WriteBytesInFlight: s.writer.bytes,
		ProposedStreams:    len(s.writer.pending),
		Reads:              s.reads,
		Subscriptions:      len(s.subs),
		RecentEvents:       s.ring.n,
		RecentBytes:        s.ring.bytes,
		IDCacheEntries:     s.idx.ids.len(),
	}
}
