package atompub

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// readPage reads up to count events of a stream from (a revision, or the
// end when fromEnd), continuing over the node's pages.
func (h *Handler) readPage(ctx context.Context, stream string, from int64, fromEnd, backward bool, count int, requireLeader bool) (evs []streams.Event, end bool, last int64, err error) {
	req := node.ReadRequest{Stream: stream, FromEnd: fromEnd, From: from, Backwards: backward, RequireLeader: requireLeader}
	last = streams.NoRevision
	for calls := 0; len(evs) < count; calls++ {
		req.Count = uint64(count - len(evs))
		res, err := h.cfg.Node.ReadStream(ctx, req)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return nil, false, last, err
		}
		// A head page starts at the last revision its first read saw:
		// events appended while it goes on are not on it, and its links
		// and ETag must not claim them.
		if !fromEnd || calls == 0 {
			last = res.LastRevision
		}
		evs = append(evs, res.Events...)
		if res.End {
			return evs, true, last, nil
		}
		if len(res.Events) == 0 && !req.FromEnd && res.Next == req.From {
			return evs, true, last, nil // no progress: treat as the end
		}
		req.FromEnd, req.From = false, res.Next
	}
	return evs[:count], false, last, nil
}

// feedType negotiates a feed's type, answering the description document
// when no Atom type was asked for; "" when answered.
func (h *Handler) feedType(q *request, stream string) string {
	t := q.negotiate(feedTypes)
	switch t {
	case "":
		textError(q.w, http.StatusNotAcceptable, "Requested URI is not available in requested format")
		return ""
	case TypeStreamDesc:
		code := http.StatusNotAcceptable
		if strings.Contains(q.r.Header.Get("Accept"), TypeStreamDesc) {
			code = http.StatusOK
		}
		q.w.Header().Set("Content-Type", TypeStreamDesc+"; charset=utf-8")
		q.w.WriteHeader(code)
		_, _ = q.w.Write(descriptionDocument(stream))
		return ""
	}
	return t
}

// streamFeed answers a page of a stream: the head (from "head",
// backward), or count events backward or forward from a revision.
func (h *Handler) streamFeed(q *request, stream, fromArg string, backward bool, count int) {
	fromEnd := fromArg == "head"
	var from int64
	if !fromEnd {
		n, err := strconv.ParseInt(fromArg, 10, 64)
		if err != nil || n < 0 {
			textError(q.w, http.StatusBadRequest, fmt.Sprintf("'%s' is not valid event number", fromArg))
			return
		}
		from = n
	} else if !backward {
		textError(q.w, http.StatusBadRequest, "'head' is not valid event number for a forward read; read forward from a number")
		return
	}
	longPoll, ok := h.longPollOf(q, !backward)
	if !ok || !h.authorize(q, clientapi.OpRead, stream) {
		return
	}
	mediaType := h.feedType(q, stream)
	if mediaType == "" {
		return
	}
	ctx := q.r.Context()
	evs, end, last, err := h.readPage(ctx, stream, from, fromEnd, backward, count, q.requireLeader)
	var nf *streams.StreamNotFoundError
	if !backward && longPoll > 0 && ((err == nil && from > last) || errors.As(err, &nf)) {
		start := streams.Start()
		if from > 0 {
			start = streams.After(from - 1)
		}
		if h.waitForEvents(q, longPoll, stream, start) {
			evs, end, last, err = h.readPage(ctx, stream, from, false, false, count, q.requireLeader)
		}
	}
	if err != nil {
		h.fail(q, err)
		return
	}
	if fromEnd {
		from = last
	}
	b := q.streamURL(stream)
	n := strconv.Itoa(count)
	f := &feed{
		Title:   "Event stream '" + stream + "'",
		ID:      b,
		Updated: zeroTime,
		Author:  author{Name: "EventStore"},
		Entries: []entry{},
	}
	f.StreamID = &stream
	f.Links = append(f.Links, link{b, "self"}, link{b + "/head/backward/" + n, "first"})
	c := caching{}
	if backward {
		f.HeadOfStream = fromEnd
		f.SelfURL = &b
		if !end {
			f.Links = append(f.Links, link{b + "/0/forward/" + n, "last"},
				link{b + "/" + strconv.FormatInt(from-int64(count), 10) + "/backward/" + n, "next"})
		}
		f.Links = append(f.Links, link{b + "/" + strconv.FormatInt(min(from, last)+1, 10) + "/forward/" + n, "previous"},
			link{b + "/metadata", "metadata"})
		// A page wholly at or below the last event never changes.
		c.immutable = !fromEnd && last >= from
	} else {
		// Forward pages list newest first too.
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
		f.HeadOfStream = last < from+int64(count)
		if from-1 >= 0 {
			f.Links = append(f.Links, link{b + "/0/forward/" + n, "last"},
				link{b + "/" + strconv.FormatInt(from-1, 10) + "/backward/" + n, "next"})
		}
		if !(end && len(evs) == 0) {
			f.Links = append(f.Links, link{b + "/" + strconv.FormatInt(min(from+int64(count)-1, last)+1, 10) + "/forward/" + n, "previous"})
		}
		if !strings.HasPrefix(stream, "$$") {
			f.Links = append(f.Links, link{b + "/metadata", "metadata"})
		}
		c.immutable = last+1 >= from+int64(count)
	}
	if !c.immutable {
		c.hasETag, c.etagNumber = true, last
		c.maxAge = h.cacheControlOf(ctx, stream)
		tok := h.etagToken(q, mediaType)
		if notModified(q.r, last, tok) {
			writeNotModified(q.w)
			return
		}
		if backward && fromEnd && tok != "" {
			// The body's eTag is always the Atom JSON one.
			v := etagValue(last, h.etagToken(q, TypeAtomJSON))
			f.ETag = &v
		}
	}
	if f.Entries, err = h.entries(q, evs); err != nil {
		h.fail(q, err)
		return
	}
	if len(evs) > 0 {
		f.Updated = timeOf(&evs[0])
	}
	h.setCaching(q, c, mediaType)
	writeBody(q.w, mediaType, renderFeed(f, mediaType))
}

