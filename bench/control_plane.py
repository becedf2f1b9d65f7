#!/usr/bin/env python3
"""control_plane.py — the control node at scale, by simulation.

One real control node (`zlayer-overlay daemon` + `init`) runs in a network
namespace this script creates. N simulated members (default 10,000; no TUN,
no WireGuard: plain HTTP clients in the same namespace) each:
  1. get a token from the control node's local API (DIR/control.sock);
  2. enrol over HTTP from the token's enrolment address, as a real joiner
     does through its tunnel (the addresses live on the namespace's loopback, so
     the control node sees the same source addresses it would see through
     WireGuard);
  3. hold a watch long-poll (GET /v1/watch) on the peer API from the
     member's own overlay address, re-polling at once after each answer.
Then the script makes CHANGES changes (a DNS name registered on the control
node, 2 s apart) and times, for each, how long until every watcher has the
new revision.

Reports: token and join rates, p50/p99/max time for a change to reach all N
watchers, and the control node's RSS and CPU time (joins, idle watch,
changes). Needs root. Everything it creates (namespace, state, sockets) is
removed on exit, also on failure. Traffic stays inside its namespace.

  sudo bench/control_plane.py [--members 10000] [--changes 10]
      [--zlayer-overlay build/tools/zlayer-overlay/zlayer-overlay]
"""

import argparse
import asyncio
import base64
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ENROL_PREFIX = "fdfd:7a6c:656e:726f"
CONTROL_ENROL = ENROL_PREFIX + "::1"
API_PORT = 51880


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, **kw)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def local_call(sock_path, method, path, body=None):
    conn = UnixHTTPConnection(sock_path)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    conn.close()
    if resp.status >= 400:
        raise RuntimeError(f"{method} {path}: {resp.status} {data}")
    return data


