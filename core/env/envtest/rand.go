package envtest

// Rand is a seeded env.Rand (SplitMix64): a fixed, well-spread sequence for
// tests that draw numbers but do not care which.
type Rand struct{ state uint64 }

// NewRand starts the sequence at seed.
func NewRand(seed uint64) *Rand { return &Rand{state: seed} }

// Uint64 implements env.Rand.
func (r *Rand) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
