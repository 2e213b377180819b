// Package streamstest has an in-memory streams.Log for tests of the streams
// layer and of whatever sits on it. Positions are byte offsets, as in the
// real log (each event takes a size derived from its contents), so code that
// assumes consecutive positions fails here too.
//
// Commits and reads either complete at once (SyncCommits, SyncReads) or
// wait as tasks a test runs in any order it likes (Run, RunAll), or, for
// commits, run on a manual clock after CommitDelay. Committing is done in
// log order, as a replicated log commits prefixes: running one append's
// commit commits every earlier pending append first.
package streamstest

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/streams"
)

// ErrRefused is what the log answers to appends after it dropped one
// unwritten (see FailNext), until Unrefuse.
var ErrRefused = errors.New("streamstest: log refuses appends after an unwritten failure; the node must reset its writer")

// ErrNoEvent: a read at a position where no committed event starts.
var ErrNoEvent = errors.New("streamstest: no committed event starts at this position")

// Log is the fake. The zero value is not usable; call New.
type Log struct {
	// OnCommit receives newly committed events (the node's Apply).
	OnCommit func([]streams.Event)
	// AnswerFirst calls an append's done before OnCommit (default: after),
	// to exercise both orders a node may use.
	AnswerFirst bool
	// SyncCommits commits each append before Append returns.
	SyncCommits bool
	// BatchCommits hands every append a commit covers to OnCommit in one
	// call, as a node applies what one commit point covers (default: one
	// call per append).
	BatchCommits bool
	// SyncReads answers reads before they return.
	SyncReads bool
	// Clock and CommitDelay, when Clock is set (envtest.Clock) and
	// SyncCommits is not, commit each append CommitDelay after it was made.
	Clock       env.Clock
	CommitDelay time.Duration

	events    []streams.Event // every written event, committed first
	committed int             // events[:committed] are committed
	end       int64           // position after the last written event

	appends []*pendingAppend // written, not yet committed, in order
	tasks   []task           // waiting callbacks

	failNext *failure
	refusing bool

	// Reads counts read calls, by kind, for tests that check reads are
	// chunked or avoided.
	Reads struct{ At, Forward, Backward int }
}

type pendingAppend struct {
	first, count int // index range in events
	done         func([]int64, error)
	answered     bool
	committed    bool
}

type failure struct {
	err     error
	written bool
}

type task struct {
	what string
	run  func()
}

// New makes an empty log.
func New() *Log { return &Log{} }

// Size is the number of bytes an event takes in the fake log.
func Size(ev streams.Event) int64 {
	return 32 + int64(len(ev.Stream)+len(ev.Type)+len(ev.Data)+len(ev.Metadata))
}

// FailNext makes the next Append fail with err. written says whether its
// events went into the log anyway (a timeout: they commit with the next
// commit) or not (then the log refuses every later append until Unrefuse,
// as the streams.Log contract asks).
func (l *Log) FailNext(err error, written bool) { l.failNext = &failure{err: err, written: written} }

// Unrefuse lets the log take appends again after an unwritten failure.
func (l *Log) Unrefuse() { l.refusing = false }

// Committed implements streams.Log.
func (l *Log) Committed() int64 {
	if l.committed == 0 {
		return 0
	}
	last := l.events[l.committed-1]
	return last.Position + Size(last)
}

// Written is the number of events written (committed or not).
func (l *Log) Written() int { return len(l.events) }

// CommittedEvents returns a copy of the committed events.
func (l *Log) CommittedEvents() []streams.Event {
	return append([]streams.Event(nil), l.events[:l.committed]...)
}

// Append implements streams.Log.
func (l *Log) Append(evs []streams.Event, done func([]int64, error)) {
	if f := l.failNext; f != nil {
		l.failNext = nil
		if f.written {
			a := l.write(evs, done)
			a.answered = true
			l.schedule("fail append", func() { done(nil, f.err) }, l.SyncCommits)
			return
		}
		l.refusing = true
		l.schedule("fail append", func() { done(nil, f.err) }, l.SyncCommits)
		return
	}
	if l.refusing {
		l.schedule("refuse append", func() { done(nil, ErrRefused) }, l.SyncCommits)
		return
	}
	a := l.write(evs, done)
	commit := func() { l.commitThrough(a) }
	switch {
	case l.SyncCommits:
		commit()
	case l.Clock != nil:
		l.Clock.AfterFunc(l.CommitDelay, commit)
	default:
		l.tasks = append(l.tasks, task{what: fmt.Sprintf("commit %d events of %q", len(evs), evs[0].Stream), run: commit})
	}
}

func (l *Log) write(evs []streams.Event, done func([]int64, error)) *pendingAppend {
	a := &pendingAppend{first: len(l.events), count: len(evs), done: done}
	for _, ev := range evs {
		ev.Position = l.end
		l.end += Size(ev)
		l.events = append(l.events, ev)
	}
	l.appends = append(l.appends, a)
	return a
}

