package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/sim/host"
	"github.com/annal-db/annal/sim/network"
	"github.com/annal-db/annal/sim/scenario"
	"github.com/annal-db/annal/sim/workload"
)

// Apply plays one timeline step now.
func (c *Cluster) Apply(st scenario.Step) {
	if st.Do == "slow" {
		c.applySlow(st)
		return
	}
	rec := c.W.Trace.Rec(c.W.Now(), "", "fault").Str("do", st.Do)
	target := c.resolve(st.Target)
	if target != nil {
		rec = rec.Str("target", target.Name)
		if st.As != "" {
			c.bound[st.As] = target
		}
	} else if st.Target != "" {
		rec.Str("target", st.Target+"(none)").End()
		return
	}
	with := make([]*host.Host, 0, len(st.With))
	var withNames []string
	for _, w := range st.With {
		if st.Do == "pin" || st.Do == "unpin" {
			rec = rec.Str("client", w)
			continue
		}
		if h := c.resolve(w); h != nil && h != target {
			with = append(with, h)
			withNames = append(withNames, h.Name)
		}
	}
	// The record is the trace's whole account of the change: it names
	// every parameter the step has, so that two different faults never
	// hash or read alike.
	if len(withNames) > 0 {
		rec = rec.Str("with", strings.Join(withNames, ","))
	}
	if st.For != 0 {
		rec = rec.Dur("for", st.For.D())
	}
	if st.By != 0 || st.Do == "clock-jump" {
		rec = rec.Dur("by", st.By.D())
	}
	if st.PPM != 0 || st.Do == "clock-drift" {
		rec = rec.Float("ppm", st.PPM)
	}
	if st.Value != "" {
		rec = rec.Str("value", st.Value)
	}
	if st.File != "" {
		rec = rec.Str("file", st.File)
	}
	if st.Offset != nil {
		rec = rec.Int("offset", *st.Offset)
	}
	rec.End()
	switch st.Do {
	case "kill":
		target.Kill()
	case "restart":
		switch target.State() {
		case host.Stopped:
			target.Start()
		case host.Powered:
			target.PowerOn()
		case host.Frozen:
			target.Thaw()
			if target.State() == host.Stopped { // killed while frozen
				target.Start()
			}
		}
	case "freeze":
		target.Freeze()
	case "thaw":
		target.Thaw()
	case "power-off":
		torn := target.Disk.Stats().PagesTorn
		target.PowerOff()
		if target.Disk.Stats().PagesTorn > torn {
			c.checker.mark(c.index(target), "torn-pages", "")
		}
	case "power-on":
		target.PowerOn()
	case "pause":
		target.Pause(st.For.D())
	case "partition":
		for _, w := range with {
			c.block(target, w)
			c.block(w, target)
		}
	case "one-way":
		for _, w := range with {
			c.block(target, w)
		}
	case "bridge":
		// target and with cannot talk; everyone else reaches both.
		for _, w := range with {
			c.block(target, w)
			c.block(w, target)
		}
	case "isolate":
		for _, h := range c.Hosts {
			if h != target {
				c.block(target, h)
				c.block(h, target)
			}
		}
	case "heal":
		c.Fabric.Heal()
		c.checker.healed()
	case "clock-jump":
		target.Clock.Jump(st.By.D())
	case "clock-drift":
		target.Clock.SetDrift(st.PPM)
	case "resign":
		if n := c.Node(c.index(target)); n != nil {
			n.Resign()
		}
	case "rate":
		v, err := strconv.ParseFloat(st.Value, 64)
		if err == nil && c.workload != nil {
			err = c.workload.SetRate(v)
		}
		if err != nil || c.workload == nil {
			c.fail(st, "the run needs clients and a positive rate (%v)", err)
			return
		}
	case "pin", "unpin":
		var err error
		switch {
		case c.workload == nil:
			err = fmt.Errorf("the run has no clients")
		case st.Do == "pin":
			err = c.workload.Pin(st.With, c.ClientEndpoint(c.index(target)))
		default:
			err = c.workload.Unpin(st.With)
		}
		if err != nil {
			c.fail(st, "%v", err)
			return
		}
	case "disk-full":
		// Capacity is whole pages; at least one, as 0 means unlimited.
		target.Disk.SetCapacity(max(target.Disk.Used(), 1))
	case "disk-free":
		target.Disk.SetCapacity(0)
	case "bitflip":
		if err := c.flipBit(target, st); err != nil {
			c.fail(st, "%v", err)
			return
		}
	case "disk-faults":
		read, write, sync, err := scenario.DiskFaultRates(st.Value)
		if err != nil {
			c.fail(st, "%v", err)
			return
		}
		target.Disk.SetFaults(read, write, sync)
	case "loss", "latency":
		// One property changes on every link; the others stay as earlier
		// steps left them.
		var loss float64
		var latency time.Duration
		var err error
		if st.Do == "loss" {
			loss, err = strconv.ParseFloat(st.Value, 64)
		} else {
			latency, err = time.ParseDuration(st.Value)
		}
		if err != nil {
			c.fail(st, "%v", err)
			return
		}
		for _, a := range c.Hosts {
			for _, b := range c.Hosts {
				if a != b {
					p := c.Fabric.Link(a.Net, b.Net)
					if st.Do == "loss" {
						p.Loss = loss
					} else {
						p.Latency = latency
					}
					c.Fabric.SetLink(a.Net, b.Net, p)
				}
			}
		}
	}
	c.checker.faultApplied()
}

