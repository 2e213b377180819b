// Package scenario reads scenario files: a cluster, its options, a network
// profile, a timeline of faults and the outcomes the run must show. A
// scenario is a fault schedule, not a seed: it keeps reproducing what it is
// about even after the code changes how it draws random numbers.
//
// Format (YAML):
//
//	name: leader-process-kill
//	description: The leader's process is killed; the others elect a new one.
//	nodes: 3
//	duration: 60s
//	seed: 1                      # optional; the run's random draws
//	network: {latency: 1ms, jitter: 200us, loss: 0.01}
//	discovery: dns               # or seeds (the default)
//	disk: {read: 0, write: 0, sync: 0.001}  # fault rates per operation
//	clients: 8                   # optional simulated clients
//	rate: 100                    # their appends per second, together
//	subscribers:                 # optional catch-up subscribers (none by default)
//	  - {stream: $all, node: n1}
//	  - {stream: stream-1, node: n2, slow: 5ms, credits: 2}
//	options: {ReplicationHeartbeatInterval: 700}   # every node
//	node_options: {n2: {NodePriority: 5}}          # one node
//	timeline:
//	  - {at: 20s, do: kill, target: leader, as: old}
//	  - {at: 30s, do: restart, target: old}
//	  - {at: 31s, do: rate, value: "500"}
//	  - {at: 32s, do: pin, target: leader, with: [c1]}
//	expect:
//	  violations: 0
//	  leader_at_end: true
//	  max_elections: 3
//	  must_happen:
//	    - {event: leader-change, after: 20s}
//
// Actions: kill, restart, freeze, thaw, power-off, power-on, pause (with
// for), partition (target and with: lists; symmetric), one-way (target
// cannot send to with), bridge (target and with are cut, everyone else
// reaches both), heal, isolate (target from everyone), clock-jump (by),
// clock-drift (ppm), resign, loss (value), latency (value). Workload
// actions: rate (value: the clients' appends per second from now on), pin
// (the clients named in with send every request to target, whatever it
// answers), unpin (with: clients choose their node again), slow (target: a
// subscriber, s1, s2, ...; value: its processing time per event, "0s" for
// none). Disk actions: disk-full (the target's disk has no free space from
// now on: growing any file fails with no space), disk-free (its space is
// unlimited again), bitflip (file, optional offset: one bit of the synced
// data of a file on the target's disk flips, as a failing medium does),
// disk-faults (value: the target disk's fault rates from now on, as
// "read=0 write=0.01 sync=1"; a rate left out is 0).
// Targets: a node name (n1, n2, ...), "leader" (the leader at that moment),
// "follower" (some non-leader that runs), or a name bound earlier with as.
//
// Subscribers are named s1, s2, ... in file order; clients c1, c2, ....
// Marks (must_happen, must_not_happen) match the nodes' events (state,
// elected, leader-change, peer-dead, false-detection, clock-skew, fatal,
// truncated, committed-cut, promise: the node's election promise rose, to
// the number in state,
// corrupt: a read met a corrupt record,
// repaired: the corrupt range is back from the leader), the host faults (torn-pages: a power-off tore
// unsynced pages of the disk), the clients' answers (append-acknowledged,
// delete-acknowledged, leader-read-served, not-leader; node is the node
// that answered, client the client, state the operation: append, delete,
// tombstone or read) and the subscribers' (subscription-started,
// subscription-dropped, caught-up, fell-behind; node is the node
// subscribed to, client the subscriber).
package scenario

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario is one parsed file.
type Scenario struct {
	Name        string                       `yaml:"name"`
	Description string                       `yaml:"description,omitempty"`
	Nodes       int                          `yaml:"nodes"`
	Duration    Duration                     `yaml:"duration"`
	Seed        *uint64                      `yaml:"seed,omitempty"`
	Network     Network                      `yaml:"network,omitempty"`
	Options     map[string]string            `yaml:"options,omitempty"`
	NodeOptions map[string]map[string]string `yaml:"node_options,omitempty"`
	NAT         *NAT                         `yaml:"nat,omitempty"`
	// Discovery is how nodes find each other: "seeds" (GossipSeed, the
	// default) or "dns" (DiscoverViaDns through a name the simulated DNS
	// answers with every node's address).
	Discovery string `yaml:"discovery,omitempty"`
	// Clients is how many simulated clients append to and read a few
	// shared streams during the run (0: none); Rate is their appends per
	// second, all together (0: the workload's default).
	// Disk sets every node's disk fault rates (probabilities per operation).
	Disk    *DiskFaults `yaml:"disk,omitempty"`
	Clients int         `yaml:"clients,omitempty"`
	Rate    float64     `yaml:"rate,omitempty"`
	// Deletes is the share of the clients' writes that delete their
	// stream (soft deletes, one in ten a tombstone); 0: none.
	Deletes float64 `yaml:"deletes,omitempty"`
	// Metadata is the share of the clients' writes that replace their
	// stream's metadata (a $maxCount, or none); 0: none.
	Metadata float64 `yaml:"metadata,omitempty"`
	// ApplyStepBytes makes the nodes apply committed records from their
	// log in reads of at most this many bytes (0: their default, 1 MiB):
	// small steps end inside appends.
	ApplyStepBytes int `yaml:"apply_step_bytes,omitempty"`
	// EventPadding adds this many bytes to the data of every event the
	// clients append (0: none): large appends span several replication
	// messages and log reads.
	EventPadding int `yaml:"event_padding,omitempty"`
	// Subscribers follow a stream or $all from its start for the whole
	// run; every event they receive is checked against the committed log.
	Subscribers []Subscriber `yaml:"subscribers,omitempty"`
	Timeline    []Step       `yaml:"timeline,omitempty"`
	Expect      Expect       `yaml:"expect,omitempty"`
}

