package atompub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// followerNode answers as a follower does: calls that require the leader
// fail with the leader's address; the others would be served here.
type followerNode struct {
	clientapi.Node
	leader env.Endpoint
	served int
}

func (f *followerNode) refuse(requireLeader bool) error {
	if requireLeader {
		return &node.NotLeaderError{Leader: f.leader}
	}
	f.served++
	return nil
}

func (f *followerNode) ReadStream(_ context.Context, req node.ReadRequest) (node.ReadResult, error) {
	if err := f.refuse(req.RequireLeader); err != nil {
		return node.ReadResult{}, err
	}
	return node.ReadResult{End: true, LastRevision: 0, Events: []streams.Event{{Stream: req.Stream, Type: "T", Data: []byte(`{}`), IsJSON: true}}}, nil
}

func (f *followerNode) ReadAll(_ context.Context, _ streams.ReadAllRequest, requireLeader bool) (streams.ReadAllResult, error) {
	if err := f.refuse(requireLeader); err != nil {
		return streams.ReadAllResult{}, err
	}
	return streams.ReadAllResult{End: true}, nil
}

func (f *followerNode) Append(_ context.Context, req node.AppendRequest) (node.WriteResult, error) {
	return node.WriteResult{}, f.refuse(req.RequireLeader)
}

func (f *followerNode) Delete(_ context.Context, req node.DeleteRequest) (node.WriteResult, error) {
	return node.WriteResult{}, f.refuse(req.RequireLeader)
}

func TestRequireLeaderRedirectsToTheLeader(t *testing.T) {
	h := newTestHandler(t, nil)
	leader, err := env.ParseEndpoint("10.0.0.7:2113")
	if err != nil {
		t.Fatal(err)
	}
	f := &followerNode{leader: leader}
	h.cfg.Node = f
	batch := `[{"eventId":"fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4","eventType":"T","data":{}}]`
	cases := []struct {
		method, path, body, header string
	}{
		{"GET", "/streams/s?embed=body", "", "ES-RequireLeader"},
		{"GET", "/streams/s/0", "", "ES-RequireLeader"},
		{"GET", "/streams/%24all/head/backward/5", "", "ES-RequireLeader"},
		{"POST", "/streams/s", batch, "ES-RequireLeader"},
		{"DELETE", "/streams/s", "", "ES-RequireMaster"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		r.Header.Set("Accept", TypeAtomJSON)
		r.Header.Set("Content-Type", TypeEventsJSON)
		r.Header.Set(c.header, "True")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		want := "http://10.0.0.7:2113" + strings.Split(c.path, "?")[0]
		if loc := w.Header().Get("Location"); w.Code != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, want) {
			t.Errorf("%s %s with %s: True on a follower: %d Location %q, want 307 to %s", c.method, c.path, c.header, w.Code, loc, want)
		}
	}
	if f.served != 0 {
		t.Fatalf("the follower served %d calls that required the leader", f.served)
	}

	// Without the header (or with False) the follower answers itself.
	for _, v := range []string{"", "false", "False"} {
		r := httptest.NewRequest("GET", "/streams/s/0", nil)
		r.Header.Set("Accept", TypeAtomJSON)
		if v != "" {
			r.Header.Set("ES-RequireLeader", v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("GET with ES-RequireLeader %q on a follower: %d %q, want 200 served locally", v, w.Code, w.Body.String())
		}
	}
}

func TestBooleanHeadersAreChecked(t *testing.T) {
	h := newTestHandler(t, nil)
	f := &followerNode{}
	h.cfg.Node = f
	for _, hd := range []string{"ES-RequireLeader", "ES-RequireMaster", "ES-ResolveLinkTos"} {
		for v, want := range map[string]int{"yes": http.StatusBadRequest, "TRUE": http.StatusOK, "false": http.StatusOK} {
			if hd != "ES-ResolveLinkTos" && v == "TRUE" {
				continue // a follower redirects; the redirect is tested above
			}
			r := httptest.NewRequest("GET", "/streams/s/0", nil)
			r.Header.Set("Accept", TypeAtomJSON)
			r.Header.Set(hd, v)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != want {
				t.Errorf("%s: %s gave %d %q, want %d", hd, v, w.Code, w.Body.String(), want)
			}
		}
	}
}

func TestFormatOverridesAccept(t *testing.T) {
	h := newTestHandler(t, nil)
	h.cfg.Node = &followerNode{}
	cases := []struct {
		format   string
		wantCode int
		wantType string
	}{
		{"json", http.StatusOK, TypeJSON},
		{"xml", http.StatusOK, TypeTextXML},
		{"atom", http.StatusOK, TypeAtomXML},
		{"atomxj", http.StatusOK, TypeAtomJSON},
		{"text", http.StatusNotAcceptable, ""},
		{"yaml", http.StatusBadRequest, ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/streams/s/0?format="+c.format, nil)
		r.Header.Set("Accept", TypeEventJSON) // ?format wins over Accept
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := strings.Split(w.Header().Get("Content-Type"), ";")[0]
		if w.Code != c.wantCode || (c.wantType != "" && got != c.wantType) {
			t.Errorf("format=%s: %d %s, want %d %s (body %q)", c.format, w.Code, got, c.wantCode, c.wantType, w.Body.String())
		}
	}
}

func TestXMLBatchBodies(t *testing.T) {
	evs, err := parseXMLBatch([]byte(`<?xml version="1.0"?>
<Events>
  <Event><eventId>fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4</eventId><eventType>Placed</eventType>
    <data><order><id>7</id><line>a</line><line>b</line></order></data><metadata><by>ui</by></metadata></Event>
  <Event><EVENTID>abf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4</EVENTID><EventType>Noted</EventType><data>plain text</data></Event>
</Events>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != "Placed" || evs[1].Type != "Noted" {
		t.Fatalf("parsed %+v, want Placed then Noted", evs)
	}
	if string(evs[0].Data) != `{"order":{"id":"7","line":["a","b"]}}` || !evs[0].IsJSON || string(evs[0].Metadata) != `{"by":"ui"}` {
		t.Fatalf("first event data %s metadata %s json %v, want the elements as JSON", evs[0].Data, evs[0].Metadata, evs[0].IsJSON)
	}
	if string(evs[1].Data) != "plain text" || evs[1].IsJSON || member.ID(evs[1].ID).String() != "abf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4" {
		t.Fatalf("second event %+v, want its text stored as is, not JSON", evs[1])
	}
	for _, bad := range []string{``, `<Events/>`, `<Events><Event><eventType>T</eventType></Event></Events>`, `<Events><Event><eventId>fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4</eventId></Event></Events>`, `<a/><b/>`} {
		if _, err := parseXMLBatch([]byte(bad)); err == nil {
			t.Errorf("the body %q was accepted; it must be refused", bad)
		}
	}
}

func TestDataAsXML(t *testing.T) {
	cases := map[string]string{
		`{"v":"old","n":[1,2],"$x":true}`: `<data><_x>true</_x><n>1</n><n>2</n><v>old</v></data>`,
		``:                                `<data></data>`,
		`not json <&>`:                    `<data>not json &lt;&amp;&gt;</data>`,
	}
	for in, want := range cases {
		if got := string(dataXML("data", []byte(in))); got != want {
			t.Errorf("data %q as XML: %s, want %s", in, got, want)
		}
	}
}