def enter_netns(name):
    """Moves this thread (the asyncio one) into namespace `name`."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns({name})")
    finally:
        os.close(fd)


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def enrol_address(token_id):
    return f"{ENROL_PREFIX}:{token_id[0:4]}:{token_id[4:8]}:{token_id[8:12]}:{token_id[12:16]}"


async def http_request(reader, writer, method, path, body=None):
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n"
    if payload:
        head += "Content-Type: application/json\r\n"
    writer.write(head.encode() + b"\r\n" + payload)
    await writer.drain()
    return await read_response(reader)


async def read_response(reader):
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def enrol(sem, token, index):
    async with sem:
        reader, writer = await asyncio.open_connection(
            CONTROL_ENROL, API_PORT, local_addr=(enrol_address(token["id"]), 0))
        try:
            key = base64.b64encode(os.urandom(32)).decode()
            status, body = await http_request(reader, writer, "POST", "/v1/enrol", {
                "token_id": token["id"], "name": f"sim{index}", "public_key": key})
            if status != 200:
                raise RuntimeError(f"enrol sim{index}: {status} {body[:200]}")
            return json.loads(body)["member"]
        finally:
            writer.close()


class Watcher:
    def __init__(self, member, control_address):
        self.address = member["subnet4"].split("/")[0].rsplit(".", 1)[0] + ".1"
        self.control = control_address
        self.revision = 0
        self.seen = {}  # revision -> time it arrived
        self.errors = 0

    async def run(self, start_revision, stop):
        self.revision = start_revision
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(
                    self.control, API_PORT, local_addr=(self.address, 0))
            except OSError:
                self.errors += 1
                await asyncio.sleep(0.5)
                continue
            try:
                while not stop.is_set():
                    status, body = await http_request(
                        reader, writer, "GET", f"/v1/watch?since={self.revision}&timeout=55")
                    now = time.monotonic()
                    if status != 200:
                        self.errors += 1
                        await asyncio.sleep(0.5)
                        continue
                    delta = json.loads(body)
                    if delta["revision"] > self.revision:
                        self.revision = delta["revision"]
                        self.seen[self.revision] = now
            except (OSError, asyncio.IncompleteReadError):
                self.errors += 1
            finally:
                writer.close()


async def main_async(args, sock_path, pid, control_address):
    report = {"members": args.members}
    # 1. tokens
    t0 = time.monotonic()
    tokens = []
    for i in range(args.members):
        tokens.append(local_call(sock_path, "POST", "/v1/tokens", {"ttl_seconds": 3600}))
        if (i + 1) % 1000 == 0:
            print(f"  tokens: {i + 1}/{args.members} ({time.monotonic() - t0:.1f} s)", flush=True)
    report["token_rate_per_s"] = args.members / (time.monotonic() - t0)

    # Enrolment and member addresses on the namespace's loopback.
    batch = "".join(f"addr add {enrol_address(t['id'])}/128 dev lo nodad\n" for t in tokens)
    batch += "".join(
        f"addr add {t['subnet4'].split('/')[0].rsplit('.', 1)[0]}.1/32 dev lo\n" for t in tokens)
    sh("ip", "netns", "exec", args.ns, "ip", "-batch", "-", input=batch.encode())

    # 2. joins, 64 in flight
    cpu0 = proc_cpu_seconds(pid)
    t0 = time.monotonic()
    sem = asyncio.Semaphore(64)
    members = []
    for start in range(0, len(tokens), 1000):
        chunk = tokens[start:start + 1000]
        members += await asyncio.gather(*(enrol(sem, t, start + i) for i, t in enumerate(chunk)))
        print(f"  joins: {len(members)}/{args.members} ({time.monotonic() - t0:.1f} s)", flush=True)
    join_seconds = time.monotonic() - t0
    report["join_rate_per_s"] = args.members / join_seconds
    report["control_cpu_s_joins"] = proc_cpu_seconds(pid) - cpu0
    report["control_rss_mb_after_joins"] = proc_rss_mb(pid)

    # 3. watchers
    status = local_call(sock_path, "GET", "/v1/status")
    revision = status["revision"]
    stop = asyncio.Event()
    watchers = [Watcher(m, control_address) for m in members]
    tasks = [asyncio.create_task(w.run(revision, stop)) for w in watchers]
    await asyncio.sleep(min(30, 5 + args.members / 1000))  # let every watch park
    cpu0 = proc_cpu_seconds(pid)
    await asyncio.sleep(5)
    report["control_cpu_s_per_s_idle_watch"] = (proc_cpu_seconds(pid) - cpu0) / 5
    report["control_rss_mb_watching"] = proc_rss_mb(pid)

    # 4. changes
    latencies_all = []
    latencies_p50 = []
    cpu0 = proc_cpu_seconds(pid)
    for k in range(args.changes):
        before = max(w.revision for w in watchers)
        t_change = time.monotonic()
        # The local API's answer comes after the store commit.
        await asyncio.to_thread(local_call, sock_path, "POST", "/v1/names",
                                {"name": f"bench-{k}", "address": control_address})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(any(r > before for r in w.seen) for w in watchers):
                break
            await asyncio.sleep(0.05)
        lat = []
        for w in watchers:
            got = [t for r, t in w.seen.items() if r > before]
            lat.append((min(got) - t_change) if got else float("inf"))
        lat.sort()
        reached = sum(1 for x in lat if x != float("inf"))
        latencies_all.append(lat[-1])
        latencies_p50.append(lat[len(lat) // 2])
        print(f"  change {k + 1}: all {reached}/{len(lat)} watchers in {lat[-1] * 1000:.0f} ms "
              f"(p50 {lat[len(lat) // 2] * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms)",
              flush=True)
        await asyncio.sleep(2)
    report["control_cpu_s_changes"] = proc_cpu_seconds(pid) - cpu0
    all_sorted = sorted(latencies_all)
    report["change_to_all_watchers_ms_p50"] = statistics.median(all_sorted) * 1000
    report["change_to_all_watchers_ms_max"] = all_sorted[-1] * 1000
    report["change_to_half_watchers_ms_p50"] = statistics.median(latencies_p50) * 1000
    report["watch_errors"] = sum(w.errors for w in watchers)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=10000)
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--zlayer-overlay", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "tools", "zlayer-overlay",
        "zlayer-overlay"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("control_plane.py: needs root (network namespace, TUN)")
    zo = os.path.abspath(args.zlayer_overlay)
    if not os.access(zo, os.X_OK):
        sys.exit(f"control_plane.py: {zo} not found; build it first")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.members + 1000:
        sys.exit(f"control_plane.py: the open-file limit ({hard}) is too low for {args.members} members")

    # SIGTERM/SIGINT end the run through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.ns = f"zlb-{os.getpid()}-ctl"
    ifname = f"zb{os.getpid()}c"[:15]
    tmp = tempfile.mkdtemp(prefix="zlayer-cp-bench.")
    daemon = None
    try:
        sh("ip", "netns", "add", args.ns)
        sh("ip", "-n", args.ns, "link", "set", "lo", "up")
        state = os.path.join(tmp, "ctl")
        log = open(os.path.join(tmp, "ctl.log"), "w")
        daemon = subprocess.Popen(
            ["ip", "netns", "exec", args.ns, zo, "--state-dir", state, "daemon",
             "--interface", ifname], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        sock_path = os.path.join(state, "control.sock")
        for _ in range(100):
            if os.path.exists(sock_path):
                try:
                    local_call(sock_path, "GET", "/v1/status")
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        else:
            sys.exit("control_plane.py: the daemon did not start")
        # The daemon's own pid (ip netns exec execs it).
        pid = daemon.pid
        cidr = "10.64.0.0/10" if args.members > 250 else "10.200.0.0/16"
        local_call(sock_path, "POST", "/v1/init",
                   {"name": "ctl", "cidr": cidr, "endpoint": "127.0.0.1:51820"})
        control_address = local_call(sock_path, "GET", "/v1/status")["address"]
        rss0 = proc_rss_mb(pid)
        print(f"control node up ({control_address}), RSS {rss0:.1f} MB; {args.members} members",
              flush=True)
        # Every simulated client connects from inside the namespace.
        enter_netns(args.ns)
        report = asyncio.run(main_async(args, sock_path, pid, control_address))
        report["control_rss_mb_start"] = rss0
        print("\nsummary")
        for k, v in report.items():
            print(f"  {k:36} {v:.2f}" if isinstance(v, float) else f"  {k:36} {v}")
        print("JSON " + json.dumps(report))
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
        sh("ip", "netns", "del", args.ns, check=False)
        try:
            os.unlink(f"/var/run/wireguard/{ifname}.sock")
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
