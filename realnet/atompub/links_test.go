package atompub_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/options"
)

// Link events a client wrote show, in feeds and single entries, with the
// titles and ids of their targets; with ES-ResolveLinkTos (on unless
// False) they carry their targets' content.
func TestLinkEventsInFeeds(t *testing.T) {
	base := startNode(t, map[*options.Option]string{options.EnableAtomPubOverHttp: "true"})
	c := client{t, base}
	res, body := c.do("POST", "/streams/orders", batch(3, "Placed"), "Content-Type", "application/vnd.eventstore.events+json", "ES-ExpectedVersion", "-1")
	c.want(res, body, http.StatusCreated, "append the targets")
	for i, data := range []string{"1@orders", "99@orders"} {
		res, body := c.do("POST", "/streams/links", data, "Content-Type", "application/octet-stream", "ES-EventType", "$>",
			"ES-EventId", []string{"0000000a-0000-4000-8000-000000000001", "0000000a-0000-4000-8000-000000000002"}[i])
		c.want(res, body, http.StatusCreated, "append link "+data)
	}

	feed := func(hdr ...string) feedDoc {
		res, body := c.do("GET", "/streams/links?embed=body", "", append([]string{"Accept", atomJSON}, hdr...)...)
		c.want(res, body, http.StatusOK, "links feed")
		var f feedDoc
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("feed JSON: %v\n%s", err, body)
		}
		if len(f.Entries) != 2 {
			t.Fatalf("%d entries, want 2:\n%s", len(f.Entries), body)
		}
		return f
	}
	for _, hdr := range [][]string{nil, {"ES-ResolveLinkTos", "False"}} {
		f := feed(hdr...)
		// Newest first: the link past the end of orders, then orders/1's.
		for i, want := range []string{"99@orders", "1@orders"} {
			e := f.Entries[i]
			if e.Title != want || e.ID != base+"/streams/orders/"+strings.Split(want, "@")[0] || e.Summary != "$>" {
				t.Errorf("%v: entry %d is %q %q %q, want title %s pointing at its target and summary $>", hdr, i, e.Title, e.ID, e.Summary, want)
			}
		}
		resolved := hdr == nil
		if got := f.Entries[1].Data; resolved != (got != nil && strings.Contains(*got, `"n":1`)) {
			t.Errorf("%v: the resolvable link's data is %v; resolved: %v", hdr, got, resolved)
		}
		if f.Entries[0].Data != nil {
			t.Errorf("%v: the link past its target's end carries data %q", hdr, *f.Entries[0].Data)
		}
	}

	res, body = c.do("GET", "/streams/links/0", "", "Accept", "application/json")
	c.want(res, body, http.StatusOK, "the link as JSON data")
	if !strings.Contains(body, `"n": 1`) && !strings.Contains(body, `"n":1`) {
		t.Errorf("GET /streams/links/0 as application/json is %q, want its target's data", body)
	}
}

// $all's feed does not resolve links unless ES-ResolveLinkTos asks it to:
// EventStoreDB's default is true for stream feeds and single events, and
// false for $all (and metastream) reads.
func TestTheAllFeedLeavesLinksUnresolvedByDefault(t *testing.T) {
	base := startNode(t, map[*options.Option]string{options.EnableAtomPubOverHttp: "true"})
	c := client{t, base}
	res, body := c.do("POST", "/streams/orders", batch(1, "Placed"), "Content-Type", "application/vnd.eventstore.events+json", "ES-ExpectedVersion", "-1")
	c.want(res, body, http.StatusCreated, "append the target")
	res, body = c.do("POST", "/streams/links", "0@orders", "Content-Type", "application/octet-stream", "ES-EventType", "$>",
		"ES-EventId", "0000000a-0000-4000-8000-000000000001")
	c.want(res, body, http.StatusCreated, "append the link")

	linkData := func(hdr ...string) *string {
		res, body := c.do("GET", "/streams/%24all/head/backward/20?embed=body", "", append([]string{"Accept", atomJSON}, hdr...)...)
		c.want(res, body, http.StatusOK, "$all feed")
		var f feedDoc
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatalf("feed JSON: %v\n%s", err, body)
		}
		for _, e := range f.Entries {
			if e.Summary == "$>" {
				return e.Data
			}
		}
		t.Fatalf("no link entry in $all:\n%s", body)
		return nil
	}
	if d := linkData(); d != nil {
		t.Errorf("$all without ES-ResolveLinkTos resolved the link to %q; EventStoreDB's default for $all is False", *d)
	}
	if d := linkData("ES-ResolveLinkTos", "True"); d == nil || !strings.Contains(*d, `"n":0`) {
		t.Errorf("$all with ES-ResolveLinkTos: True did not resolve the link (data %v)", d)
	}
}
