package checkpoint_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/checkpoint"
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/disk"
	"github.com/annal-db/annal/sim/world"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fifo runs callbacks in order at the current virtual time.
type fifo struct{ w *world.World }

func (e fifo) Exec(_ time.Duration, in world.Input) { e.w.Func(0, in.Run) }

func open(t *testing.T, w *world.World, d env.Disk) *checkpoint.File {
	t.Helper()
	var f *checkpoint.File
	var err error
	done := false
	checkpoint.Open(d, "proposal.chk", func(x *checkpoint.File, e error) { f, err, done = x, e, true })
	w.RunUntil(w.Now() + time.Second)
	if !done || err != nil {
		t.Fatalf("open: done %v, err %v", done, err)
	}
	return f
}

func value(f *checkpoint.File) int64 {
	v := f.Value()
	if v == nil {
		return -1
	}
	return int64(binary.LittleEndian.Uint64(v))
}

func enc(n int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }

// Whatever a crash does to unsynced pages, a checkpoint reloads as the last
// value whose write completed, or the one being written: never older, never
// garbage.
func TestCheckpointSurvivesCrashes(t *testing.T) {
	outcomes := map[string]int{}
	for seed := uint64(1); seed <= 300; seed++ {
		w := world.New(seed, nil)
		cfg := disk.DefaultConfig()
		cfg.CrashSurvive, cfg.CrashTorn, cfg.CrashZeroed = 0.3, 0.3, 0.3
		store := disk.NewStore(w, "h", cfg)
		view := store.Open(fifo{w})
		f := open(t, w, view)
		durable := int64(-1)
		n := int(seed % 7)
		for i := 0; i < n; i++ {
			v := int64(i)
			f.Write(enc(v), func(err error) {
				if err != nil {
					t.Fatalf("write %d: %v", v, err)
				}
				durable = max(durable, v)
			})
		}
		// Crash somewhere in the middle of the writes.
		w.RunUntil(w.Now() + time.Duration(seed%5)*300*time.Microsecond)
		inflight := int64(n - 1)
		view.Close()
		store.Crash()
		view = store.Open(fifo{w})
		g := open(t, w, view)
		got := value(g)
		if got < durable || got > inflight {
			t.Fatalf("seed %d: reloaded %d; last durable %d, last written %d", seed, got, durable, inflight)
		}
		outcomes[fmt.Sprint(got == durable)]++
	}
	if outcomes["true"] == 0 {
		t.Fatal("no run reloaded exactly the last durable value")
	}
}

func TestCoalescedWritesAllComplete(t *testing.T) {
	w := world.New(1, nil)
	store := disk.NewStore(w, "h", disk.DefaultConfig())
	f := open(t, w, store.Open(fifo{w}))
	done := 0
	for i := range 10 {
		f.Write(enc(int64(i)), func(err error) {
			if err != nil {
				t.Fatal(err)
			}
			done++
		})
	}
	w.RunUntil(w.Now() + time.Second)
	if done != 10 || value(f) != 9 {
		t.Fatalf("%d of 10 callbacks, value %d; want all and 9", done, value(f))
	}
	if syncs := store.Stats().Syncs; syncs > 3 {
		t.Fatalf("%d syncs for 10 writes issued together; want them coalesced", syncs)
	}
}

func TestBothSlotsCorruptIsReported(t *testing.T) {
	w := world.New(1, nil)
	store := disk.NewStore(w, "h", disk.DefaultConfig())
	view := store.Open(fifo{w})
	f := open(t, w, view)
	for i := range 2 {
		f.Write(enc(int64(i)), func(error) {})
		w.RunUntil(w.Now() + time.Second)
	}
	if err := store.FlipBit("proposal.chk", 20, 1); err != nil {
		t.Fatal(err)
	}
	if err := store.FlipBit("proposal.chk", 512+20, 1); err != nil {
		t.Fatal(err)
	}
	var err error
	checkpoint.Open(view, "proposal.chk", func(_ *checkpoint.File, e error) { err = e })
	w.RunUntil(w.Now() + time.Second)
	if !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("err %v, want ErrCorrupt", err)
	}
}

