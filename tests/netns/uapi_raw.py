#!/usr/bin/env python3
"""Writes raw bytes to a WireGuard UAPI socket and prints the answer.

usage: uapi_raw.py SOCKET [--close]  < payload

Sends stdin as is. Without --close, half-closes the connection and prints what
the daemon answers (until the blank line after an errno=N line, EOF, or 5 s);
the exit status is 0 when the answer is complete ("errno=N\\n\\n" seen), 2 when
the daemon closed without an answer. With --close it hangs up right after
sending (a client that disconnects mid-transaction) and prints nothing.
"""
import socket
import sys
import time


def main() -> int:
    path = sys.argv[1]
    close_early = "--close" in sys.argv[2:]
    payload = sys.stdin.buffer.read()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may hang up on a bad request before reading it all
    if close_early:
        s.close()
        return 0
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    answer = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        answer += chunk
        lines = answer.split(b"\n")
        if any(l.startswith(b"errno=") for l in lines) and answer.endswith(b"\n\n"):
            break
    sys.stdout.write(answer.decode("utf-8", "replace"))
    complete = any(l.startswith(b"errno=") for l in answer.split(b"\n")) and answer.endswith(b"\n\n")
    return 0 if complete else 2


if __name__ == "__main__":
    sys.exit(main())
