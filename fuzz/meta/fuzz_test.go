// Package metafuzz fuzzes the stream metadata scanner, which clients feed
// directly (a $$stream write is any bytes a client sends): core carries its
// own JSON scanner, so it is checked against encoding/json, the reference
// it must agree with.
package metafuzz

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/streams/meta"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func FuzzStreamMetadata(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "$maxCount" : 5 } `, `{"$maxAge":86400,"$tb":3,"custom":{"a":[1,2.5e3,null,true]}}`,
		`{"$acl":{"$r":["ops","$all"],"$w":"$admins"}}`, `{"a":1,"a":2}`, `{"$tb":9223372036854775807}`,
		`{"s":"\u00e9\ud83d\ude00\n\"\\"}`, `[]`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":-0}`, `{"a":1e}`,
		"{\"a\":\"\x01\"}", `{"a":"\ud800"}`, "{\"\xff\":1}", `{"a":1}x`, `{"$maxCount":1.0}`, `{"$maxCount":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := meta.Parse(data)
		var ref map[string]json.RawMessage
		refErr := json.Unmarshal(data, &ref)
		if refErr == nil && ref == nil {
			refErr = errors.New("null is not an object")
		}
		switch {
		case err == nil && !json.Valid(data):
			t.Fatalf("accepted %q, which is not JSON", data)
		case err == nil && refErr != nil:
			t.Fatalf("accepted %q, which is not a JSON object: %v", data, refErr)
		case err != nil && refErr == nil && json.Valid(data):
			t.Fatalf("refused the JSON object %q: %v", data, err)
		case err != nil:
			return
		}
		// Every key, once, with the value its last occurrence gives (what
		// encoding/json keeps of duplicates too).
		if len(m.Fields) != len(ref) {
			t.Fatalf("%q: %d fields, encoding/json finds %d keys", data, len(m.Fields), len(ref))
		}
		for _, fl := range m.Fields {
			want, ok := ref[asDecoded(fl.Key)]
			if !ok {
				t.Fatalf("%q: key %q is not one encoding/json finds", data, fl.Key)
			}
			if !sameJSON(t, fl.Raw, want) {
				t.Fatalf("%q: key %q has value %q, encoding/json gives %q", data, fl.Key, fl.Raw, want)
			}
		}
		// What is written back (soft delete, undelete) is JSON that holds
		// the same keys and values, and parses to the same metadata.
		out := m.WithTruncateBefore(m.TruncateBefore)
		var back map[string]json.RawMessage
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q renders as %q, not a JSON object: %v", data, out, err)
		}
		for k, v := range ref {
			if k == meta.KeyTruncateBefore {
				continue
			}
			if !sameJSON(t, back[k], v) {
				t.Fatalf("%q renders key %q as %q, was %q", data, k, back[k], v)
			}
		}
		again, err := meta.Parse(out)
		if err != nil {
			t.Fatalf("%q renders as %q, which does not parse: %v", data, out, err)
		}
		if again.MaxCount != m.MaxCount || again.MaxAge != m.MaxAge || again.TruncateBefore != m.TruncateBefore {
			t.Fatalf("%q parses to %+v, rendered and parsed again to %+v", data, m, again)
		}
	})
}

// asDecoded is a key as encoding/json decodes it: each byte that is not
// part of valid UTF-8 becomes U+FFFD.
func asDecoded(key string) string {
	var b strings.Builder
	for _, r := range key {
		b.WriteRune(r) // ranging yields U+FFFD for each invalid byte
	}
	return b.String()
}

// sameJSON says whether two JSON values decode to the same Go value, numbers
// compared as the literals they are (a float64 cannot hold every one).
func sameJSON(t *testing.T, a, b []byte) bool {
	return bytes.Equal(normalJSON(t, a), normalJSON(t, b))
}

func normalJSON(t *testing.T, raw []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("value %q is not JSON: %v", raw, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("value %q does not encode again: %v", raw, err)
	}
	return out
}
