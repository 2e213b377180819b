package host

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/world"
)

func TestCPURunsInputsFIFOEachForItsCost(t *testing.T) {
	w := world.New(1, nil)
	c := newCPU(w)
	costs := []time.Duration{3 * ms, 0, 1 * ms, 5 * ms, 0, 2 * ms}
	var order []int
	var at []time.Duration
	for i, cost := range costs {
		c.Exec(cost, world.InputFunc(func() { order = append(order, i); at = append(at, w.Now()) }))
	}
	// An input handed over while the process is busy queues behind the rest.
	w.Func(2*ms, func() {
		c.Exec(ms, world.InputFunc(func() { order = append(order, len(costs)); at = append(at, w.Now()) }))
	})
	w.RunUntil(time.Second)

	want := []int{0, 1, 2, 3, 4, 5, 6}
	if !slices.Equal(order, want) {
		t.Fatalf("inputs ran in the order %v; want FIFO %v", order, want)
	}
	var start time.Duration
	for i, cost := range costs {
		if at[i] != start {
			t.Fatalf("input %d ran at %v; want %v (the sum of the costs before it)", i, at[i], start)
		}
		start += cost
	}
	if at[6] != 11*ms {
		t.Fatalf("late input ran at %v; want 11ms, after the queue it found", at[6])
	}
	if c.busy != 12*ms || c.ran != 7 {
		t.Fatalf("CPU charged %v for %d inputs; want 12ms for 7", c.busy, c.ran)
	}
}

func TestCPUQueueCompactsWithoutLosingOrder(t *testing.T) {
	// A long backlog that keeps refilling exercises the queue's compaction.
	w := world.New(1, nil)
	c := newCPU(w)
	next := 0
	var got []int
	var feed func()
	feed = func() {
		for range 3 {
			n := next
			next++
			c.Exec(us, world.InputFunc(func() { got = append(got, n) }))
		}
		if next < 6000 {
			w.Func(2*us, feed)
		}
	}
	feed()
	w.RunUntil(time.Second)
	if len(got) != next {
		t.Fatalf("%d of %d inputs ran", len(got), next)
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("input %d ran in position %d; FIFO order lost", n, i)
		}
	}
}

func TestBurstOfExpensiveInputsDelaysTimers(t *testing.T) {
	for _, burst := range []int{0, 1, 10} {
		r := newRig(t, 1, exactNet())
		var probeAt, probeMono time.Duration
		h := r.host("a", "10.0.0.1", ms, func(e env.Env) func() {
			for range burst {
				e.Clock.AfterFunc(100*ms, func() {})
			}
			e.Clock.AfterFunc(100*ms, func() {
				probeAt, probeMono = r.w.Now(), time.Duration(e.Clock.Now())
			})
			return func() {}
		})
		h.Start()
		r.run(time.Second)
		// Every timer callback costs 1 ms of CPU: the probe, queued behind
		// the burst, runs once all of it has.
		want := 100*ms + time.Duration(burst)*ms
		if probeAt != want || probeMono != want {
			t.Fatalf("burst of %d: the probe ran at %v (its clock read %v); want %v", burst, probeAt, probeMono, want)
		}
		if got, wantBusy := h.CPUBusy(), time.Duration(burst+2)*ms; got != wantBusy {
			t.Fatalf("burst of %d: CPUBusy() = %v; want %v (start, burst and probe at 1ms each)", burst, got, wantBusy)
		}
	}
}

