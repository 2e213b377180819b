package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"net"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/streams"
)

// A replication peer that is sending a large message slowly is alive: its
// bytes keep arriving. EventStoreDB counts bytes received as liveness
// (reference/esdb-cluster.md §4.2), so a replica whose link carries a Data
// message of megabytes for longer than interval + timeout is not cut off,
// and its heartbeat answer, queued behind that message, is not needed.
// Counting whole messages only, a node declared such a peer dead in the
// middle of the message, over and over: on a 1 MB/s link a cluster could
// never replicate a 3 MB event, and every later write timed out.
func TestAPeerSendingALargeMessageSlowlyIsNotDeclaredDead(t *testing.T) {
	n := start(t, "n1", nodeOptions(t, t.TempDir(), map[*options.Option]string{
		options.ReplicationHeartbeatInterval: "100",
		options.ReplicationHeartbeatTimeout:  "100",
	}))
	waitUntil(t, "the node to serve", func() bool { return n.rt.Status().Epoch >= 0 })

	c, err := net.Dial("tcp", n.rt.ReplicationEndpoint().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().(*net.TCPAddr)
	peer := env.Endpoint{Host: "127.0.0.1", Port: uint16(me.Port)}

	// 1 MB at about 1 MB/s: a second, five times interval + timeout.
	payload := bytes.Repeat([]byte{0xA5}, 1<<20)
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	b = append(b, payload...)
	began := time.Now()
	const step = 20 << 10
	for i := 0; i < len(b); i += step {
		if _, err := c.Write(b[i:min(i+step, len(b))]); err != nil {
			t.Fatalf("the node closed the connection %v into the message, after %d of %d bytes: %v",
				time.Since(began), i, len(b), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(began)
	for _, e := range n.rec.since(began) {
		if d, ok := e.ev.(node.PeerDeclaredDead); ok && d.Peer == peer {
			t.Fatalf("the node declared the peer dead %v into a message that took %v to send (interval 100 ms + timeout 100 ms): bytes kept arriving all along",
				e.at.Sub(began), took)
		}
	}
}

// An event larger than a Data message's usual 256 KiB (MaxAppendSize is 1
// MiB by default) travels alone in one Data message and must reach the
// followers: replicas refused such messages, closed the link at that
// record after every resubscription, and the cluster never committed a
// write again.
func TestAnEventLargerThanOneDataMessageIsReplicated(t *testing.T) {
	nodes := cluster(t)
	leader := waitSoleLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	big := bytes.Repeat([]byte{'x'}, 300_000)
	res, err := leader.rt.client.Append(ctx, node.AppendRequest{Stream: "large", Expected: int64(streams.Any),
		Events: []streams.EventData{{ID: [16]byte{1}, Type: "t", Data: big}}})
	if err != nil || res.Err != nil {
		t.Fatalf("append of one %d-byte event to a three-node cluster: call error %v, result %v", len(big), err, res.Err)
	}
	// Later writes commit too: the link was not left stuck at the record.
	appendOne(t, leader.rt.client, "small", 1)
	for _, n := range others(nodes, leader) {
		waitUntil(t, n.name+" to serve the large event", func() bool {
			read, err := n.rt.client.ReadStream(ctx, node.ReadRequest{Stream: "large", Count: 1})
			return err == nil && read.Err == nil && len(read.Events) == 1 && bytes.Equal(read.Events[0].Data, big)
		})
	}
}
