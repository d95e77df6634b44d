#!/usr/bin/env python3
"""Memory of idle keep-alive connections: opens N connections to
berth-serve, sends one request on each, reads the answer, leaves them
idle, and reports the server's RSS growth per connection.

    python3 bench/idle_memory.py --connections 10000 --backends "reactor libuv fast"
"""
import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(f.read().split("VmRSS:")[1].split()[0])


def measure(binary, backend, n):
    env = dict(os.environ, PORT="0", TLS_PORT="off", HTTP_BACKEND=backend, BERTH_THREADS="1")
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    conns = []
    try:
        m = re.search(r":(\d+) backend=(\S+)", proc.stdout.readline())
        if not m:
            raise RuntimeError("berth-serve did not start")
        port = int(m.group(1))
        request = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"
        warm = socket.create_connection(("127.0.0.1", port))
        warm.sendall(request)
        warm.recv(4096)
        warm.close()
        time.sleep(0.3)
        before = rss_kib(proc.pid)
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(request)
            conns.append(c)
        for c in conns:
            if b" 200 " not in c.recv(4096):
                raise RuntimeError("a request was not answered 200")
        time.sleep(1)  # idle: buffers go back to the pools
        after = rss_kib(proc.pid)
        print("%-8s connections=%d rss %d -> %d KiB: %.0f bytes per idle connection"
              % (m.group(2), n, before, after, (after - before) * 1024 / n))
    finally:
        for c in conns:
            c.close()
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--backends", default="reactor libuv fast")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "serve", "berth-serve"))
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.connections + 64 > hard:
        sys.exit("open-file limit %d is too low for %d connections" % (hard, args.connections))
    for backend in args.backends.split():
        measure(args.binary, backend, args.connections)


if __name__ == "__main__":
    main()
