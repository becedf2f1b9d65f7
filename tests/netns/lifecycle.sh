#!/usr/bin/env bash
# lifecycle.sh — how IMPL_A starts, refuses to start, and ends.
#
#   ┌──────────────────────────────┐   ┌──────────────────────────────┐
#   │ $NS_a   IMPL_A instances,    │   │ $NS_b   a second instance    │
#   │         one at a time        │   │         with a's name        │
#   └──────────────────────────────┘   └──────────────────────────────┘
#   (no links: nothing here sends a packet)
#
#  1. SIGTERM → exit status 0, UAPI socket gone, TUN gone.
#  2. daemon mode (`IMPL IF`, as wg-quick runs it): `out=$(IMPL IF)` returns
#     0 (the daemon does not hold the caller's output pipe), the daemon
#     serves; `ip link del IF` → the daemon exits, socket gone.
#  3. `rm` of the UAPI socket → the daemon exits, TUN gone (wireguard-go does).
#  4. a second instance for a running name (same namespace, other namespace)
#     → non-zero with a message; the first keeps serving its socket.
#  5. not root (setpriv to nobody), over-long and invalid names → non-zero,
#     a message, nothing left behind.
#  6. --version, --help answer (exit 0, text) without creating an interface;
#     no arguments → usage text (or a pointer to --help).
# shellcheck disable=SC2154 # NS_<tag> are assigned by netns_new (lib.sh)
. "$(dirname "$0")/lib.sh"
lib_init setpriv

netns_new a
netns_new b
pub_a=$(gen_key a)

# gone IF NS — no socket and no link any more.
expect_gone() {
  wait_until 5 eval "[[ ! -e $WG_RUN_DIR/$1.sock ]]" || fail "$1: expected the UAPI socket removed, it is still there"
  wait_until 5 eval "! ip -n $2 link show $1" || fail "$1: expected the TUN device gone, saw: $(ip -n "$2" -br link show "$1")"
}

# run_fg CMD ARGS… — runs CMD ARGS… in $NS_a (bounded to 10 s); output in
# $OUT, status in $RC.
run_fg() {
  RC=0
  OUT=$(nx "$NS_a" timeout 10 "$@" </dev/null 2>&1) || RC=$?
}

step "1. SIGTERM"
ifa=$(ifname t)
wg_start "$NS_a" "$ifa" "$IMPL_A"
nx "$NS_a" wg set "$ifa" private-key "$TMP/a.key" listen-port 51820
ip -n "$NS_a" link set "$ifa" up
wg_stop "$ifa"
expect_eq "exit status after SIGTERM" 0 "$WG_RC"
expect_gone "$ifa" "$NS_a"
log "exit 0, socket and TUN gone"

step "2. daemon mode; ip link del ends it"
ifd=$(ifname d)
WG_IFS+=("$ifd")
# As a caller would: out=$(IMPL IF). The parent must return once the daemon
# serves, and the daemon must not keep the caller's stdout/stderr pipe open.
RC=0
nx "$NS_a" timeout 15 bash -c 'out=$("$0" "$1" 2>&1 </dev/null); rc=$?; printf "%s" "$out" >"$2"; exit $rc' \
  "$IMPL_A" "$ifd" "$TMP/daemon.out" || RC=$?
((RC != 124)) || fail "daemon mode: out=\$($(impl_name "$IMPL_A") $ifd) did not return within 15 s: the daemon keeps the caller's stdout/stderr open (wireguard-go's daemon closes them)"
expect_eq "daemonising start exit status (output: $(head -c 200 "$TMP/daemon.out"))" 0 "$RC"
wait_until 5 nx "$NS_a" wg show "$ifd" || fail "$ifd: expected the daemon to answer on its socket"
pid=$(find_daemon "$ifd" "$IMPL_A") || fail "$ifd: no running '$(impl_name "$IMPL_A") $ifd' process found"
PIDS+=("$pid")
nx "$NS_a" wg set "$ifd" private-key "$TMP/a.key"
expect_eq "daemon public key" "$pub_a" "$(wg_get "$NS_a" "$ifd" public-key)"
ip -n "$NS_a" link del "$ifd"
wait_until 5 eval "! alive $pid" || fail "$ifd: expected the daemon ($pid) to exit after ip link del"
expect_gone "$ifd" "$NS_a"
log "daemon $pid exited, socket gone"

