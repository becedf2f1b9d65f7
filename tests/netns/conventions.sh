#!/usr/bin/env bash
# conventions.sh — IMPL_A follows wireguard-go's process conventions.
#
#   ┌─────────────────────────────────────────────────────────────┐
#   │ $NS_a   one IMPL_A instance at a time (wg-quick, wrappers,  │
#   │         setpriv, unshare -m run inside it)                  │
#   └─────────────────────────────────────────────────────────────┘
#   (no links: nothing here sends a packet)
#
#  1. LOG_LEVEL=info, debug or empty: the start succeeds (empty: one warning
#     line); `LOG_LEVEL=info wg-quick up` works and `wg-quick down` ends it.
#  2. WG_PROCESS_FOREGROUND=1 without -f: the started process itself serves.
#  3. IFNAME with %d: the socket is named after the real interface, and
#     `wg show <real>` works.
#  4. `ip link del` with LOG_LEVEL=verbose: exit 0, no ERROR line; the first
#     log line is the --version line.
#  5. --version: version, commit, build type, OpenSSL.
#  6. NOTIFY_SOCKET (foreground): READY=1 arrives once the socket file
#     exists, STOPPING=1 at SIGTERM; a daemonising start does not notify.
#  7. WG_TUN_FD / WG_UAPI_FD from a wrapper: `wg show` works through them;
#     bad descriptors are refused with the variable's name.
#  8. Permissions: CAP_NET_ADMIN without write access to the socket directory
#     (nobody + ambient CAP_NET_ADMIN; root under a read-only bind mount) or
#     to /dev/net/tun is told the path, not "needs root or CAP_NET_ADMIN";
#     no CAP_NET_ADMIN is told so.
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init setpriv unshare wg-quick

is_reference_go "$IMPL_A" && skip "tests zlayer-wg's conventions (--version fields, messages)"

netns_new a
pub_a=$(gen_key a)

# start_fg IF LOG [VAR=VALUE…] — `env VAR=VALUE… IMPL_A -f IF` in $NS_a in the
# background (output in LOG); waits until `wg show IF` answers. The pid is in
# WG_PID[IF], for wg_stop.
start_fg() {
  local ifn=$1 out=$2 pid
  shift 2
  ip netns exec "$NS_a" env "$@" "$IMPL_A" -f "$ifn" </dev/null >"$out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  WG_IFS+=("$ifn")
  WG_PID[$ifn]=$pid
  wait_until 10 nx "$NS_a" wg show "$ifn" ||
    fail "$* -f $ifn: expected the UAPI socket to answer within 10 s; alive=$(alive "$pid" && echo yes || echo no); output: $(head -c 300 "$out")"
}

# stop_ok IF — SIGTERM; the daemon must exit 0 and leave no socket file.
stop_ok() {
  wg_stop "$1"
  expect_eq "$1: exit status after SIGTERM" 0 "$WG_RC"
  wait_until 5 eval "[[ ! -e $WG_RUN_DIR/$1.sock ]]" || fail "$1: socket file left after exit"
}

# run_a CMD… — CMD in $NS_a, bounded to 15 s; output in $OUT, status in $RC.
run_a() {
  RC=0
  OUT=$(nx "$NS_a" timeout 15 "$@" </dev/null 2>&1) || RC=$?
}

# expect_refused WHAT — the last run_a failed (not by timeout) with a message.
expect_refused() {
  ((RC != 0 && RC != 124)) || fail "$1: expected a non-zero exit, saw status $RC, output '${OUT:0:300}'"
  [[ -n "$OUT" ]] || fail "$1: expected a message, saw none"
}

