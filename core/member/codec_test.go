package member

import (
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/wire"
)

func drawEndpoint(t *rapid.T, label string) env.Endpoint {
	return env.Endpoint{
		Host: rapid.SampledFrom([]string{"", "10.0.0.1", "::1", "db-1.example.test"}).Draw(t, label+".host"),
		Port: rapid.Uint16().Draw(t, label+".port"),
	}
}

func drawID(t *rapid.T, label string) (id ID) {
	copy(id[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, label))
	return id
}

func drawInfo(t *rapid.T) Info {
	return Info{
		InstanceID:                  drawID(t, "instance"),
		TimeStamp:                   time.Unix(rapid.Int64Range(-1<<40, 1<<40).Draw(t, "sec"), rapid.Int64Range(0, 999_999_999).Draw(t, "nsec")).UTC(),
		State:                       State(rapid.IntRange(0, len(stateNames)-1).Draw(t, "state")),
		IsAlive:                     rapid.Bool().Draw(t, "alive"),
		HTTPEndPoint:                drawEndpoint(t, "http"),
		InternalTCP:                 drawEndpoint(t, "internal"),
		ExternalTCP:                 drawEndpoint(t, "external"),
		InternalTCPUsesTLS:          rapid.Bool().Draw(t, "internal_tls"),
		ExternalTCPUsesTLS:          rapid.Bool().Draw(t, "external_tls"),
		LastCommitPosition:          rapid.Int64().Draw(t, "commit"),
		WriterCheckpoint:            rapid.Int64().Draw(t, "writer"),
		ChaserCheckpoint:            rapid.Int64().Draw(t, "chaser"),
		EpochPosition:               rapid.Int64().Draw(t, "epoch_position"),
		EpochNumber:                 rapid.Int32().Draw(t, "epoch_number"),
		EpochID:                     drawID(t, "epoch_id"),
		NodePriority:                rapid.Int32().Draw(t, "priority"),
		IsReadOnlyReplica:           rapid.Bool().Draw(t, "read_only"),
		AdvertiseHostToClientAs:     rapid.SampledFrom([]string{"", "clients.example.test"}).Draw(t, "client_host"),
		AdvertiseHTTPPortToClientAs: rapid.Uint16().Draw(t, "client_http_port"),
		AdvertiseTCPPortToClientAs:  rapid.Uint16().Draw(t, "client_tcp_port"),
		Version:                     rapid.SampledFrom([]string{"", "24.10.0", "annal/dev"}).Draw(t, "version"),
		Seq:                         rapid.Uint64().Draw(t, "seq"),
	}
}

func encodeView(view []Info) []byte {
	e := wire.NewEncoder(nil)
	EncodeView(e, view)
	return e.Data()
}

func decodeView(b []byte) ([]Info, error) {
	d := wire.NewDecoder(b)
	view := DecodeView(d, "view")
	return view, d.Finish()
}

// Every field of a record survives encoding, and any cut of an encoded
// view is refused with an error, never read as a shorter view.
func TestViewsRoundTripAndTruncationsAreRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		view := rapid.SliceOfN(rapid.Custom(drawInfo), 0, 5).Draw(t, "view")
		b := encodeView(view)
		back, err := decodeView(b)
		if err != nil {
			t.Fatalf("decoding an encoded view: %v", err)
		}
		if len(back) != len(view) {
			t.Fatalf("%d records came back from %d", len(back), len(view))
		}
		for i := range view {
			if back[i] != view[i] {
				t.Fatalf("record %d: got %+v, want %+v", i, back[i], view[i])
			}
		}
		if len(b) > 1 {
			cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
			if _, err := decodeView(b[:cut]); err == nil {
				t.Fatalf("a view cut to %d of its %d bytes decoded without error", cut, len(b))
			}
		}
	})
}

func TestDecodeRefusesUnknownStatesAndOversizedViews(t *testing.T) {
	rec := Info{State: Follower, HTTPEndPoint: env.Endpoint{Host: "10.0.0.1", Port: 2113}}
	b := encodeView([]Info{rec})
	// The state is the varint after the count (1 byte), the id (16) and
	// the time (2 bytes for the zero time's seconds, 1 for nanoseconds).
	e := wire.NewEncoder(nil)
	e.Count(1)
	EncodeID(e, rec.InstanceID)
	e.Time(rec.TimeStamp)
	at := e.Len()
	e.Varint(int64(Follower))
	if b[at] != e.Data()[at] {
		t.Fatal("the test's idea of where the state is encoded is wrong")
	}
	b[at] = byte(50 << 1) // zigzag varint of 50, one byte like 6
	if _, err := decodeView(b); err == nil || !strings.Contains(err.Error(), "unknown node state") {
		t.Errorf("state 50: got %v, want an error naming an unknown node state", err)
	}

	big := make([]Info, MaxViewSize+1)
	if _, err := decodeView(encodeView(big)); err == nil {
		t.Errorf("a view of %d members decoded; the limit is %d", len(big), MaxViewSize)
	}
	if view, err := decodeView(encodeView(big[:MaxViewSize])); err != nil || len(view) != MaxViewSize {
		t.Errorf("a view of exactly %d members: %d records, %v", MaxViewSize, len(view), err)
	}
}

func TestNewIDIsARandomUUID(t *testing.T) {
	r := &fixedRand{}
	a, b := NewID(r), NewID(r)
	if a == b || a.IsZero() {
		t.Errorf("two ids %v and %v", a, b)
	}
	for _, id := range []ID{a, b} {
		s := id.String()
		if s[14] != '4' || !strings.ContainsRune("89ab", rune(s[19])) {
			t.Errorf("%s is not a version-4, RFC 4122 variant UUID", s)
		}
		if id.Short() != s[:8] {
			t.Errorf("Short() = %q, want %q", id.Short(), s[:8])
		}
	}
}

type fixedRand struct{ n uint64 }

func (r *fixedRand) Uint64() uint64 { r.n += 0x9e3779b97f4a7c15; return r.n * 0xbf58476d1ce4e5b9 }

func TestClientEndpointHonoursAdvertiseAs(t *testing.T) {
	m := Info{HTTPEndPoint: env.Endpoint{Host: "10.0.0.1", Port: 2113}}
	if got := m.ClientEndpoint(); got != m.HTTPEndPoint {
		t.Errorf("without advertise-as: %v, want the node endpoint", got)
	}
	m.AdvertiseHostToClientAs = "db.example.test"
	if got := m.ClientEndpoint(); got != (env.Endpoint{Host: "db.example.test", Port: 2113}) {
		t.Errorf("with a host to advertise: %v", got)
	}
	m.AdvertiseHTTPPortToClientAs = 443
	if got := m.ClientEndpoint(); got != (env.Endpoint{Host: "db.example.test", Port: 443}) {
		t.Errorf("with a host and a port to advertise: %v", got)
	}
}

func TestStateNamesAndClasses(t *testing.T) {
	if Follower.String() != "Follower" || ResigningLeader.String() != "ResigningLeader" || State(42).String() != "State(42)" {
		t.Error("state names")
	}
	if State(-1).Valid() || State(len(stateNames)).Valid() || !ReadOnlyReplica.Valid() {
		t.Error("state validity")
	}
	for s := State(0); s.Valid(); s++ {
		replica := s == CatchingUp || s == Clone || s == Follower || s == ReadOnlyReplica
		leaderish := s == PreLeader || s == Leader || s == ResigningLeader
		if s.IsReplica() != replica || s.IsLeaderish() != leaderish {
			t.Errorf("%v: IsReplica %v, IsLeaderish %v", s, s.IsReplica(), s.IsLeaderish())
		}
	}
}
