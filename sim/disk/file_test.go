package disk

import (
	"bytes"
	"testing"
)

// A sync frees the durable copies it replaces for the next pages to become
// dirty; a reused buffer must never show its old bytes, and a page's
// durable copy must never change before a sync.
func TestPageBuffersReusedAfterSyncKeepContentsApart(t *testing.T) {
	const ps = 4096
	f := newInode(ps)
	f.write(0, filled('A', ps))
	f.sync()
	f.write(0, []byte("B"))
	f.sync()
	if len(f.spare) != 1 {
		t.Fatalf("after rewriting a synced page and syncing again, %d spare buffers are kept, want 1 (the replaced durable copy)", len(f.spare))
	}

	// A new page takes the spare buffer, which held the old 'A' page.
	f.write(ps+10, []byte("C"))
	if len(f.spare) != 0 {
		t.Fatalf("writing a new page left %d spare buffers, want 0 (it should take the spare)", len(f.spare))
	}
	if got, want := f.read(ps, 11, false), append(make([]byte, 10), 'C'); !bytes.Equal(got, want) {
		t.Fatalf("new page reads %q, want %q: bytes of the reused buffer leaked", got, want)
	}
	if got := f.read(ps, 11, true); !bytes.Equal(got, make([]byte, 11)) {
		t.Fatalf("the new page's durable copy reads %q before any sync, want zeros", got)
	}

	// Rewriting the clean page 0 must leave its durable copy alone.
	f.write(1, []byte("D"))
	if got := f.read(0, 3, false); string(got) != "BDA" {
		t.Fatalf("page 0 reads %q after writing D at 1, want %q", got, "BDA")
	}
	if got := f.read(0, 3, true); string(got) != "BAA" {
		t.Fatalf("page 0's durable copy reads %q before the sync, want %q: the write reached the media copy", got, "BAA")
	}
	f.sync()
	if got := f.read(0, 3, true); string(got) != "BDA" {
		t.Fatalf("page 0's durable copy reads %q after the sync, want %q", got, "BDA")
	}
	if got := f.read(ps, 11, true); !bytes.Equal(got, append(make([]byte, 10), 'C')) {
		t.Fatalf("page 1's durable copy reads %q after the sync, want 10 zeros and C", got)
	}
}

// The spare list is bounded, so a large rewrite does not keep its buffers.
func TestSpareBuffersAreBounded(t *testing.T) {
	const ps = 512
	f := newInode(ps)
	f.write(0, filled('A', 40*ps))
	f.sync()
	f.write(0, filled('B', 40*ps))
	f.sync()
	if len(f.spare) != maxSpare {
		t.Fatalf("after replacing 40 synced pages, %d spare buffers are kept, want the bound %d", len(f.spare), maxSpare)
	}
	if got := f.read(0, 40*ps, true); !bytes.Equal(got, filled('B', 40*ps)) {
		t.Fatalf("durable content after the second sync is not all B")
	}
}
