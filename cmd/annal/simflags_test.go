package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// simHash runs `annal sim run --json` in this process and returns the
// trace hash of its report.
func simHash(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := simRun(append([]string{"--json"}, args...), &stdout, &stderr); err != nil {
		t.Fatalf("annal sim run %v: %v\nstderr: %s", args, err, stderr.String())
	}
	var r simReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("report is not one JSON object: %v\n%s", err, stdout.String())
	}
	return r.TraceHash
}

// `annal sim run -h` states the jitter's real default (40% of latency), not
// the sentinel the flag is parsed with, and that default is what a run
// without --jitter uses.
func TestSimRunJitterDefault(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := simRun([]string{"-h"}, &stdout, &stderr); err == nil {
		t.Fatal("sim run -h: want the usage error")
	}
	help := stderr.String()
	if !strings.Contains(help, "40% of latency") {
		t.Fatalf("the jitter flag's help lost its default:\n%s", help)
	}
	if strings.Contains(help, "-1ns") {
		t.Fatalf("the help shows a sentinel as a default:\n%s", help)
	}

	base := []string{"--seed", "3", "--nodes", "3", "--duration", "20s", "--latency", "1ms"}
	unset := simHash(t, base...)
	if got := simHash(t, append(base, "--jitter", "400us")...); got != unset {
		t.Fatalf("--jitter 400us (40%% of 1ms) gave trace %s, no --jitter %s", got, unset)
	}
	if got := simHash(t, append(base, "--jitter", "0s")...); got == unset {
		t.Fatal("--jitter 0s gave the same trace as the default jitter")
	}
}
