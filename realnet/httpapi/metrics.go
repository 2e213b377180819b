package httpapi

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/annal-db/annal/core/member"
)

// Metric names. EventStoreDB's (24.10, the version the node reports) where
// it has the same measure, annal_* for the rest. Counters keep
// EventStoreDB's names, which have no _total suffix.
const (
	metricElections         = "eventstore_elections_count"
	metricIOEvents          = "eventstore_io_events"
	metricIOBytes           = "eventstore_io_bytes"
	metricGRPCCurrent       = "eventstore_current_incoming_grpc_calls"
	metricGRPCCalls         = "eventstore_incoming_grpc_calls"
	metricGRPCDuration      = "eventstore_grpc_method_duration_seconds"
	metricCheckpoints       = "eventstore_checkpoints"
	metricStatuses          = "eventstore_statuses"
	metricKestrel           = "eventstore_kestrel_connections"
	metricSysDisk           = "eventstore_sys_disk_bytes"
	metricUpTime            = "eventstore_proc_up_time"
	metricAppends           = "annal_appends_total"
	metricHeartbeatTimeouts = "annal_heartbeat_timeouts_total"
	metricClockSkews        = "annal_clock_skew_events_total"
	metricTruncations       = "annal_truncations_total"
	metricHTTPRequests      = "annal_http_requests_total"
	metricSyncDuration      = "annal_disk_sync_duration_seconds"
	metricSyncRequests      = "annal_disk_sync_requests_total"
	metricFsyncs            = "annal_disk_fsyncs_total"
	metricDirSyncs          = "annal_disk_dir_syncs_total"
	metricDBSize            = "annal_db_size_bytes"
	metricLoopQueue         = "annal_loop_queue_length"
	metricLoopCapacity      = "annal_loop_queue_capacity"
	metricConnections       = "annal_connections"
	metricAccepted          = "annal_connections_accepted_total"
	metricNodePortConns     = "annal_node_port_connections_total"
	metricReplAcked         = "annal_replication_acknowledged_position"
	metricReplLag           = "annal_replication_lag_bytes"
	metricReplicas          = "annal_replicas"
	metricEpoch             = "annal_epoch"
	metricNodeStatsMissed   = "annal_node_stats_unavailable_total"
)

// metrics holds the API's counters and its Prometheus registry. Each node
// has its own registry, so several nodes in one process (tests, annal
// dev) never share a series.
type metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	elections, heartbeatTimeouts, clockSkews, truncations prometheus.Counter
	ioEvents, ioBytes, appends                            *prometheus.CounterVec
	grpcCurrent                                           prometheus.Gauge
	grpcCalls                                             *prometheus.CounterVec
	grpcDuration                                          *prometheus.HistogramVec
	httpRequests                                          *prometheus.CounterVec
	syncDuration                                          *prometheus.HistogramVec
	nodeStatsMissed                                       prometheus.Counter

	// Series resolved once: the hooks run on every append, read, sync
	// and gRPC call.
	written, eventsRead, bytesRead           prometheus.Counter
	appendsOK, appendsRefused, appendsFailed prometheus.Counter
	grpcTotal, grpcFailed                    prometheus.Counter
	grpcUnimplemented, grpcDeadline          prometheus.Counter
	grpcTimers                               map[string]grpcTimer // by full method name
	syncFile, syncDir                        prometheus.Observer

	syncs syncSummary

	// Replication connections open now, both ways, and accepted so far.
	replIn, replOut atomic.Int64
	replAccepted    atomic.Uint64

	statuses statusTimes
}

