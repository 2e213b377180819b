package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchIsRoutedAndExplainsMistakes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bench", "-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "annal bench append|read|failover") {
		t.Fatalf("annal bench -h: exit %d, stderr %q; want 0 and the bench usage", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"bench", "append", "-clients", "0"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "-clients 0 is out of range") {
		t.Fatalf("annal bench append -clients 0: exit %d, stderr %q; want 2 and the reason", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("a refused bench printed on stdout: %q", stdout.String())
	}
	stderr.Reset()
	noOutsideConfig(t)
	if code := run(nil, &stdout, &stderr); !strings.Contains(stderr.String(), "annal bench MODE") {
		t.Fatalf("annal's usage (exit %d) does not list bench:\n%s", code, stderr.String())
	}
}