// Network is the default link profile.
type Network struct {
	Latency Duration `yaml:"latency,omitempty"`
	Jitter  Duration `yaml:"jitter,omitempty"`
	Loss    float64  `yaml:"loss,omitempty"`
}

// NAT puts every node in its own private network behind its own public
// address, with port forwards for the node and replication ports.
type NAT struct {
	// Advertise sets the advertise-as options to the public addresses;
	// without it the nodes gossip their private addresses.
	Advertise bool `yaml:"advertise,omitempty"`
}

// DiskFaults are the probabilities that one disk operation fails with an
// I/O error: reads (ReadAt, List, Size), writes (writes, appends,
// preallocation, truncation, creates, deletes, renames) and syncs.
//
// CrashSurvive, CrashTorn and CrashZeroed, when set, are the fates of each
// page not yet synced when the host loses power: kept whole, torn (its
// first sectors new, the rest old), zeroed; the rest is lost. Unset, the
// simulated disk's defaults hold. SyncLatency, when set, is how long every
// sync takes (a slow disk: under load, writes not yet synced are then
// always in flight).
type DiskFaults struct {
	Read         float64  `yaml:"read"`
	Write        float64  `yaml:"write"`
	Sync         float64  `yaml:"sync"`
	CrashSurvive *float64 `yaml:"crash_survive,omitempty"`
	CrashTorn    *float64 `yaml:"crash_torn,omitempty"`
	CrashZeroed  *float64 `yaml:"crash_zeroed,omitempty"`
	SyncLatency  Duration `yaml:"sync_latency,omitempty"`
}

// Subscriber is one catch-up subscriber.
type Subscriber struct {
	// Stream is the stream it follows, or $all.
	Stream string `yaml:"stream"`
	// Node is the node it subscribes to whenever that node runs (default:
	// any running node).
	Node string `yaml:"node,omitempty"`
	// Slow is its processing time per event; it grants credits back only
	// as it gets through them.
	Slow Duration `yaml:"slow,omitempty"`
	// Credits is how many messages it lets the node send ahead (default
	// 32).
	Credits       int  `yaml:"credits,omitempty"`
	RequireLeader bool `yaml:"require_leader,omitempty"`
}

// Step is one action of the timeline.
type Step struct {
	At     Duration `yaml:"at"`
	Do     string   `yaml:"do"`
	Target string   `yaml:"target,omitempty"`
	With   []string `yaml:"with,omitempty"`
	As     string   `yaml:"as,omitempty"`
	For    Duration `yaml:"for,omitempty"`
	By     Duration `yaml:"by,omitempty"`
	PPM    float64  `yaml:"ppm,omitempty"`
	Value  string   `yaml:"value,omitempty"`
	// File and Offset place a bitflip: a file on the target's disk ("log"
	// is the log's first segment) and a byte offset in it (unset: the
	// middle of the records the target knows committed there).
	File   string `yaml:"file,omitempty"`
	Offset *int64 `yaml:"offset,omitempty"`
}

