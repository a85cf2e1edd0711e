# shellcheck shell=bash
# Shared helpers for the benchmark scripts: start and stop redis-server and
# Granary on free loopback ports, read resident memory, medians and ratios.
# Sourced by every script here; not meant to be run on its own.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

GRANARY_BIN=${GRANARY_BIN:-$ROOT/bin/granary}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REDIS_CLI=${REDIS_CLI:-redis-cli}
# Cores Granary serves with (--procs). Redis executes commands on one thread,
# and on a small machine the benchmark client needs a core of its own, so by
# default both servers get one core for serving: the same settings for both.
# GRANARY_PROCS=0 lets Granary use every core.
GRANARY_PROCS=${GRANARY_PROCS:-1}
# Extra flags for the servers, e.g. GRANARY_ARGS="--maxmemory 4gb".
GRANARY_ARGS=${GRANARY_ARGS:-}
# Extra flags for the config servers of the cluster scripts, e.g. --pprof.
GRANARY_CONFIG_ARGS=${GRANARY_CONFIG_ARGS:-}
REDIS_ARGS=${REDIS_ARGS:-}
# Seconds to wait for a server to answer PING after starting it.
START_TIMEOUT=${START_TIMEOUT:-20}
# TLS=1: both servers serve TLS only (certificates from bench/tlscerts, made
# by setup_tls), and redis-cli and redis-benchmark connect with TLS_CLI_ARGS.
TLS=${TLS:-0}
TLS_CLI_ARGS=()
TLS_REDIS_ARGS=()
TLS_GRANARY_ARGS=()

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/granary-bench.XXXXXX")
STARTED_PIDS=()
# Set to 1 by a script when something went wrong, so that the logs are kept.
KEEP_WORKDIR=${KEEP_WORKDIR:-0}

# loadavg: the 1, 5 and 15 minute load averages; printed with the figures
# because other work on the machine skews them.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# shellcheck disable=SC2034 # read by the sourcing script
LOADAVG_START=$(loadavg)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (make deps installs redis-server and redis-tools)"
  done
}

# ensure_granary builds bin/granary if it is missing (make bench rebuilds it
# every time; running a script directly uses whatever binary is there).
ensure_granary() {
  if [[ ! -x $GRANARY_BIN ]]; then
    log "building $GRANARY_BIN"
    (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$GRANARY_BIN" ./cmd/granary) ||
      die "cannot build Granary"
  fi
}

# free_port [PAIR] prints a loopback TCP port nothing listens on, below the
# kernel's ephemeral range (the benchmark's client sockets take ports from that
# range); with PAIR, port+PAIR is free too (Redis' cluster bus: free_port 10000).
# Another process may take it before the server binds it; the start functions
# retry on failure.
free_port() {
  local p _ lo=32768 pair=${1:-0}
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((lo > 12000)) || lo=61000
  ((lo + pair <= 65536)) || lo=$((65536 - pair))
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
      { ((pair == 0)) || ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + pair))") 2>/dev/null; }; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# setup_tls: with TLS=1, makes a CA and a certificate for 127.0.0.1 in
# WORKDIR/tls and sets the servers' and the clients' TLS flags.
setup_tls() {
  [[ $TLS == 1 ]] || return 0
  local d=$WORKDIR/tls
  (cd "$ROOT" && go run ./bench/tlscerts -dir "$d") || die "cannot make TLS certificates"
  TLS_CLI_ARGS=(--tls --cacert "$d/ca.crt")
  TLS_REDIS_ARGS=(--tls-cert-file "$d/server.crt" --tls-key-file "$d/server.key"
    --tls-ca-cert-file "$d/ca.crt" --tls-auth-clients no)
  TLS_GRANARY_ARGS=(--tls-cert-file "$d/server.crt" --tls-key-file "$d/server.key")
}

# wait_ready PID PORT: true once the server answers PING, false if it exits or
# does not answer within START_TIMEOUT seconds.
wait_ready() {
  local pid=$1 port=$2 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ $("$REDIS_CLI" "${TLS_CLI_ARGS[@]}" -h 127.0.0.1 -p "$port" PING 2>/dev/null) == PONG ]]; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# alive PID: whether the process is still running.
alive() { kill -0 "$1" 2>/dev/null; }

