#!/usr/bin/env bash
# tests/package/install.sh BUILD_DIR — the packages as a user gets them.
#
# BUILD_DIR is a packager's build (Release, -DCMAKE_INSTALL_PREFIX=/usr) in
# which `cpack` made zlayer-overlay_*.deb and zlayer-overlay-dev_*.deb.
#
#  1. The .debs: version from the project, computed dependencies, the files
#     (programs in /usr/sbin, man pages, units, copyright, headers, CMake package).
#  2. `cmake --install BUILD_DIR --prefix SCRATCH`, then the uninstall the
#     README gives (xargs rm < install_manifest.txt) leaves SCRATCH empty.
#  3. In a scratch root — a private mount namespace in which /usr, /etc and
#     /var are copy-on-write overlays on tmpfs, so the host's files never
#     change — as a user would:
#       dpkg -i both packages (dpkg checks the dependencies);
#       the units pass `systemd-analyze verify`, the wg-quick@ drop-in too;
#       the unit's ExecStart line, run as systemd would (NOTIFY_SOCKET),
#         reports READY=1;
#       `WG_QUICK_USERSPACE_IMPLEMENTATION=zlayer-wg wg-quick up` exactly as the
#         README says, between two network namespaces, against wireguard-go:
#         ping through the tunnel, `wg show`, `wg-quick down`;
#       the example consumer (examples/consumer) builds with
#         find_package(ZlayerOverlay) and runs, with a device on a TUN;
#       dpkg --purge both: every file they installed is gone.
#  4. The host has no trace: no /usr/sbin/zlayer-wg, dpkg does not know it.
#
# Exit 0 = pass, 1 = fail, 77 = skipped (not root, no /dev/net/tun).
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
set -euo pipefail

if [[ "${1:-}" == --inner ]]; then
  INNER=1
  BUILD_DIR=$2
  SCRATCH=$3
else
  INNER=0
  BUILD_DIR=${1:?usage: tests/package/install.sh BUILD_DIR}
fi
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
. "$(dirname "$0")/../netns/lib.sh"
TEST_NAME=package-install

DEB=$(ls "$BUILD_DIR"/zlayer-overlay_*.deb 2>/dev/null | head -1)
DEV_DEB=$(ls "$BUILD_DIR"/zlayer-overlay-dev_*.deb 2>/dev/null | head -1)
[[ -f "$DEB" && -f "$DEV_DEB" ]] || { echo "no .deb in $BUILD_DIR: run cpack there first" >&2; exit 1; }
VERSION=$(sed -n 's/^project(zlayer_overlay VERSION \([0-9.]*\).*/\1/p' "$REPO_DIR/CMakeLists.txt")

