#!/usr/bin/env python3
"""berth-serve beside nginx and a floor server, on this machine, now.

    /usr/bin/python3 bench/run.py [--quick] [--rounds 3] [--duration 3] [--warmup 1]
                                  [--profiles a,b] [--servers a,b] [--out bench-out]

Servers: berth-serve on each backend (BERTH_THREADS=1), Debian's nginx with one
worker (bench/nginx.conf), bench-floor (bench/floor.c: canned answers, no
parsing beyond finding where requests end) and bench-floor-uring ("floor-uring":
the same floor on io_uring, bench/floor_uring.c; built only with liburing,
"skipped: no liburing" without it). Every server runs under
`taskset -c 0`, the load generator (wrk -t1, or bench-load) under `taskset -c 1`.

Profiles: the table PROFILES below. Each run starts a fresh server, checks that
it answers every request of the profile with the same bytes as berth-serve,
loads it for --warmup seconds (not counted), resets its peak RSS, loads it
for --duration seconds and measures: requests/s, latency p50/p99, server CPU
time per request (utime+stime of all its processes and threads from
/proc/PID/stat), peak RSS (VmHWM summed over its processes). A run with socket
errors, non-2xx answers or a server that died is invalid and left out of the
medians. Profiles and servers rotate from round to round.

Writes to --out (bench-out/): table.txt, results.json (everything),
bench-bigger.json and bench-smaller.json (github-action-benchmark's
customBiggerIsBetter / customSmallerIsBetter format), ratios.png and
history.png; appends a record of the ratios to bench-data/history.json.

Python 3 standard library; matplotlib (Debian's python3-matplotlib) only for
the charts: without it in this interpreter, /usr/bin/python3 draws them if it
can. bench/README.md explains the figures; docs/BENCHMARKS.md shows them.
Exit status: 0 done, 1 could not run (missing binary, bad answers of the
reference server, bad JSON), 2 done but some profile/server had no valid run.
"""
import argparse
import dataclasses
import datetime
import gzip
import json
import math
import os
import platform
import random
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
BASELINE = "/baseline11?a=13&b=42"
# HttpArena's json profile: (count, m) pairs, one after the other.
JSON_PAIRS = [(1, 3), (5, 7), (10, 2), (15, 5), (25, 4), (40, 8), (50, 6)]
MANY = 4096          # connections of the many-conn profile, if the fd limit allows
BACKENDS = ["reactor", "fast:1", "libuv"]
# The bases of the ratios. floor-uring is a reference server too (not
# berth), but no base: berth's ratios stay those to nginx and the floor;
# floor-uring gets its own to them (floor-uring / floor: io_uring / epoll).
REFERENCES = ["nginx", "floor"]
FLOORS = ["floor", "floor-uring"]
REFERENCE_SERVERS = ["nginx"] + FLOORS
BASE = "@base"  # a backend's name with this suffix runs the --base-build


# ---------------------------------------------------------------- the profiles

@dataclasses.dataclass
class Req:
    """One request of a profile and how every server answers it.

    expect: the response body; None means berth-serve's answer (fetched at
    start-up) is the reference every server must match byte for byte.
    nginx: "return" (a constant in nginx.conf), "file" (a static file holding
    the reference bytes, through open_file_cache) or "length" (return
    $content_length; nginx reads and discards the body). The floor answers
    the reference bytes, or the Content-Length for "length".
    """
    method: str
    target: str
    expect: bytes = None
    ctype: str = "text/plain"
    body_size: int = 0
    nginx: str = "return"
    close: bool = False   # sends Connection: close (the server closes after its answer)
    accept: str = ""      # Accept-Encoding sent (json-comp); answers are decompressed to compare
    precompressed: bool = False  # static: br, gzip or none, each decoded to compare

    def raw(self, body, plain=False):
        """The request; plain: without Accept-Encoding (the reference's)."""
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (self.method, self.target)
        if self.accept and not plain:
            head += "Accept-Encoding: %s\r\n" % self.accept
        if self.close:
            head += "Connection: close\r\n"
        if self.method == "POST":
            head += "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(body)
        return head.encode() + b"\r\n" + body


@dataclasses.dataclass
class Profile:
    """A row of the benchmark. client "wrk": wrk -t1, with bench/report.lua,
    bench/pipeline.lua (depth > 1) or bench/rotate.lua (several GETs);
    client "load": bench-load (POST bodies, close_every). connections
    "many": MANY, or what the fd limit allows. tls: over TLS, on the
    servers' TLS ports (berth-serve TLS_PORT=0, nginx `listen ... ssl`; the
    floor has none: n/a); resume (bench-load only): each new connection
    resumes the session of the previous one instead of a full handshake."""
    key: str
    title: str
    requests: list
    connections: object = 64
    client: str = "wrk"
    depth: int = 1
    close_every: int = 0
    nginx_note: str = ""
    tls: bool = False
    resume: bool = False
    gzip: bool = False    # answers compressed on the fly (the floor, with canned bytes, n/a)


def baseline_req():
    return Req("GET", BASELINE, expect=b"55")


PROFILES = [
    Profile("baseline", "keep-alive GET %s" % BASELINE, [baseline_req()],
            nginx_note='return 200 "55" (a constant; berth parses a and b and adds them)'),
    Profile("pipelined", "GET /pipeline, 16 requests per write", [Req("GET", "/pipeline", expect=b"ok")],
            depth=16, nginx_note='return 200 "ok"'),
    Profile("json", "GET /json/{count}?m=, 7 (count, m) pairs in turn",
            [Req("GET", "/json/%d?m=%d" % cm, ctype="application/json", nginx="file")
             for cm in JSON_PAIRS],
            nginx_note="static files holding berth-serve's answers (open_file_cache); "
                       "nginx ignores ?m="),
    Profile("limited-conn", "GET %s, the client closes after 10 requests" % BASELINE,
            [baseline_req()], client="load", close_every=10,
            nginx_note='return 200 "55"'),
    Profile("upload", "POST /upload, bodies of 500 KiB, 2 MiB, 10 MiB in turn",
            [Req("POST", "/upload", expect=str(n).encode(), body_size=n, nginx="length")
             for n in (500 * 1024, 2 * 1024 * 1024, 10 * 1024 * 1024)],
            connections=32, client="load",
            nginx_note="return 200 $content_length: nginx reads and discards the body "
                       "(4 KiB reads) and answers the Content-Length header, before the "
                       "body has arrived"),
    Profile("many-conn", "keep-alive GET %s over %d connections" % (BASELINE, MANY),
            [baseline_req()], connections="many", nginx_note='return 200 "55"'),
    Profile("json-tls", "json over TLS (HttpArena's json-tls), keep-alive",
            [Req("GET", "/json/%d?m=%d" % cm, ctype="application/json", nginx="file")
             for cm in JSON_PAIRS], tls=True,
            nginx_note="as json, over `listen ... ssl`"),
    Profile("handshake", "GET %s + Connection: close over TLS: a new connection and a full "
            "handshake per request (req/s = handshakes/s)" % BASELINE,
            [Req("GET", BASELINE, expect=b"55", close=True)], client="load", close_every=1,
            tls=True, nginx_note='return 200 "55"'),
    Profile("resumed", "as handshake, but each connection resumes the previous one's session "
            "(TLS 1.3 ticket)", [Req("GET", BASELINE, expect=b"55", close=True)], client="load",
            close_every=1, tls=True, resume=True, nginx_note='return 200 "55"'),
]


# ---- json-comp (issue 14, on-the-fly compression): HttpArena's json-comp,
# the json requests with its Accept-Encoding, beside nginx's gzip filter at
# berth's default level and threshold (nginx_config adds NGINX_GZIP to those
# locations). Both leave bodies under 1 KiB (/json/1, /json/5) as they are.
COMP_ACCEPT = "gzip, br"   # tests/data/arena/requests/json-gzip-*.raw
COMP_MIN = 1024            # berth's compress_min, nginx's gzip_min_length
NGINX_GZIP = ("gzip on; gzip_comp_level 1; gzip_types application/json; "
              "gzip_min_length %d; gzip_vary on;" % COMP_MIN)
PROFILES.append(
    Profile("json-comp", "json with Accept-Encoding: %s (HttpArena's json-comp), 7 pairs in turn"
            % COMP_ACCEPT,
            [Req("GET", "/json/%d?m=%d" % cm, ctype="application/json", nginx="file",
                 accept=COMP_ACCEPT) for cm in JSON_PAIRS], gzip=True,
            nginx_note="as json, with `%s` (nginx-light has no brotli; berth-serve: gzip "
                       "level 1, compress_min 1024)" % NGINX_GZIP))


# ---- static (issue 14, static files): HttpArena's static profile, its 20
# files in turn with its Accept-Encoding, from the directory that holds
# them and their .br/.gz siblings. berth-serve mounts it at /static/
# (BERTH_STATIC_DIR); nginx serves a copy with sendfile, open_file_cache and
# gzip_static (nginx-light has no brotli module: it sends the .gz files,
# berth the smaller .br ones). The floor sends the plain files.
STATIC_DIR = os.environ.get("BERTH_BENCH_STATIC",
                            os.path.join(HERE, "..", "tests", "data", "arena", "static"))
STATIC_ACCEPT = "br;q=1, gzip;q=0.8"   # tests/data/arena/requests/static-rotate.lua
NGINX_STATIC = "include /etc/nginx/mime.types; gzip_static on; gzip_vary on;"


def static_requests():
    names = sorted(n for n in os.listdir(STATIC_DIR) if not n.endswith((".br", ".gz")))
    reqs = []
    for n in names:
        with open(os.path.join(STATIC_DIR, n), "rb") as f:
            reqs.append(Req("GET", "/static/" + n, expect=f.read(), ctype="", nginx="static",
                            accept=STATIC_ACCEPT, precompressed=True))
    return reqs


