#!/usr/bin/env bash
# Bulk import into a disk namespace: `granary import` (sorted files ingested
# by the engine) against loading the same keys with pipelined SETs
# (`redis-cli --pipe`), both into a fresh standalone Granary with
# --engine disk, same run. Prints keys/s of each and the ratio (target: the
# import at least 5 times faster), then checks a sample of keys.
#
# Environment: N keys [10000000]; GRANARY_ARGS extra data server flags.
# Quick run: N=1000000 bench/import.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=${N:-10000000}
need "$REDIS_CLI" awk
ensure_granary

# The same keys and values for both: gen_load_file's RESP file, and a CSV.
resp=$(gen_load_file "$N")
csv=$(gen_csv_file "$N")

now_ms() { date +%s%3N; }

run() { # NAME: a fresh disk server, loaded one way; prints the ms it took
  local name=$1 t0 t1
  GRANARY_ARGS="${GRANARY_ARGS:-} --engine disk --dir $WORKDIR/$name --procs 0" start_granary
  t0=$(now_ms)
  if [[ $name == import ]]; then
    "$GRANARY_BIN" import --quiet --addr "127.0.0.1:$GRANARY_PORT" "$csv" >&2
  else
    "$REDIS_CLI" -h 127.0.0.1 -p "$GRANARY_PORT" --pipe <"$resp" >&2
  fi
  t1=$(now_ms)
  got=$(cli "$GRANARY_PORT" DBSIZE)
  for i in 0 $((N / 2)) $((N - 1)); do
    v=$(cli "$GRANARY_PORT" GET "$(printf 'key:%012d' "$i")")
    [[ $v == "$(expected_value "$i")" ]] || die "$name: key $i holds '$v'"
  done
  log "$name: $N keys in $((t1 - t0)) ms (DBSIZE $got)"
  stop_pid "$GRANARY_PID"
  echo $((t1 - t0))
}

pipe_ms=$(run pipe)
import_ms=$(run import)
echo
echo "bulk load of $N keys (16-byte keys, 32-byte values) into a disk namespace, cores=$(nproc)"
printf '  %-28s %8s ms %12s keys/s\n' "redis-cli --pipe (SETs)" "$pipe_ms" "$((N * 1000 / pipe_ms))"
printf '  %-28s %8s ms %12s keys/s\n' "granary import (ingest)" "$import_ms" "$((N * 1000 / import_ms))"
echo "  import / pipe speed: $(ratio "$pipe_ms" "$import_ms")x (target >= 5)"