// Expect is what the run must show.
type Expect struct {
	Violations   *int `yaml:"violations,omitempty"`
	LeaderAtEnd  bool `yaml:"leader_at_end,omitempty"`
	MaxElections *int `yaml:"max_elections,omitempty"`
	MinElections *int `yaml:"min_elections,omitempty"`
	// MaxFalseDetections bounds live, reachable peers declared dead.
	MaxFalseDetections *int `yaml:"max_false_detections,omitempty"`
	MinFalseDetections *int `yaml:"min_false_detections,omitempty"`
	// MustHappen lists events that must occur at least once: a scenario
	// that never reaches the state it is about fails.
	MustHappen []Mark `yaml:"must_happen,omitempty"`
	// MustNotHappen lists events that must never occur.
	MustNotHappen []Mark `yaml:"must_not_happen,omitempty"`
	// LeaderIn names the nodes one of which must lead at the end.
	LeaderIn []string `yaml:"leader_in,omitempty"`
	// CaughtUpAtEnd: every running node has applied everything the leader
	// has at the end (none is left behind).
	CaughtUpAtEnd bool `yaml:"caught_up_at_end,omitempty"`
	// SubscribersCaughtUpAtEnd: every subscriber has, at the end, received
	// everything its node applied (and so was checked complete).
	SubscribersCaughtUpAtEnd bool `yaml:"subscribers_caught_up_at_end,omitempty"`
	// MinAcknowledged and MinSubscriptionDeliveries bound the clients'
	// acknowledged appends and the events subscribers received from below.
	MinAcknowledged           *int `yaml:"min_appends_acknowledged,omitempty"`
	MinSubscriptionDeliveries *int `yaml:"min_subscription_deliveries,omitempty"`
}

// Mark matches trace events: a kind (state, leader-change, elected,
// peer-dead, clock-skew, connect-timeout, ...; see the package
// documentation), optionally a node, a state, a client or subscriber, and a
// time window.
type Mark struct {
	Event  string   `yaml:"event"`
	Node   string   `yaml:"node,omitempty"`
	State  string   `yaml:"state,omitempty"`
	Client string   `yaml:"client,omitempty"`
	After  Duration `yaml:"after,omitempty"`
	Before Duration `yaml:"before,omitempty"`
}

// Duration reads Go duration strings ("1.5s", "700ms").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (say 1.5s, 700ms, 2m): %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as Go prints it ("1m30s").
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

var actions = []string{
	"kill", "restart", "freeze", "thaw", "power-off", "power-on", "pause", "partition", "one-way", "bridge",
	"heal", "isolate", "clock-jump", "clock-drift", "resign", "loss", "latency",
	"rate", "pin", "unpin", "slow", "disk-full", "disk-free", "bitflip", "disk-faults",
}

// DiskFaultRates reads a disk-faults value: "read=R write=W sync=S", each
// part optional (0 when left out), each rate in [0, 1].
func DiskFaultRates(v string) (read, write, sync float64, err error) {
	for _, part := range strings.Fields(v) {
		key, num, ok := strings.Cut(part, "=")
		f, perr := strconv.ParseFloat(num, 64)
		if !ok || perr != nil || !(f >= 0 && f <= 1) {
			return 0, 0, 0, fmt.Errorf("%q is not a rate between 0 and 1 (as read=0 write=0.01 sync=1)", part)
		}
		switch key {
		case "read":
			read = f
		case "write":
			write = f
		case "sync":
			sync = f
		default:
			return 0, 0, 0, fmt.Errorf("%q: the rates are read, write and sync", part)
		}
	}
	return read, write, sync, nil
}

// Load reads and checks a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads and checks a scenario.
func Parse(b []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return &s, s.Validate()
}

