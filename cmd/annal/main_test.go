package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type simReport struct {
	Seed       uint64   `json:"seed"`
	Nodes      int      `json:"nodes"`
	SimSeconds float64  `json:"sim_seconds"`
	Events     uint64   `json:"events"`
	TraceHash  string   `json:"trace_hash"`
	Violations []string `json:"violations"`
}

// buildBinary compiles annal once per test run into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "annal")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func simRunProcess(t *testing.T, bin string, procs string, args ...string) simReport {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"sim", "run", "--json"}, args...)...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("annal sim run %v: %v\nstderr: %s", args, err, stderr.String())
	}
	var r simReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("report is not one JSON object: %v\n%s", err, stdout.String())
	}
	return r
}

// One seed replays one run exactly: in separate processes, and whatever
// the number of OS threads Go may use.
func TestSameSeedSameTraceAcrossProcessesAndGOMAXPROCS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	args := []string{"--seed", "7", "--nodes", "5", "--duration", "3m", "--loss", "0.02"}
	a := simRunProcess(t, bin, "1", args...)
	b := simRunProcess(t, bin, "1", args...)
	c := simRunProcess(t, bin, "2", args...)
	if a.TraceHash == "" || a.TraceHash != b.TraceHash || a.TraceHash != c.TraceHash {
		t.Fatalf("trace hashes differ: GOMAXPROCS=1 %s, again %s, GOMAXPROCS=2 %s", a.TraceHash, b.TraceHash, c.TraceHash)
	}
	if a.Events != c.Events {
		t.Fatalf("event counts differ: %d vs %d", a.Events, c.Events)
	}
	d := simRunProcess(t, bin, "2", "--seed", "8", "--nodes", "5", "--duration", "3m", "--loss", "0.02")
	if d.TraceHash == a.TraceHash {
		t.Fatalf("seeds 7 and 8 gave the same trace hash %s", a.TraceHash)
	}
	// Changing a single latency parameter changes the run.
	e := simRunProcess(t, bin, "1", append(args, "--latency", "251us")...)
	if e.TraceHash == a.TraceHash {
		t.Fatal("a different latency gave the same trace hash")
	}
}

func TestReportShapeAndExitStatus(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"sim", "run", "--seed", "3", "--nodes", "3", "--duration", "30s", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v", err)
	}
	for _, k := range []string{"seed", "nodes", "sim_seconds", "wall_seconds", "events", "trace_hash", "violations", "time_to_leader", "elections", "false_failure_detections"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if m["sim_seconds"].(float64) != 30 || m["nodes"].(float64) != 3 {
		t.Errorf("report says %v s and %v nodes, want 30 and 3", m["sim_seconds"], m["nodes"])
	}
}

// A workload with clients has subscribers by default; the report counts
// what they received, and --subscribers 0 turns them off.
func TestClientWorkloadsIncludeSubscribers(t *testing.T) {
	report := func(extra ...string) map[string]any {
		var stdout, stderr bytes.Buffer
		args := append([]string{"sim", "run", "--seed", "2", "--duration", "15s", "--clients", "2", "--json"}, extra...)
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d, stderr: %s", args, code, stderr.String())
		}
		var m map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
			t.Fatalf("stdout is not one JSON object: %v", err)
		}
		return m
	}
	m := report()
	if m["subscribers"].(float64) != 3 || m["subscriptions_started"].(float64) < 3 || m["subscription_deliveries"].(float64) < 100 {
		t.Fatalf("report: %v subscribers, %v subscriptions started, %v deliveries; want the 3 default subscribers receiving the clients' events",
			m["subscribers"], m["subscriptions_started"], m["subscription_deliveries"])
	}
	if _, ok := m["subscriptions_dropped"]; !ok {
		t.Error("report lacks subscriptions_dropped")
	}
	if m = report("--subscribers", "0"); m["subscribers"].(float64) != 0 || m["subscription_deliveries"].(float64) != 0 {
		t.Fatalf("--subscribers 0 still ran %v subscribers", m["subscribers"])
	}
	ws, _ := m["checks"].(map[string]any)["workload"].(map[string]any)
	if _, ok := ws["deletes"]; ok {
		t.Fatalf("a workload without --deletes reports deletes: %v", ws)
	}
	ws, _ = report("--deletes", "0.3", "--metadata", "0.2")["checks"].(map[string]any)["workload"].(map[string]any)
	deletes, _ := ws["deletes_acknowledged"].(float64)
	metadata, _ := ws["metadata_acknowledged"].(float64)
	if deletes < 10 || metadata < 10 {
		t.Fatalf("--deletes 0.3 --metadata 0.2: workload report %v; want deletes and metadata writes acknowledged", ws)
	}
}

func TestSeedIsDrawnAndPrintedWhenNotGiven(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"sim", "run", "--nodes", "1", "--duration", "5s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stderr.String(), "seed ") {
		t.Fatalf("stderr does not start with the drawn seed: %q", stderr.String())
	}
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "run", "--nodes", "x"},
		{"sim", "walk"},
		{"fly"},
		{"sim", "run", "--option", "NoSuchOption=1", "--duration", "1s"},
		{"sim", "run", "--subscribers", "65", "--duration", "1s"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0, want failure", args)
		} else if stderr.Len() == 0 {
			t.Errorf("%v: failed without saying why", args)
		}
	}
}

// A scenario step that cannot be played fails the run with its reason,
// and no report claims an outcome for it.
func TestAStepThatCannotBePlayedFailsTheRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "early-flip.yaml")
	if err := os.WriteFile(path, []byte("name: early-flip\nnodes: 3\nduration: 20s\ntimeline:\n  - {at: 1s, do: bitflip, target: n1, file: log}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"sim", "run", "--scenario", path, "--json"}, &stdout, &stderr); code == 0 {
		t.Fatalf("exit 0 for a step that could not be played; stdout: %s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "bitflip at 1s: n1 has no committed records to damage yet") {
		t.Errorf("stderr does not say which step failed and why: %s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("a report was printed for a run stopped by its scenario: %s", stdout.String())
	}
}