// fail stops the run at a step that cannot be played as written (a rate
// for a run without clients, a bit flip with nothing to damage yet): what
// followed would not be the scenario's outcome.
func (c *Cluster) fail(st scenario.Step, format string, args ...any) {
	err := fmt.Errorf("scenario: %s at %v: %s", st.Do, st.At.D(), fmt.Sprintf(format, args...))
	c.W.Trace.Rec(c.W.Now(), "", "step-failed").Str("do", st.Do).Str("error", err.Error()).End()
	if c.stepErr == nil {
		c.stepErr = err
	}
	c.W.Halt()
}

// flipBit flips one bit of a file's synced data on target's disk. The
// default offset is the middle of the records the node knows committed
// in its first segment, so that the flip hits a record some read will
// need (and not preallocated space past the log's end).
func (c *Cluster) flipBit(target *host.Host, st scenario.Step) error {
	name := st.File
	if name == "log" {
		name = "log/segment-000000"
	}
	var off int64
	if st.Offset != nil {
		off = *st.Offset
	} else {
		committed := int64(0)
		if n := c.Node(c.index(target)); n != nil {
			committed = n.Stats().Committed
		}
		if committed < 2 {
			return fmt.Errorf("%s has no committed records to damage yet; flip later or give offset:", target.Name)
		}
		off = segmentHeaderSize + min(committed, SegmentSize)/2
	}
	bit := uint(c.W.Rand("fault/bitflip").IntN(8))
	return target.Disk.FlipBit(name, off, bit)
}

// segmentHeaderSize is the header before a log segment's data (see
// core/eventlog).
const segmentHeaderSize = 512

// applySlow changes a subscriber's processing time per event.
func (c *Cluster) applySlow(st scenario.Step) {
	d, err := time.ParseDuration(st.Value)
	var sub *workload.Subscriber
	if c.subscribers != nil {
		sub = c.subscribers.ByName(st.Target)
	}
	if err != nil || sub == nil {
		c.fail(st, "target %q must be a subscriber and value %q a duration", st.Target, st.Value)
		return
	}
	c.W.Trace.Rec(c.W.Now(), "", "fault").Str("do", st.Do).Str("target", st.Target).Dur("per_event", d).End()
	sub.SetSlow(d)
}

func (c *Cluster) block(from, to *host.Host) {
	if from == to {
		return // a host is never cut from itself ("leader" may be in with:)
	}
	c.Fabric.Block(from.Net, to.Net)
	c.checker.blocked(from, to)
}

// resolve finds a step's target: a node name, a name bound by as:, the
// current leader, or some running non-leader.
func (c *Cluster) resolve(name string) *host.Host {
	switch name {
	case "":
		return nil
	case "leader":
		if i := c.checker.leaderIndex(); i >= 0 {
			return c.Hosts[i]
		}
		return nil
	case "follower":
		for i, h := range c.Hosts {
			if n := c.Node(i); n != nil && h.State() == host.Running && n.State() != member.Leader {
				return h
			}
		}
		return nil
	}
	return c.bound[name]
}

func (c *Cluster) index(h *host.Host) int {
	for i, o := range c.Hosts {
		if o == h {
			return i
		}
	}
	return -1
}

// LinkProfile is the default link of the run.
func (c *Cluster) LinkProfile() network.LinkProfile { return c.Fabric.Config().Link }
