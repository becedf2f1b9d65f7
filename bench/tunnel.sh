#!/usr/bin/env bash
# bench/tunnel.sh — tunnel throughput, latency and CPU cost: zlayer-wg against
# wireguard-go, with the bare veth path as the ceiling. See bench/README.md.
#
#   ┌──────────────────────────┐               ┌──────────────────────────┐
#   │ $NS_a  IMPL  wg a        │               │ $NS_b  IMPL  wg b        │
#   │  192.168.241.1           │               │  192.168.241.2           │
#   │  iperf3 -c, ping         │               │  iperf3 -s               │
#   │  veth0 10.241.0.1 ───────┼───── veth ────┼─ veth0 10.241.0.2        │
#   └──────────────────────────┘               └──────────────────────────┘
#
# For each of RUNS rounds, each implementation in turn (the order alternates
# between rounds) gets a fresh pair of daemons, the same one on both ends:
#   tcp1  iperf3 TCP, 1 stream, DURATION s          Mbit/s (receiver)
#   tcp4  iperf3 TCP, 4 streams (-P 4), DURATION s  Mbit/s (receiver)
#   cpu   utime+stime of both daemons during tcp1, per GB received: CPU s/GB
#   rtt   PINGS pings at PING_INTERVAL: average and 99th percentile, ms
# and the bare veth (no tunnel) gets tcp1, tcp4 and rtt. Medians over the
# rounds are printed as a markdown table with the ratio zlayer-wg/wireguard-go,
# then as JSON (also written to $BENCH_JSON when set).
#
# Environment: ZLAYER_WG or IMPL_A (ours), IMPL_B (default wireguard-go),
# RUNS (3), DURATION (10), PINGS (500), PING_INTERVAL (0.002), BENCH_JSON.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/../tests/netns/lib.sh"
lib_init jq

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
PINGS=${PINGS:-500}
PING_INTERVAL=${PING_INTERVAL:-0.002}
CLK_TCK=$(getconf CLK_TCK)
((RUNS >= 1 && DURATION >= 1 && PINGS >= 10)) || fail "RUNS ≥ 1, DURATION ≥ 1, PINGS ≥ 10 expected"

netns_new a
netns_new b
veth_pair "$NS_a" "$NS_b"
pub_a=$(gen_key a)
pub_b=$(gen_key b)

# cpu_ticks PID… — summed utime+stime, in clock ticks.
cpu_ticks() {
  local pid sum=0 f
  for pid in "$@"; do
    read -ra f <<<"$(sed 's/^.*) //' "/proc/$pid/stat")"
    sum=$((sum + f[11] + f[12])) # fields 14 and 15 of proc(5), counted from state (field 3)
  done
  printf '%s\n' "$sum"
}

# iperf_json DST STREAMS — one iperf3 run from a to DST in b; echoes the JSON.
iperf_json() {
  local spid out
  nx "$NS_b" timeout $((DURATION + 40)) iperf3 -s -1 -B "$1" >/dev/null 2>&1 &
  spid=$!
  PIDS+=("$spid")
  wait_until 5 eval "nx $NS_b ss -Htln | grep ':5201 ' >/dev/null" || fail "iperf3 server on $1 did not start"
  out=$(nx "$NS_a" timeout $((DURATION + 30)) iperf3 -J -c "$1" -t "$DURATION" -P "$2" 2>&1) ||
    fail "iperf3 -c $1 -P $2: $(jq -r '.error // empty' <<<"$out" 2>/dev/null || tail -3 <<<"$out")"
  wait "$spid" 2>/dev/null || true
  printf '%s\n' "$out"
}

# rtt DST — "avg p99" in ms over PINGS echoes.
rtt() {
  local times
  times=$(nx "$NS_a" ping -n -c "$PINGS" -i "$PING_INTERVAL" -W 1 -w $((PINGS / 100 + 30)) "$1" 2>&1 |
    sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | sort -g)
  [[ -n "$times" ]] || fail "ping $1: no replies"
  awk '{ t[NR] = $1; s += $1 } END { i = int(NR * 0.99 + 0.999999); if (i < 1) i = 1; printf "%.3f %.3f\n", s / NR, t[i] }' <<<"$times"
}

