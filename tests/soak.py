#!/usr/bin/env python3
"""Soak: a million mixed requests against one berth-test-server, then checks
that its descriptors are back to where they started and that its RSS
stayed bounded (no growth from one round to the next).

    python3 tests/soak.py [--build build] [--backend reactor] [--requests 1000000]

Not part of `meson test` (a few minutes). Needs the build's bench-load
(bench/load.c; with libssl-dev for the TLS phases) and wrk (pipelining).
Rounds of short phases, each a different kind of client, until the count
is reached:

  keep-alive   bench-load, 16 connections, GET, POST with Content-Length
               and chunked POST in turn
  close        bench-load -k 1: a new connection for every request
  pipelined    wrk with bench/pipeline.lua, 2 connections, 4 requests
               per write, 1 s a round (it would outnumber the rest)
  chunked      bench-load, chunked POSTs of 16 KiB in 4 chunks
  tls          bench-load -s, keep-alive over TLS
  tls-close    bench-load -s -k 1: a full TLS handshake per request
  websocket    bench-ws on /ws: 4 connections, 1 s a round, a 256-byte
               message in flight on each, every echo checked

After each round: the server's RSS and descriptor count. Exits 1 if any
client saw an error, its sockets did not return to their start, or
the RSS of the last round exceeds the first round's by more than
--rss-slack MiB (a leak grows with the requests; pools do not).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "e2e"))

import berthproc  # noqa: E402  (after the path)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    """The process's sockets: they must return to their start (fast's parked
    threads, up to 64 for 30 s, keep an eventfd each: not a leak)."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def all_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def request_files(tmp):
    body = b"x" * 4096
    chunk = b"c" * 4096
    files = {
        "get": b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n",
        "post": b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
        "chunked": (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                    (b"1000\r\n" + chunk + b"\r\n") * 4 + b"0\r\n\r\n"),
        "json": b"GET /json/10 HTTP/1.1\r\nHost: t\r\n\r\n",
    }
    paths = {}
    for name, data in files.items():
        p = os.path.join(tmp, name + ".req")
        with open(p, "wb") as f:
            f.write(data)
        paths[name] = p
    return paths


