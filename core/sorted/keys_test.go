package sorted_test

import (
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/sorted"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKeysAreAscendingAndComplete(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := rapid.MapOf(rapid.Int(), rapid.String()).Draw(t, "m")
		keys := sorted.Keys(m)
		if len(keys) != len(m) {
			t.Fatalf("Keys returned %d keys for a map of %d entries", len(keys), len(m))
		}
		if !slices.IsSorted(keys) {
			t.Fatalf("Keys returned %v, which is not ascending", keys)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Fatalf("Keys returned %d, which is not in the map", k)
			}
		}
	})
}

func TestKeysFuncFollowsTheGivenOrder(t *testing.T) {
	type endpoint struct {
		host string
		port uint16
	}
	byHostThenPort := func(a, b endpoint) int {
		if c := strings.Compare(a.host, b.host); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	}
	m := map[endpoint]bool{{"b", 1}: true, {"a", 2}: true, {"a", 1}: true, {"c", 0}: true}
	got := sorted.KeysFunc(m, byHostThenPort)
	want := []endpoint{{"a", 1}, {"a", 2}, {"b", 1}, {"c", 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("KeysFunc = %v, want %v", got, want)
	}
}

func TestRangeYieldsEveryEntryInKeyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := rapid.MapOf(rapid.String(), rapid.Int()).Draw(t, "m")
		var keys []string
		for k, v := range sorted.Range(m) {
			if m[k] != v {
				t.Fatalf("Range yielded %q=%d, the map holds %d", k, v, m[k])
			}
			keys = append(keys, k)
		}
		if !slices.Equal(keys, sorted.Keys(m)) {
			t.Fatalf("Range visited %q, want the ascending keys %q", keys, sorted.Keys(m))
		}
	})
}

func TestRangeStopsWhenTheLoopBreaks(t *testing.T) {
	m := map[int]string{3: "c", 1: "a", 2: "b"}
	var seen []int
	for k := range sorted.Range(m) {
		seen = append(seen, k)
		if k == 2 {
			break
		}
	}
	if !slices.Equal(seen, []int{1, 2}) {
		t.Fatalf("loop saw %v before break, want [1 2]", seen)
	}
}
