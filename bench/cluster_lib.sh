# shellcheck shell=bash
# Shared helpers for the cluster benchmarks (cluster.sh, replication.sh): start
# a Redis Cluster and Granary clusters on free loopback ports, check that they
# serve, run redis-benchmark --cluster against them and collect its CSV.
# Sourced after lib.sh; not meant to be run on its own.
#
# Every cluster is described by variables with a common prefix P (REDIS for
# the Redis Cluster, any other word for a Granary cluster), so that several
# clusters run side by side:
#   ${P}_NAME     name in logs and file names ("redis", "granary", "granary B")
#   ${P}_ENTRY    the RESP port redis-benchmark --cluster starts from
#   ${P}_PIDS, ${P}_LOGS, ${P}_ROLES   every process of the cluster, its log
#                 and its role in messages ("redis", "granary config", ...)
#   ${P}_PORTS    the masters' (Redis) or data servers' (Granary) RESP ports
# Granary clusters also have ${P}_CFG_PID, ${P}_CFG_RESP, ${P}_CFG_HTTP (the
# config server's API, host:port), ${P}_CFG_LOG and ${P}_DATA_HTTP (the data
# servers' /metrics addresses, host:port, when started with one).
#
# Results of run_one go to $RESULTS, one line per test:
#   label test round rps p50 p99   (tab-separated)

[[ -n ${WORKDIR:-} ]] || { echo "cluster_lib.sh: source lib.sh first" >&2; exit 1; }

