#!/usr/bin/env python3
"""WebSocket echo with permessage-deflate (issue 29): berth-serve's /ws
beside Node's `ws` echo server, compression on and off.

    python3 bench/ws_deflate.py [--build build-bench] [--rounds 3] [--seconds 3]
                                [--connections 16] [--level 6] [--window-bits W]
                                [--servers reactor,node-ws] [--messages hello,bin256,json2k]

Messages: HttpArena's echo-ws payloads (the text "hello", a 256-byte binary
message of bytes 0..255), each the same every time, and 2 KiB JSON texts
(every window of consecutive items of HttpArena's dataset that makes
2 KiB, compact, sent in turn). Each server runs pinned to CPU 0
(berth-serve with BERTH_THREADS=1, BERTH_WS_DEFLATE=0/1 and
BERTH_WS_DEFLATE_LEVEL; Node's ws with perMessageDeflate at the same zlib
level, threshold 0, bench/ws_deflate_echo.js); the load is Node's ws as
the client on CPU 1 (bench/ws_deflate_load.js: one message in flight per
connection, every echo checked, offering permessage-deflate with threshold
0 when compression is on). Prints per server, compression and message:
messages/s, the server's CPU per message (utime+stime from /proc over the
measured run) and the bytes on the wire per message each way (TCP payload
after the handshakes, frame headers included), medians over the rounds,
and the extension the server answered. Node's ws comes from NODE_PATH,
tests/e2e/node_modules or Debian's node-ws (/usr/share/nodejs).
"""
import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")
DATASET = os.path.join(ROOT, "tests", "data", "arena", "dataset.json")


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


def messages(tmp):
    """name -> (file, binary, bytes a message): the payloads, written once.
    json2k is every window of n consecutive items of the dataset that
    makes 2 KiB (41 of its 50 items), sent in turn: what a feed sends, not
    one message repeated."""
    with open(DATASET) as f:
        items = json.load(f)

    def doc(i, n):
        return json.dumps({"items": items[i:i + n]}, separators=(",", ":"))
    n = 1
    while len(doc(0, n + 1)) <= 2048:
        n += 1
    feed = [doc(i, n) for i in range(len(items) - n + 1)]
    out = {"hello": (b"hello", False), "bin256": (bytes(range(256)), True),
           "json2k": ("\n".join(feed).encode(), False)}
    files = {}
    for name, (data, binary) in out.items():
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        size = len(data) if binary else statistics.mean(len(x) for x in data.split(b"\n"))
        files[name] = (path, binary, size)
    return files


