package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/gossip"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/loop"
	"github.com/annal-db/annal/realnet/netstack"
)

// One node, every endpoint, against what it really did: the appends and
// reads made over gRPC show up in /stats and /metrics.
func TestSingleNodeEndpoints(t *testing.T) {
	n := startNode(t, "n1", nil, netstack.Options{})
	waitUntil(t, "n1 to lead", func() bool { return n.state() == member.Leader })

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/health/live", http.StatusNoContent},
		{http.MethodHead, "/health/live", http.StatusNoContent},
		{http.MethodGet, "/health/live?liveCode=200", http.StatusOK},
	} {
		if code, _, body := n.do(tc.method, tc.path); code != tc.want || body != "" {
			t.Errorf("%s %s: %d %q, want %d and no body", tc.method, tc.path, code, body, tc.want)
		}
	}
	var info map[string]any
	n.getJSON("/info", &info)
	if info["state"] != "leader" || info["esVersion"] == "" {
		t.Errorf("GET /info: %v, want state leader", info)
	}

	ctx := testContext(t)
	const appends, perAppend = 4, 3
	for i := range appends {
		if err := appendEvents(ctx, n.streams(), "orders", perAppend); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if got, err := readEvents(ctx, n.streams(), "orders"); err != nil || got != appends*perAppend {
		t.Fatalf("read back %d events (%v), want %d", got, err, appends*perAppend)
	}

	var stats struct {
		Proc struct {
			Mem        uint64 `json:"mem"`
			Goroutines int    `json:"goroutines"`
		} `json:"proc"`
		ES struct {
			Queue  map[string]struct{ Capacity int } `json:"queue"`
			Writer struct {
				SyncRequests uint64 `json:"syncRequests"`
				Fsyncs       uint64 `json:"fsyncs"`
				SyncsTimed   uint64 `json:"syncsTimed"`
			} `json:"writer"`
			DB struct {
				Path      string `json:"path"`
				SizeBytes int64  `json:"sizeBytes"`
			} `json:"db"`
			Node *struct {
				State     string `json:"state"`
				Committed int64  `json:"committed"`
			} `json:"node"`
			Replication *struct {
				Followers []any `json:"followers"`
			} `json:"replication"`
			Connections struct {
				Node struct{ Open, GRPC int } `json:"node"`
			} `json:"connections"`
		} `json:"es"`
	}
	n.getJSON("/stats", &stats)
	if stats.Proc.Mem == 0 || stats.Proc.Goroutines == 0 {
		t.Errorf("/stats process figures: %+v", stats.Proc)
	}
	if stats.ES.Queue["NodeLoop"].Capacity == 0 {
		t.Errorf("/stats has no node loop queue: %+v", stats.ES.Queue)
	}
	if w := stats.ES.Writer; w.SyncRequests == 0 || w.Fsyncs == 0 || w.SyncsTimed == 0 {
		t.Errorf("/stats writer after %d appends: %+v, want syncs counted and timed", appends, w)
	}
	if stats.ES.DB.Path != n.rt.Dir() || stats.ES.DB.SizeBytes == 0 {
		t.Errorf("/stats database %+v, want the size of %s", stats.ES.DB, n.rt.Dir())
	}
	if stats.ES.Node == nil || stats.ES.Node.State != "Leader" || stats.ES.Node.Committed <= 0 {
		t.Errorf("/stats node %+v, want a Leader with a commit point", stats.ES.Node)
	}
	if stats.ES.Replication == nil || len(stats.ES.Replication.Followers) != 0 {
		t.Errorf("/stats replication of a single node: %+v, want a leader with no followers", stats.ES.Replication)
	}
	if c := stats.ES.Connections.Node; c.Open < 2 || c.GRPC < 1 {
		t.Errorf("/stats node-port connections %+v, want this test's gRPC and HTTP connections", c)
	}

	fams := n.metrics()
	for _, w := range []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		{"eventstore_elections_count", nil, 1, 1e9},
		{"eventstore_io_events", []string{"activity", "written"}, appends * perAppend, appends * perAppend},
		{"eventstore_io_events", []string{"activity", "read"}, appends * perAppend, 1e9},
		{"eventstore_io_bytes", []string{"activity", "read"}, 1, 1e9},
		{"annal_appends_total", []string{"result", "ok"}, appends, appends},
		{"eventstore_grpc_method_duration_seconds", []string{"activity", "append", "status", "successful"}, appends, appends},
		{"eventstore_grpc_method_duration_seconds", []string{"activity", "read", "status", "successful"}, 1, 1e9},
		{"eventstore_incoming_grpc_calls", []string{"kind", "total"}, appends + 1, 1e9},
		{"annal_disk_sync_duration_seconds", []string{"kind", "file"}, 1, 1e9},
		{"annal_disk_fsyncs_total", nil, 1, 1e9},
		{"eventstore_kestrel_connections", nil, 1, 1e9},
		{"annal_connections", []string{"port", "node"}, 1, 1e9},
		{"annal_loop_queue_capacity", nil, 1, 1e9},
		{"eventstore_checkpoints", []string{"name", "writer"}, 1, 1e9},
		{"annal_db_size_bytes", nil, 1, 1e12},
		{"eventstore_statuses", []string{"name", "Node", "status", "Leader"}, float64(time.Now().Add(-time.Hour).Unix()), 1e12},
		{"process_resident_memory_bytes", nil, 1, 1e12},
		{"go_goroutines", nil, 1, 1e9},
	} {
		got, ok := value(fams, w.name, w.labels...)
		if !ok || got < w.min || got > w.max {
			t.Errorf("%s%v = %v (present %v), want %v..%v", w.name, w.labels, got, ok, w.min, w.max)
		}
	}
}

