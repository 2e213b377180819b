package env

import "errors"

// Disk is a node's durable storage: files named by slash-separated paths
// relative to the node's data directory. Every operation completes later,
// through its callback, and every one can fail.
//
// Durability model (what the simulator enforces and production provides):
//   - Data written to a file is durable only after a Sync of that file
//     completes without error. At a crash any unsynced page may survive
//     whole, torn or zeroed, or vanish.
//   - Creating, renaming and deleting a file is durable only after a SyncDir
//     of its directory completes.
//   - A failed Sync means the file's state is unknown: the node must stop
//     trusting it (core treats it as fatal).
type Disk interface {
	// Create makes an empty file. It fails with ErrExist if the name is
	// taken. Parent directories are implicit.
	Create(name string, done func(err error))
	// Delete removes a file (ErrNotExist if absent).
	Delete(name string, done func(err error))
	// Rename moves a file, replacing any file at to.
	Rename(from, to string, done func(err error))
	// List names the files directly inside dir ("" is the root), sorted.
	List(dir string, done func(names []string, err error))
	// Size reports a file's length.
	Size(name string, done func(size int64, err error))

	// WriteAt writes data at off, extending the file if needed.
	WriteAt(name string, off int64, data []byte, done func(err error))
	// Append writes data at the end of the file and reports where it went.
	Append(name string, data []byte, done func(off int64, err error))
	// Preallocate reserves size bytes for the file (zero-filled, length at
	// least size) so later writes cannot fail for space.
	Preallocate(name string, size int64, done func(err error))
	// ReadAt reads up to n bytes at off (n at most MaxRead); fewer at the
	// end of the file, none with io.EOF semantics reported as ErrShortRead.
	ReadAt(name string, off int64, n int, done func(data []byte, err error))
	// Truncate cuts or extends the file to size.
	Truncate(name string, size int64, done func(err error))

	// Sync makes the file's data durable.
	Sync(name string, done func(err error))
	// SyncDir makes the creates, renames and deletes in dir durable.
	SyncDir(dir string, done func(err error))
}

// MaxRead bounds one ReadAt, so that no single input costs unbounded work.
const MaxRead = 4 << 20

// Disk errors; drivers wrap them with detail, match with errors.Is.
var (
	ErrExist        = errors.New("file exists")
	ErrNotExist     = errors.New("file does not exist")
	ErrShortRead    = errors.New("read past end of file")
	ErrNoSpace      = errors.New("no space left on device")
	ErrIO           = errors.New("input/output error")
	ErrReadTooLarge = errors.New("read larger than MaxRead")
)