# The workload knobs both scripts share (documented in their headers).
N=${N:-2000000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
KEYSPACE=${KEYSPACE:-1000000}
TESTS=${TESTS:-set,get}
ROUNDS=${ROUNDS:-3}
ENTRY=${ENTRY:-config}
TIMEOUT=${TIMEOUT:-600}
WARMUP=${WARMUP:-1}
# Seconds a fresh cluster may answer TRYAGAIN/CLUSTERDOWN to the probes.
PROBE_TIMEOUT=${PROBE_TIMEOUT:-20}

((ROUNDS >= 2)) || die "ROUNDS must be at least 2"
[[ $ENTRY == config || $ENTRY == data ]] || die "ENTRY must be config or data"
need "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI" timeout awk
ensure_granary
"$GRANARY_BIN" config --help >/dev/null 2>&1 ||
  die "$GRANARY_BIN has no 'config' subcommand: rebuild it (make build)"

RESULTS=$WORKDIR/results.tsv
: >"$RESULTS"
FAILED=()

# cluster_init P NAME: declares cluster P's variables (empty).
cluster_init() {
  local p=$1 v
  for v in PIDS LOGS ROLES PORTS DATA_HTTP; do declare -ga "${p}_$v=()"; done
  declare -g "${p}_NAME=$2" "${p}_ENTRY="
}

# add_proc P PID LOG ROLE: records a process of cluster P.
add_proc() {
  local -n _pids=${1}_PIDS _logs=${1}_LOGS _roles=${1}_ROLES
  _pids+=("$2") _logs+=("$3") _roles+=("$4")
}

# launch WHAT PORT OUT CMD...: runs CMD in the background (output to OUT);
# true once it answers PING on PORT, with its pid in LAUNCHED_PID; else stops
# it, logs the end of OUT and returns false (the caller retries on new ports).
LAUNCHED_PID=
launch() {
  local what=$1 port=$2 out=$3
  shift 3
  "$@" </dev/null >"$out" 2>&1 &
  LAUNCHED_PID=$!
  STARTED_PIDS+=("$LAUNCHED_PID")
  wait_ready "$LAUNCHED_PID" "$port" && return 0
  stop_pid "$LAUNCHED_PID"
  log "$what did not start on port $port:"
  tail -n 5 "$out" >&2 || true
  return 1
}

# give_up WHAT: the end of a start function that failed 5 times.
give_up() {
  KEEP_WORKDIR=1
  die "cannot start $1; see $WORKDIR"
}

# start_redis_node: starts one cluster-enabled redis-server in its own
# directory (its log: redis.log there); adds it to the REDIS cluster.
start_redis_node() {
  local _ port dir
  for _ in 1 2 3 4 5; do
    port=$(free_port 10000) || die "no free port"
    dir=$WORKDIR/redis-$port
    mkdir -p "$dir"
    # shellcheck disable=SC2086 # REDIS_ARGS is a list of flags
    if launch redis-server "$port" /dev/null "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" \
      --save "" --appendonly no --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
      --cluster-node-timeout 5000 --daemonize no --dir "$dir" --logfile "$dir/redis.log" $REDIS_ARGS; then
      REDIS_PORTS+=("$port")
      add_proc REDIS "$LAUNCHED_PID" "$dir/redis.log" redis
      log "redis-server (cluster) pid $LAUNCHED_PID on 127.0.0.1:$port"
      return 0
    fi
  done
  give_up redis-server
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

# start_redis_cluster MASTERS: a Redis Cluster of MASTERS masters without
# replicas (prefix REDIS, entry: the first master).
start_redis_cluster() {
  local _ port nodes=()
  cluster_init REDIS redis
  for _ in $(seq 1 "$1"); do start_redis_node; done
  for port in "${REDIS_PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
  run_wait timeout 60 "$REDIS_CLI" --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
    >"$WORKDIR/redis-cluster-create.log" 2>&1 || {
    KEEP_WORKDIR=1
    cat "$WORKDIR/redis-cluster-create.log" >&2
    die "redis-cli --cluster create failed"
  }
  wait_cluster redis "${REDIS_PORTS[@]}"
  REDIS_ENTRY=${REDIS_PORTS[0]}
}

# start_granary_config P COPIES: cluster P's config server (COPIES replicas
# per bucket, the first table waits for 3 data servers, data servers join
# without granary ctl node add).
start_granary_config() {
  local p=$1 copies=$2 _ raft http resp dir
  local -n _name=${p}_NAME
  for _ in 1 2 3 4 5; do
    raft=$(free_port) http=$(free_port) resp=$(free_port) || die "no free port"
    dir=$WORKDIR/granary-config-$resp
    # shellcheck disable=SC2086 # GRANARY_CONFIG_ARGS is a list of flags
    if launch "$_name config server" "$resp" "$dir.log" "$GRANARY_BIN" config --id cfg1 --dir "$dir" \
      --raft "127.0.0.1:$raft" --http "127.0.0.1:$http" --listen "127.0.0.1:$resp" \
      --copies "$copies" --min-nodes 3 --auto-add $GRANARY_CONFIG_ARGS; then
      declare -g "${p}_CFG_PID=$LAUNCHED_PID" "${p}_CFG_RESP=$resp" "${p}_CFG_HTTP=127.0.0.1:$http" "${p}_CFG_LOG=$dir.log"
      add_proc "$p" "$LAUNCHED_PID" "$dir.log" "$_name config"
      log "$_name config server pid $LAUNCHED_PID: RESP 127.0.0.1:$resp, API 127.0.0.1:$http"
      return 0
    fi
  done
  give_up "the $_name config server"
}

# start_granary_data P ZONE METRICS: one data server of cluster P; METRICS=1
# gives it an HTTP address for /metrics (else --http "").
start_granary_data() {
  local p=$1 zone=$2 metrics=$3 _ port http dir
  local -n _name=${p}_NAME _cfg=${p}_CFG_HTTP _ports=${p}_PORTS _http=${p}_DATA_HTTP
  for _ in 1 2 3 4 5; do
    port=$(free_port) || die "no free port"
    http=
    if [[ $metrics == 1 ]]; then http=127.0.0.1:$(free_port) || die "no free port"; fi
    dir=$WORKDIR/granary-data-$port
    # shellcheck disable=SC2086 # GRANARY_ARGS is a list of flags
    if launch "$_name data server" "$port" "$dir.log" "$GRANARY_BIN" data --config-servers "$_cfg" \
      --dir "$dir" --zone "$zone" --listen "127.0.0.1:$port" --http "$http" \
      --procs "$GRANARY_PROCS" $GRANARY_ARGS; then
      _ports+=("$port") _http+=("$http")
      add_proc "$p" "$LAUNCHED_PID" "$dir.log" "$_name data"
      log "$_name data server pid $LAUNCHED_PID on 127.0.0.1:$port${http:+ (metrics http://$http/metrics)}"
      return 0
    fi
  done
  give_up "a $_name data server"
}

# metric HTTP NAME[{labels}]: a data server's metric, 0 if absent.
metric() {
  curl -fs "http://$1/metrics" | awk -v m="$2" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }'
}

# metric_sum P NAME[{labels}] [SKIP]: the metric summed over cluster P's
# data servers (integer part), leaving out the one whose HTTP address is SKIP.
metric_sum() {
  local -n _http=${1}_DATA_HTTP
  local h s=0
  for h in "${_http[@]}"; do
    [[ $h == "${3:-}" ]] && continue
    s=$((s + $(metric "$h" "$2" | awk '{ printf "%d", $1 }')))
  done
  echo "$s"
}

# wait_caught_up P SECONDS: until no secondary of cluster P is behind its
# primary; dies after SECONDS.
wait_caught_up() {
  local deadline=$((SECONDS + $2))
  until (($(metric_sum "$1" granary_repl_secondaries_behind) == 0)); do
    ((SECONDS < deadline)) || die "copies still behind after $2 s"
    sleep 0.2
  done
}

# field NAME FILE: NAME=value from the line of bench/latency in FILE.
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }

