package disk

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

func TestWriteReadAndSizes(t *testing.T) {
	r := newRig(t, 1, DefaultConfig())
	r.ok(r.create("log"), "create log")
	r.ok(r.write("log", 0, []byte("hello")), "write")
	off, err := r.append("log", []byte(" world"))
	r.ok(err, "append")
	if off != 5 {
		t.Fatalf("append went to offset %d, want 5 (the end of the file)", off)
	}
	// A write past the end leaves a gap of zeros.
	r.ok(r.write("log", 5000, []byte("x")), "write past end")
	size, err := r.size("log")
	r.ok(err, "size")
	if size != 5001 {
		t.Fatalf("size = %d after writing 1 byte at 5000, want 5001", size)
	}
	got, err := r.read("log", 0, 11)
	r.ok(err, "read")
	if string(got) != "hello world" {
		t.Fatalf("read %q, want %q", got, "hello world")
	}
	gap, err := r.read("log", 11, 4989)
	r.ok(err, "read gap")
	if !bytes.Equal(gap, make([]byte, 4989)) {
		t.Fatalf("the gap between 11 and 5000 should read as zeros")
	}

	// Past the end: the available bytes, then ErrShortRead.
	tail, err := r.read("log", 4998, 100)
	r.ok(err, "read across end")
	if !bytes.Equal(tail, []byte{0, 0, 'x'}) {
		t.Fatalf("read across the end gave %q, want the 3 available bytes", tail)
	}
	_, err = r.read("log", 5001, 1)
	if !errors.Is(err, env.ErrShortRead) {
		t.Fatalf("read at the end: err = %v, want ErrShortRead", err)
	}
	if !strings.Contains(err.Error(), `"log"`) || !strings.Contains(err.Error(), "offset 5001") {
		t.Fatalf("error %q should name the file and the offset", err)
	}
	_, err = r.read("log", 0, env.MaxRead+1)
	if !errors.Is(err, env.ErrReadTooLarge) {
		t.Fatalf("read of MaxRead+1 bytes: err = %v, want ErrReadTooLarge", err)
	}
	_, err = r.read("missing", 0, 1)
	if !errors.Is(err, env.ErrNotExist) {
		t.Fatalf("read of a missing file: err = %v, want ErrNotExist", err)
	}
	if err := r.create("log"); !errors.Is(err, env.ErrExist) {
		t.Fatalf("second create: err = %v, want ErrExist", err)
	}
}

