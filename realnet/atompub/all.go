package atompub

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// allPos renders a $all position as EventStoreDB does: commit then
// prepare position, 16 upper-case hex digits each (annal's are equal).
func allPos(p int64) string { return fmt.Sprintf("%016X%016X", p, p) }

func parseAllPos(s string) (int64, bool) {
	if len(s) != 32 {
		return 0, false
	}
	c, err1 := strconv.ParseUint(s[:16], 16, 63)
	_, err2 := strconv.ParseUint(s[16:], 16, 63)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return int64(c), true
}

// readAll reads up to count events of $all, continuing over the node's
// pages.
func (h *Handler) readAll(q *request, only *streams.AllFilter, from streams.From, backward bool, count int) (evs []streams.Event, next int64, end bool, err error) {
	dir := streams.Forwards
	if backward {
		dir = streams.Backwards
	}
	req := streams.ReadAllRequest{From: from, Direction: dir, Filter: only}
	prev := int64(-1)
	for len(evs) < count {
		req.Count = uint64(count - len(evs))
		res, err := h.cfg.Node.ReadAll(q.r.Context(), req, q.requireLeader)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return nil, 0, false, err
		}
		evs, next = append(evs, res.Events...), res.Next
		if res.End {
			return evs, next, true, nil
		}
		if len(res.Events) == 0 && res.Next == prev {
			return evs, next, true, nil
		}
		prev = res.Next
		req.From = streams.At(res.Next)
	}
	return evs, next, false, nil
}

// newestPosition is the position of the newest event in $all, -1 when
// there is none.
func (h *Handler) newestPosition(q *request) (int64, error) {
	tail, _, _, err := h.readAll(q, nil, streams.End(), true, 1)
	if err != nil || len(tail) == 0 {
		return -1, err
	}
	return tail[0].Position, nil
}

// allFeed answers a page of $all (admins only on a secure node), of the
// events only lets through when it is not nil.
func (h *Handler) allFeed(q *request, only *streams.AllFilter, fromArg string, backward bool, count int) {
	head := fromArg == "head"
	var pos int64
	if !head {
		p, ok := parseAllPos(fromArg)
		if !ok {
			textError(q.w, http.StatusBadRequest, "Invalid position argument: "+fromArg)
			return
		}
		pos = p
	} else if !backward {
		textError(q.w, http.StatusBadRequest, "'head' is not a valid position for a forward read of $all")
		return
	}
	longPoll, ok := h.longPollOf(q, !backward)
	if !ok || !h.authorize(q, clientapi.OpRead, "$all") {
		return
	}
	mediaType := h.feedType(q, "$all")
	if mediaType == "" {
		return
	}
	from := streams.At(pos)
	if head {
		from = streams.End()
	}
	// The newest event before the page is read, for the validators and
	// where a long poll waits from: the page may hold events newer than
	// it, never a validator events the page lacks (a 304 would then keep
	// the client from them).
	lastPos, err := h.newestPosition(q)
	var evs []streams.Event
	var next int64
	var end bool
	if err == nil {
		evs, next, end, err = h.readAll(q, only, from, backward, count)
	}
	if err == nil && !backward && longPoll > 0 && len(evs) == 0 {
		start := streams.Start()
		if lastPos >= 0 {
			start = streams.After(lastPos)
		}
		if h.waitForEvents(q, longPoll, "", start) {
			if lastPos, err = h.newestPosition(q); err == nil {
				evs, next, end, err = h.readAll(q, only, from, false, count)
			}
		}
	}
	if err != nil {
		h.fail(q, err)
		return
	}
	b := q.base + "/streams/%24all"
	self := b
	n := strconv.Itoa(count)
	// Pages of a filtered feed keep its filter, so they can be followed.
	query := ""
	if only != nil {
		self = b + "/filtered"
		b, query = self, "?"+q.r.URL.RawQuery
	}
	n += query
	f := &feed{Title: "All events", ID: self, Updated: zeroTime, Author: author{Name: "EventStore"}, Entries: []entry{}}
	f.Links = append(f.Links, link{self, "self"}, link{b + "/head/backward/" + n, "first"})
	c := caching{}
	if backward {
		if !end {
			f.Links = append(f.Links, link{b + "/" + allPos(0) + "/forward/" + n, "last"},
				link{b + "/" + allPos(next) + "/backward/" + n, "next"})
		}
		// Newer events start just past the newest on the page; the log
		// says where that is.
		newest := pos
		if len(evs) > 0 {
			_, after, _, err := h.readAll(q, nil, streams.At(evs[0].Position), false, 1)
			if err != nil {
				h.fail(q, err)
				return
			}
			newest = after
		}
		f.Links = append(f.Links, link{b + "/" + allPos(newest) + "/forward/" + n, "previous"})
		c.immutable = !head && pos <= lastPos
	} else {
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
		if pos != 0 {
			f.Links = append(f.Links, link{b + "/" + allPos(0) + "/forward/" + n, "last"},
				link{b + "/" + allPos(pos) + "/backward/" + n, "next"})
		}
		if !(end && len(evs) == 0) {
			f.Links = append(f.Links, link{b + "/" + allPos(next) + "/forward/" + n, "previous"})
		}
		c.immutable = len(evs) == count
	}
	if only == nil { // filtered feeds carry no metadata link
		f.Links = append(f.Links, link{b + "/metadata", "metadata"})
	}
	if !c.immutable {
		c.hasETag, c.etagNumber = true, lastPos
		c.maxAge = h.cacheControlOf(q.r.Context(), "$all")
		if notModified(q.r, lastPos, h.etagToken(q, mediaType)) {
			writeNotModified(q.w)
			return
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
