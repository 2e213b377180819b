package clientapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
)

func testView() []member.Info {
	stamp := time.Date(2025, 1, 2, 3, 4, 5, 123456700, time.UTC)
	return []member.Info{
		{
			InstanceID: member.ID(idOf(1)), TimeStamp: stamp, State: member.Leader, IsAlive: true,
			HTTPEndPoint: env.Endpoint{Host: "0.0.0.0", Port: 2113}, InternalTCP: env.Endpoint{Host: "10.0.0.1", Port: 1112}, InternalTCPUsesTLS: true,
			AdvertiseHostToClientAs: "db1.example", AdvertiseHTTPPortToClientAs: 443,
			LastCommitPosition: 100, WriterCheckpoint: 200, ChaserCheckpoint: 150, EpochPosition: 50, EpochNumber: 3, EpochID: member.ID(idOf(9)),
			NodePriority: 2, Version: "24.10.0",
		},
		{
			InstanceID: member.ID(idOf(2)), TimeStamp: stamp.Add(-time.Second), State: member.Follower, IsAlive: false,
			HTTPEndPoint: env.Endpoint{Host: "10.0.0.2", Port: 2113}, ExternalTCP: env.Endpoint{Host: "10.0.0.2", Port: 1113},
			IsReadOnlyReplica: true,
		},
	}
}

func TestGossipReadListsMembersWithClientAddresses(t *testing.T) {
	n := newFakeNode()
	n.view = testView()
	c := serve(t, n, Options{})
	info, err := c.gossip.Read(testContext(t), &sharedpb.Empty{})
	if err != nil {
		t.Fatalf("Gossip.Read: %v", err)
	}
	if len(info.GetMembers()) != 2 {
		t.Fatalf("%d members, want 2", len(info.GetMembers()))
	}
	for i, m := range info.GetMembers() {
		w := n.view[i]
		id, err := fromUUID(m.GetInstanceId())
		if err != nil || m.GetInstanceId().GetStructured() == nil || id != [16]byte(w.InstanceID) {
			t.Errorf("member %d instance id %v, want %v in the structured form", i, m.GetInstanceId(), w.InstanceID)
		}
		if m.GetTimeStamp() != w.TimeStamp.UnixNano()/100 {
			t.Errorf("member %d time stamp %d, want %d ticks since the Unix epoch", i, m.GetTimeStamp(), w.TimeStamp.UnixNano()/100)
		}
		if int32(m.GetState()) != int32(w.State) || m.GetIsAlive() != w.IsAlive {
			t.Errorf("member %d state %v alive %v, want %v %v", i, m.GetState(), m.GetIsAlive(), w.State, w.IsAlive)
		}
		ep := w.ClientEndpoint()
		if m.GetHttpEndPoint().GetAddress() != ep.Host || m.GetHttpEndPoint().GetPort() != uint32(ep.Port) {
			t.Errorf("member %d endpoint %v, want the client endpoint %v", i, m.GetHttpEndPoint(), ep)
		}
	}
	if got := info.GetMembers()[0].GetHttpEndPoint(); got.GetAddress() != "db1.example" || got.GetPort() != 443 {
		t.Fatalf("leader endpoint %v, want the advertised db1.example:443, not the bind address", got)
	}
	if info.GetMembers()[0].GetState() != gossippb.MemberInfo_Leader {
		t.Fatalf("state %v, want Leader", info.GetMembers()[0].GetState())
	}
}

func TestServerFeaturesListsExactlyWhatIsServed(t *testing.T) {
	n := newFakeNode()
	c := serve(t, n, Options{ServerVersion: "25.1.3"})
	got, err := c.features.GetSupportedMethods(testContext(t), &sharedpb.Empty{})
	if err != nil {
		t.Fatalf("GetSupportedMethods: %v", err)
	}
	if got.GetEventStoreServerVersion() != "25.1.3" {
		t.Fatalf("version %q, want 25.1.3", got.GetEventStoreServerVersion())
	}
	var list []string
	for _, m := range got.GetMethods() {
		list = append(list, m.GetServiceName()+"/"+m.GetMethodName()+"["+strings.Join(m.GetFeatures(), ",")+"]")
	}
	slices.Sort(list)
	want := []string{
		"event_store.client.gossip.gossip/read[]",
		"event_store.client.server_features.serverfeatures/getsupportedmethods[]",
		"event_store.client.streams.streams/append[]",
		"event_store.client.streams.streams/batchappend[deadline_duration]",
		"event_store.client.streams.streams/delete[]",
		"event_store.client.streams.streams/read[position,events]",
		"event_store.client.streams.streams/tombstone[]",
	}
	if !equalStrings(list, want) {
		t.Fatalf("methods\n%v\nwant\n%v", list, want)
	}
}

