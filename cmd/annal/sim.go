package main

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/check"
	"github.com/annal-db/annal/sim/cluster"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/scenario"
	"github.com/annal-db/annal/sim/workload"
)

func simCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(stderr, "annal sim: say `annal sim run` (flags: annal sim run -h)")
		return errUsage
	}
	return simRun(args[1:], stdout, stderr)
}

func simRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("annal sim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 0, "master seed (default: drawn at random and printed first)")
	nodes := fs.Int("nodes", 3, "cluster size")
	duration := fs.Duration("duration", time.Minute, "simulated time to run")
	loss := fs.Float64("loss", 0, "probability that one packet transmission is lost, in [0, 1)")
	latency := fs.Duration("latency", 250*time.Microsecond, "mean one-way network latency")
	jitter := fs.Duration("jitter", 0, "latency jitter (default: 40% of latency)")
	tracePath := fs.String("trace", "", "write the human-readable trace to this file")
	asJSON := fs.Bool("json", false, "print the report as one JSON object on stdout")
	scenarioPath := fs.String("scenario", "", "replay a scenario file (its nodes, options, network and timeline)")
	debug := fs.Bool("debug", false, "trace the nodes' debug log lines too")
	clients := fs.Int("clients", 0, "simulated clients appending to and reading shared streams (0: no workload)")
	rate := fs.Float64("rate", 100, "the clients' appends per second, all together")
	deletes := fs.Float64("deletes", 0, "the share of the clients' writes that delete their stream (soft deletes, one in ten a tombstone), from 0 to 1")
	metadata := fs.Float64("metadata", 0, "the share of the clients' writes that replace their stream's metadata (a $maxCount, or none), from 0 to 1")
	subscribers := fs.Int("subscribers", -1, fmt.Sprintf("catch-up subscribers checked against the committed log: the first follows $all, the others the clients' streams in turn, each on its own node; -1: %d with --clients, none without", workload.DefaultSubscribers))
	linHTML := fs.String("linearizability-html", "", "where to write porcupine's HTML view of a history found not linearizable (default: next to --trace)")
	linModel := fs.String("linearizability-model", "strict", "what histories are checked against: strict (expected revisions checked against the committed stream) or writer-view (rejections may be decided against a node's proposals in flight, as EventStoreDB decides)")
	linTimeout := fs.Duration("linearizability-timeout", 0, "bound on the linearizability check of one stream (0: none; a check that runs out says unknown)")
	var opts optionFlags
	fs.Var(&opts, "option", "set a node option for every node, Name=Value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	seedGiven, jitterGiven := false, false
	fs.Visit(func(f *flag.Flag) {
		seedGiven = seedGiven || f.Name == "seed"
		jitterGiven = jitterGiven || f.Name == "jitter"
	})
	if !seedGiven && *scenarioPath == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		*seed = binary.LittleEndian.Uint64(b[:]) >> 1
		fmt.Fprintf(stderr, "seed %d\n", *seed)
	}
	// Unset (or negative), jitter is 40% of latency. The flag's own default
	// is zero so that -h does not print a sentinel as the default.
	if !jitterGiven || *jitter < 0 {
		*jitter = *latency * 2 / 5
	}

	var cfg cluster.Config
	var sc *scenario.Scenario
	if *scenarioPath != "" {
		var err error
		if sc, err = scenario.Load(*scenarioPath); err != nil {
			return err
		}
		switch {
		case seedGiven:
		case sc.Seed != nil:
			*seed = *sc.Seed
		default:
			*seed = 1
		}
		cfg = cluster.FromScenario(sc, *seed)
	} else {
		cfg = cluster.Config{
			Seed: *seed, Nodes: *nodes, Duration: *duration,
			Link: network.LinkProfile{Latency: *latency, Jitter: *jitter, Loss: *loss},
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// A scenario's clients and rate hold unless the command line sets them.
	if given["clients"] || sc == nil {
		cfg.Clients = *clients
	}
	if given["rate"] || cfg.Rate == 0 {
		cfg.Rate = *rate
	}
	if given["deletes"] {
		cfg.Deletes = *deletes
	}
	if given["metadata"] {
		cfg.Metadata = *metadata
	}
	// A scenario's subscribers hold unless the command line sets them.
	if given["subscribers"] || sc == nil {
		n := *subscribers
		if n < 0 {
			n = 0
			if cfg.Clients > 0 {
				n = workload.DefaultSubscribers
			}
		}
		if n > workload.MaxSubscribers {
			fmt.Fprintf(stderr, "annal sim run: --subscribers %d; give at most %d\n", n, workload.MaxSubscribers)
			return errUsage
		}
		cfg.Subscribers = workload.DefaultSubscriberConfigs(n, cfg.Nodes, 0)
	}
	cfg.LinearizabilityTimeout = *linTimeout
	cfg.LinearizabilityModel = check.Model(*linModel)
	cfg.LinearizabilityHTML = *linHTML
	if cfg.LinearizabilityHTML == "" && *tracePath != "" {
		cfg.LinearizabilityHTML = *tracePath + ".linearizability.html"
	}
	if len(opts) > 0 {
		if cfg.Options == nil {
			cfg.Options = map[string]string{}
		}
		for k, v := range opts {
			cfg.Options[k] = v
		}
	}
	if *debug {
		cfg.LogLevel = env.LevelDebug
	} else {
		cfg.LogLevel = env.LevelInfo
	}
	if *tracePath != "" {
		f, err := os.Create(*tracePath)
		if err != nil {
			return err
		}
		defer f.Close()
		w := bufio.NewWriterSize(f, 1<<20)
		defer w.Flush()
		cfg.Trace = w
	}
	start := time.Now()
	lastPrint := start
	cfg.Progress = func(now time.Duration, events uint64) {
		if t := time.Now(); t.Sub(lastPrint) >= 3*time.Second {
			lastPrint = t
			fmt.Fprintf(stderr, "sim: %v of %v simulated, %d events, %.1fs wall\n",
				now.Truncate(time.Second), cfg.Duration, events, t.Sub(start).Seconds())
		}
	}
	c, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	rep := c.Run()
	if err := c.Err(); err != nil {
		return err
	}
	rep.WallSeconds = time.Since(start).Seconds()
	var failed []string
	if sc != nil {
		failed = rep.Check(sc.Expect)
	}
	if *asJSON {
		out := struct {
			*cluster.Report
			ExpectationsFailed []string `json:"expectations_failed,omitempty"`
		}{rep, failed}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep, failed)
	}
	// A scenario that states how many violations it expects is judged by
	// its expectations alone; otherwise any violation fails the run.
	expected := sc != nil && sc.Expect.Violations != nil
	if len(failed) > 0 || (len(rep.Violations) > 0 && !expected) {
		return exitCode(1)
	}
	return nil
}

func printReport(w io.Writer, r *cluster.Report, failed []string) {
	fmt.Fprintf(w, "seed %d, %d nodes, %.0f s simulated in %.2f s wall (%.0fx), %d events\n",
		r.Seed, r.Nodes, r.SimSeconds, r.WallSeconds, r.SimSeconds/max(r.WallSeconds, 1e-9), r.Events)
	fmt.Fprintf(w, "trace hash %s (%d records)\n", r.TraceHash, r.TraceRecords)
	fmt.Fprintf(w, "elections %d, leader changes %d, leader at end %q\n", r.Elections, r.LeaderChanges, r.LeaderAtEnd)
	t := r.TimeToLeader
	fmt.Fprintf(w, "time to leader: worst %.0f ms, median %.0f ms over %d, bound %.0f ms (worst/bound %.2f)\n",
		t.WorstMs, t.MedianMs, t.Samples, t.BoundMs, t.WorstOverBound)
	fmt.Fprintf(w, "failure detections: %d true, %d false; clock skew reports %d\n",
		r.TrueDetections, r.FalseDetections, r.ClockSkewEvents)
	printWorkload(w, r)
	printSubscribers(w, r)
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "violations: none")
	}
	for _, v := range r.Violations {
		fmt.Fprintln(w, "VIOLATION:", v)
	}
	for _, f := range failed {
		fmt.Fprintln(w, "EXPECTATION FAILED:", f)
	}
}

