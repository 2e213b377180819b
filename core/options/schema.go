package options

// The schema: every option annal knows, grouped as --help shows them.
// Defaults are EventStoreDB's; where its networking documentation states a
// default, the help repeats it ("EventStoreDB's default: ...") and a test
// keeps the two equal.

// Application.
var (
	Config = register(Option{
		Name: "Config", Group: GroupApplication, Type: Path,
		Default: "/etc/eventstore/eventstore.conf",
		Help: "YAML configuration file. A file given explicitly must exist; the default one is read only if present. " +
			"(KurrentDB 25 looks in /etc/kurrentdb/kurrentdb.conf first.)",
	})
	Help = register(Option{
		Name: "Help", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Print the options, grouped, with their defaults, and exit.",
	})
	Version = register(Option{
		Name: "Version", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Print the version and exit.",
	})
	WhatIf = register(Option{
		Name: "WhatIf", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Print the effective configuration, with where each value came from, and exit.",
	})
	AllowUnknownOptions = register(Option{
		Name: "AllowUnknownOptions", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Start even when the configuration names unknown or retired options (they are then only warned about).",
	})
	Insecure = register(Option{
		Name: "Insecure", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Turn off TLS, authentication and authorization on every interface. For development only.",
	})
	DisableHttpCaching = register(Option{
		Name: "DisableHttpCaching", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Send every AtomPub answer as uncacheable (Cache-Control: max-age=0, no-cache, must-revalidate), so a rebuilt development database is never shadowed by a browser's cache. " +
			"EventStoreDB's default: false (caching on).",
	})
	MaxAppendSize = register(Option{
		Name: "MaxAppendSize", Group: GroupApplication, Type: Int,
		Default: "1048576", Min: 1, Max: 15 << 20,
		Help: "Largest total size, in bytes, of the events in one append request; larger appends fail with maximum-append-size-exceeded. " +
			"EventStoreDB's default (20.x to 25.0): 1 MiB. At most 15 MiB: a whole append travels as one message between nodes, " +
			"and messages are bounded at 16 MiB.",
	})
	StatsPeriodSec = register(Option{
		Name: "StatsPeriodSec", Group: GroupApplication, Type: Seconds, Default: "30", Min: 1,
		Help:     "Seconds between two gatherings of node statistics.",
		NoEffect: "annal gathers its statistics when /stats or /metrics is read, not on a period",
	})
	AllowAnonymousEndpointAccess = register(Option{
		Name: "AllowAnonymousEndpointAccess", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Let unauthenticated callers use the HTTP endpoints (statistics, options, ...). /info and /health/live are always open, and /gossip unless OverrideAnonymousEndpointAccessForGossip is false.",
	})
	AllowAnonymousStreamAccess = register(Option{
		Name: "AllowAnonymousStreamAccess", Group: GroupApplication, Type: Bool, Default: "false",
		Help: "Let unauthenticated callers read and write streams, subject to the streams' access lists.",
	})
	OverrideAnonymousEndpointAccessForGossip = register(Option{
		Name: "OverrideAnonymousEndpointAccessForGossip", Group: GroupApplication, Type: Bool, Default: "true",
		Help: "Keep the gossip endpoint open to unauthenticated callers, as clients discovering the cluster need, " +
			"whatever AllowAnonymousEndpointAccess says.",
	})
	TelemetryOptout = register(Option{
		Name: "TelemetryOptout", Group: GroupApplication, Type: Bool, Default: "false", EnvOnly: true,
		Help: "Accepted for compatibility with EventStoreDB; annal collects and sends no telemetry.",
	})
)

// Logging.
var (
	Log = register(Option{
		Name: "Log", Group: GroupLogging, Type: Path, Default: "/var/log/eventstore",
		Help:     "Directory for log files.",
		NoEffect: "annal writes its log to standard error, for the service manager or container runtime to keep",
	})
	LogLevel = register(Option{
		Name: "LogLevel", Group: GroupLogging, Type: Enum, Default: "Default",
		Values: []string{"Default", "Verbose", "Debug", "Information", "Warning", "Error", "Fatal"},
		Help:   "Lowest level of log messages written. Default means Information.",
	})
)

