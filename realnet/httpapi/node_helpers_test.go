package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/serverfeaturespb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
	"github.com/annal-db/annal/realnet/netstack"
	"github.com/annal-db/annal/realnet/runtime"
)

// guard bounds every wait: a hang detector, never a speed assertion.
const guard = 20 * time.Second

// syncBuffer is a node's log, shown when its test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testNode is a running node and the clients a test talks to it with.
type testNode struct {
	t    *testing.T
	name string
	rt   *runtime.Runtime
	base string // http://host:port of the node port
	http *http.Client
	conn *grpc.ClientConn
}

// startNode runs a node on loopback with any free ports and quick gossip,
// and the options given on top.
func startNode(t *testing.T, name string, set map[*options.Option]string, net netstack.Options) *testNode {
	t.Helper()
	v := options.Defaults()
	base := map[*options.Option]string{
		options.Insecure:         "true",
		options.NodeIp:           "127.0.0.1",
		options.ReplicationIp:    "127.0.0.1",
		options.NodePort:         "0",
		options.ReplicationPort:  "0",
		options.Db:               t.TempDir(),
		options.DiscoverViaDns:   "false",
		options.GossipIntervalMs: "200",
		options.GossipTimeoutMs:  "500",
	}
	for o, s := range set {
		base[o] = s
	}
	for o, s := range base {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatalf("option %s=%q: %v", o.Name, s, err)
		}
	}
	log := &syncBuffer{}
	rt, err := runtime.Start(runtime.Config{Options: v, Name: name, Log: log, Net: net,
		Settings: node.Settings{SegmentSize: 1 << 20}})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	n := &testNode{t: t, name: name, rt: rt, base: "http://" + rt.NodeEndpoint().String(), http: &http.Client{Transport: tr, Timeout: guard}}
	n.conn, err = grpc.NewClient(rt.NodeEndpoint().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = n.conn.Close()
		tr.CloseIdleConnections()
		if err := rt.Stop(); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, log.String())
		}
	})
	return n
}

func (n *testNode) state() member.State { return n.rt.Status().State }

// waitUntil polls cond until it holds; it fails the test after guard.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", guard, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get sends one request and returns the status, the headers and the body.
func (n *testNode) do(method, path string) (int, http.Header, string) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.base+path, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s on %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatalf("%s %s on %s: reading the body: %v", method, path, n.name, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// getJSON GETs path and decodes its JSON body into v.
func (n *testNode) getJSON(path string, v any) {
	n.t.Helper()
	code, _, body := n.do(http.MethodGet, path)
	if code != http.StatusOK {
		n.t.Fatalf("GET %s on %s: %d %s", path, n.name, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		n.t.Fatalf("GET %s on %s is not JSON: %v\n%s", path, n.name, err, body)
	}
}

// metrics scrapes /metrics and parses it as Prometheus text.
func (n *testNode) metrics() map[string]*dto.MetricFamily {
	n.t.Helper()
	code, hdr, body := n.do(http.MethodGet, "/metrics")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		n.t.Fatalf("GET /metrics on %s: %d %q", n.name, code, hdr.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		n.t.Fatalf("/metrics of %s is not Prometheus text: %v", n.name, err)
	}
	return fams
}

// value is the value of the series of family name whose labels include
// want; ok false when there is none. Histograms give their count.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	var total float64
	found := false
	for _, m := range fams[name].GetMetric() {
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			has := false
			for _, l := range m.GetLabel() {
				has = has || (l.GetName() == want[i] && l.GetValue() == want[i+1])
			}
			match = match && has
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total, found
}

func (n *testNode) streams() pb.StreamsClient { return pb.NewStreamsClient(n.conn) }
func (n *testNode) gossip() gossippb.GossipClient {
	return gossippb.NewGossipClient(n.conn)
}
func (n *testNode) features() serverfeaturespb.ServerFeaturesClient {
	return serverfeaturespb.NewServerFeaturesClient(n.conn)
}

func empty() *sharedpb.Empty { return &sharedpb.Empty{} }

func newUUID() *sharedpb.UUID {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	return &sharedpb.UUID{Value: &sharedpb.UUID_String_{String_: s}}
}

// appendEvents appends count events to stream over gRPC, as a client does.
func appendEvents(ctx context.Context, c pb.StreamsClient, stream string, count int) error {
	st, err := c.Append(ctx)
	if err != nil {
		return err
	}
	msgs := []*pb.AppendReq{{Content: &pb.AppendReq_Options_{Options: &pb.AppendReq_Options{
		StreamIdentifier:       &sharedpb.StreamIdentifier{StreamName: []byte(stream)},
		ExpectedStreamRevision: &pb.AppendReq_Options_Any{Any: empty()},
	}}}}
	for range count {
		msgs = append(msgs, &pb.AppendReq{Content: &pb.AppendReq_ProposedMessage_{ProposedMessage: &pb.AppendReq_ProposedMessage{
			Id: newUUID(), Metadata: map[string]string{"type": "t", "content-type": "application/json"}, Data: []byte(`{"n":1}`),
		}}})
	}
	for _, m := range msgs {
		if err := st.Send(m); err != nil {
			break // the server answered early; CloseAndRecv has it
		}
	}
	resp, err := st.CloseAndRecv()
	if err != nil {
		return err
	}
	if resp.GetSuccess() == nil {
		return fmt.Errorf("append to %s: %v", stream, resp)
	}
	return nil
}

// readEvents reads a stream from its start and counts the events.
func readEvents(ctx context.Context, c pb.StreamsClient, stream string) (int, error) {
	st, err := c.Read(ctx, &pb.ReadReq{Options: &pb.ReadReq_Options{
		StreamOption: &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{
			StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(stream)},
			RevisionOption:   &pb.ReadReq_Options_StreamOptions_Start{Start: empty()},
		}},
		ReadDirection: pb.ReadReq_Options_Forwards,
		CountOption:   &pb.ReadReq_Options_Count{Count: 1000},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: empty()},
		UuidOption:    &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: empty()}},
	}})
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if m.GetEvent() != nil {
			n++
		}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}
