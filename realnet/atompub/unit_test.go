package atompub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/clientapi"
)

// net/http lingers up to 500 ms on a connection it closes after refusing
// an oversized body; that goroutine ends by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

// untouchedNode fails the test if a request reaches the node: the
// requests below must be refused before that.
type untouchedNode struct{ clientapi.Node }

func newTestHandler(t *testing.T, set map[*options.Option]string) *Handler {
	t.Helper()
	v := options.Defaults()
	for o, s := range set {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatal(err)
		}
	}
	h, err := New(Config{Options: v, Node: untouchedNode{}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRefusedWritesNeverReachTheNode(t *testing.T) {
	h := newTestHandler(t, nil)
	cases := []struct {
		name, ctype, body string
		headers           map[string]string
		want              int
	}{
		{"malformed batch JSON", TypeEventsJSON, `[{"eventId":`, nil, http.StatusBadRequest},
		{"batch is not an array", TypeEventsJSON, `{"eventId":"x"}`, nil, http.StatusBadRequest},
		{"empty batch", TypeEventsJSON, `[]`, nil, http.StatusBadRequest},
		{"batch event without a GUID", TypeEventsJSON, `[{"eventId":"nope","eventType":"T","data":{}}]`, nil, http.StatusBadRequest},
		{"batch event without a type", TypeEventsJSON, `[{"eventId":"fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4","data":{}}]`, nil, http.StatusBadRequest},
		{"empty XML batch", "application/vnd.eventstore.events+xml", `<Events/>`, nil, http.StatusBadRequest},
		{"unknown content type", "application/yaml", `x`, nil, http.StatusUnsupportedMediaType},
		{"no content type", "", `x`, nil, http.StatusUnsupportedMediaType},
		{"single event without a type", TypeJSON, `{}`, nil, http.StatusBadRequest},
		{"bad event id", TypeJSON, `{}`, map[string]string{"ES-EventType": "T", "ES-EventId": "zz"}, http.StatusBadRequest},
		{"bad expected version", TypeJSON, `{}`, map[string]string{"ES-EventType": "T", "ES-EventId": "fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4", "ES-ExpectedVersion": "-7"}, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/streams/s", strings.NewReader(c.body))
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("POST %s (%s): status %d, want %d; body %q", c.body, c.ctype, w.Code, c.want, w.Body.String())
			}
		})
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	h := newTestHandler(t, nil)
	big := `[{"eventId":"fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4","eventType":"T","data":"` + strings.Repeat("x", 4096) + `"}]`
	r := httptest.NewRequest(http.MethodPost, "/streams/s", strings.NewReader(big))
	r.Header.Set("Content-Type", TypeEventsJSON)
	w := httptest.NewRecorder()
	r.Body = http.MaxBytesReader(w, r.Body, 1024) // as the HTTP API bounds every body
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over the limit got %d (%q), want 413", w.Code, w.Body.String())
	}
}

func TestSingleEventWithoutIDRedirectsToIncoming(t *testing.T) {
	h := newTestHandler(t, nil)
	r := httptest.NewRequest(http.MethodPost, "/streams/orders", strings.NewReader(`{"a":1}`))
	r.Header.Set("Content-Type", TypeJSON)
	r.Header.Set("ES-EventType", "Created")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	loc := w.Header().Get("Location")
	if w.Code != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, "/streams/orders/incoming/") {
		t.Fatalf("got %d Location %q, want 307 to /streams/orders/incoming/{guid}", w.Code, loc)
	}
	if _, ok := parseUUID(strings.TrimPrefix(loc, "/streams/orders/incoming/")); !ok {
		t.Fatalf("the Location %q does not end in a GUID", loc)
	}
}

func TestNegotiation(t *testing.T) {
	cases := []struct {
		accept  string
		offered []string
		want    string
	}{
		{"", feedTypes, TypeStreamDesc},
		{"*/*", feedTypes, TypeStreamDesc},
		{TypeAtomJSON, feedTypes, TypeAtomJSON},
		{"application/atom+xml;q=0.5, application/vnd.eventstore.atom+json", feedTypes, TypeAtomJSON},
		{"application/atom+xml, application/vnd.eventstore.atom+json;q=0.5", feedTypes, TypeAtomXML},
		{"image/png", feedTypes, ""},
		{"text/html,application/xhtml+xml,*/*;q=0.8", entryTypes, TypeAtomXML},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/streams/s", nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		if got := negotiate(r, c.offered); got != c.want {
			t.Errorf("Accept %q: got %q, want %q", c.accept, got, c.want)
		}
	}
}

func TestLinksUseTheAdvertisedClientAddress(t *testing.T) {
	h := newTestHandler(t, map[*options.Option]string{options.AdvertiseHostToClientAs: "db.example.com", options.AdvertiseNodePortToClientAs: "2113"})
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5555/streams/s", nil)
	if got := h.linkBase(r); got != "http://db.example.com:2113" {
		t.Fatalf("link base %q, want http://db.example.com:2113", got)
	}
	plain := newTestHandler(t, nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "proxy.example.com")
	if got := plain.linkBase(r); got != "https://proxy.example.com:5555" { // the port stays unless X-Forwarded-Host or -Port name one
		t.Fatalf("link base behind a proxy %q, want https://proxy.example.com:5555", got)
	}
}

func TestETagsDifferAcrossDatabases(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/streams/s", nil)
	q := &request{r: r}
	a, b := newTestHandler(t, nil), newTestHandler(t, nil)
	a.cfg.DatabaseID = func(_ context.Context) (string, error) { return "db-1", nil }
	b.cfg.DatabaseID = func(_ context.Context) (string, error) { return "db-2", nil }
	ta, tb := a.etagToken(q, TypeAtomJSON), b.etagToken(q, TypeAtomJSON)
	if ta == "" || ta == tb {
		t.Fatalf("tokens %q and %q: want distinct non-empty tokens for distinct databases", ta, tb)
	}
	if ta == a.etagToken(q, TypeAtomXML) {
		t.Fatalf("the token %q does not depend on the media type", ta)
	}
	r.Header.Set("If-None-Match", `"5;`+ta+`"`)
	if !notModified(r, 5, ta) || notModified(r, 5, tb) || notModified(r, 6, ta) {
		t.Fatal("If-None-Match must match only the same version in the same database and media type")
	}
}