// Certificates.
var (
	CertificateFile = register(Option{
		Name: "CertificateFile", Group: GroupCertificates, Type: Path,
		Help: "The node's certificate: a PEM (.pem, .crt) file, followed by any intermediate certificates, or a PKCS #12 (.p12, .pfx) bundle " +
			"holding the certificate, its chain and its key (opened with CertificatePassword). Required unless Insecure.",
	})
	CertificatePrivateKeyFile = register(Option{
		Name: "CertificatePrivateKeyFile", Group: GroupCertificates, Type: Path,
		Help: "The private key of a PEM CertificateFile.",
	})
	CertificatePassword = register(Option{
		Name: "CertificatePassword", Group: GroupCertificates, Type: String, Secret: true,
		Help: "Password of a PKCS #12 CertificateFile (empty for a bundle without one).",
	})
	CertificatePrivateKeyPassword = register(Option{
		Name: "CertificatePrivateKeyPassword", Group: GroupCertificates, Type: String, Secret: true,
		Help: "Password of an encrypted (PKCS #8, ENCRYPTED PRIVATE KEY) CertificatePrivateKeyFile.",
	})
	TrustedRootCertificatesPath = register(Option{
		Name: "TrustedRootCertificatesPath", Group: GroupCertificates, Type: Path, Default: "/etc/ssl/certs",
		Help: "Directory of trusted root certificates; peers' certificates must chain to one of them.",
	})
	CertificateReservedNodeCommonName = register(Option{
		Name: "CertificateReservedNodeCommonName", Group: GroupCertificates, Type: String,
		Help: "Common name (CN) another node's certificate must have to be trusted as a cluster member; a wildcard such as *.cluster.local is allowed. " +
			"Empty means the CN of this node's own certificate (EventStoreDB 20.x used eventstoredb-node).",
	})
)

// Certificates from the Windows certificate store: accepted by name so an
// EventStoreDB configuration gets a clear answer rather than "unknown".
const noCertificateStore = "annal reads certificates from files only; use CertificateFile, CertificatePrivateKeyFile and TrustedRootCertificatesPath."

var (
	CertificateStoreLocation = register(Option{
		Name: "CertificateStoreLocation", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Location of the certificate store holding the node's certificate (Windows).",
	})
	CertificateStoreName = register(Option{
		Name: "CertificateStoreName", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Name of the certificate store holding the node's certificate (Windows).",
	})
	CertificateSubjectName = register(Option{
		Name: "CertificateSubjectName", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Subject name of the node's certificate in the store (Windows).",
	})
	CertificateThumbprint = register(Option{
		Name: "CertificateThumbprint", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Thumbprint of the node's certificate in the store (Windows).",
	})
	TrustedRootCertificateStoreLocation = register(Option{
		Name: "TrustedRootCertificateStoreLocation", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Location of the certificate store holding the trusted root (Windows).",
	})
	TrustedRootCertificateStoreName = register(Option{
		Name: "TrustedRootCertificateStoreName", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Name of the certificate store holding the trusted root (Windows).",
	})
	TrustedRootCertificateSubjectName = register(Option{
		Name: "TrustedRootCertificateSubjectName", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Subject name of the trusted root certificate in the store (Windows).",
	})
	TrustedRootCertificateThumbprint = register(Option{
		Name: "TrustedRootCertificateThumbprint", Group: GroupCertificateStore, Type: String, NotSupported: noCertificateStore,
		Help: "Thumbprint of the trusted root certificate in the store (Windows).",
	})
)

