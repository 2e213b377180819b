// Package httpapi is the node's HTTP API on its node port (the port that
// also carries gRPC): GET /info, GET and HEAD /health/live, GET /stats,
// Prometheus GET /metrics, the exposure switches that hide gossip, stats
// and admin endpoints, and the limits that keep the port serving whatever
// clients send.
//
// # Where it sits
//
// API.Wrap stands in front of the port's whole HTTP/1.1 handler
// (netstack.Options.WrapHTTP): it answers its own endpoints and passes
// every other request (GET /gossip, routes added later) to the port's
// routes, all of them behind the same exposure switches and limits. A
// route added later under a hidden prefix is therefore hidden too.
//
// # Exposure
//
// Each switch has two spellings (GossipOnExt or DisableGossipOnHttp,
// StatsOnExt or DisableStatsOnHttp, AdminOnExt or DisableAdminUi); a
// group is hidden if either says so. A hidden endpoint answers 404 at once
// with a line naming the option that hides it. Hidden gossip also hides
// the client Gossip gRPC service (clientapi.Options.GossipHidden); the
// cluster's own gossip between nodes is never hidden.
//
// # Limits
//
// The port's server bounds the request line and headers in time
// (ReadHeaderTimeout) and size (1 MiB, then 431). The API adds: bodies at
// most MaxBodyBytes (413 at once when announced larger), read within
// BodyReadTimeout of the headers; responses written within WriteTimeout;
// at most MaxConcurrent requests in progress (503 with Retry-After beyond,
// /health/live exempt so that a flood never fails a liveness probe).
//
// # Counting
//
// The figures come from hooks the runtime threads through what it already
// hands out: Observer (the node's typed events), CountNode (the client
// API's calls into the node), TimeDisk (sync latency), CountConnections
// (replication connections), GRPCServerOptions (gRPC calls), and, read at
// each request, Node (the node's Stats on its loop, the drivers'
// counters). Metric names are EventStoreDB 24.10's where it measures the
// same thing (eventstore_elections_count, eventstore_io_events, ...),
// annal_* otherwise.
package httpapi
