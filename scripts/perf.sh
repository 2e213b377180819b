#!/usr/bin/env bash
# Measures annal beside etcd and NATS JetStream on this machine, in one run,
# on loopback only, every load bounded in time, and prints a table of
# ratios: the machine is noisy and shared, so only figures taken side by
# side in the same run compare.
#
#   scripts/perf.sh
#
# Environment (defaults in brackets):
#   RUNS [1]              repetitions of the whole comparison; the table shows medians
#   DUR [10s]             length of each throughput or read load
#   FAILOVER_DUR [12s]    length of each annal and etcd failover run
#   NATS_FAILOVER_DUR [20s]
#   KILL_AFTER [4s]       when, into a failover run, the leader gets the signal
#   OUT                   results file (default /tmp/perf/results/perf-<UTC time>.txt);
#                         raw lines "label | tool output | cpu_busy_pct=N", as perfkit's
#                         run-all.sh writes them; the tools' stderr goes to OUT.log
#   ANNAL_PORT [32113]    node port of the first annal node (then +10, +20; replication
#                         ports 1001 below each)
#   BIN [/tmp/perf/bin]   where annal, perfkit's tools and nats-server are built
#   ANNAL                 an annal binary to measure instead of building this
#                         repository's (another build, say)
#   SHARED [../shared]    the shared directory beside the repository (perfkit inside)
#
# Installs what is missing: etcd-server and etcd-client (apt-get), nats-server
# v2.15.2 (go install, into BIN). Stops every process it started and removes
# its temporary directory on any exit.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
PERFKIT=$SHARED/perfkit
BIN=${BIN:-/tmp/perf/bin}
RUNS=${RUNS:-1}
DUR=${DUR:-10s}
FAILOVER_DUR=${FAILOVER_DUR:-12s}
NATS_FAILOVER_DUR=${NATS_FAILOVER_DUR:-20s}
KILL_AFTER=${KILL_AFTER:-4s}
ANNAL_PORT=${ANNAL_PORT:-32113}
OUT=${OUT:-/tmp/perf/results/perf-$(date -u +%Y%m%dT%H%M%SZ).txt}
NATS_VERSION=v2.15.2

die() { echo "perf.sh: $*" >&2; exit 1; }
say() { echo "perf.sh: $*" >&2; }

[ -d "$PERFKIT" ] || die "perfkit not found at $PERFKIT; set SHARED to the shared directory that holds perfkit/"
case $RUNS in '' | *[!0-9]* | 0) die "RUNS=$RUNS: give a whole number of runs, 1 or more" ;; esac
case $ANNAL_PORT in '' | *[!0-9]*) die "ANNAL_PORT=$ANNAL_PORT is not a port number" ;; esac
{ [ "$ANNAL_PORT" -ge 1100 ] && [ "$ANNAL_PORT" -le 65500 ]; } || die "ANNAL_PORT=$ANNAL_PORT: give 1100 to 65500, so that every node and replication port is valid"
PERFKIT=$(cd "$PERFKIT" && pwd)
mkdir -p "$BIN" "$(dirname "$OUT")" /tmp/perf || die "cannot create $BIN or $(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
LOG=$OUT.log
export ETCDCTL_API=3

# --- build and install -------------------------------------------------------

if [ -n "${ANNAL:-}" ]; then
  [ -x "$ANNAL" ] || die "ANNAL=$ANNAL is not an executable file"
  say "measuring $ANNAL; building perfkit into $BIN"
else
  say "building annal and perfkit into $BIN"
  (cd "$ROOT" && go build -o "$BIN/annal" ./cmd/annal) || die "building annal failed"
  ANNAL=$BIN/annal
fi
(cd "$PERFKIT" && go build -o "$BIN/" ./...) || die "building perfkit failed"

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  say "installing etcd-server and etcd-client"
  SUDO=
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server etcd-client >/dev/null ||
    die "installing etcd failed; install etcd-server and etcd-client, then run again"
  # Debian's package starts a system etcd on the default ports; the
  # perf clusters use their own ports, so it may stay.
fi
if [ ! -x "$BIN/nats-server" ]; then
  say "installing nats-server $NATS_VERSION into $BIN"
  GOBIN=$BIN go install "github.com/nats-io/nats-server/v2@$NATS_VERSION" || die "installing nats-server failed"
fi

# --- processes and clean-up --------------------------------------------------

