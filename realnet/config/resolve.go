package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/annal-db/annal/core/options"
)

// choice is the value one source gives an option, after its name was
// resolved and its value checked.
type choice struct {
	s          setting
	opt        *options.Option
	old        *options.OldName // set when given under a Renamed old name
	value      string           // as given (null in kestrelsettings.json becomes -1)
	canon      string           // canonical form, to compare two spellings' values
	conflicted bool
}

// resolve matches one source's settings to options, checks their values,
// and settles several settings of one option: the same value is fine,
// different values are an error naming both.
func (l *loader) resolve(settings []setting) []*choice {
	var out []*choice
	byOpt := make(map[*options.Option]*choice) // looked up only
	for _, s := range settings {
		opt, old, ok := options.Lookup(s.key)
		switch {
		case !ok:
			if service, link := isKubernetesLink(s.key, s.value); link && s.kind == fromEnvironment {
				l.note(Notice, "%s is ignored: it looks like a variable Kubernetes sets for a Service named %q, not an option "+
					"(set enableServiceLinks: false in the pod spec to drop such variables)", s.key, service)
				continue
			}
			l.unknown = append(l.unknown, s)
			continue
		case opt == nil:
			l.retired = append(l.retired, retiredUse{old: old, s: s})
			continue
		}
		if !l.usable(s, opt) {
			continue
		}
		value := s.value
		if s.null {
			if s.kind != fromKestrel || opt.MinusOne == "" {
				continue // null leaves the option as lower sources set it
			}
			value = "-1"
		}
		if err := l.scratch.Set(opt, value, s.source()); err != nil {
			l.valueError(err, s)
			continue
		}
		if old != nil {
			l.renamed(old, s)
		}
		c := &choice{s: s, opt: opt, old: old, value: value, canon: l.scratch.String(opt)}
		prev := byOpt[opt]
		switch {
		case prev == nil:
			byOpt[opt] = c
			out = append(out, c)
		case prev.canon != c.canon:
			if !prev.conflicted {
				prev.conflicted = true
				l.fail("%s is given two different values %s: %s and %s; give it once, as %s",
					opt.Name, s.place(), prev.s.given(opt.Secret), s.given(opt.Secret), s.spell(opt))
			}
		case prev.old != nil && old == nil:
			*prev = *c // same value: keep the current name as the origin to show
		}
	}
	return out
}

// usable rejects settings whose shape cannot fit the option, before their
// value is looked at.
func (l *loader) usable(s setting, opt *options.Option) bool {
	switch {
	case s.missing:
		l.fail("%s (command line) needs a value: %s VALUE or %s=VALUE", s.key, s.key, s.key)
	case opt == options.Config && (s.kind == fromConfigFile || s.kind == fromKestrel):
		l.fail("Config (from %s) cannot be set inside a configuration file: name the file with --config or %s",
			s.origin(), options.EnvNames(options.Config)[0])
	case s.kind == fromKestrel && opt.File != options.KestrelSettingsFile:
		l.fail("%s (from %s) is not read from %s, which holds only the Kestrel.Limits settings: set it in the YAML config file, the environment (%s) or the command line (%s)",
			opt.Name, s.origin(), options.KestrelSettingsFile, options.EnvNames(opt)[0], options.CLIName(opt))
	case s.list && opt.Type != options.StringList && opt.Type != options.EndpointList:
		shown := strconv.Quote(s.value)
		if opt.Secret {
			shown = strconv.Quote(options.Redacted)
		}
		l.fail("%s: a list %s (from %s) where one %s value is expected", opt.Name, shown, s.origin(), opt.Type)
	default:
		return true
	}
	return false
}

// valueError restates a value the schema refused, naming where it came from.
func (l *loader) valueError(err error, s setting) {
	var ve *options.ValueError
	if !errors.As(err, &ve) {
		l.fail("%s (from %s): %v", s.key, s.origin(), err)
		return
	}
	l.fail("%s: %q (from %s) %s", ve.Option.Name, ve.Value, s.origin(), ve.Detail)
}

