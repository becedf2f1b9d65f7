# shellcheck shell=bash
# bench/overlay_bench_lib.sh — helpers shared by the overlay benchmarks
# (overlay_mesh.sh, overlay_vs_nebula.sh), on top of tests/netns/lib.sh and
# tests/netns/overlay_lib.sh (namespaces on a bridge: node_add, zo, ZO_NS…).
#
#   overlay_bench_init TOOLS…  lib_init + overlay_init_env + the exit trap
#   static_neighbours TAG…     permanent ARP entries between the nodes
#   zo_daemon TAG IFNAME       starts TAG's daemon (no wait), pid in ZO_PID
#   stop_pid PID               TERM, wait (bounded), KILL if needed
#   now                        wall clock, seconds with ns
#   since T                    seconds since T, 3 decimals
#
# Environment: KEEP_LOGS (an existing directory: $TMP/*.log are copied there
# at exit), DAEMON_LOG_LEVEL (error; "verbose" to debug the daemons).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/../tests/netns/lib.sh"
. "$BENCH_DIR/../tests/netns/overlay_lib.sh"

# overlay_lib's overlay_cleanup runs `(exit $rc)` under set -e, which ends the
# trap before lib_cleanup when rc != 0 (daemons and namespaces would be left
# behind on failure): our own trap, errexit off first.
bench_cleanup() {
  local rc=$? d
  set +e
  for d in "${ETC_NETNS[@]}"; do rm -rf "$d"; done
  [[ -n "${KEEP_LOGS:-}" && -d "${KEEP_LOGS:-}" ]] && cp "$TMP"/*.log "$KEEP_LOGS"/
  (exit "$rc")
  lib_cleanup
}

overlay_bench_init() {
  lib_init "$@"
  overlay_init_env
  trap bench_cleanup EXIT
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }'; }

# All namespaces share the kernel's one IPv4 neighbour table, whose entries
# are capped host-wide (net.ipv4.neigh.default.gc_thresh3, 1024 by default):
# N hosts that all talk to each other need N·(N−1) ARP entries (2550 at 51),
# and past the cap new entries fail, so sends fail with ENOBUFS (dmesg:
# "neighbor table overflow") — in every namespace on the machine. Permanent
# entries are exempt from the cap: every node gets one for each other node's
# underlay address, as if ARP had settled. Nothing outside our namespaces
# changes.
static_neighbours() {
  local tag other mac
  declare -A macs=()
  for tag in "$@"; do
    mac=$(ip -n "${ZO_NS[$tag]}" -br link show veth0 | awk '{ print $3 }')
    [[ "$mac" =~ ^[0-9a-f:]{17}$ ]] || fail "$tag: no MAC address on veth0 (saw '$mac')"
    macs[$tag]=$mac
  done
  for tag in "$@"; do
    for other in "$@"; do
      [[ $other == "$tag" ]] && continue
      printf 'neigh replace 10.241.0.%s lladdr %s dev veth0 nud permanent\n' "${ZO_K[$other]}" "${macs[$other]}"
    done | ip -n "${ZO_NS[$tag]}" -batch - || fail "$tag: could not add the static neighbour entries"
  done
}

# zo_daemon TAG IFNAME — TAG's daemon in the background (state $TMP/TAG, log
# $TMP/TAG.log); does not wait for its API.
zo_daemon() {
  local tag=$1 ifn=$2 pid
  mkdir -p "$TMP/$tag"
  ip netns exec "${ZO_NS[$tag]}" env LOG_LEVEL="${DAEMON_LOG_LEVEL:-error}" "$ZO" --state-dir "$TMP/$tag" \
    daemon --interface "$ifn" --listen-port 51820 </dev/null >>"$TMP/$tag.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  ZO_PID[$tag]=$pid
  WG_IFS+=("$ifn")
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  wait_until 10 eval "! alive $1" || kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
