package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
)

func TestHealthLiveFollowsReadiness(t *testing.T) {
	n := newFakeNode(t)
	h := newAPI(t, n, Config{}, nil).Wrap(portMux())
	cases := []struct {
		state  member.State
		method string
		query  string
		want   int
	}{
		{member.Initializing, http.MethodGet, "", http.StatusServiceUnavailable},
		{member.Initializing, http.MethodGet, "?liveCode=200", http.StatusServiceUnavailable},
		{member.DiscoverLeader, http.MethodGet, "", http.StatusNoContent},
		{member.Unknown, http.MethodHead, "", http.StatusNoContent}, // an election is no reason to be restarted
		{member.Leader, http.MethodGet, "", http.StatusNoContent},
		{member.Follower, http.MethodHead, "?liveCode=200", http.StatusOK},
		{member.Leader, http.MethodGet, "?liveCode=299", 299},
		{member.ShuttingDown, http.MethodGet, "", http.StatusServiceUnavailable},
		{member.Shutdown, http.MethodHead, "", http.StatusServiceUnavailable},
		{member.Leader, http.MethodGet, "?liveCode=abc", http.StatusBadRequest},
		{member.Leader, http.MethodGet, "?liveCode=99", http.StatusBadRequest},
		{member.Leader, http.MethodPost, "", http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		n.setState(tc.state)
		w := do(t, h, tc.method, "/health/live"+tc.query, nil)
		if w.Code != tc.want {
			t.Errorf("%s /health/live%s in %v: %d, want %d", tc.method, tc.query, tc.state, w.Code, tc.want)
		}
		if w.Code < 300 && w.Body.Len() != 0 {
			t.Errorf("%s /health/live%s: body %q, want none", tc.method, tc.query, w.Body.String())
		}
	}
	if w := do(t, h, http.MethodPost, "/health/live", nil); !strings.Contains(w.Header().Get("Allow"), "HEAD") {
		t.Errorf("405 for POST /health/live says Allow %q; want GET and HEAD", w.Header().Get("Allow"))
	}
}

func TestInfoInEventStoreDBsShape(t *testing.T) {
	n := newFakeNode(t)
	n.setState(member.DiscoverLeader)
	h := newAPI(t, n, Config{}, map[*options.Option]string{options.Insecure: "true"}).Wrap(portMux())
	w := do(t, h, http.MethodGet, "/info", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /info: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("GET /info is not JSON: %v: %s", err, w.Body)
	}
	if doc["esVersion"] != "24.10.0" || doc["dbVersion"] != "24.10.0" || doc["state"] != "discoverleader" {
		t.Errorf("versions and state: %v", doc)
	}
	features, _ := doc["features"].(map[string]any)
	for _, k := range []string{"projections", "userManagement", "atomPub"} {
		if v, ok := features[k].(bool); !ok || v {
			t.Errorf("features.%s = %v, want false (annal serves none of them)", k, features[k])
		}
	}
	auth, _ := doc["authentication"].(map[string]any)
	if auth["type"] != "insecure" {
		t.Errorf("authentication %v, want type insecure", auth)
	}

	// A secure node with AtomPub on says so: a tool reading /info decides
	// from it whether to ask for a login.
	secure := newAPI(t, n, Config{}, map[*options.Option]string{options.EnableAtomPubOverHttp: "true"}).Wrap(portMux())
	var sdoc struct {
		Features       struct{ AtomPub bool }
		Authentication struct{ Type string }
	}
	if err := json.Unmarshal(do(t, secure, http.MethodGet, "/info", nil).Body.Bytes(), &sdoc); err != nil {
		t.Fatal(err)
	}
	if sdoc.Authentication.Type != "internal" || !sdoc.Features.AtomPub {
		t.Errorf("secure node with AtomPub: authentication %q, atomPub %v; want internal and true", sdoc.Authentication.Type, sdoc.Features.AtomPub)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, OPTIONS",
		"Cache-Control":                "max-age=0, no-cache, must-revalidate",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("GET /info header %s: %q, want %q", k, got, want)
		}
	}
	if w := do(t, h, http.MethodOptions, "/info", nil); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("OPTIONS /info: %d %q, want 200 and no body", w.Code, w.Body)
	}
	if w := do(t, h, http.MethodPut, "/info", nil); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET" {
		t.Errorf("PUT /info: %d Allow %q, want 405 Allow GET", w.Code, w.Header().Get("Allow"))
	}
}

