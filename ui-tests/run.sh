#!/usr/bin/env bash
# Runs the browser tests against the given annal binary: the admin UI,
# then AtomPub's HTTP caching.
#   ui-tests/run.sh /tmp/annal
# Installs Debian's chromium when it is missing, then npm ci and the tests.
set -euo pipefail
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 <annal-binary>   (build it with: go build -o /tmp/annal ./cmd/annal)" >&2
  exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium is not installed; installing it with apt-get" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y chromium; else sudo apt-get install -y chromium; fi
fi
npm ci --no-audit --no-fund
export ANNAL_BIN="$bin" CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
timeout 180 node admin-ui.test.js
timeout 180 node atompub-cache.test.js
