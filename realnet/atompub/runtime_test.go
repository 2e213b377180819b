package atompub_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/runtime"
)

// startNode runs one insecure node on loopback and waits until it leads.
func startNode(t *testing.T, set map[*options.Option]string) string {
	t.Helper()
	v := options.Defaults()
	base := map[*options.Option]string{
		options.Insecure: "true", options.NodeIp: "127.0.0.1", options.ReplicationIp: "127.0.0.1",
		options.NodePort: "0", options.ReplicationPort: "0", options.MemDb: "true", options.DiscoverViaDns: "false",
	}
	for o, s := range set {
		base[o] = s
	}
	for o, s := range base {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatalf("option %s=%q: %v", o.Name, s, err)
		}
	}
	rt, err := runtime.Start(runtime.Config{Options: v, Log: io.Discard, Settings: node.Settings{SegmentSize: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Stop() })
	deadline := time.Now().Add(15 * time.Second)
	for rt.Status().State != member.Leader {
		if time.Now().After(deadline) {
			t.Fatalf("the node did not become leader; state %v", rt.Status().State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + rt.NodeEndpoint().String()
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path string, body string, hdr ...string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (c client) want(res *http.Response, body string, code int, what string) {
	c.t.Helper()
	if res.StatusCode != code {
		c.t.Fatalf("%s: status %d, want %d; body %q", what, res.StatusCode, code, body)
	}
}

const atomJSON = "application/vnd.eventstore.atom+json"

func batch(n int, typ string) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`{"eventId":"%08x-0000-4000-8000-%012x","eventType":%q,"data":{"n":%d}}`, i+1, time.Now().UnixNano()&0xffffffffffff, typ, i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

type feedDoc struct {
	HeadOfStream bool
	ETag         string
	Links        []struct{ URI, Relation string }
	Entries      []struct {
		Title, ID, Summary string
		Data               *string
	}
}

func (f feedDoc) link(rel string) string {
	for _, l := range f.Links {
		if l.Relation == rel {
			return l.URI
		}
	}
	return ""
}

func TestAtomPubOffByDefault(t *testing.T) {
	c := client{t, startNode(t, nil)}
	res, body := c.do("GET", "/streams/s", "", "Accept", atomJSON)
	c.want(res, body, http.StatusNotFound, "GET /streams/s with AtomPub off")
	if !strings.Contains(body, "EnableAtomPubOverHttp") {
		t.Fatalf("the 404 body %q does not name EnableAtomPubOverHttp", body)
	}
}

func TestAtomPubOverLoopback(t *testing.T) {
	base := startNode(t, map[*options.Option]string{options.EnableAtomPubOverHttp: "true"})
	c := client{t, base}

	res, body := c.do("POST", "/streams/orders", batch(25, "Created"), "Content-Type", "application/vnd.eventstore.events+json", "ES-ExpectedVersion", "-1")
	c.want(res, body, http.StatusCreated, "append 25 events")
	if loc := res.Header.Get("Location"); loc != base+"/streams/orders/0" {
		t.Fatalf("Location %q, want %s/streams/orders/0", loc, base)
	}

	t.Run("head of the feed in JSON", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("GET", "/streams/orders?embed=body", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "feed head")
		var f feedDoc
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("feed JSON: %v\n%s", err, body)
		}
		if len(f.Entries) != 20 || f.Entries[0].Title != "24@orders" || !f.HeadOfStream {
			t.Fatalf("head: %d entries, first %q, head %v; want 20 from 24@orders at the head", len(f.Entries), f.Entries[0].Title, f.HeadOfStream)
		}
		if f.Entries[0].Data == nil || !strings.Contains(*f.Entries[0].Data, `"n":24`) {
			t.Fatalf("embed=body: data %v, want the event's JSON", f.Entries[0].Data)
		}
		for rel, want := range map[string]string{"self": "/streams/orders", "first": "/streams/orders/head/backward/20", "last": "/streams/orders/0/forward/20",
			"next": "/streams/orders/4/backward/20", "previous": "/streams/orders/25/forward/20", "metadata": "/streams/orders/metadata"} {
			if got := f.link(rel); got != base+want {
				t.Errorf("link %s = %q, want %q", rel, got, base+want)
			}
		}
		if cc := res.Header.Get("Cache-Control"); cc != "max-age=0, no-cache, must-revalidate" {
			t.Errorf("head Cache-Control %q, want no-cache", cc)
		}
		etag := res.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"24;`) {
			t.Fatalf("head ETag %q, want \"24;<token>\"", etag)
		}
		res, body = c.do("GET", "/streams/orders", "", "Accept", atomJSON, "If-None-Match", etag)
		c.want(res, body, http.StatusNotModified, "conditional GET of an unchanged head")
		res, body = c.do("GET", "/streams/orders", "", "Accept", atomJSON, "If-None-Match", `"24;0000000000000000"`)
		c.want(res, body, http.StatusOK, "conditional GET with another database's validator")
	})

	t.Run("full forward page is immutable, entries in XML", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("GET", "/streams/orders/0/forward/10", "", "Accept", "application/atom+xml")
		c.want(res, body, http.StatusOK, "forward page")
		if cc := res.Header.Get("Cache-Control"); cc != "max-age=31536000, private" || res.Header.Get("ETag") != "" {
			t.Fatalf("full page: Cache-Control %q ETag %q, want a year and no ETag", cc, res.Header.Get("ETag"))
		}
		var x struct {
			Entries []struct {
				Title string `xml:"title"`
			} `xml:"entry"`
			Links []struct {
				Href string `xml:"href,attr"`
				Rel  string `xml:"rel,attr"`
			} `xml:"link"`
		}
		if err := xml.Unmarshal([]byte(body), &x); err != nil {
			t.Fatalf("feed XML: %v\n%s", err, body)
		}
		if len(x.Entries) != 10 || x.Entries[0].Title != "9@orders" {
			t.Fatalf("forward page: %d entries, first %+v; want 10, newest (9@orders) first", len(x.Entries), x.Entries)
		}
		res, body = c.do("GET", "/streams/orders/20/forward/10", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "partial forward page")
		if cc := res.Header.Get("Cache-Control"); cc != "max-age=0, no-cache, must-revalidate" || res.Header.Get("ETag") == "" {
			t.Fatalf("partial page: Cache-Control %q ETag %q, want no-cache with an ETag", cc, res.Header.Get("ETag"))
		}
	})

	t.Run("single entry", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("GET", "/streams/orders/3", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "entry 3")
		var e struct {
			Title   string
			Content struct{ Data map[string]int }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Title != "3@orders" || e.Content.Data["n"] != 3 {
			t.Fatalf("entry: %+v (%v)\n%s", e, err, body)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "max-age=31536000, private" {
			t.Fatalf("entry Cache-Control %q, want a year", cc)
		}
		res, body = c.do("GET", "/streams/orders/3", "")
		c.want(res, body, http.StatusOK, "entry 3 with no Accept")
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/atom+xml") || !strings.Contains(body, "<title>3@orders</title>") {
			t.Fatalf("entry in Atom XML: %s %q", res.Header.Get("Content-Type"), body)
		}
		res, body = c.do("GET", "/streams/orders/head", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "head entry")
		if !strings.Contains(body, "24@orders") || res.Header.Get("Cache-Control") != "max-age=0, no-cache, must-revalidate" {
			t.Fatalf("head entry: %s %q", res.Header.Get("Cache-Control"), body)
		}
		res, body = c.do("GET", "/streams/orders/99", "", "Accept", atomJSON)
		c.want(res, body, http.StatusNotFound, "missing entry")
	})

	t.Run("wrong expected version", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("POST", "/streams/orders", batch(1, "X"), "Content-Type", "application/vnd.eventstore.events+json", "ES-ExpectedVersion", "3")
		c.want(res, body, http.StatusBadRequest, "append expecting 3")
		if v := res.Header.Get("ES-CurrentVersion"); v != "24" {
			t.Fatalf("ES-CurrentVersion %q, want 24", v)
		}
	})

	t.Run("single event with headers, and metadata", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("POST", "/streams/single", `{"x":1}`, "Content-Type", "application/json", "ES-EventType", "T", "ES-EventId", "fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4")
		c.want(res, body, http.StatusCreated, "single event")
		res, body = c.do("GET", "/streams/single/metadata", "", "Accept", "application/json")
		c.want(res, body, http.StatusOK, "metadata of a stream without any")
		if strings.TrimSpace(body) != "{}" {
			t.Fatalf("metadata %q, want {}", body)
		}
		res, body = c.do("POST", "/streams/single/metadata", `{"$maxCount":5}`, "Content-Type", "application/json", "ES-EventId", "abf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4")
		c.want(res, body, http.StatusCreated, "metadata write")
		res, body = c.do("GET", "/streams/single/metadata", "", "Accept", "application/json")
		c.want(res, body, http.StatusOK, "metadata")
		if !strings.Contains(body, `"$maxCount":5`) {
			t.Fatalf("metadata %q, want $maxCount 5", body)
		}
	})

	t.Run("delete and 410", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("POST", "/streams/doomed", batch(2, "X"), "Content-Type", "application/vnd.eventstore.events+json")
		c.want(res, body, http.StatusCreated, "append")
		res, body = c.do("DELETE", "/streams/doomed", "", "ES-ExpectedVersion", "0")
		c.want(res, body, http.StatusBadRequest, "delete expecting 0")
		res, body = c.do("DELETE", "/streams/doomed", "", "ES-HardDelete", "true")
		c.want(res, body, http.StatusNoContent, "hard delete")
		res, body = c.do("GET", "/streams/doomed", "", "Accept", atomJSON)
		c.want(res, body, http.StatusGone, "read after hard delete")
		res, body = c.do("POST", "/streams/doomed", batch(1, "X"), "Content-Type", "application/vnd.eventstore.events+json")
		c.want(res, body, http.StatusGone, "append after hard delete")
		res, body = c.do("POST", "/streams/soft", batch(1, "X"), "Content-Type", "application/vnd.eventstore.events+json")
		c.want(res, body, http.StatusCreated, "append")
		res, body = c.do("DELETE", "/streams/soft", "")
		c.want(res, body, http.StatusNoContent, "soft delete")
		res, body = c.do("GET", "/streams/soft", "", "Accept", atomJSON)
		c.want(res, body, http.StatusNotFound, "read after soft delete")
	})

	t.Run("long poll returns when an event arrives", func(t *testing.T) {
		c := client{t, base}
		done := make(chan string, 1)
		go func() {
			req, _ := http.NewRequest("GET", base+"/streams/polled/0/forward/5", nil)
			req.Header.Set("Accept", atomJSON)
			req.Header.Set("ES-LongPoll", "30")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			done <- fmt.Sprintf("%d %s", res.StatusCode, b)
		}()
		time.Sleep(300 * time.Millisecond) // let the poll park; it must return either way
		res, body := c.do("POST", "/streams/polled", batch(1, "Polled"), "Content-Type", "application/vnd.eventstore.events+json")
		c.want(res, body, http.StatusCreated, "append while polled")
		select {
		case got := <-done:
			if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "0@polled") {
				t.Fatalf("long poll answered %q, want 200 with 0@polled", got)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the long poll did not return after the event was appended")
		}
	})

	t.Run("$all pages", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("GET", "/streams/$all", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "$all head")
		var f feedDoc
		if err := json.Unmarshal([]byte(body), &f); err != nil || len(f.Entries) == 0 {
			t.Fatalf("$all: %v\n%s", err, body)
		}
		next := f.link("next")
		if next == "" {
			t.Fatalf("$all head has no next link: %s", body)
		}
		res, body = c.do("GET", strings.TrimPrefix(next, base), "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "$all next page")
	})

	t.Run("XML bodies and XML answers", func(t *testing.T) {
		c := client{t, base}
		xmlBatch := `<Events><Event><eventId>0bf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4</eventId><eventType>Placed</eventType><data><item>pen</item></data></Event></Events>`
		res, body := c.do("POST", "/streams/xmlorders", xmlBatch, "Content-Type", "application/vnd.eventstore.events+xml")
		c.want(res, body, http.StatusCreated, "events+xml batch")
		res, body = c.do("GET", "/streams/xmlorders/0", "", "Accept", "application/json")
		c.want(res, body, http.StatusOK, "the XML event as JSON")
		if strings.Join(strings.Fields(body), "") != `{"item":"pen"}` {
			t.Fatalf("the events+xml event's data reads back as %q, want {\"item\":\"pen\"}", body)
		}
		res, body = c.do("GET", "/streams/xmlorders/0?format=xml", "")
		c.want(res, body, http.StatusOK, "?format=xml")
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/xml") || !strings.Contains(body, "<data><item>pen</item></data>") {
			t.Fatalf("?format=xml: %s %q, want the data as <data> elements", res.Header.Get("Content-Type"), body)
		}
		res, body = c.do("GET", "/streams/xmlorders/0", "", "Accept", "application/vnd.eventstore.event+xml")
		c.want(res, body, http.StatusOK, "event+xml")
		if !strings.Contains(body, "<eventType>Placed</eventType>") || !strings.Contains(body, "<data><item>pen</item></data>") {
			t.Fatalf("event+xml: %q", body)
		}
		res, body = c.do("POST", "/streams/xmlorders", "<note>hi</note>", "Content-Type", "text/xml", "ES-EventType", "Noted", "ES-EventId", "1bf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4")
		c.want(res, body, http.StatusCreated, "one event as text/xml")
		res, body = c.do("GET", "/streams/xmlorders/1", "", "Accept", "application/octet-stream")
		c.want(res, body, http.StatusOK, "the text/xml event's bytes")
		if body != "<note>hi</note>" {
			t.Fatalf("a text/xml event reads back as %q, want it stored verbatim", body)
		}
		res, body = c.do("GET", "/streams/xmlorders?format=atomxj", "")
		c.want(res, body, http.StatusOK, "feed with ?format=atomxj and no Accept")
		if !strings.HasPrefix(res.Header.Get("Content-Type"), atomJSON) {
			t.Fatalf("?format=atomxj answered %s", res.Header.Get("Content-Type"))
		}
	})

	t.Run("$cacheControl from the stream's metadata", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("POST", "/streams/cached", batch(2, "X"), "Content-Type", "application/vnd.eventstore.events+json")
		c.want(res, body, http.StatusCreated, "append")
		res, body = c.do("GET", "/streams/cached", "", "Accept", atomJSON)
		if cc := res.Header.Get("Cache-Control"); cc != "max-age=0, no-cache, must-revalidate" {
			t.Fatalf("head without $cacheControl: Cache-Control %q, want no-cache", cc)
		}
		res, body = c.do("POST", "/streams/cached/metadata", `{"$cacheControl":30}`, "Content-Type", "application/json", "ES-EventId", "2bf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4")
		c.want(res, body, http.StatusCreated, "metadata write")
		for _, p := range []string{"/streams/cached", "/streams/cached/head", "/streams/cached/1/forward/5", "/streams/cached/metadata"} {
			res, body = c.do("GET", p, "", "Accept", atomJSON)
			c.want(res, body, http.StatusOK, p)
			if cc := res.Header.Get("Cache-Control"); cc != "max-age=30, private" {
				t.Errorf("%s with $cacheControl 30: Cache-Control %q, want max-age=30, private", p, cc)
			}
		}
		res, body = c.do("GET", "/streams/cached/0", "", "Accept", atomJSON)
		if cc := res.Header.Get("Cache-Control"); cc != "max-age=31536000, private" {
			t.Errorf("an event by number keeps a year: Cache-Control %q", cc)
		}
	})

	t.Run("filtered $all", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("POST", "/streams/filt-a", batch(3, "FiltOnly"), "Content-Type", "application/vnd.eventstore.events+json")
		c.want(res, body, http.StatusCreated, "append")
		res, body = c.do("GET", "/streams/$all/filtered/head/backward/2?context=eventtype&type=prefix&data=FiltOn,Nope", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "filtered $all")
		var f feedDoc
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatal(err)
		}
		if len(f.Entries) != 2 || f.Entries[0].Summary != "FiltOnly" || f.Entries[1].Summary != "FiltOnly" {
			t.Fatalf("filtered $all gave %+v, want two FiltOnly events", f.Entries)
		}
		if f.link("self") != base+"/streams/%24all/filtered" || f.link("metadata") != "" {
			t.Fatalf("filtered $all links %+v: want self /streams/%%24all/filtered and no metadata link", f.Links)
		}
		next := f.link("next")
		if !strings.Contains(next, "/streams/%24all/filtered/") || !strings.Contains(next, "data=FiltOn") {
			t.Fatalf("next link %q must stay on the filtered feed", next)
		}
		res, body = c.do("GET", strings.TrimPrefix(next, base), "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "next page of the filtered feed")
		f = feedDoc{}
		if err := json.Unmarshal([]byte(body), &f); err != nil || len(f.Entries) != 1 || f.Entries[0].Summary != "FiltOnly" {
			t.Fatalf("next filtered page: %v %+v, want the third FiltOnly event", err, f.Entries)
		}
		res, body = c.do("GET", "/streams/$all/filtered?context=streamid&type=regex&data=^filt-a$", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "regex on the stream id")
		f = feedDoc{}
		if err := json.Unmarshal([]byte(body), &f); err != nil || len(f.Entries) != 3 {
			t.Fatalf("regex filter: %v, %d entries, want 3", err, len(f.Entries))
		}
		res, body = c.do("GET", "/streams/$all/filtered?exclude-system-events=true", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "exclude-system-events")
		if strings.Contains(body, `"summary": "$`) {
			t.Fatalf("exclude-system-events listed a system event: %s", body)
		}
		for _, bad := range []string{"?exclude-system-events=yes", "?context=body&type=prefix&data=x", "?context=eventtype&type=glob&data=x", "?context=eventtype&type=regex&data=(", ""} {
			res, body = c.do("GET", "/streams/$all/filtered"+bad, "", "Accept", atomJSON)
			c.want(res, body, http.StatusBadRequest, "filtered $all with "+bad)
		}
	})

	t.Run("malformed bodies leave the node serving", func(t *testing.T) {
		c := client{t, base}
		res, body := c.do("POST", "/streams/orders", `[{"eventId":`, "Content-Type", "application/vnd.eventstore.events+json")
		c.want(res, body, http.StatusBadRequest, "malformed batch")
		res, body = c.do("POST", "/streams/orders", strings.Repeat("x", 2<<20), "Content-Type", "application/octet-stream", "ES-EventType", "B", "ES-EventId", "cbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4")
		c.want(res, body, http.StatusRequestEntityTooLarge, "oversized body")
		res, body = c.do("GET", "/streams/orders/0", "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, "read after refused bodies")
	})
}

func TestDisableHttpCaching(t *testing.T) {
	c := client{t, startNode(t, map[*options.Option]string{options.EnableAtomPubOverHttp: "true", options.DisableHttpCaching: "true"})}
	res, body := c.do("POST", "/streams/s", batch(3, "X"), "Content-Type", "application/vnd.eventstore.events+json")
	c.want(res, body, http.StatusCreated, "append")
	for _, p := range []string{"/streams/s/0", "/streams/s/0/forward/2", "/streams/s"} {
		res, body = c.do("GET", p, "", "Accept", atomJSON)
		c.want(res, body, http.StatusOK, p)
		if cc := res.Header.Get("Cache-Control"); cc != "max-age=0, no-cache, must-revalidate" {
			t.Errorf("%s: Cache-Control %q with DisableHttpCaching, want no-cache", p, cc)
		}
	}
}
