#!/usr/bin/env bash
# Installs every Debian package the project needs: build, tests, benchmarks and
# the real peers the tests talk to. Idempotent: runs `apt-get update` only when
# a package is missing, and installs only what is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  libssl-dev libmnl-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the overlay: store, HTTP server and client, DNS messages
  libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libldns-dev
  # zlayer-wg's readiness notification to systemd
  libsystemd-dev
  # packaging: the man page (scdoc), the .deb's dependencies (dpkg-shlibdeps), unit checks
  scdoc dpkg-dev file systemd man-db
  # test oracle and fuzzers
  libsodium-dev clang libclang-rt-14-dev
  # real peers and tools the tests and benchmarks use
  wireguard-go wireguard-tools iperf3 iputils-ping iproute2 nftables
  procps psmisc kmod tshark
  # overlay tests and benchmarks: DNS client, the anchor overlay
  knot-dnsutils nebula curl
  # the netns tests and bench/tunnel.sh: JSON from iperf3, UAPI raw client, flood generator
  jq python3
)

# The Windows cross build and its tests under wine (scripts/windows-test.sh):
# only with `install-deps.sh windows`.
WINDOWS_PACKAGES=(
  g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix libgcrypt-mingw-w64-dev
  wine64 wine
  # googletest (GoogleTest sources, built by the cross compiler), and the headers
  # used header-only: libfmt-dev, nlohmann-json3-dev (already in PACKAGES)
  googletest
)
case "${1:-}" in
  "") ;;
  windows) PACKAGES+=("${WINDOWS_PACKAGES[@]}") ;;
  *) echo "usage: install-deps.sh [windows]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
