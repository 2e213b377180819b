package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/clientapi"
	"github.com/annal-db/annal/realnet/disk"
	"github.com/annal-db/annal/realnet/netstack"
)

// Node is the running node as the HTTP API reads it. Every method is safe
// to call from any goroutine.
type Node interface {
	// Status is what the node last reported about itself; it never waits
	// for the node.
	Status() Status
	// Stats asks the node for its statistics on its loop, waiting at most
	// until ctx ends.
	Stats(ctx context.Context) (node.Stats, error)
	// LoopQueue is how many inputs wait on the node's loop, and how many
	// the loop's inbox admits before posters wait.
	LoopQueue() (length, capacity int)
	// DiskStats counts the disk's operations and fsyncs.
	DiskStats() disk.Stats
	// PortStats counts the node port's connections.
	PortStats() netstack.NodePortStats
	// Dir is the database directory.
	Dir() string
}

// Status is what the node last reported about itself.
type Status struct {
	State  member.State
	Epoch  int32
	ID     member.ID
	Leader member.ID
}

// Config configures the API. Options and Node are required; zero limits
// take the defaults below.
type Config struct {
	Options *options.Values
	Node    Node
	// Version is the EventStoreDB version reported by /info (default
	// clientapi.DefaultServerVersion, the protocol the node speaks).
	Version string

	// MaxBodyBytes bounds a request body on the node port's HTTP side.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the reading of a request body once its
	// headers are in (the headers are bounded by the port's
	// ReadHeaderTimeout): a client sending it slowly is cut off.
	BodyReadTimeout time.Duration
	// WriteTimeout bounds the writing of a response to a client that does
	// not read it.
	WriteTimeout time.Duration
	// MaxConcurrent bounds HTTP requests in progress at once; more are
	// answered 503 at once. /health/live is not counted.
	MaxConcurrent int
	// StatsTimeout bounds how long /stats and /metrics wait for the node's
	// loop; past it they answer without the node's own figures.
	StatsTimeout time.Duration

	// Admin, when set, serves every request under the admin prefixes
	// (realnet/adminui), behind the Admin exposure switch like the rest.
	// Nil: they answer 404.
	Admin http.Handler
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultBodyReadTimeout = 10 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultMaxConcurrent   = 128
	DefaultStatsTimeout    = 2 * time.Second
)

// API is the node's HTTP API on its node port, and the counters behind
// /metrics and /stats.
type API struct {
	cfg      Config
	node     Node
	exposure Exposure
	started  time.Time
	slots    chan struct{} // one token per request in progress
	m        *metrics
	cpu      cpuSampler
	streams  atomic.Pointer[http.Handler] // AtomPub (streams.go)
}

// New builds the API for one node.
func New(cfg Config) (*API, error) {
	if cfg.Options == nil || cfg.Node == nil {
		return nil, errors.New("httpapi: Config needs the node's Options and its Node")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"MaxBodyBytes", cfg.MaxBodyBytes}, {"BodyReadTimeout", int64(cfg.BodyReadTimeout)}, {"WriteTimeout", int64(cfg.WriteTimeout)},
		{"MaxConcurrent", int64(cfg.MaxConcurrent)}, {"StatsTimeout", int64(cfg.StatsTimeout)}} {
		if f.v < 0 {
			return nil, fmt.Errorf("httpapi: %s is %d; use a positive value, or 0 for the default", f.name, f.v)
		}
	}
	cfg.MaxBodyBytes = orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.BodyReadTimeout = orDefault(cfg.BodyReadTimeout, DefaultBodyReadTimeout)
	cfg.WriteTimeout = orDefault(cfg.WriteTimeout, DefaultWriteTimeout)
	cfg.MaxConcurrent = orDefault(cfg.MaxConcurrent, DefaultMaxConcurrent)
	cfg.StatsTimeout = orDefault(cfg.StatsTimeout, DefaultStatsTimeout)
	if cfg.Version == "" {
		cfg.Version = clientapi.DefaultServerVersion
	}
	a := &API{
		cfg:      cfg,
		node:     cfg.Node,
		exposure: ExposureOf(cfg.Options),
		started:  time.Now(),
		slots:    make(chan struct{}, cfg.MaxConcurrent),
	}
	a.m = newMetrics(a)
	a.cpu.percent(a.started) // the first /stats then reports the use since start
	return a, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Exposure is what the node port hides.
func (a *API) Exposure() Exposure { return a.exposure }

// route is one of the API's endpoints.
type route struct {
	name    string // the label of its requests in annal_http_requests_total
	methods []string
	hidden  string // why it is hidden, or ""
	serve   func(w http.ResponseWriter, r *http.Request)
	limited bool // counts towards MaxConcurrent
}