func printWorkload(w io.Writer, r *cluster.Report) {
	l := r.Checks.Log
	fmt.Fprintf(w, "committed log: %d records (%d events), %d applications compared\n", l.Records, l.Events, l.Applied)
	if r.Clients == 0 {
		return
	}
	fmt.Fprintf(w, "clients %d at %.0f appends/s: %d appends acknowledged (%d idempotent), %d reads\n",
		r.Clients, r.Rate, r.AppendsAcknowledged, r.AppendsIdempotent, r.Reads)
	keys := make([]string, 0, len(r.AppendsFailed))
	for k := range r.AppendsFailed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  appends failed, %s: %d\n", k, r.AppendsFailed[k])
	}
	if ws := r.Checks.Workload; ws != nil && ws.Deletes > 0 {
		fmt.Fprintf(w, "deletes and tombstones: %d settled, %d acknowledged\n", ws.Deletes, ws.DeletesAcknowledged)
	}
	if ws := r.Checks.Workload; ws != nil && ws.MetadataWrites > 0 {
		fmt.Fprintf(w, "metadata writes: %d settled, %d acknowledged\n", ws.MetadataWrites, ws.MetadataAcknowledged)
	}
	fmt.Fprintf(w, "acknowledged appends present at the end: %d on %d replica(s)", l.FinalAcks, l.FinalReplicas)
	if l.FinalSkipped != "" {
		fmt.Fprintf(w, " (end check skipped: %s)", l.FinalSkipped)
	}
	fmt.Fprintln(w)
	if lin := r.Checks.Linearizability; lin != nil {
		fmt.Fprintf(w, "linearizable: %v (%s, %s model; %d operations, %d pending, %d streams, checked in %.2f s)\n",
			r.Linearizable, lin.Result, lin.Model, lin.Operations, lin.Pending, lin.Streams, lin.Seconds)
		if lin.Visualization != "" {
			fmt.Fprintln(w, "linearizability view:", lin.Visualization)
		}
		if lin.VisualizationError != "" {
			fmt.Fprintln(w, "linearizability view not written:", lin.VisualizationError)
		}
	}
}

