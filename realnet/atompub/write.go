package atompub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// parseUUID reads a GUID in its canonical form (or as 32 hex digits).
func parseUUID(s string) ([16]byte, bool) {
	var id [16]byte
	h := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if len(h) != 32 || (len(s) != 32 && len(s) != 36) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return id, false
	}
	return id, true
}

func newUUID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// expectedOf reads ES-ExpectedVersion (absent: any).
// writeHeadersOf reads what every write carries in its headers:
// ES-ExpectedVersion and ES-RequireLeader.
func writeHeadersOf(r *http.Request) (expected int64, requireLeader bool, err error) {
	if expected, err = expectedOf(r); err != nil {
		return 0, false, err
	}
	requireLeader, err = requireLeaderOf(r)
	return expected, requireLeader, err
}

func expectedOf(r *http.Request) (int64, error) {
	v := r.Header.Get("ES-ExpectedVersion")
	if v == "" {
		return int64(streams.Any), nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < -4 {
		return 0, fmt.Errorf("ES-ExpectedVersion header in wrong format: %q; give -2 (any), -1 (no stream), -4 (stream exists) or the last event number", v)
	}
	return n, nil
}

// batchEvent is one event of an events+json body.
type batchEvent struct {
	EventID   string          `json:"eventId"`
	EventType string          `json:"eventType"`
	Data      json.RawMessage `json:"data"`
	Metadata  json.RawMessage `json:"metadata"`
}

// bodyOf turns a JSON value of a batch into stored bytes: objects and
// arrays as they are (JSON), a string as its text (JSON when it parses
// as an object or array).
func bodyOf(v json.RawMessage) ([]byte, bool) {
	t := strings.TrimSpace(string(v))
	switch {
	case t == "" || t == "null":
		return nil, false
	case t[0] == '{' || t[0] == '[':
		return []byte(t), true
	case t[0] == '"':
		var s string
		_ = json.Unmarshal([]byte(t), &s)
		u := strings.TrimSpace(s)
		if u != "" && (u[0] == '{' || u[0] == '[') && json.Valid([]byte(u)) {
			return []byte(u), true
		}
		return []byte(s), false
	default:
		return []byte(t), true
	}
}

func parseBatch(body []byte) ([]streams.EventData, error) {
	var raw []batchEvent
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("Write request body invalid: %v", err)
	}
	if dec.More() {
		return nil, errors.New("Write request body invalid: data follows the array of events")
	}
	if len(raw) == 0 {
		return nil, errors.New("Write request body invalid: the array of events is empty")
	}
	return batchEvents(raw)
}

// batchEvents checks and converts the events of a batch body.
func batchEvents(raw []batchEvent) ([]streams.EventData, error) {
	evs := make([]streams.EventData, 0, len(raw))
	for i, r := range raw {
		id, ok := parseUUID(r.EventID)
		if !ok || id == ([16]byte{}) {
			return nil, fmt.Errorf("Empty or invalid eventId provided in event %d: %q; give a GUID", i, r.EventID)
		}
		if r.EventType == "" {
			return nil, fmt.Errorf("Empty eventType provided in event %d", i)
		}
		data, dj := bodyOf(r.Data)
		meta, mj := bodyOf(r.Metadata)
		evs = append(evs, streams.EventData{ID: id, Type: r.EventType, Data: data, Metadata: meta, IsJSON: dj || mj})
	}
	return evs, nil
}

