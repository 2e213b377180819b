package disk

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
)

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want one matching %q", what, err, want)
	}
	var oe *OpError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: error %v is a %T, want *OpError", what, err, err)
	}
}

func TestCreateAppendWriteReadSize(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("chunks/0/seg"))
	for i, rec := range []string{"hello", "world"} {
		off, err := r.append("chunks/0/seg", rec)
		r.must("append", err)
		if want := int64(5 * i); off != want {
			t.Fatalf("append %d went to offset %d, want %d", i, off, want)
		}
	}
	r.must("write past the end", r.writeAt("chunks/0/seg", 12, "XY"))
	if got, want := r.contents("chunks/0/seg"), "helloworld\x00\x00XY"; got != want {
		t.Fatalf("file holds %q, want %q (a hole reads as zeros)", got, want)
	}
	off, err := r.append("chunks/0/seg", "!")
	r.must("append after WriteAt", err)
	if off != 14 {
		t.Fatalf("append after a write that extended the file went to %d, want 14", off)
	}
	size, err := r.size("chunks/0/seg")
	r.must("size", err)
	if size != 15 {
		t.Fatalf("size %d, want 15", size)
	}
	data, err := r.readAt("chunks/0/seg", 3, 4)
	r.must("read", err)
	if string(data) != "lowo" {
		t.Fatalf("read %q at 3, want %q", data, "lowo")
	}
	data, err = r.readAt("chunks/0/seg", 12, 100)
	r.must("short read", err)
	if string(data) != "XY!" {
		t.Fatalf("read at the end gave %q, want the 3 bytes there %q", data, "XY!")
	}
	data, err = r.readAt("chunks/0/seg", 3, 0)
	r.must("empty read", err)
	if data == nil || len(data) != 0 {
		t.Fatalf("read of 0 bytes gave %v, want an empty slice", data)
	}
	_, err = r.readAt("chunks/0/seg", 15, 1)
	wantErr(t, "read at end of file", err, env.ErrShortRead)
	_, err = r.readAt("chunks/0/seg", 0, env.MaxRead+1)
	wantErr(t, "read above MaxRead", err, env.ErrReadTooLarge)
	data, err = r.readAt("chunks/0/seg", 0, env.MaxRead)
	r.must("read of MaxRead", err)
	if len(data) != 15 {
		t.Fatalf("read of MaxRead gave %d bytes, want the whole file (15)", len(data))
	}
	r.must("sync", r.sync("chunks/0/seg"))
	r.must("syncdir", r.syncDir("chunks/0"))
	r.must("syncdir root", r.syncDir(""))
}

func TestCreateRefusesAnExistingName(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("a"))
	err := r.create("a")
	wantErr(t, "second create", err, env.ErrExist)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("error %v does not keep the OS cause", err)
	}
}

func TestOperationsOnAMissingFileReportErrNotExist(t *testing.T) {
	r := newRig(t, Options{})
	const name = "nope/missing"
	_, err := r.size(name)
	wantErr(t, "size", err, env.ErrNotExist)
	_, err = r.readAt(name, 0, 1)
	wantErr(t, "read", err, env.ErrNotExist)
	wantErr(t, "write", r.writeAt(name, 0, "x"), env.ErrNotExist)
	_, err = r.append(name, "x")
	wantErr(t, "append", err, env.ErrNotExist)
	wantErr(t, "preallocate", r.preallocate(name, 10), env.ErrNotExist)
	wantErr(t, "truncate", r.truncate(name, 0), env.ErrNotExist)
	wantErr(t, "sync", r.sync(name), env.ErrNotExist)
	wantErr(t, "delete", r.delete(name), env.ErrNotExist)
	wantErr(t, "rename", r.rename(name, "elsewhere"), env.ErrNotExist)
	if _, err := os.Stat(r.d.hostPath("nope")); err == nil {
		t.Fatal("a failed operation created directory \"nope\"")
	}
	// A directory is not a file.
	r.must("create", r.create("dir/f"))
	wantErr(t, "delete a directory", r.delete("dir"), env.ErrNotExist)
	_, err = r.size("dir")
	wantErr(t, "size of a directory", err, env.ErrNotExist)
}