// routeOf finds the endpoint of a request. Paths the API does not own
// pass to next (the port's own routes), still behind the API's limits and
// exposure switches.
func (a *API) routeOf(path string, next http.Handler) route {
	switch {
	case path == "/health/live":
		return route{name: "health", methods: []string{http.MethodGet, http.MethodHead}, serve: a.serveHealth}
	case path == "/info":
		return route{name: "info", methods: []string{http.MethodGet}, serve: a.serveInfo, limited: true}
	case path == "/stats" || strings.HasPrefix(path, "/stats/"):
		return route{name: "stats", methods: []string{http.MethodGet}, hidden: a.exposure.Stats, serve: a.serveStats, limited: true}
	case path == "/metrics":
		return route{name: "metrics", methods: []string{http.MethodGet, http.MethodHead}, hidden: a.exposure.Stats, serve: a.m.handler.ServeHTTP, limited: true}
	case path == "/gossip":
		// The port's own route serves it; the API answers preflights and
		// adds the CORS headers, as EventStoreDB does for every route.
		return route{name: "gossip", methods: []string{http.MethodGet, http.MethodHead}, hidden: a.exposure.Gossip, serve: next.ServeHTTP, limited: true}
	case isStreamsPath(path):
		return route{name: "streams", serve: a.serveStreams, limited: true}
	case isAdminPath(path):
		serve := adminOr(next)
		if a.cfg.Admin != nil {
			serve = a.cfg.Admin.ServeHTTP
		}
		return route{name: "admin", hidden: a.exposure.Admin, serve: serve, limited: true}
	default:
		return route{name: "other", serve: next.ServeHTTP, limited: true}
	}
}

// Wrap puts the API in front of the node port's HTTP handler next (see
// netstack.Options.WrapHTTP): the API's own routes, then next, all behind
// the exposure switches and the request limits.
func (a *API) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, next) })
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rt := a.routeOf(r.URL.Path, next)
	sw := &statusWriter{ResponseWriter: w}
	defer func() { a.m.httpRequests.WithLabelValues(rt.name, strconv.Itoa(sw.status())).Inc() }()
	w = sw
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(a.cfg.WriteTimeout))

	if rt.hidden != "" {
		http.Error(w, fmt.Sprintf("%s is %s", r.URL.Path, rt.hidden), http.StatusNotFound)
		return
	}
	if rt.methods != nil {
		corsHeaders(w.Header(), rt.methods)
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		if !allowed(rt.methods, r.Method) {
			w.Header().Set("Allow", strings.Join(rt.methods, ", "))
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
	}
	if rt.limited {
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("the node is serving %d HTTP requests already; retry shortly", cap(a.slots)), http.StatusServiceUnavailable)
			return
		}
	}
	if !a.limitBody(w, r, rc) {
		return
	}
	rt.serve(w, r)
}

func allowed(methods []string, m string) bool {
	for _, a := range methods {
		if a == m {
			return true
		}
	}
	return false
}

// corsHeaders are the headers EventStoreDB sends on every response of its
// HTTP API, so that browser tools written for it work here too.
func corsHeaders(h http.Header, methods []string) {
	h.Set("Access-Control-Allow-Methods", strings.Join(append(methods[:len(methods):len(methods)], http.MethodOptions), ", "))
	h.Set("Access-Control-Allow-Headers", "Content-Type, X-Requested-With, X-Forwarded-Host, X-Forwarded-Prefix, X-PINGOTHER, Authorization, "+
		"ES-LongPoll, ES-ExpectedVersion, ES-EventId, ES-EventType, ES-RequireMaster, ES-RequireLeader, ES-HardDelete, ES-ResolveLinkTos")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, ES-Position, ES-CurrentVersion")
}

// limitBody refuses a body announced larger than MaxBodyBytes, and bounds
// the reading of any body in size and time. It reports whether the
// request goes on.
func (a *API) limitBody(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) bool {
	if r.ContentLength > a.cfg.MaxBodyBytes {
		// The body is not read: closing is cheaper than draining it.
		w.Header().Set("Connection", "close")
		http.Error(w, fmt.Sprintf("the request body of %d bytes is larger than the node port's limit of %d bytes", r.ContentLength, a.cfg.MaxBodyBytes),
			http.StatusRequestEntityTooLarge)
		return false
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	// Only a request with a body gets a read deadline. net/http watches
	// for the client going away with a read of its own, started before
	// the handler when there is no body and lifting the deadline when it
	// starts after a body: a deadline set while that read is running
	// would end it and cancel the request's context.
	_ = rc.SetReadDeadline(time.Now().Add(a.cfg.BodyReadTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	return true
}

// statusWriter remembers the status sent, for the request counter.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush and Hijack pass through, for handlers that assert the interfaces
// rather than use http.ResponseController.
func (s *statusWriter) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

// Hijack hands the connection over; net/http lifts the deadlines the API
// set for the request, so the new owner starts with none.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.code == 0 {
		s.code = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// adminOr serves the admin prefixes: whatever the port has there, or a
// plain answer that there is nothing yet.
func adminOr(next http.Handler) func(http.ResponseWriter, *http.Request) {
	mux, _ := next.(interface {
		Handler(*http.Request) (http.Handler, string)
	})
	return func(w http.ResponseWriter, r *http.Request) {
		if mux != nil {
			if _, pattern := mux.Handler(r); pattern == "" {
				http.Error(w, r.URL.Path+": this node has no admin UI or admin endpoints yet", http.StatusNotFound)
				return
			}
		}
		next.ServeHTTP(w, r)
	}
}