WORK=$(mktemp -d /tmp/perf/annal-perf.XXXXXX) || die "cannot create a temporary directory under /tmp/perf"
ETCD_BASE=$WORK/etcd
NATS_BASE=$WORK/nats
ANNAL_DIR=$WORK/annal
EPS=127.0.0.1:$ANNAL_PORT,127.0.0.1:$((ANNAL_PORT + 10)),127.0.0.1:$((ANNAL_PORT + 20))
ETCD_EPS=http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793
NATS_URLS=nats://127.0.0.1:4221,nats://127.0.0.1:4222,nats://127.0.0.1:4223

etcd_ctl() { BASE=$ETCD_BASE "$PERFKIT/etcd-cluster.sh" "$@"; }
nats_ctl() { BASE=$NATS_BASE NATS=$BIN/nats-server "$PERFKIT/nats-cluster.sh" "$@"; }

# The nodes are disowned children: the shell still reaps them, but says
# nothing when failover mode kills one.
annal_alive() { # pids...: prints those still running
  local p
  for p in "$@"; do kill -0 "$p" 2>/dev/null && echo "$p"; done
}

annal_stop() {
  [ -s "$ANNAL_DIR/pids" ] || return 0
  local pids p
  pids=$(cut -d= -f2 "$ANNAL_DIR/pids")
  # A stopped node must run again to hear SIGTERM.
  for p in $pids; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
  # A node that has not stopped gracefully in 15 s is killed.
  for _ in $(seq 150); do
    [ -z "$(annal_alive $pids)" ] && break
    sleep 0.1
  done
  for p in $(annal_alive $pids); do
    say "annal pid $p did not stop in 15 s after SIGTERM; killing it"
    kill -KILL "$p" 2>/dev/null
  done
  for _ in $(seq 50); do
    [ -z "$(annal_alive $pids)" ] && break
    sleep 0.1
  done
  : >"$ANNAL_DIR/pids"
}

cleanup() {
  trap - EXIT INT TERM
  annal_stop
  etcd_ctl stop >/dev/null 2>&1
  nats_ctl stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say "interrupted; cleaning up"; exit 130' INT TERM

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ports_free() { # what port...
  local what=$1 p
  shift
  for p in "$@"; do
    port_busy "$p" && die "port $p, needed by $what, is in use on 127.0.0.1; stop what listens there (another perf run?) and run again"
  done
  return 0
}

annal_start() {
  local i np rp seeds j
  ports_free annal $ANNAL_PORT $((ANNAL_PORT + 10)) $((ANNAL_PORT + 20)) \
    $((ANNAL_PORT - 1001)) $((ANNAL_PORT - 991)) $((ANNAL_PORT - 981))
  rm -rf "$ANNAL_DIR"
  mkdir -p "$ANNAL_DIR"
  : >"$ANNAL_DIR/pids"
  for i in 1 2 3; do
    np=$((ANNAL_PORT + 10 * (i - 1)))
    rp=$((np - 1001))
    seeds=
    for j in 1 2 3; do
      [ "$j" = "$i" ] || seeds=$seeds,127.0.0.1:$((ANNAL_PORT + 10 * (j - 1)))
    done
    "$ANNAL" --insecure --node-ip 127.0.0.1 --replication-ip 127.0.0.1 \
      --node-port "$np" --replication-port "$rp" --cluster-size 3 \
      --gossip-seed "${seeds#,}" --discover-via-dns false \
      --db "$ANNAL_DIR/n$i" --log "$ANNAL_DIR/log$i" \
      >"$ANNAL_DIR/n$i.log" 2>&1 &
    echo "127.0.0.1:$np=$!" >>"$ANNAL_DIR/pids"
    disown $!
  done
  # Ready: one leader and two followers in the first node's gossip.
  for _ in $(seq 150); do
    local g
    g=$(curl -sf "http://127.0.0.1:$ANNAL_PORT/gossip" 2>/dev/null)
    if [ "$(grep -o '"state":"Leader"' <<<"$g" | wc -l)" = 1 ] && [ "$(grep -o '"state":"Follower"' <<<"$g" | wc -l)" = 2 ]; then
      return 0
    fi
    sleep 0.2
  done
  say "annal cluster not ready in 30 s; node logs:"
  tail -n 5 "$ANNAL_DIR"/n?.log >&2
  return 1
}

annal_pidmap() { paste -sd, "$ANNAL_DIR/pids"; }

cpu_snap() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat; }

