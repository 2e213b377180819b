package netstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/annal-db/annal/core/env"
)

// ErrMalformedFrame marks a stream connection ended because the peer sent
// bytes that are not a valid frame (a length above env.MaxMessageSize or a
// checksum mismatch): a peer of another protocol, or corruption.
var ErrMalformedFrame = errors.New("malformed frame")

// NetError is every error the stack reports: what was being done, between
// which endpoints, and why. errors.Is matches the env error in Err and the
// OS or protocol error in Cause.
type NetError struct {
	Op     string // "connect", "read", "write", "listen", "call gossip", ...
	Local  string // empty when unknown
	Remote string
	Err    error // an env error
	Cause  error // what the OS or the peer said, if anything
}

func (e *NetError) Error() string {
	s := "netstack: " + e.Op
	switch {
	case e.Local != "" && e.Remote != "":
		s += " " + e.Local + " -> " + e.Remote
	case e.Remote != "":
		s += " " + e.Remote
	case e.Local != "":
		s += " " + e.Local
	}
	s += ": " + e.Err.Error()
	if e.Cause != nil {
		s += " (" + e.Cause.Error() + ")"
	}
	return s
}

// Unwrap gives both the env error and the cause to errors.Is and As.
func (e *NetError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

var errNoSuchHost = fmt.Errorf("%w: %w", env.ErrUnreachable, env.ErrNoSuchHost)

// classifyDial maps a failed connect to what a node matches on: a refusal,
// silence until the deadline, or anything else as unreachable.
func classifyDial(err error) error {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return env.ErrRefused
	case errors.Is(err, syscall.ECONNRESET):
		// The listener's node refused the connection as the handshake
		// completed.
		return env.ErrReset
	case errors.As(err, &dns) && dns.IsNotFound:
		return errNoSuchHost
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return env.ErrTimeout
	default:
		return env.ErrUnreachable
	}
}

// classifyBreak maps the error that ended an established connection.
func classifyBreak(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return env.ErrClosed
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return env.ErrReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return env.ErrUnreachable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return env.ErrTimeout
	default:
		return env.ErrReset
	}
}

// classifyListen maps a failed bind.
func classifyListen(err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return env.ErrAddrInUse
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return env.ErrAddrNotAvailable
	default:
		return env.ErrAddrNotAvailable
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
