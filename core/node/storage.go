package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/annal-db/annal/core/checkpoint"
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/core/replication"
)

// Storage bounds.
const (
	// scanBytes is the most one step of the start-up scan reads.
	scanBytes = 1 << 20
	// tailBytes bounds the leader's in-memory copy of recently appended
	// records, from which replicas are fed while the leader syncs.
	tailBytes = 8 << 20
	// commitFile holds a commit point this node knew of: a lower bound of
	// the real one, at most commitCheckpointDelay stale.
	commitFile = "commit.chk"
	// commitCheckpointDelay is how long after the commit point moves it is
	// written to commitFile. Written on every move, it cost a write and a
	// sync per append; a stale value only means that after a restart the
	// node applies less of its log until its leader (or, leading, its
	// quorum) tells it the rest, which the protocol does anyway.
	commitCheckpointDelay = time.Second
)

// storage is the node's log and what it knows about it: the epochs in it,
// how far it is committed (written on a quorum, never to be lost), and how
// far committed records have been applied.
type storage struct {
	log *eventlog.Log
	// replicaWrites counts the leader's records handed to the log and not
	// yet answered; dialWhenIdle defers a new replication link until they
	// are (connectToLeader).
	replicaWrites int
	dialWhenIdle  bool
	commitChk     *checkpoint.File
	// commitChkTimer is armed while a commit point waits to be written to
	// commitChk; commitChkIssued is the last value handed to it.
	commitChkTimer  env.Timer
	commitChkIssued int64
	// committed is the commit point this node knows; it only grows.
	committed int64
	// applied is how far committed records have been handed on.
	applied  int64
	applying bool
	// unapplied keeps what this node wrote, decoded, until it is applied.
	unapplied unapplied
	epochs    []replication.Epoch // oldest first
	tail      tail
	// waiters are local appends waiting for the commit point.
	waiters []commitWaiter
	// appliedWaiters are leader reads waiting for records to be applied.
	appliedWaiters []appliedWaiter
	// leaderCommitted is the highest commit point the leader announced to
	// this replica (it may run ahead of what is durable here).
	leaderCommitted int64
	// lastBoundary is where the last complete append in the log ends:
	// records after it belong to an append whose end never arrived.
	lastBoundary int64
	// boundaries are the ends of this leader's appends not yet committed,
	// ascending: the commit point only ever lands on one, so an append is
	// applied (and seen) whole or not at all.
	boundaries []int64
	// repairing: a corrupt range is being cut from the log; repairTo is
	// the log end to reach again for the repair to be complete (0: none).
	repairing bool
	repairTo  int64
}

type appliedWaiter struct {
	pos int64
	f   func()
}

type commitWaiter struct {
	end  int64
	done func(error)
}

// tail is the leader's copy of the records it appended recently, as they
// lie on disk: consecutive chunks, with a jump where the log padded the
// rest of a segment.
type tail struct {
	chunks []tailChunk
	bytes  int
}

type tailChunk struct {
	from int64
	raw  []byte
}

func (t *tail) add(from int64, raw []byte) {
	t.chunks = append(t.chunks, tailChunk{from: from, raw: raw})
	t.bytes += len(raw)
}

// trim drops chunks that are durable (readable from the log) while the
// copy is over its bound; undurable chunks are never dropped.
func (t *tail) trim(durable int64) {
	n := 0
	for n < len(t.chunks) && t.bytes > tailBytes && t.chunks[n].from+int64(len(t.chunks[n].raw)) <= durable {
		t.bytes -= len(t.chunks[n].raw)
		n++
	}
	if n > 0 {
		clear(t.chunks[:n])
		t.chunks = t.chunks[n:]
	}
}

func (t *tail) reset() { *t = tail{} }

