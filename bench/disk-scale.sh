#!/usr/bin/env bash
# How the disk engine's throughput changes as its data grows: for each size
# in SIZES, a fresh Granary (--engine disk, --disk-sync everysec) loaded with
# that many keys by `granary import`, and a fresh redis-server with AOF
# (appendfsync everysec) loaded with the same keys by `redis-cli --pipe`;
# then the same redis-benchmark run against each (random keys over the whole
# key range, -P 16). Prints ops/s, the ratio, and Granary's data size on disk.
#
# Environment: SIZES [1000000 10000000 50000000]; N requests per test
# [1000000]; CLIENTS [50]; REDIS=0 skips redis-server (Granary alone).
# Quick run: SIZES="100000 1000000" N=200000 bench/disk-scale.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

SIZES=${SIZES:-1000000 10000000 50000000}
N=${N:-1000000}
CLIENTS=${CLIENTS:-50}
REDIS=${REDIS:-1}
need "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI" awk
ensure_granary

bench() { # PORT KEYS: "set_ops get_ops"
  local out
  out=$("$REDIS_BENCHMARK" -h 127.0.0.1 -p "$1" -c "$CLIENTS" -P 16 -t set,get -r "$2" -n "$N" -q --csv 2>/dev/null)
  awk -F, '{ gsub(/"/, "") } $1 == "SET" { s = $2 } $1 == "GET" { g = $2 } END { printf "%.0f %.0f\n", s, g }' <<<"$out"
}

RESULTS=()
for size in $SIZES; do
  csv=$(gen_csv_file "$size")
  GRANARY_ARGS="--engine disk --dir $WORKDIR/g$size --disk-sync everysec" start_granary
  t0=$(date +%s)
  "$GRANARY_BIN" import --quiet --addr "127.0.0.1:$GRANARY_PORT" "$csv" >&2
  log "granary: $size keys imported in $(($(date +%s) - t0)) s"
  read -r gs gg < <(bench "$GRANARY_PORT" "$size")
  gdisk=$(du -sm "$WORKDIR/g$size" | cut -f1)
  grss=$(rss_kb "$GRANARY_PID" VmRSS)
  stop_pid "$GRANARY_PID"
  rs=NA rg=NA rrss=NA
  if [[ $REDIS == 1 ]]; then
    REDIS_ARGS="--appendonly yes --appendfsync everysec" start_redis
    "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" --pipe <"$(gen_load_file "$size")" >/dev/null
    read -r rs rg < <(bench "$REDIS_PORT" "$size")
    rrss=$(rss_kb "$REDIS_PID" VmRSS)
    stop_pid "$REDIS_PID"
    rm -f "$WORKDIR"/appendonly* 2>/dev/null || true
    rm -rf "$WORKDIR/appendonlydir" 2>/dev/null || true
  fi
  log "$size keys: granary SET $gs GET $gg ops/s; redis SET $rs GET $rg ops/s"
  RESULTS+=("$size $gs $gg $rs $rg $gdisk $grss $rrss")
done

echo
echo "disk engine at growing sizes: random keys over the whole range, -P 16 -c $CLIENTS -n $N, cores=$(nproc)"
echo "  redis-server with appendonly yes, appendfsync everysec; granary --engine disk --disk-sync everysec"
printf '%12s %12s %12s %12s %12s %7s %7s %9s %9s %9s\n' keys "g SET/s" "g GET/s" "r SET/s" "r GET/s" "SET x" "GET x" "g disk MB" "g RSS MB" "r RSS MB"
for row in "${RESULTS[@]}"; do
  read -r size gs gg rs rg gdisk grss rrss <<<"$row"
  printf '%12s %12s %12s %12s %12s %7s %7s %9s %9s %9s\n' "$size" "$gs" "$gg" "$rs" "$rg" \
    "$(ratio "$gs" "$rs")" "$(ratio "$gg" "$rg")" "$gdisk" "$((grss / 1024))" \
    "$([[ $rrss == NA ]] && echo NA || echo $((rrss / 1024)))"
done
