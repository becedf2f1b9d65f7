#!/usr/bin/env bash
# Runs a Windows program under wine, headless: wine-run.sh PROGRAM.exe ARGS...
# The CMAKE_CROSSCOMPILING_EMULATOR of the mingw toolchain
# (cmake/toolchain-mingw-w64-x86_64.cmake), so ctest and gtest discovery run
# the Windows test programs through it.
#
# WINEPREFIX: taken from the environment if set (it must be an absolute path),
# else $HOME/.wine-zlayer. The prefix is created on first use (about 6 s).
# Wine's own messages are silenced (WINEDEBUG=-all); the program's stdout,
# stderr and exit status are passed through.
set -u
prefix=${WINEPREFIX:-${HOME:-/tmp}/.wine-zlayer}
case "$prefix" in
  /*) ;;
  *) echo "wine-run: WINEPREFIX must be an absolute path, not '$prefix'" >&2; exit 2 ;;
esac
export WINEPREFIX=$prefix
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}  # no Mono/Gecko prompts
export DISPLAY=  # headless: no window, ever
wine=$(command -v wine) || {
  echo "wine-run: wine is not installed (apt-get install wine64 wine)" >&2
  exit 2
}
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  mkdir -p "$WINEPREFIX"
  # Bounded: a prefix that cannot be made in two minutes will not be made.
  timeout 120 "$wine" wineboot --init >/dev/null 2>&1 || {
    echo "wine-run: could not create the wine prefix $WINEPREFIX" >&2
    exit 2
  }
fi
exec "$wine" "$@"
