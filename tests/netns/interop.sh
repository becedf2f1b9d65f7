#!/usr/bin/env bash
# interop.sh — IMPL_A ↔ IMPL_A, IMPL_A (initiator) ↔ IMPL_B, IMPL_B (initiator)
# ↔ IMPL_A, each over an IPv4 and an IPv6 underlay, with a preshared key.
#
#   ┌──────────────────────────┐              ┌──────────────────────────┐
#   │ $NS_a   (initiator)      │              │ $NS_b   (responder)      │
#   │  wg a<n> 192.168.241.1   │              │  wg b<n> 192.168.241.2   │
#   │          fd00:aa::1      │              │          fd00:aa::2      │
#   │  endpoint = b's underlay │              │  no endpoint: learns it  │
#   │  veth0 10.241.0.1 ───────┼──── veth ────┼─ veth0 10.241.0.2        │
#   │        fd00:241::1       │              │        fd00:241::2       │
#   └──────────────────────────┘              └──────────────────────────┘
#
# Per case: ping both ways over IPv4 and IPv6 inside the tunnel, a 3 s iperf3
# TCP stream, and `wg show`: public key, listening port, preshared key, latest
# handshake set and recent on both ends, transfer counters grow on both ends,
# the responder learnt the initiator's endpoint; SIGTERM ends both daemons with
# status 0. Then a mismatched preshared key must give no tunnel (both roles).
# IPERF_STREAMS (default 1): parallel iperf3 streams (several flows, e.g. to
# spread over the queues of a multi-queue TUN, ZL_TUN_QUEUES).
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init jq

netns_new a
netns_new b
veth_pair "$NS_a" "$NS_b"

pub_a=$(gen_key a)
pub_b=$(gen_key b)
gen_psk psk
gen_psk other

case_no=0

# run_case IMPL_INITIATOR IMPL_RESPONDER FAMILY(4|6)
run_case() {
  local ia=$1 ib=$2 fam=$3
  case_no=$((case_no + 1))
  local if_a if_b port_a=$((51000 + case_no)) port_b=$((52000 + case_no))
  if_a=$(ifname "a$case_no")
  if_b=$(ifname "b$case_no")
  local ep_b="10.241.0.2:$port_b" ep_a="10.241.0.1:$port_a" inner=192.168.241.2
  if [[ $fam == 6 ]]; then
    ep_b="[fd00:241::2]:$port_b" ep_a="[fd00:241::1]:$port_a" inner=fd00:aa::2
  fi
  step "case $case_no: $(impl_name "$ia") (initiator) → $(impl_name "$ib") (responder), IPv$fam underlay"

  wg_start "$NS_a" "$if_a" "$ia"
  wg_start "$NS_b" "$if_b" "$ib"
  wg_iface "$NS_a" "$if_a" a "$port_a" 1
  wg_iface "$NS_b" "$if_b" b "$port_b" 2
  wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)" endpoint "$ep_b" psk psk
  wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" psk psk

  expect_eq "$if_a public-key" "$pub_a" "$(wg_get "$NS_a" "$if_a" public-key)"
  expect_eq "$if_b public-key" "$pub_b" "$(wg_get "$NS_b" "$if_b" public-key)"
  expect_eq "$if_a listen-port" "$port_a" "$(wg_get "$NS_a" "$if_a" listen-port)"
  expect_eq "$if_b listen-port" "$port_b" "$(wg_get "$NS_b" "$if_b" listen-port)"
  expect_eq "$if_a preshared-key" "$(cat "$TMP/psk.psk")" "$(wg_get "$NS_a" "$if_a" preshared-keys "$pub_b")"
  expect_eq "$if_b preshared-key" "$(cat "$TMP/psk.psk")" "$(wg_get "$NS_b" "$if_b" preshared-keys "$pub_a")"
  expect_eq "$if_b endpoint before any handshake" "(none)" "$(wg_get "$NS_b" "$if_b" endpoints "$pub_a")"
  expect_eq "$if_a latest-handshake before any traffic" "0" "$(wg_get "$NS_a" "$if_a" latest-handshakes "$pub_b")"

  ping_ok "$NS_a" 192.168.241.2
  ping_ok "$NS_a" fd00:aa::2
  ping_ok "$NS_b" 192.168.241.1
  ping_ok "$NS_b" fd00:aa::1
  wait_handshake "$NS_a" "$if_a" "$pub_b" 5
  wait_handshake "$NS_b" "$if_b" "$pub_a" 5
  expect_recent_handshake "$NS_a" "$if_a" "$pub_b"
  expect_recent_handshake "$NS_b" "$if_b" "$pub_a"
  expect_eq "$if_b endpoint learnt from the initiation" "$ep_a" "$(wg_get "$NS_b" "$if_b" endpoints "$pub_a")"
  expect_eq "$if_a endpoint (configured)" "$ep_b" "$(wg_get "$NS_a" "$if_a" endpoints "$pub_b")"

  local ta0 tb0 ta1 tb1 res
  ta0=$(transfer "$NS_a" "$if_a" "$pub_b")
  tb0=$(transfer "$NS_b" "$if_b" "$pub_a")
  res=$(iperf_ok "$NS_a" "$NS_b" "$inner" 3 -P "${IPERF_STREAMS:-1}")
  log "iperf3 TCP over IPv$fam tunnel: $(mbps "${res#* }")"
  ta1=$(transfer "$NS_a" "$if_a" "$pub_b")
  tb1=$(transfer "$NS_b" "$if_b" "$pub_a")
  read -r rxa0 txa0 <<<"$ta0"
  read -r rxa1 txa1 <<<"$ta1"
  read -r rxb0 txb0 <<<"$tb0"
  read -r rxb1 txb1 <<<"$tb1"
  ((rxa0 > 0 && txa0 > 0 && rxb0 > 0 && txb0 > 0)) ||
    fail "transfer after pings: expected rx and tx > 0 on both ends, saw a: $ta0, b: $tb0"
  ((txa1 - txa0 >= ${res% *})) ||
    fail "$if_a tx: expected growth ≥ iperf3 bytes ${res% *}, saw $txa0 → $txa1"
  ((rxb1 - rxb0 >= ${res% *})) ||
    fail "$if_b rx: expected growth ≥ iperf3 bytes ${res% *}, saw $rxb0 → $rxb1"
  ((rxa1 > rxa0 && txb1 > txb0)) ||
    fail "ACK direction: expected $if_a rx and $if_b tx to grow, saw rx $rxa0 → $rxa1, tx $txb0 → $txb1"
  log "wg show: keys, ports, psk, handshakes, endpoint, transfer ($txa0 → $txa1 bytes sent) ok"

  # The streams' closing handshakes finish while the tunnel is up, so no
  # retransmitted FIN reaches the next case's tunnel (same inner addresses)
  # and starts a handshake before its "before any handshake" checks.
  wait_until 10 no_open_tcp "$NS_a" || log "note: TCP connections still closing in $NS_a"
  wg_stop "$if_a"
  expect_eq "$(impl_name "$ia") exit status after SIGTERM" 0 "$WG_RC"
  wg_stop "$if_b"
  expect_eq "$(impl_name "$ib") exit status after SIGTERM" 0 "$WG_RC"
}

