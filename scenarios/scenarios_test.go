// Package scenarios holds the cluster scenario files (format: see package
// sim/scenario) and the test that replays every one of them through the
// simulator and checks what each expects.
package scenarios

import (
	"fmt"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/sim/cluster"
	"github.com/annal-db/annal/sim/scenario"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// defaultSeed is the seed of a scenario that names none, as the replay
// command line shows it.
const defaultSeed = 1

// TestScenarios replays every *.yaml file of this directory, in name
// order, one subtest per file. Runs stay sequential: each is a single
// deterministic event loop, and a failure must replay identically from the
// command line.
func TestScenarios(t *testing.T) {
	paths, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no *.yaml scenario files next to scenarios_test.go; the replay test has nothing to check")
	}
	slices.Sort(paths)
	for _, path := range paths {
		t.Run(strings.TrimSuffix(path, ".yaml"), func(t *testing.T) { replay(t, path) })
	}
}

// replay runs one scenario file and reports every expectation it fails.
func replay(t *testing.T, path string) {
	s, err := scenario.Load(path)
	if err != nil {
		t.Fatalf("cannot load scenario: %v", err)
	}
	if want := strings.TrimSuffix(path, ".yaml"); s.Name != want {
		t.Errorf("%s: name %q differs from the file name; name it %q so failures point at the file", path, s.Name, want)
	}
	if strings.TrimSpace(s.Description) == "" {
		t.Errorf("%s: no description; say what the scenario demonstrates and why its expectations hold", path)
	}
	if len(s.Expect.MustHappen) == 0 {
		t.Errorf("%s: expect has no must_happen mark; add one that proves the run reached the state the scenario is about", path)
	}
	seed := uint64(defaultSeed)
	if s.Seed != nil {
		seed = *s.Seed
	}
	rep, err := run(s, seed)
	if err != nil {
		t.Fatalf("scenario %q (seed %d) did not run: %v\nreplay: %s", s.Name, seed, err, replayCommand(path, seed))
	}
	failed := rep.Check(s.Expect)
	if s.Expect.Violations == nil && len(rep.Violations) > 0 {
		// A broken invariant fails any scenario that does not say how
		// many it expects.
		failed = append(failed, fmt.Sprintf("violations: %d, and the scenario does not expect any", len(rep.Violations)))
	}
	if len(failed) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %q (seed %d) failed %d expectation(s):", s.Name, seed, len(failed))
	for _, f := range failed {
		fmt.Fprintf(&b, "\n  - %s", f)
	}
	if len(rep.Violations) > 0 {
		fmt.Fprintf(&b, "\ninvariant violations (%d):", len(rep.Violations))
		for _, v := range rep.Violations {
			fmt.Fprintf(&b, "\n  - %s", v)
		}
	}
	fmt.Fprintf(&b, "\nrun: %d elections, %d leader changes, leader at end %q, %d true and %d false failure detections",
		rep.Elections, rep.LeaderChanges, rep.LeaderAtEnd, rep.TrueDetections, rep.FalseDetections)
	fmt.Fprintf(&b, "\nreplay: %s", replayCommand(path, seed))
	t.Error(b.String())
}

// run builds and runs the cluster, turning a panic in the simulator or the
// nodes into an error so one broken scenario does not hide the others.
func run(s *scenario.Scenario, seed uint64) (rep *cluster.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	c, err := cluster.New(cluster.FromScenario(s, seed))
	if err != nil {
		return nil, err
	}
	rep = c.Run()
	return rep, c.Err()
}

func replayCommand(path string, seed uint64) string {
	return fmt.Sprintf("go run ./cmd/annal sim run --scenario scenarios/%s --seed %d --trace /tmp/%s.trace",
		path, seed, strings.TrimSuffix(path, ".yaml"))
}
