#!/usr/bin/env bash
# attack.sh — IMPL_A under a handshake flood, then on a lossy underlay.
#
#                        ┌──────────────── $NS_s ────────────────┐
#                        │                 br0                   │
#                        └───┬─────────┬─────────┬─────────┬─────┘
#                            │p1       │p2       │p3       │p4
#   ┌────────────────────────┴┐ ┌──────┴───────┐ ┌───────┴──────┐ ┌┴──────────────────┐
#   │ $NS_a  IMPL_A (target)  │ │ $NS_b IMPL_B │ │ $NS_c IMPL_B │ │ $NS_m  attacker   │
#   │ 10.241.0.1  wg .1       │ │ 10.241.0.2   │ │ 10.241.0.3   │ │ 10.241.0.4        │
#   │ peers b, c              │ │ wg .2, up    │ │ wg .3, joins │ │ flood_initiations │
#   └─────────────────────────┘ └──────────────┘ │ during flood │ └───────────────────┘
#                                                └──────────────┘
# Flood (FLOOD_SECONDS, default 20): m sends initiations with a valid mac1 for
# a's key as fast as one core can. Meanwhile: a stays alive with VmRSS below
# MAX_RSS_MB (200); the established a↔b session keeps carrying pings (loss ≤
# MAX_FLOOD_LOSS %, default 50: on 2 cores wireguard-go loses 5–30 %, more
# the faster the flood, which fills the socket buffer the data shares); c, a new peer, completes
# a handshake with a before the flood ends — and a must have answered c with a
# cookie reply (it was under load). wireguard-go takes ~10 s (the cookie, then
# REKEY_TIMEOUT retries competing with the flood for its handshake queue).
# Loss: nftables drops 20 % of the UDP arriving on a's and b's veth0; both
# forget their session (peer removed and re-added); a new session is made and
# carries a 5 s iperf3 TCP stream.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init tshark nft jq

FLOOD_SECONDS=${FLOOD_SECONDS:-20}
MAX_RSS_MB=${MAX_RSS_MB:-200}
MAX_FLOOD_LOSS=${MAX_FLOOD_LOSS:-50}
port_a=51820

for n in s a b c m; do netns_new $n; done
bridge_ns "$NS_s" "$NS_a" "$NS_b" "$NS_c" "$NS_m"
target_and_two_peers "10.241.0.1:$port_a"

step "a ↔ b established"
ping_ok "$NS_b" 192.168.241.1 2
ping_ok "$NS_a" 192.168.241.2 2
rss0=$(rss_kb "$pid_a")
log "a's VmRSS before the flood: $((rss0 / 1024)) MB"

step "flood: $FLOOD_SECONDS s of initiations with a valid mac1 from m"
# What a sends to c: time and message type (2 = response, 3 = cookie reply).
nx "$NS_c" timeout $((FLOOD_SECONDS + 25)) tshark -q -n -i veth0 -a "duration:$((FLOOD_SECONDS + 4))" \
  -f "udp and src host 10.241.0.1 and src port $port_a" -T fields -e frame.time_epoch -e wg.type \
  >"$TMP/to-c.txt" 2>"$TMP/tshark.err" &
cap=$!
PIDS+=("$cap")
sleep 2 # let tshark open the capture
nx "$NS_m" timeout $((FLOOD_SECONDS + 10)) "$PYTHON" "$LIB_DIR/flood_initiations.py" 10.241.0.1 $port_a "$pub_a" "$FLOOD_SECONDS" \
  >"$TMP/flood.txt" 2>&1 &
flood=$!
PIDS+=("$flood")
sleep 2

# During the flood: pings over the established session, c joins, RSS samples.
npings=$((FLOOD_SECONDS > 8 ? (FLOOD_SECONDS - 6) * 10 : 20))
(ping_loss "$NS_a" 192.168.241.2 $npings 0.1 >"$TMP/flood-loss") &
pinger=$!
PIDS+=("$pinger")
wg_peer "$NS_c" "$if_c" "$pub_a" "$(tunnel_ips 1)" endpoint "10.241.0.1:$port_a"
joined_at=$(date +%s.%N)
nx "$NS_c" timeout $((FLOOD_SECONDS + 5)) ping -n -q -i 0.5 -w $((FLOOD_SECONDS - 2)) -c $((FLOOD_SECONDS * 2)) 192.168.241.1 \
  >"$TMP/c-ping.txt" 2>&1 &
PIDS+=($!)
max_rss=$rss0
for ((i = 0; i < FLOOD_SECONDS * 2 + 10; i++)); do
  alive "$flood" || break
  alive "$pid_a" || fail "a died during the flood"
  r=$(rss_kb "$pid_a")
  ((r > max_rss)) && max_rss=$r
  sleep 0.5
