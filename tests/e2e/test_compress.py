"""On-the-fly compression (gzip) against the test server on every backend,
over plaintext and TLS: HttpArena's json-comp checks, the decision table
(client, type, size, status, the handler's own coding, opt-out, body
kinds), the headers (Content-Encoding, Vary, Content-Length, ETag), HEAD,
pipelining, curl --compressed and http.client, and the configuration.
Every compressed reply must decompress (Python's gzip) to exactly the bytes
of the same request answered uncompressed."""
import gzip
import http.client
import json
import os
import random
import subprocess
import sys
import unittest
import urllib.parse

from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsConn, header, stop_clean, tls_context
from test_arena import curl, expected_json

SEED = int(os.environ.get("BERTH_TEST_SEED") or random.SystemRandom().randrange(2 ** 32))
sys.stderr.write("test_compress: BERTH_TEST_SEED=%d\n" % SEED)

HOST = b"Host: localhost:8080\r\n"
ARENA_AE = b"gzip, br"  # what HttpArena's json-comp load sends
ARENA_COMP = [(25, 4), (40, 8), (50, 6)]  # its requests/json-gzip-*.raw


def req(target, ae=None, method=b"GET", extra=b""):
    if isinstance(target, str):
        target = target.encode()
    head = method + b" " + target + b" HTTP/1.1\r\n" + HOST
    if ae is not None:
        head += b"Accept-Encoding: " + ae + b"\r\n"
    return head + extra + b"\r\n"


def comp(**q):
    return "/comp?" + urllib.parse.urlencode(q)