// read serves [from, ...) from memory when the copy covers from. A from
// in the padded gap before a chunk starts at that chunk (a replica pads the
// same gap itself); a later gap ends the read.
func (t *tail) read(from int64, max int) (raw []byte, first, next int64, ok bool) {
	if len(t.chunks) == 0 || from < t.chunks[0].from {
		return nil, 0, 0, false
	}
	// The first chunk that ends past from (chunks are in position order).
	i := sort.Search(len(t.chunks), func(k int) bool {
		return t.chunks[k].from+int64(len(t.chunks[k].raw)) > from
	})
	if i == len(t.chunks) {
		return nil, 0, 0, false
	}
	first = max64(from, t.chunks[i].from)
	next = first
	for ; i < len(t.chunks); i++ {
		c := t.chunks[i]
		if c.from > next {
			break
		}
		part := c.raw[next-c.from:]
		if len(raw) > 0 && len(raw)+len(part) > max {
			break
		}
		raw = append(raw, part...)
		next = c.from + int64(len(c.raw))
	}
	return raw, first, next, true
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// openStorage opens the log and the commit checkpoint, then scans the log
// once: to rebuild the epoch history and to apply what is known committed.
func (n *Node) openStorage(done func()) {
	cfg := eventlog.Config{SegmentSize: n.settings.SegmentSize}
	err := eventlog.Open(n.e.Disk, cfg, func(l *eventlog.Log, err error) {
		var corrupt *eventlog.CorruptError
		if errors.As(err, &corrupt) && l != nil {
			n.logf(env.LevelError, "log: %v; the range is not served", err)
		} else if err != nil {
			n.fatal(fmt.Errorf("cannot open the log: %w", err))
			return
		}
		n.st.log = l
		checkpoint.Open(n.e.Disk, commitFile, func(f *checkpoint.File, err error) {
			if err != nil {
				n.fatal(err)
				return
			}
			n.st.commitChk = f
			if v := f.Value(); len(v) == 8 {
				n.st.committed = min(int64(binary.LittleEndian.Uint64(v)), l.Durable())
				n.st.commitChkIssued = n.st.committed
			}
			n.scan(0, nil, done)
		})
	})
	if err != nil {
		n.fatal(fmt.Errorf("cannot open the log: %w", err))
	}
}

// scan reads the durable log forward in bounded steps. held are the
// committed records read so far of an append whose last record has not
// been read yet: an append is applied whole or not at all, and after a
// corrupt range is cut the log can end inside one that the commit point
// covers (its rest comes back from the leader).
func (n *Node) scan(from int64, held []eventlog.Record, done func()) {
	l := n.st.log
	finish := func(end int64) {
		n.st.applied = min(end, n.st.committed)
		if len(held) > 0 {
			n.st.applied = min(n.st.applied, held[0].Position)
		}
		done()
	}
	if from >= l.Durable() {
		finish(from)
		return
	}
	err := l.ReadForward(from, l.Durable(), scanBytes, func(recs []eventlog.Record, next int64, err error) {
		var c *eventlog.CorruptError
		if errors.As(err, &c) {
			// The log before the damage is good: keep it, cut the rest,
			// and fetch it again from the leader once following.
			n.reportCorruption(c, "scanning the log at start-up")
			// The failed read returned none of the good records before
			// the damage: scan them again, up to the new end.
			n.cutDamaged(c, func() { n.scan(from, held, done) })
			return
		}
		if err != nil {
			n.fatal(fmt.Errorf("log scan at %d: %w", from, err))
			return
		}
		var apply []eventlog.Record
		for i := range recs {
			r := &recs[i]
			if r.Kind == eventlog.KindEpoch {
				n.addEpoch(r)
			}
			if r.EndsAppend() {
				n.st.lastBoundary = r.End()
			}
			if r.End() <= n.st.committed {
				held = append(held, *r)
				if r.EndsAppend() {
					apply = append(apply, held...)
					held = held[:0]
				}
			}
		}
		n.applyRecords(apply)
		n.scan(next, held, done)
	})
	if errors.Is(err, eventlog.ErrNothingToRead) {
		finish(l.Durable())
	} else if err != nil {
		n.fatal(fmt.Errorf("log scan at %d: %w", from, err))
	}
}

func (n *Node) addEpoch(r *eventlog.Record) {
	ep := replication.Epoch{Number: r.Epoch.Number, ID: member.ID(r.Epoch.ID), Position: r.Position, LeaderID: member.ID(r.Epoch.LeaderID)}
	if len(n.st.epochs) > 0 && n.st.epochs[len(n.st.epochs)-1].Position >= ep.Position {
		return
	}
	n.st.epochs = append(n.st.epochs, ep)
	if ep.Number >= n.epoch.Number {
		n.epoch = ep
	}
}

// latestEpochs lists the node's last epochs, newest first.
//
// Only epochs whose record is durable count: what a replica tells a leader
// must match the log it reports (Writer is the durable end). An epoch
// record this node wrote as a leader and never made durable (its disk
// filled, say) would otherwise make the leader start streaming past the
// replica's end, and the replica could never follow again.
func (n *Node) latestEpochs() []replication.Epoch {
	var out []replication.Epoch
	durable := n.writer()
	for i := len(n.st.epochs) - 1; i >= 0 && len(out) < replication.MaxEpochs; i-- {
		if n.st.epochs[i].Position >= durable {
			continue
		}
		out = append(out, n.st.epochs[i])
	}
	return out
}

// applyRecords hands committed records on: to the client layer's index
// and subscriptions, and to whoever watches the node (the simulator's
// checkers).
func (n *Node) applyRecords(recs []eventlog.Record) {
	if len(recs) == 0 {
		return
	}
	if n.settings.OnApplied != nil {
		n.settings.OnApplied(recs)
	}
	if n.streams != nil {
		if evs := events(recs); len(evs) > 0 {
			n.streams.Apply(evs)
		}
	}
}

// advanceCommit moves the commit point and applies what it covers.
func (n *Node) advanceCommit(to int64) {
	st := &n.st
	if to > st.log.Durable() {
		// A replica may have only part of what the leader committed: it
		// commits up to the end of its last whole append, never into one.
		to = min(st.lastBoundary, st.log.Durable())
	}
	if to <= st.committed {
		return
	}
	st.committed = to
	n.observe(Committed{Position: to})
	n.scheduleCommitCheckpoint()
	kept := st.waiters[:0]
	for _, w := range st.waiters {
		if w.end <= to {
			w.done(nil)
		} else {
			kept = append(kept, w)
		}
	}
	clear(st.waiters[len(kept):])
	st.waiters = kept
	n.applyCommitted()
	n.maybeLead()
}

// scheduleCommitCheckpoint arranges for the commit point to be written to
// commit.chk a little later, so that one write and sync covers every
// advance made meanwhile. The value written is the commit point when the
// write starts, which never exceeds the local durable end (the leader
// commits only what it has durable; a replica caps what it is told at its
// own durable end) and is never cut by a truncation: so commit.chk never
// claims a record this node could lose.
func (n *Node) scheduleCommitCheckpoint() {
	st := &n.st
	if st.commitChkTimer != nil || n.stopped {
		return
	}
	st.commitChkTimer = n.e.Clock.AfterFunc(commitCheckpointDelay, func() {
		st.commitChkTimer = nil
		n.writeCommitCheckpoint()
	})
}

// writeCommitCheckpoint writes the current commit point to commit.chk
// unless it is there already.
func (n *Node) writeCommitCheckpoint() {
	st := &n.st
	if st.commitChk == nil || st.committed <= st.commitChkIssued {
		return
	}
	value := st.committed
	if value > st.log.Durable() {
		if st.repairTo == 0 {
			panic(fmt.Sprintf("node: commit point %d is past the durable end %d of the log", st.committed, st.log.Durable()))
		}
		// A corrupt range was cut and is being fetched again: claim only
		// what the log holds.
		value = st.log.Durable()
		if value <= st.commitChkIssued {
			return
		}
	}
	st.commitChkIssued = value
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(value))
	st.commitChk.Write(buf[:], func(err error) {
		if err != nil {
			n.fatal(err)
		}
	})
}