# ------------------------------------------------------------ outer part --
outer() {
  [[ "$(id -u)" -eq 0 ]] || skip "needs root (mount and network namespaces)"
  [[ -c /dev/net/tun ]] || skip "needs /dev/net/tun"
  for t in dpkg-deb unshare systemd-analyze wg wg-quick wireguard-go cmake; do
    command -v "$t" >/dev/null || fail "tool '$t' missing: run scripts/install-deps.sh"
  done
  TMP=$(mktemp -d "/tmp/zlt-package-$$.XXXXXX")
  trap 'rm -rf "$TMP"' EXIT

  step "the packages"
  expect_eq "version of $(basename "$DEB")" "$VERSION-1" "$(dpkg-deb -f "$DEB" Version)"
  expect_eq "version of $(basename "$DEV_DEB")" "$VERSION-1" "$(dpkg-deb -f "$DEV_DEB" Version)"
  local depends
  depends=$(dpkg-deb -f "$DEB" Depends)
  for lib in libc6 libssl3 libmnl0 libsystemd0 libsqlite3-0 libcurl4 libmicrohttpd12 libldns3; do
    [[ "$depends" == *"$lib "* || "$depends" == *"$lib," || "$depends" == *"$lib" ]] ||
      fail "Depends of zlayer-overlay lacks $lib (dpkg-shlibdeps): $depends"
  done
  log "Depends: $depends"
  dpkg-deb -c "$DEB" | awk '{print $6}' >"$TMP/files"
  dpkg-deb -c "$DEV_DEB" | awk '{print $6}' >"$TMP/dev-files"
  for f in ./usr/sbin/zlayer-wg ./usr/sbin/zlayer-overlay \
           ./usr/share/man/man8/zlayer-wg.8.gz ./usr/share/man/man8/zlayer-overlay.8.gz \
           ./usr/lib/systemd/system/zlayer-wg@.service ./usr/lib/systemd/system/zlayer-overlay.service \
           ./usr/share/zlayer-overlay/systemd/wg-quick-zlayer-wg.conf \
           ./usr/share/doc/zlayer-overlay/copyright; do
    grep -qxF "$f" "$TMP/files" || fail "zlayer-overlay package lacks $f"
  done
  for f in ./usr/include/zlayer/wg/engine.h ./usr/include/zlayer/device/device.h \
           ./usr/share/doc/zlayer-overlay-dev/copyright; do
    grep -qxF "$f" "$TMP/dev-files" || fail "zlayer-overlay-dev package lacks $f"
  done
  grep -q '/cmake/ZlayerOverlay/ZlayerOverlayConfig.cmake$' "$TMP/dev-files" ||
    fail "zlayer-overlay-dev package lacks ZlayerOverlayConfig.cmake"
  grep -q 'test' <(grep '/usr/include/' "$TMP/dev-files") &&
    fail "test headers are installed: $(grep '/usr/include/.*test' "$TMP/dev-files" | head -3)"
  log "$(wc -l <"$TMP/files") + $(wc -l <"$TMP/dev-files") entries, the expected ones present"

  step "cmake --install to a prefix, and the README's uninstall"
  local prefix="$TMP/prefix"
  cmake --install "$BUILD_DIR" --prefix "$prefix" >"$TMP/install.log" ||
    fail "cmake --install failed: $(tail -3 "$TMP/install.log")"
  [[ -x "$prefix/sbin/zlayer-wg" ]] || fail "cmake --install: no $prefix/sbin/zlayer-wg"
  "$prefix/sbin/zlayer-wg" --version | grep -q "$VERSION" || fail "installed zlayer-wg --version lacks $VERSION"
  local n
  n=$(wc -l <"$BUILD_DIR/install_manifest.txt")
  xargs rm -f <"$BUILD_DIR/install_manifest.txt"
  find "$prefix" -depth -type d -empty -delete
  [[ ! -e "$prefix" ]] || fail "after uninstalling: left in the prefix: $(find "$prefix" | head -5)"
  log "$n files installed and removed, nothing left"

  step "scratch root (private mount namespace)"
  mkdir "$TMP/scratch"
  unshare --mount --propagation private "$0" --inner "$BUILD_DIR" "$TMP/scratch" ||
    fail "the scratch-root part failed (above)"

  step "the host is untouched"
  [[ ! -e /usr/sbin/zlayer-wg ]] || fail "/usr/sbin/zlayer-wg exists on the host"
  if dpkg-query -W -f='${Status}' zlayer-overlay 2>/dev/null | grep -q installed; then
    fail "dpkg on the host thinks zlayer-overlay is installed"
  fi
  pass
}

