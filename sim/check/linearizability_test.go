package check

import (
	"os"
	"path/filepath"
	"slices"
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

func deleteOp(client int, stream string, kind OpKind, expected int64, call, ret int, outcome Outcome) Op {
	return Op{Client: client, Kind: kind, Stream: stream, Expected: expected, Call: ms(call), Return: ms(ret), Outcome: outcome, Revision: -1}
}

func deletedRead(client int, stream string, call, ret int) Op {
	return Op{Client: client, Kind: OpRead, Stream: stream, Call: ms(call), Return: ms(ret), Outcome: Deleted, Revision: -1}
}

func TestSoftDeleteAndRecreateAreLinearizable(t *testing.T) {
	ops := []Op{
		appendOp(1, "s", ExpectNoStream, 0, 10, OK, 1, id(1), id(2)),
		deleteOp(2, "s", OpDelete, 1, 11, 20, OK),
		readOp(1, "s", 21, 22, -1),
		// A soft-deleted stream does not satisfy StreamExists.
		appendOp(3, "s", ExpectStreamExists, 23, 24, Deleted, -1, id(3)),
		// NoStream recreates it; numbering goes on.
		appendOp(3, "s", ExpectNoStream, 25, 30, OK, 2, id(4)),
		// Only what was written since the delete shows.
		readOp(1, "s", 31, 32, 2, ReadEvent{2, id(4)}),
		// A delete expecting no stream wants no events at all.
		deleteOp(2, "s", OpDelete, ExpectNoStream, 33, 34, WrongVersion),
		deleteOp(2, "s", OpDelete, 2, 35, 36, OK),
		readOp(1, "s", 37, 38, -1),
	}
	ops[6].Revision = 2
	mustBe(t, ops, Strict, "ok")
	mustBe(t, ops, WriterView, "ok")
}

func TestReadsMustHonourSoftDeletes(t *testing.T) {
	base := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		deleteOp(2, "s", OpDelete, ExpectAny, 11, 20, OK),
	}
	// The deleted event is still served.
	stale := append(slices.Clone(base), readOp(1, "s", 21, 22, 0, ReadEvent{0, id(1)}))
	mustBe(t, stale, Strict, "illegal")
	// After the recreate, the hidden event shows again.
	hidden := append(slices.Clone(base),
		appendOp(1, "s", ExpectAny, 21, 30, OK, 1, id(2)),
		readOp(2, "s", 31, 32, 1, ReadEvent{1, id(2)}, ReadEvent{0, id(1)}))
	mustBe(t, hidden, Strict, "illegal")
	// A recreate numbered from the start again.
	renumbered := append(slices.Clone(base), appendOp(1, "s", ExpectAny, 21, 30, OK, 0, id(2)))
	mustBe(t, renumbered, Strict, "illegal")
	// "Stream deleted" for a stream that is not.
	wrong := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		appendOp(2, "s", ExpectStreamExists, 11, 12, Deleted, -1, id(2)),
	}
	mustBe(t, wrong, Strict, "illegal")
}

func TestTombstoneEndsTheStream(t *testing.T) {
	base := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		deleteOp(2, "s", OpTombstone, 0, 11, 20, OK),
	}
	legal := append(slices.Clone(base),
		appendOp(1, "s", ExpectAny, 21, 22, Deleted, -1, id(2)),
		deletedRead(3, "s", 23, 24),
		deleteOp(2, "s", OpDelete, ExpectAny, 25, 26, Deleted),
		deleteOp(2, "s", OpTombstone, ExpectAny, 27, 28, Deleted))
	mustBe(t, legal, Strict, "ok")
	for name, after := range map[string]Op{
		"append written":  appendOp(1, "s", ExpectAny, 21, 22, OK, 1, id(2)),
		"read served":     readOp(3, "s", 21, 22, 0, ReadEvent{0, id(1)}),
		"read not found":  readOp(3, "s", 21, 22, -1),
		"wrong version":   {Client: 1, Kind: OpAppend, Stream: "s", Expected: 5, IDs: [][16]byte{id(2)}, Call: ms(21), Return: ms(22), Outcome: WrongVersion, Revision: 0},
		"tombstone twice": deleteOp(2, "s", OpTombstone, ExpectAny, 21, 22, OK),
	} {
		t.Run(name, func(t *testing.T) { mustBe(t, append(slices.Clone(base), after), Strict, "illegal") })
	}
	// A tombstone with a wrong expectation is refused and ends nothing.
	refused := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		deleteOp(2, "s", OpTombstone, 5, 11, 20, WrongVersion),
		appendOp(1, "s", ExpectAny, 21, 22, OK, 1, id(2)),
	}
	refused[1].Revision = 0
	mustBe(t, refused, Strict, "ok")
}

