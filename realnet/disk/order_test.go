package disk

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/annal-db/annal/realnet/loop"
)

// Operations on one file, issued back to back without waiting, complete in
// issue order and take effect in that order, while several workers serve
// several files at once.
func TestSameFileOperationsCompleteInIssueOrder(t *testing.T) {
	r := newRig(t, Options{Workers: 4})
	const files, rounds = 8, 60
	name := func(f int) string { return fmt.Sprintf("log/%d", f) }
	for f := range files {
		r.must("create", r.create(name(f)))
	}
	type done struct {
		file, seq int
		off       int64
		err       error
	}
	results := make(chan done, files*rounds*2)
	r.onLoop(func() {
		for i := range rounds {
			for f := range files {
				rec := fmt.Sprintf("%d:%03d;", f, i)
				r.d.Append(name(f), []byte(rec), func(off int64, err error) {
					results <- done{f, 2 * i, off, err}
				})
				if i%3 == 0 {
					r.d.Sync(name(f), func(err error) { results <- done{f, 2*i + 1, -1, err} })
				} else {
					r.d.Size(name(f), func(size int64, err error) { results <- done{f, 2*i + 1, size, err} })
				}
			}
		}
	})
	next := make([]int, files)
	for range files * rounds * 2 {
		d := <-results
		r.must("operation", d.err)
		if d.seq != next[d.file] {
			t.Fatalf("file %d: operation %d completed when %d was next; one file's operations must complete in issue order", d.file, d.seq, next[d.file])
		}
		next[d.file]++
		recLen := int64(len("0:000;"))
		if d.seq%2 == 0 && d.off != int64(d.seq/2)*recLen {
			t.Fatalf("file %d: append %d went to %d, want %d", d.file, d.seq/2, d.off, int64(d.seq/2)*recLen)
		}
		if d.seq%2 == 1 && (d.seq/2)%3 != 0 && d.off != int64(d.seq/2+1)*recLen {
			t.Fatalf("file %d: size after append %d is %d, want %d", d.file, d.seq/2, d.off, int64(d.seq/2+1)*recLen)
		}
	}
	for f := range files {
		var want strings.Builder
		for i := range rounds {
			fmt.Fprintf(&want, "%d:%03d;", f, i)
		}
		if got := r.contents(name(f)); got != want.String() {
			t.Fatalf("file %d holds %q, want records in issue order", f, got)
		}
	}
}

// Rename, List and SyncDir see every operation issued before them, and
// nothing issued after them starts before they are done.
func TestBarriersOrderAgainstEveryWorker(t *testing.T) {
	r := newRig(t, Options{Workers: 4})
	var order []string // appended on the loop only
	var listed []string
	errs := make(chan error, 100)
	finished := make(chan struct{})
	note := func(what string) func(error) {
		return func(err error) {
			if err != nil {
				errs <- fmt.Errorf("%s: %w", what, err)
			}
			order = append(order, what)
		}
	}
	r.onLoop(func() {
		for i := range 12 {
			r.d.Create(fmt.Sprintf("seg/%02d", i), note("create"))
		}
		r.d.List("seg", func(names []string, err error) {
			listed = names
			note("list")(err)
		})
		r.d.WriteAt("seg/00", 0, []byte("before-rename"), note("write"))
		r.d.Rename("seg/00", "final/00", note("rename"))
		r.d.Append("final/00", []byte("+after"), func(_ int64, err error) { note("append")(err) })
		r.d.Delete("seg/05", note("delete"))
		r.d.SyncDir("seg", note("syncdir"))
		r.d.Size("seg/01", func(int64, error) { order = append(order, "size"); close(finished) })
	})
	<-finished
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r.onLoop(func() {
		if len(listed) != 12 {
			t.Errorf("List issued after 12 Creates saw %d files: %q", len(listed), listed)
		}
		pos := func(what string) int { return slices.Index(order, what) }
		for i, w := range order[:12] {
			if w != "create" {
				t.Errorf("completion %d was %q; the 12 creates must all complete before the List after them (order %q)", i, w, order)
			}
		}
		if !(pos("list") < pos("write") && pos("write") < pos("rename") && pos("rename") < pos("append") &&
			pos("rename") < pos("delete") && pos("delete") < pos("syncdir") && pos("syncdir") < pos("size")) {
			t.Errorf("completion order %q breaks the barriers", order)
		}
	})
	if got := r.contents("final/00"); got != "before-rename+after" {
		t.Fatalf("renamed file holds %q, want the write issued before the rename and the append after it", got)
	}
}

// A loop issuing more operations than MaxPending in one input pauses until
// workers make room, and never deadlocks, even with a tiny inbox: workers
// hand completions over without waiting for inbox room.
func TestLoopIssuingPastMaxPendingDoesNotDeadlock(t *testing.T) {
	root := t.TempDir()
	l := loop.New(t.Name(), 1)
	defer l.Stop()
	d, err := Open(root, l, Options{Workers: 2, MaxPending: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	offs := make(chan int64, 200)
	created := make(chan error, 1)
	if err := l.Post(func() {
		d.Create("f", func(err error) { created <- err })
		for range 200 {
			d.Append("f", []byte("x"), func(off int64, err error) {
				if err != nil {
					t.Error(err)
				}
				offs <- off
			})
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	for i := range int64(200) {
		if off := <-offs; off != i {
			t.Fatalf("append %d went to %d", i, off)
		}
	}
	if d.Stats().IssueWaits == 0 {
		t.Fatal("no issue waited although 201 operations met a bound of 1")
	}
}