// maybeLead makes a PreLeader the Leader once its epoch record, and so its
// whole log, is committed and applied: from then on the client layer's view
// of the log is the truth it checks writes against.
func (n *Node) maybeLead() {
	if n.state == member.PreLeader && n.epochWritten && n.st.committed >= n.epochEnd && n.st.applied >= n.epochEnd {
		n.setState(member.Leader)
		// The writer's view starts the term as the committed view. Writes
		// it re-decided when the last term ended were proposed to a log that
		// refused them, and stayed in the view: numbered from there, this
		// term's first write would have skipped revisions. (Announcing the
		// new state can end it at once, when gossip shows a rival leader.)
		if n.streams != nil && n.state == member.Leader {
			n.streams.ResetWriter()
		}
	}
}

func (n *Node) runAppliedWaiters() {
	st := &n.st
	kept := st.appliedWaiters[:0]
	var ready []func()
	for _, w := range st.appliedWaiters {
		if w.pos <= st.applied {
			ready = append(ready, w.f)
		} else {
			kept = append(kept, w)
		}
	}
	clear(st.appliedWaiters[len(kept):])
	st.appliedWaiters = kept
	for _, f := range ready {
		f()
	}
}

// applyCommitted applies committed records not yet applied: from the
// decoded copies of what this node wrote when they hold the next ones (the
// usual case), else read back from the log one bounded step at a time.
func (n *Node) applyCommitted() {
	st := &n.st
	upTo := n.applicable()
	if st.applying || st.applied >= upTo {
		return
	}
	if recs, next := st.unapplied.take(st.log.Generation(), st.applied, upTo); next > st.applied {
		n.applyRecords(recs)
		st.applied = next
		n.maybeLead()
		n.runAppliedWaiters()
		n.applyCommitted()
		return
	}
	st.applying = true
	// Read no more than what is to be applied: most steps apply one small
	// append.
	step := int64(scanBytes)
	if n.settings.ApplyStepBytes > 0 {
		step = int64(n.settings.ApplyStepBytes)
	}
	n.applyFromLog(st.applied, int(min(step, max(upTo-st.applied, 1))))
}

