#!/usr/bin/env bash
# Restart of a data server holding many keys on the disk engine: a cluster of
# three data servers (--engine disk, copies 2, ack sync) is loaded with N
# keys by `granary import`; one data server is SIGKILLed, the cluster goes on
# taking writes (W random SETs), and the killed server is restarted on its
# directory. Prints how long it took to answer again, to be back in the
# table, and to have every copy caught up, with the catch-up counters of its
# primaries: replay (from their logs) against snapshot (whole buckets).
#
# Environment: N keys [10000000], W writes while it is down [100000].
# Quick run: N=1000000 bench/disk-restart.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=2
# shellcheck source=bench/cluster_lib.sh
source "$(dirname "$0")/cluster_lib.sh"

N=${N:-10000000}
W=${W:-100000}
export GRANARY_ARGS="${GRANARY_ARGS:-} --engine disk"
GRANARY_PROCS=0
WRITER=$(build_helper writer)

csv=$(gen_csv_file "$N")

start_granary_cluster G granary 2 1
t0=$(date +%s%3N)
"$GRANARY_BIN" import --quiet --addr "127.0.0.1:$G_CFG_RESP" "$csv" >&2
log "imported $N keys in $(($(date +%s%3N) - t0)) ms"

behind() { metric_sum G granary_repl_secondaries_behind; }
catchups() { # KIND: the sum over the data servers but the victim (whose counters restart at 0)
  metric_sum G "granary_repl_catchups_total{kind=\"$1\"}" "${G_DATA_HTTP[$victim]}"
}
wait_caught_up G 600
# Settle: every bucket with all its copies and the table unchanged for 5 s,
# so that the kill below finds every copy in sync and promotable.
settled=0 last=""
until ((settled >= 5)); do
  st=$(gctl G table 2>/dev/null | grep -m1 '^epoch') || st=""
  if [[ $st == "$last" && $st == *" 0 with fewer than"* ]]; then settled=$((settled + 1)); else settled=0; fi
  last=$st
  sleep 1
done
log "cluster settled: $last"

victim=1
pid=${G_PIDS[$((victim + 1))]} # G_PIDS: the config server, then the data servers
port=${G_PORTS[$victim]}
http=${G_DATA_HTTP[$victim]}
mapfile -d '' cmdline <"/proc/$pid/cmdline"
replay0=$(catchups replay) snap0=$(catchups snapshot)
log "SIGKILL data server pid $pid (127.0.0.1:$port)"
kill -KILL "$pid"
sleep 3 # past the config servers' down timeout: its buckets fail over
log "writes while it is down: $("$WRITER" -addr "127.0.0.1:$G_CFG_RESP" -n "$W" -range "$N")"

t0=$(date +%s%3N)
"${cmdline[@]}" </dev/null >>"$WORKDIR/restarted.log" 2>&1 &
STARTED_PIDS+=($!)
until [[ $(cli "$port" PING 2>/dev/null) == PONG ]]; do sleep 0.05; done
t_ping=$(($(date +%s%3N) - t0))
restored=$(metric "$http" granary_repl_restored_buckets)
until gctl G status 2>/dev/null | grep -q "3 up"; do sleep 0.1; done
t_up=$(($(date +%s%3N) - t0))
sleep 1
until (($(behind) == 0)); do sleep 0.1; done
t_caught=$(($(date +%s%3N) - t0))
replay=$(($(catchups replay) - replay0)) snap=$(($(catchups snapshot) - snap0))

echo
echo "restart of a data server of a 3-node disk cluster holding $N keys (copies 2), after $W writes while it was down"
printf '  %-44s %8s ms\n' "answering PING (store open)" "$t_ping" \
  "back in the table (node up)" "$t_up" "every copy caught up (secondaries_behind 0)" "$t_caught"
echo "  buckets read back from disk: ${restored%.*}"
echo "  catch-ups by its primaries: replay $replay, snapshot $snap"
((snap == 0)) || echo "  (snapshots: buckets whose primary's log no longer reached back to the stamp)"
