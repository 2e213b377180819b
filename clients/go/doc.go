// Package clienttests runs the official KurrentDB Go client
// (github.com/kurrent-io/KurrentDB-Client-Go) against real annal
// processes: single nodes and three-node clusters started from the binary
// named by ANNAL_BIN, on loopback ports. It has only tests; run them with
//
//	ANNAL_BIN=/tmp/annal go test -count=1 ./...
package clienttests
