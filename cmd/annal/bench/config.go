package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode is what a run measures.
type Mode string

const (
	ModeAppend   Mode = "append"
	ModeRead     Mode = "read"
	ModeFailover Mode = "failover"
)

// ReadFrom is what read mode reads.
type ReadFrom string

const (
	FromStream ReadFrom = "stream" // one stream of known length, at random revisions
	FromAll    ReadFrom = "all"    // $all, page after page, from the start again at its end
)

// Config is one run. ParseArgs fills it from the command line and checks
// it; Run checks it again, so that a Config built in code gets the same
// errors.
type Config struct {
	Mode Mode
	// Endpoints are the nodes' client endpoints (host:port) to discover
	// the leader from.
	Endpoints []string
	// Clients are the concurrent callers (append and read; failover has
	// one writer).
	Clients int
	// Conns are the gRPC connections the clients share, round robin; 0
	// means min(Clients, 16).
	Conns int
	// Streams are the streams appended to: client i appends to stream
	// i mod Streams; 0 means one stream per client.
	Streams int
	// Size is each event's data size in bytes.
	Size int
	// Dur bounds the measured part of the run; Max bounds its operations
	// (attempts, failed ones included).
	Dur time.Duration
	Max int64
	// OpTimeout is each call's deadline; 0 means DefaultOpTimeout, or
	// DefaultFailoverOpTimeout in failover mode.
	OpTimeout time.Duration
	// Wait bounds the search for a leader before the run starts.
	Wait time.Duration

	// Read mode: From, Count events per read, Events in the stream read
	// (written before the run; for $all, at least that many are there).
	From   ReadFrom
	Count  int
	Events int

	// Failover mode: a write every Interval; KillAfter into the run the
	// leader's process (looked up in PIDs by endpoint) gets Signal.
	Interval  time.Duration
	KillAfter time.Duration
	Signal    Signal
	PIDs      map[string]int

	// Progress is how often a progress line goes to the progress writer;
	// 0 means never.
	Progress time.Duration
}

// Defaults and bounds of the flags.
const (
	DefaultEndpoints         = "127.0.0.1:2113,127.0.0.1:2123,127.0.0.1:2133"
	DefaultOpTimeout         = 5 * time.Second
	DefaultFailoverOpTimeout = 250 * time.Millisecond
	DefaultMax               = 2_000_000

	maxClients   = 1024
	maxOps       = 10_000_000 // a latency sample each: 80 MB at most
	maxDur       = 24 * time.Hour
	maxTimeout   = 10 * time.Minute
	maxSize      = 15 << 20 // the largest MaxAppendSize a node accepts
	maxCount     = 10_000
	maxEvents    = 1_000_000
	maxInterval  = time.Minute
	defaultConns = 16
)

// ErrUsage marks a command-line mistake; the message printed before it
// says what to do.
var ErrUsage = errors.New("usage")

// UsageError is a command-line mistake, described so that it can be
// corrected.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

const usageText = `Usage: annal bench append|read|failover [flags]

Drives a running annal cluster through the client gRPC API and prints one
line of key=value figures on stdout (progress on stderr).

  append    -clients callers append one -size byte event per Append call,
            back to back, for -dur (at most -max calls), to the leader
  read      -clients callers read -count events per Read call from a stream
            of -events events (-from stream) or page through $all (-from all)
  failover  one writer appends every -interval with -op-timeout; after
            -kill-after the leader's process (from -pidmap) gets -signal;
            reports the gap from the signal to the next acknowledged append

Flags:
`

// modeFlags lists the flags that mean something only in some modes; a
// flag not listed applies to every mode.
var modeFlags = map[string][]Mode{
	"clients":    {ModeAppend, ModeRead},
	"conns":      {ModeAppend, ModeRead},
	"streams":    {ModeAppend},
	"from":       {ModeRead},
	"count":      {ModeRead},
	"events":     {ModeRead},
	"interval":   {ModeFailover},
	"kill-after": {ModeFailover},
	"signal":     {ModeFailover},
	"pidmap":     {ModeFailover},
}

