#!/usr/bin/env bash
# keepalive.sh — IMPL_A's persistent keepalive, seen on the wire.
#
#   ┌─────────────────────────────┐              ┌─────────────────────────────┐
#   │ $NS_a  IMPL_A  wg a         │              │ $NS_b  IMPL_B  wg b         │
#   │  192.168.241.1              │              │  192.168.241.2              │
#   │  peer b: keepalive 2 s      │              │  tshark on veth0            │
#   │  veth0 10.241.0.1 ──────────┼──── veth ────┼─ veth0 10.241.0.2           │
#   └─────────────────────────────┘              └─────────────────────────────┘
#
# After one ping (the handshake) the tunnel is idle. A capture of 9 s on b's
# veth0 must show only keepalives from a — transport packets of 32 bytes of UDP
# payload (UDP length 40) — about every 2 s, and nothing from b. With the
# keepalive turned off, a 5 s capture must show nothing from a.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init tshark

readonly INTERVAL=2 CAPTURE=9
two_nodes
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)"
wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)" endpoint "10.241.0.2:$port_b" keepalive $INTERVAL
expect_eq "$if_a persistent-keepalive" "$INTERVAL" "$(wg_get "$NS_a" "$if_a" persistent-keepalive "$pub_b")"

step "handshake, then an idle tunnel"
ping_ok "$NS_a" 192.168.241.2 1
wait_handshake "$NS_a" "$if_a" "$pub_b" 5
sleep 1

# capture SECONDS — UDP packets on b's veth0 between the two WireGuard ports,
# one line each: "time src_port udp_length".
capture() {
  local out="$TMP/capture.txt"
  nx "$NS_b" timeout $(($1 + 20)) tshark -q -n -i veth0 -f "udp port $port_a or udp port $port_b" \
    -a "duration:$1" -T fields -e frame.time_relative -e udp.srcport -e udp.length \
    >"$out" 2>"$TMP/tshark.err" || fail "tshark failed: $(tail -3 "$TMP/tshark.err")"
  cat "$out"
}

step "capture $CAPTURE s with persistent-keepalive = $INTERVAL s"
pkts=$(capture $CAPTURE)
log "captured: $(wc -l <<<"$pkts" | tr -d ' ') packets"
from_a=$(awk -v p=$port_a '$2 == p' <<<"$pkts")
from_b=$(awk -v p=$port_b '$2 == p' <<<"$pkts")
[[ -z "$from_b" ]] || fail "expected nothing from b while idle, saw: $(tr '\n' ';' <<<"$from_b")"
n=$(grep -c . <<<"$from_a" || true)
((n >= CAPTURE / INTERVAL - 1)) ||
  fail "expected ≥ $((CAPTURE / INTERVAL - 1)) keepalives from a in $CAPTURE s, saw $n: $(tr '\n' ';' <<<"$from_a")"
bad=$(awk '$3 != 40' <<<"$from_a")
[[ -z "$bad" ]] || fail "expected only 32-byte transport packets (UDP length 40) from a, saw: $(tr '\n' ';' <<<"$bad")"
gaps=$(awk 'NR > 1 { printf "%.2f ", $1 - prev } { prev = $1 }' <<<"$from_a")
log "keepalives from a: $n, gaps: $gaps s"
for g in $gaps; do
  awk -v g="$g" -v i=$INTERVAL 'BEGIN { exit !(g >= i - 0.5 && g <= i + 1.0) }' ||
    fail "expected keepalives every ${INTERVAL} s (±), saw gaps: $gaps"
done

step "persistent-keepalive off: silence"
nx "$NS_a" wg set "$if_a" peer "$pub_b" persistent-keepalive off
expect_eq "$if_a persistent-keepalive" "off" "$(wg_get "$NS_a" "$if_a" persistent-keepalive "$pub_b")"
sleep 1
pkts=$(capture 5)
[[ -z "$pkts" ]] || fail "expected no packets with keepalive off, saw: $(tr '\n' ';' <<<"$pkts")"
ping_ok "$NS_a" 192.168.241.2 1
pass
