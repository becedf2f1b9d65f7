#!/usr/bin/env python3
"""The UAPI conversations that record.sh plays against wireguard-go.

  scenarios.py list                         names of the scenarios
  scenarios.py record NAME SOCKET VERSION   plays NAME on SOCKET, prints the
                                            transcript (format: record.sh)

Keys are fixed made-up values, not secrets of anything.
"""

import select
import socket
import sys
import time

# A private key whose first and last bytes need clamping (0xa7 -> 0xa0,
# 0xff -> 0x7f): wireguard-go reports it clamped.
DEV_PRIV = "a7" + "11" * 30 + "ff"
PEER_A = "0a" * 31 + "01"
PEER_B = "0b" * 31 + "02"
PEER_C = "0c" * 31 + "03"
PEER_D = "0d" * 31 + "04"
PSK_A = "5a" * 32
PSK_B = "5b" * 32
ZERO = "00" * 32


def tx(*lines, eof=False, raw=None):
    """One transaction: lines joined by "\n" (each line gets its "\n")."""
    if raw is not None:
        return (raw, eof)
    return ("".join(l + "\n" for l in lines).encode("latin-1"), eof)


def sett(*lines, eof=False):
    """A set transaction with its terminating blank line."""
    return tx("set=1", *lines, "", eof=eof)


GET = tx("get=1", "")

PEER_A_FULL = [
    "public_key=" + PEER_A,
    "preshared_key=" + PSK_A,
    "endpoint=192.0.2.1:51820",
    "persistent_keepalive_interval=25",
    "allowed_ip=10.0.0.1/24",  # host bits set: reported masked
    "allowed_ip=10.1.0.0/16",
    "allowed_ip=fd00::1/128",
]
PEER_B_FULL = [
    "public_key=" + PEER_B.upper(),  # hex in either case
    "preshared_key=" + PSK_B,
    "endpoint=[2001:db8::1]:12345",
    "protocol_version=1",
    "replace_allowed_ips=true",
    "allowed_ip=192.168.7.0/24",
    "allowed_ip=2001:db8:100::/48",
]


def bad(*lines):
    """A set transaction with a bad line, alone on a fresh connection."""
    return [sett(*lines)]