// ParseArgs reads `annal bench MODE [flags]`. -h prints the usage to
// stderr and returns flag.ErrHelp; mistakes return a *UsageError.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("annal bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	endpoints := fs.String("endpoints", DefaultEndpoints, "the nodes' client endpoints, host:port,... (an esdb:// connection string works too); the leader is found from their gossip")
	clients := fs.Int("clients", 1, "append, read: concurrent callers")
	conns := fs.Int("conns", 0, fmt.Sprintf("append, read: gRPC connections the callers share (0: min(clients, %d))", defaultConns))
	streams := fs.Int("streams", 0, "append: streams written, caller i to stream i mod streams (0: one per caller)")
	size := fs.Int("size", 256, "bytes of data per event")
	dur := fs.Duration("dur", 10*time.Second, "how long the measured part runs")
	maxOpsFlag := fs.Int64("max", DefaultMax, "most calls the measured part makes, failed ones included")
	opTimeout := fs.Duration("op-timeout", 0, fmt.Sprintf("deadline of each call (0: %v, in failover mode %v)", DefaultOpTimeout, DefaultFailoverOpTimeout))
	wait := fs.Duration("wait", 30*time.Second, "how long to look for a leader before the run")
	from := fs.String("from", string(FromStream), "read: stream (one stream of -events events, at random revisions) or all ($all, page after page)")
	count := fs.Int("count", 1, "read: events asked for per Read call")
	events := fs.Int("events", 1000, "read: events written before the run into the stream read")
	interval := fs.Duration("interval", 10*time.Millisecond, "failover: time between two writes")
	killAfter := fs.Duration("kill-after", 3*time.Second, "failover: when, into the run, the leader gets the signal")
	signal := fs.String("signal", "KILL", "failover: KILL (the process dies) or STOP (it freezes; it is sent CONT at the end)")
	pidmap := fs.String("pidmap", "", "failover: endpoint=pid,... for every node, to find the leader's process")
	progress := fs.Duration("progress", time.Second, "time between progress lines on stderr (0: none)")

	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fs.Usage()
		if len(args) == 0 {
			return Config{}, usagef("no mode given: the first argument must be append, read or failover")
		}
		return Config{}, flag.ErrHelp
	}
	mode := Mode(args[0])
	if !slices.Contains([]Mode{ModeAppend, ModeRead, ModeFailover}, mode) {
		return Config{}, usagef("unknown mode %q: the first argument must be append, read or failover (annal bench -h explains them)", args[0])
	}

	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, flag.ErrHelp
		}
		// The flag package has printed what was wrong.
		return Config{}, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return Config{}, usagef("unexpected argument %q: annal bench takes the mode, then only flags (annal bench -h lists them)", fs.Arg(0))
	}
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		if modes, ok := modeFlags[f.Name]; ok && !slices.Contains(modes, mode) && misplaced == nil {
			misplaced = usagef("-%s has no effect in %s mode; it applies to %s", f.Name, mode, joinModes(modes))
		}
	})
	if misplaced != nil {
		return Config{}, misplaced
	}

	cfg := Config{
		Mode: mode, Clients: *clients, Conns: *conns, Streams: *streams, Size: *size,
		Dur: *dur, Max: *maxOpsFlag, OpTimeout: *opTimeout, Wait: *wait,
		From: ReadFrom(*from), Count: *count, Events: *events,
		Interval: *interval, KillAfter: *killAfter, Progress: *progress,
	}
	var err error
	if cfg.Endpoints, err = ParseEndpoints(*endpoints); err != nil {
		return Config{}, usagef("-endpoints: %v", err)
	}
	if mode == ModeFailover {
		if cfg.Signal, err = ParseSignal(*signal); err != nil {
			return Config{}, usagef("-signal: %v", err)
		}
		if cfg.PIDs, err = ParsePIDMap(*pidmap); err != nil {
			return Config{}, usagef("-pidmap: %v", err)
		}
	}
	if err := cfg.Check(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func joinModes(modes []Mode) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, " and ")
}

// Check reports the first setting out of its bounds, as a *UsageError
// naming the flag.
func (c *Config) Check() error {
	switch {
	case len(c.Endpoints) == 0:
		return usagef("-endpoints is empty: give the nodes' client endpoints, host:port,...")
	case c.Dur <= 0 || c.Dur > maxDur:
		return usagef("-dur %v is out of range: give more than 0 and at most %v", c.Dur, maxDur)
	case c.Max < 1 || c.Max > maxOps:
		return usagef("-max %d is out of range: give 1 to %d", c.Max, maxOps)
	case c.OpTimeout < 0 || c.OpTimeout > maxTimeout:
		return usagef("-op-timeout %v is out of range: give 0 (the default) to %v", c.OpTimeout, maxTimeout)
	case c.Wait <= 0 || c.Wait > maxTimeout:
		return usagef("-wait %v is out of range: give more than 0 and at most %v", c.Wait, maxTimeout)
	case c.Size < 0 || c.Size > maxSize:
		return usagef("-size %d is out of range: give 0 to %d bytes (and at most the cluster's MaxAppendSize)", c.Size, maxSize)
	case c.Progress < 0:
		return usagef("-progress %v is negative: give a period, or 0 for no progress lines", c.Progress)
	}
	switch c.Mode {
	case ModeAppend, ModeRead:
		switch {
		case c.Clients < 1 || c.Clients > maxClients:
			return usagef("-clients %d is out of range: give 1 to %d", c.Clients, maxClients)
		case c.Conns < 0 || c.Conns > c.Clients:
			return usagef("-conns %d is out of range: give 0 (min(clients, %d)) to -clients (%d); a connection no caller uses measures nothing", c.Conns, defaultConns, c.Clients)
		case c.Mode == ModeAppend && (c.Streams < 0 || c.Streams > c.Clients):
			return usagef("-streams %d is out of range: give 0 (one per caller) to -clients (%d)", c.Streams, c.Clients)
		}
		if c.Mode == ModeRead {
			return c.checkRead()
		}
		return nil
	case ModeFailover:
		return c.checkFailover()
	}
	return usagef("unknown mode %q: use append, read or failover", c.Mode)
}