func newMetrics(a *API) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.elections = counter(metricElections, "Elections this node saw decided.")
	m.heartbeatTimeouts = counter(metricHeartbeatTimeouts, "Replication peers declared dead because they answered no heartbeat in time.")
	m.clockSkews = counter(metricClockSkews, "Gossip records from members whose clocks differ by more than GossipAllowedDifferenceMs.")
	m.truncations = counter(metricTruncations, "Times this node cut its log back to match a leader.")
	m.nodeStatsMissed = counter(metricNodeStatsMissed, "Scrapes the node's loop did not answer in time (or while earlier ones still waited); they lack the node's own figures.")
	m.ioEvents = counterVec(metricIOEvents, "Events written by appends and read by client reads and subscriptions.", "activity")
	m.ioBytes = counterVec(metricIOBytes, "Bytes of event data and metadata read by clients.", "activity")
	m.appends = counterVec(metricAppends, "Client appends by outcome: ok, refused (the node said no), failed (no answer).", "result")
	m.grpcCurrent = prometheus.NewGauge(prometheus.GaugeOpts{Name: metricGRPCCurrent, Help: "gRPC calls in progress on the node port."})
	m.reg.MustRegister(m.grpcCurrent)
	m.grpcCalls = counterVec(metricGRPCCalls, "gRPC calls on the node port: total, failed, unimplemented, deadline-exceeded.", "kind")
	m.grpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: metricGRPCDuration, Help: "Duration of client gRPC calls by activity (append, read, delete).",
		Buckets: prometheus.ExponentialBuckets(1e-6, 10, 8),
	}, []string{"activity", "status"})
	m.reg.MustRegister(m.grpcDuration)
	m.httpRequests = counterVec(metricHTTPRequests, "HTTP/1.1 requests on the node port by endpoint and status.", "route", "code")
	m.syncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: metricSyncDuration, Help: "Time from a sync's issue to its completion on the node's loop, for files and directories.",
		Buckets: prometheus.ExponentialBuckets(1e-4, 2, 16),
	}, []string{"kind"})
	m.reg.MustRegister(m.syncDuration)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{a: a, m: m},
	)
	// Resolving the series also makes every scrape show them, so that a
	// rate over them exists before the first event.
	m.written, m.eventsRead, m.bytesRead = m.ioEvents.WithLabelValues("written"), m.ioEvents.WithLabelValues("read"), m.ioBytes.WithLabelValues("read")
	m.appendsOK, m.appendsRefused, m.appendsFailed = m.appends.WithLabelValues("ok"), m.appends.WithLabelValues("refused"), m.appends.WithLabelValues("failed")
	m.grpcTotal, m.grpcFailed = m.grpcCalls.WithLabelValues("total"), m.grpcCalls.WithLabelValues("failed")
	m.grpcUnimplemented, m.grpcDeadline = m.grpcCalls.WithLabelValues("unimplemented"), m.grpcCalls.WithLabelValues("deadline-exceeded")
	m.grpcTimers = make(map[string]grpcTimer, len(grpcActivities))
	for method, act := range grpcActivities {
		m.grpcTimers[streamsService+method] = grpcTimer{ok: m.grpcDuration.WithLabelValues(act, "successful"), failed: m.grpcDuration.WithLabelValues(act, "failed")}
	}
	m.syncFile, m.syncDir = m.syncDuration.WithLabelValues("file"), m.syncDuration.WithLabelValues("dir")
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes wait for the node's loop; a handful at once is plenty.
		MaxRequestsInFlight: 4,
	})
	return m
}

// Gatherer is the node's metrics registry, as /metrics serves it.
func (a *API) Gatherer() prometheus.Gatherer { return a.m.reg }

// syncSummary keeps the sync figures /stats shows.
type syncSummary struct {
	mu            sync.Mutex
	count, errors uint64
	sum, max      time.Duration
}

type syncFigures struct {
	count, errors uint64
	sum, max      time.Duration
}

func (s *syncSummary) add(d time.Duration, failed bool) {
	s.mu.Lock()
	s.count++
	if failed {
		s.errors++
	}
	s.sum += d
	s.max = max(s.max, d)
	s.mu.Unlock()
}

func (s *syncSummary) read() syncFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	return syncFigures{count: s.count, errors: s.errors, sum: s.sum, max: s.max}
}

func (f syncFigures) meanMs() float64 {
	if f.count == 0 {
		return 0
	}
	return float64(f.sum) / float64(f.count) / 1e6
}

// statusTimes remembers when the node last was in each state, for
// EventStoreDB's eventstore_statuses{name="Node"}: the current state's
// series is the time of the scrape, so the largest series names it.
type statusTimes struct {
	mu   sync.Mutex
	last map[member.State]time.Time
}

func (s *statusTimes) changed(from, to member.State, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = make(map[member.State]time.Time)
	}
	s.last[from] = at
	s.last[to] = at
}

func (s *statusTimes) read(current member.State, now time.Time) map[member.State]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[member.State]time.Time, len(s.last)+1)
	for st, at := range s.last {
		out[st] = at
	}
	out[current] = now
	return out
}

// nodeCollector reads, at each scrape, what is not counted as it happens:
// the node's own figures (on its loop), the drivers' counters, the disk.
type nodeCollector struct {
	a *API
	m *metrics
}

