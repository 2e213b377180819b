// Package host is a simulated machine: addresses on the simulated network, a
// clock, a disk, and at most one running process (a core node) whose every
// input goes through a simulated CPU. It knows the two ways a node dies,
// because peers detect them differently: a process kill (the kernel lives and
// resets the process's connections) and a host loss (power off, freeze,
// cable pulled: silence, found only by heartbeats and timeouts).
package host

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/clock"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
)

// Program is what a host runs: it builds a node on the environment it is
// given, inside the new process's loop.
type Program func(e env.Env) (stop func())

// Config describes one host.
type Config struct {
	Name  string
	Realm string // "" for the public network
	Addrs []netip.Addr
	Clock clock.Config
	Disk  disk.Config
	// TimerCPU is the simulated CPU cost of running one timer callback.
	TimerCPU time.Duration
	// LogLevel is the least important level written to the trace.
	LogLevel env.Level
}

// State is what a host is doing.
type State uint8

const (
	Stopped State = iota // no process (never started, or killed)
	Running
	Frozen  // silent: process and network stopped, memory intact
	Powered // powered off: silent, and unsynced disk state lost at power-off
)

func (s State) String() string {
	return [...]string{"stopped", "running", "frozen", "powered-off"}[s]
}

// Observer sees every event a host's node reports; the invariant checkers
// and the run's figures attach here.
type Observer func(h *Host, e env.Event)

// Host is one simulated machine.
type Host struct {
	Name  string
	w     *world.World
	cfg   Config
	Clock *clock.Clock
	Disk  *disk.Store
	Net   *network.Host

	program  Program
	observer Observer
	state    State
	proc     *process
	// Incarnation counts process starts; it is part of every trace line
	// about a process so that a restarted node is told apart.
	Incarnation int
	logBuf      []byte
}

type process struct {
	cpu   *cpu
	stack *network.Stack
	disk  *disk.View
	stop  func()
}

// New places a host on the fabric. It runs nothing until Start.
func New(w *world.World, fabric *network.Fabric, cfg Config, program Program, observe Observer) *Host {
	return &Host{
		Name:     cfg.Name,
		w:        w,
		cfg:      cfg,
		Clock:    clock.New(w, cfg.Clock),
		Disk:     disk.NewStore(w, cfg.Name, cfg.Disk),
		Net:      fabric.AddHost(cfg.Name, cfg.Realm, cfg.Addrs...),
		program:  program,
		observer: observe,
	}
}

// SetObserver attaches the observer of the host's node events.
func (h *Host) SetObserver(o Observer) { h.observer = o }

// Paused reports whether the process is inside a stop-the-world pause.
func (h *Host) Paused() bool {
	return h.proc != nil && h.proc.cpu.busyUntil > h.w.Now()
}

// PauseLeft is how much longer the current pause lasts (0 if none).
func (h *Host) PauseLeft() time.Duration {
	if h.proc == nil {
		return 0
	}
	return max(0, h.proc.cpu.busyUntil-h.w.Now())
}

// State reports what the host is doing.
func (h *Host) State() State { return h.state }

// Start boots a new process incarnation on a stopped host.
func (h *Host) Start() {
	if h.state != Stopped {
		panic(fmt.Sprintf("sim: start of host %s while %s", h.Name, h.state))
	}
	h.Incarnation++
	c := newCPU(h.w)
	p := &process{cpu: c, stack: h.Net.NewStack(c), disk: h.Disk.Open(c)}
	h.proc = p
	h.state = Running
	h.trace("start").Int("incarnation", int64(h.Incarnation)).End()
	e := env.Env{
		Clock:    h.Clock.ForProcess(c, h.cfg.TimerCPU),
		Net:      p.stack,
		Disk:     p.disk,
		Rand:     h.w.Rand(fmt.Sprintf("node/%s/%d", h.Name, h.Incarnation)),
		Log:      logger{h: h, p: p},
		Observer: observer{h: h, p: p},
		Exit: func(code int) {
			if h.proc != p || c.dead {
				return
			}
			// As after os.Exit, the process runs nothing more: not even
			// inputs already queued for this same instant.
			c.kill()
			// Its kernel side (sockets, files) goes once the current input
			// has returned, so that the code still on the stack finds its
			// handles intact, if dead. A freeze in between does not keep
			// the process alive: the host thaws with no process.
			h.w.Func(0, func() {
				if h.proc == p {
					h.trace("exit").Int("code", int64(code)).End()
					h.endProcess()
					if h.state == Running {
						h.state = Stopped
					}
					// Nothing else tells an observer that the host no
					// longer runs a node (a kill is the scenario's own act).
					if h.observer != nil {
						h.observer(h, Exited{Code: code})
					}
				}
			})
		},
	}
	c.Exec(h.cfg.TimerCPU, world.InputFunc(func() { p.stop = h.program(e) }))
}