func TestDeleteRemovesAndForgetsTheFile(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("x"))
	_, err := r.append("x", "abc")
	r.must("append", err)
	r.must("delete", r.delete("x"))
	if _, err := os.Stat(r.d.hostPath("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still on the host after Delete: %v", err)
	}
	r.must("create again", r.create("x"))
	off, err := r.append("x", "z")
	r.must("append", err)
	if off != 0 {
		t.Fatalf("append to a recreated file went to %d, want 0 (stale end offset)", off)
	}
}

func TestRenameReplacesAndKeepsTheEndOffset(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create tmp", r.create("tmp"))
	_, err := r.append("tmp", "new")
	r.must("append", err)
	r.must("create old", r.create("final/chunk"))
	_, err = r.append("final/chunk", "old-and-longer")
	r.must("append", err)
	r.must("rename over", r.rename("tmp", "final/chunk"))
	if got := r.contents("final/chunk"); got != "new" {
		t.Fatalf("after rename the target holds %q, want %q", got, "new")
	}
	off, err := r.append("final/chunk", "+")
	r.must("append after rename", err)
	if off != 3 {
		t.Fatalf("append after rename went to %d, want 3", off)
	}
	r.must("rename into a new directory", r.rename("final/chunk", "deep/er/chunk"))
	if got := r.contents("deep/er/chunk"); got != "new+" {
		t.Fatalf("moved file holds %q, want %q", got, "new+")
	}
	r.must("rename to itself", r.rename("deep/er/chunk", "deep/er/chunk"))
	_, err = r.size("tmp")
	wantErr(t, "size of renamed-away name", err, env.ErrNotExist)
}

func TestListGivesSortedRegularFilesOnly(t *testing.T) {
	r := newRig(t, Options{})
	for _, n := range []string{"c", "a", "b", "sub/x", "sub/y"} {
		r.must("create "+n, r.create(n))
	}
	names, err := r.list("")
	r.must("list root", err)
	if want := []string{"a", "b", "c"}; !slices.Equal(names, want) {
		t.Fatalf("list of root gave %q, want %q (files only, sorted)", names, want)
	}
	names, err = r.list("sub")
	r.must("list sub", err)
	if want := []string{"x", "y"}; !slices.Equal(names, want) {
		t.Fatalf("list of sub gave %q, want base names %q", names, want)
	}
	names, err = r.list("never/made")
	r.must("list missing", err)
	if len(names) != 0 {
		t.Fatalf("list of a missing directory gave %q, want nothing", names)
	}
	r.must("syncdir of a missing directory", r.syncDir("never/made"))
}

func TestTruncateShrinksAndExtends(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("t"))
	_, err := r.append("t", "0123456789")
	r.must("append", err)
	r.must("shrink", r.truncate("t", 4))
	off, err := r.append("t", "ab")
	r.must("append", err)
	if off != 4 {
		t.Fatalf("append after truncating to 4 went to %d", off)
	}
	r.must("extend", r.truncate("t", 8))
	if got := r.contents("t"); got != "0123ab\x00\x00" {
		t.Fatalf("file holds %q after truncate, want %q", got, "0123ab\x00\x00")
	}
}

func TestPreallocateExtendsButNeverShrinks(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("p"))
	_, err := r.append("p", "abc")
	r.must("append", err)
	r.must("preallocate", r.preallocate("p", 1<<20))
	size, err := r.size("p")
	r.must("size", err)
	if size != 1<<20 {
		t.Fatalf("size %d after preallocating 1 MiB, want %d", size, 1<<20)
	}
	data, err := r.readAt("p", 0, 8)
	r.must("read", err)
	if string(data) != "abc\x00\x00\x00\x00\x00" {
		t.Fatalf("preallocated file reads %q, want the data then zeros", data)
	}
	r.must("preallocate smaller", r.preallocate("p", 10))
	r.must("preallocate zero", r.preallocate("p", 0))
	if size, _ := r.size("p"); size != 1<<20 {
		t.Fatalf("a smaller Preallocate changed the size to %d; it must never shrink", size)
	}
	off, err := r.append("p", "z")
	r.must("append", err)
	if off != 1<<20 {
		t.Fatalf("append after preallocation went to %d, want the end %d", off, 1<<20)
	}
	assertAllocated(t, r.d.hostPath("p"), 1<<20)
}

