package adminui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode holds streams in memory and answers backward reads a few
// events per call, as the node pages its answers.
type fakeNode struct {
	clientapi.Node // the calls the UI never makes panic
	streams        map[string][]streams.Event
	errs           map[string]error
	pageCap        int
	calls          int
}

func (f *fakeNode) ReadStream(_ context.Context, req node.ReadRequest) (node.ReadResult, error) {
	f.calls++
	if err, ok := f.errs[req.Stream]; ok {
		return node.ReadResult{Err: err}, nil
	}
	evs, ok := f.streams[req.Stream]
	if !ok {
		return node.ReadResult{Err: &streams.StreamNotFoundError{Stream: req.Stream}}, nil
	}
	if !req.Backwards {
		panic("the UI reads backwards only")
	}
	last := int64(len(evs) - 1)
	from := req.From
	if req.FromEnd || from > last {
		from = last
	}
	res := node.ReadResult{LastRevision: last, Events: []streams.Event{}}
	n := min(int(req.Count), f.pageCap)
	for r := from; r >= 0 && len(res.Events) < n; r-- {
		res.Events = append(res.Events, evs[r])
	}
	res.Next = from - int64(len(res.Events))
	res.End = res.Next < 0
	return res, nil
}

func newFake() *fakeNode {
	f := &fakeNode{streams: map[string][]streams.Event{}, errs: map[string]error{}, pageCap: 3}
	for i := range 7 {
		f.streams["orders/eu"] = append(f.streams["orders/eu"], streams.Event{
			Stream: "orders/eu", Number: int64(i), Position: 100 * int64(i+1), ID: [16]byte{15: byte(i)},
			Type: "OrderPlaced", Data: []byte(fmt.Sprintf(`{"order":%d}`, i)), Metadata: []byte(`{"by":"test"}`), IsJSON: true,
			Created: 17e15,
		})
	}
	f.streams["odd"] = []streams.Event{{Stream: "odd", Type: "Blob", Data: []byte{0xff, 0x00, 0x01}, Metadata: []byte("plain words")}}
	f.errs["gone"] = &streams.StreamDeletedError{Stream: "gone"}
	f.errs["busy"] = node.ErrNotReady
	return f
}