// Cluster.
var (
	ClusterSize = register(Option{
		Name: "ClusterSize", Group: GroupCluster, Type: Int, Default: "1", Min: 1,
		Help: "Number of voting nodes in the cluster (read-only replicas not counted). Writes need a quorum of ClusterSize/2+1.",
	})
	NodePriority = register(Option{
		Name: "NodePriority", Group: GroupCluster, Type: Int, Default: "0",
		Help: "Preference for this node in elections when logs are equal; higher wins. A hint, changeable at run time.",
	})
	ReadOnlyReplica = register(Option{
		Name: "ReadOnlyReplica", Group: GroupCluster, Type: Bool, Default: "false",
		Help: "Run as a read-only replica: it follows the leader and serves reads, never votes, never leads and is not part of the quorum.",
	})
	UnsafeAllowSurplusNodes = register(Option{
		Name: "UnsafeAllowSurplusNodes", Group: GroupCluster, Type: Bool, Default: "false",
		Help: "Let more than ClusterSize nodes join, the extra ones as clones. Unsafe: promoting a clone can lose acknowledged writes.",
	})
	DiscoverViaDns = register(Option{
		Name: "DiscoverViaDns", Group: GroupCluster, Type: Bool, Default: "true",
		Help: "Find the other nodes by resolving ClusterDns (used only when ClusterSize is above 1 and GossipSeed is empty).",
	})
	ClusterDns = register(Option{
		Name: "ClusterDns", Group: GroupCluster, Type: Host, Default: "fake.dns",
		Help: "DNS name whose addresses are the cluster's nodes, when DiscoverViaDns is on.",
	})
	ClusterGossipPort = register(Option{
		Name: "ClusterGossipPort", Group: GroupCluster, Type: Port, Default: "2113", Min: 1,
		Help: "Node port to gossip with at the addresses found through ClusterDns.",
	})
	GossipSeed = register(Option{
		Name: "GossipSeed", Group: GroupCluster, Type: EndpointList,
		Help: "Other nodes to gossip with first, as host:port of their node port, comma-separated (e.g. node2:2113,node3:2113). " +
			"When set, DNS discovery is not used.",
	})
	GossipIntervalMs = register(Option{
		Name: "GossipIntervalMs", Group: GroupCluster, Type: Milliseconds, Default: "2000", Min: 1,
		Help: "How often a node gossips with another one.",
	})
	GossipTimeoutMs = register(Option{
		Name: "GossipTimeoutMs", Group: GroupCluster, Type: Milliseconds, Default: "2500", Min: 1,
		Help: "How long a gossip request may take before the peer is suspected. Raise it on a congested network.",
	})
	GossipAllowedDifferenceMs = register(Option{
		Name: "GossipAllowedDifferenceMs", Group: GroupCluster, Type: Milliseconds, Default: "60000",
		Help: "Clock difference between nodes above which gossip reports an error. Keep clocks synchronised well within it.",
	})
	DeadMemberRemovalPeriodSec = register(Option{
		Name: "DeadMemberRemovalPeriodSec", Group: GroupCluster, Type: Seconds, Default: "1800",
		Help: "How long a dead node stays in gossip before it is dropped.",
	})
	LeaderElectionTimeoutMs = register(Option{
		Name: "LeaderElectionTimeoutMs", Group: GroupCluster, Type: Milliseconds, Default: "1000", Min: 1000,
		Help: "How long an election round may take before the next one starts. Raise it together with GossipTimeoutMs.",
	})
)

// Database.
var (
	Db = register(Option{
		Name: "Db", Group: GroupDatabase, Type: Path, Default: "/var/lib/eventstore",
		Help: "Directory of the database (chunks, checkpoints, index). (KurrentDB 25 uses /var/lib/kurrentdb when the old one does not exist.)",
	})
	Index = register(Option{
		Name: "Index", Group: GroupDatabase, Type: Path,
		Help:     "Directory of the index. Empty means the index directory inside Db.",
		NoEffect: "annal keeps its stream index in memory, rebuilt from the log at start-up, and writes no index files",
	})
	MemDb = register(Option{
		Name: "MemDb", Group: GroupDatabase, Type: Bool, Default: "false",
		Help: "Keep nothing between runs: the database lives in a new temporary directory that is deleted when the node stops (annal has no in-memory log, so it still writes files there).",
	})
	PrepareTimeoutMs = register(Option{
		Name: "PrepareTimeoutMs", Group: GroupDatabase, Type: Milliseconds, Default: "2000", Min: 1,
		Help: "How long a write may wait for its events to be written before the client gets a timeout.",
	})
	CommitTimeoutMs = register(Option{
		Name: "CommitTimeoutMs", Group: GroupDatabase, Type: Milliseconds, Default: "2000", Min: 1,
		Help: "How long a write may wait for a quorum to have it before the client gets a timeout.",
	})
	WriteTimeoutMs = register(Option{
		Name: "WriteTimeoutMs", Group: GroupDatabase, Type: Milliseconds, Default: "2000", Min: 1,
		Help: "How long a client write may take in all, forwarding to the leader included, before it times out. " +
			"Unless set, annal uses PrepareTimeoutMs + CommitTimeoutMs, as earlier EventStoreDB versions did.",
	})
	MaxTruncation = register(Option{
		Name: "MaxTruncation", Group: GroupDatabase, Type: Int, Default: "268435456",
		Min: 0, Max: 1<<63 - 1, MinusOne: "no limit",
		Help: "Most bytes a node may cut from its log when it follows a new leader that lacks its latest records; more stops the node " +
			"so that an operator looks first.",
	})
	WriteStatsToDb = register(Option{
		Name: "WriteStatsToDb", Group: GroupDatabase, Type: Bool, Default: "false",
		Help:     "Also write node statistics to the $stats-<node> stream every StatsPeriodSec.",
		NoEffect: "annal writes no $stats streams; read /stats or /metrics",
	})
)