class CompressMixin:
    backend = None
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "compress (%s)" % cls.backend)

    def setUp(self):
        self.rng = random.Random("%d %s %s" % (SEED, self.id(), self.tls))

    def conn(self):
        c = TlsConn(self.srv) if self.tls else Conn(self.srv)
        self.addCleanup(c.close)
        return c

    def ask(self, raw, head_only=False):
        c = self.conn()
        c.send(raw)
        return c.response(head_only)

    def plain_and_gzip(self, target, ae=b"gzip"):
        """The same request without and with Accept-Encoding."""
        c = self.conn()
        c.send(req(target))
        plain = c.response()
        c.send(req(target, ae))
        return plain, c.response()

    def assertGzipOf(self, resp, original, what=""):
        status, headers, body = resp
        self.assertEqual(header(headers, "Content-Encoding"), "gzip", what)
        self.assertEqual(header(headers, "Vary"), "Accept-Encoding", what)
        self.assertEqual(int(header(headers, "Content-Length")), len(body), what)
        self.assertLess(len(body), len(original), what)
        self.assertEqual(gzip.decompress(body), original, what)

    def assertIdentity(self, resp, original=None, vary=False, what=""):
        status, headers, body = resp
        self.assertIsNone(header(headers, "Content-Encoding"), what)
        self.assertEqual(header(headers, "Vary"), "Accept-Encoding" if vary else None, what)
        if original is not None:
            self.assertEqual(body, original, what)

    # -- HttpArena json-comp

    def test_arena_json_comp_requests(self):
        c = self.conn()
        for n, m in ARENA_COMP:
            c.send(req("/json/%d?m=%d" % (n, m)))
            status, headers, plain = c.response()
            self.assertEqual(status, 200)
            self.assertIsNone(header(headers, "Content-Encoding"))  # none without Accept-Encoding
            self.assertEqual(json.loads(plain), expected_json(n, m))
            c.send(req("/json/%d?m=%d" % (n, m), ARENA_AE))
            resp = c.response()
            self.assertEqual(resp[0], 200)
            self.assertEqual(header(resp[1], "Content-Type").split(";")[0], "application/json")
            self.assertGzipOf(resp, plain, "json %d" % n)

    def test_json_every_count_random_m_keep_alive(self):
        c = self.conn()
        for n in range(0, 51):
            m = self.rng.randrange(1, 100)
            c.send(req("/json/%d?m=%d" % (n, m), ARENA_AE))
            status, headers, body = c.response()
            if header(headers, "Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            else:  # only bodies under the threshold stay as they are
                self.assertLess(len(body), 1024, n)
            self.assertEqual(json.loads(body), expected_json(n, m), n)
            self.assertEqual(header(headers, "Vary"), "Accept-Encoding" if len(body) >= 1024 else None)

    def test_pipelined_compressed_replies_in_order(self):
        targets = [comp(size=self.rng.randrange(1024, 60000), seed=i) for i in range(12)]
        targets += ["/json/%d?m=%d" % (n, m) for n, m in ARENA_COMP]
        self.rng.shuffle(targets)
        c = self.conn()
        c.send(b"".join(req(t) for t in targets))
        plains = [c.response()[2] for _ in targets]
        c.send(b"".join(req(t, ARENA_AE) for t in targets))
        for t, plain in zip(targets, plains):
            self.assertGzipOf(c.response(), plain, t)

    # -- decisions

    def test_client_refusals_and_weights(self):
        t = comp(size=5000)
        plain = self.ask(req(t))
        self.assertIdentity(plain, vary=True)
        cases = [(b"gzip", True), (b"x-gzip", True), (b"GZIP;q=0.5", True), (b"*", True),
                 (b"br;q=1, *;q=0.1", True), (b"deflate, gzip;q=0.001", True),
                 (b"gzip;q=0", False), (b"identity", False), (b"br", False), (b"", False),
                 (b"*;q=0", False), (b"gzip;q=0, *", False), (b"gzip;q=x", False)]
        for ae, yes in cases:
            resp = self.ask(req(t, ae))
            if yes:
                self.assertGzipOf(resp, plain[2], ae)
            else:
                self.assertIdentity(resp, plain[2], vary=True, what=ae)

    def test_threshold(self):
        for size, yes in [(0, False), (1, False), (1023, False), (1024, True), (1025, True)]:
            plain, resp = self.plain_and_gzip(comp(size=size))
            if yes:
                self.assertGzipOf(resp, plain[2], size)
            else:
                self.assertIdentity(resp, plain[2], what=size)

    def test_types(self):
        yes = ["text/plain", "text/html; charset=utf-8", "TEXT/CSS", "application/json",
               "application/problem+json", "application/javascript", "image/svg+xml",
               "application/xml", "application/rss+xml", "application/wasm"]
        no = ["image/png", "application/octet-stream", "video/mp4", "application/zip",
              "font/woff2", "none", "textplain", "application/jsonx"]
        for ty in yes + no:
            plain, resp = self.plain_and_gzip(comp(size=3000, type=ty))
            if ty in yes:
                self.assertGzipOf(resp, plain[2], ty)
            else:
                self.assertIdentity(resp, plain[2], what=ty)

    def test_handler_content_encoding_is_left_alone(self):
        for ce in ["gzip", "br", "identity"]:
            plain, resp = self.plain_and_gzip(comp(size=4000, ce=ce))
            self.assertEqual(header(resp[1], "Content-Encoding"), ce)
            self.assertIsNone(header(resp[1], "Vary"))
            self.assertEqual(resp[2], plain[2])

    def test_per_response_opt_out(self):
        plain, resp = self.plain_and_gzip(comp(size=4000, optout=1))
        self.assertIdentity(resp, plain[2])

    def test_statuses(self):
        for status in [200, 201, 404, 500]:
            plain, resp = self.plain_and_gzip(comp(size=4000, status=status))
            self.assertEqual(resp[0], status)
            self.assertGzipOf(resp, plain[2], status)
        # 206: the body is a range of the identity form, never recompressed
        plain, resp = self.plain_and_gzip(comp(size=4000, status=206))
        self.assertIdentity(resp, plain[2])
        for status in [204, 304]:
            c = self.conn()
            c.send(req(comp(size=4000, status=status, etag='"v1"'), b"gzip"))
            st, headers, body = c.response()
            self.assertEqual((st, body), (status, b""))
            self.assertIsNone(header(headers, "Content-Encoding"))
            self.assertIsNone(header(headers, "Content-Length"))
            if status == 304:  # what the 200 would say
                self.assertEqual(header(headers, "Vary"), "Accept-Encoding")
                self.assertEqual(header(headers, "ETag"), 'W/"v1"')
            c.send(req(comp(size=10)))  # the connection goes on
            self.assertEqual(c.response()[0], 200)

    def test_strong_etag_becomes_weak_only_when_compressed(self):
        plain, resp = self.plain_and_gzip(comp(size=4000, etag='"abc-1"'))
        self.assertEqual(header(plain[1], "ETag"), '"abc-1"')
        self.assertEqual(header(resp[1], "ETag"), 'W/"abc-1"')
        plain, resp = self.plain_and_gzip(comp(size=4000, etag='W/"w"'))
        self.assertEqual(header(resp[1], "ETag"), 'W/"w"')
        self.assertGzipOf(resp, plain[2])

    def test_handler_vary_is_extended_not_repeated(self):
        plain, resp = self.plain_and_gzip(comp(size=4000, vary="Origin"))
        self.assertEqual([v for k, v in resp[1] if k.lower() == "vary"],
                         ["Origin", "Accept-Encoding"])
        plain, resp = self.plain_and_gzip(comp(size=4000, vary="origin, accept-encoding"))
        self.assertEqual([v for k, v in resp[1] if k.lower() == "vary"], ["origin, accept-encoding"])
        self.assertEqual(gzip.decompress(resp[2]), plain[2])

    def test_body_kinds(self):
        for mode in ["copy", "borrow", "external", "reserve", "defer", "thread"]:
            for size in [2000, 20000, 300000]:
                plain, resp = self.plain_and_gzip(comp(size=size, mode=mode))
                self.assertEqual(len(plain[2]), size)
                self.assertGzipOf(resp, plain[2], (mode, size))
        # files and streamed responses are sent as they are
        for mode in ["file", "stream"]:
            plain, resp = self.plain_and_gzip(comp(size=20000, mode=mode))
            self.assertEqual(len(plain[2]), 20000, mode)
            self.assertIdentity(resp, plain[2], what=mode)

    def test_head_has_the_headers_get_would_have(self):
        for t in [comp(size=9000), "/json/50?m=6"]:
            c = self.conn()
            c.send(req(t, b"gzip"))
            get = c.response()
            c.send(req(t, b"gzip", method=b"HEAD"))
            st, headers, body = c.response(head_only=True)
            self.assertEqual(st, 200)
            for name in ["Content-Encoding", "Vary", "Content-Length", "Content-Type"]:
                self.assertEqual(header(headers, name), header(get[1], name), name)
            c.send(req(comp(size=10)))  # no body bytes came after the HEAD's head
            st, headers, body = c.response()
            self.assertEqual((st, len(body), c.pending), (200, 10, b""))

    # -- clients

    def client(self):
        if self.tls:
            return http.client.HTTPSConnection("localhost", self.srv.tls_port, timeout=30,
                                               context=tls_context())
        return http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)

    def test_http_client_with_gzip(self):
        h = self.client()
        try:
            for size in [1500, 70000, 1 << 20]:
                t = comp(size=size, seed=size)
                h.request("GET", t)
                r = h.getresponse()
                plain = r.read()
                self.assertIsNone(r.getheader("Content-Encoding"))  # http.client asks identity
                h.request("GET", t, headers={"Accept-Encoding": "gzip"})
                r = h.getresponse()
                body = r.read()
                self.assertEqual(r.getheader("Content-Encoding"), "gzip")
                self.assertEqual(gzip.decompress(body), plain)
        finally:
            h.close()

    def curl(self, target, *args):
        if not self.tls:
            return curl(self.srv.port, target, *args)
        port = self.srv.tls_port
        p = subprocess.run(["curl", "-sS", "-D", "-", "--cacert", CERT, "--resolve",
                            "localhost:%d:127.0.0.1" % port, *args,
                            "https://localhost:%d%s" % (port, target)], capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        head, body = p.stdout.split(b"\r\n\r\n", 1)
        return head.decode("latin-1"), body

    def test_curl_compressed(self):
        for t in ["/json/50?m=6", comp(size=123457, seed=7)]:
            plain = self.ask(req(t))[2]
            if self.tls:
                head, body = self.curl(t, "--compressed")
                self.assertIn("content-encoding: gzip", head.lower())
            else:
                r = curl(self.srv.port, t, "--compressed")
                self.assertEqual(r.header("Content-Encoding"), "gzip")
                body = r.body
            self.assertEqual(body, plain, t)


class ConfigTests(unittest.TestCase):
    """berth-serve's environment: off, level, threshold, types."""

    def serve(self, **env):
        srv = Server("serve/berth-serve", env=dict(TLS_PORT="off", **env))
        self.addCleanup(stop_clean, srv, "config")
        return srv

    def get(self, srv, target, ae=b"gzip"):
        c = Conn(srv)
        try:
            c.send(req(target, ae))
            return c.response()
        finally:
            c.close()

    def test_off(self):
        srv = self.serve(BERTH_COMPRESS="0")
        st, headers, body = self.get(srv, "/json/50?m=6")
        self.assertIsNone(header(headers, "Content-Encoding"))
        self.assertIsNone(header(headers, "Vary"))
        self.assertEqual(json.loads(body), expected_json(50, 6))

    def test_levels_all_decompress_the_same(self):
        sizes = {}
        for level in ["1", "6", "12"]:
            srv = self.serve(BERTH_GZIP_LEVEL=level)
            st, headers, body = self.get(srv, "/json/50?m=6")
            self.assertEqual(json.loads(gzip.decompress(body)), expected_json(50, 6))
            sizes[level] = len(body)
        self.assertLess(sizes["12"], sizes["1"])

    def test_threshold_and_types(self):
        srv = self.serve(BERTH_COMPRESS_MIN="100")
        st, headers, body = self.get(srv, "/json/1?m=3")  # about 200 bytes
        self.assertEqual(json.loads(gzip.decompress(body)), expected_json(1, 3))
        srv = self.serve(BERTH_COMPRESS_TYPES="text/*")
        st, headers, body = self.get(srv, "/json/50?m=6")
        self.assertIsNone(header(headers, "Content-Encoding"))

    def test_bad_settings(self):
        srv = Server("serve/berth-serve", env=dict(TLS_PORT="off", BERTH_GZIP_LEVEL="13"))
        try:  # warned, the default used
            self.assertEqual(header(self.get(srv, "/json/50?m=6")[1], "Content-Encoding"), "gzip")
        finally:
            self.assertEqual(srv.stop(), 0)
        self.assertIn("BERTH_GZIP_LEVEL", srv.stderr_text)
        with self.assertRaises(RuntimeError) as e:
            Server("serve/berth-serve", env=dict(TLS_PORT="off", BERTH_COMPRESS_TYPES="text/plain, json"))
        self.assertIn("compress_types", str(e.exception))


for _b in BACKENDS:
    for _tls in (False, True):
        _name = "Compress_%s%s" % (_b.replace(":", "_"), "_tls" if _tls else "")
        globals()[_name] = type(_name, (CompressMixin, unittest.TestCase),
                                {"backend": _b, "tls": _tls})

if __name__ == "__main__":
    unittest.main(verbosity=2)
