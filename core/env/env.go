// Package env is the whole world as a core node sees it: clocks, timers, the
// network, the disk, randomness, logging and observation. A driver implements
// it: sim/ with virtual time and seeded faults, realnet/ with real sockets and
// files. Core never touches anything outside these interfaces, which is what
// lets one seed replay one run exactly.
//
// Contract for every implementation:
//   - Every callback (timer, completion, connection event, request) runs on the
//     node's own loop, one at a time, never inside the call that caused it.
//   - Anything that takes time completes later, through its callback.
//   - Byte slices handed to the environment are copied before the call returns;
//     byte slices handed to core belong to core.
package env

import "time"

// Env bundles what a node is given at start.
type Env struct {
	Clock    Clock
	Net      Network
	Disk     Disk
	Rand     Rand
	Log      Logger
	Observer Observer
	// Exit ends the node's process after a fatal error or a completed
	// shutdown (code 0). The driver stops delivering inputs.
	Exit func(code int)
}

// Mono is a reading of the monotonic clock: time since an arbitrary origin
// fixed for the life of the process. Only differences between readings mean
// anything. Wall-clock jumps never move it.
type Mono time.Duration

// Add returns m moved forward by d.
func (m Mono) Add(d time.Duration) Mono { return m + Mono(d) }

// Sub returns the duration m-o.
func (m Mono) Sub(o Mono) time.Duration { return time.Duration(m - o) }

// Clock gives a node its two notions of time.
type Clock interface {
	// Now is the monotonic clock. Timers run on it.
	Now() Mono
	// Wall is the host's wall clock, for timestamps others read (gossip
	// timestamps, event creation times). It may be skewed, drift or jump.
	Wall() time.Time
	// AfterFunc runs f on the node's loop once d has passed on the monotonic
	// clock, unless the timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the timer. It reports whether the call stopped it, false if
	// it had already fired or been stopped.
	Stop() bool
}

// Rand is the node's seeded random source.
type Rand interface {
	Uint64() uint64
}

// Level orders log lines by importance.
type Level uint8

const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
)

func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "DBG"
	case LevelInfo:
		return "INF"
	case LevelWarn:
		return "WRN"
	case LevelError:
		return "ERR"
	}
	return "L?"
}

// Logger writes human-readable lines; the driver prefixes each with the
// node's name and its time (virtual time in the simulator).
type Logger interface {
	Log(level Level, msg string)
}

// Event is something a node reports about itself: a state change, a
// decision, a detected fault. The simulator traces and checks every one;
// production exports them as metrics and log lines.
type Event interface {
	// Kind is a short stable name, for example "state" or "leader".
	Kind() string
	// AppendTrace appends a canonical, human-readable rendering
	// ("key=value key=value") with no time and no node name.
	AppendTrace(b []byte) []byte
}

// Observer receives a node's events in the order they happen.
type Observer interface {
	Observe(e Event)
}