func TestStatsReportProcessDiskQueueAndFollowers(t *testing.T) {
	n := newFakeNode(t)
	n.loopLen = 7
	n.disk.SyncRequests, n.disk.Fsyncs = 10, 4
	n.port.Open, n.port.GRPC = 3, 2
	n.stats = node.Stats{
		State: member.Leader, Epoch: 4, ID: member.ID{1}, Leader: member.ID{1},
		LogEnd: 5000, WriterCheckpoint: 4800, Committed: 4500,
		Replicas: []node.ReplicaStats{
			{ReplicaID: member.ID{2}, Node: env.Endpoint{Host: "10.0.0.2", Port: 2113}, Replication: env.Endpoint{Host: "10.0.0.2", Port: 1112},
				State: member.Follower, Role: "follower", Promotable: true, Acknowledged: 4800, Lag: 200},
			{ReplicaID: member.ID{3}, Acknowledged: -1, Lag: 5000},
		},
	}
	a := newAPI(t, n, Config{}, nil)
	h := a.Wrap(portMux())
	w := do(t, h, http.MethodGet, "/stats", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /stats: %d %s", w.Code, w.Body)
	}
	var doc statsJSON
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("GET /stats is not JSON: %v", err)
	}
	if doc.Proc.Mem == 0 || doc.Proc.Goroutines == 0 || doc.Proc.ID == 0 || doc.Proc.UpTimeSeconds <= 0 {
		t.Errorf("process figures missing: %+v", doc.Proc)
	}
	if q := doc.ES.Queue["NodeLoop"]; q.Length != 7 || q.Capacity != 1024 {
		t.Errorf("loop queue %+v, want length 7 of 1024", q)
	}
	if doc.ES.Writer.SyncRequests != 10 || doc.ES.Writer.Fsyncs != 4 {
		t.Errorf("writer %+v, want 10 sync requests and 4 fsyncs", doc.ES.Writer)
	}
	if doc.ES.DB.Files != 1 || doc.ES.DB.SizeBytes != 4096 || doc.ES.DB.Path != n.dir {
		t.Errorf("database usage %+v, want the one 4096-byte file in %s", doc.ES.DB, n.dir)
	}
	if d, ok := doc.Sys.Drive[n.dir]; ok && (d.TotalBytes == 0 || !strings.HasSuffix(d.Usage, "%")) {
		t.Errorf("drive %+v", d)
	}
	if doc.ES.Checksum != 4800 || doc.ES.ChecksumNonFlushed != 5000 {
		t.Errorf("checksums %d/%d, want the writer checkpoint 4800 and the log end 5000", doc.ES.Checksum, doc.ES.ChecksumNonFlushed)
	}
	if doc.ES.Connections.Node.Open != 3 || doc.ES.Connections.Node.GRPC != 2 {
		t.Errorf("node-port connections %+v", doc.ES.Connections.Node)
	}
	r := doc.ES.Replication
	if r == nil || len(r.Followers) != 2 {
		t.Fatalf("replication %+v, want two followers", r)
	}
	f := r.Followers[0]
	if f.NodeEndpoint != "10.0.0.2:2113" || f.AcknowledgedPosition != 4800 || f.LagBytes != 200 || f.Role != "follower" || f.State != "Follower" {
		t.Errorf("first follower %+v", f)
	}
	if g := r.Followers[1]; g.NodeEndpoint != "" || g.AcknowledgedPosition != -1 || g.LagBytes != 5000 {
		t.Errorf("second follower (not yet in gossip, nothing acknowledged) %+v", g)
	}

	// One part of it, as EventStoreDB serves sub-paths.
	w = do(t, h, http.MethodGet, "/stats/es/queue/NodeLoop", nil)
	var q queueJSON
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &q) != nil || q.Length != 7 {
		t.Errorf("GET /stats/es/queue/NodeLoop: %d %s", w.Code, w.Body)
	}
	if w := do(t, h, http.MethodGet, "/stats/nothing/here", nil); w.Code != http.StatusNotFound {
		t.Errorf("GET /stats/nothing/here: %d, want 404", w.Code)
	}

	// A node that does not answer: the rest is still reported, and why
	// the node's part is missing.
	n.mu.Lock()
	n.statsErr = errNodeBusy
	n.mu.Unlock()
	w = do(t, h, http.MethodGet, "/stats", nil)
	doc = statsJSON{}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != http.StatusOK {
		t.Fatalf("GET /stats with the node silent: %d %v", w.Code, err)
	}
	if doc.ES.Node != nil || doc.ES.Replication != nil || !strings.Contains(doc.ES.NodeError, errNodeBusy.Error()) || doc.Proc.Mem == 0 {
		t.Errorf("with the node silent: node %+v, replication %+v, error %q", doc.ES.Node, doc.ES.Replication, doc.ES.NodeError)
	}
}

