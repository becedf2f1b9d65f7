#!/usr/bin/env bash
# overlay.sh — a control node and three nodes: join, traffic, DNS, health,
# status, events, leave, removal, security of the state.
#
#                 ┌──────────────────── $NS_s: br0 ────────────────────┐
#                 │p1              │p2            │p3            │p4   │
#   ┌─────────────┴──┐ ┌───────────┴──┐ ┌─────────┴────┐ ┌───────┴─────┴┐
#   │ c: control ctl │ │ a: node alpha│ │ b: node beta │ │ g: node gamma│
#   │ 10.241.0.1     │ │ 10.241.0.2   │ │ 10.241.0.3   │ │ 10.241.0.4   │
#   │ overlay .0.1   │ │ overlay .1.1 │ │ overlay .2.1 │ │ overlay .3.1 │
#   └────────────────┘ └──────────────┘ └──────────────┘ └──────────────┘
# Every node runs `zlayer-overlay daemon`; c inits the overlay 10.200.0.0/16
# (+ fd42::/48), a, b and g join with tokens through the tunnel.
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/overlay_lib.sh"
lib_init kdig jq
overlay_init_env

step "control node and three joins"
node_add c; node_add a; node_add b; node_add g
zo_start c --metrics-listen 127.0.0.1:9586
overlay_control c ctl
overlay_join c a alpha
overlay_join c b beta
overlay_join c g gamma
for t in c a b g; do
  wait_until 5 members_seen "$t" 4 || fail "$t: expected 4 members, saw $(zo "$t" status --json | jq .members)"
done
addr_c=$(node_addr c); addr_a=$(node_addr a); addr_b=$(node_addr b); addr_g=$(node_addr g)
expect_eq "control address" 10.200.0.1 "$addr_c"
log "addresses: ctl $addr_c, alpha $addr_a, beta $addr_b, gamma $addr_g"
[[ "$addr_a" != "$addr_b" && "$addr_b" != "$addr_g" && "$addr_a" != "$addr_g" ]] ||
  fail "expected distinct addresses, saw $addr_a $addr_b $addr_g"
zo a status

step "wg show works on an overlay interface"
nx "${ZO_NS[a]}" wg show "$(ifname a)" | grep -q "listening port: 51820" ||
  fail "wg show $(ifname a): expected the listening port"
peers_in_wg=$(nx "${ZO_NS[a]}" wg show "$(ifname a)" peers | wc -l)
expect_eq "alpha's WireGuard peers (full mesh)" 3 "$peers_in_wg"

step "alpha pings beta by address and by name, directly"
key_b=$(zo b status --json | jq -r .public_key)
key_c=$(zo c status --json | jq -r .public_key)
ctl_rx_before=$(wg_get "${ZO_NS[c]}" "$(ifname c)" transfer "$(zo a status --json | jq -r .public_key)" | awk '{print $1}')
ping_ok "${ZO_NS[a]}" "$addr_b"
use_overlay_dns a
nx "${ZO_NS[a]}" ping -c 20 -i 0.05 -s 1000 -W 2 "beta.$ZONE" >/dev/null || fail "ping beta.$ZONE from alpha failed"
ep=$(wg_get "${ZO_NS[a]}" "$(ifname a)" endpoints "$key_b")
expect_eq "alpha's endpoint for beta (direct, not via ctl)" "10.241.0.3:51820" "$ep"
rx_ab=$(wg_get "${ZO_NS[a]}" "$(ifname a)" transfer "$key_b" | awk '{print $1}')
((rx_ab > 20000)) || fail "alpha received $rx_ab bytes from beta's peer, expected > 20000 (20 pings of 1000 B)"
ctl_rx_after=$(wg_get "${ZO_NS[c]}" "$(ifname c)" transfer "$(zo a status --json | jq -r .public_key)" | awk '{print $1}')
((ctl_rx_after - ctl_rx_before < 20000)) ||
  fail "ctl received $((ctl_rx_after - ctl_rx_before)) bytes from alpha during the pings: traffic went via the control node"
ping_ok "${ZO_NS[g]}" "$addr_c"

step "DNS: A, AAAA, PTR, SRV, NXDOMAIN, NODATA, TCP, REFUSED"
expect_eq "A beta" "$addr_b" "$(dig_short a beta.$ZONE A)"
expect_eq "A leader" "$addr_c" "$(dig_short a leader.$ZONE A)"
aaaa_b=$(dig_short a beta.$ZONE AAAA)
[[ "$aaaa_b" == fd42:* ]] || fail "AAAA beta: expected an fd42: address, saw '$aaaa_b'"
expect_eq "PTR of beta" "beta.$ZONE." "$(dig_short a -x "$addr_b")"
expect_eq "A over TCP" "$addr_g" "$(dig_short a +tcp gamma.$ZONE A)"
addr6_a=$(zo a status --json | jq -r .address6)
expect_eq "A over the IPv6 overlay address" "$addr_b" "$(nx "${ZO_NS[a]}" kdig @"$addr6_a" +short +timeout=2 beta.$ZONE A)"
expect_eq "NXDOMAIN" NXDOMAIN "$(dig_rcode a nosuchnode.$ZONE A)"
zo b dns register web "$addr_b" >/dev/null || fail "dns register web"
zo b dns register _http._tcp.web beta:8080 >/dev/null || fail "dns register _http._tcp.web"
wait_until 5 eval "[[ \"\$(dig_short a web.$ZONE A)\" == $addr_b ]]" || fail "web.$ZONE did not resolve to $addr_b on alpha"
srv=$(dig_short a _http._tcp.web.$ZONE SRV)
[[ "$srv" == *"8080 beta.$ZONE."* ]] || fail "SRV _http._tcp.web: expected port 8080 target beta.$ZONE., saw '$srv'"
expect_eq "NODATA (web has no AAAA)" NOERROR "$(dig_rcode a web.$ZONE AAAA)"
[[ -z "$(dig_short a web.$ZONE AAAA)" ]] || fail "NODATA: expected no answer for web AAAA"
expect_eq "REFUSED outside the zone" REFUSED "$(dig_rcode a example.com A)"
zo b dns register web "$addr_g" >/dev/null || fail "dns register web (replace)"
wait_until 5 eval "[[ \"\$(dig_short a web.$ZONE A)\" == $addr_g ]]" || fail "web did not move to $addr_g"
expect_eq "a changed name is replaced, not appended" 1 "$(dig_short a web.$ZONE A | wc -l)"
zo a dns unregister web >/dev/null || fail "dns unregister web"
wait_until 5 eval "[[ -z \"\$(dig_short a web.$ZONE A)\" ]]" || fail "web still has an address after unregister"
expect_eq "web is an empty non-terminal while its SRV exists (NODATA)" NOERROR "$(dig_rcode a web.$ZONE A)"
zo a dns unregister _http._tcp.web >/dev/null || fail "dns unregister _http._tcp.web"
wait_until 5 eval "[[ \"\$(dig_rcode a web.$ZONE A)\" == NXDOMAIN ]]" || fail "web still resolves after unregister"