// Validate checks what a scenario says before anything runs.
func (s *Scenario) Validate() error {
	var errs []string
	if s.Nodes < 1 || s.Nodes > 15 {
		errs = append(errs, fmt.Sprintf("nodes: %d is outside 1..15", s.Nodes))
	}
	if s.Duration <= 0 {
		errs = append(errs, "duration: must be positive (e.g. 60s)")
	}
	if s.Discovery != "" && s.Discovery != "seeds" && s.Discovery != "dns" {
		errs = append(errs, fmt.Sprintf("discovery: %q; use seeds or dns", s.Discovery))
	}
	if s.Clients < 0 || s.Clients > 250 {
		errs = append(errs, fmt.Sprintf("clients: %d is outside 0..250", s.Clients))
	}
	if d := s.Disk; d != nil {
		for _, f := range []struct {
			name string
			v    float64
		}{{"read", d.Read}, {"write", d.Write}, {"sync", d.Sync}} {
			if f.v < 0 || f.v >= 1 {
				errs = append(errs, fmt.Sprintf("disk.%s: %v is outside [0, 1)", f.name, f.v))
			}
		}
		sum := 0.0
		for _, f := range []struct {
			name string
			v    *float64
		}{{"crash_survive", d.CrashSurvive}, {"crash_torn", d.CrashTorn}, {"crash_zeroed", d.CrashZeroed}} {
			if f.v == nil {
				continue
			}
			sum += *f.v
			if *f.v < 0 || *f.v > 1 {
				errs = append(errs, fmt.Sprintf("disk.%s: %v is outside [0, 1]", f.name, *f.v))
			}
		}
		if sum > 1+1e-9 {
			errs = append(errs, fmt.Sprintf("disk: crash_survive + crash_torn + crash_zeroed is %v; they must add up to at most 1 (the rest of the pages are lost)", sum))
		}
		if d.SyncLatency < 0 {
			errs = append(errs, fmt.Sprintf("disk.sync_latency: %v is negative", d.SyncLatency.D()))
		}
	}
	if s.Rate < 0 {
		errs = append(errs, fmt.Sprintf("rate: %v appends/s is negative", s.Rate))
	}
	if s.EventPadding < 0 || s.EventPadding > maxEventPadding {
		errs = append(errs, fmt.Sprintf("event_padding: %d is outside 0..%d bytes", s.EventPadding, maxEventPadding))
	}
	if s.ApplyStepBytes < 0 {
		errs = append(errs, fmt.Sprintf("apply_step_bytes: %d is negative (0 leaves the nodes' default)", s.ApplyStepBytes))
	}
	if !(s.Deletes >= 0 && s.Deletes <= 1) {
		errs = append(errs, fmt.Sprintf("deletes: %v is outside [0, 1] (the share of writes that delete)", s.Deletes))
	}
	if !(s.Metadata >= 0 && s.Metadata <= 1) || s.Deletes+s.Metadata > 1 {
		errs = append(errs, fmt.Sprintf("metadata: %v is outside [0, 1] or, with deletes %v, above 1 (shares of the writes)", s.Metadata, s.Deletes))
	}
	if s.Network.Loss < 0 || s.Network.Loss >= 1 {
		errs = append(errs, fmt.Sprintf("network.loss: %v is outside [0, 1)", s.Network.Loss))
	}
	bound := map[string]bool{"leader": true, "follower": true}
	for i := 1; i <= s.Nodes; i++ {
		bound[fmt.Sprintf("n%d", i)] = true
	}
	if len(s.Subscribers) > maxSubscribers {
		errs = append(errs, fmt.Sprintf("subscribers: %d; at most %d", len(s.Subscribers), maxSubscribers))
	}
	for i, sub := range s.Subscribers {
		where := fmt.Sprintf("subscribers[%d] (s%d)", i, i+1)
		if sub.Stream == "" {
			errs = append(errs, where+": no stream; name one, or $all")
		}
		if sub.Node != "" && (!bound[sub.Node] || sub.Node == "leader" || sub.Node == "follower") {
			errs = append(errs, fmt.Sprintf("%s: node %q is not a node (n1..n%d)", where, sub.Node, s.Nodes))
		}
		if sub.Slow < 0 || sub.Credits < 0 {
			errs = append(errs, fmt.Sprintf("%s: slow %v and credits %d must not be negative", where, sub.Slow.D(), sub.Credits))
		}
	}
	for name := range s.NodeOptions {
		if !bound[name] || name == "leader" || name == "follower" {
			errs = append(errs, fmt.Sprintf("node_options: no node %q (nodes are n1..n%d)", name, s.Nodes))
		}
	}
	last := time.Duration(0)
	for i, st := range s.Timeline {
		where := fmt.Sprintf("timeline[%d] (%s at %v)", i, st.Do, st.At.D())
		if !slices.Contains(actions, st.Do) {
			errs = append(errs, fmt.Sprintf("%s: unknown action; use one of %s", where, strings.Join(actions, ", ")))
		}
		if st.At.D() < last {
			errs = append(errs, where+": steps must be in time order")
		}
		if st.At < 0 {
			errs = append(errs, where+": at: is negative")
		}
		if s.Duration > 0 && st.At > s.Duration {
			errs = append(errs, fmt.Sprintf("%s: comes after the run ends at %v, so it would never be played", where, s.Duration.D()))
		}
		last = st.At.D()
		switch st.Do {
		case "heal", "loss", "latency", "rate", "unpin":
		case "slow":
			if !subscriberName(st.Target, len(s.Subscribers)) {
				errs = append(errs, fmt.Sprintf("%s: target %q is not a subscriber (s1..s%d)", where, st.Target, len(s.Subscribers)))
			}
		default:
			if !bound[st.Target] {
				errs = append(errs, fmt.Sprintf("%s: target %q is not a node, \"leader\", \"follower\" or a name bound by an earlier as:", where, st.Target))
			}
		}
		for _, w := range st.With {
			switch {
			case st.Do == "pin" || st.Do == "unpin":
				if !clientName(w, s.Clients) {
					errs = append(errs, fmt.Sprintf("%s: with %q is not a client (c1..c%d)", where, w, s.Clients))
				}
			case !bound[w]:
				errs = append(errs, fmt.Sprintf("%s: with %q is not a node or bound name", where, w))
			}
		}
		switch st.Do {
		case "pin", "unpin":
			if len(st.With) == 0 {
				errs = append(errs, where+": needs with: (the clients, c1, c2, ...)")
			}
		case "rate":
			if v, err := strconv.ParseFloat(st.Value, 64); err != nil || !(v > 0) {
				errs = append(errs, fmt.Sprintf("%s: value %q is not a positive rate (appends per second, e.g. \"500\")", where, st.Value))
			}
			if s.Clients == 0 {
				errs = append(errs, where+": the scenario has no clients whose rate could change")
			}
		case "slow", "latency":
			if d, err := time.ParseDuration(st.Value); err != nil || d < 0 {
				errs = append(errs, fmt.Sprintf("%s: value %q is not a duration of zero or more (e.g. \"5ms\")", where, st.Value))
			}
		case "loss":
			if v, err := strconv.ParseFloat(st.Value, 64); err != nil || !(v >= 0 && v < 1) {
				errs = append(errs, fmt.Sprintf("%s: value %q is not a loss rate in [0, 1) (e.g. \"0.05\")", where, st.Value))
			}
		case "disk-faults":
			if _, _, _, err := DiskFaultRates(st.Value); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", where, err))
			}
		}
		if (st.Do == "partition" || st.Do == "one-way" || st.Do == "bridge") && len(st.With) == 0 {
			errs = append(errs, where+": needs with: (the other side)")
		}
		if st.Do == "bitflip" && st.File == "" {
			errs = append(errs, where+": bitflip needs file: (\"log\", or a file name on the target's disk)")
		}
		if st.Do != "bitflip" && (st.File != "" || st.Offset != nil) {
			errs = append(errs, where+": file: and offset: belong to bitflip only")
		}
		if st.Offset != nil && *st.Offset < 0 {
			errs = append(errs, fmt.Sprintf("%s: offset %d is negative", where, *st.Offset))
		}
		if st.Do == "pause" && st.For <= 0 {
			errs = append(errs, where+": pause needs for: (how long)")
		}
		if st.As != "" {
			bound[st.As] = true
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("scenario %q: %s", s.Name, strings.Join(errs, "; "))
	}
	return nil
}

// maxEventPadding keeps an append of the most events a client sends within
// EventStoreDB's default MaxAppendSize (1 MiB).
const maxEventPadding = 256 << 10

// maxSubscribers bounds a scenario's subscribers (as sim/workload does).
const maxSubscribers = 64

// clientName reports whether name is one of c1..cN.
func clientName(name string, n int) bool { return numbered(name, "c", n) }

// subscriberName reports whether name is one of s1..sN.
func subscriberName(name string, n int) bool { return numbered(name, "s", n) }

func numbered(name, prefix string, n int) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	k, err := strconv.Atoi(rest)
	return err == nil && k >= 1 && k <= n && strconv.Itoa(k) == rest
}
