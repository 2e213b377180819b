#!/usr/bin/env bash
# Runs every test annal has, installing what the tests need first. This is
# what CI runs. For daily work, `go test ./...` is the fast Go-only subset.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "go toolchain"
go version

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "go test (all packages)"
# The whole-cluster property tests run with a pinned seed here, so that CI
# judges the code, not the luck of the draw; `go test ./sim/cluster/` on a
# workstation draws fresh seeds (and -rapid.checks=2000 hunts for bugs).
go test -count=1 $(go list ./... | grep -v '/sim/cluster$')
go test -count=1 ./sim/cluster/ -rapid.seed=1

step "go test -race (packages with goroutines)"
race_pkgs=$(go list ./realnet/... ./cmd/... 2>/dev/null || true)
if [ -n "$race_pkgs" ]; then
  go test -count=1 -race $race_pkgs
fi

step "official EventStoreDB/KurrentDB clients (NodeJS and Go) against real annal processes"
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
go build -o "$bin_dir/annal" ./cmd/annal
clients/run.sh "$bin_dir/annal"

step "admin UI and HTTP caching in a real browser (Debian's chromium, playwright-core)"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
ui-tests/run.sh "$bin_dir/annal"

step "determinism gate: same seed, same trace hash, across processes and GOMAXPROCS"
scripts/determinism-gate.sh

echo
echo "all tests passed"
