#!/usr/bin/env bash
# wgquick.sh — `WG_QUICK_USERSPACE_IMPLEMENTATION=IMPL_A wg-quick up/down`.
#
#   ┌───────────────────────────────────┐          ┌──────────────────────────────┐
#   │ $NS_a   wg-quick up q.conf        │          │ $NS_b   IMPL_B  wg b         │
#   │  IMPL_A wg q 192.168.241.1/24     │          │  192.168.241.2, fd00:aa::2   │
#   │              fd00:aa::1/64        │          │  lo: 10.99.0.1 (subnet case) │
#   │  peer b: Endpoint 10.241.0.2      │          │      172.16.99.1, fd00:99::1 │
#   │  veth0 10.241.0.1 ────────────────┼── veth ──┼─ veth0 10.241.0.2            │
#   └───────────────────────────────────┘          └──────────────────────────────┘
#
# Subnet case: AllowedIPs 192.168.241.2/32, fd00:aa::2/128, 10.99.0.0/24 — the
# link is up with both addresses and MTU 1420, routes for the tunnel subnets
# and 10.99.0.0/24 point at q, pings reach b and 10.99.0.1; `wg-quick down`
# removes the link, the routes and the socket, and the daemon exits.
# Default-route case: AllowedIPs 0.0.0.0/0, ::/0 — wg-quick sets fwmark 51820,
# policy rules and an nftables table; 172.16.99.1 and fd00:99::1 (only behind
# the tunnel) answer while the underlay keeps working through the fwmark;
# `wg-quick down` removes rules and table.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init wg-quick nft

netns_new a
netns_new b
veth_pair "$NS_a" "$NS_b"
pub_a=$(gen_key a)
pub_b=$(gen_key b)
if_b=$(ifname b)
port_a=51820 port_b=51821

wg_start "$NS_b" "$if_b" "$IMPL_B"
wg_iface "$NS_b" "$if_b" b $port_b 2
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)"
ip -n "$NS_b" addr add 10.99.0.1/32 dev lo
ip -n "$NS_b" addr add 172.16.99.1/32 dev lo
ip -n "$NS_b" addr add fd00:99::1/128 dev lo

# quick_up IFNAME ALLOWED_IPS — writes IFNAME.conf and runs wg-quick up.
quick_up() {
  local ifq=$1 conf="$TMP/$1.conf"
  (umask 077 && cat >"$conf" <<EOF)
[Interface]
Address = 192.168.241.1/24, fd00:aa::1/64
PrivateKey = $(cat "$TMP/a.key")
ListenPort = $port_a

[Peer]
PublicKey = $pub_b
AllowedIPs = $2
Endpoint = 10.241.0.2:$port_b
EOF
  WG_IFS+=("$ifq")
  nx "$NS_a" env WG_QUICK_USERSPACE_IMPLEMENTATION="$IMPL_A" timeout 30 wg-quick up "$conf" >"$TMP/wg-quick-up-$ifq.log" 2>&1 ||
    fail "wg-quick up with $(impl_name "$IMPL_A") failed: $(tail -5 "$TMP/wg-quick-up-$ifq.log")"
  QPID=$(find_daemon "$ifq" "$IMPL_A") || fail "after wg-quick up: no '$(impl_name "$IMPL_A") $ifq' process"
  PIDS+=("$QPID")
  log "wg-quick up: $(grep -c '^\[#\]' "$TMP/wg-quick-up-$ifq.log") commands, daemon pid $QPID"
}

# quick_down IFNAME — wg-quick down; the daemon exits, link and socket gone.
quick_down() {
  local ifq=$1
  nx "$NS_a" timeout 30 wg-quick down "$TMP/$ifq.conf" >"$TMP/wg-quick-down-$ifq.log" 2>&1 ||
    fail "wg-quick down failed: $(tail -5 "$TMP/wg-quick-down-$ifq.log")"
  wait_until 5 eval "! alive $QPID" || fail "after wg-quick down: the daemon $QPID is still running"
  ip -n "$NS_a" link show "$ifq" >/dev/null 2>&1 && fail "after wg-quick down: link $ifq still exists"
  wait_until 5 eval "[[ ! -e $WG_RUN_DIR/$ifq.sock ]]" || fail "after wg-quick down: socket $ifq.sock still exists"
  [[ -z "$(ip -n "$NS_a" route show dev "$ifq" 2>/dev/null)" ]] || fail "after wg-quick down: routes via $ifq remain"
  log "wg-quick down: daemon exited, link, routes and socket gone"
}

# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() {
  [[ "$2" == *"$3"* ]] || fail "$1: expected to contain '$3', saw: $(tr '\n' ';' <<<"$2")"
}

step "subnet AllowedIPs"
ifq=$(ifname q)
quick_up "$ifq" "192.168.241.2/32, fd00:aa::2/128, 10.99.0.0/24"
link=$(ip -n "$NS_a" link show "$ifq")
expect_contains "link $ifq flags" "$link" ",UP"
expect_contains "link $ifq mtu (1500 − 80)" "$link" "mtu 1420"
addrs=$(ip -n "$NS_a" -br addr show "$ifq")
expect_contains "addresses of $ifq" "$addrs" "192.168.241.1/24"
expect_contains "addresses of $ifq" "$addrs" "fd00:aa::1/64"
routes4=$(ip -n "$NS_a" -4 route show dev "$ifq")
routes6=$(ip -n "$NS_a" -6 route show dev "$ifq")
expect_contains "IPv4 routes via $ifq" "$routes4" "192.168.241.0/24"
expect_contains "IPv4 routes via $ifq" "$routes4" "10.99.0.0/24"
expect_contains "IPv6 routes via $ifq" "$routes6" "fd00:aa::/64"
expect_eq "$ifq listen-port" $port_a "$(wg_get "$NS_a" "$ifq" listen-port)"
expect_eq "$ifq public-key" "$pub_a" "$(wg_get "$NS_a" "$ifq" public-key)"
ping_ok "$NS_a" 192.168.241.2
ping_ok "$NS_a" fd00:aa::2
ping_ok "$NS_a" 10.99.0.1
ping_ok "$NS_b" 192.168.241.1
expect_recent_handshake "$NS_a" "$ifq" "$pub_b"
quick_down "$ifq"

step "default route: AllowedIPs 0.0.0.0/0, ::/0 (fwmark and policy routing)"
ifq=$(ifname r)
quick_up "$ifq" "0.0.0.0/0, ::/0"
expect_eq "$ifq fwmark set by wg-quick" 0xca6c "$(wg_get "$NS_a" "$ifq" fwmark)"
rules4=$(ip -n "$NS_a" -4 rule)
rules6=$(ip -n "$NS_a" -6 rule)
expect_contains "IPv4 rules" "$rules4" "not from all fwmark 0xca6c lookup 51820"
expect_contains "IPv6 rules" "$rules6" "not from all fwmark 0xca6c lookup 51820"
expect_contains "IPv4 table 51820" "$(ip -n "$NS_a" -4 route show table 51820)" "default dev $ifq"
expect_contains "nftables tables" "$(nx "$NS_a" nft list tables)" "wg-quick-$ifq"
ping_ok "$NS_a" 172.16.99.1
ping_ok "$NS_a" fd00:99::1
ping_ok "$NS_a" 192.168.241.2
ping_ok "$NS_a" 10.241.0.2 # the underlay itself still goes around the tunnel
got=$(nx "$NS_a" ip -4 route get 172.16.99.1)
expect_contains "route to 172.16.99.1" "$got" "dev $ifq"
iperf_ok "$NS_a" "$NS_b" 172.16.99.1 2 >/dev/null
quick_down "$ifq"
[[ "$(ip -n "$NS_a" -4 rule)" != *51820* ]] || fail "after wg-quick down: IPv4 rules for table 51820 remain"
[[ "$(ip -n "$NS_a" -6 rule)" != *51820* ]] || fail "after wg-quick down: IPv6 rules for table 51820 remain"
[[ "$(nx "$NS_a" nft list tables)" != *"wg-quick-$ifq"* ]] || fail "after wg-quick down: nftables table wg-quick-$ifq remains"
pass
