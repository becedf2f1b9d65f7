#!/usr/bin/env bash
# record.sh — regenerates the golden UAPI transcripts in this directory from
# wireguard-go itself. Not run in CI: the transcripts are checked in and
# src/uapi/codec_test.cc replays them through our codec.
#
# Usage (root; needs wireguard-go, iproute2 and python3):
#   tests/uapi-golden/record.sh            # rewrites tests/uapi-golden/*.txt
#
# Each scenario runs a fresh `wireguard-go -f IFNAME` inside a private network
# namespace created here (removed on exit, even on failure); the host's
# interfaces are never touched. The interface is left down, so wireguard-go
# never sends a packet: transfer counters and handshake times in `get` answers
# are all zero, which is what codec_test's fake device reports too.
#
# Transcript format (one file per scenario; parsed by codec_test.cc):
#   # ...              comment
#   === connection     a new client connection
#   > TEXT             request bytes TEXT followed by "\n"   (">" alone: "\n")
#   >| TEXT            request bytes TEXT with no newline
#   ! eof              the client shut down its writing side after the request
#   < TEXT             response bytes TEXT followed by "\n"  ("<" alone: "\n")
#   <| TEXT            response bytes with no newline
#   ! closed           the server closed the connection (read returned EOF)
# A transaction is a run of ">" lines (plus "! eof") and the "<" lines after it.
# TEXT escapes: \\ backslash, \r, \t, \xNN any byte, \*N*c the character c
# repeated N times (used for the over-long lines).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
command -v wireguard-go >/dev/null || { echo "record.sh: wireguard-go missing (scripts/install-deps.sh)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "record.sh: must run as root (netns, TUN)" >&2; exit 1; }

ns="zl-uapi-golden-$$"
ifname="zlgold$$"
ifname=${ifname:0:15}
sock="/var/run/wireguard/$ifname.sock"
wgpid=""

cleanup() {
  if [ -n "$wgpid" ]; then kill "$wgpid" 2>/dev/null || true; wait "$wgpid" 2>/dev/null || true; fi
  rm -f "$sock"
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"

version=$(wireguard-go --version 2>&1 | head -1)

start_wg() {
  ip netns exec "$ns" env LOG_LEVEL=silent wireguard-go -f "$ifname" >/dev/null 2>&1 &
  wgpid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
  echo "record.sh: wireguard-go did not create $sock" >&2
  exit 1
}

stop_wg() {
  kill "$wgpid" 2>/dev/null || true
  wait "$wgpid" 2>/dev/null || true
  wgpid=""
  rm -f "$sock"
}

for scenario in $(python3 "$here/scenarios.py" list); do
  start_wg
  python3 "$here/scenarios.py" record "$scenario" "$sock" "$version" >"$here/$scenario.txt"
  stop_wg
  echo "record.sh: wrote tests/uapi-golden/$scenario.txt"
done
