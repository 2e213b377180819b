package netstack

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// httpClient speaks HTTP/1.1 to the node port; Cleanup closes its idle
// connections so no goroutine outlives the test.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 8, ForceAttemptHTTP2: false}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: guard}
}

func get(t *testing.T, c *http.Client, ep env.Endpoint, path string) (int, string) {
	t.Helper()
	resp, err := c.Get("http://" + ep.String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	if resp.ProtoMajor != 1 {
		t.Fatalf("GET %s was answered over %s; want HTTP/1.1", path, resp.Proto)
	}
	return resp.StatusCode, string(body)
}

func TestNodePortServesGRPCAndHTTPOnOnePort(t *testing.T) {
	extra := http.NewServeMux()
	extra.HandleFunc("GET /custom", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "custom") })
	a := newNode(t, "a", Options{HTTP: extra})
	b := newNode(t, "b", Options{})
	p := a.serve(newHandler())
	hc := httpClient(t)

	if code, _ := get(t, hc, p.Addr(), "/health/live"); code != http.StatusNoContent {
		t.Fatalf("GET /health/live: %d, want 204", code)
	}
	if resp, err := b.call(p.Addr(), "echo", []byte("same port"), guard); err != nil || string(resp) != "same port" {
		t.Fatalf("gRPC call on the node port: %q, %v", resp, err)
	}
	if code, body := get(t, hc, p.Addr(), "/custom"); code != 200 || body != "custom" {
		t.Fatalf("GET /custom (Options.HTTP): %d %q", code, body)
	}
	if code, _ := get(t, hc, p.Addr(), "/later"); code != http.StatusNotFound {
		t.Fatalf("GET /later before it was added: %d, want 404", code)
	}
	p.HandleHTTP("GET /later", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "later") }))
	if code, body := get(t, hc, p.Addr(), "/later"); code != 200 || body != "later" {
		t.Fatalf("GET /later after HandleHTTP: %d %q", code, body)
	}
	st := p.Stats()
	if st.GRPC != 1 || st.HTTP < 1 || st.Accepted != st.GRPC+st.HTTP || st.Open < 2 {
		t.Fatalf("stats %+v; want one gRPC connection, at least one HTTP connection, both still open", st)
	}
}

func TestNodePortClosesGarbageAndSilentClientsOnly(t *testing.T) {
	a := newNode(t, "a", Options{SniffTimeout: 300 * time.Millisecond})
	b := newNode(t, "b", Options{})
	p := a.serve(newHandler())
	hc := httpClient(t)
	if _, err := b.call(p.Addr(), "echo", nil, guard); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		send string
	}{
		{"garbage", "\x00\x01\x02\xffgarbage\r\n\r\n"},
		{"silent", ""},
		{"half a preface", http2Preface[:9]},
		// The whole preface hands the connection to gRPC, which waited
		// 120 s (its own default) for the client's SETTINGS.
		{"whole-preface-then-silent", http2Preface},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", p.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if tc.send != "" {
				if _, err := io.WriteString(raw, tc.send); err != nil {
					t.Fatal(err)
				}
			}
			_ = raw.SetReadDeadline(time.Now().Add(guard))
			if _, err := io.ReadAll(raw); isTimeout(err) {
				t.Fatalf("the node port kept a %s connection open: %v", tc.name, err)
			}
		})
	}
	if st := p.Stats(); st.SniffFailed != 2 {
		t.Fatalf("stats %+v; want 2 connections closed for sending no protocol in time", st)
	}
	if code, _ := get(t, hc, p.Addr(), "/health/live"); code != http.StatusNoContent {
		t.Fatalf("GET /health/live after the bad clients: %d", code)
	}
	if _, err := b.call(p.Addr(), "echo", nil, guard); err != nil {
		t.Fatalf("gRPC call after the bad clients: %v", err)
	}
}

