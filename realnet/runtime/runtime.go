package runtime

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/clientapi"
	"github.com/annal-db/annal/realnet/clock"
	"github.com/annal-db/annal/realnet/disk"
	"github.com/annal-db/annal/realnet/loop"
	"github.com/annal-db/annal/realnet/netstack"
	"github.com/annal-db/annal/realnet/tlsconfig"
	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
)

// Config is one node to run.
type Config struct {
	// Options are the node's options (realnet/config loads them). Start
	// works on a copy; NodePort and ReplicationPort may be 0 (any free
	// port; NodeEndpoint and ReplicationEndpoint report the bound ones).
	Options *options.Values
	// Name labels the node's log lines. Empty: its node endpoint as bound.
	Name string
	// Log receives the log lines (default os.Stderr). The runtime
	// serialises its own writes; a writer shared by several runtimes must
	// take whole concurrent Writes (an *os.File does).
	Log io.Writer
	// Observer, when set, sees every event the node reports, on the node's
	// loop, after the runtime's own observer.
	Observer env.Observer
	// Settings go to node.New (the log's segment size).
	Settings node.Settings
	// Net tunes the network stack. Its Log defaults to the node's logger,
	// its keepalive settings to the KeepAliveInterval and KeepAliveTimeout
	// options.
	Net netstack.Options
	// Disk tunes the disk's workers and bounds.
	Disk disk.Options
	// DrainTimeout bounds how long Stop waits for the disk operations the
	// node issued before it stopped (default DefaultDrainTimeout).
	DrainTimeout time.Duration
}

// DefaultDrainTimeout is Config.DrainTimeout's default: generous, because
// a sync on a busy disk can take seconds and cutting it short gains
// nothing a restart would not redo.
const DefaultDrainTimeout = 10 * time.Second

// Runtime is one running node and the drivers it runs on.
type Runtime struct {
	dir   string
	memDb bool
	log   *lineLogger
	drain time.Duration

	loop  *loop.Loop
	clock *clock.Clock
	disk  *disk.Disk
	cdisk *countingDisk
	net   *netstack.Stack
	port  *netstack.NodePort
	repl  env.Listener
	lock  *dirLock

	node   *node.Node  // touched only on the loop
	client *clientNode // the node as the client API calls it
	api    *runtimeAPI // the HTTP API on the node port (httpapi.go)

	mu          sync.Mutex
	status      Status
	fatalReason string
	exitCode    int
	hasExited   bool

	exited   chan struct{} // closed when the node calls env.Exit
	exitOnce sync.Once
	stopOnce sync.Once
	stopErr  error
}

// Run starts the node and runs it until ctx ends (then stops it
// gracefully and returns nil) or the node stops by itself (then it returns
// an *ExitError, or nil for an exit with code 0). Errors before the node
// starts (a locked directory, a port in use) are returned as they are.
func Run(ctx context.Context, cfg Config) error {
	r, err := Start(cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-r.Exited():
	}
	return r.Stop()
}