step "3. rm of the UAPI socket ends the daemon"
ifr=$(ifname r)
wg_start "$NS_a" "$ifr" "$IMPL_A"
rm "$WG_RUN_DIR/$ifr.sock"
wait_until 5 eval "! alive ${WG_PID[$ifr]}" || fail "$ifr: expected the daemon to exit after its socket was removed"
WG_RC=0
wait "${WG_PID[$ifr]}" || WG_RC=$?
expect_gone "$ifr" "$NS_a"
log "daemon exited (status $WG_RC), TUN gone"

step "4. a second instance for a running name"
ifs=$(ifname s)
wg_start "$NS_a" "$ifs" "$IMPL_A"
nx "$NS_a" wg set "$ifs" private-key "$TMP/a.key"
run_fg "$IMPL_A" -f "$ifs"
((RC != 0 && RC != 124)) || fail "second instance in the same namespace: expected a non-zero exit, saw status $RC, output '${OUT:0:200}'"
[[ -n "$OUT" ]] || fail "second instance in the same namespace: expected an error message, saw none"
log "same namespace: status $RC: $(tail -1 <<<"$OUT")"
RC=0
OUT=$(nx "$NS_b" timeout 10 "$IMPL_A" -f "$ifs" </dev/null 2>&1) || RC=$?
((RC != 0 && RC != 124)) || fail "second instance in another namespace (socket name taken): expected a non-zero exit, saw status $RC, output '${OUT:0:200}'"
[[ -n "$OUT" ]] || fail "second instance in another namespace: expected an error message, saw none"
log "other namespace: status $RC: $(tail -1 <<<"$OUT")"
alive "${WG_PID[$ifs]}" || fail "the first instance died"
expect_eq "first instance still serves its socket (public key)" "$pub_a" "$(wg_get "$NS_a" "$ifs" public-key)"
ip -n "$NS_b" link show "$ifs" >/dev/null 2>&1 && fail "the failed instance left a TUN $ifs in the other namespace"
wg_stop "$ifs"

step "5. refusals: not root, bad names"
ifn=$(ifname n)
RC=0
OUT=$(nx "$NS_a" timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$IMPL_A" -f "$ifn" </dev/null 2>&1) || RC=$?
((RC != 0 && RC != 124)) || fail "as nobody: expected a non-zero exit, saw status $RC, output '${OUT:0:200}'"
[[ -n "$OUT" ]] || fail "as nobody: expected a message, saw none"
[[ ! -e "$WG_RUN_DIR/$ifn.sock" ]] || fail "as nobody: a socket was left behind"
log "nobody: status $RC: $(tail -1 <<<"$OUT")"
for bad in "z$$toolongname0" "z$$/x"; do
  run_fg "$IMPL_A" -f "$bad"
  ((RC != 0 && RC != 124)) || fail "name '$bad': expected a non-zero exit, saw status $RC, output '${OUT:0:200}'"
  [[ -n "$OUT" ]] || fail "name '$bad': expected a message, saw none"
  log "name '$bad': status $RC: $(tail -1 <<<"$OUT")"
done
leftover=$(ip -n "$NS_a" -br link | grep -v '^lo ' || true)
[[ -z "$leftover" ]] || fail "refused starts left links behind: $leftover"

step "6. --version, --help, no arguments"
run_fg "$IMPL_A" --version
expect_eq "--version exit status (output: ${OUT:0:200})" 0 "$RC"
[[ "$OUT" =~ [0-9]+\.[0-9]+ ]] || fail "--version: expected a version number, saw '${OUT:0:200}'"
log "--version: $(grep -m1 -E '[0-9]+\.[0-9]+' <<<"$OUT")"
if is_reference_go "$IMPL_A"; then
  log "--help not checked: wireguard-go takes it for an interface name"
else
  run_fg "$IMPL_A" --help
  expect_eq "--help exit status (output: ${OUT:0:200})" 0 "$RC"
  grep -qi usage <<<"$OUT" || fail "--help: expected usage text, saw '${OUT:0:200}'"
fi
run_fg "$IMPL_A"
grep -qiE 'usage|--help' <<<"$OUT" || fail "no arguments: expected usage text or a pointer to --help, saw status $RC, '${OUT:0:200}'"
log "no arguments: status $RC: $(head -1 <<<"$OUT")"
leftover=$(ip -n "$NS_a" -br link | grep -v '^lo ' || true)
[[ -z "$leftover" ]] || fail "--version/--help/no arguments created a link: $leftover"
pass
