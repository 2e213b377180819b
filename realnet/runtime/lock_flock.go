//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// dirLock is an flock on the lock file: the kernel drops it when the
// process dies, so a crash never leaves a stale lock. The file itself is
// left in place at release: removing it would let a process that opened
// the old file and one that creates a new file both believe they hold the
// lock.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock file of database directory %s: %w", dir, err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, Path: path, PID: parsePID(b)}
		}
		return nil, fmt.Errorf("cannot lock database directory %s (flock %s): %w", dir, path, err)
	}
	// The pid is for the message a second process prints; the lock is the
	// flock, so a failure to write it is not fatal.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(pidText(), 0)
	}
	return &dirLock{f: f}, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// release drops the lock.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}
