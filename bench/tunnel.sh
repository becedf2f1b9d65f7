#!/usr/bin/env bash
# bench/tunnel.sh — every figure of issue 11's goals: zlayer-wg against
# wireguard-go in the same run, with the bare veth path as the ceiling. See
# bench/README.md for the knobs and how to read the output.
#
#   ┌──────────────────────────┐               ┌──────────────────────────┐
#   │ $NS_a  IMPL  wg a        │               │ $NS_b  IMPL  wg b        │
#   │  192.168.241.1           │               │  192.168.241.2           │
#   │  iperf3 -c, ping         │               │  iperf3 -s               │
#   │  veth0 10.241.0.1 ───────┼───── veth ────┼─ veth0 10.241.0.2        │
#   │  veth1 10.242.0.1        │               └──────────────────────────┘
#   └────┬─────────────────────┘
#        │ veth     ┌──────────────────────────────────────────────┐
#        └──────────┤ $NS_m  10.242.0.2  flooders (no WireGuard)   │
#                   └──────────────────────────────────────────────┘
#
# For each of RUNS rounds, each implementation in turn (the order alternates
# between rounds) gets a fresh pair of daemons, the same one on both ends, and
# these figures, one after the other:
#   tcp1       iperf3 TCP a→b, 1 stream, DURATION s: Mbit/s (receiver), and
#              utime+stime of both daemons during it per GB received (core·s/GB)
#   tcp4       the same with 4 streams (-P 4)
#   rtt        PINGS pings at PING_INTERVAL over the idle tunnel: avg and p99
#   loaded     LOADED_PINGS pings at PING_INTERVAL while a TCP stream runs: p99
#   rss_tcp    peak RSS (VmHWM) of either daemon after the TCP figures
#   udp        iperf3 -u -b UDP_RATE, DURATION s: receiver loss % and Mbit/s,
#              and where the datagrams were lost (a's TUN queue, b's tunnel
#              socket, the receiving iperf3's socket)
#   udp_w      the same with UDP_WINDOW socket buffers (iperf3 -w): the
#              receiving application's buffer taken out of the figure
#   profile    (round 1, IMPL_A only) perf record of both daemons during a TCP
#              stream: the top symbols
#   memflood   junk type-4 datagrams from m (a non-peer) to a's listen port for
#              FLOOD_SECONDS (bench/flood_junk.py): a's peak VmRSS, sampled
#   hsflood    initiations with a valid mac1 for a's key from m, one core's
#              worth (tests/netns/flood_initiations.py), while a pings b
#              FLOOD_PINGS times at PING_INTERVAL: loss %, and the flood's rate
# and the bare veth (no tunnel) gets tcp1, tcp4 and rtt. Once, before the
# rounds: complete handshakes per second on one core and on two, from the
# protocol-core benchmark (build/bench/wg_bench).
#
# A figure that fails is reported as such; the others go on. Medians over the
# rounds are printed as a markdown table (figure | ours | wireguard-go | ratio |
# goal | met?), then as JSON (also written to $BENCH_JSON when set).
#
# Environment: ZLAYER_WG or IMPL_A (ours), IMPL_B (default wireguard-go), RUNS
# (3), DURATION (10), PINGS (200), LOADED_PINGS (200), FLOOD_PINGS (500),
# PING_INTERVAL (0.01), FLOOD_SECONDS (DURATION), UDP_RATE (1G), UDP_LEN (1392),
# PROFILE_SECONDS (4), HS_MIN_TIME (2), WG_BENCH, ZL_OFFLOADS and
# ZL_BUSY_POLL_US, ZL_THREADS, ZL_TUN_QUEUES (handed to zlayer-wg's environment when set), UDP_WINDOW (4M), BENCH_LOG_LEVEL (error), MAX_RSS_MB (200),
# SKIP_{TCP4,LATENCY,UDP,PROFILE,MEMFLOOD,HSFLOOD,HANDSHAKES,VETH}=1, BENCH_JSON.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
# shellcheck source=tests/netns/lib.sh
. "$(dirname "$0")/../tests/netns/lib.sh"
lib_init jq taskset

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
PINGS=${PINGS:-200}
LOADED_PINGS=${LOADED_PINGS:-200}
FLOOD_PINGS=${FLOOD_PINGS:-500}
PING_INTERVAL=${PING_INTERVAL:-0.01}
FLOOD_SECONDS=${FLOOD_SECONDS:-$DURATION}
UDP_RATE=${UDP_RATE:-1G}
UDP_LEN=${UDP_LEN:-1392} # 1420-byte tunnel MTU − 20 (IPv4) − 8 (UDP)
UDP_WINDOW=${UDP_WINDOW:-4M} # the second UDP figure's socket buffers (iperf3 -w)
PROFILE_SECONDS=${PROFILE_SECONDS:-4}
HS_MIN_TIME=${HS_MIN_TIME:-2}
WG_BENCH=${WG_BENCH:-$REPO_DIR/build/bench/wg_bench}
BENCH_LOG_LEVEL=${BENCH_LOG_LEVEL:-error}
MAX_RSS_MB=${MAX_RSS_MB:-200}
CLK_TCK=$(getconf CLK_TCK)
((RUNS >= 1 && RUNS <= 50 && DURATION >= 1 && DURATION <= 600 && PINGS >= 10 && LOADED_PINGS >= 10 &&
  FLOOD_PINGS >= 10 && FLOOD_SECONDS >= 1 && FLOOD_SECONDS <= 600 && PROFILE_SECONDS >= 1)) ||
  fail "1 ≤ RUNS ≤ 50, 1 ≤ DURATION ≤ 600, 1 ≤ FLOOD_SECONDS ≤ 600, PINGS/LOADED_PINGS/FLOOD_PINGS ≥ 10 expected"

