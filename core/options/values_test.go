package options

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestSetErrorWording(t *testing.T) {
	cases := []struct {
		opt  *Option
		raw  string
		src  Source
		kind error
		msg  string
	}{
		{NodePort, "70000", SourceCommandLine, ErrRange,
			`NodePort: "70000" (from command line) is out of range: allowed 0..65535`},
		{NodePort, "-1", SourceEnvironment, ErrRange,
			`NodePort: "-1" (from environment) is out of range: allowed 0..65535`},
		{NodePort, "21x3", SourceConfigFile, ErrSyntax,
			`NodePort: "21x3" (from config file) is not a whole number: allowed 0..65535`},
		{KeepAliveInterval, "-2", SourceEnvironment, ErrRange,
			`KeepAliveInterval: "-2" (from environment) is out of range: allowed 1..2147483647 ms, or -1 (disabled)`},
		{ReplicationHeartbeatInterval, "-1", SourceCommandLine, ErrRange,
			`ReplicationHeartbeatInterval: "-1" (from command line) is out of range: allowed 1..2147483647 ms`},
		{ReplicationHeartbeatTimeout, "5s", SourceConfigFile, ErrSyntax,
			`ReplicationHeartbeatTimeout: "5s" (from config file) is not a whole number of milliseconds (5s is 5000): allowed 1..2147483647 ms`},
		{DeadMemberRemovalPeriodSec, "30m", SourceConfigFile, ErrSyntax,
			`DeadMemberRemovalPeriodSec: "30m" (from config file) is not a whole number of seconds (30m is 1800): allowed 0..2147483647 s`},
		{LeaderElectionTimeoutMs, "999", SourceScenario, ErrRange,
			`LeaderElectionTimeoutMs: "999" (from scenario) is out of range: allowed 1000..2147483647 ms`},
		{InitialConnectionWindowSize, "65534", SourceConfigFile, ErrRange,
			`InitialConnectionWindowSize: "65534" (from config file) is out of range: allowed 65535..2147483647`},
		{InitialStreamWindowSize, "2147483648", SourceConfigFile, ErrRange,
			`InitialStreamWindowSize: "2147483648" (from config file) is out of range: allowed 65535..2147483647`},
		{Insecure, "yes", SourceEnvironment, ErrSyntax,
			`Insecure: "yes" (from environment) is not a boolean: use true or false`},
		{LogLevel, "loud", SourceCommandLine, ErrSyntax,
			`LogLevel: "loud" (from command line) is not one of: Default, Verbose, Debug, Information, Warning, Error, Fatal`},
		{NodeIp, "node1.local", SourceCommandLine, ErrSyntax,
			`NodeIp: "node1.local" (from command line) is not an IP address: use e.g. 10.0.0.5, or 0.0.0.0 for all interfaces (a host name belongs in the *HostAdvertiseAs options)`},
		{NodeHostAdvertiseAs, "node1:2113", SourceCommandLine, ErrSyntax,
			`NodeHostAdvertiseAs: "node1:2113" (from command line) is not a host name or IP address: it contains ':' (a port does not belong here; ports have their own options)`},
		{GossipSeed, "node1:2113,node2", SourceConfigFile, ErrSyntax,
			`GossipSeed: "node1:2113,node2" (from config file) has an invalid entry "node2": the port is missing; use host:port entries separated by commas, e.g. node1:2113,node2:2113`},
		{MaxAppendSize, "0", SourceCommandLine, ErrRange,
			`MaxAppendSize: "0" (from command line) is out of range: allowed 1..15728640`},
		{RunProjections, "All", SourceEnvironment, ErrNotSupported,
			`RunProjections: "All" (from environment) is not supported: annal has no projection engine.`},
		{DefaultAdminPassword, "hunter2", SourceCommandLine, ErrEnvOnly,
			`DefaultAdminPassword: "****" (from command line) can only be set through the environment: use EVENTSTORE_DEFAULT_ADMIN_PASSWORD or KURRENTDB_DEFAULT_ADMIN_PASSWORD`},
	}
	for _, c := range cases {
		v := Defaults()
		before := v.String(c.opt)
		err := v.Set(c.opt, c.raw, c.src)
		if err == nil {
			t.Errorf("Set(%s, %q) accepted", c.opt.Name, c.raw)
			continue
		}
		if err.Error() != c.msg {
			t.Errorf("Set(%s, %q):\n got %s\nwant %s", c.opt.Name, c.raw, err, c.msg)
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("Set(%s, %q) error is not %v", c.opt.Name, c.raw, c.kind)
		}
		var ve *ValueError
		if !errors.As(err, &ve) || ve.Option != c.opt || ve.Source != c.src {
			t.Errorf("Set(%s, %q) error %#v lacks its context", c.opt.Name, c.raw, err)
		}
		if v.String(c.opt) != before || v.Source(c.opt) != SourceDefault {
			t.Errorf("failed Set(%s, %q) changed the value", c.opt.Name, c.raw)
		}
	}
}

