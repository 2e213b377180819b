package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/sharedpb"
	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// maxRecvMsg lets a read receive any event a node may hold (appends are
// bounded at 15 MiB).
const maxRecvMsg = 20 << 20

// cluster is the client side of a run: connections to the leader, shared
// by the callers, and one gossip connection per seed to find the leader
// through. A leader change replaces the leader connections; the
// generation tells a caller whether the connections it failed on are
// still the current ones, so that many callers failing at once move them
// only once.
type cluster struct {
	seeds   []string
	nconns  int
	timeout time.Duration // of each call, gossip included
	logf    func(format string, args ...any)
	gossip  map[string]gossippb.GossipClient
	closers []*grpc.ClientConn // the gossip connections

	// discovering lets one caller at a time look the leader up after a
	// failure; the others then find the generation moved and do nothing.
	discovering sync.Mutex

	mu      sync.Mutex
	leader  string // "" while none is known
	gen     uint64
	conns   []*grpc.ClientConn
	clients []pb.StreamsClient
}

func dial(ep string) (*grpc.ClientConn, error) {
	// passthrough: the endpoint is dialled as given, with no resolver
	// goroutine; short reconnect backoff: a node that comes back is used
	// again within a second, not after gRPC's two minutes.
	return grpc.NewClient("passthrough:///"+ep,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsg)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
	)
}

func newCluster(seeds []string, nconns int, timeout time.Duration, logf func(string, ...any)) (*cluster, error) {
	c := &cluster{seeds: seeds, nconns: nconns, timeout: timeout, logf: logf, gossip: make(map[string]gossippb.GossipClient)}
	for _, ep := range seeds {
		cc, err := dial(ep)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("connecting to %s: %w", ep, err)
		}
		c.closers = append(c.closers, cc)
		c.gossip[ep] = gossippb.NewGossipClient(cc)
	}
	return c, nil
}

// close closes every connection; calls still running on them fail.
func (c *cluster) close() {
	c.mu.Lock()
	conns := c.conns
	c.conns, c.clients, c.leader = nil, nil, ""
	c.gen++
	c.mu.Unlock()
	for _, cc := range append(conns, c.closers...) {
		_ = cc.Close()
	}
}

// client returns the connection caller i uses, the generation it belongs
// to, and false when no leader is known.
func (c *cluster) client(i int) (pb.StreamsClient, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.clients) == 0 {
		return nil, c.gen, false
	}
	return c.clients[i%len(c.clients)], c.gen, true
}

// currentLeader is the leader the connections go to ("" for none).
func (c *cluster) currentLeader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// useLeader points the connections at ep ("" for no known leader),
// unless they moved since generation gen. The generation moves even when
// the leader stays: callers that failed before this look-up need not look
// again.
func (c *cluster) useLeader(gen uint64, ep string) {
	c.mu.Lock()
	if gen != c.gen {
		c.mu.Unlock()
		return
	}
	if ep == c.leader && (ep == "" || len(c.conns) > 0) {
		c.gen++
		c.mu.Unlock()
		return
	}
	old := c.conns
	c.conns, c.clients = nil, nil
	var failed error
	if ep != "" {
		for range c.nconns {
			cc, err := dial(ep)
			if err != nil {
				failed = err
				break
			}
			c.conns = append(c.conns, cc)
			c.clients = append(c.clients, pb.NewStreamsClient(cc))
		}
	}
	if failed != nil {
		old = append(old, c.conns...)
		c.conns, c.clients, ep = nil, nil, ""
	}
	if ep != c.leader {
		c.logf("leader: %s", orNone(ep))
	}
	c.leader = ep
	c.gen++
	c.mu.Unlock()
	for _, cc := range old {
		_ = cc.Close()
	}
}

func orNone(ep string) string {
	if ep == "" {
		return "none known"
	}
	return ep
}

