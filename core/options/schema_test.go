package options

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestEveryDefaultParsesAndIsCanonical(t *testing.T) {
	v := Defaults()
	for _, o := range All() {
		fresh := Defaults()
		if err := fresh.Set(o, o.Default, SourceDefault); err != nil {
			t.Errorf("%s: default %q does not validate: %v", o.Name, o.Default, err)
			continue
		}
		// A default written in canonical form is what --help shows and what
		// --what-if prints back; a mismatch would show two spellings.
		if got := v.String(o); got != o.Default {
			t.Errorf("%s: default %q reads back as %q; write the default in canonical form", o.Name, o.Default, got)
		}
		if src := v.Source(o); src != SourceDefault {
			t.Errorf("%s: default has source %v", o.Name, src)
		}
	}
}

func TestSchemaDeclarationsAreSound(t *testing.T) {
	if err := checkSchema(registry); err != nil {
		t.Fatal(err)
	}
	for _, o := range All() {
		if o.Type.numeric() && !(o.MinusOne != "" && o.Default == "-1") {
			n, _ := strconv.ParseInt(o.Default, 10, 64)
			if n < o.Min || n > o.Max {
				t.Errorf("%s: default %d outside %d..%d", o.Name, n, o.Min, o.Max)
			}
		}
		if o.Name != strings.TrimSpace(o.Name) || strings.ContainsAny(o.Name, "-_ .:") {
			t.Errorf("%q: a canonical name is plain PascalCase", o.Name)
		}
		if o.Type == Enum && !slices.Contains(o.Values, o.Default) {
			t.Errorf("%s: default %q not among %v", o.Name, o.Default, o.Values)
		}
	}
	bad := []*Option{{Name: "X", Group: GroupCluster, Type: Int, Help: "h", Min: 5, Max: 1}}
	if checkSchema(bad) == nil {
		t.Error("checkSchema accepted Min above Max")
	}
	bad = []*Option{{Name: "X", Group: GroupCluster, Type: Bool, Help: "h", MinusOne: "disabled"}}
	if checkSchema(bad) == nil {
		t.Error("checkSchema accepted MinusOne on a bool")
	}
	bad = []*Option{{Name: "X", Group: GroupCluster, Type: Bool, Help: "h",
		OldNames: []OldName{{Name: "Y", Status: NoEquivalent, Era: "1.x"}}}}
	if checkSchema(bad) == nil {
		t.Error("checkSchema accepted a NoEquivalent old name without a reason")
	}
}

// The help repeats EventStoreDB's documented default in places; it must
// not drift from the Default field.
func TestHelpRepeatsTheDefaultFaithfully(t *testing.T) {
	re := regexp.MustCompile(`EventStoreDB's default(?: \([^)]*\))?: ([^ ,]*[^ .,])`)
	found := 0
	for _, o := range All() {
		m := re.FindStringSubmatch(o.Help)
		if m == nil {
			continue
		}
		found++
		want := o.Default
		if o.Name == "MaxAppendSize" {
			want = "1"
			if o.Default != "1048576" {
				t.Errorf("MaxAppendSize default %s, help says 1 MiB", o.Default)
			}
		}
		if m[1] != want {
			t.Errorf("%s: help says default %s, Default is %s", o.Name, m[1], o.Default)
		}
	}
	if found < 10 {
		t.Errorf("only %d options state EventStoreDB's default in their help; the pattern is probably broken", found)
	}
}

func TestNamesUniqueAfterNormalisation(t *testing.T) {
	seen := map[string]string{}
	note := func(spelling, who string) {
		k := normalize(spelling)
		if prev, ok := seen[k]; ok && prev != who {
			t.Errorf("%s and %s collide as %q", prev, who, k)
		}
		seen[k] = who
	}
	for _, o := range All() {
		note(o.Name, o.Name)
		note(CLIName(o), o.Name)
		for _, e := range EnvNames(o) {
			note(e, o.Name)
		}
		for _, n := range o.OldNames {
			note(n.Name, "old "+n.Name)
		}
	}
	for _, n := range RemovedNames() {
		note(n.Name, "old "+n.Name)
	}
	for k := range seen {
		if strings.HasPrefix(k, "eventstore") || strings.HasPrefix(k, "kurrentdb") {
			t.Errorf("%q starts like an environment prefix", k)
		}
	}
	// The index builder itself must catch a collision.
	a := &Option{Name: "GossipSeed"}
	b := &Option{Name: "Other", OldNames: []OldName{{Name: "gossip_seed"}}}
	if _, err := buildIndex([]*Option{a, b}, nil); err == nil {
		t.Error("buildIndex accepted two names that normalize alike")
	}
	if _, err := buildIndex([]*Option{a}, []OldName{{Name: "GOSSIP-SEED"}}); err == nil {
		t.Error("buildIndex accepted a removed name equal to an option")
	}
}

