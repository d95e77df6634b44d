#!/usr/bin/env python3
"""berth-serve beside nginx on the same machine: requests/s and server CPU
time per request.

    python3 bench/compare.py [--rounds 3] [--duration 5] [--warmup 1]
                             [--build build-bench]
                             [--backends reactor,fast:1,libuv]

Servers run pinned to CPU 0 (taskset covers every thread and child), wrk
runs with one thread pinned to CPU 1. nginx runs with one worker
(bench/nginx.conf), berth-serve with BERTH_THREADS=1 on each backend
(fast:1 is one acceptor; its per-connection threads all share CPU 0).

Two tests, each 64 connections:
  keep-alive  GET /baseline11?a=13&b=42  (nginx answers a constant "55";
              berth parses a and b and computes the sum)
  pipelined   GET /pipeline, 16 requests per write (bench/pipeline.lua)

Each round runs every server on each test in turn (the order rotates from
round to round), with a warm-up that is not counted before each measured
run. CPU per request is the delta of utime+stime from /proc/PID/stat of
the server process (nginx: master and workers) over the measured run,
divided by the requests wrk completed. A run with wrk socket errors or
non-2xx responses is invalid and left out of the medians.

Python 3 standard library only. Exit status 0 unless something failed to
run (a server did not start or answered wrongly, wrk failed, or a figure
has no valid run).
"""
import argparse
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")

TESTS = [
    {
        "key": "keepalive",
        "title": "keep-alive GET /baseline11?a=13&b=42",
        "path": "/baseline11?a=13&b=42",
        "body": b"55",
        "pipeline": False,
    },
    {
        "key": "pipelined",
        "title": "pipelined GET /pipeline",
        "path": "/pipeline",
        "body": b"ok",
        "pipeline": True,
    },
]


def stop_process(proc, kill):
    """SIGTERM, up to 10 s for a clean exit, then kill(proc)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        kill(proc)
        proc.wait()


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- /proc

def proc_ticks(pid):
    """utime + stime of a whole process (all its threads, live and exited)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return int(fields[11]) + int(fields[12])


def children_of(pid):
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(name))
    return sorted(kids)


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            total += proc_ticks(pid)
        except OSError:
            raise BenchError("process %d went away" % pid)
    return total / CLK_TCK


# ---------------------------------------------------------------- HTTP checks

