#!/usr/bin/env bash
# Cluster throughput: a 3-master Redis Cluster against a Granary cluster of one
# config server and 3 data servers (copies 1: no replicas on either side), on
# loopback, same machine, same run.
#
# Redis: three redis-server --cluster-enabled yes (save "", appendonly no),
# joined with redis-cli --cluster create ... --cluster-replicas 0.
# Granary: granary config --copies 1 --min-nodes 3 --auto-add, and three
# granary data --config-servers ... --procs $GRANARY_PROCS.
#
# The same workload runs against each, alternating redis, granary, redis,
# granary, ... for ROUNDS rounds; the median ops/s of each and the
# Granary/Redis ratio (target: at least 0.8) are printed:
#
#   redis-benchmark --cluster -c 50 -P 16 -t set,get -n $N -r 1000000 --csv
#
# redis-benchmark --cluster is pointed at a Redis node and at Granary's config
# server (ENTRY=config, the default; ENTRY=data points it at a data server):
# it reads CLUSTER NODES there and then talks to every master directly.
#
# CPU: on a 2-core machine the 3 servers under test and redis-benchmark share
# two cores (the other cluster only sleeps meanwhile). Redis executes commands
# on one thread per server; each Granary data server gets --procs 1 (one core
# for Go code, GRANARY_PROCS in lib.sh) to match, as the standalone benchmark
# does. With more servers than cores the figures measure how well each side
# shares a small machine as much as raw speed; read them with the load average.
#
# Environment (defaults in brackets):
#   N         requests per test [2000000]
#   CLIENTS   connections (-c) [50]
#   PIPELINE  pipeline depth (-P) [16]
#   KEYSPACE  random key range (-r) [1000000]
#   TESTS     redis-benchmark -t list [set,get]
#   ROUNDS    rounds per cluster, at least 2 [3]
#   ENTRY     config | data: the Granary node redis-benchmark starts from [config]
#   TIMEOUT   seconds before a single redis-benchmark run is abandoned [600]
#   WARMUP    1: one unrecorded short run against each cluster first [1]
#   GRANARY_PROCS, GRANARY_ARGS (data servers), REDIS_ARGS, GRANARY_BIN: see lib.sh
#
# Quick run: N=200000 ROUNDS=2 bench/cluster.sh (a smoke test: a run that short
# lasts well under a second and redis-benchmark --cluster's ops/s come out in
# coarse steps, e.g. 398406 or 796813 for -n 200000; use the default N for figures).
# At -P 16 the single-threaded redis-benchmark itself may be the limit: when
# both clusters give the same ops/s, the ratio says "at least as fast as the client".
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-2000000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
KEYSPACE=${KEYSPACE:-1000000}
TESTS=${TESTS:-set,get}
ROUNDS=${ROUNDS:-3}
ENTRY=${ENTRY:-config}
TIMEOUT=${TIMEOUT:-600}
WARMUP=${WARMUP:-1}

((ROUNDS >= 2)) || die "ROUNDS must be at least 2"
[[ $ENTRY == config || $ENTRY == data ]] || die "ENTRY must be config or data"
need "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI" timeout awk
ensure_granary
"$GRANARY_BIN" config --help >/dev/null 2>&1 ||
  die "$GRANARY_BIN has no 'config' subcommand: rebuild it (make build)"

RESULTS=$WORKDIR/results.tsv # cluster test round rps p50 p99
: >"$RESULTS"
FAILED=()

# free_pair: a free port whose +10000 (Redis' cluster bus) is free too.
free_pair() {
  local p _
  for _ in $(seq 1 50); do
    p=$(free_port) || return 1
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 10000))") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# start_redis_node: starts one cluster-enabled redis-server in its own
# directory; appends to REDIS_PORTS, REDIS_PIDS and REDIS_LOGS.
REDIS_PORTS=() REDIS_PIDS=() REDIS_LOGS=()
start_redis_node() {
  local attempt port pid dir
  for attempt in 1 2 3 4 5; do
    port=$(free_pair) || die "no free port"
    dir=$WORKDIR/redis-$port
    mkdir -p "$dir"
    # shellcheck disable=SC2086 # REDIS_ARGS is a list of flags
    "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
      --daemonize no --dir "$dir" --logfile "$dir/redis.log" $REDIS_ARGS </dev/null >/dev/null 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    if wait_ready "$pid" "$port"; then
      REDIS_PORTS+=("$port") REDIS_PIDS+=("$pid") REDIS_LOGS+=("$dir/redis.log")
      log "redis-server (cluster) pid $pid on 127.0.0.1:$port"
      return 0
    fi
    stop_pid "$pid"
    log "redis-server did not start on port $port (attempt $attempt)"
  done
  KEEP_WORKDIR=1
  die "cannot start redis-server; see $WORKDIR"
}

