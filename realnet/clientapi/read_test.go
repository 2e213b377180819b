package clientapi

import (
	"context"
	"encoding/binary"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// revisions lists the stream revisions of the event messages, and fails
// on any other message.
func revisions(t *testing.T, msgs []*pb.ReadResp) []int64 {
	t.Helper()
	var out []int64
	for i, m := range msgs {
		ev := m.GetEvent()
		if ev == nil {
			t.Fatalf("message %d is %T, want only events in a finite read", i, m.GetContent())
		}
		out = append(out, int64(ev.GetEvent().GetStreamRevision()))
	}
	return out
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadStreamReturnsEveryFieldTheClientsNeed(t *testing.T) {
	n := newFakeNode()
	n.seed("orders", "Created", "Paid", "Shipped")
	c := serve(t, n, Options{})

	msgs, md, err := readToEnd(t, c, readStreamReq("orders", fromStart, false, 100, false))
	wantStatus(t, "read", md, err, codes.OK)
	if got := revisions(t, msgs); !equalInts(got, []int64{0, 1, 2}) {
		t.Fatalf("revisions %v, want [0 1 2]", got)
	}
	n.mu.Lock()
	want := n.streams["orders"].events
	n.mu.Unlock()
	for i, m := range msgs {
		ev := m.GetEvent()
		rec := ev.GetEvent()
		w := want[i]
		if got := rec.GetId().GetString_(); got != member.ID(w.ID).String() {
			t.Errorf("event %d id %q, want string form %q", i, got, member.ID(w.ID).String())
		}
		if string(rec.GetStreamIdentifier().GetStreamName()) != "orders" {
			t.Errorf("event %d stream %q, want orders", i, rec.GetStreamIdentifier().GetStreamName())
		}
		if rec.GetCommitPosition() != uint64(w.Position) || rec.GetPreparePosition() != uint64(w.Position) || ev.GetCommitPosition() != uint64(w.Position) {
			t.Errorf("event %d positions commit %d prepare %d read-event %d, want all %d", i, rec.GetCommitPosition(), rec.GetPreparePosition(), ev.GetCommitPosition(), w.Position)
		}
		ct := "application/octet-stream"
		if w.IsJSON {
			ct = "application/json"
		}
		md := rec.GetMetadata()
		if md["type"] != w.Type || md["content-type"] != ct || md["created"] != strconv.FormatInt(w.Created, 10) || len(md) != 3 {
			t.Errorf("event %d metadata %v, want type %q content-type %q created %d", i, md, w.Type, ct, w.Created)
		}
		if string(rec.GetData()) != string(w.Data) || string(rec.GetCustomMetadata()) != string(w.Metadata) {
			t.Errorf("event %d data %q custom %q, want %q %q", i, rec.GetData(), rec.GetCustomMetadata(), w.Data, w.Metadata)
		}
		if ev.GetLink() != nil {
			t.Errorf("event %d has a link; the node resolves none", i)
		}
	}
}

func TestReadStreamDirectionsAndStarts(t *testing.T) {
	n := newFakeNode()
	n.seed("s", "a", "b", "c", "d", "e", "f")
	c := serve(t, n, Options{})
	cases := []struct {
		name      string
		from      readFrom
		backwards bool
		count     uint64
		want      []int64
	}{
		{"forwards from start", fromStart, false, 100, []int64{0, 1, 2, 3, 4, 5}},
		{"forwards from revision", fromAt(3), false, 2, []int64{3, 4}},
		{"forwards from end", fromEnd, false, 10, nil},
		{"backwards from end", fromEnd, true, 3, []int64{5, 4, 3}},
		{"backwards from revision", fromAt(2), true, 10, []int64{2, 1, 0}},
		{"backwards from start", fromStart, true, 10, []int64{0}},
		{"revision beyond int64", fromAt(1 << 63), true, 1, []int64{5}},
		{"count zero", fromStart, false, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs, md, err := readToEnd(t, c, readStreamReq("s", tc.from, tc.backwards, tc.count, false))
			wantStatus(t, tc.name, md, err, codes.OK)
			if got := revisions(t, msgs); !equalInts(got, tc.want) {
				t.Fatalf("revisions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadStreamPagesUntilCountOrEnd(t *testing.T) {
	n := newFakeNode()
	n.pageLimit = 3 // the node answers shorter pages than asked
	var types []string
	for range 20 {
		types = append(types, "t")
	}
	n.seed("big", types...)
	c := serve(t, n, Options{ReadPageSize: 4})

	msgs, md, err := readToEnd(t, c, readStreamReq("big", fromAt(2), false, 10, false))
	wantStatus(t, "paged read", md, err, codes.OK)
	if got := revisions(t, msgs); !equalInts(got, []int64{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("revisions %v, want 2..11", got)
	}
	n.mu.Lock()
	reads := n.streamReads
	n.mu.Unlock()
	next := int64(2)
	left := uint64(10)
	for i, r := range reads {
		if r.Count > 4 || r.Count != min(left, 4) {
			t.Errorf("page %d asked for %d events, want min(remaining %d, page size 4)", i, r.Count, left)
		}
		if r.From != next || r.FromEnd {
			t.Errorf("page %d started at %d (fromEnd %v), want %d where the previous page ended", i, r.From, r.FromEnd, next)
		}
		next += 3
		left -= min(left, 3)
	}
	if len(reads) != 4 {
		t.Fatalf("%d pages for 10 events at 3 a page, want 4", len(reads))
	}

	// Backwards to the start: it ends at End, not at the count.
	msgs, md, err = readToEnd(t, c, readStreamReq("big", fromEnd, true, 1000, false))
	wantStatus(t, "backwards paged read", md, err, codes.OK)
	if got := revisions(t, msgs); len(got) != 20 || got[0] != 19 || got[19] != 0 {
		t.Fatalf("backwards read gave %v, want 19 down to 0", got)
	}
}

func TestReadUUIDForms(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{})
	ctx := testContext(t)
	id1, id2 := idOf(1), idOf(100)
	// Ids arrive in either form.
	_, md, err := appendCall(ctx, t, c, []*pb.AppendReq{
		appendOptions("ids", "any"),
		proposed(id1, true, "t", "application/json", "{}"),
		proposed(id2, false, "t", "application/json", "{}"),
	})
	wantStatus(t, "append", md, err, codes.OK)
	n.mu.Lock()
	got := n.appends[0].Events
	n.mu.Unlock()
	if got[0].ID != id1 || got[1].ID != id2 {
		t.Fatalf("node got ids %x %x, want %x (sent structured) %x (sent as string)", got[0].ID, got[1].ID, id1, id2)
	}

	msgs, md, err := readToEnd(t, c, readStreamReq("ids", fromStart, false, 10, true))
	wantStatus(t, "structured read", md, err, codes.OK)
	for i, want := range [][16]byte{id1, id2} {
		s := msgs[i].GetEvent().GetEvent().GetId().GetStructured()
		if s == nil {
			t.Fatalf("event %d id %v, want the structured form", i, msgs[i].GetEvent().GetEvent().GetId())
		}
		if uint64(s.GetMostSignificantBits()) != binary.BigEndian.Uint64(want[:8]) || uint64(s.GetLeastSignificantBits()) != binary.BigEndian.Uint64(want[8:]) {
			t.Fatalf("event %d structured id %x/%x, want the big-endian halves of %x", i, s.GetMostSignificantBits(), s.GetLeastSignificantBits(), want)
		}
	}
	msgs, md, err = readToEnd(t, c, readStreamReq("ids", fromStart, false, 10, false))
	wantStatus(t, "string read", md, err, codes.OK)
	if got := msgs[0].GetEvent().GetEvent().GetId().GetString_(); got != member.ID(id1).String() {
		t.Fatalf("string id %q, want %q", got, member.ID(id1).String())
	}
}

func TestParseUUIDForms(t *testing.T) {
	id := idOf(7)
	canonical := member.ID(id).String()
	for _, s := range []string{canonical, "{" + canonical + "}", "0708090a0b0c4d0e8f10111213141516", "0708090A-0B0C-4D0E-8F10-111213141516"} {
		got, err := parseUUID(s)
		if err != nil || got != id {
			t.Errorf("parseUUID(%q) = %x, %v; want %x", s, got, err, id)
		}
	}
	for _, s := range []string{"", "xyz", canonical[:35], canonical + "0", "0708090a-0b0c-4d0e-8f10-11121314151g", "0708090a0b0c-4d0e-8f10-1112131415161"} {
		if _, err := parseUUID(s); err == nil {
			t.Errorf("parseUUID(%q) accepted it", s)
		}
	}
	if _, err := fromUUID(&sharedpb.UUID{}); err == nil {
		t.Errorf("an empty UUID was accepted")
	}
}

func TestReadMissingStreamAnswersStreamNotFoundAndOK(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{})
	msgs, md, err := readToEnd(t, c, readStreamReq("nowhere", fromStart, false, 10, false))
	wantStatus(t, "read of a missing stream", md, err, codes.OK)
	if len(msgs) != 1 || string(msgs[0].GetStreamNotFound().GetStreamIdentifier().GetStreamName()) != "nowhere" {
		t.Fatalf("messages %v, want exactly one stream_not_found naming the stream", msgs)
	}
}

func TestReadTombstonedStreamIsStreamDeleted(t *testing.T) {
	n := newFakeNode()
	n.seed("gone", "a")
	n.streams["gone"].tombstoned = true
	c := serve(t, n, Options{})
	msgs, md, err := readToEnd(t, c, readStreamReq("gone", fromStart, false, 10, false))
	wantStatus(t, "read of a tombstoned stream", md, err, codes.FailedPrecondition, "exception", "stream-deleted", "stream-name", "gone")
	if len(msgs) != 0 {
		t.Fatalf("got %d messages before the error, want none", len(msgs))
	}
}

func TestReadCompatibilitySendsStreamPositions(t *testing.T) {
	n := newFakeNode()
	n.seed("s", "a", "b", "c", "d")
	n.streams["s"].hiddenBefore = 2
	c := serve(t, n, Options{})
	compat := func(r *pb.ReadReq) *pb.ReadReq {
		r.Options.ControlOption = &pb.ReadReq_Options_ControlOption{Compatibility: 1}
		return r
	}

	msgs, md, err := readToEnd(t, c, compat(readStreamReq("s", fromStart, false, 10, false)))
	wantStatus(t, "compatibility read", md, err, codes.OK)
	if len(msgs) != 4 || msgs[0].GetContent() == nil {
		t.Fatalf("got %d messages %v, want first_stream_position, revisions 2 and 3, last_stream_position", len(msgs), msgs)
	}
	if f, ok := msgs[0].GetContent().(*pb.ReadResp_FirstStreamPosition); !ok || f.FirstStreamPosition != 2 {
		t.Fatalf("first message %v, want first_stream_position 2", msgs[0])
	}
	if got := revisions(t, msgs[1:3]); !equalInts(got, []int64{2, 3}) {
		t.Fatalf("revisions %v, want [2 3]", got)
	}
	if l, ok := msgs[3].GetContent().(*pb.ReadResp_LastStreamPosition); !ok || l.LastStreamPosition != 3 {
		t.Fatalf("last message %v, want last_stream_position 3", msgs[3])
	}

	// Backwards: only the last position, after the events.
	msgs, md, err = readToEnd(t, c, compat(readStreamReq("s", fromEnd, true, 1, false)))
	wantStatus(t, "compatibility backwards read", md, err, codes.OK)
	if len(msgs) != 2 || msgs[1].GetLastStreamPosition() != 3 {
		t.Fatalf("messages %v, want one event then last_stream_position 3", msgs)
	}

	// Without compatibility: events only (the Go clients panic on more).
	msgs, md, err = readToEnd(t, c, readStreamReq("s", fromStart, false, 10, false))
	wantStatus(t, "plain read", md, err, codes.OK)
	if got := revisions(t, msgs); !equalInts(got, []int64{2, 3}) {
		t.Fatalf("revisions %v, want [2 3]", got)
	}
}

func seedAll(n *fakeNode) {
	n.seed("user-1", "Registered", "Renamed")
	n.seed("order-1", "Created")
	n.seed("$system", "$stats")
	n.seed("user-2", "Registered")
	n.seed("order-2", "Created", "Paid")
}

// positions lists (stream, type) of the event messages.
func streamsAndTypes(t *testing.T, msgs []*pb.ReadResp) []string {
	t.Helper()
	var out []string
	for i, m := range msgs {
		rec := m.GetEvent().GetEvent()
		if rec == nil {
			t.Fatalf("message %d is %T, want an event", i, m.GetContent())
		}
		out = append(out, string(rec.GetStreamIdentifier().GetStreamName())+"/"+rec.GetMetadata()["type"])
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadAllDirectionsPositionsAndPaging(t *testing.T) {
	n := newFakeNode()
	n.pageLimit = 2
	seedAll(n)
	c := serve(t, n, Options{ReadPageSize: 3})
	all := []string{"user-1/Registered", "user-1/Renamed", "order-1/Created", "$system/$stats", "user-2/Registered", "order-2/Created", "order-2/Paid"}

	msgs, md, err := readToEnd(t, c, readAllReq(fromStart, false, 100, nil))
	wantStatus(t, "read $all", md, err, codes.OK)
	if got := streamsAndTypes(t, msgs); !equalStrings(got, all) {
		t.Fatalf("$all forwards %v, want %v", got, all)
	}
	n.mu.Lock()
	pages := len(n.allReads)
	for i, r := range n.allReads {
		if r.Count > 3 {
			t.Errorf("$all page %d asked for %d events, over the page size 3", i, r.Count)
		}
	}
	n.mu.Unlock()
	if pages != 4 {
		t.Fatalf("%d pages for 7 events at 2 a page, want 4", pages)
	}

	// From a position: forwards inclusive, backwards exclusive.
	p := uint64(positionOf(3))
	msgs, md, err = readToEnd(t, c, readAllReq(fromAt(p), false, 2, nil))
	wantStatus(t, "read $all from a position", md, err, codes.OK)
	if got := streamsAndTypes(t, msgs); !equalStrings(got, all[3:5]) {
		t.Fatalf("$all forwards from %d: %v, want %v", p, got, all[3:5])
	}
	msgs, md, err = readToEnd(t, c, readAllReq(fromAt(p), true, 100, nil))
	wantStatus(t, "read $all backwards from a position", md, err, codes.OK)
	if got := streamsAndTypes(t, msgs); !equalStrings(got, []string{all[2], all[1], all[0]}) {
		t.Fatalf("$all backwards from %d: %v, want the three before it", p, got)
	}
	msgs, md, err = readToEnd(t, c, readAllReq(fromEnd, true, 1, nil))
	wantStatus(t, "read $all backwards from the end", md, err, codes.OK)
	if got := streamsAndTypes(t, msgs); !equalStrings(got, all[6:]) {
		t.Fatalf("$all backwards from the end: %v, want %v", got, all[6:])
	}
}

func TestReadAllFilters(t *testing.T) {
	n := newFakeNode()
	seedAll(n)
	c := serve(t, n, Options{})
	prefix := &pb.ReadReq_Options_FilterOptions{
		Filter: &pb.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &pb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"order-"}}},
		Window: &pb.ReadReq_Options_FilterOptions_Count{Count: empty()},
	}
	msgs, md, err := readToEnd(t, c, readAllReq(fromStart, false, 100, prefix))
	wantStatus(t, "prefix filter", md, err, codes.OK)
	if got := streamsAndTypes(t, msgs); !equalStrings(got, []string{"order-1/Created", "order-2/Created", "order-2/Paid"}) {
		t.Fatalf("stream prefix filter gave %v", got)
	}
	n.mu.Lock()
	f := n.allReads[len(n.allReads)-1].Filter
	n.mu.Unlock()
	if f == nil || f.MaxSearchWindow != 0 || len(f.Prefixes) != 1 {
		t.Fatalf("node got filter %+v, want the prefix and the default window", f)
	}

	regex := &pb.ReadReq_Options_FilterOptions{
		Filter:                       &pb.ReadReq_Options_FilterOptions_EventType{EventType: &pb.ReadReq_Options_FilterOptions_Expression{Regex: "^Reg"}},
		Window:                       &pb.ReadReq_Options_FilterOptions_Max{Max: 7},
		CheckpointIntervalMultiplier: 3,
	}
	msgs, md, err = readToEnd(t, c, readAllReq(fromStart, false, 100, regex))
	wantStatus(t, "regex filter", md, err, codes.OK)
	if got := streamsAndTypes(t, msgs); !equalStrings(got, []string{"user-1/Registered", "user-2/Registered"}) {
		t.Fatalf("event type regex filter gave %v", got)
	}
	n.mu.Lock()
	f = n.allReads[len(n.allReads)-1].Filter
	n.mu.Unlock()
	if f.MaxSearchWindow != 7 || f.CheckpointIntervalMultiplier != 3 || f.Regex != "^Reg" {
		t.Fatalf("node got filter %+v, want window 7, multiplier 3, regex ^Reg", f)
	}

	bad := &pb.ReadReq_Options_FilterOptions{Filter: &pb.ReadReq_Options_FilterOptions_EventType{EventType: &pb.ReadReq_Options_FilterOptions_Expression{Regex: "("}}}
	_, md, err = readToEnd(t, c, readAllReq(fromStart, false, 100, bad))
	wantStatus(t, "filter regex that does not compile", md, err, codes.InvalidArgument)

	onStream := readStreamReq("user-1", fromStart, false, 10, false)
	onStream.Options.FilterOption = &pb.ReadReq_Options_Filter{Filter: prefix}
	_, md, err = readToEnd(t, c, onStream)
	wantStatus(t, "filter on a stream read", md, err, codes.InvalidArgument)
}

func TestReadRequiresUUIDOption(t *testing.T) {
	n := newFakeNode()
	n.seed("s", "a")
	c := serve(t, n, Options{})
	r := readStreamReq("s", fromStart, false, 10, false)
	r.Options.UuidOption = nil
	_, md, err := readToEnd(t, c, r)
	wantStatus(t, "read without uuid_option", md, err, codes.InvalidArgument)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.streamReads) != 0 {
		t.Fatalf("the node was asked to read %d times for an invalid request", len(n.streamReads))
	}
}

func TestRequiresLeaderHeaderReachesTheNode(t *testing.T) {
	n := newFakeNode()
	n.seed("s", "a")
	c := serve(t, n, Options{})
	ctx := testContext(t)
	for _, leader := range []bool{false, true} {
		callCtx := ctx
		if leader {
			callCtx = leaderCtx(ctx)
		}
		if _, md, err := readToEndCtx(callCtx, t, c, readStreamReq("s", fromStart, false, 1, false)); err != nil {
			wantStatus(t, "read", md, err, codes.OK)
		}
		if _, md, err := readToEndCtx(callCtx, t, c, readAllReq(fromStart, false, 1, nil)); err != nil {
			wantStatus(t, "read $all", md, err, codes.OK)
		}
		_, md, err := appendCall(callCtx, t, c, []*pb.AppendReq{appendOptions("s", "any"), proposed(idOf(byte(9)), false, "t", "x", "")})
		wantStatus(t, "append", md, err, codes.OK)
		if _, err := c.streams.Delete(callCtx, &pb.DeleteReq{Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("other"), ExpectedStreamRevision: &pb.DeleteReq_Options_Any{Any: empty()}}}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		sctx, cancel := context.WithCancel(callCtx)
		st, err := c.streams.Read(sctx, subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("s", fromStart)}))
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("subscription confirmation: %v", err)
		}
		cancel()

		n.mu.Lock()
		got := []bool{n.streamReads[len(n.streamReads)-1].RequireLeader, n.allLeader[len(n.allLeader)-1], n.appends[len(n.appends)-1].RequireLeader, n.deletes[len(n.deletes)-1].RequireLeader, n.subscribes[len(n.subscribes)-1].RequireLeader}
		n.mu.Unlock()
		for i, g := range got {
			if g != leader {
				t.Fatalf("requires-leader %v: operation %d (read, read $all, append, delete, subscribe) got RequireLeader %v", leader, i, g)
			}
		}
	}
	if !requiresLeader(leaderCtxIncoming("TRUE")) || requiresLeader(leaderCtxIncoming("false")) || requiresLeader(leaderCtxIncoming("yes")) {
		t.Fatalf("requires-leader parsing: want true only for a case-insensitive \"true\"")
	}
}
