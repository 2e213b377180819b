package cluster

import (
	"fmt"
	"slices"

	"github.com/annal-db/annal/sim/scenario"
)

// Check compares a run with what its scenario expects and lists every
// expectation that failed.
func (r *Report) Check(e scenario.Expect) []string {
	var failed []string
	if e.Violations != nil && len(r.Violations) != *e.Violations {
		failed = append(failed, fmt.Sprintf("violations: %d, expected %d", len(r.Violations), *e.Violations))
	}
	if e.LeaderAtEnd && r.LeaderAtEnd == "" {
		failed = append(failed, "no leader at the end of the run")
	}
	if len(e.LeaderIn) > 0 && !slices.Contains(e.LeaderIn, r.LeaderAtEnd) {
		failed = append(failed, fmt.Sprintf("leader at end %q, expected one of %v", r.LeaderAtEnd, e.LeaderIn))
	}
	if e.MaxElections != nil && r.Elections > *e.MaxElections {
		failed = append(failed, fmt.Sprintf("elections: %d, expected at most %d", r.Elections, *e.MaxElections))
	}
	if e.MinElections != nil && r.Elections < *e.MinElections {
		failed = append(failed, fmt.Sprintf("elections: %d, expected at least %d", r.Elections, *e.MinElections))
	}
	if e.MaxFalseDetections != nil && r.FalseDetections > *e.MaxFalseDetections {
		failed = append(failed, fmt.Sprintf("false failure detections: %d, expected at most %d", r.FalseDetections, *e.MaxFalseDetections))
	}
	if e.MinFalseDetections != nil && r.FalseDetections < *e.MinFalseDetections {
		failed = append(failed, fmt.Sprintf("false failure detections: %d, expected at least %d", r.FalseDetections, *e.MinFalseDetections))
	}
	if e.CaughtUpAtEnd {
		l := r.Checks.Log
		switch {
		case l.FinalSkipped != "":
			failed = append(failed, "caught up at end: the end check did not run ("+l.FinalSkipped+")")
		case len(l.Behind) > 0:
			failed = append(failed, fmt.Sprintf("caught up at end: %v up but behind the leader", l.Behind))
		}
	}
	if e.SubscribersCaughtUpAtEnd {
		switch s := r.Checks.Subscriptions; {
		case s == nil:
			failed = append(failed, "subscribers caught up at end: the run has no subscribers")
		case len(s.Unsettled) > 0:
			failed = append(failed, fmt.Sprintf("subscribers caught up at end: %v still waiting for events their node holds (or without a subscription)", s.Unsettled))
		case s.Complete != s.Feeds:
			failed = append(failed, fmt.Sprintf("subscribers caught up at end: %d of %d received everything their node applied", s.Complete, s.Feeds))
		}
	}
	if e.MinAcknowledged != nil && r.AppendsAcknowledged < *e.MinAcknowledged {
		failed = append(failed, fmt.Sprintf("appends acknowledged: %d, expected at least %d", r.AppendsAcknowledged, *e.MinAcknowledged))
	}
	if e.MinSubscriptionDeliveries != nil && r.SubscriptionDeliveries < *e.MinSubscriptionDeliveries {
		failed = append(failed, fmt.Sprintf("subscription deliveries: %d, expected at least %d", r.SubscriptionDeliveries, *e.MinSubscriptionDeliveries))
	}
	for _, m := range e.MustHappen {
		if r.count(m) == 0 {
			failed = append(failed, "never happened: "+describe(m))
		}
	}
	for _, m := range e.MustNotHappen {
		if n := r.count(m); n > 0 {
			failed = append(failed, fmt.Sprintf("happened %d times: %s", n, describe(m)))
		}
	}
	return failed
}

// count matches marks; connect-timeout is read from the network's counters.
func (r *Report) count(m scenario.Mark) int {
	if m.Event == "connect-timeout" {
		return int(r.ConnectTimeouts)
	}
	n := 0
	for _, k := range r.marks {
		if k.kind != m.Event || (m.Node != "" && k.node != m.Node) || (m.State != "" && k.state != m.State) || (m.Client != "" && k.client != m.Client) {
			continue
		}
		if k.at < m.After.D() || (m.Before > 0 && k.at > m.Before.D()) {
			continue
		}
		n++
	}
	return n
}

func describe(m scenario.Mark) string {
	s := m.Event
	if m.Node != "" {
		s += " on " + m.Node
	}
	if m.State != "" {
		s += " to " + m.State
	}
	if m.Client != "" {
		s += " by " + m.Client
	}
	if m.After > 0 {
		s += fmt.Sprintf(" after %v", m.After.D())
	}
	if m.Before > 0 {
		s += fmt.Sprintf(" before %v", m.Before.D())
	}
	return s
}
