package clientapi

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
	"github.com/annal-db/annal/core/streams/filter"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/serverfeaturespb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// fakeNode is an in-memory Node: streams with EventStoreDB's expected
// revision rules, a $all log, scripted subscriptions, injectable errors,
// and a record of every request it was given.
type fakeNode struct {
	mu        sync.Mutex
	streams   map[string]*fakeStream
	all       []streams.Event
	maxAppend int
	// pageLimit caps the events of one page (0: the request's count), to
	// make the API page.
	pageLimit int
	view      []member.Info

	// Injected: callErr is returned as the call's error, resultErr as the
	// answer's Err, by every operation until cleared.
	callErr, resultErr error
	// writeNothing makes deletes succeed without writing (no position).
	writeNothing bool
	// gates holds appends to a stream until the channel is closed.
	gates map[string]chan struct{}

	appends     []node.AppendRequest
	deletes     []node.DeleteRequest
	streamReads []node.ReadRequest
	allReads    []streams.ReadAllRequest
	allLeader   []bool
	subscribes  []SubscribeRequest
	subs        chan *fakeSub
}

type fakeStream struct {
	events     []streams.Event
	deleted    bool
	tombstoned bool
	// hiddenBefore hides revisions below it from forward reads the way
	// $maxCount does: a read from below gets an empty page that says to
	// continue there.
	hiddenBefore int64
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		streams:   map[string]*fakeStream{},
		maxAppend: 1 << 20,
		gates:     map[string]chan struct{}{},
		subs:      make(chan *fakeSub, 16),
	}
}

// createdTicks is what the fake stamps on events: revision r of any
// stream was created at createdBase + r.
const createdBase = 638_000_000_000_000_000

// positionOf is the fake's log position of the i-th event of $all, far
// from revisions so that tests tell them apart.
func positionOf(i int) int64 { return 1000 + 10*int64(i) }

func (f *fakeNode) injected() (error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.callErr, f.resultErr
}

func (f *fakeNode) inject(callErr, resultErr error) {
	f.mu.Lock()
	f.callErr, f.resultErr = callErr, resultErr
	f.mu.Unlock()
}

// seed appends events directly, bypassing the API.
func (f *fakeNode) seed(stream string, types ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var evs []streams.EventData
	for i, t := range types {
		var id [16]byte
		copy(id[:], fmt.Sprintf("%-8.8s%08d", stream, i))
		evs = append(evs, streams.EventData{ID: id, Type: t, Data: []byte(`{"n":` + strconv.Itoa(i) + `}`), Metadata: []byte("m" + strconv.Itoa(i)), IsJSON: i%2 == 0})
	}
	f.write(stream, evs)
}

func (f *fakeNode) stream(name string) *fakeStream {
	st := f.streams[name]
	if st == nil {
		st = &fakeStream{}
		f.streams[name] = st
	}
	return st
}

// write appends under f.mu and returns the last revision and position.
func (f *fakeNode) write(name string, evs []streams.EventData) (int64, int64) {
	st := f.stream(name)
	st.deleted = false
	pos := int64(-1)
	for _, e := range evs {
		rev := int64(len(st.events))
		pos = positionOf(len(f.all))
		ev := streams.Event{Position: pos, Stream: name, Number: rev, ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata, IsJSON: e.IsJSON, Created: createdBase + rev}
		st.events = append(st.events, ev)
		f.all = append(f.all, ev)
	}
	return int64(len(st.events)) - 1, pos
}

func (f *fakeNode) Append(ctx context.Context, req node.AppendRequest) (node.WriteResult, error) {
	wait, err := f.StartAppend(ctx, req)
	if err != nil {
		return node.WriteResult{}, err
	}
	return wait(ctx)
}

// StartAppend takes appends in its callers' order, as the node's loop
// does: it records the append and, unless its stream is gated, applies it
// before returning; a gated append is applied once its gate opens.
func (f *fakeNode) StartAppend(ctx context.Context, req node.AppendRequest) (AppendWait, error) {
	f.mu.Lock()
	f.appends = append(f.appends, req)
	gate := f.gates[req.Stream]
	f.mu.Unlock()
	if gate == nil {
		res, err := f.apply(req)
		return func(context.Context) (node.WriteResult, error) { return res, err }, nil
	}
	return func(ctx context.Context) (node.WriteResult, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return node.WriteResult{}, ctx.Err()
		}
		return f.apply(req)
	}, nil
}

