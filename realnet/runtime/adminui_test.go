package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/realnet/adminui"
	"github.com/annal-db/annal/realnet/tlsconfig/tlstest"
)

// httpGet fetches a path from a node's port and returns its status,
// headers and body.
func httpGet(t *testing.T, hc *http.Client, base, path, user, password string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func appendJSON(t *testing.T, n *testNode, stream, typ, data string, id byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	res, err := n.rt.client.Append(ctx, node.AppendRequest{Stream: stream, Expected: int64(streams.Any),
		Events: []streams.EventData{{ID: [16]byte{15: id}, Type: typ, Data: []byte(data), Metadata: []byte(`{"m":1}`), IsJSON: true}}})
	if err != nil || res.Err != nil {
		t.Fatalf("append to %s on %s: %v %v", stream, n.name, err, res.Err)
	}
}

func TestAdminUIOnAnInsecureNode(t *testing.T) {
	n := start(t, "ui", nodeOptions(t, t.TempDir(), nil))
	waitSoleLeader(t, []*testNode{n})
	appendJSON(t, n, "carts-1", "ItemAdded", `{"sku":"A-1","qty":2}`, 1)
	appendJSON(t, n, "carts-1", "ItemRemoved", `{"sku":"A-1"}`, 2)
	hc := &http.Client{Timeout: guard}
	base := "http://" + n.rt.NodeEndpoint().String()

	res, body := httpGet(t, hc, base, "/web/api/streams/carts-1", "", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /web/api/streams/carts-1: %d %s", res.StatusCode, body)
	}
	var page adminui.StreamPage
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("stream page is not JSON: %v\n%s", err, body)
	}
	if len(page.Events) != 2 || page.Events[0].EventType != "ItemRemoved" || page.Events[1].EventType != "ItemAdded" ||
		page.Events[1].DataEncoding != "json" || !strings.Contains(string(page.Events[1].Data), `"A-1"`) || page.Next != nil || page.LastRevision != 1 {
		t.Errorf("stream page %+v; want ItemRemoved then ItemAdded with its JSON, nothing older", page)
	}
	if res, body := httpGet(t, hc, base, "/web/api/streams/carts-1?count=1&from=0", "", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, `"ItemAdded"`) || strings.Contains(body, "ItemRemoved") {
		t.Errorf("GET from=0 count=1: %d %s; want only ItemAdded", res.StatusCode, body)
	}
	if res, body := httpGet(t, hc, base, "/web/api/streams/no-such-stream", "", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET a missing stream: %d %s; want 404", res.StatusCode, body)
	}

	// A hard-deleted stream is gone (410).
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if res, err := n.rt.client.Delete(ctx, node.DeleteRequest{Stream: "carts-1", Expected: int64(streams.Any), Tombstone: true}); err != nil || res.Err != nil {
		t.Fatalf("tombstone carts-1: %v %v", err, res.Err)
	}
	if res, body := httpGet(t, hc, base, "/web/api/streams/carts-1", "", ""); res.StatusCode != http.StatusGone {
		t.Errorf("GET a deleted stream: %d %s; want 410", res.StatusCode, body)
	}

	res, body = httpGet(t, hc, base, "/web/api/config", "", "")
	var doc adminui.ConfigDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /web/api/config: %d %v\n%s", res.StatusCode, err, body)
	}
	found := false
	for _, g := range doc.Groups {
		for _, o := range g.Options {
			if o.Name == "NodePort" {
				found = true
				if o.Value != strconv.Itoa(int(n.rt.NodeEndpoint().Port)) || o.Source != "command line" {
					t.Errorf("NodePort shown as %+v; want the bound port %d from the command line", o, n.rt.NodeEndpoint().Port)
				}
			}
		}
	}
	if !found {
		t.Errorf("the configuration has no NodePort:\n%s", body)
	}
	if res, body := httpGet(t, hc, base, "/web/", "", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, "app.js") {
		t.Errorf("GET /web/: %d %.200s; want the UI's page", res.StatusCode, body)
	}
	if res, _ := httpGet(t, hc, base, "/admin", "", ""); res.Request.URL.Path != "/web/" || res.StatusCode != http.StatusOK {
		t.Errorf("GET /admin ended at %s with %d; want a redirect to /web/", res.Request.URL.Path, res.StatusCode)
	}
}

func TestAdminUIHiddenByAdminOnExt(t *testing.T) {
	n := start(t, "hidden", nodeOptions(t, t.TempDir(), map[*options.Option]string{options.AdminOnExt: "false"}))
	hc := &http.Client{Timeout: guard}
	base := "http://" + n.rt.NodeEndpoint().String()
	for _, p := range []string{"/web/", "/web/app.js", "/web/api/config", "/web/api/streams/x", "/ui", "/admin"} {
		if res, body := httpGet(t, hc, base, p, "", ""); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "AdminOnExt=false") {
			t.Errorf("GET %s with AdminOnExt=false: %d %q; want 404 naming AdminOnExt", p, res.StatusCode, body)
		}
	}
	if res, _ := httpGet(t, hc, base, "/gossip", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("GET /gossip with only the admin UI hidden: %d, want 200", res.StatusCode)
	}
}

func TestAdminUIOnASecureNode(t *testing.T) {
	ca := tlstest.NewCA(t, "annal test CA")
	n := start(t, "secure-ui", secureOptions(t, ca, nil))
	waitSoleLeader(t, []*testNode{n})
	appendJSON(t, n, "orders", "OrderPlaced", `{"id":7}`, 1)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: guard}
	base := "https://" + n.rt.NodeEndpoint().String()

	for _, p := range []string{"/web/", "/web/api/config", "/web/api/streams/orders"} {
		res, _ := httpGet(t, hc, base, p, "", "")
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("anonymous GET %s: %d, challenge %q; want 401 with a Basic challenge (the browser's login)", p, res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
	}
	if res, body := httpGet(t, hc, base, "/web/api/streams/orders", "admin", "changeit"); res.StatusCode != http.StatusOK || !strings.Contains(body, `"OrderPlaced"`) {
		t.Errorf("admin reading orders: %d %s; want 200 with the event", res.StatusCode, body)
	}
	if res, body := httpGet(t, hc, base, "/web/api/streams/%24settings", "ops", "ops-secret"); res.StatusCode != http.StatusForbidden {
		t.Errorf("ops reading a system stream: %d %s; want 403 (system streams are for $admins)", res.StatusCode, body)
	}
	res, body := httpGet(t, hc, base, "/web/api/config", "ops", "ops-secret")
	if res.StatusCode != http.StatusOK || strings.Contains(body, "ops-secret") || !strings.Contains(body, `"****"`) {
		t.Errorf("GET /web/api/config as ops: %d; want 200 with the secrets redacted:\n%.300s", res.StatusCode, body)
	}
}
