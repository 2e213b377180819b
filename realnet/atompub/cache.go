package atompub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// MaxAge is EventStoreDB's lifetime of an immutable response: a year.
const MaxAge = 31536000

// Cache-Control values.
const (
	cacheImmutable = "max-age=31536000, private"
	cacheNone      = "max-age=0, no-cache, must-revalidate"
)

// caching is what a successful GET says about caching its answer.
type caching struct {
	immutable bool
	// etagNumber, when hasETag, is the version the ETag validates: the
	// stream's last event number or $all's last position.
	etagNumber int64
	hasETag    bool
	// maxAge is the stream's $cacheControl in seconds for an answer that
	// may change (0: none, so no-cache).
	maxAge int64
}

// cacheControlOf is the $cacheControl of a stream's metadata in seconds,
// or 0 when it has none (metastreams have no metadata of their own).
func (h *Handler) cacheControlOf(ctx context.Context, stream string) int64 {
	if h.noCaching || strings.HasPrefix(stream, "$$") {
		return 0
	}
	evs, _, _, err := h.readPage(ctx, "$$"+stream, 0, true, true, 1, false)
	if err != nil || len(evs) == 0 {
		return 0
	}
	var m struct {
		CacheControl *int64 `json:"$cacheControl"`
	}
	if json.Unmarshal(evs[0].Data, &m) != nil || m.CacheControl == nil || *m.CacheControl <= 0 {
		return 0
	}
	return min(*m.CacheControl, MaxAge)
}

// etagToken ties a validator to this database and to the response's media
// type: a wiped and recreated database has another id, so an old ETag can
// never match a new answer. Empty when the database is not known yet.
func (h *Handler) etagToken(q *request, mediaType string) string {
	if h.cfg.DatabaseID == nil {
		return ""
	}
	id, err := h.cfg.DatabaseID(q.r.Context())
	if err != nil || id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id + "\x00" + mediaType))
	return hex.EncodeToString(sum[:8])
}

func etagValue(number int64, token string) string {
	return strconv.FormatInt(number, 10) + ";" + token
}

// notModified reports whether the request's If-None-Match names the
// current version in this database and media type (EventStoreDB's rule:
// one "number;hash" value, feeds only).
func notModified(r *http.Request, number int64, token string) bool {
	if token == "" {
		return false
	}
	v := strings.TrimSpace(r.Header.Get("If-None-Match"))
	v = strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`)
	return v != "" && v == etagValue(number, token)
}

// writeNotModified is EventStoreDB's 304: no validators, no caching.
func writeNotModified(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotModified)
}

// setCaching puts the caching headers of a 200 on w.
func (h *Handler) setCaching(q *request, c caching, mediaType string) {
	hd := q.w.Header()
	switch {
	case h.noCaching:
		hd.Set("Cache-Control", cacheNone)
	case c.immutable:
		hd.Set("Cache-Control", cacheImmutable)
	case c.maxAge > 0:
		hd.Set("Cache-Control", "max-age="+strconv.FormatInt(c.maxAge, 10)+", private")
	default:
		hd.Set("Cache-Control", cacheNone)
	}
	hd.Set("Vary", "Accept")
	if c.hasETag {
		if tok := h.etagToken(q, mediaType); tok != "" {
			hd.Set("ETag", `"`+etagValue(c.etagNumber, tok)+`"`)
		}
	}
}