// renamed records a use of a Renamed old name; each old name is warned
// about once, listing every place it was used.
func (l *loader) renamed(old *options.OldName, s setting) {
	for i := range l.deprecated {
		if l.deprecated[i].old == old {
			l.deprecated[i].places = append(l.deprecated[i].places, s.origin())
			return
		}
	}
	l.deprecated = append(l.deprecated, renamedUse{old: old, places: []string{s.origin()}})
}

// maxUnknownReported bounds the list of unknown names: past it, a file is
// not a configuration at all and more lines would bury the other problems.
const maxUnknownReported = 50

// reportNames turns unknown, retired and renamed names into errors and
// warnings, now that AllowUnknownOptions is known.
func (l *loader) reportNames() {
	allow := l.cfg.Values.Bool(options.AllowUnknownOptions)
	for i, s := range l.unknown {
		if i == maxUnknownReported {
			more := fmt.Sprintf("%d more unknown options (not listed)", len(l.unknown)-i)
			if allow {
				l.note(Warning, "%s; ignored because AllowUnknownOptions is set", more)
			} else {
				l.fail("%s", more)
			}
			break
		}
		if section, ok := ignoredAsForeign(s); ok {
			l.note(Warning, "%q (from %s) is ignored: annal knows no such setting in %s. Like EventStoreDB, annal refuses only unknown "+
				"top-level options; names in sections configure plugins and the HTTP server, which annal does not have or does not configure this way",
				s.key, describePlace(s), section)
			continue
		}
		msg := fmt.Sprintf("unknown option %q (from %s)", s.key, describePlace(s))
		if hint := suggestFor(s); hint != "" {
			msg += ": did you mean " + hint + "?"
		} else {
			msg += ": annal --help lists every option"
		}
		if allow {
			l.note(Warning, "%s; ignored because AllowUnknownOptions is set", msg)
		} else {
			l.fail("%s (AllowUnknownOptions lets the node start anyway)", msg)
		}
	}
	for i, r := range l.retired {
		if firstUse(l.retired, i) != i {
			continue
		}
		msg := r.old.Message() + " Given in: " + strings.Join(placesOf(l.retired, r.old), "; ") + "." + l.fourPortHint(r)
		switch {
		case r.old.Status == options.Removed:
			l.note(Warning, "%s Its value is ignored.", msg)
		case allow:
			l.note(Warning, "%s Its value is ignored because AllowUnknownOptions is set.", msg)
		default:
			l.fail("%s", msg)
		}
	}
	for _, d := range l.deprecated {
		l.note(Warning, "%s Given in: %s.", d.old.Message(), strings.Join(d.places, "; "))
	}
}

// sectionOf splits an unknown setting's name into its section and its
// last part, as EventStoreDB nests names: Licensing: {LicenseKey: ...} in
// YAML, EVENTSTORE_LICENSING__LICENSE_KEY, --Licensing:LicenseKey, and
// every name in kestrelsettings.json. A leading EventStore or KurrentDB
// section is no section. nested is false for a top-level name.
func sectionOf(s setting) (section, leaf string, nested bool) {
	var parts []string
	switch s.kind {
	case fromKestrel, fromConfigFile:
		parts = strings.Split(s.key, ".")
	case fromEnvironment:
		k := s.key
		for _, p := range []string{options.EnvPrefixEventStore, options.EnvPrefixKurrentDB} {
			if strings.HasPrefix(strings.ToUpper(k), p) {
				k = k[len(p):]
				break
			}
		}
		parts = strings.Split(strings.Trim(k, "_"), "__")
	case fromCommandLine:
		parts = strings.Split(strings.ReplaceAll(strings.TrimLeft(s.key, "-"), "__", ":"), ":")
	}
	if len(parts) > 1 && (strings.EqualFold(parts[0], "EventStore") || strings.EqualFold(parts[0], "KurrentDB")) {
		parts = parts[1:]
	}
	if len(parts) < 2 {
		return "", s.key, s.kind == fromKestrel
	}
	return strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1], true
}

