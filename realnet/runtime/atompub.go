package runtime

import (
	"context"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/atompub"
)

// mountAtomPub serves EventStoreDB's AtomPub API under /streams when
// EnableAtomPubOverHttp is on; off, the HTTP API answers those paths 404
// naming the option.
func (r *Runtime) mountAtomPub(opts *options.Values, sec *security) error {
	if !opts.Bool(options.EnableAtomPubOverHttp) {
		return nil
	}
	h, err := atompub.New(atompub.Config{
		Options:    opts,
		Node:       r.api.CountNode(r.client),
		DatabaseID: r.databaseID,
		Authorize:  sec.authorizer(),
		TLS:        sec != nil,
	})
	if err != nil {
		return err
	}
	r.api.MountStreams(h)
	return nil
}

// databaseID asks the node on its loop which database it holds; "" while
// its log has no epoch yet.
func (r *Runtime) databaseID(ctx context.Context) (string, error) {
	return ask(ctx, r, "", func(n *node.Node, done func(string)) {
		if id, ok := n.DatabaseID(); ok {
			done(id.String())
			return
		}
		done("")
	})
}
