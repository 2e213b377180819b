package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"pgregory.net/rapid"

	"github.com/annal-db/annal/sim/cluster"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/scenario"
)

// faultActions are the steps the property tests draw from.
var faultActions = []string{
	"kill", "restart", "freeze", "thaw", "power-off", "power-on", "pause",
	"partition", "one-way", "bridge", "heal", "clock-jump", "resign",
}

func drawStep(t *rapid.T, nodes int, at time.Duration) scenario.Step {
	name := func(label string) string { return fmt.Sprintf("n%d", rapid.IntRange(1, nodes).Draw(t, label)) }
	st := scenario.Step{At: scenario.Duration(at), Do: rapid.SampledFrom(faultActions).Draw(t, "action")}
	switch st.Do {
	case "heal":
	case "partition", "one-way", "bridge":
		st.Target = rapid.SampledFrom([]string{"leader", name("target")}).Draw(t, "target")
		st.With = []string{name("with")}
	default:
		st.Target = rapid.SampledFrom([]string{"leader", name("target")}).Draw(t, "target")
	}
	switch st.Do {
	case "pause":
		st.For = scenario.Duration(time.Duration(rapid.IntRange(100, 8000).Draw(t, "pauseMs")) * time.Millisecond)
	case "clock-jump":
		st.By = scenario.Duration(time.Duration(rapid.IntRange(-120, 120).Draw(t, "jumpS")) * time.Second)
	}
	return st
}

// recovery ends every fault: heal, thaw, power on, restart.
func recovery(nodes int, at time.Duration) []scenario.Step {
	steps := []scenario.Step{{At: scenario.Duration(at), Do: "heal"}}
	for i := 1; i <= nodes; i++ {
		steps = append(steps, scenario.Step{At: scenario.Duration(at), Do: "restart", Target: fmt.Sprintf("n%d", i)})
	}
	return steps
}

// asScenario renders a failing schedule as a scenario file that `annal sim
// run --scenario` replays.
func asScenario(name string, cfg cluster.Config) string {
	zero := 0
	s := scenario.Scenario{
		Name: name, Description: "Found by a property test; replays the shrunk fault schedule.",
		Nodes: cfg.Nodes, Duration: scenario.Duration(cfg.Duration), Seed: &cfg.Seed,
		Network:     scenario.Network{Latency: scenario.Duration(cfg.Link.Latency), Jitter: scenario.Duration(cfg.Link.Jitter), Loss: cfg.Link.Loss},
		NodeOptions: cfg.NodeOptions, Timeline: cfg.Timeline, Expect: scenario.Expect{Violations: &zero, LeaderAtEnd: true},
	}
	b, err := yaml.Marshal(&s)
	if err != nil {
		return "(cannot render: " + err.Error() + ")"
	}
	return string(b)
}

// For any cluster size from 1 to 7 and any fault schedule, no epoch has two
// leaders, epochs only grow, leaders without a quorum step down in time, and
// once the faults stop a leader appears within the liveness bound.
func TestElectionsUnderAnyFaultSchedule(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := rapid.IntRange(1, 7).Draw(t, "nodes")
		var steps []scenario.Step
		at := 5 * time.Second
		for range rapid.IntRange(0, 12).Draw(t, "faults") {
			at += time.Duration(rapid.IntRange(0, 10_000).Draw(t, "gapMs")) * time.Millisecond
			steps = append(steps, drawStep(t, nodes, at))
		}
		at += time.Second
		steps = append(steps, recovery(nodes, at)...)
		prio := map[string]map[string]string{}
		for i := 1; i <= nodes; i++ {
			prio[fmt.Sprintf("n%d", i)] = map[string]string{"NodePriority": fmt.Sprint(rapid.IntRange(0, 3).Draw(t, "priority"))}
		}
		cfg := cluster.Config{
			Seed: rapid.Uint64().Draw(t, "seed"), Nodes: nodes, Timeline: steps, NodeOptions: prio,
			Link: network.LinkProfile{Latency: time.Millisecond, Jitter: 500 * time.Microsecond,
				Loss: rapid.SampledFrom([]float64{0, 0.01, 0.05}).Draw(t, "loss")},
		}
		c, err := cluster.New(withDuration(cfg, at))
		if err != nil {
			t.Fatal(err)
		}
		bound := c.Checker().LivenessBound
		cfg.Duration = at + bound + 5*time.Second
		c, _ = cluster.New(cfg)
		r := c.Run()
		if err := c.Err(); err != nil {
			t.Fatalf("the drawn schedule could not be played: %v", err)
		}
		if len(r.Violations) > 0 || r.LeaderAtEnd == "" {
			t.Fatalf("violations %v, leader at end %q\nreplay this schedule:\n%s",
				r.Violations, r.LeaderAtEnd, asScenario("property-elections", cfg))
		}
	})
}

func withDuration(cfg cluster.Config, d time.Duration) cluster.Config {
	cfg.Duration = d
	return cfg
}

// A state machine over a running three- to five-node cluster: every action
// is applied live, and the invariants are checked after each step.
func TestClusterStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := rapid.IntRange(3, 5).Draw(t, "nodes")
		cfg := cluster.Config{Seed: rapid.Uint64().Draw(t, "seed"), Nodes: nodes, Duration: time.Hour,
			Link: network.LinkProfile{Latency: time.Millisecond, Jitter: 300 * time.Microsecond}}
		c, err := cluster.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		var applied []scenario.Step
		now := func() time.Duration { return c.W.Now() }
		step := func(st scenario.Step) {
			st.At = scenario.Duration(now())
			applied = append(applied, st)
			c.Apply(st)
			if err := c.Err(); err != nil {
				t.Fatalf("the drawn step could not be played: %v", err)
			}
			c.RunUntil(now() + time.Duration(rapid.IntRange(0, 6000).Draw(t, "waitMs"))*time.Millisecond)
			if v := c.Violations(); len(v) > 0 {
				cfg.Timeline, cfg.Duration = applied, now()+time.Second
				t.Fatalf("after %s: %v\nreplay:\n%s", st.Do, v, asScenario("state-machine", cfg))
			}
		}
		c.RunUntil(5 * time.Second)
		t.Repeat(map[string]func(*rapid.T){
			"fault": func(t *rapid.T) { step(drawStep(t, nodes, now())) },
			"": func(t *rapid.T) {
				if v := c.Violations(); len(v) > 0 {
					t.Fatalf("invariant broken: %v", v)
				}
			},
		})
		for _, st := range recovery(nodes, now()) {
			step(st)
		}
		c.RunUntil(now() + c.Checker().LivenessBound + 5*time.Second)
		if r := c.Report(); r.LeaderAtEnd == "" || len(r.Violations) > 0 {
			cfg.Timeline, cfg.Duration = applied, now()
			t.Fatalf("after recovery: leader %q, violations %v\nreplay:\n%s", r.LeaderAtEnd, r.Violations,
				asScenario("state-machine", cfg))
		}
	})
}