// Hidden gossip answers at once with a status every official client takes
// as "try the next seed", says which option hid it, never asks the node,
// and drops out of the feature list.
func TestHiddenGossipAnswersUnimplementedAtOnce(t *testing.T) {
	n := newFakeNode()
	n.view = testView()
	n.inject(ErrNodeStopped, nil) // a node asked would make the call fail otherwise
	c := serve(t, n, Options{GossipHidden: "client gossip is hidden by GossipOnExt=false"})
	_, err := c.gossip.Read(testContext(t), &sharedpb.Empty{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), "GossipOnExt=false") {
		t.Fatalf("Gossip.Read with gossip hidden: %v, want UNIMPLEMENTED naming GossipOnExt=false", err)
	}
	got, err := c.features.GetSupportedMethods(testContext(t), &sharedpb.Empty{})
	if err != nil {
		t.Fatalf("GetSupportedMethods: %v", err)
	}
	for _, m := range got.GetMethods() {
		if strings.Contains(m.GetServiceName(), "gossip") {
			t.Fatalf("features list %s/%s while gossip is hidden", m.GetServiceName(), m.GetMethodName())
		}
	}
	if len(got.GetMethods()) != 6 {
		t.Fatalf("features list %d methods with gossip hidden, want the 6 others", len(got.GetMethods()))
	}
}

func TestRegisterRefusesVersionsTheGoClientsCannotParse(t *testing.T) {
	for _, v := range []string{"24.10.0-dev", "24.10", "v24.10.0", "24.10.0.1", "x.y.z"} {
		if err := Register(grpc.NewServer(), newFakeNode(), Options{ServerVersion: v}); err == nil {
			t.Errorf("Register accepted version %q", v)
		}
	}
	if err := Register(grpc.NewServer(), newFakeNode(), Options{ReadPageSize: -1}); err == nil {
		t.Errorf("Register accepted a negative page size")
	}
	if err := Register(grpc.NewServer(), nil, Options{}); err == nil {
		t.Errorf("Register accepted a nil node")
	}
	o, err := Options{}.withDefaults()
	if err != nil || o.ServerVersion != DefaultServerVersion || o.ReadPageSize != DefaultReadPageSize || o.Now == nil {
		t.Errorf("defaults %+v, %v", o, err)
	}
}

func TestGossipJSON(t *testing.T) {
	n := newFakeNode()
	n.view = testView()
	srv := httptest.NewServer(GossipHandler(n))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/gossip")
	if err != nil {
		t.Fatalf("GET /gossip: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d content type %q, want 200 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The view is live: EventStoreDB sends it as uncacheable.
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age=0, no-cache, must-revalidate" {
		t.Errorf("Cache-Control %q, want max-age=0, no-cache, must-revalidate", cc)
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	if doc["serverIp"] != host || doc["serverPort"] != mustFloat(port) {
		t.Fatalf("serverIp %v serverPort %v, want %s %s (where the request came in)", doc["serverIp"], doc["serverPort"], host, port)
	}
	members, ok := doc["members"].([]any)
	if !ok || len(members) != 2 {
		t.Fatalf("members %v, want a list of 2", doc["members"])
	}
	keys := []string{"instanceId", "timeStamp", "state", "isAlive", "internalTcpIp", "internalTcpPort", "internalSecureTcpPort",
		"externalTcpIp", "externalTcpPort", "externalSecureTcpPort", "internalHttpEndPointIp", "internalHttpEndPointPort",
		"httpEndPointIp", "httpEndPointPort", "lastCommitPosition", "writerCheckpoint", "chaserCheckpoint", "epochPosition",
		"epochNumber", "epochId", "nodePriority", "isReadOnlyReplica", "esVersion"}
	for i, raw := range members {
		m := raw.(map[string]any)
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		want := slices.Clone(keys)
		slices.Sort(want)
		if !equalStrings(got, want) {
			t.Fatalf("member %d keys %v, want %v", i, got, want)
		}
	}
	leader := members[0].(map[string]any)
	wantLeader := map[string]any{
		"instanceId": member.ID(idOf(1)).String(), "timeStamp": "2025-01-02T03:04:05.1234567Z", "state": "Leader", "isAlive": true,
		"internalTcpIp": "10.0.0.1", "internalTcpPort": 0.0, "internalSecureTcpPort": 1112.0,
		"internalHttpEndPointIp": "0.0.0.0", "internalHttpEndPointPort": 2113.0,
		"httpEndPointIp": "db1.example", "httpEndPointPort": 443.0,
		"lastCommitPosition": 100.0, "writerCheckpoint": 200.0, "chaserCheckpoint": 150.0, "epochPosition": 50.0,
		"epochNumber": 3.0, "epochId": member.ID(idOf(9)).String(), "nodePriority": 2.0, "isReadOnlyReplica": false, "esVersion": "24.10.0",
	}
	for k, v := range wantLeader {
		if leader[k] != v {
			t.Errorf("leader %s = %v (%T), want %v", k, leader[k], leader[k], v)
		}
	}
	follower := members[1].(map[string]any)
	if follower["state"] != "Follower" || follower["isAlive"] != false || follower["externalTcpPort"] != 1113.0 || follower["isReadOnlyReplica"] != true {
		t.Errorf("follower %v", follower)
	}

	post, err := http.Post(srv.URL+"/gossip", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /gossip: %d, want 405", post.StatusCode)
	}

	n.inject(node.ErrNotReady, nil)
	unready, err := http.Get(srv.URL + "/gossip")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	unready.Body.Close()
	if unready.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET /gossip on a node that is not ready: %d, want 503", unready.StatusCode)
	}
}

func mustFloat(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return v
}