step "1. LOG_LEVEL=info, debug, empty"
for level in info debug ""; do
  ifl=$(ifname "l${level:0:1}")
  start_fg "$ifl" "$TMP/$ifl.log" LOG_LEVEL="$level"
  nx "$NS_a" wg set "$ifl" private-key "$TMP/a.key" || fail "LOG_LEVEL='$level': wg set failed"
  expect_eq "LOG_LEVEL='$level': public key" "$pub_a" "$(wg_get "$NS_a" "$ifl" public-key)"
  stop_ok "$ifl"
  warnings=$(grep -c 'warning: LOG_LEVEL' "$TMP/$ifl.log" || true)
  if [[ -z "$level" ]]; then
    expect_eq "LOG_LEVEL='': warning lines" 1 "$warnings"
  else
    expect_eq "LOG_LEVEL=$level: warning lines" 0 "$warnings"
  fi
  if [[ "$level" == debug ]]; then
    grep -q 'DEBUG: ' "$TMP/$ifl.log" || fail "LOG_LEVEL=debug: expected verbose (DEBUG) lines, saw: $(head -c 300 "$TMP/$ifl.log")"
  fi
  log "LOG_LEVEL='$level': started, served, exit 0"
done

ifq=$(ifname q)
WG_IFS+=("$ifq")
(umask 077 && printf '[Interface]\nPrivateKey = %s\nAddress = 192.168.241.1/24\n' "$(cat "$TMP/a.key")" >"$TMP/$ifq.conf")
RC=0
nx "$NS_a" env LOG_LEVEL=info WG_QUICK_USERSPACE_IMPLEMENTATION="$IMPL_A" timeout 30 wg-quick up "$TMP/$ifq.conf" \
  </dev/null >"$TMP/wg-quick-up.log" 2>&1 || RC=$?
expect_eq "LOG_LEVEL=info wg-quick up status (output: $(tail -5 "$TMP/wg-quick-up.log"))" 0 "$RC"
qpid=$(find_daemon "$ifq" "$IMPL_A") || fail "after wg-quick up: no '$(impl_name "$IMPL_A") $ifq' process"
PIDS+=("$qpid")
expect_eq "wg-quick interface public key" "$pub_a" "$(wg_get "$NS_a" "$ifq" public-key)"
nx "$NS_a" timeout 30 wg-quick down "$TMP/$ifq.conf" >"$TMP/wg-quick-down.log" 2>&1 ||
  fail "wg-quick down failed: $(tail -5 "$TMP/wg-quick-down.log")"
wait_until 5 eval "! alive $qpid" || fail "after wg-quick down: the daemon $qpid is still running"
log "LOG_LEVEL=info wg-quick up/down: ok"

step "2. WG_PROCESS_FOREGROUND=1"
iff=$(ifname f)
ip netns exec "$NS_a" env WG_PROCESS_FOREGROUND=1 "$IMPL_A" "$iff" </dev/null >"$TMP/$iff.log" 2>&1 &
fpid=$!
PIDS+=("$fpid")
WG_IFS+=("$iff")
WG_PID[$iff]=$fpid
wait_until 10 nx "$NS_a" wg show "$iff" || fail "WG_PROCESS_FOREGROUND=1: expected the socket to answer within 10 s"
alive "$fpid" || fail "WG_PROCESS_FOREGROUND=1: the started process ($fpid) exited: it daemonised"
served_by=$(find_daemon "$iff" "$IMPL_A") || fail "WG_PROCESS_FOREGROUND=1: no process for $iff"
expect_eq "WG_PROCESS_FOREGROUND=1: pid serving $iff" "$fpid" "$served_by"
stop_ok "$iff"
log "the started process ($fpid) served and exited 0"

step "3. IFNAME with %d"
tmpl="z$$p%d"
real="z$$p0" # the first in a fresh namespace
WG_IFS+=("$real")
ip netns exec "$NS_a" env LOG_LEVEL=verbose "$IMPL_A" -f "$tmpl" </dev/null >"$TMP/percent.log" 2>&1 &
ppid_=$!
PIDS+=("$ppid_")
WG_PID[$real]=$ppid_
wait_until 10 nx "$NS_a" wg show "$real" ||
  fail "$tmpl: expected \`wg show $real\` to answer within 10 s; sockets: $(ls "$WG_RUN_DIR" | grep "z$$p" | tr '\n' ' ')"