func serve(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	if cfg.Options == nil {
		cfg.Options = options.Defaults()
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path without following redirects.
func get(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func decode[T any](t *testing.T, path, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET %s: the body is not the JSON expected: %v\n%s", path, err, body)
	}
	return v
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "invalid JSON: " + err.Error()
	}
	return b.String()
}

func numbers(p StreamPage) []int64 {
	var out []int64
	for _, e := range p.Events {
		out = append(out, e.EventNumber)
	}
	return out
}

func TestStreamPagesNewestFirstAcrossNodePages(t *testing.T) {
	f := newFake()
	srv := serve(t, Config{Node: f})
	// The name holds a "/": escaped in the path, it must arrive whole.
	path := "/web/api/streams/orders%2Feu?count=5"
	res, body := get(t, srv, http.MethodGet, path)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s, want 200 JSON:\n%s", path, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	p := decode[StreamPage](t, path, body)
	if got := fmt.Sprint(numbers(p)); got != "[6 5 4 3 2]" || p.Next == nil || *p.Next != 1 || p.LastRevision != 6 || p.Stream != "orders/eu" {
		t.Fatalf("first page: events %s next %v last %d stream %q; want [6 5 4 3 2], next 1, last 6, orders/eu", got, p.Next, p.LastRevision, p.Stream)
	}
	if f.calls != 2 {
		t.Errorf("the node was asked %d times for 5 events at 3 a page; want 2", f.calls)
	}
	e := p.Events[0]
	if e.EventType != "OrderPlaced" || e.DataEncoding != "json" || compact(e.Data) != `{"order":6}` || compact(e.Metadata) != `{"by":"test"}` ||
		e.EventID != "00000000-0000-0000-0000-000000000006" || e.Position != 700 || e.Created != "2023-11-14T22:13:20Z" || !e.IsJSON {
		t.Errorf("newest event rendered as %+v", e)
	}

	path = "/web/api/streams/orders%2Feu?count=5&from=1"
	_, body = get(t, srv, http.MethodGet, path)
	p = decode[StreamPage](t, path, body)
	if got := fmt.Sprint(numbers(p)); got != "[1 0]" || p.Next != nil {
		t.Errorf("last page: events %s next %v; want [1 0] and no next", got, p.Next)
	}
}

func TestStreamPayloadsThatAreNotJSON(t *testing.T) {
	srv := serve(t, Config{Node: newFake()})
	_, body := get(t, srv, http.MethodGet, "/web/api/streams/odd")
	p := decode[StreamPage](t, "odd", body)
	if len(p.Events) != 1 {
		t.Fatalf("odd: %d events, want 1", len(p.Events))
	}
	e := p.Events[0]
	if e.DataEncoding != "base64" || string(e.Data) != `"/wAB"` || e.MetadataEncoding != "text" || string(e.Metadata) != `"plain words"` {
		t.Errorf("binary data and text metadata rendered as data %s (%s), metadata %s (%s)", e.Data, e.DataEncoding, e.Metadata, e.MetadataEncoding)
	}
}

func TestStreamErrors(t *testing.T) {
	srv := serve(t, Config{Node: newFake(), MaxPageSize: 50})
	for _, c := range []struct {
		path string
		want int
		says string
	}{
		{"/web/api/streams/missing", http.StatusNotFound, "not found"},
		{"/web/api/streams/gone", http.StatusGone, "deleted"},
		{"/web/api/streams/busy", http.StatusServiceUnavailable, "not ready"},
		{"/web/api/streams/orders%2Feu?count=0", http.StatusBadRequest, "from 1 to 50"},
		{"/web/api/streams/orders%2Feu?count=51", http.StatusBadRequest, "from 1 to 50"},
		{"/web/api/streams/orders%2Feu?from=-3", http.StatusBadRequest, "not a revision"},
		{"/web/api/streams/bad%C3%28", http.StatusBadRequest, "escape"},
		{"/web/api/nothing", http.StatusNotFound, "no such admin API endpoint"},
	} {
		res, body := get(t, srv, http.MethodGet, c.path)
		eb := decode[ErrorBody](t, c.path, body)
		if res.StatusCode != c.want || !strings.Contains(eb.Error, c.says) {
			t.Errorf("GET %s: %d %q; want %d saying %q", c.path, res.StatusCode, eb.Error, c.want, c.says)
		}
	}
}

func TestStreamReadsAreAuthorized(t *testing.T) {
	var checked []string
	anonymous := true
	srv := serve(t, Config{
		Node: newFake(),
		Authorize: func(_ context.Context, op clientapi.Operation, stream string) error {
			checked = append(checked, fmt.Sprintf("%v %s", op == clientapi.OpRead, stream))
			if strings.HasPrefix(stream, "$") || anonymous {
				return fmt.Errorf("%w: not for you", clientapi.ErrAccessDenied)
			}
			return nil
		},
		Anonymous: func(*http.Request) bool { return anonymous },
		Challenge: `Basic realm="ESDB"`,
	})
	res, _ := get(t, srv, http.MethodGet, "/web/api/streams/orders%2Feu")
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != `Basic realm="ESDB"` {
		t.Errorf("anonymous read: %d, challenge %q; want 401 with the challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	anonymous = false
	if res, _ := get(t, srv, http.MethodGet, "/web/api/streams/%24system"); res.StatusCode != http.StatusForbidden || res.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("a user reading a denied stream: %d, challenge %q; want 403 without a challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	if res, _ := get(t, srv, http.MethodGet, "/web/api/streams/orders%2Feu"); res.StatusCode != http.StatusOK {
		t.Errorf("a user reading an allowed stream: %d, want 200", res.StatusCode)
	}
	if want := "[true orders/eu true $system true orders/eu]"; fmt.Sprint(checked) != want {
		t.Errorf("checks made: %v, want %s", checked, want)
	}
}

func TestConfigShowsSourcesAndRedactsSecrets(t *testing.T) {
	v := options.Defaults()
	for o, s := range map[*options.Option]string{options.DefaultAdminPassword: "hunter2", options.ClusterSize: "3"} {
		if err := v.Set(o, s, options.SourceEnvironment); err != nil {
			t.Fatal(err)
		}
	}
	srv := serve(t, Config{Node: newFake(), Options: v})
	res, body := get(t, srv, http.MethodGet, "/web/api/config")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /web/api/config: %d %s", res.StatusCode, body)
	}
	if strings.Contains(body, "hunter2") {
		t.Fatalf("the configuration shows a secret in clear:\n%s", body)
	}
	doc := decode[ConfigDoc](t, "/web/api/config", body)
	byName := map[string]ConfigOption{}
	n := 0
	for _, g := range doc.Groups {
		if g.Title == "" || len(g.Options) == 0 {
			t.Errorf("group %+v has no title or no options", g)
		}
		for _, o := range g.Options {
			byName[o.Name] = o
			n++
		}
	}
	if n != len(options.All()) {
		t.Errorf("%d options shown, want all %d", n, len(options.All()))
	}
	if o := byName["DefaultAdminPassword"]; o.Value != options.Redacted || o.Default != options.Redacted || !o.Secret || o.Source != "environment" {
		t.Errorf("DefaultAdminPassword shown as %+v; want redacted, secret, from the environment", o)
	}
	if o := byName["ClusterSize"]; o.Value != "3" || o.Default != "1" || o.Source != "environment" {
		t.Errorf("ClusterSize shown as %+v; want 3 (default 1) from the environment", o)
	}
	if o := byName["NodePort"]; o.Source != "default" || o.Value != o.Default {
		t.Errorf("NodePort shown as %+v; want its default", o)
	}
}

func TestPagesRedirectsAndMethods(t *testing.T) {
	srv := serve(t, Config{Node: newFake()})
	for _, c := range []struct {
		method, path string
		status       int
		location     string
		body         string
	}{
		{http.MethodGet, "/web", http.StatusMovedPermanently, "/web/", ""},
		{http.MethodGet, "/ui", http.StatusFound, "/web/", ""},
		{http.MethodGet, "/ui/streams", http.StatusFound, "/web/", ""},
		{http.MethodGet, "/admin", http.StatusFound, "/web/", ""},
		{http.MethodGet, "/admin/shutdown", http.StatusNotFound, "", "no such admin endpoint"},
		{http.MethodGet, "/web/", http.StatusOK, "", `<script type="module" src="app.js">`},
		{http.MethodGet, "/web/cluster.js", http.StatusOK, "", "/gossip"},
		{http.MethodGet, "/web/streams.js", http.StatusOK, "", "/web/api/streams/"},
		{http.MethodGet, "/web/style.css", http.StatusOK, "", "table.grid"},
		{http.MethodGet, "/web/missing.js", http.StatusNotFound, "", ""},
		{http.MethodPost, "/web/api/config", http.StatusMethodNotAllowed, "", "only reads"},
	} {
		res, body := get(t, srv, c.method, c.path)
		if res.StatusCode != c.status || res.Header.Get("Location") != c.location || !strings.Contains(body, c.body) {
			t.Errorf("%s %s: %d Location %q body %.80q; want %d Location %q body with %q", c.method, c.path, res.StatusCode, res.Header.Get("Location"), body, c.status, c.location, c.body)
		}
		if res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: no Content-Security-Policy", c.method, c.path)
		}
	}
	res, _ := get(t, srv, http.MethodGet, "/web/app.js")
	if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("/web/app.js served as %q; browsers load modules only as JavaScript", ct)
	}
}

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	for _, cfg := range []Config{{Options: options.Defaults()}, {Node: newFake()}, {Node: newFake(), Options: options.Defaults(), MaxPageSize: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded; want an error", cfg)
		}
	}
}
