#!/usr/bin/env python3
"""The report of bench/tunnel.sh: medians of its samples, the goals of issue 11
with their verdicts, as a markdown table on stdout and a JSON document.

Input (--results): one sample a line, "LABEL KEY VALUE", LABEL being an
implementation's name or "veth". --failed: "LABEL FIGURE" lines of figures
that failed in some round. --profile: the perf summary text.
"""
import argparse
import json
import statistics
import sys


def medians(path):
    samples = {}
    for line in open(path):
        f = line.split()
        if len(f) != 3:
            continue
        try:
            v = float(f[2])
        except ValueError:
            continue
        samples.setdefault(f[0], {}).setdefault(f[1], []).append(v)
    med = {label: {k: round(statistics.median(vs), 3) for k, vs in keys.items()} for label, keys in samples.items()}
    return samples, med


def fmt(v, digits=None):
    if v is None:
        return "—"
    if digits is not None:
        return f"{v:,.{digits}f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--failed", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--hs-mode", default="not run")
    ap.add_argument("--max-rss-mb", type=float, default=200)
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--json", required=True)
    args = ap.parse_args()

    samples, med = medians(args.results)
    a, b = args.a, args.b
    A, B, V = med.get(a, {}), med.get(b, {}), med.get("veth", {})
    params = dict(p.split("=", 1) for p in args.param)

    def ratio(x, y):
        return round(x / y, 3) if x is not None and y else None

    def share(label_med):
        t, v = label_med.get("tcp1_mbps"), V.get("tcp1_mbps")
        return round(100 * t / v, 1) if t is not None and v else None

    A_share, B_share = share(A), share(B)
    hs1, hs2 = A.get("hs_1core_per_s"), A.get("hs_2core_per_s")
    max_rss = args.max_rss_mb

    def check(value, test):
        return None if value is None else bool(test(value))

    # figure, key (for a/b), a value, b value, ratio, goal text, verdict
    rows = []

    def row(figure, key, goal, verdict, a_val=None, b_val=None, r="auto", digits=None):
        av = A.get(key) if key else a_val
        bv = B.get(key) if key else b_val
        rv = ratio(av, bv) if r == "auto" else r
        rows.append({"figure": figure, "key": key, a: av, b: bv, "ratio": rv, "goal": goal,
                     "met": verdict(av, bv, rv) if verdict else None, "digits": digits})

    row("TCP 1 stream (Mbit/s)", "tcp1_mbps", "≥ 5× wireguard-go", lambda av, bv, rv: check(rv, lambda x: x >= 5))
    row(f"TCP 1 stream, share of veth ({fmt(V.get('tcp1_mbps'))} Mbit/s) (%)", None, "≥ 25 %",
        lambda av, bv, rv: check(av, lambda x: x >= 25), a_val=A_share, b_val=B_share, r=None, digits=1)
    row("TCP 4 streams (Mbit/s)", "tcp4_mbps", "≥ 5× wireguard-go", lambda av, bv, rv: check(rv, lambda x: x >= 5))
    row("CPU per GB carried, both daemons, tcp1 (core·s/GB)", "cpu_core_s_per_gb", "≤ 5",
        lambda av, bv, rv: check(av, lambda x: x <= 5))
    row(f"idle latency avg, {params.get('pings', '?')} pings (ms)", "rtt_avg_ms", "≤ 0.3",
        lambda av, bv, rv: check(av, lambda x: x <= 0.3))
    row("idle latency p99 (ms)", "rtt_p99_ms", "≤ 1", lambda av, bv, rv: check(av, lambda x: x <= 1))
    row("latency under a TCP stream, avg (ms)", "loaded_rtt_avg_ms", "—", None)
    row("latency under a TCP stream, p99 (ms)", "loaded_rtt_p99_ms", "≤ wireguard-go's",
        lambda av, bv, rv: check(rv, lambda x: x <= 1))
    row(f"UDP at {params.get('udp_rate', '?')}bit/s: receiver loss (%)", "udp_loss_pct", "< 0.5 %",
        lambda av, bv, rv: check(av, lambda x: x < 0.5))
    row("UDP: received (Mbit/s)", "udp_mbps", "—", None)
    row("  UDP lost at the sender's TUN queue (% of sent)", "udp_lost_tun_pct", "—", None)
    row("  UDP lost at the receiver's tunnel socket (% of sent)", "udp_lost_tunnel_socket_pct", "—", None)
    row("  UDP lost at the receiving iperf3's socket (% of sent)", "udp_lost_app_socket_pct", "—", None)
    row(f"UDP, iperf3 -w {params.get('udp_window', '?')}: receiver loss (%)", "udp_w_loss_pct", "(< 0.5 %)",
        lambda av, bv, rv: check(av, lambda x: x < 0.5))
    row("  UDP -w: lost at the sender's TUN queue (% of sent)", "udp_w_lost_tun_pct", "—", None)
    row("  UDP -w: lost at the receiver's tunnel socket (% of sent)", "udp_w_lost_tunnel_socket_pct", "—", None)
    row("  UDP -w: lost at the receiving iperf3's socket (% of sent)", "udp_w_lost_app_socket_pct", "—", None)
    row("peak RSS, start + TCP figures (MiB)", "rss_tcp_mib", f"bounded (< {max_rss:g} MiB)",
        lambda av, bv, rv: check(av, lambda x: x < max_rss))
    row("peak RSS under a non-peer UDP junk flood (MiB)", "rss_udpflood_mib", f"bounded (< {max_rss:g} MiB)",
        lambda av, bv, rv: check(av, lambda x: x < max_rss))
    row("  junk flood rate achieved (datagrams/s)", "junk_flood_pps", "—", None)
    row(f"handshake flood: ping loss, {params.get('flood_pings', '?')} pings (%)", "hsflood_loss_pct", "≤ 5 %",
        lambda av, bv, rv: check(av, lambda x: x <= 5))
    row("  handshake flood rate achieved (initiations/s)", "hsflood_rate_pps", "one core's worth (~400k/s)", None)
    row(f"handshakes/s, 1 core (wg_bench, {args.hs_mode})", None, "—", None, a_val=hs1, r=None)
    row("handshakes/s, 2 cores; ratio = 2 cores / 1 core", None, "≥ 1.8× one core",
        lambda av, bv, rv: check(rv, lambda x: x >= 1.8), a_val=hs2, r=ratio(hs2, hs1))

    def verdict(m):
        return "—" if m is None else ("yes" if m else "**no**")

    out = []
    out.append(f"\n| median of {params.get('runs', '?')} runs | {a} | {b} | {a} / {b} | goal | met? |")
    out.append("|---|---:|---:|---:|---|---|")
    for r in rows:
        out.append(f"| {r['figure']} | {fmt(r[a], r['digits'])} | {fmt(r[b], r['digits'])} | {fmt(r['ratio'])} | {r['goal']} | {verdict(r['met'])} |")
    out.append("")
    out.append("| plain veth, no tunnel (the ceiling) | median |")
    out.append("|---|---:|")
    for k, n in [("tcp1_mbps", "TCP 1 stream (Mbit/s)"), ("tcp4_mbps", "TCP 4 streams (Mbit/s)"),
                 ("rtt_avg_ms", "ping RTT avg (ms)"), ("rtt_p99_ms", "ping RTT p99 (ms)")]:
        out.append(f"| {n} | {fmt(V.get(k))} |")
    failed = sorted({line.strip() for line in open(args.failed) if line.strip()})
    if failed:
        out.append("")
        out.append("Figures that failed in at least one round (their medians, if any, are over fewer runs): "
                   + "; ".join(failed))
    out.append("")
    out.append("perf profile:")
    profile = open(args.profile).read().rstrip("\n").splitlines()
    out.extend("    " + line for line in profile)
    print("\n".join(out))

    doc = {"params": params, "median": med, "goals": rows, "tcp1_share_of_veth_pct": {a: A_share, b: B_share},
           "handshake_mode": args.hs_mode, "failed": failed, "profile": profile, "samples": samples}
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
