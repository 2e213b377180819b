// Package workload runs simulated clients against a simulated cluster:
// each on its own host, calling the nodes' client protocol over the
// simulated network as a real client would. Clients append to a few shared
// streams with a mix of expected revisions (so that conflicts happen), read
// them back, follow the leader, and retry writes whose outcome is unknown
// with the same event ids until they get a definite answer. Every
// operation is recorded, with its invocation and response times and its
// outcome, for the linearizability check.
//
// Subscribers (subscriber.go) are the other kind of application: each
// follows one stream, or $all, through catch-up subscriptions for the whole
// run, subscribing again after every drop from the last event it received.
// They sit next to the nodes rather than on hosts of their own: a
// subscription is a long-lived stream the nodes' request/response RPC does
// not carry.
package workload

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/sim/check"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/host"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/world"
)

// Config describes the clients. Zero fields take the defaults below.
type Config struct {
	// Clients is how many clients run, each on its own host (c1..cN at
	// 10.0.1.1..10.0.1.N).
	Clients int
	// Rate is the appends per second of all clients together. A client
	// has one operation outstanding at a time, so a slow cluster gets
	// fewer.
	Rate float64
	// Streams is how many streams the clients share.
	Streams int
	// ReadFraction is the share of operations that are reads.
	ReadFraction float64
	// Deletes is the share of writes that delete their stream instead of
	// appending to it (0: none): soft deletes, and one in ten a tombstone,
	// after which that stream's place goes to a fresh stream.
	Deletes float64
	// Metadata is the share of writes that replace their stream's
	// metadata with a $maxCount (1 to maxMetadataCount) or with none
	// (0: none).
	Metadata float64
	// EventPadding adds this many bytes to every appended event's data
	// (0: none), so that appends can outgrow a replication message.
	EventPadding int
	// Nodes are the node endpoints clients may call.
	Nodes []env.Endpoint
	// CallTimeout is one attempt's deadline; it should exceed the time a
	// node takes to answer a write it forwards, so that a node's own
	// timeout answers first.
	CallTimeout time.Duration
	// MaxAttempts and MaxOpTime bound the retries of one operation.
	MaxAttempts int
	MaxOpTime   time.Duration
	// MaxOps bounds the history: once that many operations have started,
	// clients stop issuing new ones.
	MaxOps int
	// StopAt is when clients stop starting operations (0: never), so
	// that the replicas can catch up before the run ends and is checked.
	StopAt time.Duration
}

// Defaults.
const (
	DefaultRate         = 100
	DefaultStreams      = 4
	DefaultReadFraction = 0.2
	DefaultCallTimeout  = 6 * time.Second
	DefaultMaxAttempts  = 30
	DefaultMaxOpTime    = 30 * time.Second
	DefaultMaxOps       = 200_000
	// MaxClients is what the client address range holds.
	MaxClients = 250
)

