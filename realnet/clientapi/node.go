package clientapi

import (
	"context"
	"errors"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
)

// Node is the running node as the client API uses it. Every method is safe
// to call from any goroutine and blocks until the node answers or ctx
// ends. The returned error is about the call itself (ctx ended:
// ctx.Err(); the node stopped: ErrNodeStopped); what the node answered,
// refusals included, is in the result's Err.
type Node interface {
	Append(ctx context.Context, req node.AppendRequest) (node.WriteResult, error)
	// StartAppend hands an append to the node before it returns, so that
	// appends started one after another reach the node in that order
	// (EventStoreDB takes the appends of one BatchAppend call in arrival
	// order), and returns wait, which waits for the node's answer as
	// Append does. ctx bounds the handing over; wait's own ctx bounds the
	// wait, and wait may be called once. An error means the append was not
	// handed over.
	StartAppend(ctx context.Context, req node.AppendRequest) (wait AppendWait, err error)
	Delete(ctx context.Context, req node.DeleteRequest) (node.WriteResult, error)
	// ReadStream reads one page of a stream; the caller continues from Next.
	ReadStream(ctx context.Context, req node.ReadRequest) (node.ReadResult, error)
	// ReadAll reads one page of $all; the caller continues from Next.
	ReadAll(ctx context.Context, req streams.ReadAllRequest, requireLeader bool) (streams.ReadAllResult, error)
	// Subscribe starts a catch-up subscription to a stream (Stream set) or
	// to $all. An error (a *node.NotLeaderError, an invalid request, too
	// many subscriptions) means there is none.
	Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error)
	// ClusterView is the cluster's members as the node sees them, itself
	// included.
	ClusterView(ctx context.Context) ([]member.Info, error)
	// MaxAppendSize is the MaxAppendSize option, in bytes.
	MaxAppendSize() int
}

// AppendWait waits for the answer to an append StartAppend handed over.
type AppendWait func(ctx context.Context) (node.WriteResult, error)

// SubscribeRequest is a subscription to one stream or to $all.
type SubscribeRequest struct {
	// Stream subscribes to one stream; empty means $all.
	Stream string
	// From is streams.Start(), streams.End(), or streams.After(revision or
	// $all position).
	From streams.From
	// Filter filters a $all subscription (nil: everything).
	Filter        *streams.AllFilter
	RequireLeader bool
}

// Subscription is a running catch-up subscription. Its first message is
// streams.Confirmed; the last one, if the node ends it, is streams.Dropped.
type Subscription interface {
	// Next waits for the next message. It returns ctx.Err() when ctx
	// ends, and ErrNodeStopped when the node is gone.
	Next(ctx context.Context) (streams.Message, error)
	// Close ends the subscription and frees what it holds in the node.
	Close()
}

// ErrNodeStopped answers a call made while, or after, the node stops.
var ErrNodeStopped = errors.New("the node is stopping")
