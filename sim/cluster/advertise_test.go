package cluster_test

import (
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/cluster"
)

// Advertise-as options change only what a node gossips, never what it
// binds; 0 means "not set" for ports; a node bound to 0.0.0.0 advertises
// its first non-loopback address.
func TestAdvertiseOptionsChangeOnlyWhatIsGossiped(t *testing.T) {
	c, err := cluster.New(cluster.Config{Seed: 1, Nodes: 2, Duration: 10 * time.Second,
		NodeOptions: map[string]map[string]string{
			"n1": {
				"NodeHostAdvertiseAs": "db1.example.test", "NodePortAdvertiseAs": "3113",
				"ReplicationHostAdvertiseAs": "repl1.example.test", "ReplicationTcpPortAdvertiseAs": "3112",
				"AdvertiseHostToClientAs": "clients.example.test", "AdvertiseNodePortToClientAs": "443",
			},
			"n2": {"NodeIp": "0.0.0.0", "ReplicationIp": "0.0.0.0", "NodePortAdvertiseAs": "0"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.RunUntil(time.Second)
	n1, n2 := c.Node(0), c.Node(1)
	if n1 == nil || n2 == nil {
		t.Fatal("nodes did not start")
	}
	self := func(i int) (rec struct{ node, repl, client env.Endpoint }) {
		n := c.Node(i)
		for _, m := range n.Gossip() {
			if m.InstanceID == n.ID() {
				rec.node, rec.repl, rec.client = m.HTTPEndPoint, m.InternalTCP, m.ClientEndpoint()
			}
		}
		return rec
	}
	r1 := self(0)
	if want := (env.Endpoint{Host: "db1.example.test", Port: 3113}); r1.node != want {
		t.Errorf("n1 gossips node endpoint %v, want %v", r1.node, want)
	}
	if want := (env.Endpoint{Host: "repl1.example.test", Port: 3112}); r1.repl != want {
		t.Errorf("n1 gossips replication endpoint %v, want %v", r1.repl, want)
	}
	if want := (env.Endpoint{Host: "clients.example.test", Port: 443}); r1.client != want {
		t.Errorf("n1 tells clients %v, want %v", r1.client, want)
	}
	r2 := self(1)
	if want := (env.Endpoint{Host: "10.0.0.2", Port: cluster.NodePort}); r2.node != want {
		t.Errorf("n2 bound to 0.0.0.0 gossips %v, want its first non-loopback address %v", r2.node, want)
	}
	if want := (env.Endpoint{Host: "10.0.0.2", Port: cluster.ReplicationPort}); r2.repl != want {
		t.Errorf("n2 gossips replication endpoint %v, want %v", r2.repl, want)
	}
	if r2.client != r2.node {
		t.Errorf("n2 without client advertise options tells clients %v, want its node endpoint %v", r2.client, r2.node)
	}
	// What n1 binds is unchanged: n2 learned n1's record by gossiping with
	// its seed 10.0.0.1:2113 (the advertised name resolves nowhere).
	learned := false
	for _, m := range n2.Gossip() {
		learned = learned || m.InstanceID == n1.ID()
	}
	if !learned {
		t.Error("n2 never reached n1 at its bound address 10.0.0.1:2113")
	}
}
