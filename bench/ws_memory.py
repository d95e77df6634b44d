#!/usr/bin/env python3
"""Memory of WebSocket connections with and without permessage-deflate:
starts berth-serve (reactor, one thread), opens N connections to /ws that
offer permessage-deflate, sends one ~1.5 KiB JSON message on each
(compressed when agreed) and reads its echo, leaves them open, and
reports the server's RSS growth per connection.

    python3 bench/ws_memory.py [N] [off|on12|on15 ...]

docs/API.md, "WebSocket compression", has the figures."""
import base64
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib

BUILD = os.environ.get("BERTH_BUILD", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "build"))
PORT = 18241
DOC = json.dumps({"id": 1, "user": "alice", "items": [
    {"sku": "SKU-%05d" % k, "qty": k, "note": "deliver before noon"} for k in range(30)]}).encode()


def frame(op, payload, rsv=0):
    key = os.urandom(4)
    n = len(payload)
    b0 = 0x80 | rsv | op
    head = struct.pack("!BB", b0, 0x80 | n) if n < 126 else struct.pack("!BBH", b0, 0x80 | 126, n)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def read_frame(s):
    buf = b""
    while len(buf) < 4:
        buf += s.recv(65536)
    n, at = buf[1] & 0x7F, 2
    if n == 126:
        n, at = struct.unpack("!H", buf[2:4])[0], 4
    while len(buf) < at + n:
        buf += s.recv(65536)
    return buf[0], buf[at:at + n]


def measure(n, mode):
    env = dict(os.environ, PORT=str(PORT), TLS_PORT="off", HTTP_BACKEND="reactor",
               BERTH_THREADS="1")
    if mode != "off":
        env.update(BERTH_WS_DEFLATE="1", BERTH_WS_DEFLATE_WINDOW_BITS=mode[2:])
    srv = subprocess.Popen([os.path.join(BUILD, "serve", "berth-serve")], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rss():
        with open("/proc/%d/status" % srv.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    try:
        time.sleep(0.5)
        before, conns = rss(), []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", PORT))
            key = base64.b64encode(os.urandom(16))
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Extensions: "
                      b"permessage-deflate; client_max_window_bits\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            deflate = b"permessage-deflate" in head
            if deflate:
                z = zlib.compressobj(6, zlib.DEFLATED, -12)
                s.sendall(frame(1, (z.compress(DOC) + z.flush(zlib.Z_SYNC_FLUSH))[:-4], 0x40))
            else:
                s.sendall(frame(1, DOC))
            b0, _ = read_frame(s)
            assert bool(b0 & 0x40) == deflate, "the echo is compressed when agreed"
            conns.append(s)
        time.sleep(0.5)
        after = rss()
        print("%-5s %d connections: RSS %d -> %d KiB, %.1f KiB a connection"
              % (mode, n, before, after, (after - before) / n))
        for s in conns:
            s.close()
    finally:
        srv.terminate()
        srv.wait()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for m in sys.argv[2:] or ["off", "on12", "on15"]:
        measure(count, m)