func TestTruncateZeroesWhatItCuts(t *testing.T) {
	r := newRig(t, 1, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.ok(r.write("f", 0, filled(7, 3*4096)), "write")
	r.ok(r.sync("f"), "sync")
	r.ok(r.truncate("f", 5000), "shrink")
	r.ok(r.truncate("f", 3*4096), "extend")
	want := append(filled(7, 5000), make([]byte, 3*4096-5000)...)
	if got := r.contents("f"); !bytes.Equal(got, want) {
		t.Fatalf("after shrinking to 5000 and extending again, bytes past 5000 must be zero")
	}
	r.ok(r.sync("f"), "sync")
	r.crash()
	if got := r.contents("f"); !bytes.Equal(got, want) {
		t.Fatalf("a synced truncate must survive a crash")
	}
}

func TestPreallocatedRegionsReadAsZeros(t *testing.T) {
	r := newRig(t, 1, DefaultConfig())
	r.ok(r.create("seg"), "create")
	r.ok(r.syncDir(""), "syncdir")
	r.ok(r.preallocate("seg", 10000), "preallocate")
	r.ok(r.preallocate("seg", 10), "preallocate smaller")
	if size, _ := r.size("seg"); size != 10000 {
		t.Fatalf("size after Preallocate(10000) then Preallocate(10) = %d, want 10000 (preallocation never shrinks)", size)
	}
	r.ok(r.write("seg", 100, []byte("abc")), "write")
	r.ok(r.sync("seg"), "sync")
	r.crash()
	got := r.contents("seg")
	want := make([]byte, 10000)
	copy(want[100:], "abc")
	if !bytes.Equal(got, want) {
		t.Fatalf("preallocated, synced file after crash: %d bytes, want 10000 zero bytes with abc at 100", len(got))
	}
}

func TestEffectsApplyAtCompletionInFIFOOrder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WriteLatency = [2]time.Duration{10 * time.Microsecond, 500 * time.Microsecond}
	cfg.ReadLatency = [2]time.Duration{10 * time.Microsecond, 500 * time.Microsecond}
	r := newRig(t, 7, cfg)
	r.ok(r.create("f"), "create")

	const n = 60
	issued := r.w.Now()
	first := len(r.exec.handoffs)
	var order []int
	var seen []string
	for i := range n {
		switch i % 3 {
		case 0:
			r.d.WriteAt("f", int64(i), []byte{byte(i)}, func(err error) {
				r.ok(err, "write")
				order = append(order, i)
			})
		case 1:
			r.d.ReadAt("f", 0, 64, func(b []byte, err error) {
				r.ok(err, "read")
				order = append(order, i)
				seen = append(seen, string(b))
			})
		case 2:
			r.d.Sync("f", func(err error) {
				r.ok(err, "sync")
				order = append(order, i)
			})
		}
	}
	if got := r.contents("f"); len(got) != 0 {
		t.Fatalf("writes applied at issue: file has %d bytes before any completion", len(got))
	}
	r.w.RunUntil(time.Second)

	if len(order) != n {
		t.Fatalf("%d of %d callbacks ran", len(order), n)
	}
	for i, got := range order {
		if got != i {
			t.Fatalf("completion %d was op %d: operations must complete in issue order; order %v", i, got, order)
		}
	}
	ties := 0
	handoffs := r.exec.handoffs[first:]
	for i, at := range handoffs {
		if at < issued+10*time.Microsecond {
			t.Fatalf("completion %d at %v, before the minimum latency", i, at)
		}
		if i > 0 && at < handoffs[i-1] {
			t.Fatalf("completion %d at %v is earlier than completion %d at %v", i, at, i-1, handoffs[i-1])
		}
		if i > 0 && at == handoffs[i-1] {
			ties++
		}
	}
	if ties == 0 {
		t.Fatalf("no operation ever waited behind a slower earlier one; the test does not exercise the queue")
	}
	// Each read sees exactly the writes issued before it.
	for k, s := range seen {
		read := 3*k + 1
		if len(s) != read {
			t.Fatalf("read op %d saw %d bytes, want %d: it must see every write issued before it and none after", read, len(s), read)
		}
	}
}

