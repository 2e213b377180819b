package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/annal-db/annal/core/options"
)

const helpWidth = 100

// WriteHelp prints every option, grouped as the schema groups them, with
// its flag, environment variables, configuration key, default and help.
func WriteHelp(w io.Writer) error {
	b := &strings.Builder{}
	b.WriteString("Usage: annal [options]\n\n")
	wrap(b, "", "Runs an annal node. Options come from, lowest precedence first: the defaults below; the YAML configuration file "+
		"(--config; "+options.Config.Default+" by default, read only when present; a file named explicitly must exist); "+
		options.KestrelSettingsFile+" in the same directory; environment variables prefixed "+options.EnvPrefixEventStore+
		", then "+options.EnvPrefixKurrentDB+" (unprefixed variables are never read); and the command line. "+
		"Names are matched without regard to case, so --NodePort, --node-port and EVENTSTORE_Node_Port all work; "+
		"keys with dots (TcpPlugin.NodeTcpPort) are nested sections in YAML. Older EventStoreDB names are accepted with a warning "+
		"naming the new option. --what-if prints the effective configuration and where each value came from.")
	for _, g := range options.Groups() {
		fmt.Fprintf(b, "\n%s\n", g.Title())
		for _, o := range options.All() {
			if o.Group == g {
				helpOption(b, o)
			}
		}
	}
	b.WriteString("\nRetired names (refused or ignored, with the reason):\n")
	for _, o := range options.All() {
		for i := range o.OldNames {
			if n := &o.OldNames[i]; n.Status != options.Renamed {
				hang(b, "  - ", "    ", n.Message())
			}
		}
	}
	for _, n := range options.RemovedNames() {
		hang(b, "  - ", "    ", n.Message())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func helpOption(b *strings.Builder, o *options.Option) {
	flag := options.CLIName(o) + placeholder(o)
	if o.EnvOnly {
		flag = o.Name + " (environment only)"
	}
	def := o.Default
	if def == "" {
		def = "(empty)"
	}
	fmt.Fprintf(b, "  %s\n", flag)
	env := options.EnvNames(o)
	names := fmt.Sprintf("env %s or %s", env[0], env[1])
	switch {
	case o == options.Config:
		names += "; command line or environment only"
	case o.EnvOnly:
	case o.File != "":
		names += fmt.Sprintf("; %s: %s", o.File, options.ConfigKey(o))
	default:
		names += "; yaml " + options.ConfigKey(o)
	}
	wrap(b, "      ", names)
	details := "default " + def
	if r := allowed(o); r != "" {
		details += "; " + r
	}
	if o.Secret {
		details += "; secret: redacted in --what-if and in messages"
	}
	wrap(b, "      ", details)
	wrap(b, "      ", o.Help)
	if o.NoEffect != "" {
		wrap(b, "      ", "No effect in annal: "+o.NoEffect+".")
	}
	if o.NotSupported != "" {
		wrap(b, "      ", "Not supported: only the default is accepted; "+o.NotSupported)
	}
	var renamed []string
	for _, n := range o.OldNames {
		if n.Status == options.Renamed {
			renamed = append(renamed, fmt.Sprintf("%s (%s)", n.Name, n.Era))
		}
	}
	if len(renamed) > 0 {
		wrap(b, "      ", "Old names, accepted with a warning: "+strings.Join(renamed, ", ")+".")
	}
}

// placeholder shows what a flag takes.
func placeholder(o *options.Option) string {
	switch o.Type {
	case options.Bool:
		return "[=true|false]"
	case options.Enum:
		return " <" + strings.Join(o.Values, "|") + ">"
	case options.StringList:
		return " <a,b,...>"
	case options.EndpointList:
		return " <host:port,...>"
	case options.Milliseconds:
		return " <ms>"
	case options.Seconds:
		return " <seconds>"
	case options.IPAddress:
		return " <ip>"
	}
	return " <" + o.Type.String() + ">"
}

// allowed says what a numeric option accepts.
func allowed(o *options.Option) string {
	switch o.Type {
	case options.Int, options.Port, options.Milliseconds, options.Seconds:
	default:
		return ""
	}
	s := fmt.Sprintf("allowed %d..%d", o.Min, o.Max)
	if o.MinusOne != "" {
		s += ", or -1 (" + o.MinusOne + ")"
	}
	return s
}

// wrap writes text in lines of at most helpWidth columns, each indented.
func wrap(b *strings.Builder, indent, text string) { hang(b, indent, indent, text) }

// hang is wrap with a different indent on the first line ("  - ").
func hang(b *strings.Builder, first, rest, text string) {
	line, indent := first, first
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > helpWidth {
			b.WriteString(line + "\n")
			line, indent = rest, rest
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
}

// WriteWhatIf prints the effective configuration: every option with its
// value and where it came from, secrets redacted, old names noted, and
// whether a node could start with it.
func WriteWhatIf(w io.Writer, c *Config) error {
	b := &strings.Builder{}
	b.WriteString("Effective configuration (--what-if: nothing is started)\n")
	read := func(ok bool) string {
		if ok {
			return "read"
		}
		return "not present"
	}
	fmt.Fprintf(b, "Config file: %s (%s)\n", c.ConfigPath, read(c.ConfigRead))
	fmt.Fprintf(b, "%s: %s (%s)\n", options.KestrelSettingsFile, c.KestrelPath, read(c.KestrelRead))
	for _, g := range options.Groups() {
		fmt.Fprintf(b, "\n%s\n", g.Title())
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, o := range options.All() {
			if o.Group != g {
				continue
			}
			org := c.Origin(o)
			from := org.Text
			if org.OldName != nil {
				from += fmt.Sprintf(" (old name %s, %s)", org.OldName.Name, org.OldName.Era)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", o.Name, shown(c.Values.Display(o)), from)
		}
		tw.Flush()
	}
	if err := CheckNodeStart(c); err != nil {
		b.WriteString("\nA node would not start with this configuration:\n")
		for _, p := range err.(Problems) {
			hang(b, "  - ", "    ", p)
		}
	} else {
		b.WriteString("\nA node could start with this configuration.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shown makes a value readable in a column: empty values are named, and
// values with spaces or control characters are quoted.
func shown(v string) string {
	if v == "" {
		return "(empty)"
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(v)
	}
	return v
}
