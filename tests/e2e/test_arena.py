"""The HttpArena HTTP/1.1 profiles baseline, pipelined, limited-conn, json and
upload (see ../data/arena/PROFILES.md), checked against berth-serve on
every backend with real clients: curl, Python's http.client and raw sockets.

Values are random (seeded per test; set BERTH_TEST_SEED to replay a run) so a
canned answer cannot pass. A failure message carries the bytes that were sent."""
import gzip
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from berthproc import ARENA, BACKENDS, DATASET, Conn, Server, header, stop_clean

SEED = int(os.environ.get("BERTH_TEST_SEED") or random.SystemRandom().randrange(2 ** 32))
sys.stderr.write("test_arena: BERTH_TEST_SEED=%d\n" % SEED)

REQUESTS = os.path.join(ARENA, "requests")
with open(DATASET, "rb") as _f:
    ITEMS = json.load(_f)

HOST = b"Host: localhost:8080\r\n"
UPLOAD_SIZES = [17, 48, 500 * 1024, 2 * 1024 * 1024, 10 * 1024 * 1024, 20 * 1024 * 1024]
PAUSE = 0.002  # between the two writes of a split request


# ---------------------------------------------------------------- requests

def get_req(a, b, extra=b""):
    return b"GET /baseline11?a=%d&b=%d HTTP/1.1\r\n" % (a, b) + HOST + extra + b"\r\n"


def post_cl_req(a, b, c, extra=b""):
    body = b"%d" % c
    return (b"POST /baseline11?a=%d&b=%d HTTP/1.1\r\n" % (a, b) + HOST +
            b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n" + body)


def chunk_frame(pieces, exts=None):
    """Chunked framing of pieces; exts maps a piece index to an extension."""
    out = b""
    for i, p in enumerate(pieces):
        out += b"%x" % len(p) + (exts or {}).get(i, b"") + b"\r\n" + p + b"\r\n"
    return out + b"0\r\n\r\n"


def split_pieces(data, sizes):
    out, pos = [], 0
    for s in sizes:
        out.append(data[pos:pos + s])
        pos += s
    if pos < len(data):
        out.append(data[pos:])
    return [p for p in out if p]


def post_chunked_req(a, b, c, sizes=(1, 2), exts=None, extra=b""):
    body = chunk_frame(split_pieces(b"%d" % c, sizes), exts)
    return (b"POST /baseline11?a=%d&b=%d HTTP/1.1\r\n" % (a, b) + HOST +
            b"Transfer-Encoding: chunked\r\n" + extra + b"\r\n" + body)


def rand_int(rng, digits=None):
    """A random integer; with digits, a positive one of exactly that many
    digits (so that a request template keeps its length)."""
    if digits:
        return rng.randrange(10 ** (digits - 1), 10 ** digits)
    return rng.choice([rng.randrange(0, 100), rng.randrange(0, 10 ** 9),
                       -rng.randrange(1, 10 ** 6)])


def baseline_request(kind, rng, digits=None, extra=b""):
    """(raw request, expected body) of one baseline template."""
    a, b, c = rand_int(rng, digits), rand_int(rng, digits), rand_int(rng, digits)
    if kind == "get":
        return get_req(a, b, extra), b"%d" % (a + b)
    if kind == "post_cl":
        return post_cl_req(a, b, c, extra), b"%d" % (a + b + c)
    if digits:
        return post_chunked_req(a, b, c, (2, 3), {1: b";ext=v"}, extra), b"%d" % (a + b + c)
    n = len(b"%d" % c)
    sizes = sorted(rng.sample(range(1, n), min(n - 1, 3))) if n > 1 else []
    sizes = [y - x for x, y in zip([0] + sizes, sizes + [n])]
    return post_chunked_req(a, b, c, sizes, extra=extra), b"%d" % (a + b + c)


KINDS = ("get", "post_cl", "post_chunked")


def expected_json(n, m):
    return {"items": [dict(it, total=it["price"] * it["quantity"] * m) for it in ITEMS[:n]],
            "count": n}


# ---------------------------------------------------------------- clients

class CurlResult:
    def __init__(self, blocks, body, stderr):
        self.blocks = blocks  # every response head, 1xx included
        lines = blocks[-1].split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = [tuple(x.split(": ", 1)) for x in lines[1:]]
        self.body = body
        self.stderr = stderr

    def header(self, name):
        return header(self.headers, name)


def curl(port, target, *args, timeout=120):
    """Runs curl against 127.0.0.1:port; returns a CurlResult."""
    with tempfile.TemporaryDirectory() as d:
        hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-sS", "-v", "--noproxy", "*", "--max-time", str(timeout),
               "-D", hfile, "-o", bfile] + list(args) + ["http://127.0.0.1:%d%s" % (port, target)]
        p = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
        if p.returncode != 0:
            raise AssertionError("curl failed (%d): %s\n%s" % (p.returncode, " ".join(cmd),
                                                                  p.stderr.decode("latin-1")[-2000:]))
        with open(hfile, "rb") as f:
            heads = f.read().decode("latin-1")
        with open(bfile, "rb") as f:
            body = f.read()
    blocks = [b for b in heads.split("\r\n\r\n") if b.strip()]
    return CurlResult(blocks, body, p.stderr.decode("latin-1"))


