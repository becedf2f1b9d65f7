#!/usr/bin/env bash
# roaming.sh — IMPL_A follows its peer's underlay address: the endpoint is the
# source of the last authenticated packet, and only of an authenticated one.
#
#   ┌────────────────────────────┐                ┌────────────────────────────────┐
#   │ $NS_a  IMPL_A  wg a        │                │ $NS_b  IMPL_B  wg b            │
#   │  192.168.241.1             │                │  192.168.241.2                 │
#   │  no endpoint for b         │                │  endpoint = a                  │
#   │  veth0 10.241.0.1 ─────────┼──── veth0 ─────┼─ 10.241.0.2 → .3 (roam), .9    │
#   │        fd00:241::1         │                │   fd00:241::2     (spoofer)    │
#   │  veth1 10.242.0.1 ─────────┼──── veth1 ─────┼─ 10.242.0.2 (second link)     │
#   └────────────────────────────┘                └────────────────────────────────┘
#
# b moves: new IPv4 address (old one removed), new listen port, IPv6 underlay,
# then another veth. Each time b sends first and a's `wg show endpoints` must
# become b's new source, and a's own traffic must reach b there. A forged
# transport packet and a replayed genuine one from 10.241.0.9 must not move
# the endpoint.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init tshark

two_nodes
wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)"
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "10.241.0.1:$port_a"

endpoint_of_b() { wg_get "$NS_a" "$if_a" endpoints "$pub_b"; }

# roamed EXPECTED — b sends, a's endpoint must be EXPECTED, a reaches b.
roamed() {
  ping_ok "$NS_b" 192.168.241.1 2
  expect_eq "$if_a endpoint for b" "$1" "$(endpoint_of_b)"
  ping_ok "$NS_a" 192.168.241.2 2
  ping_ok "$NS_a" fd00:aa::2 2
  log "endpoint now $1"
}

step "initial endpoint"
roamed "10.241.0.2:$port_b"

step "b's IPv4 address changes (10.241.0.2 → 10.241.0.3)"
ip -n "$NS_b" addr del 10.241.0.2/24 dev veth0
ip -n "$NS_b" addr add 10.241.0.3/24 dev veth0
# Setting the endpoint again drops b's cached source address (wireguard-go
# keeps sending from the vanished 10.241.0.2 otherwise); a sees only the move.
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "10.241.0.1:$port_a"
roamed "10.241.0.3:$port_b"

step "forged and replayed transport packets from 10.241.0.9 do not move the endpoint"
ip -n "$NS_b" addr add 10.241.0.9/24 dev veth0
# Forged: type 4, a receiver index and counter a never issued, 16 bytes of "tag".
udp_send "$NS_b" 10.241.0.9 10.241.0.1 $port_a "04000000$(od -An -tx1 -N28 /dev/urandom | tr -d ' \n')"
# Replayed: a genuine packet from b, captured on a's side, sent again from .9.
nx "$NS_a" timeout 15 tshark -q -n -i veth0 -c 1 -a duration:10 \
  -f "udp and src port $port_b and dst port $port_a and greater 100" -T fields -e udp.payload \
  >"$TMP/genuine.hex" 2>"$TMP/tshark.err" &
cap=$!
PIDS+=("$cap")
sleep 2 # tshark takes a moment to open the capture
ping_ok "$NS_b" 192.168.241.1 1
wait "$cap" || fail "tshark capture of a genuine packet failed: $(tail -2 "$TMP/tshark.err")"
genuine=$(tr -d ':\n' <"$TMP/genuine.hex")
[[ "${genuine:0:2}" == 04 ]] || fail "expected a captured transport packet (type 4), saw '${genuine:0:16}…'"
udp_send "$NS_b" 10.241.0.9 10.241.0.1 $port_a "$genuine"
sleep 0.5
expect_eq "$if_a endpoint after forged/replayed packets" "10.241.0.3:$port_b" "$(endpoint_of_b)"
ping_ok "$NS_a" 192.168.241.2 1
expect_eq "$if_a endpoint after a's own ping" "10.241.0.3:$port_b" "$(endpoint_of_b)"

step "b's listen port changes ($port_b → $((port_b + 100)))"
port_b=$((port_b + 100))
nx "$NS_b" wg set "$if_b" listen-port $port_b
roamed "10.241.0.3:$port_b"

step "b moves to the IPv6 underlay"
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "[fd00:241::1]:$port_a"
roamed "[fd00:241::2]:$port_b"

step "b moves to another link (veth1, 10.242.0.0/24); veth0 goes down"
ip -n "$NS_a" link add veth1 type veth peer name veth1 netns "$NS_b"
ip -n "$NS_a" addr add 10.242.0.1/24 dev veth1
ip -n "$NS_b" addr add 10.242.0.2/24 dev veth1
ip -n "$NS_a" link set veth1 up
ip -n "$NS_b" link set veth1 up
ip -n "$NS_b" link set veth0 down
wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "10.242.0.1:$port_a"
roamed "10.242.0.2:$port_b"
pass
