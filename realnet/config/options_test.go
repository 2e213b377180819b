package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/options"
)

// sample derives a valid value for o from its schema entry, different from
// its default where the option has more than one value: raw is how a user
// types it (in an unusual case where case does not matter), canon how
// Values.String gives it back.
func sample(o *options.Option) (raw, canon string) {
	switch o.Type {
	case options.Bool:
		if o.Default == "true" {
			return "False", "false"
		}
		return "TRUE", "true"
	case options.Int, options.Port, options.Milliseconds, options.Seconds:
		for _, n := range []int64{o.Min + 1, o.Min, o.Max} {
			if s := strconv.FormatInt(n, 10); s != o.Default && n >= o.Min && n <= o.Max {
				return " " + s, s
			}
		}
	case options.String:
		return "sample text", "sample text"
	case options.Path:
		return "/srv/annal/sample", "/srv/annal/sample"
	case options.StringList:
		return "a, b", "a,b"
	case options.EndpointList:
		return "node1.example:2113, 10.0.0.2:2113", "node1.example:2113,10.0.0.2:2113"
	case options.IPAddress:
		return "10.9.8.7", "10.9.8.7"
	case options.Host:
		return "node1.example", "node1.example"
	case options.Enum:
		for _, v := range o.Values {
			if v != o.Default {
				return strings.ToLower(v), v
			}
		}
	}
	panic("no sample value for " + o.Name)
}

// sampleFiles holds the file a sampled Config option names, so that
// giving --config explicitly finds it.
func sampleFiles() files {
	raw, _ := sample(options.Config)
	return files{raw: ""}
}

// yamlQuote writes v as a double-quoted YAML scalar.
func yamlQuote(v string) string { return strconv.Quote(v) }

// yamlFor writes a config file setting o to v, nesting section keys.
func yamlFor(o *options.Option, v string) string {
	var b strings.Builder
	indent := ""
	if o.Section != "" {
		for _, sec := range strings.Split(o.Section, ".") {
			fmt.Fprintf(&b, "%s%s:\n", indent, sec)
			indent += "  "
		}
	}
	fmt.Fprintf(&b, "%s%s: %s\n", indent, o.Name, yamlQuote(v))
	return b.String()
}

type sourceCase struct {
	name   string
	args   []string
	env    []string
	file   string // YAML config file at the default path
	src    options.Source
	origin string
}

