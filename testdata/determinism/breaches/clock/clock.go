// Package clock reads and waits on the host clock.
package clock

import "time"

var now = time.Now // want "wall-clock"

func uptime(start time.Time) time.Duration {
	time.Sleep(time.Millisecond) // want "wall-clock"
	_ = time.Until(start)        // want "wall-clock"
	<-time.After(time.Second)    // want "wall-clock" "channel"
	_ = time.Tick(time.Second)   // want "wall-clock"
	_ = time.NewTimer(0)         // want "wall-clock"
	_ = time.NewTicker(1)        // want "wall-clock"
	time.AfterFunc(0, func() {}) // want "wall-clock"
	return time.Since(start)     // want "wall-clock"
}

func render(t time.Time) string {
	loc, _ := time.LoadLocation("Europe/Paris") // want "wall-clock"
	_ = t.In(time.Local)                        // want "wall-clock"
	_ = t.In(loc)
	return t.Local().String() // want "wall-clock"
}

// Arithmetic on times and durations, and a clock handed in, are fine.
type source interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func())
}

func deadline(c source, d time.Duration) time.Time {
	c.AfterFunc(d, func() {})
	return c.Now().Add(2 * d).Truncate(time.Millisecond)
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
