package disk

import (
	"bytes"
	"errors"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/env"
)

// TestAgainstModel drives random operations (failed syncs among them) and
// checks every result against a plain map of byte slices; at the end it
// rewrites and syncs everything and checks that a crash then changes
// nothing. Small pages put many
// operations across page boundaries.
func TestAgainstModel(t *testing.T) {
	names := []string{"a", "b", "d/c", "d/e"}
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.PageSize, cfg.SectorSize = 64, 16
		r := newRig(t, rapid.Uint64().Draw(t, "seed"), cfg)
		model := map[string][]byte{}

		reload := func() { // after a crash the model is whatever survived
			model = map[string][]byte{}
			for _, n := range r.s.Files() {
				model[n] = r.contents(n)
			}
		}
		check := func(step string) {
			files := make([]string, 0, len(model))
			for n := range model {
				files = append(files, n)
			}
			sort.Strings(files)
			if got := r.s.Files(); !slices.Equal(got, files) {
				t.Fatalf("%s: files %q, model %q", step, got, files)
			}
			for _, n := range files {
				if got := r.contents(n); !bytes.Equal(got, model[n]) {
					t.Fatalf("%s: %q holds %d bytes %x, model %d bytes %x", step, n, len(got), got, len(model[n]), model[n])
				}
			}
		}
		expectErr := func(step string, err error, exists bool) bool {
			if !exists {
				if !errors.Is(err, env.ErrNotExist) {
					t.Fatalf("%s on a missing file: err = %v, want ErrNotExist", step, err)
				}
				return false
			}
			r.ok(err, step)
			return true
		}

		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			name := rapid.SampledFrom(names).Draw(t, "name")
			cur, exists := model[name]
			switch op := rapid.IntRange(0, 11).Draw(t, "op"); op {
			case 0:
				err := r.create(name)
				if exists {
					if !errors.Is(err, env.ErrExist) {
						t.Fatalf("create of an existing file: err = %v", err)
					}
				} else {
					r.ok(err, "create")
					model[name] = []byte{}
				}
			case 1:
				if expectErr("delete", r.remove(name), exists) {
					delete(model, name)
				}
			case 2:
				to := rapid.SampledFrom(names).Draw(t, "to")
				if expectErr("rename", r.rename(name, to), exists) {
					delete(model, name)
					model[to] = cur
				}
			case 3, 4:
				off := int64(rapid.IntRange(0, 300).Draw(t, "off"))
				data := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "data")
				if expectErr("write", r.write(name, off, data), exists) && len(data) > 0 {
					if end := off + int64(len(data)); end > int64(len(cur)) {
						cur = append(cur, make([]byte, end-int64(len(cur)))...)
					}
					copy(cur[off:], data)
					model[name] = cur
				}
			case 5:
				data := rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "data")
				off, err := r.append(name, data)
				if expectErr("append", err, exists) {
					if off != int64(len(cur)) {
						t.Fatalf("append at %d, model size %d", off, len(cur))
					}
					model[name] = append(cur, data...)
				}
			case 6:
				size := rapid.IntRange(0, 400).Draw(t, "size")
				if expectErr("truncate", r.truncate(name, int64(size)), exists) {
					if size < len(cur) {
						model[name] = cur[:size:size]
					} else {
						model[name] = append(cur, make([]byte, size-len(cur))...)
					}
				}
			case 7:
				size := rapid.IntRange(0, 400).Draw(t, "size")
				if expectErr("preallocate", r.preallocate(name, int64(size)), exists) && size > len(cur) {
					model[name] = append(cur, make([]byte, size-len(cur))...)
				}
			case 8:
				expectErr("sync", r.sync(name), exists)
			case 9:
				r.ok(r.syncDir(rapid.SampledFrom([]string{"", "d"}).Draw(t, "dir")), "syncdir")
			case 10:
				r.crash()
				reload()
			case 11: // a failed sync: reads keep seeing the cache
				r.s.SetFaults(0, 0, 1)
				err := r.sync(name)
				r.s.SetFaults(0, 0, 0)
				if !errors.Is(err, env.ErrIO) {
					t.Fatalf("sync with SyncFaultRate 1: err = %v, want ErrIO", err)
				}
			}
			if exists {
				off := int64(rapid.IntRange(0, 300).Draw(t, "readoff"))
				n := rapid.IntRange(1, 200).Draw(t, "readn")
				got, err := r.read(name, off, n)
				cur, still := model[name]
				switch {
				case !still:
				case off >= int64(len(cur)):
					if !errors.Is(err, env.ErrShortRead) {
						t.Fatalf("read at %d of a %d-byte file: err = %v, want ErrShortRead", off, len(cur), err)
					}
				default:
					r.ok(err, "read")
					if want := cur[off:min(int64(len(cur)), off+int64(n))]; !bytes.Equal(got, want) {
						t.Fatalf("read %d at %d: got %x, model %x", n, off, got, want)
					}
				}
			}
			check("after step")
		}

		// A failed sync consumed the pages it covered: only what is
		// written again is carried by a sync. Rewrite everything first.
		for _, n := range r.s.Files() {
			if len(model[n]) > 0 {
				r.ok(r.write(n, 0, model[n]), "final rewrite")
			}
			r.ok(r.sync(n), "final sync")
		}
		r.ok(r.syncDir(""), "final syncdir root")
		r.ok(r.syncDir("d"), "final syncdir d")
		r.crash()
		check("after syncing everything and crashing")
	})
}
