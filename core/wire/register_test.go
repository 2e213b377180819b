package wire

import (
	"strings"
	"testing"
)

type probe struct{ kind Kind }

func (p *probe) Kind() Kind        { return p.kind }
func (p *probe) Encode(*Encoder)   {}
func (p *probe) Decode(d *Decoder) {}

func newProbe(k Kind) func() Message { return func() Message { return &probe{k} } }

func TestRegisterRefusesProgrammingErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(r *registry)
		want string
	}{
		{"kind zero", func(r *registry) { r.register(0, "x", newProbe(0)) }, "kind 0 is reserved"},
		{"empty name", func(r *registry) { r.register(5, "", newProbe(5)) }, "name is empty"},
		{"nil constructor", func(r *registry) { r.register(5, "x", nil) }, "newMessage is nil"},
		{"nil message", func(r *registry) { r.register(5, "x", func() Message { return nil }) }, "returned nil"},
		{"wrong kind", func(r *registry) { r.register(5, "x", newProbe(6)) }, "message of kind 6"},
		{"kind twice", func(r *registry) {
			r.register(5, "gossip.push", newProbe(5))
			r.register(5, "gossip.pull", newProbe(5))
		}, `kind already registered as "gossip.push"`},
		{"name twice", func(r *registry) {
			r.register(5, "gossip.push", newProbe(5))
			r.register(6, "gossip.push", newProbe(6))
		}, "name already registered for kind 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				p := recover()
				msg, _ := p.(string)
				if !strings.Contains(msg, tc.want) {
					t.Fatalf("panic %v; want one saying %q", p, tc.want)
				}
			}()
			tc.do(newRegistry())
		})
	}
}

func TestRegisteredKindsDecodeIntoFreshValues(t *testing.T) {
	r := newRegistry()
	r.register(9, "probe", newProbe(9))
	a, errA := r.unmarshal([]byte{FormatVersion, 9, 0})
	b, errB := r.unmarshal([]byte{FormatVersion, 9, 0})
	if errA != nil || errB != nil {
		t.Fatalf("unmarshal of an empty probe failed: %v, %v", errA, errB)
	}
	if a == b {
		t.Fatal("two unmarshals returned the same value; each must get a fresh message")
	}
	if a.Kind() != 9 {
		t.Fatalf("unmarshalled kind %d, want 9", a.Kind())
	}
}
