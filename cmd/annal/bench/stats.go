package bench

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Summary summarises latency samples.
type Summary struct {
	N                        int
	Mean                     time.Duration
	P50, P90, P99, P999, Max time.Duration
}

// Summarize sorts samples in place and summarises them. A percentile q is
// the sample at index floor(q*(n-1)) of the sorted samples: the rule the
// peer tools use, so that the same samples give the same figures.
func Summarize(samples []time.Duration) Summary {
	n := len(samples)
	if n == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	at := func(q float64) time.Duration { return samples[int(q*float64(n-1))] }
	return Summary{
		N:    n,
		Mean: sum / time.Duration(n),
		P50:  at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: samples[n-1],
	}
}

// String renders the summary as key=value pairs in milliseconds.
func (s Summary) String() string {
	return fmt.Sprintf("n=%d mean_ms=%s p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s",
		s.N, ms3(s.Mean), ms3(s.P50), ms3(s.P90), ms3(s.P99), ms3(s.P999), ms3(s.Max))
}

// ms3 is a duration in milliseconds with three decimals.
func ms3(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// ms1 is a duration in milliseconds with one decimal.
func ms1(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

// perSecond is n per second of elapsed, 0 for no time.
func perSecond(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}
