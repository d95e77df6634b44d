#!/usr/bin/env python3
"""CPU of a server holding idle keep-alive connections: opens N connections
to berth-serve (one worker thread), sends one request on each, reads the
answer, leaves them idle, then reads the server's utime+stime from
/proc/PID/stat over --seconds and reports CPU seconds per second.

    python3 bench/idle_cpu.py --connections 10000 --servers "reactor libuv"
    python3 bench/idle_cpu.py --connections 10000 --servers reactor \\
        --binary /path/to/other/build/serve/berth-serve

With nothing to do, a server's CPU is what its timeouts cost: before issue
23 each sweep (every 10-100 ms) asked every connection for its deadline.
The connections are held by client processes (--per-client each), so that
no process needs more descriptors than its limit; the server needs one per
connection, so N is bounded by the open-file hard limit (see bench/README.md).
"""
import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REQUEST = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"


def hold(port, n):
    """Client process: opens n connections, says "ready", holds them until
    its stdin closes."""
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(REQUEST)
        got = s.recv(4096)
        if b" 200 " not in got:
            sys.exit("a request was not answered 200: %r" % got[:80])
        conns.append(s)
    print("ready", flush=True)
    sys.stdin.read()
    # Open still: is every connection? A closed one reads EOF at once.
    closed = 0
    for s in conns:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
    print("closed %d" % closed, flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of stat; [0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(binary, backend):
    env = dict(os.environ, PORT="0", TLS_PORT="off", HTTP_BACKEND=backend, BERTH_THREADS="1",
               BERTH_IDLE_TIMEOUT_MS="3600000")
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r":(\d+) backend=(\S+)", line)
    if not m:
        proc.terminate()
        proc.wait()
        raise RuntimeError("berth-serve did not start: %r" % line)
    return proc, int(m.group(1)), m.group(2)


def measure(binary, backend, n, per_client, seconds):
    proc, port, name = start_server(binary, backend)
    clients = []
    try:
        left = n
        while left > 0:
            k = min(per_client, left)
            left -= k
            clients.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--hold", str(port), str(k)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for c in clients:
            if c.stdout.readline().strip() != "ready":
                raise RuntimeError("a client could not open its connections")
        time.sleep(2)  # settle: the last answers written, buffers back in the pools
        t0, c0 = time.monotonic(), cpu_seconds(proc.pid)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), cpu_seconds(proc.pid)
        closed = 0
        for c in clients:
            c.stdin.close()
            m = re.match(r"closed (\d+)", c.stdout.readline())
            closed += int(m.group(1)) if m else 0
        return {"server": name, "n": n, "cpu": (c1 - c0) / (t1 - t0), "closed": closed,
                "seconds": t1 - t0}
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
            c.wait()
        proc.terminate()
        proc.wait()


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--hold":
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        hold(int(sys.argv[2]), int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--servers", "--backends", default="reactor libuv")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--per-client", type=int, default=5000)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "serve", "berth-serve"))
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    if args.connections + 64 > hard:
        sys.exit("open-file hard limit %d is too low for %d connections in one server"
                 % (hard, args.connections))
    rows = []
    for backend in args.servers.split():
        r = measure(args.binary, backend, args.connections, args.per_client, args.seconds)
        rows.append(r)
        print("%-8s connections=%d: %.4f CPU s/s over %.0f s (%d closed by the server)"
              % (r["server"], r["n"], r["cpu"], r["seconds"], r["closed"]), flush=True)
    print("\n| server | idle connections | server CPU seconds per second |")
    print("|---|---:|---:|")
    for r in rows:
        print("| %s | %d | %.4f |" % (r["server"], r["n"], r["cpu"]))


if __name__ == "__main__":
    main()
