package tlsconfig

import (
	"io/fs"
	"sort"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/annal-db/annal/core/options"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memFS is a file system in memory: absolute paths to contents;
// directories are implied by the paths below them. Paths in denied cannot
// be read.
type memFS struct {
	files  map[string][]byte
	denied map[string]bool
}

func newMemFS() *memFS { return &memFS{files: map[string][]byte{}, denied: map[string]bool{}} }

func (m *memFS) put(p string, data []byte) { m.files[p] = data }

func (m *memFS) isDir(p string) bool {
	for f := range m.files {
		if strings.HasPrefix(f, p+"/") {
			return true
		}
	}
	return false
}

func (m *memFS) readFile(p string) ([]byte, error) {
	if m.denied[p] {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
	}
	if d, ok := m.files[p]; ok {
		return d, nil
	}
	if m.isDir(p) {
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

func (m *memFS) readDir(p string) ([]fs.DirEntry, error) {
	if _, ok := m.files[p]; ok {
		return nil, &fs.PathError{Op: "readdirent", Path: p, Err: syscall.ENOTDIR}
	}
	if !m.isDir(p) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	// fstest.MapFS builds the entries, names sorted.
	mf := fstest.MapFS{}
	for f, d := range m.files {
		if rest, ok := strings.CutPrefix(f, p+"/"); ok {
			mf[rest] = &fstest.MapFile{Data: d}
		}
	}
	entries, err := fs.ReadDir(mf, ".")
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, err
}

func (m *memFS) inputs(now time.Time) Inputs {
	return Inputs{ReadFile: m.readFile, ReadDir: m.readDir, Now: func() time.Time { return now }}
}

// values are a secure node's options as the tests set them.
func values(t *testing.T, set map[*options.Option]string) *options.Values {
	t.Helper()
	v := options.Defaults()
	for o, s := range set {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatalf("option %s=%q: %v", o.Name, s, err)
		}
	}
	return v
}
