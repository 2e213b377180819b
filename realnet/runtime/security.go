package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/auth"
	"github.com/annal-db/annal/realnet/clientapi"
	"github.com/annal-db/annal/realnet/netstack"
	"github.com/annal-db/annal/realnet/tlsconfig"
)

// security is what a secure node adds to its drivers: TLS on both ports
// and on the cluster's calls (realnet/tlsconfig), its users, and the
// checks of every client request (realnet/auth). An insecure node has
// none (a nil *security), and allows everything.
type security struct {
	certs     *tlsconfig.Material
	authn     *auth.Authenticator
	streams   auth.Policy
	endpoints auth.EndpointPolicy
	notes     []string // warnings for the start-up log
}

// passwordIterations is the PBKDF2 cost of the users' password hashes
// (tests lower it: the race detector makes each check ten times dearer).
var passwordIterations = auth.DefaultIterations

// newSecurity checks a secure node's certificates and makes its users:
// admin and ops, with the DefaultAdminPassword and DefaultOpsPassword
// options. Nil for an insecure node.
func newSecurity(opts *options.Values, files tlsconfig.Inputs) (*security, error) {
	if opts.Bool(options.Insecure) {
		return nil, nil
	}
	certs, err := tlsconfig.Load(opts, files)
	if err != nil {
		return nil, err
	}
	adminPw, opsPw := opts.String(options.DefaultAdminPassword), opts.String(options.DefaultOpsPassword)
	for _, o := range []*options.Option{options.DefaultAdminPassword, options.DefaultOpsPassword} {
		// An empty variable (a compose file's ${ADMIN_PASSWORD} with
		// nothing behind it) would leave the user out altogether: the
		// node would start without it and say nothing.
		if opts.String(o) == "" {
			env := options.EnvNames(o)
			return nil, fmt.Errorf("%s is empty (set to nothing in the environment), so its user would have no password and the node would start without it; "+
				"set %s (or %s) to the password, or leave it unset for EventStoreDB's default (changeit, for development only)", o.Name, env[0], env[1])
		}
	}
	s := &security{
		certs:   certs,
		authn:   &auth.Authenticator{Users: auth.DefaultUsers(passwordIterations, adminPw, opsPw)},
		streams: auth.Policy{AllowAnonymousStreamAccess: opts.Bool(options.AllowAnonymousStreamAccess), ACLs: auth.NewACLs()},
		endpoints: auth.EndpointPolicy{
			AllowAnonymousEndpointAccess:             opts.Bool(options.AllowAnonymousEndpointAccess),
			OverrideAnonymousEndpointAccessForGossip: opts.Bool(options.OverrideAnonymousEndpointAccessForGossip),
		},
		notes: certs.Warnings,
	}
	for _, u := range []struct {
		name, password string
		option         *options.Option
	}{{auth.UserAdmin, adminPw, options.DefaultAdminPassword}, {auth.UserOps, opsPw, options.DefaultOpsPassword}} {
		if u.password == auth.DefaultPassword {
			s.notes = append(s.notes, fmt.Sprintf("the %s user's password is the default (%s): anyone who knows EventStoreDB's defaults can log in; "+
				"set %s before this node is reachable by others, and keep it set: annal applies it at every start", u.name, auth.DefaultPassword, options.EnvNames(u.option)[0]))
		}
	}
	return s, nil
}

