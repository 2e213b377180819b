package world

import "time"

// Executor runs inputs on one simulated process's loop. Every callback into
// a core node (a timer, a delivered message, a disk completion) goes through
// its process's Executor, which charges the given simulated CPU cost: a busy
// or paused process handles its inputs late, as a real one does. An Executor
// of a process that has died drops everything handed to it, so nothing of a
// previous incarnation ever reaches the restarted node.
type Executor interface {
	Exec(cost time.Duration, f func())
}