func TestInvalidArgumentsAreRefusedOnTheLoop(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("ok"))
	for _, bad := range []string{"", "/etc/passwd", "../escape", "a/../../escape", "a//b", "a/", ".", "a/./b", "nul\x00byte"} {
		wantErr(t, "create "+bad, r.create(bad), ErrInvalid)
		wantErr(t, "delete "+bad, r.delete(bad), ErrInvalid)
		wantErr(t, "rename from "+bad, r.rename(bad, "ok2"), ErrInvalid)
		wantErr(t, "rename to "+bad, r.rename("ok", bad), ErrInvalid)
		_, err := r.size(bad)
		wantErr(t, "size "+bad, err, ErrInvalid)
		wantErr(t, "write "+bad, r.writeAt(bad, 0, "x"), ErrInvalid)
		_, err = r.append(bad, "x")
		wantErr(t, "append "+bad, err, ErrInvalid)
		wantErr(t, "preallocate "+bad, r.preallocate(bad, 1), ErrInvalid)
		_, err = r.readAt(bad, 0, 1)
		wantErr(t, "read "+bad, err, ErrInvalid)
		wantErr(t, "truncate "+bad, r.truncate(bad, 0), ErrInvalid)
		wantErr(t, "sync "+bad, r.sync(bad), ErrInvalid)
		if bad != "" {
			_, err = r.list(bad)
			wantErr(t, "list "+bad, err, ErrInvalid)
			wantErr(t, "syncdir "+bad, r.syncDir(bad), ErrInvalid)
		}
		err = r.create(bad)
		if msg := err.Error(); !strings.Contains(msg, "relative slash-separated path") {
			t.Fatalf("error %q does not say what a name must be", msg)
		}
	}
	wantErr(t, "negative write offset", r.writeAt("ok", -1, "x"), ErrInvalid)
	_, err := r.readAt("ok", -1, 1)
	wantErr(t, "negative read offset", err, ErrInvalid)
	_, err = r.readAt("ok", 0, -1)
	wantErr(t, "negative read length", err, ErrInvalid)
	wantErr(t, "negative truncate", r.truncate("ok", -1), ErrInvalid)
	wantErr(t, "negative preallocate", r.preallocate("ok", -1), ErrInvalid)
	if _, err := os.Stat(filepath.Join(filepath.Dir(r.root), "escape")); err == nil {
		t.Fatal("a name with .. created a file outside the root")
	}
	names, err := r.list("")
	r.must("list", err)
	if !slices.Equal(names, []string{"ok"}) {
		t.Fatalf("invalid operations left files %q in the root, want only [ok]", names)
	}
}

func TestOSErrorsMapToEnvErrors(t *testing.T) {
	for _, c := range []struct {
		errno syscall.Errno
		want  error
	}{
		{syscall.ENOENT, env.ErrNotExist},
		{syscall.ENOTDIR, env.ErrNotExist},
		{syscall.EISDIR, env.ErrNotExist},
		{syscall.EEXIST, env.ErrExist},
		{syscall.ENOSPC, env.ErrNoSpace},
		{syscall.EDQUOT, env.ErrNoSpace},
		{syscall.EIO, env.ErrIO},
		{syscall.EACCES, env.ErrIO},
	} {
		cause := &os.PathError{Op: "write", Path: "/data/x", Err: c.errno}
		if got := classify(cause); got != c.want {
			t.Errorf("%v maps to %v, want %v", c.errno, got, c.want)
		}
	}
	e := &OpError{Op: "append", Name: "log/0", Path: "/data/log/0", Off: 12, Err: env.ErrNoSpace,
		Cause: &os.PathError{Op: "write", Path: "/data/log/0", Err: syscall.ENOSPC}}
	for _, want := range []string{"append", `"log/0"`, "/data/log/0", "offset 12", "no space left"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("error %q lacks %q", e.Error(), want)
		}
	}
	if !errors.Is(e, env.ErrNoSpace) || !errors.Is(e, syscall.ENOSPC) {
		t.Errorf("error %v does not match both env.ErrNoSpace and ENOSPC", e)
	}
}