// Kill ends the process at once, as SIGKILL does: the host's kernel resets
// its connections (peers notice immediately) and keeps its page cache
// (unsynced writes are not lost). A frozen host's process dies too; its
// resets are lost to the silence, and it thaws without a process.
func (h *Host) Kill() {
	if h.proc == nil || (h.state != Running && h.state != Frozen) {
		return
	}
	h.trace("kill").Int("incarnation", int64(h.Incarnation)).End()
	h.endProcess()
	if h.state == Running {
		h.state = Stopped
	}
}

// Freeze makes the host silent (a VM pause, a pulled cable): no packets in
// or out, the process does not run, nothing is lost. Peers see only silence.
func (h *Host) Freeze() {
	if h.state != Running {
		return
	}
	h.trace("freeze").End()
	h.Net.Freeze()
	h.proc.cpu.freeze()
	h.state = Frozen
}

// Thaw resumes a frozen host where it stopped.
func (h *Host) Thaw() {
	if h.state != Frozen {
		return
	}
	h.trace("thaw").End()
	h.Net.Thaw()
	if h.proc == nil { // the process exited as the host froze
		h.state = Stopped
		return
	}
	h.proc.cpu.thaw()
	h.state = Running
}

// PowerOff loses the host: silence for its peers, its process gone, and its
// disk keeps only what the crash model lets survive of unsynced state.
func (h *Host) PowerOff() {
	if h.state == Powered {
		return
	}
	h.trace("power-off").End()
	if h.proc != nil {
		h.proc.cpu.kill()
		h.proc.disk.Close()
		h.proc = nil
	}
	h.Net.PowerOff()
	h.Disk.Crash()
	h.state = Powered
}

// PowerOn boots a powered-off host and starts its process again.
func (h *Host) PowerOn() {
	if h.state != Powered {
		return
	}
	h.trace("power-on").End()
	// A host frozen when it lost power boots unfrozen.
	h.Net.Thaw()
	h.Net.PowerOn()
	h.state = Stopped
	h.Start()
}

// Pause stops the running process for d (a stop-the-world pause, a long
// synchronous operation): its inputs wait, its network stays up.
func (h *Host) Pause(d time.Duration) {
	if h.state != Running {
		return
	}
	h.trace("pause").Dur("for", d).End()
	h.proc.cpu.pause(d)
}

// CPUBusy is the simulated CPU time the current process has used.
func (h *Host) CPUBusy() time.Duration {
	if h.proc == nil {
		return 0
	}
	return h.proc.cpu.busy
}

func (h *Host) endProcess() {
	p := h.proc
	h.proc = nil
	// The node is not told: a killed process gets no chance to clean up.
	p.cpu.kill()
	p.stack.Kill()
	p.disk.Close()
}

func (h *Host) trace(kind string) trace.Rec {
	return h.w.Trace.Rec(h.w.Now(), h.Name, kind)
}

// logger writes a process's log lines into the trace, stamped with virtual
// time by the trace itself.
type logger struct {
	h *Host
	p *process
}

func (l logger) Log(level env.Level, msg string) {
	if level < l.h.cfg.LogLevel || l.h.proc != l.p {
		return
	}
	l.h.w.Trace.Rec(l.h.w.Now(), l.h.Name, "log").Str("level", level.String()).Str("msg", msg).End()
}

// Exited is what a host reports to its observer when its process has
// exited by itself (a fatal error, a completed shutdown) and the host no
// longer runs a node. It is traced as the host's "exit" line.
type Exited struct{ Code int }

func (Exited) Kind() string { return "exit" }

func (e Exited) AppendTrace(b []byte) []byte {
	return strconv.AppendInt(append(b, "code="...), int64(e.Code), 10)
}

type observer struct {
	h *Host
	p *process
}

func (o observer) Observe(e env.Event) {
	h := o.h
	if h.proc != o.p {
		return
	}
	h.logBuf = e.AppendTrace(h.logBuf[:0])
	h.w.Trace.Rec(h.w.Now(), h.Name, e.Kind()).Raw(h.logBuf).End()
	if h.observer != nil {
		h.observer(h, e)
	}
}
