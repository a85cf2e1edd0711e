#!/usr/bin/env bash
# Resident memory per key and GET latency on a large data set, Granary against
# redis-server on the same machine, same run.
#
# Phase 1 (memory): starts a fresh redis-server (no persistence) and a fresh
# standalone Granary, loads the same N keys into each with redis-cli --pipe
# (keys key:000000000000.., 16 bytes; values 32 bytes), checks DBSIZE == N and
# a few values, and reports VmRSS before and after loading, peak RSS (VmHWM),
# bytes per key ((after - before) / N) and the Granary/Redis ratios.
#
# Phase 2 (latency): fresh servers again, LATENCY_KEYS keys loaded into each,
# then, alternating redis, granary, ... for LAT_ROUNDS rounds:
#   redis-benchmark -c 50 -P 1 -t get -r $LATENCY_KEYS -n $LAT_N --csv
# (every GET hits: redis-benchmark's key:__rand_int__ is key:%012d, the loaded
# keys) and reports the median GET p99 (and p50, ops/s) and the ratios.
#
# The RESP files are generated once per key count in LOAD_DIR (default /tmp,
# 75 bytes per key: 750 MB for 10,000,000) and reused by later runs.
#
# Environment (defaults in brackets):
#   N             keys for phase 1 [1000000]
#   LATENCY_KEYS  keys for phase 2, 0 skips it [10000000]
#   LAT_N         GET requests per round [500000]
#   LAT_CLIENTS   connections [50]
#   LAT_ROUNDS    rounds per server [2]
#   SETTLE        seconds to wait before reading RSS [3]
#   LOAD_DIR      where the RESP files go [/tmp]
#   GRANARY_ARGS, REDIS_ARGS  extra server flags; GRANARY_BIN [bin/granary]
#
# Quick run: N=200000 LATENCY_KEYS=1000000 bench/memory.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-1000000}
LATENCY_KEYS=${LATENCY_KEYS:-10000000}
LAT_N=${LAT_N:-500000}
LAT_CLIENTS=${LAT_CLIENTS:-50}
LAT_ROUNDS=${LAT_ROUNDS:-2}
SETTLE=${SETTLE:-3}
TIMEOUT=${TIMEOUT:-900}

need "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI" timeout awk stat
ensure_granary
PROBLEMS=()

# load NAME PORT PID LOG FILE KEYS: mass-inserts FILE, checks replies, DBSIZE
# and sample values; sets LOAD_SECS to the seconds the load took. (Not run in
# $(...): it records problems in PROBLEMS.)
load() {
  local s=$1 port=$2 pid=$3 logf=$4 file=$5 keys=$6 t0 t1 out rc=0 summary errors replies dbsize k got
  out=$WORKDIR/$s-$keys-pipe.out
  t0=$(date +%s.%N)
  run_wait timeout "$TIMEOUT" "$REDIS_CLI" -h 127.0.0.1 -p "$port" --pipe <"$file" >"$out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  # The output ends with "errors: E, replies: R"; each error reply is a line.
  summary=$(grep -a 'errors: [0-9]*, replies: [0-9]*' "$out" | tail -n 1 || true)
  errors=$(sed -n 's/.*errors: \([0-9]*\), replies: \([0-9]*\).*/\1/p' <<<"$summary")
  replies=$(sed -n 's/.*errors: \([0-9]*\), replies: \([0-9]*\).*/\2/p' <<<"$summary")
  if ((rc != 0)) || [[ $errors != 0 || $replies != "$keys" ]]; then
    KEEP_WORKDIR=1
    PROBLEMS+=("$s: loading $keys keys: redis-cli --pipe exit $rc, errors=${errors:-?} replies=${replies:-?}: $(head -n 3 "$out" | tr '\n' ' ' | cut -c1-300)")
    log "$s: load problem, first lines of redis-cli --pipe output (all in $out):"
    head -n 5 "$out" >&2
    [[ -z $summary ]] || echo "$summary" >&2
  fi
  if ! alive "$pid"; then
    server_died "$s" "$pid" "$logf"
    PROBLEMS+=("$s: died while loading $keys keys")
    LOAD_SECS=NA
    return 0
  fi
  dbsize=$("$REDIS_CLI" -h 127.0.0.1 -p "$port" DBSIZE 2>&1 || true)
  if [[ $dbsize != "$keys" ]]; then
    PROBLEMS+=("$s: DBSIZE after loading $keys keys: '$dbsize'")
    log "$s: DBSIZE returned '$dbsize', want $keys"
  fi
  for k in 0 $((keys / 2)) $((keys - 1)); do
    got=$("$REDIS_CLI" -h 127.0.0.1 -p "$port" GET "$(printf 'key:%012d' "$k")" 2>&1 || true)
    if [[ $got != "$(expected_value "$k")" ]]; then
      PROBLEMS+=("$s: GET key $k after loading returned '$got'")
    fi
  done
  log "$s: loaded $keys keys in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s, DBSIZE $dbsize"
  LOAD_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }')
}

