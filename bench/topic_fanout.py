#!/usr/bin/env python3
"""One publish to many WebSocket subscribers of a topic (issue 28, item
5): how long berth_topic_publish takes, how long until every subscriber
has the message, and the server's memory per subscriber.

    python3 bench/topic_fanout.py [--build build] [--subscribers 10000]
                                  [--size 100] [--publishes 5]
                                  [--backends "reactor uring"] [--threads 2]

The test server (tests/berth-test-server, its /topic routes) runs with
BERTH_THREADS=THREADS; the subscribers are raw WebSocket connections of
this process, read with selectors. For each publish: the server's time in
the call (the route measures it), and the time from the POST to the last
subscriber's frame here (this client's reading included). Memory is the
server's VmRSS before the subscribers, with them, and after the publishes.
"""
import argparse
import base64
import os
import re
import resource
import selectors
import socket
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def subscribe(port, n):
    sel = selectors.DefaultSelector()
    key = base64.b64encode(os.urandom(16))
    req = (b"GET /topic/ws?name=room HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    socks, pending, opened = [], 0, 0
    while opened < n or pending:
        for _ in range(min(200, n - opened)):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE, [b""])
            opened += 1
            pending += 1
        for k, ev in sel.select(0.05):
            s = k.fileobj
            if ev & selectors.EVENT_WRITE:
                s.send(req)
                sel.modify(s, selectors.EVENT_READ, k.data)
                continue
            data = s.recv(4096)
            if not data:
                raise SystemExit("a subscriber was refused")
            k.data[0] += data
            if b"\r\n\r\n" in k.data[0]:
                assert k.data[0].startswith(b"HTTP/1.1 101"), k.data[0][:80]
                k.data[0] = b""
                pending -= 1
                socks.append(s)
    return sel, socks


def publish(port, body):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"POST /topic/publish?name=room HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n" % len(body) + body)
    out = b""
    while True:
        d = c.recv(4096)
        if not d:
            break
        out += d
    c.close()
    m = re.search(rb"reached=(\d+) us=(\d+)", out)
    if not m:
        raise SystemExit("publish: %r" % out[:300])
    return int(m.group(1)), int(m.group(2))


def wait_all(sel, n, frame_len):
    got = 0
    while got < n:
        for k, _ in sel.select(5):
            data = k.fileobj.recv(65536)
            k.data[0] += data
            while len(k.data[0]) >= frame_len:
                k.data[0] = k.data[0][frame_len:]
                got += 1
    return got


def run(build, backend, threads, n, size, publishes):
    from berthproc import Server, stop_clean
    os.environ["BERTH_BUILD"] = build
    srv = Server("tests/berth-test-server", backend=backend,
                 env={"BERTH_THREADS": str(threads), "TLS_PORT": "off"})
    try:
        time.sleep(0.3)
        base = rss_kib(srv.proc.pid)
        t0 = time.monotonic()
        sel, socks = subscribe(srv.port, n)
        took_sub = time.monotonic() - t0
        time.sleep(0.5)
        held = rss_kib(srv.proc.pid)
        body = b"m" * size
        frame_len = 2 + (2 if size >= 126 else 0) + size
        calls, alls = [], []
        peak = held
        for _ in range(publishes):
            t = time.monotonic()
            reached, us = publish(srv.port, body)
            assert reached == n, (reached, n)
            wait_all(sel, n, frame_len)
            alls.append((time.monotonic() - t) * 1000)
            calls.append(us / 1000)
            peak = max(peak, rss_kib(srv.proc.pid))
        print("%-8s threads=%d subscribers=%d message=%d B: subscribed in %.1f s; "
              "publish call %.1f ms [%.1f-%.1f], all received %.1f ms [%.1f-%.1f]; "
              "RSS %d KiB -> %d KiB with subscribers (%.2f KiB each), %d KiB after publishing"
              % (backend, threads, n, size, took_sub, statistics.median(calls), min(calls), max(calls),
                 statistics.median(alls), min(alls), max(alls), base, held, (held - base) / n, peak))
        for s in socks:
            s.close()
    finally:
        stop_clean(srv, backend)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--subscribers", type=int, default=10000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--publishes", type=int, default=5)
    ap.add_argument("--backends", default="reactor")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < a.subscribers + 100:
        sys.exit("skipped: %d subscribers need as many descriptors here and in the server "
                 "(ulimit -Hn is %d)" % (a.subscribers, hard))
    for b in a.backends.split():
        run(os.path.abspath(a.build), b, a.threads, a.subscribers, a.size, a.publishes)


if __name__ == "__main__":
    main()
