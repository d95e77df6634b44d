"""Differential test, HTTP/1.1 against HTTP/2 (issue 24, docs/HTTP2.md):
one corpus of requests, each sent over HTTP/1.1 (a raw socket, plaintext
and TLS with ALPN http/1.1) and over HTTP/2 (Python's h2: h2c with prior
knowledge and h2 over TLS), on every backend, to the test server (arena,
test, compression and static routes). The same request must get the same
status, the same header fields (names compared case-insensitively, in
order; framing fields left out: connection, keep-alive,
transfer-encoding, and date) and the same body (HTTP/1.1's chunked one
decoded). A difference not in KNOWN fails; KNOWN says why each is
expected today."""
import gzip
import os
import shutil
import socket
import sys
import tempfile
import unittest

import h2env  # noqa: E402

h2 = h2env.import_h2()
if h2 is None and os.environ.get("BERTH_HTTP2") != "0":
    raise ImportError("these tests drive Python's h2 (Debian python3-h2)")

from berthproc import (BACKENDS, CERT, KEY, ReadSock, Server, TlsSock, read_response,
                       stop_clean)
from test_h2 import H2

FRAMING = {"connection", "keep-alive", "transfer-encoding", "date"}
MAX_BODY = 65536
TEXT = b"".join(b"line %04d of a text file served by berth\n" % i for i in range(400))
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
PAST = "Sat, 01 Jan 2000 00:00:00 GMT"


def corpus():
    """(name, method, target, headers, body)."""
    c = [
        ("health", "GET", "/health", [], None),
        ("baseline_get", "GET", "/baseline11?a=13&b=42", [], None),
        ("baseline_post", "POST", "/baseline11?a=13&b=42", [("content-type", "text/plain")],
         b"20"),
        ("baseline_bad_body", "POST", "/baseline11?a=1&b=2", [], b"x"),
        ("baseline_bad_query", "GET", "/baseline11?a=1", [], None),
        ("baseline2", "GET", "/baseline2?a=100&b=-7", [], None),
        ("pipeline", "GET", "/pipeline", [], None),
        ("json_hello", "GET", "/json", [], None),
        ("json_items", "GET", "/json/7?m=3", [], None),
        ("json_items_gzip", "GET", "/json/50?m=2", [("accept-encoding", "gzip")], None),
        ("json_items_br_only", "GET", "/json/50?m=2", [("accept-encoding", "br")], None),
        ("json_clamped", "GET", "/json/99?m=1", [], None),
        ("json_bad_count", "GET", "/json/abc", [], None),
        ("head_json", "HEAD", "/json/5?m=1", [], None),
        ("echo", "POST", "/echo", [("content-type", "a/b")], b"hello, world"),
        ("echo_empty", "POST", "/echo", [], b""),
        ("echo_binary", "POST", "/echo", [], bytes(range(256)) * 40),
        ("upload", "POST", "/upload", [], b"u" * 40000),
        ("query_escapes", "GET", "/baseline11?a=%31%32&b=+3", [], None),
        ("param_path", "GET", "/files/a/b%20c.txt", [], None),
        ("param_name", "GET", "/doc/report.json", [], None),
        ("not_found", "GET", "/nope?x=1", [], None),
        ("not_allowed", "DELETE", "/health", [], None),
        ("not_allowed_head", "PUT", "/json", [], b"{}"),
        ("body_too_large", "POST", "/echo", [], b"b" * (MAX_BODY + 1000)),
        ("too_many_fields", "GET", "/health", [("x-f%d" % i, "v") for i in range(101)], None),
        ("huge_field", "GET", "/health", [("x-big", "a" * 17000)], None),
        ("fields_just_fit", "GET", "/health", [("x-big%d" % i, "a" * 4000) for i in range(4)],
         None),
        ("long_target", "GET", "/health?" + "q" * 9000, [], None),
        ("comp_text", "GET", "/comp?size=5000&type=text/plain", [("accept-encoding", "gzip")],
         None),
        ("comp_none_accepted", "GET", "/comp?size=5000&type=text/plain", [], None),
        ("comp_etag_vary", "GET", "/comp?size=3000&type=text/html&etag=1&vary=1",
         [("accept-encoding", "gzip, br")], None),
        ("comp_file", "GET", "/comp?size=8000&type=text/css&mode=file",
         [("accept-encoding", "gzip")], None),
        ("comp_borrow", "GET", "/comp?size=100&mode=borrow", [], None),
        ("comp_external", "GET", "/comp?size=70000&mode=external&type=application/json",
         [("accept-encoding", "gzip")], None),
        ("comp_status_201", "GET", "/comp?size=10&status=201", [], None),
        ("comp_204", "GET", "/comp?size=0&status=204", [], None),
        ("comp_defer", "GET", "/comp?size=2000&mode=defer", [], None),
        ("comp_stream", "GET", "/comp?size=2000&mode=stream", [], None),
        ("sse", "GET", "/sse?n=2&interval_ms=10", [], None),
        ("static", "GET", "/static/a.txt", [], None),
        ("static_head", "HEAD", "/static/a.txt", [], None),
        ("static_nocache", "GET", "/nocache/a.txt", [], None),
        ("static_range", "GET", "/static/a.txt", [("range", "bytes=10-99")], None),
        ("static_range_suffix", "GET", "/static/a.txt", [("range", "bytes=-20")], None),
        ("static_range_bad", "GET", "/static/a.txt", [("range", "bytes=999999-")], None),
        ("static_range_multi", "GET", "/static/a.txt", [("range", "bytes=0-1,5-6")], None),
        ("static_inm_star", "GET", "/static/a.txt", [("if-none-match", "*")], None),
        ("static_ims_future", "GET", "/static/a.txt", [("if-modified-since", FUTURE)], None),
        ("static_ims_past", "GET", "/static/a.txt", [("if-modified-since", PAST)], None),
        ("static_precompressed", "GET", "/static/p.txt", [("accept-encoding", "gzip")], None),
        ("static_precompressed_not_asked", "GET", "/static/p.txt", [], None),
        ("static_gzip_on_the_fly", "GET", "/static/a.txt", [("accept-encoding", "gzip")], None),
        ("static_css", "GET", "/static/s.css", [], None),
        ("static_missing", "GET", "/static/missing.txt", [], None),
        ("static_dir", "GET", "/static/", [], None),
        ("static_dotdot", "GET", "/static/%2e%2e/x", [], None),
        ("static_post", "POST", "/static/a.txt", [], b"x"),
    ]
    return c