// applicable is how far committed records can be applied now: the commit
// point, or the log's durable end when the log holds less. That happens
// after a corrupt range was cut: the commit point can then lie inside an
// append whose rest the leader sends in more than one message, and the
// part that has arrived waits for the rest.
func (n *Node) applicable() int64 {
	return min(n.st.committed, n.st.log.Durable())
}

// applyFromLog reads committed records from the log at from and applies
// them, whole appends only: a read of want bytes ends at a record, which
// may be inside an append, and an append is applied whole or not at all
// (a read in between would show part of it). What follows the last whole
// append is read again in the next step; an append longer than want is
// read again with a larger budget (the commit point ends an append, so a
// read up to it ends one too).
func (n *Node) applyFromLog(from int64, want int) {
	st := &n.st
	upTo := n.applicable()
	err := st.log.ReadForward(from, upTo, want, func(recs []eventlog.Record, next int64, err error) {
		st.applying = false
		if errors.Is(err, eventlog.ErrTruncated) {
			return // a corrupt range was cut: applying resumes as it comes back
		}
		if n.corruption(err, fmt.Sprintf("applying committed records at %d", from)) {
			return
		}
		if err != nil {
			n.fatal(fmt.Errorf("applying committed records at %d: %w", from, err))
			return
		}
		if st.applied != from {
			return // truncated meanwhile
		}
		whole := len(recs)
		for whole > 0 && !recs[whole-1].EndsAppend() {
			whole--
		}
		switch {
		case whole == len(recs):
		case whole > 0:
			recs, next = recs[:whole], recs[whole-1].End()
		case int64(want) >= upTo-from && upTo < st.committed:
			return // the rest of the append is still to arrive
		case int64(want) >= upTo-from:
			n.fatal(fmt.Errorf("applying committed records at %d: no append ends before the commit point %d", from, st.committed))
			return
		default:
			st.applying = true
			n.applyFromLog(from, int(min(upTo-from, 2*int64(want))))
			return
		}
		n.applyRecords(recs)
		st.applied = next
		n.maybeLead()
		n.runAppliedWaiters()
		n.applyCommitted()
	})
	if err != nil {
		st.applying = false
		if !errors.Is(err, eventlog.ErrNothingToRead) {
			n.fatal(fmt.Errorf("applying committed records at %d: %w", from, err))
		}
	}
}