// Both spellings of every switch on a running node: the hidden endpoints
// answer 404 at once naming the option, client gossip over gRPC answers
// UNIMPLEMENTED at once, and the cluster's own gossip goes on.
func TestExposureSwitchesOnARunningNode(t *testing.T) {
	for _, tc := range []struct {
		name                string
		set                 map[*options.Option]string
		gossip, stats, admn string
	}{
		{"older spellings", map[*options.Option]string{options.GossipOnExt: "false", options.StatsOnExt: "false", options.AdminOnExt: "false"},
			"GossipOnExt=false", "StatsOnExt=false", "AdminOnExt=false"},
		{"newer spellings", map[*options.Option]string{options.DisableGossipOnHttp: "true", options.DisableStatsOnHttp: "true", options.DisableAdminUi: "true"},
			"DisableGossipOnHttp=true", "DisableStatsOnHttp=true", "DisableAdminUi=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "n1", tc.set, netstack.Options{})
			waitUntil(t, "n1 to lead", func() bool { return n.state() == member.Leader })
			for _, p := range []struct{ path, option string }{
				{"/gossip", tc.gossip}, {"/stats", tc.stats}, {"/stats/proc", tc.stats}, {"/metrics", tc.stats},
				{"/web/index.html", tc.admn}, {"/admin/shutdown", tc.admn},
			} {
				code, _, body := n.do(http.MethodGet, p.path)
				if code != http.StatusNotFound || !strings.Contains(body, p.option) {
					t.Errorf("GET %s: %d %q, want 404 naming %s", p.path, code, body, p.option)
				}
			}
			if code, _, _ := n.do(http.MethodGet, "/info"); code != http.StatusOK {
				t.Errorf("GET /info: %d; it is never hidden", code)
			}

			ctx := testContext(t)
			_, err := n.gossip().Read(ctx, empty())
			if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), tc.gossip) {
				t.Errorf("Gossip.Read: %v, want UNIMPLEMENTED naming %s", err, tc.gossip)
			}
			feats, err := n.features().GetSupportedMethods(ctx, empty())
			if err != nil {
				t.Fatalf("GetSupportedMethods: %v", err)
			}
			for _, m := range feats.GetMethods() {
				if strings.Contains(m.GetServiceName(), "gossip") {
					t.Errorf("ServerFeatures lists %s/%s with client gossip hidden", m.GetServiceName(), m.GetMethodName())
				}
			}
			if view := clusterGossip(t, n.rt.NodeEndpoint()); len(view) != 1 || view[0].State != member.Leader {
				t.Errorf("the cluster's own gossip read gave %+v, want the one leader", view)
			}
		})
	}
}

