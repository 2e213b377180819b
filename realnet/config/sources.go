package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/tailscale/hujson"
	"gopkg.in/yaml.v3"

	"github.com/annal-db/annal/core/options"
)

// sourceKind is where a setting was read.
type sourceKind uint8

const (
	fromCommandLine sourceKind = iota + 1
	fromEnvironment
	fromConfigFile
	fromKestrel
)

// setting is one name=value pair as a source gave it, before the name is
// resolved against the schema.
type setting struct {
	kind    sourceKind
	key     string // as given: "--node-port", "EVENTSTORE_NODE_PORT", "TcpPlugin.NodeTcpPort"
	value   string
	null    bool // YAML or JSON null: no value
	list    bool // a YAML or JSON list, joined with commas
	missing bool // a flag at the end of the command line, without its value
	path    string
	line    int
}

func (s setting) source() options.Source {
	switch s.kind {
	case fromCommandLine:
		return options.SourceCommandLine
	case fromEnvironment:
		return options.SourceEnvironment
	}
	return options.SourceConfigFile
}

// origin is where the setting came from, as messages say it.
func (s setting) origin() string {
	switch s.kind {
	case fromCommandLine:
		return "command line " + s.key
	case fromEnvironment:
		return "environment " + s.key
	case fromConfigFile:
		return fmt.Sprintf("config file %s, line %d, key %s", s.path, s.line, s.key)
	}
	return fmt.Sprintf("%s %s, line %d, key %s", options.KestrelSettingsFile, s.path, s.line, s.key)
}

// place is the whole source, for messages about two settings in it.
func (s setting) place() string {
	switch s.kind {
	case fromCommandLine:
		return "on the command line"
	case fromEnvironment:
		return "in the environment"
	case fromConfigFile:
		return "in the config file " + s.path
	}
	return "in " + s.path
}

// given shows the setting the way it was written, value redacted if secret.
func (s setting) given(secret bool) string {
	v := fmt.Sprintf("%q", s.value)
	if secret {
		v = options.Redacted
	}
	switch s.kind {
	case fromCommandLine:
		return s.key + " " + v
	case fromEnvironment:
		return s.key + "=" + v
	}
	return fmt.Sprintf("%s: %s (line %d)", s.key, v, s.line)
}

// spell writes o's name as this source spells names: the flag, the
// variable with the same prefix, or the key.
func (s setting) spell(o *options.Option) string {
	switch s.kind {
	case fromCommandLine:
		return options.CLIName(o)
	case fromEnvironment:
		if strings.HasPrefix(strings.ToUpper(s.key), options.EnvPrefixKurrentDB) {
			return options.EnvNames(o)[1]
		}
		return options.EnvNames(o)[0]
	}
	return options.ConfigKey(o)
}

// commandLine splits the arguments into settings. Boolean flags may stand
// alone; other flags take the next argument unless it starts with "--".
func (l *loader) commandLine(args []string) []setting {
	var out []setting
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" {
			a = "--help"
		}
		if len(a) < 2 || a[0] != '-' || strings.Trim(a, "-") == "" {
			l.fail("unexpected argument %q on the command line: options are given as --name value or --name=value, and annal takes no other arguments", a)
			continue
		}
		s := setting{kind: fromCommandLine}
		if name, value, ok := strings.Cut(a, "="); ok {
			s.key, s.value = name, value
			out = append(out, s)
			continue
		}
		s.key = a
		next, hasNext := "", i+1 < len(args)
		if hasNext {
			next = args[i+1]
		}
		if opt, _, _ := options.Lookup(a); opt != nil && opt.Type == options.Bool {
			s.value = "true"
			if hasNext && (strings.EqualFold(next, "true") || strings.EqualFold(next, "false")) {
				s.value = next
				i++
			}
		} else if hasNext && !strings.HasPrefix(next, "--") {
			s.value = next
			i++
		} else {
			s.missing = true
		}
		out = append(out, s)
	}
	return out
}

// environment picks the EVENTSTORE_ and KURRENTDB_ variables, in that
// order of precedence. Unprefixed variables are not read.
func (l *loader) environment(environ []string) (eventStore, kurrentDB []setting) {
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		upper := strings.ToUpper(k)
		s := setting{kind: fromEnvironment, key: k, value: v}
		switch {
		case strings.HasPrefix(upper, options.EnvPrefixKurrentDB):
			kurrentDB = append(kurrentDB, s)
		case strings.HasPrefix(upper, options.EnvPrefixEventStore):
			eventStore = append(eventStore, s)
		default:
			if o := unprefixed[k]; o != nil {
				l.note(Notice, "%s is set in the environment but not read: annal reads only variables prefixed %s or %s "+
					"(the 20.x-24.x documentation shows some names without the prefix by mistake); use %s",
					k, options.EnvPrefixEventStore, options.EnvPrefixKurrentDB, options.EnvNames(o)[0])
			}
		}
	}
	return eventStore, kurrentDB
}