// appendLocal appends records on the leader: they go to the log, and to
// the in-memory tail from which replicas are fed at once; done runs when
// they are committed (or the log fails).
func (n *Node) appendLocal(recs []eventlog.Record, done func(error)) {
	st := &n.st
	err := st.log.Append(recs, func(err error) {
		switch {
		case err == nil:
			st.unapplied.add(st.log.Generation(), recs)
			n.recomputeCommit()
		case errors.Is(err, env.ErrNoSpace):
			// The log rolled back to its durable end; replicas may hold
			// what it dropped. Give up leadership: the next term's epoch
			// cuts that suffix from every replica. The node stays up and
			// serves reads; it appends again once the disk has room.
			n.logf(env.LevelError, "log: disk full: %v; free space on this node's disk", err)
			n.forgetFrom(st.log.Durable())
			n.failWaiters(&DiskFullError{Message: fmt.Sprintf(
				"Disk Full: the leader could not write the append (%v); it gave up leadership, so the write may still commit under a new leader: retry with the same event ids", err)})
			n.loseLeadership(fmt.Sprintf("append failed: %v", err))
		default:
			n.fatal(fmt.Errorf("append: %w", err))
		}
	})
	if err != nil {
		// Refused without being written: later proposals were numbered
		// after it, so none of them may be written either.
		if done != nil {
			done(err)
		}
		n.loseLeadership(fmt.Sprintf("append refused: %v", err))
		return
	}
	for i := range recs {
		raw, err := eventlog.Encode(nil, recs[i])
		if err != nil {
			n.fatal(fmt.Errorf("encoding an appended record: %w", err))
			return
		}
		st.tail.add(recs[i].Position, raw)
	}
	st.tail.trim(st.log.Durable())
	end := recs[len(recs)-1].End()
	st.lastBoundary = end
	st.boundaries = append(st.boundaries, end)
	if done != nil {
		st.waiters = append(st.waiters, commitWaiter{end: end, done: done})
	}
	n.server.Pump()
}

// failWaiters answers every append waiting for its commit with err.
func (n *Node) failWaiters(err error) {
	waiters := n.st.waiters
	n.st.waiters = nil
	for _, w := range waiters {
		w.done(err)
	}
}

// recomputeCommit derives the leader's commit point: the highest position
// that the leader has durable and enough replicas acknowledge to make a
// quorum. Nothing before the current epoch's record is counted committed
// until that record itself is: otherwise a suffix of an older epoch could
// be declared committed and later cut by a new leader.
func (n *Node) recomputeCommit() {
	if !n.state.IsLeaderish() || n.leaderID != n.id || !n.epochWritten {
		return
	}
	if n.election != nil && n.election.Promised() > n.epoch.Number {
		// This node gave its log state to an election (or accepted a
		// newer proposal): the next leader is chosen on that state, so
		// nothing past it may commit here.
		return
	}
	need := n.clusterSize/2 + 1 - 1
	q := n.server.QuorumPosition(need)
	b, passed := commitPoint(min(q, n.st.log.Durable()), n.st.boundaries, n.epochEnd)
	n.st.boundaries = n.st.boundaries[passed:]
	if b >= 0 {
		n.advanceCommit(b)
	}
	n.st.tail.trim(n.st.log.Durable())
	n.server.Pump()
}

// commitPoint is where a leader may commit when a quorum holds its log up to
// reached: the end of the last whole append at or before reached (appends
// ends are boundaries, ascending), or -1 when that is before the end of
// this term's epoch record (epochEnd). Records of older epochs count as
// committed only once the new epoch's record is on a quorum too: a suffix
// of an older epoch on a quorum can still be cut by a later leader that
// never had it (Raft's "figure 8"). passed is how many boundaries lie at or
// before reached, never needed again.
func commitPoint(reached int64, boundaries []int64, epochEnd int64) (b int64, passed int) {
	b = -1
	for passed < len(boundaries) && boundaries[passed] <= reached {
		b = boundaries[passed]
		passed++
	}
	if b < epochEnd {
		return -1, passed
	}
	return b, passed
}

// commonPoint is where a replica's history and the leader's part, so
// where streaming to it starts.
func (n *Node) commonPoint(req *replication.Subscribe) int64 {
	return commonPoint(n.st.epochs, n.st.log.End(), req.Epochs, req.Writer)
}

// commonPoint is EventStoreDB's rule for where two histories part: walk
// the replica's epochs (newest first) for the first one the leader also
// has (leader's epochs oldest first, its log ending at leaderEnd); start at
// the replica's next epoch after it (or its writer position, if none), but
// not past the leader's next epoch after it (or the leader's end). With no
// common epoch, from the start.
func commonPoint(leader []replication.Epoch, leaderEnd int64, replica []replication.Epoch, writer int64) int64 {
	for k, re := range replica {
		for i := len(leader) - 1; i >= 0; i-- {
			le := leader[i]
			if le.Number != re.Number || le.ID != re.ID || le.Position != re.Position {
				continue
			}
			p := writer
			if k > 0 {
				p = replica[k-1].Position
			}
			if i == len(leader)-1 {
				return min(p, leaderEnd)
			}
			return min(p, leader[i+1].Position)
		}
	}
	return 0
}

