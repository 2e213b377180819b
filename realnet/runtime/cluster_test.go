package runtime

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/gossip"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/replication"
	"github.com/annal-db/annal/core/wire"
	"github.com/annal-db/annal/realnet/loop"
	"github.com/annal-db/annal/realnet/netstack"
)

// Heartbeats of the test cluster: small, so that silence is found fast.
const (
	hbInterval = 100 * time.Millisecond
	hbTimeout  = 100 * time.Millisecond
)

// cluster starts three nodes on loopback, every port chosen by the
// kernel. Only n1's node port is known before the others start, so n2
// seeds from n1 and n3 from both; gossip tells n1 about the others.
func cluster(t *testing.T) []*testNode {
	t.Helper()
	common := map[*options.Option]string{
		options.ClusterSize:                  "3",
		options.GossipIntervalMs:             "200",
		options.GossipTimeoutMs:              "500",
		options.ReplicationHeartbeatInterval: fmt.Sprint(hbInterval.Milliseconds()),
		options.ReplicationHeartbeatTimeout:  fmt.Sprint(hbTimeout.Milliseconds()),
	}
	var nodes []*testNode
	var seeds []string
	for i := 1; i <= 3; i++ {
		set := map[*options.Option]string{}
		for o, v := range common {
			set[o] = v
		}
		if len(seeds) > 0 {
			set[options.GossipSeed] = strings.Join(seeds, ",")
		}
		n := start(t, fmt.Sprintf("n%d", i), nodeOptions(t, t.TempDir(), set))
		nodes = append(nodes, n)
		seeds = append(seeds, n.rt.NodeEndpoint().String())
	}
	return nodes
}

