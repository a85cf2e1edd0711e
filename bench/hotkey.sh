#!/usr/bin/env bash
# Client-side caching on a hot key: one key read by GOROUTINES goroutines
# through one rueidis client, with the client's cache off (every GET goes to
# the server) and on (DoCache: the server tracks the key, the client serves
# reads locally until an invalidation arrives). Against a standalone Granary
# and, for reference, a redis-server, alternating for ROUNDS rounds; prints
# the median reads/s of each mode and the ratio cache / no cache (target for
# Granary: at least 10). A third series reads through Granary's own Go
# client (granary/client Get, Options.Cache) against the same Granary.
#
# The client is bench/hotkey (Go, rueidis with ForceSingleClient so that both
# servers see the same client), built into the work directory.
#
# Environment (defaults in brackets):
#   GOROUTINES  concurrent readers [50]
#   DURATION    measured seconds per mode and round [5]
#   ROUNDS      rounds per server [3]
#   SIZE        value size in bytes [100]
#   GRANARY_ARGS, REDIS_ARGS  extra server flags; GRANARY_BIN [bin/granary]
#
# Quick run: DURATION=2 ROUNDS=1 bench/hotkey.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

GOROUTINES=${GOROUTINES:-50}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-100}

need "$REDIS_SERVER" "$REDIS_CLI" go awk
ensure_granary
HOTKEY=$(build_helper hotkey)

RESULTS=$WORKDIR/results.tsv # server mode round ops hits
: >"$RESULTS"
FAILED=()

start_redis
start_granary

# run_one SERVER ROUND: both modes against one server.
run_one() {
  local s=$1 r=$2 port pid logf out rc=0 api=rueidis
  if [[ $s == redis ]]; then
    port=$REDIS_PORT pid=$REDIS_PID logf=$REDIS_LOG
  else
    port=$GRANARY_PORT pid=$GRANARY_PID logf=$GRANARY_LOG
  fi
  [[ $s == granary/client ]] && api=granary
  out=$WORKDIR/${s//\//-}-r$r.out
  run_wait "$HOTKEY" -api "$api" -addr "127.0.0.1:$port" -goroutines "$GOROUTINES" -duration "${DURATION}s" \
    -size "$SIZE" >"$out" 2>&1 || rc=$?
  if ((rc != 0)); then
    KEEP_WORKDIR=1
    FAILED+=("$s round $r: hotkey exit $rc: $(tr '\n' ' ' <"$out" | cut -c1-300)")
  fi
  if ! alive "$pid"; then
    server_died "$s" "$pid" "$logf"
    FAILED+=("$s round $r: server died")
  fi
  awk -v s="$s" -v r="$r" '$2 == "ops/s" { print s, $1, r, $3, $5 }' OFS='\t' "$out" >>"$RESULTS"
  log "$s round $r: $(awk '$2 == "ops/s" { printf "%s %.0f/s  ", $1, $3 }' "$out")"
}

log "hotkey: goroutines=$GOROUTINES duration=${DURATION}s rounds=$ROUNDS size=$SIZE"
for r in $(seq 1 "$ROUNDS"); do
  run_one redis "$r"
  run_one granary "$r"
  run_one granary/client "$r"
done

med_of() {
  awk -F'\t' -v s="$1" -v m="$2" '$1 == s && $2 == m { print $4 }' "$RESULTS" | median
}

echo
echo "Hot key, client-side caching: rueidis and granary/client, $GOROUTINES goroutines reading one key, median of $ROUNDS rounds"
echo "  Redis $("$REDIS_SERVER" --version | awk '{print $3}' | tr -d 'v=') and Granary --procs $GRANARY_PROCS, cores=$(nproc) host=$(uname -n)"
echo "  load average at start: $LOADAVG_START, at end: $(loadavg)"
echo
printf '%-15s %14s %14s %8s\n' server "no cache /s" "cache /s" ratio
for s in redis granary granary/client; do
  nc=$(med_of "$s" nocache) c=$(med_of "$s" cache)
  printf '%-15s %14s %14s %8s\n' "$s" "$(fmt_num "$nc" 0)" "$(fmt_num "$c" 0)" "$(ratio "$c" "$nc")"
done
echo
echo "per-round reads/s (cache hits in the cache mode):"
sort -k1,1 -k2,2 -k3,3n "$RESULTS" | awk -F'\t' '{ printf "  %-15s %-8s round %s  %.0f  (hits %s)\n", $1, $2, $3, $4, $5 }'

if ((${#FAILED[@]} > 0)); then
  echo
  echo "FAILURES:"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
