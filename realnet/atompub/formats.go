package atompub

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/streams"
)

// More media types of the API.
const (
	TypeEventXML  = "application/vnd.eventstore.event+xml"
	TypeEventsXML = "application/vnd.eventstore.events+xml"
)

// formats are the ?format= values and the response types they stand for
// (EventStoreDB's list; the service documents and text/plain are offered
// by no route here, so they end in 406 as no codec matches).
var formats = map[string]string{
	"json":      TypeJSON,
	"text":      "text/plain",
	"xml":       TypeTextXML,
	"atom":      TypeAtomXML,
	"atomxj":    TypeAtomJSON,
	"atomsvc":   "application/atomsvc+xml",
	"atomsvcxj": "application/vnd.eventstore.atomsvc+json",
}

// formatOf is the response type ?format= asks for: "" when absent, an
// error naming the known values when unknown.
func formatOf(r *http.Request) (string, error) {
	v, ok := r.URL.Query()["format"]
	if !ok {
		return "", nil
	}
	f := ""
	if len(v) > 0 {
		f = v[0]
	}
	if t, ok := formats[f]; ok {
		return t, nil
	}
	known := make([]string, 0, len(formats))
	for k := range formats {
		known = append(known, k)
	}
	sort.Strings(known)
	return "", fmt.Errorf("unknown format %q; use one of %s", f, strings.Join(known, ", "))
}

// boolHeader reads a True/False request header (any case); absent is def.
func boolHeader(r *http.Request, name string, def bool) (bool, error) {
	v := strings.TrimSpace(r.Header.Get(name))
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s header in wrong format: %q; give True or False", name, v)
}

// requireLeaderOf reads ES-RequireLeader, or the older ES-RequireMaster.
func requireLeaderOf(r *http.Request) (bool, error) {
	if r.Header.Get("ES-RequireLeader") != "" {
		return boolHeader(r, "ES-RequireLeader", false)
	}
	return boolHeader(r, "ES-RequireMaster", false)
}

// xmlNode is an XML element read generically, to turn it into JSON.
type xmlNode struct {
	XMLName  xml.Name
	Text     string    `xml:",chardata"`
	Children []xmlNode `xml:",any"`
}

// toJSON converts an element's content as EventStoreDB does for XML
// bodies: an element with children becomes an object (repeated names an
// array), a leaf its text as a string.
func (n *xmlNode) toJSON() any {
	if len(n.Children) == 0 {
		return strings.TrimSpace(n.Text)
	}
	obj := map[string]any{}
	for i := range n.Children {
		c := &n.Children[i]
		k := c.XMLName.Local
		v := c.toJSON()
		switch prev := obj[k].(type) {
		case nil:
			obj[k] = v
		case []any:
			obj[k] = append(prev, v)
		default:
			obj[k] = []any{prev, v}
		}
	}
	return obj
}

// child finds a child element by name, case-insensitively.
func (n *xmlNode) child(name string) *xmlNode {
	for i := range n.Children {
		if strings.EqualFold(n.Children[i].XMLName.Local, name) {
			return &n.Children[i]
		}
	}
	return nil
}

// parseXMLBatch reads an events+xml body: a root element (any name) whose
// children are events with eventId, eventType, data and metadata.
func parseXMLBatch(body []byte) ([]streams.EventData, error) {
	var root xmlNode
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("Write request body invalid: %v", err)
	}
	if tok, err := dec.Token(); err != io.EOF && !(err == nil && isSpace(tok)) {
		return nil, errors.New("Write request body invalid: data follows the root element")
	}
	if len(root.Children) == 0 {
		return nil, errors.New("Write request body invalid: the root element holds no events")
	}
	raw := make([]batchEvent, 0, len(root.Children))
	for i := range root.Children {
		ev := &root.Children[i]
		var be batchEvent
		if c := ev.child("eventId"); c != nil {
			be.EventID = strings.TrimSpace(c.Text)
		}
		if c := ev.child("eventType"); c != nil {
			be.EventType = strings.TrimSpace(c.Text)
		}
		for name, dst := range map[string]*json.RawMessage{"data": &be.Data, "metadata": &be.Metadata} {
			if c := ev.child(name); c != nil {
				b, err := json.Marshal(c.toJSON())
				if err != nil {
					return nil, fmt.Errorf("Write request body invalid: %v", err)
				}
				*dst = b
			}
		}
		raw = append(raw, be)
	}
	return batchEvents(raw)
}

func isSpace(tok xml.Token) bool {
	cd, ok := tok.(xml.CharData)
	return ok && len(bytes.TrimSpace(cd)) == 0
}

// dataXML renders event data as EventStoreDB's XML forms do: JSON
// converted to elements under root, other data as text.
func dataXML(root string, data []byte) []byte {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{Name: xml.Name{Local: root}}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		v = string(data)
	}
	if s, ok := v.(string); ok && s == "" {
		_ = enc.EncodeToken(xml.StartElement{Name: start.Name})
		_ = enc.EncodeToken(start.End())
	} else {
		encodeJSONValue(enc, start, v)
	}
	_ = enc.Flush()
	return buf.Bytes()
}

// encodeJSONValue writes v inside start: objects as child elements (in
// key order), arrays as repeated elements of the parent's name, scalars
// as text.
func encodeJSONValue(enc *xml.Encoder, start xml.StartElement, v any) {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			encodeJSONValue(enc, start, e)
		}
		return
	}
	_ = enc.EncodeToken(start)
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			encodeJSONValue(enc, xml.StartElement{Name: xml.Name{Local: xmlName(k)}}, t[k])
		}
	case nil:
	case string:
		_ = enc.EncodeToken(xml.CharData(t))
	default:
		b, _ := json.Marshal(t)
		_ = enc.EncodeToken(xml.CharData(b))
	}
	_ = enc.EncodeToken(start.End())
}

// xmlName makes a JSON key a valid element name ($ and other characters
// XML names cannot hold become _).
func xmlName(k string) string {
	var b strings.Builder
	for i, r := range k {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f ||
			i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9')
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// eventXML is the event+xml document of an event.
func eventXML(e *streams.Event) []byte {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.WriteString("<event>")
	for _, f := range []struct{ name, val string }{
		{"eventStreamId", e.Stream}, {"eventNumber", fmt.Sprint(e.Number)}, {"eventType", e.Type}, {"eventId", member.ID(e.ID).String()},
	} {
		buf.WriteString("<" + f.name + ">")
		_ = xml.EscapeText(&buf, []byte(f.val))
		buf.WriteString("</" + f.name + ">")
	}
	buf.Write(dataXML("data", e.Data))
	buf.Write(dataXML("metadata", e.Metadata))
	buf.WriteString("</event>")
	return buf.Bytes()
}
