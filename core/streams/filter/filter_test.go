package filter

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMatch(t *testing.T) {
	cases := []struct {
		spec         Spec
		stream, typ  string
		want         bool
		descContains string
	}{
		{Spec{On: StreamName, Prefixes: []string{"order-", "cart-"}}, "cart-9", "x", true, "starts with"},
		{Spec{On: StreamName, Prefixes: []string{"order-"}}, "orders", "order-", false, ""},
		{Spec{On: EventType, Prefixes: []string{"Order"}}, "x", "OrderPlaced", true, "event type"},
		{Spec{On: EventType, Regex: `^[^$]`}, "x", "$metadata", false, "matches"},
		{Spec{On: EventType, Regex: `^[^$]`}, "$$x", "Shipped", true, ""},
		// Unanchored, as .NET's Regex.IsMatch.
		{Spec{On: StreamName, Regex: `mid`}, "a-mid-b", "", true, ""},
		// A regex wins over prefixes.
		{Spec{On: StreamName, Regex: `^z`, Prefixes: []string{"a"}}, "abc", "", false, ""},
	}
	for _, c := range cases {
		f, err := New(c.spec)
		if err != nil {
			t.Fatalf("New(%+v): %v", c.spec, err)
		}
		if got := f.Match(c.stream, c.typ); got != c.want {
			t.Errorf("%v Match(%q, %q) = %v, want %v", f, c.stream, c.typ, got, c.want)
		}
		if !strings.Contains(f.String(), c.descContains) {
			t.Errorf("String() = %q, want it to contain %q", f, c.descContains)
		}
	}
	var none *Filter
	if !none.Match("anything", "at-all") || none.String() != "no filter" {
		t.Error("a nil filter must match everything")
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	cases := []struct {
		spec Spec
		want string
	}{
		{Spec{Prefixes: []string{"a"}}, "stream name or the event type"},
		{Spec{On: StreamName}, "neither a regex nor any prefix"},
		{Spec{On: EventType, Regex: `^(?!\$).*`}, "does not compile"},
		{Spec{On: EventType, Regex: `(`}, `"("`},
	}
	for _, c := range cases {
		_, err := New(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", c.spec, err, c.want)
		}
	}
}

func TestPrefixesAreCopied(t *testing.T) {
	prefixes := []string{"a"}
	f, err := New(Spec{On: StreamName, Prefixes: prefixes})
	if err != nil {
		t.Fatal(err)
	}
	prefixes[0] = "b"
	if !f.Match("abc", "") {
		t.Fatal("changing the caller's slice after New must not change the filter")
	}
}
