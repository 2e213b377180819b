package options

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Source says where a value came from. Loaders apply sources from the
// lowest precedence to the highest, so a later Set wins.
type Source uint8

const (
	// SourceDefault is the built-in default.
	SourceDefault Source = iota
	// SourceConfigFile is the YAML configuration file or kestrelsettings.json.
	SourceConfigFile
	// SourceEnvironment is an EVENTSTORE_* or KURRENTDB_* variable.
	SourceEnvironment
	// SourceCommandLine is a --flag.
	SourceCommandLine
	// SourceScenario is a simulated scenario's node settings.
	SourceScenario
)

func (s Source) String() string {
	switch s {
	case SourceDefault:
		return "default"
	case SourceConfigFile:
		return "config file"
	case SourceEnvironment:
		return "environment"
	case SourceCommandLine:
		return "command line"
	case SourceScenario:
		return "scenario"
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// Redacted is shown instead of a secret value.
const Redacted = "****"

// slot is one option's parsed value. Lists and addresses are parsed once
// at Set; the list slice is never modified afterwards, so clones share it.
type slot struct {
	num  int64
	text string // canonical form, what a user would type
	list []string
	addr netip.Addr
	src  Source
}

// Values is a full set of option values, one per option in the schema.
// Copy it with Clone (one allocation), e.g. once per simulated node.
type Values struct {
	slots []slot
}

// prototype holds the parsed defaults; Defaults clones it.
var prototype *Values

func buildDefaults() *Values {
	v := &Values{slots: make([]slot, len(registry))}
	for _, o := range registry {
		s, err := parse(o, o.Default)
		if err != nil {
			panic(fmt.Sprintf("options: default of %s: %v", o.Name, err))
		}
		s.src = SourceDefault
		v.slots[o.index] = s
	}
	return v
}

// Defaults returns every option at its default value.
func Defaults() *Values { return prototype.Clone() }

// Clone returns an independent copy.
func (v *Values) Clone() *Values {
	return &Values{slots: slices.Clone(v.slots)}
}

// Set parses raw as a value of o, validates it and stores it with its
// source. On error the old value stays and the error (a *ValueError) names
// the option, the value (redacted if secret), the source and what is
// allowed.
func (v *Values) Set(o *Option, raw string, src Source) error {
	v.check(o)
	shown := raw
	if o.Secret {
		shown = Redacted
	}
	fail := func(err error, detail string) error {
		return &ValueError{Option: o, Value: shown, Source: src, Err: err, Detail: detail}
	}
	if o.EnvOnly && src != SourceEnvironment && src != SourceDefault && src != SourceScenario {
		names := EnvNames(o)
		return fail(ErrEnvOnly, fmt.Sprintf("can only be set through the environment: use %s or %s", names[0], names[1]))
	}
	s, err := parse(o, raw)
	if err != nil {
		pe := err.(*parseError)
		return fail(pe.kind, pe.detail)
	}
	if o.NotSupported != "" && s.text != o.Default {
		return fail(ErrNotSupported, "is not supported: "+o.NotSupported)
	}
	s.src = src
	v.slots[o.index] = s
	return nil
}

// Source tells where o's current value came from.
func (v *Values) Source(o *Option) Source { return v.slot(o).src }

// Bool reads a Bool option.
func (v *Values) Bool(o *Option) bool {
	v.want(o, Bool)
	return v.slots[o.index].num != 0
}

// Int reads any numeric option (Int, Port, Milliseconds, Seconds) as the
// number given, -1 included.
func (v *Values) Int(o *Option) int64 {
	v.want(o, Int, Port, Milliseconds, Seconds)
	return v.slots[o.index].num
}

// Port reads a Port option.
func (v *Values) Port(o *Option) uint16 {
	v.want(o, Port)
	return uint16(v.slots[o.index].num)
}

// Duration reads a Milliseconds or Seconds option. A value of -1 (where the
// option allows it, meaning disabled) gives a negative duration.
func (v *Values) Duration(o *Option) time.Duration {
	v.want(o, Milliseconds, Seconds)
	n := time.Duration(v.slots[o.index].num)
	if o.Type == Seconds {
		return n * time.Second
	}
	return n * time.Millisecond
}

// Disabled reports whether a numeric option that allows -1 is set to -1.
func (v *Values) Disabled(o *Option) bool {
	v.want(o, Int, Port, Milliseconds, Seconds)
	return o.MinusOne != "" && v.slots[o.index].num == -1
}

// String returns any option's value in canonical text form (what a user
// would type); for secrets it is the real value, see Display.
func (v *Values) String(o *Option) string { return v.slot(o).text }

// Display is String with secrets redacted, for --what-if and logs.
func (v *Values) Display(o *Option) string {
	s := v.slot(o)
	if o.Secret && s.text != "" {
		return Redacted
	}
	return s.text
}

// Strings reads a StringList or EndpointList option. The slice is the
// caller's.
func (v *Values) Strings(o *Option) []string {
	v.want(o, StringList, EndpointList)
	return slices.Clone(v.slots[o.index].list)
}

// IP reads an IPAddress option.
func (v *Values) IP(o *Option) netip.Addr {
	v.want(o, IPAddress)
	return v.slots[o.index].addr
}

func (v *Values) slot(o *Option) slot {
	v.check(o)
	return v.slots[o.index]
}

// check panics on an option that is not from this schema: a programming
// error, not a user's.
func (v *Values) check(o *Option) {
	if o == nil || o.index >= len(v.slots) || o.index >= len(registry) || registry[o.index] != o {
		panic("options: option is not part of the schema")
	}
}

// want panics when a getter does not fit the option's type: a programming
// error that the first test run finds.
func (v *Values) want(o *Option, types ...Type) {
	v.check(o)
	if !slices.Contains(types, o.Type) {
		names := make([]string, len(types))
		for i, t := range types {
			names[i] = t.String()
		}
		panic(fmt.Sprintf("options: %s is a %s option, read as %s", o.Name, o.Type, strings.Join(names, " or ")))
	}
}
