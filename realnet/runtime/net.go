package runtime

import (
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/netstack"
)

// nodeNet is the node's env.Network: the runtime's stack, except that the
// node's Serve of its node port and Listen on its replication port are
// answered with the listeners the runtime bound before the node started.
type nodeNet struct {
	*netstack.Stack
	port   *netstack.NodePort
	repl   env.Listener
	router *router
}

var _ env.Network = (*nodeNet)(nil)

// Serve implements env.Network.
func (n *nodeNet) Serve(ep env.Endpoint, h env.RequestHandler) (env.Listener, error) {
	if n.port != nil && ep == n.port.Addr() && n.router.handler == nil {
		n.router.handler = h
		return n.port, nil
	}
	return n.Stack.Serve(ep, h)
}

// Listen implements env.Network.
func (n *nodeNet) Listen(ep env.Endpoint, accept func(env.Conn) env.ConnHandler) (env.Listener, error) {
	if n.repl != nil && ep == n.repl.Addr() && n.router.accept == nil {
		n.router.accept = accept
		return n.repl, nil
	}
	return n.Stack.Listen(ep, accept)
}

// router stands between the pre-bound listeners and the node until the
// node claims them. Both of its methods run on the node's loop, as does
// the claiming, so it needs no lock.
type router struct {
	handler env.RequestHandler
	accept  func(env.Conn) env.ConnHandler
}

// errStarting answers calls that arrive before the node serves its port.
var errStarting = &env.RemoteError{Code: 503, Message: "the node is starting"}

func (r *router) HandleRequest(from env.Endpoint, method string, req []byte, reply func([]byte, error)) {
	if r.handler == nil {
		reply(nil, errStarting)
		return
	}
	r.handler.HandleRequest(from, method, req, reply)
}

// acceptConn refuses replication connections until the node listens.
func (r *router) acceptConn(c env.Conn) env.ConnHandler {
	if r.accept == nil {
		return nil
	}
	return r.accept(c)
}
