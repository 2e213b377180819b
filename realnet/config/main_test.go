package config

import (
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/options"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// files is a fake file system: path to content.
type files map[string]string

func (f files) read(path string) ([]byte, error) {
	if s, ok := f[path]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
}

// hostAddrs is a host with a loopback and one LAN address.
func hostAddrs() ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("10.1.2.3")}, nil
}

// load runs Load on explicit inputs only.
func load(args []string, env []string, fsys files) (*Config, error) {
	return Load(Inputs{Args: args, Environ: env, ReadFile: fsys.read, InterfaceAddrs: hostAddrs})
}

// mustLoad fails the test on any configuration error.
func mustLoad(t *testing.T, args []string, env []string, fsys files) *Config {
	t.Helper()
	c, err := load(args, env, fsys)
	if err != nil {
		t.Fatalf("Load(args %q, env %q): %v", args, env, err)
	}
	return c
}

// problems is Load's error as a list (nil when none).
func problems(t *testing.T, err error) Problems {
	t.Helper()
	if err == nil {
		return nil
	}
	p, ok := err.(Problems)
	if !ok {
		t.Fatalf("Load error is a %T, want Problems: %v", err, err)
	}
	return p
}

// notesText joins the notes, one per line.
func notesText(c *Config) string {
	var b strings.Builder
	for _, n := range c.Notes {
		b.WriteString(n.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func warnings(c *Config) []string {
	var out []string
	for _, n := range c.Notes {
		if n.Level == Warning {
			out = append(out, n.Text)
		}
	}
	return out
}

var _ = options.NodePort
