package streams

import "slices"

// DropAll ends every subscription with err (the node stops serving): each
// gets its buffered messages, then a Dropped message carrying err, as its
// credits allow.
func (s *Service) DropAll(err error) {
	for _, sub := range slices.Clone(s.subs) {
		sub.drop(err)
		sub.pump()
	}
}