func TestAllIsGroupedInDeclarationOrder(t *testing.T) {
	all := All()
	if len(all) != len(registry) {
		t.Fatalf("All has %d options, registry %d", len(all), len(registry))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.Group > b.Group || (a.Group == b.Group && a.index > b.index) {
			t.Errorf("%s (%v) comes before %s (%v)", a.Name, a.Group, b.Name, b.Group)
		}
	}
	if all[0] == nil || all[0].Group != GroupApplication {
		t.Errorf("first option %s is not in the Application group", all[0].Name)
	}
	all[0] = nil
	if All()[0] == nil {
		t.Error("All hands out the registry itself")
	}
	for _, g := range Groups() {
		if strings.HasPrefix(g.Title(), "Group(") {
			t.Errorf("group %d has no title", g)
		}
	}
}

// Every option the newest networking documentation names, and the cluster
// options the product needs, with EventStoreDB's defaults.
func TestNewestSeedAndClusterCoverage(t *testing.T) {
	want := []struct {
		name, def string
		typ       Type
	}{
		{"NodeIp", "127.0.0.1", IPAddress},
		{"NodePort", "2113", Port},
		{"KeepAliveInterval", "10000", Milliseconds},
		{"KeepAliveTimeout", "10000", Milliseconds},
		{"EnableAtomPubOverHttp", "false", Bool},
		{"DisableHttpCaching", "false", Bool},
		{"MaxConcurrentConnections", "-1", Int},
		{"MaxConcurrentUpgradedConnections", "-1", Int},
		{"InitialConnectionWindowSize", "1048576", Int},
		{"InitialStreamWindowSize", "786432", Int},
		{"ReplicationIp", "127.0.0.1", IPAddress},
		{"ReplicationPort", "1112", Port},
		{"NodePortAdvertiseAs", "0", Port},
		{"NodeHostAdvertiseAs", "", Host},
		{"ReplicationTcpPortAdvertiseAs", "0", Port},
		{"ReplicationHostAdvertiseAs", "", Host},
		{"AdvertiseHostToClientAs", "", Host},
		{"AdvertiseNodePortToClientAs", "0", Port},
		{"ReplicationHeartbeatInterval", "700", Milliseconds},
		{"ReplicationHeartbeatTimeout", "700", Milliseconds},
		{"AdminOnExt", "true", Bool},
		{"StatsOnExt", "true", Bool},
		{"GossipOnExt", "true", Bool},
		{"EnableExternalTcp", "false", Bool},
		{"NodeTcpPort", "1113", Port},
		{"NodeTcpPortAdvertiseAs", "0", Port},
		{"NodeHeartbeatInterval", "2000", Milliseconds},
		{"NodeHeartbeatTimeout", "1000", Milliseconds},
		{"ClusterSize", "1", Int},
		{"NodePriority", "0", Int},
		{"ReadOnlyReplica", "false", Bool},
		{"DiscoverViaDns", "true", Bool},
		{"ClusterDns", "fake.dns", Host},
		{"ClusterGossipPort", "2113", Port},
		{"GossipSeed", "", EndpointList},
		{"GossipIntervalMs", "2000", Milliseconds},
		{"GossipTimeoutMs", "2500", Milliseconds},
		{"GossipAllowedDifferenceMs", "60000", Milliseconds},
		{"DeadMemberRemovalPeriodSec", "1800", Seconds},
		{"LeaderElectionTimeoutMs", "1000", Milliseconds},
		{"PrepareTimeoutMs", "2000", Milliseconds},
		{"CommitTimeoutMs", "2000", Milliseconds},
		{"WriteTimeoutMs", "2000", Milliseconds},
		{"MaxAppendSize", "1048576", Int},
		{"Db", "/var/lib/eventstore", Path},
		{"Index", "", Path},
		{"MemDb", "false", Bool},
		{"Insecure", "false", Bool},
		{"CertificateFile", "", Path},
		{"CertificatePrivateKeyFile", "", Path},
		{"CertificatePassword", "", String},
		{"CertificatePrivateKeyPassword", "", String},
		{"TrustedRootCertificatesPath", "/etc/ssl/certs", Path},
		{"CertificateReservedNodeCommonName", "", String},
		{"LogLevel", "Default", Enum},
		{"Config", "/etc/eventstore/eventstore.conf", Path},
		{"WhatIf", "false", Bool},
		{"AllowUnknownOptions", "false", Bool},
		{"MaxTruncation", "268435456", Int},
	}
	for _, w := range want {
		o, old, ok := Lookup(w.name)
		if !ok || old != nil || o == nil || o.Name != w.name {
			t.Errorf("%s: not a current option (got %v, old %v)", w.name, o, old)
			continue
		}
		if o.Default != w.def || o.Type != w.typ {
			t.Errorf("%s: default %q type %v, want %q %v", w.name, o.Default, o.Type, w.def, w.typ)
		}
	}
	secrets := []*Option{CertificatePassword, CertificatePrivateKeyPassword, DefaultAdminPassword, DefaultOpsPassword}
	for _, o := range All() {
		if o.Secret != slices.Contains(secrets, o) {
			t.Errorf("%s: Secret is %v", o.Name, o.Secret)
		}
	}
	for _, o := range []*Option{DefaultAdminPassword, DefaultOpsPassword, TelemetryOptout} {
		if !o.EnvOnly {
			t.Errorf("%s must be environment-only as in EventStoreDB", o.Name)
		}
	}
	for _, o := range []*Option{MaxConcurrentConnections, MaxConcurrentUpgradedConnections, InitialConnectionWindowSize, InitialStreamWindowSize} {
		if o.File != KestrelSettingsFile || !strings.HasPrefix(o.Section, "Kestrel.Limits") || o.Group != GroupKestrel {
			t.Errorf("%s: must live in %s under Kestrel.Limits", o.Name, KestrelSettingsFile)
		}
	}
	if got := ConfigKey(InitialStreamWindowSize); got != "Kestrel.Limits.Http2.InitialStreamWindowSize" {
		t.Errorf("ConfigKey = %q", got)
	}
	if got := ConfigKey(EnableExternalTcp); got != "TcpPlugin.EnableExternalTcp" {
		t.Errorf("ConfigKey = %q", got)
	}
	if got := ConfigKey(NodePort); got != "NodePort" {
		t.Errorf("ConfigKey = %q", got)
	}
}