func TestMessagesCostCPUByTheirSize(t *testing.T) {
	cfg := exactNet()
	cfg.MessageCPU, cfg.ByteCPU = 10*us, time.Nanosecond
	r := newRig(t, 1, cfg)
	srv := &server{w: r.w}
	a := r.host("a", "10.0.0.1", 0, srv.program)
	cli := &client{w: r.w, addr: "10.0.0.1"}
	b := r.host("b", "10.0.0.2", 0, cli.program)
	a.Start()
	b.Start()
	r.run(10 * ms)
	if cli.last().established < 0 || len(srv.accepted) != 1 {
		t.Fatalf("connection not up within 10ms (established at %v, %d accepted)", cli.last().established, len(srv.accepted))
	}
	big := make([]byte, 100_000)
	for range 3 {
		if err := cli.last().c.Send(big); err != nil {
			t.Fatal(err)
		}
	}
	r.run(50 * ms)
	in := srv.accepted[0]
	if len(in.recvAt) != 3 {
		t.Fatalf("%d of 3 messages received", len(in.recvAt))
	}
	// The three arrive together; each then holds the process for its cost.
	cost := cfg.MessageCPU + time.Duration(len(big))*cfg.ByteCPU
	for i := 1; i < 3; i++ {
		if gap := in.recvAt[i] - in.recvAt[i-1]; gap != cost {
			t.Fatalf("message %d handled %v after the previous; want its cost %v", i, gap, cost)
		}
	}
	if a.CPUBusy() < 3*cost {
		t.Fatalf("CPUBusy() = %v; want at least %v for three 100kB messages", a.CPUBusy(), 3*cost)
	}
}

func TestPauseDelaysTimersAndDeliveries(t *testing.T) {
	cfg := exactNet()
	cfg.MessageCPU, cfg.ByteCPU = 0, 0
	r := newRig(t, 1, cfg)
	srv := &server{w: r.w}
	var timerAt time.Duration = -1
	a := r.host("a", "10.0.0.1", 0, func(e env.Env) func() {
		e.Clock.AfterFunc(30*ms, func() { timerAt = r.w.Now() })
		return srv.program(e)
	})
	cli := &client{w: r.w, addr: "10.0.0.1"}
	b := r.host("b", "10.0.0.2", 0, cli.program)
	a.Start()
	b.Start()
	r.w.RunUntil(20 * ms)
	if len(srv.accepted) != 1 {
		t.Fatalf("%d connections accepted by 20ms; want 1", len(srv.accepted))
	}
	if a.Paused() || a.PauseLeft() != 0 {
		t.Fatalf("an idle process reports Paused() = %v, PauseLeft() = %v", a.Paused(), a.PauseLeft())
	}

	a.Pause(50 * ms) // 20ms .. 70ms
	if !a.Paused() || a.PauseLeft() != 50*ms {
		t.Fatalf("after Pause(50ms): Paused() = %v, PauseLeft() = %v; want true, 50ms", a.Paused(), a.PauseLeft())
	}
	if err := cli.last().c.Send([]byte("during")); err != nil { // arrives at 21ms
		t.Fatal(err)
	}
	r.w.RunUntil(69 * ms)
	if timerAt >= 0 || len(srv.accepted[0].msgs) != 0 {
		t.Fatalf("inside the pause: timer ran at %v, %d messages handled; want nothing", timerAt, len(srv.accepted[0].msgs))
	}
	if a.PauseLeft() != ms {
		t.Fatalf("PauseLeft() at 69ms = %v; want 1ms", a.PauseLeft())
	}
	r.w.RunUntil(time.Second)
	in := srv.accepted[0]
	if len(in.msgs) != 1 || in.recvAt[0] != 70*ms {
		t.Fatalf("message received %v at %v; want \"during\" handled at 70ms, the end of the pause", in.msgs, in.recvAt)
	}
	if timerAt != 70*ms {
		t.Fatalf("a timer due at 30ms ran at %v; want 70ms, the end of the pause", timerAt)
	}
	if a.Paused() {
		t.Fatal("Paused() still true after the pause ended")
	}
	if cli.last().closed {
		t.Fatalf("the peer's connection broke during a pause: %v; a paused process keeps its network", cli.last().reason)
	}
}