func TestOpenRejectsBadArguments(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("file"))
	if _, err := Open(r.d.hostPath("file"), r.l, Options{}); err == nil {
		t.Fatal("Open accepted a regular file as the data directory")
	}
	if _, err := Open("", r.l, Options{}); err == nil {
		t.Fatal("Open accepted an empty data directory")
	}
	if _, err := Open(t.TempDir(), r.l, Options{Workers: -1}); err == nil || !strings.Contains(err.Error(), "Workers") {
		t.Fatalf("Open with Workers -1 gave %v, want an error naming the option", err)
	}
}

func TestCloseWaitsForIssuedOperationsThenRefuses(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("c"))
	results := make(chan error, 100)
	r.onLoop(func() {
		for range 100 {
			r.d.Append("c", []byte("0123456789"), func(_ int64, err error) { results <- err })
		}
	})
	r.must("close", r.d.Close())
	// Close returns once every completion is on the loop; let it run them.
	r.l.WaitIdle()
	if got := len(results); got != 100 {
		t.Fatalf("%d of 100 appends issued before Close completed", got)
	}
	for range 100 {
		r.must("append before close", <-results)
	}
	if got := len(r.contents("c")); got != 1000 {
		t.Fatalf("file has %d bytes, want all 1000 written before Close", got)
	}
	if n := r.d.Stats().OpenFiles; n != 0 {
		t.Fatalf("%d files still open after Close", n)
	}
	wantErr(t, "create after close", r.create("late"), ErrClosed)
	r.must("second close", r.d.Close())
}

func TestCloseFromTheLoop(t *testing.T) {
	r := newRig(t, Options{})
	r.must("create", r.create("c"))
	errs := make(chan error, 1)
	r.onLoop(func() {
		r.d.Append("c", []byte("x"), func(int64, error) {})
		errs <- r.d.Close()
	})
	r.must("close on the loop", <-errs)
	r.l.WaitIdle()
}

func TestHandleCacheStaysBoundedAndReopens(t *testing.T) {
	r := newRig(t, Options{MaxOpenFiles: 2})
	names := []string{"f0", "f1", "f2", "f3", "f4"}
	for round := range 3 {
		for _, n := range names {
			if round == 0 {
				r.must("create", r.create(n))
			}
			off, err := r.append(n, "ab")
			r.must("append", err)
			if want := int64(2 * round); off != want {
				t.Fatalf("round %d: append to %s went to %d, want %d (end lost when the file was closed)", round, n, off, want)
			}
			if open := r.d.Stats().OpenFiles; open > 2 {
				t.Fatalf("%d files open, want at most MaxOpenFiles 2", open)
			}
		}
	}
	st := r.d.Stats()
	if st.Evictions == 0 || st.Opens <= 5 {
		t.Fatalf("stats %+v: with 5 files and room for 2, files must be closed and reopened", st)
	}
}

// A data directory Open creates is made durable in the directory above
// it, each new level in its own parent.
func TestANewDataDirectoryIsMadeDurable(t *testing.T) {
	top := t.TempDir()
	l := loop.New(t.Name(), 0)
	defer l.Stop()
	for _, c := range []struct {
		root      string
		dirSyncs  uint64
		whatIsNew string
	}{
		{filepath.Join(top, "a", "b", "data"), 3, "three levels"},
		{filepath.Join(top, "a", "b", "data"), 0, "nothing"},
		{filepath.Join(top, "a", "other"), 1, "one level"},
	} {
		d, err := Open(c.root, l, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Stats().DirSyncs; got != c.dirSyncs {
			t.Errorf("opening %s with %s new: %d directory syncs, want %d", c.root, c.whatIsNew, got, c.dirSyncs)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
