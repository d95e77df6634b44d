#!/usr/bin/env python3
"""Holds many server-sent-event streams open on berth-serve at once and
reports the server's memory per stream and whether any event was lost.

    python3 bench/sse_scale.py [--streams 10000] [--events 10]
                               [--backends "libuv reactor"]

Each stream is GET /sse?n=EVENTS&interval_ms=1000 on its own connection:
one event a second per stream. The server runs with BERTH_THREADS=1,
pinned to CPU 0; this client is pinned to CPU 1. Memory is the server's
VmRSS before the first connection and at its peak while all streams run.
"""
import argparse
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def run(binary, backend, streams, events):
    env = dict(os.environ, PORT="0", TLS_PORT="off", HTTP_BACKEND=backend, BERTH_THREADS="1")
    proc = subprocess.Popen(["taskset", "-c", "0", binary], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    port = int(re.search(r":(\d+) ", proc.stdout.readline()).group(1))
    time.sleep(0.2)
    base = rss_kib(proc.pid)
    sel = selectors.DefaultSelector()
    req = b"GET /sse?n=%d&interval_ms=1000 HTTP/1.1\r\nHost: b\r\n\r\n" % events
    counts, done, peak = {}, 0, base
    start = time.monotonic()
    opened = 0
    try:
        while opened < streams:  # connect in batches the backlog can hold
            for _ in range(min(500, streams - opened)):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE, [b"", False])
                opened += 1
            deadline = time.monotonic() + 0.05
            while time.monotonic() < deadline:
                for key, ev in sel.select(0.01):
                    handle(sel, key, ev, req, counts)
        connected_at = time.monotonic() - start
        deadline = time.monotonic() + events + 30
        while len(counts) < streams or sum(1 for v in counts.values() if v[1]) < streams:
            if time.monotonic() > deadline:
                break
            for key, ev in sel.select(0.5):
                handle(sel, key, ev, req, counts)
            peak = max(peak, rss_kib(proc.pid))
        done = sum(1 for v in counts.values() if v[1])
        got = sum(v[0] for v in counts.values())
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        proc.terminate()
        proc.wait(20)
    return {"backend": backend, "streams": streams, "completed": done,
            "events": got, "expected": streams * events, "rss_base_kib": base,
            "rss_peak_kib": peak, "per_stream_bytes": (peak - base) * 1024 // max(streams, 1),
            "connect_seconds": round(connected_at, 2)}


def handle(sel, key, ev, req, counts):
    s = key.fileobj
    state = key.data
    if ev & selectors.EVENT_WRITE and not state[1]:
        try:
            s.send(req)
        except BlockingIOError:
            return
        except OSError:
            sel.unregister(s)
            s.close()
            return
        state[1] = True
        sel.modify(s, selectors.EVENT_READ, state)
        counts[s.fileno()] = [0, False]
        return
    try:
        data = s.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    c = counts[s.fileno()]
    if data:
        buf = state[0] + data
        c[0] += buf.count(b"data: event ")
        state[0] = buf[-11:]  # shorter than b"data: event ": a split event is counted once
        if buf.endswith(b"0\r\n\r\n"):
            c[1] = True
    else:
        sel.unregister(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--events", type=int, default=10)
    ap.add_argument("--backends", default="libuv reactor")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "serve", "berth-serve"))
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < a.streams + 100:
        sys.exit("raise the fd limit: %d streams need more than %d" % (a.streams, hard))
    os.sched_setaffinity(0, {1})
    ok = True
    for backend in a.backends.split():
        r = run(a.binary, backend, a.streams, a.events)
        lost = r["expected"] - r["events"]
        print("%-8s streams=%d completed=%d events=%d/%d lost=%d rss %d -> %d KiB "
              "(+%.1f MiB, %d bytes/stream) connect=%.1fs" % (
                  backend, r["streams"], r["completed"], r["events"], r["expected"], lost,
                  r["rss_base_kib"], r["rss_peak_kib"], (r["rss_peak_kib"] - r["rss_base_kib"]) / 1024,
                  r["per_stream_bytes"], r["connect_seconds"]))
        ok &= lost == 0 and r["completed"] == r["streams"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