// Start builds the node's drivers, binds its two ports, and starts the
// node on its loop. It returns once the ports are bound; the node opens
// its database and joins the cluster from there on. The caller must Stop
// the runtime.
func Start(cfg Config) (*Runtime, error) {
	if cfg.Options == nil {
		return nil, errors.New("runtime: Config.Options is nil; load the node's options with realnet/config, or start from options.Defaults()")
	}
	opts := cfg.Options.Clone()
	// A secure node's certificates and users (security.go), checked
	// before anything is acquired; nil for an insecure node.
	sec, err := newSecurity(opts, tlsconfig.Inputs{})
	if err != nil {
		return nil, err
	}
	if cfg.DrainTimeout < 0 {
		return nil, fmt.Errorf("runtime: DrainTimeout is %v; use a positive duration, or 0 for the default (%v)", cfg.DrainTimeout, DefaultDrainTimeout)
	}
	w := cfg.Log
	if w == nil {
		w = os.Stderr
	}
	name := cfg.Name
	nodeEp := env.Endpoint{Host: opts.IP(options.NodeIp).String(), Port: opts.Port(options.NodePort)}
	replEp := env.Endpoint{Host: opts.IP(options.ReplicationIp).String(), Port: opts.Port(options.ReplicationPort)}
	if name == "" {
		name = nodeEp.String()
	}
	r := &Runtime{
		log:    &lineLogger{w: w, name: name, min: levelOf(opts)},
		drain:  orDefault(cfg.DrainTimeout, DefaultDrainTimeout),
		exited: make(chan struct{}),
		status: Status{State: member.Initializing, Epoch: -1},
	}
	r.client = newClientNode(r, opts)
	ok := false
	defer func() {
		if !ok {
			r.closeAll()
		}
	}()

	if r.dir, r.memDb, err = databaseDir(opts); err != nil {
		return nil, err
	}
	if r.lock, err = lockDir(r.dir); err != nil {
		return nil, err
	}
	r.loop = loop.New(name, 0)
	r.clock = clock.New(clockwork.NewRealClock(), r.loop)
	if r.disk, err = disk.Open(r.dir, r.loop, cfg.Disk); err != nil {
		return nil, err
	}
	r.cdisk = newCountingDisk(r.disk)
	no := cfg.Net
	if no.Log == nil {
		no.Log = r.log
	}
	if no.KeepAliveInterval == 0 {
		no.KeepAliveInterval = durationOrOff(opts, options.KeepAliveInterval)
	}
	if no.KeepAliveTimeout == 0 {
		no.KeepAliveTimeout = durationOrOff(opts, options.KeepAliveTimeout)
	}
	// The client API's limits: a receive size that lets an append over
	// MaxAppendSize arrive and be refused by name, not cut off by gRPC.
	no.GRPCServerOptions = append(no.GRPCServerOptions, clientapi.ServerOptions(int(opts.Int(options.MaxAppendSize)))...)
	// The HTTP API (realnet/httpapi, wired in httpapi.go): /info,
	// /health/live, /stats, /metrics, the exposure switches and HTTP
	// limits in front of the port's routes; gRPC calls counted.
	if r.api, err = newRuntimeAPI(r, opts, sec); err != nil {
		return nil, err
	}
	if inner := no.WrapHTTP; inner != nil {
		no.WrapHTTP = func(h http.Handler) http.Handler { return r.api.Wrap(inner(h)) }
	} else {
		no.WrapHTTP = r.api.Wrap
	}
	no.GRPCServerOptions = append(no.GRPCServerOptions, r.api.GRPCServerOptions()...)
	if err := r.mountAtomPub(opts, sec); err != nil { // /streams (atompub.go)
		return nil, err
	}
	// Connection limits, then TLS and credentials (security.go).
	applyLimits(opts, &no)
	sec.apply(&no)
	if no.GRPCServices == nil {
		no.GRPCServices = func(s grpc.ServiceRegistrar) {
			logf := func(format string, args ...any) { r.log.logf(env.LevelWarn, format, args...) }
			// Only invalid options fail, and these are fixed.
			if err := clientapi.Register(s, r.api.CountNode(r.client), clientapi.Options{Logf: logf, GossipHidden: r.api.Exposure().Gossip, Authorize: sec.authorizer(), AuthorizeGossip: sec.gossipAuthorizer()}); err != nil {
				panic(err)
			}
		}
	}
	if r.net, err = netstack.New(r.loop, no); err != nil {
		return nil, err
	}

	// Bind both ports before the node runs: a port in use is a start-up
	// error the operator sees at once, and port 0 becomes a real port the
	// node can advertise.
	rt := &router{}
	if r.repl, err = r.net.Listen(replEp, rt.acceptConn); err != nil {
		return nil, &BindError{Port: "replication port", Endpoint: replEp, IPOption: options.ReplicationIp, PortOption: options.ReplicationPort, Err: err}
	}
	if r.port, err = r.net.ServeNode(nodeEp, rt); err != nil {
		be := &BindError{Port: "node port", Endpoint: nodeEp, IPOption: options.NodeIp, PortOption: options.NodePort, Err: err}
		if overlaps(nodeEp, r.repl.Addr()) {
			be.Own = options.ReplicationPort
		}
		return nil, be
	}
	for _, p := range []struct {
		o     *options.Option
		bound uint16
	}{{options.NodePort, r.port.Addr().Port}, {options.ReplicationPort, r.repl.Addr().Port}} {
		if err := opts.Set(p.o, strconv.Itoa(int(p.bound)), opts.Source(p.o)); err != nil {
			return nil, fmt.Errorf("runtime: recording the bound %s: %w", p.o.Name, err)
		}
	}
	r.port.HandleHTTP("GET /gossip", clientapi.GossipHandler(r.client))
	r.api.publish(r.port)
	if cfg.Name == "" {
		r.log.setName(r.port.Addr().String())
	}

	e := env.Env{
		Clock:    r.clock,
		Net:      r.api.CountConnections(&nodeNet{Stack: r.net, port: r.port, repl: r.repl, router: rt}),
		Disk:     r.api.TimeDisk(r.cdisk),
		Rand:     newRand(),
		Log:      r.log,
		Observer: observer{r: r, next: r.api.Observer(cfg.Observer)},
		Exit:     r.exit,
	}
	if r.memDb {
		r.log.logf(env.LevelWarn, "MemDb: the database is kept in the temporary directory %s and deleted when the node stops", r.dir)
	}
	r.log.logf(env.LevelInfo, "starting: database %s, node port %v, replication port %v, cluster size %d",
		r.dir, r.port.Addr(), r.repl.Addr(), opts.Int(options.ClusterSize))
	sec.logStart(r.log)
	settings := cfg.Settings
	sec.watchACLs(&settings)
	if err := r.loop.Post(func() {
		r.node = node.New(e, opts, settings)
		r.node.Start()
	}); err != nil {
		return nil, fmt.Errorf("runtime: starting the node: %w", err)
	}
	ok = true
	return r, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// databaseDir is where the node's files go: the Db option's directory, or
// a new temporary one with MemDb.
func databaseDir(opts *options.Values) (dir string, temporary bool, err error) {
	if opts.Bool(options.MemDb) {
		dir, err := os.MkdirTemp("", "annal-memdb-")
		if err != nil {
			return "", false, fmt.Errorf("MemDb: cannot create a temporary directory for the database: %w", err)
		}
		return dir, true, nil
	}
	db := opts.String(options.Db)
	if db == "" {
		return "", false, errors.New("the database directory (Db, --db) is empty; give a directory, or use --mem-db for a throwaway database")
	}
	dir, err = filepath.Abs(db)
	if err != nil {
		return "", false, fmt.Errorf("database directory %s (Db): %w", db, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("cannot create the database directory %s (Db): %w; create it, or give another with --db", dir, err)
	}
	return dir, false, nil
}

func durationOrOff(opts *options.Values, o *options.Option) time.Duration {
	if opts.Disabled(o) {
		return -1
	}
	return opts.Duration(o)
}

// newRand seeds the node's generator from the operating system. Production
// runs are not replayed, so the seed is not kept.
func newRand() env.Rand {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails: crypto/rand crashes the program instead
	return mrand.NewChaCha8(seed)
}

// Name labels the node's log lines.
func (r *Runtime) Name() string { return r.log.nodeName() }

// Dir is the database directory (the temporary one with MemDb).
func (r *Runtime) Dir() string { return r.dir }

// NodeEndpoint is the node port as bound.
func (r *Runtime) NodeEndpoint() env.Endpoint { return r.port.Addr() }

// ReplicationEndpoint is the replication port as bound.
func (r *Runtime) ReplicationEndpoint() env.Endpoint { return r.repl.Addr() }

// Status is what the node last reported about itself.
func (r *Runtime) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Exited is closed when the node stops by itself (env.Exit). Stop must
// still be called to release the drivers; it returns the *ExitError.
func (r *Runtime) Exited() <-chan struct{} { return r.exited }

// exit is env.Exit. It runs on the loop, inside the node's input: stopping
// the loop from there drops every queued input, so the node runs nothing
// more, as after os.Exit; Stop does the rest.
func (r *Runtime) exit(code int) {
	r.exitOnce.Do(func() {
		r.mu.Lock()
		r.exitCode, r.hasExited = code, true
		r.mu.Unlock()
		r.loop.Stop()
		close(r.exited)
	})
}

// Stop stops the node and its drivers, and waits for them. When the node
// is running: stop accepting connections, Stop the node on its loop, stop
// timers and the network, wait for the disk operations it issued, close
// the disk, release the directory. When the node exited by itself, only
// the drivers are closed, and Stop returns the *ExitError (nil for code
// 0). Stop may be called more than once; later calls return the first
// result. It must not be called on the node's loop (from an Observer, say),
// since it waits for the loop.
func (r *Runtime) Stop() error {
	if r.loop.OnLoop() {
		panic("runtime: Stop called on the node's own loop would wait for itself; call it from another goroutine")
	}
	r.stopOnce.Do(func() { r.stopErr = r.shutdown() })
	return r.stopErr
}

func (r *Runtime) shutdown() error {
	graceful := true
	select {
	case <-r.exited:
		graceful = false
	default:
	}
	if graceful {
		r.log.Log(env.LevelInfo, "stopping")
		// Stop accepting first, so nothing new arrives while the node
		// winds down.
		r.port.Close()
		r.repl.Close()
		r.onLoop(func() {
			if r.node != nil {
				r.node.Stop()
			}
		})
	}
	r.clock.Close()
	r.net.Close()
	if graceful {
		r.drainDisk()
	}
	r.loop.Stop()
	if err := r.disk.Close(); err != nil {
		r.log.logf(env.LevelWarn, "closing the database files: %v", err)
	}
	r.lock.release()
	if r.memDb {
		if err := os.RemoveAll(r.dir); err != nil {
			r.log.logf(env.LevelWarn, "MemDb: removing the temporary directory %s: %v", r.dir, err)
		}
	}

	r.mu.Lock()
	exited, code, reason := r.hasExited, r.exitCode, r.fatalReason
	r.mu.Unlock()
	if exited && code != 0 {
		return &ExitError{Node: r.Name(), Dir: r.dir, Code: code, Reason: reason}
	}
	r.log.Log(env.LevelInfo, "stopped")
	return nil
}

// onLoop runs f on the loop and waits for it, unless the loop stops first
// (the node exited meanwhile).
func (r *Runtime) onLoop(f func()) {
	done := make(chan struct{})
	if r.loop.Post(func() { f(); close(done) }) != nil {
		return
	}
	select {
	case <-done:
	case <-r.loop.Done():
	}
}

// drainDisk waits until every disk operation the node issued has
// completed on the loop, or DrainTimeout has passed.
func (r *Runtime) drainDisk() {
	if r.cdisk.pending.Load() == 0 {
		return
	}
	timeout := time.NewTimer(r.drain)
	defer timeout.Stop()
	for r.cdisk.pending.Load() > 0 {
		select {
		case <-r.cdisk.drained:
		case <-r.loop.Done():
			return
		case <-timeout.C:
			r.log.logf(env.LevelWarn, "%d disk operations still in flight after %v; closing the database files without waiting for them",
				r.cdisk.pending.Load(), r.drain)
			return
		}
	}
}

// closeAll releases whatever a failed Start had acquired.
func (r *Runtime) closeAll() {
	if r.port != nil {
		r.port.Close()
	}
	if r.repl != nil {
		r.repl.Close()
	}
	if r.net != nil {
		r.net.Close()
	}
	if r.clock != nil {
		r.clock.Close()
	}
	if r.loop != nil {
		r.loop.Stop()
	}
	if r.disk != nil {
		_ = r.disk.Close()
	}
	r.lock.release()
	if r.memDb && r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

// overlaps says whether two endpoints claim the same port on one address: a
// listener on the unspecified address holds the port on every address.
func overlaps(a, b env.Endpoint) bool {
	if a.Port == 0 || a.Port != b.Port {
		return false
	}
	unspecified := func(h string) bool {
		ip, err := netip.ParseAddr(h)
		return err == nil && ip.IsUnspecified()
	}
	return a.Host == b.Host || unspecified(a.Host) || unspecified(b.Host)
}
