package adminui

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// StreamPage is GET /web/api/streams/{stream}: events newest first.
type StreamPage struct {
	Stream string      `json:"stream"`
	Events []EventJSON `json:"events"`
	// Next is the revision the next older page starts at; absent when
	// this page reaches the stream's first event.
	Next *int64 `json:"next,omitempty"`
	// LastRevision is the stream's newest revision.
	LastRevision int64 `json:"lastRevision"`
}

// EventJSON is one event. Data and Metadata are the JSON itself when the
// bytes are JSON, else a string: the text when UTF-8, base64 otherwise
// (DataEncoding and MetadataEncoding say which: "json", "text",
// "base64").
type EventJSON struct {
	Stream           string          `json:"stream"`
	EventNumber      int64           `json:"eventNumber"`
	Position         int64           `json:"position"`
	EventID          string          `json:"eventId"`
	EventType        string          `json:"eventType"`
	Created          string          `json:"created"`
	IsJSON           bool            `json:"isJson"`
	Tombstone        bool            `json:"tombstone,omitempty"`
	Data             json.RawMessage `json:"data"`
	DataEncoding     string          `json:"dataEncoding"`
	Metadata         json.RawMessage `json:"metadata"`
	MetadataEncoding string          `json:"metadataEncoding"`
}

func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request) {
	// The name is taken from the escaped path, so that a name with "/" or
	// "%" in it (sent escaped) arrives whole.
	raw := strings.TrimPrefix(r.URL.EscapedPath(), Prefix+"/api/streams/")
	stream, err := url.PathUnescape(raw)
	if err != nil || stream == "" || !utf8.ValidString(stream) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the stream name %q is empty or not a valid escaped UTF-8 path segment; escape it with encodeURIComponent", raw))
		return
	}
	q := r.URL.Query()
	from := int64(-1)
	if s := q.Get("from"); s != "" && s != "end" {
		if from, err = strconv.ParseInt(s, 10, 64); err != nil || from < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("from=%q is not a revision; give a number >= 0, or leave it out to read from the end", s))
			return
		}
	}
	count := DefaultPageSize
	if s := q.Get("count"); s != "" {
		if count, err = strconv.Atoi(s); err != nil || count < 1 || count > h.cfg.MaxPageSize {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("count=%q is not a page size; give a number from 1 to %d", s, h.cfg.MaxPageSize))
			return
		}
	}
	if h.cfg.Authorize != nil {
		if err := h.cfg.Authorize(r.Context(), clientapi.OpRead, stream); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.ReadTimeout)
	defer cancel()
	page, status, err := readBackwards(ctx, h.cfg.Node, stream, from, count)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// refuse answers a denied read: 401 with a challenge for a caller without
// credentials (the browser then asks for them), 403 for a user.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, clientapi.ErrAccessDenied) {
		status = http.StatusForbidden
		if h.cfg.Anonymous != nil && h.cfg.Anonymous(r) {
			status = http.StatusUnauthorized
			if h.cfg.Challenge != "" {
				w.Header().Set("WWW-Authenticate", h.cfg.Challenge)
			}
		}
	}
	writeError(w, status, err.Error())
}

// readBackwards reads up to count events from revision from (-1: the
// end) towards the start, page by page as the node gives them.
func readBackwards(ctx context.Context, n clientapi.Node, stream string, from int64, count int) (StreamPage, int, error) {
	page := StreamPage{Stream: stream, Events: []EventJSON{}, LastRevision: -1}
	req := node.ReadRequest{Stream: stream, FromEnd: from < 0, From: max(from, 0), Backwards: true}
	for len(page.Events) < count {
		req.Count = uint64(count - len(page.Events))
		res, err := n.ReadStream(ctx, req)
		if err != nil {
			return page, callStatus(err), fmt.Errorf("reading %q: %w", stream, err)
		}
		if res.Err != nil {
			return page, resultStatus(res.Err), fmt.Errorf("reading %q: %w", stream, res.Err)
		}
		page.LastRevision = res.LastRevision
		for i := range res.Events {
			if len(page.Events) == count {
				break
			}
			page.Events = append(page.Events, eventJSON(&res.Events[i]))
		}
		if res.End || res.Next < 0 {
			page.Next = nil
			return page, http.StatusOK, nil
		}
		next := res.Next
		page.Next = &next
		if len(res.Events) == 0 && !req.FromEnd && res.Next == req.From {
			break // no progress: stop rather than spin
		}
		req.FromEnd, req.From = false, res.Next
	}
	return page, http.StatusOK, nil
}

func callStatus(err error) int {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, clientapi.ErrNodeStopped), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func resultStatus(err error) int {
	switch node.Classify(err) {
	case node.ClassStreamNotFound:
		return http.StatusNotFound
	case node.ClassStreamDeleted:
		return http.StatusGone
	case node.ClassInvalidArgument:
		return http.StatusBadRequest
	case node.ClassNotReady, node.ClassNotLeader, node.ClassTooBusy, node.ClassDiskFull:
		return http.StatusServiceUnavailable
	case node.ClassTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func eventJSON(e *streams.Event) EventJSON {
	j := EventJSON{
		Stream: e.Stream, EventNumber: e.Number, Position: e.Position, EventID: member.ID(e.ID).String(), EventType: e.Type,
		Created: time.Unix(0, e.Created*100).UTC().Format(time.RFC3339Nano), IsJSON: e.IsJSON, Tombstone: e.Tombstone,
	}
	j.Data, j.DataEncoding = payload(e.Data)
	j.Metadata, j.MetadataEncoding = payload(e.Metadata)
	if e.Number == math.MaxInt64 {
		j.Tombstone = true
	}
	return j
}

// payload shows bytes as JSON when they are JSON (whatever the event's
// flag says: the UI pretty-prints what it can), else as a string.
func payload(b []byte) (json.RawMessage, string) {
	if len(b) == 0 {
		return json.RawMessage(`""`), "text"
	}
	if json.Valid(b) {
		return json.RawMessage(b), "json"
	}
	if utf8.Valid(b) {
		s, _ := json.Marshal(string(b))
		return s, "text"
	}
	s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
	return s, "base64"
}