// clusterGossip reads a node's view over the cluster's own gossip call, as
// another node would.
func clusterGossip(t *testing.T, ep env.Endpoint) []member.Info {
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
	if err := l.Post(func() {
		s.Call(ep, gossip.MethodRead, nil, 5*time.Second, func(resp []byte, err error) { done <- result{resp, err} })
	}); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(guard):
		t.Fatalf("cluster gossip read from %v: no answer within %v", ep, guard)
	}
	if r.err != nil {
		t.Fatalf("cluster gossip read from %v: %v", ep, r.err)
	}
	var ci gossip.ClusterInfo
	if err := ci.Unmarshal(r.resp); err != nil {
		t.Fatalf("cluster gossip read from %v: %v", ep, err)
	}
	return ci.View
}

// /gossip and Gossip.Read give clients the addresses they are told to
// use, never the bind address; the internal address is the node's
// advertised one.
func TestGossipAdvertisesClientAddresses(t *testing.T) {
	n := startNode(t, "n1", map[*options.Option]string{
		options.NodeHostAdvertiseAs:         "node1.internal.test",
		options.NodePortAdvertiseAs:         "8113",
		options.AdvertiseHostToClientAs:     "db.example.test",
		options.AdvertiseNodePortToClientAs: "443",
	}, netstack.Options{})
	waitUntil(t, "n1 to lead", func() bool { return n.state() == member.Leader })
	var doc struct {
		Members []struct {
			State                    string `json:"state"`
			IsAlive                  bool   `json:"isAlive"`
			HTTPEndPointIP           string `json:"httpEndPointIp"`
			HTTPEndPointPort         int    `json:"httpEndPointPort"`
			InternalHTTPEndPointIP   string `json:"internalHttpEndPointIp"`
			InternalHTTPEndPointPort int    `json:"internalHttpEndPointPort"`
		} `json:"members"`
		ServerIP   string `json:"serverIp"`
		ServerPort int    `json:"serverPort"`
	}
	waitUntil(t, "gossip to show n1 as leader", func() bool {
		n.getJSON("/gossip", &doc)
		return len(doc.Members) == 1 && doc.Members[0].State == "Leader"
	})
	m := doc.Members[0]
	if m.HTTPEndPointIP != "db.example.test" || m.HTTPEndPointPort != 443 || !m.IsAlive {
		t.Errorf("/gossip client endpoint %s:%d alive %v, want db.example.test:443", m.HTTPEndPointIP, m.HTTPEndPointPort, m.IsAlive)
	}
	if m.InternalHTTPEndPointIP != "node1.internal.test" || m.InternalHTTPEndPointPort != 8113 {
		t.Errorf("/gossip internal endpoint %s:%d, want the advertised node1.internal.test:8113", m.InternalHTTPEndPointIP, m.InternalHTTPEndPointPort)
	}
	if ep := n.rt.NodeEndpoint(); doc.ServerIP != ep.Host || doc.ServerPort != int(ep.Port) {
		t.Errorf("/gossip server %s:%d, want the address the request came in on, %v", doc.ServerIP, doc.ServerPort, ep)
	}
	info, err := n.gossip().Read(testContext(t), empty())
	if err != nil || len(info.GetMembers()) != 1 {
		t.Fatalf("Gossip.Read: %v %v", info, err)
	}
	if ep := info.GetMembers()[0].GetHttpEndPoint(); ep.GetAddress() != "db.example.test" || ep.GetPort() != 443 {
		t.Errorf("Gossip.Read endpoint %v, want db.example.test:443", ep)
	}
}

