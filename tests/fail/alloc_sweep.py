"""Refused allocations, one at a time, as SQLite's tests do it.

berth-alloc-server (alloc-server.c) counts every allocation of its
process (alloc_fail.c) and refuses the Nth (BERTH_FAIL_ALLOC=N). For each
N up to the number a whole session makes, a server is started, a scripted
session runs against it (keep-alive, pipelined, chunked and large uploads,
gzip, deferred responses streamed from a timer and from a thread and sent
whole, a WebSocket echo, static files, TLS handshakes and requests), and
the server is stopped. Each N must show:

  - every answer the client got is complete and correct (or an honest
    500/503), or the connection closed before it was complete: never wrong
    bytes, never a truncated body framed as complete, never a gzip body
    without its Content-Encoding;
  - no connection hangs: each answers or ends within the server's timeouts
    (5 s; the client waits 15 s);
  - the server exits cleanly (0, or 3 when its setup was refused), with no
    sanitizer report (under ASan: no leak, detect_leaks=1).

One exception, counted and printed apart: wolfSSL 5.5.4 (Debian 12) leaks a
block of its own when an allocation inside a handshake step fails after it
(a direct leak allocated inside wolfSSL_accept, with only wolfSSL's frames
above the allocator: not the connection's WOLFSSL, which berth frees). A
leak of anything else, that object included, fails the run.

Usage: alloc_sweep.py [--backends reactor,fast:1,libuv] [--stride K]
       [--full BACKENDS] [--from N] [--to N] [--verbose] [--trace N] [--suite]
With no option every N runs on every backend (the whole sweep: about
2,000 servers, 4 to 8 minutes, more under a sanitizer). --stride K runs
every Kth N (offset by the backend's place, so the backends together
cover more); --full names backends swept at every N whatever the stride.
--suite is what the test suite runs (meson test e2e-alloc-fail), sized for
.ci/run's time: every N on reactor, every 4th on fast, libuv and uring
(where the build has io_uring; their paths beyond the engine's are fewer); under ThreadSanitizer (it finds
races, not lost allocations) every 4th on each. --trace N runs N once and
prints where its refused allocation was made."""
import argparse
import gzip
import hashlib
import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("BERTH_BUILD", os.path.join(ROOT, "build"))
CERTS = os.environ.get("BERTH_TEST_CERTS", os.path.join(BUILD, "tests", "certs"))
STATIC = os.path.join(ROOT, "tests", "data", "arena", "static")
SERVER = os.path.join(BUILD, "tests", "fail", "berth-alloc-server")

TIMEOUT = 15.0  # the server's timeouts are 5 s: a connection silent this long hangs

TEXT = bytes((b"berth serves this text, compressed when asked\n"[i % 46]) for i in range(6000))
PIECES = b"piece-0;piece-1;piece-2;"


class Closed(Exception):
    """The connection ended before the answer was complete (allowed)."""


class Wrong(Exception):
    """Bytes that are not a correct answer (a failure of berth)."""


def tls_closed(e):
    """An SSL error that only means the connection went away (a refused
    allocation may end a handshake or a connection with an alert or a
    bare close); an integrity failure would be wrong bytes."""
    why = (getattr(e, "reason", None) or str(e)).upper()
    if "ALERT" in why:
        return True  # the server's alert: it reports its failure and closes
    return not any(w in why for w in ("BAD_RECORD_MAC", "DECRYPTION_FAILED", "DECRYPT_ERROR",
                                      "WRONG_VERSION", "RECORD_OVERFLOW", "BAD_LENGTH"))


