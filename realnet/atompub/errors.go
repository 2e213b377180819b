package atompub

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// fail answers an error of the node or of the call with EventStoreDB's
// HTTP status for it (its AtomPub mapping, not gRPC's).
func (h *Handler) fail(q *request, err error) {
	var (
		nl   *node.NotLeaderError
		del  *streams.StreamDeletedError
		wev  *streams.WrongExpectedVersionError
		ci   *streams.CorruptedIdempotencyError
		nf   *streams.StreamNotFoundError
		size *streams.MaxAppendSizeExceededError
		busy *streams.TooBusyError
		inv  *streams.InvalidArgumentError
		tmo  *streams.TimeoutError
		mbe  *http.MaxBytesError
	)
	w := q.w
	switch {
	case errors.Is(err, clientapi.ErrAccessDenied), errors.Is(err, clientapi.ErrUnauthenticated):
		// AtomPub never answers 403.
		w.Header().Set("WWW-Authenticate", `BasicCustom realm="ES"`)
		textError(w, http.StatusUnauthorized, "Unauthorized: "+err.Error())
	case errors.As(err, &wev):
		w.Header().Set("ES-CurrentVersion", strconv.FormatInt(wev.Actual, 10))
		textError(w, http.StatusBadRequest, "Wrong expected EventNumber: "+err.Error())
	case errors.As(err, &ci):
		w.Header().Set("ES-CurrentVersion", strconv.FormatInt(ci.Actual, 10))
		textError(w, http.StatusBadRequest, "Wrong expected EventNumber: "+err.Error())
	case errors.As(err, &del):
		textError(w, http.StatusGone, "Deleted: "+err.Error())
	case errors.As(err, &nf):
		textError(w, http.StatusNotFound, "Not Found: "+err.Error())
	case errors.As(err, &size), errors.As(err, &mbe):
		textError(w, http.StatusRequestEntityTooLarge, "Too large events received: "+err.Error())
	case errors.As(err, &nl):
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
	case errors.Is(err, node.ErrNotReady), errors.Is(err, clientapi.ErrNodeStopped):
		w.Header().Set("Retry-After", "1")
		textError(w, http.StatusServiceUnavailable, "Server Is Not Ready: "+err.Error())
	case errors.As(err, &busy):
		w.Header().Set("Retry-After", "1")
		textError(w, http.StatusServiceUnavailable, "Server Is Too Busy: "+err.Error())
	case errors.As(err, &inv):
		textError(w, http.StatusBadRequest, inv.What)
	case errors.As(err, &tmo), errors.Is(err, node.ErrAmbiguous), errors.Is(err, node.ErrLeadershipLost), errors.Is(err, env.ErrTimeout):
		textError(w, http.StatusInternalServerError, "Write timeout: "+err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away or the request ran out of time.
		textError(w, http.StatusServiceUnavailable, "the request ended before the node answered: "+err.Error())
	default:
		textError(w, http.StatusInternalServerError, err.Error())
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
