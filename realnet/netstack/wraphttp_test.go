package netstack

import (
	"io"
	"net/http"
	"testing"
)

// WrapHTTP sees every HTTP/1.1 request first, the port's own
// /health/live included, and may pass it on to the port's routes.
func TestNodePortWrapHTTPStandsInFrontOfEveryRoute(t *testing.T) {
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health/live" {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("X-Wrapped", "yes")
			next.ServeHTTP(w, r)
		})
	}
	a := newNode(t, "a", Options{WrapHTTP: wrap})
	p := a.serve(newHandler())
	p.HandleHTTP("GET /later", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "later") }))
	hc := httpClient(t)

	if code, _ := get(t, hc, p.Addr(), "/health/live"); code != http.StatusServiceUnavailable {
		t.Fatalf("GET /health/live through the wrapper: %d, want the wrapper's 503", code)
	}
	resp, err := hc.Get("http://" + p.Addr().String() + "/later")
	if err != nil {
		t.Fatalf("GET /later: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "later" || resp.Header.Get("X-Wrapped") != "yes" {
		t.Fatalf("GET /later: %d %q X-Wrapped=%q; want the route's answer, passed through the wrapper", resp.StatusCode, body, resp.Header.Get("X-Wrapped"))
	}
}