[[ ! -e "$WG_RUN_DIR/$tmpl.sock" ]] || fail "$tmpl: a socket named after the template exists"
ip -n "$NS_a" link show "$real" >/dev/null || fail "$tmpl: expected interface $real"
nx "$NS_a" wg set "$real" private-key "$TMP/a.key"
expect_eq "$real public key" "$pub_a" "$(wg_get "$NS_a" "$real" public-key)"
grep -q "($real)" "$TMP/percent.log" || fail "$tmpl: expected log lines prefixed ($real), saw: $(head -3 "$TMP/percent.log")"
stop_ok "$real"
log "$tmpl → $real, socket $real.sock"

step "4. ip link del: verbose shutdown, exit 0"
ifd=$(ifname d)
start_fg "$ifd" "$TMP/$ifd.log" LOG_LEVEL=verbose
ip -n "$NS_a" link del "$ifd"
wait_until 5 eval "! alive ${WG_PID[$ifd]}" || fail "$ifd: expected the daemon to exit after ip link del"
RC=0
wait "${WG_PID[$ifd]}" || RC=$?
expect_eq "$ifd: exit status after ip link del" 0 "$RC"
wait_until 5 eval "[[ ! -e $WG_RUN_DIR/$ifd.sock ]]" || fail "$ifd: socket file left after ip link del"
if grep -q 'ERROR' "$TMP/$ifd.log"; then
  fail "ip link del: expected no ERROR line, saw: $(grep ERROR "$TMP/$ifd.log" | head -3)"
fi
run_a "$IMPL_A" --version
first=$(head -1 "$TMP/$ifd.log")
[[ "$first" == *": DEBUG: "*" $OUT" ]] || fail "LOG_LEVEL=verbose: expected the first log line to be the --version line '$OUT', saw '$first'"
log "exit 0, no ERROR; first line: $first"

step "5. --version"
expect_eq "--version status" 0 "$RC"
re='^zlayer-wg [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{7,}(\+dirty)?|unknown), [^;]+; OpenSSL [0-9]+\.[0-9]+\.[0-9]+[^,]*(, [^,]+ [0-9.]+)*\)$'
[[ "$(wc -l <<<"$OUT")" -eq 1 && "$OUT" =~ $re ]] || fail "--version: expected one line 'zlayer-wg X.Y.Z (commit H, TYPE; OpenSSL X.Y.Z, …)', saw '$OUT'"
log "$OUT"

step "6. NOTIFY_SOCKET"
ifn=$(ifname n)
ifm=$(ifname m)
WG_IFS+=("$ifn" "$ifm")
RC=0
nx "$NS_a" timeout 60 "$PYTHON" - "$IMPL_A" "$ifn" "$ifm" "$WG_RUN_DIR" "$TMP" >"$TMP/notify.out" 2>&1 <<'PY' || RC=$?
import os, socket, subprocess, sys
impl, ifn, ifm, run_dir, tmp = sys.argv[1:6]

def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)

