package options

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Type is the kind of value an option takes; it decides how a value is
// parsed, validated and read back.
type Type uint8

const (
	// Bool is true or false (any case).
	Bool Type = iota + 1
	// Int is a whole number within [Min, Max] (32-bit unless stated).
	Int
	// Port is a TCP port, 0..65535 unless narrowed.
	Port
	// Milliseconds is a whole number of milliseconds.
	Milliseconds
	// Seconds is a whole number of seconds.
	Seconds
	// String is free text, kept exactly as given.
	String
	// StringList is a comma-separated list of words.
	StringList
	// EndpointList is a comma-separated list of host:port pairs.
	EndpointList
	// IPAddress is a literal IPv4 or IPv6 address (0.0.0.0 = all interfaces).
	IPAddress
	// Host is a DNS name or an IP address; empty means unset.
	Host
	// Enum is one of Option.Values, matched without regard to case.
	Enum
	// Path is a file or directory path, kept exactly as given.
	Path
)

var typeNames = [...]string{
	Bool: "bool", Int: "int", Port: "port", Milliseconds: "milliseconds",
	Seconds: "seconds", String: "string", StringList: "list",
	EndpointList: "host:port list", IPAddress: "ip address", Host: "host",
	Enum: "enum", Path: "path",
}

// String names the type as --help shows it.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// numeric reports whether values of the type are whole numbers.
func (t Type) numeric() bool {
	switch t {
	case Int, Port, Milliseconds, Seconds:
		return true
	}
	return false
}

// Group places an option under a heading in --help and --what-if. Groups
// follow EventStoreDB's option groups.
type Group uint8

const (
	GroupApplication Group = iota + 1
	GroupLogging
	GroupCertificates
	GroupCertificateStore
	GroupCluster
	GroupDatabase
	GroupGrpc
	GroupInterface
	GroupTcpPlugin
	GroupKestrel
	GroupProjections
	GroupDefaultUsers
)

var groupTitles = [...]string{
	GroupApplication:      "Application",
	GroupLogging:          "Logging",
	GroupCertificates:     "Certificates (from files)",
	GroupCertificateStore: "Certificates (from the Windows certificate store)",
	GroupCluster:          "Cluster",
	GroupDatabase:         "Database",
	GroupGrpc:             "gRPC",
	GroupInterface:        "Interface",
	GroupTcpPlugin:        "External TCP client API (TcpPlugin section)",
	GroupKestrel:          "HTTP server limits (kestrelsettings.json)",
	GroupProjections:      "Projections",
	GroupDefaultUsers:     "Default users (environment only)",
}

// Groups lists every group in --help order.
func Groups() []Group {
	gs := make([]Group, 0, len(groupTitles)-1)
	for g := GroupApplication; int(g) < len(groupTitles); g++ {
		gs = append(gs, g)
	}
	return gs
}

// Title is the group's heading.
func (g Group) Title() string {
	if int(g) < len(groupTitles) && groupTitles[g] != "" {
		return groupTitles[g]
	}
	return fmt.Sprintf("Group(%d)", uint8(g))
}

// String is the group's heading.
func (g Group) String() string { return g.Title() }

// KestrelSettingsFile is where EventStoreDB reads the HTTP server limits
// (GroupKestrel) from, beside the main configuration file.
const KestrelSettingsFile = "kestrelsettings.json"

// Option describes one setting. Declare options with register; the
// package-level variables are how code refers to them.
type Option struct {
	// Name is the canonical PascalCase name, also the YAML key.
	Name  string
	Group Group
	// Section is the configuration section the key sits in, dot-separated
	// ("TcpPlugin", "Kestrel.Limits.Http2"); empty for top-level keys. The
	// section-qualified spelling is accepted as well as the plain name.
	Section string
	// File names the configuration file the option is read from when it is
	// not the main YAML file (KestrelSettingsFile).
	File string
	Type Type
	// Default is the value as a user would type it, in canonical form
	// (what Values.String returns for it).
	Default string
	// Min and Max bound numeric values. When both are zero the type's
	// natural range applies (Int: 32-bit signed; Port: 0..65535;
	// Milliseconds and Seconds: 0..2^31-1). Max zero alone means the
	// natural maximum.
	Min, Max int64
	// MinusOne, when set, also allows -1 below Min and says what it means,
	// e.g. "disabled" or "no limit".
	MinusOne string
	// Values are the allowed values of an Enum, in canonical spelling.
	Values []string
	// Help explains the option in one or two sentences for --help.
	Help string
	// Secret values are redacted in --what-if and in error messages.
	Secret bool
	// EnvOnly options can only be set through environment variables (and
	// by simulated scenarios), as in EventStoreDB.
	EnvOnly bool
	// NotSupported, when set, says why annal accepts the option's name but
	// refuses any value other than the default, and what to use instead.
	NotSupported string
	// NoEffect, when set, says why annal accepts any value of the option
	// (so that EventStoreDB configurations load) but does not act on it;
	// a node set it explicitly is warned at start-up.
	NoEffect string
	// OldNames are earlier spellings of this option, or names of settings
	// whose role this option has taken over.
	OldNames []OldName

	index int // position in the registry; indexes Values.
}

