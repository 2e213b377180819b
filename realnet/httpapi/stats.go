package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/realnet/disk"
	"github.com/annal-db/annal/realnet/netstack"
)

// snapshot is everything /stats and /metrics report that is read when
// asked, rather than counted as it happens.
type snapshot struct {
	node    node.Stats
	nodeErr error // the node did not answer; node is zero
	disk    disk.Stats
	port    netstack.NodePortStats
	loopLen int
	loopCap int
	db      dirUsage
	fs      fsUsage
}

// takeSnapshot reads the node (on its loop, within StatsTimeout) and the
// drivers' counters.
func (a *API) takeSnapshot(ctx context.Context) snapshot {
	var s snapshot
	ctx, cancel := context.WithTimeout(ctx, a.cfg.StatsTimeout)
	defer cancel()
	s.node, s.nodeErr = a.node.Stats(ctx)
	if s.nodeErr != nil {
		s.node = node.Stats{}
	}
	s.disk = a.node.DiskStats()
	s.port = a.node.PortStats()
	s.loopLen, s.loopCap = a.node.LoopQueue()
	s.db = usageOf(a.node.Dir())
	s.fs = fileSystemOf(a.node.Dir())
	return s
}

// dirUsage is what the database directory holds.
type dirUsage struct {
	Bytes int64
	Files int
}

// maxWalk bounds the entries usageOf visits: a database is a few
// segments and checkpoints, so this is only a guard.
const maxWalk = 10000

// usageOf adds up the sizes of the files under dir.
func usageOf(dir string) dirUsage {
	var u dirUsage
	seen := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if seen++; seen > maxWalk {
			return filepath.SkipAll
		}
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			u.Bytes += info.Size()
			u.Files++
		}
		return nil
	})
	return u
}

// fsUsage is the file system holding the database (ok false where it
// cannot be read).
type fsUsage struct {
	Total, Available uint64
	ok               bool
}

// The /stats document: EventStoreDB's groups (proc, sys, es) and, where
// annal measures the same thing, its keys; annal's own figures use keys of
// their own.
type statsJSON struct {
	Proc procJSON `json:"proc"`
	Sys  sysJSON  `json:"sys"`
	ES   esJSON   `json:"es"`
}

type procJSON struct {
	StartTime string `json:"startTime"`
	ID        int    `json:"id"`
	// Mem is the resident memory in bytes.
	Mem uint64 `json:"mem"`
	// CPU is the process's CPU use since the previous /stats, in percent of
	// one core.
	CPU           float64 `json:"cpu"`
	UpTimeSeconds float64 `json:"upTimeSeconds"`
	Goroutines    int     `json:"goroutines"`
	HeapBytes     uint64  `json:"heapBytes"`
	GCCycles      uint64  `json:"gcCycles"`
}

type sysJSON struct {
	// Drive is keyed by the database directory.
	Drive map[string]driveJSON `json:"drive,omitempty"`
}

type driveJSON struct {
	AvailableBytes uint64 `json:"availableBytes"`
	TotalBytes     uint64 `json:"totalBytes"`
	Usage          string `json:"usage"`
	UsedBytes      uint64 `json:"usedBytes"`
}

type esJSON struct {
	// Checksum is the writer checkpoint (durable end of the log);
	// ChecksumNonFlushed the written end.
	Checksum           int64                `json:"checksum"`
	ChecksumNonFlushed int64                `json:"checksumNonFlushed"`
	Queue              map[string]queueJSON `json:"queue"`
	Writer             writerJSON           `json:"writer"`
	DB                 dbJSON               `json:"db"`
	Node               *nodeJSON            `json:"node,omitempty"`
	// NodeError says why the node's own figures are missing.
	NodeError   string    `json:"nodeError,omitempty"`
	Replication *replJSON `json:"replication,omitempty"`
	Connections connsJSON `json:"connections"`
}

type queueJSON struct {
	QueueName string `json:"queueName"`
	Length    int    `json:"length"`
	Capacity  int    `json:"capacity"`
}

