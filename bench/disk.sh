#!/usr/bin/env bash
# Throughput of Granary's disk engine against redis-server with an append-only
# file, same run: both persist every write and fsync once a second
# (redis: appendonly yes, appendfsync everysec; Granary: --engine disk
# --disk-sync everysec). It runs bench/throughput.sh with those settings, so
# its knobs apply (N, ROUNDS, CLIENTS, KEYSPACE, PIPELINES, ...); the default
# here is -P 16 only, the issue's figure.
#
# Quick run: N=300000 ROUNDS=2 bench/disk.sh
set -euo pipefail

dir=$(mktemp -d "${TMPDIR:-/tmp}/granary-bench-disk.XXXXXX")
trap 'rm -rf "$dir"' EXIT

export REDIS_ARGS="${REDIS_ARGS:-} --appendonly yes --appendfsync everysec --dir $dir"
export GRANARY_ARGS="${GRANARY_ARGS:-} --engine disk --dir $dir/granary --disk-sync everysec"
export PIPELINES=${PIPELINES:-16}
echo "disk engine vs redis-server with AOF (everysec); data in $dir"
"$(dirname "$0")/throughput.sh"
