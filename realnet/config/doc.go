// Package config loads a production node's configuration onto the option
// schema of core/options: defaults, the YAML configuration file,
// kestrelsettings.json, the environment and the command line. Every name,
// type, range and help text comes from the schema; nothing here lists an
// option by hand except where a rule is about that one option.
//
// Load takes its inputs explicitly (Inputs: arguments, environment, a file
// reader, a way to list the host's addresses), so tests need no real
// environment, files or network interfaces. It always returns a Config with
// the values it could establish, and, when anything is wrong, Problems: every
// error found, not just the first.
//
// # Sources and precedence
//
// Lowest precedence first; a later source overrides an earlier one:
//
//  1. built-in defaults (the schema's Default);
//  2. the YAML configuration file: --config FILE (or EVENTSTORE_CONFIG /
//     KURRENTDB_CONFIG). A file named explicitly must exist; the default,
//     /etc/eventstore/eventstore.conf, is read only when present;
//  3. kestrelsettings.json beside the configuration file, else in the
//     default configuration directory /etc/eventstore (where EventStoreDB
//     looks for it whatever --config names). It has no flag of its own, and
//     its four options can also be given by name in any other source
//     (--max-concurrent-connections). Like .NET's JSON configuration files
//     it may start with a byte order mark and hold comments and trailing
//     commas;
//  4. environment variables prefixed EVENTSTORE_, then those prefixed
//     KURRENTDB_ (KurrentDB 25's prefix wins when both set an option);
//  5. the command line.
//
// Environment-only options (DefaultAdminPassword, DefaultOpsPassword,
// TelemetryOptout) are refused from files and flags. Config cannot be set
// inside the configuration file.
//
// # Names
//
// Any spelling options.Lookup accepts works in every source, without regard
// to case: --node-port, --NodePort, --node-port=2113, -node-port; NodePort,
// nodeport or TcpPlugin: {NodeTcpPort: ...} in YAML; EVENTSTORE_NODE_PORT,
// EVENTSTORE_Node_Port, KURRENTDB_NODE_PORT, EVENTSTORE__TcpPlugin__NodeTcpPort.
// Boolean flags stand alone (--insecure), take =true or =false, or take a
// following true/false argument. A flag whose value starts with "--" must
// use the --name=value form. -h is --help. YAML values may be strings,
// numbers, booleans or (for list options such as GossipSeed) lists; null
// leaves the option as the lower sources set it. In kestrelsettings.json,
// null means -1 ("no limit") for the connection limits.
//
// # Unprefixed environment variables are never read
//
// Only EVENTSTORE_* and KURRENTDB_* variables are read. The 20.x-24.x
// networking documentation shows a few names without the prefix
// (KEEP_ALIVE_INTERVAL, KEEP_ALIVE_TIMEOUT, ENABLE_ATOM_PUB_OVER_HTTP); those
// are slips in that documentation, never names EventStoreDB read. An
// unprefixed variable spelled exactly like an option of more than one word
// gets a notice naming the prefixed spelling, and has no effect. Variables Kubernetes adds for a
// Service whose name starts with eventstore or kurrentdb
// (EVENTSTORE_SERVICE_HOST, EVENTSTORE_PORT_2113_TCP, ...) are ignored with a
// notice rather than refused as unknown options.
//
// # Old names
//
// Each old name in the schema has a status, and the loader treats it so:
//
//   - Renamed (ExtIp, IntTcpPort, HttpPort, IntTcpHeartbeatInterval, ...):
//     the value sets the new option, with one warning per old name
//     (OldName.Message, which names the new option) however many sources
//     use it.
//   - NoEquivalent (IntHttpPort, IntHttpPortAdvertiseAs): an error, because
//     the value describes a network layout that no longer exists and
//     ignoring it would leave a cluster that cannot form; the message says
//     what to configure instead. AllowUnknownOptions turns it into a warning
//     and the value is ignored.
//   - Removed (PrepareCount, CommitCount): a warning, and the value is
//     ignored: those settings never had any effect, so ignoring them changes
//     nothing and refusing to start would only be in the way.
//
// An old name and the new name (or two old names) of one option given
// different values within one source (the command line, one file, the
// EVENTSTORE_ variables, the KURRENTDB_ variables) is an error naming both;
// the same value is accepted. Across sources precedence decides, as it does
// for any option: that is how a flag overrides a file. The same name given
// twice with different values within one source is an error as well.
//
// A configuration in EventStoreDB 5.x's four-port layout (IntHttpPort
// distinct from the node port, or GossipSeed entries or ClusterGossipPort at
// 2112, the old internal HTTP port) is explained: gossip and elections now
// ride the node port.
//
// # Checks
//
// Load reports unknown options with a "did you mean" (warnings instead when
// AllowUnknownOptions is set). As EventStoreDB does, it refuses only unknown
// top-level names: a name nested in a section (Licensing: {LicenseKey: ...},
// EVENTSTORE_LICENSING__LICENSE_KEY, anything in kestrelsettings.json
// beyond the schema's) configures a plugin or the HTTP server and is
// ignored with a warning, unless it is close to an option of the same
// section (TcpPlugin.NodeTcpPrt), a misspelling. Load also reports values
// that do not parse, values out of range, and values of options annal does
// not support. Each message names the
// option, the value (redacted when secret), where it came from (command line
// --flag, environment VARIABLE, config file PATH with line and key,
// kestrelsettings.json PATH) and what is allowed. It also notes, as notices
// and warnings in Config.Notes: an insecure node without NodeIp listens on
// loopback only; a secure node without NodeIp listens on the host's first
// non-loopback address (as EventStoreDB does; FirstNonLoopback picks it);
// loopback NodeIp or ReplicationIp with ClusterSize above 1 cannot form a
// cluster across hosts.
//
// A YAML file holds one document: a second one (after a --- line) that is
// not empty is refused rather than silently not read.
//
// A file that is not a configuration at all is cut short: more than 1000
// keys (aliases expanded) or sections nested deeper than 8 levels are
// refused, and at most 50 unknown names are listed.
//
// CheckNodeStart holds what a node needs beyond a valid configuration:
// certificates or --insecure, and no legacy TCP client API (EnableExternalTcp),
// which annal does not serve yet; and, as EventStoreDB refuses at start-up,
// no GossipSeed of several nodes with ClusterSize 1, no ReadOnlyReplica
// with ClusterSize 1, no Db starting with '~', and no default users'
// passwords on an insecure node.
//
// WriteHelp prints every option grouped as the schema groups them, with its
// flag, environment variables, YAML key, default and help; WriteWhatIf prints
// the effective configuration with each value's source.
package config
