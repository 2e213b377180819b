package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// Configuration files as operators of EventStoreDB write them start a
// serving node: the newest names (25.x), and a 22.x file with the names
// of its day (one warning each). Ports are 0 so that tests never collide;
// everything else is as the operator wrote it.
func TestEventStoreDBConfigurationsStartAServingNode(t *testing.T) {
	cases := []struct {
		name      string
		conf      string
		advertise string // the host gossip must tell clients
		warnings  []string
	}{
		{
			name: "EventStoreDB 25",
			conf: `---
# KurrentDB 25 development node
Db: %s
Insecure: true
ClusterSize: 1
DiscoverViaDns: false
NodeIp: 127.0.0.1
NodePort: 0
NodeHostAdvertiseAs: node1.cluster.local
ReplicationIp: 127.0.0.1
ReplicationPort: 0
ReplicationHeartbeatInterval: 700
ReplicationHeartbeatTimeout: 700
KeepAliveInterval: 10000
KeepAliveTimeout: 10000
LeaderElectionTimeoutMs: 1000
GossipTimeoutMs: 2500
MaxAppendSize: 1048576
EnableAtomPubOverHttp: false
RunProjections: None
LogLevel: Information
TcpPlugin:
  EnableExternalTcp: false
`,
			advertise: "node1.cluster.local",
		},
		{
			name: "EventStoreDB 22.10",
			conf: `# EventStoreDB 22.10 node
Db: %s
Insecure: true
ClusterSize: 1
DiscoverViaDns: false
ExtIp: 127.0.0.1
IntIp: 127.0.0.1
HttpPort: 0
IntTcpPort: 0
ExtHostAdvertiseAs: node1.example
IntTcpHeartbeatInterval: 700
IntTcpHeartbeatTimeout: 700
EnableAtomPubOverHttp: true
`,
			advertise: "node1.example",
			warnings:  []string{"ExtIp", "IntIp", "HttpPort", "IntTcpPort", "ExtHostAdvertiseAs", "IntTcpHeartbeatInterval", "IntTcpHeartbeatTimeout"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const path = "/etc/eventstore/eventstore.conf"
			files := map[string]string{path: fmt.Sprintf(tc.conf, t.TempDir())}
			stderr := newWatchWriter(" role Leader ")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ran := make(chan error, 1)
			go func() {
				ran <- runNode(nodeInputs(nil, nil, files), io.Discard, stderr, func() (context.Context, context.CancelFunc) { return ctx, cancel })
			}()
			select {
			case <-stderr.matched:
			case err := <-ran:
				t.Fatalf("the node ended before it led: %v\n%s", err, stderr.String())
			case <-t.Context().Done():
			}
			port := regexp.MustCompile(`node port 127\.0\.0\.1:(\d+)`).FindStringSubmatch(stderr.String())
			if port == nil {
				cancel()
				<-ran
				t.Fatalf("no node port in the log:\n%s", stderr.String())
			}
			servesClients(t, "127.0.0.1:"+port[1], tc.advertise)
			cancel()
			if err := <-ran; err != nil {
				t.Fatalf("annal = %v, want a clean stop\n%s", err, stderr.String())
			}
			for _, old := range tc.warnings {
				if n := strings.Count(stderr.String(), "warning: "+old+" "); n != 1 {
					t.Errorf("%d warnings about %s, want 1:\n%s", n, old, stderr.String())
				}
			}
		})
	}
}

// servesClients appends an event through the client API, reads it back,
// and checks what gossip tells clients.
func servesClients(t *testing.T, target, advertisedHost string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	empty := &sharedpb.Empty{}
	stream := &sharedpb.StreamIdentifier{StreamName: []byte("config-check")}

	app, err := pb.NewStreamsClient(conn).Append(ctx)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, m := range []*pb.AppendReq{
		{Content: &pb.AppendReq_Options_{Options: &pb.AppendReq_Options{StreamIdentifier: stream,
			ExpectedStreamRevision: &pb.AppendReq_Options_NoStream{NoStream: empty}}}},
		{Content: &pb.AppendReq_ProposedMessage_{ProposedMessage: &pb.AppendReq_ProposedMessage{
			Id:       &sharedpb.UUID{Value: &sharedpb.UUID_String_{String_: "1c0c2a4e-8a4f-4bd9-9c73-7e0bb7a8e0d1"}},
			Metadata: map[string]string{"type": "configured", "content-type": "application/json"},
			Data:     []byte(`{"ok":true}`)}}},
	} {
		if err := app.Send(m); err != nil {
			t.Fatalf("append send: %v", err)
		}
	}
	resp, err := app.CloseAndRecv()
	if err != nil || resp.GetSuccess() == nil {
		t.Fatalf("append answered %v, %v; want success", resp, err)
	}

	read, err := pb.NewStreamsClient(conn).Read(ctx, &pb.ReadReq{Options: &pb.ReadReq_Options{
		StreamOption:  &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{StreamIdentifier: stream, RevisionOption: &pb.ReadReq_Options_StreamOptions_Start{Start: empty}}},
		CountOption:   &pb.ReadReq_Options_Count{Count: 10},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: empty},
		UuidOption:    &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: empty}},
		ReadDirection: pb.ReadReq_Options_Forwards,
	}})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var got []string
	for {
		r, err := read.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if ev := r.GetEvent().GetEvent(); ev != nil {
			got = append(got, ev.Metadata["type"]+" "+string(ev.Data))
		}
	}
	if len(got) != 1 || got[0] != `configured {"ok":true}` {
		t.Fatalf("read back %q, want the one event appended", got)
	}

	info, err := gossippb.NewGossipClient(conn).Read(ctx, empty)
	if err != nil {
		t.Fatalf("gossip: %v", err)
	}
	if len(info.Members) != 1 || info.Members[0].HttpEndPoint.GetAddress() != advertisedHost {
		t.Fatalf("gossip tells clients %v, want the one member at %s", info.Members, advertisedHost)
	}
}
