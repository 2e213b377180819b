package options

import (
	"strings"
	"testing"
)

// Every option name the older networking documents (3.x, 4.0.2, 5.x and
// 20.x-24.x) use, with what it became.
func TestOldNamesFromOlderSeedsResolve(t *testing.T) {
	cases := []struct {
		old    string
		status OldStatus
		now    *Option // Renamed: the option set; NoEquivalent: what to use
	}{
		{"ExtIp", Renamed, NodeIp},
		{"IntIp", Renamed, ReplicationIp},
		{"HttpPort", Renamed, NodePort},
		{"ExtHttpPort", Renamed, NodePort},
		{"ExtPort", Renamed, NodePort},
		{"IntHttpPort", NoEquivalent, NodePort},
		{"ExtTcpPort", Renamed, NodeTcpPort},
		{"IntTcpPort", Renamed, ReplicationPort},
		{"ExtHostAdvertiseAs", Renamed, NodeHostAdvertiseAs},
		{"IntHostAdvertiseAs", Renamed, ReplicationHostAdvertiseAs},
		{"HttpPortAdvertiseAs", Renamed, NodePortAdvertiseAs},
		{"ExtHttpPortAdvertiseAs", Renamed, NodePortAdvertiseAs},
		{"IntHttpPortAdvertiseAs", NoEquivalent, NodePortAdvertiseAs},
		{"ExtTcpPortAdvertiseAs", Renamed, NodeTcpPortAdvertiseAs},
		{"IntTcpPortAdvertiseAs", Renamed, ReplicationTcpPortAdvertiseAs},
		{"AdvertiseHttpPortToClientAs", Renamed, AdvertiseNodePortToClientAs},
		{"IntTcpHeartbeatInterval", Renamed, ReplicationHeartbeatInterval},
		{"IntTcpHeartbeatTimeout", Renamed, ReplicationHeartbeatTimeout},
		{"ExtTcpHeartbeatInterval", Renamed, NodeHeartbeatInterval},
		{"ExtTcpHeartbeatTimeout", Renamed, NodeHeartbeatTimeout},
		{"IntIpAdvertiseAs", Renamed, ReplicationHostAdvertiseAs},
		{"ExtIpAdvertiseAs", Renamed, NodeHostAdvertiseAs},
		{"AdvertiseAs", Renamed, NodeHostAdvertiseAs},
	}
	for _, c := range cases {
		for _, spelling := range []string{c.old, "--" + Kebab(c.old), EnvPrefixEventStore + UpperSnake(c.old), EnvPrefixKurrentDB + UpperSnake(c.old)} {
			o, old, ok := Lookup(spelling)
			if !ok || old == nil {
				t.Errorf("Lookup(%q): ok=%v old=%v; want old name %s", spelling, ok, old, c.old)
				continue
			}
			if old.Name != c.old || old.Status != c.status || old.Option() != c.now {
				t.Errorf("Lookup(%q) = old %s %v -> %v; want %s %v -> %s", spelling, old.Name, old.Status, old.Option(), c.old, c.status, c.now.Name)
			}
			switch c.status {
			case Renamed:
				if o != c.now {
					t.Errorf("Lookup(%q) option = %v, want %s", spelling, o, c.now.Name)
				}
			default:
				if o != nil {
					t.Errorf("Lookup(%q) returned option %s for a name that must not be applied", spelling, o.Name)
				}
			}
		}
	}
}

// The options the older seeds still share with the newest one are current.
func TestOlderSeedNamesThatStillExist(t *testing.T) {
	for _, name := range []string{"--admin-on-ext", "--gossip-on-ext", "--stats-on-ext", "--keep-alive-interval", "--keep-alive-timeout", "--enable-atom-pub-over-http"} {
		if o, old, ok := Lookup(name); !ok || o == nil || old != nil {
			t.Errorf("Lookup(%q) = %v, %v, %v; want a current option", name, o, old, ok)
		}
	}
}

func TestRemovedNames(t *testing.T) {
	for _, name := range []string{"PrepareCount", "--commit-count", "EVENTSTORE_PREPARE_COUNT"} {
		o, old, ok := Lookup(name)
		if !ok || o != nil || old == nil || old.Status != Removed || old.Option() != nil {
			t.Errorf("Lookup(%q) = %v, %v, %v; want a removed name", name, o, old, ok)
			continue
		}
		if msg := old.Message(); !strings.Contains(msg, "was removed") || !strings.Contains(msg, "never had any effect") {
			t.Errorf("Message of %s = %q", old.Name, msg)
		}
	}
}

func TestOldNameMessages(t *testing.T) {
	_, old, _ := Lookup("IntTcpPort")
	msg := old.Message()
	for _, want := range []string{"IntTcpPort", "renamed to ReplicationPort", "--replication-port", "EVENTSTORE_REPLICATION_PORT"} {
		if !strings.Contains(msg, want) {
			t.Errorf("rename warning %q lacks %q", msg, want)
		}
	}
	_, old, _ = Lookup("--int-http-port")
	msg = old.Message()
	for _, want := range []string{"IntHttpPort", "no equivalent", "gossip and elections ride the node port", "Configure NodePort (--node-port)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no-equivalent message %q lacks %q", msg, want)
		}
	}
	_, old, _ = Lookup("AdvertiseAs")
	if msg := old.Message(); !strings.Contains(msg, "ReplicationHostAdvertiseAs") {
		t.Errorf("AdvertiseAs message %q does not mention the replication side", msg)
	}
}

func TestEveryOldNameIsComplete(t *testing.T) {
	n := 0
	for _, o := range All() {
		for i := range o.OldNames {
			old := &o.OldNames[i]
			n++
			if old.Era == "" || old.Option() != o {
				t.Errorf("%s: era %q, owner %v", old.Name, old.Era, old.Option())
			}
			if old.Status != Renamed && old.Reason == "" {
				t.Errorf("%s: %v without a reason", old.Name, old.Status)
			}
			if got, via, ok := Lookup(old.Name); !ok || via != old || (old.Status == Renamed) != (got == o) {
				t.Errorf("Lookup(%s) = %v, %v, %v", old.Name, got, via, ok)
			}
		}
	}
	if n < 23 {
		t.Errorf("only %d old names; the older seeds name at least 23", n)
	}
}
