#!/usr/bin/env bash
# config.sh — run-time configuration of IMPL_A through `wg` and the raw UAPI.
#
#   ┌─────────────────────────────┐            ┌─────────────────────────────┐
#   │ $NS_a  IMPL_A  wg a         │            │ $NS_b  IMPL_B  wg b         │
#   │  192.168.241.1              │            │  192.168.241.2, .3          │
#   │  fd00:aa::1                 │            │  fd00:aa::2                 │
#   │  veth0 10.241.0.1 ──────────┼─── veth ───┼─ veth0 10.241.0.2           │
#   └─────────────────────────────┘            └─────────────────────────────┘
#   ┌─────────────────────────────┐
#   │ $NS_c  IMPL_A  wg c (fresh, │  receives a's saved config (no links)
#   │        unconnected)         │
#   └─────────────────────────────┘
#
#  1. `wg showconf a` → `wg syncconf c` on a fresh interface: identical config.
#  2. change a (extra peer, allowed-ips, keepalive, fwmark), `wg syncconf a
#     saved` restores exactly the saved config, the tunnel keeps working.
#  3. `wg set a peer B remove` stops traffic both ways; syncconf brings it back.
#  4. allowed-ips replacement: a's peer b allowed 192.168.241.3 instead of .2:
#     a→.2 fails, a→.3 works, b→a from .2 fails, from .3 works.
#  5. `wg set a listen-port N` at run time: new port bound, old one released,
#     b updates its endpoint, traffic continues.
#  6. bad UAPI input on a's socket (unknown key, garbage, over-long line, bad
#     allowed_ip, hang-up mid-transaction, garbage operation): errno answers,
#     configuration unchanged, tunnel still carries traffic.
#  7. the UAPI socket is root's and has no group/other permission bits.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init ss

netns_new a
netns_new b
netns_new c
veth_pair "$NS_a" "$NS_b"
pub_a=$(gen_key a)
pub_b=$(gen_key b)
pub_x=$(gen_key x)
gen_psk psk
if_a=$(ifname a)
if_b=$(ifname b)
if_c=$(ifname c)
port_a=51820 port_b=51821
sock_a="$WG_RUN_DIR/$if_a.sock"

wg_start "$NS_a" "$if_a" "$IMPL_A"
wg_start "$NS_b" "$if_b" "$IMPL_B"
wg_iface "$NS_a" "$if_a" a $port_a 1
wg_iface "$NS_b" "$if_b" b $port_b 2
ip -n "$NS_b" addr add 192.168.241.3/24 dev "$if_b"
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" psk psk
wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2),10.99.0.0/24" endpoint "10.241.0.2:$port_b" psk psk keepalive 25
ping_ok "$NS_a" 192.168.241.2 2
ping_ok "$NS_b" fd00:aa::1 2

# Both directions work, over IPv4 and IPv6.
tunnel_works() {
  ping_ok "$NS_a" 192.168.241.2 2
  ping_ok "$NS_a" fd00:aa::2 2
  ping_ok "$NS_b" 192.168.241.1 2
  ping_ok "$NS_b" fd00:aa::1 2
}

step "1. showconf → syncconf to a fresh interface"
showconf "$NS_a" "$if_a" >"$TMP/saved.norm"
cp "$TMP/showconf.raw" "$TMP/saved.conf"
grep -q "^PresharedKey = " "$TMP/saved.conf" || fail "expected PresharedKey in showconf, saw: $(grep -v Key "$TMP/saved.conf")"
grep -q "^Endpoint = 10.241.0.2:$port_b" "$TMP/saved.conf" || fail "expected Endpoint 10.241.0.2:$port_b in showconf"
wg_start "$NS_c" "$if_c" "$IMPL_A"
nx "$NS_c" wg syncconf "$if_c" "$TMP/saved.conf" || fail "wg syncconf to a fresh interface failed"
diff -u "$TMP/saved.norm" <(showconf "$NS_c" "$if_c") >"$TMP/diff" ||
  fail "showconf of the fresh interface differs from the saved one: $(cat "$TMP/diff")"
expect_eq "fresh interface public-key" "$pub_a" "$(wg_get "$NS_c" "$if_c" public-key)"
wg_stop "$if_c"
log "identical config on $if_c"

