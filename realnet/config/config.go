package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/annal-db/annal/core/options"
)

// Inputs are everything Load reads; nothing else is consulted.
type Inputs struct {
	// Args are the command-line arguments, without the program name.
	Args []string
	// Environ is the environment as KEY=VALUE strings, as os.Environ gives it.
	Environ []string
	// ReadFile reads a whole file, as os.ReadFile does; a missing file must
	// give an error matching fs.ErrNotExist. nil means no file exists.
	ReadFile func(path string) ([]byte, error)
	// InterfaceAddrs lists the host's addresses (HostAddrs does); a secure
	// node without NodeIp listens on the first non-loopback one. nil means
	// none are known.
	InterfaceAddrs func() ([]netip.Addr, error)
}

// Config is a loaded configuration.
type Config struct {
	// Values holds every option's effective value.
	Values *options.Values
	// ConfigPath is the YAML configuration file looked for; ConfigRead
	// tells whether it was there and read.
	ConfigPath string
	ConfigRead bool
	// KestrelPath is kestrelsettings.json in the configuration directory;
	// KestrelRead tells whether it was there and read.
	KestrelPath string
	KestrelRead bool
	// Notes are the warnings and notices, in the order found.
	Notes []Note

	origins map[*options.Option]Origin
}

// Origin says where an option's value came from.
type Origin struct {
	Source options.Source
	// Text is the place as messages and --what-if show it: "default",
	// "command line --node-port", "environment EVENTSTORE_NODE_PORT",
	// "config file /etc/eventstore/eventstore.conf, line 3, key HttpPort".
	Text string
	// Key is the spelling the value was given under; empty for defaults.
	Key string
	// OldName is set when the value was given under a Renamed old name.
	OldName *options.OldName
}

func (o Origin) String() string { return o.Text }

// Origin tells where o's value came from.
func (c *Config) Origin(o *options.Option) Origin {
	if org, ok := c.origins[o]; ok {
		return org
	}
	return Origin{Source: options.SourceDefault, Text: "default"}
}

// Level ranks a Note.
type Level uint8

const (
	// Notice is information about a choice made for the operator.
	Notice Level = iota + 1
	// Warning is something that works but is probably not what was meant.
	Warning
)

func (l Level) String() string {
	if l == Warning {
		return "warning"
	}
	return "notice"
}

// Note is a warning or a notice.
type Note struct {
	Level Level
	Text  string
}

func (n Note) String() string { return n.Level.String() + ": " + n.Text }

// Problems are every error found in a configuration, in the order found.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "configuration error: " + p[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the configuration has %d problems:", len(p))
	for _, s := range p {
		b.WriteString("\n  - ")
		b.WriteString(s)
	}
	return b.String()
}

// Load reads the configuration from in. It always returns a Config, holding
// every value it could establish; the error, when not nil, is Problems.
func Load(in Inputs) (*Config, error) {
	l := &loader{
		in:      in,
		scratch: options.Defaults(),
		cfg:     &Config{Values: options.Defaults(), origins: make(map[*options.Option]Origin)},
	}
	l.load()
	var err error
	if len(l.errs) > 0 {
		err = Problems(l.errs)
	}
	return l.cfg, err
}

// loader carries one Load.
type loader struct {
	in      Inputs
	cfg     *Config
	scratch *options.Values // parses values without touching cfg.Values
	errs    []string

	unknown    []setting    // names matching nothing; errors unless AllowUnknownOptions
	retired    []retiredUse // NoEquivalent and Removed old names
	deprecated []renamedUse // Renamed old names, one entry per old name
	notes      []Note       // found while reading; checks add theirs after
}

type retiredUse struct {
	old *options.OldName
	s   setting
}

type renamedUse struct {
	old    *options.OldName
	places []string
}

func (l *loader) fail(format string, args ...any) {
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

func (l *loader) note(level Level, format string, args ...any) {
	l.notes = append(l.notes, Note{Level: level, Text: fmt.Sprintf(format, args...)})
}

func (l *loader) load() {
	cli := l.resolve(l.commandLine(l.in.Args))
	envEventStore, envKurrentDB := l.environment(l.in.Environ)
	envES := l.resolve(envEventStore)
	envKDB := l.resolve(envKurrentDB)

	path, namedBy := options.Config.Default, ""
	for _, src := range [][]*choice{envES, envKDB, cli} { // later wins
		if c := find(src, options.Config); c != nil {
			path, namedBy = c.value, c.s.origin()
		}
	}
	if path == "" {
		l.fail("Config is empty (from %s): name a YAML configuration file, or do not set Config to read %s when present",
			namedBy, options.Config.Default)
		path, namedBy = options.Config.Default, ""
	}
	var yamlChoices, kestrelChoices []*choice
	l.cfg.ConfigPath = path
	if data, ok := l.readFile(path, namedBy, "config file"); ok {
		l.cfg.ConfigRead = true
		yamlChoices = l.resolve(l.configFile(path, data))
	}
	// kestrelsettings.json beside the configuration file, else in the
	// default configuration directory, where EventStoreDB looks for it
	// wherever --config points.
	for _, dir := range []string{filepath.Dir(path), filepath.Dir(options.Config.Default)} {
		l.cfg.KestrelPath = filepath.Join(dir, options.KestrelSettingsFile)
		errs := len(l.errs)
		if data, ok := l.readFile(l.cfg.KestrelPath, "", options.KestrelSettingsFile); ok {
			l.cfg.KestrelRead = true
			kestrelChoices = l.resolve(l.kestrelFile(l.cfg.KestrelPath, data))
			break
		}
		if len(l.errs) > errs || dir == filepath.Dir(options.Config.Default) {
			break // unreadable, or nowhere else to look
		}
	}

	for _, src := range [][]*choice{yamlChoices, kestrelChoices, envES, envKDB, cli} {
		l.apply(src)
	}
	l.reportNames()
	l.checkNetwork()
	l.cfg.Notes = l.notes
}

// readFile reads path. A missing file is an error only when it was named
// explicitly (namedBy says where).
func (l *loader) readFile(path, namedBy, what string) ([]byte, bool) {
	var data []byte
	err := fs.ErrNotExist
	if l.in.ReadFile != nil {
		data, err = l.in.ReadFile(path)
	}
	switch {
	case err == nil:
		return data, true
	case errors.Is(err, fs.ErrNotExist) && namedBy == "":
		return nil, false
	case errors.Is(err, fs.ErrNotExist):
		l.fail("%s %s (from %s) does not exist: a configuration file named explicitly must exist; give the path of a YAML file, "+
			"or name none to read %s when present", what, path, namedBy, options.Config.Default)
	default:
		l.fail("%s %s cannot be read: %v", what, path, err)
	}
	return nil, false
}

func find(cs []*choice, o *options.Option) *choice {
	for _, c := range cs {
		if c.opt == o {
			return c
		}
	}
	return nil
}

// apply sets the chosen values of one source; a later source overrides.
func (l *loader) apply(cs []*choice) {
	for _, c := range cs {
		if err := l.cfg.Values.Set(c.opt, c.value, c.s.source()); err != nil {
			// resolve parsed the same value already; this cannot fail.
			panic(fmt.Sprintf("config: %s accepted once and refused later: %v", c.opt.Name, err))
		}
		org := Origin{Source: c.s.source(), Text: c.s.origin(), Key: c.s.key}
		if c.old != nil {
			org.OldName = c.old
		}
		l.cfg.origins[c.opt] = org
	}
}
