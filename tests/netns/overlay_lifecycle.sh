#!/usr/bin/env bash
# overlay_lifecycle.sh — tokens refused, restarts, the control node down and
# back, five concurrent joins, and a kill -9 of the control node during joins.
#
#   $NS_s: br0 ── c (control ctl, 10.241.0.1) ── a (alpha) ── b (beta)
#                 ── j1..j5 (concurrent joiners) ── k1..k3 (joins under kill -9)
# shellcheck disable=SC2154
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/overlay_lib.sh"
lib_init kdig jq
overlay_init_env

node_add c; node_add a; node_add b
overlay_control c ctl
overlay_join c a alpha
overlay_join c b beta

step "tokens: reuse, expiry, revocation and garbage are refused"
token=$(zo c token create --ttl 10m 2>/dev/null | tail -n 1)
node_add x
zo_start x
zo x join "$token" --name xray --endpoint 10.241.0.4:51820 >/dev/null || fail "xray could not join"
node_add y
zo_start y
out=$(zo y join "$token" --name yankee --endpoint 10.241.0.5:51820 2>&1) && fail "a used token was accepted"
[[ "$out" == *"used"* ]] || fail "reused token: expected a message saying it was used, saw: $out"
expect_eq "yankee is in no overlay after the refusal" false "$(zo y status --json | jq -r .in_overlay)"
short=$(zo c token create --ttl 1s 2>/dev/null | tail -n 1)
sleep 2
out=$(zo y join "$short" --name yankee --endpoint 10.241.0.5:51820 2>&1) && fail "an expired token was accepted"
[[ "$out" == *"expired"* ]] || fail "expired token: expected 'expired', saw: $out"
revoked=$(zo c token create --ttl 10m 2>/dev/null | tail -n 1)
id=$(zo c token list | awk '$4 == "pending" { print $1; exit }')
zo c token revoke "$id" >/dev/null || fail "token revoke $id"
out=$(zo y join "$revoked" --name yankee --endpoint 10.241.0.5:51820 2>&1) && fail "a revoked token was accepted"
[[ "$out" == *"revoked"* ]] || fail "revoked token: expected 'revoked', saw: $out"
out=$(zo y join zlt1_garbage --name yankee 2>&1) && fail "a garbage token was accepted"
[[ "$out" == *"malformed"* ]] || fail "garbage token: expected 'malformed', saw: $out"
out=$(zo y join "${token:0:40}" --name yankee 2>&1) && fail "a truncated token was accepted"
expect_eq "yankee still in no overlay" false "$(zo y status --json | jq -r .in_overlay)"

step "a node restarts and recovers"
addr_a=$(node_addr a)
key_a=$(zo a status --json | jq -r .public_key)
zo_stop a
zo_start a
expect_eq "alpha's address after restart" "$addr_a" "$(node_addr a)"
expect_eq "alpha's key after restart" "$key_a" "$(zo a status --json | jq -r .public_key)"
ping_ok "${ZO_NS[a]}" "$(node_addr b)"

step "an endpoint change reaches every node within 2 s"
ip -n "${ZO_NS[b]}" addr add 10.241.0.33/24 dev veth0
zo_stop b
zo_start b --endpoint 10.241.0.33:51820
published() { zo "$1" peers --json | jq -r --arg n "$2" '.[] | select(.name == $n) | .published_endpoint'; }
wait_until 2 eval "[[ \"\$(published a beta)\" == 10.241.0.33:51820 ]]" ||
  fail "alpha sees beta's endpoint as '$(published a beta)' 2 s after beta published 10.241.0.33:51820"
ping_ok "${ZO_NS[a]}" "$(node_addr b)"

step "a damaged state is refused, never replaced"
zo_stop a
cp "$TMP/a/node.json" "$TMP/node.json.good"
head -c 100 "$TMP/node.json.good" >"$TMP/a/node.json"
out=$(timeout 10 ip netns exec "${ZO_NS[a]}" "$ZO" --state-dir "$TMP/a" daemon --interface "$(ifname a)" 2>&1) &&
  fail "the daemon started on a half-written node.json"
