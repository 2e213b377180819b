// Package options is annal's one option schema: every setting's name, old
// names, type, default, range and help, declared once as data. Command-line
// flags, YAML keys, environment variables, --help and --what-if are all
// derived from it, and simulated nodes take their settings from it, so no
// option is ever listed twice by hand.
//
// # Names
//
// annal speaks the EventStoreDB/KurrentDB protocol and uses EventStoreDB's
// option names and defaults. Each option is a package-level variable
// (options.NodePort), so code refers to options by identifier and the
// compiler checks the spelling. Its canonical Name is the PascalCase YAML
// key; the other spellings are derived:
//
//	YAML / config key   NodePort            (ConfigKey adds sections: TcpPlugin.NodeTcpPort)
//	command line        --node-port         (CLIName)
//	environment         EVENTSTORE_NODE_PORT, KURRENTDB_NODE_PORT (EnvNames)
//
// Lookup accepts any of them, ignoring case and the separators '-', '_',
// '.' and ':', so --ExtTcpPortAdvertiseAs, --ext-tcp-port-advertise-as and
// EVENTSTORE_Int_IP all resolve. Suggest offers the closest option for an
// unknown name, spelled the way the name was given.
//
// # Old names
//
// Older EventStoreDB versions named several settings differently (ExtIp,
// IntTcpPort, HttpPort, IntTcpHeartbeatInterval, ...). Each old spelling is
// kept on the option that took its role, with a status:
//
//   - Renamed: still accepted; the value sets the new option and the
//     loader warns with OldName.Message, which names the new option.
//     Setting an old name and its new name to different values is an error.
//   - NoEquivalent: the thing it configured is gone and its role is filled
//     differently (IntHttpPort: gossip and elections ride the node port
//     now); the owning option is what to configure instead.
//   - Removed: the setting no longer exists (RemovedNames).
//
// Lookup reports which old name matched; for NoEquivalent and Removed names
// it returns no option, only the explanation. Unknown and retired names stop
// the node at start-up unless AllowUnknownOptions is set.
//
// # Sources and precedence
//
// Values come from, lowest precedence first: built-in defaults, the YAML
// configuration file (and kestrelsettings.json for GroupKestrel), the
// environment (EVENTSTORE_* then KURRENTDB_*), and the command line.
// Simulated scenarios set values with SourceScenario. Loaders call
// Values.Set in that order, so the later source wins; Values.Source tells,
// for --what-if, where each value came from. EnvOnly options (the default
// users' passwords) are refused from files and flags.
//
// # Values
//
// Values holds one parsed value per option in a flat slice: Defaults gives
// a fresh set, Clone copies one cheaply (once per simulated node), Set
// parses and validates, and the typed getters (Bool, Int, Port, Duration,
// String, Strings, IP) read. A getter that does not fit the option's type
// panics, as that is a programming error. Set's errors name the option, the
// value (redacted when secret), its source, and what is allowed:
//
//	NodePort: "70000" (from command line) is out of range: allowed 0..65535
//
// Where EventStoreDB documents -1 as "disabled" or "no limit"
// (KeepAliveInterval, KeepAliveTimeout, MaxTruncation), the option's
// MinusOne says so and -1 is accepted; Duration then returns a negative
// duration and Disabled reports true. Everywhere else -1 is out of range.
//
// The package is pure: no I/O, no clock, no goroutines; the maps it keeps
// are only looked up, never iterated for output.
package options
