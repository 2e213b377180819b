#!/usr/bin/env bash
# Runs the simulator several times per seed, in separate processes and with
# GOMAXPROCS 1 and 2, and fails unless every run of a seed prints the same
# trace hash and different seeds print different hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/annal" ./cmd/annal

seeds=${SEEDS:-"1 2 3 7 8"}
duration=${DURATION:-2m}
declare -A seen
for seed in $seeds; do
  hashes=()
  for procs in 1 1 2; do
    out=$(GOMAXPROCS=$procs "$bin/annal" sim run --seed "$seed" --nodes 5 --duration "$duration" --loss 0.02 --json)
    hashes+=("$(printf '%s' "$out" | sed -n 's/.*"trace_hash": *"\([0-9a-f]*\)".*/\1/p')")
  done
  if [ -z "${hashes[0]}" ] || [ "${hashes[0]}" != "${hashes[1]}" ] || [ "${hashes[0]}" != "${hashes[2]}" ]; then
    echo "seed $seed: trace hashes differ across runs: ${hashes[*]}"; exit 1
  fi
  if [ -n "${seen[${hashes[0]}]:-}" ]; then
    echo "seeds ${seen[${hashes[0]}]} and $seed gave the same trace hash ${hashes[0]}"; exit 1
  fi
  seen[${hashes[0]}]=$seed
  echo "seed $seed: ${hashes[0]} (3 runs agree)"
done