func TestKilledProcessRunsNothingMore(t *testing.T) {
	r := newRig(t, 1, exactNet())
	ran := map[string]int{}
	var e1 env.Env
	h := r.host("a", "10.0.0.1", ms, func(e env.Env) func() {
		e1 = e
		for range 5 {
			e.Clock.AfterFunc(10*ms, func() { ran["burst"]++ })
		}
		e.Clock.AfterFunc(50*ms, func() { ran["later"]++ })
		return func() { ran["stop"]++ }
	})
	h.Start()
	r.w.RunUntil(11500 * us) // the burst started at 10ms, 1ms each: two ran, three queued
	if ran["burst"] != 2 {
		t.Fatalf("%d burst timers ran by 11.5ms; want 2 (1ms of CPU each, from 10ms)", ran["burst"])
	}
	h.Kill()
	if h.State() != Stopped {
		t.Fatalf("State() after Kill = %v; want stopped", h.State())
	}
	// Anything the dead incarnation still holds is inert.
	e1.Clock.AfterFunc(ms, func() { ran["after-kill"]++ })
	e1.Log.Log(env.LevelError, "from the dead")
	r.run(time.Second)
	if ran["burst"] != 2 || ran["later"] != 0 || ran["after-kill"] != 0 {
		t.Fatalf("after Kill: burst %d (want 2), later %d, after-kill %d (want 0): a killed process ran code",
			ran["burst"], ran["later"], ran["after-kill"])
	}
	if ran["stop"] != 0 {
		t.Fatal("Kill called the program's stop function; a killed process gets no chance to clean up")
	}
	if r.traced("from the dead") {
		t.Fatal("a log line of a killed process reached the trace")
	}
	if !r.traced(" a kill ", "incarnation=1") {
		t.Fatal("no kill record in the trace")
	}
	h.Kill() // a second kill is a no-op
	if h.State() != Stopped || h.CPUBusy() != 0 {
		t.Fatalf("after a second Kill: State() = %v, CPUBusy() = %v", h.State(), h.CPUBusy())
	}
}

func TestRestartIsAFreshIncarnation(t *testing.T) {
	r := newRig(t, 1, exactNet())
	type inc struct {
		e     env.Env
		fired int
		first uint64
	}
	var incs []*inc
	h := r.host("a", "10.0.0.1", 0, func(e env.Env) func() {
		in := &inc{e: e, first: e.Rand.Uint64()}
		incs = append(incs, in)
		e.Clock.AfterFunc(100*ms, func() { in.fired++ })
		return func() {}
	})
	h.Start()
	r.w.RunUntil(10 * ms)
	monoAtKill := incs[0].e.Clock.Now()
	h.Kill()
	r.w.RunUntil(20 * ms)
	h.Start()
	r.w.RunUntil(time.Second)

	if len(incs) != 2 || h.Incarnation != 2 {
		t.Fatalf("%d program runs, Incarnation %d; want 2 and 2", len(incs), h.Incarnation)
	}
	old, cur := incs[0], incs[1]
	if old.fired != 0 {
		t.Fatal("a timer of the killed incarnation fired in the restarted one's lifetime")
	}
	if cur.fired != 1 {
		t.Fatalf("the new incarnation's timer fired %d times; want once", cur.fired)
	}
	if old.first == cur.first {
		t.Fatal("both incarnations drew the same first random number; a restarted node must get a fresh stream")
	}
	if old.e.Net == cur.e.Net || old.e.Disk == cur.e.Disk || old.e.Clock == cur.e.Clock {
		t.Fatal("the restarted process shares its network, disk or clock handle with the killed one")
	}
	// The host's clock is the machine's, not the process's: it did not reset.
	if now := cur.e.Clock.Now(); now < monoAtKill {
		t.Fatalf("monotonic clock went back from %v to %v across a process restart", monoAtKill, now)
	}
	if !r.traced(" a start ", "incarnation=2") {
		t.Fatal("no start record for incarnation 2 in the trace")
	}
}

