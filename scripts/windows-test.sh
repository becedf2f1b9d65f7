#!/usr/bin/env bash
# Cross-builds the Windows targets with mingw-w64 and runs their unit tests
# under wine, headless, then the end-to-end test of zlayer-wg.exe against the
# Linux zlayer-wg and wireguard-go (tests/windows/e2e.sh, root: it makes a
# network namespace): scripts/windows-test.sh [BUILD_DIR [LINUX_BUILD_DIR]]
# LINUX_BUILD_DIR (default build) must hold a built Linux zlayer-wg; set
# ZL_WINDOWS_SKIP_E2E=1 to leave the end-to-end test out.
# Needs the packages of `scripts/install-deps.sh windows`. Exits non-zero if
# the build or any test fails. Every wait is bounded; each phase prints how
# long it took.
#
# WINEPREFIX: from the environment if set (absolute), else BUILD_DIR/wineprefix,
# so CI runs start from a clean prefix of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-build-win}
case "$build" in /*) ;; *) build=$root/$build ;; esac
linux_build=${2:-build}
export WINEPREFIX=${WINEPREFIX:-$build/wineprefix}
export WINEDEBUG=-all
export DISPLAY=
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
jobs=${JOBS:-2}

phase_start=$SECONDS
phase() {
  echo "windows-test: $1 took $((SECONDS - phase_start)) s"
  phase_start=$SECONDS
}

for tool in x86_64-w64-mingw32-g++-posix wine wineserver cmake ninja; do
  command -v "$tool" >/dev/null || {
    echo "windows-test: $tool is missing (scripts/install-deps.sh windows)" >&2
    exit 2
  }
done

timeout 300 cmake -S . -B "$build" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-mingw-w64-x86_64.cmake" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DZL_WERROR=ON >/dev/null
phase configure
timeout 3600 cmake --build "$build" -j"$jobs"
phase build

# Wine: a persistent server for the whole run (ctest would otherwise wait on
# the background processes each test leaves), an initialised prefix that
# reports Windows 10, and no crash dialog (a crashing test must fail, not
# exit 0 through winedbg).
mkdir -p "$WINEPREFIX"
cleanup() { timeout 30 wineserver -k 2>/dev/null || true; }
# A server left running for this prefix (an interrupted run) would be reused
# by the next wine call, and `wineserver -p` would fail: stop it first.
cleanup
trap cleanup EXIT
timeout 30 wineserver -p
timeout 180 wine wineboot --init >/dev/null 2>&1
timeout 60 wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' \
  /v Debugger /t REG_SZ /d false /f >/dev/null 2>&1
timeout 60 wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' \
  /v Auto /t REG_SZ /d 1 /f >/dev/null 2>&1
timeout 120 wine winecfg -v win10 >/dev/null 2>&1
# A prefix made by this run's `wineboot --init` is left with two services.exe,
# and tests of the service manager then see two service databases: restart
# wine on the finished prefix, which starts exactly one.
cleanup
timeout 30 wineserver -p
timeout 180 wine wineboot >/dev/null 2>&1
phase "wine prefix ($WINEPREFIX)"

status=0
# A test whose wine process fails to start (rarely seen: "Failed" in 0.01 s,
# no output) is run once more; a test that fails twice fails the run.
timeout 1800 ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 300 \
  --repeat until-pass:2 || status=$?
phase ctest
cleanup
trap - EXIT
if [ "$status" -ne 0 ]; then
  echo "windows-test: FAILED (ctest exit $status)" >&2
  exit "$status"
fi
if [ "${ZL_WINDOWS_SKIP_E2E:-0}" != 1 ]; then
  timeout 600 tests/windows/e2e.sh "$build" "$linux_build"
  phase "end-to-end test"
fi
echo "windows-test: all tests passed"
