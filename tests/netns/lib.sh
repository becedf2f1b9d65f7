# shellcheck shell=bash
# tests/netns/lib.sh — shared helpers for the network-namespace integration tests.
#
# Every test sources this file, calls `lib_init`, builds its own topology out of
# namespaces it creates (`netns_new`, `veth_pair`, `bridge_ns`), starts WireGuard
# implementations inside them (`wg_start`), configures them with the standard
# `wg` tool and asserts with `fail "expected …, saw …"`. The EXIT trap kills
# every process the test started (by pid), deletes its namespaces and temporary
# files, also on failure or Ctrl-C. On failure it first dumps `wg show` of every
# interface and the tail of every daemon log.
#
# Which implementation runs where (absolute path or a name in $PATH):
#   IMPL_A  the implementation under test   (default: $ZLAYER_WG, else
#           build/tools/zlayer-wg/zlayer-wg, else build*/…, else `zlayer-wg`
#           in $PATH)
#   IMPL_B  the reference peer              (default: wireguard-go)
# So `IMPL_A=wireguard-go IMPL_B=wireguard-go tests/netns/interop.sh` checks the
# test itself against the reference on both ends.
#
# Addressing plan (node i = 1, 2, 3 …):
#   underlay  10.241.0.i/24, fd00:241::i/64 on the node's veth0
#   tunnel    192.168.241.i/24, fd00:aa::i/64 on the node's WireGuard interface
#
# Rules every test follows: traffic only between namespaces the test created;
# names are unique per run (namespaces zlt-$$-x, interfaces z$$x — the UAPI
# sockets in /var/run/wireguard/ are shared by all namespaces); every wait is
# bounded in count and time. Exit 0 = pass, 1 = fail, 77 = skipped (not root,
# or no /dev/net/tun).

set -euo pipefail
shopt -s nullglob

TEST_NAME=$(basename "$0" .sh)
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LIB_DIR/../.." && pwd)
WG_RUN_DIR=/var/run/wireguard
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3 || true)}

NETNS=()        # namespaces created, deleted on exit
PIDS=()         # processes started, killed on exit
WG_IFS=()       # WireGuard interfaces created (their sockets are removed on exit)
declare -A WG_PID=()   # interface -> pid of its daemon (when started by wg_start)
TMP=""

# ---------------------------------------------------------------- messages --

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
step() { printf '\n[%s] === %s\n' "$TEST_NAME" "$*"; }

# fail "what was expected, what was seen" — prints and exits 1 (the trap cleans up).
fail() {
  printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
  exit 1
}

skip() {
  printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*" >&2
  exit 77
}

pass() {
  printf '\n[%s] PASS\n' "$TEST_NAME"
  exit 0
}

# expect_eq WHAT EXPECTED SEEN
expect_eq() {
  [[ "$2" == "$3" ]] || fail "$1: expected '$2', saw '$3'"
}

# ------------------------------------------------------------- the process --

