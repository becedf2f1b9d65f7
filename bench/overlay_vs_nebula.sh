#!/usr/bin/env bash
# bench/overlay_vs_nebula.sh — zlayer-overlay against Nebula (Debian's
# `nebula`, the closest overlay anchor) on the same 3-node topology, in the
# same run: TCP throughput and ping latency node to node, RSS per daemon, and
# the time from starting the daemons to the first ping across.
#
#                ┌───────────────────── $NS_s: br0 ─────────────────────┐
#                │p1                      │p2                     │p3   │
#   ┌────────────┴─────────┐ ┌────────────┴─────────┐ ┌───────────┴─────┴┐
#   │ c: zlayer control    │ │ a: node1             │ │ b: node2          │
#   │    / nebula lighthouse│ │ iperf3 -c, ping ───────────► iperf3 -s     │
#   │ 10.241.0.1           │ │ 10.241.0.2           │ │ 10.241.0.3        │
#   │ zl 10.200.0.1        │ │ zl 10.200.K.1        │ │ zl 10.200.K.1     │
#   │ nb 10.242.0.1        │ │ nb 10.242.0.2        │ │ nb 10.242.0.3     │
#   └──────────────────────┘ └──────────────────────┘ └───────────────────┘
# Namespaces zlt-<pid>-<tag>; interfaces z<pid><tag><round> (zlayer) and
# n<pid><tag><round> (nebula); everything is removed on exit, also on failure.
# All traffic stays inside these namespaces. The node-to-node traffic goes
# a → b directly in both overlays (no relay through c / the lighthouse).
#
# Each of RUNS rounds runs both overlays in turn (order alternating), each
# time with fresh daemons and state:
#   first ping  from starting the three daemons to the first echo reply a → b
#               through the overlay:
#                 zlayer: start 3 daemons; as soon as c's API answers
#                 (`status`, polled every ~20 ms), `init` on c and 2×
#                 `token create`; once a's and b's APIs answer, `join` on a
#                 and b (in parallel); ping (the split is reported too);
#                 nebula: start lighthouse + 2 nodes (certificates and
#                 configs made beforehand, by nebula-cert: the offline
#                 equivalent of init + tokens), ping.
#               The ping loop: `ping -c1 -W0.2` every ~20 ms, ≤ 60 s.
#   tcp         iperf3 a → b, 1 stream, DURATION s: receiver's Mbit/s
#   cpu         utime+stime of a's and b's daemons during the iperf3 run,
#               per GB received (CPU s/GB)
#   rtt         PINGS echoes every PING_INTERVAL s a → b: average and p99 (ms)
#   rss         VmRSS of each daemon after the measurements: c (control /
#               lighthouse) and the mean of a and b (node)
# Medians over the rounds, the ratio zlayer/nebula, then the JSON document
# (also written to $BENCH_JSON when set).
#
# Nebula's config is written here (ours, minimal): pki, static_host_map for
# the lighthouse, lighthouse am_lighthouse/hosts, listen 0.0.0.0:4242, tun dev
# and mtu, punchy off, logging at warning, a firewall that lets everything in
# and out. Its tun MTU is set to NEBULA_MTU (default 1420, the zlayer TUN's
# MTU, so both carry the same segment sizes; Nebula's own default is 1300).
#
# Usage (root, after a build):
#   sudo bench/overlay_vs_nebula.sh
#   sudo RUNS=5 DURATION=10 bench/overlay_vs_nebula.sh
# Environment: ZLAYER_OVERLAY (build/tools/zlayer-overlay/zlayer-overlay),
#   NEBULA (nebula), RUNS (3), DURATION (5), PINGS (200), PING_INTERVAL
#   (0.01), NEBULA_MTU (1420), DAEMON_LOG_LEVEL, KEEP_LOGS, BENCH_JSON.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/overlay_bench_lib.sh"

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
PINGS=${PINGS:-200}
PING_INTERVAL=${PING_INTERVAL:-0.01}
NEBULA_MTU=${NEBULA_MTU:-1420}
NEBULA=${NEBULA:-nebula}
CLK_TCK=$(getconf CLK_TCK)
((RUNS >= 1 && RUNS <= 20 && DURATION >= 1 && DURATION <= 120 && PINGS >= 10 && PINGS <= 10000)) ||
  fail "RUNS 1…20, DURATION 1…120, PINGS 10…10000 expected"
overlay_bench_init jq nebula-cert "$NEBULA"
NEBULA=$(command -v "$NEBULA")