// gRPC.
var (
	KeepAliveInterval = register(Option{
		Name: "KeepAliveInterval", Group: GroupGrpc, Type: Milliseconds, Default: "10000", Min: 1, MinusOne: "disabled",
		Help: "Idle time after which the node pings a gRPC client to check the connection is alive; -1 turns pings off. " +
			"EventStoreDB's default: 10000 ms.",
	})
	KeepAliveTimeout = register(Option{
		Name: "KeepAliveTimeout", Group: GroupGrpc, Type: Milliseconds, Default: "10000", Min: 1, MinusOne: "disabled",
		Help: "How long the node waits for a keepalive ping to be answered before closing the connection; -1 waits forever. " +
			"Load balancers in front must have a longer idle timeout. EventStoreDB's default: 10000 ms.",
	})
)

// Interface: the node port (gRPC and HTTP) and the replication port.
var (
	NodeIp = register(Option{
		Name: "NodeIp", Group: GroupInterface, Type: IPAddress, Default: "127.0.0.1",
		Help: "Address the node port (gRPC and HTTP: clients, gossip, elections) listens on. Unset, an insecure node listens on 127.0.0.1 " +
			"and a secure one on the host's first non-loopback address (127.0.0.1 when it has none). 0.0.0.0 listens on all interfaces' IPv4 addresses " +
			"(:: on their IPv6 addresses too); " +
			"the node then advertises its first non-loopback address, so set NodeHostAdvertiseAs.",
		OldNames: []OldName{
			{Name: "ExtIp", Status: Renamed, Era: "3.x-24.x"},
		},
	})
	NodePort = register(Option{
		Name: "NodePort", Group: GroupInterface, Type: Port, Default: "2113",
		Help: "Port of the node: gRPC and HTTP together, plain when Insecure and TLS otherwise. EventStoreDB's default: 2113.",
		OldNames: []OldName{
			{Name: "HttpPort", Status: Renamed, Era: "20.x-24.x"},
			{Name: "ExtHttpPort", Status: Renamed, Era: "3.x-5.x"},
			{Name: "ExtPort", Status: Renamed, Era: "20.x-22.x"},
			{Name: "IntHttpPort", Status: NoEquivalent, Era: "3.x-5.x",
				Reason: "there is no separate internal HTTP port; gossip and elections ride the node port now, alongside client traffic."},
		},
	})
	NodeHostAdvertiseAs = register(Option{
		Name: "NodeHostAdvertiseAs", Group: GroupInterface, Type: Host,
		Help: "Host name or address this node gives for its node port in gossip, when others reach it at another address " +
			"(NAT, 0.0.0.0 bindings, certificates that name hosts). Empty means NodeIp.",
		OldNames: []OldName{
			{Name: "ExtHostAdvertiseAs", Status: Renamed, Era: "20.x-24.x"},
			{Name: "ExtIpAdvertiseAs", Status: Renamed, Era: "4.x-5.x"},
			{Name: "AdvertiseAs", Status: Renamed, Era: "3.x-4.x",
				Reason: "It advertised one address for the whole node; if replication is translated too, also set ReplicationHostAdvertiseAs."},
		},
	})
	NodePortAdvertiseAs = register(Option{
		Name: "NodePortAdvertiseAs", Group: GroupInterface, Type: Port, Default: "0",
		Help: "Port this node gives for its node port in gossip, when a port forward maps another one to it. 0 means NodePort.",
		OldNames: []OldName{
			{Name: "HttpPortAdvertiseAs", Status: Renamed, Era: "20.x-24.x"},
			{Name: "ExtHttpPortAdvertiseAs", Status: Renamed, Era: "5.x"},
			{Name: "IntHttpPortAdvertiseAs", Status: NoEquivalent, Era: "5.x",
				Reason: "there is no internal HTTP port to advertise; nodes gossip with each other on the node port."},
		},
	})
	AdvertiseHostToClientAs = register(Option{
		Name: "AdvertiseHostToClientAs", Group: GroupInterface, Type: Host,
		Help: "Host name or address given to clients in gossip, when clients reach the node differently from other nodes " +
			"(e.g. localhost and forwarded ports with Docker Compose). Empty means what the nodes use.",
	})
	AdvertiseNodePortToClientAs = register(Option{
		Name: "AdvertiseNodePortToClientAs", Group: GroupInterface, Type: Port, Default: "0",
		Help: "Node port given to clients in gossip. 0 means the port the nodes use.",
		OldNames: []OldName{
			{Name: "AdvertiseHttpPortToClientAs", Status: Renamed, Era: "20.x-24.x"},
		},
	})
	ReplicationIp = register(Option{
		Name: "ReplicationIp", Group: GroupInterface, Type: IPAddress, Default: "127.0.0.1",
		Help: "Address the replication port listens on. Left at loopback, nodes on other hosts cannot replicate: " +
			"set it for any multi-node cluster. EventStoreDB's default: 127.0.0.1.",
		OldNames: []OldName{
			{Name: "IntIp", Status: Renamed, Era: "3.x-24.x"},
		},
	})
	ReplicationPort = register(Option{
		Name: "ReplicationPort", Group: GroupInterface, Type: Port, Default: "1112",
		Help: "TCP port for replication from the leader to the other nodes (and writes forwarded to the leader). " +
			"EventStoreDB's default: 1112.",
		OldNames: []OldName{
			{Name: "IntTcpPort", Status: Renamed, Era: "3.x-24.x"},
			{Name: "ReplicationTcpPort", Status: Renamed, Era: "23.10 upgrade notes",
				Reason: "The upgrade notes of EventStoreDB 23.10 used this spelling; the option has always been ReplicationPort."},
		},
	})
	ReplicationHostAdvertiseAs = register(Option{
		Name: "ReplicationHostAdvertiseAs", Group: GroupInterface, Type: Host,
		Help: "Host name or address this node gives for its replication port in gossip. Empty means ReplicationIp.",
		OldNames: []OldName{
			{Name: "IntHostAdvertiseAs", Status: Renamed, Era: "20.x-24.x"},
			{Name: "IntIpAdvertiseAs", Status: Renamed, Era: "4.x-5.x"},
		},
	})
	ReplicationTcpPortAdvertiseAs = register(Option{
		Name: "ReplicationTcpPortAdvertiseAs", Group: GroupInterface, Type: Port, Default: "0",
		Help: "Replication port this node gives in gossip, when a port forward maps another one to it. 0 means ReplicationPort.",
		OldNames: []OldName{
			{Name: "IntTcpPortAdvertiseAs", Status: Renamed, Era: "4.x-24.x"},
		},
	})
	ReplicationHeartbeatInterval = register(Option{
		Name: "ReplicationHeartbeatInterval", Group: GroupInterface, Type: Milliseconds, Default: "700", Min: 1,
		Help: "Silence on a replication connection after which a heartbeat request is sent; a busy connection sends none. " +
			"EventStoreDB's default: 700 ms.",
		OldNames: []OldName{
			{Name: "IntTcpHeartbeatInterval", Status: Renamed, Era: "3.x-24.x"},
		},
	})
	ReplicationHeartbeatTimeout = register(Option{
		Name: "ReplicationHeartbeatTimeout", Group: GroupInterface, Type: Milliseconds, Default: "700", Min: 1,
		Help: "How long a heartbeat request may go unanswered before the replication connection is closed. " +
			"EventStoreDB's default: 700 ms. In doubt, prefer larger values: false alarms cost elections.",
		OldNames: []OldName{
			{Name: "IntTcpHeartbeatTimeout", Status: Renamed, Era: "3.x-24.x"},
		},
	})
	ConnectionPendingSendBytesThreshold = register(Option{
		Name: "ConnectionPendingSendBytesThreshold", Group: GroupInterface, Type: Int, Default: "10485760", Min: 1,
		Help:     "Bytes that may wait to be sent on one TCP connection; a connection further behind is closed rather than buffered.",
		NoEffect: sendQueueBound,
	})
	ConnectionQueueSizeThreshold = register(Option{
		Name: "ConnectionQueueSizeThreshold", Group: GroupInterface, Type: Int, Default: "50000", Min: 1,
		Help:     "Messages that may wait to be sent on one TCP connection; a connection further behind is closed.",
		NoEffect: sendQueueBound,
	})
	EnableAtomPubOverHttp = register(Option{
		Name: "EnableAtomPubOverHttp", Group: GroupInterface, Type: Bool, Default: "false",
		Help: "Serve the AtomPub HTTP API (off by default since EventStoreDB 20). EventStoreDB's default: false.",
	})
	AdminOnExt = register(Option{
		Name: "AdminOnExt", Group: GroupInterface, Type: Bool, Default: "true",
		Help: "Serve the admin UI on the node port. EventStoreDB's default: true.",
	})
	StatsOnExt = register(Option{
		Name: "StatsOnExt", Group: GroupInterface, Type: Bool, Default: "true",
		Help: "Serve the stats endpoint on the node port; the admin UI and monitoring need it. EventStoreDB's default: true.",
	})
	GossipOnExt = register(Option{
		Name: "GossipOnExt", Group: GroupInterface, Type: Bool, Default: "true",
		Help: "Serve gossip to clients on the node port; without it clients cannot discover the cluster through this node. " +
			"EventStoreDB's default: true.",
	})
	DisableAdminUi = register(Option{
		Name: "DisableAdminUi", Group: GroupInterface, Type: Bool, Default: "false",
		Help: "Do not serve the admin UI (newer spelling; the UI is off if this is true or AdminOnExt is false).",
	})
	DisableStatsOnHttp = register(Option{
		Name: "DisableStatsOnHttp", Group: GroupInterface, Type: Bool, Default: "false",
		Help: "Do not serve statistics over HTTP (newer spelling; off if this is true or StatsOnExt is false).",
	})
	DisableGossipOnHttp = register(Option{
		Name: "DisableGossipOnHttp", Group: GroupInterface, Type: Bool, Default: "false",
		Help: "Do not serve gossip over HTTP (newer spelling; off if this is true or GossipOnExt is false).",
	})
)