# cluster_ok PORT: CLUSTER INFO on PORT says the cluster is whole.
cluster_ok() {
  local info
  info=$(cli "$1" CLUSTER INFO 2>/dev/null | tr -d '\r') || return 1
  grep -q '^cluster_state:ok$' <<<"$info" && grep -q '^cluster_slots_assigned:16384$' <<<"$info"
}

# wait_cluster NAME PORT...: waits until every PORT reports a whole cluster.
wait_cluster() {
  local name=$1 port deadline=$((SECONDS + 60))
  shift
  for port in "$@"; do
    until cluster_ok "$port"; do
      ((SECONDS < deadline)) || {
        KEEP_WORKDIR=1
        die "$name: 127.0.0.1:$port never reported cluster_state:ok with 16384 slots; logs in $WORKDIR"
      }
      sleep 0.2
    done
  done
  log "$name: cluster state ok on ports $*"
}

# --- Redis Cluster -----------------------------------------------------------
for _ in 1 2 3; do start_redis_node; done
REDIS_NODES=()
for port in "${REDIS_PORTS[@]}"; do REDIS_NODES+=("127.0.0.1:$port"); done
run_wait timeout 60 "$REDIS_CLI" --cluster create "${REDIS_NODES[@]}" --cluster-replicas 0 --cluster-yes \
  >"$WORKDIR/redis-cluster-create.log" 2>&1 || {
  KEEP_WORKDIR=1
  cat "$WORKDIR/redis-cluster-create.log" >&2
  die "redis-cli --cluster create failed"
}
wait_cluster redis "${REDIS_PORTS[@]}"

# --- Granary cluster -----------------------------------------------------------
# start_granary_config: one config server (copies 1, the first table waits for
# 3 data servers, data servers join without granary ctl node add); sets
# CFG_PID, CFG_RESP (port), CFG_HTTP (host:port) and CFG_LOG.
start_granary_config() {
  local attempt raft http resp pid dir logf
  for attempt in 1 2 3 4 5; do
    raft=$(free_port) http=$(free_port) resp=$(free_port) || die "no free port"
    dir=$WORKDIR/granary-config-$resp
    logf=$dir.log
    "$GRANARY_BIN" config --id cfg1 --dir "$dir" --raft "127.0.0.1:$raft" --http "127.0.0.1:$http" \
      --listen "127.0.0.1:$resp" --copies 1 --min-nodes 3 --auto-add </dev/null >"$logf" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    if wait_ready "$pid" "$resp"; then
      CFG_PID=$pid CFG_RESP=$resp CFG_HTTP=127.0.0.1:$http CFG_LOG=$logf
      log "granary config server pid $pid: RESP 127.0.0.1:$resp, API $CFG_HTTP"
      return 0
    fi
    stop_pid "$pid"
    log "granary config server did not start (attempt $attempt):"
    tail -n 5 "$logf" >&2 || true
  done
  KEEP_WORKDIR=1
  die "cannot start the granary config server; see $WORKDIR"
}

# start_granary_data ZONE: one data server; appends to DATA_PORTS, DATA_PIDS
# and DATA_LOGS.
DATA_PORTS=() DATA_PIDS=() DATA_LOGS=()
start_granary_data() {
  local zone=$1 attempt port pid dir logf
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || die "no free port"
    dir=$WORKDIR/granary-data-$port
    logf=$dir.log
    # shellcheck disable=SC2086 # GRANARY_ARGS is a list of flags
    "$GRANARY_BIN" data --config-servers "$CFG_HTTP" --dir "$dir" --zone "$zone" \
      --listen "127.0.0.1:$port" --http "" --procs "$GRANARY_PROCS" $GRANARY_ARGS \
      </dev/null >"$logf" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    if wait_ready "$pid" "$port"; then
      DATA_PORTS+=("$port") DATA_PIDS+=("$pid") DATA_LOGS+=("$logf")
      log "granary data server pid $pid on 127.0.0.1:$port"
      return 0
    fi
    stop_pid "$pid"
    log "granary data server did not start on port $port (attempt $attempt):"
    tail -n 5 "$logf" >&2 || true
  done
  KEEP_WORKDIR=1
  die "cannot start a granary data server; see $WORKDIR"
}

