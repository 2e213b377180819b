package netstack

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/netstack/clusterpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// clusterService serves the cluster's calls: each one goes to the node's
// request handler on the loop, and the gRPC handler goroutine waits for the
// reply or for the caller to give up.
type clusterService struct {
	clusterpb.UnimplementedClusterServer
	s *Stack
	h env.RequestHandler
}

type callResult struct {
	resp []byte
	err  error
}

// Call implements clusterpb.ClusterServer.
func (cs *clusterService) Call(ctx context.Context, in *clusterpb.CallRequest) (*clusterpb.CallReply, error) {
	var from env.Endpoint
	p, ok := peer.FromContext(ctx)
	if ok {
		from = endpointOf(p.Addr)
	}
	if t := cs.s.opts.TLS; t != nil {
		// Only nodes make the cluster's calls: a client of the node port
		// is refused unless its certificate is a node's.
		info, isTLS := p.AuthInfo.(credentials.TLSInfo)
		if !ok || !isTLS {
			return nil, status.Error(codes.PermissionDenied, "the cluster's calls are for nodes, over TLS")
		}
		if err := t.IsNode(info.State); err != nil {
			cs.s.logf(env.LevelDebug, "netstack: cluster call %q from %s refused: %v", in.GetMethod(), from, err)
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
	}
	method, payload := in.GetMethod(), in.GetPayload()
	// Room for the one reply, so that the loop never waits on a caller
	// that has gone away.
	result := make(chan callResult, 1)
	var replied atomic.Bool
	reply := func(resp []byte, err error) {
		if replied.Swap(true) {
			panic(fmt.Sprintf("netstack: reply called twice for call %q from %s; a handler must reply exactly once", method, from))
		}
		r := callResult{err: err}
		if err == nil && len(resp) > 0 {
			r.resp = append([]byte(nil), resp...)
		}
		result <- r
	}
	err := cs.s.post(func() {
		if ctx.Err() != nil {
			return // the caller gave up while the call waited for the loop
		}
		cs.h.HandleRequest(from, method, payload, reply)
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, "the node is stopping")
	}
	select {
	case r := <-result:
		return encodeReply(r)
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func encodeReply(r callResult) (*clusterpb.CallReply, error) {
	if r.err != nil {
		var re *env.RemoteError
		if !errors.As(r.err, &re) {
			re = &env.RemoteError{Code: UnknownErrorCode, Message: r.err.Error()}
		}
		return &clusterpb.CallReply{Error: &clusterpb.RemoteError{Code: uint32(re.Code), Message: re.Message}}, nil
	}
	if len(r.resp) > env.MaxMessageSize {
		return nil, status.Errorf(codes.ResourceExhausted, "response of %d bytes exceeds the limit of %d", len(r.resp), env.MaxMessageSize)
	}
	return &clusterpb.CallReply{Payload: r.resp}, nil
}