func TestStartPanicsUnlessStopped(t *testing.T) {
	r := newRig(t, 1, exactNet())
	h := r.host("a", "10.0.0.1", 0, idle)
	h.Start()
	defer func() {
		if recover() == nil {
			t.Fatal("Start of a running host did not panic")
		}
	}()
	h.Start()
}

func TestExitEndsTheProcess(t *testing.T) {
	for _, timerCPU := range []time.Duration{0, ms} {
		r := newRig(t, 1, exactNet())
		ran := map[string]int{}
		h := r.host("a", "10.0.0.1", timerCPU, func(e env.Env) func() {
			e.Clock.AfterFunc(10*ms, func() {
				// Inputs handed over before the exit, by this input itself.
				e.Net.Resolve("localhost", func([]string, error) { ran["resolve"]++ })
				e.Clock.AfterFunc(0, func() { ran["timer0"]++ })
				e.Exit(3)
				e.Log.Log(env.LevelError, "after exit")
				e.Clock.AfterFunc(ms, func() { ran["timer1"]++ })
			})
			e.Clock.AfterFunc(10*ms, func() { ran["queued"]++ }) // same instant, behind the exit
			e.Clock.AfterFunc(20*ms, func() { ran["later"]++ })
			return func() { ran["stop"]++ }
		})
		h.Start()
		r.run(time.Second)
		if h.State() != Stopped {
			t.Fatalf("TimerCPU %v: State() after Exit = %v; want stopped", timerCPU, h.State())
		}
		for _, k := range []string{"resolve", "timer0", "timer1", "queued", "later", "stop"} {
			if ran[k] != 0 {
				t.Errorf("TimerCPU %v: %q ran after the process called Exit", timerCPU, k)
			}
		}
		if !r.traced(" a exit ", "code=3") {
			t.Errorf("TimerCPU %v: no exit record with code 3 in the trace", timerCPU)
		}
		h.Start() // an exited host can be started again
		if h.State() != Running || h.Incarnation != 2 {
			t.Fatalf("restart after exit: State() = %v, Incarnation %d", h.State(), h.Incarnation)
		}
	}
}

func TestExitRacingAFreezeStillEndsTheProcess(t *testing.T) {
	// The process calls Exit, and in the same instant (before the exit is
	// carried out) the host freezes. Once thawed, the process must be gone.
	r := newRig(t, 1, exactNet())
	ran := map[string]int{}
	h := r.host("a", "10.0.0.1", 10*ms, func(e env.Env) func() {
		// Start costs 10ms, so this runs at 10ms, scheduled long before.
		e.Clock.AfterFunc(0, func() { e.Exit(0) })
		e.Clock.AfterFunc(5*ms, func() { ran["queued"]++ })
		e.Clock.AfterFunc(50*ms, func() { ran["later"]++ })
		return func() {}
	})
	h.Start()
	r.w.RunUntil(ms)
	r.w.At(10*ms, world.HandlerFunc(func(uint64) { h.Freeze() }), 0)
	r.w.RunUntil(20 * ms)
	h.Thaw()
	r.run(time.Second)
	if ran["queued"] != 0 || ran["later"] != 0 {
		t.Fatalf("after Exit, then Freeze and Thaw, the process ran %v", ran)
	}
	if h.State() != Stopped {
		t.Fatalf("State() = %v; want stopped: the process exited", h.State())
	}
	h.Start()
	if h.State() != Running {
		t.Fatalf("restart after exit: State() = %v", h.State())
	}
}

