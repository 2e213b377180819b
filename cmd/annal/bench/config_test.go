package bench

import (
	"errors"
	"flag"
	"io"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseArgsDefaultsPerMode(t *testing.T) {
	c, err := ParseArgs([]string{"append"}, io.Discard)
	if err != nil {
		t.Fatalf("append with no flags: %v", err)
	}
	if c.Mode != ModeAppend || c.Clients != 1 || c.Size != 256 || c.Dur != 10*time.Second || c.Max != DefaultMax {
		t.Fatalf("append defaults: %+v", c)
	}
	if want := []string{"127.0.0.1:2113", "127.0.0.1:2123", "127.0.0.1:2133"}; strings.Join(c.Endpoints, ",") != strings.Join(want, ",") {
		t.Fatalf("default endpoints %v, want %v", c.Endpoints, want)
	}
	if c.opTimeout() != DefaultOpTimeout || c.conns() != 1 {
		t.Fatalf("append: op timeout %v, conns %d; want %v and 1", c.opTimeout(), c.conns(), DefaultOpTimeout)
	}

	c, err = ParseArgs([]string{"append", "-clients", "64"}, io.Discard)
	if err != nil || c.conns() != 16 {
		t.Fatalf("64 clients: conns %d (err %v), want min(64, 16) = 16", c.conns(), err)
	}

	c, err = ParseArgs([]string{"failover", "-pidmap", "http://127.0.0.1:2113=10,127.0.0.1:2123=11", "-signal", "stop", "-dur", "5s"}, io.Discard)
	if err != nil {
		t.Fatalf("failover: %v", err)
	}
	if c.opTimeout() != DefaultFailoverOpTimeout || c.conns() != 1 || c.Signal != SignalStop || c.Interval != 10*time.Millisecond {
		t.Fatalf("failover defaults: timeout %v conns %d signal %v interval %v", c.opTimeout(), c.conns(), c.Signal, c.Interval)
	}
	if c.PIDs["127.0.0.1:2113"] != 10 || c.PIDs["127.0.0.1:2123"] != 11 {
		t.Fatalf("pidmap read as %v", c.PIDs)
	}
}

func TestParseArgsRefusesWithTheFlagNamed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no mode given"},
		{[]string{"write"}, `unknown mode "write"`},
		{[]string{"append", "extra"}, `unexpected argument "extra"`},
		{[]string{"append", "-clients", "0"}, "-clients 0 is out of range"},
		{[]string{"append", "-clients", "2000"}, "-clients 2000 is out of range"},
		{[]string{"append", "-clients", "4", "-conns", "5"}, "-conns 5 is out of range"},
		{[]string{"append", "-clients", "4", "-streams", "5"}, "-streams 5 is out of range"},
		{[]string{"append", "-dur", "0s"}, "-dur 0s is out of range"},
		{[]string{"append", "-max", "0"}, "-max 0 is out of range"},
		{[]string{"append", "-size", "-1"}, "-size -1 is out of range"},
		{[]string{"append", "-op-timeout", "-1s"}, "-op-timeout -1s is out of range"},
		{[]string{"append", "-endpoints", ""}, "-endpoints: no endpoint given"},
		{[]string{"append", "-endpoints", "localhost"}, `"localhost" is not host:port`},
		{[]string{"append", "-endpoints", "a:1,a:1"}, "a:1 is given twice"},
		{[]string{"append", "-endpoints", "a:0"}, `has port "0"`},
		{[]string{"append", "-signal", "KILL"}, "-signal has no effect in append mode"},
		{[]string{"append", "-count", "5"}, "-count has no effect in append mode"},
		{[]string{"read", "-streams", "2"}, "-streams has no effect in read mode"},
		{[]string{"failover", "-clients", "2", "-pidmap", "a:1=5"}, "-clients has no effect in failover mode"},
		{[]string{"read", "-from", "index"}, `-from "index"`},
		{[]string{"read", "-count", "0"}, "-count 0 is out of range"},
		{[]string{"read", "-count", "100", "-events", "50"}, "-events 50 is fewer than -count 100"},
		{[]string{"failover"}, "-pidmap: empty"},
		{[]string{"failover", "-pidmap", "a:1=5", "-signal", "TERM"}, `"TERM" is neither KILL nor STOP`},
		{[]string{"failover", "-pidmap", "a:1=5", "-kill-after", "10s", "-dur", "10s"}, "-kill-after 10s must be more than 0 and less than -dur"},
		{[]string{"failover", "-pidmap", "a:1=5", "-interval", "0s"}, "-interval 0s is out of range"},
		{[]string{"append", "-nonsense"}, "flag provided but not defined"},
	} {
		_, err := ParseArgs(tc.args, io.Discard)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("ParseArgs(%q) = %v, want a *UsageError", tc.args, err)
			continue
		}
		if !strings.Contains(ue.Msg, tc.want) {
			t.Errorf("ParseArgs(%q) says %q; want it to say %q", tc.args, ue.Msg, tc.want)
		}
	}
}

func TestParseArgsHelp(t *testing.T) {
	var out strings.Builder
	_, err := ParseArgs([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"append|read|failover", "-pidmap", "-kill-after", "-clients"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %q:\n%s", want, out.String())
		}
	}
}

func TestParsePIDMap(t *testing.T) {
	got, err := ParsePIDMap(" 127.0.0.1:2113=100, http://127.0.0.1:2123/=200 ,127.0.0.1:2133=300")
	want := map[string]int{"127.0.0.1:2113": 100, "127.0.0.1:2123": 200, "127.0.0.1:2133": 300}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("ParsePIDMap = %v, %v; want %v", got, err, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"127.0.0.1:2113", "is not endpoint=pid"},
		{"127.0.0.1:2113=abc", `pid "abc" is not a process id`},
		{"127.0.0.1:2113=0", `pid "0" is not a process id`},
		{"127.0.0.1:2113=1", `pid "1" is not a process id`},
		{"127.0.0.1:2113=-5", `pid "-5" is not a process id`},
		{"node1=5", `"node1" is not host:port`},
		{"127.0.0.1:2113=5,http://127.0.0.1:2113=6", "127.0.0.1:2113 is given twice"},
	} {
		_, err := ParsePIDMap(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePIDMap(%q) = %v; want an error saying %q", tc.in, err, tc.want)
		}
	}
}

func TestParseEndpointsReadsConnectionStrings(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:2113":                                 "127.0.0.1:2113",
		" 127.0.0.1:2113 , 127.0.0.1:2123 ":              "127.0.0.1:2113,127.0.0.1:2123",
		"esdb://127.0.0.1:2113,127.0.0.1:2123?tls=false": "127.0.0.1:2113,127.0.0.1:2123",
		"esdb+discover://admin:changeit@node1:2113":      "node1:2113",
		"[::1]:2113": "[::1]:2113",
	} {
		got, err := ParseEndpoints(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseEndpoints(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]Signal{"KILL": SignalKill, "sigkill": SignalKill, "STOP": SignalStop, " SIGSTOP ": SignalStop} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSignal("HUP"); err == nil {
		t.Error("ParseSignal(HUP) accepted a signal failover mode does not send")
	}
}

func TestRunChecksAConfigBuiltInCode(t *testing.T) {
	_, err := Run(t.Context(), Config{Mode: ModeAppend, Endpoints: []string{"127.0.0.1:1"}, Clients: 0, Dur: time.Second, Max: 1, Wait: time.Second}, nil)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "-clients 0") {
		t.Fatalf("Run with 0 clients: %v, want a *UsageError about -clients", err)
	}
}