def read_head(sock, timeout):
    """Reads exactly one response head (up to the blank line) byte by byte,
    so nothing after it is consumed."""
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\r\n\r\n"):
        c = sock.recv(1)
        if not c:
            raise ConnectionError("closed inside a head: %r" % buf)
        buf += c
    return buf


def dechunk(data):
    out, pos = b"", 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            return out
        out += data[pos:pos + size]
        pos += size + 2


def parse_sample(raw):
    """Expected answer of a sample request file: ("text", bytes) or
    ("json", count, m). Checks that the file holds one complete request."""
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    method, target, version = lines[0].split(b" ")
    assert version == b"HTTP/1.1", lines[0]
    fields = {k.strip().lower(): v.strip() for k, v in (x.split(b":", 1) for x in lines[1:])}
    if fields.get(b"transfer-encoding") == b"chunked":
        assert body.endswith(b"0\r\n\r\n"), "incomplete chunked body"
        body = dechunk(body)
    else:
        assert len(body) == int(fields.get(b"content-length", b"0")), "incomplete body"
    path, _, query = target.partition(b"?")
    q = dict(p.split(b"=", 1) for p in query.split(b"&")) if query else {}
    if path == b"/baseline11":
        v = int(q[b"a"]) + int(q[b"b"]) + (int(body) if method == b"POST" else 0)
        return ("text", b"%d" % v)
    if path == b"/pipeline":
        return ("text", b"ok")
    if path.startswith(b"/json/"):
        return ("json", int(path[6:]), int(q.get(b"m", b"1")))
    if path == b"/upload":
        return ("text", b"%d" % len(body))
    raise AssertionError("unknown sample %r" % lines[0])


def upload_small():
    """HttpArena's upload-small.raw, made rather than kept: a POST of 1 MiB
    of random bytes (from a fixed seed, so every run sends the same)."""
    body = random.Random(1048576).randbytes(1048576)
    return (b"POST /upload HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % len(body) +
            body)


SAMPLES = sorted([f for f in os.listdir(REQUESTS) if f.endswith(".raw")] + ["upload-small.raw"])