class Conn:
    def __init__(self, port, tls=False):
        self.buf = b""
        self.eof = False
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        except OSError as e:  # the server listens until it is stopped
            raise Wrong("connect: %s (the server died?)" % e)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.crt"))
            try:
                s = ctx.wrap_socket(s, server_hostname="localhost")
            except ssl.SSLError as e:
                s.close()
                if tls_closed(e):
                    raise Closed("handshake: %s" % e)
                raise Wrong("handshake: %s" % e)
            except (ConnectionError, OSError) as e:
                s.close()
                if isinstance(e, socket.timeout):
                    raise Wrong("handshake hangs")
                raise Closed("handshake: %s" % e)
        self.s = s

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.s.sendall(data)
        except socket.timeout:
            raise Wrong("a send hangs")
        except (ConnectionError, OSError, ssl.SSLError) as e:
            raise Closed("send: %s" % e)

    def more(self):
        if self.eof:
            raise Closed("eof")
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            raise Wrong("no answer and no close within %.0f s" % TIMEOUT)
        except ssl.SSLError as e:
            if tls_closed(e):
                raise Closed("tls: %s" % e)
            raise Wrong("tls: %s" % e)
        except (ConnectionError, OSError) as e:
            raise Closed("recv: %s" % e)
        if not d:
            self.eof = True
            raise Closed("eof")
        self.buf += d

    def take(self, n):
        while len(self.buf) < n:
            self.more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self, limit=65536):
        while b"\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise Wrong("a line of %d bytes" % len(self.buf))
            self.more()
        i = self.buf.index(b"\r\n")
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out

    def response(self, head=False):
        """(status, headers dict lower-case, body), strictly framed."""
        status_line = self.line()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or parts[0] != b"HTTP/1.1" or len(parts[1]) != 3 or not parts[1].isdigit():
            raise Wrong("status line %r" % status_line[:80])
        status = int(parts[1])
        headers = {}
        while True:
            ln = self.line()
            if not ln:
                break
            if b":" not in ln:
                raise Wrong("header line %r" % ln[:80])
            k, v = ln.split(b":", 1)
            k = k.decode("latin-1").lower()
            if k in headers and k in ("content-length", "transfer-encoding", "content-encoding"):
                raise Wrong("%s twice" % k)
            headers[k] = v.strip().decode("latin-1")
        if head or status in (101, 204, 304) or status < 200:
            return status, headers, b""
        te = headers.get("transfer-encoding")
        if te is not None:
            if te.lower() != "chunked" or "content-length" in headers:
                raise Wrong("framing %r" % headers)
            body = b""
            while True:
                size_line = self.line()
                try:
                    size = int(size_line.split(b";")[0], 16)
                except ValueError:
                    raise Wrong("chunk size %r" % size_line[:40])
                if size == 0:
                    while self.line():
                        pass  # trailers
                    return status, headers, body
                body += self.take(size)
                if self.take(2) != b"\r\n":
                    raise Wrong("chunk not followed by CRLF")
        cl = headers.get("content-length")
        if cl is None or not cl.isdigit():
            raise Wrong("no length: %r" % headers)
        return status, headers, self.take(int(cl))


def honest_error(status):
    return status in (500, 503)


def expect(conn, body, gzip_ok=False, status=200, head=False):
    """Reads one answer: `body` (gunzipped if it says gzip), or an honest
    500/503. Returns the status."""
    st, h, b = conn.response(head=head)
    if honest_error(st) and st != status:
        return st
    if st != status:
        raise Wrong("status %d, expected %d" % (st, status))
    ce = h.get("content-encoding")
    if ce is not None:
        if ce != "gzip" or not gzip_ok:
            raise Wrong("Content-Encoding %r" % ce)
        try:
            b = gzip.decompress(b)
        except Exception as e:
            raise Wrong("gzip body does not decode: %s" % e)
    elif gzip_ok and b[:2] == b"\x1f\x8b":
        raise Wrong("gzip bytes without Content-Encoding")
    if not head and b != body:
        raise Wrong("body of %d bytes differs from the expected %d (%r...)" % (len(b), len(body), b[:40]))
    return st


def get(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


GZ = b"Accept-Encoding: gzip\r\n"


def static_file(name):
    with open(os.path.join(STATIC, name), "rb") as f:
        return f.read()


# ---- the session: steps, each on its own connection --------------------

def hello(tls):
    return b"hello world over tls" if tls else b"hello world"


def step_keepalive(port, tls=False):
    c = Conn(port, tls)
    try:
        for _ in range(2):
            c.send(get(b"/hello"))
            expect(c, hello(tls))
    finally:
        c.close()


def step_pipelined(port, tls=False):
    c = Conn(port, tls)
    try:
        c.send(get(b"/hello") + get(b"/text", GZ) + get(b"/text-padded", GZ) + get(b"/hello") +
               get(b"/nope"))
        expect(c, hello(tls))
        expect(c, TEXT, gzip_ok=True)
        expect(c, TEXT, gzip_ok=True)
        expect(c, hello(tls))
        expect(c, b"Not Found\n", status=404)
    finally:
        c.close()


def step_uploads(port, tls=False):
    c = Conn(port, tls)
    try:
        chunks = [b"first chunk;", b"x" * 3000, b";last"]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in chunks) + b"0\r\n\r\n"
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        expect(c, b"".join(chunks))
        big = bytes(i * 7 % 251 for i in range(40000))
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        expect(c, big)
    finally:
        c.close()


