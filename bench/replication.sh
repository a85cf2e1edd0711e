#!/usr/bin/env bash
# Cost of replication: a Granary cluster with copies 2 against one with
# copies 1, on loopback, same machine, same run, with a 3-master Redis Cluster
# (no replicas) as the reference.
#
#   redis:   three redis-server --cluster-enabled yes (save "", appendonly no),
#            joined with redis-cli --cluster create ... --cluster-replicas 0
#   A:       granary config --copies 1 --min-nodes 3 --auto-add, three
#            granary data --procs $GRANARY_PROCS (namespace 0 left undefined:
#            ack sync, the default; with one copy nothing waits)
#   B:       the same with --copies 2 (each bucket: a primary and a secondary
#            on another data server); its data servers serve /metrics
#
# Namespace 0 (the one redis-benchmark uses) of B is defined once with
# `granary ctl namespace create 0 --name bench --ack async`; before each B run
# `granary ctl namespace update 0 --ack async|sync` switches its mode (data
# servers learn it within a heartbeat; the script sleeps 1 s after it):
#   B-async  the primary replies once it applied the write
#   B-sync   the primary replies once every replica applied it
#
# Before measuring, every master of each cluster must store and return values
# (B: with ack sync, so the secondaries answer too), retrying TRYAGAIN for up to
# PROBE_TIMEOUT seconds: a fresh cluster needs a moment for leases and links.
#
# The rounds alternate redis, A, B-async, B-sync, ... for ROUNDS rounds:
#
#   redis-benchmark --cluster -c 50 -P 16 -t set,get -n $N -r 1000000 --csv
#
# and the script prints the median ops/s, p50 and p99 of each configuration,
# its ratio to A (copies 1) and to Redis, and the targets of the replication
# issue: B-async / A >= 0.8 and B-sync / A >= 0.5. At the end it prints the
# granary_repl_ metrics of one of B's data servers (records sent, catch-ups,
# lag, settle timeouts, link resets) as evidence that replication ran.
#
# CPU: on a 2-core machine the 3 servers under test and redis-benchmark share
# two cores (the other clusters only sleep meanwhile); with copies 2 each data
# server also applies its secondaries' writes, so B does about twice A's work
# on the same cores. Read the figures with the load average.
#
# redis-benchmark --cluster sends all the keys of a master to one slot (a hash
# tag, key:{06S}:...): each master's writes go to one bucket, and each primary
# replicates to one secondary, so records sent and applied are uneven across
# the data servers (one may apply none). Redis and A see the same keys.
#
# Environment (defaults in brackets):
#   N         requests per test [2000000]
#   CLIENTS   connections (-c) [50]
#   PIPELINE  pipeline depth (-P) [16]
#   KEYSPACE  random key range (-r) [1000000]
#   TESTS     redis-benchmark -t list [set,get]
#   ROUNDS    rounds per configuration, at least 2 [3]
#   CONFIGS   configurations to run, in round order ["redis A B-async B-sync"]
#   ENTRY     config | data: the Granary node redis-benchmark starts from [config]
#   TIMEOUT   seconds before a single redis-benchmark run is abandoned [600]
#   WARMUP    1: one unrecorded short run against each cluster first [1]
#   PROBE_TIMEOUT  seconds a fresh cluster may answer TRYAGAIN to the probes [20]
#   GRANARY_PROCS, GRANARY_ARGS (data servers), REDIS_ARGS, GRANARY_BIN: see lib.sh
#
# Quick run: N=200000 ROUNDS=2 bench/replication.sh (a smoke test; use
# N=1000000 or more for figures).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=bench/cluster_lib.sh
source "$(dirname "$0")/cluster_lib.sh"

CONFIGS=${CONFIGS:-redis A B-async B-sync}
read -ra CONFIG_LIST <<<"$CONFIGS"
for c in "${CONFIG_LIST[@]}"; do
  [[ $c == redis || $c == A || $c == B-async || $c == B-sync ]] ||
    die "CONFIGS: unknown configuration '$c' (redis, A, B-async, B-sync)"
done

start_redis_cluster 3
start_granary_cluster A "granary A" 1 0
start_granary_cluster B "granary B" 2 1

# Every master of each cluster must store and return values before the
# figures mean anything; B's namespace 0 is still undefined here, so its
# writes are acknowledged sync: the secondaries answer too.
probe_cluster REDIS
probe_cluster A
probe_cluster B
gctl B namespace create 0 --name bench --ack async >"$WORKDIR/granary-B-namespace.txt" 2>&1 ||
  die "granary ctl namespace create 0 failed: $(cat "$WORKDIR/granary-B-namespace.txt")"

# set_ack MODE: B's namespace 0 acknowledges writes MODE (async or sync).
set_ack() {
  gctl B namespace update 0 --ack "$1" >"$WORKDIR/granary-B-namespace.txt" 2>&1 || {
    FAILED+=("granary ctl namespace update 0 --ack $1 failed: $(tr '\n' ' ' <"$WORKDIR/granary-B-namespace.txt")")
    return 1
  }
  sleep 1 # data servers learn it from their next heartbeat (250 ms)
}

# prefix_of CONFIG: the cluster a configuration runs against; describe CONFIG:
# its name in the table.
prefix_of() { case $1 in redis) echo REDIS ;; A) echo A ;; *) echo B ;; esac; }
describe() {
  case $1 in
  redis) echo "Redis Cluster" ;;
  A) echo "copies 1" ;;
  B-async) echo "copies 2 async" ;;
  B-sync) echo "copies 2 sync" ;;
  esac
}

set_ack sync || true
warmup REDIS A B