// followFrom prepares a replica's log to receive the leader's records from
// start: a suffix the leader does not have is cut off. Committed records
// are never cut: a leader that asks for it is broken, and the node stops.
//
// wanted (nil: always) tells whether whoever asked still needs the cut. A
// cut that must wait for a write in flight asks again before acting: by
// then the link that asked may be gone and a newer link may have written
// past start, records this stale cut must not touch.
func (n *Node) followFrom(start int64, wanted func() bool, done func(error)) {
	st := &n.st
	if wanted != nil && !wanted() {
		done(errFollowAbandoned)
		return
	}
	if start > st.log.Durable() {
		done(fmt.Errorf("leader would start at %d, beyond our log's end %d", start, st.log.Durable()))
		return
	}
	if start == st.log.End() {
		done(nil)
		return
	}
	if start < st.committed {
		n.observe(CommittedCut{To: start, Committed: st.committed})
		n.fatal(fmt.Errorf("leader asks to cut the log back to %d, below the commit point %d", start, st.committed))
		return
	}
	if limit := n.opts.Int(options.MaxTruncation); wanted != nil && limit >= 0 && st.log.End()-start > limit {
		// Records only this node holds are never committed, but this
		// many of them is unusual enough for an operator to look first.
		// (A new leader cutting its own unfinished append, wanted nil,
		// is not this.)
		n.fatal(fmt.Errorf("the leader asks to cut %d bytes of the log (back to %d), more than MaxTruncation %d allows; "+
			"look at why this node wrote so much the cluster did not keep, then raise MaxTruncation (or -1: no limit) to let it cut and rejoin",
			st.log.End()-start, start, limit))
		return
	}
	n.logf(env.LevelInfo, "log: cutting %d bytes the leader does not have (from %d)", st.log.End()-start, start)
	err := st.log.Truncate(start, func(err error) {
		if err != nil {
			n.fatal(fmt.Errorf("truncating the log to %d: %w", start, err))
			return
		}
		n.forgetFrom(start)
		n.st.leaderCommitted = min(n.st.leaderCommitted, start)
		// Appends waiting for a commit past the cut can never be answered
		// by it: whatever commits there now is someone else's record.
		kept := st.waiters[:0]
		var cut []commitWaiter
		for _, w := range st.waiters {
			if w.end > start {
				cut = append(cut, w)
			} else {
				kept = append(kept, w)
			}
		}
		st.waiters = kept
		for _, w := range cut {
			w.done(ErrLeadershipLost)
		}
		n.observe(Truncated{To: start})
		done(nil)
	})
	if errors.Is(err, eventlog.ErrBusy) {
		// A write of the previous link is still in flight: try again.
		n.e.Clock.AfterFunc(10*time.Millisecond, func() { n.followFrom(start, wanted, done) })
		return
	}
	if err != nil {
		done(err)
	}
}

// errFollowAbandoned: the link that asked to follow from a position is
// gone; nothing was cut.
var errFollowAbandoned = errors.New("the replication link that asked to follow is gone")

// forgetFrom makes what the node remembers of its log (its epochs, the end
// of its last whole append) agree with a log that ends at pos: after a
// truncation, or after a write that failed for want of space rolled the
// log back to its durable end. An epoch record that never became durable
// must not count: elections rank nodes by epoch number first, and a node
// that kept the epoch its full disk refused would be elected again and
// again, failing each time, while the nodes that could lead wait.
func (n *Node) forgetFrom(pos int64) {
	n.dropEpochsFrom(pos)
	n.st.lastBoundary = min(n.st.lastBoundary, pos)
}

func (n *Node) dropEpochsFrom(pos int64) {
	st := &n.st
	for len(st.epochs) > 0 && st.epochs[len(st.epochs)-1].Position >= pos {
		st.epochs = st.epochs[:len(st.epochs)-1]
	}
	if len(st.epochs) > 0 {
		n.epoch = st.epochs[len(st.epochs)-1]
	} else {
		n.epoch = replication.None
	}
}

