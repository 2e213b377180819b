package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestStreamAccessLists(t *testing.T) {
	acls := NewACLs()
	pol := Policy{ACLs: acls}
	admin := &Principal{Name: "admin", Groups: []string{GroupAdmins}}
	ops := &Principal{Name: "ops", Groups: []string{GroupOps}}
	alice := &Principal{Name: "alice", Groups: []string{"readers"}}
	bob := &Principal{Name: "bob"}
	check := func(who *Principal, op Operation, stream string, want bool) {
		t.Helper()
		err := pol.CheckStream(who, op, stream)
		if want != (err == nil) {
			t.Errorf("%v %v %q: %v, want allowed=%v", who, op, stream, err, want)
		}
		if err != nil && !errors.Is(err, ErrAccessDenied) {
			t.Errorf("%v %v %q: %v does not match ErrAccessDenied", who, op, stream, err)
		}
	}

	// A stream's own $acl: roles are groups or user names; keys it leaves
	// out fall back to the defaults (here the built-in ones: everyone).
	acls.Applied("$$secret", []byte(`{"$maxCount":5,"$acl":{"$r":["readers","bob"],"$w":"alice","$d":[],"$mr":"$all"}}`))
	check(alice, Read, "secret", true)
	check(bob, Read, "secret", true)
	check(ops, Read, "secret", false)
	check(alice, Write, "secret", true)
	check(bob, Write, "secret", false)
	check(alice, Delete, "secret", false) // an empty list: $admins only
	check(admin, Delete, "secret", true)
	check(ops, Read, "$$secret", true)    // $mr: $all
	check(ops, Write, "$$secret", true)   // $mw unset: the built-in default
	check(ops, Delete, "$$secret", false) // metadata streams are never deleted
	check(ops, Read, "other", true)
	err := pol.CheckStream(ops, Read, "secret")
	if want := `user ops may not read stream "secret": $r of its $acl does not let user ops in`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q, want it to say %q", err, want)
	}
	// Who is on the list stays in the metadata: a refusal names neither
	// the users nor the groups it lets in, to a user or to an anonymous
	// caller (EventStoreDB answers "Access Denied" alone).
	for _, who := range []*Principal{ops, Anonymous} {
		if err := pol.CheckStream(who, Read, "secret"); err == nil || strings.Contains(err.Error(), "readers") || strings.Contains(err.Error(), "bob") {
			t.Errorf("refusal of %v %q names who the $acl lets in", who, err)
		}
	}

	// $settings: the defaults of user and system streams, each key on its
	// own; the stream's own list still comes first.
	acls.Applied(SettingsStream, []byte(`{"$userStreamAcl":{"$r":"readers","$w":"readers"},"$systemStreamAcl":{"$r":["$all"]}}`))
	check(ops, Read, "other", false)
	check(alice, Write, "other", true)
	check(ops, Delete, "other", true) // $d unset in $settings: the built-in default
	check(ops, Read, "$stats-1", true)
	check(ops, Write, "$stats-1", false)
	check(ops, Read, "$all", true)
	check(bob, Read, "secret", true)
	err = pol.CheckStream(ops, Read, "other")
	if want := "$r of $settings does not let user ops in"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q, want it to say %q", err, want)
	}
	if err := pol.CheckStream(ops, Read, "other"); err == nil || strings.Contains(err.Error(), "readers") {
		t.Errorf("refusal %q names who $settings lets in; ops may not read $settings", err)
	}

	// Metadata without an $acl (a soft delete writes only $tb), or with one
	// that is not a list of roles, has none: the defaults apply again.
	acls.Applied("$$secret", []byte(`{"$tb":9223372036854775807}`))
	check(ops, Read, "secret", false) // $settings' $r: readers
	check(alice, Delete, "secret", true)
	acls.Applied("$$secret", []byte(`{"$acl":{"$r":"bob"}}`))
	check(alice, Read, "secret", false)
	acls.Applied("$$secret", []byte(`{"$acl":{"$r":7}}`))
	check(alice, Read, "secret", true)
	acls.Applied("$$secret", []byte(`not json`))
	check(alice, Read, "secret", true)
	acls.Applied(SettingsStream, []byte(`{}`))
	check(ops, Read, "other", true)

	// The whole log: only read; its metadata ($$$all) admins may write.
	check(admin, Write, "$all", false)
	check(admin, Write, "$$$all", true)
	check(ops, Write, "$$$all", false)
	if err := pol.CheckStream(ops, Write, "$$$all"); err == nil || !strings.HasSuffix(err.Error(), "the metadata of the whole log $all needs the $admins group") {
		t.Errorf("refusal of a write of $all's metadata: %q; want it to name the metadata, not a read", err)
	}
	acls.Applied("$$$all", []byte(`{"$acl":{"$r":"$ops"}}`))
	check(ops, Read, "$all", true)
	check(alice, Read, "$all", false)

	// RoleAll lets anonymous callers in only where the option does.
	acls.Applied("$$open", []byte(`{"$acl":{"$r":"$all"}}`))
	check(Anonymous, Read, "open", false)
	if err := (Policy{ACLs: acls, AllowAnonymousStreamAccess: true}).CheckStream(Anonymous, Read, "open"); err != nil {
		t.Errorf("anonymous read of a stream whose $r is $all, with AllowAnonymousStreamAccess: %v", err)
	}
	if err := (Policy{ACLs: acls, AllowAnonymousStreamAccess: true}).CheckStream(Anonymous, Read, "secret2"); err != nil {
		t.Errorf("anonymous read of a user stream with AllowAnonymousStreamAccess: %v", err)
	}
	acls.Applied("$$secret2", []byte(`{"$acl":{"$r":"bob"}}`))
	if err := (Policy{ACLs: acls, AllowAnonymousStreamAccess: true}).CheckStream(Anonymous, Read, "secret2"); err == nil {
		t.Error("AllowAnonymousStreamAccess let an anonymous caller past a stream's $acl")
	}
}