# tail_report FILE: where the slow operations of a probe's FILE.slow
# (bench/latency -slow) fall: how many, over how many slots and seconds.
tail_report() {
  [[ -s $1.slow ]] || { echo "no slow operations"; return; }
  awk '{ n++; slots[$4]++; secs[substr($1, 1, 8)]++ }
    END { for (s in slots) ns++; for (t in secs) nt++
      printf "%d slow operations over %d slots and %d seconds", n, ns, nt }' "$1.slow"
}

# gctl P ARGS...: granary ctl against cluster P's config server.
gctl() {
  local -n _cfg=${1}_CFG_HTTP
  shift
  "$GRANARY_BIN" ctl --config-servers "$_cfg" "$@"
}

# start_granary_cluster P NAME COPIES METRICS: a config server and three data
# servers (zones z1 z2 z3; METRICS as start_granary_data); waits until the
# data servers serve all 16384 slots and every bucket has COPIES replicas in
# the table; logs the table. The entry is the config server (ENTRY=config)
# or the first data server (ENTRY=data).
start_granary_cluster() {
  local p=$1 name=$2 copies=$3 metrics=$4 z file deadline=$((SECONDS + 60))
  cluster_init "$p" "$name"
  local -n _ports=${p}_PORTS _entry=${p}_ENTRY _resp=${p}_CFG_RESP
  start_granary_config "$p" "$copies"
  for z in z1 z2 z3; do start_granary_data "$p" "$z" "$metrics"; done
  wait_cluster "$name" "${_ports[@]}"
  file=$WORKDIR/${name// /-}
  gctl "$p" status >"$file-status.txt" 2>&1 ||
    die "granary ctl status failed: $(cat "$file-status.txt")"
  # "epoch 1: 16384 buckets, 0 unassigned, 0 with fewer than 2 copies"
  until gctl "$p" table >"$file-table.txt" 2>&1 &&
    grep -q "^epoch [0-9]*: 16384 buckets, 0 unassigned, 0 with fewer than $copies copies" "$file-table.txt"; do
    ((SECONDS < deadline)) || {
      KEEP_WORKDIR=1
      cat "$file-table.txt" >&2
      die "$name: the table never gave every bucket $copies copies"
    }
    sleep 0.2
  done
  sed 's/^/  /' "$file-table.txt" >&2
  if [[ $ENTRY == config ]]; then _entry=$_resp; else _entry=${_ports[0]}; fi
}

# probe_cluster P: every master of cluster P stores and returns values: SET,
# GET and DEL of PROBE_KEYS keys of its own on each master (keys another
# master owns answer MOVED and are skipped), retrying a key that answers
# TRYAGAIN or CLUSTERDOWN (a fresh cluster's leases and replication links)
# for up to PROBE_TIMEOUT seconds in all.
PROBE_KEYS=${PROBE_KEYS:-4}
probe_cluster() {
  local -n _name=${1}_NAME _ports=${1}_PORTS
  local port i served reply got deadline=$((SECONDS + PROBE_TIMEOUT)) waited=0
  for port in "${_ports[@]}"; do
    i=0 served=0
    while ((served < PROBE_KEYS)); do
      ((i < 1000)) || die "$_name: no key of 127.0.0.1:$port among 1000 probes"
      reply=$(cli "$port" SET "bench:probe:$i" "hello$i" 2>&1) || die "$_name: SET probe on $port failed: $reply"
      case $reply in
      OK)
        got=$(cli "$port" GET "bench:probe:$i")
        [[ $got == "hello$i" ]] || die "$_name: SET/GET probe bench:probe:$i on $port returned '$got'"
        cli "$port" DEL "bench:probe:$i" >/dev/null || true
        served=$((served + 1)) i=$((i + 1))
        ;;
      MOVED*) i=$((i + 1)) ;;
      TRYAGAIN* | CLUSTERDOWN*)
        ((SECONDS < deadline)) || {
          KEEP_WORKDIR=1
          die "$_name: 127.0.0.1:$port still answers '$reply' after ${PROBE_TIMEOUT}s; logs in $WORKDIR"
        }
        waited=1
        sleep 0.2
        ;;
      *) die "$_name: SET probe bench:probe:$i on $port returned '$reply'" ;;
      esac
    done
  done
  if ((waited)); then log "$_name: every master serves (after TRYAGAIN/CLUSTERDOWN)"; fi
}

