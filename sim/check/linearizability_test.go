package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func appendOp(client int, stream string, expected int64, call, ret int, outcome Outcome, revision int64, ids ...[16]byte) Op {
	return Op{Client: client, Kind: OpAppend, Stream: stream, Expected: expected, IDs: ids, Call: ms(call), Return: ms(ret), Outcome: outcome, Revision: revision}
}

func readOp(client int, stream string, call, ret int, last int64, evs ...ReadEvent) Op {
	outcome := OK
	if last < 0 {
		outcome = NotFound
	}
	return Op{Client: client, Kind: OpRead, Stream: stream, Call: ms(call), Return: ms(ret), Outcome: outcome, Revision: last, Events: evs}
}

func mustBe(t *testing.T, ops []Op, model Model, want string) LinearizabilityResult {
	t.Helper()
	res := CheckLinearizable(ops, LinearizabilityOptions{Model: model})
	if res.Result != want {
		t.Fatalf("%s model: result %q, want %q (%+v)", model, res.Result, want, res)
	}
	return res
}

func TestLegalHistoryIsLinearizable(t *testing.T) {
	a, b, c := id(1), id(2), id(3)
	ops := []Op{
		appendOp(1, "s", ExpectNoStream, 0, 10, OK, 1, a, b),
		// Concurrent with the first: it may go first or second; it went
		// second (revision 2).
		appendOp(2, "s", ExpectAny, 5, 20, OK, 2, c),
		appendOp(3, "s", 1, 25, 30, WrongVersion, 2, id(4)),
		readOp(1, "s", 31, 35, 2, ReadEvent{2, c}, ReadEvent{1, b}),
		readOp(2, "t", 0, 1, -1),
		// Unknown: never heard of again; it may or may not have happened.
		{Client: 4, Kind: OpAppend, Stream: "s", Expected: 2, IDs: [][16]byte{id(5)}, Call: ms(40), Outcome: Unknown},
		appendOp(1, "s", ExpectStreamExists, 50, 60, OK, 4, id(6)),
		readOp(2, "s", 61, 62, 4, ReadEvent{4, id(6)}, ReadEvent{3, id(5)}),
		// Failed operations did nothing and are left out.
		appendOp(5, "s", ExpectAny, 1, 2, Failed, 0, id(7)),
	}
	res := mustBe(t, ops, Strict, "ok")
	if res.Operations != 8 || res.Pending != 1 || res.Streams != 2 || !res.OK() {
		t.Fatalf("result %+v: want 8 operations, 1 pending, 2 streams", res)
	}
	mustBe(t, ops, WriterView, "ok")
}

func TestStaleLeaderReadIsNotLinearizable(t *testing.T) {
	ops := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		// Began after the append was acknowledged, yet does not see it.
		readOp(2, "s", 11, 12, -1),
	}
	mustBe(t, ops, Strict, "illegal")
	mustBe(t, ops, WriterView, "illegal")
}

func TestLostAcknowledgedAppendIsNotLinearizable(t *testing.T) {
	ops := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		appendOp(1, "s", ExpectAny, 11, 20, OK, 1, id(2)),
		// A later append lands where the second was acknowledged.
		appendOp(2, "s", ExpectAny, 21, 30, OK, 1, id(3)),
	}
	mustBe(t, ops, Strict, "illegal")
}

func TestWrongReadContentIsNotLinearizable(t *testing.T) {
	ops := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 1, id(1), id(2)),
		readOp(2, "s", 11, 12, 1, ReadEvent{1, id(9)}),
	}
	mustBe(t, ops, Strict, "illegal")
	// Half an append visible.
	half := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 1, id(1), id(2)),
		readOp(2, "s", 2, 3, 0, ReadEvent{0, id(1)}),
	}
	mustBe(t, half, Strict, "illegal")
}

func TestExpectedRevisionMustBeExact(t *testing.T) {
	// Accepted although the stream was at revision 0, not 5.
	accepted := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		appendOp(2, "s", 5, 11, 20, OK, 1, id(2)),
	}
	mustBe(t, accepted, Strict, "illegal")
	mustBe(t, accepted, WriterView, "illegal")
	// Rejected although the stream was exactly at the expected revision,
	// and the node said so.
	rejected := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		appendOp(2, "s", 0, 11, 20, WrongVersion, 0, id(2)),
	}
	mustBe(t, rejected, Strict, "illegal")
	mustBe(t, rejected, WriterView, "illegal")
	// A rejection reporting a revision behind the committed stream.
	behind := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 1, id(1), id(2)),
		appendOp(2, "s", 5, 11, 20, WrongVersion, 0, id(3)),
	}
	mustBe(t, behind, WriterView, "illegal")
}

// A rejection decided against a proposal still in flight: the node
// reports revision 2, but the proposal has not committed when a leader
// read (after the rejection) shows revision 0. Strictly that is not
// linearizable; it is what the writer-view model allows.
func TestRejectionAgainstProposalInFlight(t *testing.T) {
	ops := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		appendOp(2, "s", ExpectAny, 11, 40, OK, 2, id(2), id(3)),
		appendOp(3, "s", 0, 12, 13, WrongVersion, 2, id(4)),
		readOp(4, "s", 14, 15, 0, ReadEvent{0, id(1)}),
	}
	mustBe(t, ops, Strict, "illegal")
	mustBe(t, ops, WriterView, "ok")
}

func TestIllegalHistoryIsVisualized(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.html")
	ops := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		readOp(2, "s", 11, 12, -1),
		appendOp(1, "other", ExpectAny, 0, 10, OK, 0, id(2)),
	}
	res := CheckLinearizable(ops, LinearizabilityOptions{Visualization: path})
	if res.Result != "illegal" || len(res.Illegal) != 1 || res.Illegal[0] != "s" {
		t.Fatalf("result %+v: want stream s illegal, alone", res)
	}
	if res.Visualization != path || res.VisualizationError != "" {
		t.Fatalf("visualization %q (error %q), want %q", res.Visualization, res.VisualizationError, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<html") {
		t.Fatalf("%s is not HTML: %.200s", path, b)
	}
}