func TestFailedSyncReturnsErrIOAndLeavesDataUnsynced(t *testing.T) {
	r := newRig(t, 3, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.ok(r.syncDir(""), "syncdir")
	data := filled(0xAB, 2*4096)
	r.ok(r.write("f", 0, data), "write")

	r.s.SetFaults(0, 0, 1)
	err := r.sync("f")
	if !errors.Is(err, env.ErrIO) {
		t.Fatalf("sync with SyncFaultRate 1: err = %v, want ErrIO", err)
	}
	if !strings.Contains(err.Error(), `"f"`) {
		t.Fatalf("error %q should name the file", err)
	}
	if d, _ := r.s.DurableContents("f"); len(d) != 0 {
		t.Fatalf("a failed sync made %d bytes durable; it must leave the data unsynced", len(d))
	}
	if got := r.s.Stats().SyncFaults; got != 1 {
		t.Fatalf("Stats.SyncFaults = %d, want 1", got)
	}
	if !bytes.Equal(r.contents("f"), data) {
		t.Fatalf("a failed sync must not change what reads see")
	}

	// The failed writeback consumed the dirty pages (see
	// TestSyncAfterAFailedSyncDoesNotPersistWhatFailed): only writing them
	// again makes a later sync carry them.
	r.s.SetFaults(0, 0, 0)
	r.ok(r.write("f", 0, data), "rewrite after faults cleared")
	r.ok(r.sync("f"), "sync after faults cleared")
	if d, _ := r.s.DurableContents("f"); !bytes.Equal(d, data) {
		t.Fatalf("a successful sync of rewritten data must make it durable")
	}
}

func TestWriteFaultsChangeNothing(t *testing.T) {
	r := newRig(t, 3, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.s.SetFaults(0, 1, 0)
	if err := r.write("f", 0, []byte("abc")); !errors.Is(err, env.ErrIO) {
		t.Fatalf("write with WriteFaultRate 1: err = %v, want ErrIO", err)
	}
	if err := r.create("g"); !errors.Is(err, env.ErrIO) {
		t.Fatalf("create with WriteFaultRate 1: err = %v, want ErrIO", err)
	}
	if got := r.contents("f"); len(got) != 0 {
		t.Fatalf("a faulted write changed the file to %q", got)
	}
	if files := r.s.Files(); !slices.Equal(files, []string{"f"}) {
		t.Fatalf("a faulted create changed the namespace: %q", files)
	}
}

func TestReadFaults(t *testing.T) {
	r := newRig(t, 11, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.ok(r.write("f", 0, []byte("data")), "write")
	r.s.SetFaults(1, 0, 0)
	b, err := r.read("f", 0, 4)
	if !errors.Is(err, env.ErrIO) || b != nil {
		t.Fatalf("read with ReadFaultRate 1: got %q, %v; want no data and ErrIO", b, err)
	}
	if _, err := r.size("f"); !errors.Is(err, env.ErrIO) {
		t.Fatalf("size with ReadFaultRate 1: err = %v, want ErrIO", err)
	}

	r.s.SetFaults(0.5, 0, 0)
	failed := 0
	const reads = 200
	for range reads {
		b, err := r.read("f", 0, 4)
		switch {
		case errors.Is(err, env.ErrIO):
			failed++
		case err != nil || string(b) != "data":
			t.Fatalf("a read that did not fault returned %q, %v", b, err)
		}
	}
	if failed < reads/4 || failed > 3*reads/4 {
		t.Fatalf("%d of %d reads faulted at rate 0.5", failed, reads)
	}
	if got := r.s.Stats().ReadFaults; got != uint64(failed+2) {
		t.Fatalf("Stats.ReadFaults = %d, want %d", got, failed+2)
	}
	if !bytes.Equal(r.contents("f"), []byte("data")) {
		t.Fatalf("read faults must not damage data")
	}
}

func TestCapacity(t *testing.T) {
	const page = 4096
	r := newRig(t, 5, DefaultConfig())
	r.s.SetCapacity(4 * page)
	r.ok(r.create("a"), "create a")
	r.ok(r.create("b"), "create b")
	a := filled(1, 3*page)
	r.ok(r.write("a", 0, a), "write 3 pages")

	err := r.write("b", 0, filled(2, 2*page))
	if !errors.Is(err, env.ErrNoSpace) {
		t.Fatalf("writing 2 pages with 1 free: err = %v, want ErrNoSpace", err)
	}
	if !strings.Contains(err.Error(), `"b"`) || !strings.Contains(err.Error(), "offset 0") {
		t.Fatalf("error %q should name the file and offset", err)
	}
	if got := r.contents("b"); len(got) != 0 {
		t.Fatalf("a write that ran out of space left %d bytes behind; it must change nothing", len(got))
	}
	if !bytes.Equal(r.contents("a"), a) {
		t.Fatalf("running out of space damaged another file")
	}
	if _, err := r.append("a", filled(3, 2*page)); !errors.Is(err, env.ErrNoSpace) {
		t.Fatalf("append past capacity: err = %v, want ErrNoSpace", err)
	}
	if err := r.preallocate("b", 2*page); !errors.Is(err, env.ErrNoSpace) {
		t.Fatalf("preallocate past capacity: err = %v, want ErrNoSpace", err)
	}
	// Space that exists can still be used, and rewrites need none.
	r.ok(r.write("b", 0, filled(2, page)), "write the last free page")
	r.ok(r.write("a", 100, []byte("rewrite")), "rewrite inside a full disk")
	if got, want := r.s.Used(), int64(4*page); got != want {
		t.Fatalf("Used() = %d, want %d", got, want)
	}
	// Shrinking and deleting give space back.
	r.ok(r.truncate("a", page), "shrink a")
	r.ok(r.remove("b"), "delete b")
	r.ok(r.preallocate("a", 4*page), "preallocate into freed space")
	if got := r.s.Stats().NoSpace; got != 3 {
		t.Fatalf("Stats.NoSpace = %d, want 3", got)
	}
}

func TestKilledProcessCallbacksNeverRun(t *testing.T) {
	r := newRig(t, 9, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.ok(r.syncDir(""), "syncdir")
	handoffs := len(r.exec.handoffs)
	ran := false
	r.d.WriteAt("f", 0, []byte("from the dead"), func(error) { ran = true })
	r.d.Close() // killed before the write completes
	r.w.RunUntil(time.Second)
	if ran || len(r.exec.handoffs) != handoffs {
		t.Fatalf("a killed process got its completion (ran=%v, handoffs %d -> %d)", ran, handoffs, len(r.exec.handoffs))
	}
	// The kernel had the write: the next incarnation sees it and can sync it.
	if got := string(r.contents("f")); got != "from the dead" {
		t.Fatalf("a write queued by a killed process must still apply; file has %q", got)
	}
	if got := r.s.Stats().DroppedCallbacks; got != 1 {
		t.Fatalf("Stats.DroppedCallbacks = %d, want 1", got)
	}
	// A dead view's calls are ignored.
	r.d.Sync("f", func(error) { ran = true })
	r.w.RunUntil(2 * time.Second)
	if ran {
		t.Fatalf("an operation issued on a closed view got a completion")
	}
	r.restart()
	r.ok(r.sync("f"), "sync from the new incarnation")
	r.crash()
	if got := string(r.contents("f")); got != "from the dead" {
		t.Fatalf("after a sync by the next incarnation the data must be durable; file has %q", got)
	}
}

func TestCrashDropsQueuedOperations(t *testing.T) {
	r := newRig(t, 9, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.ok(r.syncDir(""), "syncdir")
	old := r.d
	ran := false
	old.WriteAt("f", 0, []byte("never"), func(error) { ran = true })
	r.s.Crash()
	r.w.RunUntil(time.Second)
	if ran {
		t.Fatalf("a write queued before the crash completed")
	}
	if got := r.contents("f"); len(got) != 0 {
		t.Fatalf("a write queued before the crash took effect: %q", got)
	}
	if !old.Dead() {
		t.Fatalf("a view opened before the crash must be dead")
	}
	if got := r.s.Stats().DroppedOps; got != 1 {
		t.Fatalf("Stats.DroppedOps = %d, want 1", got)
	}
	r.restart()
	r.ok(r.write("f", 0, []byte("after")), "write after restart")
}

func TestFlipBit(t *testing.T) {
	r := newRig(t, 1, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.ok(r.syncDir(""), "syncdir")
	r.ok(r.write("f", 0, filled(0, 5000)), "write")
	r.ok(r.sync("f"), "sync")
	r.ok(r.s.FlipBit("f", 4500, 3), "flip")
	got := r.contents("f")
	want := filled(0, 5000)
	want[4500] = 8
	if !bytes.Equal(got, want) {
		t.Fatalf("after FlipBit(4500, 3) reads must see byte 4500 = 8, got %d", got[4500])
	}
	if d, _ := r.s.DurableContents("f"); !bytes.Equal(d, want) {
		t.Fatalf("FlipBit must corrupt the durable copy")
	}
	if err := r.s.FlipBit("f", 5000, 0); err == nil {
		t.Fatalf("FlipBit past the durable size must fail")
	}
}

func TestListAndRename(t *testing.T) {
	r := newRig(t, 1, DefaultConfig())
	for _, n := range []string{"chunks/b", "chunks/a", "chunks/sub/c", "top"} {
		r.ok(r.create(n), "create "+n)
	}
	r.ok(r.write("chunks/a", 0, []byte("A")), "write a")
	r.ok(r.write("chunks/b", 0, []byte("B")), "write b")
	names, err := r.list("chunks")
	r.ok(err, "list")
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("List(chunks) = %q, want [a b] (base names, files directly inside)", names)
	}
	root, err := r.list("")
	r.ok(err, "list root")
	if !slices.Equal(root, []string{"top"}) {
		t.Fatalf("List(\"\") = %q, want [top]", root)
	}
	r.ok(r.rename("chunks/a", "chunks/b"), "rename over b")
	if got := string(r.contents("chunks/b")); got != "A" {
		t.Fatalf("rename must replace the target; chunks/b has %q", got)
	}
	if _, ok := r.s.Contents("chunks/a"); ok {
		t.Fatalf("rename must remove the source name")
	}
	if err := r.rename("chunks/a", "x"); !errors.Is(err, env.ErrNotExist) {
		t.Fatalf("rename of a missing file: err = %v, want ErrNotExist", err)
	}
	if err := r.remove("chunks/a"); !errors.Is(err, env.ErrNotExist) {
		t.Fatalf("delete of a missing file: err = %v, want ErrNotExist", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	r := newRig(t, 1, DefaultConfig())
	r.ok(r.create("f"), "create")
	for _, name := range []string{"", "/abs", "a//b", "dir/", "a/../b"} {
		err := r.create(name)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a relative") {
			t.Fatalf("create %q: err = %v, want ErrInvalid saying what a name must be", name, err)
		}
	}
	if err := r.write("f", -1, []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("write at -1: err = %v, want ErrInvalid", err)
	}
	if _, err := r.read("f", 0, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("read of -1 bytes: err = %v, want ErrInvalid", err)
	}
	if err := r.truncate("f", -5); !errors.Is(err, ErrInvalid) {
		t.Fatalf("truncate to -5: err = %v, want ErrInvalid", err)
	}
	if err := r.syncDir("/"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("syncdir \"/\": err = %v, want ErrInvalid", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig is invalid: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"sector not dividing page", func(c *Config) { c.SectorSize = 1000 }, "SectorSize"},
		{"negative page", func(c *Config) { c.PageSize = -1 }, "PageSize"},
		{"inverted latency", func(c *Config) { c.SyncLatency = [2]time.Duration{time.Second, time.Millisecond} }, "SyncLatency"},
		{"rate above one", func(c *Config) { c.ReadFaultRate = 1.5 }, "ReadFaultRate"},
		{"crash sum above one", func(c *Config) { c.CrashSurvive, c.CrashTorn = 0.7, 0.5 }, "sum to at most 1"},
		{"negative capacity", func(c *Config) { c.Capacity = -1 }, "Capacity"},
	} {
		c := DefaultConfig()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestHugeSparseSizesCostNothing(t *testing.T) {
	r := newRig(t, 1, DefaultConfig())
	r.ok(r.create("f"), "create")
	r.ok(r.preallocate("f", 1<<50), "preallocate a petabyte")
	r.ok(r.write("f", 1<<49, []byte("mid")), "write in the middle")
	r.ok(r.truncate("f", 5), "shrink")
	r.ok(r.truncate("f", 1<<50), "extend again")
	got, err := r.read("f", 1<<49, 3)
	r.ok(err, "read")
	if !bytes.Equal(got, make([]byte, 3)) {
		t.Fatalf("bytes cut by a shrink must read as zeros after extending, got %q", got)
	}
	if n := len(r.s.ns.current["f"].pages); n > 1 {
		t.Fatalf("a sparse file of one written page holds %d pages", n)
	}
}

// A failed sync is not a sync that did not happen: Linux marks the pages
// whose writeback failed clean (the error is reported once: PostgreSQL's
// "fsyncgate"), so what the failed sync covered reached the media only as
// far as the failed writeback took it, while reads keep seeing it from the
// page cache. A later sync that succeeds does not write those pages again.
// A node that retried the sync, or that restarted after the fatal error and
// synced what it read back, would take the data for durable; the simulator
// must not make it so, or it cannot catch that bug.
func TestSyncAfterAFailedSyncDoesNotPersistWhatFailed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CrashSurvive, cfg.CrashTorn, cfg.CrashZeroed = 0, 0, 0 // nothing unsynced reaches the media
	r := newRig(t, 3, cfg)
	r.ok(r.create("f"), "create")
	r.ok(r.syncDir(""), "syncdir")
	data := filled(0xAB, 2*4096)
	r.ok(r.write("f", 0, data), "write")

	r.s.SetFaults(0, 0, 1)
	if err := r.sync("f"); !errors.Is(err, env.ErrIO) {
		t.Fatalf("sync with SyncFaultRate 1: err = %v, want ErrIO", err)
	}
	r.s.SetFaults(0, 0, 0)

	// The process stops on the failed sync; the next one reads the data
	// back from the page cache, intact, and syncs it.
	r.restart()
	got, err := r.read("f", 0, len(data))
	r.ok(err, "read after the failed sync")
	if !bytes.Equal(got, data) {
		t.Fatalf("reads after a failed sync see %d bytes, want the %d written (the page cache keeps them)", len(got), len(data))
	}
	r.ok(r.sync("f"), "sync after the failed one")
	r.crash()
	if after := r.contents("f"); bytes.Equal(after, data) {
		t.Fatal("the data a failed sync did not write survived a power loss after a later, successful sync: " +
			"the pages of a failed writeback are clean, and that sync had nothing to write")
	}

	// Writing the data again is what makes it durable.
	r.ok(r.write("f", 0, data), "rewrite")
	r.ok(r.sync("f"), "sync of the rewrite")
	r.crash()
	if after := r.contents("f"); !bytes.Equal(after, data) {
		t.Fatalf("rewritten and synced data did not survive a crash: %d bytes", len(after))
	}
}
