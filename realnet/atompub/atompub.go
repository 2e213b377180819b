package atompub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/filter"
	"github.com/annal-db/annal/realnet/clientapi"
)

// Config configures the handler. Options and Node are required.
type Config struct {
	Options *options.Values
	Node    clientapi.Node
	// DatabaseID names the database the node serves (empty while it is
	// not known yet). ETags are sent only when it is known.
	DatabaseID func(ctx context.Context) (string, error)
	// Authorize checks a stream operation for the caller in ctx; nil
	// allows everything (an insecure node). Refusals wrap
	// clientapi.ErrAccessDenied.
	Authorize func(ctx context.Context, op clientapi.Operation, stream string) error
	// MaxLongPoll bounds ES-LongPoll waits (default DefaultMaxLongPoll).
	MaxLongPoll time.Duration
	// TLS says the node port speaks HTTPS, for the links' scheme.
	TLS bool
}

// DefaultMaxLongPoll bounds how long one request may wait for events.
const DefaultMaxLongPoll = 5 * time.Minute

// FeedPageSize is EventStoreDB's page of a feed when none is asked for.
const FeedPageSize = 20

// MaxPageSize is the largest count a page may ask for, as EventStoreDB's
// storage reader allows.
const MaxPageSize = 4096

// Handler serves /streams and everything below it.
type Handler struct {
	cfg          Config
	noCaching    bool
	linkHost     string // configured advertised host, or ""
	linkPort     uint16 // configured advertised port, or 0
	writeTimeout time.Duration
}

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Options == nil || cfg.Node == nil {
		return nil, errors.New("atompub: Config needs the node's Options and its Node")
	}
	if cfg.MaxLongPoll < 0 {
		return nil, fmt.Errorf("atompub: MaxLongPoll is %v; use a positive duration, or 0 for the default (%v)", cfg.MaxLongPoll, DefaultMaxLongPoll)
	}
	if cfg.MaxLongPoll == 0 {
		cfg.MaxLongPoll = DefaultMaxLongPoll
	}
	o := cfg.Options
	h := &Handler{cfg: cfg, noCaching: o.Bool(options.DisableHttpCaching), writeTimeout: 30 * time.Second}
	// Links name the node as clients are told to reach it: the
	// client-facing override first, then the node's advertised address,
	// else whatever Host the client used.
	h.linkHost = o.String(options.AdvertiseHostToClientAs)
	if h.linkHost == "" {
		h.linkHost = o.String(options.NodeHostAdvertiseAs)
	}
	h.linkPort = o.Port(options.AdvertiseNodePortToClientAs)
	if h.linkPort == 0 {
		h.linkPort = o.Port(options.NodePortAdvertiseAs)
	}
	return h, nil
}

// request is one parsed request to the API.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	base string // scheme://host[:port][prefix]
	// format is the response type ?format= asks for, or "".
	format string
	// requireLeader (ES-RequireLeader) makes a follower redirect reads
	// to the leader instead of answering them itself.
	requireLeader bool
	// resolveLinks (ES-ResolveLinkTos) shows link events with the events
	// they point at; resolveLinksGiven says the header set it (its
	// default is true for stream feeds and single events, false for $all
	// and metastream reads).
	resolveLinks, resolveLinksGiven bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cors(w.Header())
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	raw := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(raw, "/streams/")
	if !ok || rest == "" {
		textError(w, http.StatusNotFound, "name a stream: /streams/{stream}")
		return
	}
	if strings.HasSuffix(rest, "/") {
		// EventStoreDB redirects a trailing slash to the path without it.
		target := strings.TrimSuffix(raw, "/")
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.Header().Set("Cache-Control", "max-age=31536000, public")
		textError(w, http.StatusTemporaryRedirect, "Moved Permanently")
		return
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			textError(w, http.StatusBadRequest, fmt.Sprintf("path segment %q is not valid percent-encoding", p))
			return
		}
		parts[i] = u
	}
	q := &request{w: w, r: r, base: h.linkBase(r)}
	stream := parts[0]
	if stream == "" {
		textError(w, http.StatusBadRequest, "Invalid request. Stream must be non-empty string")
		return
	}
	parts = parts[1:]
	switch r.Method {
	case http.MethodGet:
		if !q.readHeaders() {
			return
		}
		h.get(q, stream, parts)
	case http.MethodPost:
		switch {
		case len(parts) == 0:
			h.post(q, stream, false, "")
		case len(parts) == 1 && parts[0] == "metadata":
			h.post(q, stream, true, "")
		case len(parts) == 2 && parts[0] == "incoming":
			h.post(q, stream, false, parts[1])
		default:
			methodNotAllowed(w)
		}
	case http.MethodDelete:
		if len(parts) != 0 {
			methodNotAllowed(w)
			return
		}
		h.delete(q, stream)
	default:
		methodNotAllowed(w)
	}
}

