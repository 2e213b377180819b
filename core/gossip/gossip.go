// Package gossip is how nodes find each other and learn each other's state:
// every interval a node sends its whole cluster view to one random member,
// which merges it and answers with its own merged view (EventStoreDB's
// Gossip.Update). Start-up runs a burst of fast rounds so that a cluster
// forms in well under a second. A member that does not answer is marked
// dead, except the leader the node follows: for that one, the replication
// connection's heartbeats decide, and a lost connection triggers a direct
// confirming read.
package gossip

import (
	"fmt"
	"slices"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
)

// RPC method names on the node port.
const (
	MethodUpdate = "gossip.Update"
	MethodRead   = "gossip.Read"
)

// Start-up burst: EventStoreDB gossips every 100 ms for the first 20 rounds.
const (
	burstRounds   = 20
	burstInterval = 100 * time.Millisecond
	dnsRetry      = time.Second
	pickTries     = 5
)

// Config is the gossip part of a node's options.
type Config struct {
	Interval          time.Duration // GossipIntervalMs
	Timeout           time.Duration // GossipTimeoutMs
	AllowedDifference time.Duration // GossipAllowedDifferenceMs
	RemovalPeriod     time.Duration // DeadMemberRemovalPeriodSec
	Seeds             []env.Endpoint
	// DNS discovery, used instead of Seeds when DiscoverViaDNS is set.
	DiscoverViaDNS bool
	ClusterDNS     string
	GossipPort     uint16
}

// Node is what the gossip service needs from the node it serves.
type Node interface {
	// Self is the node's own record, freshly stamped.
	Self() member.Info
	// Leader is the node endpoint of the leader this node follows, if any.
	Leader() env.Endpoint
	// CanPrune is false while the node is still finding its cluster.
	CanPrune() bool
	// ViewChanged is called after every merge or liveness change.
	ViewChanged(changed bool)
	// ClockSkew reports a member whose clock is too far from ours.
	ClockSkew(peer env.Endpoint, skew time.Duration)
}

// Service runs one node's gossip.
type Service struct {
	env    env.Env
	cfg    Config
	node   Node
	view   []member.Info
	rounds int
	timer  env.Timer
	closed bool

	// SkewEvents counts gossip exchanges that saw a clock difference over
	// the allowed one.
	SkewEvents uint64
}

// New makes the service; Start begins discovery and the rounds.
func New(e env.Env, cfg Config, node Node) *Service {
	return &Service{env: e, cfg: cfg, node: node}
}

// View is the current cluster view, sorted, the node's own record included.
// The slice must not be modified.
func (s *Service) View() []member.Info { return s.view }

// Start seeds the view and starts the rounds.
func (s *Service) Start() {
	s.view = []member.Info{s.node.Self()}
	if s.cfg.DiscoverViaDNS {
		s.resolve()
	} else {
		s.addSeeds(s.cfg.Seeds)
	}
	s.schedule()
}

// Stop ends the rounds.
func (s *Service) Stop() {
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *Service) resolve() {
	s.env.Net.Resolve(s.cfg.ClusterDNS, func(addrs []string, err error) {
		if s.closed {
			return
		}
		if err != nil || len(addrs) == 0 {
			s.log(env.LevelWarn, fmt.Sprintf("gossip: DNS lookup of %q failed (%v); retrying in %v", s.cfg.ClusterDNS, err, dnsRetry))
			s.env.Clock.AfterFunc(dnsRetry, s.resolve)
			return
		}
		seeds := make([]env.Endpoint, 0, len(addrs))
		for _, a := range addrs {
			seeds = append(seeds, env.Endpoint{Host: a, Port: s.cfg.GossipPort})
		}
		s.addSeeds(seeds)
	})
}

// addSeeds inserts placeholder records (no instance id, state Manager) for
// seed endpoints not yet known; the real record replaces each one once that
// node answers.
func (s *Service) addSeeds(seeds []env.Endpoint) {
	self := s.node.Self()
	for _, ep := range seeds {
		if ep == self.HTTPEndPoint || member.Find(s.view, ep) >= 0 {
			continue
		}
		s.view = append(s.view, member.Info{
			State: member.Manager, IsAlive: true, HTTPEndPoint: ep, TimeStamp: s.env.Clock.Wall(),
			EpochNumber: -1, EpochPosition: -1,
		})
	}
	member.Sort(s.view)
	s.node.ViewChanged(true)
}

func (s *Service) schedule() {
	d := s.cfg.Interval
	if s.rounds < burstRounds {
		d = burstInterval
	}
	s.timer = s.env.Clock.AfterFunc(d, s.round)
}

func (s *Service) round() {
	if s.closed {
		return
	}
	s.rounds++
	s.refreshSelf()
	if target, ok := s.pick(); ok {
		req := UpdateRequest{View: slices.Clone(s.view), Server: s.node.Self().HTTPEndPoint}
		s.env.Net.Call(target, MethodUpdate, req.Marshal(), s.cfg.Timeout, func(resp []byte, err error) {
			s.gossipDone(target, resp, err)
		})
	}
	s.schedule()
}