done
wait "$flood" || fail "the flood generator failed: $(cat "$TMP/flood.txt")"
wait "$pinger" || true
wait "$cap" || fail "tshark on c failed: $(tail -2 "$TMP/tshark.err")"
log "m: $(grep "^sent" "$TMP/flood.txt")"

# Everything observed first, then the verdicts.
alive "$pid_a" || fail "a died during the flood"
loss=$(cat "$TMP/flood-loss")
flood_end=$(sed -n 's/^end_epoch=//p' "$TMP/flood.txt")
cookies=$(awk '$2 == 3' "$TMP/to-c.txt" | grep -c . || true)
# c's handshake completed when a sent its response (type 2), if before the flood ended.
response_at=$(awk '$2 == 2 { print $1; exit }' "$TMP/to-c.txt")
c_joined=$(awk -v r="$response_at" -v j="$joined_at" -v e="$flood_end" 'BEGIN { if (r != "" && r < e) printf "%.1f", r - j }')
log "a's VmRSS peak during the flood: $((max_rss / 1024)) MB"
log "established session: $loss of $npings pings lost during the flood"
if [[ -n "$c_joined" ]]; then
  log "c: a sent its handshake response ${c_joined} s after c joined, during the flood"
elif [[ -n "$response_at" ]]; then
  log "c: a sent its handshake response $(awk -v r="$response_at" -v e="$flood_end" 'BEGIN { printf "%.1f", r - e }') s after the flood ended"
else
  log "c: no handshake response from a in the capture"
fi
log "a → c during the capture (message type counts): $(awk '{ print $2 }' "$TMP/to-c.txt" | sort | uniq -c | awk '{ printf "%s×type %s  ", $1, $2 }')"
((max_rss / 1024 < MAX_RSS_MB)) || fail "a's VmRSS: expected < $MAX_RSS_MB MB, peaked at $((max_rss / 1024)) MB"
((loss * 100 <= MAX_FLOOD_LOSS * npings)) || fail "a↔b during the flood: expected ≤ $MAX_FLOOD_LOSS % ping loss, saw $loss of $npings (flood: $(grep "^sent" "$TMP/flood.txt"))"
[[ -n "$c_joined" ]] || fail "c: expected a's handshake response while the flood ran, saw none before it ended"
((cookies >= 1)) || fail "a → c: expected a cookie reply (type 3) while a was under load, saw types: $(awk '{ print $2 }' "$TMP/to-c.txt" | sort -u | xargs)"
ping_ok "$NS_c" 192.168.241.1 2
ping_ok "$NS_a" 192.168.241.2 2

step "20 % random loss on the underlay both ways, a fresh session"
for ns in "$NS_a" "$NS_b"; do
  nx "$ns" nft -f - <<'EOF' || fail "nft rules in $ns failed"
table inet zlt {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "veth0" meta l4proto udp numgen random mod 100 < 20 counter drop
  }
}
EOF
done
rx_packets() { nx "$1" ip -s -j link show veth0 | jq '.[0].stats64.rx.packets'; }
declare -A rx0=()
for ns in "$NS_a" "$NS_b"; do rx0[$ns]=$(rx_packets "$ns"); done
nx "$NS_a" wg set "$if_a" peer "$pub_b" remove
nx "$NS_b" wg set "$if_b" peer "$pub_a" remove
wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)"
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "10.241.0.1:$port_a"
expect_eq "a's handshake with b after re-adding" 0 "$(wg_get "$NS_a" "$if_a" latest-handshakes "$pub_b")"
nx "$NS_b" timeout 40 ping -n -q -i 0.5 -c 60 -w 35 192.168.241.1 >/dev/null 2>&1 &
PIDS+=($!)
wait_handshake "$NS_b" "$if_b" "$pub_a" 35
res=$(iperf_ok "$NS_b" "$NS_a" 192.168.241.1 5)
log "iperf3 over the lossy underlay: $(mbps "${res#* }") ($(awk -v b="${res% *}" 'BEGIN { printf "%.1f", b / 1e6 }') MB)"
for ns in "$NS_a" "$NS_b"; do
  dropped=$(nx "$ns" nft list table inet zlt | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
  arrived=$(($(rx_packets "$ns") - rx0[$ns]))
  log "$ns: nftables dropped $dropped of $arrived packets that arrived on veth0"
  ((dropped * 100 >= arrived * 10)) || fail "$ns: expected ~20 % of the arriving packets dropped, saw $dropped of $arrived"
done
alive "$pid_a" || fail "a died"
pass
