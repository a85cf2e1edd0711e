#!/usr/bin/env bash
# Throughput of Granary against redis-server on the same machine, same run.
#
# Starts a redis-server (no persistence) and a standalone Granary on free
# loopback ports and runs the same redis-benchmark workloads against each,
# alternating redis, granary, redis, granary, ... for ROUNDS rounds, then prints
# the median ops/s and p50/p99 latency of each and the Granary/Redis ratio.
#
#   redis-benchmark -c 50 -P 16 -t set,get -r 1000000 -n $N  --csv
#   redis-benchmark -c 50 -P 1  -t set,get -r 1000000 -n $N1 --csv
#
# Environment (defaults in brackets):
#   N         requests per test with -P 16 [2000000]
#   N1        requests per test with -P 1 [500000, or N if N is smaller]
#   CLIENTS   connections (-c) [50]
#   KEYSPACE  random key range (-r) [1000000]
#   TESTS     redis-benchmark -t list [set,get]
#   PIPELINES pipeline depths to run [16 1]
#   ROUNDS    rounds per server, at least 2 [3]
#   PIN       none | split [none] (see below)
#   TIMEOUT   seconds before a single redis-benchmark run is abandoned [600]
#   WARMUP    1: one unrecorded short -P 16 run against each server first [1]
#   GRANARY_ARGS, REDIS_ARGS  extra server flags; GRANARY_BIN [bin/granary]
#   TLS       1: both servers serve TLS only, the client connects with TLS [0]
#
# Quick run: N=200000 ROUNDS=2 bench/throughput.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-2000000}
N1=${N1:-$((N < 500000 ? N : 500000))}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-1000000}
TESTS=${TESTS:-set,get}
PIPELINES=${PIPELINES:-16 1}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-none}
TIMEOUT=${TIMEOUT:-600}
WARMUP=${WARMUP:-1}

((ROUNDS >= 2)) || die "ROUNDS must be at least 2"

# CPU pinning. This machine has 2 cores. Redis executes commands on one thread;
# Granary is a multi-threaded Go server. Pinning each server to one core would
# cap Granary at one core and leave Redis unchanged, so it would not compare the
# servers as deployed; pinning the client away from the server matters little
# when the server may use every core anyway. The default, PIN=none, therefore
# pins nothing: both servers and redis-benchmark (single-threaded) share both
# cores under the kernel scheduler, identically for Redis and Granary, and only
# one server is under load at a time (the idle one only sleeps). PIN=split puts
# both servers on core 0 and redis-benchmark on core 1: a per-core comparison
# where the client never steals server CPU.
case $PIN in
none) ;;
split)
  need taskset
  PIN_SERVER=(taskset -c 0)
  PIN_CLIENT=(taskset -c 1)
  ;;
*) die "PIN must be none or split" ;;
esac

need "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI" timeout awk
ensure_granary

RESULTS=$WORKDIR/results.tsv # server pipeline test round rps p50 p99
: >"$RESULTS"
FAILED=()

setup_tls
start_redis
start_granary

# Both servers must store and return a value before the figures mean anything
# (redis-benchmark counts error replies as answers in some versions).
for s in redis granary; do
  if [[ $s == redis ]]; then port=$REDIS_PORT; else port=$GRANARY_PORT; fi
  cli "$port" SET bench:probe hello >/dev/null || die "$s: SET probe failed"
  got=$(cli "$port" GET bench:probe)
  [[ $got == hello ]] || die "$s: SET/GET probe returned '$got'"
  cli "$port" DEL bench:probe >/dev/null || true
done