# ------------------------------------------------------------ inner part --
# Runs in its own mount namespace: /usr, /etc, /var are overlays whose upper
# layers live on a tmpfs that disappears with the namespace.
inner() {
  local scratch=$SCRATCH
  mount -t tmpfs -o mode=0700 zlt-scratch "$scratch"
  for d in usr etc var; do
    mkdir -p "$scratch/$d.upper" "$scratch/$d.work"
    mount -t overlay "zlt-$d" -o "lowerdir=/$d,upperdir=$scratch/$d.upper,workdir=$scratch/$d.work" "/$d"
  done
  # A socket directory of our own: nothing of the host's is visible or touched.
  mount -t tmpfs -o mode=0755 zlt-wireguard /run/wireguard 2>/dev/null ||
    { mkdir -p /run/wireguard && mount -t tmpfs -o mode=0755 zlt-wireguard /run/wireguard; }

  IMPL_A=wireguard-go  # lib_init wants one; the installed zlayer-wg is set below
  lib_init wg-quick dpkg systemd-analyze
  ZLAYER_INSTALLED=""

  step "dpkg -i"
  DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB" "$DEV_DEB" >"$TMP/dpkg-i.log" 2>&1 ||
    fail "dpkg -i failed: $(tail -5 "$TMP/dpkg-i.log")"
  dpkg -L zlayer-overlay zlayer-overlay-dev | sort -u >"$TMP/installed"
  ZLAYER_INSTALLED=$(command -v zlayer-wg) || fail "after dpkg -i: zlayer-wg is not on PATH"
  expect_eq "zlayer-wg on PATH" /usr/sbin/zlayer-wg "$ZLAYER_INSTALLED"
  zlayer-wg --version | grep -q "$VERSION" || fail "zlayer-wg --version lacks $VERSION"
  log "installed: $(zlayer-wg --version)"

  step "systemd units"
  # Any output is a warning (an unknown setting, a missing man page): fail on it.
  systemd-analyze verify zlayer-wg@zt0.service >"$TMP/verify.log" 2>&1 ||
    fail "systemd-analyze verify zlayer-wg@zt0.service: $(cat "$TMP/verify.log")"
  [[ ! -s "$TMP/verify.log" ]] || fail "systemd-analyze verify zlayer-wg@zt0.service warns: $(cat "$TMP/verify.log")"
  systemd-analyze verify zlayer-overlay.service >"$TMP/verify-overlay.log" 2>&1 ||
    fail "systemd-analyze verify zlayer-overlay.service: $(cat "$TMP/verify-overlay.log")"
  [[ ! -s "$TMP/verify-overlay.log" ]] || fail "systemd-analyze verify zlayer-overlay.service warns: $(cat "$TMP/verify-overlay.log")"
  [[ -f /lib/systemd/system/wg-quick@.service ]] || fail "wireguard-tools' wg-quick@.service missing"
  mkdir -p /etc/systemd/system/wg-quick@zt0.service.d
  ln -s /usr/share/zlayer-overlay/systemd/wg-quick-zlayer-wg.conf \
    /etc/systemd/system/wg-quick@zt0.service.d/zlayer-wg.conf
  systemd-analyze verify wg-quick@zt0.service >"$TMP/verify-quick.log" 2>&1 ||
    fail "systemd-analyze verify wg-quick@zt0.service (with the drop-in): $(cat "$TMP/verify-quick.log")"
  grep -q '^Environment=WG_QUICK_USERSPACE_IMPLEMENTATION=/usr/sbin/zlayer-wg$' \
    /usr/share/zlayer-overlay/systemd/wg-quick-zlayer-wg.conf || fail "the drop-in does not name /usr/sbin/zlayer-wg"
  rm -r /etc/systemd/system/wg-quick@zt0.service.d
  log "zlayer-wg@.service, zlayer-overlay.service and the wg-quick@ drop-in verify"

  netns_new a
  netns_new b
  veth_pair "$NS_a" "$NS_b"

  step "the unit's ExecStart, as systemd runs it (Type=notify)"
  local exec_start ifu
  ifu=$(ifname u)
  exec_start=$(sed -n 's/^ExecStart=//p' /usr/lib/systemd/system/zlayer-wg@.service)
  exec_start=${exec_start//%I/$ifu}
  WG_IFS+=("$ifu")
  "$PYTHON" - "$TMP/notify.sock" "$NS_a" "$exec_start" >"$TMP/notify.log" 2>&1 <<'EOF' ||
import os, socket, subprocess, sys, time
path, ns, cmd = sys.argv[1], sys.argv[2], sys.argv[3].split()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(10)
env = dict(os.environ, NOTIFY_SOCKET=path, LOG_LEVEL="error")
p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, env=env)
try:
    msg = s.recv(4096).decode()
    print("notify:", msg.replace("\n", " | "))
    assert "READY=1" in msg, "no READY=1"
    sock = "/run/wireguard/%s.sock" % cmd[-1]
    assert os.path.exists(sock), "READY=1 before the socket exists"
    p.terminate()
    rc = p.wait(10)
    print("exit status", rc)
    assert rc == 0, "exit status %d after SIGTERM" % rc
finally:
    if p.poll() is None:
        p.kill()
EOF
    fail "ExecStart under NOTIFY_SOCKET: $(cat "$TMP/notify.log")"
  log "$(grep notify: "$TMP/notify.log")"

  step "wg-quick up, exactly as the README says"
  local pub_a pub_b if_b ifq conf
  pub_a=$(gen_key a)
  pub_b=$(gen_key b)
  if_b=$(ifname b)
  ifq=$(ifname q)
  wg_start "$NS_b" "$if_b" "$IMPL_B"
  wg_iface "$NS_b" "$if_b" b 51821 2
  wg_peer "$NS_b" "$if_b" "$pub_a" "$(tunnel_ips 1)"
  conf="$TMP/$ifq.conf"
  (umask 077 && cat >"$conf" <<EOF)
[Interface]
Address = 192.168.241.1/24
PrivateKey = $(cat "$TMP/a.key")
ListenPort = 51820

[Peer]
PublicKey = $pub_b
AllowedIPs = 192.168.241.2/32
Endpoint = 10.241.0.2:51821
EOF
  WG_IFS+=("$ifq")
  nx "$NS_a" env WG_QUICK_USERSPACE_IMPLEMENTATION=zlayer-wg timeout 30 wg-quick up "$conf" \
    >"$TMP/wg-quick-up.log" 2>&1 || fail "wg-quick up: $(tail -5 "$TMP/wg-quick-up.log")"
  local qpid
  qpid=$(find_daemon "$ifq" /usr/sbin/zlayer-wg) || fail "after wg-quick up: no zlayer-wg $ifq process"
  PIDS+=("$qpid")
  expect_eq "the daemon wg-quick started" /usr/sbin/zlayer-wg "$(readlink "/proc/$qpid/exe")"
  ping_ok "$NS_a" 192.168.241.2 || fail "no ping through the tunnel"
  nx "$NS_a" wg show "$ifq" latest-handshakes | grep -q "$pub_b" || fail "wg show $ifq lacks the peer"
  nx "$NS_a" timeout 30 wg-quick down "$conf" >"$TMP/wg-quick-down.log" 2>&1 ||
    fail "wg-quick down: $(tail -5 "$TMP/wg-quick-down.log")"
  wait_until 5 eval "! alive $qpid" || fail "after wg-quick down: zlayer-wg $qpid still runs"
  log "up, ping, wg show, down: the installed zlayer-wg works through wg-quick"

  step "a program built against the installed library"
  cmake -S "$REPO_DIR/examples/consumer" -B "$TMP/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    >"$TMP/consumer-cmake.log" 2>&1 || fail "find_package(ZlayerOverlay): $(tail -8 "$TMP/consumer-cmake.log")"
  cmake --build "$TMP/consumer" >"$TMP/consumer-build.log" 2>&1 ||
    fail "building the consumer: $(tail -15 "$TMP/consumer-build.log")"
  grep -q '/usr/lib/.*cmake/ZlayerOverlay' "$TMP/consumer/CMakeCache.txt" ||
    fail "the consumer did not find the installed package"
  local out
  out=$(nx "$NS_a" "$TMP/consumer/zlayer-consumer" --device "$(ifname c)" 2>&1) ||
    fail "the consumer failed: $out"
  log "${out//$'\n'/; }"

  step "dpkg --purge"
  dpkg --purge zlayer-overlay-dev zlayer-overlay >"$TMP/dpkg-purge.log" 2>&1 ||
    fail "dpkg --purge: $(tail -5 "$TMP/dpkg-purge.log")"
  local left=()
  while read -r f; do
    [[ -f "$f" || -L "$f" ]] && left+=("$f")
    [[ -d "$f" && "$f" == *zlayer* ]] && left+=("$f/")
  done <"$TMP/installed"
  ((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
  # Nothing of ours in the copy-on-write layer of /usr either.
  [[ -z "$(find "$scratch/usr.upper" -name '*zlayer*' -print -quit)" ]] ||
    fail "left in /usr after purge: $(find "$scratch/usr.upper" -name '*zlayer*' | head -3)"
  command -v zlayer-wg >/dev/null && fail "zlayer-wg still on PATH after purge"
  log "$(wc -l <"$TMP/installed") paths installed; none left after purge"
}

if ((INNER)); then
  inner
  log "scratch root: every step passed"
  exit 0
else
  outer
fi
