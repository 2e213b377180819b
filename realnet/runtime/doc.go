// Package runtime runs one production node: it builds the node's
// environment from the real drivers (realnet/loop, realnet/clock,
// realnet/disk, realnet/netstack), hands it to core/node, and takes the
// node down again, gracefully or because the node gave up.
//
// # What a node is given
//
//   - One loop (realnet/loop). Everything the node does runs there: its
//     construction and Start are posted to it like every later input.
//   - The real clock (clockwork.NewRealClock through realnet/clock).
//   - The disk rooted at the Db option's directory. With MemDb the
//     database lives in a fresh temporary directory that is deleted when
//     the runtime stops: annal has no in-memory log, so MemDb means "keep
//     nothing", not "never touch a disk".
//   - The network stack, whose two ports the runtime binds before the node
//     starts, so that a port already in use stops Start with a clear error
//     and port 0 works for both (the bound ports are written back into the
//     node's options, so the node advertises what it really listens on).
//     When the node asks to Serve its node port and Listen on its
//     replication port, it is handed these listeners.
//   - Randomness from a ChaCha8 generator seeded by crypto/rand. A
//     production run is not meant to be replayed (the simulator is), so
//     nothing records the seed.
//   - A logger writing "time level node message" lines, and an observer
//     that logs the node's events (state changes, elections, silent
//     peers) and tracks its state for Status.
//   - Exit, which stops the loop at once (the node runs nothing more, as
//     after os.Exit) and lets Run return an *ExitError with the code and
//     the node's reason.
//
// # Security
//
// A node that is not Insecure starts only with usable certificates
// (realnet/tlsconfig checks them before anything else is acquired, and
// Start returns every problem). It then serves TLS on both ports and
// dials other nodes over TLS, knows the users admin ($admins) and ops
// ($ops) with the DefaultAdminPassword and DefaultOpsPassword options,
// checks credentials on every gRPC call and HTTP request, and lets the
// client API ask EventStoreDB's default rules before each stream
// operation (realnet/auth). The start-up log says how the node is
// secured, warns while a default password is unchanged, and shows an
// INSECURE MODE banner on an insecure node. kestrelsettings.json's limits
// apply in both modes.
//
// # Stopping
//
// Stop (Run, when its context ends) stops accepting on both ports, calls
// the node's Stop on its loop, stops the clock and the network, waits (at
// most Config.DrainTimeout) for the disk operations the node already
// issued to complete, then stops the loop and closes the disk. Every
// write the node acknowledged was synced before it was acknowledged, so
// the directory opens again as it was left.
//
// # One process per directory
//
// The database directory holds a lock file (annal.lock) with the holder's
// pid. On Linux and the BSDs it is an flock, released by the kernel when
// the process dies, so a crash leaves no stale lock; elsewhere the file is
// created exclusively and removed at a clean stop, and a crash leaves it
// behind for an operator to delete. A second runtime on a locked
// directory fails with a *LockedError naming the directory and the pid.
package runtime