func (f *fakeNode) apply(req node.AppendRequest) (node.WriteResult, error) {
	if callErr, resultErr := f.injected(); callErr != nil || resultErr != nil {
		return node.WriteResult{Err: resultErr}, callErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[req.Stream]
	last := int64(streams.NoRevision)
	if st != nil && !st.deleted {
		last = int64(len(st.events)) - 1
	}
	if st != nil && st.tombstoned {
		return node.WriteResult{Err: &streams.StreamDeletedError{Stream: req.Stream}}, nil
	}
	if err := checkExpected(req.Stream, streams.ExpectedRevision(req.Expected), last); err != nil {
		return node.WriteResult{Revision: streams.NoRevision, Position: -1, Err: err}, nil
	}
	size := 0
	for i := range req.Events {
		size += eventSize(&req.Events[i])
	}
	if size > f.maxAppend {
		return node.WriteResult{Err: &streams.MaxAppendSizeExceededError{Stream: req.Stream, Size: size, Max: f.maxAppend}}, nil
	}
	if len(req.Events) == 0 {
		return node.WriteResult{Revision: last, Position: -1}, nil
	}
	rev, pos := f.write(req.Stream, req.Events)
	return node.WriteResult{Revision: rev, Position: pos}, nil
}

func checkExpected(stream string, expected streams.ExpectedRevision, last int64) error {
	ok := false
	switch expected {
	case streams.Any:
		ok = true
	case streams.NoStream:
		ok = last < 0
	case streams.StreamExists:
		ok = last >= 0
	default:
		ok = int64(expected) == last
	}
	if !ok {
		return &streams.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: last}
	}
	return nil
}