// rediscover looks the leader up again after a failure on generation
// gen; callers that failed on connections already replaced do nothing.
func (c *cluster) rediscover(ctx context.Context, gen uint64) {
	c.discovering.Lock()
	defer c.discovering.Unlock()
	c.mu.Lock()
	stale := gen != c.gen
	c.mu.Unlock()
	if stale {
		return
	}
	ep, _ := c.discover(ctx)
	c.useLeader(gen, ep)
}

// findLeader looks for a leader until one is found or wait passes.
func (c *cluster) findLeader(ctx context.Context, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		_, gen, _ := c.client(0)
		ep, answers := c.discover(ctx)
		if ep != "" {
			c.useLeader(gen, ep)
			return ep, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return "", fmt.Errorf("no leader found in %v from %v: %s; is the cluster running, and are these its client endpoints?", wait, c.seeds, describeAnswers(answers))
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// memberView is what one gossip answer says of one member.
type memberView struct {
	endpoint      string
	leader, alive bool
}

// gossipAnswer is one seed's answer to Gossip.Read.
type gossipAnswer struct {
	from    string
	members []memberView
	err     error
}

// discover asks every seed for its view at once and returns the leader
// ("" when none can be trusted) and the answers. A node that says of
// itself that it leads settles it at once; otherwise discover waits for
// every answer (or the call timeout) and lets chooseLeader decide.
func (c *cluster) discover(ctx context.Context) (string, []gossipAnswer) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	results := make(chan gossipAnswer, len(c.seeds))
	for _, ep := range c.seeds {
		go func() {
			info, err := c.gossip[ep].Read(ctx, &sharedpb.Empty{})
			a := gossipAnswer{from: ep, err: err}
			for _, m := range info.GetMembers() {
				hp := m.GetHttpEndPoint()
				a.members = append(a.members, memberView{
					endpoint: net.JoinHostPort(hp.GetAddress(), strconv.Itoa(int(hp.GetPort()))),
					leader:   m.GetState() == gossippb.MemberInfo_Leader,
					alive:    m.GetIsAlive(),
				})
			}
			results <- a
		}()
	}
	var answers []gossipAnswer
	for range c.seeds {
		a := <-results
		answers = append(answers, a)
		if claimsToLead(a) {
			// The others answer into the buffered channel and end.
			return a.from, answers
		}
	}
	ep, _ := chooseLeader(answers)
	return ep, answers
}

// claimsToLead: the answering node lists itself as the alive leader.
func claimsToLead(a gossipAnswer) bool {
	if a.err != nil {
		return false
	}
	for _, m := range a.members {
		if m.endpoint == a.from && m.leader && m.alive {
			return true
		}
	}
	return false
}

// chooseLeader picks the leader from gossip answers. A member the
// answers call the alive leader is a candidate unless it is a seed that
// did not answer: the others' gossip still calls a node that died a
// moment ago the leader, and writing to it only fails again. A node's
// own claim outranks hearsay, then the most votes win, then the lowest
// endpoint (so that the choice does not depend on answer order).
func chooseLeader(answers []gossipAnswer) (string, bool) {
	unreachable := map[string]bool{}
	for _, a := range answers {
		if a.err != nil {
			unreachable[a.from] = true
		}
	}
	votes := map[string]int{}
	claims := map[string]bool{}
	for _, a := range answers {
		if a.err != nil {
			continue
		}
		for _, m := range a.members {
			if !m.leader || !m.alive || unreachable[m.endpoint] {
				continue
			}
			votes[m.endpoint]++
			if m.endpoint == a.from {
				claims[m.endpoint] = true
			}
		}
	}
	if len(votes) == 0 {
		return "", false
	}
	candidates := make([]string, 0, len(votes))
	for ep := range votes {
		candidates = append(candidates, ep)
	}
	slices.SortFunc(candidates, func(a, b string) int {
		switch {
		case claims[a] != claims[b]:
			if claims[a] {
				return -1
			}
			return 1
		case votes[a] != votes[b]:
			return votes[b] - votes[a]
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	})
	return candidates[0], true
}

// describeAnswers says what the seeds answered, for an error message.
func describeAnswers(answers []gossipAnswer) string {
	if len(answers) == 0 {
		return "no seed answered"
	}
	slices.SortFunc(answers, func(a, b gossipAnswer) int {
		switch {
		case a.from < b.from:
			return -1
		case a.from > b.from:
			return 1
		}
		return 0
	})
	var s string
	for i, a := range answers {
		if i > 0 {
			s += "; "
		}
		if a.err != nil {
			s += a.from + ": " + status.Convert(a.err).Message()
			continue
		}
		s += fmt.Sprintf("%s: %d members, no alive leader", a.from, len(a.members))
	}
	return s
}

// callError is a failed call, classified.
type callError struct {
	kind   string // the exception trailer, else the status code
	leader string // for not-leader: the leader's endpoint from the trailers
	err    error
}

func (e *callError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

const kindNotLeader = "not-leader"

// classify reads a failed call's status and trailers.
func classify(err error, trailer metadata.MD) *callError {
	st := status.Convert(err)
	e := &callError{kind: st.Code().String(), err: err}
	if ex := trailer.Get("exception"); len(ex) > 0 && ex[0] != "" {
		e.kind = ex[0]
	}
	if e.kind == kindNotLeader {
		host, port := trailer.Get("leader-endpoint-host"), trailer.Get("leader-endpoint-port")
		if len(host) > 0 && len(port) > 0 {
			e.leader = net.JoinHostPort(host[0], port[0])
		}
	}
	return e
}

// recover follows a failed call: to the leader a not-leader answer
// names, else to whatever gossip says now.
func (c *cluster) recover(ctx context.Context, gen uint64, err error) {
	var ce *callError
	if errors.As(err, &ce) && ce.kind == kindNotLeader && ce.leader != "" {
		c.useLeader(gen, ce.leader)
		return
	}
	c.rediscover(ctx, gen)
}

// leaderContext marks calls that only the leader may serve, as the
// clients do with their default node preference; a follower answers
// not-leader with the leader's endpoint.
func leaderContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "requires-leader", "true")
}

// appendCall makes one Append call of the given messages (options first)
// within the call timeout.
func (c *cluster) appendCall(ctx context.Context, sc pb.StreamsClient, msgs []*pb.AppendReq) error {
	ctx, cancel := context.WithTimeout(leaderContext(ctx), c.timeout)
	defer cancel()
	call, err := sc.Append(ctx)
	if err != nil {
		return classify(err, nil)
	}
	for _, m := range msgs {
		// io.EOF means the server ended the call; CloseAndRecv says why.
		if err := call.Send(m); err != nil {
			if err == io.EOF {
				break
			}
			return classify(err, call.Trailer())
		}
	}
	resp, err := call.CloseAndRecv()
	if err != nil {
		return classify(err, call.Trailer())
	}
	if w := resp.GetWrongExpectedVersion(); w != nil {
		return &callError{kind: "wrong-expected-version", err: fmt.Errorf("append answered wrong expected version: %v", w)}
	}
	if resp.GetSuccess() == nil {
		return &callError{kind: "bad-answer", err: errors.New("append answered neither success nor wrong expected version")}
	}
	return nil
}

// readResult is what one finite Read call returned.
type readResult struct {
	events   int
	lastPos  uint64 // commit position of the last event, for $all paging
	notFound bool
}

// readCall makes one finite Read call within the call timeout; events
// at or before skipUpTo (a $all position, when skip) are not counted.
func (c *cluster) readCall(ctx context.Context, sc pb.StreamsClient, req *pb.ReadReq, skip bool, skipUpTo uint64) (readResult, error) {
	ctx, cancel := context.WithTimeout(leaderContext(ctx), c.timeout)
	defer cancel()
	var r readResult
	call, err := sc.Read(ctx, req)
	if err != nil {
		return r, classify(err, nil)
	}
	for {
		m, err := call.Recv()
		if err == io.EOF {
			return r, nil
		}
		if err != nil {
			return r, classify(err, call.Trailer())
		}
		switch {
		case m.GetEvent() != nil:
			pos := m.GetEvent().GetEvent().GetCommitPosition()
			if skip && pos <= skipUpTo {
				continue
			}
			r.events++
			r.lastPos = pos
		case m.GetStreamNotFound() != nil:
			r.notFound = true
		}
	}
}

// uuids makes random (version 4) event ids in the string form the
// clients send. Each caller has its own: no lock on the hot path.
type uuids struct{ r *rand.Rand }

func newUUIDs() *uuids {
	var seed [16]byte
	_, _ = crand.Read(seed[:]) // never fails on the systems Go supports
	return &uuids{r: rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))}
}

