#!/usr/bin/env bash
# End to end under wine: zlayer-wg.exe, carrying packets between the Wintun
# test double and loopback UDP, against a Linux WireGuard peer, all inside a
# network namespace of its own (removed on exit, even on failure).
#
#   tests/windows/e2e.sh BUILD_WIN [LINUX_BUILD]
#
# BUILD_WIN is the mingw build (scripts/windows-test.sh); its e2e/ directory
# holds zlayer-wg-unsigned-test.exe (zlayer-wg.exe built with the loader that
# skips the signature check: a test build only) next to the double's
# wintun.dll, and uapi_pipe_client.exe (what wg.exe does with the pipe).
# LINUX_BUILD (default: build) holds the Linux zlayer-wg.
#
#   1. zlayer-wg.exe <-> Linux zlayer-wg. The "Windows host" (tap_driver.py,
#      through the double's tap) pings the Linux side: its ICMP echo requests
#      go into the double's receive ring, leave zlayer-wg.exe as WireGuard
#      datagrams on loopback, are decrypted by zlayer-wg, answered by the
#      Linux stack, and the replies come out of the double's send ring. Then
#      the Linux side pings the "Windows host", the other way round.
#   2. The same against wireguard-go, the Linux side speaking first.
#   3. The named-pipe UAPI: get=1 shows the peer, its handshake and its byte
#      counters; a bad set is refused with an errno and changes nothing.
#   4. Clean shutdown when the adapter is removed: exit status 0, the pipe
#      gone.
#   5. The service: --install-service starts zlayer-wg.exe under wine's
#      service manager as LocalSystem, its pipe answers, --uninstall-service
#      stops it cleanly and removes it.
# Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
win=${1:?usage: e2e.sh BUILD_WIN [LINUX_BUILD]}
lin=${2:-build}
case "$win" in /*) ;; *) win=$root/$win ;; esac
case "$lin" in /*) ;; *) lin=$root/$lin ;; esac
exe_dir=$win/e2e
exe=$exe_dir/zlayer-wg-unsigned-test.exe
client=$exe_dir/uapi_pipe_client.exe
lin_wg=$lin/tools/zlayer-wg/zlayer-wg
for f in "$exe" "$client" "$exe_dir/wintun.dll" "$lin_wg"; do
  [ -f "$f" ] || { echo "e2e: $f is missing (build it first)" >&2; exit 2; }
done
for tool in wine wineserver wg wireguard-go python3 ip; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is missing" >&2; exit 2; }
done

export WINEPREFIX=${WINEPREFIX:-$win/wineprefix}
export WINEDEBUG=-all DISPLAY= WINEDLLOVERRIDES=mscoree,mshtml=
ns=zlwine2e$$
work=$(mktemp -d)
pids=()
svc_installed=0
cleanup() {
  set +e
  if [ "$svc_installed" = 1 ]; then
    ip netns exec "$ns" timeout 60 wine "$exe" --uninstall-service zle2esvc >/dev/null 2>&1
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  ip netns exec "$ns" timeout 30 wineserver -k 2>/dev/null
  for p in "${pids[@]}"; do timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "e2e: FAILED: $*" >&2
  for f in "$work"/*.log; do
    [ -f "$f" ] || continue
    echo "--- $(basename "$f")" >&2
    tail -n 40 "$f" >&2
  done
  exit 1
}
in_ns() { ip netns exec "$ns" "$@"; }
wait_for_file() {
  for _ in $(seq 1 100); do [ -e "$1" ] && return 0; sleep 0.1; done
  fail "$1 did not appear within 10 s"
}
hex_of() { base64 -d <<<"$1" | od -An -tx1 | tr -d ' \n'; }
# The pipe client under wine, in the namespace: pipe_request IFNAME < REQUEST
pipe_request() { in_ns timeout 30 wine "$client" "$1"; }

ip netns add "$ns"
in_ns ip link set lo up
# wine's sockets are made by its server: start it inside the namespace.
in_ns timeout 30 wineserver -p </dev/null >/dev/null 2>&1
# Not --init: on a finished prefix that leaves a second services.exe (see
# scripts/windows-test.sh), and the service step would meet two databases.
in_ns timeout 120 wine wineboot >/dev/null 2>&1 || true
echo "e2e: namespace $ns, wine prefix $WINEPREFIX"

win_key=$(wg genkey); win_pub=$(wg pubkey <<<"$win_key")
win_port=51902; lin_port=51901; tap_port=51903

# Starts zlayer-wg.exe as IFNAME with the tap; waits for its pipe.
start_windows() {
  local ifname=$1
  in_ns env ZL_WINTUN_DOUBLE_TAP=127.0.0.1:$tap_port LOG_LEVEL=verbose \
    wine "$exe" "$ifname" >"$work/zlayer-wg-exe.log" 2>&1 &
  win_pid=$!
  pids+=("$win_pid")
  for _ in $(seq 1 150); do
    if printf 'get=1\n\n' | pipe_request "$ifname" >/dev/null 2>&1; then return 0; fi
    kill -0 "$win_pid" 2>/dev/null || fail "zlayer-wg.exe exited at start"
    sleep 0.2
  done
  fail "zlayer-wg.exe's pipe did not answer within 30 s"
}

configure_windows() {  # IFNAME PEER_PUBLIC_KEY PEER_ADDRESS/32
  printf 'set=1\nprivate_key=%s\nlisten_port=%s\nreplace_peers=true\npublic_key=%s\nendpoint=127.0.0.1:%s\nallowed_ip=%s\n\n' \
    "$(hex_of "$win_key")" "$win_port" "$(hex_of "$2")" "$lin_port" "$3" |
    pipe_request "$1" >"$work/set.out" || fail "set=1 through the pipe: $(cat "$work/set.out")"
}

# Starts a Linux peer (zlayer-wg or wireguard-go) as IFNAME, 10.77.0.1/24.
start_linux() {  # PROGRAM IFNAME
  local program=$1 ifname=$2
  lin_key=$(wg genkey); lin_pub=$(wg pubkey <<<"$lin_key")
  # Ready when its UAPI socket answers: the file exists a moment before the
  # socket listens (wireguard-go binds, then listens), and `wg` takes a file
  # it cannot connect to for a kernel interface ("Protocol not supported").
  # A peer that exits before it answers is started once more (its log
  # kept): Debian's wireguard-go once closed itself within a second of
  # starting, right after the previous peer's interface was deleted, with
  # nothing in its log (1 run in many).
  local ready=0 attempt
  for attempt in 1 2; do
    rm -f "/var/run/wireguard/$ifname.sock"  # a stale one from a killed run
    in_ns env LOG_LEVEL=verbose "$program" -f "$ifname" >"$work/linux-$ifname.log" 2>&1 &
    lin_pid=$!
    pids+=("$lin_pid")
    for _ in $(seq 1 150); do
      if in_ns wg show "$ifname" >/dev/null 2>&1; then ready=1; break; fi
      kill -0 "$lin_pid" 2>/dev/null || break
      sleep 0.1
    done
    [ "$ready" = 1 ] && break
    kill -0 "$lin_pid" 2>/dev/null && break  # alive but not answering: fail below
    echo "e2e: $program $ifname exited before its UAPI socket answered (attempt $attempt); its log:"
    cat "$work/linux-$ifname.log"
    wait "$lin_pid" 2>/dev/null || true
    in_ns ip link del "$ifname" 2>/dev/null || true
  done
  [ "$ready" = 1 ] || fail "$program $ifname: its UAPI socket did not answer within 15 s"
  in_ns wg set "$ifname" private-key <(echo "$lin_key") listen-port "$lin_port" \
    peer "$win_pub" allowed-ips 10.77.0.2/32 endpoint "127.0.0.1:$win_port" ||
    fail "wg set $ifname"
  in_ns ip addr add 10.77.0.1/24 dev "$ifname"
  in_ns ip link set "$ifname" up
}

check_pipe_get() {  # IFNAME PEER_PUBLIC_KEY
  printf 'get=1\n\n' | pipe_request "$1" >"$work/get.out" || fail "get=1: $(cat "$work/get.out")"
  grep -q "^public_key=$(hex_of "$2")$" "$work/get.out" || fail "get=1 does not show the peer: $(cat "$work/get.out")"
  grep -q "^listen_port=$win_port$" "$work/get.out" || fail "get=1: wrong listen_port"
  grep -qE '^last_handshake_time_sec=[1-9]' "$work/get.out" || fail "get=1: no handshake"
  grep -qE '^rx_bytes=[1-9]' "$work/get.out" || fail "get=1: no bytes received"
  grep -qE '^tx_bytes=[1-9]' "$work/get.out" || fail "get=1: no bytes sent"
  if grep -q "private_key=$(hex_of "$win_key")" "$work/zlayer-wg-exe.log"; then
    fail "the private key appears in zlayer-wg.exe's log"
  fi
}

# --- 1. against Linux zlayer-wg: the Windows side speaks first -------------
start_linux "$lin_wg" zle2elin
# The driver first: the double says hello when the session starts.
in_ns timeout 150 python3 "$root/tests/windows/tap_driver.py" --listen 127.0.0.1:$tap_port \
  --local 10.77.0.2 --remote 10.77.0.1 --go-when "$work/go1" --ping 3 --answer-pings 8 \
  --remove-when "$work/remove-now" --ready-file "$work/ready1" >"$work/driver.log" 2>&1 &
driver=$!
pids+=("$driver")
wait_for_file "$work/ready1"
start_windows zle2ewin
configure_windows zle2ewin "$lin_pub" 10.77.0.1/32
touch "$work/go1"
sleep 4  # the driver's own pings run first (each answered within 5 s)
in_ns ping -c 3 -i 0.5 -W 2 10.77.0.2 >"$work/ping.log" 2>&1 ||
  fail "ping from Linux to the Windows side through zlayer-wg.exe"
sleep 5  # the driver answers pings for 8 s
grep -q "echo reply 3" "$work/driver.log" || fail "the Windows side's pings: $(cat "$work/driver.log")"
echo "e2e: zlayer-wg.exe <-> zlayer-wg: both directions carried packets"
check_pipe_get zle2ewin "$lin_pub"
in_ns wg show zle2elin latest-handshakes | grep -qE "\s[1-9][0-9]*$" ||
  fail "the Linux side saw no handshake"

# --- 3. a bad set through the pipe is refused and changes nothing ----------
printf 'set=1\nlisten_port=notaport\n\n' | pipe_request zle2ewin >"$work/bad.out" 2>&1 &&
  fail "a bad set was accepted"
grep -qE '^errno=-[1-9]' "$work/bad.out" || fail "a bad set got no errno: $(cat "$work/bad.out")"
printf 'get=1\n\n' | pipe_request zle2ewin | grep -q "^listen_port=$win_port$" ||
  fail "a bad set changed the listen port"
echo "e2e: the named pipe answers get=1 and set=1, and refuses a bad set"

# --- 4. removing the adapter ends zlayer-wg.exe cleanly ---------------------
touch "$work/remove-now"
wait "$driver" || fail "the tap driver: $(cat "$work/driver.log")"
cat "$work/driver.log"
grep -q "ended its Wintun session" "$work/driver.log" || fail "no end of the Wintun session"
for _ in $(seq 1 100); do kill -0 "$win_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$win_pid" 2>/dev/null && fail "zlayer-wg.exe still runs 10 s after its adapter was removed"
status=0; wait "$win_pid" || status=$?
[ "$status" = 0 ] || fail "zlayer-wg.exe exited with status $status after the adapter was removed"
grep -q "was removed, shutting down" "$work/zlayer-wg-exe.log" || fail "no removal message"
grep -q "shut down cleanly" "$work/zlayer-wg-exe.log" || fail "no clean shutdown"
printf 'get=1\n\n' | pipe_request zle2ewin >/dev/null 2>&1 && fail "the pipe still answers"
echo "e2e: removing the adapter ends zlayer-wg.exe cleanly (status 0, pipe gone)"
# The next Linux peer takes the same port: wait until this one is gone.
in_ns ip link del zle2elin
for _ in $(seq 1 100); do kill -0 "$lin_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$lin_pid" 2>/dev/null && fail "zlayer-wg still runs 10 s after its interface was deleted"

# --- 2. against wireguard-go: the Linux side speaks first ------------------
start_linux wireguard-go zle2ego
in_ns timeout 150 python3 "$root/tests/windows/tap_driver.py" --listen 127.0.0.1:$tap_port \
  --local 10.77.0.2 --remote 10.77.0.1 --go-when "$work/go2" --answer-pings 6 \
  --ready-file "$work/ready2" >"$work/driver.log" 2>&1 &
driver=$!
pids+=("$driver")
wait_for_file "$work/ready2"
start_windows zle2ewin2
configure_windows zle2ewin2 "$lin_pub" 10.77.0.1/32
touch "$work/go2"
sleep 1
in_ns ping -c 3 -i 0.5 -W 2 10.77.0.2 >"$work/ping.log" 2>&1 ||
  fail "ping from wireguard-go's side to the Windows side"
wait "$driver" || fail "the tap driver: $(cat "$work/driver.log")"
cat "$work/driver.log"
check_pipe_get zle2ewin2 "$lin_pub"
echo "e2e: zlayer-wg.exe <-> wireguard-go: both directions carried packets"
kill -INT "$win_pid" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$win_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$win_pid" 2>/dev/null && kill "$win_pid"

# --- 5. the service ---------------------------------------------------------
# A service left by an earlier, killed run of this test goes first.
in_ns timeout 60 wine "$exe" --uninstall-service zle2esvc >/dev/null 2>&1 || true
svc_installed=1
in_ns timeout 60 wine "$exe" --install-service zle2esvc >"$work/install.log" 2>&1 ||
  fail "--install-service: $(cat "$work/install.log")"
cat "$work/install.log"
printf 'get=1\n\n' | pipe_request zle2esvc >"$work/svc-get.out" ||
  fail "the service's pipe: $(cat "$work/svc-get.out")"
grep -q '^errno=0$' "$work/svc-get.out" || fail "the service's get=1"
in_ns timeout 60 wine "$exe" --uninstall-service zle2esvc >"$work/uninstall.log" 2>&1 ||
  fail "--uninstall-service: $(cat "$work/uninstall.log")"
cat "$work/uninstall.log"
svc_installed=0
printf 'get=1\n\n' | pipe_request zle2esvc >/dev/null 2>&1 && fail "the service's pipe still answers"
svclog=$(find "$WINEPREFIX/drive_c" -ipath '*zlayer/log/zlayer-wg-zle2esvc.log' | head -n 1)
[ -n "$svclog" ] || fail "the service wrote no log"
grep -q "service stop requested" "$svclog" || fail "the service's log has no stop: $(tail -5 "$svclog")"
grep -q "shut down cleanly" "$svclog" || fail "the service did not shut down cleanly"
rm -f "$svclog"
echo "e2e: --install-service runs it under the service manager, --uninstall-service stops it cleanly"
echo "e2e: all passed"
