package clientapi

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/annal-db/annal/realnet/clientapi/esdbpb/gossippb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/serverfeaturespb"
	"github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// Options configure the client API. The zero value works.
type Options struct {
	// ServerVersion is the version ServerFeatures reports, MAJOR.MINOR.PATCH
	// in digits only: the Go clients parse each part as an integer and
	// refuse the node otherwise. Empty means DefaultServerVersion.
	ServerVersion string
	// Logf logs what the clients are not told (unexpected errors). Nil
	// discards.
	Logf func(format string, args ...any)
	// Now is the wall clock stamped on caught-up, fell-behind and
	// checkpoint messages. Nil means time.Now.
	Now func() time.Time
	// ReadPageSize bounds the events asked of the node at once by a read;
	// the read goes on page by page until the client's count. Zero means
	// DefaultReadPageSize.
	ReadPageSize int
	// GossipHidden, when not empty, hides the Gossip service from clients:
	// Read answers UNIMPLEMENTED with this text at once (the clients then
	// try their next seed) and ServerFeatures does not list it. It says
	// which option hid it.
	GossipHidden string
	// Authorize, when set, is asked before every stream operation (reads
	// and subscriptions of a stream or of $all, appends, deletes), and
	// again before each event a subscription sends; its error refuses the
	// operation (ends the subscription). An error matching ErrAccessDenied is
	// answered PERMISSION_DENIED with exception=access-denied (in
	// BatchAppend, that append's AccessDenied status), one matching
	// ErrUnauthenticated UNAUTHENTICATED. Nil allows everything, as on an
	// insecure node.
	Authorize func(ctx context.Context, op Operation, stream string) error
	// AuthorizeGossip, when set, is asked before Gossip.Read, with the same
	// answers as Authorize; nil allows everyone.
	AuthorizeGossip func(ctx context.Context) error

	// maxEvents overrides maxEventsPerAppend (tests).
	maxEvents int
}

// Operation is what a stream operation does, for Options.Authorize.
type Operation uint8

const (
	OpRead   Operation = iota + 1 // read or subscribe
	OpWrite                       // append
	OpDelete                      // delete or tombstone
)

// AllStream is the stream name Options.Authorize is given for reads and
// subscriptions of the whole log.
const AllStream = "$all"

// DefaultServerVersion is the EventStoreDB version whose protocol this
// package speaks.
const DefaultServerVersion = "24.10.0"

// DefaultReadPageSize is EventStoreDB's own read batch for gRPC reads
// rounded up: a page is sent before the next is asked for.
const DefaultReadPageSize = 512

var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

func (o Options) withDefaults() (Options, error) {
	if o.ServerVersion == "" {
		o.ServerVersion = DefaultServerVersion
	}
	if !versionPattern.MatchString(o.ServerVersion) {
		return o, fmt.Errorf("clientapi: ServerVersion %q is not MAJOR.MINOR.PATCH in digits (like %q); the Go clients refuse a node whose version has anything else", o.ServerVersion, DefaultServerVersion)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReadPageSize == 0 {
		o.ReadPageSize = DefaultReadPageSize
	}
	if o.maxEvents == 0 {
		o.maxEvents = maxEventsPerAppend
	}
	if o.ReadPageSize < 0 {
		return o, fmt.Errorf("clientapi: ReadPageSize is %d; it must be positive, or 0 for %d", o.ReadPageSize, DefaultReadPageSize)
	}
	return o, nil
}

// server holds what every service of the API shares.
type server struct {
	node Node
	opts Options
}

func (s *server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// authorize asks Options.Authorize whether the call may do op to stream.
func (s *server) authorize(ctx context.Context, op Operation, stream string) error {
	if s.opts.Authorize == nil {
		return nil
	}
	return s.opts.Authorize(ctx, op, stream)
}

// Register registers the Streams, Gossip and ServerFeatures services on
// s, served by n. It fails only on invalid options.
func Register(s grpc.ServiceRegistrar, n Node, opts Options) error {
	if n == nil {
		return fmt.Errorf("clientapi: Register needs a Node")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	srv := &server{node: n, opts: opts}
	streamspb.RegisterStreamsServer(s, &streamsService{server: srv})
	gossippb.RegisterGossipServer(s, &gossipService{server: srv})
	serverfeaturespb.RegisterServerFeaturesServer(s, &featuresService{methods: supportedMethods(opts.ServerVersion, opts.GossipHidden == "")})
	return nil
}

// minClientPingInterval is the shortest interval between a client's pings
// that the server lets pass (see ServerOptions).
const minClientPingInterval = 100 * time.Millisecond

// ServerOptions are the grpc.Server options the official clients need.
//
// Pings: the clients ping every 10 s by default, the Go clients even with no
// call open, and users may set keepAliveInterval far lower (the NodeJS
// client only warns below 10 s; .NET takes 1 s). EventStoreDB answers pings
// at any rate, while grpc-go's default enforcement, or any bound of seconds,
// answers them with GOAWAY (too_many_pings) and cuts their calls off; the
// bound here only stops a ping flood. On the node port these options come
// after the port's own, so this bound is the one that holds.
//
// Message size: a message may carry a whole append (a BatchAppend chunk is
// up to 3 MiB), which must arrive for the node to refuse it with
// maximum-append-size-exceeded rather than for gRPC to cut it off.
func ServerOptions(maxAppendSize int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minClientPingInterval, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(max(maxAppendSize, 0) + 4<<20),
	}
}