// commitThrough commits every pending append up to and including a.
func (l *Log) commitThrough(a *pendingAppend) {
	if a.committed {
		return
	}
	var batch []*pendingAppend
	for len(l.appends) > 0 {
		b := l.appends[0]
		l.appends = l.appends[1:]
		batch = append(batch, b)
		if !l.BatchCommits {
			l.commit(batch)
			batch = batch[:0]
		}
		if b == a {
			break
		}
	}
	if len(batch) > 0 {
		l.commit(batch)
	}
}

// commit commits appends (consecutive, oldest first), handing their events
// to OnCommit in one call.
func (l *Log) commit(appends []*pendingAppend) {
	var evs []streams.Event
	answers := make([]func(), len(appends))
	for k, a := range appends {
		a.committed = true
		l.committed = a.first + a.count
		evs = append(evs, l.events[a.first:a.first+a.count]...)
		positions := make([]int64, a.count)
		for i, ev := range l.events[a.first : a.first+a.count] {
			positions[i] = ev.Position
		}
		answers[k] = func() {
			if !a.answered {
				a.answered = true
				a.done(positions, nil)
			}
		}
	}
	if l.AnswerFirst {
		for _, answer := range answers {
			answer()
		}
	}
	if l.OnCommit != nil {
		l.OnCommit(evs)
	}
	for _, answer := range answers {
		answer()
	}
}

// CommitAll commits every written event.
func (l *Log) CommitAll() {
	if len(l.appends) > 0 {
		l.commitThrough(l.appends[len(l.appends)-1])
	}
}

func (l *Log) schedule(what string, f func(), sync bool) {
	if sync {
		f()
		return
	}
	l.tasks = append(l.tasks, task{what: what, run: f})
}

// Pending is the number of waiting tasks.
func (l *Log) Pending() int { return len(l.tasks) }

// PendingWhat describes the waiting tasks, for failure messages.
func (l *Log) PendingWhat() []string {
	out := make([]string, len(l.tasks))
	for i, t := range l.tasks {
		out[i] = t.what
	}
	return out
}

// Run runs waiting task i (0 <= i < Pending()).
func (l *Log) Run(i int) {
	t := l.tasks[i]
	l.tasks = append(l.tasks[:i:i], l.tasks[i+1:]...)
	t.run()
}

// RunAll runs waiting tasks, oldest first, until none is left (tasks added
// meanwhile included).
func (l *Log) RunAll() {
	for len(l.tasks) > 0 {
		l.Run(0)
	}
}

// index of the committed event at pos, or -1.
func (l *Log) find(pos int64) int {
	i := sort.Search(l.committed, func(i int) bool { return l.events[i].Position >= pos })
	if i < l.committed && l.events[i].Position == pos {
		return i
	}
	return -1
}

// boundary reports whether a read may start at pos: 0, an event, or the
// committed end.
func (l *Log) boundary(pos int64) bool {
	return pos == 0 || pos == l.Committed() || l.find(pos) >= 0
}

// ReadAt implements streams.Log.
func (l *Log) ReadAt(pos int64, done func(streams.Event, error)) {
	l.Reads.At++
	l.schedule(fmt.Sprintf("read at %d", pos), func() {
		i := l.find(pos)
		if i < 0 {
			done(streams.Event{}, fmt.Errorf("%w: %d", ErrNoEvent, pos))
			return
		}
		done(l.events[i], nil)
	}, l.SyncReads)
}

// ReadForward implements streams.Log.
func (l *Log) ReadForward(from, upTo int64, maxBytes int, done func([]streams.Event, int64, error)) {
	l.Reads.Forward++
	l.schedule(fmt.Sprintf("read forward from %d", from), func() {
		if !l.boundary(from) {
			done(nil, 0, fmt.Errorf("streamstest: forward read from %d, which is not the start, an event or the end", from))
			return
		}
		i := sort.Search(l.committed, func(i int) bool { return l.events[i].Position >= from })
		var out []streams.Event
		next, bytes := from, 0
		for ; i < l.committed && l.events[i].Position < upTo; i++ {
			if len(out) > 0 && bytes >= maxBytes {
				break
			}
			ev := l.events[i]
			out = append(out, ev)
			bytes += int(Size(ev))
			next = ev.Position + Size(ev)
		}
		done(out, next, nil)
	}, l.SyncReads)
}

// ReadBackward implements streams.Log.
func (l *Log) ReadBackward(before int64, maxBytes int, done func([]streams.Event, int64, error)) {
	l.Reads.Backward++
	l.schedule(fmt.Sprintf("read backward before %d", before), func() {
		if !l.boundary(before) {
			done(nil, 0, fmt.Errorf("streamstest: backward read before %d, which is not the start, an event or the end", before))
			return
		}
		i := sort.Search(l.committed, func(i int) bool { return l.events[i].Position >= before }) - 1
		var out []streams.Event
		prev, bytes := before, 0
		for ; i >= 0; i-- {
			if len(out) > 0 && bytes >= maxBytes {
				break
			}
			ev := l.events[i]
			out = append(out, ev)
			bytes += int(Size(ev))
			prev = ev.Position
		}
		done(out, prev, nil)
	}, l.SyncReads)
}