// apply secures the node's network: TLS, credentials checked on every
// gRPC call and HTTP request (around whatever wraps the HTTP side
// already, so that nothing is served before the caller is known).
func (s *security) apply(no *netstack.Options) {
	if s == nil {
		return
	}
	no.TLS = &netstack.TLS{
		NodePort:    s.certs.NodePortServer(),
		Replication: s.certs.ReplicationServer(),
		Peer:        s.certs.PeerClient(),
		IsNode:      s.certs.IsNodeConnection,
	}
	no.GRPCServerOptions = append(no.GRPCServerOptions,
		grpc.ChainUnaryInterceptor(s.authn.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(s.authn.StreamInterceptor()))
	inner := no.WrapHTTP
	no.WrapHTTP = func(h http.Handler) http.Handler {
		if inner != nil {
			h = inner(h)
		}
		return s.authn.HTTP(h, s.endpoints)
	}
}

// watchACLs has the node hand every committed event of a metadata stream,
// and of $settings, to the access lists, as it applies them.
func (s *security) watchACLs(settings *node.Settings) {
	if s == nil {
		return
	}
	acls, next := s.streams.ACLs, settings.OnApplied
	settings.OnApplied = func(recs []eventlog.Record) {
		for i := range recs {
			if ev := &recs[i].Event; recs[i].Kind == eventlog.KindEvent && strings.HasPrefix(ev.Stream, "$") {
				acls.Applied(ev.Stream, ev.Data)
			}
		}
		if next != nil {
			next(recs)
		}
	}
}

// authorizer is the client API's check of stream operations; nil (allow
// everything) for an insecure node.
func (s *security) authorizer() func(context.Context, clientapi.Operation, string) error {
	if s == nil {
		return nil
	}
	ops := map[clientapi.Operation]auth.Operation{clientapi.OpRead: auth.Read, clientapi.OpWrite: auth.Write, clientapi.OpDelete: auth.Delete}
	return func(ctx context.Context, op clientapi.Operation, stream string) error {
		err := s.streams.CheckStream(auth.FromContext(ctx), ops[op], stream)
		var denied *auth.DeniedError
		if errors.As(err, &denied) {
			return fmt.Errorf("%w: %s", clientapi.ErrAccessDenied, denied.Reason)
		}
		return err
	}
}

// gossipAuthorizer is the client API's check of Gossip.Read; nil (allow
// everyone) for an insecure node.
func (s *security) gossipAuthorizer() func(context.Context) error {
	if s == nil {
		return nil
	}
	return func(ctx context.Context) error {
		if s.endpoints.MayReadGossip(auth.FromContext(ctx)) {
			return nil
		}
		return fmt.Errorf("%w: reading the cluster's gossip needs a user's credentials (OverrideAnonymousEndpointAccessForGossip and AllowAnonymousEndpointAccess are off)", clientapi.ErrAccessDenied)
	}
}

// logStart says how the node is secured, or that it is not.
func (s *security) logStart(log *lineLogger) {
	if s == nil {
		log.Log(env.LevelWarn, "INSECURE MODE: TLS, authentication and authorization are off (Insecure); "+
			"anyone who reaches this node may read, write and administer everything. For development only.")
		return
	}
	leaf := s.certs.Leaf()
	log.logf(env.LevelInfo, "TLS on both ports: certificate CN %q (valid until %s), nodes recognised by the name %q",
		leaf.Subject.CommonName, leaf.NotAfter.UTC().Format("2006-01-02"), s.certs.NodeName())
	for _, n := range s.notes {
		log.Log(env.LevelWarn, n)
	}
}

// applyLimits puts kestrelsettings.json's limits on the node port, secure
// or not: MaxConcurrentConnections (connections over it are closed as
// they arrive, and counted), MaxConcurrentUpgradedConnections (HTTP/1.1
// requests switching protocols beyond it answered 503), and the HTTP/2
// windows gRPC clients are given.
func applyLimits(opts *options.Values, no *netstack.Options) {
	if !opts.Disabled(options.MaxConcurrentConnections) && no.AdmitNodeConn == nil {
		limit := opts.Int(options.MaxConcurrentConnections)
		no.AdmitNodeConn = func(open int) bool { return int64(open) < limit }
	}
	if !opts.Disabled(options.MaxConcurrentUpgradedConnections) && no.AdmitUpgrade == nil {
		limit := opts.Int(options.MaxConcurrentUpgradedConnections)
		no.AdmitUpgrade = func(upgraded int) bool { return int64(upgraded) < limit }
	}
	// The schema bounds both windows to 65535..2^31-1, which int32 holds.
	no.GRPCServerOptions = append(no.GRPCServerOptions,
		grpc.InitialWindowSize(int32(opts.Int(options.InitialStreamWindowSize))),
		grpc.InitialConnWindowSize(int32(opts.Int(options.InitialConnectionWindowSize))))
}