mb() { awk -v k="$1" 'BEGIN { if (k == "NA") print "NA"; else printf "%.1f\n", k / 1024 }'; }
per_key() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (a == "NA" || b == "NA") print "NA"; else printf "%.1f\n", (b - a) * 1024 / n }'; }

row() { printf '%-30s %12s %12s %7s\n' "$1" "$2" "$3" "$(ratio "$3" "$2")"; }
header() {
  printf '%-30s %12s %12s %7s\n' "$1" redis granary ratio
  printf '%s\n' "--------------------------------------------------------------"
}

# ---- phase 1: memory per key ----
file=$(gen_load_file "$N")
start_redis
start_granary
sleep "$SETTLE"
r_before=$(rss_kb "$REDIS_PID" VmRSS)
g_before=$(rss_kb "$GRANARY_PID" VmRSS)
load redis "$REDIS_PORT" "$REDIS_PID" "$REDIS_LOG" "$file" "$N"
r_load=$LOAD_SECS
load granary "$GRANARY_PORT" "$GRANARY_PID" "$GRANARY_LOG" "$file" "$N"
g_load=$LOAD_SECS
sleep "$SETTLE"
r_after=NA r_peak=NA g_after=NA g_peak=NA
if alive "$REDIS_PID"; then
  r_after=$(rss_kb "$REDIS_PID" VmRSS) r_peak=$(rss_kb "$REDIS_PID" VmHWM)
fi
if alive "$GRANARY_PID"; then
  g_after=$(rss_kb "$GRANARY_PID" VmRSS) g_peak=$(rss_kb "$GRANARY_PID" VmHWM)
fi
stop_pid "$REDIS_PID"
stop_pid "$GRANARY_PID"

echo
echo "Granary vs Redis $("$REDIS_SERVER" --version | awk '{print $3}' | tr -d 'v=') memory: $N keys (16-byte keys, 32-byte values)"
echo "  ratio = granary / redis (lower is better); cores=$(nproc) host=$(uname -n)"
echo "  load average at start: $LOADAVG_START, now: $(loadavg)"
echo
header "phase 1: $N keys"
row "VmRSS before load (MB)" "$(mb "$r_before")" "$(mb "$g_before")"
row "VmRSS after load (MB)" "$(mb "$r_after")" "$(mb "$g_after")"
row "peak VmHWM (MB)" "$(mb "$r_peak")" "$(mb "$g_peak")"
row "bytes per key (RSS delta)" "$(per_key "$r_before" "$r_after" "$N")" "$(per_key "$g_before" "$g_after" "$N")"
row "load time, redis-cli --pipe (s)" "$r_load" "$g_load"

