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
#   PROBE_TIMEOUT  seconds a fresh cluster may answer TRYAGAIN to the probes [20]
#   GRANARY_PROCS, GRANARY_ARGS (data servers), REDIS_ARGS, GRANARY_BIN: see lib.sh
#
# The cluster helpers (start, probe, run, medians) are in cluster_lib.sh,
# shared with replication.sh.
#
# Quick run: N=200000 ROUNDS=2 bench/cluster.sh (a smoke test: a run that short
# lasts well under a second and redis-benchmark --cluster's ops/s come out in
# coarse steps, e.g. 398406 or 796813 for -n 200000; use the default N for figures).
# At -P 16 the single-threaded redis-benchmark itself may be the limit: when
# both clusters give the same ops/s, the ratio says "at least as fast as the client".
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=bench/cluster_lib.sh
source "$(dirname "$0")/cluster_lib.sh"

start_redis_cluster 3
start_granary_cluster GRANARY granary 1 0

# Both clusters must store and return values (on every master) before the
# figures mean anything.
probe_cluster REDIS
probe_cluster GRANARY

warmup REDIS GRANARY

log "cluster throughput: N=$N c=$CLIENTS P=$PIPELINE r=$KEYSPACE tests=$TESTS rounds=$ROUNDS entry=$ENTRY procs=$GRANARY_PROCS"
for r in $(seq 1 "$ROUNDS"); do
  run_one redis REDIS "$r"
  run_one granary GRANARY "$r"
done

echo
echo "Granary cluster (1 config + 3 data servers, copies 1) vs Redis Cluster $(redis_version) (3 masters)"
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
done < <(result_tests)
echo
print_rounds redis granary
finish