step "2. change a, then syncconf restores the saved config"
nx "$NS_a" wg set "$if_a" fwmark 0x1234 \
  peer "$pub_x" allowed-ips 10.77.0.0/16 endpoint 10.241.0.77:1 \
  peer "$pub_b" allowed-ips "$(tunnel_ips 2),10.98.0.0/24" persistent-keepalive 7
expect_eq "fwmark after wg set" 0x1234 "$(wg_get "$NS_a" "$if_a" fwmark)"
expect_eq "peer count after adding x" 2 "$(wg_get "$NS_a" "$if_a" peers | grep -c .)"
nx "$NS_a" wg syncconf "$if_a" "$TMP/saved.conf" || fail "wg syncconf a saved.conf failed"
diff -u "$TMP/saved.norm" <(showconf "$NS_a" "$if_a") >"$TMP/diff" ||
  fail "after syncconf, showconf differs from the saved config: $(cat "$TMP/diff")"
expect_eq "fwmark after syncconf" off "$(wg_get "$NS_a" "$if_a" fwmark)"
tunnel_works
log "syncconf removed peer x, restored allowed-ips, keepalive and fwmark"

step "3. peer removal stops traffic"
nx "$NS_a" wg set "$if_a" peer "$pub_b" remove
expect_eq "peers after remove" "" "$(wg_get "$NS_a" "$if_a" peers)"
ping_fails "$NS_a" 192.168.241.2
ping_fails "$NS_b" 192.168.241.1
nx "$NS_a" wg syncconf "$if_a" "$TMP/saved.conf"
ping_ok "$NS_a" 192.168.241.2 2 # a initiates: a new session on both ends
tunnel_works
log "removed peer: no traffic; re-added: traffic"

step "4. allowed-ips replacement takes effect both ways"
nx "$NS_a" wg set "$if_a" peer "$pub_b" allowed-ips 192.168.241.3/32,fd00:aa::2/128
expect_eq "allowed-ips after replacement" "192.168.241.3/32 fd00:aa::2/128" \
  "$(wg_get "$NS_a" "$if_a" allowed-ips "$pub_b" | tr ' ' '\n' | sort | xargs)"
ping_fails "$NS_a" 192.168.241.2 # outbound: no peer for .2 any more
ping_ok "$NS_a" 192.168.241.3 2
ping_fails "$NS_b" 192.168.241.1 -I 192.168.241.2 # inbound: .2 not allowed from b
ping_ok "$NS_b" 192.168.241.1 2 -I 192.168.241.3
ping_ok "$NS_a" fd00:aa::2 2
nx "$NS_a" wg syncconf "$if_a" "$TMP/saved.conf"
tunnel_works

step "5. listen-port change at run time"
new_port=51999
nx "$NS_a" wg set "$if_a" listen-port $new_port
expect_eq "listen-port after change" $new_port "$(wg_get "$NS_a" "$if_a" listen-port)"
wait_until 3 eval "nx $NS_a ss -Huln 'sport = :$new_port' | grep . >/dev/null" ||
  fail "expected a UDP socket on port $new_port in a, saw: $(nx "$NS_a" ss -Huln)"
[[ -z "$(nx "$NS_a" ss -Huln "sport = :$port_a")" ]] ||
  fail "expected old port $port_a released, saw: $(nx "$NS_a" ss -Huln)"
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "10.241.0.1:$new_port"
tunnel_works
expect_eq "b's endpoint for a" "10.241.0.1:$new_port" "$(wg_get "$NS_b" "$if_b" endpoints "$pub_a")"
nx "$NS_a" wg set "$if_a" listen-port $port_a
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "10.241.0.1:$port_a"
tunnel_works

