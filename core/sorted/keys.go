// Package sorted iterates maps in ascending key order. Go randomises map
// iteration order on purpose, so anything in core that must produce the same
// output from the same inputs (traces, messages, scheduling) walks its maps
// through this package. This file is the only place in core allowed to range
// over a map; the determinism test in core enforces that.
package sorted

import (
	"cmp"
	"iter"
	"slices"
)

// Keys returns the keys of m in ascending order. NaN float keys sort first
// and have no defined order among themselves; keep them out of maps.
func Keys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// KeysFunc returns the keys of m ordered by compare, for key types that have
// no natural order (structs such as endpoints). compare must be a total order
// on the keys present: two distinct keys comparing equal would come out in
// map order, which is random.
func KeysFunc[M ~map[K]V, K comparable, V any](m M, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

// Range yields the entries of m in ascending key order. The order is fixed
// when iteration starts; entries added to m during the loop are not visited,
// and entries deleted during the loop are still visited with the value they
// had when iteration started.
func Range[M ~map[K]V, K cmp.Ordered, V any](m M) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		type entry struct {
			k K
			v V
		}
		entries := make([]entry, 0, len(m))
		for k, v := range m {
			entries = append(entries, entry{k, v})
		}
		slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.k, b.k) })
		for _, e := range entries {
			if !yield(e.k, e.v) {
				return
			}
		}
	}
}
