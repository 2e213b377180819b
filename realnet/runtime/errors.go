package runtime

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/options"
)

// ExitError is how a node that stopped by itself ends Run or Stop: it
// called env.Exit, with Code, after a fatal error described by Reason (a
// failed sync, a database of another format version, a port it could not
// bind).
type ExitError struct {
	Node   string // the node's name in its log lines
	Dir    string // its database directory
	Code   int
	Reason string // the node's own account; empty if it gave none
}

func (e *ExitError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "it gave no reason; see the log lines above"
	}
	return fmt.Sprintf("node %s stopped with exit code %d: %s (database directory %s)", e.Node, e.Code, reason, e.Dir)
}

// LockedError: another process, or another runtime in this one, holds the
// database directory.
type LockedError struct {
	Dir  string
	Path string // the lock file
	PID  int    // the holder's process id, 0 if it could not be read
	// Stale is set where the lock does not die with its holder (no flock
	// on this platform): the file may be left over from a crash.
	Stale bool
}

func (e *LockedError) Error() string {
	holder := "pid unknown"
	if e.PID > 0 {
		holder = "pid " + strconv.Itoa(e.PID)
	}
	msg := fmt.Sprintf("database directory %s is in use by another annal process (%s); stop that process first, or give this node another directory (--db)",
		e.Dir, holder)
	if e.Stale {
		msg += fmt.Sprintf("; if no such process runs (it may have crashed), delete %s", e.Path)
	}
	return msg
}

// BindError: one of the node's ports could not be bound. errors.Is matches
// the network's reason (env.ErrAddrInUse, env.ErrAddrNotAvailable).
type BindError struct {
	Port                 string // "node port" or "replication port"
	Endpoint             env.Endpoint
	IPOption, PortOption *options.Option
	Err                  error
	// Own, when set, is the option of this node's other port, bound
	// already on the same port number: the node itself holds the port.
	Own *options.Option
}

func (e *BindError) Error() string {
	hint := ""
	switch {
	case e.Own != nil && errors.Is(e.Err, env.ErrAddrInUse):
		hint = fmt.Sprintf("; this node's own %s is bound there (%s is %d too): the node needs two ports, give %s and %s different values",
			e.Own.Name, e.Own.Name, e.Endpoint.Port, e.PortOption.Name, e.Own.Name)
	case errors.Is(e.Err, syscall.EACCES):
		// Linux reports a privileged port (below 1024, without
		// CAP_NET_BIND_SERVICE) or one a security policy (SELinux)
		// forbids this way; the network calls it an unavailable address.
		hint = fmt.Sprintf("; permission denied: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability, and a security policy (SELinux) may forbid a port: "+
			"grant the capability, or choose a port from 1024 up with %s", options.CLIName(e.PortOption))
	case errors.Is(e.Err, env.ErrAddrInUse):
		hint = fmt.Sprintf("; another process listens there: stop it, or choose another port with %s", options.CLIName(e.PortOption))
	case errors.Is(e.Err, env.ErrAddrNotAvailable):
		hint = fmt.Sprintf("; this host has no address %s: set %s (%s) to one of its addresses, or 0.0.0.0",
			e.Endpoint.Host, e.IPOption.Name, options.CLIName(e.IPOption))
	}
	return fmt.Sprintf("cannot listen on the %s %v (%s, %s): %v%s", e.Port, e.Endpoint, e.IPOption.Name, e.PortOption.Name, e.Err, hint)
}

func (e *BindError) Unwrap() error { return e.Err }
