// Package disk simulates one host's storage device for the deterministic
// simulator. A Store is the device: its files, its page cache and what its
// media durably hold. Each process incarnation on the host gets a View
// (Store.Open), which implements env.Disk.
//
// Timing. The device has one I/O queue shared by all its views, so
// operations complete in the order they were issued: each completes at
// max(previous completion, issue time + a latency drawn uniformly from the
// Config range for its kind). An operation's effect applies to the page
// cache at its completion, not at issue; its callback is then handed to the
// issuing process's executor with a small CPU cost.
//
// Data. A file is a set of pages. Each page has a durable copy (what the
// media hold) and a cached copy (what reads see) and is dirty when the two
// may differ. Sync of a file, at its completion, makes durable every dirty
// page of that file and its current size. With one FIFO queue that is
// exactly what was written before the Sync was issued. A Sync that fails
// (env.ErrIO) is a writeback that failed part way, as Linux has it: each
// dirty page of the file reached the media whole, torn or not at all (drawn
// as at a crash) and is clean from then on, so no later Sync writes it again
// ("fsyncgate"); reads still see it from the cache until a crash, and the
// durable size stays as it was. Only writing a page again makes it dirty,
// and a Sync then durable. Regions that were extended (Preallocate,
// Truncate, a write past the end) but never written read as zeros.
//
// Sizes. A file has a current size (what Size and reads see) and a durable
// size (the size at its last successful Sync). After a crash the size is the
// durable size, extended to cover every unsynced page that did not revert
// (survived, torn or zeroed), capped at the size the file had at the crash:
// appended data that partly reached the media shows up as a tail of new,
// torn or zeroed pages, which is what recovery code must cope with. A crash
// never leaves a file shorter than its durable size: an unsynced shrink is
// undone, though the bytes it cut are unsynced changes (to zeros) and meet
// the fates below.
//
// Namespace. Create, Delete and Rename change the current namespace at
// completion, but are durable only after a SyncDir of the directory that
// holds the name ("" is the root; names are slash-separated paths and
// parents are implicit). Sync of a file never persists its directory entry.
// Each directory keeps a journal of its unsynced operations. SyncDir makes
// durable all of them, together with the earlier operations they depend on:
// a Rename across directories is one atomic entry in both journals, so
// syncing either directory persists the whole rename and what came before it
// in the other directory. At a crash each directory keeps a random prefix of
// its journal, as a journaling filesystem replays a prefix of its log.
//
// Crash. Crash is a host power loss. Sectors are written atomically, so
// bytes that were synced and not written since are never damaged, even when
// they share a page with unsynced ones. Every dirty page of every file that
// exists once the namespace is rebuilt independently survives (it holds its
// new content), is torn (a random prefix of its sectors, at least one and
// not all, holds new content and the rest the old durable content), is
// zeroed (the file's size came to cover it but its data never reached the
// media: it holds its old durable content, which is all zeros for a page
// past the durable size, as a filesystem shows unwritten blocks), or is lost
// (it holds its old durable content and does not extend the size), with the
// probabilities of Config. Operations still in the queue never happen, and
// every View opened before is dead.
//
// Process death. A View is closed when its process is killed (Close). A
// killed process's queued operations still take effect at their completion
// time, because the kernel already has them, but their callbacks are dropped;
// a later incarnation sees their effects, and a Sync it issues covers them.
// Only Crash loses page-cache data.
//
// Faults. ReadFaultRate applies to ReadAt, List and Size; WriteFaultRate to
// WriteAt, Append, Preallocate, Truncate, Create, Delete and Rename;
// SyncFaultRate to Sync and SyncDir. A faulted operation has no effect and
// reports env.ErrIO. Growing past Capacity fails with env.ErrNoSpace and
// changes nothing; rewriting bytes inside a file's current size never needs
// space. Space is counted in whole pages of each file's current size.
//
// Determinism. Latencies, faults and crash outcomes come only from the
// store's random stream (w.Rand("disk/"+host)), drawn in issue order; every
// completion and every crash is a trace record, written data included, so the
// trace hash covers the disk.
package disk

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/world"
)