def read_responses(sock, count, timeout=5.0):
    """Read count HTTP/1.1 responses with Content-Length bodies."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    while len(out) < count:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
            if not m:
                raise BenchError("bad status line %r" % lines[0])
            length = None
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                raise BenchError("response without Content-Length: %r" % head)
            if len(buf) >= end + 4 + length:
                out.append((int(m.group(1)), buf[end + 4:end + 4 + length]))
                buf = buf[end + 4 + length:]
                continue
        data = sock.recv(65536)
        if not data:
            raise BenchError("connection closed after %d of %d responses" % (len(out), count))
        buf += data
    return out


def check_server(port, depth):
    """Every test path answers 200 with the expected body, also pipelined."""
    for t in TESTS:
        n = depth if t["pipeline"] else 2
        req = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % t["path"].encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(req * n)
            for status, body in read_responses(s, n):
                if status != 200 or body != t["body"]:
                    raise BenchError("GET %s answered %d %r, expected 200 %r"
                                     % (t["path"], status, body, t["body"]))


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- servers

class Nginx:
    def __init__(self, binary, tmp, cpu):
        self.name = "nginx"
        self.binary, self.tmp, self.cpu = binary, os.path.join(tmp, "nginx"), cpu
        self.proc = None
        self.port = None

    def start(self):
        os.makedirs(self.tmp, exist_ok=True)
        with open(os.path.join(HERE, "nginx.conf")) as f:
            template = f.read()
        conf = os.path.join(self.tmp, "nginx.conf")
        for attempt in range(5):
            self.port = free_port()
            with open(conf, "w") as f:
                f.write(template.replace("@DIR@", self.tmp).replace("@PORT@", str(self.port)))
            log = open(os.path.join(self.tmp, "stderr.log"), "ab")
            self.proc = subprocess.Popen(
                ["taskset", "-c", str(self.cpu), self.binary, "-p", self.tmp + "/",
                 "-e", os.path.join(self.tmp, "error.log"), "-c", conf],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            log.close()
            if wait_port(self.port, self.proc):
                break
            self.stop()
        else:
            raise BenchError("nginx did not start; see %s/error.log" % self.tmp)
        deadline = time.monotonic() + 5
        while not children_of(self.proc.pid):
            if time.monotonic() > deadline:
                raise BenchError("nginx started no worker")
            time.sleep(0.05)

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError("nginx is not running")
        return [self.proc.pid] + children_of(self.proc.pid)

    def describe(self):
        return "nginx master %d, worker(s) %s" % (
            self.proc.pid, ",".join(str(p) for p in children_of(self.proc.pid)))

    def stop(self):
        stop_process(self.proc, lambda p: os.killpg(p.pid, signal.SIGKILL))
        self.proc = None


class Berth:
    def __init__(self, binary, backend, tmp, cpu):
        self.name = backend
        self.binary, self.backend, self.cpu = binary, backend, cpu
        self.out = os.path.join(tmp, "berth-%s.out" % backend.replace(":", "_"))
        self.err = os.path.join(tmp, "berth-%s.err" % backend.replace(":", "_"))
        self.proc = None
        self.port = None

    def start(self):
        env = dict(os.environ, PORT="0", HTTP_BACKEND=self.backend, BERTH_THREADS="1")
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(["taskset", "-c", str(self.cpu), self.binary],
                                         env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, start_new_session=True)
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.out) as f:
                line = f.readline()
            if line.endswith("\n"):
                break
            time.sleep(0.05)
        m = re.search(r":(\d+) backend=(\S+) threads=(\d+)", line)
        if not m:
            with open(self.err) as f:
                raise BenchError("berth-serve %s did not start: %r %s"
                                 % (self.backend, line, f.read().strip()))
        self.port = int(m.group(1))
        self.started_as = "backend=%s threads=%s" % (m.group(2), m.group(3))
        if m.group(2).split(":")[0] != self.backend.split(":")[0]:
            raise BenchError("asked for HTTP_BACKEND=%s, berth-serve runs %s"
                             % (self.backend, self.started_as))

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError("berth-serve %s is not running" % self.backend)
        return [self.proc.pid]

    def describe(self):
        return "berth-serve pid %d, %s" % (self.proc.pid, self.started_as)

    def stop(self):
        stop_process(self.proc, lambda p: p.kill())
        self.proc = None


# ---------------------------------------------------------------- wrk

def wrk_command(a, port, test, seconds):
    url = "http://127.0.0.1:%d%s" % (port, test["path"])
    cmd = ["taskset", "-c", str(a.client_cpu), a.wrk, "-t1", "-c%d" % a.connections,
           "-d%ds" % seconds, "--timeout", "5s"]
    if test["pipeline"]:
        cmd += ["-s", os.path.join(HERE, "pipeline.lua"), url, "--", str(a.depth)]
    else:
        cmd += [url]
    return cmd


def parse_wrk(text):
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m or not rps:
        raise BenchError("cannot read wrk output:\n" + text)
    r = {"requests": int(m.group(1)), "rps": float(rps.group(1)),
         "errors": {}, "non2xx": 0}
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if e:
        r["errors"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"),
                                                 e.groups()) if int(v)}
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if n:
        r["non2xx"] = int(n.group(1))
    return r


def run_wrk(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise BenchError("wrk failed (%d): %s\n%s" % (p.returncode, shlex.join(cmd), p.stdout))
    return parse_wrk(p.stdout)


def measure(a, server, test):
    server.pids()  # still running?
    if a.warmup > 0:
        run_wrk(wrk_command(a, server.port, test, a.warmup))
    cmd = wrk_command(a, server.port, test, a.duration)
    pids = server.pids()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = cpu_seconds(pids)
    t0 = time.monotonic()
    r = run_wrk(cmd)
    wall = time.monotonic() - t0
    cpu1 = cpu_seconds(pids)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if server.pids() != pids:
        raise BenchError("%s: server processes changed during the run (%s -> %s)"
                         % (server.name, pids, server.pids()))
    r["cpu"] = cpu1 - cpu0
    r["wall"] = wall
    r["wrk_cpu"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    r["us_per_req"] = r["cpu"] / r["requests"] * 1e6 if r["requests"] else float("nan")
    problems = []
    if r["errors"]:
        problems.append("socket errors " + ", ".join("%s %d" % kv for kv in r["errors"].items()))
    if r["non2xx"]:
        problems.append("%d non-2xx responses" % r["non2xx"])
    if r["requests"] == 0:
        problems.append("no request completed")
    r["invalid"] = "; ".join(problems)
    return r


# ---------------------------------------------------------------- report

def fmt_ratio(x):
    return "%.2fx" % x if x is not None else "-"


def ratio(num, den):
    if num is None or den is None or den == 0:
        return None
    return num / den


def median_of(runs, key):
    vals = [r[key] for r in runs if not r["invalid"]]
    return statistics.median(vals) if vals else None


def per_round_ratios(results, test, num, den, key):
    out = []
    for rnd in results:
        a_, b_ = rnd.get((num, test)), rnd.get((den, test))
        if a_ and b_ and not a_["invalid"] and not b_["invalid"] and b_[key]:
            out.append(a_[key] / b_[key])
    return out


def report(a, names, results):
    print()
    print("=" * 100)
    print("Medians over %d round(s) of valid runs; %ds measured after %ds warm-up; server on CPU %d, "
          "wrk -t1 on CPU %d" % (a.rounds, a.duration, a.warmup, a.server_cpu, a.client_cpu))
    print("CPU us/req = server utime+stime (nginx: master+worker) / requests completed by wrk; "
          "srv% = server CPU / wall time")
    print("Ratios are ratios of the medians; [lo..hi] is the range of the same ratio taken "
          "round by round.")
    print("wrk% = wrk's CPU / wall time: near 100, the single wrk thread limits req/s and "
          "CPU us/req is the figure to compare.")
    med = {}
    for test in TESTS:
        k = test["key"]
        print()
        if k == "keepalive":
            print("%s, %d connections  (nginx returns the constant \"55\"; berth parses a and b "
                  "and computes the sum)" % (test["title"], a.connections))
        else:
            print("%s, %d-deep (one write of %d requests), %d connections"
                  % (test["title"], a.depth, a.depth, a.connections))
        print("  %-9s %12s %11s %6s %6s %5s   %-24s %-24s %-24s" % (
            "server", "req/s", "CPU us/req", "srv%", "wrk%", "runs",
            "req/s / nginx", "CPU/req / nginx", "CPU/req / reactor"))
        for name in names:
            runs = [rnd[(name, k)] for rnd in results if (name, k) in rnd]
            valid = [r for r in runs if not r["invalid"]]
            m = {
                "rps": median_of(runs, "rps"),
                "us": median_of(runs, "us_per_req"),
                "srv": statistics.median([r["cpu"] / r["wall"] for r in valid]) if valid else None,
                "wrk": statistics.median([r["wrk_cpu"] / r["wall"] for r in valid]) if valid else None,
                "valid": len(valid),
                "runs": len(runs),
            }
            med[(name, k)] = m

        def cell(name, other, key, rkey):
            if name == other or (other, k) not in med:
                return "-"
            r = ratio(med[(name, k)][key], med[(other, k)][key])
            rr = per_round_ratios(results, k, name, other, rkey)
            if r is None:
                return "-"
            if rr:
                return "%s [%.2f..%.2f]" % (fmt_ratio(r), min(rr), max(rr))
            return fmt_ratio(r)

        for name in names:
            m = med[(name, k)]
            print("  %-9s %12s %11s %6s %6s %5s   %-24s %-24s %-24s" % (
                name,
                "%.0f" % m["rps"] if m["rps"] is not None else "invalid",
                "%.3f" % m["us"] if m["us"] is not None else "invalid",
                "%.0f" % (100 * m["srv"]) if m["srv"] is not None else "-",
                "%.0f" % (100 * m["wrk"]) if m["wrk"] is not None else "-",
                "%d/%d" % (m["valid"], m["runs"]),
                cell(name, "nginx", "rps", "rps"),
                cell(name, "nginx", "us", "us_per_req"),
                cell(name, "reactor", "us", "us_per_req") if name != "nginx" else "-"))
    return med


def targets(names, med):
    fast = next((n for n in names if n.split(":")[0] == "fast"), None)
    checks = [
        ("reactor keep-alive CPU/request <= nginx's (1 worker)",
         "reactor", "nginx", "keepalive", "us", lambda r: r <= 1.0),
        ("reactor pipelined req/s >= 5x nginx's",
         "reactor", "nginx", "pipelined", "rps", lambda r: r >= 5.0),
        ("%s keep-alive CPU/request within 1.2x of reactor's" % (fast or "fast"),
         fast, "reactor", "keepalive", "us", lambda r: r <= 1.2),
        ("libuv keep-alive CPU/request within 1.3x of reactor's",
         "libuv", "reactor", "keepalive", "us", lambda r: r <= 1.3),
    ]
    print()
    print("Targets (this run):")
    for label, num, den, test, key, ok in checks:
        r = None
        if num and (num, test) in med and (den, test) in med:
            r = ratio(med[(num, test)][key], med[(den, test)][key])
        if r is None:
            print("  [n/a]    %s: not measured" % label)
        else:
            print("  [%s] %s: %.2fx" % ("met   " if ok(r) else "MISSED", label, r))


def environment(a, binary):
    def first_line(cmd):
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            return p.stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    commit = first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    print("date: %s  host: %s %s  cpus: %d x %s" % (
        time.strftime("%Y-%m-%d %H:%M:%S"), platform.node(), platform.release(),
        os.cpu_count(), model))
    print("load average at start: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    print("berth: %s (%s)  %s  %s" % (binary, commit, first_line([a.nginx, "-v"]),
                                       first_line([a.wrk, "--version"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--duration", type=int, default=5, help="measured seconds per run (default 5)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="seconds of uncounted load before each run (default 1, 0: none)")
    ap.add_argument("--build", default=None,
                    help="meson build directory (default build-bench, else build)")
    ap.add_argument("--backends", default="reactor,fast:1,libuv",
                    help="berth backends, comma or space separated (default reactor,fast:1,libuv)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--depth", type=int, default=16, help="pipeline depth (default 16)")
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU of the servers (default 0)")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU of wrk (default 1)")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    a = ap.parse_args()

    print("command: " + shlex.join([sys.executable] + sys.argv))
    sys.stdout.flush()
    if a.rounds < 1 or a.duration < 1 or a.warmup < 0:
        sys.exit("--rounds and --duration must be at least 1, --warmup at least 0")
    build = a.build
    if build is None:
        build = next((d for d in ("build-bench", "build")
                      if os.path.exists(os.path.join(ROOT, d, "serve", "berth-serve"))),
                     "build-bench")
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    binary = os.path.join(build, "serve", "berth-serve")
    for what, path in (("berth-serve", binary), ("nginx", a.nginx), ("wrk", a.wrk)):
        if not (os.path.exists(path) or shutil.which(path)):
            sys.exit("%s not found: %s" % (what, path))
    backends = [b for b in re.split(r"[,\s]+", a.backends) if b]
    environment(a, binary)

    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    servers = [Nginx(a.nginx, tmp, a.server_cpu)] + [Berth(binary, b, tmp, a.server_cpu)
                                                     for b in backends]
    names = [s.name for s in servers]
    results = []
    failed = False

    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        for s in servers:
            s.start()
            check_server(s.port, a.depth)
            print("started %-8s port %d: %s; answers 200 \"55\" / \"ok\" (also %d pipelined)"
                  % (s.name, s.port, s.describe(), a.depth))
        print("wrk: " + shlex.join(wrk_command(a, 0, TESTS[0], a.duration)).replace(":0/", ":PORT/"))
        print("wrk: " + shlex.join(wrk_command(a, 0, TESTS[1], a.duration)).replace(":0/", ":PORT/"))
        print()
        sys.stdout.flush()
        for rnd in range(a.rounds):
            shift = rnd % len(servers)
            order = servers[shift:] + servers[:shift]
            this = {}
            results.append(this)
            for test in TESTS:
                for s in order:
                    r = measure(a, s, test)
                    this[(s.name, test["key"])] = r
                    print("round %d  %-9s %-9s %10.0f req/s %8.3f us/req  cpu %.2fs/%.2fs  "
                          "wrk %3.0f%%  %s" % (
                              rnd + 1, test["key"], s.name, r["rps"], r["us_per_req"],
                              r["cpu"], r["wall"], 100 * r["wrk_cpu"] / r["wall"],
                              "INVALID: " + r["invalid"] if r["invalid"] else "ok"))
                    sys.stdout.flush()
        # answers still right after the load?
        for s in servers:
            check_server(s.port, a.depth)
        med = report(a, names, results)
        for key, m in med.items():
            if m["valid"] == 0:
                print("no valid run for %s %s" % key)
                failed = True
        targets(names, med)
    except BenchError as e:
        print("FAILED: %s" % e)
        failed = True
    except KeyboardInterrupt:
        print("interrupted")
        failed = True
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
