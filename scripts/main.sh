#!/usr/bin/env bash
# The main job: install, build, then the overlay demo: a control node and two
# nodes, each in its own network namespace, joined by tokens, pinging each
# other by name, `status` printed, all torn down (scripts/overlay-demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ZLAYER_OVERLAY="$PWD/build/tools/zlayer-overlay/zlayer-overlay" ./scripts/overlay-demo.sh