# stop_pid PID: TERM, then KILL after 10 s.
stop_pid() {
  local pid=$1 _
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "pid $pid ignored SIGTERM for 10s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# run_wait CMD...: runs CMD in the background and waits for it, so that a
# signal to the script runs its trap at once (bash defers traps until a
# foreground child exits); cleanup stops CMD. Keeps the caller's stdin.
CHILD_PID=
run_wait() {
  local rc=0
  "$@" <&0 &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=
  return "$rc"
}

cleanup() {
  local pid
  if [[ -n $CHILD_PID ]]; then
    kill -TERM "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
  fi
  for pid in "${STARTED_PIDS[@]}"; do
    stop_pid "$pid"
  done
  if [[ $KEEP_WORKDIR == 1 ]]; then
    log "server logs kept in $WORKDIR"
  else
    rm -rf "$WORKDIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# PIN_SERVER is a command prefix (e.g. "taskset -c 0") applied identically to
# both servers; PIN_CLIENT is the same for redis-benchmark and redis-cli.
PIN_SERVER=()
PIN_CLIENT=()

# start_redis: starts a fresh redis-server without persistence; sets REDIS_PID,
# REDIS_PORT and REDIS_LOG.
start_redis() {
  local attempt port pid logf ports
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || die "no free port"
    logf=$WORKDIR/redis-$port.log
    ports=(--port "$port")
    if [[ $TLS == 1 ]]; then ports=(--port 0 --tls-port "$port" "${TLS_REDIS_ARGS[@]}"); fi
    # shellcheck disable=SC2086 # REDIS_ARGS is a list of flags
    "${PIN_SERVER[@]}" "$REDIS_SERVER" --bind 127.0.0.1 "${ports[@]}" \
      --save "" --appendonly no --daemonize no --dir "$WORKDIR" \
      --logfile "$logf" $REDIS_ARGS </dev/null >/dev/null 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    if wait_ready "$pid" "$port"; then
      # shellcheck disable=SC2034 # read by the sourcing script
      REDIS_PID=$pid REDIS_PORT=$port REDIS_LOG=$logf
      log "redis-server pid $pid on 127.0.0.1:$port"
      return 0
    fi
    stop_pid "$pid"
    log "redis-server did not start on port $port (attempt $attempt)"
  done
  KEEP_WORKDIR=1
  die "cannot start redis-server; see $WORKDIR"
}

# start_granary: starts a fresh Granary data server; sets GRANARY_PID,
# GRANARY_PORT and GRANARY_LOG.
start_granary() {
  local attempt port pid logf
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || die "no free port"
    logf=$WORKDIR/granary-$port.log
    # shellcheck disable=SC2086 # GRANARY_ARGS is a list of flags
    "${PIN_SERVER[@]}" "$GRANARY_BIN" data --standalone --listen "127.0.0.1:$port" \
      --http "" --procs "$GRANARY_PROCS" "${TLS_GRANARY_ARGS[@]}" $GRANARY_ARGS </dev/null >"$logf" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    if wait_ready "$pid" "$port"; then
      # shellcheck disable=SC2034 # read by the sourcing script
      GRANARY_PID=$pid GRANARY_PORT=$port GRANARY_LOG=$logf
      log "granary pid $pid on 127.0.0.1:$port"
      return 0
    fi
    stop_pid "$pid"
    log "granary did not start on port $port (attempt $attempt):"
    tail -n 5 "$logf" >&2 || true
  done
  KEEP_WORKDIR=1
  die "cannot start granary; see $WORKDIR"
}

# server_died NAME PID LOG: reports a crashed server with the end of its log.
server_died() {
  KEEP_WORKDIR=1
  log "$1 (pid $2) is no longer running; last lines of $3:"
  tail -n 30 "$3" >&2 || true
}

# rss_kb PID FIELD: a field of /proc/PID/status in kB (VmRSS, VmHWM).
rss_kb() {
  awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print "NA" }' "/proc/$1/status"
}

# cli PORT ARGS...: redis-cli against a local port with the client pinning.
cli() {
  local port=$1
  shift
  "${PIN_CLIENT[@]}" "$REDIS_CLI" "${TLS_CLI_ARGS[@]}" -h 127.0.0.1 -p "$port" "$@"
}

# median: the median of the numbers on stdin (mean of the middle two for an
# even count), NA when there are none.
median() {
  sort -g | awk '{ a[NR] = $1 }
    END {
      if (NR == 0) { print "NA"; exit }
      if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2
    }'
}

# ratio A B: A/B with two decimals, NA if either is missing or B is zero.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "NA" || b == "NA" || a == "" || b == "" || b + 0 == 0) print "NA"
    else printf "%.2f\n", a / b
  }'
}

# fmt_num N DECIMALS: a number with fixed decimals, NA kept.
fmt_num() {
  awk -v n="$1" -v d="$2" 'BEGIN { if (n == "NA" || n == "") print "NA"; else printf "%.*f\n", d, n }'
}

# gen_load_file N: prints the path of a RESP mass-insert file with SET commands
# for keys key:000000000000 .. key:<N-1> (16 bytes; the same keys redis-benchmark
# -r N uses for key:__rand_int__) with 32-byte values. The file is generated once
# per N in LOAD_DIR (default /tmp) and reused; every record is 75 bytes.
LOAD_DIR=${LOAD_DIR:-${TMPDIR:-/tmp}}
gen_load_file() {
  local n=$1 f size
  f=$LOAD_DIR/granary-bench-load-$n.resp
  size=$(stat -c %s "$f" 2>/dev/null || echo 0)
  if ((size != 75 * n)); then
    log "generating $f ($((75 * n / 1000000)) MB)"
    LC_ALL=C awk -v n="$n" 'BEGIN {
      for (i = 0; i < n; i++)
        printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\nvalue:%026d\r\n", i, i
    }' >"$f.tmp.$$"
    mv "$f.tmp.$$" "$f"
  fi
  echo "$f"
}

# build_helper NAME: builds the Go program bench/NAME into WORKDIR; prints
# its path (a failed build ends the script: VAR=$(build_helper NAME) under
# set -e).
build_helper() {
  local out=$WORKDIR/$1
  (cd "$ROOT" && go build -o "$out" "./bench/$1") >&2 || die "cannot build bench/$1"
  echo "$out"
}

# gen_csv_file N: the same N keys and values as a CSV for granary import
# (key,value per line, 50 bytes each), generated once per N in LOAD_DIR;
# prints its path.
gen_csv_file() {
  local n=$1 f
  f=$LOAD_DIR/granary-bench-load-$n.csv
  if [[ $(stat -c %s "$f" 2>/dev/null || echo 0) != $((50 * n)) ]]; then
    log "generating $f"
    LC_ALL=C awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "key:%012d,value:%026d\n", i, i }' >"$f.tmp.$$"
    mv "$f.tmp.$$" "$f"
  fi
  echo "$f"
}

# expected_value I: the value gen_load_file stores under key I.
expected_value() { printf 'value:%026d' "$1"; }
