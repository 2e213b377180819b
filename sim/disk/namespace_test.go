package disk

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// dirScript is a run of unsynced namespace operations in one directory and
// the file set after each prefix of it.
var dirScript = []struct {
	op    func(r *rig) error
	after []string
}{
	{func(r *rig) error { return r.create("d/a") }, []string{"d/a", "d/base"}},
	{func(r *rig) error { return r.create("d/b") }, []string{"d/a", "d/b", "d/base"}},
	{func(r *rig) error { return r.rename("d/a", "d/c") }, []string{"d/b", "d/base", "d/c"}},
	{func(r *rig) error { return r.remove("d/b") }, []string{"d/base", "d/c"}},
	{func(r *rig) error { return r.rename("d/base", "d/c") }, []string{"d/c"}},
	{func(r *rig) error { return r.create("d/e") }, []string{"d/c", "d/e"}},
}

func runDirScript(r *rig) {
	r.t.Helper()
	r.ok(r.create("d/base"), "create d/base")
	r.ok(r.syncDir("d"), "syncdir d")
	for i, step := range dirScript {
		r.ok(step.op(r), fmt.Sprintf("step %d", i))
	}
}

func TestDirOpsWithoutSyncDirSurviveAsAPrefix(t *testing.T) {
	seen := map[int]int{}
	for seed := uint64(1); seed <= 200; seed++ {
		r := newRig(t, seed, DefaultConfig())
		runDirScript(r)
		r.crash()
		files := r.s.Files()
		prefix := -1
		if slices.Equal(files, []string{"d/base"}) {
			prefix = 0
		}
		for i, step := range dirScript {
			if slices.Equal(files, step.after) {
				prefix = i + 1
			}
		}
		if prefix < 0 {
			t.Fatalf("seed %d: files after crash %q are not the state after any prefix of the operations", seed, files)
		}
		seen[prefix]++
	}
	if seen[0] == 0 || seen[len(dirScript)] == 0 {
		t.Fatalf("over 200 crashes, prefixes seen %v; both none and all of the operations must sometimes survive", seen)
	}
	middle := 0
	for k := 1; k < len(dirScript); k++ {
		middle += seen[k]
	}
	if middle == 0 {
		t.Fatalf("over 200 crashes no partial prefix survived: %v", seen)
	}
}

func TestSyncDirMakesDirOpsDurable(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		r := newRig(t, seed, DefaultConfig())
		runDirScript(r)
		r.ok(r.syncDir("d"), "syncdir d")
		r.crash()
		want := dirScript[len(dirScript)-1].after
		if files := r.s.Files(); !slices.Equal(files, want) {
			t.Fatalf("seed %d: after SyncDir every operation must survive a crash; files %q, want %q", seed, files, want)
		}
	}
}

func TestSyncDirOfOneDirectoryLeavesOthersUnsynced(t *testing.T) {
	lost := 0
	for seed := uint64(1); seed <= 50; seed++ {
		r := newRig(t, seed, DefaultConfig())
		r.ok(r.create("x/other"), "create x/other")
		r.ok(r.create("d/mine"), "create d/mine")
		r.ok(r.syncDir("d"), "syncdir d")
		r.crash()
		files := r.s.Files()
		if !slices.Contains(files, "d/mine") {
			t.Fatalf("seed %d: d/mine was lost although d was synced; files %q", seed, files)
		}
		if !slices.Contains(files, "x/other") {
			lost++
		}
	}
	if lost == 0 {
		t.Fatalf("SyncDir(d) made x/other durable in 50 of 50 crashes; only d's operations should be")
	}
}

func TestFileSyncDoesNotPersistCreate(t *testing.T) {
	lost := 0
	for seed := uint64(1); seed <= 50; seed++ {
		r := newRig(t, seed, DefaultConfig())
		r.ok(r.create("f"), "create")
		r.ok(r.write("f", 0, []byte("payload")), "write")
		r.ok(r.sync("f"), "sync")
		r.crash()
		got, ok := r.s.Contents("f")
		if !ok {
			lost++
			continue
		}
		if string(got) != "payload" {
			t.Fatalf("seed %d: the file survived but its synced data reads %q", seed, got)
		}
	}
	if lost == 0 {
		t.Fatalf("a file created without SyncDir survived 50 of 50 crashes; Sync of the file must not persist its directory entry")
	}
}

func TestRenameAcrossDirectoriesIsAtomic(t *testing.T) {
	inA, inB := 0, 0
	for seed := uint64(1); seed <= 100; seed++ {
		r := newRig(t, seed, DefaultConfig())
		r.ok(r.create("a/x"), "create a/x")
		r.ok(r.syncDir("a"), "syncdir a")
		r.ok(r.create("a/y"), "create a/y")
		r.ok(r.rename("a/x", "b/x"), "rename a/x b/x")
		r.ok(r.create("b/z"), "create b/z")
		r.crash()
		files := r.s.Files()
		hasA, hasB := slices.Contains(files, "a/x"), slices.Contains(files, "b/x")
		if hasA == hasB {
			t.Fatalf("seed %d: after a crash the renamed file must be in exactly one place; files %q", seed, files)
		}
		if slices.Contains(files, "b/z") && !hasB {
			t.Fatalf("seed %d: b/z, created after the rename into b, survived without it; b must keep a prefix of its operations: %q", seed, files)
		}
		if hasA {
			inA++
		} else {
			inB++
			if !slices.Contains(files, "a/y") {
				t.Fatalf("seed %d: the rename survived but a/y, created before it in the same directory, did not: %q", seed, files)
			}
		}
	}
	if inA == 0 || inB == 0 {
		t.Fatalf("over 100 crashes the file stayed %d times and moved %d times; both must happen", inA, inB)
	}

	// Syncing only the target directory persists the whole rename and what
	// it depends on.
	for seed := uint64(1); seed <= 30; seed++ {
		r := newRig(t, seed, DefaultConfig())
		r.ok(r.create("a/x"), "create a/x")
		r.ok(r.create("a/y"), "create a/y")
		r.ok(r.rename("a/x", "b/x"), "rename")
		r.ok(r.syncDir("b"), "syncdir b")
		r.crash()
		files := strings.Join(r.s.Files(), " ")
		if files != "a/y b/x" {
			t.Fatalf("seed %d: after SyncDir(b) the files must be a/y and b/x, got %q", seed, files)
		}
	}
}
