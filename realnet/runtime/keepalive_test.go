package runtime

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The official clients let users set keepAliveInterval as they like (the
// NodeJS client only warns below 10 s; .NET's minimum is 1 s), and
// EventStoreDB answers their pings at any rate. A node must keep a client
// that pings every second: with a minimum of 5 s between pings it sent
// GOAWAY (too_many_pings) after the fourth, and a NodeJS subscription with
// keepAliveInterval=1000 died after 4 s with RESOURCE_EXHAUSTED.
func TestANodeKeepsAClientPingingEverySecond(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), nil))
	c, err := net.Dial("tcp", n.rt.NodeEndpoint().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(guard))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	f := http2.NewFramer(c, c)
	if err := f.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// Three pings too early earn a GOAWAY, sent after the fourth ping's
	// answer: the fifth finds it.
	for i := range 5 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		if err := f.WritePing(false, [8]byte(binary.BigEndian.AppendUint64(nil, uint64(i)))); err != nil {
			t.Fatalf("ping %d: %v", i+1, err)
		}
		for acked := false; !acked; {
			fr, err := f.ReadFrame()
			if err != nil {
				t.Fatalf("the node dropped a client pinging every second, at ping %d: %v", i+1, err)
			}
			switch fr := fr.(type) {
			case *http2.GoAwayFrame:
				t.Fatalf("the node sent GOAWAY %v %q to a client pinging every second, at ping %d", fr.ErrCode, fr.DebugData(), i+1)
			case *http2.PingFrame:
				acked = fr.IsAck()
			}
		}
	}
}
