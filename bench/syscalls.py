#!/usr/bin/env python3
"""System calls per request: each server under the same wrk load as
bench/run.py's profile, with strace -c attached to every thread of it
(the counts, not the times: strace slows every call down, so the req/s
under it mean nothing).

    python3 bench/syscalls.py --build build-rel --servers nginx,floor,reactor,uring
    python3 bench/syscalls.py --profiles baseline,pipelined --seconds 3

Prints, per profile and server, the calls per request: all of them, those
that move or wait for a socket's bytes (read/write/recv*/send*, epoll_wait,
poll), io_uring_enter, and the rest (the three largest named). Servers as
run.py starts them (one worker, the bench's nginx.conf, bench-floor's
canned answers); berth's backends by name."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402

SOCKET = {"read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
          "epoll_wait", "epoll_pwait", "poll", "ppoll", "sendfile", "accept4"}


def strace_counts(pids, work):
    """{syscall: calls} of every thread of pids while work() runs."""
    with tempfile.TemporaryDirectory(prefix="berth-syscalls-") as d:
        out = os.path.join(d, "trace")
        cmd = ["strace", "-f", "-qq", "-c", "-o", out]
        for p in pids:
            cmd += ["-p", str(p)]
        tracer = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.7)
        try:
            result = work()
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(20)
        calls = {}
        with open(out) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
                    calls[parts[-1]] = int(parts[3])
        return calls, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(run.ROOT, "build-bench"))
    ap.add_argument("--servers", default="nginx,floor,reactor,uring")
    ap.add_argument("--profiles", default="baseline,pipelined")
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    a = ap.parse_args()
    if not os.path.isdir(a.build):
        a.build = os.path.join(run.ROOT, "build")
    if not shutil.which("strace"):
        print("skipped: needs strace (Debian package strace)")
        return 77
    a.client_cpu, a.server_cpu, a.load = 1, 0, os.path.join(a.build, "bench", "bench-load")
    profiles = [p for p in run.PROFILES if p.key in a.profiles.split(",")]
    binary = os.path.join(a.build, "serve", "berth-serve")
    floor_bin = os.path.join(a.build, "bench", "bench-floor")
    tmp = tempfile.mkdtemp(prefix="berth-syscalls-")
    dataset, _ = run.find_dataset(None, tmp)
    refs = run.fetch_references(binary, dataset, profiles, tmp, a.server_cpu)
    rows = []
    for s in a.servers.split(","):
        if s == "nginx":
            ngx_dir = os.path.join(tmp, "nginx")
            os.makedirs(ngx_dir, exist_ok=True)
            srv = run.Nginx(a.nginx, run.nginx_config(profiles, refs, ngx_dir, 64), tmp, a.server_cpu)
        elif s == "floor":
            srv = run.Floor(floor_bin, run.floor_routes(profiles, refs, tmp), tmp, a.server_cpu)
        else:
            srv = run.Berth(binary, s, dataset, tmp, a.server_cpu)
        srv.start()
        try:
            for p in profiles:
                conns = 64 if p.connections == "many" else p.connections
                cmd = run.load_command(a, p, srv.port, a.seconds, tmp, conns, {})

                def work():
                    out = subprocess.run(cmd, capture_output=True, text=True).stdout
                    m = re.search(r"(\d+) requests in", out)
                    return int(m.group(1)) if m else 0
                calls, n = strace_counts(srv.pids(), work)
                if not n:
                    print("%s %s: no requests counted" % (p.key, s))
                    continue
                sock = sum(v for k, v in calls.items() if k in SOCKET)
                ring = calls.get("io_uring_enter", 0)
                other = {k: v for k, v in calls.items() if k not in SOCKET and k != "io_uring_enter"}
                top = sorted(other.items(), key=lambda kv: -kv[1])[:3]
                rows.append((p.key, s, n, sum(calls.values()) / n, sock / n, ring / n,
                             sum(other.values()) / n,
                             ", ".join("%s %.3f" % (k, v / n) for k, v in top)))
        finally:
            srv.stop()
    print("%-10s %-8s %8s %8s %8s %8s %8s  %s" % ("profile", "server", "requests", "all/req",
                                                 "socket", "uring", "other", "largest others"))
    for r in rows:
        print("%-10s %-8s %8d %8.3f %8.3f %8.3f %8.3f  %s" % r)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
