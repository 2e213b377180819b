package atompub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// scriptedNode answers each read as a node would at that moment, so a
// test can commit events between the calls one HTTP request makes.
type scriptedNode struct {
	clientapi.Node
	stream      func(call int, r node.ReadRequest) node.ReadResult
	all         func(call int, r streams.ReadAllRequest) streams.ReadAllResult
	streamCalls int
	allCalls    int
	subscribed  []streams.From
}

func (s *scriptedNode) ReadStream(_ context.Context, r node.ReadRequest) (node.ReadResult, error) {
	if r.Stream != "s" {
		return node.ReadResult{Err: &streams.StreamNotFoundError{Stream: r.Stream}}, nil
	}
	s.streamCalls++
	return s.stream(s.streamCalls, r), nil
}

func (s *scriptedNode) ReadAll(_ context.Context, r streams.ReadAllRequest, _ bool) (streams.ReadAllResult, error) {
	s.allCalls++
	return s.all(s.allCalls, r), nil
}

// Subscribe delivers an event at once when the subscription starts at or
// before position 3 (an event committed there), else nothing.
func (s *scriptedNode) Subscribe(_ context.Context, r clientapi.SubscribeRequest) (clientapi.Subscription, error) {
	s.subscribed = append(s.subscribed, r.From)
	return &scriptedSub{hasEvent: r.From != streams.End()}, nil
}

type scriptedSub struct{ hasEvent bool }

func (s *scriptedSub) Next(ctx context.Context) (streams.Message, error) {
	if s.hasEvent {
		s.hasEvent = false
		return streams.Message{Kind: streams.EventAppeared}, nil
	}
	<-ctx.Done()
	return streams.Message{}, ctx.Err()
}
func (s *scriptedSub) Close() {}

// events makes events numbered and positioned from..to (newest first when
// from > to).
func events(stream string, from, to int64) (out []streams.Event) {
	step := int64(1)
	if from > to {
		step = -1
	}
	for i := from; ; i += step {
		out = append(out, streams.Event{Stream: stream, Number: i, Position: i, Type: "T", Data: []byte(`{}`), IsJSON: true})
		if i == to {
			return out
		}
	}
}

func serveScripted(t *testing.T, n *scriptedNode, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	h := newTestHandler(t, nil)
	h.cfg.Node = n
	h.cfg.DatabaseID = func(context.Context) (string, error) { return "db", nil }
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Accept", TypeAtomJSON)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestAStreamHeadReadInTwoCallsStartsAtItsFirst: a head page that takes
// two reads (its events exceed one read's bytes) while event 10 is
// appended between them ends at 9: its previous link must lead to 10 and
// its ETag must not claim 10, or a client following the links or sending
// If-None-Match never sees it.
func TestAStreamHeadReadInTwoCallsStartsAtItsFirst(t *testing.T) {
	n := &scriptedNode{stream: func(call int, r node.ReadRequest) node.ReadResult {
		if call == 1 {
			return node.ReadResult{Events: events("s", 9, 5), Next: 4, LastRevision: 9}
		}
		return node.ReadResult{Events: events("s", 4, 0), Next: -1, End: true, LastRevision: 10}
	}}
	w := serveScripted(t, n, "/streams/s")
	body := w.Body.String()
	if !strings.Contains(body, "/streams/s/10/forward/20") {
		t.Errorf("the page ends at 9, its previous link does not lead to 10: %s", body)
	}
	if tag := w.Header().Get("ETag"); !strings.HasPrefix(tag, `"9;`) {
		t.Errorf("the page ends at 9, its ETag is %s", tag)
	}
}

// TestTheAllHeadETagIsNeverAheadOfItsPage: an event committed at 5 just
// after the page (up to 4) was read must not be in the page's ETag.
func TestTheAllHeadETagIsNeverAheadOfItsPage(t *testing.T) {
	committed := int64(4)
	n := &scriptedNode{all: func(call int, r streams.ReadAllRequest) streams.ReadAllResult {
		if r.Direction == streams.Backwards && r.Count == 1 && r.From == streams.End() {
			return streams.ReadAllResult{Events: events("a", committed, committed), Next: committed}
		}
		defer func() { committed = 5 }() // lands just after the page is read
		return streams.ReadAllResult{Events: events("a", committed, 0), End: true}
	}}
	w := serveScripted(t, n, "/streams/$all")
	if tag := w.Header().Get("ETag"); !strings.HasPrefix(tag, `"4;`) {
		t.Errorf("the validator was read at 4; ETag %s", tag)
	}
}

// TestAnAllLongPollWaitsFromTheLogItRead: a forward long poll of $all
// that read nothing waits for events after the newest one it knew of, so
// an event committed before the wait starts ends it at once.
func TestAnAllLongPollWaitsFromTheLogItRead(t *testing.T) {
	n := &scriptedNode{all: func(call int, r streams.ReadAllRequest) streams.ReadAllResult {
		if r.Direction == streams.Backwards {
			return streams.ReadAllResult{Events: events("a", 2, 2), Next: 2}
		}
		if call <= 2 {
			return streams.ReadAllResult{End: true} // the empty read
		}
		return streams.ReadAllResult{Events: events("a", 3, 3), Next: 4, End: true}
	}}
	start := time.Now()
	w := serveScripted(t, n, "/streams/$all/"+allPos(3)+"/forward/5", "ES-LongPoll", "3")
	if len(n.subscribed) != 1 || n.subscribed[0] != streams.After(2) {
		t.Fatalf("the poll subscribed from %v, want after position 2, the newest event it read", n.subscribed)
	}
	if took := time.Since(start); took > 2*time.Second || w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"3@a"`) {
		t.Errorf("after %v: %d %s; want the event at 3 at once", took.Round(time.Millisecond), w.Code, w.Body.String())
	}
}

// TestTheAllMetadataLinkAnswers: $all's own feed links to its metadata;
// without any, that is {}, not an error.
func TestTheAllMetadataLinkAnswers(t *testing.T) {
	n := &scriptedNode{}
	w := serveScripted(t, n, "/streams/%24all/metadata", "Accept", "application/json")
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "{}" {
		t.Errorf("GET /streams/$all/metadata: %d %q, want 200 {}", w.Code, w.Body.String())
	}
}
