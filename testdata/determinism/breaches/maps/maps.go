// Package maps iterates maps in every way the type checker can see.
package maps

import "github.com/annal-db/annal/core/sorted"

type table map[string]int

type state struct {
	peers map[uint64]string
	byID  table
}

func members() map[string]bool { return nil }

func walk[M ~map[K]V, K comparable, V any](m M) (n int) {
	for range m { // want "map-range"
		n++
	}
	return n
}

func sum(s *state, local map[int]int, list []int, text string) (n int) {
	for k, v := range local { // want "map-range"
		n += k + v
	}
	for id := range s.peers { // want "map-range"
		n += int(id)
	}
	for _, v := range s.byID { // want "map-range"
		n += v
	}
	for name := range members() { // want "map-range"
		n += len(name)
	}
	for range map[int]int{1: 1} { // want "map-range"
		n++
	}
	// Not maps: fine.
	for _, v := range list {
		n += v
	}
	for i := range text {
		n += i
	}
	for i := range 3 {
		n += i
	}
	for k, v := range sorted.Range(local) {
		n += k + v
	}
	for _, id := range sorted.Keys(s.byID) {
		n += len(id)
	}
	return n + walk(local)
}