var (
	descCheckpoints = prometheus.NewDesc(metricCheckpoints, "The node's checkpoints: writer (the durable end of the log), replication (the commit point).",
		[]string{"name", "read"}, nil)
	descStatuses = prometheus.NewDesc(metricStatuses, "Seconds since the Unix epoch when the node last had each status; the largest is the current one.",
		[]string{"name", "status"}, nil)
	descKestrel     = prometheus.NewDesc(metricKestrel, "Connections open on the node port.", nil, nil)
	descSysDisk     = prometheus.NewDesc(metricSysDisk, "Used and total bytes of the file system holding the database.", []string{"disk", "kind"}, nil)
	descUpTime      = prometheus.NewDesc(metricUpTime, "Seconds since the node started.", []string{"pid"}, nil)
	descSyncReqs    = prometheus.NewDesc(metricSyncRequests, "Syncs the node asked of the disk.", nil, nil)
	descFsyncs      = prometheus.NewDesc(metricFsyncs, "fdatasync calls those syncs cost (group commit shares one among many).", nil, nil)
	descDirSyncs    = prometheus.NewDesc(metricDirSyncs, "Directory fsyncs.", nil, nil)
	descDBSize      = prometheus.NewDesc(metricDBSize, "Bytes of the files in the database directory.", nil, nil)
	descLoopQueue   = prometheus.NewDesc(metricLoopQueue, "Inputs waiting on the node's loop.", nil, nil)
	descLoopCap     = prometheus.NewDesc(metricLoopCapacity, "Inputs the loop's inbox admits before posters wait.", nil, nil)
	descConnections = prometheus.NewDesc(metricConnections, "Connections open now, by port and direction.", []string{"port", "direction"}, nil)
	descAccepted    = prometheus.NewDesc(metricAccepted, "Connections accepted, by port.", []string{"port"}, nil)
	descNodePort    = prometheus.NewDesc(metricNodePortConns, "Node-port connections by outcome: grpc, http, rejected (over the limit), no-protocol (silent or closed before choosing).",
		[]string{"outcome"}, nil)
	descReplAcked = prometheus.NewDesc(metricReplAcked, "On a leader: each follower's durable log end as it last acknowledged it.", []string{"follower", "instance_id"}, nil)
	descReplLag   = prometheus.NewDesc(metricReplLag, "On a leader: how far its log end is ahead of each follower's acknowledged position, in bytes.",
		[]string{"follower", "instance_id"}, nil)
	descReplicas = prometheus.NewDesc(metricReplicas, "On a leader: replicas subscribed.", nil, nil)
	descEpoch    = prometheus.NewDesc(metricEpoch, "The node's epoch number.", nil, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCheckpoints, descStatuses, descKestrel, descSysDisk, descUpTime, descSyncReqs, descFsyncs,
		descDirSyncs, descDBSize, descLoopQueue, descLoopCap, descConnections, descAccepted, descNodePort, descReplAcked, descReplLag,
		descReplicas, descEpoch} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	now := time.Now()
	s := a.takeSnapshot(context.Background())
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	count := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	count(descUpTime, now.Sub(a.started).Seconds(), strconv.Itoa(os.Getpid()))
	for st, at := range c.m.statuses.read(a.node.Status().State, now) {
		gauge(descStatuses, float64(at.Unix()), "Node", st.String())
	}
	gauge(descKestrel, float64(s.port.Open))
	gauge(descConnections, float64(s.port.Open), "node", "in")
	gauge(descConnections, float64(c.m.replIn.Load()), "replication", "in")
	gauge(descConnections, float64(c.m.replOut.Load()), "replication", "out")
	count(descAccepted, float64(s.port.Accepted), "node")
	count(descAccepted, float64(c.m.replAccepted.Load()), "replication")
	count(descNodePort, float64(s.port.GRPC), "grpc")
	count(descNodePort, float64(s.port.HTTP), "http")
	count(descNodePort, float64(s.port.Rejected), "rejected")
	count(descNodePort, float64(s.port.SniffFailed), "no-protocol")
	count(descSyncReqs, float64(s.disk.SyncRequests))
	count(descFsyncs, float64(s.disk.Fsyncs))
	count(descDirSyncs, float64(s.disk.DirSyncs))
	gauge(descDBSize, float64(s.db.Bytes))
	if s.fs.ok {
		gauge(descSysDisk, float64(s.fs.Total-min(s.fs.Available, s.fs.Total)), a.node.Dir(), "used")
		gauge(descSysDisk, float64(s.fs.Total), a.node.Dir(), "total")
	}
	gauge(descLoopQueue, float64(s.loopLen))
	gauge(descLoopCap, float64(s.loopCap))
	if s.nodeErr != nil {
		c.m.nodeStatsMissed.Inc()
		return
	}
	n := s.node
	gauge(descCheckpoints, float64(n.WriterCheckpoint), "writer", "non-flushed")
	gauge(descCheckpoints, float64(n.Committed), "replication", "non-flushed")
	gauge(descEpoch, float64(n.Epoch))
	if !n.State.IsLeaderish() {
		return
	}
	gauge(descReplicas, float64(len(n.Replicas)))
	for _, r := range n.Replicas {
		// Followers are named by their advertised node endpoint, which
		// outlives restarts (the instance id does not).
		name := r.Node.String()
		if r.Node.IsZero() {
			name = r.ReplicaID.String()
		}
		gauge(descReplAcked, float64(r.Acknowledged), name, r.ReplicaID.String())
		gauge(descReplLag, float64(r.Lag), name, r.ReplicaID.String())
	}
}
