package disk

import (
	"errors"
	"fmt"

	"github.com/annal-db/annal/core/env"
)

// ErrInvalid marks an operation whose arguments no disk could accept (a bad
// name, a negative offset or size). It is a bug in the caller.
var ErrInvalid = errors.New("invalid disk operation")

// OpError is every error a View reports: which operation, on which file and
// where, and why. errors.Is matches the env error it wraps.
type OpError struct {
	Host   string
	Op     string // "write", "read", "sync", ...
	Name   string // the file or directory
	Off    int64  // byte offset; -1 when the operation has none
	Err    error  // an env error or ErrInvalid
	Detail string // what to do about it, when there is something to say
}

func (e *OpError) Error() string {
	s := fmt.Sprintf("disk %s: %s %q", e.Host, e.Op, e.Name)
	if e.Off >= 0 {
		s += fmt.Sprintf(" at offset %d", e.Off)
	}
	s += ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *OpError) Unwrap() error { return e.Err }

// errCode is the short outcome name a trace record carries.
func errCode(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, env.ErrIO):
		return "io"
	case errors.Is(err, env.ErrNoSpace):
		return "nospace"
	case errors.Is(err, env.ErrExist):
		return "exist"
	case errors.Is(err, env.ErrNotExist):
		return "notexist"
	case errors.Is(err, env.ErrShortRead):
		return "short"
	case errors.Is(err, env.ErrReadTooLarge):
		return "toolarge"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "other"
}
