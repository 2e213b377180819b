package world

import "time"

// Executor runs inputs on one simulated process's loop. Every callback into
// a core node (a timer, a delivered message, a disk completion) goes through
// its process's Executor, which charges the given simulated CPU cost: a busy
// or paused process handles its inputs late, as a real one does. An Executor
// of a process that has died drops everything handed to it, so nothing of a
// previous incarnation ever reaches the restarted node.
type Executor interface {
	Exec(cost time.Duration, in Input)
}

// Input is one unit of work for a process's loop. It is an interface, not
// a func, so that the simulator's own objects (a disk operation, a timer, a
// connection) can be handed over as they are: a method value would cost an
// allocation for every completion.
type Input interface{ Run() }

// InputFunc adapts a function to Input.
type InputFunc func()

// Run calls f.
func (f InputFunc) Run() { f() }
