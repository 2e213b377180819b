package host

import (
	"time"

	"github.com/annal-db/annal/sim/world"
)

// cpu is one process's loop: inputs wait in a FIFO and run one at a time,
// each occupying the process for its cost in simulated time. A busy or
// paused process therefore handles its timers and messages late, which is
// what makes heartbeats miss their deadlines under load, as in production.
type cpu struct {
	w         *world.World
	queue     []input // FIFO; head at queue[head]
	head      int
	busyUntil time.Duration
	scheduled bool
	frozen    bool
	dead      bool
	busy      time.Duration // total CPU time charged
	ran       uint64
}

type input struct {
	cost time.Duration
	in   world.Input
}

// maxInputs bounds the queue: a process that cannot keep up is a bug in the
// model (every producer is itself bounded), so say so loudly.
const maxInputs = 1 << 20

func newCPU(w *world.World) *cpu { return &cpu{w: w} }

// Exec implements world.Executor.
func (c *cpu) Exec(cost time.Duration, in world.Input) {
	if c.dead {
		return
	}
	if len(c.queue)-c.head >= maxInputs {
		panic("sim: a process has over a million pending inputs; some producer is unbounded")
	}
	c.queue = append(c.queue, input{cost: cost, in: in})
	c.schedule()
}

func (c *cpu) schedule() {
	if c.scheduled || c.frozen || c.dead || c.head == len(c.queue) {
		return
	}
	c.scheduled = true
	c.w.At(max(c.w.Now(), c.busyUntil), c, 0)
}

// Fire runs the next input.
func (c *cpu) Fire(uint64) {
	c.scheduled = false
	if c.dead || c.frozen {
		return
	}
	if now := c.w.Now(); now < c.busyUntil {
		// A pause began after this run was scheduled.
		c.schedule()
		return
	}
	in := c.queue[c.head]
	c.queue[c.head] = input{}
	c.head++
	if c.head == len(c.queue) {
		c.queue = c.queue[:0]
		c.head = 0
	} else if c.head > 1024 && c.head*2 > len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
	c.busyUntil = c.w.Now() + in.cost
	c.busy += in.cost
	c.ran++
	in.in.Run()
	c.schedule()
}

// pause stops the process for d (a stop-the-world pause): inputs keep
// queueing and run afterwards.
func (c *cpu) pause(d time.Duration) {
	c.busyUntil = max(c.busyUntil, c.w.Now()+d)
}

func (c *cpu) freeze() { c.frozen = true }

func (c *cpu) thaw() {
	c.frozen = false
	c.schedule()
}

func (c *cpu) kill() {
	c.dead = true
	clear(c.queue)
	c.queue = nil
	c.head = 0
}