# ---- phase 2: GET latency with LATENCY_KEYS keys ----
if ((LATENCY_KEYS > 0)); then
  file=$(gen_load_file "$LATENCY_KEYS")
  start_redis
  load redis "$REDIS_PORT" "$REDIS_PID" "$REDIS_LOG" "$file" "$LATENCY_KEYS"
  r_load2=$LOAD_SECS
  start_granary
  load granary "$GRANARY_PORT" "$GRANARY_PID" "$GRANARY_LOG" "$file" "$LATENCY_KEYS"
  g_load2=$LOAD_SECS
  sleep "$SETTLE"
  r_rss2=NA g_rss2=NA
  if alive "$REDIS_PID"; then r_rss2=$(rss_kb "$REDIS_PID" VmRSS); fi
  if alive "$GRANARY_PID"; then g_rss2=$(rss_kb "$GRANARY_PID" VmRSS); fi

  RESULTS=$WORKDIR/latency.tsv # server round rps p50 p99
  : >"$RESULTS"
  for r in $(seq 1 "$LAT_ROUNDS"); do
    for s in redis granary; do
      if [[ $s == redis ]]; then
        port=$REDIS_PORT pid=$REDIS_PID logf=$REDIS_LOG
      else
        port=$GRANARY_PORT pid=$GRANARY_PID logf=$GRANARY_LOG
      fi
      alive "$pid" || continue
      out=$WORKDIR/$s-get-r$r.csv rc=0
      run_wait timeout "$TIMEOUT" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" -c "$LAT_CLIENTS" -P 1 \
        -t get -r "$LATENCY_KEYS" -n "$LAT_N" --csv >"$out" 2>"$out.err" || rc=$?
      if ((rc != 0)); then
        KEEP_WORKDIR=1
        PROBLEMS+=("$s: GET round $r: redis-benchmark exit $rc: $(tr '\n' ' ' <"$out.err" | cut -c1-300)")
      fi
      if ! alive "$pid"; then
        server_died "$s" "$pid" "$logf"
        PROBLEMS+=("$s: died during GET round $r")
      fi
      awk -F, -v s="$s" -v r="$r" '
        { for (i = 1; i <= NF; i++) gsub(/"/, "", $i) }
        $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == "GET" && $2 ~ /^[0-9.]+$/ {
          p50 = ("p50_latency_ms" in col) ? $col["p50_latency_ms"] : "NA"
          p99 = ("p99_latency_ms" in col) ? $col["p99_latency_ms"] : "NA"
          print s, r, $2, p50, p99
        }' OFS='\t' "$out" >>"$RESULTS"
      log "$s GET round $r: $(awk -F'\t' -v s="$s" -v r="$r" '$1 == s && $2 == r { printf "%.0f ops/s p50 %s ms p99 %s ms", $3, $4, $5 }' "$RESULTS")"
    done
  done
  med_of() { awk -F'\t' -v s="$1" -v c="$2" '$1 == s && $c != "NA" { print $c }' "$RESULTS" | median; }

  echo
  header "phase 2: $LATENCY_KEYS keys"
  row "VmRSS after load (MB)" "$(mb "$r_rss2")" "$(mb "$g_rss2")"
  row "load time, redis-cli --pipe (s)" "$r_load2" "$g_load2"
  row "GET ops/s (-c $LAT_CLIENTS -P 1)" "$(fmt_num "$(med_of redis 3)" 0)" "$(fmt_num "$(med_of granary 3)" 0)"
  row "GET p50 latency (ms)" "$(fmt_num "$(med_of redis 4)" 3)" "$(fmt_num "$(med_of granary 4)" 3)"
  row "GET p99 latency (ms)" "$(fmt_num "$(med_of redis 5)" 3)" "$(fmt_num "$(med_of granary 5)" 3)"
  echo "  (median of $LAT_ROUNDS alternating rounds of $LAT_N GETs; ops/s ratio: higher is better)"
  echo "  load average at end: $(loadavg)"
fi

if ((${#PROBLEMS[@]} > 0)); then
  echo
  echo "PROBLEMS:"
  printf '  %s\n' "${PROBLEMS[@]}"
  exit 1
fi