step "health and status"
wait_until 15 eval "[[ \"\$(peer_health a beta)\" == up ]]" || fail "alpha sees beta as '$(peer_health a beta)', expected up"
st=$(zo a status --json)
for f in name address subnet public_key listen_port; do
  [[ "$(jq -r ".$f" <<<"$st")" != null ]] || fail "status --json lacks .$f"
done
jq -e '.peers[] | select(.name == "beta") | .endpoint and .health and .last_handshake and (.rx_bytes > 0)' <<<"$st" >/dev/null ||
  fail "status --json: beta's peer entry lacks endpoint/health/last_handshake/counters: $(jq -c '.peers' <<<"$st")"
zo a peers

step "metrics"
metrics=$(nx "${ZO_NS[c]}" curl -sf http://127.0.0.1:9586/metrics) || fail "no metrics on 127.0.0.1:9586"
grep -q '^zlayer_overlay_members 4$' <<<"$metrics" || fail "metrics: expected zlayer_overlay_members 4 in: $(head -c 600 <<<"$metrics")"
grep -q '^zlayer_overlay_peer_rx_bytes_total{peer="alpha"} [0-9]' <<<"$metrics" || fail "metrics: no rx counter for alpha"
grep -q '^# TYPE zlayer_overlay_peer_health gauge' <<<"$metrics" || fail "metrics: no peer health gauge"
api=$(nx "${ZO_NS[c]}" curl -sf --unix-socket "$TMP/c/control.sock" http://x/v1/status) || fail "curl --unix-socket on the local API failed"
expect_eq "local API through curl" ctl "$(jq -r .name <<<"$api")"

step "leave and node remove propagate"
timeout 20 ip netns exec "${ZO_NS[a]}" "$ZO" --state-dir "$TMP/a" events >"$TMP/events-a.jsonl" 2>&1 &
PIDS+=($!)
subnet_g=$(zo g status --json | jq -r .subnet)
zo g leave >/dev/null || fail "gamma could not leave"
wait_until 3 members_seen a 3 || fail "alpha still sees 4 members 3 s after gamma left"
[[ "$(nx "${ZO_NS[a]}" wg show "$(ifname a)" peers | wc -l)" == 2 ]] || fail "alpha still has gamma as a WireGuard peer"
expect_eq "gamma's name is gone" NXDOMAIN "$(dig_rcode a gamma.$ZONE A)"
token=$(zo c token create 2>/dev/null | tail -n 1)
subnet_next=$(zo c token list | awk 'NR == 2 { print $3 }')
expect_eq "gamma's subnet returns to the pool" "$subnet_g" "$subnet_next"
zo c node remove beta >/dev/null || fail "node remove beta"
wait_until 3 members_seen a 2 || fail "alpha still sees beta 3 s after its removal"
wait_until 5 eval "[[ \"\$(zo b status --json | jq -r .in_overlay)\" == false ]]" || fail "beta does not know it was removed"
grep -q '"member-left"' "$TMP/events-a.jsonl" || fail "events on alpha: no member-left event: $(cat "$TMP/events-a.jsonl")"
grep -q '"peer-health"' "$TMP/events-a.jsonl" || log "(no health change during the event stream)"

step "security: modes and logs"
for t in c a; do
  for f in identity.key node.json control.sock; do
    expect_eq "mode of $t/$f" 600 "$(stat -c %a "$TMP/$t/$f")"
  done
  expect_eq "mode of $t's state dir" 700 "$(stat -c %a "$TMP/$t")"
done
expect_eq "mode of the store" 600 "$(stat -c %a "$TMP/c/store.db")"
expect_eq "mode of the UAPI socket" 600 "$(stat -c %a "/var/run/wireguard/$(ifname a).sock")"
for t in c a b g; do
  key=$(cat "$TMP/$t/identity.key")
  if grep -qF "$key" "$TMP"/*.log; then fail "$t's private key appears in a log"; fi
done
if grep -qF "$token" "$TMP"/*.log; then fail "a join token appears in a log"; fi
if grep -q "zlt1_" "$TMP"/*.log; then fail "something token-like appears in a log"; fi

pass
