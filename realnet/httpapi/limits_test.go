package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// guard bounds every wait: a hang detector, never a speed assertion.
const guard = 20 * time.Second

// echoBody is a port route that reads its whole body.
func echoBody(read chan<- error) http.Handler {
	mux := portMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if read != nil {
			read <- err
		}
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		case err != nil:
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		default:
			_, _ = w.Write(b)
		}
	})
	return mux
}

func TestBodiesAreBoundedInSize(t *testing.T) {
	h := newAPI(t, newFakeNode(t), Config{MaxBodyBytes: 100}, nil).Wrap(echoBody(nil))

	// Announced too large: refused before a byte is read.
	r := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(strings.Repeat("x", 101)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "limit of 100 bytes") {
		t.Errorf("a 101-byte body: %d %q, want 413 naming the limit", w.Code, w.Body)
	}
	// Not announced (chunked): cut off at the limit while read.
	r = httptest.NewRequest(http.MethodPost, "/echo", io.MultiReader(strings.NewReader(strings.Repeat("x", 200))))
	r.ContentLength = -1
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 200-byte chunked body: %d %q, want 413", w.Code, w.Body)
	}
	// Within the limit: untouched.
	if w := do(t, h, http.MethodPost, "/echo", strings.NewReader("hello")); w.Code != http.StatusOK || w.Body.String() != "hello" {
		t.Errorf("a 5-byte body: %d %q", w.Code, w.Body)
	}
}

// A client that sends its body slowly is cut off after BodyReadTimeout;
// one that sent it whole keeps its request alive however long the
// handler takes; and the server goes on serving.
func TestBodyReadTimeoutCutsSlowClientsOnly(t *testing.T) {
	read := make(chan error, 4)
	slowHandler := echoBody(read).(*http.ServeMux)
	ctxErr := make(chan error, 1)
	slowHandler.HandleFunc("/slow-handler", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(600 * time.Millisecond): // past BodyReadTimeout
		}
		ctxErr <- r.Context().Err()
	})
	a := newAPI(t, newFakeNode(t), Config{BodyReadTimeout: 200 * time.Millisecond}, nil)
	srv := httptest.NewServer(a.Wrap(slowHandler))
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(guard))
	// Headers announce 10 bytes; 2 arrive, then nothing.
	if _, err := fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-read:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("reading the slow body ended with %v, want a timeout", err)
		}
	case <-time.After(guard):
		t.Fatalf("the slow body was still being read after %v", guard)
	}

	// A body sent whole: the handler may take longer than the body's
	// timeout without its request being cancelled.
	resp, err := http.Post(srv.URL+"/slow-handler", "text/plain", strings.NewReader("whole"))
	if err != nil {
		t.Fatalf("POST /slow-handler: %v", err)
	}
	_ = resp.Body.Close()
	if err := <-ctxErr; err != nil {
		t.Errorf("a request whose body had been read was cancelled by the body's deadline: %v", err)
	}
	// Nor is a request without a body, which gets no read deadline.
	resp, err = http.Get(srv.URL + "/slow-handler")
	if err != nil {
		t.Fatalf("GET /slow-handler: %v", err)
	}
	_ = resp.Body.Close()
	if err := <-ctxErr; err != nil {
		t.Errorf("a request without a body was cancelled while its handler ran: %v", err)
	}
	resp, err = http.Get(srv.URL + "/info")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /info after the slow client: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
}

// Past MaxConcurrent requests in progress, the next is refused at once;
// /health/live is never refused.
func TestConcurrentRequestsAreBounded(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	mux := portMux()
	mux.HandleFunc("GET /hold", func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
	})
	h := newAPI(t, newFakeNode(t), Config{MaxConcurrent: 2}, nil).Wrap(mux)
	done := make(chan struct{}, 2)
	for range 2 {
		go func() {
			do(t, h, http.MethodGet, "/hold", nil)
			done <- struct{}{}
		}()
		<-entered
	}
	w := do(t, h, http.MethodGet, "/info", nil)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("a third request with two in progress: %d Retry-After %q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if w := do(t, h, http.MethodGet, "/health/live", nil); w.Code != http.StatusNoContent {
		t.Errorf("GET /health/live with the API full: %d, want 204", w.Code)
	}
	close(release)
	<-done
	<-done
	if w := do(t, h, http.MethodGet, "/info", nil); w.Code != http.StatusOK {
		t.Errorf("GET /info once the others finished: %d", w.Code)
	}
}

// A client that never reads its response is cut off after WriteTimeout,
// rather than holding the handler forever.
func TestWriteTimeoutCutsClientsThatDoNotRead(t *testing.T) {
	wrote := make(chan error, 1)
	mux := portMux()
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				wrote <- err
				return
			}
		}
	})
	a := newAPI(t, newFakeNode(t), Config{WriteTimeout: 300 * time.Millisecond}, nil)
	srv := httptest.NewServer(a.Wrap(mux))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_, _ = bufio.NewReader(c).Peek(1) // the response starts, then is never read
	select {
	case err := <-wrote:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("the endless response ended with %v, want a write timeout", err)
		}
	case <-time.After(guard):
		t.Fatalf("the handler was still writing to a client that reads nothing after %v", guard)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/health/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("GET /health/live afterwards: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
}

// A handler that takes the connection over (an upgrade) owns it without
// the request's deadlines.
func TestHijackedConnectionsKeepNoDeadline(t *testing.T) {
	mux := portMux()
	mux.HandleFunc("GET /upgrade", func(w http.ResponseWriter, _ *http.Request) {
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer c.Close()
		time.Sleep(500 * time.Millisecond) // past WriteTimeout
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\nlate")
		_ = brw.Flush()
	})
	a := newAPI(t, newFakeNode(t), Config{WriteTimeout: 200 * time.Millisecond}, nil)
	srv := httptest.NewServer(a.Wrap(mux))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(guard))
	if _, err := fmt.Fprintf(c, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if !strings.HasSuffix(string(got), "late") {
		t.Fatalf("the hijacked connection delivered %q; its writes after the request's WriteTimeout were cut off", got)
	}
}