// writerJSON: SyncRequests, Fsyncs and DirSyncs are the disk's counts
// (group commit makes Fsyncs at most SyncRequests); the Sync* figures
// time every file and directory sync the node issued, from issue to
// completion on its loop.
type writerJSON struct {
	SyncRequests uint64  `json:"syncRequests"`
	Fsyncs       uint64  `json:"fsyncs"`
	DirSyncs     uint64  `json:"dirSyncs"`
	SyncsTimed   uint64  `json:"syncsTimed"`
	SyncErrors   uint64  `json:"syncErrors"`
	SyncMeanMs   float64 `json:"syncMeanMs"`
	SyncMaxMs    float64 `json:"syncMaxMs"`
}

type dbJSON struct {
	Path      string `json:"path"`
	SizeBytes int64  `json:"sizeBytes"`
	Files     int    `json:"files"`
}

type nodeJSON struct {
	State            string `json:"state"`
	Epoch            int32  `json:"epoch"`
	InstanceID       string `json:"instanceId"`
	LeaderID         string `json:"leaderId,omitempty"`
	Committed        int64  `json:"committed"`
	WriterCheckpoint int64  `json:"writerCheckpoint"`
	LogEnd           int64  `json:"logEnd"`
	AppendsWaiting   int    `json:"appendsWaiting"`
}

type replJSON struct {
	Followers         []followerJSON `json:"followers"`
	HeartbeatTimeouts uint64         `json:"heartbeatTimeouts"`
	BytesSent         uint64         `json:"bytesSent"`
}

type followerJSON struct {
	InstanceID          string `json:"instanceId"`
	NodeEndpoint        string `json:"nodeEndpoint,omitempty"`
	ReplicationEndpoint string `json:"replicationEndpoint,omitempty"`
	State               string `json:"state,omitempty"`
	Role                string `json:"role,omitempty"`
	Promotable          bool   `json:"promotable"`
	// AcknowledgedPosition is the follower's durable end as it last told
	// the leader; LagBytes how far the leader's log end is ahead of it.
	AcknowledgedPosition int64 `json:"acknowledgedPosition"`
	LagBytes             int64 `json:"lagBytes"`
}

type connsJSON struct {
	Node        nodePortJSON `json:"node"`
	Replication replPortJSON `json:"replication"`
}

type nodePortJSON struct {
	Open       int    `json:"open"`
	Accepted   uint64 `json:"accepted"`
	Rejected   uint64 `json:"rejected"`
	NoProtocol uint64 `json:"noProtocol"`
	GRPC       uint64 `json:"grpc"`
	HTTP       uint64 `json:"http"`
}

type replPortJSON struct {
	Inbound  int64  `json:"inbound"`
	Outbound int64  `json:"outbound"`
	Accepted uint64 `json:"accepted"`
}