# Labels follow perfkit's run-all.sh (etcd3 put c16, nats3 R3 sync=always
# pub p16, ...), so that its summarize.py reads this file too; no annal
# label says "stream", which summarize.py takes for a TCP stream test.
# run LABEL CMD...: runs CMD, appends "LABEL | last stdout line | cpu_busy_pct=N"
# to OUT (and to this run's list); stderr goes to LOG.
RUNLINES=$WORK/lines.txt
: >"$RUNLINES"
run() {
  local label=$1 t0 i0 t1 i1 busy line rc
  shift
  read -r t0 i0 < <(cpu_snap)
  echo "=== $label: $*" >>"$LOG"
  line=$("$@" 2>>"$LOG" | tail -n 1)
  rc=$?
  # A tool ended by SIGINT or SIGTERM: the run was interrupted, stop here.
  case $rc in 130 | 143) say "interrupted during $label"; exit 130 ;; esac
  read -r t1 i1 < <(cpu_snap)
  busy=$(awk -v t=$((t1 - t0)) -v i=$((i1 - i0)) 'BEGIN{ if (t>0) printf "%.0f", 100*(t-i)/t; else print "?" }')
  [ -n "$line" ] || line="FAILED: $(tail -n 1 "$LOG")"
  echo "$label | $line | cpu_busy_pct=$busy" | tee -a "$OUT" "$RUNLINES" >&2
}

# --- the loads ---------------------------------------------------------------

annal_loads() {
  annal_start || { echo "annal3 start failed | FAILED: see $LOG | cpu_busy_pct=?" | tee -a "$OUT" >&2; return; }
  for c in 1 16 64; do
    run "annal3 append c$c" "$ANNAL" bench append -endpoints "$EPS" -clients "$c" -dur "$DUR"
  done
  run "annal3 read count1 c16" "$ANNAL" bench read -endpoints "$EPS" -clients 16 -count 1 -dur "$DUR"
  run "annal3 read count100 c16" "$ANNAL" bench read -endpoints "$EPS" -clients 16 -count 100 -dur "$DUR"
  run 'annal3 read $all count100 c16' "$ANNAL" bench read -endpoints "$EPS" -clients 16 -from all -count 100 -dur "$DUR"
  annal_stop
  for sig in KILL STOP; do
    annal_start || { echo "annal3 start failed | FAILED: see $LOG | cpu_busy_pct=?" | tee -a "$OUT" >&2; return; }
    sleep 2
    run "annal3 failover SIG$sig" "$ANNAL" bench failover -endpoints "$EPS" -dur "$FAILOVER_DUR" \
      -kill-after "$KILL_AFTER" -interval 10ms -op-timeout 250ms -signal "$sig" -pidmap "$(annal_pidmap)"
    annal_stop
  done
}

etcd_loads() {
  ports_free etcd 23791 23792 23793 23801 23802 23803
  etcd_ctl start3 >/dev/null || { echo "etcd start failed" >&2; etcd_ctl stop >/dev/null 2>&1; return; }
  for c in 1 16 64; do
    run "etcd3 put c$c" "$BIN/etcdbench" -mode put -endpoints "$ETCD_EPS" -clients "$c" -dur "$DUR"
  done
  etcd_ctl stop
  etcd_ctl start3 >/dev/null || { echo "etcd start failed" >&2; etcd_ctl stop >/dev/null 2>&1; return; }
  sleep 2
  run "etcd3 failover" "$BIN/etcdbench" -mode failover -endpoints "$ETCD_EPS" -dur "$FAILOVER_DUR" \
    -kill-after "$KILL_AFTER" -interval 10ms -op-timeout 250ms -pidmap "$(etcd_ctl pidmap)"
  etcd_ctl stop
}

nats_loads() {
  ports_free nats 4221 4222 4223 6221 6222 6223 8221 8222 8223
  nats_ctl start3 always >/dev/null || { echo "nats start failed" >&2; nats_ctl stop >/dev/null 2>&1; return; }
  for p in 1 16 64; do
    run "nats3 R3 sync=always pub p$p" "$BIN/natsbench" -mode pub -urls "$NATS_URLS" -replicas 3 -pubs "$p" -dur "$DUR"
  done
  nats_ctl stop
  nats_ctl start3 always >/dev/null || { echo "nats start failed" >&2; nats_ctl stop >/dev/null 2>&1; return; }
  sleep 2
  run "nats3 sync=always failover" "$BIN/natsbench" -mode failover -urls "$NATS_URLS" -dur "$NATS_FAILOVER_DUR" \
    -kill-after "$KILL_AFTER" -interval 10ms -op-timeout 250ms -pidmap "$(nats_ctl pidmap)"
  nats_ctl stop
}

