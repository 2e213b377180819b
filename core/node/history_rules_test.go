package node

import (
	"testing"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/replication"
)

// Where a replica's history and the leader's part decides what the replica
// cuts: too late, and it keeps records the leader never had; too early, and
// it cuts (and fetches again) what they share.
func TestCommonPoint(t *testing.T) {
	epoch := func(n int32, id byte, pos int64) replication.Epoch {
		return replication.Epoch{Number: n, ID: member.ID{id}, Position: pos}
	}
	e0, e1, e2 := epoch(0, 1, 0), epoch(1, 2, 1000), epoch(2, 3, 5000)
	rival1 := epoch(1, 9, 1200) // epoch 1 of a leader whose reign the cluster forgot
	for _, c := range []struct {
		name      string
		leader    []replication.Epoch // oldest first
		leaderEnd int64
		replica   []replication.Epoch // newest first
		writer    int64
		want      int64
	}{
		{"same history, replica behind: from its end", []replication.Epoch{e0, e1}, 3000, []replication.Epoch{e1, e0}, 2500, 2500},
		{"same history, replica ahead in the leader's last epoch: from the leader's end", []replication.Epoch{e0, e1}, 3000, []replication.Epoch{e1, e0}, 3400, 3000},
		{"replica behind by a whole epoch: from its end", []replication.Epoch{e0, e1, e2}, 7000, []replication.Epoch{e1, e0}, 4000, 4000},
		{"replica went on past where the leader's next epoch starts: from that epoch", []replication.Epoch{e0, e1, e2}, 7000, []replication.Epoch{e1, e0}, 6000, 5000},
		{"replica holds a rival epoch: from where it starts", []replication.Epoch{e0, e1}, 3000, []replication.Epoch{rival1, e0}, 1500, 1000},
		{"rival epoch past the leader's next one: from the leader's", []replication.Epoch{e0, epoch(1, 2, 800)}, 3000, []replication.Epoch{rival1, e0}, 1500, 800},
		{"no epoch in common: from the start", []replication.Epoch{e1}, 3000, []replication.Epoch{rival1}, 1500, 0},
		{"a replica with no epochs: from the start", []replication.Epoch{e0, e1}, 3000, nil, 0, 0},
	} {
		if got := commonPoint(c.leader, c.leaderEnd, c.replica, c.writer); got != c.want {
			t.Errorf("%s: common point %d, want %d", c.name, got, c.want)
		}
	}
}

// A leader commits whole appends only, and nothing of an older epoch until
// its own epoch record is on a quorum.
func TestCommitPoint(t *testing.T) {
	// Appends of older epochs end at 100 and 200; this term's epoch
	// record ends at 300; its own appends end at 400 and 500.
	boundaries := []int64{100, 200, 300, 400, 500}
	for _, c := range []struct {
		name       string
		reached    int64
		wantCommit int64
		wantPassed int
	}{
		{"nothing on a quorum", 50, -1, 0},
		{"an older epoch's appends on a quorum, the epoch record not", 250, -1, 2},
		{"the epoch record on a quorum", 300, 300, 3},
		{"inside an append: its start", 450, 400, 4},
		{"everything", 900, 500, 5},
	} {
		b, passed := commitPoint(c.reached, boundaries, 300)
		if b != c.wantCommit || passed != c.wantPassed {
			t.Errorf("%s (quorum at %d): commit %d, %d boundaries passed; want %d and %d", c.name, c.reached, b, passed, c.wantCommit, c.wantPassed)
		}
	}
}