node_add c
node_add a
node_add b
static_neighbours c a b
nebula_version=$("$NEBULA" -version 2>&1 | sed -n 's/^Version: //p')
log "nebula $nebula_version ($NEBULA), $("$ZO" --version 2>&1 | head -1)"

# --------------------------------------------------------------- helpers --

cpu_ticks() {
  local pid sum=0 f
  for pid in "$@"; do
    read -ra f <<<"$(sed 's/^.*) //' "/proc/$pid/stat")"
    sum=$((sum + f[11] + f[12]))
  done
  printf '%s\n' "$sum"
}

# first_ping NS DST — pings until the first reply (≤ 60 s, ≤ 3000 tries).
first_ping() {
  local i
  for ((i = 0; i < 3000; i++)); do
    nx "$1" ping -n -q -c 1 -W 0.2 "$2" >/dev/null 2>&1 && return 0
    (($(date +%s) - ${first_ping_start:-0} < 60)) || break
    sleep 0.02
  done
  return 1
}

# rtt NS DST — "avg p99" in ms over PINGS echoes (p99: nearest rank).
rtt() {
  local out
  out=$(nx "$1" ping -n -c "$PINGS" -i "$PING_INTERVAL" -W 1 \
    -w "$(awk -v c="$PINGS" -v i="$PING_INTERVAL" 'BEGIN { printf "%d", c * i + 20 }')" "$2" 2>&1) || true
  "$PYTHON" -c '
import re, sys
t = sorted(float(m) for m in re.findall(r"time=([0-9.]+) ms", sys.stdin.read()))
if not t:
    sys.exit("no replies")
i = max(1, min(len(t), int(len(t) * 0.99 + 0.999999)))
print("%.3f %.3f %d" % (sum(t) / len(t), t[i - 1], len(t)))' <<<"$out"
}

