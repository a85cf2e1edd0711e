#!/usr/bin/env bash
# Bulk import into a replicated disk namespace, and what the cluster's other
# clients see meanwhile. A cluster of three data servers (--engine disk,
# copies 2, ack sync) takes N keys from `granary import`, while bench/latency
# (go-redis ClusterClient, RATE ops/s, 10% SETs of 32 bytes) reads and writes
# random keys of the same namespace, first for BEFORE seconds on the idle
# cluster, then during the import. Prints:
#   - the import's time and keys/s;
#   - how often the config servers dropped a copy from the table while it
#     ran ("replicas dropped": a primary stopped hearing from a secondary),
#     the bytes sent on replication links and the catch-ups by kind (a
#     dropped copy comes back by replay of its primary's log, or by snapshot
#     when the log no longer reaches back);
#   - the probe's errors and latency percentiles before and during, with
#     their ratio;
# then reads a sample of the imported keys back. Exits 1 when the import
# fails, a server dies or a key reads back wrong.
#
# Environment: N keys [2000000], RATE probe ops/s [500], BEFORE seconds [5],
# IMPORT_ARGS extra flags for granary import (e.g. --chunk 4194304).
# Quick run: N=500000 bench/import-cluster.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=2
# shellcheck source=bench/cluster_lib.sh
source "$(dirname "$0")/cluster_lib.sh"

N=${N:-2000000}
RATE=${RATE:-500}
BEFORE=${BEFORE:-5}
PROBE_RANGE=100000 # the probe's keys: the first ones of the import's, which it may overwrite
((N > 2 * PROBE_RANGE)) || die "N must be above $((2 * PROBE_RANGE))"
export GRANARY_ARGS="${GRANARY_ARGS:-} --engine disk"
GRANARY_PROCS=0
LATENCY_BIN=$(build_helper latency)

csv=$(gen_csv_file "$N")

start_granary_cluster G granary 2 1
probe_args=(-addr "127.0.0.1:$G_CFG_RESP" -range "$PROBE_RANGE" -rate "$RATE" -writes 10 -size 32)

log "probe on the idle cluster, ${BEFORE}s"
"$LATENCY_BIN" "${probe_args[@]}" -d "${BEFORE}s" >"$WORKDIR/probe-before.txt" 2>&1 || die "probe failed: $(tail -3 "$WORKDIR/probe-before.txt")"
drops0=$(grep -c "replicas dropped" "$G_CFG_LOG" || true)
sent0=$(metric_sum G granary_repl_sent_bytes_total)
replay0=$(metric_sum G 'granary_repl_catchups_total{kind="replay"}')
snap0=$(metric_sum G 'granary_repl_catchups_total{kind="snapshot"}')
# Operations slower than 100 ms go to probe-during.txt.slow (time, ms, op, slot).
"$LATENCY_BIN" "${probe_args[@]}" -d 1h -slow "$WORKDIR/probe-during.txt.slow" -slow-ms 100 \
  >"$WORKDIR/probe-during.txt" 2>&1 & # until SIGINT
probe_pid=$!
STARTED_PIDS+=("$probe_pid")
sleep 1
t0=$(date +%s%3N)
# shellcheck disable=SC2086 # IMPORT_ARGS is a list of flags
"$GRANARY_BIN" import --quiet --addr "127.0.0.1:$G_CFG_RESP" ${IMPORT_ARGS:-} "$csv" >&2 || die "import failed"
ms=$(($(date +%s%3N) - t0))
kill -INT "$probe_pid"
wait "$probe_pid" || die "probe failed: $(tail -3 "$WORKDIR/probe-during.txt")"
log "imported $N keys in $ms ms; waiting for every copy to catch up"
wait_caught_up G 300
drops=$(($(grep -c "replicas dropped" "$G_CFG_LOG" || true) - drops0))
sent=$(($(metric_sum G granary_repl_sent_bytes_total) - sent0))

bad=0
for i in $((N - 1)) $((N / 2)) $((PROBE_RANGE + 7)); do
  got=$("$REDIS_CLI" -c -h 127.0.0.1 -p "$G_CFG_RESP" GET "$(printf 'key:%012d' "$i")")
  [[ $got == "$(expected_value "$i")" ]] || { log "key $i reads '$got'"; bad=1; }
done

echo
echo "granary import ${IMPORT_ARGS:+$IMPORT_ARGS }of $N keys into a 3-node disk cluster (copies 2, ack sync), probe at $RATE ops/s"
printf '  %-36s %s ms (%s keys/s)\n' "import" "$ms" "$((N * 1000 / (ms > 0 ? ms : 1)))"
printf '  %-36s %s\n' "replicas dropped during the import" "$drops" \
  "replication MB sent" "$((sent / 1000000))" \
  "catch-ups (replay / snapshot)" "$(($(metric_sum G 'granary_repl_catchups_total{kind="replay"}') - replay0)) / $(($(metric_sum G 'granary_repl_catchups_total{kind="snapshot"}') - snap0))"
printf '  %-8s %8s %7s %9s %9s %9s %9s\n' probe ops errors p50_ms p99_ms p999_ms max_ms
for phase in before during; do
  f=$WORKDIR/probe-$phase.txt
  printf '  %-8s %8s %7s %9s %9s %9s %9s\n' "$phase" "$(field ops "$f")" "$(field errors "$f")" \
    "$(field p50_ms "$f")" "$(field p99_ms "$f")" "$(field p999_ms "$f")" "$(field max_ms "$f")"
done
echo "  p99 during / before: $(ratio "$(field p99_ms "$WORKDIR/probe-during.txt")" "$(field p99_ms "$WORKDIR/probe-before.txt")")"
echo "  during, over 100 ms: $(tail_report "$WORKDIR/probe-during.txt")"
((bad == 0)) || die "imported keys read back wrong"
alive_all G || die "a server died"