func (u *uuids) next() *sharedpb.UUID {
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], u.r.Uint64())
	binary.BigEndian.PutUint64(id[8:], u.r.Uint64())
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	hex.Encode(b[9:13], id[4:6])
	hex.Encode(b[14:18], id[6:8])
	hex.Encode(b[19:23], id[8:10])
	hex.Encode(b[24:], id[10:])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return &sharedpb.UUID{Value: &sharedpb.UUID_String_{String_: string(b[:])}}
}

// eventType and the content type of the events written.
const (
	eventType   = "annal-bench"
	contentType = "application/octet-stream"
)

// appendOptions is the first message of an append to stream, with
// expected revision any.
func appendOptions(stream string) *pb.AppendReq {
	return &pb.AppendReq{Content: &pb.AppendReq_Options_{Options: &pb.AppendReq_Options{
		StreamIdentifier:       &sharedpb.StreamIdentifier{StreamName: []byte(stream)},
		ExpectedStreamRevision: &pb.AppendReq_Options_Any{Any: &sharedpb.Empty{}},
	}}}
}

// proposed is one event to append, with a fresh id.
func proposed(ids *uuids, data []byte) *pb.AppendReq {
	return &pb.AppendReq{Content: &pb.AppendReq_ProposedMessage_{ProposedMessage: &pb.AppendReq_ProposedMessage{
		Id:       ids.next(),
		Metadata: map[string]string{"type": eventType, "content-type": contentType},
		Data:     data,
	}}}
}

