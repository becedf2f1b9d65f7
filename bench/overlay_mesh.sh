#!/usr/bin/env bash
# bench/overlay_mesh.sh — an overlay of NODES real node daemons plus a control
# node, each `zlayer-overlay daemon` in its own network namespace: time to full
# mesh, time for a change to reach every node, memory and idle CPU per daemon.
#
#                ┌──────────────────────── $NS_s: br0 ─────────────────────────┐
#                │p1               │p2               │p3        …      │pN+1   │
#   ┌────────────┴──┐ ┌────────────┴──┐ ┌────────────┴──┐       ┌───────┴───────┐
#   │ c: control ctl│ │ n1: node n1   │ │ n2: node n2   │   …   │ nN: node nN   │
#   │ 10.241.0.1    │ │ 10.241.0.2    │ │ 10.241.0.3    │       │ 10.241.0.N+1  │
#   │ overlay .0.1  │ │ overlay .K.1  │ │ overlay .K.1  │       │ overlay .K.1  │
#   └───────────────┘ └───────────────┘ └───────────────┘       └───────────────┘
# Namespaces zlt-<pid>-<tag>, interfaces z<pid><tag>, state in a fresh temp
# dir; all of it (and every process started) is removed on exit, also on
# failure or Ctrl-C (tests/netns/lib.sh's trap). The only traffic is inside
# these namespaces; the driver talks to the daemons through their unix sockets.
# Every node has permanent ARP entries for the others (static_neighbours in
# overlay_bench_lib.sh): all namespaces share one kernel neighbour table
# capped at 1024 entries, which 51 meshed hosts overflow (2550 entries).
#
# What happens (bench/overlay_mesh.py drives the daemons through their local
# APIs, the calls the CLI makes):
#   1. every daemon starts; c runs `init --cidr 10.200.0.0/16 --cidr6 fd42::/48`;
#      c creates NODES tokens;
#   2. all joins start at once (JOIN_PARALLEL at a time if set). From that
#      instant t0 every node is polled (status JSON + its device over UAPI,
#      every POLL_INTERVAL s) for four levels, each implying the one before:
#        members     `status` shows NODES+1 members
#        configured  the device has every other member as a WireGuard peer
#        handshakes  … and a completed handshake with every one of them
#        healthy     … and every peer's health is "up" (probes answered
#                    through the tunnel: the data path works both ways)
#      FULL MESH = "handshakes" on every node: every member knows every other,
#      has it configured as a direct peer, and has shaken hands with it. The
#      time reported is from t0 to the last node reaching the level. Also:
#      when each (node, peer) pair was first seen with a handshake (p50/p99
#      and a 1-s histogram: WireGuard's 5 s handshake retry shows in it), and
#      how many joins needed a TCP SYN retransmission (TCPSynRetrans in the
#      joiner's namespace) and how long those took.
#   3. IDLE_SECONDS of idle: CPU per daemon (health probes, watches).
#   4. propagation: every node's `events` stream is followed (long polls);
#      CHANGES DNS changes on c (`dns register benchK ADDR`, then
#      `dns unregister benchK`, alternating), then LEAVES members in turn
#      `leave` and rejoin with a fresh token. For each change: the time from
#      issuing the command to the event (name-registered, name-removed,
#      member-left, member-joined) on the LAST node, from the events'
#      own timestamps (time_ms, the daemons' wall clock; one kernel, one
#      clock): p50/p99 over the changes; also per (node, change).
#   5. VmRSS/VmHWM of every daemon: before init, at full mesh, at the end.
# Prints a table and one JSON line (also written to $BENCH_JSON when set).
#
# Usage (root, after a build):
#   sudo bench/overlay_mesh.sh                      # 50 nodes
#   sudo NODES=10 CHANGES=10 LEAVES=2 bench/overlay_mesh.sh
# Environment: ZLAYER_OVERLAY (build/tools/zlayer-overlay/zlayer-overlay),
#   NODES (50, 2…200), JOIN_PARALLEL (0 = all at once), CHANGES (20),
#   LEAVES (5), IDLE_SECONDS (10), POLL_INTERVAL (0.25), MESH_TIMEOUT (180),
#   BENCH_TIMEOUT (900, the whole measurement), DAEMON_LOG_LEVEL (error;
#   verbose to debug), KEEP_LOGS (an existing directory: the daemon logs are
#   copied there at exit), LOG_SUMMARY_LINES (15), BENCH_JSON.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/overlay_bench_lib.sh"

NODES=${NODES:-50}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
[[ "$NODES" =~ ^[0-9]+$ ]] && ((NODES >= 2 && NODES <= 200)) || fail "NODES: 2…200 expected, saw '$NODES'"
overlay_bench_init jq

step "$NODES nodes + control: namespaces on one bridge"
t_ns=$(now)
node_add c
for ((i = 1; i <= NODES; i++)); do node_add "n$i"; done
static_neighbours c $(seq -f 'n%g' 1 "$NODES")
log "namespaces ready in $(since "$t_ns") s"

step "starting $((NODES + 1)) daemons"
: >"$TMP/nodes.tsv"
for tag in c $(seq -f 'n%g' 1 "$NODES"); do
  zo_daemon "$tag" "$(ifname "$tag")"
  role=member
  [[ $tag == c ]] && role=control
  printf '%s %s %s %s %s %s\n' "$tag" "$role" "$TMP/$tag/control.sock" \
    "$WG_RUN_DIR/$(ifname "$tag").sock" "${ZO_PID[$tag]}" "10.241.0.${ZO_K[$tag]}" >>"$TMP/nodes.tsv"