func printSubscribers(w io.Writer, r *cluster.Report) {
	ss, fs := r.Checks.Subscribers, r.Checks.Subscriptions
	if ss == nil || fs == nil {
		return
	}
	fmt.Fprintf(w, "subscribers %d: %d subscriptions started, %d dropped, %d events delivered and checked; fell behind %d times, caught up %d times\n",
		r.Subscribers, r.SubscriptionsStarted, r.SubscriptionsDropped, r.SubscriptionDeliveries, ss.FellBehind, ss.CaughtUp)
	for _, k := range sortedKeys(ss.Dropped) {
		fmt.Fprintf(w, "  subscriptions dropped, %s: %d\n", k, ss.Dropped[k])
	}
	for _, k := range sortedKeys(ss.Refused) {
		fmt.Fprintf(w, "  subscribe refused, %s: %d\n", k, ss.Refused[k])
	}
	fmt.Fprintf(w, "subscribers complete at the end: %d of %d", fs.Complete, fs.Feeds)
	if len(fs.Unsettled) > 0 {
		fmt.Fprintf(w, " (not settled, so not checked: %v)", fs.Unsettled)
	}
	fmt.Fprintln(w)
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// optionFlags collects --option Name=Value.
type optionFlags map[string]string

func (o *optionFlags) String() string { return "" }

func (o *optionFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("option %q: say Name=Value, e.g. GossipIntervalMs=1000", s)
	}
	if *o == nil {
		*o = optionFlags{}
	}
	(*o)[k] = v
	return nil
}