// streamRead reads count events of stream forwards from revision.
func streamRead(stream string, revision uint64, count int) *pb.ReadReq {
	return &pb.ReadReq{Options: &pb.ReadReq_Options{
		StreamOption: &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{
			StreamIdentifier: &sharedpb.StreamIdentifier{StreamName: []byte(stream)},
			RevisionOption:   &pb.ReadReq_Options_StreamOptions_Revision{Revision: revision},
		}},
		ReadDirection: pb.ReadReq_Options_Forwards,
		CountOption:   &pb.ReadReq_Options_Count{Count: uint64(count)},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: &sharedpb.Empty{}},
		UuidOption:    &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: &sharedpb.Empty{}}},
	}}
}

// allRead reads count events of $all forwards from position (from the
// start when !at).
func allRead(at bool, position uint64, count int) *pb.ReadReq {
	opts := &pb.ReadReq_Options_AllOptions{AllOption: &pb.ReadReq_Options_AllOptions_Start{Start: &sharedpb.Empty{}}}
	if at {
		opts.AllOption = &pb.ReadReq_Options_AllOptions_Position{Position: &pb.ReadReq_Options_Position{CommitPosition: position, PreparePosition: position}}
	}
	return &pb.ReadReq{Options: &pb.ReadReq_Options{
		StreamOption:  &pb.ReadReq_Options_All{All: opts},
		ReadDirection: pb.ReadReq_Options_Forwards,
		CountOption:   &pb.ReadReq_Options_Count{Count: uint64(count)},
		FilterOption:  &pb.ReadReq_Options_NoFilter{NoFilter: &sharedpb.Empty{}},
		UuidOption:    &pb.ReadReq_Options_UUIDOption{Content: &pb.ReadReq_Options_UUIDOption_String_{String_: &sharedpb.Empty{}}},
	}}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isCancelled: the call failed because the run itself was cancelled.
func isCancelled(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded)
}