func TestNodePortAdmissionHook(t *testing.T) {
	a := newNode(t, "a", Options{AdmitNodeConn: func(open int) bool { return open < 1 }})
	p := a.serve(newHandler())
	first, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waitFor(t, "the first connection to be counted", func() bool { return p.Stats().Open == 1 })
	second, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(guard))
	if _, err := io.ReadAll(second); isTimeout(err) {
		t.Fatal("a connection over the limit was kept open")
	}
	if st := p.Stats(); st.Rejected != 1 || st.Open != 1 {
		t.Fatalf("stats %+v; want 1 rejected and 1 open", st)
	}
	_ = first.Close()
	waitFor(t, "the closed connection to be uncounted", func() bool { return p.Stats().Open == 0 })
	hc := httpClient(t)
	if code, _ := get(t, hc, p.Addr(), "/health/live"); code != http.StatusNoContent {
		t.Fatalf("GET /health/live once under the limit: %d", code)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", guard, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNodePortBothProtocolsAnswerWhileTheOtherIsLoaded(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	p := a.serve(newHandler())
	hc := httpClient(t)
	const workers, each, probes = 4, 60, 60

	grpcLoad := func() error {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					res := make(chan error, 1)
					msg := []byte(fmt.Sprintf("%d/%d", w, i))
					if err := b.loop.Post(func() {
						b.net.Call(p.Addr(), "echo", msg, guard, func(resp []byte, err error) {
							if err == nil && string(resp) != string(msg) {
								err = fmt.Errorf("echo of %q returned %q", msg, resp)
							}
							res <- err
						})
					}); err != nil {
						errs <- err
						return
					}
					if err := <-res; err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	httpLoad := func() error {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					resp, err := hc.Get("http://" + p.Addr().String() + "/health/live")
					if err != nil {
						errs <- err
						return
					}
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent {
						errs <- fmt.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}

	loadDone := make(chan error, 1)
	go func() { loadDone <- grpcLoad() }()
	for range probes {
		if code, _ := get(t, hc, p.Addr(), "/health/live"); code != http.StatusNoContent {
			t.Fatalf("HTTP probe under gRPC load: %d", code)
		}
	}
	if err := <-loadDone; err != nil {
		t.Fatalf("gRPC load: %v", err)
	}

	go func() { loadDone <- httpLoad() }()
	for range probes {
		if _, err := b.call(p.Addr(), "echo", []byte("probe"), guard); err != nil {
			t.Fatalf("gRPC probe under HTTP load: %v", err)
		}
	}
	if err := <-loadDone; err != nil {
		t.Fatalf("HTTP load: %v", err)
	}
}

// HTTP/2 frame types used by the keepalive tests.
const (
	h2Settings = 0x4
	h2Ping     = 0x6
	h2GoAway   = 0x7
	h2Ack      = 0x1
)

func writeH2Frame(w io.Writer, typ, flags byte, payload []byte) error {
	hdr := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
	_, err := w.Write(append(hdr, payload...))
	return err
}

func readH2Frame(r io.Reader) (typ, flags byte, payload []byte, err error) {
	var hdr [9]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, nil, err
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return hdr[3], hdr[4], payload, err
}

// rawH2 opens an HTTP/2 connection by hand: the preface and empty
// settings, acknowledging the server's.
func rawH2(t *testing.T, ep env.Endpoint) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ep.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, http2Preface); err != nil {
		t.Fatal(err)
	}
	if err := writeH2Frame(c, h2Settings, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := writeH2Frame(c, h2Settings, h2Ack, nil); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(guard))
	return c
}

func TestNodePortPingsIdleClientsAndDropsSilentOnes(t *testing.T) {
	a := newNode(t, "a", Options{KeepAliveInterval: 100 * time.Millisecond, KeepAliveTimeout: 200 * time.Millisecond})
	p := a.serve(newHandler())
	c := rawH2(t, p.Addr())
	pings := 0
	for {
		typ, flags, _, err := readH2Frame(c)
		if err != nil {
			if isTimeout(err) {
				t.Fatalf("the server kept a client that never answers pings for %v", guard)
			}
			break // closed by the server
		}
		if typ == h2Ping && flags&h2Ack == 0 {
			pings++
		}
	}
	if pings == 0 {
		t.Fatal("the server closed the connection without pinging first")
	}
}

func TestNodePortAcceptsClientPingsWithoutCalls(t *testing.T) {
	a := newNode(t, "a", Options{KeepAliveMinTime: 20 * time.Millisecond, KeepAliveInterval: -1})
	p := a.serve(newHandler())
	c := rawH2(t, p.Addr())
	// A client pinging with no call open, as the official clients do
	// every 10 s (here every 50 ms against a 20 ms minimum).
	const pings = 5
	acks := 0
	for i := range pings {
		if err := writeH2Frame(c, h2Ping, 0, binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		for {
			typ, flags, _, err := readH2Frame(c)
			if err != nil {
				t.Fatalf("the server dropped a client pinging every 50 ms without calls after %d pings: %v", acks, err)
			}
			if typ == h2GoAway {
				t.Fatalf("the server sent GOAWAY to a client pinging without calls after %d pings", acks)
			}
			if typ == h2Ping && flags&h2Ack != 0 {
				acks++
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The official clients let users choose their keepAliveInterval (the
// NodeJS client only warns below 10 s, .NET takes 1 s), and EventStoreDB
// answers pings at any rate. A client pinging every second with defaults
// must keep its connection: with a 5 s minimum the node sent it GOAWAY
// (too_many_pings) after three pings, and a NodeJS subscription with
// keepAliveInterval=1000 died after 4 s with RESOURCE_EXHAUSTED.
func TestNodePortKeepsAClientPingingEverySecond(t *testing.T) {
	a := newNode(t, "a", Options{KeepAliveInterval: -1})
	p := a.serve(newHandler())
	c := rawH2(t, p.Addr())
	// Three pings too early earn a GOAWAY, sent after the fourth ping's
	// answer: the fifth finds it.
	const pings = 5
	for i := range pings {
		if i > 0 {
			time.Sleep(time.Second)
		}
		if err := writeH2Frame(c, h2Ping, 0, binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		for {
			typ, flags, payload, err := readH2Frame(c)
			if err != nil {
				t.Fatalf("the server dropped a client pinging every second after %d pings: %v", i, err)
			}
			if typ == h2GoAway {
				t.Fatalf("the server sent GOAWAY %q to a client pinging every second, at ping %d", payload[8:], i+1)
			}
			if typ == h2Ping && flags&h2Ack != 0 {
				break
			}
		}
	}
}