// writeReplicated appends the leader's raw records and notes the epochs
// among them once they are durable.
// ErrPromisedNewerLeader refuses an old leader's records: this node has
// accepted a proposal for a newer epoch, so it must not help the old
// leader commit anything more (the new leader may not have it).
var ErrPromisedNewerLeader = errors.New("promised a newer leader; refusing the old leader's records")

// promisedNewer reports whether this replica has accepted an election
// proposal beyond the epoch of the leader it follows.
func (n *Node) promisedNewer() bool {
	return n.election != nil && n.election.Promised() > n.followedEpoch
}

func (n *Node) writeReplicated(from int64, raw []byte, done func(int64, error)) {
	st := &n.st
	if n.promisedNewer() {
		done(0, ErrPromisedNewerLeader)
		return
	}
	var recs, epochs []eventlog.Record
	boundary := int64(-1)
	for off := 0; off < len(raw); {
		r, err := eventlog.Decode(raw[off:], from+int64(off))
		if err != nil {
			done(0, fmt.Errorf("leader sent a bad record at %d: %w", from+int64(off), err))
			return
		}
		recs = append(recs, r)
		if r.Kind == eventlog.KindEpoch {
			epochs = append(epochs, r)
		}
		if r.EndsAppend() {
			boundary = r.End()
		}
		off += r.Size
	}
	st.replicaWrites++
	err := st.log.AppendRaw(from, raw, func(err error) {
		defer n.replicaWriteDone()
		if errors.Is(err, env.ErrNoSpace) {
			// Nothing past the durable end was written and the log is
			// usable: the link closes, and the replica resubscribes from
			// its durable end once it reconnects (and the disk has room).
			n.logf(env.LevelError, "log: disk full, cannot write the leader's records at %d: %v; free space on this node's disk", from, err)
			done(0, err)
			return
		}
		if err != nil {
			n.fatal(fmt.Errorf("writing replicated records at %d: %w", from, err))
			done(0, err)
			return
		}
		st.unapplied.add(st.log.Generation(), recs)
		for i := range epochs {
			n.addEpoch(&epochs[i])
		}
		if boundary >= 0 {
			st.lastBoundary = boundary
		}
		if len(epochs) > 0 && n.gossip != nil {
			n.gossip.SelfChanged()
		}
		// The acknowledgement is what the leader counts towards its
		// quorum: none may go out once a newer leader has our promise.
		if n.promisedNewer() {
			done(0, ErrPromisedNewerLeader)
			return
		}
		n.advanceCommit(st.leaderCommitted)
		// After a repair the commit point may already cover what just
		// arrived: apply it without waiting for the commit point to move.
		n.applyCommitted()
		n.noteRepaired()
		done(st.log.Durable(), nil)
	})
	if err != nil {
		n.replicaWriteDone()
		done(0, err)
	}
}

// replicaWriteDone notes an answered replicated write, and dials the
// leader if a new link waited for the writes in flight to land.
func (n *Node) replicaWriteDone() {
	st := &n.st
	st.replicaWrites--
	if st.replicaWrites == 0 && st.dialWhenIdle {
		st.dialWhenIdle = false
		if !n.stopped && n.link == nil && !n.leaderID.IsZero() && n.leaderID != n.id &&
			(n.state == member.PreReplica || n.state == member.PreReadOnlyReplica) {
			n.connectToLeader()
		}
	}
}

// readForReplica serves the leader's records to a replica: from memory
// when recent, else from disk.
func (n *Node) readForReplica(from int64, max int, done func([]byte, int64, int64, error)) {
	st := &n.st
	if raw, first, next, ok := st.tail.read(from, max); ok {
		done(raw, first, next, nil)
		return
	}
	err := st.log.ReadRaw(from, st.log.Durable(), max, func(raw []byte, first, next int64, err error) {
		done(raw, first, next, err)
		// A leader with a corrupt range gives up leadership (a node with
		// an intact copy leads) and fetches the range back as a replica.
		n.corruption(err, fmt.Sprintf("reading records at %d for a replica", from))
	})
	if errors.Is(err, eventlog.ErrNothingToRead) {
		done(nil, from, from, nil)
		return
	}
	if err != nil {
		done(nil, 0, 0, err)
	}
}