// External TCP client API: the legacy TCP protocol, served on its own port
// only when enabled (a licensed plugin in EventStoreDB 24.x and later).
var (
	EnableExternalTcp = register(Option{
		Name: "EnableExternalTcp", Group: GroupTcpPlugin, Section: "TcpPlugin", Type: Bool, Default: "false",
		Help: "Serve the legacy TCP client API on NodeTcpPort for clients not yet moved to gRPC. annal does not serve it yet: a node with this set to true refuses to start.",
	})
	NodeTcpPort = register(Option{
		Name: "NodeTcpPort", Group: GroupTcpPlugin, Section: "TcpPlugin", Type: Port, Default: "1113",
		Help: "Port of the legacy TCP client API. EventStoreDB's default: 1113.",
		OldNames: []OldName{
			{Name: "ExtTcpPort", Status: Renamed, Era: "3.x-23.10"},
		},
	})
	NodeTcpPortAdvertiseAs = register(Option{
		Name: "NodeTcpPortAdvertiseAs", Group: GroupTcpPlugin, Section: "TcpPlugin", Type: Port, Default: "0",
		Help: "TCP client port this node gives in gossip, when a port forward maps another one to it. 0 means NodeTcpPort " +
			"(the documented 1113 with the default port).",
		OldNames: []OldName{
			{Name: "ExtTcpPortAdvertiseAs", Status: Renamed, Era: "4.x-23.10"},
		},
	})
	NodeHeartbeatInterval = register(Option{
		Name: "NodeHeartbeatInterval", Group: GroupTcpPlugin, Section: "TcpPlugin", Type: Milliseconds, Default: "2000", Min: 1,
		Help: "Silence on a TCP client connection after which a heartbeat request is sent. EventStoreDB's default: 2000 ms.",
		OldNames: []OldName{
			{Name: "ExtTcpHeartbeatInterval", Status: Renamed, Era: "3.x-23.10"},
		},
	})
	NodeHeartbeatTimeout = register(Option{
		Name: "NodeHeartbeatTimeout", Group: GroupTcpPlugin, Section: "TcpPlugin", Type: Milliseconds, Default: "1000", Min: 1,
		Help: "How long a heartbeat request to a TCP client may go unanswered before the connection is closed. " +
			"EventStoreDB's default: 1000 ms.",
		OldNames: []OldName{
			{Name: "ExtTcpHeartbeatTimeout", Status: Renamed, Era: "3.x-23.10"},
		},
	})
)

