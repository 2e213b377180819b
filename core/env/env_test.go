package env_test

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/env/envtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want env.Endpoint
	}{
		{"10.0.0.1:2113", env.Endpoint{Host: "10.0.0.1", Port: 2113}},
		{"[::1]:2113", env.Endpoint{Host: "::1", Port: 2113}},
		{"[fe80::1%eth0]:80", env.Endpoint{Host: "fe80::1%eth0", Port: 80}},
		{"[::ffff:10.0.0.1]:1112", env.Endpoint{Host: "::ffff:10.0.0.1", Port: 1112}},
		{"db-1.example.test:1113", env.Endpoint{Host: "db-1.example.test", Port: 1113}},
		{"0.0.0.0:0", env.Endpoint{Host: "0.0.0.0", Port: 0}},
		{"host:65535", env.Endpoint{Host: "host", Port: 65535}},
	} {
		got, err := env.ParseEndpoint(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseEndpoint(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "not host:port"},
		{"host", "not host:port"},
		{"host:", "not host:port"},
		{":2113", "not host:port"},
		{"host:65536", "outside 0..65535"},
		{"host:-1", "outside 0..65535"},
		{"host:http", "outside 0..65535"},
	} {
		if got, err := env.ParseEndpoint(tc.in); err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseEndpoint(%q) = %+v, %v; want an error saying %q", tc.in, got, err, tc.why)
		}
	}
}

func TestEndpointStringBracketsIPv6(t *testing.T) {
	for _, tc := range []struct {
		ep   env.Endpoint
		want string
	}{
		{env.Endpoint{Host: "10.0.0.1", Port: 2113}, "10.0.0.1:2113"},
		{env.Endpoint{Host: "::1", Port: 2113}, "[::1]:2113"},
		{env.Endpoint{Host: "::ffff:10.0.0.1", Port: 1112}, "[::ffff:10.0.0.1]:1112"},
		{env.Endpoint{Host: "db.example.test", Port: 443}, "db.example.test:443"},
	} {
		if got := tc.ep.String(); got != tc.want {
			t.Errorf("%+v renders %q, want %q", tc.ep, got, tc.want)
		}
	}
}

// What String renders, ParseEndpoint reads back: endpoints travel as text
// in configuration, logs and the client protocol.
func TestEndpointRoundTrips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var host string
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			b := rapid.SliceOfN(rapid.Byte(), 4, 4).Draw(t, "v4")
			host = fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
		case 1:
			// Canonical text: ParseEndpoint reads addresses in their
			// canonical form (0:0:0:0:0:0:0:1 comes back as ::1).
			var a [16]byte
			copy(a[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "v6"))
			host = netip.AddrFrom16(a).String()
		case 2:
			host = "::ffff:" + fmt.Sprintf("%d.0.0.%d", rapid.IntRange(1, 223).Draw(t, "a"), rapid.IntRange(0, 255).Draw(t, "d"))
		default:
			host = rapid.StringMatching(`[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}`).Draw(t, "name")
		}
		ep := env.Endpoint{Host: host, Port: rapid.Uint16().Draw(t, "port")}
		back, err := env.ParseEndpoint(ep.String())
		if err != nil || back != ep {
			t.Fatalf("%+v renders %q, read back as %+v, %v", ep, ep.String(), back, err)
		}
	})
}

// seq is a Rand that returns the given values in turn.
type seq struct {
	v []uint64
	i int
}

func (s *seq) Uint64() uint64 { x := s.v[s.i%len(s.v)]; s.i++; return x }

func TestIntnIsInRangeAndUnbiased(t *testing.T) {
	// The extremes of the source map to the ends of the range (8 divides
	// 2^64, so no value is drawn again).
	if got := env.Intn(&seq{v: []uint64{0}}, 8); got != 0 {
		t.Errorf("Intn(8) of 0 = %d, want 0", got)
	}
	if got := env.Intn(&seq{v: []uint64{math.MaxUint64}}, 8); got != 7 {
		t.Errorf("Intn(8) of the largest value = %d, want 7", got)
	}
	// n = 3 does not divide 2^64: the few source values that would make
	// 0 more likely than 1 and 2 are drawn again. 0 is one of them.
	s := &seq{v: []uint64{0, math.MaxUint64}}
	if got := env.Intn(s, 3); got != 2 || s.i != 2 {
		t.Errorf("Intn(3) of 0 then the largest value = %d after %d draws; want 2 after 2 (0 rejected)", got, s.i)
	}

	const n, draws = 6, 600_000
	var counts [n]int
	r := envtest.NewRand(1)
	for range draws {
		counts[env.Intn(r, n)]++
	}
	for v, c := range counts {
		// Five standard deviations of a binomial(600000, 1/6).
		if math.Abs(float64(c)-draws/n) > 5*math.Sqrt(draws*(1.0/n)*(5.0/n)) {
			t.Errorf("value %d drawn %d times in %d, want about %d", v, c, draws, draws/n)
		}
	}

	defer func() {
		if recover() == nil {
			t.Error("Intn(0) did not panic")
		}
	}()
	env.Intn(r, 0)
}

func TestJitterAndBoolStayInBounds(t *testing.T) {
	r := envtest.NewRand(1)
	lo, hi := 10*time.Millisecond, 10*time.Millisecond+3
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := env.Jitter(r, lo, hi)
		if d < lo || d > hi {
			t.Fatalf("Jitter(%v, %v) = %v", lo, hi, d)
		}
		seen[d] = true
	}
	if len(seen) != 4 {
		t.Errorf("Jitter over 4 values drew %d distinct ones; both ends are included", len(seen))
	}
	if d := env.Jitter(r, hi, lo); d != hi {
		t.Errorf("Jitter with hi below lo = %v, want lo", d)
	}
	for range 100 {
		if env.Bool(r, 0) || !env.Bool(r, 1) || env.Bool(r, -1) || !env.Bool(r, 2) {
			t.Fatal("Bool with a probability of 0 or 1 (or beyond) is not certain")
		}
	}
	trues := 0
	for range 100_000 {
		if env.Bool(r, 0.25) {
			trues++
		}
	}
	if trues < 24_000 || trues > 26_000 {
		t.Errorf("Bool(0.25) true %d times in 100000", trues)
	}
	for range 1000 {
		if f := env.Float64(r); f < 0 || f >= 1 {
			t.Fatalf("Float64 = %v, outside [0, 1)", f)
		}
	}
}
