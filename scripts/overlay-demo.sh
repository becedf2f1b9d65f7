#!/usr/bin/env bash
# overlay-demo.sh — an overlay of three nodes, each in its own network
# namespace, joined by tokens, step by step.
#
#        ┌──────────────── zlo-<pid>-sw: bridge br0 (the "underlay") ───────────────┐
#        │                           │                            │                 │
#   ┌────┴─────────────────┐ ┌───────┴──────────────┐ ┌───────────┴──────────┐
#   │ zlo-<pid>-ctl        │ │ zlo-<pid>-alpha      │ │ zlo-<pid>-beta       │
#   │ control node "ctl"   │ │ node "alpha"         │ │ node "beta"          │
#   │ 192.0.2.1            │ │ 192.0.2.2            │ │ 192.0.2.3            │
#   └──────────────────────┘ └──────────────────────┘ └──────────────────────┘
#
# Each node runs `zlayer-overlay daemon` ($ZLAYER_OVERLAY, default
# build/tools/zlayer-overlay/zlayer-overlay). ctl initialises the overlay
# 10.200.0.0/16; alpha and beta join with single-use tokens; alpha pings beta
# by name through the overlay's DNS; `status` and `peers` are printed; all is
# torn down. Needs root; everything it creates is removed on exit, also on
# failure; exits non-zero if a step fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
ZO=${ZLAYER_OVERLAY:-$repo/build/tools/zlayer-overlay/zlayer-overlay}
nodes=(ctl alpha beta)
tmp=""
pids=()

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '   $ %s\n' "$*"; "$@"; }
die() { printf '\noverlay-demo: FAILED: %s\n' "$*" >&2; exit 1; }
ns() { printf 'zlo-%s-%s' "$$" "$1"; }
ifn() { printf 'zo%s%s' "$$" "${1:0:1}"; }
# zo NODE ARGS… — the CLI of NODE, as a user on that machine would type it.
zo() {
  local node=$1
  shift
  # A token is a secret: shown as $TOKEN.
  printf '   [%s]$ zlayer-overlay %s\n' "$node" "$(sed 's/zlt1_[A-Za-z0-9_-]*/$TOKEN/g' <<<"$*")"
  ip netns exec "$(ns "$node")" "$ZO" --state-dir "$tmp/$node" "$@"
}

cleanup() {
  local rc=$? pid n
  set +e
  trap - EXIT INT TERM
  say "tear-down"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for n in sw "${nodes[@]}"; do
    ip netns list | grep -w "$(ns "$n")" >/dev/null && ip netns del "$(ns "$n")"
    rm -rf "/etc/netns/$(ns "$n")"
    rm -f "/var/run/wireguard/$(ifn "$n").sock"
  done
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  if ((rc == 0)); then say "done: the overlay worked"; else printf '\noverlay-demo: exit status %d\n' "$rc" >&2; fi
  exit "$rc"
}

[[ "$(id -u)" -eq 0 ]] || die "run as root (it creates network namespaces and TUN devices)"
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing"
[[ -x "$ZO" ]] || die "zlayer-overlay not found at $ZO: build it (cmake --build build) or set ZLAYER_OVERLAY"
for t in ip wg ping kdig; do command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh"; done
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tmp=$(mktemp -d /tmp/zlayer-overlay-demo.XXXXXX)
echo "zlayer-overlay: $ZO ($("$ZO" --version 2>&1 | head -1))"

say "1. three machines (network namespaces) on one switch"
ip netns add "$(ns sw)"
ip -n "$(ns sw)" link add br0 type bridge
ip -n "$(ns sw)" link set br0 up
k=0
for n in "${nodes[@]}"; do
  k=$((k + 1))
  ip netns add "$(ns "$n")"
  ip -n "$(ns "$n")" link set lo up
  ip -n "$(ns sw)" link add "p$k" type veth peer name eth0 netns "$(ns "$n")"
  ip -n "$(ns sw)" link set "p$k" master br0 up
  ip -n "$(ns "$n")" addr add "192.0.2.$k/24" dev eth0
  ip -n "$(ns "$n")" link set eth0 up
  ip -n "$(ns "$n")" route add default via 192.0.2.254 dev eth0 onlink
  echo "   $n: 192.0.2.$k"
done

say "2. start the daemon on every machine"
for n in "${nodes[@]}"; do
  printf '   [%s]$ zlayer-overlay daemon --interface %s &\n' "$n" "$(ifn "$n")"
  ip netns exec "$(ns "$n")" "$ZO" --state-dir "$tmp/$n" daemon --interface "$(ifn "$n")" \
    </dev/null >"$tmp/$n.log" 2>&1 &
  pids+=($!)
done
for n in "${nodes[@]}"; do
  for _ in $(seq 100); do
    ip netns exec "$(ns "$n")" "$ZO" --state-dir "$tmp/$n" status >/dev/null 2>&1 && break
    sleep 0.1
  done
  ip netns exec "$(ns "$n")" "$ZO" --state-dir "$tmp/$n" status >/dev/null 2>&1 ||
    die "the daemon on $n did not start: $(tail -5 "$tmp/$n.log")"
done

say "3. ctl creates the overlay and becomes its control node"
zo ctl init --cidr 10.200.0.0/16 --name ctl

say "4. alpha and beta join with single-use tokens (enrolment runs through the tunnel)"
for n in alpha beta; do
  token=$(zo ctl token create --ttl 10m --name "$n" | tail -n 1)
  echo "   (TOKEN=${token:0:12}…, ${#token} characters: keep it secret, it holds a key)"
  zo "$n" join "$token" --name "$n"
done

say "5. names resolve in the overlay zone; alpha pings beta by name"
addr_alpha=$(ip netns exec "$(ns alpha)" "$ZO" --state-dir "$tmp/alpha" status --json | sed -n 's/^  "address": "\(.*\)",$/\1/p')
mkdir -p "/etc/netns/$(ns alpha)"
printf 'nameserver %s\n' "$addr_alpha" >"/etc/netns/$(ns alpha)/resolv.conf"
for _ in $(seq 50); do
  [[ -n "$(ip netns exec "$(ns alpha)" kdig @"$addr_alpha" +short beta.zlayer.internal 2>/dev/null)" ]] && break
  sleep 0.2
done
run ip netns exec "$(ns alpha)" kdig @"$addr_alpha" +short beta.zlayer.internal
run ip netns exec "$(ns alpha)" ping -c 3 -i 0.2 -W 2 -w 10 beta.zlayer.internal ||
  die "alpha cannot ping beta by name"

say "6. status on alpha, and the peers as ctl sees them"
sleep 2   # one health round, so the probes have an RTT to show
zo alpha status
zo ctl peers
zo ctl token list