// unprefixed maps the unprefixed environment spelling of every option with
// more than one word (KEEP_ALIVE_INTERVAL) to the option; single words
// (DB, LOG, INDEX) are too common among unrelated variables to mention.
var unprefixed = func() map[string]*options.Option {
	m := make(map[string]*options.Option)
	for _, o := range options.All() {
		if s := options.UpperSnake(o.Name); strings.Contains(s, "_") {
			m[s] = o
		}
	}
	return m
}()

// kubernetesLink matches the variables Kubernetes adds to a pod for every
// Service: NAME_SERVICE_HOST, NAME_SERVICE_PORT[_PORTNAME], NAME_PORT and
// NAME_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]. A Service named eventstore
// gives EVENTSTORE_SERVICE_HOST, which must not stop the node as an unknown
// option.
var kubernetesLink = regexp.MustCompile(`^(.+?)_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)

func isKubernetesLink(key, value string) (service string, ok bool) {
	m := kubernetesLink.FindStringSubmatch(strings.ToUpper(key))
	if m == nil {
		return "", false
	}
	if m[2] == "PORT" && !strings.Contains(value, "://") {
		return "", false // NAME_PORT is only a link with a tcp://host:port value
	}
	return strings.ReplaceAll(strings.ToLower(m[1]), "_", "-"), true
}

// Bounds on what a configuration file may make the loader do.
const (
	maxDepth    = 8
	maxSettings = 1000
)

// configFile reads the YAML configuration file: a mapping of option names
// to values, with sections (TcpPlugin:) as nested mappings.
func (l *loader) configFile(path string, data []byte) []setting {
	docs, err := safeYAML(data)
	if err != nil {
		l.fail("config file %s is not valid YAML: %v", path, err)
		return nil
	}
	if len(docs) > 1 {
		// EventStoreDB reads the first document only; silently dropping
		// the others would start a node without the settings they hold.
		l.fail("config file %s, line %d: this is in a second YAML document (after a --- line), and only one document is read; "+
			"put every option in one document (a '---' line at the top of the file is fine)", path, docs[1].Line)
		return nil
	}
	if len(docs) == 0 {
		return nil // an empty file sets nothing
	}
	doc := docs[0]
	if doc.Kind != yaml.MappingNode {
		l.fail("config file %s, line %d: the file must be a mapping of option names to values (NodePort: 2113), not a %s",
			path, doc.Line, kindName(doc.Kind))
		return nil
	}
	w := yamlWalker{l: l, path: path}
	w.mapping(doc, "", 1)
	return w.out
}

// safeYAML parses data into its documents' root nodes, leaving out empty
// documents (nothing, or only comments or null), and stopping at the second
// one that is not empty. A panic inside the parser becomes an error: a
// malformed file must be reported, never crash the node.
func safeYAML(data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			docs, err = nil, fmt.Errorf("the YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for len(docs) < 2 {
		var root yaml.Node
		switch err := dec.Decode(&root); {
		case errors.Is(err, io.EOF):
			return docs, nil
		case err != nil:
			return nil, err
		}
		if len(root.Content) == 0 {
			continue
		}
		if doc := root.Content[0]; !(doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.ScalarNode:
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

type yamlWalker struct {
	l       *loader
	path    string
	out     []setting
	visited int
	stopped bool
}

func (w *yamlWalker) mapping(m *yaml.Node, prefix string, depth int) {
	for i := 0; i+1 < len(m.Content) && !w.stopped; i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		if w.visited++; w.visited > maxSettings {
			w.l.fail("config file %s has more than %d keys and values (aliases included); it cannot be a configuration", w.path, maxSettings)
			w.stopped = true
			return
		}
		if k.Kind != yaml.ScalarNode || k.Value == "" || k.Value == "<<" {
			w.l.fail("config file %s, line %d: keys are option names; %q is not one (merge keys and complex keys are not supported)",
				w.path, k.Line, k.Value)
			continue
		}
		key := prefix + k.Value
		s := setting{kind: fromConfigFile, key: key, path: w.path, line: k.Line}
		switch {
		case v == nil:
			w.l.fail("config file %s, line %d: %s is an alias to nothing", w.path, k.Line, key)
		case v.Kind == yaml.ScalarNode:
			s.value, s.null = v.Value, v.Tag == "!!null"
			w.out = append(w.out, s)
		case v.Kind == yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			ok := true
			for _, it := range v.Content {
				if it = deref(it); it == nil || it.Kind != yaml.ScalarNode {
					w.l.fail("config file %s, line %d: %s is a list whose entries must be single values", w.path, k.Line, key)
					ok = false
					break
				}
				items = append(items, it.Value)
			}
			if ok {
				s.value, s.list = strings.Join(items, ","), true
				w.out = append(w.out, s)
			}
		case v.Kind == yaml.MappingNode:
			if o, old, known := options.Lookup(key); known && (o != nil || old != nil) {
				w.l.fail("config file %s, line %d: %s takes a value, not a section of keys", w.path, k.Line, key)
				continue
			}
			if depth >= maxDepth {
				w.l.fail("config file %s, line %d: sections nest deeper than %d levels under %s", w.path, k.Line, maxDepth, key)
				continue
			}
			w.mapping(v, key+".", depth+1)
		default:
			w.l.fail("config file %s, line %d: %s has a value of an unknown kind", w.path, k.Line, key)
		}
	}
}

// deref follows aliases (&anchor / *anchor) to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// kestrelFile reads kestrelsettings.json: {"Kestrel": {"Limits": {...}}}.
// It keeps the file's order and line numbers, reading it as a stream.
func (l *loader) kestrelFile(path string, data []byte) []setting {
	data = relaxedJSON(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	j := jsonWalker{l: l, path: path, data: data, dec: dec}
	tok, err := dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		l.fail("%s is not valid JSON: %v", path, err)
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		l.fail("%s must hold a JSON object ({\"Kestrel\": {\"Limits\": {...}}})", path)
		return nil
	}
	if err := j.object("", 1); err != nil {
		l.fail("%s is not valid JSON: %v", path, err)
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		l.fail("%s has more after its JSON object", path)
		return nil
	}
	return j.out
}

// relaxedJSON accepts what .NET's JSON configuration files may hold and
// strict JSON does not, as EventStoreDB reads kestrelsettings.json with
// .NET's JSON configuration provider: a UTF-8 byte order mark, // and /* */
// comments, and a comma before a closing bracket. It returns a copy in
// which those are blanked out (newlines kept), so that offsets and line
// numbers stay those of the file. Data that is not JSON even so is
// returned as it is, for the decoder to say where it goes wrong.
func relaxedJSON(data []byte) []byte {
	out := bytes.Clone(data)
	if bytes.HasPrefix(out, []byte("\xef\xbb\xbf")) {
		copy(out, "   ")
	}
	std, err := hujson.Standardize(out)
	if err != nil {
		return data
	}
	return std
}

type jsonWalker struct {
	l    *loader
	path string
	data []byte
	dec  *json.Decoder
	out  []setting
}

var errJSONLimit = errors.New("too deeply nested or too large")

// object reads the members of an object whose '{' was just read, up to and
// including its '}'.
func (j *jsonWalker) object(prefix string, depth int) error {
	if depth > maxDepth {
		return errJSONLimit
	}
	for j.dec.More() {
		tok, err := j.dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		line := j.line()
		key := prefix + name
		if tok, err = j.dec.Token(); err != nil {
			return err
		}
		s := setting{kind: fromKestrel, key: key, path: j.path, line: line}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' {
				if err := j.object(key+".", depth+1); err != nil {
					return err
				}
				continue
			}
			items, err := j.array()
			if err != nil {
				return err
			}
			s.value, s.list = strings.Join(items, ","), true
		case nil:
			s.null = true
		case json.Number:
			s.value = t.String()
		case string:
			s.value = t
		case bool:
			s.value = fmt.Sprint(t)
		}
		if len(j.out) >= maxSettings {
			return errJSONLimit
		}
		j.out = append(j.out, s)
	}
	_, err := j.dec.Token() // '}'
	return err
}

// array reads the scalar entries of an array whose '[' was just read.
func (j *jsonWalker) array() ([]string, error) {
	var items []string
	for j.dec.More() {
		tok, err := j.dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case json.Delim:
			return nil, fmt.Errorf("line %d: list entries must be single values", j.line())
		case nil:
		default:
			items = append(items, fmt.Sprint(t))
		}
		if len(items) > maxSettings {
			return nil, errJSONLimit
		}
	}
	_, err := j.dec.Token() // ']'
	return items, err
}

// line is the line of the decoder's position.
func (j *jsonWalker) line() int {
	off := min(int(j.dec.InputOffset()), len(j.data))
	return 1 + bytes.Count(j.data[:off], []byte{'\n'})
}
