package clientapi

import (
	"context"
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/annal-db/annal/core/streams"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// seedRaw appends events of the given types and data directly.
func (f *fakeNode) seedRaw(stream string, typeAndData ...[2]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var evs []streams.EventData
	for i, td := range typeAndData {
		var id [16]byte
		copy(id[:], stream+strconv.Itoa(i)+"----------------")
		evs = append(evs, streams.EventData{ID: id, Type: td[0], Data: []byte(td[1])})
	}
	f.write(stream, evs)
}

func TestLinkTargets(t *testing.T) {
	for _, c := range []struct {
		data   string
		stream string
		rev    int64
		ok     bool
	}{
		{"0@orders", "orders", 0, true},
		{"12@a@b", "a@b", 12, true},
		{"9223372036854775807@s", "s", 9223372036854775807, true},
		{"-1@orders", "", 0, false},
		{"x@orders", "", 0, false},
		{"3@", "", 0, false},
		{"3", "", 0, false},
		{"", "", 0, false},
		{"1@\xff", "", 0, false},
	} {
		stream, rev, ok := LinkTarget([]byte(c.data))
		if stream != c.stream || rev != c.rev || ok != c.ok {
			t.Errorf("LinkTarget(%q) = %q, %d, %v; want %q, %d, %v", c.data, stream, rev, ok, c.stream, c.rev, c.ok)
		}
	}
}

// describe is a read message as "type@stream/revision", with the link it
// came through after "via" when there is one ("-" for an event absent).
func describe(m *pb.ReadResp) string {
	one := func(e *pb.ReadResp_ReadEvent_RecordedEvent) string {
		if e == nil {
			return "-"
		}
		return e.GetMetadata()["type"] + "@" + string(e.GetStreamIdentifier().GetStreamName()) + "/" + strconv.FormatUint(e.GetStreamRevision(), 10)
	}
	ev := m.GetEvent()
	if ev.GetLink() == nil {
		return one(ev.GetEvent())
	}
	return one(ev.GetEvent()) + " via " + one(ev.GetLink())
}

func TestReadsResolveLinksWhenAsked(t *testing.T) {
	n := newFakeNode()
	n.seed("orders", "Created", "Paid")
	n.seed("secret-pay", "Card")
	n.seedRaw("links",
		[2]string{LinkEventType, "1@orders"},
		[2]string{LinkEventType, "7@orders"},     // past the stream's end
		[2]string{LinkEventType, "0@nowhere"},    // no such stream
		[2]string{LinkEventType, "not a link"},   // data that points nowhere
		[2]string{LinkEventType, "0@secret-pay"}, // a stream the reader may not read
		[2]string{"Note", "1@orders"},            // not a link, whatever its data
	)
	c := serve(t, n, Options{Authorize: (&gate{}).authorize})

	req := readStreamReq("links", fromStart, false, 100, false)
	req.Options.ResolveLinks = true
	msgs, md, err := readToEnd(t, c, req)
	wantStatus(t, "read with resolve_links", md, err, codes.OK)
	want := []string{
		"Paid@orders/1 via $>@links/0",
		"- via $>@links/1",
		"- via $>@links/2",
		"- via $>@links/3",
		"- via $>@links/4",
		"Note@links/5",
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if got := describe(m); got != want[i] {
			t.Errorf("message %d is %q, want %q", i, got, want[i])
		}
		// The read's position is the link's own: $all and checkpoints
		// count links, not what they point at.
		if link := m.GetEvent().GetLink(); link != nil && m.GetEvent().GetCommitPosition() != link.GetCommitPosition() {
			t.Errorf("message %d position %d, want the link's %d", i, m.GetEvent().GetCommitPosition(), link.GetCommitPosition())
		}
	}
	if e := msgs[0].GetEvent().GetEvent(); e.GetCommitPosition() != uint64(positionOf(1)) || string(e.GetData()) != `{"n":1}` {
		t.Errorf("the resolved event has position %d and data %q, want orders/1's %d and {\"n\":1}", e.GetCommitPosition(), e.GetData(), positionOf(1))
	}

	// Without resolve_links a link is an event like any other.
	msgs, md, err = readToEnd(t, c, readStreamReq("links", fromStart, false, 100, false))
	wantStatus(t, "read", md, err, codes.OK)
	for i, m := range msgs {
		if m.GetEvent().GetLink() != nil || m.GetEvent().GetEvent() == nil {
			t.Errorf("message %d is %q; unresolved, a link is the event itself", i, describe(m))
		}
	}

	// $all reads resolve too.
	all := readAllReq(fromStart, false, 100, nil)
	all.Options.ResolveLinks = true
	c2 := serve(t, n, Options{})
	msgs, md, err = readToEnd(t, c2, all)
	wantStatus(t, "$all read with resolve_links", md, err, codes.OK)
	resolved := 0
	for _, m := range msgs {
		if describe(m) == "Card@secret-pay/0 via $>@links/4" {
			resolved++
		}
	}
	if resolved != 1 {
		t.Errorf("a reader allowed to read secret-pay did not get the event its link points at")
	}
}

func TestSubscriptionsResolveLinksWhenAsked(t *testing.T) {
	n := newFakeNode()
	n.seed("orders", "Created", "Paid")
	c := serve(t, n, Options{})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()

	o := &pb.ReadReq_Options{StreamOption: streamOption("links", fromStart), ResolveLinks: true}
	st, err := c.streams.Read(ctx, subscribeReq(o))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	sub := nextSub(t, n)
	link := streams.Event{Stream: "links", Number: 0, Position: 5000, Type: LinkEventType, Data: []byte("0@orders")}
	sub.push(streams.Message{Kind: streams.EventAppeared, Event: link})
	for {
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.GetContent().(*pb.ReadResp_Event); !ok {
			continue
		}
		if got := describe(m); got != "Created@orders/0 via $>@links/0" {
			t.Fatalf("the subscription delivered %q, want the resolved link", got)
		}
		return
	}
}
