#!/usr/bin/env python3
"""The "Windows host" behind zlayer-wg.exe in the end-to-end test (e2e.sh).

The Wintun test double's tap (tests/wintun_double, ZL_WINTUN_DOUBLE_TAP)
forwards each packet zlayer-wg.exe writes to the adapter to this driver as one
UDP datagram, and injects each datagram the driver sends it into the
adapter's receive ring, as if the Windows stack had sent that IP packet.

    tap_driver.py --listen 127.0.0.1:PORT --local 10.77.0.2 --remote 10.77.0.1
                  [--ping N] [--answer-pings SECONDS]

1. Waits (60 s) for the double's hello datagram, which gives its address;
   with --go-when FILE, then waits (60 s) for FILE to exist (the program is
   configured) before going on.
2. --ping N: sends N ICMP echo requests LOCAL -> REMOTE into the adapter and
   requires each echo reply to come back out of it (5 s each).
3. --answer-pings S: for S seconds answers every echo request for LOCAL that
   comes out of the adapter, so `ping LOCAL` on the Linux side works; prints
   how many it answered and fails if none.
4. --remove-when FILE: once FILE exists (waiting at most 60 s), tells the
   double to remove the adapter ("zl-wintun-double-remove"), as a device
   removal, and requires the tap's goodbye ("zl-wintun-double-tap-bye", sent
   when the program ends its Wintun session) within 15 s.
Prints one line per step; exit status 0 only if every step passed.
"""

import argparse
import os
import socket
import struct
import sys
import time

HELLO = b"zl-wintun-double-tap"
BYE = b"zl-wintun-double-tap-bye"
REMOVE = b"zl-wintun-double-remove"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_packet(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def icmp_echo(kind: int, ident: int, seq: int, data: bytes) -> bytes:
    msg = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + data
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


def parse_icmp(packet: bytes):
    """(src, dst, type, ident, seq, data) of an IPv4 ICMP echo, else None."""
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != 1:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if checksum(packet[:ihl]) != 0:
        return None
    total = struct.unpack("!H", packet[2:4])[0]
    icmp = packet[ihl:total]
    if len(icmp) < 8 or checksum(icmp) != 0:
        return None
    kind, _, _, ident, seq = struct.unpack("!BBHHH", icmp[:8])
    return (socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20]), kind, ident, seq,
            icmp[8:])


def wait_for_file(path: str) -> bool:
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            print("tap_driver: %s did not appear within 60 s" % path)
            return False
        time.sleep(0.1)
    return True


def endpoint(text: str):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--remote", required=True)
    ap.add_argument("--ping", type=int, default=0)
    ap.add_argument("--answer-pings", type=float, default=0)
    ap.add_argument("--remove-when")
    ap.add_argument("--go-when")
    ap.add_argument("--ready-file", help="created once the socket is bound")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(endpoint(args.listen))
    if args.ready_file:
        open(args.ready_file, "w").close()
    sock.settimeout(60)
    try:
        hello, double = sock.recvfrom(65535)
    except socket.timeout:
        print("tap_driver: no hello from the Wintun double's tap within 60 s")
        return 1
    if hello != HELLO:
        print("tap_driver: unexpected first datagram %r" % hello[:32])
        return 1
    print("tap_driver: the double's tap is at %s:%d" % double)
    sys.stdout.flush()
    if args.go_when and not wait_for_file(args.go_when):
        return 1

    ident = os.getpid() & 0xFFFF
    for seq in range(1, args.ping + 1):
        data = b"zlayer-e2e-%d" % seq
        sock.sendto(ipv4_packet(args.local, args.remote, 1, icmp_echo(8, ident, seq, data), seq),
                    double)
        deadline = time.monotonic() + 5
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                print("tap_driver: no echo reply for seq %d within 5 s" % seq)
                return 1
            sock.settimeout(left)
            try:
                packet, _ = sock.recvfrom(65535)
            except socket.timeout:
                continue
            icmp = parse_icmp(packet)
            if icmp and icmp[0] == args.remote and icmp[1] == args.local and icmp[2] == 0 \
                    and icmp[3] == ident and icmp[4] == seq and icmp[5] == data:
                print("tap_driver: echo reply %d from %s came out of the adapter" % (seq, args.remote))
                sys.stdout.flush()
                break

    if args.answer_pings > 0:
        answered = 0
        deadline = time.monotonic() + args.answer_pings
        print("tap_driver: answering pings for %s for %.0f s" % (args.local, args.answer_pings))
        sys.stdout.flush()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                packet, _ = sock.recvfrom(65535)
            except socket.timeout:
                break
            icmp = parse_icmp(packet)
            if icmp and icmp[1] == args.local and icmp[2] == 8:
                reply = icmp_echo(0, icmp[3], icmp[4], icmp[5])
                sock.sendto(ipv4_packet(args.local, icmp[0], 1, reply, 1000 + answered), double)
                answered += 1
        print("tap_driver: answered %d echo requests" % answered)
        sys.stdout.flush()
        if answered == 0:
            return 1

    if args.remove_when:
        if not wait_for_file(args.remove_when):
            return 1
        sock.sendto(REMOVE, double)
        print("tap_driver: asked the double to remove the adapter")
        sys.stdout.flush()
        deadline = time.monotonic() + 15
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                print("tap_driver: no goodbye from the tap within 15 s of the removal")
                return 1
            sock.settimeout(left)
            try:
                packet, _ = sock.recvfrom(65535)
            except socket.timeout:
                continue
            if packet == BYE:
                print("tap_driver: the program ended its Wintun session")
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
