#!/usr/bin/env bash
# Runs both official-client suites against an annal binary:
#   clients/run.sh /path/to/annal
# Node: npm ci + npm test in clients/node; Go: go test -count=1 ./... in
# clients/go. Exits non-zero if either suite fails (both always run).
set -u -o pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 /path/to/annal   (build it with: go build -o /tmp/annal ./cmd/annal)" >&2
	exit 2
fi
bin=$1
if [ ! -x "$bin" ] || [ -d "$bin" ]; then
	echo "$0: $bin is not an executable file; build it with: go build -o $bin ./cmd/annal" >&2
	exit 2
fi
ANNAL_BIN=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
export ANNAL_BIN
here=$(cd "$(dirname "$0")" && pwd)

# Each suite is bounded, so a hang can never block the caller for long.
suite_bound=600
status=0

echo "== node: npm ci && npm test (ANNAL_BIN=$ANNAL_BIN)"
start=$(date +%s)
if (cd "$here/node" && npm ci --no-audit --no-fund && timeout --kill-after=10 "$suite_bound" npm test); then
	echo "== node: passed in $(($(date +%s) - start)) s"
else
	echo "== node: FAILED after $(($(date +%s) - start)) s"
	status=1
fi

echo "== go: go test -count=1 ./... (ANNAL_BIN=$ANNAL_BIN)"
start=$(date +%s)
if (cd "$here/go" && go test -count=1 -timeout "${suite_bound}s" -v ./... 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT)'); then
	echo "== go: passed in $(($(date +%s) - start)) s"
else
	echo "== go: FAILED after $(($(date +%s) - start)) s"
	status=1
fi

exit $status