// Every switch, in both spellings: hidden endpoints answer 404 at once,
// naming the option; the others are untouched.
func TestExposureSwitchesInBothSpellings(t *testing.T) {
	type probe struct{ path, option string }
	gossip := []probe{{"/gossip", ""}}
	stats := []probe{{"/stats", ""}, {"/stats/proc", ""}, {"/metrics", ""}}
	admin := []probe{{"/web", ""}, {"/web/index.html", ""}, {"/admin/shutdown", ""}, {"/ui/", ""}}
	cases := []struct {
		set    map[*options.Option]string
		hidden []probe
		option string
	}{
		{map[*options.Option]string{options.GossipOnExt: "false"}, gossip, "GossipOnExt=false"},
		{map[*options.Option]string{options.DisableGossipOnHttp: "true"}, gossip, "DisableGossipOnHttp=true"},
		{map[*options.Option]string{options.StatsOnExt: "false"}, stats, "StatsOnExt=false"},
		{map[*options.Option]string{options.DisableStatsOnHttp: "true"}, stats, "DisableStatsOnHttp=true"},
		{map[*options.Option]string{options.AdminOnExt: "false"}, admin, "AdminOnExt=false"},
		{map[*options.Option]string{options.DisableAdminUi: "true"}, admin, "DisableAdminUi=true"},
		{map[*options.Option]string{options.GossipOnExt: "false", options.DisableGossipOnHttp: "true"}, gossip, "GossipOnExt=false and DisableGossipOnHttp=true"},
	}
	all := append(append(append([]probe{}, gossip...), stats...), admin...)
	for _, tc := range cases {
		h := newAPI(t, newFakeNode(t), Config{}, tc.set).Wrap(portMux())
		for _, p := range all {
			w := do(t, h, http.MethodGet, p.path, nil)
			isHidden := false
			for _, hp := range tc.hidden {
				isHidden = isHidden || hp.path == p.path
			}
			switch {
			case isHidden && (w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), tc.option)):
				t.Errorf("with %s, GET %s: %d %q; want 404 naming %s", tc.option, p.path, w.Code, w.Body, tc.option)
			case !isHidden && strings.Contains(w.Body.String(), "hidden"):
				t.Errorf("with %s, GET %s was hidden: %d %q", tc.option, p.path, w.Code, w.Body)
			}
		}
		for _, path := range []string{"/info", "/health/live"} {
			if w := do(t, h, http.MethodGet, path, nil); w.Code >= 300 {
				t.Errorf("with %s, GET %s: %d; it is never hidden", tc.option, path, w.Code)
			}
		}
	}

	// Served but empty: the admin prefixes say there is nothing there
	// yet; a route added under them later is reached.
	mux := portMux()
	h := newAPI(t, newFakeNode(t), Config{}, nil).Wrap(mux)
	if w := do(t, h, http.MethodGet, "/web/index.html", nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no admin UI") {
		t.Errorf("GET /web/index.html with nothing there: %d %q", w.Code, w.Body)
	}
	mux.HandleFunc("GET /web/index.html", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ui")) })
	if w := do(t, h, http.MethodGet, "/web/index.html", nil); w.Code != http.StatusOK || w.Body.String() != "ui" {
		t.Errorf("GET /web/index.html once served: %d %q", w.Code, w.Body)
	}
	hidden := newAPI(t, newFakeNode(t), Config{}, map[*options.Option]string{options.AdminOnExt: "false"}).Wrap(mux)
	if w := do(t, hidden, http.MethodGet, "/web/index.html", nil); w.Code != http.StatusNotFound {
		t.Errorf("GET /web/index.html served by the port but hidden by AdminOnExt=false: %d %q", w.Code, w.Body)
	}
}