// -1 is accepted exactly where EventStoreDB documents it.
func TestMinusOneOnlyWhereDocumented(t *testing.T) {
	allowed := []*Option{KeepAliveInterval, KeepAliveTimeout, MaxTruncation, MaxConcurrentConnections, MaxConcurrentUpgradedConnections}
	for _, o := range All() {
		if !o.Type.numeric() || o.Min <= -1 {
			continue
		}
		v := Defaults()
		err := v.Set(o, "-1", SourceCommandLine)
		if slices.Contains(allowed, o) {
			if err != nil {
				t.Errorf("%s: -1 refused: %v", o.Name, err)
			} else if !v.Disabled(o) || v.Int(o) != -1 {
				t.Errorf("%s: -1 not read back as disabled", o.Name)
			}
		} else if err == nil {
			t.Errorf("%s accepts -1, which EventStoreDB does not document for it", o.Name)
		}
	}
	v := Defaults()
	if err := v.Set(KeepAliveInterval, "-1", SourceEnvironment); err != nil {
		t.Fatal(err)
	}
	if d := v.Duration(KeepAliveInterval); d >= 0 {
		t.Errorf("disabled keepalive reads as %v, want negative", d)
	}
	if v.Disabled(KeepAliveTimeout) || v.Disabled(NodePort) {
		t.Error("an option at its default reads as disabled")
	}
}

func TestRangeEdges(t *testing.T) {
	cases := []struct {
		opt     *Option
		ok, bad []string
	}{
		{NodePort, []string{"0", "1", "65535", " 2113 ", "+2113"}, []string{"65536", "-1", "", "2113.0", "0x10"}},
		{ClusterGossipPort, []string{"1", "65535"}, []string{"0"}},
		{InitialConnectionWindowSize, []string{"65535", "2147483647"}, []string{"65534", "2147483648", "-1"}},
		{InitialStreamWindowSize, []string{"65535", "2147483647"}, []string{"65534", "2147483648"}},
		{ClusterSize, []string{"1", "3", "5"}, []string{"0", "-3"}},
		{NodePriority, []string{"-5", "0", "2147483647", "-2147483648"}, []string{"2147483648"}},
		{MaxAppendSize, []string{"1", "15728640"}, []string{"15728641"}},
		{MaxTruncation, []string{"0", "-1", "9223372036854775807"}, []string{"-2", "9223372036854775808"}},
	}
	for _, c := range cases {
		for _, raw := range c.ok {
			if err := Defaults().Set(c.opt, raw, SourceCommandLine); err != nil {
				t.Errorf("%s %q refused: %v", c.opt.Name, raw, err)
			}
		}
		for _, raw := range c.bad {
			if err := Defaults().Set(c.opt, raw, SourceCommandLine); err == nil {
				t.Errorf("%s %q accepted", c.opt.Name, raw)
			}
		}
	}
}

// For every numeric option and any number, Set accepts exactly the range
// (plus -1 where documented) and reads back what it was given.
func TestNumericSetMatchesRange(t *testing.T) {
	var numeric []*Option
	for _, o := range All() {
		if o.Type.numeric() {
			numeric = append(numeric, o)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		o := rapid.SampledFrom(numeric).Draw(t, "option")
		n := rapid.OneOf(
			rapid.Int64Range(o.Min-2, o.Min+2),
			rapid.Int64Range(o.Max-2, o.Max),
			rapid.Int64Range(-2, 2),
			rapid.Int64(),
		).Draw(t, "n")
		v := Defaults()
		err := v.Set(o, strconv.FormatInt(n, 10), SourceScenario)
		inRange := (n >= o.Min && n <= o.Max) || (n == -1 && o.MinusOne != "")
		if inRange != (err == nil) {
			t.Fatalf("%s = %d: in range %v, error %v", o.Name, n, inRange, err)
		}
		if err == nil && (v.Int(o) != n || v.String(o) != strconv.FormatInt(n, 10) || v.Source(o) != SourceScenario) {
			t.Fatalf("%s = %d reads back %d %q %v", o.Name, n, v.Int(o), v.String(o), v.Source(o))
		}
	})
}