func (f *fakeNode) Delete(ctx context.Context, req node.DeleteRequest) (node.WriteResult, error) {
	f.mu.Lock()
	f.deletes = append(f.deletes, req)
	f.mu.Unlock()
	if callErr, resultErr := f.injected(); callErr != nil || resultErr != nil {
		return node.WriteResult{Err: resultErr}, callErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeNothing {
		return node.WriteResult{Revision: streams.NoRevision, Position: -1}, nil
	}
	st := f.stream(req.Stream)
	if st.tombstoned {
		return node.WriteResult{Err: &streams.StreamDeletedError{Stream: req.Stream}}, nil
	}
	last := int64(len(st.events)) - 1
	if st.deleted {
		last = streams.NoRevision
	}
	if err := checkExpected(req.Stream, streams.ExpectedRevision(req.Expected), last); err != nil {
		return node.WriteResult{Err: err}, nil
	}
	pos := positionOf(len(f.all))
	f.all = append(f.all, streams.Event{Position: pos, Stream: "$$" + req.Stream, Type: "$metadata", Created: createdBase})
	if req.Tombstone {
		st.tombstoned = true
	} else {
		st.deleted = true
	}
	return node.WriteResult{Revision: streams.NoRevision, Position: pos}, nil
}

func (f *fakeNode) ReadStream(ctx context.Context, req node.ReadRequest) (node.ReadResult, error) {
	f.mu.Lock()
	f.streamReads = append(f.streamReads, req)
	f.mu.Unlock()
	if callErr, resultErr := f.injected(); callErr != nil || resultErr != nil {
		return node.ReadResult{Err: resultErr}, callErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[req.Stream]
	switch {
	case st != nil && st.tombstoned:
		return node.ReadResult{Err: &streams.StreamDeletedError{Stream: req.Stream}}, nil
	case st == nil || st.deleted || len(st.events) == 0:
		return node.ReadResult{Err: &streams.StreamNotFoundError{Stream: req.Stream}}, nil
	}
	last := int64(len(st.events)) - 1
	want := int(req.Count)
	if f.pageLimit > 0 {
		want = min(want, f.pageLimit)
	}
	res := node.ReadResult{LastRevision: last}
	if !req.Backwards {
		from := req.From
		if req.FromEnd {
			from = last + 1
		}
		if from < st.hiddenBefore {
			res.Next = st.hiddenBefore
			return res, nil
		}
		for r := from; r <= last && len(res.Events) < want; r++ {
			res.Events = append(res.Events, st.events[r])
		}
		res.Next = from + int64(len(res.Events))
		res.End = res.Next > last
	} else {
		from := min(req.From, last)
		if req.FromEnd {
			from = last
		}
		for r := from; r >= 0 && len(res.Events) < want; r-- {
			res.Events = append(res.Events, st.events[r])
		}
		res.Next = from - int64(len(res.Events))
		res.End = res.Next < 0
	}
	if res.End {
		res.Next = -1
	}
	return res, nil
}

// fromParts reads a streams.From through its String form, the only view
// of it outside its package.
func fromParts(f streams.From) (kind string, v int64) {
	s := f.String()
	if k, n, ok := strings.Cut(s, " "); ok {
		v, _ = strconv.ParseInt(n, 10, 64)
		return k, v
	}
	return s, 0
}

func (f *fakeNode) ReadAll(ctx context.Context, req streams.ReadAllRequest, requireLeader bool) (streams.ReadAllResult, error) {
	f.mu.Lock()
	f.allReads = append(f.allReads, req)
	f.allLeader = append(f.allLeader, requireLeader)
	f.mu.Unlock()
	if callErr, resultErr := f.injected(); callErr != nil || resultErr != nil {
		return streams.ReadAllResult{Err: resultErr, Checkpoint: -1}, callErr
	}
	var match *filter.Filter
	if req.Filter != nil {
		m, err := filter.New(req.Filter.Spec)
		if err != nil {
			return streams.ReadAllResult{Err: &streams.InvalidArgumentError{What: err.Error()}}, nil
		}
		match = m
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := int(req.Count)
	if f.pageLimit > 0 {
		want = min(want, f.pageLimit)
	}
	res := streams.ReadAllResult{Checkpoint: -1}
	kind, v := fromParts(req.From)
	// i is the index in f.all to look at next.
	i := 0
	if req.Direction == streams.Forwards {
		switch kind {
		case "end":
			i = len(f.all)
		case "at":
			for i < len(f.all) && f.all[i].Position < v {
				i++
			}
		}
		for ; i < len(f.all) && len(res.Events) < want; i++ {
			if match.Match(f.all[i].Stream, f.all[i].Type) {
				res.Events = append(res.Events, f.all[i])
			}
		}
		res.End = i >= len(f.all)
		if i < len(f.all) {
			res.Next = f.all[i].Position
		}
		return res, nil
	}
	i = len(f.all) - 1
	switch kind {
	case "start":
		i = -1
	case "at":
		for i >= 0 && f.all[i].Position >= v {
			i--
		}
	}
	for ; i >= 0 && len(res.Events) < want; i-- {
		if match.Match(f.all[i].Stream, f.all[i].Type) {
			res.Events = append(res.Events, f.all[i])
		}
	}
	res.End = i < 0
	if !res.End {
		res.Next = f.all[i+1].Position
	}
	return res, nil
}

func (f *fakeNode) Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error) {
	f.mu.Lock()
	f.subscribes = append(f.subscribes, req)
	f.mu.Unlock()
	if callErr, resultErr := f.injected(); callErr != nil || resultErr != nil {
		if callErr != nil {
			return nil, callErr
		}
		return nil, resultErr
	}
	s := &fakeSub{req: req, items: make(chan subItem, 64), closed: make(chan struct{})}
	s.items <- subItem{msg: streams.Message{Kind: streams.Confirmed, SubscriptionID: "sub-" + strconv.Itoa(len(f.subscribes))}}
	select {
	case f.subs <- s:
	default: // nobody watches: fuzz tests make many
	}
	return s, nil
}

func (f *fakeNode) ClusterView(ctx context.Context) ([]member.Info, error) {
	if callErr, resultErr := f.injected(); callErr != nil || resultErr != nil {
		if callErr != nil {
			return nil, callErr
		}
		return nil, resultErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]member.Info(nil), f.view...), nil
}

func (f *fakeNode) MaxAppendSize() int { return f.maxAppend }

// fakeSub is a subscription the test scripts: it delivers what the test
// puts into items, after the Confirmed message Subscribe put first.
type fakeSub struct {
	req       SubscribeRequest
	items     chan subItem
	closed    chan struct{}
	closeOnce sync.Once
}

type subItem struct {
	msg streams.Message
	err error
}

func (s *fakeSub) Next(ctx context.Context) (streams.Message, error) {
	select {
	case it := <-s.items:
		return it.msg, it.err
	case <-ctx.Done():
		return streams.Message{}, ctx.Err()
	}
}

func (s *fakeSub) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

func (s *fakeSub) push(m streams.Message) { s.items <- subItem{msg: m} }

// clients are the API's services as an official client calls them, over
// a real gRPC connection on loopback.
type clients struct {
	streams  streamspb.StreamsClient
	gossip   gossippb.GossipClient
	features serverfeaturespb.ServerFeaturesClient
}

func serve(t *testing.T, n Node, opts Options) clients {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	s := grpc.NewServer(ServerOptions(n.MaxAppendSize())...)
	if err := Register(s, n, opts); err != nil {
		t.Fatalf("Register: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %v: %v", lis.Addr(), err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		s.Stop()
		<-served
	})
	return clients{
		streams:  streamspb.NewStreamsClient(conn),
		gossip:   gossippb.NewGossipClient(conn),
		features: serverfeaturespb.NewServerFeaturesClient(conn),
	}
}