func (c Config) withDefaults() (Config, error) {
	if c.Clients < 1 || c.Clients > MaxClients {
		return c, fmt.Errorf("workload: %d clients; give 1 to %d", c.Clients, MaxClients)
	}
	if len(c.Nodes) == 0 {
		return c, fmt.Errorf("workload: no node endpoints to call")
	}
	if c.Rate < 0 || c.ReadFraction < 0 || c.ReadFraction >= 1 || c.Streams < 0 || c.MaxOps < 0 || c.StopAt < 0 {
		return c, fmt.Errorf("workload: rate %v, read fraction %v, streams %d, max ops %d, stop at %v: none may be negative, and the read fraction must be below 1",
			c.Rate, c.ReadFraction, c.Streams, c.MaxOps, c.StopAt)
	}
	if !(c.Deletes >= 0 && c.Deletes <= 1) || !(c.Metadata >= 0 && c.Metadata <= 1) || c.Deletes+c.Metadata > 1 {
		return c, fmt.Errorf("workload: deletes %v, metadata %v; give the shares of writes that delete and that write metadata, from 0 to 1 together", c.Deletes, c.Metadata)
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Streams == 0 {
		c.Streams = DefaultStreams
	}
	if c.ReadFraction == 0 {
		c.ReadFraction = DefaultReadFraction
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxOpTime <= 0 {
		c.MaxOpTime = DefaultMaxOpTime
	}
	if c.MaxOps == 0 {
		c.MaxOps = DefaultMaxOps
	}
	return c, nil
}

// Sink hears what clients are told, when they are told it: the checkers
// compare it with what the nodes applied.
type Sink interface {
	// Acknowledged: an append succeeded (or a retry found it written).
	Acknowledged(a check.Ack)
	// ReadServed: a read on the node at endpoint node returned events.
	ReadServed(node env.Endpoint, client string, evs []streams.Event)
}

// DeleteSink, when a Sink also has it, hears of deletes and tombstones
// the cluster confirmed.
type DeleteSink interface {
	DeleteAcknowledged(d check.DeleteAck)
}

// AnswerSink, when a Sink also has it, hears which node gave which answer
// (the scenario marks: a scenario can require that a node acknowledged
// nothing in a window, or did refuse).
type AnswerSink interface {
	// Answered: node answered client's request, an append or a read
	// (op), with what: one of AnswerAcknowledged, AnswerDeleteAcknowledged, AnswerLeaderRead,
	// AnswerNotLeader.
	Answered(client string, node env.Endpoint, op, what string)
}

// The answers AnswerSink hears of.
const (
	// AnswerAcknowledged: an append was acknowledged.
	AnswerAcknowledged = "append-acknowledged"
	// AnswerDeleteAcknowledged: a delete or tombstone was acknowledged.
	AnswerDeleteAcknowledged = "delete-acknowledged"
	// AnswerMetadataAcknowledged: a metadata write was acknowledged.
	AnswerMetadataAcknowledged = "metadata-acknowledged"
	// AnswerLeaderRead: a read that requires the leader was served.
	AnswerLeaderRead = "leader-read-served"
	// AnswerNotLeader: the node answered not-leader (a redirect, or no
	// leader known).
	AnswerNotLeader = "not-leader"
	// AnswerDiskFull: the leader could not write an append for want of
	// disk space.
	AnswerDiskFull = "disk-full"
)

// Workload is the set of clients of one run.
type Workload struct {
	w       *world.World
	cfg     Config
	sink    Sink
	hosts   []*host.Host
	clients []*client
	streams []string

	started int // operations started, against MaxOps
	history []check.Op
	stats   Stats
}

// Stats counts what the clients did.
type Stats struct {
	Clients int     `json:"clients"`
	Rate    float64 `json:"rate"`
	// Appends counts appends settled; Acknowledged those written (the
	// idempotent answers to retries included, counted again in
	// Idempotent).
	Appends      int `json:"appends"`
	Acknowledged int `json:"appends_acknowledged"`
	Idempotent   int `json:"appends_idempotent"`
	// Failed counts appends not acknowledged, by reason.
	Failed map[string]int `json:"appends_failed"`
	// Reads counts reads answered (events or stream not found);
	// LeaderReads those that required the leader; ReadsFailed those that
	// gave up.
	Reads       int `json:"reads"`
	LeaderReads int `json:"leader_reads"`
	ReadsFailed int `json:"reads_failed"`
	// Deletes counts deletes and tombstones settled;
	// DeletesAcknowledged those the cluster confirmed.
	Deletes             int `json:"deletes,omitempty"`
	DeletesAcknowledged int `json:"deletes_acknowledged,omitempty"`
	// MetadataWrites counts metadata writes settled; MetadataAcknowledged
	// those the cluster confirmed.
	MetadataWrites       int `json:"metadata_writes,omitempty"`
	MetadataAcknowledged int `json:"metadata_acknowledged,omitempty"`
	// Attempts counts requests sent, retries included.
	Attempts    int  `json:"attempts"`
	HistoryFull bool `json:"history_full,omitempty"`
}

// New places the clients' hosts on the fabric; they run nothing until
// Start.
func New(w *world.World, fabric *network.Fabric, cfg Config, sink Sink) (*Workload, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	wl := &Workload{w: w, cfg: cfg, sink: sink, stats: Stats{Clients: cfg.Clients, Rate: cfg.Rate, Failed: map[string]int{}}}
	for s := range cfg.Streams {
		wl.streams = append(wl.streams, StreamName(s))
	}
	for k := 1; k <= cfg.Clients; k++ {
		c := newClient(wl, k)
		wl.clients = append(wl.clients, c)
		h := host.New(w, fabric, host.Config{
			Name: c.name, Addrs: []netip.Addr{ClientAddr(k)}, Disk: disk.DefaultConfig(), TimerCPU: 5 * time.Microsecond,
		}, c.run, nil)
		wl.hosts = append(wl.hosts, h)
	}
	return wl, nil
}

// ClientAddr is client k's address (k from 1).
func ClientAddr(k int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 1, byte(k)}) }

// Start boots every client.
func (wl *Workload) Start() {
	for _, h := range wl.hosts {
		h.Start()
	}
}

