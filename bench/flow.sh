#!/usr/bin/env bash
# Flow control under overload: a standalone Granary whose namespace 1 is
# limited to LIMIT ops/s (--flow-limit 1:ops=LIMIT), and CLIENTS go-redis
# clients offering FACTOR times that. The clients back off on THROTTLED
# (exponential backoff with full jitter) and, for comparison, spin (retry at
# once). Prints, per mode, the median over ROUNDS rounds of the ops/s served,
# their ratio to LIMIT (target: within 10% of 1), the THROTTLED replies and
# how many requests a client sent per served one (backoff: a few; spinning:
# many). There is no redis-server run: Redis has no flow control, so the
# reference is the limit itself.
#
# The clients are bench/flow (Go), built into the work directory.
#
# Environment (defaults in brackets):
#   LIMIT     the namespace's limit, ops/s [2000]
#   FACTOR    offered load as a multiple of LIMIT [5]
#   CLIENTS   concurrent clients [20]
#   DURATION  measured seconds per mode and round (after 1 s of warm-up) [5]
#   ROUNDS    rounds [3]
#   MODES     modes to run [backoff spin]
#   GRANARY_ARGS extra server flags; GRANARY_BIN [bin/granary]
#
# Quick run: DURATION=2 ROUNDS=1 bench/flow.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

LIMIT=${LIMIT:-2000}
FACTOR=${FACTOR:-5}
CLIENTS=${CLIENTS:-20}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
MODES=${MODES:-backoff spin}

need "$REDIS_CLI" go awk
ensure_granary
FLOW=$(build_helper flow)

RESULTS=$WORKDIR/results.tsv # mode round served ratio throttled sent_per_served
: >"$RESULTS"
FAILED=()

GRANARY_ARGS="$GRANARY_ARGS --flow-limit 1:ops=$LIMIT"
start_granary

run_one() {
  local mode=$1 r=$2 out rc=0
  out=$WORKDIR/$mode-r$r.out
  run_wait "$FLOW" -addr "127.0.0.1:$GRANARY_PORT" -db 1 -limit "$LIMIT" -offer "$((LIMIT * FACTOR))" \
    -clients "$CLIENTS" -duration "${DURATION}s" -backoff="$([[ $mode == backoff ]] && echo true || echo false)" \
    >"$out" 2>&1 || rc=$?
  if ((rc != 0)); then
    KEEP_WORKDIR=1
    FAILED+=("$mode round $r: flow exit $rc: $(tr '\n' ' ' <"$out" | cut -c1-300)")
  fi
  if ! alive "$GRANARY_PID"; then
    server_died granary "$GRANARY_PID" "$GRANARY_LOG"
    FAILED+=("$mode round $r: server died")
  fi
  awk -v m="$mode" -v r="$r" '
    $1 == "served_ops/s" { s = $2 } $1 == "served/limit" { q = $2 }
    $1 == "throttled" { t = $2 } $1 == "sent_per_served" { p = $2 }
    END { print m, r, s, q, t, p }' OFS='\t' "$out" >>"$RESULTS"
  log "$mode round $r: $(tr '\n' ' ' <"$out")"
}

log "flow: limit=$LIMIT/s offered=$((LIMIT * FACTOR))/s clients=$CLIENTS duration=${DURATION}s rounds=$ROUNDS"
for r in $(seq 1 "$ROUNDS"); do
  for m in $MODES; do
    run_one "$m" "$r"
  done
done

med_of() {
  awk -F'\t' -v m="$1" -v c="$2" '$1 == m { print $c }' "$RESULTS" | median
}

echo
echo "Flow control: namespace limited to $LIMIT ops/s, $CLIENTS go-redis clients offering $((LIMIT * FACTOR))/s ($FACTOR x), median of $ROUNDS rounds of ${DURATION}s"
echo "  Granary --procs $GRANARY_PROCS, cores=$(nproc) host=$(uname -n)"
echo "  load average at start: $LOADAVG_START, at end: $(loadavg)"
echo
printf '%-8s %12s %14s %12s %16s\n' clients "served /s" "served/limit" "throttled" "sent per served"
for m in $MODES; do
  printf '%-8s %12s %14s %12s %16s\n' "$m" "$(fmt_num "$(med_of "$m" 3)" 0)" "$(fmt_num "$(med_of "$m" 4)" 3)" \
    "$(fmt_num "$(med_of "$m" 5)" 0)" "$(fmt_num "$(med_of "$m" 6)" 2)"
done
echo
echo "per round:"
sort -k1,1 -k2,2n "$RESULTS" | awk -F'\t' '{ printf "  %-8s round %s  served %s/s  served/limit %s  throttled %s  sent/served %s\n", $1, $2, $3, $4, $5, $6 }'

if ((${#FAILED[@]} > 0)); then
  echo
  echo "FAILURES:"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