func TestFailedSyncRefusesLaterWrites(t *testing.T) {
	w := world.New(1, nil)
	store := disk.NewStore(w, "h", disk.DefaultConfig())
	f := open(t, w, store.Open(fifo{w}))
	store.SetFaults(0, 0, 1)
	var first, second error
	f.Write(enc(1), func(err error) { first = err })
	w.RunUntil(w.Now() + time.Second)
	store.SetFaults(0, 0, 0)
	f.Write(enc(2), func(err error) { second = err })
	w.RunUntil(w.Now() + time.Second)
	if !errors.Is(first, env.ErrIO) || !errors.Is(second, env.ErrIO) {
		t.Fatalf("errors %v / %v; want the sync failure, then refusal", first, second)
	}
}

// A checkpoint reserves its slots when it is created, so that a disk that
// fills afterwards never makes a checkpoint write fail (which would stop
// the node); on a disk with no room even for that, opening fails.
func TestCheckpointsWriteOnADiskThatFilledAfterOpening(t *testing.T) {
	w := world.New(1, nil)
	store := disk.NewStore(w, "h", disk.DefaultConfig())
	view := store.Open(fifo{w})
	f := open(t, w, view)
	store.SetCapacity(max(store.Used(), 1))
	var errs []error
	for i := range 3 {
		f.Write(enc(int64(i)), func(err error) { errs = append(errs, err) })
		w.RunUntil(w.Now() + time.Second)
	}
	if len(errs) != 3 || errors.Join(errs...) != nil || value(f) != 2 {
		t.Fatalf("writes on a full disk: %v, value %d; want 3 successes and 2", errs, value(f))
	}

	var err error
	opened := false
	checkpoint.Open(view, "commit.chk", func(_ *checkpoint.File, e error) { err, opened = e, true })
	w.RunUntil(w.Now() + time.Second)
	if !opened || !errors.Is(err, env.ErrNoSpace) {
		t.Fatalf("opening a new checkpoint on a full disk: done %v, err %v; want ErrNoSpace", opened, err)
	}
}

// A value whose sync failed stays in the page cache, marked clean, and
// nowhere on the media (as Linux leaves it): a process started after the
// failure reads it back as if durable. Open writes what it read again, so
// that what the process goes on to act on survives a power loss.
func TestAValueReadBackAfterAFailedSyncIsMadeDurable(t *testing.T) {
	w := world.New(1, nil)
	cfg := disk.DefaultConfig()
	cfg.CrashSurvive, cfg.CrashTorn, cfg.CrashZeroed = 0, 0, 0 // unsynced pages never reach the media
	store := disk.NewStore(w, "h", cfg)
	view := store.Open(fifo{w})
	f := open(t, w, view)
	var err1, err2 error
	f.Write(enc(1), func(err error) { err1 = err })
	w.RunUntil(w.Now() + time.Second)
	store.SetFaults(0, 0, 1)
	f.Write(enc(2), func(err error) { err2 = err })
	w.RunUntil(w.Now() + time.Second)
	store.SetFaults(0, 0, 0)
	if err1 != nil || !errors.Is(err2, env.ErrIO) {
		t.Fatalf("writes: %v, %v; want the second's sync to fail", err1, err2)
	}

	// The node stops; a new process on the same host reads 2 back.
	view.Close()
	view = store.Open(fifo{w})
	if got := value(open(t, w, view)); got != 2 {
		t.Fatalf("after a restart: %d, want 2 from the page cache (the test no longer sets up what it means to)", got)
	}
	view.Close()
	store.Crash()
	if got := value(open(t, w, store.Open(fifo{w}))); got != 2 {
		t.Fatalf("after a power loss: %d; the restarted process acted on 2, which must have been made durable", got)
	}
}
