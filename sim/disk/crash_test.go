package disk

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestSyncedDataAlwaysSurvivesCrash(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		r := newRig(t, seed, DefaultConfig())
		rng := rand.New(rand.NewPCG(seed, 0))
		r.ok(r.create("log"), "create")
		r.ok(r.syncDir(""), "syncdir")
		synced := make([]byte, 3*4096+777)
		for i := range synced {
			synced[i] = byte(rng.Uint32())
		}
		r.ok(r.write("log", 0, synced), "write")
		r.ok(r.sync("log"), "sync")
		// Unsynced work after the sync must not endanger what was synced.
		_, err := r.append("log", filled(0xEE, 5000))
		r.ok(err, "append")
		r.ok(r.create("other"), "create other")
		r.crash()

		got := r.contents("log")
		if len(got) < len(synced) || !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: synced data changed by a crash (%d bytes now, %d synced)", seed, len(got), len(synced))
		}
		if d, _ := r.s.DurableContents("log"); !bytes.Equal(d, got) {
			t.Fatalf("seed %d: after a crash the cache must equal the media", seed)
		}
	}
}

// classify names what a crash did to one page that held old and was
// rewritten with new (no byte of old equals new, new has no zeros): "new",
// "old", or "torn" with the boundary; "" if it is none of them.
func classify(got, old, new []byte) (kind string, cut int) {
	switch {
	case bytes.Equal(got, new):
		return "new", 0
	case bytes.Equal(got, old):
		return "old", 0
	}
	for cut < len(got) && got[cut] == new[cut] {
		cut++
	}
	if cut == 0 || !bytes.Equal(got[cut:], old[cut:]) {
		return "", cut
	}
	return "torn", cut
}

// TestUnsyncedPagesEndInAllowedStates rewrites four synced pages and
// appends four more, crashes, and checks every page: rewritten pages hold
// new, old or sector-torn content; appended pages inside the new size hold
// new, zeros or sector-torn content. The size proves the other outcomes: an
// all-zero last page past the durable size was zeroed (a lost page does not
// extend the size), and a page past the new size was lost.
func TestUnsyncedPagesEndInAllowedStates(t *testing.T) {
	for _, geom := range []struct{ page, sector int }{{4096, 512}, {8192, 1024}} {
		t.Run(fmt.Sprintf("page%d_sector%d", geom.page, geom.sector), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.PageSize, cfg.SectorSize = geom.page, geom.sector
			const synced, appended = 4, 4
			ps := geom.page
			old := filled(0x11, ps)
			new := filled(0xEE, ps)
			zero := make([]byte, ps)
			seen := map[string]int{}
			for seed := uint64(1); seed <= 150; seed++ {
				r := newRig(t, seed, cfg)
				r.ok(r.create("f"), "create")
				r.ok(r.syncDir(""), "syncdir")
				for p := range synced {
					r.ok(r.write("f", int64(p*ps), old), "write old")
				}
				r.ok(r.sync("f"), "sync")
				for p := range synced + appended {
					r.ok(r.write("f", int64(p*ps), new), "write new")
				}
				r.crash()
				got := r.contents("f")
				size := len(got)
				if size < synced*ps || size > (synced+appended)*ps || size%ps != 0 {
					t.Fatalf("seed %d: size %d after crash; want a page end from the durable %d to %d", seed, size, synced*ps, (synced+appended)*ps)
				}
				newPages, tornPages := 0, 0
				for p := 0; p*ps < size; p++ {
					before := old
					if p >= synced {
						before = zero // nothing durable past the durable size
					}
					kind, cut := classify(got[p*ps:(p+1)*ps], before, new)
					switch {
					case kind == "":
						t.Fatalf("seed %d page %d: content is neither new, old nor a sector-torn mix (first %d bytes new)", seed, p, cut)
					case kind == "torn" && cut%geom.sector != 0:
						t.Fatalf("seed %d page %d: torn at byte %d, not at a %d-byte sector boundary", seed, p, cut, geom.sector)
					case kind == "new":
						newPages++
						seen["kept"]++
					case kind == "torn":
						tornPages++
						seen["torn"]++
					}
				}
				if last := size/ps - 1; last >= synced && bytes.Equal(got[last*ps:], zero) {
					seen["zeroed"]++
				}
				if size < (synced+appended)*ps {
					seen["lost"]++
				}
				st := r.s.Stats()
				if st.PagesKept != uint64(newPages) || st.PagesTorn != uint64(tornPages) ||
					st.PagesKept+st.PagesTorn+st.PagesZeroed+st.PagesLost != synced+appended {
					t.Fatalf("seed %d: Stats %+v disagree with the pages: %d new, %d torn, %d unsynced in all", seed, st, newPages, tornPages, synced+appended)
				}
			}
			for _, kind := range []string{"kept", "torn", "zeroed", "lost"} {
				if seen[kind] == 0 {
					t.Errorf("over 150 crashes no page was seen %s; seen %v", kind, seen)
				}
			}
		})
	}
}

