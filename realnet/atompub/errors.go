package atompub

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// fail answers an error of the node or of the call with EventStoreDB's
// HTTP status for it (its AtomPub mapping, not gRPC's).
func (h *Handler) fail(q *request, err error) {
	var mbe *http.MaxBytesError
	w := q.w
	if errors.Is(err, clientapi.ErrAccessDenied) || errors.Is(err, clientapi.ErrUnauthenticated) {
		// AtomPub never answers 403.
		w.Header().Set("WWW-Authenticate", `BasicCustom realm="ES"`)
		textError(w, http.StatusUnauthorized, "Unauthorized: "+err.Error())
		return
	}
	switch node.Classify(err) {
	case node.ClassWrongExpectedVersion:
		var (
			wev *streams.WrongExpectedVersionError
			ci  *streams.CorruptedIdempotencyError
		)
		actual := int64(0)
		if errors.As(err, &wev) {
			actual = wev.Actual
		} else if errors.As(err, &ci) {
			actual = ci.Actual
		}
		w.Header().Set("ES-CurrentVersion", strconv.FormatInt(actual, 10))
		textError(w, http.StatusBadRequest, "Wrong expected EventNumber: "+err.Error())
	case node.ClassStreamDeleted:
		textError(w, http.StatusGone, "Deleted: "+err.Error())
	case node.ClassStreamNotFound:
		textError(w, http.StatusNotFound, "Not Found: "+err.Error())
	case node.ClassTooLarge:
		textError(w, http.StatusRequestEntityTooLarge, "Too large events received: "+err.Error())
	case node.ClassNotLeader:
		var nl *node.NotLeaderError
		errors.As(err, &nl)
		if nl.Leader.IsZero() {
			w.Header().Set("Retry-After", "1")
			textError(w, http.StatusServiceUnavailable, "Server Is Not Ready: no leader yet; retry shortly")
			return
		}
		// The same path and query on the leader's advertised address.
		u := url.URL{Scheme: "http", Host: nl.Leader.String(), Path: q.r.URL.Path, RawPath: q.r.URL.RawPath, RawQuery: q.r.URL.RawQuery}
		if h.cfg.TLS {
			u.Scheme = "https"
		}
		w.Header().Set("Location", u.String())
		textError(w, http.StatusTemporaryRedirect, "Temporary Redirect: this node is not the leader")
	case node.ClassNotReady, node.ClassDiskFull:
		w.Header().Set("Retry-After", "1")
		textError(w, http.StatusServiceUnavailable, "Server Is Not Ready: "+err.Error())
	case node.ClassTooBusy:
		w.Header().Set("Retry-After", "1")
		textError(w, http.StatusServiceUnavailable, "Server Is Too Busy: "+err.Error())
	case node.ClassInvalidArgument:
		var inv *streams.InvalidArgumentError
		errors.As(err, &inv)
		textError(w, http.StatusBadRequest, inv.What)
	case node.ClassTimeout:
		textError(w, http.StatusInternalServerError, "Write timeout: "+err.Error())
	default:
		switch {
		case errors.As(err, &mbe):
			textError(w, http.StatusRequestEntityTooLarge, "Too large events received: "+err.Error())
		case errors.Is(err, clientapi.ErrNodeStopped):
			w.Header().Set("Retry-After", "1")
			textError(w, http.StatusServiceUnavailable, "Server Is Not Ready: "+err.Error())
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			// The client went away or the request ran out of time.
			textError(w, http.StatusServiceUnavailable, "the request ended before the node answered: "+err.Error())
		default:
			textError(w, http.StatusInternalServerError, err.Error())
		}
	}
}

// authorize checks op on stream for the caller; false when refused (the
// answer has been sent).
func (h *Handler) authorize(q *request, op clientapi.Operation, stream string) bool {
	if h.cfg.Authorize == nil {
		return true
	}
	if err := h.cfg.Authorize(q.r.Context(), op, stream); err != nil {
		h.fail(q, err)
		return false
	}
	return true
}