echo "# run $(date -u +%FT%TZ) scripts/perf.sh RUNS=$RUNS DUR=$DUR FAILOVER_DUR=$FAILOVER_DUR KILL_AFTER=$KILL_AFTER host=$(nproc)cpu" >>"$OUT"
say "results: $OUT (tool stderr: $LOG)"
for r in $(seq 1 "$RUNS"); do
  say "run $r of $RUNS"
  annal_loads
  etcd_loads
  nats_loads
done

# --- the table ---------------------------------------------------------------

TABLE=$OUT.md
python3 - "$RUNLINES" "$RUNS" "$DUR" >"$TABLE" <<'PY'
import re, statistics, sys

path, runs, dur = sys.argv[1], sys.argv[2], sys.argv[3]
rows = {}
for line in open(path):
    parts = [p.strip() for p in line.rstrip("\n").split(" | ")]
    if len(parts) != 3:
        continue
    rows.setdefault(parts[0], []).append(dict(re.findall(r"(\w+)=([0-9.]+)(?=\s|$)", parts[1])))

def med(label, key):
    vals = [float(r[key]) for r in rows.get(label, []) if key in r]
    return statistics.median(vals) if vals else None

def fmt(v, digits):
    return "-" if v is None else f"{v:,.{digits}f}"

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"

print(f"annal against etcd and NATS JetStream on this machine: 3 nodes each on loopback, "
      f"256-byte writes, median of {runs} run(s) of {dur} per load.")
print("Throughput ratio > 1: annal does more; latency and gap ratio < 1: annal is quicker.")
print()
print("| workload | metric | annal | etcd | NATS R3 sync=always | annal/etcd | annal/NATS |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for c in (1, 16, 64):
    a, e, n = f"annal3 append c{c}", f"etcd3 put c{c}", f"nats3 R3 sync=always pub p{c}"
    for metric, ka, ke, kn, d in (("writes/s", "ops_per_s", "ops_per_s", "msgs_per_s", 0),
                                  ("p50 ms", "p50_ms", "p50_ms", "p50_ms", 2),
                                  ("p99 ms", "p99_ms", "p99_ms", "p99_ms", 2)):
        va, ve, vn = med(a, ka), med(e, ke), med(n, kn)
        print(f"| append, {c} client(s) | {metric} | {fmt(va, d)} | {fmt(ve, d)} | {fmt(vn, d)} | {ratio(va, ve)} | {ratio(va, vn)} |")
for label, what in (("annal3 read count1 c16", "read 1 event of a stream, 16 clients"),
                    ("annal3 read count100 c16", "read 100 events of a stream, 16 clients"),
                    ("annal3 read $all count100 c16", "read 100 events of $all, 16 clients")):
    for metric, key, d in (("reads/s", "reads_per_s", 0), ("events/s", "events_per_s", 0),
                           ("p50 ms", "p50_ms", 2), ("p99 ms", "p99_ms", 2)):
        print(f"| {what} | {metric} | {fmt(med(label, key), d)} | - | - | - | - |")
for sig, peers in (("SIGKILL", True), ("SIGSTOP", False)):
    a = f"annal3 failover {sig}"
    e, n = ("etcd3 failover", "nats3 sync=always failover") if peers else (None, None)
    for metric, key in (("signal to first ack ms", "kill_to_first_ack_ms"), ("max gap between acks ms", "max_ack_gap_ms")):
        va = med(a, key)
        ve = med(e, key) if e else None
        vn = med(n, key) if n else None
        print(f"| leader failover, {sig} | {metric} | {fmt(va, 0)} | {fmt(ve, 0)} | {fmt(vn, 0)} | {ratio(va, ve)} | {ratio(va, vn)} |")
failed = [l for l, rs in rows.items() if any(not r for r in rs)]
if failed:
    print()
    print("Loads that printed no figures: " + ", ".join(failed) + " (see the .log beside the results file).")
PY
echo
cat "$TABLE"
echo
say "raw lines: $OUT; table: $TABLE; tool stderr: $LOG"
say "perfkit's summary of every run in the file: python3 $PERFKIT/summarize.py $OUT"