// ignoredAsForeign tells whether an unknown setting is left alone, with a
// warning, rather than refused. EventStoreDB reports only unknown
// top-level options: names in sections belong to its plugins and to the
// HTTP server (kestrelsettings.json holds any Kestrel setting), and are
// not checked. annal does the same, except for a name close to an option
// of the same section (TcpPlugin.NodeTcpPrt), which is a misspelling.
func ignoredAsForeign(s setting) (section string, ignored bool) {
	section, leaf, nested := sectionOf(s)
	if !nested {
		return "", false
	}
	if o, _, ok := options.Lookup(options.Suggest(leaf)); ok && o != nil && o.Section != "" &&
		strings.EqualFold(normalizeSection(o.Section), normalizeSection(section)) {
		return "", false
	}
	if section == "" {
		return "the top level of " + options.KestrelSettingsFile, true
	}
	return "section " + section, true
}

func normalizeSection(s string) string {
	return strings.NewReplacer(".", "", ":", "", "_", "", "-", "").Replace(s)
}

func describePlace(s setting) string {
	if s.kind == fromCommandLine {
		return "command line"
	}
	if s.kind == fromEnvironment {
		return "environment"
	}
	return strings.TrimSuffix(s.origin(), ", key "+s.key)
}

// suggestFor offers the nearest option, spelled as the source spells
// names. Inside a section the last part of the key is compared.
func suggestFor(s setting) string {
	if s.kind == fromCommandLine || s.kind == fromEnvironment {
		return options.Suggest(s.key)
	}
	leaf := s.key
	if i := strings.LastIndexByte(leaf, '.'); i >= 0 {
		leaf = leaf[i+1:]
	}
	name := options.Suggest(leaf)
	if o, _, ok := options.Lookup(name); ok && o != nil && leaf != s.key {
		return options.ConfigKey(o)
	}
	return name
}

func firstUse(rs []retiredUse, i int) int {
	for j := range rs {
		if rs[j].old == rs[i].old {
			return j
		}
	}
	return i
}

func placesOf(rs []retiredUse, old *options.OldName) []string {
	var ps []string
	for _, r := range rs {
		if r.old == old {
			ps = append(ps, r.s.origin())
		}
	}
	return ps
}

// oldInternalHTTPPort is the default internal HTTP port of EventStoreDB's
// four-port layout (3.x-5.x), where nodes gossiped with each other.
const oldInternalHTTPPort = 2112

// givenInternalHTTPPort is the port IntHttpPort was given, from the source
// of highest precedence that gave a number.
func (l *loader) givenInternalHTTPPort() (port uint16, ok bool) {
	rank := 0
	for _, r := range l.retired {
		if r.old.Name != "IntHttpPort" || precedence(r.s) < rank {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(r.s.value), 10, 16); err == nil {
			port, rank, ok = uint16(n), precedence(r.s), true
		}
	}
	return port, ok
}

// precedence ranks a setting's source: a higher rank overrides a lower.
func precedence(s setting) int {
	switch s.kind {
	case fromCommandLine:
		return 5
	case fromEnvironment:
		if strings.HasPrefix(strings.ToUpper(s.key), options.EnvPrefixKurrentDB) {
			return 4
		}
		return 3
	case fromKestrel:
		return 2
	}
	return 1
}

// fourPortHint explains IntHttpPort in a configuration that also has a
// node port: the four-port layout of EventStoreDB 5.x.
func (l *loader) fourPortHint(r retiredUse) string {
	if r.old.Name != "IntHttpPort" {
		return ""
	}
	nodePort := l.cfg.Values.Port(options.NodePort)
	internal, ok := l.givenInternalHTTPPort()
	if !ok || internal == nodePort {
		return ""
	}
	return fmt.Sprintf(" With IntHttpPort %d and the node port %d (NodePort, from %s) this is EventStoreDB 5.x's four-port layout "+
		"(separate internal and external HTTP ports); gossip and elections now ride the node port, so remove IntHttpPort and "+
		"point the other nodes' GossipSeed entries (or ClusterGossipPort) at port %d.",
		internal, nodePort, l.cfg.Origin(options.NodePort), nodePort)
}
