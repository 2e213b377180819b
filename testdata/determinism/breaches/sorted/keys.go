// Package sorted is the one place a map may be ranged over.
package sorted

import (
	"cmp"
	"iter"
	"slices"
)

// Keys is allowed to range over m: this is the sorted-keys helper.
func Keys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Range yields entries in key order.
func Range[M ~map[K]V, K cmp.Ordered, V any](m M) iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, k := range Keys(m) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