// pick draws a random member other than self, alive or not (dead members
// must get a chance to come back).
func (s *Service) pick() (env.Endpoint, bool) {
	self := s.node.Self().HTTPEndPoint
	if len(s.view) < 2 {
		return env.Endpoint{}, false
	}
	for i := 0; i < pickTries; i++ {
		m := s.view[env.Intn(s.env.Rand, len(s.view))]
		if m.HTTPEndPoint != self {
			return m.HTTPEndPoint, true
		}
	}
	return env.Endpoint{}, false
}

func (s *Service) gossipDone(target env.Endpoint, resp []byte, err error) {
	if s.closed {
		return
	}
	if err == nil {
		var ci ClusterInfo
		if err = ci.Unmarshal(resp); err == nil {
			s.merge(ci.View, target)
			return
		}
	}
	if target == s.node.Leader() {
		s.log(env.LevelWarn, fmt.Sprintf("gossip: leader %v did not answer (%v); the replication connection decides", target, err))
		return
	}
	s.markDead(target, err)
}

// Confirm asks a member directly for its view, after its replication
// connection broke: an answer keeps it alive, silence or refusal marks it
// dead.
func (s *Service) Confirm(target env.Endpoint) {
	s.env.Net.Call(target, MethodRead, nil, s.cfg.Timeout, func(resp []byte, err error) {
		if s.closed {
			return
		}
		if err == nil {
			var ci ClusterInfo
			if err = ci.Unmarshal(resp); err == nil {
				s.merge(ci.View, target)
				return
			}
		}
		s.markDead(target, err)
	})
}

// Unreachable records that a direct call to a member failed (an election
// message, say): like a failed gossip exchange, it marks the member dead,
// except the leader this node follows, whose replication link decides.
func (s *Service) Unreachable(target env.Endpoint, cause error) {
	if s.closed || target == s.node.Leader() {
		return
	}
	s.markDead(target, cause)
}

// MarkAlive records direct evidence that a member lives (a replication
// connection was established with it).
func (s *Service) MarkAlive(target env.Endpoint) {
	// The record keeps its owner's timestamp: stamps from two clocks are
	// never compared.
	if i := member.Find(s.view, target); i >= 0 && !s.view[i].IsAlive {
		s.view[i].IsAlive = true
		s.node.ViewChanged(true)
	}
}

func (s *Service) markDead(target env.Endpoint, cause error) {
	i := member.Find(s.view, target)
	if i < 0 || !s.view[i].IsAlive {
		return
	}
	s.log(env.LevelInfo, fmt.Sprintf("gossip: %v appears dead (%v)", target, cause))
	s.view[i].IsAlive = false
	s.node.ViewChanged(true)
}

// SetState overrides what this node believes about another member's state
// (after an election: the winner is Leader, everyone else Unknown until they
// say otherwise).
func (s *Service) SetState(target env.Endpoint, st member.State) {
	if i := member.Find(s.view, target); i >= 0 {
		s.view[i].State = st
	}
}

// refreshSelf puts the node's current record into the view.
func (s *Service) refreshSelf() {
	self := s.node.Self()
	if i := member.Find(s.view, self.HTTPEndPoint); i >= 0 {
		s.view[i] = self
	} else {
		s.view = append(s.view, self)
		member.Sort(s.view)
	}
}

// SelfChanged pushes a change of the node's own record into the view at
// once (a state change must not wait for the next round).
func (s *Service) SelfChanged() {
	s.refreshSelf()
	s.node.ViewChanged(true)
}

func (s *Service) merge(received []member.Info, sender env.Endpoint) {
	self := s.node.Self()
	r := member.Merge(member.MergeInput{
		Mine: s.view, Self: &self, Received: received, Sender: sender, Leader: s.node.Leader(),
		Now: s.env.Clock.Wall(), AllowedDifference: s.cfg.AllowedDifference,
		RemovalPeriod: s.cfg.RemovalPeriod, Prune: s.node.CanPrune(),
	})
	s.view = r.View
	if r.Skew != 0 {
		s.SkewEvents++
		s.log(env.LevelError, fmt.Sprintf("gossip: time difference between us and %v is too great: %v (allowed %v); check the clocks",
			sender, r.Skew, s.cfg.AllowedDifference))
		s.node.ClockSkew(sender, r.Skew)
	}
	s.node.ViewChanged(r.Changed)
}

// HandleUpdate serves Gossip.Update: merge the sender's view, answer with
// ours.
func (s *Service) HandleUpdate(req []byte) ([]byte, error) {
	var u UpdateRequest
	if err := u.Unmarshal(req); err != nil {
		return nil, &env.RemoteError{Code: CodeBadRequest, Message: "gossip update: " + err.Error()}
	}
	s.refreshSelf()
	s.merge(u.View, u.Server)
	return ClusterInfo{View: s.view}.Marshal(), nil
}

// HandleRead serves Gossip.Read: our view as it is.
func (s *Service) HandleRead() []byte {
	s.refreshSelf()
	return ClusterInfo{View: s.view}.Marshal()
}

// CodeBadRequest is the remote error code for an undecodable request.
const CodeBadRequest = 400

func (s *Service) log(level env.Level, msg string) {
	if s.env.Log != nil {
		s.env.Log.Log(level, msg)
	}
}
