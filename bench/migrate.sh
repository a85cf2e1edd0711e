#!/usr/bin/env bash
# Scaling out under load: a 3-master Redis Cluster and a Granary cluster of
# one config server and 3 data servers (copies 1 on both: the same data, the
# same moves), each loaded with the same data; then a fourth node joins and
# the buckets (slots) are rebalanced onto it while a client measures latency.
#
# Redis: redis-cli --cluster add-node, then
#        redis-cli --cluster rebalance --cluster-use-empty-masters
#        (key by key with MIGRATE, --cluster-pipeline $REDIS_PIPELINE).
# Granary: granary data (joins by --auto-add), then granary ctl rebalance --wait
#        (learners fed with snapshots and the log, flipped in; --move-rate
#        $MOVE_RATE per link).
#
# Printed per cluster: data moved (the new node's used_memory afterwards),
# migration time and MB/s, and the client's p99 before and during the move
# (bench/latency: go-redis ClusterClient, RATE ops/s, 10% SETs) with their
# ratio (target for Granary: p99 during <= 3 x before), plus errors the
# client saw after go-redis' own retries. Then Granary/Redis ratios.
#
# Environment (defaults in brackets):
#   DATA_MB    data loaded, MB of values [4096]: a quarter of it moves
#   VALUE      bytes per value [1024]
#   RATE       probe operations per second [2000]
#   BEFORE     seconds of probe before the move [15]
#   MOVE_RATE  granary data --move-rate [8mb per peer: 24 MB/s into the new
#              node from the three; 0: unlimited, as fast as the machine goes,
#              at the clients' expense]
#   REDIS_PIPELINE  keys per MIGRATE of redis-cli --cluster rebalance [10]
#   BEFORE_SLOW_MS  also record the probe's operations slower than this before
#              the move (during the move: always, over 3 x p99 before) []
#   CLUSTERS   which clusters run: "redis granary", or one of them alone when
#              looking into one side [redis granary]
#   GRANARY_PROCS, GRANARY_ARGS, REDIS_ARGS, GRANARY_BIN: see lib.sh
#
# Quick run: DATA_MB=256 bench/migrate.sh (a smoke test; use >= 4096 for the
# issue's 1 GB moved).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
# The shared cluster helpers read these; this script runs no redis-benchmark
# comparison of its own.
N=${N:-0} CLIENTS=${CLIENTS:-50} PIPELINE=${PIPELINE:-16} KEYSPACE=${KEYSPACE:-0}
TESTS=${TESTS:-set} ROUNDS=${ROUNDS:-2} ENTRY=${ENTRY:-config} TIMEOUT=${TIMEOUT:-1800}
WARMUP=0 PROBE_TIMEOUT=${PROBE_TIMEOUT:-30}
# shellcheck source=bench/cluster_lib.sh
source "$(dirname "$0")/cluster_lib.sh"

DATA_MB=${DATA_MB:-4096}
VALUE=${VALUE:-1024}
RATE=${RATE:-2000}
BEFORE=${BEFORE:-15}
MOVE_RATE=${MOVE_RATE:-8mb}
REDIS_PIPELINE=${REDIS_PIPELINE:-10}
CLUSTERS=${CLUSTERS:-redis granary}
KEYS=$((DATA_MB * 1024 * 1024 / VALUE))

LATENCY_BIN=$(build_helper latency)

# load P: KEYS keys key:000000000000.. with VALUE-byte values, every one
# written once, spread over every bucket (redis-benchmark --cluster puts a
# hash tag in its keys, which would pile each node's keys into one slot).
WRITER_BIN=$(build_helper writer)
load() {
  local -n _entry=${1}_ENTRY
  log "loading $KEYS keys of $VALUE bytes into ${1,,}"
  run_wait timeout "$TIMEOUT" "$WRITER_BIN" -addr "127.0.0.1:$_entry" -n "$KEYS" -seq -size "$VALUE" \
    >"$WORKDIR/load-$1.log" 2>&1 || die "loading ${1,,} failed: $(tail -3 "$WORKDIR/load-$1.log")"
}

# used_mb PORT: used_memory of the node at PORT, in MB.
used_mb() {
  cli "$1" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { printf "%.0f", $2 / 1048576 }'
}

# probe P SECONDS OUT [SLOW_MS]: the latency probe against cluster P for
# SECONDS (0: until killed), its line in OUT; with SLOW_MS, the operations
# slower than that in OUT.slow.
probe() {
  local -n _entry=${1}_ENTRY
  local d=$2s slow=()
  [[ $2 == 0 ]] && d=24h
  [[ -n ${4:-} ]] && slow=(-slow "$3.slow" -slow-ms "$4")
  # exec: the pid the caller gets is the probe's own, for its SIGTERM.
  exec "$LATENCY_BIN" -addr "127.0.0.1:$_entry" -range "$KEYS" -rate "$RATE" -size "$VALUE" -d "$d" "${slow[@]}" >"$3" 2>"$3.err"
}

