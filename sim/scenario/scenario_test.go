package scenario

import (
	"strings"
	"testing"
	"time"

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

// A step timed after the run's end, or before its start, would silently
// never be played: the scenario says something it does not test.
func TestStepsOutsideTheRunAreRejected(t *testing.T) {
	_, err := Parse([]byte(`
name: late
nodes: 3
duration: 10s
timeline:
  - {at: -1s, do: kill, target: n1}
  - {at: 10s, do: restart, target: n1}
  - {at: 12s, do: kill, target: n2}
`))
	if err == nil {
		t.Fatal("steps outside the run were accepted")
	}
	for _, want := range []string{"timeline[0] (kill at -1s): at: is negative", "timeline[2] (kill at 12s): comes after the run ends at 10s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "timeline[1]") {
		t.Errorf("a step at the run's last instant is played, but was refused:\n%v", err)
	}
}

func TestUnknownFieldsAreRejected(t *testing.T) {
	if _, err := Parse([]byte("name: x\nnodes: 1\nduration: 1s\nnodez: 3\n")); err == nil || !strings.Contains(err.Error(), "nodez") {
		t.Fatalf("err %v, want one naming the unknown field", err)
	}
}

func TestParseReadsSubscribersAndWorkloadActions(t *testing.T) {
	s, err := Parse([]byte(`
name: x
nodes: 3
duration: 1m
clients: 2
deletes: 0.1
metadata: 0.2
disk: {crash_survive: 0, crash_torn: 1, sync_latency: 5ms}
subscribers:
  - {stream: $all, node: n1}
  - {stream: stream-1, slow: 20ms, credits: 1, require_leader: true}
timeline:
  - {at: 1s, do: rate, value: "500"}
  - {at: 2s, do: pin, target: leader, with: [c1, c2]}
  - {at: 3s, do: slow, target: s2, value: 0s}
  - {at: 4s, do: unpin, with: [c2]}
expect:
  caught_up_at_end: true
  subscribers_caught_up_at_end: true
  min_appends_acknowledged: 10
  min_subscription_deliveries: 20
  must_happen: [{event: fell-behind, client: s2, node: n1}]
`))
	if err != nil {
		t.Fatal(err)
	}
	sub := s.Subscribers[1]
	if len(s.Subscribers) != 2 || s.Subscribers[0].Node != "n1" || sub.Stream != "stream-1" || sub.Slow.D() != 20*time.Millisecond ||
		sub.Credits != 1 || !sub.RequireLeader {
		t.Fatalf("subscribers parsed as %+v", s.Subscribers)
	}
	if d := s.Disk; *d.CrashSurvive != 0 || *d.CrashTorn != 1 || d.CrashZeroed != nil || d.SyncLatency.D() != 5*time.Millisecond {
		t.Fatalf("disk parsed as %+v", d)
	}
	e := s.Expect
	if !e.CaughtUpAtEnd || !e.SubscribersCaughtUpAtEnd || *e.MinAcknowledged != 10 || *e.MinSubscriptionDeliveries != 20 ||
		e.MustHappen[0].Client != "s2" || s.Timeline[1].With[1] != "c2" || s.Deletes != 0.1 || s.Metadata != 0.2 {
		t.Fatalf("parsed %+v", s)
	}
}

func TestValidationOfSubscribersAndWorkloadActions(t *testing.T) {
	_, err := Parse([]byte(`
name: bad
nodes: 3
duration: 1m
clients: 2
deletes: 1.5
metadata: -1
apply_step_bytes: -5
disk: {crash_survive: 0.8, crash_torn: 0.5}
subscribers:
  - {node: n1}
  - {stream: a, node: n7}
  - {stream: b, credits: -1}
timeline:
  - {at: 1s, do: rate, value: fast}
  - {at: 2s, do: pin, target: n1, with: [c3]}
  - {at: 3s, do: unpin}
  - {at: 4s, do: slow, target: s9, value: 1ms}
  - {at: 5s, do: slow, target: s1, value: soon}
`))
	if err == nil {
		t.Fatal("a scenario full of mistakes was accepted")
	}
	for _, want := range []string{"must add up to at most 1", "deletes: 1.5 is outside [0, 1]", "metadata: -1 is outside [0, 1]", "apply_step_bytes: -5 is negative", "subscribers[0] (s1): no stream", `node "n7" is not a node`,
		"credits -1 must not be negative", `value "fast" is not a positive rate`, `with "c3" is not a client (c1..c2)`,
		"unpin at 3s): needs with:", `target "s9" is not a subscriber (s1..s3)`, `value "soon" is not a duration`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := Parse([]byte("name: x\nnodes: 1\nduration: 1m\ntimeline: [{at: 1s, do: rate, value: \"10\"}]\n")); err == nil ||
		!strings.Contains(err.Error(), "no clients whose rate could change") {
		t.Fatalf("err %v: want a rate change without clients refused", err)
	}
}

func TestDiskActionsParseAndValidate(t *testing.T) {
	s, err := Parse([]byte(`
name: x
nodes: 3
duration: 1m
timeline:
  - {at: 1s, do: disk-full, target: leader}
  - {at: 2s, do: disk-free, target: n1}
  - {at: 3s, do: bitflip, target: n2, file: log}
  - {at: 4s, do: bitflip, target: n3, file: log/segment-000000, offset: 600}
  - {at: 5s, do: disk-faults, target: n1, value: "sync=1 read=0.25"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r, w, sy, err := DiskFaultRates(s.Timeline[4].Value); err != nil || r != 0.25 || w != 0 || sy != 1 {
		t.Errorf("disk-faults %q read as %v %v %v, %v", s.Timeline[4].Value, r, w, sy, err)
	}
	if st := s.Timeline[3]; st.File != "log/segment-000000" || st.Offset == nil || *st.Offset != 600 || s.Timeline[2].Offset != nil {
		t.Fatalf("bitflip steps parsed as %+v and %+v", s.Timeline[2], st)
	}
	_, err = Parse([]byte(`
name: x
nodes: 3
duration: 1m
timeline:
  - {at: 1s, do: bitflip, target: n2}
  - {at: 2s, do: kill, target: n2, file: log}
  - {at: 3s, do: bitflip, target: n2, file: log, offset: -1}
  - {at: 4s, do: disk-faults, target: n2, value: "sync=2"}
  - {at: 5s, do: disk-faults, target: n2, value: "fsync=1"}
  - {at: 6s, do: loss, value: "1"}
  - {at: 7s, do: latency, value: "slow"}
`))
	for _, want := range []string{"bitflip needs file:", "belong to bitflip only", "offset -1 is negative",
		`"sync=2" is not a rate between 0 and 1`, `"fsync=1": the rates are read, write and sync`,
		`value "1" is not a loss rate in [0, 1)`, `value "slow" is not a duration`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation error %v; want it to say %q", err, want)
		}
	}
}

func TestEventPaddingIsBounded(t *testing.T) {
	for _, c := range []struct {
		padding string
		ok      bool
	}{{"0", true}, {"120000", true}, {"262144", true}, {"262145", false}, {"-1", false}} {
		_, err := Parse([]byte("name: p\nnodes: 3\nduration: 10s\nclients: 1\nevent_padding: " + c.padding + "\n"))
		if (err == nil) != c.ok {
			t.Errorf("event_padding %s: error %v, want accepted %v", c.padding, err, c.ok)
		}
	}
}
