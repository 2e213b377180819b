package node

import (
	"strings"
	"testing"

	"github.com/annal-db/annal/core/election"
)

// proposal.chk holds the proposal number and then the promise; files from
// before promises were kept hold the number alone, and a fresh file holds
// nothing. Any other size is refused, not guessed at.
func TestElectionCheckpointFormats(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    []byte
		want election.Checkpoint
	}{
		{"fresh", nil, election.NoCheckpoint},
		{"proposal only", []byte{7, 0, 0, 0}, election.Checkpoint{Proposal: 7, Promised: -1}},
		{"proposal and promise", []byte{7, 0, 0, 0, 9, 0, 0, 0}, election.Checkpoint{Proposal: 7, Promised: 9}},
		{"no proposal yet", []byte{0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0}, election.Checkpoint{Proposal: -1, Promised: 3}},
	} {
		got, err := decodeElectionCheckpoint(tc.v)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
		if back, err := decodeElectionCheckpoint(encodeElectionCheckpoint(tc.want)); err != nil || back != tc.want {
			t.Errorf("%s: %+v written and read back is %+v, %v", tc.name, tc.want, back, err)
		}
	}
	if _, err := decodeElectionCheckpoint([]byte{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "3 bytes") {
		t.Errorf("a 3-byte checkpoint: got %v, want an error naming its size", err)
	}
}