# measure P NAME CMD...: probe before, then CMD (the move) with the probe
# running; records the figures under NAME.
declare -A MOVED SECS P99B P99D ERRB ERRD
measure() {
  local p=$1 name=$2 t0 t1 pid
  shift 2
  log "$name: $BEFORE s of probe before the move"
  (probe "$p" "$BEFORE" "$WORKDIR/$name-before.txt" "${BEFORE_SLOW_MS:-}")
  # Operations slower than 3 x p99 before: what breaks the target.
  local slow
  slow=$(awk -v p="$(field p99_ms "$WORKDIR/$name-before.txt")" 'BEGIN { printf "%.3f", 3 * p }')
  probe "$p" 0 "$WORKDIR/$name-during.txt" "$slow" &
  pid=$!
  sleep 1
  t0=$(date +%s.%N)
  "$@" >"$WORKDIR/$name-move.log" 2>&1 || { KEEP_WORKDIR=1; tail "$WORKDIR/$name-move.log" >&2; die "$name: the move failed"; }
  t1=$(date +%s.%N)
  kill -TERM "$pid" && wait "$pid" || true
  SECS[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  P99B[$name]=$(field p99_ms "$WORKDIR/$name-before.txt") ERRB[$name]=$(field errors "$WORKDIR/$name-before.txt")
  P99D[$name]=$(field p99_ms "$WORKDIR/$name-during.txt") ERRD[$name]=$(field errors "$WORKDIR/$name-during.txt")
  log "$name: moved in ${SECS[$name]} s; before: $(cat "$WORKDIR/$name-before.txt"); during: $(cat "$WORKDIR/$name-during.txt")"
  log "$name: slower than $slow ms during the move: $(tail_report "$WORKDIR/$name-during.txt")"
}

redis_move() {
  local new=$1
  "$REDIS_CLI" --cluster add-node "127.0.0.1:$new" "127.0.0.1:$REDIS_ENTRY" >/dev/null || return 1
  # The new master must know the cluster (gossip) before slots move to it.
  for _ in $(seq 1 300); do
    cluster_ok "$new" && [[ $(cli "$REDIS_ENTRY" CLUSTER NODES | grep -c master) == 4 ]] && break
    sleep 0.1
  done
  "$REDIS_CLI" --cluster rebalance "127.0.0.1:$REDIS_ENTRY" --cluster-use-empty-masters \
      --cluster-pipeline "$REDIS_PIPELINE"
}

granary_move() {
  gctl GRANARY rebalance --wait -q --max-wait 1h
}

run_redis() {
  start_redis_cluster 3
  load REDIS
  start_redis_node
  REDIS_NEW=${REDIS_PORTS[3]}
  measure REDIS redis redis_move "$REDIS_NEW"
  MOVED[redis]=$(used_mb "$REDIS_NEW")
  for pid in "${REDIS_PIDS[@]}"; do stop_pid "$pid"; done
}

run_granary() {
  if [[ $MOVE_RATE != 0 ]]; then GRANARY_ARGS="$GRANARY_ARGS --move-rate $MOVE_RATE"; fi
  start_granary_cluster GRANARY granary 1 0
  probe_cluster GRANARY
  load GRANARY
  start_granary_data GRANARY z1 0
  GRANARY_NEW=${GRANARY_PORTS[3]}
  # It joins by --auto-add: wait until the config server lists it up.
  for _ in $(seq 1 100); do
    gctl GRANARY nodes | grep -q "127.0.0.1:$GRANARY_NEW .* up " && break
    sleep 0.2
  done
  measure GRANARY granary granary_move
  MOVED[granary]=$(used_mb "$GRANARY_NEW")
  sed 's/^/  /' "$WORKDIR/granary-move.log" >&2
}

for c in $CLUSTERS; do
  case $c in
  redis) run_redis ;;
  granary) run_granary ;;
  *) die "CLUSTERS: unknown cluster $c" ;;
  esac
done

echo
printf 'Scaling out 3 -> 4 nodes under load: %d keys x %d bytes (%d MB), probe %d ops/s, load average %s\n' \
  "$KEYS" "$VALUE" "$DATA_MB" "$RATE" "$(loadavg)"
printf '%-8s %10s %8s %8s %12s %12s %8s %14s\n' cluster "moved MB" seconds "MB/s" "p99 before" "p99 during" ratio "errors b/d"
for c in $CLUSTERS; do
  mbs=$(awk -v m="${MOVED[$c]}" -v s="${SECS[$c]}" 'BEGIN { printf "%.1f", (s > 0 ? m / s : 0) }')
  r=$(awk -v a="${P99B[$c]}" -v b="${P99D[$c]}" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')
  printf '%-8s %10s %8s %8s %10s ms %10s ms %8s %14s\n' "$c" "${MOVED[$c]}" "${SECS[$c]}" "$mbs" "${P99B[$c]}" "${P99D[$c]}" "$r" "${ERRB[$c]}/${ERRD[$c]}"
done
if [[ -n ${P99B[granary]:-} ]]; then
  gr=$(awk -v a="${P99B[granary]:-0}" -v b="${P99D[granary]:-0}" 'BEGIN { print (a > 0 && b / a <= 3) ? "met" : "NOT met" }')
  printf 'Granary p99 during / before <= 3: %s\n' "$gr"
fi
if [[ -n ${SECS[granary]:-} && -n ${SECS[redis]:-} ]]; then
  printf 'Granary/Redis: migration time %s, MB/s %s\n' \
    "$(awk -v g="${SECS[granary]:-0}" -v r="${SECS[redis]:-0}" 'BEGIN { printf "%.2f", (r > 0 ? g / r : 0) }')" \
    "$(awk -v g="${MOVED[granary]:-0}" -v gs="${SECS[granary]:-0}" -v r="${MOVED[redis]:-0}" -v rs="${SECS[redis]:-0}" 'BEGIN { printf "%.2f", ((r * gs) > 0 ? (g / gs) / (r / rs) : 0) }')"
fi
