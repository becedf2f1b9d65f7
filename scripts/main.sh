#!/usr/bin/env bash
# The main job: install, build, then bring up a real tunnel between two
# network namespaces with zlayer-wg on both ends (ping, iperf3, wg show, clean
# tear-down), then a short run of the protocol-core benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ZLAYER_WG="$PWD/build/tools/zlayer-wg/zlayer-wg" ./scripts/demo.sh
echo
echo "=== protocol core benchmark (short run; full figures: docs/BENCHMARKS.md)"
./build/bench/wg_bench --benchmark_min_time=0.2 \
  --benchmark_filter='Handshake|/1420'