def bench_load(build, port, seconds, conns, files, *flags):
    cmd = [os.path.join(build, "bench", "bench-load"), "-p", str(port), "-c", str(conns),
           "-d", str(seconds)] + list(flags) + files
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = [x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")]
    if not line:
        raise RuntimeError("bench-load failed: %s %s" % (out.stdout, out.stderr))
    r = json.loads(line[0][len("BENCH_JSON "):])
    return r["requests"], sum(r["errors"].values()), r["errors"]


def wrk_pipelined(port, seconds, conns=2, depth=4):
    script = os.path.join(HERE, "..", "bench", "pipeline.lua")
    cmd = ["wrk", "-t1", "-c", str(conns), "-d", "%ds" % seconds, "-s", script,
           "http://127.0.0.1:%d/health" % port, "--", str(depth)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = [x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")]
    if not line:
        raise RuntimeError("wrk failed: %s %s" % (out.stdout, out.stderr))
    r = json.loads(line[0][len("BENCH_JSON "):])
    return r["requests"], sum(r["errors"].values()), r["errors"]


def ws_phase(build, srv, seconds):
    """WebSocket clients: bench-ws (bench/ws_load.c), 4 connections upgraded
    on /ws for 1 s (the fastest kind, as pipelining), one 256-byte message
    in flight on each, every echo checked.
    Returns (messages, errors, detail) like the other phases."""
    cmd = [os.path.join(build, "bench", "bench-ws"), str(srv.port), "/ws", "4", "1", "256", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) < 4 or parts[0] != "messages":
        raise RuntimeError("bench-ws failed: %s %s" % (out.stdout, out.stderr))
    return int(parts[1]), int(parts[3]), {"echo": int(parts[3])}


def main():
    if not sys.platform.startswith("linux"):  # descriptors and RSS from /proc
        raise SystemExit("soak.py: reads the server's /proc/PID/fd and status: Linux only")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("BERTH_BUILD", os.path.join(HERE, "..", "build")))
    ap.add_argument("--backend", default="reactor")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--phase-seconds", type=int, default=2)
    ap.add_argument("--rss-slack", type=int, default=16, help="MiB (default 16)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    os.environ["BERTH_BUILD"] = build
    berthproc.BUILD = build

    srv = berthproc.Server("tests/berth-test-server", backend=args.backend,
                           env={"BERTH_THREADS": args.threads, "TLS_CERT": berthproc.CERT,
                                "TLS_KEY": berthproc.KEY})
    pid, s = srv.proc.pid, args.phase_seconds
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        f = request_files(tmp)
        phases = [
            ("keep-alive", lambda: bench_load(build, srv.port, s, 16, [f["get"], f["post"], f["chunked"], f["json"]])),
            ("close", lambda: bench_load(build, srv.port, s, 4, [f["get"], f["post"]], "-k", "1")),
            ("pipelined", lambda: wrk_pipelined(srv.port, 1)),  # the fastest kind: 1 s
            ("chunked", lambda: bench_load(build, srv.port, s, 8, [f["chunked"]])),
            ("tls", lambda: bench_load(build, srv.tls_port, s, 8, [f["get"], f["post"], f["chunked"]], "-s")),
            ("tls-close", lambda: bench_load(build, srv.tls_port, s, 4, [f["get"]], "-s", "-k", "1")),
            ("websocket", lambda: ws_phase(build, srv, s)),
        ]
        bench_load(build, srv.port, 1, 8, [f["get"]])  # warm-up: pools and caches filled
        bench_load(build, srv.tls_port, 1, 4, [f["get"]], "-s")
        time.sleep(0.5)
        fds0, all0, rss0 = fds(pid), all_fds(pid), rss_kib(pid)
        print("start: %d sockets (%d descriptors), RSS %d KiB (%s, %s threads)"
              % (fds0, all0, rss0, args.backend, args.threads))
        total, per_kind, rounds, t0 = 0, {}, [], time.monotonic()
        while total < args.requests:
            for name, run in phases:
                got = run()
                if got is None:
                    continue
                n, errors, detail = got
                total += n
                per_kind[name] = per_kind.get(name, 0) + n
                if errors:
                    failures.append("%s: %d errors %r" % (name, errors, detail))
            rounds.append(rss_kib(pid))
            print("round %d: %d requests so far, RSS %d KiB, %d sockets (%d descriptors)"
                  % (len(rounds), total, rounds[-1], fds(pid), all_fds(pid)), flush=True)
        took = time.monotonic() - t0
        deadline = time.monotonic() + 10
        while fds(pid) > fds0 and time.monotonic() < deadline:
            time.sleep(0.1)
        fds1, all1, rss1 = fds(pid), all_fds(pid), rss_kib(pid)
    code = srv.stop()
    print("requests: %d in %.0f s (%s)" % (total, took, ", ".join("%s %d" % kv for kv in per_kind.items())))
    print("sockets: %d at the start, %d at the end (all descriptors: %d, %d)" % (fds0, fds1, all0, all1))
    print("RSS: %d KiB at the start, %d after round 1, %d max, %d at the end"
          % (rss0, rounds[0], max(rounds), rss1))
    if fds1 != fds0:
        failures.append("sockets %d -> %d" % (fds0, fds1))
    if max(rounds[1:] or rounds) - rounds[0] > args.rss_slack * 1024:
        failures.append("RSS grew %d KiB after round 1" % (max(rounds) - rounds[0]))
    if code != 0:
        failures.append("server exited %r: %s" % (code, srv.stderr_text[-2000:]))
    for x in failures:
        print("FAIL:", x)
    print("soak: %s" % ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