// Config describes a device. Start from DefaultConfig and change fields.
type Config struct {
	// PageSize is the unit of caching, syncing and crash damage (0: 4096).
	PageSize int
	// SectorSize is the unit a torn page tears at (0: 512). PageSize must be
	// a multiple of it.
	SectorSize int

	// Latency ranges [min, max], drawn uniformly per operation.
	WriteLatency [2]time.Duration // WriteAt, Append
	SyncLatency  [2]time.Duration // Sync, SyncDir
	ReadLatency  [2]time.Duration // ReadAt
	MetaLatency  [2]time.Duration // Create, Delete, Rename, List, Size, Preallocate, Truncate

	// Probability that an operation fails with env.ErrIO (see the package
	// comment for which operations each covers).
	ReadFaultRate, WriteFaultRate, SyncFaultRate float64

	// Capacity in bytes; 0 is unlimited.
	Capacity int64

	// At a crash, the probability that an unsynced page survives whole, is
	// torn, or is zeroed; the rest of the time it is lost (see the package
	// comment for each outcome). They must sum to at most 1.
	CrashSurvive, CrashTorn, CrashZeroed float64
}

// DefaultConfig is a healthy datacenter SSD with no injected faults.
func DefaultConfig() Config {
	return Config{
		PageSize:     4096,
		SectorSize:   512,
		WriteLatency: [2]time.Duration{20 * time.Microsecond, 80 * time.Microsecond},
		SyncLatency:  [2]time.Duration{200 * time.Microsecond, 2 * time.Millisecond},
		ReadLatency:  [2]time.Duration{20 * time.Microsecond, 100 * time.Microsecond},
		MetaLatency:  [2]time.Duration{10 * time.Microsecond, 50 * time.Microsecond},
		CrashSurvive: 0.4,
		CrashTorn:    0.2,
		CrashZeroed:  0.1,
	}
}

// maxPageSize bounds the memory one page costs.
const maxPageSize = 1 << 20

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if c.PageSize <= 0 || c.PageSize > maxPageSize {
		return fmt.Errorf("disk config: PageSize %d is out of range; use a power of two between 512 and %d (4096 is typical)", c.PageSize, maxPageSize)
	}
	if c.SectorSize <= 0 || c.PageSize%c.SectorSize != 0 {
		return fmt.Errorf("disk config: SectorSize %d must be positive and divide PageSize %d (512 is typical)", c.SectorSize, c.PageSize)
	}
	for _, l := range []struct {
		name string
		r    [2]time.Duration
	}{{"WriteLatency", c.WriteLatency}, {"SyncLatency", c.SyncLatency}, {"ReadLatency", c.ReadLatency}, {"MetaLatency", c.MetaLatency}} {
		if l.r[0] < 0 || l.r[1] < l.r[0] {
			return fmt.Errorf("disk config: %s [%v, %v] must be a range [min, max] with 0 <= min <= max", l.name, l.r[0], l.r[1])
		}
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"ReadFaultRate", c.ReadFaultRate}, {"WriteFaultRate", c.WriteFaultRate}, {"SyncFaultRate", c.SyncFaultRate},
		{"CrashSurvive", c.CrashSurvive}, {"CrashTorn", c.CrashTorn}, {"CrashZeroed", c.CrashZeroed}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("disk config: %s %v is not a probability; use a value in [0, 1]", p.name, p.v)
		}
	}
	if sum := c.CrashSurvive + c.CrashTorn + c.CrashZeroed; sum > 1+1e-9 {
		return fmt.Errorf("disk config: CrashSurvive+CrashTorn+CrashZeroed is %v; they must sum to at most 1 (the rest is the chance a page is lost)", sum)
	}
	if c.Capacity < 0 {
		return fmt.Errorf("disk config: Capacity %d is negative; use 0 for unlimited", c.Capacity)
	}
	return nil
}

// Stats counts what a store did.
type Stats struct {
	Creates, Deletes, Renames, Lists, Sizes         uint64
	Writes, Appends, Preallocates, Truncates, Reads uint64
	Syncs, SyncDirs                                 uint64
	BytesWritten, BytesRead                         uint64
	ReadFaults, WriteFaults, SyncFaults, NoSpace    uint64
	Crashes                                         uint64
	PagesKept, PagesTorn, PagesZeroed, PagesLost    uint64 // unsynced pages at crashes, by outcome
	DirOpsKept, DirOpsLost                          uint64 // unsynced namespace operations at crashes
	DroppedOps                                      uint64 // queued operations a crash discarded
	DroppedCallbacks                                uint64 // completions of closed views
}

