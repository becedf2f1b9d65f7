#!/usr/bin/env bash
# demo.sh — a zlayer-wg tunnel between two network namespaces, step by step.
#
#   ┌────────────────────────────┐               ┌────────────────────────────┐
#   │ zld-<pid>-a                │               │ zld-<pid>-b                │
#   │   zlayer-wg  zd<pid>a      │  WireGuard    │   zlayer-wg  zd<pid>b      │
#   │   10.0.0.1/24  ════════════╪═══════════════╪═══ 10.0.0.2/24            │
#   │   veth0 192.0.2.1/24 ──────┼───── veth ────┼── veth0 192.0.2.2/24      │
#   └────────────────────────────┘               └────────────────────────────┘
#
# Both ends run zlayer-wg ($ZLAYER_WG, default build/tools/zlayer-wg/zlayer-wg),
# configured with the standard wg(8) tool. Then a ping, a 3 s iperf3 TCP stream,
# `wg show`, and tear-down. Needs root; everything it creates is removed on exit,
# also on failure; exits non-zero if any step fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
ZLAYER_WG=${ZLAYER_WG:-$repo/build/tools/zlayer-wg/zlayer-wg}
ns_a="zld-$$-a" ns_b="zld-$$-b"
if_a="zd$$a" if_b="zd$$b"
tmp=""
pids=()

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '   $ %s\n' "$*"; "$@"; }
die() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local rc=$? pid
  set +e
  trap - EXIT INT TERM
  say "tear-down"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for ns in "$ns_a" "$ns_b"; do
    ip netns list | grep -w "$ns" >/dev/null && run ip netns del "$ns"
  done
  rm -f "/var/run/wireguard/$if_a.sock" "/var/run/wireguard/$if_b.sock"
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  if ((rc == 0)); then say "done: the tunnel worked"; else printf '\ndemo: exit status %d\n' "$rc" >&2; fi
  exit "$rc"
}

[[ "$(id -u)" -eq 0 ]] || die "run as root (it creates network namespaces and TUN devices)"
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing"
[[ -x "$ZLAYER_WG" ]] || ZLAYER_WG=$(command -v "$ZLAYER_WG" 2>/dev/null) ||
  die "zlayer-wg not found: build it (cmake --build build) or set ZLAYER_WG"
for t in ip wg iperf3 ping; do command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"; done
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tmp=$(mktemp -d /tmp/zlayer-demo.XXXXXX)
echo "zlayer-wg: $ZLAYER_WG ($("$ZLAYER_WG" --version 2>&1 | head -1))"

say "1. two network namespaces joined by a veth pair (the 'underlay')"
run ip netns add "$ns_a"
run ip netns add "$ns_b"
run ip -n "$ns_a" link add veth0 type veth peer name veth0 netns "$ns_b"
run ip -n "$ns_a" addr add 192.0.2.1/24 dev veth0
run ip -n "$ns_b" addr add 192.0.2.2/24 dev veth0
for ns in "$ns_a" "$ns_b"; do
  run ip -n "$ns" link set lo up
  run ip -n "$ns" link set veth0 up
done

say "2. keys"
(umask 077 && wg genkey >"$tmp/a.key" && wg genkey >"$tmp/b.key")
pub_a=$(wg pubkey <"$tmp/a.key")
pub_b=$(wg pubkey <"$tmp/b.key")
echo "   a: $pub_a"
echo "   b: $pub_b"

say "3. start zlayer-wg in each namespace (foreground, in the background of this script)"
for side in a b; do
  ns_var="ns_$side" if_var="if_$side"
  printf '   $ ip netns exec %s %s -f %s &\n' "${!ns_var}" "$ZLAYER_WG" "${!if_var}"
  ip netns exec "${!ns_var}" "$ZLAYER_WG" -f "${!if_var}" >"$tmp/$side.log" 2>&1 &
  pids+=($!)
done
for side in a b; do
  ns_var="ns_$side" if_var="if_$side"
  for _ in $(seq 100); do ip netns exec "${!ns_var}" wg show "${!if_var}" >/dev/null 2>&1 && break; sleep 0.1; done
  ip netns exec "${!ns_var}" wg show "${!if_var}" >/dev/null 2>&1 ||
    die "zlayer-wg ${!if_var} did not come up: $(tail -5 "$tmp/$side.log")"
done
echo "   both UAPI sockets answer: /var/run/wireguard/$if_a.sock, /var/run/wireguard/$if_b.sock"

say "4. configure them with wg(8): a knows b's endpoint, b learns a's from the handshake"
run ip netns exec "$ns_a" wg set "$if_a" private-key "$tmp/a.key" listen-port 51820 \
  peer "$pub_b" allowed-ips 10.0.0.2/32 endpoint 192.0.2.2:51821
run ip netns exec "$ns_b" wg set "$if_b" private-key "$tmp/b.key" listen-port 51821 \
  peer "$pub_a" allowed-ips 10.0.0.1/32
run ip -n "$ns_a" addr add 10.0.0.1/24 dev "$if_a"
run ip -n "$ns_b" addr add 10.0.0.2/24 dev "$if_b"
run ip -n "$ns_a" link set "$if_a" up
run ip -n "$ns_b" link set "$if_b" up

say "5. ping through the tunnel"
run ip netns exec "$ns_a" ping -c 3 -i 0.2 -W 2 -w 10 10.0.0.2 || die "no ping reply through the tunnel"

say "6. a 3-second TCP stream (iperf3) through the tunnel"
ip netns exec "$ns_b" timeout 30 iperf3 -s -1 -B 10.0.0.2 >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do ip netns exec "$ns_b" ss -Htln | grep ':5201 ' >/dev/null && break; sleep 0.1; done
run ip netns exec "$ns_a" timeout 30 iperf3 -c 10.0.0.2 -t 3 -f m || die "iperf3 through the tunnel failed"

say "7. wg show on both ends"
run ip netns exec "$ns_a" wg show "$if_a"
run ip netns exec "$ns_b" wg show "$if_b"
hs=$(ip netns exec "$ns_b" wg show "$if_b" latest-handshakes | awk '{ print $2 }')
[[ "$hs" =~ ^[0-9]+$ && "$hs" -gt 0 ]] || die "b reports no handshake"
ep=$(ip netns exec "$ns_b" wg show "$if_b" endpoints | awk '{ print $2 }')
[[ "$ep" == 192.0.2.1:51820 ]] || die "b should have learnt a's endpoint 192.0.2.1:51820, shows '$ep'"
echo "   b learnt a's endpoint from the handshake: $ep"

say "8. stop zlayer-wg (SIGTERM): it removes its socket and TUN device"
for i in 0 1; do
  run kill -TERM "${pids[$i]}"
  rc=0
  wait "${pids[$i]}" || rc=$?
  echo "   exit status $rc"
  ((rc == 0)) || die "zlayer-wg exited with status $rc"
done
pids=("${pids[@]:2}")
[[ ! -e "/var/run/wireguard/$if_a.sock" && ! -e "/var/run/wireguard/$if_b.sock" ]] || die "a UAPI socket was left behind"
ip -n "$ns_a" link show "$if_a" >/dev/null 2>&1 && die "$if_a still exists"
echo "   sockets and interfaces gone"