// OldStatus says what became of an older option name.
type OldStatus uint8

const (
	// Renamed names are accepted: the value sets the new option, with a
	// warning naming it.
	Renamed OldStatus = iota + 1
	// Removed names configured something that no longer exists at all.
	Removed
	// NoEquivalent names configured something whose role is now filled
	// differently; the owning option is what to configure instead.
	NoEquivalent
)

func (s OldStatus) String() string {
	switch s {
	case Renamed:
		return "renamed"
	case Removed:
		return "removed"
	case NoEquivalent:
		return "no equivalent"
	}
	return fmt.Sprintf("OldStatus(%d)", uint8(s))
}

// OldName is a spelling used by an older version of EventStoreDB. A loader
// applies a Renamed name's value to its option with a warning
// (Message), and refuses the others with their Message, unless
// AllowUnknownOptions is set.
type OldName struct {
	// Name is the PascalCase spelling; the kebab and env forms derive from
	// it as for options.
	Name   string
	Status OldStatus
	// Era is the versions that used this name, e.g. "5.x" or "20.x-24.x".
	Era string
	// Reason explains a Removed or NoEquivalent name: why it is gone and
	// what to do instead. Renamed names may add a note.
	Reason string

	owner *Option // the option it became or that replaces it; nil if Removed
}

// Option is the option this name now sets (Renamed) or the one to
// configure instead (NoEquivalent); nil when the setting was removed.
func (n *OldName) Option() *Option { return n.owner }

// Message is the text a loader shows when the old name is used: a warning
// for Renamed names, an error otherwise.
func (n *OldName) Message() string {
	var b strings.Builder
	switch n.Status {
	case Renamed:
		b.WriteString(fmt.Sprintf("%s (%s) is deprecated: it was renamed to %s (%s, %s); its value is applied to %s. Use the new name.",
			n.Name, n.Era, n.owner.Name, CLIName(n.owner), EnvNames(n.owner)[0], n.owner.Name))
	case NoEquivalent:
		b.WriteString(fmt.Sprintf("%s (%s) has no equivalent: %s Configure %s (%s) instead and remove %s.",
			n.Name, n.Era, n.Reason, n.owner.Name, CLIName(n.owner), n.Name))
	default:
		b.WriteString(fmt.Sprintf("%s (%s) was removed: %s Remove it from the configuration.", n.Name, n.Era, n.Reason))
	}
	if n.Status == Renamed && n.Reason != "" {
		b.WriteString(" ")
		b.WriteString(n.Reason)
	}
	return b.String()
}

// registry holds every option in declaration order.
var registry []*Option

// register adds an option to the schema and returns it; every option is
// declared as `var X = register(Option{...})`.
func register(o Option) *Option {
	p := &o
	p.index = len(registry)
	if p.Max == 0 {
		lo, hi := naturalRange(p.Type)
		if p.Min == 0 {
			p.Min = lo
		}
		p.Max = hi
	}
	p.OldNames = slices.Clone(p.OldNames)
	for i := range p.OldNames {
		p.OldNames[i].owner = p
	}
	registry = append(registry, p)
	return p
}

func naturalRange(t Type) (lo, hi int64) {
	switch t {
	case Port:
		return 0, math.MaxUint16
	case Milliseconds, Seconds:
		return 0, math.MaxInt32
	case Int:
		return math.MinInt32, math.MaxInt32
	}
	return 0, 0
}

// All returns every option, grouped in Groups order and in declaration
// order within a group. The slice is the caller's; the options are shared.
func All() []*Option {
	out := slices.Clone(registry)
	slices.SortStableFunc(out, func(a, b *Option) int { return int(a.Group) - int(b.Group) })
	return out
}

// RemovedNames are old option names that no current option took over.
func RemovedNames() []OldName { return slices.Clone(removedNames) }

// entry is what a normalized spelling resolves to.
type entry struct {
	opt *Option
	old *OldName
}

// index maps every normalized spelling to its option or old name. It is
// built once at start and only read afterwards.
var index map[string]entry

func init() {
	idx, err := buildIndex(registry, removedNames)
	if err != nil {
		panic("options: " + err.Error())
	}
	index = idx
	if err := checkSchema(registry); err != nil {
		panic("options: " + err.Error())
	}
	prototype = buildDefaults()
}