def sample(name):
    if name == "upload-small.raw":
        return upload_small()
    with open(os.path.join(REQUESTS, name), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- tests

class ArenaMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(backend=cls.backend, env={"BERTH_THREADS": "2"})
        cls.addr = ("127.0.0.1", cls.srv.port)

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "berth-serve (%s)" % cls.backend)

    def setUp(self):
        self.rng = random.Random("%d-%s" % (SEED, self.id()))

    # -- helpers

    def assertText(self, resp, expected, sent=b""):
        self.assertIsNotNone(resp, "connection closed instead of a response to %r" % sent[:300])
        status, headers, body = resp
        self.assertEqual(status, 200, "status %d body %r for %r" % (status, body[:200], sent[:300]))
        ct = header(headers, "Content-Type") or ""
        self.assertEqual(ct.split(";")[0].strip().lower(), "text/plain",
                         "Content-Type %r for %r" % (ct, sent[:300]))
        self.assertEqual(body, expected, "sent %r" % sent[:300])

    def assertJson(self, status, ctype, body, n, m, what=""):
        self.assertEqual(status, 200, "%s: %r" % (what, body[:200]))
        self.assertEqual((ctype or "").split(";")[0].strip().lower(), "application/json", what)
        doc = json.loads(body)
        self.assertEqual(doc, expected_json(n, m), what)
        self.assertIs(type(doc["count"]), int, what)
        for it in doc["items"]:
            self.assertIs(type(it["total"]), int, "%s: total %r is not an integer" % (what, it["total"]))

    def http(self, timeout=30):
        c = http.client.HTTPConnection(*self.addr, timeout=timeout)
        self.addCleanup(c.close)
        return c

    def conn(self):
        c = Conn(self.srv)
        self.addCleanup(c.close)
        return c

    def assertNothingMore(self, c, wait=0.1):
        self.assertEqual(c.pending, b"", "bytes past the expected responses")
        c.sock.settimeout(wait)
        try:
            extra = c.sock.recv(65536)
        except socket.timeout:
            return
        finally:
            c.sock.settimeout(5.0)
        self.fail("unexpected bytes after the responses: %r" % extra[:200])

    # -- baseline: http.client

    def test_baseline_get_http_client(self):
        a, b = rand_int(self.rng), rand_int(self.rng)
        c = self.http()
        c.request("GET", "/baseline11?a=%d&b=%d" % (a, b))
        r = c.getresponse()
        self.assertText((r.status, r.getheaders(), r.read()), b"%d" % (a + b))

    def test_baseline_post_content_length_http_client(self):
        a, b, n = rand_int(self.rng), rand_int(self.rng), rand_int(self.rng)
        c = self.http()
        c.request("POST", "/baseline11?a=%d&b=%d" % (a, b), body=b"%d" % n)
        r = c.getresponse()
        self.assertText((r.status, r.getheaders(), r.read()), b"%d" % (a + b + n))

    def test_baseline_post_chunked_http_client_paused_chunks(self):
        a, b = rand_int(self.rng), rand_int(self.rng)
        n = self.rng.randrange(10 ** 8, 10 ** 12)
        digits = b"%d" % n

        def chunks():  # one chunk per two digits, with a pause between them
            for i in range(0, len(digits), 2):
                yield digits[i:i + 2]
                time.sleep(PAUSE)

        c = self.http()
        c.request("POST", "/baseline11?a=%d&b=%d" % (a, b), body=chunks(), encode_chunked=True,
                  headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        self.assertText((r.status, r.getheaders(), r.read()), b"%d" % (a + b + n))

    # -- baseline: curl

    def test_baseline_get_curl(self):
        a, b = rand_int(self.rng), rand_int(self.rng)
        r = curl(self.srv.port, "/baseline11?a=%d&b=%d" % (a, b))
        self.assertText((r.status, r.headers, r.body), b"%d" % (a + b))

    def test_baseline_post_content_length_curl(self):
        a, b, n = rand_int(self.rng), rand_int(self.rng), rand_int(self.rng)
        r = curl(self.srv.port, "/baseline11?a=%d&b=%d" % (a, b), "--data-binary", "%d" % n)
        self.assertIn("> Content-Length: %d" % len(b"%d" % n), r.stderr)
        self.assertText((r.status, r.headers, r.body), b"%d" % (a + b + n))

    def test_baseline_post_chunked_curl(self):
        a, b, n = rand_int(self.rng), rand_int(self.rng), rand_int(self.rng)
        r = curl(self.srv.port, "/baseline11?a=%d&b=%d" % (a, b), "--data-binary", "%d" % n,
                 "-H", "Transfer-Encoding: chunked")
        self.assertIn("> Transfer-Encoding: chunked", r.stderr)
        self.assertText((r.status, r.headers, r.body), b"%d" % (a + b + n))

    # -- baseline: raw sockets

    def test_baseline_get_raw(self):
        c = self.conn()
        req, exp = baseline_request("get", self.rng)
        c.send(req)
        self.assertText(c.response(), exp, req)

    def test_baseline_post_content_length_raw(self):
        c = self.conn()
        req, exp = baseline_request("post_cl", self.rng)
        c.send(req)
        self.assertText(c.response(), exp, req)

    def test_baseline_post_chunked_several_chunks_raw(self):
        a, b = rand_int(self.rng), rand_int(self.rng)
        n = self.rng.randrange(10 ** 9, 10 ** 15)
        req = post_chunked_req(a, b, n, (1, 3, 2, 4))
        c = self.conn()
        c.send(req)
        self.assertText(c.response(), b"%d" % (a + b + n), req)

    def test_baseline_post_chunked_with_extensions_raw(self):
        a, b = rand_int(self.rng), rand_int(self.rng)
        n = self.rng.randrange(10 ** 5, 10 ** 9)
        req = post_chunked_req(a, b, n, (2, 2), {0: b";name=value", 1: b';a=1;q="x y"', 2: b";flag"})
        c = self.conn()
        c.send(req)
        self.assertText(c.response(), b"%d" % (a + b + n), req)

    def test_baseline_post_chunked_uppercase_hex_and_trailer_raw(self):
        a, b = rand_int(self.rng), rand_int(self.rng)
        digits = b"%d" % self.rng.randrange(10 ** 11, 10 ** 12)  # 12 digits: size "C"
        req = (b"POST /baseline11?a=%d&b=%d HTTP/1.1\r\n" % (a, b) + HOST +
               b"Transfer-Encoding: chunked\r\n\r\n" + b"C\r\n" + digits + b"\r\n0\r\nX-T: v\r\n\r\n")
        c = self.conn()
        c.send(req)
        self.assertText(c.response(), b"%d" % (a + b + int(digits)), req)

    def test_baseline_negative_and_zero_values_raw(self):
        c = self.conn()
        a, b, n = -self.rng.randrange(1, 10 ** 9), 0, -self.rng.randrange(1, 10 ** 6)
        for req, exp in ((get_req(a, b), a + b), (post_cl_req(a, b, n), a + b + n),
                         (post_chunked_req(a, b, n, (1, 1)), a + b + n)):
            c.send(req)
            self.assertText(c.response(), b"%d" % exp, req)

    def test_baseline_mixed_templates_on_concurrent_connections(self):
        # like the load generator: one template per connection, a third chunked
        conns = [(self.conn(), KINDS[i % 3]) for i in range(24)]
        for _ in range(15):
            expect = []
            for c, kind in conns:
                req, exp = baseline_request(kind, self.rng)
                c.send(req)
                expect.append((req, exp))
            for (c, _), (req, exp) in zip(conns, expect):
                self.assertText(c.response(), exp, req)

    # -- split writes with pauses

    def _split_every_position(self, kind):
        c = self.conn()
        length = len(baseline_request(kind, random.Random(0), digits=6)[0])
        for pos in range(1, length):
            req, exp = baseline_request(kind, self.rng, digits=6)
            self.assertEqual(len(req), length)
            c.send(req[:pos])
            time.sleep(PAUSE)
            c.send(req[pos:])
            self.assertText(c.response(), exp, req[:pos] + b" <pause> " + req[pos:])
        self.assertNothingMore(c, 0.02)

    def test_split_get_at_every_byte_keep_alive(self):
        self._split_every_position("get")

    def test_split_post_content_length_at_every_byte_keep_alive(self):
        self._split_every_position("post_cl")

    def test_split_post_chunked_at_every_byte_keep_alive(self):
        self._split_every_position("post_chunked")

    def test_split_on_fresh_connections_at_the_arena_points(self):
        # inside the request line, between headers, between head and body,
        # inside the body: the places the HttpArena validation pauses at
        for kind in KINDS:
            req0, _ = baseline_request(kind, random.Random(0), digits=6)
            head_end = req0.index(b"\r\n\r\n")
            points = {5, req0.index(b"?") + 3, req0.index(b"\r\n") + 2,
                      req0.index(b"\r\n") + 5, head_end, head_end + 2, head_end + 4,
                      len(req0) - 1, self.rng.randrange(1, len(req0))}
            if kind != "get":
                points |= {head_end + 5, len(req0) - 3}
            for pos in sorted(points):
                req, exp = baseline_request(kind, self.rng, digits=6)
                c = Conn(self.srv)
                try:
                    c.send(req[:pos])
                    time.sleep(0.005)
                    c.send(req[pos:])
                    self.assertText(c.response(), exp, req[:pos] + b" <pause> " + req[pos:])
                finally:
                    c.close()

    def test_split_in_three_writes_line_headers_body(self):
        c = self.conn()
        for kind in KINDS:
            for _ in range(5):
                req, exp = baseline_request(kind, self.rng)
                line_end = req.index(b"\r\n") + 2
                head_end = req.index(b"\r\n\r\n") + 4
                p1 = self.rng.randrange(1, line_end)
                p2 = self.rng.randrange(line_end, head_end)
                for part in (req[:p1], req[p1:p2], req[p2:]):
                    if part:
                        c.send(part)
                        time.sleep(PAUSE)
                self.assertText(c.response(), exp, req)

    def test_one_byte_per_write(self):
        c = self.conn()
        for kind in KINDS:
            req, exp = baseline_request(kind, self.rng)
            c.send(req, pieces=1, pause=0.001)
            self.assertText(c.response(), exp, req)

    # -- pipelined

    def test_pipeline_sixteen_in_one_write(self):
        c = self.conn()
        one = b"GET /pipeline HTTP/1.1\r\n" + HOST + b"\r\n"
        for _ in range(5):
            c.send(one * 16)
            for i in range(16):
                self.assertText(c.response(), b"ok", one)
            self.assertNothingMore(c)

    def test_pipelined_baseline_answers_come_in_order(self):
        c = self.conn()
        reqs = [baseline_request(self.rng.choice(KINDS), self.rng) for _ in range(16)]
        c.send(b"".join(r for r, _ in reqs))
        for req, exp in reqs:
            self.assertText(c.response(), exp, req)
        self.assertNothingMore(c)

    def test_pipeline_depth_sixteen_on_many_connections(self):
        one = b"GET /pipeline HTTP/1.1\r\n" + HOST + b"\r\n"
        conns = [self.conn() for _ in range(48)]
        for _ in range(4):
            for c in conns:
                c.send(one * 16)
            for c in conns:
                for _ in range(16):
                    self.assertText(c.response(), b"ok", one)

    def _pipelined_body_after_head_ending_at(self, kind, end):
        """GET /pipeline requests padded so that the head of a POST ends
        exactly `end` bytes into one write; the POST's body follows in a
        second write. Returns None on success or a failure description."""
        if kind == "upload":
            size = self.rng.randrange(1, 100000)
            head = b"POST /upload HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % size
            body, exp = self._payload(size), b"%d" % size
        else:
            a, b, n = rand_int(self.rng), rand_int(self.rng), rand_int(self.rng)
            exp = b"%d" % (a + b + n)
            head = b"POST /baseline11?a=%d&b=%d HTTP/1.1\r\n" % (a, b) + HOST
            if kind == "chunked":
                head += b"Transfer-Encoding: chunked\r\n\r\n"
                body = chunk_frame([b"%d" % n])
            else:  # a Content-Length body too large to wait in the read buffer
                body = b" " * 70000 + b"%d" % n
                head += b"Content-Length: %d\r\n\r\n" % len(body)
        pads, need = [], end - len(head)
        base = len(b"GET /pipeline HTTP/1.1\r\n" + HOST + b"X-Pad: \r\n\r\n")
        while need:
            pad = min(12000, need - base)
            if 0 < need - base - pad < base:  # leave room for one more request
                pad -= base
            pads.append(b"GET /pipeline HTTP/1.1\r\n" + HOST + b"X-Pad: " + b"p" * pad + b"\r\n\r\n")
            need -= len(pads[-1])
        first = b"".join(pads) + head
        assert len(first) == end
        c = Conn(self.srv, timeout=2)
        try:
            c.send(first)
            time.sleep(0.02)
            c.send(body)
            for _ in pads:
                r = c.response()
                if not r or r[2] != b"ok":
                    return "answer to a pad request: %r" % (r,)
            r = c.response()
            if r is None:
                return "the connection was closed without an answer"
            if r[0] != 200 or r[2] != exp:
                return "answer %r, expected %r" % ((r[0], r[2]), exp)
        except OSError as e:
            return "%r after the first %d bytes (head ends at %d)" % (e, len(first), end)
        finally:
            c.close()
        return None

    def test_pipelined_post_whose_head_ends_at_a_power_of_two(self):
        # a request head that ends exactly where a read buffer would end
        failures = []
        for kind in ("upload", "chunked", "content_length"):
            for end in (16384, 32767, 32768, 32769, 65536):
                err = self._pipelined_body_after_head_ending_at(kind, end)
                if err:
                    failures.append("%s, head ending at byte %d: %s" % (kind, end, err))
        self.assertEqual(failures, [])

    # -- limited-conn

    def test_limited_conn_ten_requests_then_client_closes(self):
        errors = []

        def worker(w):
            rng = random.Random("%d-%s-%d" % (SEED, self.id(), w))
            try:
                for k in range(20):
                    kind = KINDS[(w + k) % 3]
                    c = Conn(self.srv)
                    try:
                        for _ in range(10):
                            req, exp = baseline_request(kind, rng)
                            c.send(req)
                            r = c.response()
                            if r is None or r[0] != 200 or r[2] != exp or \
                                    not (header(r[1], "Content-Type") or "").startswith("text/plain"):
                                errors.append("sent %r, expected %r, got %r" % (req, exp, r))
                                return
                    finally:
                        c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("worker %d: %r" % (w, e))

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])

    def test_limited_conn_tenth_request_with_connection_close(self):
        for k in range(15):
            kind = KINDS[k % 3]
            c = Conn(self.srv)
            try:
                for i in range(10):
                    last = i == 9
                    req, exp = baseline_request(kind, self.rng,
                                                extra=b"Connection: close\r\n" if last else b"")
                    c.send(req)
                    r = c.response()
                    self.assertText(r, exp, req)
                    self.assertEqual((header(r[1], "Connection") or "").lower(),
                                     "close" if last else "keep-alive", req)
                self.assertTrue(c.closed(), "the server kept the connection open after close")
            finally:
                c.close()

    # -- json

    def test_json_every_count_1_to_50_http_client(self):
        self.assertGreaterEqual(len(ITEMS), 50)
        for it in ITEMS[:50]:  # so that the expected totals are exact integers
            self.assertIs(type(it["price"]), int)
            self.assertIs(type(it["quantity"]), int)
        c = self.http()
        port = None
        for n in range(1, 51):
            m = self.rng.randrange(1, 10 ** 6)
            c.request("GET", "/json/%d?m=%d" % (n, m))
            r = c.getresponse()
            body = r.read()
            self.assertJson(r.status, r.getheader("Content-Type"), body, n, m,
                            "GET /json/%d?m=%d" % (n, m))
            self.assertEqual(int(r.getheader("Content-Length")), len(body))
            port = port or c.sock.getsockname()[1]
            self.assertEqual(c.sock.getsockname()[1], port, "the connection was not reused")

    def test_json_random_order_raw_reconnect_every_25(self):
        counts = list(range(1, 51)) * 2
        self.rng.shuffle(counts)
        for start in range(0, len(counts), 25):
            c = Conn(self.srv)
            try:
                for n in counts[start:start + 25]:
                    m = self.rng.randrange(1, 10 ** 4)
                    req = b"GET /json/%d?m=%d HTTP/1.1\r\n" % (n, m) + HOST + b"\r\n"
                    c.send(req)
                    status, headers, body = c.response()
                    self.assertJson(status, header(headers, "Content-Type"), body, n, m, req)
            finally:
                c.close()

    def test_json_pipelined_counts(self):
        c = self.conn()
        reqs = [(self.rng.randrange(1, 51), self.rng.randrange(1, 100)) for _ in range(16)]
        c.send(b"".join(b"GET /json/%d?m=%d HTTP/1.1\r\n" % q + HOST + b"\r\n" for q in reqs))
        for n, m in reqs:
            status, headers, body = c.response()
            self.assertJson(status, header(headers, "Content-Type"), body, n, m, (n, m))

    def test_json_curl(self):
        for n in self.rng.sample(range(1, 51), 4):
            m = self.rng.randrange(1, 10 ** 5)
            r = curl(self.srv.port, "/json/%d?m=%d" % (n, m))
            self.assertJson(r.status, r.header("Content-Type"), r.body, n, m, (n, m))

    def test_json_without_dataset_is_503_with_a_message(self):
        missing = os.path.join(tempfile.gettempdir(), "berth-no-dataset-%d.json" % self.rng.randrange(10 ** 9))
        srv = Server(backend=self.backend, env={"BERTH_THREADS": "1", "BERTH_DATASET": missing})
        try:
            c = Conn(srv)
            n = self.rng.randrange(1, 51)
            c.send(b"GET /json/%d?m=3 HTTP/1.1\r\nHost: t\r\n\r\n" % n)
            status, headers, body = c.response()
            self.assertEqual(status, 503)
            self.assertTrue(header(headers, "Content-Type").startswith("text/plain"))
            self.assertIn(missing.encode(), body)
            # the other endpoints still work on that connection
            req, exp = baseline_request("get", self.rng)
            c.send(req)
            self.assertText(c.response(), exp, req)
            c.close()
        finally:
            self.assertEqual(srv.stop(), 0)
        self.assertIn("will answer 503", srv.stderr_text)

    # -- upload

    def _payload(self, size):
        return self.rng.randbytes(size)

    def _upload_file(self, size):
        f = tempfile.NamedTemporaryFile(prefix="berth-upload-", delete=False)
        self.addCleanup(os.unlink, f.name)
        with f:
            f.write(self._payload(size))
        return f.name

    def test_upload_arena_sizes_curl(self):
        for size in UPLOAD_SIZES:
            with self.subTest(size=size):
                r = curl(self.srv.port, "/upload", "--data-binary", "@" + self._upload_file(size),
                         "-H", "Content-Type: application/octet-stream")
                self.assertText((r.status, r.headers, r.body), b"%d" % size)
                if "> Expect: 100-continue" in r.stderr:
                    # curl sent Expect: the server must have said 100 Continue
                    self.assertTrue(r.blocks[0].startswith("HTTP/1.1 100"), r.blocks)

    def test_upload_curl_forced_expect_gets_100_continue(self):
        size = self.rng.randrange(1, 4 * 1024 * 1024)
        start = time.monotonic()
        r = curl(self.srv.port, "/upload", "--data-binary", "@" + self._upload_file(size),
                 "-H", "Expect: 100-continue", "--expect100-timeout", "10")
        self.assertEqual(r.blocks[0].split("\r\n")[0], "HTTP/1.1 100 Continue")
        self.assertText((r.status, r.headers, r.body), b"%d" % size)
        self.assertLess(time.monotonic() - start, 8, "curl waited for the 100")

    def test_upload_random_size_curl(self):
        size = self.rng.randrange(1, 3 * 1024 * 1024)
        r = curl(self.srv.port, "/upload", "--data-binary", "@" + self._upload_file(size))
        self.assertText((r.status, r.headers, r.body), b"%d" % size)

    def test_upload_chunked_curl(self):
        size = self.rng.randrange(100 * 1024, 3 * 1024 * 1024)
        r = curl(self.srv.port, "/upload", "--data-binary", "@" + self._upload_file(size),
                 "-H", "Transfer-Encoding: chunked")
        self.assertIn("> Transfer-Encoding: chunked", r.stderr)
        self.assertText((r.status, r.headers, r.body), b"%d" % size)

    def test_upload_arena_sizes_http_client_one_connection(self):
        c = self.http()
        for size in UPLOAD_SIZES + [self.rng.randrange(1, 10 ** 6)]:
            with self.subTest(size=size):
                c.request("POST", "/upload", body=self._payload(size),
                          headers={"Content-Type": "application/octet-stream"})
                r = c.getresponse()
                self.assertText((r.status, r.getheaders(), r.read()), b"%d" % size)

    def test_upload_arena_sizes_chunked_http_client(self):
        c = self.http()
        for size in UPLOAD_SIZES:
            with self.subTest(size=size):
                data = self._payload(size)
                cuts = sorted(self.rng.sample(range(1, size), min(size - 1, max(2, size // 65536))))
                pieces = [data[x:y] for x, y in zip([0] + cuts, cuts + [size])]
                c.request("POST", "/upload", body=iter(pieces), encode_chunked=True,
                          headers={"Transfer-Encoding": "chunked"})
                r = c.getresponse()
                self.assertText((r.status, r.getheaders(), r.read()), b"%d" % size)

    def test_upload_expect_100_continue_raw(self):
        size = self.rng.randrange(1, 4 * 1024 * 1024)
        c = self.conn()
        head = (b"POST /upload HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n" % size +
                b"Expect: 100-continue\r\n\r\n")
        c.send(head)
        interim = read_head(c.sock, 3.0)
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 "), interim)
        # nothing else may come before the body is sent
        self.assertNothingMore(c, 0.05)
        c.send(self._payload(size))
        self.assertText(c.response(), b"%d" % size, head)
        # the connection stays usable
        req, exp = baseline_request("post_cl", self.rng)
        c.send(req)
        self.assertText(c.response(), exp, req)

    def test_upload_expect_100_continue_chunked_raw(self):
        size = self.rng.randrange(1, 2 * 1024 * 1024)
        c = self.conn()
        head = (b"POST /upload HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
                b"Expect: 100-continue\r\n\r\n")
        c.send(head)
        interim = read_head(c.sock, 3.0)
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 "), interim)
        self.assertNothingMore(c, 0.05)
        data = self._payload(size)
        c.send(chunk_frame([data[i:i + 100000] for i in range(0, size, 100000)]))
        self.assertText(c.response(), b"%d" % size, head)

    def test_upload_expect_with_body_sent_at_once_raw(self):
        # a client that does not wait for the 100 (as curl after its timeout)
        size = self.rng.randrange(1, 1024 * 1024)
        c = self.conn()
        head = (b"POST /upload HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n" % size +
                b"Expect: 100-continue\r\n\r\n")
        c.send(head + self._payload(size))
        r = c.response()
        if r is not None and r[0] == 100:
            r = c.response()
        self.assertText(r, b"%d" % size, head)
        req, exp = baseline_request("get", self.rng)
        c.send(req)
        self.assertText(c.response(), exp, req)

    def test_baseline_post_expect_100_continue_raw(self):
        a, b, n = rand_int(self.rng), rand_int(self.rng), rand_int(self.rng)
        body = b"%d" % n
        head = (b"POST /baseline11?a=%d&b=%d HTTP/1.1\r\n" % (a, b) + HOST +
                b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
        c = self.conn()
        c.send(head)
        interim = read_head(c.sock, 3.0)
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 "), interim)
        c.send(body)
        self.assertText(c.response(), b"%d" % (a + b + n), head + body)

    def test_upload_body_split_with_pauses_raw(self):
        size = self.rng.randrange(200 * 1024, 1024 * 1024)
        data = self._payload(size)
        head = b"POST /upload HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % size
        c = self.conn()
        c.send(head[:7])
        time.sleep(PAUSE)
        c.send(head[7:])
        time.sleep(PAUSE)
        cuts = sorted(self.rng.sample(range(1, size), 6))
        for x, y in zip([0] + cuts, cuts + [size]):
            c.send(data[x:y])
            time.sleep(PAUSE)
        self.assertText(c.response(), b"%d" % size, head)


def _sample_test(name, pipelined):
    def test(self):
        raw = sample(name)
        expect = parse_sample(raw)
        c = self.conn()
        rounds = 3 if len(raw) > 100000 else 20
        if pipelined:
            c.send(raw * (4 if len(raw) > 100000 else 16))
            rounds = 4 if len(raw) > 100000 else 16
        for _ in range(rounds):
            if not pipelined:
                c.send(raw)
            resp = c.response()
            if expect[0] == "text":
                self.assertText(resp, expect[1], raw)
                continue
            status, headers, body = resp
            enc = (header(headers, "Content-Encoding") or "").lower()
            if enc == "gzip":
                body = gzip.decompress(body)
            else:
                self.assertEqual(enc, "", "unsupported Content-Encoding")
            self.assertJson(status, header(headers, "Content-Type"), body, expect[1], expect[2], name)
        self.assertNothingMore(c)
    test.__name__ = "test_sample_%s_%s" % (name[:-4].replace("-", "_"),
                                           "pipelined" if pipelined else "repeated")
    return test


for _name in SAMPLES:
    for _p in (False, True):
        _t = _sample_test(_name, _p)
        setattr(ArenaMixin, _t.__name__, _t)

for _b in BACKENDS:
    globals()["Arena_" + _b] = type("Arena_" + _b, (ArenaMixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main()
