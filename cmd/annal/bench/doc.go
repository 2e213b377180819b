// Package bench is `annal bench`: a load generator that drives a running
// annal cluster through the EventStoreDB client gRPC API, the same calls
// the official clients make, and prints one line of key=value figures.
//
// Modes:
//
//   - append: concurrent clients, each appending one event per Append
//     call back to back; throughput and latency percentiles.
//   - read: concurrent clients reading a stream of known length, or $all
//     page by page; reads/s, events/s and latency percentiles.
//   - failover: one writer at a fixed interval; the leader's process is
//     sent SIGKILL or SIGSTOP, and the gap until the next acknowledged
//     append is measured.
//
// Every run is bounded in time (-dur) and in operations (-max), finds the
// leader through Gossip.Read on the given endpoints, and follows the
// not-leader answers' leader-endpoint trailers as the clients do.
//
// The final line has the layout of the peer load tools beside which annal
// is measured (etcd, NATS): "annalbench mode=... key=value ... latency:
// n=... mean_ms=... p50_ms=...", so that one table can hold them all.
package bench