func TestAnUnknownTombstoneMayOrMayNotHaveHappened(t *testing.T) {
	unknown := deleteOp(2, "s", OpTombstone, ExpectAny, 11, 0, Unknown)
	happened := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		unknown,
		appendOp(1, "s", ExpectAny, 30, 31, Deleted, -1, id(2)),
	}
	mustBe(t, happened, Strict, "ok")
	notYet := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 0, id(1)),
		unknown,
		appendOp(1, "s", ExpectAny, 30, 31, OK, 1, id(2)),
	}
	mustBe(t, notYet, Strict, "ok")
	// Once a write was refused as deleted, no later one can succeed.
	both := append(slices.Clone(happened), appendOp(3, "s", ExpectAny, 40, 41, OK, 1, id(3)))
	mustBe(t, both, Strict, "illegal")
}

func metadataOp(client int, stream string, maxCount int64, call, ret int, outcome Outcome) Op {
	return Op{Client: client, Kind: OpMetadata, Stream: stream, Expected: ExpectAny, MaxCount: maxCount, Call: ms(call), Return: ms(ret), Outcome: outcome, Revision: -1}
}

func TestMetadataLimitsWhatReadsShow(t *testing.T) {
	base := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 2, id(1), id(2), id(3)),
		metadataOp(2, "s", 1, 11, 20, OK),
	}
	legal := append(slices.Clone(base),
		readOp(1, "s", 21, 22, 2, ReadEvent{2, id(3)}),
		// Metadata replaced: every event shows again.
		metadataOp(2, "s", 0, 23, 24, OK),
		readOp(1, "s", 25, 26, 2, ReadEvent{2, id(3)}, ReadEvent{1, id(2)}, ReadEvent{0, id(1)}))
	mustBe(t, legal, Strict, "ok")
	tooMany := append(slices.Clone(base), readOp(1, "s", 21, 22, 2, ReadEvent{2, id(3)}, ReadEvent{1, id(2)}))
	mustBe(t, tooMany, Strict, "illegal")
	// New metadata on a soft-deleted stream recreates it, showing only
	// what comes after.
	recreated := []Op{
		appendOp(1, "s", ExpectAny, 0, 10, OK, 1, id(1), id(2)),
		deleteOp(2, "s", OpDelete, ExpectAny, 11, 20, OK),
		metadataOp(2, "s", 5, 21, 30, OK),
		readOp(1, "s", 31, 32, 1),
		appendOp(1, "s", ExpectStreamExists, 33, 40, OK, 2, id(3)),
		readOp(1, "s", 41, 42, 2, ReadEvent{2, id(3)}),
	}
	recreated[3].Outcome = OK
	mustBe(t, recreated, Strict, "ok")
	// A soft delete's metadata is only $tb: the $maxCount is gone once
	// the stream is recreated.
	forgotten := append(slices.Clone(base),
		deleteOp(2, "s", OpDelete, ExpectAny, 21, 22, OK),
		appendOp(1, "s", ExpectAny, 23, 24, OK, 4, id(4), id(5)),
		readOp(1, "s", 25, 26, 4, ReadEvent{4, id(5)}, ReadEvent{3, id(4)}))
	mustBe(t, forgotten, Strict, "ok")
	// Metadata of a tombstoned stream cannot be written.
	dead := []Op{
		deleteOp(2, "s", OpTombstone, ExpectAny, 0, 10, OK),
		metadataOp(1, "s", 3, 11, 12, OK),
	}
	mustBe(t, dead, Strict, "illegal")
	dead[1].Outcome = Deleted
	mustBe(t, dead, Strict, "ok")
}
