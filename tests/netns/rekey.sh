#!/usr/bin/env bash
# rekey.sh — sessions are renewed after REKEY_AFTER_TIME (120 s) under
# continuous traffic without losing it. Two tunnels run side by side so that
# IMPL_A is once the initiator (it starts the rekey) and once the responder.
#
#   ┌──────────────────────┐          ┌──────────────────────┐
#   │ $NS_a  IMPL_A  (ini) │── veth ──│ $NS_b  IMPL_B  (resp)│  pair 1
#   └──────────────────────┘          └──────────────────────┘
#   ┌──────────────────────┐          ┌──────────────────────┐
#   │ $NS_c  IMPL_B  (ini) │── veth ──│ $NS_d  IMPL_A  (resp)│  pair 2
#   └──────────────────────┘          └──────────────────────┘
#   each: underlay 10.241.0.1 ↔ .2, tunnel 192.168.241.1 ↔ .2
#
# Pings every 0.2 s both ways on both tunnels for REKEY_SECONDS (default 135):
# every end's latest handshake must be newer than the first one, and each ping
# stream may lose at most MAX_LOSS (default 3) echoes.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init # no tools beyond the defaults

SECONDS_RUN=${REKEY_SECONDS:-135}
MAX_LOSS=${MAX_LOSS:-3}
COUNT=$((SECONDS_RUN * 5))

# tunnel INI_NS RESP_NS INI_IMPL RESP_IMPL TAG — a tunnel, initiated from INI_NS.
tunnel() {
  local ini=$1 resp=$2 tag=$5
  local if_i if_r pub_i pub_r
  if_i=$(ifname "${tag}i")
  if_r=$(ifname "${tag}r")
  pub_i=$(gen_key "${tag}i")
  pub_r=$(gen_key "${tag}r")
  veth_pair "$ini" "$resp"
  wg_start "$ini" "$if_i" "$3"
  wg_start "$resp" "$if_r" "$4"
  wg_iface "$ini" "$if_i" "${tag}i" 51820 1
  wg_iface "$resp" "$if_r" "${tag}r" 51821 2
  wg_peer "$resp" "$if_r" "$pub_i" "$(tunnel_ips 1)"
  wg_peer "$ini" "$if_i" "$pub_r" "$(tunnel_ips 2)" endpoint 10.241.0.2:51821
  ping_ok "$ini" 192.168.241.2 1
  wait_handshake "$ini" "$if_i" "$pub_r" 5
  wait_handshake "$resp" "$if_r" "$pub_i" 5
  printf -v "IF_${tag}i" '%s' "$if_i"
  printf -v "IF_${tag}r" '%s' "$if_r"
  printf -v "PUB_${tag}i" '%s' "$pub_i"
  printf -v "PUB_${tag}r" '%s' "$pub_r"
}

netns_new a
netns_new b
netns_new c
netns_new d
tunnel "$NS_a" "$NS_b" "$IMPL_A" "$IMPL_B" p1
tunnel "$NS_c" "$NS_d" "$IMPL_B" "$IMPL_A" p2

# The four ends: namespace, interface, peer's public key, description.
ends=(
  "$NS_a $IF_p1i $PUB_p1r $(impl_name "$IMPL_A")-initiator"
  "$NS_b $IF_p1r $PUB_p1i $(impl_name "$IMPL_B")-responder"
  "$NS_c $IF_p2i $PUB_p2r $(impl_name "$IMPL_B")-initiator"
  "$NS_d $IF_p2r $PUB_p2i $(impl_name "$IMPL_A")-responder"
)
declare -A first=()
for e in "${ends[@]}"; do
  read -r ns ifn peer what <<<"$e"
  first[$ifn]=$(wg_get "$ns" "$ifn" latest-handshakes "$peer")
done

step "pinging both ways on both tunnels for $SECONDS_RUN s ($COUNT echoes each)"
pids=()
for src in "$NS_a:192.168.241.2" "$NS_b:192.168.241.1" "$NS_c:192.168.241.2" "$NS_d:192.168.241.1"; do
  ns=${src%%:*}
  dst=${src#*:}
  (ping_loss "$ns" "$dst" $COUNT 0.2 >"$TMP/loss-$ns") &
  pids+=($!)
  PIDS+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a ping stream failed"; done

for src in "$NS_a" "$NS_b" "$NS_c" "$NS_d"; do
  loss=$(cat "$TMP/loss-$src")
  log "$src: $loss of $COUNT echoes lost"
  ((loss <= MAX_LOSS)) || fail "$src: expected ≤ $MAX_LOSS lost echoes across the rekey, saw $loss of $COUNT"
done
for e in "${ends[@]}"; do
  read -r ns ifn peer what <<<"$e"
  now=$(wg_get "$ns" "$ifn" latest-handshakes "$peer")
  ((now > first[$ifn])) ||
    fail "$what ($ifn): expected a new handshake after $SECONDS_RUN s, latest-handshake still ${first[$ifn]}"
  log "$what: handshake at +$((now - first[$ifn])) s"
  expect_recent_handshake "$ns" "$ifn" "$peer"
done
pass
