package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/options"
)

// Every Renamed old name in the schema sets its new option from every
// source, with exactly one warning: OldName.Message, which names the new
// option, followed by where the old name was given.
func TestEveryRenamedOldNameAppliesWithOneWarning(t *testing.T) {
	for _, o := range options.All() {
		for i := range o.OldNames {
			old := &o.OldNames[i]
			if old.Status != options.Renamed {
				continue
			}
			raw, canon := sample(o)
			flag, env := "--"+options.Kebab(old.Name), options.EnvPrefixEventStore+options.UpperSnake(old.Name)
			cases := []struct {
				name   string
				args   []string
				env    []string
				file   string
				places []string
			}{
				{name: "flag", args: []string{flag, raw}, places: []string{"command line " + flag}},
				{name: "PascalCase flag", args: []string{"--" + old.Name + "=" + raw}, places: []string{"command line --" + old.Name}},
				{name: "variable", env: []string{env + "=" + raw}, places: []string{"environment " + env}},
				{name: "yaml", file: old.Name + ": " + yamlQuote(raw) + "\n",
					places: []string{fmt.Sprintf("config file %s, line 1, key %s", options.Config.Default, old.Name)}},
				{name: "all three sources", args: []string{flag, raw}, env: []string{env + "=" + raw}, file: old.Name + ": " + yamlQuote(raw) + "\n",
					places: []string{"command line " + flag, "environment " + env, "config file " + options.Config.Default + ", line 1, key " + old.Name}},
			}
			for _, tc := range cases {
				t.Run(old.Name+"/"+tc.name, func(t *testing.T) {
					fsys := files{}
					if tc.file != "" {
						fsys[options.Config.Default] = tc.file
					}
					c := mustLoad(t, tc.args, tc.env, fsys)
					if got := c.Values.String(o); got != canon {
						t.Errorf("%s = %q, want %q set through %s", o.Name, got, canon, old.Name)
					}
					if org := c.Origin(o); org.OldName != old {
						t.Errorf("origin of %s = %+v, want old name %s noted", o.Name, org, old.Name)
					}
					var about []string
					for _, w := range warnings(c) {
						if strings.Contains(w, old.Name) {
							about = append(about, w)
						}
					}
					want := old.Message() + " Given in: " + strings.Join(tc.places, "; ") + "."
					if len(about) != 1 || about[0] != want {
						t.Errorf("warnings about %s = %q\nwant exactly one: %q", old.Name, about, want)
					}
					if !strings.Contains(want, "renamed to "+o.Name) {
						t.Errorf("the warning does not name the new option %s: %q", o.Name, want)
					}
				})
			}
		}
	}
}

// Names with no equivalent stop the node with the reason and what to
// configure instead; AllowUnknownOptions makes them a warning, and their
// value is ignored.
func TestEveryNoEquivalentNameIsRefusedWithItsReason(t *testing.T) {
	n := 0
	for _, o := range options.All() {
		for i := range o.OldNames {
			old := &o.OldNames[i]
			if old.Status != options.NoEquivalent {
				continue
			}
			n++
			t.Run(old.Name, func(t *testing.T) {
				flag := "--" + options.Kebab(old.Name)
				c, err := load([]string{flag, "2113"}, nil, nil)
				wantProblem(t, err, old.Message(), "Given in: command line "+flag)
				if c.Values.Source(o) != options.SourceDefault {
					t.Errorf("%s took a value from %s", o.Name, old.Name)
				}
				c, err = load([]string{flag, "2113", "--allow-unknown-options"}, nil, nil)
				if err != nil {
					t.Fatalf("with AllowUnknownOptions: %v", err)
				}
				if !strings.Contains(notesText(c), "warning: "+old.Message()) || !strings.Contains(notesText(c), "ignored because AllowUnknownOptions") {
					t.Errorf("with AllowUnknownOptions, want a warning %q; notes:\n%s", old.Message(), notesText(c))
				}
			})
		}
	}
	if n == 0 {
		t.Fatal("the schema has no NoEquivalent names; this test tests nothing")
	}
}

// Removed names never had an effect: they are ignored with a warning.
func TestRemovedNamesAreIgnoredWithAWarning(t *testing.T) {
	for _, old := range options.RemovedNames() {
		t.Run(old.Name, func(t *testing.T) {
			env := options.EnvPrefixEventStore + options.UpperSnake(old.Name)
			c := mustLoad(t, nil, []string{env + "=2"}, files{options.Config.Default: old.Name + ": 2\n"})
			want := old.Message() + " Given in: environment " + env + "; config file " + options.Config.Default + ", line 1, key " + old.Name + ". Its value is ignored."
			if ws := warnings(c); len(ws) != 1 || ws[0] != want {
				t.Errorf("warnings = %q\nwant exactly %q", ws, want)
			}
		})
	}
}
