# shellcheck shell=bash
# tests/netns/overlay_lib.sh — helpers for the overlay tests (on top of lib.sh).
#
# Topology: a switch namespace $NS_s with a bridge; one namespace per node,
# each with veth0 on the bridge (underlay 10.241.0.K/24, K = order of
# creation) and its own zlayer-overlay daemon (state in $TMP/<tag>, log in
# $TMP/<tag>.log, interface z<pid><tag>). Names resolve inside a node's
# namespace through /etc/netns/<ns>/resolv.conf (ip netns exec bind-mounts
# it over /etc/resolv.conf), pointing at the node's own overlay DNS server;
# the directory is removed on exit.
#
#   ZLAYER_OVERLAY  the binary under test (default build/tools/zlayer-overlay/zlayer-overlay)

ZO=${ZLAYER_OVERLAY:-$REPO_DIR/build/tools/zlayer-overlay/zlayer-overlay}
ZONE=zlayer.internal
declare -A ZO_PID=()   # tag -> daemon pid
declare -A ZO_NS=()    # tag -> namespace
declare -A ZO_K=()     # tag -> underlay host number
ZO_NODES=0
ETC_NETNS=()

overlay_init_env() {
  [[ -x "$ZO" ]] || fail "zlayer-overlay not built at $ZO"
  command -v kdig >/dev/null || fail "kdig missing: run scripts/install-deps.sh"
  netns_new s
  ip -n "$NS_s" link add br0 type bridge
  ip -n "$NS_s" link set br0 up
  trap 'overlay_cleanup' EXIT
}

overlay_cleanup() {
  local rc=$? d tag
  set +e
  ((rc == 0 || rc == 77)) || dump_state
  STATE_DUMPED=1
  # The daemons first, so their UAPI sockets can be removed for certain.
  for tag in "${!ZO_PID[@]}"; do kill -TERM "${ZO_PID[$tag]}" 2>/dev/null; done
  for tag in "${!ZO_PID[@]}"; do
    wait_until 5 eval "! alive ${ZO_PID[$tag]}" || kill -KILL "${ZO_PID[$tag]}" 2>/dev/null
    rm -f "$WG_RUN_DIR/$(ifname "$tag").sock"
  done
  for d in "${ETC_NETNS[@]}"; do rm -rf "$d"; done
  (exit $rc)
  lib_cleanup
}

# node_add TAG — a namespace on the bridge (no daemon yet).
node_add() {
  local tag=$1 k
  ZO_NODES=$((ZO_NODES + 1))
  k=$ZO_NODES
  netns_new "$tag"
  local ns="zlt-$$-$tag"
  ip -n "$NS_s" link add "p$k" type veth peer name veth0 netns "$ns"
  ip -n "$NS_s" link set "p$k" master br0 up
  underlay_addr "$ns" veth0 "$k"
  # A default route, so nodes can find their own endpoint address.
  ip -n "$ns" route add default dev veth0 2>/dev/null || true
  ZO_NS[$tag]=$ns
  ZO_K[$tag]=$k
  mkdir -p "/etc/netns/$ns"
  ETC_NETNS+=("/etc/netns/$ns")
}

# zo TAG ARGS… — the CLI against TAG's daemon.
zo() {
  local tag=$1
  shift
  ip netns exec "${ZO_NS[$tag]}" "$ZO" --state-dir "$TMP/$tag" "$@"
}

# zo_start TAG [daemon options…] — starts TAG's daemon, waits for its API.
zo_start() {
  local tag=$1 pid
  shift
  ip netns exec "${ZO_NS[$tag]}" env LOG_LEVEL=verbose "$ZO" --state-dir "$TMP/$tag" daemon \
    --interface "$(ifname "$tag")" --listen-port 51820 "$@" </dev/null >>"$TMP/$tag.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  ZO_PID[$tag]=$pid
  WG_IFS+=("$(ifname "$tag")")
  wait_until 15 zo "$tag" status ||
    fail "$tag: daemon not answering within 15 s (alive=$(alive "$pid" && echo yes || echo no)); log: $(tail -5 "$TMP/$tag.log")"
}

# zo_stop TAG [SIGNAL] — stops TAG's daemon and waits for it.
zo_stop() {
  local tag=$1 sig=${2:-TERM} pid=${ZO_PID[$1]}
  kill -"$sig" "$pid" 2>/dev/null || true
  wait_until 10 eval "! alive $pid" || fail "$tag: daemon $pid still running 10 s after SIG$sig"
  wait "$pid" 2>/dev/null || true
}

# node_addr TAG — TAG's overlay IPv4 address (from its status).
node_addr() { zo "$1" status --json | jq -r .address; }

# use_overlay_dns TAG — TAG's namespace resolves through its own DNS server.
use_overlay_dns() {
  printf 'nameserver %s\nsearch %s\noptions timeout:1 attempts:2\n' "$(node_addr "$1")" "$ZONE" \
    >"/etc/netns/${ZO_NS[$1]}/resolv.conf"
}

# overlay_control TAG NAME — starts TAG (unless running) and makes it the control node.
overlay_control() {
  [[ -n "${ZO_PID[$1]:-}" ]] && alive "${ZO_PID[$1]}" || zo_start "$1"
  zo "$1" init --cidr 10.200.0.0/16 --cidr6 fd42:0:0::/48 --name "$2" \
    --endpoint "10.241.0.${ZO_K[$1]}:51820" >/dev/null || fail "init on $1 failed"
}

# overlay_join CONTROL TAG NAME — a token from CONTROL, TAG starts and joins.
overlay_join() {
  local token
  token=$(zo "$1" token create --ttl 10m 2>/dev/null | tail -n 1) || fail "token create failed"
  [[ -n "${ZO_PID[$2]:-}" ]] && alive "${ZO_PID[$2]}" || zo_start "$2"
  zo "$2" join "$token" --name "$3" --endpoint "10.241.0.${ZO_K[$2]}:51820" >/dev/null ||
    fail "$3 could not join"
}

# members_seen TAG N — TAG's cached view holds N members.
members_seen() { [[ "$(zo "$1" status --json | jq -r .members)" == "$2" ]]; }

# peer_health TAG NAME — the health TAG sees for peer NAME.
peer_health() { zo "$1" peers --json | jq -r --arg n "$2" '.[] | select(.name == $n) | .health'; }

# dig_short TAG ARGS… — kdig +short against TAG's own DNS server, from TAG.
dig_short() {
  local tag=$1
  shift
  nx "${ZO_NS[$tag]}" kdig @"$(node_addr "$tag")" +short +timeout=2 +retry=1 "$@"
}

# dig_rcode TAG ARGS… — the status (NOERROR, NXDOMAIN, REFUSED…) of a query.
dig_rcode() {
  local tag=$1
  shift
  nx "${ZO_NS[$tag]}" kdig @"$(node_addr "$tag")" +timeout=2 +retry=1 "$@" |
    sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -n 1
}