func TestFreezeHoldsTheProcessAndThawResumesIt(t *testing.T) {
	r := newRig(t, 1, exactNet())
	var firedAt time.Duration = -1
	h := r.host("a", "10.0.0.1", 0, func(e env.Env) func() {
		e.Clock.AfterFunc(10*ms, func() { firedAt = r.w.Now() })
		return func() {}
	})
	h.Start()
	r.w.RunUntil(5 * ms)
	h.Freeze()
	if h.State() != Frozen || !h.Net.Frozen() {
		t.Fatalf("after Freeze: State() = %v, network frozen %v", h.State(), h.Net.Frozen())
	}
	r.w.RunUntil(time.Second)
	if firedAt >= 0 {
		t.Fatalf("a frozen process ran its timer at %v", firedAt)
	}
	h.Thaw()
	r.run(time.Millisecond)
	if firedAt != time.Second {
		t.Fatalf("after Thaw at 1s the overdue timer ran at %v; want 1s", firedAt)
	}
	if h.State() != Running || h.Net.Frozen() {
		t.Fatalf("after Thaw: State() = %v, network frozen %v", h.State(), h.Net.Frozen())
	}
}

func TestKillKeepsThePageCachePowerOffCrashesTheDisk(t *testing.T) {
	r := newRig(t, 1, exactNet())
	var starts int
	var appendErr error = errors.New("append never completed")
	h := r.host("a", "10.0.0.1", 0, func(e env.Env) func() {
		starts++
		if starts == 1 {
			e.Disk.Create("f", func(err error) {
				if err != nil {
					appendErr = err
					return
				}
				e.Disk.Append("f", []byte("unsynced"), func(_ int64, err error) { appendErr = err })
			})
		}
		return func() {}
	})
	h.Start()
	r.run(100 * ms)
	if appendErr != nil {
		t.Fatalf("append: %v", appendErr)
	}

	// A process kill: the kernel keeps what the process wrote.
	h.Kill()
	if got, _ := h.Disk.Contents("f"); string(got) != "unsynced" {
		t.Fatalf("after Kill file f holds %q; want \"unsynced\" (the page cache survives a process kill)", got)
	}
	if n := h.Disk.Stats().Crashes; n != 0 {
		t.Fatalf("Kill crashed the disk (%d crashes); only a power loss does", n)
	}
	h.Start()
	r.run(10 * ms)

	// A power loss: the crash model decides what survives, and the host
	// comes back with a new process.
	h.PowerOff()
	if h.State() != Powered || !h.Net.Down() || h.CPUBusy() != 0 {
		t.Fatalf("after PowerOff: State() = %v, network down %v, CPUBusy() %v", h.State(), h.Net.Down(), h.CPUBusy())
	}
	if n := h.Disk.Stats().Crashes; n != 1 {
		t.Fatalf("PowerOff crashed the disk %d times; want once", n)
	}
	h.PowerOff() // a second one is a no-op
	if n := h.Disk.Stats().Crashes; n != 1 {
		t.Fatalf("a second PowerOff crashed the disk again (%d crashes)", n)
	}
	h.PowerOn()
	r.run(10 * ms)
	if h.State() != Running || h.Net.Down() || starts != 3 || h.Incarnation != 3 {
		t.Fatalf("after PowerOn: State() = %v, network down %v, %d starts, incarnation %d; want running, up, 3, 3",
			h.State(), h.Net.Down(), starts, h.Incarnation)
	}
}

// Killing a frozen host kills its process: after the thaw nothing of the
// old incarnation runs, and the host is stopped, to be started again.
func TestKillingAFrozenHostKillsItsProcess(t *testing.T) {
	r := newRig(t, 1, exactNet())
	ticks := 0
	h := r.host("a", "10.0.0.1", us, func(e env.Env) func() {
		var tick func()
		tick = func() { ticks++; e.Clock.AfterFunc(10*ms, tick) }
		e.Clock.AfterFunc(10*ms, tick)
		return func() {}
	})
	h.Start()
	r.run(50 * ms)
	h.Freeze()
	h.Kill()
	if h.State() != Frozen {
		t.Fatalf("a frozen host killed is %v; want still frozen (silent) until it thaws", h.State())
	}
	h.Thaw()
	before := ticks
	r.run(100 * ms)
	if h.State() != Stopped || ticks != before {
		t.Fatalf("killed while frozen: state %v, %d ticks after the thaw; want stopped, none", h.State(), ticks-before)
	}
}
