package member

import (
	"cmp"
	"encoding/hex"
	"slices"
	"time"

	"github.com/annal-db/annal/core/env"
)

// ID is a 128-bit identifier (a node's instance id, an epoch id), rendered
// as a UUID. The zero ID means "none" (a gossip seed placeholder, no epoch).
type ID [16]byte

// NewID draws a random version-4 UUID.
func NewID(r env.Rand) ID {
	var id ID
	a, b := r.Uint64(), r.Uint64()
	for i := 0; i < 8; i++ {
		id[i] = byte(a >> (8 * i))
		id[8+i] = byte(b >> (8 * i))
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

func (id ID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// Short is the first 8 hex digits, for logs and traces.
func (id ID) Short() string { return id.String()[:8] }

// Info is one member record, as gossiped (EventStoreDB's MemberInfo).
type Info struct {
	InstanceID ID
	// TimeStamp is when the member's owner produced this record, on the
	// owner's wall clock.
	TimeStamp time.Time
	State     State
	IsAlive   bool

	// Advertised endpoints: what other nodes should dial. HTTP is the node
	// port (gRPC and HTTP); InternalTCP is the replication port;
	// ExternalTCP is the legacy client TCP port (port 0 while it is off).
	HTTPEndPoint       env.Endpoint
	InternalTCP        env.Endpoint
	ExternalTCP        env.Endpoint
	InternalTCPUsesTLS bool
	ExternalTCPUsesTLS bool

	LastCommitPosition int64
	WriterCheckpoint   int64
	ChaserCheckpoint   int64
	EpochPosition      int64
	EpochNumber        int32
	EpochID            ID

	NodePriority      int32
	IsReadOnlyReplica bool

	// What clients are told to use instead of HTTPEndPoint, when set.
	AdvertiseHostToClientAs     string
	AdvertiseHTTPPortToClientAs uint16
	AdvertiseTCPPortToClientAs  uint16

	Version string

	// Seq counts the owner's records within one incarnation (not in
	// EventStoreDB's record): unlike TimeStamp it never goes back when the
	// owner's wall clock is stepped, so "newer" is judged by it.
	Seq uint64
}

// SameMember reports whether two records describe the same member: the
// same node-port endpoint, which is the key EventStoreDB merges by.
func (m *Info) SameMember(o *Info) bool { return m.HTTPEndPoint == o.HTTPEndPoint }

// ClientEndpoint is the node endpoint a client should use.
func (m *Info) ClientEndpoint() env.Endpoint {
	ep := m.HTTPEndPoint
	if m.AdvertiseHostToClientAs != "" {
		ep.Host = m.AdvertiseHostToClientAs
	}
	if m.AdvertiseHTTPPortToClientAs != 0 {
		ep.Port = m.AdvertiseHTTPPortToClientAs
	}
	return ep
}

// CompareEndpoints orders endpoints as EventStoreDB sorts a cluster view:
// by port, then by host string (ordinal).
func CompareEndpoints(a, b env.Endpoint) int {
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	return cmp.Compare(a.Host, b.Host)
}

// Sort puts a view in EventStoreDB's canonical order: descending by
// node-port endpoint.
func Sort(view []Info) {
	slices.SortFunc(view, func(a, b Info) int { return CompareEndpoints(b.HTTPEndPoint, a.HTTPEndPoint) })
}

// Find returns the index of the member with the given node endpoint, or -1.
func Find(view []Info, ep env.Endpoint) int {
	for i := range view {
		if view[i].HTTPEndPoint == ep {
			return i
		}
	}
	return -1
}

// FindID returns the index of the member with the given instance id, or -1.
func FindID(view []Info, id ID) int {
	if id.IsZero() {
		return -1
	}
	for i := range view {
		if view[i].InstanceID == id {
			return i
		}
	}
	return -1
}

// moreUpToDate reports whether a is newer information than b about the same
// member. Two records of one instance are ordered by its own sequence: its
// epoch and log can go back (a new leader cuts what it lacks), its
// sequence cannot. Otherwise: a higher epoch, else a longer log, else a
// later timestamp.
func moreUpToDate(a, b *Info) bool {
	if a.InstanceID == b.InstanceID && !a.InstanceID.IsZero() {
		return a.Seq > b.Seq
	}
	if a.EpochNumber != b.EpochNumber {
		return a.EpochNumber > b.EpochNumber
	}
	if a.WriterCheckpoint != b.WriterCheckpoint {
		return a.WriterCheckpoint > b.WriterCheckpoint
	}
	return a.TimeStamp.After(b.TimeStamp)
}

// MergeInput is everything a merge depends on.
type MergeInput struct {
	Mine     []Info       // the receiver's view (its own record included)
	Self     *Info        // the receiver's own record
	Received []Info       // the view that arrived
	Sender   env.Endpoint // node endpoint of the member that sent it (zero: a reply to our own request from Sender)
	// Leader is the node-port endpoint of the leader the receiver follows,
	// if any: its liveness and state are never taken from third parties.
	Leader env.Endpoint
	Now    time.Time
	// AllowedDifference is GossipAllowedDifferenceMs.
	AllowedDifference time.Duration
	// RemovalPeriod is DeadMemberRemovalPeriodSec; Prune says whether to
	// prune at all (not while the receiver is still finding its cluster).
	RemovalPeriod time.Duration
	Prune         bool
}

// MergeResult is the merged view and what the merge noticed.
type MergeResult struct {
	View []Info
	// Skew is the sender's clock difference when it exceeded the allowed
	// one (zero otherwise).
	Skew time.Duration
	// Changed reports whether anything other than timestamps and log
	// positions changed.
	Changed bool
}

// Merge folds a received view into the receiver's, by EventStoreDB's rules:
// records about the receiver itself are ignored; the sender's record about
// itself is taken as it is (unless it is older than the record already held
// from that same instance: a delayed message); any other record replaces the receiver's when it
// is more up to date, except that the liveness and state of the leader the
// receiver follows come only from the receiver's own observations. Dead
// members older than the removal period are then dropped.
func Merge(in MergeInput) MergeResult {
	view := slices.Clone(in.Mine)
	res := MergeResult{}
	for i := range in.Received {
		r := in.Received[i]
		if r.HTTPEndPoint == in.Self.HTTPEndPoint || (!r.InstanceID.IsZero() && r.InstanceID == in.Self.InstanceID) {
			continue
		}
		j := Find(view, r.HTTPEndPoint)
		if r.HTTPEndPoint == in.Sender && !in.Sender.IsZero() {
			if d := absDuration(in.Now.Sub(r.TimeStamp)); d > in.AllowedDifference {
				res.Skew = in.Now.Sub(r.TimeStamp)
			}
			// The sender knows itself best, but not its own past: a
			// record older than the one we hold from the same instance
			// (by its own sequence, which clock steps cannot move) is a
			// late delivery of old news and changes nothing.
			if j >= 0 && view[j].InstanceID == r.InstanceID && r.Seq < view[j].Seq {
				continue
			}
			if j < 0 {
				view = append(view, r)
				res.Changed = true
			} else {
				res.Changed = res.Changed || !equalIgnoringPositions(&view[j], &r)
				view[j] = r
			}
			continue
		}
		if j < 0 {
			view = append(view, r)
			res.Changed = true
			continue
		}
		cur := &view[j]
		if r.InstanceID.IsZero() && !cur.InstanceID.IsZero() {
			// A seed's placeholder says only that someone is expected
			// there; it never replaces what the member said of itself.
			continue
		}
		if cur.InstanceID.IsZero() && !r.InstanceID.IsZero() || moreUpToDate(&r, cur) {
			if r.HTTPEndPoint == in.Leader && !in.Leader.IsZero() {
				r.IsAlive, r.State = cur.IsAlive, cur.State
			}
			res.Changed = res.Changed || !equalIgnoringPositions(cur, &r)
			*cur = r
		}
	}
	if in.Prune {
		kept := view[:0]
		for _, m := range view {
			if !m.IsAlive && in.Now.Sub(m.TimeStamp) > in.RemovalPeriod && m.HTTPEndPoint != in.Self.HTTPEndPoint {
				res.Changed = true
				continue
			}
			kept = append(kept, m)
		}
		view = kept
	}
	Sort(view)
	res.View = view
	return res
}

// equalIgnoringPositions is EventStoreDB's "cluster changed" test: the
// timestamp and the three log positions do not count.
func equalIgnoringPositions(a, b *Info) bool {
	x, y := *a, *b
	x.TimeStamp, y.TimeStamp = time.Time{}, time.Time{}
	x.LastCommitPosition, y.LastCommitPosition = 0, 0
	x.WriterCheckpoint, y.WriterCheckpoint = 0, 0
	x.ChaserCheckpoint, y.ChaserCheckpoint = 0, 0
	x.Seq, y.Seq = 0, 0
	return x == y
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