def start(name, deflate, a, node_path):
    port = free_port()
    if name == "node-ws":
        cmd = ["node", os.path.join(HERE, "ws_deflate_echo.js"), str(port),
               str(a.level) if deflate else "off"] + ([str(a.window_bits)] if a.window_bits else [])
        env = dict(os.environ, NODE_PATH=node_path)
    else:
        cmd = [os.path.join(a.build, "serve", "berth-serve")]
        env = dict(os.environ, PORT=str(port), TLS_PORT="off", HTTP_BACKEND=name,
                   BERTH_THREADS="1", BERTH_WS_DEFLATE="1" if deflate else "0",
                   BERTH_WS_DEFLATE_LEVEL=str(a.level))
        if a.window_bits:
            env["BERTH_WS_DEFLATE_WINDOW_BITS"] = str(a.window_bits)
    proc = subprocess.Popen(["taskset", "-c", "0"] + cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not wait_port(port, proc):
        proc.kill()
        raise SystemExit("%s did not start" % name)
    return proc, port


def load(proc, port, msg, deflate, a, node_path, seconds):
    """One run: (messages/s, CPU us per message, bytes per message sent,
    received, the extension answer, errors)."""
    path, binary, _ = msg
    cmd = ["taskset", "-c", "1", "node", os.path.join(HERE, "ws_deflate_load.js"),
           "ws://127.0.0.1:%d/ws" % port, str(a.connections), str(seconds), path,
           "1" if binary else "0", "1" if deflate else "0"]
    lg = subprocess.Popen(cmd, env=dict(os.environ, NODE_PATH=node_path), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    line = lg.stdout.readline()
    if line.strip() != "open":
        lg.kill()
        raise SystemExit("load failed: %r %s" % (line, lg.stderr.read()))
    c0 = cpu(proc.pid)
    line = lg.stdout.readline()
    c1 = cpu(proc.pid)
    lg.wait(30)
    if not line.startswith("done "):
        raise SystemExit("load failed: %r %s" % (line, lg.stderr.read()))
    r = json.loads(line[5:])
    n = r["messages"] or 1
    return (r["messages"] / r["seconds"], (c1 - c0) / n * 1e6, r["wrote"] / n, r["read"] / n,
            r["answer"], r["errors"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--level", type=int, default=6, help="zlib level of both servers (6)")
    ap.add_argument("--window-bits", type=int, help="the largest window both servers compress "
                    "with (8-15; default: each its own, berth 12, Node's ws 15)")
    ap.add_argument("--servers", default="reactor,node-ws")
    ap.add_argument("--messages", default="hello,bin256,json2k")
    ap.add_argument("--modes", default="off,on", help="compression off, on, or both")
    ap.add_argument("--json", metavar="FILE", help="also write the runs as JSON")
    a = ap.parse_args()
    node_path = os.environ.get("NODE_PATH") or next(
        (d for d in (os.path.join(ROOT, "tests", "e2e", "node_modules"), "/usr/share/nodejs")
         if os.path.isdir(os.path.join(d, "ws"))), "")
    if not os.path.isdir(os.path.join(node_path, "ws")):
        raise SystemExit("Node's ws not found (NODE_PATH, tests/e2e/node_modules, "
                         "/usr/share/nodejs): it is the load generator")
    tmp = tempfile.mkdtemp(prefix="ws-deflate-")
    msgs = messages(tmp)
    names = a.messages.split(",")
    servers = a.servers.split(",")
    modes = [m == "on" for m in a.modes.split(",")]
    results = {}
    answers = {}
    for r in range(a.rounds):
        order = [(s, m) for s in servers for m in modes]
        random.Random(r).shuffle(order)
        for s, deflate in order:
            proc, port = start(s, deflate, a, node_path)
            try:
                load(proc, port, msgs[names[0]], deflate, a, node_path, 1)  # warm-up
                for name in names:
                    x = load(proc, port, msgs[name], deflate, a, node_path, a.seconds)
                    results.setdefault((s, deflate, name), []).append(x)
                    answers[(s, deflate)] = x[4]
                    sys.stderr.write("round %d %-8s %-3s %-7s %8.0f msg/s %7.2f us/msg "
                                     "%7.1f B up %7.1f B down%s\n"
                                     % (r + 1, s, "on" if deflate else "off", name, x[0], x[1],
                                        x[2], x[3], " ERRORS %d" % x[5] if x[5] else ""))
            finally:
                proc.terminate()
                proc.wait(10)
    print("WebSocket echo with permessage-deflate: %d connections, 1 message in flight each, "
          "zlib level %d, window %s; %d rounds of %g s; server on CPU 0, Node ws client on CPU 1"
          % (a.connections, a.level, a.window_bits or "each server's own", a.rounds, a.seconds))
    print("messages: " + ", ".join("%s %d B" % (n, msgs[n][2]) for n in names))
    print("%-9s %-4s %-7s %9s %11s %10s %10s" % ("server", "pmd", "message", "msg/s",
                                                 "CPU us/msg", "B/msg up", "B/msg down"))
    med = {}
    for s in servers:
        for deflate in modes:
            for name in names:
                xs = [x for x in results[(s, deflate, name)] if not x[5]]
                if not xs:
                    print("%-9s %-4s %-7s   INVALID (echo errors)" % (s, deflate, name))
                    continue
                m = tuple(statistics.median(x[i] for x in xs) for i in range(4))
                med[(s, deflate, name)] = m
                print("%-9s %-4s %-7s %9.0f %11.2f %10.1f %10.1f"
                      % (s, "on" if deflate else "off", name, m[0], m[1], m[2], m[3]))
    for s in servers:
        for deflate in modes:
            print("%s, compression %s: answer %r" % (s, "on" if deflate else "off",
                                                    answers.get((s, deflate), "")))
    if "node-ws" in servers:
        for s in servers:
            if s == "node-ws":
                continue
            for deflate in modes:
                for name in names:
                    k, n = (s, deflate, name), ("node-ws", deflate, name)
                    if k in med and n in med:
                        print("%-9s %-3s %-7s CPU/msg / node-ws %.2f" % (
                            s, "on" if deflate else "off", name, med[k][1] / med[n][1]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump([{"server": s, "deflate": d, "message": n, "runs": v}
                       for (s, d, n), v in results.items()], f, indent=1)


if __name__ == "__main__":
    main()