func TestExposureOfCombinesBothSpellings(t *testing.T) {
	if e := ExposureOf(options.Defaults()); e != (Exposure{}) {
		t.Fatalf("defaults hide %+v; EventStoreDB serves everything by default", e)
	}
	e := ExposureOf(optionsWith(t, map[*options.Option]string{options.StatsOnExt: "true", options.DisableStatsOnHttp: "true"}))
	if !strings.Contains(e.Stats, "DisableStatsOnHttp=true") || strings.Contains(e.Stats, "StatsOnExt") || e.Gossip != "" || e.Admin != "" {
		t.Fatalf("StatsOnExt=true with DisableStatsOnHttp=true: %+v; want stats hidden by the newer spelling alone", e)
	}
}

func TestNewRefusesNegativeLimits(t *testing.T) {
	_, err := New(Config{Options: options.Defaults(), Node: newFakeNode(t), WriteTimeout: -1})
	if err == nil || !strings.Contains(err.Error(), "WriteTimeout") {
		t.Fatalf("New with a negative WriteTimeout: %v", err)
	}
	if _, err := New(Config{Options: options.Defaults()}); err == nil {
		t.Fatal("New without a Node succeeded")
	}
}

// GET /gossip is a route of EventStoreDB's HTTP API like the others: a
// browser's preflight gets 200 with the CORS headers, and so does the
// answer itself.
func TestGossipAnswersPreflightsAndCarriesCORSHeaders(t *testing.T) {
	h := newAPI(t, newFakeNode(t), Config{}, nil).Wrap(portMux())
	w := do(t, h, http.MethodOptions, "/gossip", nil)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("OPTIONS /gossip: %d %q, want 200 and no body", w.Code, w.Body)
	}
	if got := w.Header().Get("Access-Control-Allow-Methods"); !strings.Contains(got, "GET") || !strings.Contains(got, "OPTIONS") {
		t.Errorf("OPTIONS /gossip: Access-Control-Allow-Methods %q, want GET and OPTIONS", got)
	}
	w = do(t, h, http.MethodGet, "/gossip", nil)
	if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET /gossip: %d, Access-Control-Allow-Origin %q; want 200 and *", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	hidden := newAPI(t, newFakeNode(t), Config{}, map[*options.Option]string{options.GossipOnExt: "false"}).Wrap(portMux())
	if w := do(t, hidden, http.MethodOptions, "/gossip", nil); w.Code != http.StatusNotFound {
		t.Errorf("OPTIONS /gossip hidden by GossipOnExt=false: %d, want 404", w.Code)
	}
}