start_granary_config
for z in z1 z2 z3; do start_granary_data "$z"; done
wait_cluster granary "${DATA_PORTS[@]}"
"$GRANARY_BIN" ctl --config-servers "$CFG_HTTP" status >"$WORKDIR/granary-status.txt" 2>&1 ||
  die "granary ctl status failed: $(cat "$WORKDIR/granary-status.txt")"
"$GRANARY_BIN" ctl --config-servers "$CFG_HTTP" table >"$WORKDIR/granary-table.txt" 2>&1 || true
sed 's/^/  /' "$WORKDIR/granary-table.txt" >&2

if [[ $ENTRY == config ]]; then GRANARY_ENTRY=$CFG_RESP; else GRANARY_ENTRY=${DATA_PORTS[0]}; fi
REDIS_ENTRY=${REDIS_PORTS[0]}

# Both clusters must store and return values (on every master) before the
# figures mean anything.
for s in redis granary; do
  if [[ $s == redis ]]; then port=$REDIS_ENTRY; else port=$GRANARY_ENTRY; fi
  for i in 1 2 3 4 5 6; do
    cli "$port" -c SET "bench:probe:$i" "hello$i" >/dev/null || die "$s: SET probe failed"
    got=$(cli "$port" -c GET "bench:probe:$i")
    [[ $got == "hello$i" ]] || die "$s: SET/GET probe $i returned '$got'"
    cli "$port" -c DEL "bench:probe:$i" >/dev/null || true
  done
done

# alive_all SERVER: whether every server of that cluster still runs.
alive_all() {
  local pid pids
  if [[ $1 == redis ]]; then pids=("${REDIS_PIDS[@]}"); else pids=("$CFG_PID" "${DATA_PIDS[@]}"); fi
  for pid in "${pids[@]}"; do alive "$pid" || return 1; done
}

# report_dead SERVER: the end of the log of every dead server of that cluster.
report_dead() {
  local i
  if [[ $1 == redis ]]; then
    for i in "${!REDIS_PIDS[@]}"; do
      alive "${REDIS_PIDS[$i]}" || server_died redis "${REDIS_PIDS[$i]}" "${REDIS_LOGS[$i]}"
    done
  else
    alive "$CFG_PID" || server_died "granary config" "$CFG_PID" "$CFG_LOG"
    for i in "${!DATA_PIDS[@]}"; do
      alive "${DATA_PIDS[$i]}" || server_died "granary data" "${DATA_PIDS[$i]}" "${DATA_LOGS[$i]}"
    done
  fi
}

# bench SERVER N OUT: one redis-benchmark --cluster run; returns its status.
bench() {
  local s=$1 n=$2 out=$3 port
  if [[ $s == redis ]]; then port=$REDIS_ENTRY; else port=$GRANARY_ENTRY; fi
  run_wait timeout "$TIMEOUT" "$REDIS_BENCHMARK" --cluster -h 127.0.0.1 -p "$port" \
    -c "$CLIENTS" -P "$PIPELINE" -t "$TESTS" -r "$KEYSPACE" -n "$n" -q --csv >"$out" 2>"$out.err"
}

