package runtime

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
)

// timeLayout is UTC with milliseconds: log lines of several nodes sort and
// compare as text.
const timeLayout = "2006-01-02T15:04:05.000Z"

// lineLogger writes "time level node message" lines. The node's loop, the
// network's goroutines and the runtime all log, so one mutex serialises
// the writes and every line goes out in one Write.
type lineLogger struct {
	mu   sync.Mutex
	w    io.Writer
	name string
	min  env.Level
}

var _ env.Logger = (*lineLogger)(nil)

func (l *lineLogger) Log(level env.Level, msg string) {
	if level < l.min {
		return
	}
	now := time.Now().UTC()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := make([]byte, 0, len(timeLayout)+len(l.name)+len(msg)+8)
	b = now.AppendFormat(b, timeLayout)
	b = append(b, ' ')
	b = append(b, level.String()...)
	b = append(b, ' ')
	b = append(b, l.name...)
	b = append(b, ' ')
	b = append(b, msg...)
	b = append(b, '\n')
	_, _ = l.w.Write(b)
}

// setName renames the node once its port is bound.
func (l *lineLogger) setName(name string) {
	l.mu.Lock()
	l.name = name
	l.mu.Unlock()
}

func (l *lineLogger) nodeName() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.name
}

func (l *lineLogger) logf(level env.Level, format string, args ...any) {
	l.Log(level, fmt.Sprintf(format, args...))
}

// levelOf maps EventStoreDB's LogLevel names onto the node's levels.
func levelOf(v *options.Values) env.Level {
	switch v.String(options.LogLevel) {
	case "Verbose", "Debug":
		return env.LevelDebug
	case "Warning":
		return env.LevelWarn
	case "Error", "Fatal":
		return env.LevelError
	default: // Default, Information
		return env.LevelInfo
	}
}

// Status is what the node last reported about itself.
type Status struct {
	State member.State
	// Epoch is the node's epoch number (-1 before its first).
	Epoch int32
	// Leader is the leader it follows, itself when leading, zero when none.
	Leader member.ID
	// ID is the node's instance id (new at every start).
	ID member.ID
}

// observer logs the node's events, keeps its Status, remembers why it
// gave up, and passes every event on to Config.Observer. It runs on the
// node's loop; Status is read from other goroutines.
type observer struct {
	r    *Runtime
	next env.Observer
}

func (o observer) Observe(e env.Event) {
	r := o.r
	switch ev := e.(type) {
	case node.StateChanged:
		r.mu.Lock()
		r.status = Status{State: ev.State, Epoch: ev.Epoch, Leader: ev.Leader, ID: ev.ID}
		r.mu.Unlock()
		leader := "none"
		if !ev.Leader.IsZero() {
			leader = ev.Leader.Short()
		}
		r.log.logf(env.LevelInfo, "role %v (epoch %d, leader %s, node id %s)", ev.State, ev.Epoch, leader, ev.ID.Short())
	case node.Fatal:
		r.mu.Lock()
		if r.fatalReason == "" {
			r.fatalReason = ev.Reason
		}
		r.mu.Unlock()
	case node.PeerDeclaredDead:
		r.log.logf(env.LevelWarn, "replication peer %v declared dead: it answered no heartbeat within ReplicationHeartbeatInterval + ReplicationHeartbeatTimeout", ev.Peer)
	case node.ClockSkewDetected:
		r.log.logf(env.LevelWarn, "the clock of %v differs from ours by %v, more than GossipAllowedDifferenceMs; synchronise the hosts' clocks", ev.Peer, ev.Skew)
	case node.ElectionDecided:
		r.log.logf(env.LevelInfo, "election decided: view %d, epoch %d, leader %s", ev.View, ev.Epoch, ev.Leader.Short())
	case node.Truncated:
		r.log.logf(env.LevelWarn, "log cut back to position %d to match the leader", ev.To)
	default:
		r.log.Log(env.LevelDebug, "event "+e.Kind()+" "+string(e.AppendTrace(nil)))
	}
	if o.next != nil {
		o.next.Observe(e)
	}
}