# measure LABEL DST [PID…] — one row of figures into $TMP/results: label tcp1
# tcp4 cpu_s_per_gb rtt_avg rtt_p99 (cpu "-" without PIDs).
measure() {
  local label=$1 dst=$2 j t0 t1 bytes tcp1 tcp4 cpu=- lat
  shift 2
  (($#)) && t0=$(cpu_ticks "$@")
  j=$(iperf_json "$dst" 1)
  (($#)) && t1=$(cpu_ticks "$@")
  tcp1=$(jq '.end.sum_received.bits_per_second / 1e6' <<<"$j")
  bytes=$(jq '.end.sum_received.bytes' <<<"$j")
  (($#)) && cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v b="$bytes" 'BEGIN { printf "%.3f", d / hz / (b / 1e9) }')
  j=$(iperf_json "$dst" 4)
  tcp4=$(jq '.end.sum_received.bits_per_second / 1e6' <<<"$j")
  sleep 1 # let the last stream's teardown settle before timing pings
  lat=$(rtt "$dst")
  printf '%s %.0f %.0f %s %s\n' "$label" "$tcp1" "$tcp4" "$cpu" "$lat" | tee -a "$TMP/results" |
    awk '{ printf "  %-14s tcp1 %6s Mbit/s  tcp4 %6s Mbit/s  cpu %6s s/GB  rtt avg %s ms p99 %s ms\n", $1, $2, $3, $4, $5, $6 }'
}

# tunnel_measure IMPL LABEL ROUND — fresh daemons of IMPL on both ends, measured.
tunnel_measure() {
  local impl=$1 label=$2 if_a if_b
  if_a=$(ifname "a$3$label")
  if_b=$(ifname "b$3$label")
  if_a=${if_a:0:15} if_b=${if_b:0:15}
  wg_start "$NS_a" "$if_a" "$impl"
  wg_start "$NS_b" "$if_b" "$impl"
  wg_iface "$NS_a" "$if_a" a 51820 1
  wg_iface "$NS_b" "$if_b" b 51821 2
  wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)"
  wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)" endpoint 10.241.0.2:51821
  ping_ok "$NS_a" 192.168.241.2 2
  measure "$label" 192.168.241.2 "${WG_PID[$if_a]}" "${WG_PID[$if_b]}"
  wg_stop "$if_a"
  wg_stop "$if_b"
}

name_a=$(impl_name "$IMPL_A")
name_b=$(impl_name "$IMPL_B")
[[ "$name_a" != "$name_b" ]] || name_b="$name_b.B"
: >"$TMP/results"
step "$RUNS rounds, iperf3 -t $DURATION, $PINGS pings every $PING_INTERVAL s"
for ((r = 1; r <= RUNS; r++)); do
  log "round $r"
  if ((r % 2)); then
    tunnel_measure "$IMPL_A" "$name_a" "$r"
    tunnel_measure "$IMPL_B" "$name_b" "$r"
  else
    tunnel_measure "$IMPL_B" "$name_b" "$r"
    tunnel_measure "$IMPL_A" "$name_a" "$r"
  fi
  measure veth 10.241.0.2
done

# Medians per label and column, then the table and the JSON.
"$PYTHON" - "$TMP/results" "$name_a" "$name_b" "$RUNS" "$DURATION" "$PINGS" "$PING_INTERVAL" >"$TMP/summary.json" <<'PY'
import json, statistics, sys
path, a, b, runs, duration, pings, interval = sys.argv[1:]
cols = ["tcp1_mbps", "tcp4_mbps", "cpu_s_per_gb", "rtt_avg_ms", "rtt_p99_ms"]
rows = {}
for line in open(path):
    f = line.split()
    rows.setdefault(f[0], []).append([None if x == "-" else float(x) for x in f[1:]])
med = {}
for label, rs in rows.items():
    med[label] = {}
    for i, c in enumerate(cols):
        vals = [r[i] for r in rs if r[i] is not None]
        med[label][c] = round(statistics.median(vals), 3) if vals else None
ratio = {c: (round(med[a][c] / med[b][c], 3) if med.get(a, {}).get(c) and med.get(b, {}).get(c) else None) for c in cols}
json.dump({"runs": int(runs), "duration_s": int(duration), "pings": int(pings), "ping_interval_s": float(interval),
           "median": med, "ratio": {"of": a, "to": b, **ratio}, "samples": rows}, sys.stdout, indent=1)
PY
"$PYTHON" - "$TMP/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a, b = s["ratio"]["of"], s["ratio"]["to"]
m = s["median"]
names = {"tcp1_mbps": "TCP 1 stream (Mbit/s)", "tcp4_mbps": "TCP 4 streams (Mbit/s)",
         "cpu_s_per_gb": "CPU both daemons (s/GB)", "rtt_avg_ms": "ping RTT avg (ms)", "rtt_p99_ms": "ping RTT p99 (ms)"}
fmt = lambda v: "-" if v is None else ("%g" % v)
print("\n| median of %d runs | %s | %s | %s / %s | veth (no tunnel) |" % (s["runs"], a, b, a, b))
print("|---|---:|---:|---:|---:|")
for c, n in names.items():
    print("| %s | %s | %s | %s | %s |" % (n, fmt(m.get(a, {}).get(c)), fmt(m.get(b, {}).get(c)), fmt(s["ratio"][c]), fmt(m.get("veth", {}).get(c))))
PY
echo
cat "$TMP/summary.json"
echo
[[ -z "${BENCH_JSON:-}" ]] || cp "$TMP/summary.json" "$BENCH_JSON"