// HTTP server limits, read from kestrelsettings.json in EventStoreDB
// ("Kestrel": {"Limits": {...}}). Defaults are the .NET 8 server's.
const http2WindowHelp = " At least 65535 and below 2^31."

var (
	MaxConcurrentConnections = register(Option{
		Name: "MaxConcurrentConnections", Group: GroupKestrel, File: KestrelSettingsFile, Section: "Kestrel.Limits",
		Type: Int, Default: "-1", Min: 0, Max: 1<<63 - 1, MinusOne: "no limit",
		Help: "Most connections open on the node port at once; further ones are refused. -1 (null in the file) means no limit.",
	})
	MaxConcurrentUpgradedConnections = register(Option{
		Name: "MaxConcurrentUpgradedConnections", Group: GroupKestrel, File: KestrelSettingsFile, Section: "Kestrel.Limits",
		Type: Int, Default: "-1", Min: 0, Max: 1<<63 - 1, MinusOne: "no limit",
		Help: "Most connections switched from HTTP to another protocol (e.g. WebSockets) at once. -1 (null in the file) means no limit.",
	})
	InitialConnectionWindowSize = register(Option{
		Name: "InitialConnectionWindowSize", Group: GroupKestrel, File: KestrelSettingsFile, Section: "Kestrel.Limits.Http2",
		Type: Int, Default: "1048576", Min: 65535, Max: 1<<31 - 1,
		Help: "HTTP/2 request body bytes the node buffers per connection, over all its streams." + http2WindowHelp,
	})
	InitialStreamWindowSize = register(Option{
		Name: "InitialStreamWindowSize", Group: GroupKestrel, File: KestrelSettingsFile, Section: "Kestrel.Limits.Http2",
		Type: Int, Default: "786432", Min: 65535, Max: 1<<31 - 1,
		Help: "HTTP/2 request body bytes the node buffers per stream (also bounded by the connection window)." + http2WindowHelp,
	})
)

