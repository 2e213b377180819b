package config

import (
	"strings"
	"testing"

	"github.com/annal-db/annal/core/options"
)

// kestrelsettings.json as EventStoreDB ships it: null limits mean -1 (no
// limit), numbers and numeric strings are read, sections nest.
func TestKestrelSettings(t *testing.T) {
	const file = `{
  "Kestrel": {
    "Limits": {
      "MaxConcurrentConnections": null,
      "MaxConcurrentUpgradedConnections": "500",
      "Http2": {
        "InitialConnectionWindowSize": 2097152,
        "InitialStreamWindowSize": null
      }
    }
  }
}`
	c := mustLoad(t, []string{"--insecure"}, nil, files{kestrel: file})
	want := map[*options.Option]string{
		options.MaxConcurrentConnections:         "-1",
		options.MaxConcurrentUpgradedConnections: "500",
		options.InitialConnectionWindowSize:      "2097152",
		options.InitialStreamWindowSize:          "786432", // null without a "no limit": the default stays
	}
	for o, w := range want {
		if got := c.Values.String(o); got != w {
			t.Errorf("%s = %s, want %s", o.Name, got, w)
		}
	}
	if !c.Values.Disabled(options.MaxConcurrentConnections) {
		t.Error("null MaxConcurrentConnections is not 'no limit'")
	}
	if org := c.Origin(options.InitialConnectionWindowSize).Text; org != "kestrelsettings.json "+kestrel+", line 7, key Kestrel.Limits.Http2.InitialConnectionWindowSize" {
		t.Errorf("origin = %q", org)
	}
	if src := c.Values.Source(options.MaxConcurrentUpgradedConnections); src != options.SourceConfigFile {
		t.Errorf("source = %v", src)
	}
}

// EventStoreDB reads kestrelsettings.json with .NET's JSON configuration
// provider, which takes a byte order mark, comments and trailing commas;
// such a file loads, with its line numbers kept.
func TestKestrelSettingsAsDotNetReadsThem(t *testing.T) {
	const file = "\xef\xbb\xbf{\n" +
		"  // limits for the node port\n" +
		"  \"Kestrel\": {\n" +
		"    \"Limits\": { /* null: no limit */\n" +
		"      \"MaxConcurrentConnections\": 100, // a comment with \"quotes\" and , commas\n" +
		"      \"MaxConcurrentUpgradedConnections\": \"a // not a comment, /* nor this */\",\n" +
		"      \"Http2\": {\"InitialStreamWindowSize\": 1048576,},\n" +
		"    },\n" +
		"  },\n" +
		"}\n"
	_, err := load([]string{"--insecure"}, nil, files{kestrel: file})
	// The string value is kept as it is: refused as a number, so the
	// comment-like text inside a string was not blanked.
	wantProblem(t, err, `MaxConcurrentUpgradedConnections: "a // not a comment, /* nor this */" (from kestrelsettings.json `+kestrel+", line 6,")
	if p := problems(t, err); len(p) != 1 {
		t.Errorf("problems: %v", err)
	}
	c := mustLoad(t, []string{"--insecure"}, nil, files{kestrel: strings.Replace(file, "\"a // not a comment, /* nor this */\"", "7", 1)})
	if c.Values.Int(options.MaxConcurrentConnections) != 100 || c.Values.Int(options.MaxConcurrentUpgradedConnections) != 7 ||
		c.Values.Int(options.InitialStreamWindowSize) != 1048576 {
		t.Errorf("values not read: %d %d %d", c.Values.Int(options.MaxConcurrentConnections),
			c.Values.Int(options.MaxConcurrentUpgradedConnections), c.Values.Int(options.InitialStreamWindowSize))
	}
	if org := c.Origin(options.InitialStreamWindowSize).Text; !strings.HasSuffix(org, ", line 7, key Kestrel.Limits.Http2.InitialStreamWindowSize") {
		t.Errorf("origin = %q", org)
	}
	// An unterminated comment is still an error.
	_, err = load([]string{"--insecure"}, nil, files{kestrel: `{"Kestrel": {} /* no end`})
	wantProblem(t, err, "is not valid JSON")
}

// kestrelsettings.json sits between the YAML file and the environment.
func TestKestrelPrecedence(t *testing.T) {
	fsys := files{
		conf:    "Insecure: true\nKestrel:\n  Limits:\n    MaxConcurrentConnections: 10\n    MaxConcurrentUpgradedConnections: 10\n",
		kestrel: `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 20, "MaxConcurrentUpgradedConnections": 20}}}`,
	}
	c := mustLoad(t, []string{"--max-concurrent-connections", "40"}, []string{"EVENTSTORE_MAX_CONCURRENT_UPGRADED_CONNECTIONS=30"}, fsys)
	if got := c.Values.Int(options.MaxConcurrentConnections); got != 40 {
		t.Errorf("MaxConcurrentConnections = %d, want the command line's 40", got)
	}
	if got := c.Values.Int(options.MaxConcurrentUpgradedConnections); got != 30 {
		t.Errorf("MaxConcurrentUpgradedConnections = %d, want the environment's 30", got)
	}
	delete(fsys, kestrel)
	c = mustLoad(t, nil, nil, fsys)
	if got := c.Values.Int(options.MaxConcurrentConnections); got != 10 {
		t.Errorf("MaxConcurrentConnections = %d, want the YAML file's 10", got)
	}
	fsys[kestrel] = `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 20}}}`
	c = mustLoad(t, nil, nil, fsys)
	if got := c.Values.Int(options.MaxConcurrentConnections); got != 20 {
		t.Errorf("MaxConcurrentConnections = %d, want kestrelsettings.json's 20 over the YAML file", got)
	}
}

func TestKestrelSettingsRefusals(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		parts []string
	}{
		{"list", `{"Kestrel": {"Limits": {"MaxConcurrentConnections": [1, 2]}}}`, []string{`MaxConcurrentConnections: a list "1,2"`}},
		{"boolean", `{"Kestrel": {"Limits": {"MaxConcurrentConnections": true}}}`, []string{`MaxConcurrentConnections: "true"`, "is not a whole number"}},
		{"fraction", `{"Kestrel": {"Limits": {"MaxConcurrentConnections": 1.5}}}`, []string{`MaxConcurrentConnections: "1.5"`, "is not a whole number"}},
		{"trailing data", `{} {}`, []string{"has more after its JSON object"}},
		{"nested list entries", `{"Kestrel": {"Limits": {"MaxConcurrentConnections": [{}]}}}`, []string{"list entries must be single values"}},
		{"too deep", `{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":1}}}}}}}}}}`, []string{"too deeply nested"}},
		{"null for a window", `{"Kestrel": {"Limits": {"Http2": {"InitialStreamWindowSize": -1}}}}`, []string{`InitialStreamWindowSize: "-1"`, "allowed 65535..2147483647"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load([]string{"--insecure"}, nil, files{kestrel: tc.file})
			wantProblem(t, err, tc.parts...)
		})
	}
	// An empty file sets nothing.
	if _, err := load([]string{"--insecure"}, nil, files{kestrel: ""}); err != nil {
		t.Errorf("empty kestrelsettings.json: %v", err)
	}
}
