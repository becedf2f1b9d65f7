#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this and nothing else).
#   1. install what is missing (Debian packages only)
#   2. release build; unit tests, then the netns integration tests (root)
#   3. packages: a packager's Release build (GCC, no tests) made into .debs, which
#      tests/package/install.sh installs in a scratch root and uses; a clang
#      Release build; the units verified
#   4. Windows: everything that builds for Windows (zlayer-wg.exe and its
#      layers), cross-built with mingw-w64, the unit tests under wine, then
#      zlayer-wg.exe end to end against zlayer-wg and wireguard-go in a netns
#      (scripts/windows-test.sh, tests/windows/e2e.sh)
#   5. ASan+UBSan build; unit tests
#   6. ThreadSanitizer build of the threaded layers (net, device, uapi, overlay); their tests
#   7. libFuzzer build (clang); every fuzzer for ZL_FUZZ_SECONDS (default 10 s)
# Set ZL_TEST_SKIP_SLOW=1 to leave out the real-time rekey test (label slow).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${ZL_FUZZ_SECONDS:-10}
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

# A developer's build: tests, benchmarks, and warnings as errors.
dev="-DBUILD_TESTING=ON -DZL_WERROR=ON -DZL_BENCH=ON"

step "dependencies"
./scripts/install-deps.sh windows

step "release build"
# Optimised as users get it, without debug info (it costs a third of the
# compile time); the sanitizer builds keep line tables for their reports.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" $dev >/dev/null
cmake --build build -j"$jobs"

step "unit tests"
ctest --test-dir build -L unit --output-on-failure -j"$jobs"

step "netns integration tests"
# The real-time rekey test (label slow) mostly waits for REKEY_AFTER_TIME:
# it runs beside the others (its interfaces and namespaces have names of
# their own), not after them.
slow_pid=
if [ "${ZL_TEST_SKIP_SLOW:-0}" != 1 ]; then
  ctest --test-dir build -L slow --output-on-failure >build/slow-tests.log 2>&1 &
  slow_pid=$!
fi
ctest --test-dir build -L netns -LE slow --output-on-failure
if [ -n "$slow_pid" ]; then
  slow_rc=0
  wait "$slow_pid" || slow_rc=$?
  cat build/slow-tests.log
  if [ "$slow_rc" != 0 ]; then exit "$slow_rc"; fi
fi

step "packages: Release build as a packager makes it (GCC), .debs, install test"
# What README "Install from source" and a Debian packager run, plus -Werror.
cmake -S . -B build-pkg -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DZL_WERROR=ON >/dev/null
cmake --build build-pkg -j"$jobs"
# A packager's build needs neither GoogleTest, libsodium nor Google Benchmark,
# and builds no test.
ninja -C build-pkg -t targets all >build-pkg/targets.txt
if grep -qE '^(GTest_DIR|benchmark_DIR|SODIUM_[A-Z_]*)[:=]' build-pkg/CMakeCache.txt ||
  grep -q '_test' build-pkg/targets.txt; then
  echo "the packager's build looked for a test dependency or built a test" >&2
  exit 1
fi
(cd build-pkg && cpack >/dev/null && ls -1 ./*.deb)
tests/package/install.sh build-pkg

step "Release build with clang"
CC=clang CXX=clang++ cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DZL_WERROR=ON >/dev/null
cmake --build build-clang -j"$jobs"

step "Windows: mingw-w64 cross build, tests under wine"
./scripts/windows-test.sh build-win build

step "ASan+UBSan build and unit tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" \
  -DZL_SANITIZE=ON $dev -DZL_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs"

step "ThreadSanitizer: wg, net, device, uapi, overlay"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DZL_TSAN=ON $dev -DZL_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target wg_test net_test device_test uapi_test overlay_test
# wg_test: only the suites that call the engine from several threads (the
# rest is single-threaded and takes over two minutes under TSan).
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/wg_test --gtest_brief=1 \
  --gtest_filter='AeadPoolTest.*:EngineConcurrencyTest.*:DataPathUnderChange.*:EngineConcurrentHandshakeTest.*'
for t in net_test device_test uapi_test overlay_test; do
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 "build-tsan/$t" --gtest_brief=1
done

step "fuzzers (${fuzz_seconds}s each)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DZL_FUZZ=ON -DZL_WERROR=ON -DZL_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build-fuzz -j"$jobs"
ctest --test-dir build-fuzz -L fuzz --output-on-failure

step "all tests passed"