// Projections: annal has none; the names are known so that configurations
// written for EventStoreDB fail with a reason.
const noProjections = "annal has no projection engine."

var (
	RunProjections = register(Option{
		Name: "RunProjections", Group: GroupProjections, Type: Enum, Default: "None",
		Values: []string{"None", "System", "All"}, NotSupported: noProjections,
		Help: "Which projections to run. Only None is supported.",
	})
	StartStandardProjections = register(Option{
		Name: "StartStandardProjections", Group: GroupProjections, Type: Bool, Default: "false", NotSupported: noProjections,
		Help: "Start the built-in system projections. Only false is supported.",
	})
)

// Default users: passwords of the admin and ops users. EventStoreDB uses
// them once, when it first creates the users in its database; annal keeps
// no users in its database and applies them at every start. Environment
// only, as in EventStoreDB, so they stay out of files.
var (
	DefaultAdminPassword = register(Option{
		Name: "DefaultAdminPassword", Group: GroupDefaultUsers, Type: String, Default: "changeit", Secret: true, EnvOnly: true,
		Help: "Password of the admin user, applied at every start (annal keeps no users in its database, unlike EventStoreDB, which uses it only when it first creates the user): " +
			"keep it set, or the password is changeit again after a restart.",
	})
	DefaultOpsPassword = register(Option{
		Name: "DefaultOpsPassword", Group: GroupDefaultUsers, Type: String, Default: "changeit", Secret: true, EnvOnly: true,
		Help: "Password of the ops user, applied at every start (annal keeps no users in its database, unlike EventStoreDB, which uses it only when it first creates the user): " +
			"keep it set, or the password is changeit again after a restart.",
	})
)

// removedNames are old options whose setting no longer exists at all.
var removedNames = []OldName{
	{Name: "PrepareCount", Status: Removed, Era: "3.x-22.10",
		Reason: "it never had any effect (EventStoreDB dropped it in 23.10); writes are acknowledged by a quorum of ClusterSize."},
	{Name: "CommitCount", Status: Removed, Era: "3.x-22.10",
		Reason: "it never had any effect (EventStoreDB dropped it in 23.10); writes are acknowledged by a quorum of ClusterSize."},
}

const sendQueueBound = "annal bounds each connection's send queue at 1024 messages and 4 MiB, and slows the sender when it is full instead of closing the connection"
