package atompub

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/clientapi"
)

// Media types of the API.
const (
	TypeAtomJSON   = "application/vnd.eventstore.atom+json"
	TypeAtomXML    = "application/atom+xml"
	TypeEventsJSON = "application/vnd.eventstore.events+json"
	TypeEventJSON  = "application/vnd.eventstore.event+json"
	TypeStreamDesc = "application/vnd.eventstore.streamdesc+json"
	TypeJSON       = "application/json"
	TypeTextXML    = "text/xml"
	TypeAppXML     = "application/xml"
	TypeOctets     = "application/octet-stream"
)

// Response types in EventStoreDB's order: the first is the default, and
// the first a wildcard matches wins.
var (
	feedTypes  = []string{TypeStreamDesc, TypeAtomXML, TypeAtomJSON, TypeTextXML, TypeAppXML, TypeJSON}
	entryTypes = []string{TypeAtomXML, TypeAtomJSON, TypeTextXML, TypeAppXML, TypeJSON, TypeEventXML, TypeEventJSON, TypeOctets}
)

// negotiate picks the response type from offered: the one ?format= names
// (when offered), else the best for Accept; "" when none is acceptable.
func (q *request) negotiate(offered []string) string {
	if q.format != "" {
		for _, o := range offered {
			if o == q.format {
				return o
			}
		}
		return ""
	}
	return negotiate(q.r, offered)
}

// negotiate picks the response type for Accept from offered, or "" when
// none is acceptable.
func negotiate(r *http.Request, offered []string) string {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return offered[0]
	}
	type rng struct {
		typ string
		q   float64
	}
	var ranges []rng
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		t := strings.ToLower(strings.TrimSpace(fields[0]))
		if t == "" {
			continue
		}
		qv := 1.0
		for _, p := range fields[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					qv = f
				}
			}
		}
		if qv > 0 {
			ranges = append(ranges, rng{t, qv})
		}
	}
	sort.SliceStable(ranges, func(i, j int) bool { return ranges[i].q > ranges[j].q })
	for _, a := range ranges {
		for _, o := range offered {
			if a.typ == "*/*" || a.typ == o || (strings.HasSuffix(a.typ, "/*") && strings.HasPrefix(o, strings.TrimSuffix(a.typ, "*"))) {
				return o
			}
		}
	}
	return ""
}

func isXML(t string) bool { return t == TypeAtomXML || t == TypeTextXML || t == TypeAppXML }

type link struct {
	URI      string `json:"uri"`
	Relation string `json:"relation"`
}

type author struct {
	Name string `json:"name"`
}

