package disk

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/annal-db/annal/core/eventlog"
	"github.com/annal-db/annal/realnet/loop"
)

// The core event log on real files: sequential appends made durable by its
// group commit (fdatasync of the segment, then of writer.chk), and
// sequential reads back, each measured against the raw file operations of
// this package doing the same work in the same run. ANNAL_BENCH_DIR picks
// the directory, as for BenchmarkAppendSync.

// benchRoot is a fresh directory for one benchmark run.
func benchRoot(b *testing.B) string {
	root := b.TempDir()
	if dir := os.Getenv("ANNAL_BENCH_DIR"); dir != "" {
		var err error
		if root, err = os.MkdirTemp(dir, "bench-*"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(root) })
	}
	return root
}

// onLoop runs f on l and waits for the result it reports through done.
func onLoop(b *testing.B, l *loop.Loop, f func(done func(error))) {
	b.Helper()
	result := make(chan error, 1)
	if err := l.Post(func() { f(func(err error) { result <- err }) }); err != nil {
		b.Fatal(err)
	}
	if err := <-result; err != nil {
		b.Fatal(err)
	}
}

// openBenchLog opens a disk and an event log on it.
func openBenchLog(b *testing.B, root string, segment int64) (*loop.Loop, *Disk, *eventlog.Log) {
	l := loop.New("bench", 0)
	d, err := Open(root, l, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var log *eventlog.Log
	onLoop(b, l, func(done func(error)) {
		if err := eventlog.Open(d, eventlog.Config{SegmentSize: segment}, func(lg *eventlog.Log, err error) {
			log = lg
			done(err)
		}); err != nil {
			done(err)
		}
	})
	return l, d, log
}

func benchEvent(n int64, data []byte) eventlog.Record {
	var id [16]byte
	id[0], id[15] = 0xBE, byte(n)
	return eventlog.NewEvent(eventlog.Event{Stream: fmt.Sprintf("bench-%d", n%64), Number: n / 64, ID: id, Type: "bench", Data: data})
}

// BenchmarkEventLogAppend measures durable appends through the event log
// on real files: one op is one record of one event with 200 bytes of
// data, each writer waiting for its record to be durable before the next.
// The baseline, measured in the same run with as many records and
// writers, is this package's raw Append and Sync of records of the same
// framed size to one file: x-raw is the log's rate over it (the log syncs
// writer.chk after the data, so a group commit costs two fsyncs).
func BenchmarkEventLogAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			data := make([]byte, 200)
			for i := range data {
				data[i] = byte(i)
			}
			framed, err := eventlog.Encode(nil, benchEvent(0, data))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			l, d, log := openBenchLog(b, benchRoot(b), 0)
			defer l.Stop()
			defer d.Close()
			before := d.Stats()
			start := time.Now()
			b.StartTimer()
			onLoop(b, l, func(done func(error)) {
				issued, active := 0, writers
				var write func()
				write = func() {
					if issued == b.N {
						if active--; active == 0 {
							done(nil)
						}
						return
					}
					issued++
					if err := log.Append([]eventlog.Record{benchEvent(int64(issued), data)}, func(err error) {
						if err != nil {
							done(err)
							return
						}
						write()
					}); err != nil {
						done(err)
					}
				}
				for range writers {
					write()
				}
			})
			b.StopTimer()
			elapsed := time.Since(start)
			fsyncs := d.Stats().Fsyncs - before.Fsyncs
			raw := rawAppendSync(b, writers, b.N, len(framed))
			rate := float64(b.N) / elapsed.Seconds()
			b.SetBytes(int64(len(framed)))
			b.ReportMetric(rate, "records/s")
			b.ReportMetric(float64(fsyncs)/float64(b.N), "fsyncs/record")
			b.ReportMetric(float64(b.N)/raw.Seconds(), "raw-records/s")
			b.ReportMetric(rate/(float64(b.N)/raw.Seconds()), "x-raw")
		})
	}
}