// buildIndex maps every spelling of every option and old name; two
// spellings that normalize alike are a schema error.
func buildIndex(opts []*Option, removed []OldName) (map[string]entry, error) {
	idx := make(map[string]entry)
	owner := make(map[string]string)
	add := func(spelling, who string, e entry) error {
		k := normalize(spelling)
		if k == "" {
			return fmt.Errorf("%s has an empty name", who)
		}
		if prev, dup := owner[k]; dup && prev != who {
			return fmt.Errorf("%s and %s have the same normalized name %q", prev, who, k)
		}
		owner[k] = who
		idx[k] = e
		return nil
	}
	for _, o := range opts {
		if err := add(o.Name, o.Name, entry{opt: o}); err != nil {
			return nil, err
		}
		if o.Section != "" {
			if err := add(o.Section+o.Name, o.Name, entry{opt: o}); err != nil {
				return nil, err
			}
		}
		for i := range o.OldNames {
			n := &o.OldNames[i]
			if err := add(n.Name, "old name "+n.Name, entry{opt: o, old: n}); err != nil {
				return nil, err
			}
		}
	}
	for i := range removed {
		n := &removed[i]
		if err := add(n.Name, "old name "+n.Name, entry{old: n}); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

// checkSchema rejects declarations that could not work.
func checkSchema(opts []*Option) error {
	for _, o := range opts {
		switch {
		case o.Type < Bool || o.Type > Path:
			return fmt.Errorf("%s has no type", o.Name)
		case o.Group < GroupApplication || int(o.Group) >= len(groupTitles):
			return fmt.Errorf("%s has no group", o.Name)
		case o.Help == "":
			return fmt.Errorf("%s has no help", o.Name)
		case o.Type.numeric() && o.Min > o.Max:
			return fmt.Errorf("%s has Min %d above Max %d", o.Name, o.Min, o.Max)
		case o.Type == Enum && len(o.Values) == 0:
			return fmt.Errorf("%s is an enum without values", o.Name)
		case o.MinusOne != "" && (!o.Type.numeric() || o.Min <= -1):
			return fmt.Errorf("%s: MinusOne needs a numeric type whose Min is above -1", o.Name)
		}
		for _, n := range o.OldNames {
			if n.Status < Renamed || n.Status > NoEquivalent {
				return fmt.Errorf("old name %s has no status", n.Name)
			}
			if n.Status == Removed {
				return fmt.Errorf("old name %s is Removed but attached to %s; list it in removedNames", n.Name, o.Name)
			}
			if n.Status == NoEquivalent && n.Reason == "" {
				return fmt.Errorf("old name %s needs a reason", n.Name)
			}
			if n.Era == "" {
				return fmt.Errorf("old name %s needs an era", n.Name)
			}
		}
	}
	return nil
}

// Lookup finds an option by any spelling: the YAML name, the CLI flag with
// or without dashes, the environment variable with or without its prefix,
// a section-qualified key ("TcpPlugin:NodeTcpPort"), or an old name. Case,
// '-', '_', '.' and ':' are ignored.
//
// For an old name, viaOldName is set. o is the option to set only when the
// old name was Renamed; for Removed and NoEquivalent names o is nil and
// viaOldName.Message explains what to do. ok is false for unknown names.
func Lookup(name string) (o *Option, viaOldName *OldName, ok bool) {
	e, found := index[normalize(name)]
	if !found {
		return nil, nil, false
	}
	if e.old != nil && e.old.Status != Renamed {
		return nil, e.old, true
	}
	return e.opt, e.old, true
}

// Suggest proposes a known option for an unknown name ("did you mean"),
// spelled the way the name was given: "--node-prot" gives "--node-port",
// "EVENTSTORE_NODE_PROT" gives "EVENTSTORE_NODE_PORT", "NodeProt" gives
// "NodePort". Renamed old names lead to their new option. It returns ""
// when nothing is close enough.
func Suggest(name string) string {
	if len(name) > maxSuggestInput {
		return ""
	}
	key := normalize(name)
	if key == "" {
		return ""
	}
	limit := min(max(len(key)/3, 1), 5)
	var best *Option
	bestDist := limit + 1
	consider := func(spelling string, o *Option) {
		if d := editDistance(key, normalize(spelling)); d < bestDist {
			best, bestDist = o, d
		}
	}
	all := All()
	for _, o := range all {
		consider(o.Name, o)
	}
	for _, o := range all {
		for _, n := range o.OldNames {
			if n.Status == Renamed {
				consider(n.Name, o)
			}
		}
	}
	if best == nil {
		return ""
	}
	return spellLike(name, best)
}

// spellLike writes o's name in the form the user used for name.
func spellLike(name string, o *Option) string {
	t := strings.TrimSpace(name)
	upper := strings.ToUpper(t)
	switch {
	case strings.HasPrefix(t, "-"):
		return CLIName(o)
	case strings.HasPrefix(upper, EnvPrefixKurrentDB):
		return EnvPrefixKurrentDB + UpperSnake(o.Name)
	case strings.HasPrefix(upper, EnvPrefixEventStore):
		return EnvPrefixEventStore + UpperSnake(o.Name)
	}
	return o.Name
}