func TestCrashSizeCoversWhatReachedTheMedia(t *testing.T) {
	const page = 4096
	grew, stayed := 0, 0
	for seed := uint64(1); seed <= 100; seed++ {
		r := newRig(t, seed, DefaultConfig())
		r.ok(r.create("log"), "create")
		r.ok(r.syncDir(""), "syncdir")
		r.ok(r.write("log", 0, filled(0x11, 1000)), "write")
		r.ok(r.sync("log"), "sync")
		// Unsynced: the rest of page 0 and three more pages, the last partial.
		_, err := r.append("log", filled(0xEE, 3*page+500))
		r.ok(err, "append")
		before := int64(1000 + 3*page + 500)
		r.crash()
		got := r.contents("log")
		size := int64(len(got))
		switch {
		case size == 1000:
			stayed++
		case size > 1000 && size <= before && (size%page == 0 || size == before):
			grew++
		default:
			t.Fatalf("seed %d: size %d after crash; want the durable 1000 or a page end up to %d", seed, size, before)
		}
		if !bytes.Equal(got[:1000], filled(0x11, 1000)) {
			t.Fatalf("seed %d: the synced first 1000 bytes changed", seed)
		}
		// Past the durable size, every page is new, zero, or a sector-torn
		// mix of new and zero (the old durable content there is zero).
		for off := int64(1000); off < size; {
			end := min((off/page+1)*page, size)
			chunk := got[off:end]
			for i, b := range chunk {
				if b != 0 && b != 0xEE {
					t.Fatalf("seed %d: byte %d is %#x; only new data or zeros may appear past the durable size", seed, off+int64(i), b)
				}
			}
			off = end
		}
		if d, _ := r.s.DurableContents("log"); !bytes.Equal(d, got) {
			t.Fatalf("seed %d: after a crash the cache must equal the media", seed)
		}
		// The file can grow again and the gap reads as zeros.
		r.ok(r.truncate("log", size+page), "extend")
		tail, err := r.read("log", size, page)
		r.ok(err, "read extension")
		if !bytes.Equal(tail, make([]byte, page)) {
			t.Fatalf("seed %d: extending after a crash must read zeros, not stale data", seed)
		}
	}
	if grew == 0 || stayed == 0 {
		t.Fatalf("over 100 crashes the size grew %d times and stayed %d times; both must happen", grew, stayed)
	}
}

func TestUnsyncedShrinkIsUndoneByCrash(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CrashSurvive, cfg.CrashTorn, cfg.CrashZeroed = 0, 0, 0 // every unsynced page is lost
	r := newRig(t, 1, cfg)
	r.ok(r.create("f"), "create")
	r.ok(r.syncDir(""), "syncdir")
	data := filled(5, 3*4096)
	r.ok(r.write("f", 0, data), "write")
	r.ok(r.sync("f"), "sync")
	r.ok(r.truncate("f", 10), "shrink")
	r.crash()
	if got := r.contents("f"); !bytes.Equal(got, data) {
		t.Fatalf("with every unsynced page lost, an unsynced shrink must be undone; file has %d bytes", len(got))
	}
}