# no_open_tcp NS — true when NS has no TCP connection that still sends
# (anything but listening and TIME-WAIT sockets).
no_open_tcp() {
  [[ -z "$(nx "$1" ss -Htn state established state syn-sent state fin-wait-1 state fin-wait-2 \
    state close-wait state last-ack state closing)" ]]
}

# psk_mismatch IMPL_INITIATOR IMPL_RESPONDER — different preshared keys: the
# initiator cannot open the response, no session on either end.
psk_mismatch() {
  local ia=$1 ib=$2
  case_no=$((case_no + 1))
  local if_a if_b port_a=$((51000 + case_no)) port_b=$((52000 + case_no))
  if_a=$(ifname "a$case_no")
  if_b=$(ifname "b$case_no")
  step "case $case_no: mismatched preshared key, $(impl_name "$ia") → $(impl_name "$ib"): no tunnel"
  wg_start "$NS_a" "$if_a" "$ia"
  wg_start "$NS_b" "$if_b" "$ib"
  wg_iface "$NS_a" "$if_a" a "$port_a" 1
  wg_iface "$NS_b" "$if_b" b "$port_b" 2
  wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)" endpoint "10.241.0.2:$port_b" psk psk
  wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" psk other
  ping_fails "$NS_a" 192.168.241.2
  expect_eq "$if_a latest-handshake with wrong psk" 0 "$(wg_get "$NS_a" "$if_a" latest-handshakes "$pub_b")"
  expect_eq "$if_b latest-handshake with wrong psk" 0 "$(wg_get "$NS_b" "$if_b" latest-handshakes "$pub_a")"
  wg_stop "$if_a"
  wg_stop "$if_b"
}

for fam in 4 6; do
  run_case "$IMPL_A" "$IMPL_A" "$fam"
  run_case "$IMPL_A" "$IMPL_B" "$fam"
  run_case "$IMPL_B" "$IMPL_A" "$fam"
done
psk_mismatch "$IMPL_A" "$IMPL_B"
psk_mismatch "$IMPL_B" "$IMPL_A"
pass
