package netstack

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// echoUpgrade switches an upgrade request's connection to an echo
// protocol, as a WebSocket server takes its connection over; other
// requests get 400.
func echoUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "echo" {
		http.Error(w, "upgrade to echo only", http.StatusBadRequest)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	go func() {
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(c, brw)
	}()
}

// upgradeClient sends an upgrade request on c and returns the status line
// of the answer.
func upgradeClient(t *testing.T, c net.Conn, br *bufio.Reader) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(guard))
	if _, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to an upgrade request: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	}
	return res.Status
}

func dialPort(t *testing.T, p *NodePort) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// Upgraded connections: at most AdmitUpgrade allows (503 beyond), each
// holding its slot until it closes; and, as in Kestrel, no longer counted
// against the connection limit, so that a new connection is admitted
// while one is upgraded.
func TestNodePortLimitsUpgradedConnections(t *testing.T) {
	routes := http.NewServeMux()
	routes.HandleFunc("GET /ws", echoUpgrade)
	a := newNode(t, "a", Options{
		HTTP:          routes,
		AdmitNodeConn: func(open int) bool { return open < 1 },
		AdmitUpgrade:  func(upgraded int) bool { return upgraded < 1 },
	})
	p := a.serve(newHandler())

	ws, wsr := dialPort(t, p)
	if got := upgradeClient(t, ws, wsr); !strings.HasPrefix(got, "101") {
		t.Fatalf("the first upgrade: %s, want 101", got)
	}
	if _, err := io.WriteString(ws, "ping"); err != nil {
		t.Fatal(err)
	}
	if echo := make([]byte, 4); func() error { _, err := io.ReadFull(wsr, echo); return err }() != nil || string(echo) != "ping" {
		t.Fatalf("the upgraded connection does not echo: %q", echo)
	}
	waitFor(t, "the upgrade to be counted", func() bool { return p.Stats().Upgraded == 1 })

	// One connection is allowed, and the upgraded one does not count.
	c, cr := dialPort(t, p)
	if got := upgradeClient(t, c, cr); !strings.HasPrefix(got, "503") {
		t.Fatalf("an upgrade beyond the limit: %s, want 503", got)
	}
	if st := p.Stats(); st.UpgradesRefused != 1 || st.Upgraded != 1 || st.Rejected != 0 {
		t.Fatalf("stats %+v; want one upgrade refused, one open, no connection rejected", st)
	}
	_ = c.Close()
	_ = ws.Close()
	waitFor(t, "both connections to close", func() bool { st := p.Stats(); return st.Open == 0 && st.Upgraded == 0 })

	// An upgrade request that is not taken over frees its slot at once.
	c, cr = dialPort(t, p)
	_ = c.SetDeadline(time.Now().Add(guard))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
	res, err := http.ReadResponse(cr, nil)
	if err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("an upgrade the handler declines: %v %v", res, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if got := upgradeClient(t, c, cr); !strings.HasPrefix(got, "101") {
		t.Fatalf("an upgrade after a declined one: %s, want 101", got)
	}
	if st := p.Stats(); st.Upgrades != 2 || st.Upgraded != 1 {
		t.Fatalf("stats %+v; want 2 upgrades in all, 1 open", st)
	}
}
