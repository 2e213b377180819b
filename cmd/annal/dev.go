package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	noderuntime "github.com/annal-db/annal/realnet/runtime"
)

// The development cluster's layout: node i (from 0) has node port
// base+10i and replication port base-1001+10i, which with the default base
// gives EventStoreDB's usual local ports (2113/1112, 2123/1122, 2133/1132).
const (
	devNodes       = 3
	devPortStep    = 10
	devReplOffset  = 1001
	devDefaultBase = 2113
	devDefaultData = "annal-dev-data"
	// devSegmentBytes is the nodes' log segment size. Each node
	// preallocates a whole segment, and three of EventStoreDB's 256 MiB
	// chunks would reserve 768 MiB for a cluster that holds a few test
	// events.
	devSegmentBytes = 16 << 20
)

const devUsage = `Usage: annal dev [flags]

Runs a three-node insecure cluster on 127.0.0.1, in this process, for
development: node ports 2113, 2123 and 2133, replication ports 1112, 1122 and
1132. Prints the connection string and each node's role as it changes;
Ctrl-C stops it. The data stays in the data directory between runs; delete
it for a fresh cluster.

Flags:
`

// devNode is one member of the development cluster.
type devNode struct {
	name               string
	nodePort, replPort int
	dir, logPath       string
}

func devCommand(args []string, stdout, stderr io.Writer) error {
	return runDev(args, stdout, stderr, interruptContext)
}