// sourcesFor is every way of giving o the value raw.
func sourcesFor(o *options.Option, raw string) []sourceCase {
	flag := options.CLIName(o)
	env := options.EnvNames(o)
	cs := []sourceCase{
		{name: "flag value", args: []string{flag, raw}, src: options.SourceCommandLine, origin: "command line " + flag},
		{name: "flag=value", args: []string{flag + "=" + raw}, src: options.SourceCommandLine, origin: "command line " + flag},
		{name: "PascalCase flag", args: []string{"--" + o.Name, raw}, src: options.SourceCommandLine, origin: "command line --" + o.Name},
		{name: "EVENTSTORE_", env: []string{env[0] + "=" + raw}, src: options.SourceEnvironment, origin: "environment " + env[0]},
		{name: "KURRENTDB_", env: []string{env[1] + "=" + raw}, src: options.SourceEnvironment, origin: "environment " + env[1]},
		{name: "mixed-case variable", env: []string{"EVENTSTORE_" + o.Name + "=" + raw}, src: options.SourceEnvironment, origin: "environment EVENTSTORE_" + o.Name},
		{name: "yaml", file: yamlFor(o, raw), src: options.SourceConfigFile,
			origin: fmt.Sprintf("config file %s, line %d, key %s", options.Config.Default, 1+strings.Count(o.Section, ".")+boolInt(o.Section != ""), options.ConfigKey(o))},
		{name: "lower-case yaml key", file: strings.ToLower(o.Name) + ": " + yamlQuote(raw) + "\n", src: options.SourceConfigFile,
			origin: fmt.Sprintf("config file %s, line 1, key %s", options.Config.Default, strings.ToLower(o.Name))},
	}
	if o.Type == options.Bool && raw == "TRUE" {
		cs = append(cs, sourceCase{name: "bare flag", args: []string{flag}, src: options.SourceCommandLine, origin: "command line " + flag})
	}
	return cs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Every option of the schema can be set from the command line, the
// environment and the config file, lands with its canonical value and its
// source, and shows in --what-if with where it came from. Options that
// cannot be set from a source are refused with a message saying why.
func TestEveryOptionThroughEverySource(t *testing.T) {
	for _, o := range options.All() {
		raw, canon := sample(o)
		for _, sc := range sourcesFor(o, raw) {
			t.Run(o.Name+"/"+sc.name, func(t *testing.T) {
				fsys := sampleFiles()
				if sc.file != "" {
					fsys[options.Config.Default] = sc.file
				}
				c, err := load(sc.args, sc.env, fsys)
				switch {
				case o.NotSupported != "":
					wantProblem(t, err, o.Name+": ", sc.origin, "is not supported: "+o.NotSupported)
					return
				case o.EnvOnly && sc.src != options.SourceEnvironment:
					wantProblem(t, err, o.Name+": ", sc.origin, "can only be set through the environment: use "+options.EnvNames(o)[0])
					return
				case o == options.Config && sc.src == options.SourceConfigFile:
					wantProblem(t, err, "Config (from "+sc.origin+") cannot be set inside a configuration file")
					return
				}
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got := c.Values.String(o); got != canon {
					t.Errorf("value = %q, want %q", got, canon)
				}
				if got := c.Values.Source(o); got != sc.src {
					t.Errorf("source = %v, want %v", got, sc.src)
				}
				if got := c.Origin(o).Text; got != sc.origin {
					t.Errorf("origin = %q, want %q", got, sc.origin)
				}
				var out bytes.Buffer
				if err := WriteWhatIf(&out, c); err != nil {
					t.Fatal(err)
				}
				line := whatIfLine(t, out.String(), o.Name)
				shownValue := shown(canon)
				if o.Secret {
					shownValue = options.Redacted
					if strings.Contains(out.String(), canon) {
						t.Errorf("--what-if shows the secret value %q of %s", canon, o.Name)
					}
				}
				if f := strings.Fields(line); len(f) < 2 || !strings.HasPrefix(strings.TrimPrefix(line, "  "+o.Name), "  ") ||
					!strings.Contains(line, " "+shownValue+" ") || !strings.HasSuffix(line, sc.origin) {
					t.Errorf("--what-if line %q: want value %q and source %q", line, shownValue, sc.origin)
				}
			})
		}
	}
}

// whatIfLine is the --what-if line of the option named name.
func whatIfLine(t *testing.T, out, name string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  "+name+" ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("--what-if has %d lines for %s, want 1:\n%s", len(found), name, out)
	}
	return found[0]
}

// wantProblem asserts that err lists one problem containing every part.
func wantProblem(t *testing.T, err error, parts ...string) {
	t.Helper()
	p := problems(t, err)
	for _, s := range p {
		ok := true
		for _, part := range parts {
			ok = ok && strings.Contains(s, part)
		}
		if ok {
			return
		}
	}
	t.Errorf("no problem contains all of %q; problems:\n%v", parts, err)
}

// Out-of-range and malformed values of every numeric option are refused
// from every source, each message naming the option, the value, the source
// and the allowed range.
func TestEveryNumericOptionRefusesOutOfRange(t *testing.T) {
	for _, o := range options.All() {
		switch o.Type {
		case options.Int, options.Port, options.Milliseconds, options.Seconds:
		default:
			continue
		}
		if o.Max == 1<<63-1 && o.Min <= -1 {
			continue
		}
		bad := strconv.FormatInt(o.Min-1, 10)
		if o.Min-1 == -1 && o.MinusOne != "" {
			bad = "-2"
		}
		if o.Max < 1<<62 {
			bad = strconv.FormatInt(o.Max+1, 10)
		}
		rangeText := fmt.Sprintf("allowed %d..%d", o.Min, o.Max)
		for _, sc := range sourcesFor(o, bad) {
			if o.EnvOnly && sc.src != options.SourceEnvironment {
				continue
			}
			t.Run(o.Name+"/"+sc.name, func(t *testing.T) {
				fsys := files{}
				if sc.file != "" {
					fsys[options.Config.Default] = sc.file
				}
				_, err := load(sc.args, sc.env, fsys)
				wantProblem(t, err, o.Name+": "+strconv.Quote(bad), "(from "+sc.origin+")", "is out of range: "+rangeText)
				_, err = load(nil, []string{options.EnvNames(o)[0] + "=12abc"}, nil)
				wantProblem(t, err, o.Name+`: "12abc"`, "(from environment "+options.EnvNames(o)[0]+")", "is not a whole number", rangeText)
			})
		}
	}
}