func TestTypedGetters(t *testing.T) {
	v := Defaults()
	if v.Port(NodePort) != 2113 || v.Port(ReplicationPort) != 1112 || v.Port(NodeTcpPort) != 1113 {
		t.Errorf("ports %d %d %d", v.Port(NodePort), v.Port(ReplicationPort), v.Port(NodeTcpPort))
	}
	if v.Duration(ReplicationHeartbeatInterval) != 700*time.Millisecond || v.Duration(ReplicationHeartbeatTimeout) != 700*time.Millisecond {
		t.Error("replication heartbeats are not 700 ms / 700 ms")
	}
	if v.Duration(NodeHeartbeatInterval) != 2*time.Second || v.Duration(NodeHeartbeatTimeout) != time.Second {
		t.Error("TCP client heartbeats are not 2000 ms / 1000 ms")
	}
	if v.Duration(DeadMemberRemovalPeriodSec) != 30*time.Minute || v.Duration(KeepAliveInterval) != 10*time.Second {
		t.Error("second and millisecond durations misread")
	}
	if v.Int(GossipTimeoutMs) != 2500 || v.Int(NodePort) != 2113 {
		t.Error("Int misreads")
	}
	if !v.Bool(DiscoverViaDns) || v.Bool(Insecure) {
		t.Error("Bool misreads")
	}
	if v.IP(NodeIp) != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("NodeIp = %v", v.IP(NodeIp))
	}
	if got := v.Strings(GossipSeed); len(got) != 0 {
		t.Errorf("empty GossipSeed = %v", got)
	}
	if err := v.Set(GossipSeed, " node2:2113, [fd00::3]:2113 ,10.0.0.4:2113,", SourceConfigFile); err != nil {
		t.Fatal(err)
	}
	want := []string{"node2:2113", "[fd00::3]:2113", "10.0.0.4:2113"}
	if got := v.Strings(GossipSeed); !slices.Equal(got, want) {
		t.Errorf("GossipSeed = %v, want %v", got, want)
	}
	if got := v.String(GossipSeed); got != strings.Join(want, ",") {
		t.Errorf("GossipSeed text = %q", got)
	}
	v.Strings(GossipSeed)[0] = "changed"
	if v.Strings(GossipSeed)[0] != "node2:2113" {
		t.Error("Strings hands out the stored slice")
	}
	if err := v.Set(LogLevel, "debug", SourceCommandLine); err != nil || v.String(LogLevel) != "Debug" {
		t.Errorf("LogLevel debug -> %q, %v", v.String(LogLevel), err)
	}
	if err := v.Set(Insecure, " TRUE ", SourceEnvironment); err != nil || !v.Bool(Insecure) || v.String(Insecure) != "true" {
		t.Errorf("Insecure TRUE -> %v %q %v", v.Bool(Insecure), v.String(Insecure), err)
	}
	if err := v.Set(NodeIp, "0.0.0.0", SourceCommandLine); err != nil || !v.IP(NodeIp).IsUnspecified() {
		t.Errorf("NodeIp 0.0.0.0 -> %v, %v", v.IP(NodeIp), err)
	}
	if err := v.Set(NodeHostAdvertiseAs, "node1.cluster.local", SourceCommandLine); err != nil || v.String(NodeHostAdvertiseAs) != "node1.cluster.local" {
		t.Errorf("NodeHostAdvertiseAs -> %q, %v", v.String(NodeHostAdvertiseAs), err)
	}
	if err := v.Set(Db, " /data/with space ", SourceCommandLine); err != nil || v.String(Db) != " /data/with space " {
		t.Errorf("paths must be kept exactly: %q, %v", v.String(Db), err)
	}
	if err := v.Set(RunProjections, "none", SourceConfigFile); err != nil {
		t.Errorf("the supported value of a NotSupported option is refused: %v", err)
	}
}