if os.path.isdir(STATIC_DIR):
    PROFILES.append(
        Profile("static", "GET /static/{file}, HttpArena's 20 files in turn, Accept-Encoding: %s"
                % STATIC_ACCEPT, static_requests(),
                nginx_note="a copy of the directory with `%s` (sendfile, open_file_cache)"
                           % NGINX_STATIC))


def decode_body(coding, body):
    if coding == "gzip":
        return gzip.decompress(body)
    if coding != "br":
        return body
    try:
        import brotli
        return brotli.decompress(body)
    except ImportError:  # Debian's python3-brotli belongs to /usr/bin/python3
        return subprocess.run(["/usr/bin/python3", "-c", "import sys, brotli; sys.stdout.buffer."
                               "write(brotli.decompress(sys.stdin.buffer.read()))"],
                              input=body, capture_output=True, check=True).stdout


def serves(profile, server):
    """False where a server has no part in a profile: TLS on the floor, or
    answers compressed on the fly (the floor's are canned)."""
    return (server.has_tls or not profile.tls) and not (profile.gzip and server.kind == "floor")


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def children_of(pid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if int(proc_stat(int(name))[1]) == pid:
                    kids.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return sorted(kids)


def cpu_seconds(pids):
    """utime + stime of whole processes (all threads, live and exited)."""
    total = 0
    for pid in pids:
        try:
            f = proc_stat(pid)
        except OSError:
            raise BenchError("process %d went away" % pid)
        total += int(f[11]) + int(f[12])
    return total / CLK_TCK


def reset_peak_rss(pids):
    ok = True
    for pid in pids:
        try:
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok


def peak_rss_kib(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        total += int(m.group(1)) if m else 0
    return total


# ---------------------------------------------------------------- HTTP checks

def read_responses(sock, count, timeout=10.0):
    """count HTTP/1.1 responses with Content-Length: [(status, headers, body)]."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    while len(out) < count:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            lines = buf[:end].decode("latin-1").split("\r\n")
            m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
            if not m:
                raise BenchError("bad status line %r" % lines[0])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            status = int(m.group(1))
            if headers.get("transfer-encoding", "").lower() == "chunked":
                got = dechunk(buf, end + 4)  # nginx's gzip filter drops Content-Length
                if got:
                    body, used = got
                    buf = buf[used:]
                    out.append((status, headers, body))
                    continue
            elif "content-length" not in headers:
                raise BenchError("response without Content-Length: %r" % buf[:end])
            elif len(buf) >= end + 4 + int(headers["content-length"]):
                length = int(headers["content-length"])
                body = buf[end + 4:end + 4 + length]
                buf = buf[end + 4 + length:]
                if 100 <= status < 200:
                    continue
                out.append((status, headers, body))
                continue
        data = sock.recv(1 << 20)
        if not data:
            raise BenchError("connection closed after %d of %d responses" % (len(out), count))
        buf += data
    return out


def dechunk(buf, pos):
    """A whole chunked body at buf[pos:]: (body, offset past it), or None
    while incomplete. No trailers."""
    body = b""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";")[0], 16)
        if len(buf) < eol + 2 + size + 2:
            return None
        body += buf[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
        if size == 0:
            return body, pos


def exchange(port, raw, count=1):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        return read_responses(s, count)


def tls_connect(port, cert_der):
    """A TLS connection as the load generators make them (OpenSSL's default
    client ciphers, ALPN http/1.1), that checks the server's certificate is
    the one given. Returns (socket, "version cipher alpn=...")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except (OSError, ssl.SSLError) as e:
        raw.close()
        raise BenchError("TLS handshake with port %d failed: %s" % (port, e))
    if cert_der and s.getpeercert(binary_form=True) != cert_der:
        s.close()
        raise BenchError("port %d serves another certificate than the bench's" % port)
    alpn = s.selected_alpn_protocol()
    desc = "%s %s alpn=%s" % (s.version(), s.cipher()[0], alpn or "-")
    if alpn != "http/1.1":
        s.close()
        raise BenchError("port %d: ALPN %r, expected http/1.1 (%s)" % (port, alpn, desc))
    return s, desc


def check_answers(port, profile, refs, bodies, name, cert_der=None):
    """Every request of the profile, on one connection, answers 200 with the
    reference bytes and content type; pipelined profiles also pipelined.
    TLS profiles: over TLS (the certificate and ALPN checked); a request
    with Connection: close on its own connection, which the server must
    close after its answer. Returns the TLS parameters negotiated, or ""."""
    reqs = profile.requests
    raws = [r.raw(bodies.get(r.body_size, b"")) for r in reqs]
    desc = ""

    def connect():
        nonlocal desc
        if not profile.tls:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        s, desc = tls_connect(port, cert_der)
        return s

    s = connect()
    try:
        for r, raw in zip(reqs, raws):
            s.sendall(raw)
            got = read_responses(s, 1)[0]
            expect_answer(r, got, refs, name)
            if r.close:
                try:
                    rest = s.recv(1)
                except ssl.SSLError as e:
                    rest = b"" if "EOF" in str(e) else b"?"
                except OSError:
                    rest = b""
                if rest:
                    raise BenchError("%s: kept the connection open after Connection: close"
                                     % name)
                s.close()
                s = connect()
        if profile.depth > 1:
            s.sendall(raws[0] * profile.depth)
            for got in read_responses(s, profile.depth):
                expect_answer(reqs[0], got, refs, name)
    finally:
        s.close()
    return desc


def expect_answer(req, got, refs, name):
    status, headers, body = got
    want = refs[req.target] if req.expect is None else req.expect
    if req.precompressed:  # whichever sibling the server chose
        body = decode_body(headers.get("content-encoding", ""), body)
    elif req.accept:  # compressed exactly when the reference reaches the threshold
        coding = headers.get("content-encoding", "")
        if coding != ("gzip" if len(want) >= COMP_MIN else ""):
            raise BenchError("%s: %s answered Content-Encoding %r for %d bytes"
                             % (name, req.target, coding, len(want)))
        if coding:
            body = gzip.decompress(body)
    ctype = headers.get("content-type", "").split(";")[0].strip()
    if status != 200 or body != want or (req.ctype and ctype != req.ctype):
        raise BenchError("%s: %s %s answered %d %s %r, expected 200 %s %r" % (
            name, req.method, req.target, status, ctype, body[:80], req.ctype, want[:80]))


def server_connections(port):
    """Open server-side TCP connections of port (ESTABLISHED or CLOSE_WAIT)."""
    hexport = ":%04X" % port
    n = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split(None, 4)
                    if parts[1].endswith(hexport) and parts[3] in ("01", "08"):
                        n += 1
        except OSError:
            pass
    return n


def wait_idle(port, timeout=10.0):
    """Waits until the server has closed the connections of the last load, so
    that a run starts on a quiet server (and nginx's worker_connections hold)."""
    deadline = time.monotonic() + timeout
    while server_connections(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    return server_connections(port)


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

def stop_process(proc, kill, timeout=10):
    """SIGTERM, up to timeout s for a clean exit, then kill(proc). Returns a
    note when the stop was not clean."""
    if proc is None:
        return ""
    if proc.poll() is not None:
        return "had exited with status %s" % proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        proc.wait()
        return "did not stop within %d s of SIGTERM (killed)" % timeout
    return "" if rc == 0 else "exited with status %d after SIGTERM" % rc


class Server:
    """A server started from a command that prints "listening on
    http://127.0.0.1:PORT backend=NAME threads=N" (berth-serve, bench-floor),
    and " tls=https://127.0.0.1:TLS_PORT" when it serves TLS too."""
    kind = "berth"
    has_tls = False

    def __init__(self, name, argv, env, tmp, cpu):
        self.name = name
        self.argv, self.env, self.cpu = argv, env, cpu
        safe = name.replace(":", "_")
        self.out = os.path.join(tmp, "%s.out" % safe)
        self.err = os.path.join(tmp, "%s.err" % safe)
        self.proc = None
        self.port = None
        self.tls_port = None

    def environment(self, tls):
        return self.env

    def start(self, tls=False):
        with open(self.out, "wb") as out, open(self.err, "ab") as err:
            self.proc = subprocess.Popen(["taskset", "-c", str(self.cpu)] + self.argv,
                                         env=self.environment(tls), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.out) as f:
                line = f.readline()
            if line.endswith("\n"):
                break
            time.sleep(0.02)
        m = re.search(r":(\d+) backend=(\S+) threads=(\d+)", line)
        if not m:
            self.stop()
            raise BenchError("%s did not start: %r %s" % (self.name, line, self.stderr_tail()))
        self.port = int(m.group(1))
        self.started_as = "backend=%s threads=%s" % (m.group(2), m.group(3))
        t = re.search(r" tls=https://127\.0\.0\.1:(\d+)", line)
        self.tls_port = int(t.group(1)) if t else None
        if tls and not self.tls_port:
            self.stop()
            raise BenchError("%s started without TLS: %r %s" % (self.name, line,
                                                               self.stderr_tail()))

    def stderr_tail(self):
        try:
            with open(self.err, errors="replace") as f:
                return f.read()[-500:].strip()
        except OSError:
            return ""

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError("%s is not running (exit status %s) %s" % (
                self.name, self.proc.returncode if self.proc else "-", self.stderr_tail()))
        return [self.proc.pid]

    def stop(self):
        note = stop_process(self.proc, lambda p: os.killpg(p.pid, signal.SIGKILL))
        self.proc = None
        return note


class Berth(Server):
    """berth-serve. TLS only for the TLS profiles (TLS_PORT=0 and the bench's
    certificate; otherwise TLS_PORT=off), so that the plaintext profiles run
    the server they always ran (no TLS listener, no wolfSSL context). The
    other TLS_* variables (TLS_CIPHERS, TLS_MIN_VERSION) pass through from
    run.py's environment."""
    kind = "berth"
    has_tls = True

    def __init__(self, binary, backend, dataset, tmp, cpu, name=None, cert=None):
        env = dict(os.environ, PORT="0", TLS_PORT="off", HTTP_BACKEND=backend, BERTH_THREADS="1",
                   BERTH_DATASET=dataset)
        if os.path.isdir(STATIC_DIR):
            env["BERTH_STATIC_DIR"] = os.path.abspath(STATIC_DIR)
        super().__init__(name or backend, [binary], env, tmp, cpu)
        self.backend = backend
        self.cert = cert

    def environment(self, tls):
        if not tls:
            return self.env
        return dict(self.env, TLS_PORT="0", TLS_CERT=self.cert["crt"], TLS_KEY=self.cert["key"])

    def start(self, tls=False):
        super().start(tls)
        running = self.started_as.split()[0].split("=")[1]
        if running.split(":")[0] != self.backend.split(":")[0]:
            self.stop()
            raise BenchError("asked for HTTP_BACKEND=%s, berth-serve runs %s"
                             % (self.backend, self.started_as))


class Floor(Server):
    """bench-floor, or bench-floor-uring (name "floor-uring"): the same
    arguments, routes and answers."""
    kind = "floor"

    def __init__(self, binary, routes, tmp, cpu, name="floor"):
        super().__init__(name, [binary, "0", routes], dict(os.environ), tmp, cpu)


def skip_unbuilt(servers, build):
    """floor-uring runs only where bench-floor-uring was built (meson finds
    liburing): without it, the servers without floor-uring and the note
    saying so (for the log and the table)."""
    path = os.path.join(build, "bench", "bench-floor-uring")
    if "floor-uring" not in servers or os.path.exists(path):
        return servers, {}
    return ([s for s in servers if s != "floor-uring"],
            {"floor-uring": "skipped: no liburing (%s was not built; scripts/deps.sh build "
                            "installs liburing-dev)" % shown(path)})


class Nginx(Server):
    """nginx; for the TLS profiles its server block also gets `listen ...
    ssl` with the bench's certificate (nginx_tls below)."""
    kind = "nginx"
    has_tls = True

    def __init__(self, binary, conf_template, tmp, cpu, tls_conf=""):
        super().__init__("nginx", [], None, tmp, cpu)
        self.binary, self.template, self.tls_conf = binary, conf_template, tls_conf
        self.dir = os.path.join(tmp, "nginx")

    def start(self, tls=False):
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        for attempt in range(5):
            self.port = free_port()
            self.tls_port = free_port() if tls else None
            tls_text = self.tls_conf.replace("@TLS_PORT@", str(self.tls_port)) if tls else ""
            with open(conf, "w") as f:
                f.write(self.template.replace("@PORT@", str(self.port))
                        .replace("@TLS@", tls_text))
            with open(self.err, "ab") as log_:
                self.proc = subprocess.Popen(
                    ["taskset", "-c", str(self.cpu), self.binary, "-p", self.dir + "/",
                     "-e", os.path.join(self.dir, "error.log"), "-c", conf],
                    stdin=subprocess.DEVNULL, stdout=log_, stderr=log_, start_new_session=True)
            if wait_port(self.port, self.proc) and (not tls or wait_port(self.tls_port,
                                                                         self.proc)):
                break
            self.stop()
        else:
            try:
                with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                    tail = f.read()[-600:].strip()
            except OSError:
                tail = ""
            raise BenchError("nginx did not start: %s %s" % (tail, self.stderr_tail()))
        deadline = time.monotonic() + 5
        while not children_of(self.proc.pid):
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError("nginx started no worker")
            time.sleep(0.02)
        self.started_as = "master+1 worker"

    def pids(self):
        return super().pids() + children_of(self.proc.pid)


# ---------------------------------------------------------------- set-up

def synthetic_dataset(path):
    """50 items shaped like HttpArena's dataset.json, for machines without it."""
    rnd = random.Random(9)
    words = ["Alpha", "Pro", "Core", "Edge", "Nano", "Ultra", "Smart", "Prime"]
    things = ["Widget", "Valve", "Relay", "Link", "Gadget", "Sensor", "Hub", "Module"]
    cats = ["electronics", "tools", "books", "clothing", "sports", "home"]
    tags = ["sale", "heavy-duty", "popular", "fast", "new", "wireless", "eco", "limited"]
    items = [{"id": i, "name": "%s %s" % (rnd.choice(words), rnd.choice(things)),
              "category": rnd.choice(cats), "price": rnd.randint(1, 500),
              "quantity": rnd.randint(0, 100), "active": rnd.random() < 0.7,
              "tags": rnd.sample(tags, rnd.randint(1, 4)),
              "rating": {"score": rnd.randint(0, 50), "count": rnd.randint(0, 500)}}
             for i in range(1, 51)]
    with open(path, "w") as f:
        json.dump(items, f, indent=2)


def shown(path):
    """A path as the report prints it: relative to the repository when
    inside it (the report says nothing of the machine it ran on)."""
    rel = os.path.relpath(os.path.abspath(path), ROOT)
    return path if rel.startswith("..") else rel


def find_dataset(arg, tmp):
    for p in ([arg] if arg else []) + [os.environ.get("BERTH_DATASET"),
                                       os.path.join(ROOT, "tests", "data", "arena", "dataset.json"),
                                       "/data/dataset.json"]:
        if p and os.path.exists(p):
            return os.path.abspath(p), "HttpArena dataset %s" % shown(p)
    if arg:
        raise BenchError("dataset %s not found" % arg)
    path = os.path.join(tmp, "dataset.json")
    synthetic_dataset(path)
    return path, "synthetic dataset (no HttpArena dataset.json found; see --dataset)"


def check_json_answer(target, body):
    m = re.match(r"/json/(\d+)\?m=(\d+)$", target)
    if not m:
        return
    count, mul = int(m.group(1)), int(m.group(2))
    doc = json.loads(body)
    items = doc["items"]
    if doc["count"] != len(items) or len(items) != count:
        raise BenchError("%s: %d items, count %s" % (target, len(items), doc["count"]))
    for it in items:
        if it["total"] != it["price"] * it["quantity"] * mul:
            raise BenchError("%s: wrong total in %r" % (target, it))


def fetch_references(binary, dataset, profiles, tmp, cpu):
    """berth-serve (reactor) answers every request whose expected body is not
    given; these bytes are what nginx and the floor will serve."""
    need = [r for p in profiles for r in p.requests if r.expect is None]
    refs = {}
    if not need:
        return refs
    srv = Berth(binary, "reactor", dataset, tmp, cpu)
    srv.start()
    try:
        for r in need:
            status, headers, body = exchange(srv.port, r.raw(b"", plain=True))[0]
            if status != 200:
                raise BenchError("reference: berth-serve answered %d to %s %s: %r"
                                 % (status, r.method, r.target, body[:200]))
            check_json_answer(r.target, body)
            refs[r.target] = body
    finally:
        srv.stop()
    return refs


def nginx_string(body):
    s = body.decode("ascii")
    if not re.fullmatch(r"[ -~]*", s) or "$" in s:
        raise BenchError("nginx: cannot put %r in a return constant; use nginx='file'" % s)
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def nginx_config(profiles, refs, nginx_dir, many):
    """bench/nginx.conf with one exact location per path of the profiles."""
    www = os.path.join(nginx_dir, "www")
    locs = {}
    gz = set()  # paths json-comp asks compressed (nginx gzips only clients that accept it)
    for p in profiles:
        for r in p.requests:
            path = r.target.split("?")[0]
            if r.nginx == "return":
                body = refs[r.target] if r.expect is None else r.expect
                block = "default_type %s;\n            return 200 %s;" % (r.ctype, nginx_string(body))
            elif r.nginx == "file":
                body = refs[r.target] if r.expect is None else r.expect
                dest = os.path.join(www, path.lstrip("/"))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest, "wb") as f:
                    f.write(body)
                block = "root %s;\n            default_type %s;" % (www, r.ctype)
            elif r.nginx == "length":
                block = "default_type %s;\n            return 200 $content_length;" % r.ctype
            elif r.nginx == "static":  # the file and its siblings, as they are
                dest = os.path.join(www, path.lstrip("/"))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                src = os.path.join(STATIC_DIR, os.path.basename(path))
                for suffix in ("", ".gz"):
                    if os.path.exists(src + suffix):
                        shutil.copy2(src + suffix, dest + suffix)
                block = "root %s;\n            %s" % (www, NGINX_STATIC)
            else:
                raise BenchError("unknown nginx mode %r" % r.nginx)
            if locs.get(path, block) != block:
                raise BenchError("nginx: %s is served two ways" % path)
            locs[path] = block
            if r.accept and not r.precompressed:
                gz.add(path)
    text = "".join("        location = %s {\n            %s%s\n        }\n"
                   % (k, v, "\n            " + NGINX_GZIP if k in gz else "")
                   for k, v in sorted(locs.items()))
    with open(os.path.join(HERE, "nginx.conf")) as f:
        template = f.read()
    return (template.replace("@DIR@", nginx_dir).replace("@LOCATIONS@", text.rstrip("\n"))
            .replace("@WORKER_CONNECTIONS@", str(many + 1024))
            .replace("@NOFILE@", str(2 * many + 1024)))


def nginx_tls(cert, ciphersuites=None):
    """The TLS lines of nginx's server block (@TLS@ in bench/nginx.conf):
    the bench's certificate, TLS 1.2 and 1.3, tickets on and no session
    cache (nginx's defaults, written out: `none` tells clients sessions may
    be resumed and stores none, so only tickets resume), OpenSSL's default
    ciphers in the client's order (nginx's default), ALPN http/1.1 (nginx
    offers h2 only with `http2`). --nginx-ciphersuites puts TLS 1.3 suites
    in the server's order instead."""
    lines = ["listen 127.0.0.1:@TLS_PORT@ ssl backlog=4096;",
             "ssl_certificate %s;" % cert["crt"], "ssl_certificate_key %s;" % cert["key"],
             "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_session_tickets on;",
             "ssl_session_cache none;"]
    if ciphersuites:
        lines += ["ssl_conf_command Ciphersuites %s;" % ciphersuites,
                  "ssl_prefer_server_ciphers on;"]
    return "".join("        %s\n" % x for x in lines)


def find_cert(crt, key, tmp):
    """The certificate both servers present: --cert/--key, HttpArena's
    (/certs, in its containers), else an RSA-2048 one made with openssl."""
    if crt or key:
        if not (crt and key and os.path.exists(crt) and os.path.exists(key)):
            raise BenchError("--cert and --key must both name existing PEM files")
        pairs = [(crt, key)]
    else:
        pairs = [(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
                 for d in ("/certs",)]
    for c, k in pairs:
        if os.path.exists(c) and os.path.exists(k):
            c, k = os.path.abspath(c), os.path.abspath(k)
            with open(c) as f:
                der = ssl.PEM_cert_to_DER_cert(f.read())
            return {"crt": c, "key": k, "der": der, "desc": "certificate %s" % shown(c)}
    c, k = os.path.join(tmp, "server.crt"), os.path.join(tmp, "server.key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-subj", "/CN=localhost", "-keyout", k, "-out", c],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise BenchError("no certificate found and openssl could not make one: %s" % p.stderr)
    os.chmod(k, 0o644)  # nginx's master reads it; the directory is ours
    with open(c) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return {"crt": c, "key": k, "der": der,
            "desc": "self-signed RSA-2048 certificate made with openssl"}


def floor_routes(profiles, refs, tmp):
    lines = []
    seen = set()
    for p in profiles:
        for r in p.requests:
            if r.target in seen:
                continue
            seen.add(r.target)
            if r.nginx == "length":
                spec = "@length"
            else:
                spec = os.path.join(tmp, "floor-body-%d" % len(seen))
                with open(spec, "wb") as f:
                    f.write(refs[r.target] if r.expect is None else r.expect)
            lines.append("%s\t%s\t%s\n" % (r.target, r.ctype or "application/octet-stream", spec))
    path = os.path.join(tmp, "floor-routes")
    with open(path, "w") as f:
        f.writelines(lines)
    return path


# ---------------------------------------------------------------- load

def load_command(a, profile, port, seconds, tmp, conns, bodies):
    """The load generator's command line for a profile (port: the TLS port
    for TLS profiles)."""
    cpu = ["taskset", "-c", str(a.client_cpu)]
    if profile.client == "wrk":
        url = "%s://127.0.0.1:%d" % ("https" if profile.tls else "http", port)
        cmd = cpu + [a.wrk, "-t1", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "5s"]
        if profile.requests[0].accept:  # wrk.format adds -H headers to each request
            cmd += ["-H", "Accept-Encoding: %s" % profile.requests[0].accept]
        if profile.depth > 1:
            return cmd + ["-s", os.path.join(HERE, "pipeline.lua"),
                          url + profile.requests[0].target, "--", str(profile.depth)]
        if len(profile.requests) > 1:
            return cmd + ["-s", os.path.join(HERE, "rotate.lua"), url + "/", "--"] + \
                [r.target for r in profile.requests]
        return cmd + ["-s", os.path.join(HERE, "report.lua"), url + profile.requests[0].target]
    files = []
    for i, r in enumerate(profile.requests):
        path = os.path.join(tmp, "req-%s-%d.raw" % (profile.key, i))
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(r.raw(bodies.get(r.body_size, b"")))
        files.append(path)
    cmd = cpu + [a.load, "-p", str(port), "-c", str(conns), "-d", str(seconds), "-t", "5"]
    if profile.close_every:
        cmd += ["-k", str(profile.close_every)]
    if profile.tls:
        # -l: a connection's first request is timed from connect(), so with
        # -k 1 the latency is the whole connection, handshakes included
        cmd += ["-r" if profile.resume else "-s"] + (["-l"] if profile.close_every == 1 else [])
    return cmd + files


def run_load(cmd, seconds, conns):
    """Runs the load generator; returns (report dict, its CPU seconds, output)."""
    # report.lua undoes wrk's latency correction when it knows -c
    env = dict(os.environ, BENCH_WRK_CONNECTIONS=str(conns))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + seconds + 60
    out = b""
    try:
        # wait4 below gives the CPU time of this child alone
        fd = p.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                p.kill()
                raise BenchError("load generator did not finish: %s" % shlex.join(cmd))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        p.stdout.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    text = out.decode("utf-8", "replace")
    if p.returncode != 0:
        raise BenchError("load generator failed (%d): %s\n%s" % (p.returncode, shlex.join(cmd), text))
    m = re.search(r"^BENCH_JSON (\{.*\})$", text, re.M)
    if not m:
        raise BenchError("no BENCH_JSON line from %s:\n%s" % (shlex.join(cmd), text))
    return json.loads(m.group(1)), ru.ru_utime + ru.ru_stime, text


def measure(a, server, profile, ctx):
    """One run: fresh server, answers checked, warm-up, measured load."""
    r = {"profile": profile.key, "server": server.name, "notes": [], "invalid": ""}
    conns = ctx["conns"][profile.key]
    try:
        server.start(tls=profile.tls)
        port = server.tls_port if profile.tls else server.port
        try:
            r["tls"] = check_answers(port, profile, ctx["refs"], ctx["bodies"], server.name,
                                     ctx.get("cert_der"))
            if a.warmup > 0:
                run_load(load_command(a, profile, port, a.warmup, ctx["tmp"], conns,
                                      ctx["bodies"]), a.warmup, conns)
            left = wait_idle(port)
            if left:
                r["notes"].append("%d connections of the warm-up still open" % left)
            pids = server.pids()
            if not reset_peak_rss(pids):
                r["notes"].append("peak RSS includes the warm-up (clear_refs refused)")
            cpu0 = cpu_seconds(pids)
            t0 = time.monotonic()
            rep, load_cpu, text = run_load(load_command(a, profile, port, a.duration,
                                                        ctx["tmp"], conns, ctx["bodies"]),
                                           a.duration, conns)
            wall = time.monotonic() - t0
            after = server.pids()
            if after != pids:
                raise BenchError("server processes changed during the run (%s -> %s)"
                                 % (pids, after))
            cpu1 = cpu_seconds(pids)
            rss = peak_rss_kib(pids)
            check_answers(port, profile, ctx["refs"], ctx["bodies"], server.name,
                          ctx.get("cert_der"))
        finally:
            note = server.stop()
            if note:
                r["notes"].append("server " + note)
    except BenchError as e:
        r["invalid"] = str(e).strip().replace("\n", " ")[:400]
        return r
    secs = rep["duration_us"] / 1e6
    r.update({
        "requests": rep["requests"], "seconds": secs,
        "rps": rep["requests"] / secs if secs else 0.0,
        "latency_us": rep["latency_us"], "errors": rep["errors"],
        "connects": rep.get("connects"), "bytes": rep.get("bytes"),
        "latency_source": rep.get("latency_source", "raw"),
        "cpu_s": cpu1 - cpu0, "wall_s": wall, "load_cpu_s": load_cpu,
        "cpu_us_per_req": (cpu1 - cpu0) / rep["requests"] * 1e6 if rep["requests"] else None,
        "peak_rss_kib": rss, "connections": conns,
    })
    if rep.get("tls"):
        r["load_tls"] = rep["tls"]
    problems = []
    errs = {k: v for k, v in rep["errors"].items() if k != "status" and v}
    if errs:
        problems.append("socket errors " + ", ".join("%s %d" % kv for kv in sorted(errs.items())))
    if rep["errors"].get("status"):
        problems.append("%d non-2xx responses" % rep["errors"]["status"])
    if rep["requests"] == 0:
        problems.append("no request completed")
    if profile.close_every and rep.get("connects") is not None and \
            rep["connects"] < 0.9 * rep["requests"] / profile.close_every:
        problems.append("%d connections for %d requests: the client did not reconnect every %d"
                        % (rep["connects"], rep["requests"], profile.close_every))
    t = rep.get("tls")
    if profile.tls and profile.client == "load":
        # what the server accepted, as bench-load saw it (SSL_session_reused)
        if not t or not t.get("handshakes"):
            problems.append("bench-load reported no TLS handshake")
        elif not profile.resume and t["resumed"]:
            problems.append("%d of %d handshakes resumed a session" % (t["resumed"],
                                                                      t["handshakes"]))
        elif profile.resume and t["resumed"] < t["handshakes"] - conns:
            problems.append("only %d of %d handshakes resumed a session (a connection's first "
                            "one cannot)" % (t["resumed"], t["handshakes"]))
        if t and t.get("alpn") != "http/1.1":
            problems.append("ALPN %s, expected http/1.1" % t.get("alpn"))
        if t and t.get("mixed"):
            r["notes"].append("%d handshakes negotiated other parameters than the first (%s %s)"
                              % (t["mixed"], t["version"], t["cipher"]))
    r["invalid"] = "; ".join(problems)
    return r


# ---------------------------------------------------------------- figures

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def aggregate(runs, profiles, servers):
    """Medians per (profile, server) and ratios per (profile, server, base)."""
    med = {}
    tls_keys = {x.key for x in PROFILES if x.tls}
    gzip_keys = {x.key for x in PROFILES if x.gzip}
    for p in profiles:
        for s in servers:
            rs = [r for r in runs if r["profile"] == p and r["server"] == s]
            ok = [r for r in rs if not r["invalid"]]
            m = {"runs": len(rs), "valid": len(ok)}
            if not rs and s in FLOORS and p in tls_keys:
                m["na"] = "the floor has no TLS"
            if not rs and s in FLOORS and p in gzip_keys:
                m["na"] = "the floor does not compress"
            if ok:
                m.update({
                    "rps": median([r["rps"] for r in ok]),
                    "rps_min": min(r["rps"] for r in ok), "rps_max": max(r["rps"] for r in ok),
                    "p50_us": median([r["latency_us"]["p50"] for r in ok]),
                    "p99_us": median([r["latency_us"]["p99"] for r in ok]),
                    "cpu_us_per_req": median([r["cpu_us_per_req"] for r in ok]),
                    "peak_rss_kib": median([r["peak_rss_kib"] for r in ok]),
                    "srv_pct": median([100 * r["cpu_s"] / r["wall_s"] for r in ok]),
                    "load_pct": median([100 * r["load_cpu_s"] / r["wall_s"] for r in ok]),
                    "connections": ok[0]["connections"],
                })
            med[(p, s)] = m
    ratios = {}
    for p in profiles:
        for s in servers:
            for base in REFERENCES + [s + BASE]:
                if s == base or s == "floor" or base not in servers:
                    continue
                a_, b_ = med.get((p, s), {}), med.get((p, base), {})
                entry = {}
                for key, field in (("rps", "rps"), ("cpu", "cpu_us_per_req")):
                    if a_.get(field) and b_.get(field):
                        per_round = []
                        for rnd in sorted({r["round"] for r in runs}):
                            x = [r for r in runs if r["round"] == rnd and r["profile"] == p
                                 and r["server"] == s and not r["invalid"]]
                            y = [r for r in runs if r["round"] == rnd and r["profile"] == p
                                 and r["server"] == base and not r["invalid"]]
                            if x and y and y[0][field]:
                                per_round.append(x[0][field] / y[0][field])
                        entry[key] = {"value": a_[field] / b_[field],
                                      "min": min(per_round) if per_round else None,
                                      "max": max(per_round) if per_round else None}
                ratios[(p, s, base)] = entry
    return med, ratios


def fmt(x, spec="%.0f", none="-"):
    return spec % x if x is not None else none


def ratio_cell(e):
    if not e:
        return "-"
    if e["min"] is None:
        return "%.2f" % e["value"]
    return "%.2f [%.2f-%.2f]" % (e["value"], e["min"], e["max"])


TARGETS = [
    ("reactor keep-alive CPU/request <= nginx's (1 worker)",
     "reactor", "nginx", "baseline", "cpu_us_per_req", lambda r: r <= 1.0),
    ("reactor pipelined req/s >= 5x nginx's",
     "reactor", "nginx", "pipelined", "rps", lambda r: r >= 5.0),
    ("fast:1 keep-alive CPU/request within 1.2x of reactor's",
     "fast:1", "reactor", "baseline", "cpu_us_per_req", lambda r: r <= 1.2),
    ("libuv keep-alive CPU/request within 1.3x of reactor's",
     "libuv", "reactor", "baseline", "cpu_us_per_req", lambda r: r <= 1.3),
]


def table(meta, profiles, servers, med, ratios, runs):
    out = []
    w = out.append
    w("berth-serve vs nginx vs floor -- %s, commit %s" % (meta["date"], meta["commit_short"]))
    w("command: %s" % meta["command"])
    w("%s; %s" % (meta["host"], meta["versions"]))
    w("server on CPU %d, load on CPU %d; %d round(s) of %d s after %d s warm-up; medians of "
      "valid runs" % (meta["server_cpu"], meta["client_cpu"], meta["rounds"], meta["duration"],
                      meta["warmup"]))
    w("load average at start: %s; %s" % (meta["loadavg"], meta["dataset"]))
    if meta.get("tls_setup"):
        w(meta["tls_setup"])
    for name, note in sorted(meta.get("skipped", {}).items()):
        w("%s: %s" % (name, note))
    w("")
    sw = max([7] + [len(s) for s in servers])
    w("%-13s %-*s %9s %-17s %8s %8s %9s %8s %5s %5s %5s" % (
        "profile", sw, "server", "req/s", "(min-max)", "p50 us", "p99 us", "CPU us/r",
        "RSS MiB", "srv%", "load%", "valid"))
    for p in profiles:
        for s in servers:
            m = med[(p.key, s)]
            name = p.key if s == servers[0] else ""
            if m.get("na"):
                w("%-13s %-*s %9s %-17s %s" % (name, sw, s, "n/a", "", m["na"]))
                continue
            if not m["valid"]:
                w("%-13s %-*s %9s %-17s %s" % (name, sw, s, "INVALID", "", "%d/%d valid runs"
                                               % (m["valid"], m["runs"])))
                continue
            w("%-13s %-*s %9.0f %-17s %8s %8s %9.2f %8.1f %5.0f %5.0f %5s" % (
                name, sw, s, m["rps"], "(%.0f-%.0f)" % (m["rps_min"], m["rps_max"]),
                fmt(m["p50_us"]), fmt(m["p99_us"]), m["cpu_us_per_req"],
                m["peak_rss_kib"] / 1024, m["srv_pct"], m["load_pct"],
                "%d/%d" % (m["valid"], m["runs"])))
        w("%-13s %s; %s connections; %s" % (
            "", p.title, meta["connections"].get(p.key, "-"), load_label(p)))
        if p.tls:
            w("%-13s negotiated: %s" % ("", "; ".join(
                "%s %s" % (s, tls_seen(runs, p.key, s)) for s in servers
                if not med[(p.key, s)].get("na"))))
    w("")
    w("Ratios of the medians; [lo-hi]: the same ratio round by round. req/s: higher is better "
      "for berth; CPU/req: lower is better.")
    w("%-13s %-*s %-20s %-20s %-20s %-20s" % ("profile", sw, "server", "req/s / nginx",
                                             "CPU/req / nginx", "req/s / floor", "CPU/req / floor"))
    for p in profiles:
        first = True
        for s in servers:
            if s == "floor":
                continue
            cells = [ratio_cell(ratios.get((p.key, s, b), {}).get(k))
                     for b in REFERENCES for k in ("rps", "cpu")]
            if all(c == "-" for c in cells):
                continue
            w("%-13s %-*s %-20s %-20s %-20s %-20s" % ((p.key if first else ""), sw, s, *cells))
            first = False
    based = [s for s in servers if s + BASE in servers]
    if based:
        w("")
        w("This build against the base build (%s), same run; [lo-hi] round by round:"
          % meta.get("base_build"))
        w("%-13s %-*s %-20s %-20s" % ("profile", sw, "server", "req/s / base", "CPU/req / base"))
        for p in profiles:
            for i, s in enumerate(based):
                e = ratios.get((p.key, s, s + BASE), {})
                w("%-13s %-*s %-20s %-20s" % (p.key if i == 0 else "", sw, s,
                                              ratio_cell(e.get("rps")), ratio_cell(e.get("cpu"))))
    w("")
    w("Targets of the issue tracker (this run; kept from the former bench/compare.py):")
    for label, num, den, prof, field, ok in TARGETS:
        a_, b_ = med.get((prof, num), {}), med.get((prof, den), {})
        if a_.get(field) and b_.get(field):
            r = a_[field] / b_[field]
            w("  [%s] %s: %.2fx" % ("met   " if ok(r) else "MISSED", label, r))
        else:
            w("  [n/a]    %s: not measured" % label)
    bad = [r for r in runs if r["invalid"]]
    notes = [r for r in runs if r["notes"]]
    if bad:
        w("")
        w("Invalid runs (left out):")
        for r in bad:
            w("  round %d %s %s: %s" % (r["round"], r["profile"], r["server"], r["invalid"]))
    if notes:
        w("")
        w("Notes:")
        for r in notes:
            w("  round %d %s %s: %s" % (r["round"], r["profile"], r["server"], "; ".join(r["notes"])))
    return "\n".join(out) + "\n"


def load_label(p):
    if p.client == "wrk":
        return "wrk -t1" + (" over TLS (wrk offers no ALPN: HTTP/1.1 without it)" if p.tls else "")
    if p.tls:
        return "bench-load %s -k %d -l" % ("-r" if p.resume else "-s", p.close_every)
    return "bench-load"


def tls_seen(runs, profile, server):
    """What the runs' TLS connections negotiated: run.py's check (Python's
    ssl, OpenSSL's default client ciphers, ALPN http/1.1) and, for
    bench-load, its own handshakes; the most frequent value."""
    seen = {}
    for r in runs:
        if r["profile"] != profile or r["server"] != server:
            continue
        if r.get("tls"):
            seen[r["tls"]] = seen.get(r["tls"], 0) + 1
        t = r.get("load_tls")
        if t and t.get("handshakes"):
            k = "%s %s alpn=%s" % (t["version"], t["cipher"], t["alpn"])
            seen[k] = seen.get(k, 0) + 1
    if not seen:
        return "-"
    return max(seen, key=seen.get) + ("" if len(seen) == 1 else " (+%d other)" % (len(seen) - 1))


def benchmark_json(profiles, servers, med, ratios, meta):
    """github-action-benchmark's custom formats: (bigger, smaller) lists."""
    bigger, smaller = [], []
    for p in profiles:
        for s in servers:
            m = med[(p.key, s)]
            if not m["valid"]:
                continue
            extra = "%d/%d valid runs, %s connections, commit %s" % (
                m["valid"], m["runs"], meta["connections"].get(p.key), meta["commit_short"])
            bigger.append({"name": "%s/%s req/s" % (p.key, s), "unit": "req/s",
                           "value": round(m["rps"], 1),
                           "range": "%.0f-%.0f" % (m["rps_min"], m["rps_max"]), "extra": extra})
            smaller.append({"name": "%s/%s CPU per request" % (p.key, s), "unit": "us",
                            "value": round(m["cpu_us_per_req"], 3), "extra": extra})
            smaller.append({"name": "%s/%s latency p50" % (p.key, s), "unit": "us",
                            "value": m["p50_us"], "extra": extra})
            smaller.append({"name": "%s/%s latency p99" % (p.key, s), "unit": "us",
                            "value": m["p99_us"], "extra": extra})
            smaller.append({"name": "%s/%s peak RSS" % (p.key, s), "unit": "MiB",
                            "value": round(m["peak_rss_kib"] / 1024, 2), "extra": extra})
        for s in servers:
            for b in REFERENCES:
                e = ratios.get((p.key, s, b), {})
                for key, dest, what in (("rps", bigger, "req/s"), ("cpu", smaller, "CPU/req")):
                    if key in e:
                        item = {"name": "%s/%s %s vs %s" % (p.key, s, what, b), "unit": "x",
                                "value": round(e[key]["value"], 4)}
                        if e[key]["min"] is not None:
                            item["range"] = "%.2f-%.2f" % (e[key]["min"], e[key]["max"])
                        dest.append(item)
    return bigger, smaller


def check_benchmark_json(items):
    """The format github-action-benchmark reads: a list of {name, unit, value}
    objects, optional range and extra strings, names unique. Raises ValueError."""
    if not isinstance(items, list):
        raise ValueError("not a list")
    names = set()
    for it in items:
        if not isinstance(it, dict):
            raise ValueError("not an object: %r" % (it,))
        if not {"name", "unit", "value"} <= set(it) or set(it) - {"name", "unit", "value",
                                                                  "range", "extra"}:
            raise ValueError("keys %s in %r" % (sorted(it), it))
        if not isinstance(it["name"], str) or not it["name"] or not isinstance(it["unit"], str):
            raise ValueError("name/unit must be strings: %r" % (it,))
        v = it["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError("value must be a finite number: %r" % (it,))
        for k in ("range", "extra"):
            if k in it and not isinstance(it[k], str):
                raise ValueError("%s must be a string: %r" % (k, it))
        if it["name"] in names:
            raise ValueError("name %r twice" % it["name"])
        names.add(it["name"])
    return True


def history_record(meta, profiles, servers, ratios, med):
    rec = {"commit": meta["commit"], "commit_short": meta["commit_short"], "date": meta["date"],
           "quick": meta["quick"], "rounds": meta["rounds"], "duration": meta["duration"],
           "host": meta["host"], "dataset": meta.get("dataset", ""), "ratios": {}}
    for p in profiles:
        for s in servers:
            e = {}
            for b in REFERENCES:
                for key in ("rps", "cpu"):
                    x = ratios.get((p.key, s, b), {}).get(key)
                    if x:
                        e["%s_vs_%s" % (key, b)] = round(x["value"], 4)
            if e:
                rec["ratios"].setdefault(p.key, {})[s] = e
    return rec


# ---------------------------------------------------------------- charts

def import_pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def draw_charts(out_dir):
    """ratios.png and history.png from out_dir/results.json. Without
    matplotlib in this interpreter, asks Debian's /usr/bin/python3 (which has
    python3-matplotlib) to draw them. Returns the paths drawn."""
    paths = [os.path.join(out_dir, "ratios.png"), os.path.join(out_dir, "history.png")]
    plt = import_pyplot()
    if plt is None:
        alt = "/usr/bin/python3"
        if os.path.exists(alt) and os.path.realpath(alt) != os.path.realpath(sys.executable):
            p = subprocess.run([alt, os.path.abspath(__file__), "--charts", out_dir],
                               stdout=subprocess.DEVNULL)
            if p.returncode == 0:
                return paths
        log("charts skipped: matplotlib is missing for %s (apt-get install python3-matplotlib; "
            "Debian's is for /usr/bin/python3)" % sys.executable)
        return []
    with open(os.path.join(out_dir, "results.json")) as f:
        d = json.load(f)
    keys = [x["key"] for x in d["profiles"]]
    profiles = [p for p in PROFILES if p.key in keys]
    med, ratios = aggregate(d["runs"], keys, d["servers"])
    chart_ratios(plt, paths[0], d["meta"], profiles, d["servers"], ratios)
    chart_history(plt, paths[1], d["chart_history"], profiles, d["servers"])
    return paths


SERVER_COLORS = {"reactor": "#1f77b4", "fast:1": "#ff7f0e", "libuv": "#2ca02c", "nginx": "#7f7f7f",
                 "floor-uring": "#bcbd22"}


def color_of(s, i):
    return SERVER_COLORS.get(s, "C%d" % (i + 3))


def chart_ratios(plt, path, meta, profiles, servers, ratios):
    """Grouped bars of the ratios, drawn from 1.0 on a log scale, so that
    2x better and 2x worse are as long."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    backends = [s for s in servers if s not in REFERENCE_SERVERS]
    panels = [("rps", "nginx", "berth req/s ÷ nginx req/s\n(higher is better)"),
              ("cpu", "nginx", "berth CPU/request ÷ nginx CPU/request\n(lower is better)"),
              ("rps", "floor", "req/s ÷ floor req/s\n(higher is better)"),
              ("cpu", "floor", "CPU/request ÷ floor CPU/request\n(lower is better)")]
    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    keys = [p.key for p in profiles]
    handles = {}
    for ax, (key, base, ylabel) in zip(axes.flat, panels):
        shown = backends + ([r for r in ("nginx", "floor-uring") if r in servers]
                            if base == "floor" else [])
        n = max(len(shown), 1)
        width = 0.8 / n
        values = [1.0]
        for i, s in enumerate(shown):
            for j, k in enumerate(keys):
                x = j - 0.4 + width * (i + 0.5)
                e = ratios.get((k, s, base), {}).get(key)
                if not e:
                    if base in servers:
                        ax.annotate("n/a", (x, 1.0), ha="center", va="bottom", fontsize=8,
                                    color="red", rotation=90)
                    continue
                v = e["value"]
                lo = e["min"] if e["min"] is not None else v
                hi = e["max"] if e["max"] is not None else v
                values += [v, lo, hi]
                bar = ax.bar([x], [v - 1.0], width * 0.9, bottom=1.0, color=color_of(s, i),
                             hatch="//" if s in REFERENCE_SERVERS else None, edgecolor="white",
                             linewidth=0.5)
                handles.setdefault(s, bar)
                if lo != hi:
                    ax.plot([x, x], [lo, hi], color="black", linewidth=0.9)
                ax.annotate("%.2f" % v, (x, max(v, hi) if v >= 1 else min(v, lo)),
                            xytext=(0, 2 if v >= 1 else -2), textcoords="offset points",
                            ha="center", va="bottom" if v >= 1 else "top", fontsize=7)
        if base not in servers:
            ax.text(0.5, 0.6, "%s was not in this run (--servers)" % base, transform=ax.transAxes,
                    ha="center", va="center", fontsize=11, color="red")
        ax.set_yscale("log")
        top, bottom = max(values), min(values)
        span = max(top, 1 / bottom, 1.5)
        ax.set_ylim(1 / span / 1.35, span * 1.35)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: "%g" % y))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.axhline(1.0, color="black", linewidth=1)
        for j in range(1, len(keys)):
            ax.axvline(j - 0.5, color="#dddddd", linewidth=0.8)
        ax.set_xlim(-0.5, len(keys) - 0.5)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(keys)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.set_title("%s, berth vs %s" % ("requests/s" if key == "rps" else "CPU time per request",
                                          "nginx" if base == "nginx" else "the floor"),
                     fontsize=10)
        ax.grid(axis="y", which="major", alpha=0.3)
    labels = {s: ("%s (÷ floor, for reference)" % s if s in REFERENCE_SERVERS else "berth %s" % s)
              for s in handles}
    fig.legend([handles[s] for s in handles], [labels[s] for s in handles], loc="upper center",
               ncol=max(1, len(handles)), bbox_to_anchor=(0.5, 0.925), fontsize=9, frameon=False)
    fig.suptitle("berth-serve (1 thread) vs nginx %s (1 worker) and the floor (bench-floor) -- "
                 "commit %s, %s\nserver on CPU %d, load on CPU %d; ratios of the medians of %d "
                 "round(s) of %d s; whiskers: lowest and highest round-by-round ratio"
                 % (meta["nginx_version"], meta["commit_short"], meta["date"][:16].replace("T", " "),
                    meta["server_cpu"], meta["client_cpu"], meta["rounds"], meta["duration"]),
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def chart_history(plt, path, records, profiles, servers):
    backends = [s for s in servers if s not in REFERENCE_SERVERS]
    keys = [p.key for p in profiles]
    fig, axes = plt.subplots(len(keys), 2, figsize=(13, 1.9 * len(keys) + 1.6), squeeze=False,
                             sharex=True)
    xs = list(range(len(records)))
    step = max(1, len(records) // 12)
    labels = ["%s\n%s" % (r.get("commit_short", "?"), r.get("date", "")[:10]) if i % step == 0
              or i == len(records) - 1 else "" for i, r in enumerate(records)]
    handles = {}
    for row, k in enumerate(keys):
        for col, (key, what) in enumerate((("rps", "req/s"), ("cpu", "CPU/req"))):
            ax = axes[row][col]
            top = 1.0
            for i, s in enumerate(backends):
                for base, style in (("nginx", "-"), ("floor", ":")):
                    ys = [r.get("ratios", {}).get(k, {}).get(s, {}).get("%s_vs_%s" % (key, base))
                          for r in records]
                    pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
                    if not pts:
                        continue
                    line, = ax.plot([x for x, _ in pts], [y for _, y in pts], style, marker="o"
                                    if base == "nginx" else ".", markersize=4, color=color_of(s, i))
                    handles.setdefault((s, base), line)
                    top = max(top, max(y for _, y in pts))
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_ylim(0, top * 1.15)
            ax.set_ylabel("%s\n%s ratio" % (k, what), fontsize=8)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title("berth %s ÷ nginx's (solid) and ÷ the floor's (dotted); %s is better"
                             % (what, "higher" if key == "rps" else "lower"), fontsize=9)
    for ax in axes[-1]:
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_xlabel("recorded runs (commit, date)", fontsize=8)
        ax.set_xlim(-0.5, max(len(records) - 0.5, 0.5))
    order = sorted(handles, key=lambda sb: (sb[1] != "nginx", backends.index(sb[0])))
    fig.legend([handles[h] for h in order],
               ["berth %s ÷ %s" % (s, "nginx" if b == "nginx" else "floor") for s, b in order],
               loc="upper center", ncol=max(1, len(backends)), bbox_to_anchor=(0.5, 0.965), fontsize=8,
               frameon=False)
    fig.suptitle("berth-serve vs nginx and the floor over the recorded runs "
                 "(bench-data/history.json)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.925))
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------- main

def first_line(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return p.stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def git_commit():
    sha = os.environ.get("GITHUB_SHA") or first_line(["git", "-C", ROOT, "rev-parse", "HEAD"])
    if not re.fullmatch(r"[0-9a-f]{40}", sha or ""):
        return "unknown", "unknown"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    short = sha[:10] + ("+dirty" if dirty else "")
    return sha, short


def environment(a, binary):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    sha, short = git_commit()
    nginx_v = first_line([a.nginx, "-v"]).replace("nginx version: ", "")
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": sha, "commit_short": short,
        "host": "%s, Linux %s, %d CPUs (%s)" % (platform.node(), platform.release(),
                                                os.cpu_count(), model),
        "versions": "%s; %s" % (nginx_v, first_line([a.wrk, "--version"]).split(" Copyright")[0]),
        "nginx_version": nginx_v.split("/")[-1],
        "loadavg": " ".join("%.2f" % x for x in os.getloadavg()),
        "berth": binary,
    }


def tls_setup(a, cert):
    """One line on the TLS set-up of this run, for the table."""
    env = " ".join("%s=%s" % (k, os.environ[k]) for k in ("TLS_CIPHERS", "TLS_MIN_VERSION")
                   if os.environ.get(k))
    return ("TLS: %s; berth-serve %s; nginx %s, tickets on, ssl_session_cache none"
            % (cert["desc"], env or "default ciphers (ChaCha20-Poly1305 first, server's order)",
               ("TLS 1.3 suites %s (server's order)" % a.nginx_ciphersuites)
               if a.nginx_ciphersuites else "OpenSSL's default ciphers (client's order)"))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pick(names, arg, what):
    if not arg:
        return list(names)
    want = [x for x in re.split(r"[,\s]+", arg) if x]
    bad = [x for x in want if x not in names]
    if bad:
        sys.exit("unknown %s: %s (known: %s)" % (what, ", ".join(bad), ", ".join(names)))
    return [x for x in names if x in want]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Profiles: " + ", ".join(p.key for p in PROFILES))
    ap.add_argument("--quick", action="store_true",
                    help="1 round of 1 s runs, 1 s warm-up (about 90 s); not recorded in the "
                         "history unless --history is given")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; --quick 1)")
    ap.add_argument("--duration", type=int, help="measured seconds per run (default 3; --quick 1)")
    ap.add_argument("--warmup", type=int, help="seconds of uncounted load before each run "
                                               "(default 1, 0: none)")
    ap.add_argument("--profiles", help="comma-separated subset of the profiles")
    ap.add_argument("--servers", help="comma-separated subset of %s (default all; "
                    "floor-uring where it was built)" % ",".join(REFERENCE_SERVERS + BACKENDS))
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help="berth backends to run (default %(default)s)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out"),
                    help="output directory (default bench-out/)")
    ap.add_argument("--history", help="history file to append to (default "
                                      "bench-data/history.json)")
    ap.add_argument("--no-history", action="store_true", help="do not append to the history")
    ap.add_argument("--build", help="meson build directory (default build-bench, else build)")
    ap.add_argument("--base-build", metavar="DIR",
                    help="also run each backend from this build (another commit), as "
                         "BACKEND@base, and print this build against it: a before/after "
                         "check in one run")
    ap.add_argument("--dataset", help="dataset.json for /json (default $BERTH_DATASET, "
                                      "tests/data/arena/dataset.json, /data/dataset.json, "
                                      "else a synthetic one)")
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU of the servers (default 0)")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU of the load (default 1)")
    ap.add_argument("--cert", help="PEM certificate of the TLS profiles (default HttpArena's "
                                   "/certs/server.crt where it exists, else an RSA-2048 "
                                   "one made with openssl)")
    ap.add_argument("--key", help="its PEM key")
    ap.add_argument("--nginx-ciphersuites", metavar="LIST",
                    help="nginx's TLS 1.3 suites in the server's order (ssl_conf_command "
                         "Ciphersuites; default: OpenSSL's, the client's order)")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--charts", metavar="DIR",
                    help="only draw the charts again from DIR/results.json")
    ap.add_argument("--self-test", action="store_true",
                    help="check the table and JSON output on made-up figures, start nothing")
    a = ap.parse_args(argv)
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.duration = a.duration or (1 if a.quick else 3)
    a.warmup = a.warmup if a.warmup is not None else 1
    if a.rounds < 1 or a.duration < 1 or a.warmup < 0:
        sys.exit("--rounds and --duration must be at least 1, --warmup at least 0")
    return a


def write_outputs(meta, profiles, servers, runs, out_dir, history_path, record_history):
    med, ratios = aggregate(runs, [p.key for p in profiles], servers)
    text = table(meta, profiles, servers, med, ratios, runs)
    bigger, smaller = benchmark_json(profiles, servers, med, ratios, meta)
    check_benchmark_json(bigger)
    check_benchmark_json(smaller)
    os.makedirs(out_dir, exist_ok=True)
    files = {}

    def dump(name, obj):
        path = os.path.join(out_dir, name)
        with open(path, "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
        files[name] = path
        return path

    with open(os.path.join(out_dir, "table.txt"), "w") as f:
        f.write(text)
    files["table.txt"] = os.path.join(out_dir, "table.txt")
    for name, items in (("bench-bigger.json", bigger), ("bench-smaller.json", smaller)):
        with open(dump(name, items)) as f:
            check_benchmark_json(json.load(f))
    record = history_record(meta, profiles, servers, ratios, med)
    records = []
    if history_path and os.path.exists(history_path):
        with open(history_path) as f:
            records = json.load(f)
    if record_history and history_path:
        records.append(record)
        os.makedirs(os.path.dirname(os.path.abspath(history_path)), exist_ok=True)
        with open(history_path, "w") as f:
            json.dump(records, f, indent=1)
            f.write("\n")
        files["history"] = history_path
    else:
        records = records + [dict(record, commit_short=record["commit_short"] + " (this run)")]
    dump("results.json", {
        "meta": meta,
        "profiles": [dataclasses.asdict(p) | {"requests": [
            {k: v for k, v in dataclasses.asdict(r).items() if k != "expect"}
            for r in p.requests]} for p in profiles],
        "servers": servers, "runs": runs,
        "medians": [{"profile": k[0], "server": k[1]} | v for k, v in med.items()],
        "ratios": [{"profile": k[0], "server": k[1], "vs": k[2]} | v for k, v in ratios.items()],
        "chart_history": records,
    })
    for path in draw_charts(out_dir):
        files[os.path.basename(path)] = path
    return text, med, files


def ratios_of(runs, profiles, servers):
    """The ratios that have a value (for the self-test)."""
    return {k: v for k, v in aggregate(runs, [p.key for p in profiles], servers)[1].items() if v}


def self_test():
    """Made-up runs through aggregation, table, JSON and its check."""
    rnd = random.Random(1)
    servers = REFERENCE_SERVERS + BACKENDS
    profiles = PROFILES[:2] + [p for p in PROFILES if p.key == "handshake"]
    runs = []
    for rn in range(1, 3):
        for p in profiles:
            for s in servers:
                if p.tls and s in FLOORS:
                    continue  # n/a
                n = rnd.randint(50000, 90000)
                r = {"round": rn, "profile": p.key, "server": s, "notes": [], "invalid": "",
                     "requests": n * 2, "seconds": 2.0, "rps": float(n),
                     "latency_us": {"p50": 100, "p90": 150, "p99": 300, "p999": 900,
                                    "max": 2000, "mean": 110.5},
                     "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
                     "connects": None, "bytes": 1, "cpu_s": 1.9, "wall_s": 2.0,
                     "load_cpu_s": 1.5, "cpu_us_per_req": 1.9e6 / (n * 2),
                     "peak_rss_kib": 2048, "connections": 64}
                if s == "libuv" and rn == 2:
                    r["invalid"] = "socket errors read 1"
                if p.tls:
                    r["tls"] = "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256 alpn=http/1.1"
                    r["load_tls"] = {"handshakes": n * 2, "resumed": 0, "version": "TLSv1.3",
                                     "cipher": "TLS_CHACHA20_POLY1305_SHA256",
                                     "alpn": "http/1.1", "mixed": 0}
                runs.append(r)
    runs.append({"round": 2, "profile": "pipelined", "server": "fast:1", "notes": [],
                 "invalid": "fast:1 did not start", "connections": 64})
    runs = [r for r in runs if not (r["profile"] == "pipelined" and r["server"] == "fast:1"
                                    and not r["invalid"])]
    meta = {"date": "2000-01-01T00:00:00+00:00", "commit": "0" * 40, "commit_short": "0000000000",
            "command": "self-test", "host": "self-test", "versions": "-", "nginx_version": "-",
            "loadavg": "0", "dataset": "-", "server_cpu": 0, "client_cpu": 1, "rounds": 2,
            "duration": 2, "warmup": 1, "quick": False,
            "connections": {p.key: 64 for p in profiles}}
    with tempfile.TemporaryDirectory() as tmp:
        hist = os.path.join(tmp, "h", "history.json")
        for _ in range(2):
            text, med, files = write_outputs(meta, profiles, servers, runs, tmp, hist, True)
        for name in ("bench-bigger.json", "bench-smaller.json"):
            with open(files[name]) as f:
                items = json.load(f)
            check_benchmark_json(items)
            assert items, name
        with open(hist) as f:
            assert len(json.load(f)) == 2
        assert "INVALID" in text and "fast:1 did not start" in text, text
        assert med[("pipelined", "fast:1")]["valid"] == 0
        # a TLS profile: the floor n/a (not invalid), the others with what they negotiated
        assert med[("handshake", "floor")].get("na") and "the floor has no TLS" in text, text
        assert "reactor TLSv1.3 TLS_CHACHA20_POLY1305_SHA256 alpn=http/1.1" in text, text
        assert ("handshake", "reactor", "floor") not in ratios_of(runs, profiles, servers)
        assert not any("handshake/floor" in it["name"] for it in items), items
        # floor-uring: a row like the floor's, n/a where the floor is, its own
        # ratios to nginx and the floor, and no base of berth's ratios
        assert med[("handshake", "floor-uring")].get("na"), med
        assert re.search(r"\n\s+floor-uring +\d+ \(", text), text
        r = ratios_of(runs, profiles, servers)
        fu = [x for x in runs if x["profile"] == "pipelined"]
        want = (statistics.median(x["rps"] for x in fu if x["server"] == "floor-uring") /
                statistics.median(x["rps"] for x in fu if x["server"] == "floor"))
        assert abs(r[("pipelined", "floor-uring", "floor")]["rps"]["value"] - want) < 1e-9, r
        assert re.search(r"\n\s+floor-uring +\d\.\d\d \[", text), text
        assert not any(k[2] == "floor-uring" for k in r), sorted(r)
        with open(files["bench-bigger.json"]) as f:
            bigger = json.load(f)
        assert any(it["name"] == "pipelined/floor-uring req/s vs floor" for it in bigger), bigger
        # without bench-floor-uring: skipped, and the table says so
        left, note = skip_unbuilt(servers, os.path.join(tmp, "no-build"))
        assert "floor-uring" not in left and left == [x for x in servers if x != "floor-uring"]
        assert skip_unbuilt(["nginx", "floor"], os.path.join(tmp, "no-build")) == (
            ["nginx", "floor"], {})
        os.makedirs(os.path.join(tmp, "built", "bench"))
        open(os.path.join(tmp, "built", "bench", "bench-floor-uring"), "w").close()
        assert skip_unbuilt(servers, os.path.join(tmp, "built")) == (servers, {})
        m2, r2 = aggregate(runs, [p.key for p in profiles], left)
        text2 = table(dict(meta, skipped=note), profiles, left, m2, r2, runs)
        assert "floor-uring: skipped: no liburing" in text2, text2
        assert not re.search(r"\n\s+floor-uring ", text2), text2
        for bad in ([{"name": "x", "unit": "u"}], [{"name": "x", "unit": "u", "value": "1"}],
                    [{"name": "x", "unit": "u", "value": float("nan")}], {"name": "x"},
                    [{"name": "x", "unit": "u", "value": 1}, {"name": "x", "unit": "u", "value": 2}],
                    [{"name": "x", "unit": "u", "value": 1, "other": 1}]):
            try:
                check_benchmark_json(bad)
            except ValueError:
                continue
            raise AssertionError("accepted %r" % (bad,))
    print(text)
    print("self-test passed")


def main(argv):
    a = parse_args(argv)
    if a.self_test:
        self_test()
        return 0
    if a.charts:
        if import_pyplot() is None:
            log("matplotlib is missing for %s" % sys.executable)
            return 3
        return 0 if draw_charts(a.charts) else 3
    started = time.monotonic()
    command = shlex.join([sys.executable] + [os.path.relpath(sys.argv[0], ROOT)
                                             if sys.argv[0].startswith(ROOT) else sys.argv[0]]
                         + argv)
    profiles = [p for p in PROFILES if p.key in pick([p.key for p in PROFILES], a.profiles,
                                                     "profile")]
    backends = [b for b in re.split(r"[,\s]+", a.backends) if b]
    servers = pick(REFERENCE_SERVERS + backends, a.servers, "server")
    if a.base_build:
        servers = [x for s in servers for x in ([s, s + BASE] if s in backends else [s])]
    record_history = not a.no_history and (not a.quick or a.history is not None)
    history_path = a.history or os.path.join(ROOT, "bench-data", "history.json")

    build = a.build
    if build is None:
        build = next((d for d in ("build-bench", "build")
                      if os.path.exists(os.path.join(ROOT, d, "bench", "bench-floor"))),
                     "build-bench")
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    binary = os.path.join(build, "serve", "berth-serve")
    a.load = os.path.join(build, "bench", "bench-load")
    floor_bin = os.path.join(build, "bench", "bench-floor")
    servers, skipped = skip_unbuilt(servers, build)
    for name, note in skipped.items():
        log("%s %s" % (name, note))
    for what, path in (("berth-serve", binary), ("bench-load", a.load), ("bench-floor", floor_bin),
                       ("nginx", a.nginx), ("wrk", a.wrk), ("taskset", "taskset")):
        if not (os.path.exists(path) or shutil.which(path)):
            log("%s not found: %s (build with: meson setup build-bench --buildtype=release && "
                "ninja -C build-bench; apt-get install nginx-light wrk)" % (what, path))
            return 1
    nofile = raise_nofile()
    many = max(64, min(MANY, nofile - 256))

    meta = environment(a, binary)
    meta.update({"command": command, "base_build": a.base_build,
                 "server_cpu": a.server_cpu, "client_cpu": a.client_cpu,
                 "rounds": a.rounds, "duration": a.duration, "warmup": a.warmup,
                 "quick": a.quick, "nofile": nofile, "many_connections": many,
                 "skipped": skipped})
    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as nobody when started by root
    servers_by_name = {}
    runs = []

    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        dataset, meta["dataset"] = find_dataset(a.dataset, tmp)
        log("command: %s" % command)
        log("%s; %s; nofile %d, many-conn uses %d connections" % (meta["host"], meta["versions"],
                                                                   nofile, many))
        log("%s" % meta["dataset"])
        refs = fetch_references(binary, dataset, profiles, tmp, a.server_cpu)
        bodies = {}
        rng = random.Random(7)
        for p in profiles:
            for r in p.requests:
                if r.body_size and r.body_size not in bodies:
                    bodies[r.body_size] = rng.randbytes(r.body_size)
        conns = {p.key: many if p.connections == "many" else p.connections for p in profiles}
        ctx = {"refs": refs, "bodies": bodies, "tmp": tmp, "conns": conns}
        meta["connections"] = conns
        meta["tls"] = {p.key: True for p in profiles if p.tls}
        cert = None
        if any(p.tls for p in profiles):
            cert = find_cert(a.cert, a.key, tmp)
            ctx["cert_der"] = cert["der"]
            meta["tls_setup"] = tls_setup(a, cert)
            log(meta["tls_setup"])
            if any(p.tls and p.client == "load" for p in profiles):
                v = first_line([a.load, "-V"])
                if "tls=yes" not in v:
                    raise BenchError("%s: %s (apt-get install libssl-dev, then meson setup "
                                     "--reconfigure)" % (a.load, v))
        ngx_dir = os.path.join(tmp, "nginx")
        os.makedirs(ngx_dir, exist_ok=True)
        routes = None
        for s in servers:
            if s == "nginx":
                conf = nginx_config(profiles, refs, ngx_dir, many)
                servers_by_name[s] = Nginx(a.nginx, conf, tmp, a.server_cpu,
                                           nginx_tls(cert, a.nginx_ciphersuites) if cert else "")
            elif s in FLOORS:
                binary_of = {"floor": floor_bin,
                             "floor-uring": os.path.join(build, "bench", "bench-floor-uring")}
                routes = routes or floor_routes(profiles, refs, tmp)
                servers_by_name[s] = Floor(binary_of[s], routes, tmp, a.server_cpu, name=s)
            elif s.endswith(BASE):
                base_bin = os.path.join(os.path.abspath(a.base_build), "serve", "berth-serve")
                servers_by_name[s] = Berth(base_bin, s[:-len(BASE)], dataset, tmp, a.server_cpu,
                                           name=s, cert=cert)
            else:
                servers_by_name[s] = Berth(binary, s, dataset, tmp, a.server_cpu, cert=cert)
        total = a.rounds * sum(1 for p in profiles for s in servers
                               if serves(p, servers_by_name[s]))
        log("%d runs: %d round(s) x %d profile(s) x %d server(s) (no TLS profile on the floor), "
            "%d s + %d s warm-up each"
            % (total, a.rounds, len(profiles), len(servers), a.duration, a.warmup))
        done = 0
        for rnd in range(a.rounds):
            porder = profiles[rnd % len(profiles):] + profiles[:rnd % len(profiles)]
            for i, p in enumerate(porder):
                k = (rnd + i) % len(servers)
                for s in servers[k:] + servers[:k]:
                    if not serves(p, servers_by_name[s]):
                        continue  # n/a: the floor has no TLS, compresses nothing
                    r = measure(a, servers_by_name[s], p, ctx)
                    r["round"] = rnd + 1
                    runs.append(r)
                    done += 1
                    el = time.monotonic() - started
                    eta = el / done * (total - done)
                    if r["invalid"]:
                        what = "INVALID: " + r["invalid"]
                    else:
                        what = "%9.0f req/s %8.2f us/req p99 %6.0f us" % (
                            r["rps"], r["cpu_us_per_req"], r["latency_us"]["p99"])
                    log("[%3d/%d %2d:%02d, ~%d:%02d left] round %d %-12s %-11s %s%s" % (
                        done, total, el // 60, el % 60, eta // 60, eta % 60, rnd + 1, p.key, s,
                        what, ("  (" + "; ".join(r["notes"]) + ")") if r["notes"] else ""))
        meta["seconds"] = round(time.monotonic() - started, 1)
        text, med, files = write_outputs(meta, profiles, servers, runs, a.out, history_path,
                                         record_history)
    except BenchError as e:
        log("FAILED: %s" % e)
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 1
    finally:
        for s in servers_by_name.values():
            if s.proc is not None:
                s.stop()
        if os.environ.get("BENCH_KEEP_TMP"):
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.write(text)
    log("")
    log("wrote %s (in %d:%02d)" % (", ".join(shown(f) for f in files.values()), meta["seconds"] // 60,
                                  meta["seconds"] % 60))
    return 2 if any(m["valid"] == 0 and not m.get("na") for m in med.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
