package disk

import (
	"errors"
	"io/fs"
	"strconv"
	"syscall"

	"github.com/annal-db/annal/core/env"
)

// ErrInvalid marks an operation whose arguments no disk could accept: a
// name that is not a relative slash-separated path inside the root, a
// negative offset or size. It is a bug in the caller.
var ErrInvalid = errors.New("invalid disk operation")

// ErrClosed marks an operation issued after Close.
var ErrClosed = errors.New("disk closed")

// OpError is every error the disk reports: which operation, on which file
// (as named and as found on the host), where, and why. errors.Is matches
// the env error in Err (or ErrInvalid, ErrClosed) and the OS error in
// Cause.
type OpError struct {
	Op     string // "append", "sync", ...
	Name   string // the file or directory as the node named it
	Path   string // where that is on the host; empty for an invalid name
	Off    int64  // byte offset; -1 when the operation has none
	Err    error  // an env error, ErrInvalid or ErrClosed
	Cause  error  // the OS error behind Err, if any
	Detail string // what to do about it, when there is something to say
}

func (e *OpError) Error() string {
	s := "disk: " + e.Op + " " + strconv.Quote(e.Name)
	if e.Path != "" {
		s += " (" + e.Path + ")"
	}
	if e.Off >= 0 {
		s += " at offset " + strconv.FormatInt(e.Off, 10)
	}
	s += ": " + e.Err.Error()
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap gives both the env error and the OS cause to errors.Is and As.
func (e *OpError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// classify maps an OS error to the env error a node matches on. Anything
// without a closer match is ErrIO: the operation failed and the node must
// not assume it happened. Directories are implicit in the env model, so a
// name that is a directory (or something else that is not a regular file)
// names no file.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR),
		errors.Is(err, syscall.EISDIR), errors.Is(err, errNotRegular):
		return env.ErrNotExist
	case errors.Is(err, fs.ErrExist):
		return env.ErrExist
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return env.ErrNoSpace
	default:
		return env.ErrIO
	}
}