# run_one SERVER PIPELINE ROUND: one redis-benchmark run, results appended.
run_one() {
  local s=$1 p=$2 r=$3 port pid logf n out rc=0
  if [[ $s == redis ]]; then
    port=$REDIS_PORT pid=$REDIS_PID logf=$REDIS_LOG
  else
    port=$GRANARY_PORT pid=$GRANARY_PID logf=$GRANARY_LOG
  fi
  if ((p == 1)); then n=$N1; else n=$N; fi
  if ! alive "$pid"; then
    FAILED+=("$s P$p round $r: server not running")
    return 0
  fi
  out=$WORKDIR/$s-P$p-r$r.csv
  run_wait timeout "$TIMEOUT" "${PIN_CLIENT[@]}" "$REDIS_BENCHMARK" "${TLS_CLI_ARGS[@]}" -h 127.0.0.1 -p "$port" \
    -c "$CLIENTS" -P "$p" -t "$TESTS" -r "$KEYSPACE" -n "$n" -q --csv \
    >"$out" 2>"$out.err" || rc=$?
  if ((rc != 0)); then
    KEEP_WORKDIR=1
    FAILED+=("$s P$p round $r: redis-benchmark exit $rc: $(tr '\n' ' ' <"$out.err" | cut -c1-300)")
    log "$s P$p round $r: redis-benchmark failed (exit $rc)"
    cat "$out.err" >&2
  fi
  if ! alive "$pid"; then
    server_died "$s" "$pid" "$logf"
    FAILED+=("$s P$p round $r: server died")
  fi
  # "SET","666666.62","1.087","0.432","0.975","1.855","2.831","5.095"
  # Columns are found by header name, so older or newer layouts still parse.
  awk -F, -v s="$s" -v p="$p" -v r="$r" '
    { for (i = 1; i <= NF; i++) gsub(/"/, "", $i) }
    $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 != "" && $2 ~ /^[0-9.]+$/ {
      p50 = ("p50_latency_ms" in col) ? $col["p50_latency_ms"] : "NA"
      p99 = ("p99_latency_ms" in col) ? $col["p99_latency_ms"] : "NA"
      print s, p, $1, r, $2, p50, p99
    }' OFS='\t' "$out" >>"$RESULTS"
  log "$s P$p round $r: $(awk -F'\t' -v s="$s" -v p="$p" -v r="$r" \
    '$1 == s && $2 == p && $4 == r { printf "%s %.0f ops/s p99 %s ms  ", $3, $5, $7 }' "$RESULTS")"
}

# Warm-up, not recorded: the first run against a fresh process pays for page
# faults and hash-table growth; give both servers the same warm-up.
if [[ $WARMUP == 1 ]]; then
  for port in "$REDIS_PORT" "$GRANARY_PORT"; do
    run_wait timeout "$TIMEOUT" "${PIN_CLIENT[@]}" "$REDIS_BENCHMARK" "${TLS_CLI_ARGS[@]}" -h 127.0.0.1 -p "$port" \
      -c "$CLIENTS" -P 16 -t "$TESTS" -r "$KEYSPACE" -n "$((N < 200000 ? N : 200000))" -q --csv \
      >/dev/null 2>&1 || log "warm-up against port $port failed"
  done
fi

log "throughput: N=$N (P16) N1=$N1 (P1) c=$CLIENTS r=$KEYSPACE tests=$TESTS rounds=$ROUNDS pin=$PIN"
for p in $PIPELINES; do
  for r in $(seq 1 "$ROUNDS"); do
    run_one redis "$p" "$r"
    run_one granary "$p" "$r"
  done
done

# med_of SERVER PIPELINE TEST COLUMN: median over rounds (5 rps, 6 p50, 7 p99).
med_of() {
  awk -F'\t' -v s="$1" -v p="$2" -v t="$3" -v c="$4" \
    '$1 == s && $2 == p && $3 == t && $c != "NA" { print $c }' "$RESULTS" | median
}

echo
echo "Granary vs Redis $("$REDIS_SERVER" --version | awk '{print $3}' | tr -d 'v=') throughput, median of $ROUNDS alternating rounds"
echo "  clients=$CLIENTS keyspace=$KEYSPACE pin=$PIN tls=$TLS cores=$(nproc) host=$(uname -n)"
echo "  load average at start: $LOADAVG_START, at end: $(loadavg)"
echo "  ratio = granary / redis (ops/s: higher is better; latency: lower is better)"
echo
printf '%-12s %12s %13s %6s | %8s %8s %6s | %8s %8s %6s\n' \
  workload "redis ops/s" "granary ops/s" ratio "r p50ms" "g p50ms" ratio "r p99ms" "g p99ms" ratio
printf -v rule '%*s' 102 ''
echo "${rule// /-}"
for p in $PIPELINES; do
  if ((p == 1)); then n=$N1; else n=$N; fi
  while read -r t; do
    rr=$(med_of redis "$p" "$t" 5) gr=$(med_of granary "$p" "$t" 5)
    r50=$(med_of redis "$p" "$t" 6) g50=$(med_of granary "$p" "$t" 6)
    r99=$(med_of redis "$p" "$t" 7) g99=$(med_of granary "$p" "$t" 7)
    printf '%-12s %12s %13s %6s | %8s %8s %6s | %8s %8s %6s\n' \
      "$t P$p" "$(fmt_num "$rr" 0)" "$(fmt_num "$gr" 0)" "$(ratio "$gr" "$rr")" \
      "$(fmt_num "$r50" 3)" "$(fmt_num "$g50" 3)" "$(ratio "$g50" "$r50")" \
      "$(fmt_num "$r99" 3)" "$(fmt_num "$g99" 3)" "$(ratio "$g99" "$r99")"
  done < <(awk -F'\t' -v p="$p" '$2 == p && !seen[$3]++ { print $3 }' "$RESULTS")
  echo "  (P$p: -n $n per test)"
done
echo
echo "per-round ops/s:"
for p in $PIPELINES; do
  for s in redis granary; do
    awk -F'\t' -v s="$s" -v p="$p" '$1 == s && $2 == p { v[$3] = v[$3] sprintf(" %.0f", $5) }
      END { for (t in v) printf "  %-8s %-4s P%-3s%s\n", s, t, p, v[t] }' "$RESULTS" | sort
  done
done

if ((${#FAILED[@]} > 0)); then
  echo
  echo "FAILURES:"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