// Hosts are the clients' hosts.
func (wl *Workload) Hosts() []*host.Host { return wl.hosts }

// Config is the effective configuration.
func (wl *Workload) Config() Config { return wl.cfg }

// Stats reports what the clients did so far; operations still in progress
// are counted under "in-progress" (appends) by History's caller, not here.
func (wl *Workload) Stats() Stats {
	s := wl.stats
	s.Failed = make(map[string]int, len(wl.stats.Failed))
	for k, v := range wl.stats.Failed {
		s.Failed[k] = v
	}
	for _, c := range wl.clients {
		if c.cur != nil && c.cur.op.Kind == check.OpAppend {
			s.Failed["in-progress-at-end"]++
		}
	}
	return s
}

// History is every operation so far, settled ones in the order they
// settled, then the writes still in progress, as unknown (they may yet
// take effect). Reads still in progress are left out: they changed
// nothing.
func (wl *Workload) History() []check.Op {
	ops := append([]check.Op(nil), wl.history...)
	for _, c := range wl.clients {
		if c.cur != nil && c.cur.op.Kind.Writes() {
			op := c.cur.op
			op.Outcome = check.Unknown
			ops = append(ops, op)
		}
	}
	return ops
}

// FailureReasons lists the reasons appends failed, sorted.
func (s Stats) FailureReasons() []string {
	keys := make([]string, 0, len(s.Failed))
	for k := range s.Failed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Issuing reports whether the clients go on starting operations that any
// leader can serve: none is pinned to one node or stopped, and neither
// StopAt nor MaxOps has ended them.
func (wl *Workload) Issuing() bool {
	if len(wl.clients) == 0 || wl.cfg.StopAt > 0 && wl.w.Now() >= wl.cfg.StopAt || wl.started >= wl.cfg.MaxOps {
		return false
	}
	for _, c := range wl.clients {
		if !c.pinned.IsZero() || c.stopped {
			return false
		}
	}
	return true
}

// SetRate changes the clients' appends per second, all together, from
// their next operation on (a burst, a lull).
func (wl *Workload) SetRate(rate float64) error {
	if !(rate > 0) {
		return fmt.Errorf("workload: rate %v appends/s; give a positive rate", rate)
	}
	wl.cfg.Rate = rate
	return nil
}

// Pin sends every request of the named clients (c1, c2, ...) to node from
// now on, whatever it answers: they neither follow the leader nor move on
// when it fails, and take a not-leader answer as the operation's end.
// Unpin lets them choose again.
func (wl *Workload) Pin(clients []string, node env.Endpoint) error {
	cs, err := wl.byName(clients)
	if err != nil {
		return err
	}
	for _, c := range cs {
		c.pinned = node
		c.target = node
	}
	return nil
}

// Unpin lets the named clients follow the leader again.
func (wl *Workload) Unpin(clients []string) error {
	cs, err := wl.byName(clients)
	if err != nil {
		return err
	}
	for _, c := range cs {
		c.pinned = env.Endpoint{}
	}
	return nil
}

func (wl *Workload) byName(names []string) ([]*client, error) {
	var out []*client
	for _, n := range names {
		found := false
		for _, c := range wl.clients {
			if c.name == n {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("workload: no client %q (clients are c1..c%d)", n, len(wl.clients))
		}
	}
	return out, nil
}

func (wl *Workload) answered(c *client, node env.Endpoint, op check.OpKind, what string) {
	if a, ok := wl.sink.(AnswerSink); ok {
		a.Answered(c.name, node, op.String(), what)
	}
}

// retire gives stream slot a fresh stream once its stream may be
// tombstoned (unless another tombstone moved it on already).
func (wl *Workload) retire(slot int, stream string) {
	if wl.streams[slot] != stream {
		return
	}
	wl.streams[slot] = NextStream(stream)
	wl.w.Trace.Rec(wl.w.Now(), "workload", "stream-retired").Str("stream", stream).Str("next", wl.streams[slot]).End()
}

// NextStream is the stream the clients write in place of stream once it
// is tombstoned: "stream-1" is followed by "stream-1.1", "stream-1.2", ....
func NextStream(stream string) string {
	if i := strings.LastIndexByte(stream, '.'); i >= 0 {
		if n, err := strconv.Atoi(stream[i+1:]); err == nil && n > 0 {
			return fmt.Sprintf("%s.%d", stream[:i], n+1)
		}
	}
	return stream + ".1"
}

func (wl *Workload) record(op check.Op) {
	wl.history = append(wl.history, op)
}