done

step "measuring (bench/overlay_mesh.py)"
timeout "$BENCH_TIMEOUT" "$PYTHON" "$(dirname "$0")/overlay_mesh.py" "$TMP/nodes.tsv" "$TMP/result.json" ||
  fail "the measurement failed (exit $?); daemon logs above on failure"
for tag in "${!ZO_PID[@]}"; do
  alive "${ZO_PID[$tag]}" || fail "$tag: daemon ${ZO_PID[$tag]} died during the run: $(tail -3 "$TMP/$tag.log")"
done
# Daemon log lines other than the start banner, grouped (digits masked): a
# daemon that logs trouble during a benchmark is a finding.
cat "$TMP"/*.log | grep -v ' running on ' | sed -E 's/peer\([^)]*\)/peer(K)/g; s/[0-9]+/N/g' | sort | uniq -c | sort -rn >"$TMP/log-summary"
errors=$(awk '{ s += $1 } END { print s + 0 }' "$TMP/log-summary")

"$PYTHON" - "$TMP/result.json" "$errors" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m, i, c = r["mesh"], r["idle"], r["changes"]
f = lambda v, d=2: "-" if v is None else ("%.*f" % (d, v))
print("\n| %d nodes + control (joins: %d at a time) | value |" % (r["nodes"], r["join_parallel"]))
print("|---|---:|")
print("| %d tokens created on the control node | %s s |" % (r["nodes"], f(m["tokens_s"])))
print("| all joins returned | %s s |" % f(m["joins_returned_s"]))
print("| one join call, p50 / p99 | %s / %s s |" % (f(m["join_call_s"]["p50"]), f(m["join_call_s"]["p99"])))
print("| joins with a TCP SYN retransmission (their durations) | %d (%s) |" % (m["joins_with_syn_retransmit"], ", ".join("%.2f s" % t for t in m["their_join_call_s"]) or "-"))
print("| every node sees all members | %s s |" % f(m["all_members_s"]))
print("| … and has all of them as WireGuard peers | %s s |" % f(m["all_configured_s"]))
print("| **… and has a handshake with every peer (full mesh)** | **%s s** |" % f(m["all_handshakes_s"]))
print("| … and sees every peer's health up | %s s |" % f(m["all_healthy_s"]))
if m.get("pair_handshake_s"):
    print("| first handshake of a (node, peer) pair, p50 / p99 | %s / %s s |" % (f(m["pair_handshake_s"]["p50"]), f(m["pair_handshake_s"]["p99"])))
    print("| … pairs per second after t0 (histogram) | %s |" % " ".join("%s:%d" % kv for kv in m["pair_handshake_histogram_1s"].items()))
print("| CPU of all daemons from the joins to the end of the mesh poll | %s s (control: %s s) |" % (f(m["cpu_s_all_daemons"]), f(m["cpu_s_control"])))
for label, key in (("DNS name change", "names"), ("membership change (leave, rejoin)", "membership")):
    a = c.get(key)
    if not a:
        continue
    print("| %s reaches every node, p50 / p99 / max (%d changes) | %s / %s / %s ms |" % (
        label, a["changes"], f(a["reach_all_s"]["p50"] * 1e3, 0), f(a["reach_all_s"]["p99"] * 1e3, 0), f(a["reach_all_s"]["max"] * 1e3, 0)))
    print("| … per node and change, p50 / p99 | %s / %s ms |" % (f(a["per_node_s"]["p50"] * 1e3, 0), f(a["per_node_s"]["p99"] * 1e3, 0)))
    if a.get("fanout_after_control_s"):
        print("| … after the control node's own event, p50 / p99 | %s / %s ms |" % (
            f(a["fanout_after_control_s"]["p50"] * 1e3, 0), f(a["fanout_after_control_s"]["p99"] * 1e3, 0)))
for label, key in (("before init", "rss_before_init"), ("at full mesh", "rss_full_mesh"), ("at the end", "rss_end")):
    s = r[key]
    print("| VmRSS %s: member median / max, control | %.1f / %.1f MiB, %.1f MiB |" % (
        label, s["member_rss_kb_median"] / 1024, s["member_rss_kb_max"] / 1024, s["control_rss_kb"] / 1024))
print("| VmHWM (peak) at the end: member max, control | %.1f MiB, %.1f MiB |" % (r["rss_end"]["member_hwm_kb_max"] / 1024, r["rss_end"]["control_hwm_kb"] / 1024))
print("| idle CPU over %s s: member median / max, control, all daemons | %s / %s %%, %s %%, %s %% |" % (
    i["seconds"], f(i["member_cpu_pct_median"]), f(i["member_cpu_pct_max"]), f(i["control_cpu_pct"]), f(i["all_cpu_pct"], 1)))
print("| daemon log lines (beyond the start banner), all daemons | %s |" % sys.argv[2])
PY
if [[ -s "$TMP/log-summary" ]]; then
  echo; log "daemon log lines, grouped (count, text with digits as N):"
  head -n "${LOG_SUMMARY_LINES:-15}" "$TMP/log-summary"
fi
echo
jq -c 'del(.changes.samples)' "$TMP/result.json"
[[ -z "${BENCH_JSON:-}" ]] || cp "$TMP/result.json" "$BENCH_JSON"