// statsDocument builds /stats.
func (a *API) statsDocument(ctx context.Context) statsJSON {
	s := a.takeSnapshot(ctx)
	now := time.Now()
	doc := statsJSON{
		Proc: procJSON{
			StartTime:     a.started.UTC().Format(time.RFC3339Nano),
			ID:            os.Getpid(),
			Mem:           residentMemory(),
			CPU:           a.cpu.percent(now),
			UpTimeSeconds: now.Sub(a.started).Seconds(),
			Goroutines:    runtime.NumGoroutine(),
		},
		ES: esJSON{
			Checksum:           s.node.WriterCheckpoint,
			ChecksumNonFlushed: s.node.LogEnd,
			Queue:              map[string]queueJSON{"NodeLoop": {QueueName: "NodeLoop", Length: s.loopLen, Capacity: s.loopCap}},
			DB:                 dbJSON{Path: a.node.Dir(), SizeBytes: s.db.Bytes, Files: s.db.Files},
		},
	}
	doc.Proc.HeapBytes, doc.Proc.GCCycles = heapAndGC()
	if s.fs.ok {
		used := s.fs.Total - min(s.fs.Available, s.fs.Total)
		usage := "0%"
		if s.fs.Total > 0 {
			usage = strconv.FormatUint(used*100/s.fs.Total, 10) + "%"
		}
		doc.Sys.Drive = map[string]driveJSON{a.node.Dir(): {AvailableBytes: s.fs.Available, TotalBytes: s.fs.Total, Usage: usage, UsedBytes: used}}
	}
	sy := a.m.syncs.read()
	doc.ES.Writer = writerJSON{SyncRequests: s.disk.SyncRequests, Fsyncs: s.disk.Fsyncs, DirSyncs: s.disk.DirSyncs,
		SyncsTimed: sy.count, SyncErrors: sy.errors, SyncMeanMs: sy.meanMs(), SyncMaxMs: float64(sy.max) / 1e6}
	doc.ES.Connections = connsJSON{
		Node: nodePortJSON{Open: s.port.Open, Accepted: s.port.Accepted, Rejected: s.port.Rejected,
			NoProtocol: s.port.SniffFailed, GRPC: s.port.GRPC, HTTP: s.port.HTTP},
		Replication: replPortJSON{Inbound: a.m.replIn.Load(), Outbound: a.m.replOut.Load(), Accepted: a.m.replAccepted.Load()},
	}
	if s.nodeErr != nil {
		doc.ES.NodeError = s.nodeErr.Error()
		return doc
	}
	n := s.node
	doc.ES.Node = &nodeJSON{State: n.State.String(), Epoch: n.Epoch, InstanceID: n.ID.String(), Committed: n.Committed,
		WriterCheckpoint: n.WriterCheckpoint, LogEnd: n.LogEnd, AppendsWaiting: n.AppendsWaiting}
	if !n.Leader.IsZero() {
		doc.ES.Node.LeaderID = n.Leader.String()
	}
	if n.State.IsLeaderish() {
		r := &replJSON{Followers: []followerJSON{}, HeartbeatTimeouts: n.ReplicaHeartbeatTimeouts, BytesSent: n.ReplicationBytesSent}
		for _, f := range n.Replicas {
			fj := followerJSON{InstanceID: f.ReplicaID.String(), Role: f.Role, Promotable: f.Promotable,
				AcknowledgedPosition: f.Acknowledged, LagBytes: f.Lag}
			if !f.Node.IsZero() {
				fj.NodeEndpoint, fj.ReplicationEndpoint, fj.State = f.Node.String(), f.Replication.String(), f.State.String()
			}
			r.Followers = append(r.Followers, fj)
		}
		doc.ES.Replication = r
	}
	return doc
}

// serveStats is GET /stats, and GET /stats/<group>/... for one part of it
// (/stats/proc, /stats/es/queue), as EventStoreDB serves sub-paths.
func (a *API) serveStats(w http.ResponseWriter, r *http.Request) {
	doc := a.statsDocument(r.Context())
	sub := strings.Trim(strings.TrimPrefix(r.URL.Path, "/stats"), "/")
	if sub == "" {
		writeJSON(w, doc)
		return
	}
	var tree any
	raw, err := json.Marshal(doc)
	if err == nil {
		err = json.Unmarshal(raw, &tree)
	}
	if err != nil {
		http.Error(w, "encoding the statistics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	for _, key := range strings.Split(sub, "/") {
		m, ok := tree.(map[string]any)
		if !ok {
			tree = nil
			break
		}
		tree = m[key]
	}
	if tree == nil {
		http.Error(w, "no statistics under "+r.URL.Path+"; GET /stats lists them all", http.StatusNotFound)
		return
	}
	writeJSON(w, tree)
}

// cpuSampler turns the process's CPU time into a percentage between two
// readings.
type cpuSampler struct {
	mu       sync.Mutex
	lastWall time.Time
	lastCPU  time.Duration
}

func (c *cpuSampler) percent(now time.Time) float64 {
	cpu, ok := processCPU()
	if !ok {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prevWall, prevCPU := c.lastWall, c.lastCPU
	c.lastWall, c.lastCPU = now, cpu
	if prevWall.IsZero() {
		return 0
	}
	wall := now.Sub(prevWall)
	if wall <= 0 {
		return 0
	}
	return float64(cpu-prevCPU) / float64(wall) * 100
}

// residentMemory is the process's resident set, from /proc where there is
// one, else the memory the Go runtime has mapped.
func residentMemory() uint64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				return pages * uint64(os.Getpagesize())
			}
		}
	}
	s := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() == rtmetrics.KindUint64 {
		return s[0].Value.Uint64()
	}
	return 0
}

// heapAndGC reads the live heap and the GC cycles so far, without stopping
// the world as runtime.ReadMemStats would.
func heapAndGC() (heap, cycles uint64) {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() == rtmetrics.KindUint64 {
		heap = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == rtmetrics.KindUint64 {
		cycles = s[1].Value.Uint64()
	}
	return heap, cycles
}
