package meta

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseSystemKeysAndCustomKeys(t *testing.T) {
	m, err := Parse([]byte(` { "$maxCount": 5, "$maxAge": 3600, "$tb": 7,
		"$cacheControl": 60, "$acl": {"$r": ["a", "b"]},
		"owner": "ops \"team\"", "nested": {"x": [1, 2.5e3, true, null]} } `))
	if err != nil {
		t.Fatal(err)
	}
	if m.MaxCount != 5 || m.MaxAge != 3600 || m.TruncateBefore != 7 {
		t.Fatalf("got maxCount=%d maxAge=%d tb=%d, want 5, 3600, 7", m.MaxCount, m.MaxAge, m.TruncateBefore)
	}
	if m.SoftDeleted() {
		t.Fatal("tb=7 must not read as soft-deleted")
	}
	custom := m.Custom()
	if len(custom) != 2 || custom[0].Key != "owner" || string(custom[0].Raw) != `"ops \"team\""` ||
		custom[1].Key != "nested" || string(custom[1].Raw) != `{"x": [1, 2.5e3, true, null]}` {
		t.Fatalf("custom keys not kept raw and in order: %q", custom)
	}
	if raw, ok := m.Get(KeyACL); !ok || string(raw) != `{"$r": ["a", "b"]}` {
		t.Fatalf("$acl raw = %q, %v", raw, ok)
	}
}

func TestParseIgnoresUnusableValues(t *testing.T) {
	for _, doc := range []string{
		`{"$maxCount": 0, "$maxAge": -1, "$tb": -3}`,
		`{"$maxCount": 1.5, "$maxAge": "60", "$tb": 1e3}`,
		`{"$maxCount": 99999999999999999999}`,
	} {
		m, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if m.MaxCount != 0 || m.MaxAge != 0 || m.TruncateBefore != 0 {
			t.Errorf("%s: unusable values must have no effect, got %+v", doc, m)
		}
		if len(m.Fields) == 0 {
			t.Errorf("%s: the keys must still be kept", doc)
		}
	}
}

func TestParseRejectsNonObjects(t *testing.T) {
	for _, doc := range []string{``, `[]`, `"x"`, `{`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{a:1}`,
		`{"a":01}`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`, `{"a":tru}`, strings.Repeat("[", 100)} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want an ErrSyntax error", doc, err)
		}
	}
	_, err := Parse([]byte(`{"a":1,}`))
	if !strings.Contains(err.Error(), "at byte") {
		t.Errorf("error %q should say where the document went wrong", err)
	}
	deep := `{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`
	if _, err := Parse([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Errorf("70 levels of nesting: got %v, want a nesting error", err)
	}
}

func TestEscapedKeysAreDecoded(t *testing.T) {
	m, err := Parse([]byte(`{"\u0024tb": 4, "caf\u00e9\ud83d\ude00": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.TruncateBefore != 4 {
		t.Fatalf("an escaped $tb key must count: tb=%d", m.TruncateBefore)
	}
	if m.Fields[1].Key != "café😀" {
		t.Fatalf("key = %q", m.Fields[1].Key)
	}
}

func TestDuplicateKeysLastWins(t *testing.T) {
	m, err := Parse([]byte(`{"$tb": 1, "x": 2, "$tb": 9}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.TruncateBefore != 9 || len(m.Fields) != 2 || m.Fields[0].Key != KeyTruncateBefore {
		t.Fatalf("got %+v", m)
	}
}

func TestSoftDeleteAndUndeleteDocuments(t *testing.T) {
	del := SoftDeleteDocument()
	if string(del) != `{"$tb":9223372036854775807}` {
		t.Fatalf("soft delete document = %s", del)
	}
	m, err := Parse(del)
	if err != nil || !m.SoftDeleted() || m.TruncateBefore != math.MaxInt64 {
		t.Fatalf("parsed soft delete = %+v, %v", m, err)
	}
	withCustom, _ := Parse([]byte(`{"owner":"x","$tb":9223372036854775807,"$maxCount":3}`))
	undeleted := withCustom.WithTruncateBefore(12)
	if string(undeleted) != `{"owner":"x","$tb":12,"$maxCount":3}` {
		t.Fatalf("undelete document = %s", undeleted)
	}
	added := Metadata{Fields: []Field{{Key: "k\"\n", Raw: []byte(`1`)}}}.WithTruncateBefore(3)
	if string(added) != `{"k\"\u000a":1,"$tb":3}` {
		t.Fatalf("rendered = %s", added)
	}
	if _, err := Parse(added); err != nil {
		t.Fatalf("rendered document does not parse: %v", err)
	}
}

// TestRenderParseRoundTrip: whatever keys and integer values, rendering and
// parsing again gives the same fields.
func TestRenderParseRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "n")
		var fields []Field
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			k := rapid.String().Draw(t, "key")
			if seen[k] {
				continue
			}
			seen[k] = true
			v := rapid.Int64().Draw(t, "value")
			fields = append(fields, Field{Key: k, Raw: strconv.AppendInt(nil, v, 10)})
		}
		doc := Render(fields)
		m, err := Parse(doc)
		if err != nil {
			t.Fatalf("rendered %q does not parse: %v", doc, err)
		}
		if len(m.Fields) != len(fields) {
			t.Fatalf("got %d fields back, want %d", len(m.Fields), len(fields))
		}
		for i := range fields {
			want := fields[i].Key
			if !utf8.ValidString(want) {
				continue // invalid UTF-8 passes through byte for byte; only valid text round-trips exactly
			}
			if m.Fields[i].Key != want || string(m.Fields[i].Raw) != string(fields[i].Raw) {
				t.Fatalf("field %d = %q:%s, want %q:%s", i, m.Fields[i].Key, m.Fields[i].Raw, want, fields[i].Raw)
			}
		}
	})
}

// TestParseNeverPanics: Parse survives arbitrary JSON-like bytes.
func TestParseNeverPanics(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data := rapid.SliceOf(rapid.SampledFrom([]byte(`{}[]":,0123456789-.eE+tfnrul\ \$ab`))).Draw(t, "doc")
		_, _ = Parse(data)
	})
}
