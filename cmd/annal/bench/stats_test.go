package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestSummarizeTakesTheSampleAtTheFlooredRank(t *testing.T) {
	// 1..1000 ms, shuffled: the percentile q is the sample at index
	// floor(q*999) of the sorted samples.
	s := make([]time.Duration, 1000)
	for i := range s {
		s[i] = time.Duration(i+1) * time.Millisecond
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	got := Summarize(s)
	want := Summary{
		N: 1000, Mean: 500500 * time.Microsecond,
		P50: 500 * time.Millisecond, P90: 900 * time.Millisecond, P99: 990 * time.Millisecond,
		P999: 999 * time.Millisecond, Max: 1000 * time.Millisecond,
	}
	if got != want {
		t.Fatalf("Summarize(1..1000 ms) = %+v, want %+v", got, want)
	}
}

func TestSummarizeOfOneAndOfNoSample(t *testing.T) {
	if got := Summarize(nil); got != (Summary{}) {
		t.Fatalf("Summarize(nil) = %+v, want the zero Summary", got)
	}
	one := Summarize([]time.Duration{7 * time.Millisecond})
	for name, d := range map[string]time.Duration{"mean": one.Mean, "p50": one.P50, "p999": one.P999, "max": one.Max} {
		if d != 7*time.Millisecond {
			t.Errorf("%s of the single sample 7ms is %v", name, d)
		}
	}
	if one.N != 1 {
		t.Errorf("N = %d, want 1", one.N)
	}
}

func TestSummaryStringIsKeyValueInMilliseconds(t *testing.T) {
	s := Summary{N: 3, Mean: 1500 * time.Microsecond, P50: time.Millisecond, P90: 2 * time.Millisecond,
		P99: 2500 * time.Microsecond, P999: 3 * time.Millisecond, Max: 3*time.Millisecond + 456*time.Microsecond}
	want := "n=3 mean_ms=1.500 p50_ms=1.000 p90_ms=2.000 p99_ms=2.500 p999_ms=3.000 max_ms=3.456"
	if got := s.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