// rawAppendSync appends n records of size bytes to one file with as many
// writers, each syncing its record before the next, and says how long it
// took.
func rawAppendSync(b *testing.B, writers, n, size int) time.Duration {
	l := loop.New("bench-raw", 0)
	defer l.Stop()
	d, err := Open(benchRoot(b), l, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	onLoop(b, l, func(done func(error)) { d.Create("raw", done) })
	record := make([]byte, size)
	start := time.Now()
	onLoop(b, l, func(done func(error)) {
		issued, active := 0, writers
		var write func()
		write = func() {
			if issued == n {
				if active--; active == 0 {
					done(nil)
				}
				return
			}
			issued++
			d.Append("raw", record, func(_ int64, err error) {
				if err != nil {
					done(err)
					return
				}
				d.Sync("raw", func(err error) {
					if err != nil {
						done(err)
						return
					}
					write()
				})
			})
		}
		for range writers {
			write()
		}
	})
	return time.Since(start)
}

// readBenchBytes is the size of the log BenchmarkEventLogRead reads: four
// segments of 16 MiB.
const (
	readBenchBytes   = 64 << 20
	readBenchSegment = 16 << 20
	readBenchChunk   = 256 << 10
)

// BenchmarkEventLogRead measures reading the whole log forward, records
// decoded and checksums verified, in 256 KiB reads: one op is one pass
// over 64 MiB of 1 KiB events in four segments (from the page cache: the
// files were just written). The baseline, measured in the same run, is
// this package's raw ReadAt of the same segment files in the same chunks:
// x-raw is the log's rate over it.
func BenchmarkEventLogRead(b *testing.B) {
	b.StopTimer()
	root := benchRoot(b)
	l, d, log := openBenchLog(b, root, readBenchSegment)
	defer l.Stop()
	defer d.Close()
	data := make([]byte, 1024)
	onLoop(b, l, func(done func(error)) {
		n := int64(0)
		var batch func()
		batch = func() {
			if log.Durable() >= readBenchBytes {
				done(nil)
				return
			}
			recs := make([]eventlog.Record, 64)
			for i := range recs {
				n++
				recs[i] = benchEvent(n, data)
			}
			if err := log.Append(recs, func(err error) {
				if err != nil {
					done(err)
					return
				}
				batch()
			}); err != nil {
				done(err)
			}
		}
		batch()
	})
	end := log.Durable()
	b.SetBytes(end)
	records := 0
	start := time.Now()
	b.StartTimer()
	for range b.N {
		onLoop(b, l, func(done func(error)) {
			var next func(from int64)
			next = func(from int64) {
				err := log.ReadForward(from, math.MaxInt64, readBenchChunk, func(recs []eventlog.Record, to int64, err error) {
					if err != nil || to == from {
						done(err)
						return
					}
					records += len(recs)
					next(to)
				})
				if errors.Is(err, eventlog.ErrNothingToRead) {
					done(nil)
				} else if err != nil {
					done(err)
				}
			}
			next(0)
		})
	}
	b.StopTimer()
	elapsed := time.Since(start)
	raw := rawReadSegments(b, l, d, b.N)
	b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(b.N)*float64(end)/raw.Seconds()/1e6, "raw-MB/s")
	b.ReportMetric(raw.Seconds()/elapsed.Seconds(), "x-raw")
}

// rawReadSegments reads every segment file of the log passes times in
// readBenchChunk reads and says how long it took.
func rawReadSegments(b *testing.B, l *loop.Loop, d *Disk, passes int) time.Duration {
	var segments []string
	onLoop(b, l, func(done func(error)) {
		d.List(eventlog.DefaultDir, func(names []string, err error) {
			for _, n := range names {
				if strings.Contains(n, "segment") {
					segments = append(segments, eventlog.DefaultDir+"/"+n)
				}
			}
			done(err)
		})
	})
	if len(segments) < 2 {
		b.Fatalf("the log has segments %q; want several", segments)
	}
	start := time.Now()
	for range passes {
		for _, name := range segments {
			onLoop(b, l, func(done func(error)) {
				d.Size(name, func(size int64, err error) {
					if err != nil {
						done(err)
						return
					}
					var next func(off int64)
					next = func(off int64) {
						if off >= size {
							done(nil)
							return
						}
						d.ReadAt(name, off, int(min(readBenchChunk, size-off)), func(p []byte, err error) {
							if err != nil {
								done(err)
								return
							}
							next(off + int64(len(p)))
						})
					}
					next(0)
				})
			})
		}
	}
	return time.Since(start)
}
