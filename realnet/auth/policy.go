package auth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/annal-db/annal/core/streams"
)

// Principal is who makes a request: a user, or nobody (anonymous).
type Principal struct {
	// Name is the user's login name; empty for an anonymous caller.
	Name string
	// Groups are the user's groups ($admins, $ops, ...). Shared: do not
	// modify.
	Groups []string
}

// Anonymous is the caller who gave no credentials.
var Anonymous = &Principal{}

// Authenticated reports whether the caller is a user.
func (p *Principal) Authenticated() bool { return p != nil && p.Name != "" }

// String names the caller in messages.
func (p *Principal) String() string {
	if !p.Authenticated() {
		return "an anonymous caller"
	}
	return "user " + p.Name
}

// hasRole: a role is a group or a user name, as in EventStoreDB's access
// lists.
func (p *Principal) hasRole(role string) bool {
	return p.Authenticated() && (p.Name == role || slices.Contains(p.Groups, role))
}

// isAdmin: in $admins, or the admin user itself.
func (p *Principal) isAdmin() bool { return p.hasRole(GroupAdmins) || p.hasRole(UserAdmin) }

// Operation is what a caller wants to do to a stream.
type Operation uint8

const (
	Read   Operation = iota + 1 // read or subscribe
	Write                       // append
	Delete                      // delete or tombstone
)

func (o Operation) String() string {
	switch o {
	case Read:
		return "read"
	case Write:
		return "write"
	case Delete:
		return "delete"
	default:
		return fmt.Sprintf("operation(%d)", uint8(o))
	}
}

// ErrAccessDenied: the caller is who it says, but may not do this.
var ErrAccessDenied = errors.New("access denied")

// DeniedError is a refusal and its reason; it matches ErrAccessDenied.
type DeniedError struct {
	// Reason says who may not do what, and why.
	Reason string
}

func (e *DeniedError) Error() string { return ErrAccessDenied.Error() + ": " + e.Reason }

func (e *DeniedError) Unwrap() error { return ErrAccessDenied }

// AllStream is the name a read of the whole log ($all) is checked under.
const AllStream = streams.AllStream

// Policy decides stream operations as EventStoreDB's access lists do. The
// metadata stream "$$x" of a stream x is checked as x, with x's $mr and $mw
// lists for reads and writes, and is never deleted. $admins may do
// anything else; everyone else needs a role in the list for the operation:
// the stream's own $acl, else the default in $settings for its kind (user
// streams, or system streams: names starting with "$", and the whole log
// $all), else the built-in default (user streams open to everyone, system
// streams to $admins).
type Policy struct {
	// AllowAnonymousStreamAccess lets anonymous callers do what RoleAll
	// allows (EventStoreDB's option of that name); without it, every
	// stream operation needs a user.
	AllowAnonymousStreamAccess bool
	// ACLs are the access lists the node applied; nil: the built-in
	// defaults only.
	ACLs *ACLs
}

// CheckStream returns nil when who may do op to stream, else an error
// wrapping ErrAccessDenied that says why.
func (pol Policy) CheckStream(who *Principal, op Operation, stream string) error {
	if who == nil {
		who = Anonymous
	}
	target := stream
	meta := false
	if rest, ok := streams.StreamDescribedBy(stream); ok {
		target, meta = rest, true
	}
	if target == "" {
		target = AllStream
	}
	deny := func(why string) error {
		return &DeniedError{Reason: fmt.Sprintf("%s may not %s %s: %s", who, op, quoteStream(stream), why)}
	}
	switch {
	case meta && op == Delete:
		return deny("metadata streams cannot be deleted; delete the stream itself")
	case target == AllStream && !meta && op != Read:
		return deny("the whole log $all can only be read")
	case who.isAdmin():
		return nil
	}
	list, from := pol.ACLs.roles(target, meta, op)
	allowed := slices.ContainsFunc(list, func(r string) bool { return r == RoleAll || who.hasRole(r) })
	switch {
	case !allowed && from == "":
		return deny(fmt.Sprintf("%s needs the %s group", describeTarget(target, meta), GroupAdmins))
	case !allowed:
		// Which list refused, never who is on it: the roles name users
		// and groups, and the caller may read neither the stream's
		// metadata nor $settings (EventStoreDB answers "Access Denied").
		return deny(fmt.Sprintf("%s of %s does not let %s in", entryKey(op, meta), from, who))
	case !who.Authenticated() && !pol.AllowAnonymousStreamAccess:
		return deny("give a user's credentials (AllowAnonymousStreamAccess is off)")
	}
	return nil
}

func describeTarget(target string, meta bool) string {
	switch {
	case (target == AllStream || target == "") && meta:
		return "the metadata of the whole log $all"
	case target == AllStream || target == "":
		return "reading the whole log $all"
	case meta:
		return "the metadata of a system stream"
	default:
		return "a system stream"
	}
}

func quoteStream(s string) string {
	if s == AllStream {
		return s
	}
	return fmt.Sprintf("stream %q", s)
}