// core is deterministic pure logic: only these standard packages.
func TestImportsStayPure(t *testing.T) {
	allowed := map[string]bool{
		"bytes": true, "encoding/binary": true, "errors": true, "fmt": true, "math": true,
		"slices": true, "sort": true, "strconv": true, "strings": true, "time": true,
		"unicode": true, "unicode/utf8": true, "net/netip": true,
	}
	forbiddenCalls := regexp.MustCompile(`\btime\.(Now|Since|Until|Sleep|After|AfterFunc|Tick|NewTimer|NewTicker)\b|\bgo func|\bfmt\.(Print|Fprint)`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		checked++
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[p] {
				t.Errorf("%s imports %s, which core may not use", f, p)
			}
		}
		if loc := forbiddenCalls.FindIndex(src); loc != nil {
			t.Errorf("%s uses %q, which core may not", f, src[loc[0]:loc[1]])
		}
	}
	if checked < 4 {
		t.Errorf("checked only %d files", checked)
	}
}

// annal keeps no users in its database: the default passwords apply at
// every start, not only when a user is first created as in EventStoreDB,
// and the help must say so, or an operator who drops the variable after
// the first start (as EventStoreDB allows) gets changeit back.
func TestSecurityHelpSaysWhatTheNodeDoes(t *testing.T) {
	for _, o := range []*Option{DefaultAdminPassword, DefaultOpsPassword} {
		if !strings.Contains(o.Help, "every start") || strings.Contains(o.Help, "when it is first created") {
			t.Errorf("%s: help %q; it must say the password applies at every start", o.Name, o.Help)
		}
	}
}