def h1_exchange(raw, method, target, headers, body):
    sock = ReadSock(raw)
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: localhost"]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # an early answer (413): read it
    r = read_response(sock, head_only=method == "HEAD")
    assert r is not None, "no answer"
    status, hdrs, got = r
    return status, [(k.lower(), v) for k, v in hdrs], got


def h2_exchange(c, method, target, headers, body):
    sid = c.request(method, target, headers, body)
    c.wait([sid])
    s = c.streams[sid]
    hdrs = [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
            for k, v in s["headers"]]
    status = int(dict(hdrs).get(":status", 0))
    return status, [(k, v) for k, v in hdrs if not k.startswith(":")], bytes(s["data"]), \
        s["reset"]


def normal(status, headers, body):
    return status, [(k, v) for k, v in headers if k not in FRAMING], body


def differences(a, b):
    """What differs between two normalized answers, in words (empty: same)."""
    out = []
    if a[0] != b[0]:
        out.append("status %d vs %d" % (a[0], b[0]))
    if a[1] != b[1]:
        ka = [k for k, _ in a[1]]
        kb = [k for k, _ in b[1]]
        only_a = [k for k in ka if k not in kb]
        only_b = [k for k in kb if k not in ka]
        vals = [k for k, v in a[1] if k in kb and (k, v) not in b[1]]
        if only_a:
            out.append("h1 only: " + ",".join(only_a))
        if only_b:
            out.append("h2 only: " + ",".join(only_b))
        if vals:
            out.append("values differ: " + ",".join(vals))
        if not (only_a or only_b or vals):
            out.append("header order")
    if a[2] != b[2]:
        out.append("body %d vs %d bytes" % (len(a[2]), len(b[2])))
    return out


# name -> why HTTP/2 answers otherwise today (docs/HTTP2.md, "Not yet").
# Empty since deferred and streamed responses work on h2 (comp_defer,
# comp_stream and sse were here before core/h2_output.c); an entry that is
# no longer seen fails the test, so the list stays true.
KNOWN = {}