# skipped NAME — true when SKIP_NAME is set to anything but "" or 0.
skipped() {
  local v="SKIP_$1"
  [[ -n "${!v:-}" && "${!v}" != 0 ]]
}

# secs_of N INTERVAL — N × INTERVAL rounded up to whole seconds.
secs_of() { awk -v n="$1" -v i="$2" 'BEGIN { s = n * i; printf "%d\n", (s == int(s)) ? s : int(s) + 1 }'; }

PING_S=$(secs_of "$PINGS" "$PING_INTERVAL")
LOADED_S=$(secs_of "$LOADED_PINGS" "$PING_INTERVAL")
HSFLOOD_S=$(secs_of "$FLOOD_PINGS" "$PING_INTERVAL")
HS_MIN_S=$(secs_of 1 "$HS_MIN_TIME")

# The expected duration, from the same parts the rounds are made of.
expected_seconds() {
  local impl=$((4 + DURATION + 3)) veth=0 once=0
  skipped TCP4 || impl=$((impl + DURATION + 3))
  skipped LATENCY || impl=$((impl + PING_S + 1 + LOADED_S + 5))
  skipped UDP || impl=$((impl + 2 * (DURATION + 3)))
  skipped MEMFLOOD || impl=$((impl + FLOOD_SECONDS + 3))
  skipped HSFLOOD || impl=$((impl + HSFLOOD_S + 5))
  skipped VETH || veth=$((2 * (DURATION + 3) + PING_S + 1))
  skipped PROFILE || once=$((once + PROFILE_SECONDS + 15))
  skipped HANDSHAKES || once=$((once + RUNS * 3 * (HS_MIN_S + 1)))
  printf '%s\n' $((RUNS * (2 * impl + veth) + once + 10))
}

# ------------------------------------------------------------ the figures --

# emit LABEL KEY VALUE — one sample into $TMP/results.
emit() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$TMP/results"; }

# figure NAME LABEL FUNC ARGS… — runs FUNC in a subshell with errexit on. A
# failure is logged and recorded in $TMP/failed, never fatal: the other
# figures go on. (Processes a failed figure left in our namespaces are ended
# by lib.sh's cleanup.)
figure() {
  local name=$1 label=$2 rc
  shift 2
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  if ((rc != 0)); then
    log "WARNING: $name ($label) failed (exit $rc); the other figures go on"
    printf '%s %s\n' "$label" "$name" >>"$TMP/failed"
  fi
  return 0
}

# cpu_ticks PID… — summed utime+stime, in clock ticks.
cpu_ticks() {
  local pid sum=0 f
  for pid in "$@"; do
    read -ra f <<<"$(sed 's/^.*) //' "/proc/$pid/stat")"
    sum=$((sum + f[11] + f[12])) # fields 14 and 15 of proc(5), counted from state (field 3)
  done
  printf '%s\n' "$sum"
}

# status_kb PID FIELD — a /proc/PID/status field (VmRSS, VmHWM) in kB.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

mib() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'; }

# iperf_start DST SECS FILE ARGS… — an iperf3 server in b bound to DST and a
# client in a, both in the background; the client's JSON goes to FILE. Sets
# IPERF_CLIENT and IPERF_SERVER (pids).
iperf_start() {
  local dst=$1 secs=$2 file=$3
  shift 3
  nx "$NS_b" timeout $((secs + 40)) iperf3 -s -1 -B "$dst" >/dev/null 2>&1 &
  IPERF_SERVER=$!
  wait_until 5 eval "nx $NS_b ss -Htln | grep ':5201 ' >/dev/null" || fail "iperf3 server on $dst did not start"
  # stderr apart: iperf3 warns there (e.g. a UDP length above the TCP MSS) and
  # stdout must stay JSON.
  nx "$NS_a" timeout $((secs + 30)) iperf3 -J -c "$dst" -t "$secs" --connect-timeout 5000 "$@" >"$file" 2>"$file.err" &
  IPERF_CLIENT=$!
}