// content is an entry's event as embed=content and single entries show
// it.
type content struct {
	EventStreamID string          `json:"eventStreamId"`
	EventNumber   int64           `json:"eventNumber"`
	EventType     string          `json:"eventType"`
	EventID       string          `json:"eventId"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
}

// entry is an Atom entry in JSON. The rich fields (embed=rich and above)
// come first, as EventStoreDB writes them, and are left out otherwise.
type entry struct {
	EventID          string   `json:"eventId,omitempty"`
	EventType        string   `json:"eventType,omitempty"`
	EventNumber      *int64   `json:"eventNumber,omitempty"`
	Data             *string  `json:"data,omitempty"`
	MetaData         *string  `json:"metaData,omitempty"`
	StreamID         string   `json:"streamId,omitempty"`
	IsJSON           *bool    `json:"isJson,omitempty"`
	IsMetaData       *bool    `json:"isMetaData,omitempty"`
	LinkMetaData     *string  `json:"linkMetaData,omitempty"`
	IsLinkMetaData   *bool    `json:"isLinkMetaData,omitempty"`
	PositionEventNum *int64   `json:"positionEventNumber,omitempty"`
	PositionStreamID string   `json:"positionStreamId,omitempty"`
	Title            string   `json:"title"`
	ID               string   `json:"id"`
	Updated          string   `json:"updated"`
	Author           author   `json:"author"`
	Summary          string   `json:"summary"`
	Content          *content `json:"content,omitempty"`
	Links            []link   `json:"links"`
}

type feed struct {
	Title        string  `json:"title"`
	ID           string  `json:"id"`
	Updated      string  `json:"updated"`
	StreamID     *string `json:"streamId"`
	Author       author  `json:"author"`
	HeadOfStream bool    `json:"headOfStream"`
	SelfURL      *string `json:"selfUrl"`
	ETag         *string `json:"eTag"`
	Links        []link  `json:"links"`
	Entries      []entry `json:"entries"`
}

// embed is the detail of a feed's entries (?embed=).
type embed uint8

const (
	embedNone embed = iota
	embedContent
	embedRich
	embedBody
)

func embedOf(r *http.Request) embed {
	switch strings.ToLower(r.URL.Query().Get("embed")) {
	case "content":
		return embedContent
	case "rich":
		return embedRich
	case "body", "pretty", "tryharder":
		return embedBody
	}
	return embedNone
}

const zeroTime = "0001-01-01T00:00:00Z"

// timeOf renders an event's Created (100-ns ticks since the Unix epoch).
func timeOf(e *streams.Event) string {
	return time.Unix(0, e.Created*100).UTC().Format("2006-01-02T15:04:05.999999Z")
}

// jsonValue is data or metadata as a JSON value: itself when it is valid
// JSON, else a JSON string of its text.
func jsonValue(b []byte) json.RawMessage {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && json.Valid(t) {
		return json.RawMessage(t)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// shown is what an entry shows: the record read and, when it is a link
// event that was resolved, the event it points at.
type shown struct {
	record *streams.Event
	target *streams.Event // nil: not a link, or not resolved
}

// event is the event whose content the entry carries.
func (s shown) event() *streams.Event {
	if s.target != nil {
		return s.target
	}
	return s.record
}

// makeEntry builds the JSON entry of an event; single entries always carry
// their content. A link event's title, id and links point at its target,
// resolved or not, while its summary and time are the link's own; the
// content and the rich fields describe the target when it was resolved,
// except positionEventNumber and positionStreamId, which place the link.
func makeEntry(q *request, s shown, detail embed, single bool) entry {
	r, e := s.record, s.event()
	title, id := strconv.FormatInt(r.Number, 10)+"@"+r.Stream, q.streamURL(r.Stream)+"/"+strconv.FormatInt(r.Number, 10)
	if r.Type == clientapi.LinkEventType {
		if stream, rev, ok := clientapi.LinkTarget(r.Data); ok {
			title, id = strconv.FormatInt(rev, 10)+"@"+stream, q.streamURL(stream)+"/"+strconv.FormatInt(rev, 10)
		}
	}
	en := entry{
		Title:   title,
		ID:      id,
		Updated: timeOf(r),
		Author:  author{Name: "EventStore"},
		Summary: r.Type,
		Links:   []link{{id, "edit"}, {id, "alternate"}},
	}
	if (single || detail == embedContent) && e.IsJSON {
		en.Content = &content{EventStreamID: e.Stream, EventNumber: e.Number, EventType: e.Type, EventID: member.ID(e.ID).String(),
			Data: jsonValue(e.Data), Metadata: jsonValue(e.Metadata)}
		if len(bytes.TrimSpace(e.Metadata)) == 0 {
			en.Content.Metadata = json.RawMessage(`""`)
		}
	}
	if detail >= embedRich {
		n, at := e.Number, r.Number
		isJSON, isMeta := e.IsJSON, len(e.Metadata) > 0
		en.EventID, en.EventType, en.EventNumber = member.ID(e.ID).String(), e.Type, &n
		en.StreamID, en.IsJSON, en.IsMetaData = e.Stream, &isJSON, &isMeta
		en.PositionEventNum, en.PositionStreamID = &at, r.Stream
		if detail == embedBody {
			if e.IsJSON {
				d := string(e.Data)
				en.Data = &d
			}
			if isMeta {
				m := string(e.Metadata)
				en.MetaData = &m
			}
			if s.target != nil {
				isLinkMeta := len(r.Metadata) > 0
				en.IsLinkMetaData = &isLinkMeta
				if isLinkMeta {
					m := string(r.Metadata)
					en.LinkMetaData = &m
				}
			}
		}
	}
	return en
}

// The Atom XML forms carry only Atom's own elements.
type xmlLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
}

type xmlAuthor struct {
	Name string `xml:"name"`
}

type xmlContent struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

type xmlEntry struct {
	XMLName xml.Name    // set for a single entry; a feed's entries take the field's name
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Author  xmlAuthor   `xml:"author"`
	Summary string      `xml:"summary"`
	Links   []xmlLink   `xml:"link"`
	Content *xmlContent `xml:"content,omitempty"`
}

type xmlFeed struct {
	XMLName xml.Name   `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string     `xml:"title"`
	ID      string     `xml:"id"`
	Updated string     `xml:"updated"`
	Author  xmlAuthor  `xml:"author"`
	Links   []xmlLink  `xml:"link"`
	Entries []xmlEntry `xml:"entry"`
}

// xmlEntryOf renders an entry; its content, when present, is the JSON of
// the event as text (EventStoreDB converts it to XML elements instead).
func xmlEntryOf(en *entry) xmlEntry {
	x := xmlEntry{Title: en.Title, ID: en.ID, Updated: en.Updated, Author: xmlAuthor{en.Author.Name}, Summary: en.Summary}
	for _, l := range en.Links {
		x.Links = append(x.Links, xmlLink{l.URI, l.Relation})
	}
	if en.Content != nil {
		b, _ := json.Marshal(en.Content)
		x.Content = &xmlContent{Type: "application/json", Text: string(b)}
	}
	return x
}

// writeBody sends a 200 with body rendered as mediaType.
func writeBody(w http.ResponseWriter, mediaType string, body []byte) {
	w.Header().Set("Content-Type", mediaType+"; charset=utf-8")
	if mediaType == TypeOctets {
		w.Header().Set("Content-Type", mediaType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func renderFeed(f *feed, mediaType string) []byte {
	if isXML(mediaType) {
		x := xmlFeed{Title: f.Title, ID: f.ID, Updated: f.Updated, Author: xmlAuthor{f.Author.Name}, Entries: []xmlEntry{}}
		for _, l := range f.Links {
			x.Links = append(x.Links, xmlLink{l.URI, l.Relation})
		}
		for i := range f.Entries {
			x.Entries = append(x.Entries, xmlEntryOf(&f.Entries[i]))
		}
		return marshalXML(x)
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	return b
}

func marshalXML(v any) []byte {
	b, _ := xml.Marshal(v)
	return append([]byte(xml.Header), b...)
}

// descriptionDocument is what a feed answers when no Atom type was asked
// for (EventStoreDB answers it with 406 unless asked for by name).
func descriptionDocument(stream string) []byte {
	type sub struct {
		Href  string   `json:"href"`
		Types []string `json:"supportedContentTypes"`
	}
	doc := struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Links       struct {
			Self   sub `json:"self"`
			Stream sub `json:"stream"`
		} `json:"_links"`
	}{Title: "Description document for '" + stream + "'",
		Description: "The description document will be presented when no accept header is present or it was requested"}
	doc.Links.Self = sub{"/streams/" + escapeStream(stream), []string{TypeStreamDesc}}
	doc.Links.Stream = sub{"/streams/" + escapeStream(stream), []string{TypeAtomXML, TypeAtomJSON}}
	b, _ := json.Marshal(doc)
	return b
}
