package options

import (
	"strings"
	"unicode"
)

// Prefixes of environment variables. EVENTSTORE_ is what EventStoreDB has
// always read; KURRENTDB_ is what KurrentDB 25 reads. Both are accepted;
// when both name the same option, KURRENTDB_ wins.
const (
	EnvPrefixEventStore = "EVENTSTORE_"
	EnvPrefixKurrentDB  = "KURRENTDB_"
)

// CLIName is the option's command-line flag: "--" and the name in
// kebab-case, e.g. "--replication-tcp-port-advertise-as".
func CLIName(o *Option) string { return "--" + Kebab(o.Name) }

// EnvNames are the environment variables that set the option, in
// precedence order (the later one wins): EVENTSTORE_NODE_PORT,
// KURRENTDB_NODE_PORT.
func EnvNames(o *Option) []string {
	s := UpperSnake(o.Name)
	return []string{EnvPrefixEventStore + s, EnvPrefixKurrentDB + s}
}

// ConfigKey is the option's key in its configuration file, with its
// enclosing sections joined by dots: "NodePort",
// "TcpPlugin.EnableExternalTcp",
// "Kestrel.Limits.Http2.InitialStreamWindowSize".
func ConfigKey(o *Option) string {
	if o.Section == "" {
		return o.Name
	}
	return o.Section + "." + o.Name
}

// Kebab turns a PascalCase name into lower kebab-case:
// "GossipIntervalMs" -> "gossip-interval-ms", "NodeIp" -> "node-ip".
func Kebab(name string) string { return joinWords(name, '-', unicode.ToLower) }

// UpperSnake turns a PascalCase name into UPPER_SNAKE_CASE:
// "IntIp" -> "INT_IP".
func UpperSnake(name string) string { return joinWords(name, '_', unicode.ToUpper) }

// joinWords splits name into words at case changes and joins them with sep.
// A word starts at an upper-case letter that follows a lower-case letter or
// a digit, or that ends a run of capitals and is followed by a lower-case
// letter ("HTTPPort" -> "HTTP", "Port"). Digits stay with the word before
// them ("Http2" stays one word).
func joinWords(name string, sep rune, caseOf func(rune) rune) string {
	rs := []rune(name)
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteRune(sep)
			}
		}
		b.WriteRune(caseOf(r))
	}
	return b.String()
}

// normalize maps every spelling of a name to one key: lower case, without
// leading dashes, without an EVENTSTORE_/KURRENTDB_ (or "EventStore:")
// prefix, and without the separators '-', '_', '.', ':' and spaces. So
// "--ext-tcp-port-advertise-as", "ExtTcpPortAdvertiseAs" and
// "EVENTSTORE_EXT_TCP_PORT_ADVERTISE_AS" all become
// "exttcpportadvertiseas", and "TcpPlugin:NodeTcpPort" becomes
// "tcppluginnodetcpport".
func normalize(name string) string {
	s := strings.ToLower(strings.TrimSpace(name))
	s = strings.TrimLeft(s, "-")
	for _, p := range [...]string{"eventstore", "kurrentdb"} {
		// Only a prefix followed by a separator is a prefix: no option name
		// starts with these words, but "EventStoreX" must not lose them.
		if len(s) > len(p) && strings.HasPrefix(s, p) && strings.ContainsRune("_:.", rune(s[len(p)])) {
			s = s[len(p):]
			break
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch r {
		case '-', '_', '.', ':', ' ':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxSuggestInput bounds the work Suggest does on arbitrary input.
const maxSuggestInput = 200

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of two neighbours each
// cost one, so "nodeprot" is one step from "nodeport".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	n, m := len(ra), len(rb)
	// Three rows are enough: the swap looks two rows back.
	prev2 := make([]int, m+1)
	prev := make([]int, m+1)
	cur := make([]int, m+1)
	for j := 0; j <= m; j++ {
		prev[j] = j
	}
	for i := 1; i <= n; i++ {
		cur[0] = i
		for j := 1; j <= m; j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[m]
}