// Three nodes with client gossip hidden on every one: they still form a
// cluster (their own gossip is not hidden), and the leader's /stats and
// /metrics show each follower's acknowledged position and lag.
func TestThreeNodeClusterReportsFollowers(t *testing.T) {
	common := map[*options.Option]string{
		options.ClusterSize:                  "3",
		options.DisableGossipOnHttp:          "true",
		options.ReplicationHeartbeatInterval: "200",
		options.ReplicationHeartbeatTimeout:  "500",
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
		n := startNode(t, "n"+string(rune('0'+i)), set, netstack.Options{})
		nodes = append(nodes, n)
		seeds = append(seeds, n.rt.NodeEndpoint().String())
	}
	var leader *testNode
	waitUntil(t, "one leader and two followers", func() bool {
		leader = nil
		followers := 0
		for _, n := range nodes {
			switch n.state() {
			case member.Leader:
				leader = n
			case member.Follower:
				followers++
			}
		}
		return leader != nil && followers == 2
	})
	if err := appendEvents(testContext(t), leader.streams(), "orders", 5); err != nil {
		t.Fatalf("append to the leader: %v", err)
	}
	want := map[string]bool{}
	for _, n := range nodes {
		if n != leader {
			want[n.rt.NodeEndpoint().String()] = true
		}
	}

	type follower struct {
		NodeEndpoint         string `json:"nodeEndpoint"`
		State                string `json:"state"`
		Role                 string `json:"role"`
		AcknowledgedPosition int64  `json:"acknowledgedPosition"`
		LagBytes             int64  `json:"lagBytes"`
	}
	var stats struct {
		ES struct {
			ChecksumNonFlushed int64 `json:"checksumNonFlushed"`
			Replication        *struct {
				Followers []follower `json:"followers"`
			} `json:"replication"`
		} `json:"es"`
	}
	// The append is committed, so a quorum acknowledged it; wait until
	// both followers have, so the lag figures settle, and until gossip
	// has brought their own word that they follow (the leader marks every
	// other member Unknown when it is elected).
	waitUntil(t, "both followers to acknowledge the leader's log end and gossip as Follower", func() bool {
		leader.getJSON("/stats", &stats)
		if stats.ES.Replication == nil || len(stats.ES.Replication.Followers) != 2 {
			return false
		}
		for _, f := range stats.ES.Replication.Followers {
			if f.AcknowledgedPosition < stats.ES.ChecksumNonFlushed || f.State != "Follower" {
				return false
			}
		}
		return true
	})
	for _, f := range stats.ES.Replication.Followers {
		if !want[f.NodeEndpoint] || f.State != "Follower" || f.Role != "follower" || f.LagBytes != 0 {
			t.Errorf("follower %+v; want one of %v, a Follower with no lag", f, want)
		}
	}

	fams := leader.metrics()
	for ep := range want {
		if lag, ok := value(fams, "annal_replication_lag_bytes", "follower", ep); !ok || lag != 0 {
			t.Errorf("annal_replication_lag_bytes{follower=%q} = %v (present %v), want 0", ep, lag, ok)
		}
		if acked, ok := value(fams, "annal_replication_acknowledged_position", "follower", ep); !ok || acked <= 0 {
			t.Errorf("annal_replication_acknowledged_position{follower=%q} = %v (present %v)", ep, acked, ok)
		}
	}
	if in, ok := value(fams, "annal_connections", "port", "replication", "direction", "in"); !ok || in != 2 {
		t.Errorf("the leader's inbound replication connections: %v (present %v), want 2", in, ok)
	}
	for _, n := range nodes {
		f := n.metrics()
		if e, ok := value(f, "eventstore_elections_count"); !ok || e < 1 {
			t.Errorf("%s counted %v elections, want at least the one that made the leader", n.name, e)
		}
		if n == leader {
			continue
		}
		if out, ok := value(f, "annal_connections", "port", "replication", "direction", "out"); !ok || out != 1 {
			t.Errorf("%s has %v outbound replication connections (present %v), want 1 to the leader", n.name, out, ok)
		}
		if _, ok := value(f, "annal_replication_lag_bytes"); ok {
			t.Errorf("follower %s reports replication lag series", n.name)
		}
		if code, _, body := n.do(http.MethodGet, "/gossip"); code != http.StatusNotFound || !strings.Contains(body, "DisableGossipOnHttp=true") {
			t.Errorf("GET /gossip on %s: %d %q, want 404 naming DisableGossipOnHttp=true", n.name, code, body)
		}
	}
}