// Store is one host's device.
type Store struct {
	w    *world.World
	host string
	cfg  Config
	rng  *rand.Rand

	ns        namespace
	usedPages int64 // whole pages of the current size of every current file

	epoch   uint64        // bumped by Crash; older queued operations are void
	tail    time.Duration // completion time of the last queued operation
	pending int           // queued operations of this epoch

	stats Stats
}

// NewStore makes the device of one host. Zero PageSize and SectorSize take
// their defaults; any other invalid field panics with the reason.
func NewStore(w *world.World, host string, cfg Config) *Store {
	def := DefaultConfig()
	if cfg.PageSize == 0 {
		cfg.PageSize = def.PageSize
	}
	if cfg.SectorSize == 0 {
		cfg.SectorSize = def.SectorSize
	}
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	return &Store{
		w:    w,
		host: host,
		cfg:  cfg,
		rng:  w.Rand("disk/" + host),
		ns:   newNamespace(),
	}
}

// Host names the store's host.
func (s *Store) Host() string { return s.host }

// Config is the device's current configuration.
func (s *Store) Config() Config { return s.cfg }

// Stats reports counts so far.
func (s *Store) Stats() Stats { return s.stats }

// Used is the space in use, in bytes.
func (s *Store) Used() int64 { return s.usedPages * int64(s.cfg.PageSize) }

// SetFaults changes the fault rates of operations issued from now on.
func (s *Store) SetFaults(read, write, sync float64) {
	c := s.cfg
	c.ReadFaultRate, c.WriteFaultRate, c.SyncFaultRate = read, write, sync
	if err := c.Validate(); err != nil {
		panic(err.Error())
	}
	s.cfg = c
	s.w.Trace.Rec(s.w.Now(), s.host, "disk.faults").Float("read", read).Float("write", write).Float("sync", sync).End()
}

// SetCapacity changes the capacity (0: unlimited). Files already larger stay
// as they are; only growth fails.
func (s *Store) SetCapacity(bytes int64) {
	if bytes < 0 {
		panic(fmt.Sprintf("disk: SetCapacity(%d): capacity cannot be negative; use 0 for unlimited", bytes))
	}
	s.cfg.Capacity = bytes
	s.w.Trace.Rec(s.w.Now(), s.host, "disk.capacity").Int("bytes", bytes).End()
}

// Files names every file in the current namespace, sorted.
func (s *Store) Files() []string { return sortedNames(s.ns.current) }

// DurableFiles names every file a crash now would certainly keep, sorted.
func (s *Store) DurableFiles() []string { return sortedNames(s.ns.durable) }

// Contents is a file's content as reads see it now.
func (s *Store) Contents(name string) ([]byte, bool) {
	ino, ok := s.ns.current[name]
	if !ok {
		return nil, false
	}
	return ino.read(0, ino.size, false), true
}

// DurableContents is what the media hold for a name in the durable
// namespace: its content after a crash in which no unsynced page survived.
func (s *Store) DurableContents(name string) ([]byte, bool) {
	ino, ok := s.ns.durable[name]
	if !ok {
		return nil, false
	}
	return ino.read(0, ino.durableSize, true), true
}

// FlipBit silently corrupts the durable copy of one bit of a current file.
// When the page is clean, reads see the flip too (as after the cached copy
// is evicted and read back).
func (s *Store) FlipBit(name string, off int64, bit uint) error {
	ino, ok := s.ns.current[name]
	if !ok {
		return fmt.Errorf("disk %s: flip bit in %q: %w", s.host, name, env.ErrNotExist)
	}
	if off < 0 || off >= ino.durableSize || bit > 7 {
		return fmt.Errorf("disk %s: flip bit %d at offset %d of %q: only bits 0-7 of the %d durable bytes can be flipped", s.host, bit, off, name, ino.durableSize)
	}
	ino.flipDurable(off, bit)
	s.w.Trace.Rec(s.w.Now(), s.host, "disk.flipbit").Str("file", name).Int("off", off).Uint("bit", uint64(bit)).End()
	return nil
}

func sortedNames(m map[string]*inode) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// latency draws the duration of one operation.
func (s *Store) latency(r [2]time.Duration) time.Duration {
	return env.Jitter(s.rng, r[0], r[1])
}

// fits reports whether growing the current files by extra pages stays
// within capacity.
func (s *Store) fits(extra int64) bool {
	if s.cfg.Capacity == 0 || extra <= 0 {
		return true
	}
	return s.usedPages+extra <= s.cfg.Capacity/int64(s.cfg.PageSize)
}
