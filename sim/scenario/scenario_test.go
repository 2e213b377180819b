package scenario

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseReadsEveryField(t *testing.T) {
	s, err := Parse([]byte(`
name: x
nodes: 3
duration: 1m
seed: 4
network: {latency: 2ms, jitter: 1ms, loss: 0.01}
discovery: dns
disk: {sync: 0.001}
options: {GossipIntervalMs: "1000"}
node_options: {n2: {NodePriority: "3"}}
timeline:
  - {at: 1s, do: kill, target: leader, as: old}
  - {at: 2s, do: restart, target: old}
expect: {violations: 0, leader_at_end: true, must_happen: [{event: leader-change, after: 1s}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if *s.Seed != 4 || s.Network.Latency.D().Milliseconds() != 2 || s.Disk.Sync != 0.001 || s.Discovery != "dns" ||
		len(s.Timeline) != 2 || s.Timeline[1].Target != "old" || s.Expect.MustHappen[0].Event != "leader-change" {
		t.Fatalf("parsed %+v", s)
	}
}

func TestValidationNamesEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`
name: bad
nodes: 0
duration: 0s
network: {loss: 1.5}
disk: {read: -1}
discovery: carrier-pigeon
timeline:
  - {at: 2s, do: explode, target: n1}
  - {at: 1s, do: kill, target: nobody}
  - {at: 3s, do: partition, target: n1}
  - {at: 4s, do: pause, target: n1}
`))
	if err == nil {
		t.Fatal("a scenario full of mistakes was accepted")
	}
	for _, want := range []string{"nodes: 0", "duration", "network.loss", "disk.read", "discovery", "unknown action",
		"time order", `target "nobody"`, "needs with", "pause needs for"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestUnknownFieldsAreRejected(t *testing.T) {
	if _, err := Parse([]byte("name: x\nnodes: 1\nduration: 1s\nnodez: 3\n")); err == nil || !strings.Contains(err.Error(), "nodez") {
		t.Fatalf("err %v, want one naming the unknown field", err)
	}
}
