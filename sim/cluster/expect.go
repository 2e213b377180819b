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
		if k.kind != m.Event || (m.Node != "" && k.node != m.Node) || (m.State != "" && k.state != m.State) {
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
	if m.After > 0 {
		s += fmt.Sprintf(" after %v", m.After.D())
	}
	if m.Before > 0 {
		s += fmt.Sprintf(" before %v", m.Before.D())
	}
	return s
}