// readHeaders reads what a GET may say besides its path: ?format=,
// ES-RequireLeader and ES-ResolveLinkTos; false when answered.
func (q *request) readHeaders() bool {
	var err error
	if q.format, err = formatOf(q.r); err != nil {
		textError(q.w, http.StatusBadRequest, err.Error())
		return false
	}
	if q.requireLeader, err = requireLeaderOf(q.r); err != nil {
		textError(q.w, http.StatusBadRequest, err.Error())
		return false
	}
	if q.resolveLinks, err = boolHeader(q.r, "ES-ResolveLinkTos", true); err != nil {
		textError(q.w, http.StatusBadRequest, err.Error())
		return false
	}
	q.resolveLinksGiven = strings.TrimSpace(q.r.Header.Get("ES-ResolveLinkTos")) != ""
	return true
}

// get routes the GET forms: the feed head, pages, single events, the
// metadata, and the same under metadata/ for the metastream.
func (h *Handler) get(q *request, stream string, parts []string) {
	if len(parts) >= 1 && parts[0] == "metadata" {
		if strings.HasPrefix(stream, "$$") {
			textError(q.w, http.StatusBadRequest, fmt.Sprintf("Invalid stream name '%s': a metadata stream has no metadata of its own", stream))
			return
		}
		if len(parts) == 1 {
			h.getMetadata(q, stream)
			return
		}
		stream, parts = "$$"+stream, parts[1:]
	}
	all := stream == "$all"
	if (all || strings.HasPrefix(stream, "$$")) && !q.resolveLinksGiven {
		// EventStoreDB resolves links in $all and metastream reads
		// only when asked.
		q.resolveLinks = false
	}
	var only *streams.AllFilter
	if all && len(parts) >= 1 && parts[0] == "filtered" {
		f, err := allFilterOf(q.r)
		if err != nil {
			textError(q.w, http.StatusBadRequest, err.Error())
			return
		}
		only, parts = f, parts[1:]
	}
	switch len(parts) {
	case 0:
		if all {
			h.allFeed(q, only, "head", true, FeedPageSize)
		} else {
			h.streamFeed(q, stream, "head", true, FeedPageSize)
		}
		return
	case 1:
		if all {
			textError(q.w, http.StatusNotFound, "read $all as pages: /streams/$all/{position}/backward/{count}")
			return
		}
		h.getEvent(q, stream, parts[0])
		return
	case 2:
		parts = []string{parts[0], "backward", parts[1]}
	case 3:
	default:
		textError(q.w, http.StatusNotFound, "no such route under /streams")
		return
	}
	var backward bool
	switch parts[1] {
	case "backward":
		backward = true
	case "forward":
	default:
		textError(q.w, http.StatusNotFound, "no such route under /streams: use {from}/backward/{count} or {from}/forward/{count}")
		return
	}
	count, err := strconv.Atoi(parts[2])
	if err != nil || count <= 0 {
		textError(q.w, http.StatusBadRequest, fmt.Sprintf("'%s' is not valid count. Should be positive integer", parts[2]))
		return
	}
	if count > MaxPageSize {
		textError(q.w, http.StatusBadRequest, fmt.Sprintf("Read size too big, should be less than %d items", MaxPageSize))
		return
	}
	if all {
		h.allFeed(q, only, parts[0], backward, count)
	} else {
		h.streamFeed(q, stream, parts[0], backward, count)
	}
}

