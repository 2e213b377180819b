//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// dirLock is a lock file created exclusively, for platforms without flock.
// It outlives a crashed holder: the LockedError then says to delete it.
type dirLock struct {
	f    *os.File
	path string
}

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		b, _ := os.ReadFile(path)
		return nil, &LockedError{Dir: dir, Path: path, PID: parsePID(b), Stale: true}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create the lock file of database directory %s: %w", dir, err)
	}
	_, _ = f.Write(pidText())
	return &dirLock{f: f, path: path}, nil
}

// release removes the lock file.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
		_ = os.Remove(l.path)
		l.f = nil
	}
}