# iperf_wait FILE — waits for the client started by iperf_start; fails with
# iperf3's error unless it completed.
iperf_wait() {
  local rc=0
  wait "$IPERF_CLIENT" || rc=$?
  wait "$IPERF_SERVER" 2>/dev/null || true
  ((rc == 0)) || fail "iperf3 (exit $rc): $(jq -r '.error // empty' <"$1" 2>/dev/null || tail -3 "$1") $(tail -3 "$1.err")"
}

# pings DST COUNT — "avg p99 lost" (ms, ms, count) over COUNT echoes at PING_INTERVAL.
pings() {
  local out times sent
  out=$(nx "$NS_a" ping -n -c "$2" -i "$PING_INTERVAL" -W 1 -w $(($(secs_of "$2" "$PING_INTERVAL") + 10)) "$1" 2>&1) || true
  times=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' <<<"$out" | sort -g)
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
  [[ -n "$times" && -n "$sent" ]] || fail "ping $1: no replies ($(tail -2 <<<"$out" | tr '\n' ' '))"
  awk -v sent="$sent" '{ t[NR] = $1; s += $1 } END { i = int(NR * 0.99 + 0.999999); if (i < 1) i = 1; printf "%.3f %.3f %d\n", s / NR, t[i], sent - NR }' <<<"$times"
}