step "6. bad input on the UAPI socket"
# uapi NAME [--close] < payload — sends the payload; without --close expects an
# errno≠0 answer. Then the daemon must be alive and still answer `wg show`.
uapi_bad() {
  local name=$1 answer rc=0
  shift
  answer=$(nx "$NS_a" timeout 10 "$PYTHON" "$LIB_DIR/uapi_raw.py" "$sock_a" "$@") || rc=$?
  if [[ "${1:-}" != --close ]]; then
    ((rc == 0)) || fail "$name: expected an errno answer, saw (status $rc): '${answer:0:200}'"
    [[ "$answer" =~ (^|$'\n')errno=(-?[0-9]+) ]] || fail "$name: expected errno=N, saw '${answer:0:200}'"
    ((BASH_REMATCH[2] != 0)) || fail "$name: expected a non-zero errno, saw errno=0"
    log "$name → errno=${BASH_REMATCH[2]}"
  else
    log "$name → hung up"
  fi
  alive "${WG_PID[$if_a]}" || fail "$name: the daemon died"
  nx "$NS_a" wg show "$if_a" >/dev/null || fail "$name: wg show $if_a no longer works"
}
answer=$(printf 'get=1\n\n' | nx "$NS_a" timeout 10 "$PYTHON" "$LIB_DIR/uapi_raw.py" "$sock_a") ||
  fail "raw get=1: expected a complete answer, saw '${answer:0:200}'"
[[ "$answer" == *"listen_port=$port_a"* && "$answer" == *$'\nerrno=0' ]] ||
  fail "raw get=1: expected listen_port=$port_a … errno=0, saw '${answer:0:300}'"
printf 'set=1\nbogus_key=1\n\n' | uapi_bad "unknown key"
printf 'set=1\n\x01\xff\xfe\x80garbage without equals\n\n' | uapi_bad "garbage line"
{ printf 'set=1\nprivate_key='; head -c 100000 /dev/zero | tr '\0' a; printf '\n\n'; } | uapi_bad "over-long line"
printf 'set=1\npublic_key=%s\nallowed_ip=not-an-ip/99\n\n' "$(base64 -d <<<"$pub_b" | od -An -tx1 | tr -d ' \n')" |
  uapi_bad "bad allowed_ip"
sleep 0.5
diff -u "$TMP/saved.norm" <(showconf "$NS_a" "$if_a") >"$TMP/diff" ||
  fail "after rejected UAPI input the config changed: $(cat "$TMP/diff")"
tunnel_works

printf 'set=1\nlisten_port=' | uapi_bad "hang-up mid-line" --close
printf 'set=1\npublic_key=%s\n' "$(base64 -d <<<"$pub_x" | od -An -tx1 | tr -d ' \n')" | uapi_bad "hang-up mid-transaction" --close
printf 'get=1\n' | uapi_bad "hang-up in get" --close
if answer=$(printf '\xff\xfe\x00garbage\n\n' | nx "$NS_a" timeout 10 "$PYTHON" "$LIB_DIR/uapi_raw.py" "$sock_a"); then
  [[ "$answer" =~ errno=(-?[0-9]+) ]] && ((BASH_REMATCH[1] != 0)) ||
    fail "garbage operation: expected errno≠0 or a hang-up, saw '${answer:0:200}'"
  log "garbage operation → errno=${BASH_REMATCH[1]}"
else
  log "garbage operation → hung up without answer"
fi
alive "${WG_PID[$if_a]}" || fail "garbage operation: the daemon died"
sleep 0.5
# A hang-up after complete lines may leave them applied (wireguard-go does:
# it applies line by line); only report which.
if wg_get "$NS_a" "$if_a" peers | grep -F "$pub_x" >/dev/null; then
  log "the interrupted transaction's complete lines were applied (peer x exists), as in wireguard-go"
  nx "$NS_a" wg syncconf "$if_a" "$TMP/saved.conf"
else
  log "the interrupted transaction was discarded"
fi
diff -u "$TMP/saved.norm" <(showconf "$NS_a" "$if_a") >"$TMP/diff" ||
  fail "after the hang-ups the config differs: $(cat "$TMP/diff")"
tunnel_works
iperf_ok "$NS_a" "$NS_b" 192.168.241.2 2 >/dev/null

step "7. UAPI socket permissions"
mode=$(stat -c %a "$sock_a")
owner=$(stat -c %u "$sock_a")
expect_eq "socket owner uid" 0 "$owner"
((8#$mode & 8#077)) && fail "socket $sock_a: expected no group/other permissions (0600), saw $mode"
log "socket mode $mode, owner root"
pass
