#!/usr/bin/env python3
"""bench/overlay_mesh.py — the measuring half of bench/overlay_mesh.sh.

The shell script builds the namespaces and starts one `zlayer-overlay daemon`
per node; this program drives them through their local APIs (HTTP+JSON on each
node's DIR/control.sock, the same calls the CLI makes; unix sockets, so no
traffic leaves a namespace) and reads their devices through the UAPI sockets
(/var/run/wireguard/IF.sock, what `wg show` reads). It writes one JSON document
with every figure and sample.

    overlay_mesh.py NODES_TSV OUT_JSON

NODES_TSV: one line per node, "tag role sock uapi pid underlay_ip", the
control node first. Knobs from the environment (see overlay_mesh.sh).
Every wait has a deadline; a missed one is a clear error and exit 1.
"""

import base64
import http.client
import json
import os
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

JOIN_PARALLEL = int(os.environ.get("JOIN_PARALLEL", "0"))
CHANGES = int(os.environ.get("CHANGES", "20"))
LEAVES = int(os.environ.get("LEAVES", "5"))
IDLE_SECONDS = float(os.environ.get("IDLE_SECONDS", "10"))
MESH_TIMEOUT = float(os.environ.get("MESH_TIMEOUT", "180"))
HEALTH_TIMEOUT = float(os.environ.get("HEALTH_TIMEOUT", "30"))
CHANGE_TIMEOUT = float(os.environ.get("CHANGE_TIMEOUT", "15"))
POLL = float(os.environ.get("POLL_INTERVAL", "0.25"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def fail(msg):
    print("[overlay_mesh] FAIL: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def log(msg):
    print("[overlay_mesh] %s" % msg, flush=True)


# ---------------------------------------------------------------- clients --

class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def api(sock, method, path, body=None, timeout=30.0):
    """One local-API call: (status, json). Raises OSError on transport errors."""
    c = _UnixConnection(sock, timeout)
    try:
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        try:
            j = json.loads(raw) if raw else {}
        except ValueError:
            j = {"error": raw[:200].decode(errors="replace")}
        return r.status, j
    finally:
        c.close()


def api_ok(sock, method, path, body=None, timeout=30.0, what=""):
    status, j = api(sock, method, path, body, timeout)
    if status >= 300:
        fail("%s %s %s: HTTP %d %s" % (what, method, path, status, j.get("error", j)))
    return j


def uapi_peers(uapi_path, timeout=5.0):
    """{public key (hex): last handshake unix seconds} from the device (get=1)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(uapi_path)
        s.sendall(b"get=1\n\n")
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"\n\n") and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    peers, cur = {}, None
    for line in buf.decode().splitlines():
        k, _, v = line.partition("=")
        if k == "public_key":
            cur = v
            peers[cur] = 0
        elif k == "last_handshake_time_sec" and cur is not None:
            peers[cur] = int(v)
    return peers


def b64_to_hex(k):
    return base64.b64decode(k).hex()


def proc_fields(pid):
    """(utime+stime ticks, VmRSS kB, VmHWM kB) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return ticks, rss, hwm


def syn_retransmits(pid):
    """TCPSynRetrans of the network namespace `pid` lives in."""
    with open("/proc/%d/net/netstat" % pid) as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            d = dict(zip(names.split()[1:], values.split()[1:]))
            return int(d.get("TCPSynRetrans", 0))
    return 0


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    i = max(1, min(len(v), int(len(v) * p / 100.0 + 0.999999)))
    return v[i - 1]


def summary(values):
    if not values:
        return None
    return {"n": len(values), "p50": round(pct(values, 50), 4), "p99": round(pct(values, 99), 4),
            "max": round(max(values), 4), "min": round(min(values), 4)}


# ------------------------------------------------------------------ nodes --

class Node:
    def __init__(self, tag, role, sock, uapi, pid, ip):
        self.tag, self.role, self.sock, self.uapi = tag, role, sock, uapi
        self.pid, self.ip = int(pid), ip
        self.name = "ctl" if role == "control" else tag
        self.endpoint = "%s:51820" % ip
        self.events = []  # (seq, time_ms, type, detail, received_at)
        self.cv = threading.Condition()
        self.last_seq = 0


def read_nodes(path):
    nodes = []
    with open(path) as f:
        for line in f:
            if line.strip():
                nodes.append(Node(*line.split()))
    if not nodes or nodes[0].role != "control":
        fail("%s: the control node must come first" % path)
    return nodes


def wait_ready(nodes, timeout=60.0):
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        still = []
        for n in pending:
            try:
                if api(n.sock, "GET", "/v1/status", timeout=5)[0] != 200:
                    still.append(n)
            except OSError:
                still.append(n)
        pending = still
        if pending:
            time.sleep(0.1)
    if pending:
        fail("daemons not answering after %.0f s: %s" % (timeout, " ".join(n.tag for n in pending)))


# ------------------------------------------------------------- mesh phase --

def mesh_levels(node, want_members, expected_keys_b64, handshaken):
    """Which of the levels hold on `node` now: (members, configured, handshakes,
    healthy). Adds the peers (hex keys) with a completed handshake to the set
    `handshaken`."""
    try:
        status, st = api(node.sock, "GET", "/v1/status", timeout=10)
        peers = uapi_peers(node.uapi)
    except OSError:
        return (False, False, False, False)
    if status != 200 or not st.get("in_overlay"):
        return (False, False, False, False)
    others = expected_keys_b64 - {st.get("public_key")}
    handshaken.update(k for k, t in peers.items() if t > 0)
    members = st.get("members") == want_members
    configured = members and all(b64_to_hex(k) in peers for k in others)
    handshakes = configured and all(peers.get(b64_to_hex(k), 0) > 0 for k in others)
    healthy = handshakes and all(p.get("health") == "up" for p in st.get("peers", [])) and \
        len(st.get("peers", [])) == len(others)
    return (members, configured, handshakes, healthy)


def diagnose(node):
    """A one-line view of a node, for a failed wait."""
    try:
        _, st = api(node.sock, "GET", "/v1/status", timeout=10)
        peers = uapi_peers(node.uapi)
    except OSError as e:
        return "unreachable: %s" % e
    health = {}
    for p in st.get("peers", []):
        health[p.get("health")] = health.get(p.get("health"), 0) + 1
    return "members=%s revision=%s control_reachable=%s health=%s device_peers=%d with_handshake=%d" % (
        st.get("members"), st.get("revision"), st.get("control", {}).get("reachable"), health,
        len(peers), sum(1 for v in peers.values() if v > 0))


def mesh_phase(nodes, ctl, expected_keys):
    members = nodes[1:]
    n_total = len(nodes)
    tokens = []
    t_tok = time.monotonic()
    for _ in members:
        j = api_ok(ctl.sock, "POST", "/v1/tokens", {"ttl_seconds": 900}, what="token create")
        tokens.append(j["token"])
    token_s = time.monotonic() - t_tok
    log("%d tokens in %.2f s; starting %d joins (%s at a time)" %
        (len(tokens), token_s, len(members), JOIN_PARALLEL or "all"))

    join_times = {}
    join_errors = []

    def join(i):
        n = members[i]
        t = time.monotonic()
        try:
            status, j = api(n.sock, "POST", "/v1/join",
                            {"token": tokens[i], "name": n.name, "endpoint": n.endpoint}, timeout=90)
        except OSError as e:
            status, j = 0, {"error": str(e)}
        join_times[n.tag] = time.monotonic() - t
        if status != 200:
            join_errors.append("%s: HTTP %d %s" % (n.tag, status, j.get("error", j)))

    syn0 = {n.tag: syn_retransmits(n.pid) for n in members}
    ticks0 = sum(proc_fields(n.pid)[0] for n in nodes)
    ctl_ticks0 = proc_fields(ctl.pid)[0]
    t0 = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=JOIN_PARALLEL or len(members))
    futures = [pool.submit(join, i) for i in range(len(members))]

    # Poll every node for the four levels while the joins run; record when
    # each node first meets each level (seconds after t0).
    first = {n.tag: [None, None, None, None] for n in nodes}
    pair_first = {}  # (node, peer key hex) -> first poll that saw a handshake
    deadline = t0 + MESH_TIMEOUT
    joins_done_at = None
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        if joins_done_at is None and all(f.done() for f in futures):
            joins_done_at = round(time.monotonic() - t0, 3)
            if join_errors:
                pool.shutdown(wait=True)
                fail("%d of %d joins failed: %s" % (len(join_errors), len(members), "; ".join(join_errors[:5])))
            log("all joins returned after %.2f s" % joins_done_at)
        for n in nodes:
            f = first[n.tag]
            if f[3] is not None:
                continue
            seen = set()
            lv = mesh_levels(n, n_total, expected_keys, seen)
            now = time.monotonic() - t0
            for k in seen:
                pair_first.setdefault((n.tag, k), now)
            for i in range(4):
                if lv[i] and f[i] is None:
                    f[i] = now
        if all(first[n.tag][3] is not None for n in nodes):
            break
        if all(first[n.tag][2] is not None for n in nodes) and \
                time.monotonic() - t0 > max(first[n.tag][2] for n in nodes) + HEALTH_TIMEOUT:
            break
        time.sleep(POLL)
    pool.shutdown(wait=True)
    if join_errors:
        fail("%d of %d joins failed: %s" % (len(join_errors), len(members), "; ".join(join_errors[:5])))
    if joins_done_at is None:
        joins_done_at = round(time.monotonic() - t0, 3)
    # Joins that needed a TCP SYN retransmission (1 s initial RTO) through
    # the enrolment tunnel, and how long those joins took.
    syn = {n.tag: syn_retransmits(n.pid) - syn0[n.tag] for n in members}
    slow = sorted(round(join_times[t], 2) for t, v in syn.items() if v > 0)
    ticks1 = sum(proc_fields(n.pid)[0] for n in nodes)
    ctl_ticks1 = proc_fields(ctl.pid)[0]
    names = ["members", "configured", "handshakes", "healthy"]
    result = {"tokens_s": round(token_s, 3), "joins_returned_s": joins_done_at,
              "joins_with_syn_retransmit": len(slow), "their_join_call_s": slow[:10],
              "join_call_s_without": summary([join_times[t] for t, v in syn.items() if v == 0]),
              "join_call_s": summary(list(join_times.values())), "poll_rounds": rounds}
    for i, name in enumerate(names):
        vals = [first[n.tag][i] for n in nodes]
        missing = [n.tag for n in nodes if first[n.tag][i] is None]
        result["all_" + name + "_s"] = None if missing else round(max(vals), 3)
        if missing:
            result["missing_" + name] = missing
    if result["all_handshakes_s"] is None:
        for n in nodes[:1] + [n for n in nodes if first[n.tag][2] is None][:6]:
            log("diagnosis %s: %s" % (n.tag, diagnose(n)))
        fail("no full mesh within %.0f s: %s" % (MESH_TIMEOUT, json.dumps(
            {k: v for k, v in result.items() if k.startswith("missing")})[:800]))
    # When each directed pair (node, member peer) was first seen with a
    # handshake: the retry pattern of the handshakes shows in the histogram.
    member_hex = {b64_to_hex(k) for k in expected_keys}
    pair_times = [t for (tag, k), t in pair_first.items() if k in member_hex]
    result["pair_handshake_s"] = summary(pair_times)
    if pair_times:
        hist = {}
        for t in pair_times:
            hist[int(t)] = hist.get(int(t), 0) + 1
        result["pair_handshake_histogram_1s"] = {str(k): hist[k] for k in sorted(hist)}
    result["cpu_s_all_daemons"] = round((ticks1 - ticks0) / CLK_TCK, 2)
    result["cpu_s_control"] = round((ctl_ticks1 - ctl_ticks0) / CLK_TCK, 2)
    return result


# --------------------------------------------------- memory and idle CPU --

def memory(nodes):
    ctl = proc_fields(nodes[0].pid)
    mem = [proc_fields(n.pid) for n in nodes[1:]]
    return {"control_rss_kb": ctl[1], "control_hwm_kb": ctl[2],
            "member_rss_kb_median": statistics.median(m[1] for m in mem),
            "member_rss_kb_max": max(m[1] for m in mem),
            "member_hwm_kb_max": max(m[2] for m in mem)}


def idle_cpu(nodes):
    t0 = [proc_fields(n.pid)[0] for n in nodes]
    w0 = time.monotonic()
    time.sleep(IDLE_SECONDS)
    t1 = [proc_fields(n.pid)[0] for n in nodes]
    dt = time.monotonic() - w0
    per = [(b - a) / CLK_TCK / dt * 100.0 for a, b in zip(t0, t1)]
    return {"seconds": round(dt, 1), "control_cpu_pct": round(per[0], 2),
            "member_cpu_pct_median": round(statistics.median(per[1:]), 2),
            "member_cpu_pct_max": round(max(per[1:]), 2), "all_cpu_pct": round(sum(per), 1)}


# -------------------------------------------------------- change phase --

def stream_events(node, stop):
    """Long-polls node's events (bounded by `stop` and each call's timeout)."""
    since = node.last_seq
    while not stop.is_set():
        try:
            status, j = api(node.sock, "GET", "/v1/events?since=%d&timeout=5" % since, timeout=20)
        except OSError:
            time.sleep(0.2)
            continue
        if status != 200:
            time.sleep(0.2)
            continue
        now = time.time()
        with node.cv:
            for e in j.get("events", []):
                if e["seq"] > since:
                    node.events.append((e["seq"], e["time_ms"], e["type"], e.get("detail", {}), now))
                    since = e["seq"]
            node.cv.notify_all()


def find_event(node, after_seq, etype, name):
    for seq, tms, t, d, _ in node.events:
        if seq > after_seq and t == etype and d.get("name") == name:
            return tms / 1000.0
    return None


def one_change(nodes, label, etype, name, action, exclude=None):
    """Runs `action` (returns nothing); waits until every node but `exclude`
    logged (etype, name); returns the per-node delays (s) from the start."""
    watch = [n for n in nodes if n is not exclude]
    marks = {}
    for n in watch:
        with n.cv:
            marks[n.tag] = n.events[-1][0] if n.events else n.last_seq
    t0 = time.time()
    action()
    deadline = time.monotonic() + CHANGE_TIMEOUT
    got = {}
    for n in watch:
        with n.cv:
            while True:
                t = find_event(n, marks[n.tag], etype, name)
                if t is not None or time.monotonic() >= deadline:
                    break
                n.cv.wait(timeout=max(0.01, deadline - time.monotonic()))
        if t is None:
            fail("%s: %s never saw %s %s within %.0f s" % (label, n.tag, etype, name, CHANGE_TIMEOUT))
        got[n.tag] = t - t0
    ctl_t = got.get(nodes[0].tag)
    delays = {tag: round(d, 4) for tag, d in got.items()}
    fanout = None
    if ctl_t is not None:
        fanout = max(d for tag, d in got.items() if tag != nodes[0].tag) - ctl_t
    return {"label": label, "all_s": round(max(got.values()), 4),
            "fanout_s": None if fanout is None else round(fanout, 4), "delays": delays}


def change_phase(nodes):
    ctl = nodes[0]
    members = nodes[1:]
    ctl_addr = api_ok(ctl.sock, "GET", "/v1/status")["address"]
    for n in nodes:
        n.last_seq = api_ok(n.sock, "GET", "/v1/events?since=0&timeout=0")["last_seq"]
    stop = threading.Event()
    threads = [threading.Thread(target=stream_events, args=(n, stop), daemon=True) for n in nodes]
    for t in threads:
        t.start()
    time.sleep(0.5)  # every stream has parked its first long poll
    names, joins_leaves = [], []
    try:
        for k in range(CHANGES):
            name = "bench%d" % (k // 2)
            if k % 2 == 0:
                r = one_change(nodes, "register " + name, "name-registered", name,
                               lambda: api_ok(ctl.sock, "POST", "/v1/names",
                                              {"name": name, "address": ctl_addr}, what="dns register"))
            else:
                r = one_change(nodes, "unregister " + name, "name-removed", name,
                               lambda: api_ok(ctl.sock, "DELETE", "/v1/names/" + name, what="dns unregister"))
            names.append(r)
            time.sleep(0.3)
        for j in range(min(LEAVES, len(members))):
            m = members[(j * 7) % len(members)]
            r = one_change(nodes, "leave " + m.name, "member-left", m.name,
                           lambda: api_ok(m.sock, "POST", "/v1/leave", {}, what="leave " + m.tag), exclude=m)
            joins_leaves.append(r)
            time.sleep(0.3)
            token = api_ok(ctl.sock, "POST", "/v1/tokens", {"ttl_seconds": 600}, what="token")["token"]
            r = one_change(nodes, "rejoin " + m.name, "member-joined", m.name,
                           lambda: api_ok(m.sock, "POST", "/v1/join",
                                          {"token": token, "name": m.name, "endpoint": m.endpoint},
                                          timeout=90, what="rejoin " + m.tag), exclude=m)
            joins_leaves.append(r)
            time.sleep(0.3)
    finally:
        stop.set()
    for t in threads:
        t.join(timeout=25)

    def agg(rs):
        if not rs:
            return None
        per_node = [d for r in rs for d in r["delays"].values()]
        fan = [r["fanout_s"] for r in rs if r["fanout_s"] is not None]
        return {"changes": len(rs), "reach_all_s": summary([r["all_s"] for r in rs]),
                "per_node_s": summary(per_node), "fanout_after_control_s": summary(fan)}
    return {"names": agg(names), "membership": agg(joins_leaves),
            "samples": [{k: v for k, v in r.items() if k != "delays"} for r in names + joins_leaves]}


# ------------------------------------------------------------------- main --

def main():
    if len(sys.argv) != 3:
        fail("usage: overlay_mesh.py NODES_TSV OUT_JSON")
    nodes = read_nodes(sys.argv[1])
    ctl = nodes[0]
    t_start = time.monotonic()
    wait_ready(nodes)
    log("%d daemons answering after %.2f s" % (len(nodes), time.monotonic() - t_start))
    rss_start = memory(nodes)
    api_ok(ctl.sock, "POST", "/v1/init", {"name": "ctl", "cidr": "10.200.0.0/16", "cidr6": "fd42:0:0::/48",
                                          "endpoint": ctl.endpoint}, what="init")
    keys = {api_ok(n.sock, "GET", "/v1/status", what=n.tag)["public_key"] for n in nodes}
    mesh = mesh_phase(nodes, ctl, keys)
    log("full mesh: %s" % json.dumps(mesh))
    idle = idle_cpu(nodes)
    log("idle: %s" % json.dumps(idle))
    rss_mesh = memory(nodes)
    changes = change_phase(nodes)
    rss_end = memory(nodes)
    out = {"nodes": len(nodes) - 1, "join_parallel": JOIN_PARALLEL or len(nodes) - 1,
           "mesh": mesh, "idle": idle, "rss_before_init": rss_start, "rss_full_mesh": rss_mesh,
           "rss_end": rss_end, "changes": changes}
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
