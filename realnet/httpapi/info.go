package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
)

// Ready reports whether a node in state s is live for /health/live: it has
// opened its database and joined the cluster (whatever its role, elections
// included, so that an orchestrator never restarts a node for taking part
// in one), and it is not shutting down.
func Ready(s member.State) bool {
	return s != member.Initializing && s != member.ShuttingDown && s != member.Shutdown
}

// serveHealth is GET and HEAD /health/live: 204 (or the status asked for
// with ?liveCode=) when the node is ready, 503 otherwise, no body either
// way, as EventStoreDB answers.
func (a *API) serveHealth(w http.ResponseWriter, r *http.Request) {
	code := http.StatusNoContent
	if q := r.URL.Query().Get("liveCode"); q != "" {
		c, err := strconv.Atoi(q)
		if err != nil || c < 200 || c > 599 {
			http.Error(w, "liveCode="+q+" is not an HTTP status; give one from 200 to 599, say liveCode=200", http.StatusBadRequest)
			return
		}
		code = c
	}
	w.Header().Set("Cache-Control", noCache)
	if !Ready(a.node.Status().State) {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
}

// noCache is EventStoreDB's Cache-Control for answers that change.
const noCache = "max-age=0, no-cache, must-revalidate"

// infoJSON is GET /info, in EventStoreDB's shape (InfoController), plus
// annal's own version.
type infoJSON struct {
	DBVersion      string       `json:"dbVersion"`
	ESVersion      string       `json:"esVersion"`
	State          string       `json:"state"`
	Features       infoFeatures `json:"features"`
	Authentication infoAuth     `json:"authentication"`
	AnnalVersion   string       `json:"annalVersion"`
}

// infoFeatures says what the node serves (no projections or user
// management yet).
type infoFeatures struct {
	Projections    bool `json:"projections"`
	UserManagement bool `json:"userManagement"`
	AtomPub        bool `json:"atomPub"`
}

type infoAuth struct {
	Type       string            `json:"type"`
	Properties map[string]string `json:"properties"`
}

func (a *API) serveInfo(w http.ResponseWriter, _ *http.Request) {
	doc := infoJSON{
		DBVersion: a.cfg.Version,
		ESVersion: a.cfg.Version,
		// EventStoreDB writes its VNodeState lower-cased: "leader",
		// "discoverleader".
		State:    strings.ToLower(a.node.Status().State.String()),
		Features: infoFeatures{AtomPub: a.cfg.Options.Bool(options.EnableAtomPubOverHttp)},
		// An insecure node authenticates every request as the system
		// account, as EventStoreDB's --insecure does; a secure one checks
		// its own users ("internal", EventStoreDB's built-in provider).
		Authentication: infoAuth{Type: "internal", Properties: map[string]string{}},
		AnnalVersion:   node.Version,
	}
	if a.cfg.Options.Bool(options.Insecure) {
		doc.Authentication.Type = "insecure"
	}
	writeJSON(w, doc)
}

// writeJSON sends a 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", noCache)
	h.Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