func runDev(args []string, stdout, stderr io.Writer, interrupted func() (context.Context, context.CancelFunc)) error {
	fs := flag.NewFlagSet("annal dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.Int("base-port", devDefaultBase, fmt.Sprintf(
		"node port of n1; n2 and n3 take the next ones %d apart, and each replication port is %d lower", devPortStep, devReplOffset))
	data := fs.String("data", devDefaultData, "directory of the nodes' databases (n1, n2, n3) and logs (n1.log, ...)")
	verbose := fs.Bool("verbose", false, "write the nodes' logs to stderr instead of files in the data directory")
	fs.Usage = func() {
		fmt.Fprint(stderr, devUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "annal dev: unexpected argument %q; annal dev takes only flags (annal dev -h lists them)\n", fs.Arg(0))
		return errUsage
	}
	lo, hi := devReplOffset+1, 65535-devPortStep*(devNodes-1)
	if *base < lo || *base > hi {
		fmt.Fprintf(stderr, "annal dev: --base-port %d is out of range: it must be %d to %d, so that every node and replication port is a valid port\n", *base, lo, hi)
		return errUsage
	}
	root, err := filepath.Abs(*data)
	if err != nil {
		return fmt.Errorf("dev: data directory %s: %w", *data, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("dev: cannot create the data directory %s: %w; give another with --data", root, err)
	}

	nodes := make([]devNode, devNodes)
	var endpoints []string
	for i := range nodes {
		n := &nodes[i]
		n.name = "n" + strconv.Itoa(i+1)
		n.nodePort = *base + devPortStep*i
		n.replPort = n.nodePort - devReplOffset
		n.dir = filepath.Join(root, n.name)
		n.logPath = filepath.Join(root, n.name+".log")
		endpoints = append(endpoints, "127.0.0.1:"+strconv.Itoa(n.nodePort))
	}
	fmt.Fprintf(stdout, "annal dev: three insecure nodes on 127.0.0.1, data in %s\n", root)
	if !*verbose {
		fmt.Fprintf(stdout, "node logs: %s/{n1,n2,n3}.log\n", root)
	}
	fmt.Fprintf(stdout, "connection string: esdb://%s?tls=false\n", strings.Join(endpoints, ","))
	fmt.Fprintln(stdout, "press Ctrl-C to stop")

	ctx, stop := interrupted()
	defer stop()
	printer := &rolePrinter{w: stdout}
	var running []*noderuntime.Runtime
	var logs []*os.File
	defer func() {
		for _, f := range logs {
			_ = f.Close()
		}
	}()
	stopAll := func() error {
		errs := make([]error, len(running))
		var wg sync.WaitGroup
		for i, rt := range running {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = rt.Stop()
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	// Three runtimes share stderr with --verbose: whole lines, one at a time.
	sharedStderr := &lockedWriter{w: stderr}
	for i, n := range nodes {
		var logw io.Writer = sharedStderr
		if !*verbose {
			f, err := os.OpenFile(n.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				_ = stopAll()
				return fmt.Errorf("dev: node log %s: %w", n.logPath, err)
			}
			logs = append(logs, f)
			logw = f
		}
		opts, err := devOptions(nodes, i)
		if err != nil {
			_ = stopAll()
			return err
		}
		rt, err := noderuntime.Start(noderuntime.Config{
			Options:  opts,
			Name:     n.name,
			Log:      logw,
			Observer: printer.node(n.name),
			Settings: node.Settings{SegmentSize: devSegmentBytes},
		})
		if err != nil {
			_ = stopAll()
			return devStartError(n.name, err)
		}
		running = append(running, rt)
	}

	exited := make(chan struct{})
	var once sync.Once
	for _, rt := range running {
		go func() {
			select {
			case <-rt.Exited():
				once.Do(func() { close(exited) })
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping")
	case <-exited:
		fmt.Fprintln(stdout, "a node stopped by itself; stopping the others")
	}
	err = stopAll()
	if err == nil {
		fmt.Fprintln(stdout, "stopped")
	}
	return err
}

// devStartError explains a node that cannot start in the development
// cluster's terms: its flags, not the node options it sets for itself.
func devStartError(name string, err error) error {
	const beside = "to run another development cluster beside it, give it other ports (--base-port) and another directory (--data)"
	var bind *noderuntime.BindError
	var locked *noderuntime.LockedError
	switch {
	case errors.As(err, &bind) && errors.Is(err, env.ErrAddrInUse):
		return fmt.Errorf("dev: %s cannot listen on its %s %v: another process listens there (another annal dev?); stop it, or %s",
			name, bind.Port, bind.Endpoint, beside)
	case errors.As(err, &locked):
		holder := "another process"
		if locked.PID > 0 {
			holder = "process " + strconv.Itoa(locked.PID)
		}
		return fmt.Errorf("dev: %s cannot use %s: %s uses it (another annal dev?); stop it, or %s", name, locked.Dir, holder, beside)
	}
	return fmt.Errorf("dev: %s cannot start: %w", name, err)
}

// devOptions are node i's options: insecure, on loopback, seeded with the
// other two nodes.
func devOptions(nodes []devNode, i int) (*options.Values, error) {
	n := nodes[i]
	var seeds []string
	for j, o := range nodes {
		if j != i {
			seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(o.nodePort))
		}
	}
	v := options.Defaults()
	for _, s := range []struct {
		o *options.Option
		v string
	}{
		{options.Insecure, "true"},
		{options.NodeIp, "127.0.0.1"},
		{options.ReplicationIp, "127.0.0.1"},
		{options.NodePort, strconv.Itoa(n.nodePort)},
		{options.ReplicationPort, strconv.Itoa(n.replPort)},
		{options.ClusterSize, strconv.Itoa(len(nodes))},
		{options.GossipSeed, strings.Join(seeds, ",")},
		{options.DiscoverViaDns, "false"},
		{options.Db, n.dir},
	} {
		if err := v.Set(s.o, s.v, options.SourceCommandLine); err != nil {
			return nil, fmt.Errorf("dev: %s: %w", n.name, err)
		}
	}
	return v, nil
}

// rolePrinter prints each node's state changes, one line each: the epoch
// for a node that leads or has no leader, the leader a replica follows
// (its own epoch lags until the leader's epoch record reaches it). The
// three nodes' loops call it concurrently.
type rolePrinter struct {
	mu    sync.Mutex
	w     io.Writer
	names map[member.ID]string // instance ids are new at every start
}

func (p *rolePrinter) node(name string) env.Observer { return roleObserver{p: p, name: name} }

type roleObserver struct {
	p    *rolePrinter
	name string
}

func (o roleObserver) Observe(e env.Event) {
	sc, ok := e.(node.StateChanged)
	if !ok {
		return
	}
	p := o.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.names == nil {
		p.names = make(map[member.ID]string)
	}
	p.names[sc.ID] = o.name
	detail := "no epoch yet"
	if sc.Epoch >= 0 {
		detail = "epoch " + strconv.Itoa(int(sc.Epoch))
	}
	if following(sc.State) && !sc.Leader.IsZero() {
		leader, known := p.names[sc.Leader]
		if !known {
			leader = sc.Leader.Short()
		}
		detail = "leader " + leader
	}
	fmt.Fprintf(p.w, "%s %v (%s)\n", o.name, sc.State, detail)
}

// following: a state in which a node replicates from a leader.
func following(s member.State) bool {
	return s.IsReplica() || s == member.PreReplica || s == member.PreReadOnlyReplica
}

// lockedWriter serialises Writes to a writer that may not take concurrent
// ones.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
