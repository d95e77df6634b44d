#!/usr/bin/env python3
"""WebSocket echo: berth-serve's /ws beside Node's `ws` echo server.

    python3 bench/ws_echo.py [--build build-bench] [--rounds 3] [--seconds 3]
                             [--connections 64] [--size 5] [--burst 1]
                             [--base-build DIR]

Each server runs pinned to CPU 0 (berth-serve with BERTH_THREADS=1), the
load generator bench-ws (bench/ws_load.c: C, epoll, masked text messages,
each echo checked) on CPU 1; servers in turn, in a new order each round;
a 1 s warm-up before each measured run. Prints messages/s and server CPU
per message (utime+stime from /proc) per server, their medians, and each
berth backend's ratio to Node's. Node's `ws` comes from npm: NODE_PATH, or
tests/e2e/node_modules (where .ci/run puts it); without it only berth runs.

--base-build DIR adds each berth backend of another build (an older commit's
release build) as BACKEND@base, in the same rotation, and prints each
backend's CPU per message against its base round by round: a change's
before/after measured side by side rather than in two runs.
"""
import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


BASE = "@base"


def start(name, build, node_path, base_build=None):
    port = free_port()
    if name.endswith(BASE):
        name, build = name[:-len(BASE)], base_build
    if name == "node-ws":
        cmd = ["node", os.path.join(HERE, "ws_echo.js"), str(port)]
        env = dict(os.environ, NODE_PATH=node_path)
    else:
        cmd = [os.path.join(build, "serve", "berth-serve")]
        env = dict(os.environ, PORT=str(port), TLS_PORT="off", HTTP_BACKEND=name,
                   BERTH_THREADS="1")
    proc = subprocess.Popen(["taskset", "-c", "0"] + cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not wait_port(port, proc):
        proc.kill()
        raise SystemExit("%s did not start" % name)
    return proc, port


def load(build, port, a, seconds):
    out = subprocess.run(["taskset", "-c", "1", os.path.join(build, "bench", "bench-ws"),
                          str(port), "/ws", str(a.connections), str(seconds), str(a.size),
                          str(a.burst)], capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"messages (\d+) errors (\d+) seconds ([\d.]+)", out.stdout)
    if not m:
        raise SystemExit("bench-ws failed: %s %s" % (out.stdout, out.stderr))
    return int(m.group(1)), int(m.group(2)), float(m.group(3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--size", type=int, default=5)
    ap.add_argument("--burst", type=int, default=1)
    ap.add_argument("--servers", default="reactor,fast:1,libuv,node-ws")
    ap.add_argument("--base-build", metavar="DIR",
                    help="also run each berth backend of this build, as BACKEND@base")
    a = ap.parse_args()
    node_path = os.environ.get("NODE_PATH", os.path.join(ROOT, "tests", "e2e", "node_modules"))
    servers = a.servers.split(",")
    if "node-ws" in servers and not os.path.isdir(os.path.join(node_path, "ws")):
        print("no node_modules/ws under %s: Node's ws left out" % node_path)
        servers.remove("node-ws")
    if a.base_build:
        base_bin = os.path.join(a.base_build, "serve", "berth-serve")
        if not os.access(base_bin, os.X_OK):
            raise SystemExit("--base-build: no %s" % base_bin)
        servers += [s + BASE for s in servers if s != "node-ws"]
    results = {s: [] for s in servers}
    for r in range(a.rounds):
        order = servers[:]
        random.Random(r).shuffle(order)
        for s in order:
            proc, port = start(s, a.build, node_path, a.base_build)
            try:
                load(a.build, port, a, 1)  # warm-up
                c0 = cpu(proc.pid)
                n, errors, took = load(a.build, port, a, a.seconds)
                c1 = cpu(proc.pid)
            finally:
                proc.terminate()
                proc.wait(10)
            valid = errors == 0 and n > 0
            results[s].append((n / took, (c1 - c0) / n * 1e6 if n else 0, valid))
            sys.stderr.write("round %d %-8s %9.0f msg/s %7.2f us/msg %s\n"
                             % (r + 1, s, n / took, results[s][-1][1], "" if valid else "INVALID"))
    print("WebSocket echo: %d connections, %d-byte text messages, %d in flight per connection; "
          "%d rounds of %g s; server on CPU 0, bench-ws on CPU 1"
          % (a.connections, a.size, a.burst, a.rounds, a.seconds))
    print("%-13s %12s %14s %6s" % ("server", "msg/s", "CPU us/msg", "valid"))
    med = {}
    for s in servers:
        ok = [x for x in results[s] if x[2]]
        if ok:
            med[s] = (statistics.median(x[0] for x in ok), statistics.median(x[1] for x in ok))
            print("%-13s %12.0f %14.2f %3d/%d" % (s, med[s][0], med[s][1], len(ok), len(results[s])))
    if "node-ws" in med:
        for s in servers:
            if s != "node-ws" and s in med:
                print("%-9s msg/s / node-ws %.2f   CPU/msg / node-ws %.2f"
                      % (s, med[s][0] / med["node-ws"][0], med[s][1] / med["node-ws"][1]))
    if a.base_build:
        print("CPU per message against the base build (%s), round by round:" % a.base_build)
        for s in servers:
            if s.endswith(BASE) or s == "node-ws":
                continue
            pairs = [(x[1], y[1]) for x, y in zip(results[s], results[s + BASE])
                     if x[2] and y[2] and y[1] > 0]
            if pairs:
                ratios = sorted(n / b for n, b in pairs)
                print("%-9s %.2fx [%.2f-%.2f] over %d rounds"
                      % (s, statistics.median(ratios), ratios[0], ratios[-1], len(ratios)))


if __name__ == "__main__":
    main()
