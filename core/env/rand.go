package env

import (
	"math/bits"
	"time"
)

// Intn returns a uniform integer in [0, n). It panics if n <= 0.
func Intn(r Rand, n int) int {
	if n <= 0 {
		panic("env.Intn: n must be positive")
	}
	// Lemire's multiply-shift with rejection: unbiased, no division on the
	// fast path.
	hi, lo := bits.Mul64(r.Uint64(), uint64(n))
	if lo < uint64(n) {
		thresh := -uint64(n) % uint64(n)
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), uint64(n))
		}
	}
	return int(hi)
}

// Float64 returns a uniform float in [0, 1).
func Float64(r Rand) float64 {
	return float64(r.Uint64()>>11) / (1 << 53)
}

// Jitter returns a duration uniform in [lo, hi]; lo when hi <= lo.
func Jitter(r Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(Intn(r, int(hi-lo)+1))
}

// Bool returns true with probability p.
func Bool(r Rand, p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	return Float64(r) < p
}