class H2DiffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-h2diff-")
        with open(os.path.join(cls.tmp, "a.txt"), "wb") as f:
            f.write(TEXT)
        with open(os.path.join(cls.tmp, "p.txt"), "wb") as f:
            f.write(TEXT[:3000])
        with open(os.path.join(cls.tmp, "p.txt.gz"), "wb") as f:
            f.write(gzip.compress(TEXT[:3000], mtime=0))
        with open(os.path.join(cls.tmp, "s.css"), "wb") as f:
            f.write(b"body { color: red }\n" * 50)
        cls.answers = {}  # (backend, transport) -> {name: normalized answer}
        cls.resets = {}
        for backend in BACKENDS:
            srv = Server("tests/berth-test-server", backend=backend,
                         env={"TLS_CERT": CERT, "TLS_KEY": KEY, "BERTH_STATIC_DIR": cls.tmp,
                              "BERTH_MAX_BODY": str(MAX_BODY)})
            try:
                cls.run_corpus(backend, srv)
            finally:
                stop_clean(srv, "h2 diff (%s)" % backend)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_corpus(cls, backend, srv):
        for transport in ("h1", "h1-tls", "h2c", "h2-tls"):
            got = cls.answers[backend, transport] = {}
            c = None
            for name, method, target, headers, body in corpus():
                try:
                    if transport.startswith("h1"):
                        sock = TlsSock(srv.tls_port) if transport == "h1-tls" else srv.connect()
                        try:
                            got[name] = normal(*h1_exchange(sock, method, target, headers, body))
                        finally:
                            sock.close()
                    else:
                        # one connection for the corpus, a new one after a
                        # connection error (none is expected)
                        if c is None or c.closed or c.goaway:
                            c = H2(srv.tls_port if transport == "h2-tls" else srv.port,
                                   tls=transport == "h2-tls")
                        status, hdrs, data, reset = h2_exchange(c, method, target, headers,
                                                                body)
                        got[name] = normal(status, hdrs, data)
                        cls.resets[backend, transport, name] = reset
                except (OSError, AssertionError) as e:
                    raise AssertionError("%s over %s on %s: %s" % (name, transport, backend, e))
            if c is not None:
                c.close()

    def test_http1_and_http2_answer_alike(self):
        unexpected, known_seen = [], set()
        for backend in BACKENDS:
            for h1t, h2t in (("h1", "h2c"), ("h1-tls", "h2-tls")):
                a, b = self.answers[backend, h1t], self.answers[backend, h2t]
                for name, *_ in corpus():
                    d = differences(a[name], b[name])
                    if not d:
                        continue
                    if name in KNOWN:
                        known_seen.add(name)
                        continue
                    unexpected.append("%s %s/%s %s: %s" % (backend, h1t, h2t, name, "; ".join(d)))
        gone = sorted(set(KNOWN) - known_seen)
        self.assertEqual(gone, [], "known differences no longer seen: drop them from KNOWN")
        self.assertEqual(unexpected, [], "\n".join(unexpected))

    def test_plaintext_and_tls_answer_alike(self):
        for backend in BACKENDS:
            for plain, tls in (("h1", "h1-tls"), ("h2c", "h2-tls")):
                for name, *_ in corpus():
                    self.assertEqual(differences(self.answers[backend, plain][name],
                                                 self.answers[backend, tls][name]), [],
                                     "%s %s vs %s: %s" % (backend, plain, tls, name))

    def test_the_corpus_means_something(self):
        # the answers are the routes' own, not errors all alike
        a = self.answers[BACKENDS[0], "h2c"]
        self.assertEqual(a["baseline_get"][0::2], (200, b"55"))
        self.assertEqual(a["baseline_post"][0::2], (200, b"75"))
        self.assertEqual(a["baseline2"][0::2], (200, b"93"))
        self.assertEqual(a["static"][0::2], (200, TEXT))
        self.assertEqual(a["static_range"][0::2], (206, TEXT[10:100]))
        self.assertEqual(a["static_inm_star"][0], 304)
        self.assertEqual(a["static_ims_future"][0], 304)
        self.assertEqual(gzip.decompress(a["static_precompressed"][2]), TEXT[:3000])
        self.assertEqual(dict(a["json_items_gzip"][1]).get("content-encoding"), "gzip")
        self.assertEqual([x[0] for x in (a["not_found"], a["not_allowed"], a["body_too_large"],
                                         a["too_many_fields"], a["huge_field"],
                                         a["fields_just_fit"], a["long_target"])],
                         [404, 405, 413, 431, 431, 200, 414])
        self.assertEqual(a["upload"][0::2], (200, b"40000"))
        self.assertEqual(a["echo_binary"][2], bytes(range(256)) * 40)
        self.assertEqual(a["static_head"][2], b"")
        self.assertEqual(dict(a["static_head"][1])["content-length"], str(len(TEXT)))


if __name__ == "__main__":
    h2env.main()
