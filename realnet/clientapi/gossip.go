package clientapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
)

// gossipService is event_store.client.gossip.Gossip: the cluster view
// clients discover the nodes by.
type gossipService struct {
	gossippb.UnimplementedGossipServer
	*server
}

func (g *gossipService) Read(ctx context.Context, _ *sharedpb.Empty) (*gossippb.ClusterInfo, error) {
	if g.opts.GossipHidden != "" {
		return nil, status.Error(codes.Unimplemented, g.opts.GossipHidden)
	}
	if g.opts.AuthorizeGossip != nil {
		if err := g.opts.AuthorizeGossip(ctx); err != nil {
			return nil, g.fail(unaryTrailer(ctx), "Gossip.Read", err)
		}
	}
	view, err := g.node.ClusterView(ctx)
	if err != nil {
		return nil, g.fail(unaryTrailer(ctx), "Gossip.Read", err)
	}
	info := &gossippb.ClusterInfo{Members: make([]*gossippb.MemberInfo, 0, len(view))}
	for i := range view {
		m := &view[i]
		ep := m.ClientEndpoint()
		info.Members = append(info.Members, &gossippb.MemberInfo{
			InstanceId: toUUID(m.InstanceID, true),
			TimeStamp:  ticks(m.TimeStamp),
			State:      gossippb.MemberInfo_VNodeState(m.State),
			IsAlive:    m.IsAlive,
			// Clients connect to what this says: the address for clients,
			// never a bind address.
			HttpEndPoint: &gossippb.EndPoint{Address: ep.Host, Port: uint32(ep.Port)},
		})
	}
	return info, nil
}

// ticks is a time in 100-ns ticks since the Unix epoch (0 for the zero
// time).
func ticks(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano() / 100
}

// GossipHandler serves EventStoreDB's GET /gossip: the same cluster view
// as Gossip.Read, as JSON with camelCase keys and states as strings, with
// the addresses clients use. serverIp and serverPort are the address the
// request came in on.
func GossipHandler(n Node) http.Handler {
	return &gossipHandler{node: n}
}

type gossipHandler struct{ node Node }

// gossipJSON is the document; every key is always written (EventStoreDB
// leaves out zero values, which its readers default the same way).
type gossipJSON struct {
	Members    []memberJSON `json:"members"`
	ServerIP   string       `json:"serverIp,omitempty"`
	ServerPort int          `json:"serverPort,omitempty"`
}

type memberJSON struct {
	InstanceID               string `json:"instanceId"`
	TimeStamp                string `json:"timeStamp"`
	State                    string `json:"state"`
	IsAlive                  bool   `json:"isAlive"`
	InternalTCPIP            string `json:"internalTcpIp"`
	InternalTCPPort          int    `json:"internalTcpPort"`
	InternalSecureTCPPort    int    `json:"internalSecureTcpPort"`
	ExternalTCPIP            string `json:"externalTcpIp"`
	ExternalTCPPort          int    `json:"externalTcpPort"`
	ExternalSecureTCPPort    int    `json:"externalSecureTcpPort"`
	InternalHTTPEndPointIP   string `json:"internalHttpEndPointIp"`
	InternalHTTPEndPointPort int    `json:"internalHttpEndPointPort"`
	HTTPEndPointIP           string `json:"httpEndPointIp"`
	HTTPEndPointPort         int    `json:"httpEndPointPort"`
	LastCommitPosition       int64  `json:"lastCommitPosition"`
	WriterCheckpoint         int64  `json:"writerCheckpoint"`
	ChaserCheckpoint         int64  `json:"chaserCheckpoint"`
	EpochPosition            int64  `json:"epochPosition"`
	EpochNumber              int32  `json:"epochNumber"`
	EpochID                  string `json:"epochId"`
	NodePriority             int32  `json:"nodePriority"`
	IsReadOnlyReplica        bool   `json:"isReadOnlyReplica"`
	ESVersion                string `json:"esVersion"`
}

// isoTime is .NET's round-trip UTC form, trailing zeros of the fraction
// left out.
const isoTime = "2006-01-02T15:04:05.9999999Z07:00"

func (h *gossipHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET /gossip only", http.StatusMethodNotAllowed)
		return
	}
	view, err := h.node.ClusterView(r.Context())
	if err != nil {
		e, _ := toRPCError(err)
		http.Error(w, "cluster view unavailable: "+e.st.Message(), http.StatusServiceUnavailable)
		return
	}
	doc := gossipJSON{Members: make([]memberJSON, 0, len(view))}
	for i := range view {
		doc.Members = append(doc.Members, memberDocument(&view[i]))
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, port, err := net.SplitHostPort(addr.String()); err == nil {
			doc.ServerIP = host
			doc.ServerPort, _ = strconv.Atoi(port)
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		http.Error(w, "encoding the cluster view: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	// The view changes from one moment to the next: no cache may answer
	// with an old one (EventStoreDB's Configure.Ok without a cache age).
	w.Header().Set("Cache-Control", "max-age=0, no-cache, must-revalidate")
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func memberDocument(m *member.Info) memberJSON {
	client := m.ClientEndpoint()
	ext := m.ExternalTCP
	if ext.Port != 0 {
		if m.AdvertiseHostToClientAs != "" {
			ext.Host = m.AdvertiseHostToClientAs
		}
		if m.AdvertiseTCPPortToClientAs != 0 {
			ext.Port = m.AdvertiseTCPPortToClientAs
		}
	}
	doc := memberJSON{
		InstanceID:               m.InstanceID.String(),
		TimeStamp:                m.TimeStamp.UTC().Format(isoTime),
		State:                    m.State.String(),
		IsAlive:                  m.IsAlive,
		InternalHTTPEndPointIP:   m.HTTPEndPoint.Host,
		InternalHTTPEndPointPort: int(m.HTTPEndPoint.Port),
		HTTPEndPointIP:           client.Host,
		HTTPEndPointPort:         int(client.Port),
		LastCommitPosition:       m.LastCommitPosition,
		WriterCheckpoint:         m.WriterCheckpoint,
		ChaserCheckpoint:         m.ChaserCheckpoint,
		EpochPosition:            m.EpochPosition,
		EpochNumber:              m.EpochNumber,
		EpochID:                  m.EpochID.String(),
		NodePriority:             m.NodePriority,
		IsReadOnlyReplica:        m.IsReadOnlyReplica,
		ESVersion:                m.Version,
	}
	doc.InternalTCPIP, doc.InternalTCPPort, doc.InternalSecureTCPPort = tcpEndpoint(m.InternalTCP, m.InternalTCPUsesTLS)
	doc.ExternalTCPIP, doc.ExternalTCPPort, doc.ExternalSecureTCPPort = tcpEndpoint(ext, m.ExternalTCPUsesTLS)
	return doc
}

// tcpEndpoint splits an endpoint into EventStoreDB's ip, plain port and
// secure port (one of the two ports is 0).
func tcpEndpoint(ep env.Endpoint, tls bool) (ip string, port, securePort int) {
	if tls {
		return ep.Host, 0, int(ep.Port)
	}
	return ep.Host, int(ep.Port), 0
}
