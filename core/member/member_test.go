package member

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func info(host string, id byte, epoch int32, writer int64, ts time.Duration) Info {
	m := Info{TimeStamp: t0.Add(ts), State: Follower, IsAlive: true, EpochNumber: epoch, WriterCheckpoint: writer}
	m.HTTPEndPoint.Host, m.HTTPEndPoint.Port = host, 2113
	m.InstanceID[0] = id
	return m
}

func TestMergeRules(t *testing.T) {
	self := info("10.0.0.1", 1, 3, 100, 0)
	a := info("10.0.0.2", 2, 3, 100, 0)
	b := info("10.0.0.3", 3, 3, 100, 0)
	mine := []Info{self, a, b}

	// The sender's record about itself is taken as it is.
	sentA := a
	sentA.State = Leader
	sentA.Seq = 1
	sentA.TimeStamp = t0.Add(time.Second)
	// A third party's record about b wins only if more up to date.
	staleB := b
	staleB.WriterCheckpoint = 50
	staleB.IsAlive = false
	// A record about me is ignored.
	fakeSelf := self
	fakeSelf.IsAlive = false
	r := Merge(MergeInput{
		Mine: mine, Self: &self, Received: []Info{fakeSelf, sentA, staleB}, Sender: a.HTTPEndPoint,
		Now: t0, AllowedDifference: time.Minute, RemovalPeriod: 30 * time.Minute, Prune: true,
	})
	got := map[string]Info{}
	for _, m := range r.View {
		got[m.HTTPEndPoint.Host] = m
	}
	if !got["10.0.0.1"].IsAlive {
		t.Fatal("a third party's record about me replaced mine")
	}
	if got["10.0.0.2"].State != Leader {
		t.Fatal("sender's own record not taken as is")
	}
	if !got["10.0.0.3"].IsAlive || got["10.0.0.3"].WriterCheckpoint != 100 {
		t.Fatal("a less up-to-date third-party record replaced mine")
	}
	if !r.Changed {
		t.Fatal("state change of the sender not reported as a change")
	}
	if r.Skew != 0 {
		t.Fatalf("skew %v reported within the allowed difference", r.Skew)
	}

	// Newer epoch wins; for the followed leader, liveness and state stay mine.
	newerB := b
	newerB.EpochNumber = 4
	newerB.Seq = b.Seq + 1
	newerB.IsAlive = false
	newerB.State = Unknown
	r = Merge(MergeInput{
		Mine: mine, Self: &self, Received: []Info{newerB}, Sender: a.HTTPEndPoint, Leader: b.HTTPEndPoint,
		Now: t0, AllowedDifference: time.Minute, RemovalPeriod: 30 * time.Minute,
	})
	i := Find(r.View, b.HTTPEndPoint)
	if r.View[i].EpochNumber != 4 || !r.View[i].IsAlive || r.View[i].State != Follower {
		t.Fatalf("followed leader's record: got epoch %d alive %v state %v; want epoch 4, my own liveness and state",
			r.View[i].EpochNumber, r.View[i].IsAlive, r.View[i].State)
	}
}

func TestMergeDetectsSkewAndPrunes(t *testing.T) {
	self := info("10.0.0.1", 1, 0, 0, 0)
	peer := info("10.0.0.2", 2, 0, 0, -2*time.Minute)
	dead := info("10.0.0.3", 3, 0, 0, -31*time.Minute)
	dead.IsAlive = false
	r := Merge(MergeInput{
		Mine: []Info{self, dead}, Self: &self, Received: []Info{peer}, Sender: peer.HTTPEndPoint,
		Now: t0, AllowedDifference: time.Minute, RemovalPeriod: 30 * time.Minute, Prune: true,
	})
	if r.Skew != 2*time.Minute {
		t.Fatalf("skew %v, want 2m", r.Skew)
	}
	if Find(r.View, dead.HTTPEndPoint) >= 0 {
		t.Fatal("dead member older than the removal period was kept")
	}
	r = Merge(MergeInput{
		Mine: []Info{self, dead}, Self: &self, Received: nil,
		Now: t0, AllowedDifference: time.Minute, RemovalPeriod: 30 * time.Minute, Prune: false,
	})
	if Find(r.View, dead.HTTPEndPoint) < 0 {
		t.Fatal("pruned while pruning is off")
	}
}

