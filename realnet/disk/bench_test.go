package disk

import (
	"fmt"
	"os"
	"testing"

	"github.com/annal-db/annal/realnet/loop"
)

// BenchmarkAppendSync measures durable appends of 256-byte records to one
// log file, each writer waiting for its record's Sync before appending the
// next, as a node acknowledging writes does. One op is one record. With
// many writers, Syncs issued while an fsync is in flight share the next
// one, so fsyncs/record falls well below 1. ANNAL_BENCH_DIR picks the
// directory (default: a temporary one), since fsync cost depends on the
// file system.
func BenchmarkAppendSync(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchAppendSync(b, writers) })
	}
}

func benchAppendSync(b *testing.B, writers int) {
	root := b.TempDir()
	if dir := os.Getenv("ANNAL_BENCH_DIR"); dir != "" {
		var err error
		if root, err = os.MkdirTemp(dir, "bench-*"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(root)
	}
	l := loop.New("bench", 0)
	defer l.Stop()
	d, err := Open(root, l, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	created := make(chan error, 1)
	if err := l.Post(func() { d.Create("log", func(err error) { created <- err }) }); err != nil {
		b.Fatal(err)
	}
	if err := <-created; err != nil {
		b.Fatal(err)
	}

	record := make([]byte, 256)
	remaining, active := b.N, writers // touched on the loop only
	finished := make(chan error, 1)
	var write func()
	write = func() {
		if remaining == 0 {
			if active--; active == 0 {
				finished <- nil
			}
			return
		}
		remaining--
		d.Append("log", record, func(_ int64, err error) {
			if err != nil {
				finished <- err
				return
			}
			d.Sync("log", func(err error) {
				if err != nil {
					finished <- err
					return
				}
				write()
			})
		})
	}
	before := d.Stats()
	b.ResetTimer()
	if err := l.Post(func() {
		for range writers {
			write()
		}
	}); err != nil {
		b.Fatal(err)
	}
	if err := <-finished; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	fsyncs := d.Stats().Fsyncs - before.Fsyncs
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(fsyncs)/float64(b.N), "fsyncs/record")
}
