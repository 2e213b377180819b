package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/annal-db/annal/core/options"
)

// --help is generated from the schema: every group in order, and under it
// every option with its flag, environment variables, key, default and help.
func TestHelpListsEveryOption(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHelp(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	last := -1
	for _, g := range options.Groups() {
		i := strings.Index(out, "\n"+g.Title()+"\n")
		if i < 0 || i < last {
			t.Fatalf("group %q missing or out of order", g.Title())
		}
		last = i
	}
	flat := strings.Join(strings.Fields(out), " ") // undo wrapping
	for _, o := range options.All() {
		env := options.EnvNames(o)
		parts := []string{env[0], env[1], strings.Join(strings.Fields(o.Help), " ")}
		if !o.EnvOnly {
			parts = append(parts, options.CLIName(o)+placeholder(o))
		}
		if o != options.Config && !o.EnvOnly {
			parts = append(parts, options.ConfigKey(o))
		}
		if o.Default != "" {
			parts = append(parts, "default "+o.Default)
		}
		for _, n := range o.OldNames {
			parts = append(parts, n.Name+" ("+n.Era+")")
		}
		for _, p := range parts {
			if !strings.Contains(flat, p) {
				t.Errorf("--help does not show %q for %s", p, o.Name)
			}
		}
		// Each option sits under its own group.
		at := strings.Index(out, "\n  "+options.CLIName(o)+placeholder(o)+"\n")
		if o.EnvOnly {
			at = strings.Index(out, "\n  "+o.Name+" (environment only)\n")
		}
		title := strings.Index(out, "\n"+o.Group.Title()+"\n")
		if at < title {
			t.Errorf("%s is not under %q", o.Name, o.Group.Title())
		}
	}
	for _, want := range []string{options.Config.Default, "unprefixed variables are never read", options.KestrelSettingsFile} {
		if !strings.Contains(flat, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > helpWidth && !strings.Contains(strings.TrimSpace(line), " ") {
			continue // one long word cannot be wrapped
		}
		if len(line) > helpWidth {
			t.Errorf("line longer than %d columns: %q", helpWidth, line)
		}
	}
}

// --what-if shows every option exactly once, under its group, with its
// source; secrets are redacted; and whether a node could start.
func TestWhatIf(t *testing.T) {
	c := mustLoad(t, []string{"--certificate-file", "/node.p12", "--certificate-password", "pa ss"}, []string{"EVENTSTORE_DEFAULT_ADMIN_PASSWORD=topsecret"},
		files{conf: "ExtIp: 10.0.0.7\n"})
	var b bytes.Buffer
	if err := WriteWhatIf(&b, c); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, o := range options.All() {
		whatIfLine(t, out, o.Name)
	}
	for _, secret := range []string{"topsecret", "pa ss"} {
		if strings.Contains(out, secret) {
			t.Errorf("--what-if shows the secret %q", secret)
		}
	}
	for _, want := range []string{
		"  NodeIp ", "config file " + conf + ", line 1, key ExtIp (old name ExtIp, 3.x-24.x)",
		"environment EVENTSTORE_DEFAULT_ADMIN_PASSWORD", "Config file: " + conf + " (read)",
		"A node could start with this configuration.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--what-if lacks %q:\n%s", want, out)
		}
	}
	if l := whatIfLine(t, out, "CertificatePassword"); !strings.Contains(l, " "+options.Redacted+" ") {
		t.Errorf("CertificatePassword line %q", l)
	}

	c = mustLoad(t, nil, nil, nil)
	b.Reset()
	if err := WriteWhatIf(&b, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "A node would not start with this configuration:\n  - no certificate") {
		t.Errorf("--what-if does not say the node would not start:\n%s", b.String())
	}
}