func TestGetterOfWrongTypePanics(t *testing.T) {
	v := Defaults()
	cases := map[string]func(){
		"Port of a bool":        func() { v.Port(Insecure) },
		"Duration of a port":    func() { v.Duration(NodePort) },
		"Bool of a port":        func() { v.Bool(NodePort) },
		"Strings of a host":     func() { v.Strings(ClusterDns) },
		"IP of a host":          func() { v.IP(NodeHostAdvertiseAs) },
		"foreign option":        func() { v.String(&Option{Name: "Stray"}) },
		"Set of foreign option": func() { _ = v.Set(&Option{Name: "Stray", index: NodePort.index}, "1", SourceScenario) },
	}
	for name, f := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestCloneIsIndependent(t *testing.T) {
	a := Defaults()
	if err := a.Set(GossipSeed, "n1:2113,n2:2113", SourceScenario); err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	if err := b.Set(NodePort, "3113", SourceScenario); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(GossipSeed, "n3:2113", SourceScenario); err != nil {
		t.Fatal(err)
	}
	if a.Port(NodePort) != 2113 || a.Source(NodePort) != SourceDefault || b.Port(NodePort) != 3113 {
		t.Errorf("clone shares values: a=%d b=%d", a.Port(NodePort), b.Port(NodePort))
	}
	if !slices.Equal(a.Strings(GossipSeed), []string{"n1:2113", "n2:2113"}) {
		t.Errorf("clone changed the original's list: %v", a.Strings(GossipSeed))
	}
	if Defaults().Port(NodePort) != 2113 {
		t.Error("Defaults shares state with handed-out values")
	}
}

func TestSourcesAndLaterSetWins(t *testing.T) {
	v := Defaults()
	steps := []struct {
		raw string
		src Source
	}{{"2114", SourceConfigFile}, {"2115", SourceEnvironment}, {"2116", SourceCommandLine}}
	for _, s := range steps {
		if err := v.Set(NodePort, s.raw, s.src); err != nil {
			t.Fatal(err)
		}
		if v.String(NodePort) != s.raw || v.Source(NodePort) != s.src {
			t.Errorf("after %v: %s from %v", s.src, v.String(NodePort), v.Source(NodePort))
		}
	}
	names := map[Source]string{SourceDefault: "default", SourceConfigFile: "config file", SourceEnvironment: "environment",
		SourceCommandLine: "command line", SourceScenario: "scenario"}
	for s, want := range names {
		if s.String() != want {
			t.Errorf("Source %d = %q", s, s.String())
		}
	}
}

func TestSecretsAndEnvOnly(t *testing.T) {
	v := Defaults()
	if err := v.Set(CertificatePassword, "s3cret", SourceConfigFile); err != nil {
		t.Fatal(err)
	}
	if v.Display(CertificatePassword) != Redacted || v.String(CertificatePassword) != "s3cret" {
		t.Errorf("secret shown as %q / read as %q", v.Display(CertificatePassword), v.String(CertificatePassword))
	}
	if v.Display(CertificatePrivateKeyPassword) != "" {
		t.Error("an unset secret should display as empty, not as redacted")
	}
	if v.Display(NodePort) != "2113" {
		t.Error("Display redacts a plain option")
	}
	for _, src := range []Source{SourceConfigFile, SourceCommandLine} {
		err := v.Set(DefaultOpsPassword, "hunter2", src)
		if !errors.Is(err, ErrEnvOnly) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("env-only from %v: %v", src, err)
		}
	}
	for _, src := range []Source{SourceEnvironment, SourceScenario} {
		if err := v.Set(DefaultOpsPassword, "hunter2", src); err != nil {
			t.Errorf("env-only from %v refused: %v", src, err)
		}
	}
}

func TestNotSupportedRefusesOnlyOtherValues(t *testing.T) {
	v := Defaults()
	if err := v.Set(CertificateThumbprint, "", SourceConfigFile); err != nil {
		t.Errorf("empty store setting refused: %v", err)
	}
	err := v.Set(CertificateThumbprint, "ab12", SourceConfigFile)
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "use CertificateFile") {
		t.Errorf("store setting: %v", err)
	}
	if err := v.Set(StartStandardProjections, "true", SourceCommandLine); !errors.Is(err, ErrNotSupported) {
		t.Errorf("StartStandardProjections=true: %v", err)
	}
}

func TestHostAndEndpointValidation(t *testing.T) {
	goodHosts := []string{"", "node1", "node-1.example.com", "eventstore_node1", "10.0.0.1", "fd00::1", "example.com."}
	badHosts := []string{"-node", "node-", "a..b", "no de", "ümlaut.example", strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "ab"}
	for _, h := range goodHosts {
		if err := Defaults().Set(AdvertiseHostToClientAs, h, SourceCommandLine); err != nil {
			t.Errorf("host %q refused: %v", h, err)
		}
	}
	for _, h := range badHosts {
		if err := Defaults().Set(AdvertiseHostToClientAs, h, SourceCommandLine); err == nil {
			t.Errorf("host %q accepted", h)
		}
	}
	badSeeds := []string{"node1:0", "node1:65536", "fd00::1:2113", "node1:http", ":2113", "[fd00::1]:0"}
	for _, s := range badSeeds {
		if err := Defaults().Set(GossipSeed, s, SourceCommandLine); err == nil {
			t.Errorf("gossip seed %q accepted", s)
		}
	}
	if err := Defaults().Set(CertificatePassword, "a\x00b", SourceCommandLine); err == nil || strings.Contains(err.Error(), "a\x00b") {
		t.Errorf("NUL in a secret: %v", err)
	}
}
