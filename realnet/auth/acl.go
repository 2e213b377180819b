package auth

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/annal-db/annal/core/streams"
)

// RoleAll in an access list lets every caller in (anonymous callers too,
// where AllowAnonymousStreamAccess lets them at streams at all).
const RoleAll = "$all"

// SettingsStream holds the default access lists: its latest event's
// $userStreamAcl and $systemStreamAcl.
const SettingsStream = "$settings"

// ACL is an access list: the roles (group or user names, or RoleAll) that
// may do each thing to a stream. A nil list is unset: the next source
// decides (the stream's own $acl, then $settings, then the built-in
// default); an empty list lets only $admins in.
type ACL struct {
	Read, Write, Delete, MetaRead, MetaWrite []string
}

// builtIn are EventStoreDB's default access lists: user streams open to
// everyone, system streams ("$...") to $admins.
var builtIn = [2]ACL{
	{Read: []string{RoleAll}, Write: []string{RoleAll}, Delete: []string{RoleAll}, MetaRead: []string{RoleAll}, MetaWrite: []string{RoleAll}},
	{Read: []string{GroupAdmins}, Write: []string{GroupAdmins}, Delete: []string{GroupAdmins}, MetaRead: []string{GroupAdmins}, MetaWrite: []string{GroupAdmins}},
}

// entry returns the list for op on the stream (meta: on its metadata).
func (a *ACL) entry(op Operation, meta bool) []string {
	switch {
	case op == Read && meta:
		return a.MetaRead
	case op == Read:
		return a.Read
	case op == Write && meta:
		return a.MetaWrite
	case op == Write:
		return a.Write
	default:
		return a.Delete
	}
}

// entryKey names the $acl key of op, for messages.
func entryKey(op Operation, meta bool) string {
	switch {
	case op == Read && meta:
		return "$mr"
	case op == Read:
		return "$r"
	case op == Write && meta:
		return "$mw"
	case op == Write:
		return "$w"
	default:
		return "$d"
	}
}

// roles is a list in an $acl object: a string or an array of strings.
type roles []string

func (r *roles) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // unset
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*r = roles{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("an access list entry must be a role name or an array of them, not %s", b)
	}
	*r = append(roles{}, many...) // non-nil even when empty: set, and empty
	return nil
}

// aclJSON is an $acl object as stored.
type aclJSON struct {
	Read      roles `json:"$r"`
	Write     roles `json:"$w"`
	Delete    roles `json:"$d"`
	MetaRead  roles `json:"$mr"`
	MetaWrite roles `json:"$mw"`
}

func (j *aclJSON) acl() ACL {
	return ACL{Read: j.Read, Write: j.Write, Delete: j.Delete, MetaRead: j.MetaRead, MetaWrite: j.MetaWrite}
}

// ParseMetadataACL reads the $acl of a stream metadata document. A
// document without one, or whose $acl is not an object of role lists, has
// none (ok false): EventStoreDB reads metadata it cannot parse as no
// metadata, and so the default lists apply.
func ParseMetadataACL(data []byte) (acl ACL, ok bool) {
	var doc struct {
		ACL *aclJSON `json:"$acl"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.ACL == nil {
		return ACL{}, false
	}
	return doc.ACL.acl(), true
}

// parseSettings reads a $settings document: the default lists of user and
// of system streams. What it cannot read is unset.
func parseSettings(data []byte) (user, system ACL) {
	var doc struct {
		User   *aclJSON `json:"$userStreamAcl"`
		System *aclJSON `json:"$systemStreamAcl"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return ACL{}, ACL{}
	}
	if doc.User != nil {
		user = doc.User.acl()
	}
	if doc.System != nil {
		system = doc.System.acl()
	}
	return user, system
}

// ACLs holds the access lists a node has applied: each stream's own $acl
// (from the latest event of its metadata stream) and the defaults in
// $settings. The node's loop writes it as it applies committed events;
// request handlers read it. Safe for concurrent use.
type ACLs struct {
	mu      sync.RWMutex
	streams map[string]ACL // only streams whose metadata has an $acl
	// defaults from $settings: [0] user streams, [1] system streams.
	defaults [2]ACL
}

// NewACLs holds no access lists yet: the built-in defaults apply.
func NewACLs() *ACLs { return &ACLs{streams: map[string]ACL{}} }

// Applied takes one committed event: an event of a metadata stream ($$x)
// replaces x's access list, an event of $settings the defaults.
func (a *ACLs) Applied(stream string, data []byte) {
	if stream == SettingsStream {
		user, system := parseSettings(data)
		a.mu.Lock()
		a.defaults = [2]ACL{user, system}
		a.mu.Unlock()
		return
	}
	target, ok := streams.StreamDescribedBy(stream)
	if !ok {
		return
	}
	acl, ok := ParseMetadataACL(data)
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok {
		a.streams[target] = acl
	} else {
		delete(a.streams, target)
	}
}

// roles finds who may do op to target (meta: to its metadata), resolving
// each key on its own: the stream's $acl, then $settings, then the
// built-in default. from says where the list came from, for messages.
func (a *ACLs) roles(target string, meta bool, op Operation) (list []string, from string) {
	class := 0
	if strings.HasPrefix(target, "$") {
		class = 1
	}
	if a != nil {
		a.mu.RLock()
		own, found := a.streams[target]
		def := a.defaults[class]
		a.mu.RUnlock()
		if l := own.entry(op, meta); found && l != nil {
			return l, "its $acl"
		}
		if l := def.entry(op, meta); l != nil {
			return l, SettingsStream
		}
	}
	return builtIn[class].entry(op, meta), ""
}