# wait_api TAG… — until every TAG's daemon answers `status` (polled every
# ~20 ms, ≤ 15 s).
wait_api() {
  local pending=("$@") still tag i
  for ((i = 0; i < 750 && ${#pending[@]} > 0; i++)); do
    still=()
    for tag in "${pending[@]}"; do zo "$tag" status >/dev/null 2>&1 || still+=("$tag"); done
    pending=("${still[@]}")
    ((${#pending[@]} == 0)) || sleep 0.02
    (($(date +%s) - ${first_ping_start:-0} < 15)) || break
  done
  ((${#pending[@]} == 0))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# measure LABEL DST PID_C PID_A PID_B FIRST_PING_S — the traffic figures, one
# line into $TMP/results.
measure() {
  local label=$1 dst=$2 pc=$3 pa=$4 pb=$5 first=$6 t0 t1 out bytes bps cpu lat rss_c rss_n
  t0=$(cpu_ticks "$pa" "$pb")
  out=$(iperf_ok "${ZO_NS[a]}" "${ZO_NS[b]}" "$dst" "$DURATION")
  t1=$(cpu_ticks "$pa" "$pb")
  read -r bytes bps <<<"$out"
  cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v b="$bytes" 'BEGIN { printf "%.3f", d / hz / (b / 1e9) }')
  sleep 1
  lat=$(rtt "${ZO_NS[a]}" "$dst") || fail "$label: ping $dst: no replies"
  rss_c=$(rss_kb "$pc")
  rss_n=$(($(rss_kb "$pa") / 2 + $(rss_kb "$pb") / 2))
  printf '%s %s %.1f %s %s %s %s\n' "$label" "$first" "$(awk -v b="$bps" 'BEGIN { print b / 1e6 }')" "$cpu" \
    "$(cut -d' ' -f1,2 <<<"$lat")" "$rss_c" "$rss_n" | tee -a "$TMP/results" |
    awk '{ printf "  %-14s first ping %6.3f s  tcp %7.1f Mbit/s  cpu %6s s/GB  rtt avg %s ms p99 %s ms  rss c %d kB node %d kB\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
}

# ---------------------------------------------------------------- zlayer --

zlayer_round() {
  local r=$1 t0 t_ready t_init t_joined first addr_b tag tok_a tok_b ja jb
  for tag in c a b; do rm -rf "${TMP:?}/$tag"; done
  t0=$(now)
  first_ping_start=$(date +%s)
  for tag in c a b; do zo_daemon "$tag" "$(ifname "$tag$r")"; done
  wait_api c || fail "zlayer c: daemon not answering: $(tail -3 "$TMP/c.log")"
  t_ready=$(since "$t0")
  zo c init --cidr 10.200.0.0/16 --cidr6 fd42:0:0::/48 --name ctl --endpoint 10.241.0.1:51820 >/dev/null ||
    fail "zlayer: init failed"
  t_init=$(since "$t0")
  tok_a=$(zo c token create --ttl 10m 2>/dev/null | tail -n 1)
  tok_b=$(zo c token create --ttl 10m 2>/dev/null | tail -n 1)
  wait_api a b || fail "zlayer a/b: daemons not answering: $(tail -3 "$TMP/a.log" "$TMP/b.log")"
  zo a join "$tok_a" --name node1 --endpoint 10.241.0.2:51820 >"$TMP/join-a.out" 2>&1 &
  ja=$!
  zo b join "$tok_b" --name node2 --endpoint 10.241.0.3:51820 >"$TMP/join-b.out" 2>&1 &
  jb=$!
  wait "$ja" || fail "zlayer: node1 could not join: $(cat "$TMP/join-a.out")"
  wait "$jb" || fail "zlayer: node2 could not join: $(cat "$TMP/join-b.out")"
  t_joined=$(since "$t0")
  addr_b=$(node_addr b)
  first_ping_start=$(date +%s)
  first_ping "${ZO_NS[a]}" "$addr_b" || fail "zlayer: no ping node1 → node2 ($addr_b) within 60 s"
  first=$(since "$t0")
  log "zlayer round $r: control answering $t_ready s, init $t_init s, joined $t_joined s, first ping $first s"
  printf '%s %s %s %s %s\n' "$r" "$t_ready" "$t_init" "$t_joined" "$first" >>"$TMP/zlayer-split"
  measure zlayer-overlay "$addr_b" "${ZO_PID[c]}" "${ZO_PID[a]}" "${ZO_PID[b]}" "$first"
  for tag in c a b; do stop_pid "${ZO_PID[$tag]}"; done
}

# ---------------------------------------------------------------- nebula --

declare -A NB_IP=([c]=10.242.0.1 [a]=10.242.0.2 [b]=10.242.0.3)
declare -A NB_PID=()

# nebula_config TAG DEV — writes $TMP/nebula/TAG.yml.
nebula_config() {
  local tag=$1 dev=$2 d=$TMP/nebula lh=false hosts="[]"
  if [[ $tag == c ]]; then lh=true; else hosts="[\"${NB_IP[c]}\"]"; fi
  cat >"$d/$tag.yml" <<EOF
pki:
  ca: $d/ca.crt
  cert: $d/$tag.crt
  key: $d/$tag.key
static_host_map:
  "${NB_IP[c]}": ["10.241.0.${ZO_K[c]}:4242"]
lighthouse:
  am_lighthouse: $lh
  interval: 60
  hosts: $hosts
listen:
  host: 0.0.0.0
  port: 4242
punchy:
  punch: false
tun:
  dev: $dev
  mtu: $NEBULA_MTU
logging:
  level: ${NEBULA_LOG_LEVEL:-warning}
firewall:
  outbound:
    - {port: any, proto: any, host: any}
  inbound:
    - {port: any, proto: any, host: any}
EOF
}

nebula_round() {
  local r=$1 t0 first tag dev pid
  for tag in c a b; do
    dev="n$$$tag$r"
    nebula_config "$tag" "${dev:0:15}"
  done
  t0=$(now)
  for tag in c a b; do
    ip netns exec "${ZO_NS[$tag]}" "$NEBULA" -config "$TMP/nebula/$tag.yml" </dev/null >>"$TMP/nebula-$tag.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    NB_PID[$tag]=$pid
  done
  first_ping_start=$(date +%s)
  first_ping "${ZO_NS[a]}" "${NB_IP[b]}" ||
    fail "nebula: no ping node1 → node2 within 60 s: $(tail -3 "$TMP/nebula-a.log")"
  first=$(since "$t0")
  log "nebula round $r: first ping $first s"
  measure nebula "${NB_IP[b]}" "${NB_PID[c]}" "${NB_PID[a]}" "${NB_PID[b]}" "$first"
  for tag in c a b; do stop_pid "${NB_PID[$tag]}"; done
}

step "nebula certificates (nebula-cert: a CA, 3 host certificates)"
mkdir -p "$TMP/nebula"
t_cert=$(now)
nebula-cert ca -name "zlt-bench-$$" -duration 2h -out-crt "$TMP/nebula/ca.crt" -out-key "$TMP/nebula/ca.key" ||
  fail "nebula-cert ca failed"
for tag in c a b; do
  nebula-cert sign -ca-crt "$TMP/nebula/ca.crt" -ca-key "$TMP/nebula/ca.key" -name "$tag" \
    -ip "${NB_IP[$tag]}/24" -out-crt "$TMP/nebula/$tag.crt" -out-key "$TMP/nebula/$tag.key" ||
    fail "nebula-cert sign $tag failed"
done
cert_s=$(since "$t_cert")
log "certificates in $cert_s s"

: >"$TMP/results"
: >"$TMP/zlayer-split"
step "$RUNS rounds: iperf3 -t $DURATION, $PINGS pings every $PING_INTERVAL s"
for ((r = 1; r <= RUNS; r++)); do
  log "round $r"
  if ((r % 2)); then
    zlayer_round "$r"
    nebula_round "$r"
  else
    nebula_round "$r"
    zlayer_round "$r"
  fi
done

"$PYTHON" - "$TMP/results" "$TMP/zlayer-split" "$RUNS" "$DURATION" "$PINGS" "$PING_INTERVAL" "$NEBULA_MTU" \
  "$nebula_version" "$cert_s" >"$TMP/summary.json" <<'PY'
import json, statistics, sys
path, split, runs, duration, pings, interval, mtu, nver, cert_s = sys.argv[1:]
cols = ["first_ping_s", "tcp_mbps", "cpu_s_per_gb", "rtt_avg_ms", "rtt_p99_ms", "rss_control_kb", "rss_node_kb"]
rows = {}
for line in open(path):
    f = line.split()
    rows.setdefault(f[0], []).append([float(x) for x in f[1:]])
med = {label: {c: round(statistics.median(r[i] for r in rs), 3) for i, c in enumerate(cols)} for label, rs in rows.items()}
a, b = "zlayer-overlay", "nebula"
ratio = {c: round(med[a][c] / med[b][c], 3) if med[b][c] else None for c in cols}
sp = [list(map(float, l.split()[1:])) for l in open(split) if l.strip()]
split_med = {k: round(statistics.median(s[i] for s in sp), 3) for i, k in
             enumerate(["control_answering_s", "init_done_s", "joins_done_s", "first_ping_s"])}
json.dump({"runs": int(runs), "duration_s": int(duration), "pings": int(pings), "ping_interval_s": float(interval),
           "nebula_version": nver, "nebula_mtu": int(mtu), "nebula_cert_s": float(cert_s),
           "median": med, "ratio": {"of": a, "to": b, **ratio}, "zlayer_first_ping_split": split_med,
           "samples": rows}, sys.stdout, indent=1)
PY
"$PYTHON" - "$TMP/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
m, r = s["median"], s["ratio"]
a, b = r["of"], r["to"]
names = [("first_ping_s", "start → first ping node1 → node2 (s)", 3), ("tcp_mbps", "TCP node1 → node2, 1 stream (Mbit/s)", 0),
         ("cpu_s_per_gb", "CPU of node1 + node2 daemons (s/GB)", 2), ("rtt_avg_ms", "ping RTT avg (ms)", 3),
         ("rtt_p99_ms", "ping RTT p99 (ms)", 3), ("rss_node_kb", "RSS per node daemon (MiB)", 1),
         ("rss_control_kb", "RSS control node / lighthouse (MiB)", 1)]
print("\n| median of %d rounds | %s | nebula %s | %s / nebula |" % (s["runs"], a, s["nebula_version"], a))
print("|---|---:|---:|---:|")
for c, n, d in names:
    va, vb = m[a][c], m[b][c]
    if c.startswith("rss"):
        va, vb = va / 1024, vb / 1024
    print("| %s | %.*f | %.*f | %.2f |" % (n, d, va, d, vb, r[c]))
z = s["zlayer_first_ping_split"]
print("\nzlayer first ping, split (medians): control's API answering %.3f s, init done %.3f s, both joins done %.3f s, first ping %.3f s" % (
    z["control_answering_s"], z["init_done_s"], z["joins_done_s"], z["first_ping_s"]))
print("nebula-cert (CA + 3 host certificates, before the timed part): %.3f s" % s["nebula_cert_s"])
PY
echo
jq -c 'del(.samples)' "$TMP/summary.json"
[[ -z "${BENCH_JSON:-}" ]] || cp "$TMP/summary.json" "$BENCH_JSON"
