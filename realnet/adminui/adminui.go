package adminui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/clientapi"
)

//go:embed static
var staticFiles embed.FS

// Prefix is where the UI lives; the other admin prefixes redirect here.
const Prefix = "/web"

// Defaults for Config.
const (
	DefaultPageSize    = 20
	DefaultMaxPageSize = 500
	DefaultReadTimeout = 5 * time.Second
)

// Config configures the UI of one node. Node and Options are required.
type Config struct {
	// Node is the node as the client API calls it; stream reads go
	// through it.
	Node clientapi.Node
	// Options are the node's effective options, shown by /web/api/config
	// (secrets redacted).
	Options *options.Values
	// Authorize checks a stream read for the caller in ctx, as the gRPC
	// API does; errors wrapping clientapi.ErrAccessDenied are refusals.
	// Nil allows everything (an insecure node).
	Authorize func(ctx context.Context, op clientapi.Operation, stream string) error
	// Anonymous reports whether the request's caller gave no credentials,
	// so that a refusal can ask for them (401) rather than forbid (403).
	// Nil: every refusal is 403.
	Anonymous func(r *http.Request) bool
	// Challenge is the WWW-Authenticate value sent with a 401.
	Challenge string
	// MaxPageSize bounds count in a stream read (default
	// DefaultMaxPageSize); ReadTimeout bounds one read (default
	// DefaultReadTimeout).
	MaxPageSize int
	ReadTimeout time.Duration
}

// Handler serves the admin prefixes.
type Handler struct {
	cfg    Config
	static http.Handler
}

// New builds the UI's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Node == nil || cfg.Options == nil {
		return nil, errors.New("adminui: Config needs the node (Node) and its options (Options)")
	}
	if cfg.MaxPageSize < 0 || cfg.ReadTimeout < 0 {
		return nil, fmt.Errorf("adminui: MaxPageSize %d and ReadTimeout %v must not be negative; 0 takes the default", cfg.MaxPageSize, cfg.ReadTimeout)
	}
	if cfg.MaxPageSize == 0 {
		cfg.MaxPageSize = DefaultMaxPageSize
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("adminui: the embedded files: %w", err)
	}
	return &Handler{cfg: cfg, static: http.StripPrefix(Prefix, http.FileServerFS(sub))}, nil
}

// ServeHTTP serves one request under an admin prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	hd := w.Header()
	// The UI is the node's own: no other origin may frame it or feed it
	// scripts.
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	switch {
	case path == "/ui" || strings.HasPrefix(path, "/ui/") || path == "/admin" || path == "/admin/":
		http.Redirect(w, r, Prefix+"/", http.StatusFound)
		return
	case path == Prefix || strings.HasPrefix(path, Prefix+"/"):
	default:
		http.Error(w, path+": no such admin endpoint; the admin UI is at "+Prefix+"/", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, r.Method+" "+path+": the admin UI only reads; use GET", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case path == Prefix:
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	case path == Prefix+"/api/config":
		h.serveConfig(w, r)
	case strings.HasPrefix(path, Prefix+"/api/streams/"):
		h.serveStream(w, r)
	case strings.HasPrefix(path, Prefix+"/api/"):
		writeError(w, http.StatusNotFound, path+": no such admin API endpoint; there are "+Prefix+"/api/streams/{stream} and "+Prefix+"/api/config")
	default:
		// The files change only with the binary; revalidating is cheap.
		hd.Set("Cache-Control", "no-cache")
		h.static.ServeHTTP(w, r)
	}
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// ErrorBody is every error answer of the JSON endpoints.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}
