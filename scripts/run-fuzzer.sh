#!/usr/bin/env bash
# run-fuzzer.sh FUZZER [SEED_CORPUS_DIR] [SECONDS]
# Runs one libFuzzer binary for a bounded time on a scratch copy of its seed
# corpus (so runs never write into the source tree). Fails if the fuzzer finds
# a crash, a leak, a timeout or an out-of-memory.
set -euo pipefail
fuzzer=$1
seeds=${2:-}
seconds=${3:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
if [ -n "$seeds" ] && [ -d "$seeds" ]; then cp -r "$seeds"/. "$work/corpus/"; fi
cd "$work"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work/corpus"
