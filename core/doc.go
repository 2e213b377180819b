// Package core is the annal node: gossip, failure detection, elections,
// replication, the event log and index, client requests and the option
// schema, each in its own subpackage, as pure logic over the environment in
// core/env.
//
// Everything under core is deterministic: given the same inputs in the same
// order (messages, timer firings, disk completions, random numbers drawn from
// env.Rand) a node makes the same decisions and produces the same outputs,
// byte for byte. That is what lets the simulator replay any run from its seed
// and what lets the same code run on real sockets unchanged. So no code in
// core reads the host clock, sleeps, starts goroutines, uses channels or
// select, prints, touches the file system or network, draws global
// randomness, or iterates a map except through core/sorted.
//
// The rule is enforced by a test in this package (rules_test.go) that
// type-checks every non-test file under core and fails with the file and line
// of every breach.
package core