def step_streams(port, tls=False):
    c = Conn(port, tls)
    try:
        for path in (b"/stream-timer", b"/stream-thread"):
            c.send(get(path))
            expect(c, PIECES)
        c.send(get(b"/defer-send", GZ))
        expect(c, TEXT, gzip_ok=True)
    finally:
        c.close()


def ws_frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
    return head + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(c):
    b0, b1 = c.take(2)
    if b1 & 0x80:
        raise Wrong("a masked frame from the server")
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(c.take(2), "big")
    elif n == 127:
        n = int.from_bytes(c.take(8), "big")
    return b0, c.take(n)


def step_ws(port, tls=False):
    c = Conn(port, tls)
    try:
        key = base64.b64encode(os.urandom(16))
        c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        st, h, _ = c.response(head=True)
        if honest_error(st):
            return
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        if st != 101 or h.get("sec-websocket-accept", "").encode() != accept:
            raise Wrong("handshake answer %d %r" % (st, h))
        msg = b"hello over a websocket"
        c.send(ws_frame(1, msg))
        b0, data = ws_read(c)
        if b0 == 0x88:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
            if code != 1011:  # the echo was refused (an honest close)
                raise Wrong("close %d instead of the echo" % code)
            return
        if (b0, data) != (0x81, msg):
            raise Wrong("echo frame %r %r" % (b0, data[:40]))
        c.send(ws_frame(8, (1000).to_bytes(2, "big")))
        b0, data = ws_read(c)
        if b0 != 0x88:
            raise Wrong("frame %r instead of the close" % b0)
    finally:
        c.close()


def step_static(port, tls=False):
    c = Conn(port, tls)
    try:
        c.send(get(b"/static/app.js"))
        expect(c, static_file("app.js"))
        c.send(get(b"/static/app.js", GZ))  # the precompressed sibling
        expect(c, static_file("app.js"), gzip_ok=True)
        c.send(get(b"/static/hero.webp"))
        expect(c, static_file("hero.webp"))
    finally:
        c.close()


def h2_headers(sid, path, end=True):
    """A HEADERS frame (END_HEADERS, END_STREAM if end) for GET path, its
    HPACK block made by hand: indexed :method GET and :scheme http, literal
    :path and :authority with indexed names, never Huffman."""
    block = (b"\x82\x86" + b"\x04" + bytes([len(path)]) + path + b"\x01\x01t")
    return (len(block).to_bytes(3, "big") + b"\x01" + bytes([0x04 | (0x01 if end else 0)]) +
            sid.to_bytes(4, "big") + block)


def h2_answers(c, sids):
    """Reads frames until the answers of streams sids ended: {sid: (status,
    body)}; a status from the response block's first field: an indexed
    :status (200, 404, 500) or a literal one with an indexed name (503)."""
    status, body, ended = {}, {sid: b"" for sid in sids}, set()
    while ended != set(sids):
        head = c.take(9)
        n, ftype, flags = int.from_bytes(head[:3], "big"), head[3], head[4]
        fsid = int.from_bytes(head[5:9], "big") & 0x7fffffff
        payload = c.take(n)
        if ftype == 7:  # GOAWAY
            raise Closed("goaway")
        if fsid not in body:
            continue
        if ftype == 3:  # RST_STREAM: refused (no memory for it)
            raise Closed("rst_stream")
        if ftype == 1:
            indexed = {0x88: 200, 0x8d: 404, 0x8e: 500}  # HPACK's static table
            if payload[0] in indexed:
                status[fsid] = indexed[payload[0]]
            elif payload[:1] in (b"\x08", b"\x48") and payload[1:2] == b"\x03":
                status[fsid] = int(payload[2:5])
            else:
                raise Wrong("h2 response block %r" % payload[:20])
        elif ftype == 0:
            body[fsid] += payload
        if flags & 1 and ftype in (0, 1):
            ended.add(fsid)
    return {sid: (status.get(sid), body[sid]) for sid in sids}