# alive_all P: whether every process of cluster P still runs.
alive_all() {
  local -n _pids=${1}_PIDS
  local pid
  for pid in "${_pids[@]}"; do alive "$pid" || return 1; done
}

# report_dead P: the end of the log of every dead process of cluster P.
report_dead() {
  local -n _pids=${1}_PIDS _logs=${1}_LOGS _roles=${1}_ROLES
  local i
  for i in "${!_pids[@]}"; do
    alive "${_pids[$i]}" || server_died "${_roles[$i]}" "${_pids[$i]}" "${_logs[$i]}"
  done
}

# bench P N OUT: one redis-benchmark --cluster run against cluster P; returns
# its status.
bench() {
  local -n _entry=${1}_ENTRY
  run_wait timeout "$TIMEOUT" "$REDIS_BENCHMARK" --cluster -h 127.0.0.1 -p "$_entry" \
    -c "$CLIENTS" -P "$PIPELINE" -t "$TESTS" -r "$KEYSPACE" -n "$2" -q --csv >"$3" 2>"$3.err"
}

# warmup P...: one unrecorded short run against each cluster (WARMUP=1).
warmup() {
  local p name
  [[ $WARMUP == 1 ]] || return 0
  for p in "$@"; do
    name=${p}_NAME name=${!name}
    bench "$p" "$((N < 200000 ? N : 200000))" "$WORKDIR/warmup-${name// /-}.csv" ||
      log "warm-up against $name failed"
  done
}

# run_one LABEL P ROUND: one recorded run against cluster P, its results
# appended to RESULTS under LABEL.
run_one() {
  local s=$1 p=$2 r=$3 out rc=0
  if ! alive_all "$p"; then
    FAILED+=("$s round $r: a server is not running")
    return 0
  fi
  out=$WORKDIR/$s-r$r.csv
  bench "$p" "$N" "$out" || rc=$?
  # redis-benchmark --cluster prints the cluster it found on stderr; error
  # replies and failures show there too.
  if ((rc != 0)) || grep -qi 'error' "$out.err" "$out"; then
    KEEP_WORKDIR=1
    FAILED+=("$s round $r: redis-benchmark exit $rc: $(grep -i -m3 'error' "$out.err" "$out" | tr '\n' ' ' | cut -c1-300)")
    log "$s round $r: redis-benchmark failed (exit $rc)"
    tail -n 20 "$out.err" >&2
  fi
  if ! alive_all "$p"; then
    report_dead "$p"
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

# med_of LABEL TEST COLUMN: median over rounds (4 rps, 5 p50, 6 p99).
med_of() {
  awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t && $c != "NA" { print $c }' "$RESULTS" | median
}

# result_tests: the tests in RESULTS, in the order they ran.
result_tests() { awk -F'\t' '!seen[$2]++ { print $2 }' "$RESULTS"; }

# redis_version: redis-server's version, e.g. 7.0.15.
redis_version() { "$REDIS_SERVER" --version | awk '{print $3}' | tr -d 'v='; }

# print_rounds LABEL...: the per-round ops/s of each label.
print_rounds() {
  local s
  echo "per-round ops/s:"
  for s in "$@"; do
    awk -F'\t' -v s="$s" '$1 == s { v[$2] = v[$2] sprintf(" %.0f", $4) }
      END { for (t in v) printf "  %-8s %-4s%s\n", s, t, v[t] }' "$RESULTS" | sort
  done
}

# finish: lists the failures and exits 1 if there were any.
finish() {
  if ((${#FAILED[@]} > 0)); then
    echo
    echo "FAILURES:"
    printf '  %s\n' "${FAILED[@]}"
    exit 1
  fi
}