// post appends to a stream (or its metadata): a batch body, or one event
// whose id and type come from headers (id from the incoming/{guid} path).
func (h *Handler) post(q *request, stream string, metadata bool, incoming string) {
	r, w := q.r, q.w
	target := stream
	if metadata {
		if strings.HasPrefix(stream, "$$") {
			textError(w, http.StatusBadRequest, "Invalid request. Stream must be non-empty string and should not be metastream")
			return
		}
		target = "$$" + stream
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil {
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			err = errors.New("charset")
		}
	}
	// The batch types carry ids and types in the body, as an array (JSON)
	// or the children of the root element (XML); the event+ forms parse
	// the same way.
	jsonBatch := mt == TypeEventsJSON || mt == TypeEventJSON
	xmlBatch := mt == TypeEventsXML || mt == TypeEventXML
	batch := jsonBatch || xmlBatch
	single := mt == TypeJSON || mt == TypeTextXML || mt == TypeAppXML || mt == TypeOctets
	if incoming != "" && batch {
		single, batch = false, false // incoming/{guid} takes one event, not a batch
	}
	if err != nil || !(batch || single) {
		textError(w, http.StatusUnsupportedMediaType, "Invalid or missing Content-Type: send "+TypeEventsJSON+" or "+TypeEventsXML+
			" (a batch of events) or one event as application/json, text/xml, application/xml or application/octet-stream")
		return
	}
	evType := r.Header.Get("ES-EventType")
	var evID [16]byte
	if single {
		if metadata {
			if evType != "" && evType != "$metadata" {
				textError(w, http.StatusBadRequest, "Bad Request. You should not include an event type for metadata.")
				return
			}
			evType = "$metadata"
		}
		if evType == "" {
			textError(w, http.StatusBadRequest, "Must include an event type with the request either in body or as ES-EventType header.")
			return
		}
		idText := r.Header.Get("ES-EventId")
		if incoming != "" {
			idText = incoming
		}
		if idText != "" {
			id, ok := parseUUID(idText)
			if !ok || id == ([16]byte{}) {
				textError(w, http.StatusBadRequest, "ES-EventId header in wrong format: "+strconv.Quote(idText)+"; give a GUID")
				return
			}
			evID = id
		} else if metadata {
			textError(w, http.StatusBadRequest, "Empty eventId provided: send ES-EventId with a GUID")
			return
		} else {
			// EventStoreDB's answer: re-post to an idempotent URL that
			// names a new id.
			loc := r.URL.EscapedPath() + "/incoming/" + member.ID(newUUID()).String()
			w.Header().Set("Location", loc)
			textError(w, http.StatusTemporaryRedirect, "Forwarding to idempotent URI")
			return
		}
	}
	expected, requireLeader, err := writeHeadersOf(r)
	if err != nil {
		textError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !h.authorize(q, clientapi.OpWrite, target) {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(q, err)
			return
		}
		textError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return
	}
	var evs []streams.EventData
	switch {
	case jsonBatch:
		evs, err = parseBatch(body)
	case xmlBatch:
		evs, err = parseXMLBatch(body)
	}
	if batch {
		if err != nil {
			textError(w, http.StatusBadRequest, err.Error())
			return
		}
	} else {
		evs = []streams.EventData{{ID: evID, Type: evType, Data: body, IsJSON: mt == TypeJSON}}
	}
	res, err := h.cfg.Node.Append(r.Context(), node.AppendRequest{Stream: target, Expected: expected, Events: evs, RequireLeader: requireLeader})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		h.fail(q, err)
		return
	}
	first := res.Revision - int64(len(evs)) + 1
	w.Header().Set("Location", q.streamURL(target)+"/"+strconv.FormatInt(first, 10))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
}

// delete soft-deletes a stream, or tombstones it with ES-HardDelete.
func (h *Handler) delete(q *request, stream string) {
	r, w := q.r, q.w
	hard := false
	switch v := strings.ToLower(strings.TrimSpace(r.Header.Get("ES-HardDelete"))); v {
	case "", "false":
	case "true":
		hard = true
	default:
		textError(w, http.StatusBadRequest, "ES-HardDelete header in wrong format: "+strconv.Quote(v)+"; give true or false")
		return
	}
	expected, requireLeader, err := writeHeadersOf(r)
	if err != nil {
		textError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !h.authorize(q, clientapi.OpDelete, stream) {
		return
	}
	res, err := h.cfg.Node.Delete(r.Context(), node.DeleteRequest{Stream: stream, Expected: expected, Tombstone: hard, RequireLeader: requireLeader})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		h.fail(q, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNoContent)
}
