//go:build linux || darwin || freebsd

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freeDevBase finds a base port whose six dev-cluster ports are free on
// loopback now. Another process may take one before the cluster binds it;
// the cluster then fails to start and says which port, so the test reports
// that rather than hanging.
func freeDevBase(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(30000)
		var held []net.Listener
		ok := true
		for i := range devNodes {
			for _, p := range []int{base + devPortStep*i, base + devPortStep*i - devReplOffset} {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
				if err != nil {
					ok = false
					break
				}
				held = append(held, l)
			}
		}
		for _, l := range held {
			_ = l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free base port for the dev cluster in 50 tries")
	return 0
}

// lockedBuffer is a process's stderr, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var roleLine = regexp.MustCompile(`^(n[123]) (\w+) \(`)

// `annal dev` forms a cluster of three on loopback, shows one leader, and
// stops cleanly on Ctrl-C, leaving no process behind.
func TestDevClusterElectsALeaderAndStopsOnInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	base := freeDevBase(t)
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(bin, "dev", "--base-port", strconv.Itoa(base), "--data", data)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A pipe of our own rather than StdoutPipe, so that Wait can run at
	// once without cutting the reading short.
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd.Stdout = w
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	_ = w.Close()
	if err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	lines := make(chan string, 256)
	var output []string
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	defer func() {
		// Whatever happened, leave no process behind.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		for range lines { // let the reader finish
		}
		<-readerDone
		select {
		case <-exited:
		case <-time.After(guard):
			t.Errorf("annal dev was not reaped within %v of SIGKILL", guard)
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", strings.Join(output, "\n"), stderr.String())
		}
	}()

	// Wait for one leader with the two others following it.
	roles := map[string]string{}
	deadline := time.After(guard)
	formed := false
	for !formed {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("annal dev ended before a leader was elected")
			}
			output = append(output, line)
			if m := roleLine.FindStringSubmatch(line); m != nil {
				roles[m[1]] = m[2]
			}
			leaders, followers := 0, 0
			for _, r := range roles {
				switch r {
				case "Leader":
					leaders++
				case "Follower":
					followers++
				}
			}
			formed = leaders == 1 && followers == 2
		case <-deadline:
			t.Fatalf("no leader with two followers within %v; roles %v", guard, roles)
		}
	}
	want := fmt.Sprintf("connection string: esdb://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d?tls=false", base, base+10, base+20)
	if !containsLine(output, want) {
		t.Errorf("the output lacks %q", want)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Read to the end, then the exit status.
	deadline = time.After(guard)
	for reading := true; reading; {
		select {
		case line, ok := <-lines:
			if ok {
				output = append(output, line)
			}
			reading = ok
		case <-deadline:
			t.Fatalf("annal dev still writing %v after SIGINT", guard)
		}
	}
	select {
	case err = <-exited:
		exited <- err // for the deferred reaping
	case <-time.After(guard):
		t.Fatalf("annal dev did not exit within %v of SIGINT", guard)
	}
	if err != nil {
		t.Fatalf("annal dev after SIGINT: %v, want exit status 0", err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if !containsPrefix(output, n+" Shutdown ") {
			t.Errorf("%s never reported Shutdown", n)
		}
	}
	if output[len(output)-1] != "stopped" {
		t.Errorf("the last line is %q, want \"stopped\"", output[len(output)-1])
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("a process of annal dev's group is still there (kill -0: %v)", err)
	}
	for _, f := range []string{"n1/annal.lock", "n2/log", "n3.log"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("the data directory lacks %s: %v", f, err)
		}
	}
	// The ports are free again.
	for _, p := range []int{base, base - devReplOffset} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d is still taken after annal dev exited: %v", p, err)
			continue
		}
		_ = l.Close()
	}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func containsPrefix(lines []string, p string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func TestDevFlagMistakesAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--base-port", "1001"}, "--base-port 1001 is out of range: it must be 1002 to 65515"},
		{[]string{"--base-port", "65516"}, "--base-port 65516 is out of range"},
		{[]string{"now"}, `unexpected argument "now"`},
		{[]string{"--nodes", "5"}, "flag provided but not defined: -nodes"},
	} {
		var stdout, stderr bytes.Buffer
		err := runDev(tc.args, &stdout, &stderr, mustNotRun(t))
		if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("annal dev %v = %v, stderr %q; want a usage error saying %q", tc.args, err, stderr.String(), tc.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if err := runDev([]string{"-h"}, &stdout, &stderr, mustNotRun(t)); err != nil || !strings.Contains(stderr.String(), "Usage: annal dev") {
		t.Errorf("annal dev -h = %v, %q", err, stderr.String())
	}
}

// A port in use stops the development cluster with its own flags as the
// way out.
func TestDevPortInUse(t *testing.T) {
	base := freeDevBase(t)
	busy, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base-devReplOffset))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var stdout, stderr bytes.Buffer
	err = runDev([]string{"--base-port", strconv.Itoa(base), "--data", t.TempDir()}, &stdout, &stderr,
		func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), guard) })
	want := fmt.Sprintf("dev: n1 cannot listen on its replication port 127.0.0.1:%d: another process listens there", base-devReplOffset)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--base-port") {
		t.Errorf("annal dev with a port in use = %v, want an error saying %q and naming --base-port", err, want)
	}
}