def step_h2(port, tls=False):
    """h2c with prior knowledge: two streams in flight on one connection."""
    if tls or os.environ.get("BERTH_HTTP2") == "0":
        return  # the TLS steps use HTTP/1.1; a build without HTTP/2 answers 505
    c = Conn(port)
    try:
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" +
               h2_headers(1, b"/hello") + h2_headers(3, b"/nope"))
        got = h2_answers(c, [1, 3])
        for sid, want in ((1, (200, b"hello world")), (3, (404, None))):
            status, body = got[sid]
            if honest_error(status) and status != want[0]:
                continue
            if status != want[0] or (want[1] is not None and body != want[1]):
                raise Wrong("h2 stream %d: %r %r" % (sid, status, body[:40]))
    finally:
        c.close()


def step_plain_on_tls(port, tls=False):
    """Plain HTTP on the TLS port (TLS steps only): the engine's 400 (core/tls.c
    step_aside), or an honest 500/503, once; then the close."""
    if not tls:
        return
    c = Conn(port)
    try:
        c.send(get(b"/hello") + get(b"/hello"))
        st, _, b = c.response()
        if honest_error(st):
            return
        # (berth's own reason alone when the block for its answer was refused)
        if st != 400 or b not in (b"Bad Request: this port speaks HTTPS.\n", b"Bad Request\n", b""):
            raise Wrong("plain HTTP on the TLS port: %d %r" % (st, b[:60]))
        try:
            c.more()
        except Closed:
            return
        raise Wrong("bytes after the 400 to plain HTTP on the TLS port: %r" % c.buf[:60])
    finally:
        c.close()


STEPS = [step_keepalive, step_pipelined, step_uploads, step_streams, step_ws, step_static,
         step_plain_on_tls, step_h2]


def session(port, tls_port, log):
    """Runs every step, plaintext then TLS; returns the failures."""
    failures = []
    for tls in (False, True):
        for step in STEPS:
            name = "%s%s" % (step.__name__[5:], " (tls)" if tls else "")
            try:
                step(tls_port if tls else port, tls)
                log.append("%s: ok" % name)
            except Closed as e:
                log.append("%s: closed (%s)" % (name, e))
            except Wrong as e:
                failures.append("%s: %s" % (name, e))
    return failures


# ---- the sweep ----------------------------------------------------------

WOLFSSL_CALLS = ("wolfSSL_accept", "wolfSSL_read", "wolfSSL_write", "wolfSSL_shutdown")


def wolfssl_own_leaks(err):
    """The number of leaks in a LeakSanitizer report that are wolfSSL's
    own (see the top), or None if the report holds anything else."""
    if "ERROR: LeakSanitizer" not in err or "ERROR: AddressSanitizer" in err or \
            "runtime error" in err:
        return None
    own = 0
    for block in re.split(r"\n(?=(?:Direct|Indirect) leak of )", err)[1:]:
        if block.startswith("Indirect"):
            continue  # reachable only from a direct one: judged with it
        frames = re.findall(r"^\s*#(\d+) 0x[0-9a-f]+ (.*)$", block, re.M)[1:]  # #0: the allocator
        ok = False
        for _, f in frames:
            if "libwolfssl.so" not in f:
                break
            if any(c in f for c in WOLFSSL_CALLS):
                ok = True
                break
        if not ok:
            return None
        own += 1
    return own