# Resolves an implementation name or path to an absolute executable path.
resolve_impl() {
  local p
  p=$(command -v "$1" 2>/dev/null) || fail "implementation '$1' not found (not executable, not in PATH)"
  [[ "$p" == /* ]] || p="$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
  printf '%s\n' "$p"
}

default_zlayer_wg() {
  local c
  if [[ -n "${ZLAYER_WG:-}" ]]; then printf '%s\n' "$ZLAYER_WG"; return; fi
  for c in "$REPO_DIR"/build/tools/zlayer-wg/zlayer-wg "$REPO_DIR"/build*/tools/zlayer-wg/zlayer-wg; do
    [[ -x "$c" ]] && { printf '%s\n' "$c"; return; }
  done
  printf 'zlayer-wg\n'
}

impl_name() { basename "$1"; }
is_reference_go() { [[ "$(impl_name "$1")" == wireguard-go ]]; }

# lib_init — checks the environment, sets the traps and IMPL_A/IMPL_B.
lib_init() {
  [[ "$(id -u)" -eq 0 ]] || skip "needs root (network namespaces, TUN)"
  [[ -c /dev/net/tun ]] || skip "needs /dev/net/tun"
  local t
  for t in ip wg iperf3 ping timeout "$@"; do
    command -v "$t" >/dev/null || fail "tool '$t' missing: run scripts/install-deps.sh"
  done
  [[ -n "$PYTHON" ]] || fail "python3 missing: run scripts/install-deps.sh"
  IMPL_A=$(resolve_impl "${IMPL_A:-$(default_zlayer_wg)}")
  IMPL_B=$(resolve_impl "${IMPL_B:-wireguard-go}")
  TMP=$(mktemp -d "/tmp/zlt-$TEST_NAME-$$.XXXXXX")
  trap lib_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "IMPL_A (under test) = $IMPL_A"
  log "IMPL_B (reference)  = $IMPL_B"
}

# alive PID — true while the process exists and is not a zombie.
alive() {
  local st
  [[ -r "/proc/$1/stat" ]] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# wait_until SECONDS CMD… — polls CMD every 0.1 s, at most SECONDS*10 times.
wait_until() {
  local tries=$(($1 * 10)) i
  shift
  for ((i = 0; i < tries; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# Kills one process we started: TERM, then KILL after 3 s.
kill_pid() {
  local pid=$1
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait_until 3 eval "! alive $pid" || kill -KILL "$pid" 2>/dev/null || true
}

dump_state() {
  local ns f ifname
  echo "----- [$TEST_NAME] state at failure -----" >&2
  for ns in "${NETNS[@]}"; do
    ip netns list 2>/dev/null | grep -w "$ns" >/dev/null || continue
    echo "--- netns $ns: ip -br addr / wg show" >&2
    ip -n "$ns" -br addr >&2 2>&1 || true
    for ifname in $(ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{ print $2 }'); do
      [[ -S "$WG_RUN_DIR/$ifname.sock" ]] && timeout 5 ip netns exec "$ns" wg show "$ifname" >&2 2>&1
    done
  done
  for f in "$TMP"/*.log; do
    echo "--- tail $f" >&2
    tail -n 25 "$f" >&2 || true
  done
  echo "-----------------------------------------" >&2
}

lib_cleanup() {
  local rc=$? ns pid ifname
  set +e
  trap - EXIT INT TERM
  ((rc == 0 || rc == 77 || ${STATE_DUMPED:-0} == 1)) || dump_state
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Anything left inside our namespaces was started by this test (daemons that
  # wg-quick spawned, iperf3 servers): end it by pid.
  for ns in "${NETNS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
  done
  for pid in "${PIDS[@]}"; do
    wait_until 3 eval "! alive $pid" || kill -KILL "$pid" 2>/dev/null
  done
  for ns in "${NETNS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  for ifname in "${WG_IFS[@]}"; do rm -f "$WG_RUN_DIR/$ifname.sock"; done
  [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"
  wait 2>/dev/null
  exit "$rc"
}

# ------------------------------------------------------------- topologies --

# nx NS CMD… — runs CMD inside namespace NS.
nx() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# netns_new TAG — creates namespace zlt-$$-TAG with lo up, echoes nothing; the
# name is in NS_<TAG> (e.g. netns_new a → $NS_a).
netns_new() {
  local ns="zlt-$$-$1"
  ip netns add "$ns" || fail "cannot create namespace $ns"
  NETNS+=("$ns")
  ip -n "$ns" link set lo up
  # Tests must not depend on the host's forwarding or rp_filter settings.
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  printf -v "NS_$1" '%s' "$ns"
}

# underlay_addr NS DEV I — 10.241.0.I/24 and fd00:241::I/64 on DEV, link up.
underlay_addr() {
  ip -n "$1" addr add "10.241.0.$3/24" dev "$2"
  ip -n "$1" addr add "fd00:241::$3/64" dev "$2" nodad
  ip -n "$1" link set "$2" up
}

# veth_pair NS1 NS2 — veth0 in NS1 (node 1) ↔ veth0 in NS2 (node 2), both
# with underlay addresses. The pair is created inside NS1, never in the host.
veth_pair() {
  ip -n "$1" link add veth0 type veth peer name veth0 netns "$2"
  underlay_addr "$1" veth0 1
  underlay_addr "$2" veth0 2
}

# bridge_ns SWITCH_NS NS… — a bridge br0 in SWITCH_NS with one port per NS;
# the k-th NS gets veth0 with underlay node number k.
bridge_ns() {
  local sw=$1 k=0 ns
  shift
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  for ns in "$@"; do
    k=$((k + 1))
    ip -n "$sw" link add "p$k" type veth peer name veth0 netns "$ns"
    ip -n "$sw" link set "p$k" master br0 up
    underlay_addr "$ns" veth0 "$k"
  done
}

# --------------------------------------------------------------- wireguard --

# Interface name for tag T: z<pid><T>, unique per run, ≤ 15 characters.
ifname() { printf 'z%s%s\n' "$$" "$1"; }

# gen_key NAME — writes $TMP/NAME.key and $TMP/NAME.pub, echoes the public key.
gen_key() {
  (umask 077 && wg genkey >"$TMP/$1.key")
  wg pubkey <"$TMP/$1.key" >"$TMP/$1.pub"
  cat "$TMP/$1.pub"
}

gen_psk() {
  (umask 077 && wg genpsk >"$TMP/$1.psk")
}

# wg_start NS IFNAME IMPL — starts `IMPL -f IFNAME` inside NS in the background
# (log in $TMP/IFNAME.log), waits until its UAPI socket answers.
wg_start() {
  local ns=$1 ifn=$2 impl=$3 pid
  ip netns exec "$ns" env LOG_LEVEL=verbose "$impl" -f "$ifn" </dev/null >"$TMP/$ifn.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  WG_IFS+=("$ifn")
  WG_PID[$ifn]=$pid
  wait_until 10 nx "$ns" wg show "$ifn" ||
    fail "$(impl_name "$impl") $ifn in $ns: expected a UAPI socket answering within 10 s; alive=$(alive "$pid" && echo yes || echo no)"
}

# wg_stop IFNAME — SIGTERM to the daemon, waits for it; its exit status is
# left in $WG_RC (not echoed: `wait` must run in this shell, not a subshell).
# shellcheck disable=SC2034 # WG_RC is read by the tests
wg_stop() {
  local pid=${WG_PID[$1]}
  kill -TERM "$pid" 2>/dev/null || true
  wait_until 10 eval "! alive $pid" || fail "$1: daemon $pid still running 10 s after SIGTERM"
  WG_RC=0
  wait "$pid" 2>/dev/null || WG_RC=$?
}

# wg_iface NS IFNAME KEYNAME PORT NODE — private key, listen port, tunnel
# addresses 192.168.241.NODE/24 and fd00:aa::NODE/64, link up.
wg_iface() {
  local ns=$1 ifn=$2
  nx "$ns" wg set "$ifn" private-key "$TMP/$3.key" listen-port "$4" ||
    fail "wg set $ifn private-key/listen-port failed"
  ip -n "$ns" addr add "192.168.241.$5/24" dev "$ifn"
  ip -n "$ns" addr add "fd00:aa::$5/64" dev "$ifn" nodad
  ip -n "$ns" link set "$ifn" up
}

# two_nodes — the common topology: namespaces a and b joined by a veth pair,
# IMPL_A running in a and IMPL_B in b, each interface keyed, addressed and
# listening (a: node 1, port 51820; b: node 2, port 51821). No peers yet.
# Sets pub_a pub_b if_a if_b port_a port_b.
two_nodes() {
  netns_new a
  netns_new b
  veth_pair "$NS_a" "$NS_b"
  pub_a=$(gen_key a)
  pub_b=$(gen_key b)
  if_a=$(ifname a)
  if_b=$(ifname b)
  port_a=51820 port_b=51821
  wg_start "$NS_a" "$if_a" "$IMPL_A"
  wg_start "$NS_b" "$if_b" "$IMPL_B"
  wg_iface "$NS_a" "$if_a" a $port_a 1
  wg_iface "$NS_b" "$if_b" b $port_b 2
}

# target_and_two_peers ENDPOINT_A — the flood tests' nodes, in $NS_a, $NS_b and
# $NS_c (created by the test): IMPL_A in a (node 1, port $port_a, the target) with
# peers b and c; IMPL_B in b (node 2, port 51821; knows a at ENDPOINT_A) and in c
# (node 3, port 51822; configured by the test). Sets pub_a pub_b pub_c, if_a if_b
# if_c and pid_a.
target_and_two_peers() {
  pub_a=$(gen_key a)
  pub_b=$(gen_key b)
  pub_c=$(gen_key c)
  if_a=$(ifname a)
  if_b=$(ifname b)
  if_c=$(ifname c)
  wg_start "$NS_a" "$if_a" "$IMPL_A"
  wg_start "$NS_b" "$if_b" "$IMPL_B"
  wg_start "$NS_c" "$if_c" "$IMPL_B"
  wg_iface "$NS_a" "$if_a" a "$port_a" 1
  wg_iface "$NS_b" "$if_b" b 51821 2
  wg_iface "$NS_c" "$if_c" c 51822 3
  wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)"
  wg_peer "$NS_a" "$if_a" "$pub_c" "$(tunnel_ips 3)"
  wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)" endpoint "$1"
  pid_a=${WG_PID[$if_a]}
}

# wg_peer NS IFNAME PUBKEY ALLOWED [endpoint E] [psk NAME] [keepalive N]
wg_peer() {
  local ns=$1 ifn=$2 pub=$3 allowed=$4
  local args=(peer "$pub" allowed-ips "$allowed")
  shift 4
  while (($#)); do
    case $1 in
      endpoint) args+=(endpoint "$2") ;;
      psk) args+=(preshared-key "$TMP/$2.psk") ;;
      keepalive) args+=(persistent-keepalive "$2") ;;
      *) fail "wg_peer: unknown option $1" ;;
    esac
    shift 2
  done
  nx "$ns" wg set "$ifn" "${args[@]}" || fail "wg set $ifn ${args[*]} failed"
}

# tunnel_ips NODE — the allowed-ips string of node NODE's tunnel addresses.
tunnel_ips() { printf '192.168.241.%s/32,fd00:aa::%s/128\n' "$1" "$1"; }

# wg_get NS IFNAME FIELD [PUBKEY] — one `wg show IFNAME FIELD` value; with
# PUBKEY, the value column of that peer's line.
wg_get() {
  local out
  out=$(nx "$1" wg show "$2" "$3") || fail "wg show $2 $3 failed"
  if (($# == 4)); then
    awk -v k="$4" '$1 == k { $1 = ""; sub(/^ /, ""); print; found = 1 } END { exit !found }' <<<"$out" ||
      fail "wg show $2 $3: no line for peer $4 in: $out"
  else
    printf '%s\n' "$out"
  fi
}

has_handshake() {
  local t
  t=$(wg_get "$1" "$2" latest-handshakes "$3") || return 1
  [[ "$t" =~ ^[0-9]+$ ]] && ((t > 0))
}

# wait_handshake NS IFNAME PUBKEY SECONDS
wait_handshake() {
  wait_until "$4" has_handshake "$1" "$2" "$3" ||
    fail "$2 in $1: expected a handshake with ${3:0:8}… within $4 s, latest-handshakes: $(nx "$1" wg show "$2" latest-handshakes 2>&1)"
}

# expect_recent_handshake NS IFNAME PUBKEY — latest handshake within 60 s of now.
expect_recent_handshake() {
  local t now
  t=$(wg_get "$1" "$2" latest-handshakes "$3")
  now=$(date +%s)
  [[ "$t" =~ ^[0-9]+$ ]] && ((t > 0 && now - t <= 60 && t - now <= 5)) ||
    fail "$2: expected latest-handshake within 60 s of now ($now), saw '$t'"
}

# transfer NS IFNAME PUBKEY — echoes "rx tx".
transfer() { wg_get "$1" "$2" transfer "$3"; }

# --------------------------------------------------------------- traffic --

# ping_ok NS DST [COUNT [PING_ARGS…]] — COUNT echo replies expected (default
# 3), no loss, bounded in time.
ping_ok() {
  local ns=$1 dst=$2 n=${3:-3} out
  shift $(($# < 3 ? $# : 3))
  out=$(nx "$ns" ping -n -q -c "$n" -i 0.2 -W 2 -w $((n + 8)) "$@" "$dst" 2>&1) ||
    fail "ping $* $dst from $ns: expected $n replies, saw: $(grep -E 'transmitted|rror|unreach' <<<"$out" | tr '\n' ' ')"
  grep -q " 0% packet loss" <<<"$out" ||
    fail "ping $* $dst from $ns: expected no loss, saw: $(grep transmitted <<<"$out")"
}

# ping_fails NS DST [PING_ARGS…] — no reply expected to two probes (~3 s).
ping_fails() {
  local ns=$1 dst=$2
  shift 2
  if nx "$ns" ping -n -q -c 2 -i 0.3 -W 1 -w 3 "$@" "$dst" >/dev/null 2>&1; then
    fail "ping $* $dst from $ns: expected no reply, but it answered"
  fi
}

# ping_loss NS DST COUNT INTERVAL — echoes the number of lost echoes.
ping_loss() {
  local out tx rx
  out=$(nx "$1" ping -n -q -c "$3" -i "$4" -W 2 -w "$(awk -v c="$3" -v i="$4" 'BEGIN { printf "%d", c * i + 15 }')" "$2" 2>&1) || true
  tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
  rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
  [[ -n "$tx" && -n "$rx" ]] || fail "ping $2 from $1: unexpected output: $out"
  printf '%s\n' $((tx - rx))
}

# iperf_ok CLIENT_NS SERVER_NS SERVER_IP SECONDS [iperf3 client args…] — a TCP
# stream from CLIENT_NS to SERVER_IP; fails unless it carried data. Echoes the
# receiver's bytes and bits/s.
iperf_ok() {
  local cns=$1 sns=$2 dst=$3 secs=$4 spid out bytes bps
  shift 4
  nx "$sns" timeout $((secs + 40)) iperf3 -s -1 -B "$dst" >"$TMP/iperf3-server.log" 2>&1 &
  spid=$!
  PIDS+=("$spid")
  wait_until 5 eval "nx $sns ss -Htln | grep ':5201 ' >/dev/null" || fail "iperf3 server on $dst in $sns did not start"
  out=$(nx "$cns" timeout $((secs + 30)) iperf3 -J -c "$dst" -t "$secs" --connect-timeout 10000 "$@" 2>&1) ||
    fail "iperf3 -c $dst from $cns: expected a completed TCP stream, saw: $(jq -r '.error // empty' <<<"$out" 2>/dev/null || tail -3 <<<"$out")"
  bytes=$(jq -r '.end.sum_received.bytes' <<<"$out")
  bps=$(jq -r '.end.sum_received.bits_per_second | floor' <<<"$out")
  [[ "$bytes" =~ ^[0-9]+$ ]] && ((bytes > 0)) || fail "iperf3 -c $dst: expected bytes received > 0, saw '$bytes'"
  wait "$spid" 2>/dev/null || true
  printf '%s %s\n' "$bytes" "$bps"
}

mbps() { awk -v b="$1" 'BEGIN { printf "%.0f Mbit/s", b / 1e6 }'; }

# find_daemon IFNAME IMPL — pid of a daemonised `IMPL IFNAME` (last argument
# is IFNAME and argv[0]'s basename is IMPL's), for daemons we did not fork.
find_daemon() {
  local d args base
  base=$(impl_name "$2")
  for d in /proc/[0-9]*; do
    [[ -r "$d/cmdline" ]] || continue
    mapfile -d '' -t args <"$d/cmdline" 2>/dev/null || continue
    ((${#args[@]} >= 2)) || continue
    [[ "${args[-1]}" == "$1" && "$(basename "${args[0]}")" == "$base" ]] || continue
    alive "${d#/proc/}" || continue
    printf '%s\n' "${d#/proc/}"
    return 0
  done
  return 1
}

# rss_kb PID — VmRSS in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# udp_send NS SRC_IP DST_IP DST_PORT HEX — one UDP datagram with payload HEX,
# sent from SRC_IP (which must be configured in NS).
udp_send() {
  nx "$1" timeout 5 "$PYTHON" - "$2" "$3" "$4" "$5" <<'PY' || fail "udp_send from $2 to $3:$4 failed"
import socket, sys
src, dst, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((src, 0))
s.sendto(payload, (dst, port))
PY
}

# conf_normalize < wg-showconf-output — a canonical form for comparisons:
# peers sorted by public key, each peer's AllowedIPs merged and sorted (the
# UAPI does not define the order of either).
conf_normalize() {
  "$PYTHON" -c '
import sys
sections, cur = [], None
for raw in sys.stdin.read().splitlines():
    line = raw.strip()
    if not line or line.startswith("#"):
        continue
    if line.startswith("["):
        cur = [line, {}]
        sections.append(cur)
        continue
    k, _, v = line.partition("=")
    k, v = k.strip(), v.strip()
    if k == "AllowedIPs":
        cur[1].setdefault(k, []).extend(x.strip() for x in v.split(",") if x.strip())
    else:
        cur[1][k] = v
def render(sec):
    out = [sec[0]]
    for k in sorted(sec[1]):
        v = sec[1][k]
        out.append("%s = %s" % (k, ", ".join(sorted(v)) if isinstance(v, list) else v))
    return "\n".join(out)
iface = [s for s in sections if s[0] == "[Interface]"]
peers = sorted((s for s in sections if s[0] == "[Peer]"), key=lambda s: s[1].get("PublicKey", ""))
print("\n\n".join(render(s) for s in iface + peers))
'
}

# showconf NS IFNAME — `wg showconf`, normalised.
showconf() {
  nx "$1" wg showconf "$2" >"$TMP/showconf.raw" || fail "wg showconf $2 failed"
  conf_normalize <"$TMP/showconf.raw"
}