func waitSoleLeader(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	var leader *testNode
	deadline := time.Now().Add(guard)
	for leader = soleLeader(nodes); leader == nil; leader = soleLeader(nodes) {
		if time.Now().After(deadline) {
			t.Fatalf("no sole leader with the others following it after %v: %s", guard, statesOf(nodes))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return leader
}

func others(nodes []*testNode, but *testNode) []*testNode {
	var out []*testNode
	for _, n := range nodes {
		if n != but {
			out = append(out, n)
		}
	}
	return out
}

// One cluster on real sockets, through the failures a production node
// meets: strangers speaking garbage, a silent peer, a frozen follower and a
// crashed leader.
func TestThreeNodeClusterOnLoopback(t *testing.T) {
	nodes := cluster(t)
	leader := waitSoleLeader(t, nodes)
	t.Logf("leader %s: %s", leader.name, statesOf(nodes))

	t.Run("exactly one leader, agreed by all", func(t *testing.T) {
		id := leader.rt.Status().ID
		for _, n := range nodes {
			s := n.rt.Status()
			if n != leader && (s.State != member.Follower || s.Leader != id) {
				t.Errorf("%s is %v following %s, want Follower of %s", n.name, s.State, s.Leader.Short(), id.Short())
			}
		}
		view := readGossip(t, leader.rt.NodeEndpoint())
		alive, leaders := 0, 0
		for _, m := range view {
			if m.IsAlive {
				alive++
			}
			if m.IsAlive && m.State == member.Leader {
				leaders++
			}
		}
		if alive != 3 || leaders != 1 {
			t.Errorf("the leader's gossip shows %d alive members and %d leaders, want 3 and 1: %+v", alive, leaders, view)
		}
	})

	t.Run("a silent replication peer is closed after interval plus timeout", func(t *testing.T) {
		target := others(nodes, leader)[0]
		began := time.Now()
		c, err := net.Dial("tcp", target.rt.ReplicationEndpoint().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		local := c.LocalAddr().(*net.TCPAddr)
		_ = c.SetReadDeadline(time.Now().Add(guard))
		r := bufio.NewReader(c)
		// The node hears nothing from us for an interval: it asks once...
		msg, err := readFrame(r)
		if err != nil {
			t.Fatalf("no heartbeat request before the connection ended: %v", err)
		}
		if m, err := wire.Unmarshal(msg); err != nil {
			t.Fatalf("undecodable message from the node: %v", err)
		} else if _, ok := m.(*replication.HeartbeatRequest); !ok {
			t.Fatalf("first message is %T, want a heartbeat request", m)
		}
		// ...and after a timeout more of silence, hangs up.
		_, err = readFrame(r)
		closed := time.Since(began)
		if err == nil || isTimeout(err) {
			t.Fatalf("the connection was not closed (read: %v)", err)
		}
		if closed < hbInterval+hbTimeout {
			t.Errorf("closed %v after connecting, before interval + timeout (%v)", closed, hbInterval+hbTimeout)
		}
		want := env.Endpoint{Host: "127.0.0.1", Port: uint16(local.Port)}
		waitUntil(t, "the node to report the silent peer", func() bool {
			for _, e := range target.rec.since(began) {
				if d, ok := e.ev.(node.PeerDeclaredDead); ok && d.Peer == want {
					return true
				}
			}
			return false
		})
		t.Logf("closed %v after connecting (interval %v + timeout %v)", closed, hbInterval, hbTimeout)
	})

	t.Run("garbage on both ports is refused and the node keeps serving", func(t *testing.T) {
		target := leader.rt
		repl, nodePort := target.ReplicationEndpoint().String(), target.NodeEndpoint().String()
		validFrame := func(payload []byte) []byte {
			b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
			b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
			return append(b, payload...)
		}
		badCRC := validFrame([]byte("hello"))
		badCRC[4] ^= 0xff
		cases := []struct {
			name, addr string
			send       []byte
			answer     string // expected in what the node sends back, if anything
		}{
			{"replication: text, read as a huge length", repl, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ""},
			{"replication: checksum mismatch", repl, badCRC, ""},
			{"replication: valid frame, undecodable message", repl, validFrame([]byte{0xff, 0xfe, 0xfd, 0x00, 0x01}), ""},
			{"node port: not HTTP", nodePort, []byte("\x00\x01\x02garbage\r\n\r\n"), "400 Bad Request"},
			{"node port: HTTP/2 preface, then garbage", nodePort, append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")...), ""},
		}
		for _, tc := range cases {
			c, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if _, err := c.Write(tc.send); err != nil {
				t.Fatalf("%s: write: %v", tc.name, err)
			}
			_ = c.SetReadDeadline(time.Now().Add(guard))
			got, err := io.ReadAll(c)
			_ = c.Close()
			if isTimeout(err) {
				t.Errorf("%s: the node kept the connection open for %v", tc.name, guard)
				continue
			}
			if tc.answer != "" && !strings.Contains(string(got), tc.answer) {
				t.Errorf("%s: the node answered %q, want %q", tc.name, got, tc.answer)
			}
		}
		resp, err := http.Get("http://" + nodePort + "/health/live")
		if err != nil {
			t.Fatalf("health check after the garbage: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("GET /health/live = %d, want 204", resp.StatusCode)
		}
		if view := readGossip(t, target.NodeEndpoint()); len(view) != 3 {
			t.Errorf("gossip after the garbage lists %d members, want 3", len(view))
		}
		if soleLeader(nodes) != leader {
			t.Errorf("the cluster changed after the garbage: %s", statesOf(nodes))
		}
	})

	t.Run("a frozen follower is declared dead by the leader and rejoins when it thaws", func(t *testing.T) {
		frozen := others(nodes, leader)[1]
		release := frozen.rt.freeze(t)
		froze := time.Now()
		waitUntil(t, "the leader to declare the frozen follower dead", func() bool {
			for _, e := range leader.rec.since(froze) {
				if _, ok := e.ev.(node.PeerDeclaredDead); ok {
					return true
				}
			}
			return false
		})
		t.Logf("declared dead %v after the freeze (interval %v + timeout %v)", time.Since(froze), hbInterval, hbTimeout)
		if s := leader.rt.Status(); s.State != member.Leader {
			t.Errorf("the leader lost its place while one follower of two was frozen: %v", s.State)
		}
		release()
		waitUntil(t, "the thawed node to follow again", func() bool { return soleLeader(nodes) == leader })
	})

	t.Run("a crashed leader is replaced", func(t *testing.T) {
		old := leader.rt.Status()
		leader.rt.crash()
		rest := others(nodes, leader)
		next := waitSoleLeader(t, rest)
		if s := next.rt.Status(); s.Epoch <= old.Epoch || s.ID == old.ID {
			t.Errorf("new leader %s in epoch %d; the crashed one led epoch %d", next.name, s.Epoch, old.Epoch)
		}
		t.Logf("%s took over: %s", next.name, statesOf(rest))
	})
}

// readFrame reads one replication frame (length, CRC-32C, payload).
func readFrame(r *bufio.Reader) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.LittleEndian.Uint32(hdr[:4]))
	_, err := io.ReadFull(r, b)
	return b, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readGossip asks a node for its view over the cluster's own call, as
// another node would.
func readGossip(t *testing.T, ep env.Endpoint) []member.Info {
	t.Helper()
	l := loop.New("probe", 0)
	defer l.Stop()
	s, err := netstack.New(l, netstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type result struct {
		resp []byte
		err  error
	}
	done := make(chan result, 1)
	s.Call(ep, gossip.MethodRead, nil, 5*time.Second, func(resp []byte, err error) { done <- result{resp, err} })
	var r result
	select {
	case r = <-done:
	case <-time.After(guard):
		t.Fatalf("gossip read from %v: no answer within %v", ep, guard)
	}
	if r.err != nil {
		t.Fatalf("gossip read from %v: %v", ep, r.err)
	}
	var ci gossip.ClusterInfo
	if err := ci.Unmarshal(r.resp); err != nil {
		t.Fatalf("gossip read from %v: %v", ep, err)
	}
	return ci.View
}