func (c *Config) checkRead() error {
	switch {
	case c.From != FromStream && c.From != FromAll:
		return usagef("-from %q: give stream or all", c.From)
	case c.Count < 1 || c.Count > maxCount:
		return usagef("-count %d is out of range: give 1 to %d", c.Count, maxCount)
	case c.Events < 1 || c.Events > maxEvents:
		return usagef("-events %d is out of range: give 1 to %d", c.Events, maxEvents)
	case c.From == FromStream && c.Events < c.Count:
		return usagef("-events %d is fewer than -count %d: every read of the stream must find -count events", c.Events, c.Count)
	}
	return nil
}

func (c *Config) checkFailover() error {
	switch {
	case c.Interval < time.Millisecond || c.Interval > maxInterval:
		return usagef("-interval %v is out of range: give 1ms to %v", c.Interval, maxInterval)
	case c.KillAfter <= 0 || c.KillAfter >= c.Dur:
		return usagef("-kill-after %v must be more than 0 and less than -dur (%v), so that writes go on after the signal", c.KillAfter, c.Dur)
	case c.Signal != SignalKill && c.Signal != SignalStop:
		return usagef("-signal %q: give KILL or STOP", c.Signal)
	case len(c.PIDs) == 0:
		return usagef("-pidmap is empty: give endpoint=pid for every node (host:port as in -endpoints)")
	}
	return nil
}

// opTimeout is the effective per-call deadline.
func (c *Config) opTimeout() time.Duration {
	switch {
	case c.OpTimeout > 0:
		return c.OpTimeout
	case c.Mode == ModeFailover:
		return DefaultFailoverOpTimeout
	}
	return DefaultOpTimeout
}

// conns is the effective number of connections.
func (c *Config) conns() int {
	if c.Mode == ModeFailover {
		return 1
	}
	if c.Conns > 0 {
		return c.Conns
	}
	return min(c.Clients, defaultConns)
}

// ParseEndpoints reads host:port,... or an esdb:// connection string
// (esdb://host:port,host:port?tls=false; user and query are ignored).
func ParseEndpoints(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	for _, scheme := range []string{"esdb+discover://", "esdb://", "kurrentdb+discover://", "kurrentdb://", "kdb://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			if at := strings.LastIndexByte(s, '@'); at >= 0 {
				s = s[at+1:]
			}
			break
		}
	}
	s, _, _ = strings.Cut(s, "?")
	if s == "" {
		return nil, errors.New("no endpoint given: give host:port,...")
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		ep, err := NormalizeEndpoint(part)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, ep) {
			return nil, fmt.Errorf("endpoint %s is given twice", ep)
		}
		out = append(out, ep)
	}
	return out, nil
}

// NormalizeEndpoint reads one endpoint, host:port with an optional
// http:// prefix and trailing slash, and returns it as host:port.
func NormalizeEndpoint(s string) (string, error) {
	t := strings.TrimSpace(s)
	for _, scheme := range []string{"http://", "https://"} {
		if len(t) >= len(scheme) && strings.EqualFold(t[:len(scheme)], scheme) {
			t = t[len(scheme):]
		}
	}
	t = strings.TrimSuffix(t, "/")
	host, port, err := net.SplitHostPort(t)
	if err != nil || host == "" {
		return "", fmt.Errorf("endpoint %q is not host:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("endpoint %q has port %q; give 1 to 65535", s, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// ParsePIDMap reads endpoint=pid,... (the endpoints as NormalizeEndpoint
// reads them, so that perfkit's http://host:port=pid form works too).
func ParsePIDMap(s string) (map[string]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty: give endpoint=pid for every node, like 127.0.0.1:2113=4242,127.0.0.1:2123=4243")
	}
	pids := make(map[string]int)
	for _, entry := range strings.Split(s, ",") {
		ep, p, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok {
			return nil, fmt.Errorf("entry %q is not endpoint=pid", entry)
		}
		norm, err := NormalizeEndpoint(ep)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %v", entry, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || pid < 2 {
			// 0 and negative pids signal process groups, 1 is init:
			// never what a node is.
			return nil, fmt.Errorf("entry %q: pid %q is not a process id above 1", entry, p)
		}
		if _, dup := pids[norm]; dup {
			return nil, fmt.Errorf("endpoint %s is given twice", norm)
		}
		pids[norm] = pid
	}
	return pids, nil
}

// Signal is what failover mode sends the leader's process.
type Signal string

const (
	SignalKill Signal = "SIGKILL" // the process dies at once
	SignalStop Signal = "SIGSTOP" // the process freezes until SIGCONT
)

// ParseSignal reads KILL or STOP (with or without SIG, any case).
func ParseSignal(s string) (Signal, error) {
	switch strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG") {
	case "KILL":
		return SignalKill, nil
	case "STOP":
		return SignalStop, nil
	}
	return "", fmt.Errorf("%q is neither KILL nor STOP", s)
}