SCENARIOS = {
    # A full configuration with two peers, then get on the same connection
    # and on a new one.
    "set_get": [
        [
            sett("private_key=" + DEV_PRIV, "listen_port=51820", "fwmark=66",
                 *PEER_A_FULL, *PEER_B_FULL),
            GET,
        ],
        [GET],
    ],
    # Addresses whose text form is easy to get wrong.
    "address_forms": [
        [
            sett("public_key=" + PEER_A,
                 "endpoint=[::ffff:192.0.2.7]:1",
                 "allowed_ip=::1:0/112",
                 "allowed_ip=2001:db8:0:0:1:0:0:1/128",
                 "allowed_ip=::ffff:10.2.0.0/112",
                 "allowed_ip=0.0.0.0/0",
                 "allowed_ip=::/0",
                 "public_key=" + PEER_B,
                 "endpoint=[2001:DB8:0:0:0:0:0:2]:65535",
                 "allowed_ip=FE80::/10"),
            GET,
        ],
    ],
    "replace_peers": [
        [
            sett("listen_port=51821", *PEER_A_FULL, *PEER_B_FULL),
            sett("replace_peers=true", "public_key=" + PEER_C,
                 "allowed_ip=10.3.0.0/24"),
            GET,
        ],
    ],
    "remove": [
        [
            sett(*PEER_A_FULL, *PEER_B_FULL),
            sett("public_key=" + PEER_A, "remove=true",
                 "public_key=" + PEER_D, "remove=true",  # not a peer: no-op
                 "public_key=" + PEER_C, "allowed_ip=10.4.0.0/24",
                 "remove=true"),  # created then removed in one block
            GET,
        ],
    ],
    "update_only": [
        [
            sett(*PEER_A_FULL),
            sett("public_key=" + PEER_A, "update_only=true",
                 "endpoint=198.51.100.9:9",
                 "public_key=" + PEER_B, "update_only=true",  # absent: ignored
                 "endpoint=198.51.100.10:10", "allowed_ip=10.5.0.0/24"),
            GET,
        ],
    ],
    "replace_allowed_ips": [
        [
            sett("public_key=" + PEER_A, "allowed_ip=10.0.0.0/24",
                 "allowed_ip=10.1.0.0/24", "allowed_ip=10.2.0.0/24"),
            # 10.1.0.0/24 moves from A to B; A's list is replaced, with an
            # allowed_ip before replace_allowed_ips dropped too; re-adding a
            # prefix moves it to the end of the list.
            sett("public_key=" + PEER_B, "allowed_ip=10.1.0.0/24",
                 "public_key=" + PEER_A, "allowed_ip=10.9.0.0/16",
                 "replace_allowed_ips=true", "allowed_ip=10.2.0.0/24",
                 "allowed_ip=10.3.0.0/24", "allowed_ip=10.2.0.0/24"),
            GET,
        ],
    ],
    # Zero values clear: private key, fwmark, preshared key, keepalive.
    "clear": [
        [
            sett("private_key=" + DEV_PRIV, "fwmark=5", *PEER_A_FULL),
            sett("private_key=" + ZERO, "fwmark=0", "public_key=" + PEER_A,
                 "preshared_key=" + ZERO, "persistent_keepalive_interval=0"),
            GET,
        ],
    ],
    # Accepted oddities: CRLF lines, leading zeros, a 65535-byte line (the
    # longest bufio.Scanner takes), an empty set, two gets in one write.
    "syntax": [
        [
            tx(raw=b"set=1\nlisten_port=1234\r\n\r\n"),
            sett("listen_port=00051822", "public_key=" + PEER_A,
                 "protocol_version=1", "persistent_keepalive_interval=0000"),
            sett("listen_port=" + "0" * (65535 - len("listen_port=") - 5) + "51823"),
            sett(),
            tx(raw=b"get=1\n\nget=1\n\n"),
        ],
    ],
    # Each bad request on its own connection, on one device.
    "errors": [
        bad("bogus_key=1"),
        bad("LISTEN_PORT=1"),
        bad("listen_port =1"),
        bad("=1"),
        bad("foo"),  # no '=': protocol error
        bad("listen_port=65536"),
        bad("listen_port=-1"),
        bad("listen_port=+1"),
        bad("listen_port="),
        bad("listen_port=1\x00"),
        bad("fwmark=4294967296"),
        bad("fwmark=0x10"),
        bad("private_key=" + DEV_PRIV[:62]),
        bad("private_key=" + DEV_PRIV + "=="),
        bad("replace_peers=false"),
        bad("replace_peers=TRUE"),
        bad("protocol_version=1"),  # a peer key before any public_key
        bad("remove=true"),
        bad("public_key=" + PEER_A[:63]),
        bad("public_key=" + PEER_A + "00"),
        bad("public_key=zz" + PEER_A[2:]),
        bad("public_key="),
        bad("public_key=" + PEER_A, "bogus=1"),
        bad("public_key=" + PEER_A, "listen_port=1"),  # interface key after peer
        bad("public_key=" + PEER_A, "replace_peers=true"),
        bad("public_key=" + PEER_A, "private_key=" + DEV_PRIV),
        bad("public_key=" + PEER_A, "protocol_version=2"),
        bad("public_key=" + PEER_A, "protocol_version=01"),
        bad("public_key=" + PEER_A, "remove=1"),
        bad("public_key=" + PEER_A, "update_only=True"),
        bad("public_key=" + PEER_A, "replace_allowed_ips=yes"),
        bad("public_key=" + PEER_A, "preshared_key=" + PSK_A[:10]),
        bad("public_key=" + PEER_A, "persistent_keepalive_interval=65536"),
        bad("public_key=" + PEER_A, "persistent_keepalive_interval=-1"),
        bad("public_key=" + PEER_A, "endpoint=192.0.2.1"),
        bad("public_key=" + PEER_A, "endpoint=example.com:51820"),
        bad("public_key=" + PEER_A, "endpoint=2001:db8::1:51820"),
        bad("public_key=" + PEER_A, "endpoint=[192.0.2.1]:51820"),
        bad("public_key=" + PEER_A, "endpoint=192.0.2.1:65536"),
        bad("public_key=" + PEER_A, "endpoint=192.0.2.1:"),
        bad("public_key=" + PEER_A, "endpoint=[2001:db8::1:51820"),
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.1"),
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.0/33"),
        bad("public_key=" + PEER_A, "allowed_ip=fd00::/129"),
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.0/-1"),
        bad("public_key=" + PEER_A, "allowed_ip=not-an-ip/8"),
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.01/32"),
        bad("public_key=" + PEER_A, "allowed_ip=-10.0.0.0/24"),
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.0/"),
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.0/24/"),
        bad("public_key=" + PEER_A, "allowed_ip=fe80::1%lo/64"),
        bad("public_key=" + PEER_A, "allowed_ip= 10.0.0.0/8"),
        bad("public_key=" + PEER_A, "endpoint= 192.0.2.1:1"),
        bad("public_key=" + PEER_A, "endpoint=192.0.2.1:+1"),
        # Probes whose answer depends on Go's parsers; recorded as they are.
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.0/08"),
        bad("public_key=" + PEER_A, "allowed_ip=10.0.0.0/+8"),
        bad("public_key=" + PEER_A, "endpoint=192.0.2.1:0051820"),
        bad("\xff\xfe=\x01\x00"),
        [tx(raw=b"set=1\n" + b"listen_port=" + b"0" * (65536 - 12 - 4) + b"1234\n\n")],
        [tx(raw=b"get=1\nX\n")],
        [tx(raw=b"get=2\n\n")],
        [tx(raw=b"set=1\r\n\n")],
        [tx(raw=b"bogus\n")],
        [tx(raw=b"\n")],
    ],
    # Where zlayer deliberately differs (codec_test.cc holds its own expected
    # answers for these): an IPv6 zone in an endpoint is accepted by both,
    # but this wireguard-go leaves the zone out of its get answer and zlayer
    # prints it, as newer wireguard-go and wg(8) do; wireguard-go
    # applies a set line by line, so lines before a bad one take effect, and
    # at EOF before the blank line it applies what it read and answers
    # errno=0. zlayer validates a whole transaction before applying any of it,
    # and answers EPROTO to a transaction cut off by EOF.
    "deviations": [
        [sett("public_key=" + PEER_B, "endpoint=[fe80::1%lo]:1")],
        [sett("fwmark=3", "public_key=" + PEER_A, "bogus=1")],
        [tx("set=1", "fwmark=7", eof=True)],
        [tx(raw=b"set=1\nfwmark=8", eof=True)],
        [GET],
    ],
}