// entries are a feed's entries for evs, link events resolved when asked.
func (h *Handler) entries(q *request, evs []streams.Event) ([]entry, error) {
	detail := embedOf(q.r)
	out := make([]entry, 0, len(evs))
	for i := range evs {
		s, err := h.show(q, &evs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, makeEntry(q, s, detail, false))
	}
	return out, nil
}

// show pairs a record with the event it points at when it is a link event
// and the request resolves links (the caller's access to the target is
// checked as for a read of it). An error is the node's failure to read.
func (h *Handler) show(q *request, e *streams.Event) (shown, error) {
	if !q.resolveLinks || e.Type != clientapi.LinkEventType {
		return shown{record: e}, nil
	}
	target, err := clientapi.ResolveLink(q.r.Context(), h.cfg.Node, h.cfg.Authorize, e, q.requireLeader)
	return shown{record: e, target: target}, err
}

// getEvent answers one event by number, or the last one ("head").
func (h *Handler) getEvent(q *request, stream, arg string) {
	var from int64
	head := arg == "head"
	if !head {
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || n < 0 {
			textError(q.w, http.StatusBadRequest, fmt.Sprintf("'%s' is not valid event number", arg))
			return
		}
		from = n
	}
	if !h.authorize(q, clientapi.OpRead, stream) {
		return
	}
	mediaType := q.negotiate(entryTypes)
	if mediaType == "" {
		textError(q.w, http.StatusNotAcceptable, "Requested URI is not available in requested format")
		return
	}
	evs, _, _, err := h.readPage(q.r.Context(), stream, from, head, head, 1, q.requireLeader)
	if err != nil {
		h.fail(q, err)
		return
	}
	if len(evs) == 0 || (!head && evs[0].Number != from) {
		textError(q.w, http.StatusNotFound, fmt.Sprintf("Not Found: stream '%s' has no event %s", stream, arg))
		return
	}
	c := caching{immutable: !head}
	if head {
		c.hasETag, c.etagNumber = true, evs[0].Number
		c.maxAge = h.cacheControlOf(q.r.Context(), stream)
	}
	s, err := h.show(q, &evs[0])
	if err != nil {
		h.fail(q, err)
		return
	}
	h.writeEvent(q, s, mediaType, c)
}