// allFilterOf reads a filtered $all feed's query: context=eventtype or
// streamid, type=prefix (data a comma list) or regex (data one regex), or
// exclude-system-events=true.
func allFilterOf(r *http.Request) (*streams.AllFilter, error) {
	qv := r.URL.Query()
	if v, ok := qv["exclude-system-events"]; ok {
		if len(v) != 1 || v[0] != "true" {
			return nil, fmt.Errorf("exclude-system-events=%q: only true is allowed", strings.Join(v, ","))
		}
		// System events are those whose type starts with $.
		return &streams.AllFilter{Spec: filter.Spec{On: filter.EventType, Regex: `^[^$]`}}, nil
	}
	var spec filter.Spec
	switch c := qv.Get("context"); c {
	case "eventtype":
		spec.On = filter.EventType
	case "streamid":
		spec.On = filter.StreamName
	default:
		return nil, fmt.Errorf("filter context %q: give context=eventtype or context=streamid (or exclude-system-events=true)", c)
	}
	data := qv.Get("data")
	if data == "" {
		return nil, errors.New("the filter has no data: give data=<comma list of prefixes> or data=<regex>")
	}
	switch t := qv.Get("type"); t {
	case "prefix":
		spec.Prefixes = strings.Split(data, ",")
	case "regex":
		spec.Regex = data
	default:
		return nil, fmt.Errorf("filter type %q: give type=prefix or type=regex", t)
	}
	if _, err := filter.New(spec); err != nil {
		return nil, err
	}
	return &streams.AllFilter{Spec: spec}, nil
}

// linkBase is where links point: EventStoreDB's rules, the advertised
// address first, then X-Forwarded-* from a proxy in front of the node.
func (h *Handler) linkBase(r *http.Request) string {
	scheme := "http"
	if h.cfg.TLS { // the node port may set r.TLS on plain connections too
		scheme = "https"
	}
	host, port := r.Host, ""
	if hh, pp, err := splitHostPort(r.Host); err == nil {
		host, port = hh, pp
	}
	if h.linkHost != "" {
		host = h.linkHost
	}
	if h.linkPort != 0 {
		port = strconv.Itoa(int(h.linkPort))
	}
	if p := r.Header.Get("X-Forwarded-Port"); p != "" {
		if _, err := strconv.ParseUint(p, 10, 16); err == nil {
			port = p
		}
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	if fh := strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Host"), ",")[0]); fh != "" {
		if hh, pp, err := splitHostPort(fh); err == nil {
			host, port = hh, pp
		} else {
			host = fh
		}
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	hostPort := host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		hostPort = "[" + host + "]"
	}
	if port != "" {
		hostPort += ":" + port
	}
	prefix := strings.TrimSuffix(r.Header.Get("X-Forwarded-Prefix"), "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	return scheme + "://" + hostPort + prefix
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.HasSuffix(s, "]") {
		return "", "", errors.New("no port")
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
	return host, s[i+1:], nil
}

// streamURL is a stream's feed URL, its name escaped as EventStoreDB does
// ($ as %24).
func (q *request) streamURL(stream string) string {
	return q.base + "/streams/" + escapeStream(stream)
}

func escapeStream(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), "$", "%24")
}

// cors are the headers EventStoreDB sends on every response of its HTTP
// API, so browser tools written for it work here too.
func cors(h http.Header) {
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, GET, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, X-Requested-With, X-Forwarded-Host, X-Forwarded-Prefix, X-PINGOTHER, Authorization, "+
		"ES-LongPoll, ES-ExpectedVersion, ES-EventId, ES-EventType, ES-RequireMaster, ES-RequireLeader, ES-HardDelete, ES-ResolveLinkTos")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, ES-Position, ES-CurrentVersion")
}

func methodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", "GET, POST, DELETE, OPTIONS")
	w.WriteHeader(http.StatusMethodNotAllowed)
}

// textError answers with a plain-text message (EventStoreDB 23.10 and
// later put the reason in the body) and no caching headers.
func textError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if msg != "" {
		_, _ = w.Write([]byte(msg))
	}
}
