package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/eventlog"
)

// A read of the node's own log can meet synced data that fails its checks
// (a bit flipped on the media). Such a copy is not an intact copy: the
// node cuts its log back to the start of the damage and fetches the range
// again from its leader, which streams from the replica's log end as it
// always does.
//
// Cutting committed records is safe for this reason: an acknowledged
// record is on a quorum; if a quorum of intact copies exists, every
// election quorum meets one of them, so every later leader has the record
// and this node gets it back. The node's commit point and applied position
// stay where they were (the records it re-fetches below them are the same
// committed records, and are not applied twice); until its log reaches
// the commit point again it refuses to lead, since its log lacks records
// it knows are committed.

// corruption handles an error of a read of the node's own log: corruption
// starts a repair and reports true; any other error reports false.
func (n *Node) corruption(err error, while string) bool {
	var c *eventlog.CorruptError
	if !errors.As(err, &c) || n.stopped {
		return false
	}
	n.reportCorruption(c, while)
	if n.st.repairing {
		return true
	}
	if n.state.IsLeaderish() {
		n.loseLeadership(fmt.Sprintf("the log is corrupt at position %d", c.From))
	}
	n.closeLink()
	n.cutDamaged(c, func() {
		if !n.leaderID.IsZero() && n.leaderID != n.id {
			n.scheduleReconnect(0)
		}
	})
	return true
}

func (n *Node) reportCorruption(c *eventlog.CorruptError, while string) {
	file, off := n.st.log.Location(c.From)
	then := "it is cut and fetched again from the leader"
	if n.onlyCopy() {
		then = "this node holds the only copy, so it stops"
	}
	n.logf(env.LevelError, "log: corrupt synced data in %s at offset %d (log positions [%d, %d)), found while %s: %s; the range is not served, %s",
		file, off, c.From, c.To, while, c.Reason, then)
	n.observe(Corrupted{From: c.From, To: c.To, File: file, Offset: off})
}

// onlyCopy says whether this node's log is the only copy of what it
// committed: the quorum that made its records safe is this node alone, so
// there is no leader to fetch a damaged range from, and a cut would destroy
// acknowledged events (the intact ones after the damage too) and hand their
// positions to new ones.
func (n *Node) onlyCopy() bool { return n.clusterSize == 1 && !n.readOnly }

// cutDamaged truncates the log to the start of the damage, waiting for
// writes in flight, then runs next.
func (n *Node) cutDamaged(c *eventlog.CorruptError, next func()) {
	st := &n.st
	if c.From >= st.log.Durable() {
		next()
		return
	}
	if n.onlyCopy() {
		file, off := st.log.Location(c.From)
		n.fatal(fmt.Errorf("the log is corrupt in %s at offset %d (log positions [%d, %d)): %s; this single-node cluster holds the only copy, so the node stops rather than cut acknowledged events; restore the data directory from a backup",
			file, off, c.From, c.To, c.Reason))
		return
	}
	st.repairing = true
	st.repairTo = max(st.repairTo, st.log.Durable(), st.committed)
	err := st.log.TruncateDamaged(c, func(err error) {
		st.repairing = false
		if err != nil {
			n.fatal(fmt.Errorf("cutting the corrupt log range from %d: %w", c.From, err))
			return
		}
		n.forgetFrom(c.From)
		next()
	})
	if errors.Is(err, eventlog.ErrBusy) {
		n.e.Clock.AfterFunc(10*time.Millisecond, func() {
			if !n.stopped {
				n.cutDamaged(c, next)
			}
		})
		return
	}
	if err != nil {
		st.repairing = false
		n.fatal(fmt.Errorf("cutting the corrupt log range from %d: %w", c.From, err))
	}
}

// noteRepaired reports the end of a repair once the log again reaches
// what it held before the damage was cut.
func (n *Node) noteRepaired() {
	st := &n.st
	if st.repairTo > 0 && st.log.Durable() >= st.repairTo {
		n.logf(env.LevelInfo, "log: the corrupt range is restored from the leader; the log is intact up to %d", st.log.Durable())
		n.observe(Repaired{To: st.repairTo})
		st.repairTo = 0
	}
}

// mayLead reports whether the log holds everything this node knows is
// committed: a node repairing a corrupt range does not.
func (n *Node) mayLead() bool {
	return n.st.log.Durable() >= n.st.committed && !n.st.repairing
}