// writeEvent answers one event; the forms that carry only an event's data
// carry the target's when s is a resolved link.
func (h *Handler) writeEvent(q *request, s shown, mediaType string, c caching) {
	e := s.event()
	var body []byte
	switch mediaType {
	case TypeAtomXML:
		en := makeEntry(q, s, embedOf(q.r), true)
		x := xmlEntryOf(&en)
		x.XMLName = xml.Name{Space: "http://www.w3.org/2005/Atom", Local: "entry"}
		body = marshalXML(x)
	case TypeJSON:
		body = jsonValue(e.Data)
	case TypeTextXML, TypeAppXML:
		body = append([]byte(xml.Header), dataXML("data", e.Data)...)
	case TypeEventXML:
		body = eventXML(e)
	case TypeEventJSON:
		en := makeEntry(q, s, embedNone, true)
		if en.Content == nil {
			en.Content = &content{EventStreamID: e.Stream, EventNumber: e.Number, EventType: e.Type, EventID: member.ID(e.ID).String(),
				Data: jsonValue(e.Data), Metadata: jsonValue(e.Metadata)}
		}
		body = mustJSON(en.Content)
	case TypeOctets:
		body = e.Data
	default:
		en := makeEntry(q, s, embedOf(q.r), true)
		body = mustJSON(en)
	}
	h.setCaching(q, c, mediaType)
	writeBody(q.w, mediaType, body)
}

// getMetadata answers a stream's metadata: the last event of its
// metastream, or {} when the stream has none.
func (h *Handler) getMetadata(q *request, stream string) {
	meta := "$$" + stream
	if !h.authorize(q, clientapi.OpRead, meta) {
		return
	}
	mediaType := q.negotiate(entryTypes)
	if mediaType == "" {
		textError(q.w, http.StatusNotAcceptable, "Requested URI is not available in requested format")
		return
	}
	ctx := q.r.Context()
	evs, _, _, err := h.readPage(ctx, meta, 0, true, true, 1, q.requireLeader)
	var nf *streams.StreamNotFoundError
	if errors.As(err, &nf) || (err == nil && len(evs) == 0) {
		// A stream without metadata answers {} if it exists ($all always
		// does).
		if stream != streams.AllStream {
			if _, _, _, err := h.readPage(ctx, stream, 0, true, true, 1, q.requireLeader); err != nil {
				h.fail(q, err)
				return
			}
		}
		h.setCaching(q, caching{maxAge: h.cacheControlOf(ctx, stream)}, mediaType)
		if isXML(mediaType) || mediaType == TypeOctets {
			writeBody(q.w, mediaType, nil)
		} else {
			writeBody(q.w, mediaType, []byte("{}"))
		}
		return
	}
	if err != nil {
		h.fail(q, err)
		return
	}
	h.writeEvent(q, shown{record: &evs[0]}, mediaType, caching{hasETag: true, etagNumber: evs[0].Number, maxAge: h.cacheControlOf(ctx, stream)})
}

func mustJSON(v any) []byte {
	b, _ := jsonIndent(v)
	return b
}

// longPollOf reads ES-LongPoll (forward reads only); false when answered.
func (h *Handler) longPollOf(q *request, forward bool) (time.Duration, bool) {
	v := q.r.Header.Get("ES-LongPoll")
	if v == "" || !forward {
		return 0, true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n <= 0 {
		textError(q.w, http.StatusBadRequest, "ES-LongPoll header in wrong format: give a positive number of seconds, not "+strconv.Quote(v))
		return 0, false
	}
	return min(time.Duration(n)*time.Second, h.cfg.MaxLongPoll), true
}

// waitForEvents parks a forward read at the end of a stream (or of $all,
// stream "") until an event from start on is committed, the wait ends, or
// the client goes away. It reports whether an event came.
func (h *Handler) waitForEvents(q *request, wait time.Duration, stream string, start streams.From) bool {
	// The response may be written after the API's usual deadline.
	_ = http.NewResponseController(q.w).SetWriteDeadline(time.Now().Add(wait + h.writeTimeout))
	ctx, cancel := context.WithTimeout(q.r.Context(), wait)
	defer cancel()
	sub, err := h.cfg.Node.Subscribe(ctx, clientapi.SubscribeRequest{Stream: stream, From: start})
	if err != nil {
		return false
	}
	defer sub.Close()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return false
		}
		switch m.Kind {
		case streams.EventAppeared:
			return true
		case streams.Dropped:
			return false
		}
	}
}
