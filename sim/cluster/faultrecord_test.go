package cluster_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/sim/cluster"
	"github.com/annal-db/annal/sim/scenario"
)

// A fault changes the world's state, and its trace record is all the trace
// holds of that change: two different faults must hash differently and read
// differently, or a replay that partitions another node, jumps a clock by
// another amount or sets another loss shares its hash with the
// original until their consequences happen to diverge, and a reader of the
// trace cannot tell which fault was played. (A pause is traced by its host,
// with its length.)
func TestFaultRecordsNameEverythingTheFaultChanged(t *testing.T) {
	step := func(do string, f func(*scenario.Step)) scenario.Step {
		st := scenario.Step{Do: do, Target: "n1"}
		if f != nil {
			f(&st)
		}
		return st
	}
	for _, c := range []struct {
		name string
		a, b scenario.Step
		want string // in the text of a's record
	}{
		{"partition peers", step("partition", func(s *scenario.Step) { s.With = []string{"n2"} }),
			step("partition", func(s *scenario.Step) { s.With = []string{"n3"} }), "with=n2"},
		{"one-way peers", step("one-way", func(s *scenario.Step) { s.With = []string{"n2"} }),
			step("one-way", func(s *scenario.Step) { s.With = []string{"n2", "n3"} }), "with=n2"},
		{"clock jump", step("clock-jump", func(s *scenario.Step) { s.By = scenario.Duration(time.Second) }),
			step("clock-jump", func(s *scenario.Step) { s.By = scenario.Duration(time.Hour) }), "by=1s"},
		{"clock drift", step("clock-drift", func(s *scenario.Step) { s.PPM = 100 }),
			step("clock-drift", func(s *scenario.Step) { s.PPM = -100 }), "ppm=100"},
		{"link loss", scenario.Step{Do: "loss", Value: "0.05"}, scenario.Step{Do: "loss", Value: "0.2"}, "value=0.05"},
	} {
		t.Run(c.name, func(t *testing.T) {
			play := func(st scenario.Step) (string, string) {
				var out bytes.Buffer
				cl, err := cluster.New(cluster.Config{Seed: 1, Nodes: 3, Duration: time.Minute, Trace: &out})
				if err != nil {
					t.Fatal(err)
				}
				cl.Apply(st)
				h := cl.W.Trace.Hash()
				if err := cl.W.Trace.Flush(); err != nil {
					t.Fatal(err)
				}
				return h, out.String()
			}
			ha, text := play(c.a)
			hb, _ := play(c.b)
			if ha == hb {
				t.Errorf("two different %s faults left the same trace hash: %q", c.a.Do, strings.TrimSpace(text))
			}
			if !strings.Contains(text, " fault ") || !strings.Contains(text, c.want) {
				t.Errorf("the fault's trace line %q does not say %s", strings.TrimSpace(text), c.want)
			}
		})
	}
}
