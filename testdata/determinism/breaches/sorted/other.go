package sorted

// Count is in the right package but the wrong file: the exemption covers
// the helper file only.
func Count(m map[string]int) (n int) {
	for range m { // want "map-range"
		n++
	}
	return n
}