# fig_tcp LABEL DST STREAMS [PID…] — TCP Mbit/s (and CPU per GB with PIDs).
fig_tcp() {
  local label=$1 dst=$2 p=$3 t0 t1 mbps bytes cpu
  shift 3
  (($#)) && t0=$(cpu_ticks "$@")
  iperf_start "$dst" "$DURATION" "$TMP/tcp.json" -P "$p"
  iperf_wait "$TMP/tcp.json"
  (($#)) && t1=$(cpu_ticks "$@")
  mbps=$(jq '.end.sum_received.bits_per_second / 1e6' "$TMP/tcp.json")
  bytes=$(jq '.end.sum_received.bytes' "$TMP/tcp.json")
  emit "$label" "tcp${p}_mbps" "$mbps"
  emit "$label" "tcp${p}_retransmits" "$(jq '.end.sum_sent.retransmits // 0' "$TMP/tcp.json")"
  if (($#)); then
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v b="$bytes" 'BEGIN { printf "%.3f", d / hz / (b / 1e9) }')
    emit "$label" cpu_core_s_per_gb "$cpu"
    log "  $label tcp$p $(printf '%.0f' "$mbps") Mbit/s, both daemons $cpu core·s/GB"
  else
    log "  $label tcp$p $(printf '%.0f' "$mbps") Mbit/s"
  fi
}

# fig_rtt LABEL DST — idle latency.
fig_rtt() {
  local r
  sleep 1 # let the previous stream's teardown settle
  read -ra r <<<"$(pings "$2" "$PINGS")"
  emit "$1" rtt_avg_ms "${r[0]}"
  emit "$1" rtt_p99_ms "${r[1]}"
  log "  $1 idle rtt avg ${r[0]} ms, p99 ${r[1]} ms, $PINGS pings, ${r[2]} lost"
}

# fig_loaded LABEL DST — latency while one TCP stream runs through the tunnel.
fig_loaded() {
  local r
  iperf_start "$2" $((LOADED_S + 3)) "$TMP/loaded.json"
  sleep 1.5 # past slow start
  read -ra r <<<"$(pings "$2" "$LOADED_PINGS")"
  iperf_wait "$TMP/loaded.json"
  emit "$1" loaded_rtt_avg_ms "${r[0]}"
  emit "$1" loaded_rtt_p99_ms "${r[1]}"
  emit "$1" loaded_tcp_mbps "$(jq '.end.sum_received.bits_per_second / 1e6' "$TMP/loaded.json")"
  log "  $1 rtt under a TCP stream avg ${r[0]} ms, p99 ${r[1]} ms, ${r[2]} lost"
}

# fig_rss_tcp LABEL PID… — peak RSS (VmHWM) of the daemons so far (start and
# the TCP figures).
fig_rss_tcp() {
  local label=$1 pid kb max=0
  shift
  for pid in "$@"; do
    alive "$pid" || fail "daemon $pid died"
    kb=$(status_kb "$pid" VmHWM)
    ((kb > max)) && max=$kb
  done
  emit "$label" rss_tcp_mib "$(mib "$max")"
  log "  $label peak RSS through the TCP figures: $(mib "$max") MiB"
}

# udp_rcvbuf_errors NS — the namespace's UDP receive-buffer drops so far
# (/proc/net/snmp RcvbufErrors, IPv4 + IPv6: every socket in NS).
udp_rcvbuf_errors() {
  nx "$1" awk '/^Udp: / && !h { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next }
               /^Udp: / && h { s += $c } END { print s + 0 }' /proc/net/snmp
}

# udp_socket_drops NS PORT — drops so far on the UDP sockets bound to PORT in
# NS (/proc/net/udp{,6}, the last column).
udp_socket_drops() {
  nx "$1" awk -v port="$(printf ':%04X' "$2")" 'FNR > 1 && index($2, port) == length($2) - 4 { s += $NF }
       END { print s + 0 }' /proc/net/udp /proc/net/udp6
}

# fig_udp LABEL DST IFNAME_A KEY [WINDOW] — iperf3 UDP at UDP_RATE: loss at the
# receiver, Mbit/s received; with WINDOW, the sockets' buffers (iperf3 -w)
# are that large. Also where the datagrams were lost, as % of those sent:
# a's TUN transmit queue (the daemon did not read them in time), b's tunnel
# socket (the daemon did not receive them in time), and the receiving
# application's socket (iperf3 did not read them in time).
fig_udp() {
  local key=$4 loss mbps sent tun0 tun1 sock0 sock1 app0 app1 where lost_tun lost_sock lost_app w=()
  [[ -z "${5:-}" ]] || w=(-w "$5")
  tun0=$(nx "$NS_a" cat "/sys/class/net/$3/statistics/tx_dropped")
  sock0=$(udp_socket_drops "$NS_b" 51821)
  app0=$(udp_rcvbuf_errors "$NS_b")
  iperf_start "$2" "$DURATION" "$TMP/udp.json" -u -b "$UDP_RATE" -l "$UDP_LEN" "${w[@]}"
  iperf_wait "$TMP/udp.json"
  tun1=$(nx "$NS_a" cat "/sys/class/net/$3/statistics/tx_dropped")
  sock1=$(udp_socket_drops "$NS_b" 51821)
  app1=$(udp_rcvbuf_errors "$NS_b")
  # iperf3 3.12 reports the receiver's counts in .end.sum; later versions also
  # have .end.sum_received.
  loss=$(jq '.end.sum.lost_percent' "$TMP/udp.json")
  mbps=$(jq '.end.sum_received.bits_per_second // (.end.sum.bits_per_second * (1 - .end.sum.lost_percent / 100)) | . / 1e6' "$TMP/udp.json")
  sent=$(jq '.end.sum.packets' "$TMP/udp.json")
  [[ "$loss" != null && "$mbps" != null && "$sent" =~ ^[0-9]+$ ]] || fail "iperf3 -u: no receiver figures in its JSON"
  emit "$1" "${key}_loss_pct" "$loss"
  emit "$1" "${key}_mbps" "$mbps"
  where=$(awk -v n="$sent" -v t=$((tun1 - tun0)) -v s=$((sock1 - sock0)) -v a=$((app1 - app0 - (sock1 - sock0))) \
    'BEGIN { n = n > 0 ? n : 1; a = a > 0 ? a : 0; printf "%.2f %.2f %.2f", 100 * t / n, 100 * s / n, 100 * a / n }')
  read -r lost_tun lost_sock lost_app <<<"$where"
  emit "$1" "${key}_lost_tun_pct" "$lost_tun"
  emit "$1" "${key}_lost_tunnel_socket_pct" "$lost_sock"
  emit "$1" "${key}_lost_app_socket_pct" "$lost_app"
  log "  $1 UDP at $UDP_RATE${5:+, -w $5}: $(printf '%.0f' "$mbps") Mbit/s received, $(printf '%.2f' "$loss") % lost" \
    "(of $sent sent: $lost_tun % at a's TUN queue, $lost_sock % at b's tunnel socket, $lost_app % at iperf3's socket)"
}

# fig_memflood LABEL PID — junk from m to a's port; a's peak VmRSS, sampled.
fig_memflood() {
  local pid=$2 flood i kb max
  max=$(status_kb "$pid" VmRSS)
  nx "$NS_m" timeout $((FLOOD_SECONDS + 20)) "$PYTHON" "$BENCH_DIR/flood_junk.py" 10.242.0.1 51820 "$FLOOD_SECONDS" \
    >"$TMP/junk.txt" 2>&1 &
  flood=$!
  for ((i = 0; i < (FLOOD_SECONDS + 15) * 5; i++)); do
    alive "$flood" || break
    alive "$pid" || fail "the daemon died under the junk flood"
    kb=$(status_kb "$pid" VmRSS)
    ((kb > max)) && max=$kb
    sleep 0.2
  done
  wait "$flood" || fail "flood_junk.py failed: $(tail -2 "$TMP/junk.txt")"
  alive "$pid" || fail "the daemon died under the junk flood"
  emit "$1" rss_udpflood_mib "$(mib "$max")"
  emit "$1" junk_flood_pps "$(sed -n 's/^sent.*(\([0-9]*\)\/s).*/\1/p' "$TMP/junk.txt")"
  log "  $1 junk flood: $(grep '^sent' "$TMP/junk.txt"); peak VmRSS $(mib "$max") MiB"
}

# fig_hsflood LABEL PUB_A — initiations with a valid mac1 from m to a while a
# pings b over the established session.
fig_hsflood() {
  local flood lost rate
  nx "$NS_m" timeout $((HSFLOOD_S + 25)) "$PYTHON" "$LIB_DIR/flood_initiations.py" 10.242.0.1 51820 "$2" \
    $((HSFLOOD_S + 3)) >"$TMP/hsflood.txt" 2>&1 &
  flood=$!
  wait_until 10 grep -q '^start_epoch=' "$TMP/hsflood.txt" || fail "flood_initiations.py did not start: $(tail -2 "$TMP/hsflood.txt")"
  sleep 1
  lost=$(ping_loss "$NS_a" 192.168.241.2 "$FLOOD_PINGS" "$PING_INTERVAL")
  wait "$flood" || fail "flood_initiations.py failed: $(tail -2 "$TMP/hsflood.txt")"
  rate=$(sed -n 's/^sent.*(\([0-9]*\)\/s).*/\1/p' "$TMP/hsflood.txt")
  emit "$1" hsflood_loss_pct "$(awk -v l="$lost" -v n="$FLOOD_PINGS" 'BEGIN { printf "%.2f", 100 * l / n }')"
  emit "$1" hsflood_rate_pps "$rate"
  log "  $1 handshake flood at $rate/s: $lost of $FLOOD_PINGS pings lost"
}

# fig_profile LABEL PID… — perf record of the daemons during a TCP stream.
fig_profile() {
  local label=$1 pids
  shift
  pids=$(IFS=,; printf '%s' "$*")
  iperf_start 192.168.241.2 $((PROFILE_SECONDS + 3)) "$TMP/profile-tcp.json"
  sleep 1.5
  timeout $((PROFILE_SECONDS + 30)) perf record -q -e cpu-clock -F 2000 -g -p "$pids" -o "$TMP/perf.data" \
    -- sleep "$PROFILE_SECONDS" >"$TMP/perf-record.txt" 2>&1 || fail "perf record: $(tail -2 "$TMP/perf-record.txt")"
  iperf_wait "$TMP/profile-tcp.json"
  {
    printf '%s, both daemons, %s s of a TCP stream (%.0f Mbit/s under perf), by symbol:\n' "$label" "$PROFILE_SECONDS" \
      "$(jq '.end.sum_received.bits_per_second / 1e6' "$TMP/profile-tcp.json")"
    # sed, not head: reading to the end spares the pipeline a SIGPIPE (pipefail).
    timeout 120 perf report -i "$TMP/perf.data" --stdio --no-children --sort symbol -g none 2>/dev/null |
      grep -E '^ +[0-9.]+%' | sed -E -n 's/( +-)* *$//; 1,15p'
    printf 'by shared object:\n'
    timeout 120 perf report -i "$TMP/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
      grep -E '^ +[0-9.]+%' | sed -E -n 's/ *$//; 1,6p'
  } >"$TMP/profile.txt"
  (($(wc -l <"$TMP/profile.txt") > 3)) || fail "perf report gave no samples"
  sed 's/^/    /' "$TMP/profile.txt"
}

# hs_rate FILE — complete handshakes per second on the wall clock, from a
# one-benchmark wg_bench JSON (1e9 / real time per iteration in ns).
hs_rate() {
  jq '[.benchmarks[] | select(.run_type == "iteration")][0] |
      (if .time_unit == "ns" then 1e9 elif .time_unit == "us" then 1e6 else 1e3 end) / .real_time' "$1"
}

# fig_handshakes — complete handshakes per second (BM_SharedResponderHandshake:
# one responder engine shared by the threads, as the device's handshake
# workers share it; else BM_EngineHandshake) on one
# core and on two. With a threads:2 variant in wg_bench, that one (it must use
# UseRealTime(), or its rate is per CPU second); else two processes at once.
fig_handshakes() {
  local label=$1 list r one two a b filter
  [[ -x "$WG_BENCH" ]] || fail "$WG_BENCH missing: configure with -DZL_BENCH=ON and build the target wg_bench"
  list=$("$WG_BENCH" --benchmark_list_tests)
  # The device's case first: one engine (responder) shared by the threads,
  # as its handshake workers share it; else one engine pair per thread.
  local bm=BM_EngineHandshake
  grep -Eq '^BM_SharedResponderHandshake/.*threads:2' <<<"$list" && bm=BM_SharedResponderHandshake
  if grep -Eq "^$bm/.*threads:2" <<<"$list"; then
    filter="^$bm/.*threads:[12]"
    grep -E "^$bm/.*threads:2" <<<"$list" | grep -q real_time ||
      log "  WARNING: $bm/threads:2 lacks UseRealTime(): its items/s are per CPU second, not per wall second"
    if [[ $bm == BM_SharedResponderHandshake ]]; then
      printf 'threads sharing one responder engine\n' >"$TMP/hs_mode"
    else
      printf 'threads, one engine pair each\n' >"$TMP/hs_mode"
    fi
    for ((r = 1; r <= RUNS; r++)); do
      timeout $((HS_MIN_S * 10 + 60)) "$WG_BENCH" --benchmark_filter="$filter" --benchmark_min_time="$HS_MIN_TIME" \
        --benchmark_format=json >"$TMP/hs.json" 2>"$TMP/hs.err" || fail "wg_bench: $(tail -2 "$TMP/hs.err")"
      one=$(jq '[.benchmarks[] | select(.run_type == "iteration" and .threads == 1)][0].items_per_second' "$TMP/hs.json")
      two=$(jq '[.benchmarks[] | select(.run_type == "iteration" and .threads == 2)][0].items_per_second' "$TMP/hs.json")
      emit "$label" hs_1core_per_s "$one"
      emit "$label" hs_2core_per_s "$two"
      log "  handshakes/s: 1 thread $(printf '%.0f' "$one"), 2 threads $(printf '%.0f' "$two")"
    done
  else
    log "  wg_bench has no 2-thread handshake benchmark (BM_EngineHandshake->Threads(2)); measuring one process on cpu 0, then two at once on cpus 0 and 1"
    printf 'two processes\n' >"$TMP/hs_mode"
    filter='^BM_EngineHandshake$'
    grep -Eq "$filter" <<<"$list" || fail "wg_bench has no BM_EngineHandshake"
    for ((r = 1; r <= RUNS; r++)); do
      timeout $((HS_MIN_S * 10 + 60)) taskset -c 0 "$WG_BENCH" --benchmark_filter="$filter" \
        --benchmark_min_time="$HS_MIN_TIME" --benchmark_format=json >"$TMP/hs1.json" 2>"$TMP/hs.err" ||
        fail "wg_bench: $(tail -2 "$TMP/hs.err")"
      timeout $((HS_MIN_S * 10 + 60)) taskset -c 0 "$WG_BENCH" --benchmark_filter="$filter" \
        --benchmark_min_time="$HS_MIN_TIME" --benchmark_format=json >"$TMP/hs2a.json" 2>"$TMP/hs.err" &
      a=$!
      timeout $((HS_MIN_S * 10 + 60)) taskset -c 1 "$WG_BENCH" --benchmark_filter="$filter" \
        --benchmark_min_time="$HS_MIN_TIME" --benchmark_format=json >"$TMP/hs2b.json" 2>"$TMP/hs2b.err" &
      b=$!
      if ! wait "$a" || ! wait "$b"; then
        fail "wg_bench (two processes): $(tail -2 "$TMP/hs.err" "$TMP/hs2b.err")"
      fi
      one=$(hs_rate "$TMP/hs1.json")
      two=$(awk -v x="$(hs_rate "$TMP/hs2a.json")" -v y="$(hs_rate "$TMP/hs2b.json")" 'BEGIN { print x + y }')
      emit "$label" hs_1core_per_s "$one"
      emit "$label" hs_2core_per_s "$two"
      log "  handshakes/s: 1 core $(printf '%.0f' "$one"), 2 cores $(printf '%.0f' "$two")"
    done
  fi
}

# --------------------------------------------------------------- daemons --

# daemon_start NS IFNAME IMPL — like lib.sh's wg_start, but with the bench's
# environment (LOG_LEVEL=BENCH_LOG_LEVEL, ZL_OFFLOADS and ZL_BUSY_POLL_US for
# ours) and non-fatal.
daemon_start() {
  local ns=$1 ifn=$2 impl=$3 pid env=(LOG_LEVEL="$BENCH_LOG_LEVEL")
  is_reference_go "$impl" || [[ -z "${ZL_OFFLOADS:-}" ]] || env+=(ZL_OFFLOADS="$ZL_OFFLOADS")
  is_reference_go "$impl" || [[ -z "${ZL_BUSY_POLL_US:-}" ]] || env+=(ZL_BUSY_POLL_US="$ZL_BUSY_POLL_US")
  is_reference_go "$impl" || [[ -z "${ZL_THREADS:-}" ]] || env+=(ZL_THREADS="$ZL_THREADS")
  is_reference_go "$impl" || [[ -z "${ZL_TUN_QUEUES:-}" ]] || env+=(ZL_TUN_QUEUES="$ZL_TUN_QUEUES")
  ip netns exec "$ns" env "${env[@]}" "$impl" -f "$ifn" </dev/null >"$TMP/$ifn.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  WG_IFS+=("$ifn")
  WG_PID[$ifn]=$pid
  wait_until 10 nx "$ns" wg show "$ifn" && return 0
  log "WARNING: $(impl_name "$impl") $ifn in $ns: no UAPI socket within 10 s (alive: $(alive "$pid" && echo yes || echo no))"
  return 1
}

daemon_stop() {
  local ifn pid
  for ifn in "$@"; do
    pid=${WG_PID[$ifn]:-}
    [[ -n "$pid" ]] || continue
    kill_pid "$pid"
    wait "$pid" 2>/dev/null || true
  done
}

# impl_round IMPL LABEL ROUND — fresh daemons of IMPL on both ends, every figure.
impl_round() {
  local impl=$1 label=$2 r=$3 if_a if_b pid_a pid_b rc
  if_a=$(ifname "a$r$label")
  if_b=$(ifname "b$r$label")
  if_a=${if_a:0:15} if_b=${if_b:0:15}
  log "$label, round $r"
  if ! daemon_start "$NS_a" "$if_a" "$impl" || ! daemon_start "$NS_b" "$if_b" "$impl"; then
    printf '%s start\n' "$label" >>"$TMP/failed"
    daemon_stop "$if_a" "$if_b"
    return 0
  fi
  pid_a=${WG_PID[$if_a]} pid_b=${WG_PID[$if_b]}
  set +e
  (
    set -e
    wg_iface "$NS_a" "$if_a" a 51820 1
    wg_iface "$NS_b" "$if_b" b 51821 2
    wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)"
    wg_peer "$NS_a" "$if_a" "$pub_b" "$(tunnel_ips 2)" endpoint 10.241.0.2:51821
    ping_ok "$NS_a" 192.168.241.2 2
  )
  rc=$?
  set -e
  if ((rc != 0)); then
    log "WARNING: $label round $r: the tunnel did not come up; no figures for it this round"
    printf '%s setup\n' "$label" >>"$TMP/failed"
    daemon_stop "$if_a" "$if_b"
    return 0
  fi
  emit "$label" rss_idle_mib "$(mib "$(status_kb "$pid_a" VmRSS)")"
  figure tcp1 "$label" fig_tcp "$label" 192.168.241.2 1 "$pid_a" "$pid_b"
  skipped TCP4 || figure tcp4 "$label" fig_tcp "$label" 192.168.241.2 4
  if ! skipped LATENCY; then
    figure rtt "$label" fig_rtt "$label" 192.168.241.2
    figure loaded "$label" fig_loaded "$label" 192.168.241.2
  fi
  figure rss_tcp "$label" fig_rss_tcp "$label" "$pid_a" "$pid_b"
  if ! skipped UDP; then
    figure udp "$label" fig_udp "$label" 192.168.241.2 "$if_a" udp
    figure udp_w "$label" fig_udp "$label" 192.168.241.2 "$if_a" udp_w "$UDP_WINDOW"
  fi
  if ((r == 1)) && [[ "$impl" == "$IMPL_A" ]] && ! skipped PROFILE; then
    if [[ -n "$PERF_OK" ]]; then
      figure profile "$label" fig_profile "$label" "$pid_a" "$pid_b"
    else
      printf 'no profile: %s\n' "$PERF_WHY" >"$TMP/profile.txt"
    fi
  fi
  skipped MEMFLOOD || figure memflood "$label" fig_memflood "$label" "$pid_a"
  skipped HSFLOOD || figure hsflood "$label" fig_hsflood "$label" "$pub_a"
  if ! alive "$pid_a" || ! alive "$pid_b"; then
    log "WARNING: $label round $r: a daemon died during the figures"
    printf '%s died\n' "$label" >>"$TMP/failed"
  fi
  daemon_stop "$if_a" "$if_b"
}

# ------------------------------------------------------------------ main --

name_a=$(impl_name "$IMPL_A")
name_b=$(impl_name "$IMPL_B")
[[ "$name_a" != "$name_b" ]] || name_b="$name_b.B"
: >"$TMP/results"
: >"$TMP/failed"
printf 'not run\n' >"$TMP/hs_mode"
printf 'not run (SKIP_PROFILE)\n' >"$TMP/profile.txt"

PERF_OK="" PERF_WHY=""
if ! skipped PROFILE; then
  if ! command -v perf >/dev/null; then
    PERF_WHY="perf missing (apt-get install linux-perf)"
  elif ! perf stat -e cpu-clock true >/dev/null 2>&1; then
    PERF_WHY="perf cannot run on kernel $(uname -r): $(perf stat -e cpu-clock true 2>&1 | tail -1)"
  else
    PERF_OK=1
  fi
  [[ -n "$PERF_OK" ]] || log "WARNING: skipping the profile: $PERF_WHY"
fi

est=$(expected_seconds)
step "$RUNS rounds: iperf3 -t $DURATION, $PINGS/$LOADED_PINGS/$FLOOD_PINGS pings every $PING_INTERVAL s, UDP at $UDP_RATE, floods $FLOOD_SECONDS/$HSFLOOD_S s; expected ≈ $((est / 60)) min $((est % 60)) s"
log "ZL_OFFLOADS=${ZL_OFFLOADS-<unset>}  ZL_BUSY_POLL_US=${ZL_BUSY_POLL_US-<unset>}  ZL_THREADS=${ZL_THREADS-<unset>}  ZL_TUN_QUEUES=${ZL_TUN_QUEUES-<unset>}  LOG_LEVEL=$BENCH_LOG_LEVEL  $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date +%s)

skipped HANDSHAKES || {
  log "handshakes per second, one core vs two ($WG_BENCH)"
  figure handshakes "$name_a" fig_handshakes "$name_a"
}

netns_new a
netns_new b
netns_new m
veth_pair "$NS_a" "$NS_b"
ip -n "$NS_a" link add veth1 type veth peer name veth0 netns "$NS_m"
ip -n "$NS_a" addr add 10.242.0.1/24 dev veth1
ip -n "$NS_a" link set veth1 up
ip -n "$NS_m" addr add 10.242.0.2/24 dev veth0
ip -n "$NS_m" link set veth0 up
pub_a=$(gen_key a)
pub_b=$(gen_key b)

for ((r = 1; r <= RUNS; r++)); do
  step "round $r of $RUNS ($(($(date +%s) - started)) s so far)"
  if ((r % 2)); then
    impl_round "$IMPL_A" "$name_a" "$r"
    impl_round "$IMPL_B" "$name_b" "$r"
  else
    impl_round "$IMPL_B" "$name_b" "$r"
    impl_round "$IMPL_A" "$name_a" "$r"
  fi
  if ! skipped VETH; then
    log "veth (no tunnel), round $r"
    figure tcp1 veth fig_tcp veth 10.241.0.2 1
    figure tcp4 veth fig_tcp veth 10.241.0.2 4
    figure rtt veth fig_rtt veth 10.241.0.2
  fi
done
log "measured in $(($(date +%s) - started)) s (expected ≈ $est s)"

"$PYTHON" "$BENCH_DIR/tunnel_report.py" --results "$TMP/results" --failed "$TMP/failed" --profile "$TMP/profile.txt" \
  --a "$name_a" --b "$name_b" --hs-mode "$(cat "$TMP/hs_mode")" --max-rss-mb "$MAX_RSS_MB" \
  --param runs="$RUNS" --param duration_s="$DURATION" --param pings="$PINGS" --param loaded_pings="$LOADED_PINGS" \
  --param flood_pings="$FLOOD_PINGS" --param ping_interval_s="$PING_INTERVAL" --param flood_seconds="$FLOOD_SECONDS" \
  --param udp_rate="$UDP_RATE" --param udp_len="$UDP_LEN" --param zl_offloads="${ZL_OFFLOADS-unset}" \
  --param zl_busy_poll_us="${ZL_BUSY_POLL_US-unset}" --param zl_threads="${ZL_THREADS-unset}" \
  --param zl_tun_queues="${ZL_TUN_QUEUES-unset}" --param udp_window="$UDP_WINDOW" \
  --param log_level="$BENCH_LOG_LEVEL" --param impl_a="$IMPL_A" --param impl_b="$IMPL_B" \
  --param cores="$(nproc)" --param kernel="$(uname -r)" --param date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --param elapsed_s=$(($(date +%s) - started)) --json "$TMP/summary.json"
echo
cat "$TMP/summary.json"
echo
[[ -z "${BENCH_JSON:-}" ]] || cp "$TMP/summary.json" "$BENCH_JSON"