def run_one(backend, n, verbose=False, stats=None):
    """One server with allocation n refused, one session. (failures,
    allocations counted, whether n was reached)."""
    # Whole stacks through wolfSSL (built without frame pointers): what
    # tells its own leaks from the objects berth must free.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = dict(os.environ, HTTP_BACKEND=backend, BERTH_FAIL_ALLOC=str(n),
               BERTH_TEST_CERTS=CERTS, BERTH_TEST_STATIC=STATIC,
               ASAN_OPTIONS=(asan + ":" if asan else "") + "fast_unwind_on_malloc=0")
    p = subprocess.Popen([SERVER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    failures, log = [], []
    line = p.stdout.readline().decode()
    if line.startswith("http://"):
        port = int(line.split(":")[2].split()[0])
        tls_port = int(line.rsplit(":", 1)[1])
        failures = session(port, tls_port, log)
        p.send_signal(signal.SIGTERM)
    elif "setup failed" not in line:
        failures.append("server said %r" % line)
    try:
        code = p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        code = None
        failures.append("the server did not exit within 20 s of its stop")
    err = p.stderr.read().decode(errors="replace")
    if run_one_stderr_hook:
        run_one_stderr_hook(err)
    p.stdout.close()
    p.stderr.close()
    wolf = wolfssl_own_leaks(err)
    if wolf:
        if stats is not None:
            stats["wolfssl"] = stats.get("wolfssl", 0) + 1
        if verbose:
            print("  N=%d: wolfSSL's own leak on its error path (tolerated)" % n)
    elif "Sanitizer" in err or "runtime error" in err:
        failures.append("sanitizer report:\n" + err[-6000:])
    if code not in (0, 3) and not (wolf and code in (1, -6, 23)):
        failures.append("exit code %r" % code)
    counted = reached = None
    for ln in err.splitlines():
        if ln.startswith("alloc-server: allocations="):
            kv = dict(x.split("=") for x in ln.split()[1:])
            counted, reached = int(kv["allocations"]), kv["failed"] == "1"
    if counted is None and code in (0, 3):
        failures.append("no count printed")
    if verbose:
        print("  N=%d exit=%r counted=%r reached=%r %s" % (n, code, counted, reached, "; ".join(log)))
        if err.strip():
            print("   " + err.strip().replace("\n", "\n   ")[-2000:])
    return failures, counted, reached


def symbolize(text):
    """The refused allocation's backtrace with file:line (addr2line)."""
    out = []
    for ln in text.splitlines():
        m = re.match(r"(\S+)\((\S*)\+(0x[0-9a-f]+)\)", ln)
        if m and os.path.exists(m.group(1)) and not m.group(2):
            r = subprocess.run(["addr2line", "-f", "-i", "-p", "-e", m.group(1), m.group(3)],
                               capture_output=True, text=True)
            ln = "%s  %s" % (ln, r.stdout.strip().replace("\n", " / "))
        out.append(ln)
    return "\n".join(out)


def trace(backend, n):
    """Runs N once, printing where the refused allocation was made."""
    os.environ["BERTH_FAIL_ALLOC_TRACE"] = "1"
    env_err = []
    global run_one_stderr_hook
    run_one_stderr_hook = env_err.append
    f, counted, hit = run_one(backend, n, verbose=False)
    print(symbolize("".join(env_err)))
    print("failures:", f)


run_one_stderr_hook = None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="reactor,fast:1,libuv" + (",uring" if os.environ.get("BERTH_URING") == "1" else ""))
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--full", default="", help="backends swept at every N whatever the stride")
    ap.add_argument("--from", dest="first", type=int, default=1)
    ap.add_argument("--to", type=int, default=0, help="the last N (0: the session's count)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--suite", action="store_true", help="the test suite's share of the sweep")
    ap.add_argument("--trace", type=int, default=0, help="run this N once on the first backend "
                    "and print where its refused allocation was made")
    a = ap.parse_args()
    if a.trace:
        trace(a.backends.split(",")[0], a.trace)
        return 0
    if a.suite:
        with open(SERVER, "rb") as f:
            tsan = b"libtsan.so" in f.read()
        a.full, a.stride = ("", 4) if tsan else ("reactor", 4)
    full = set(a.full.split(",")) - {""}
    total_fail = 0
    t_all = time.monotonic()
    for bi, backend in enumerate(a.backends.split(",")):
        t0 = time.monotonic()
        failures, count, _ = run_one(backend, 0, a.verbose)
        if failures or not count:
            print("FAIL %s: the session without a refused allocation: %s" % (backend, failures))
            total_fail += 1
            continue
        stride = 1 if backend in full else a.stride
        last = a.to or count
        ns = [n for n in range(a.first, last + 1) if (n - a.first - bi) % stride == 0]
        bad = reached = 0
        stats = {}
        for n in ns:
            f, _, hit = run_one(backend, n, a.verbose, stats)
            reached += bool(hit)
            if f:
                bad += 1
                print("FAIL %s N=%d:\n  %s" % (backend, n, "\n  ".join(f)))
                sys.stdout.flush()
        total_fail += bad
        print("%s %s: %d allocations in the session; refused N=%d..%d stride %d: %d runs, "
              "%d reached their N, %d failed, %d with wolfSSL's own leak, %.0f s"
              % ("ok  " if not bad else "FAIL", backend, count, a.first, last, stride, len(ns),
                 reached, bad, stats.get("wolfssl", 0), time.monotonic() - t0))
        sys.stdout.flush()
    print("%s, %.0f s" % ("all passed" if not total_fail else "%d failed" % total_fail,
                          time.monotonic() - t_all))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