# run_one SERVER ROUND: one recorded run, results appended.
run_one() {
  local s=$1 r=$2 out rc=0
  if ! alive_all "$s"; then
    FAILED+=("$s round $r: a server is not running")
    return 0
  fi
  out=$WORKDIR/$s-r$r.csv
  bench "$s" "$N" "$out" || rc=$?
  # redis-benchmark --cluster prints the cluster it found on stderr; error
  # replies and failures show there too.
  if ((rc != 0)) || grep -qi 'error' "$out.err" "$out"; then
    KEEP_WORKDIR=1
    FAILED+=("$s round $r: redis-benchmark exit $rc: $(grep -i -m3 'error' "$out.err" "$out" | tr '\n' ' ' | cut -c1-300)")
    log "$s round $r: redis-benchmark failed (exit $rc)"
    tail -n 20 "$out.err" >&2
  fi
  if ! alive_all "$s"; then
    report_dead "$s"
    FAILED+=("$s round $r: a server died")
  fi
  # "SET","666666.62","1.087","0.432","0.975","1.855","2.831","5.095"
  awk -F, -v s="$s" -v r="$r" '
    { for (i = 1; i <= NF; i++) gsub(/"/, "", $i) }
    $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 != "" && $2 ~ /^[0-9.]+$/ {
      p50 = ("p50_latency_ms" in col) ? $col["p50_latency_ms"] : "NA"
      p99 = ("p99_latency_ms" in col) ? $col["p99_latency_ms"] : "NA"
      print s, $1, r, $2, p50, p99
    }' OFS='\t' "$out" >>"$RESULTS"
  log "$s round $r: $(awk -F'\t' -v s="$s" -v r="$r" \
    '$1 == s && $3 == r { printf "%s %.0f ops/s p99 %s ms  ", $2, $4, $6 }' "$RESULTS")"
}

if [[ $WARMUP == 1 ]]; then
  for s in redis granary; do
    bench "$s" "$((N < 200000 ? N : 200000))" "$WORKDIR/warmup-$s.csv" || log "warm-up against $s failed"
  done
fi

log "cluster throughput: N=$N c=$CLIENTS P=$PIPELINE r=$KEYSPACE tests=$TESTS rounds=$ROUNDS entry=$ENTRY procs=$GRANARY_PROCS"
for r in $(seq 1 "$ROUNDS"); do
  run_one redis "$r"
  run_one granary "$r"
done

# med_of SERVER TEST COLUMN: median over rounds (4 rps, 5 p50, 6 p99).
med_of() {
  awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t && $c != "NA" { print $c }' "$RESULTS" | median
}

echo
echo "Granary cluster (1 config + 3 data servers, copies 1) vs Redis Cluster $("$REDIS_SERVER" --version | awk '{print $3}' | tr -d 'v=') (3 masters)"
echo "  redis-benchmark --cluster -c $CLIENTS -P $PIPELINE -r $KEYSPACE -n $N; median of $ROUNDS alternating rounds"
echo "  granary entry: $ENTRY server; data servers --procs $GRANARY_PROCS; cores=$(nproc) host=$(uname -n)"
echo "  load average at start: $LOADAVG_START, at end: $(loadavg)"
echo "  ratio = granary / redis (ops/s: higher is better, target >= 0.8; latency: lower is better)"
echo
printf '%-8s %12s %13s %6s | %8s %8s %6s | %8s %8s %6s\n' \
  test "redis ops/s" "granary ops/s" ratio "r p50ms" "g p50ms" ratio "r p99ms" "g p99ms" ratio
printf -v rule '%*s' 98 ''
echo "${rule// /-}"
while read -r t; do
  rr=$(med_of redis "$t" 4) gr=$(med_of granary "$t" 4)
  r50=$(med_of redis "$t" 5) g50=$(med_of granary "$t" 5)
  r99=$(med_of redis "$t" 6) g99=$(med_of granary "$t" 6)
  printf '%-8s %12s %13s %6s | %8s %8s %6s | %8s %8s %6s\n' \
    "$t" "$(fmt_num "$rr" 0)" "$(fmt_num "$gr" 0)" "$(ratio "$gr" "$rr")" \
    "$(fmt_num "$r50" 3)" "$(fmt_num "$g50" 3)" "$(ratio "$g50" "$r50")" \
    "$(fmt_num "$r99" 3)" "$(fmt_num "$g99" 3)" "$(ratio "$g99" "$r99")"
done < <(awk -F'\t' '!seen[$2]++ { print $2 }' "$RESULTS")
echo
echo "per-round ops/s:"
for s in redis granary; do
  awk -F'\t' -v s="$s" '$1 == s { v[$2] = v[$2] sprintf(" %.0f", $4) }
    END { for (t in v) printf "  %-8s %-4s%s\n", s, t, v[t] }' "$RESULTS" | sort
done

if ((${#FAILED[@]} > 0)); then
  echo
  echo "FAILURES:"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