// A late delivery of the sender's old record does not undo newer news
// about it; a new incarnation (another instance id) always counts.
func TestMergeIgnoresStaleSenderRecords(t *testing.T) {
	self := info("10.0.0.1", 1, 0, 0, 0)
	peer := info("10.0.0.2", 2, 1, 10, time.Minute)
	peer.State = Leader
	peer.Seq = 7
	old := peer
	old.State = Unknown
	old.Seq = 3
	old.TimeStamp = t0.Add(time.Hour) // a stepped clock does not make it newer
	r := Merge(MergeInput{Mine: []Info{self, peer}, Self: &self, Received: []Info{old}, Sender: peer.HTTPEndPoint,
		Now: t0.Add(time.Minute), AllowedDifference: time.Hour, RemovalPeriod: time.Hour})
	if got := r.View[Find(r.View, peer.HTTPEndPoint)].State; got != Leader {
		t.Fatalf("a delayed old record changed the sender's state to %v", got)
	}
	restarted := old
	restarted.InstanceID[0] = 9
	r = Merge(MergeInput{Mine: []Info{self, peer}, Self: &self, Received: []Info{restarted}, Sender: peer.HTTPEndPoint,
		Now: t0.Add(time.Minute), AllowedDifference: time.Hour, RemovalPeriod: time.Hour})
	if got := r.View[Find(r.View, peer.HTTPEndPoint)]; got.InstanceID != restarted.InstanceID {
		t.Fatal("a restarted sender's record (new instance id) was not taken")
	}
}

func TestSortOrderIsDescendingByPortThenHost(t *testing.T) {
	v := []Info{info("10.0.0.1", 1, 0, 0, 0), info("10.0.0.3", 3, 0, 0, 0), info("10.0.0.2", 2, 0, 0, 0)}
	v[0].HTTPEndPoint.Port = 2114
	Sort(v)
	want := []string{"10.0.0.1", "10.0.0.3", "10.0.0.2"}
	for i, w := range want {
		if v[i].HTTPEndPoint.Host != w {
			t.Fatalf("position %d: %s, want %s", i, v[i].HTTPEndPoint.Host, w)
		}
	}
}

func TestIDString(t *testing.T) {
	id := ID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}
	if got := id.String(); got != "12345678-9abc-def0-0102-030405060708" {
		t.Fatal(got)
	}
}

// A seed's placeholder (no instance id) never replaces what a member said
// of itself, even when its timestamp is later and the logs look alike
// (before the first election every record has epoch -1 and writer 0).
func TestAPlaceholderNeverReplacesARealRecord(t *testing.T) {
	self := info("10.0.0.1", 1, -1, 0, 0)
	x := info("10.0.0.2", 2, -1, 0, 0)
	x.Seq = 40
	c := info("10.0.0.3", 3, -1, 0, time.Second)
	placeholder := Info{State: Manager, IsAlive: true, HTTPEndPoint: x.HTTPEndPoint,
		TimeStamp: t0.Add(time.Second), EpochNumber: -1, EpochPosition: -1}
	r := Merge(MergeInput{Mine: []Info{self, x}, Self: &self, Received: []Info{c, placeholder}, Sender: c.HTTPEndPoint,
		Now: t0.Add(time.Second), AllowedDifference: time.Minute, RemovalPeriod: 30 * time.Minute})
	if got := r.View[Find(r.View, x.HTTPEndPoint)]; got.InstanceID != x.InstanceID {
		t.Fatalf("the member's own record was replaced by a placeholder: %v %v", got.InstanceID, got.State)
	}
}

// Two records of one instance are ordered by its sequence: a third
// party's older copy (a longer log, since cut by a new leader) does not
// replace the member's newer record.
func TestAnOlderRecordOfTheSameInstanceLoses(t *testing.T) {
	self := info("10.0.0.1", 1, 5, 900, 0)
	newer := info("10.0.0.2", 2, 5, 900, 2*time.Second)
	newer.State, newer.Seq = PreReplica, 20
	older := info("10.0.0.2", 2, 5, 1000, time.Second)
	older.State, older.Seq = Leader, 10
	c := info("10.0.0.3", 3, 5, 900, 2*time.Second)
	r := Merge(MergeInput{Mine: []Info{self, newer}, Self: &self, Received: []Info{c, older}, Sender: c.HTTPEndPoint,
		Now: t0.Add(2 * time.Second), AllowedDifference: time.Minute, RemovalPeriod: 30 * time.Minute})
	if got := r.View[Find(r.View, newer.HTTPEndPoint)]; got.Seq != 20 {
		t.Fatalf("the record of sequence %d (%v) replaced the newer one of sequence 20", got.Seq, got.State)
	}
}