[[ "$out" == *"node.json"* && "$out" == *"refusing to start"* ]] ||
  fail "damaged node.json: expected a refusal naming the file, saw: $out"
expect_eq "node.json left as it was" 100 "$(stat -c %s "$TMP/a/node.json")"
cp "$TMP/node.json.good" "$TMP/a/node.json"
zo_start a
ping_ok "${ZO_NS[a]}" "$(node_addr b)"

step "the control node goes down: tunnels keep working, joins fail clearly, nodes catch up"
zo_stop c
ping_ok "${ZO_NS[a]}" "$(node_addr b)"
wait_until 10 eval "[[ \"\$(zo a status --json | jq -r .control.reachable)\" == false ]]" ||
  fail "alpha does not notice the control node is down"
out=$(zo y join "$token" --name yankee --endpoint 10.241.0.5:51820 2>&1) && fail "a join succeeded with the control node down"
log "join with the control node down: $out"
zo_start c
ping_ok "${ZO_NS[a]}" "$(node_addr c)"
zo c node remove xray >/dev/null || fail "node remove xray after the control node's restart"
wait_until 8 members_seen a 3 || fail "alpha did not catch up after the control node came back"

step "five concurrent joins get five distinct subnets"
tokens=()
for i in 1 2 3 4 5; do
  node_add "j$i"
  zo_start "j$i"
  tokens+=("$(zo c token create --ttl 10m 2>/dev/null | tail -n 1)")
done
jp=()
for i in 1 2 3 4 5; do
  zo "j$i" join "${tokens[$((i - 1))]}" --name "join$i" --endpoint "10.241.0.${ZO_K[j$i]}:51820" \
    >"$TMP/join$i.out" 2>&1 &
  jp+=($!)
done
for p in "${jp[@]}"; do wait "$p" || fail "a concurrent join failed: $(cat "$TMP"/join*.out)"; done
subnets=$(for i in 1 2 3 4 5; do zo "j$i" status --json | jq -r .subnet; done | sort -u | wc -l)
expect_eq "distinct subnets of 5 concurrent joins" 5 "$subnets"
wait_until 5 members_seen a 8 || fail "alpha sees $(zo a status --json | jq .members) members, expected 8"
ping_ok "${ZO_NS[j1]}" "$(node_addr j5)"

step "kill -9 of the control node during joins leaves a consistent store"
for i in 1 2 3; do
  node_add "k$i"
  zo_start "k$i"
done
ktokens=()
for i in 1 2 3; do ktokens+=("$(zo c token create --ttl 10m 2>/dev/null | tail -n 1)"); done
kp=()
for i in 1 2 3; do
  zo "k$i" join "${ktokens[$((i - 1))]}" --name "kilo$i" --endpoint "10.241.0.${ZO_K[k$i]}:51820" \
    >"$TMP/kilo$i.out" 2>&1 &
  kp+=($!)
done
sleep 0.3
zo_stop c KILL
zo_start c   # it refuses to start on an inconsistent store
for p in "${kp[@]}"; do wait "$p" || true; done
zo c status --json | jq -e '.members >= 8' >/dev/null || fail "the control node lost members after kill -9"
for i in 1 2 3; do
  if [[ "$(zo "k$i" status --json | jq -r .in_overlay)" == true ]]; then
    log "kilo$i joined before the kill"
  else
    zo "k$i" join "${ktokens[$((i - 1))]}" --name "kilo$i" --endpoint "10.241.0.${ZO_K[k$i]}:51820" \
      >/dev/null 2>&1 || log "kilo$i: its token was consumed by the interrupted join (refused, as it must be)"
  fi
done
n=$(zo c status --json | jq .members)
log "members after kill -9 and retries: $n"
ping_ok "${ZO_NS[a]}" "$(node_addr c)"

pass