def escape(data):
    out = []
    i = 0
    while i < len(data):
        c = data[i]
        run = 1
        while i + run < len(data) and data[i + run] == c:
            run += 1
        ch = chr(c)
        if run >= 64 and 0x20 < c < 0x7f and ch != "\\" and ch != "*":
            out.append("\\*%d*%s" % (run, ch))
            i += run
            continue
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 <= c < 0x7f:
            out.append(ch)
        else:
            out.append("\\x%02x" % c)
        i += 1
    return "".join(out)


def emit(prefix, data):
    parts = data.split(b"\n")
    for p in parts[:-1]:
        print(prefix + (" " + escape(p) if p else ""))
    if parts[-1]:
        print(prefix + "| " + escape(parts[-1]))


def response_complete(buf):
    if not buf.endswith(b"\n\n"):
        return False
    lines = buf[:-2].split(b"\n")
    return lines[-1].startswith(b"errno=")


def read_response(s, expect_eof):
    """Reads one answer; returns (bytes, closed)."""
    buf = b""
    deadline = time.time() + 3
    while time.time() < deadline:
        if not expect_eof and response_complete(buf):
            break
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            continue
        chunk = s.recv(65536)
        if not chunk:
            return buf, True
        buf += chunk
    # Did the server close after answering?
    r, _, _ = select.select([s], [], [], 0.3)
    if r:
        try:
            chunk = s.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            return buf, True
        if not chunk:
            return buf, True
    return buf, False


def record(name, path, version):
    print("# Recorded from %s by tests/uapi-golden/record.sh; do not edit." % version)
    print("# Scenario: %s. Format: see record.sh." % name)
    for conn in SCENARIOS[name]:
        print("=== connection")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        for data, eof in conn:
            emit(">", data)
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                print("! closed")
                break
            if eof:
                print("! eof")
                s.shutdown(socket.SHUT_WR)
            answer, closed = read_response(s, eof)
            emit("<", answer)
            if closed:
                print("! closed")
                break
        s.close()


def main():
    if sys.argv[1] == "list":
        print(" ".join(SCENARIOS))
    elif sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: scenarios.py list | record NAME SOCKET VERSION")


if __name__ == "__main__":
    main()