# repl_counters HTTP: records sent, records applied, settle timeouts, link
# resets and rejected frames of one of B's data servers so far (NA when its
# /metrics does not answer).
repl_counters() {
  { curl -sf --max-time 5 "http://$1/metrics" || true; } | awk '
    BEGIN { split("records_sent records_applied settle_timeouts link_resets rejected", k, " ") }
    /^granary_repl_[a-z_]+_total / { v[substr($1, 14, length($1) - 19)] = sprintf("%.0f", $2) }
    END { for (i = 1; i <= 5; i++) printf "%s%s", (k[i] in v ? v[k[i]] : "NA"), (i < 5 ? " " : "\n") }'
}
REPL_BEFORE=()
for http in "${B_DATA_HTTP[@]}"; do REPL_BEFORE+=("$(repl_counters "$http")"); done

log "replication cost: N=$N c=$CLIENTS P=$PIPELINE r=$KEYSPACE tests=$TESTS rounds=$ROUNDS configs='$CONFIGS' entry=$ENTRY procs=$GRANARY_PROCS"
for r in $(seq 1 "$ROUNDS"); do
  for c in "${CONFIG_LIST[@]}"; do
    if [[ $c == B-* ]] && ! set_ack "${c#B-}"; then continue; fi
    run_one "$c" "$(prefix_of "$c")" "$r"
  done
done

mapfile -t TEST_LIST < <(result_tests)
echo
echo "Replication cost: Granary copies 2 (B) against copies 1 (A); Redis Cluster $(redis_version) (3 masters, no replicas) as reference"
echo "  redis-benchmark --cluster -c $CLIENTS -P $PIPELINE -r $KEYSPACE -n $N; median of $ROUNDS alternating rounds ($CONFIGS)"
echo "  granary: 1 config + 3 data servers per cluster, entry: $ENTRY server; data servers --procs $GRANARY_PROCS; cores=$(nproc) host=$(uname -n)"
echo "  load average at start: $LOADAVG_START, at end: $(loadavg)"
echo "  /A = ops/s / copies 1's ops/s, /redis = ops/s / Redis Cluster's ops/s (higher is better); latency in ms"
echo
line=$(printf '%-16s' configuration)
for t in "${TEST_LIST[@]}"; do
  line+=$(printf ' | %-4s %9s %5s %6s %6s %6s' "$t" ops/s /A /redis p50 p99)
done
echo "$line"
printf -v rule '%*s' "${#line}" ''
echo "${rule// /-}"
for c in "${CONFIG_LIST[@]}"; do
  line=$(printf '%-16s' "$(describe "$c")")
  for t in "${TEST_LIST[@]}"; do
    v=$(med_of "$c" "$t" 4) a=$(med_of A "$t" 4) rr=$(med_of redis "$t" 4)
    line+=$(printf ' | %-4s %9s %5s %6s %6s %6s' "" "$(fmt_num "$v" 0)" "$(ratio "$v" "$a")" \
      "$(ratio "$v" "$rr")" "$(fmt_num "$(med_of "$c" "$t" 5)" 3)" "$(fmt_num "$(med_of "$c" "$t" 6)" 3)")
  done
  echo "$line"
done
echo
for c in B-async B-sync; do
  line="${c#B-} copies 2 / copies 1:"
  for t in "${TEST_LIST[@]}"; do
    line+=" $t $(ratio "$(med_of "$c" "$t" 4)" "$(med_of A "$t" 4)")"
  done
  if [[ $c == B-async ]]; then echo "$line (target >= 0.8)"; else echo "$line (target >= 0.5)"; fi
done
echo
print_rounds "${CONFIG_LIST[@]}"

# Evidence that replication ran, and its errors: the granary_repl_ metrics of
# the first of B's data servers still running; settle timeouts, link resets
# and rejected frames of each, before the rounds (after the probes and the
# warm-up) and at the end; warnings and errors in B's logs.
echo
scraped=0
for i in "${!B_PORTS[@]}"; do
  pid=${B_PIDS[$((i + 1))]} http=${B_DATA_HTTP[$i]} # B_PIDS[0] is the config server
  alive "$pid" && ((scraped == 0)) || continue
  metrics=$(curl -sf --max-time 5 "http://$http/metrics" | grep '^granary_repl_') || continue
  echo "granary_repl_ metrics of granary B data server 127.0.0.1:${B_PORTS[$i]} (http://$http/metrics):"
  sed 's/^/  /' <<<"$metrics"
  scraped=1
done
((scraped)) || echo "no granary B data server answered /metrics"
echo "granary B data servers: records sent, records applied, settle timeouts, link resets, rejected frames"
echo "  (before the rounds -> at the end)"
for i in "${!B_PORTS[@]}"; do
  if alive "${B_PIDS[$((i + 1))]}"; then now=$(repl_counters "${B_DATA_HTTP[$i]}"); else now="not running"; fi
  echo "  127.0.0.1:${B_PORTS[$i]}: ${REPL_BEFORE[$i]} -> $now"
done
# The one warning every fresh data server logs (no leader yet) is left out.
for i in "${!B_PIDS[@]}"; do
  problems=$(grep -E 'level=(WARN|ERROR)|^panic|^fatal' "${B_LOGS[$i]}" |
    grep -v 'no config server reachable: no routing table yet' |
    sed -E 's/^time=[^ ]+ //; s/^(level=[A-Z]+ msg=("[^"]*"|[^ ]*)).*/\1/' | sort | uniq -c | sort -rn) || true
  [[ -n $problems ]] || continue
  echo "${B_ROLES[$i]} log ${B_LOGS[$i]}, warnings and errors (count, message):"
  head -n 8 <<<"$problems" | cut -c1-200 | sed 's/^/  /'
  if grep -qE 'level=ERROR|^panic|^fatal' "${B_LOGS[$i]}"; then KEEP_WORKDIR=1; fi
done

finish