def listener(name):
    path = os.path.join(tmp, name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    return s, path

# Foreground: READY=1 once the socket file exists, STOPPING=1 at SIGTERM.
srv, path = listener("notify-fg.sock")
env = dict(os.environ, NOTIFY_SOCKET=path, LOG_LEVEL="verbose")
with open(os.path.join(tmp, ifn + ".log"), "wb") as out:
    p = subprocess.Popen([impl, "-f", ifn], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
try:
    srv.settimeout(10)
    try:
        msg = srv.recv(4096).decode()
    except socket.timeout:
        fail("no notification within 10 s (alive: %s)" % (p.poll() is None))
    sock_file = os.path.join(run_dir, ifn + ".sock")
    if not os.path.exists(sock_file):
        fail("READY arrived before %s existed: %r" % (sock_file, msg))
    lines = msg.split("\n")
    if "READY=1" not in lines or not any(l.startswith("STATUS=") for l in lines):
        fail("expected READY=1 and STATUS=, saw %r" % msg)
    print("ready: " + msg.replace("\n", " | "))
    p.terminate()
    try:
        msg = srv.recv(4096).decode()
    except socket.timeout:
        fail("no STOPPING=1 within 10 s of SIGTERM")
    if "STOPPING=1" not in msg.split("\n"):
        fail("expected STOPPING=1, saw %r" % msg)
    print("stopping: " + msg)
    rc = p.wait(timeout=10)
    if rc != 0:
        fail("exit status %d after SIGTERM" % rc)
finally:
    if p.poll() is None:
        p.kill()
        p.wait()

# Daemonising start: not the process a Type=notify unit watches; no message.
srv, path = listener("notify-daemon.sock")
env = dict(os.environ, NOTIFY_SOCKET=path)
r = subprocess.run([impl, ifm], env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
if r.returncode != 0:
    fail("daemonising start failed: %r" % r.stderr)
srv.settimeout(1.5)
try:
    msg = srv.recv(4096)
    fail("daemon mode sent a notification: %r" % msg)
except socket.timeout:
    print("daemon mode: no notification")
PY
cat "$TMP/notify.out"
expect_eq "NOTIFY_SOCKET checks (python status)" 0 "$RC"
mpid=$(find_daemon "$ifm" "$IMPL_A") || fail "NOTIFY_SOCKET daemon $ifm not found"
PIDS+=("$mpid")
kill_pid "$mpid"

step "7. WG_TUN_FD and WG_UAPI_FD"
ifi=$(ifname i)
WG_IFS+=("$ifi")
# handover.py [--tun NAME] [--uapi PATH] -- CMD… — opens and attaches the TUN
# NAME and/or binds and listens on the unix socket PATH, then execs CMD with
# them inherited and WG_TUN_FD / WG_UAPI_FD set, as a wrapper around
# wireguard-go would.
cat >"$TMP/handover.py" <<'PY'
import fcntl, os, socket, struct, sys
args, env = sys.argv[1:], dict(os.environ)
while args[0] != "--":
    opt, value, args = args[0], args[1], args[2:]
    if opt == "--tun":
        TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", value.encode(), IFF_TUN | IFF_NO_PI))
        env["WG_TUN_FD"] = str(fd)
    elif opt == "--uapi":
        os.makedirs(os.path.dirname(value), mode=0o755, exist_ok=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        s.bind(value)
        os.umask(old)
        s.listen(16)
        fd = s.detach()
        env["WG_UAPI_FD"] = str(fd)
    else:
        sys.exit("handover.py: unknown option " + opt)
    os.set_inheritable(fd, True)
os.execvpe(args[1], args[1:], env)
PY
ip netns exec "$NS_a" "$PYTHON" "$TMP/handover.py" --tun "$ifi" --uapi "$WG_RUN_DIR/$ifi.sock" -- \
  env LOG_LEVEL=verbose "$IMPL_A" -f "$ifi" </dev/null >"$TMP/$ifi.log" 2>&1 &
ipid=$!
PIDS+=("$ipid")
WG_PID[$ifi]=$ipid
wait_until 10 nx "$NS_a" wg show "$ifi" ||
  fail "WG_TUN_FD/WG_UAPI_FD: expected \`wg show $ifi\` to answer within 10 s; alive=$(alive "$ipid" && echo yes || echo no); log: $(tail -5 "$TMP/$ifi.log")"
nx "$NS_a" wg set "$ifi" private-key "$TMP/a.key" listen-port 51820 || fail "wg set through WG_UAPI_FD failed"
expect_eq "$ifi public key (through WG_UAPI_FD)" "$pub_a" "$(wg_get "$NS_a" "$ifi" public-key)"
ip -n "$NS_a" addr add 192.168.241.1/24 dev "$ifi"
ip -n "$NS_a" link set "$ifi" up || fail "cannot set $ifi up"
# The adopted fds are FD_CLOEXEC now and held by the one process.
fds=$(find "/proc/$ipid/fd" -lname '/dev/net/tun' | wc -l)
expect_eq "descriptors on /dev/net/tun held by $ipid" 1 "$fds"
stop_ok "$ifi"
ip -n "$NS_a" link show "$ifi" >/dev/null 2>&1 && fail "$ifi: TUN still there after exit"
log "wg show/set through inherited descriptors; exit 0, socket file removed, TUN gone"

run_a env WG_TUN_FD=9 "$IMPL_A" -f "$(ifname x)"
expect_refused "WG_TUN_FD=9 (closed)"
[[ "$OUT" == *"WG_TUN_FD=9"*"not open"* ]] || fail "WG_TUN_FD=9 (closed): expected a message naming WG_TUN_FD=9 and 'not open', saw '$OUT'"
log "closed WG_TUN_FD: $OUT"
run_a bash -c 'exec 7</dev/null; WG_TUN_FD=7 exec "$0" -f "$1"' "$IMPL_A" "$(ifname x)"
expect_refused "WG_TUN_FD=7 (/dev/null)"
[[ "$OUT" == *"WG_TUN_FD=7"*"not a TUN"* ]] || fail "WG_TUN_FD=7 (/dev/null): expected 'not a TUN', saw '$OUT'"
log "/dev/null as WG_TUN_FD: $OUT"
run_a bash -c 'exec 7< <(sleep 5); WG_UAPI_FD=7 exec "$0" -f "$1"' "$IMPL_A" "$(ifname x)"
expect_refused "WG_UAPI_FD=7 (a pipe)"
[[ "$OUT" == *"WG_UAPI_FD=7"*"not a socket"* ]] || fail "WG_UAPI_FD=7 (a pipe): expected 'not a socket', saw '$OUT'"
log "pipe as WG_UAPI_FD: $OUT"
run_a "$PYTHON" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
os.set_inheritable(s.fileno(), True)
os.execve(sys.argv[1], [sys.argv[1], "-f", sys.argv[2]], dict(os.environ, WG_UAPI_FD=str(s.fileno())))
' "$IMPL_A" "$(ifname x)"
expect_refused "WG_UAPI_FD (not listening)"
[[ "$OUT" == *"WG_UAPI_FD="*"not listening"* ]] || fail "WG_UAPI_FD (not listening): expected 'not listening', saw '$OUT'"
log "non-listening WG_UAPI_FD: $OUT"
leftover=$(ip -n "$NS_a" -br link | grep -v '^lo ' || true)
[[ -z "$leftover" ]] || fail "refused starts left links behind: $leftover"

step "8. permission messages"
# A copy nobody can run, whatever the permissions of the build tree.
chmod 0711 "$TMP"
install -m 0755 "$IMPL_A" "$TMP/zlayer-wg"
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
with_net_admin=(--inh-caps=+net_admin --ambient-caps=+net_admin)

ifp=$(ifname p)
# in_mount_ns SRC DST CMD… — CMD with SRC bind-mounted over DST, in a private
# mount namespace (unshare -m: private propagation) that ends with CMD.
in_mount_ns() {
  local src=$1 dst=$2
  shift 2
  run_a unshare -m bash -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' _ "$src" "$dst" "$@"
}

# CAP_NET_ADMIN without write access to the socket directory, the TUN handed
# over by root (this host's /dev/net/tun may be root-only).
run_a "$PYTHON" "$TMP/handover.py" --tun "$ifp" -- "${as_nobody[@]}" "${with_net_admin[@]}" "$TMP/zlayer-wg" -f "$ifp"
expect_refused "nobody with CAP_NET_ADMIN and WG_TUN_FD"
[[ "$OUT" == *"bind $WG_RUN_DIR/$ifp.sock: Permission denied"* ]] ||
  fail "nobody with CAP_NET_ADMIN and WG_TUN_FD: expected 'bind $WG_RUN_DIR/$ifp.sock: Permission denied', saw '$OUT'"
[[ "$OUT" != *"CAP_NET_ADMIN"* ]] || fail "nobody with CAP_NET_ADMIN: told about CAP_NET_ADMIN: '$OUT'"
log "nobody + CAP_NET_ADMIN + WG_TUN_FD: $OUT"

# The same creating its own TUN, and without CAP_NET_ADMIN, through a
# world-usable copy of the device node (impossible on a nodev /tmp).
mknod -m 0666 "$TMP/tun" c 10 200 2>/dev/null || true
in_mount_ns "$TMP/tun" /dev/net/tun "${as_nobody[@]}" "$PYTHON" -c 'import os; os.open("/dev/net/tun", os.O_RDWR)'
if ((RC != 0)); then
  log "SKIP sub-check: no usable copy of /dev/net/tun in $TMP ($OUT)"
else
  in_mount_ns "$TMP/tun" /dev/net/tun "${as_nobody[@]}" "${with_net_admin[@]}" "$TMP/zlayer-wg" -f "$ifp"
  expect_refused "nobody with CAP_NET_ADMIN"
  [[ "$OUT" == *"bind $WG_RUN_DIR/$ifp.sock: Permission denied"* ]] ||
    fail "nobody with CAP_NET_ADMIN: expected 'bind $WG_RUN_DIR/$ifp.sock: Permission denied', saw '$OUT'"
  [[ "$OUT" != *"CAP_NET_ADMIN"* ]] || fail "nobody with CAP_NET_ADMIN: told about CAP_NET_ADMIN: '$OUT'"
  log "nobody + CAP_NET_ADMIN: $OUT"

  in_mount_ns "$TMP/tun" /dev/net/tun "${as_nobody[@]}" "$TMP/zlayer-wg" -f "$ifp"
  expect_refused "nobody without CAP_NET_ADMIN"
  [[ "$OUT" == *"TUNSETIFF"*"CAP_NET_ADMIN"* ]] || fail "nobody without CAP_NET_ADMIN: expected the capability hint, saw '$OUT'"
  log "nobody: $OUT"
fi

# The bind mounts live in a private mount namespace (unshare -m: private
# propagation), gone with the process.
mkdir -m 0755 "$TMP/ro"
# A read-only bind mount of a directory stays writable; remount it read-only.
run_a unshare -m bash -c 'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && exec "$3" -f "$4"' \
  _ "$TMP/ro" "$WG_RUN_DIR" "$TMP/zlayer-wg" "$ifp"
expect_refused "read-only socket directory"
[[ "$OUT" == *"$WG_RUN_DIR/$ifp.sock"* && "$OUT" == *"Read-only file system"* ]] ||
  fail "read-only socket directory: expected the socket path and 'Read-only file system', saw '$OUT'"
[[ "$OUT" != *"CAP_NET_ADMIN"* ]] || fail "read-only socket directory: told about CAP_NET_ADMIN: '$OUT'"
log "read-only $WG_RUN_DIR: $OUT"

install -m 0600 /dev/null "$TMP/no-tun"
in_mount_ns "$TMP/no-tun" /dev/net/tun "${as_nobody[@]}" "${with_net_admin[@]}" "$TMP/zlayer-wg" -f "$ifp"
expect_refused "/dev/net/tun not readable"
[[ "$OUT" == *"open /dev/net/tun: Permission denied"* ]] ||
  fail "/dev/net/tun not readable: expected 'open /dev/net/tun: Permission denied', saw '$OUT'"
[[ "$OUT" != *"needs root"* ]] || fail "/dev/net/tun not readable: told it needs root: '$OUT'"
log "unreadable /dev/net/tun: $OUT"
[[ ! -e "$WG_RUN_DIR/$ifp.sock" ]] || fail "refused starts left $ifp.sock behind"
leftover=$(ip -n "$NS_a" -br link | grep -v '^lo ' || true)
[[ -z "$leftover" ]] || fail "refused starts left links behind: $leftover"
pass
