package disk

import (
	"fmt"
	"testing"
	"time"

	"github.com/annal-db/annal/sim/trace"
	"github.com/annal-db/annal/sim/world"
)

// workloadHash runs a fixed workload (writes, syncs, a crash, a restart,
// reads) on a disk with faults and returns the trace hash.
func workloadHash(seed uint64, payload byte) string {
	w := world.New(seed, trace.New(nil))
	cfg := DefaultConfig()
	cfg.ReadFaultRate, cfg.WriteFaultRate, cfg.SyncFaultRate = 0.05, 0.05, 0.05
	s := NewStore(w, "h1", cfg)
	d := s.Open(&testExec{w: w})
	ignore := func(error) {}
	for i := range 20 {
		name := fmt.Sprintf("seg/%d", i%4)
		if i < 4 {
			d.Create(name, ignore)
		}
		d.Append(name, []byte{payload, byte(i), 3, 4, 5}, func(int64, error) {})
		d.WriteAt(name, int64(i*1000), make([]byte, 3000), ignore)
		if i%3 == 0 {
			d.Sync(name, ignore)
			d.SyncDir("seg", ignore)
		}
	}
	w.RunUntil(5 * time.Millisecond)
	s.Crash()
	d = s.Open(&testExec{w: w})
	for i := range 4 {
		d.ReadAt(fmt.Sprintf("seg/%d", i), 0, 10000, func([]byte, error) {})
	}
	w.RunUntil(time.Second)
	return w.Trace.Hash()
}

func TestSameSeedSameTraceHash(t *testing.T) {
	a, b := workloadHash(42, 1), workloadHash(42, 1)
	if a != b {
		t.Fatalf("two runs of seed 42 gave different trace hashes %s and %s", a, b)
	}
	if c := workloadHash(43, 1); c == a {
		t.Fatalf("seeds 42 and 43 gave the same trace hash %s: latencies, faults and crash outcomes must follow the seed", a)
	}
	if d := workloadHash(42, 2); d == a {
		t.Fatalf("different written data gave the same trace hash %s: written bytes must be hashed", a)
	}
}
