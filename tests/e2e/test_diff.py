"""Differential test: one corpus of requests, sent to every backend, in
plaintext and over TLS, must get byte-identical responses (only Date
normalized)."""
import re
import socket
import time
import unittest

from berthproc import BACKENDS, CERT, KEY, Server, TlsSock

H = b"Host: t\r\n"


def req(method, target, headers=b"", body=b"", version=b"HTTP/1.1"):
    if body and b"Content-Length" not in headers and b"Transfer-Encoding" not in headers:
        headers += b"Content-Length: %d\r\n" % len(body)
    return method + b" " + target + b" " + version + b"\r\n" + H + headers + b"\r\n" + body


CLOSE = req(b"GET", b"/health", b"Connection: close\r\n")
PIPELINE = (req(b"GET", b"/baseline11?a=13&b=42") +
            req(b"POST", b"/baseline11?a=1&b=2", body=b"20") +
            req(b"POST", b"/baseline11?a=-5&b=9", b"Transfer-Encoding: chunked\r\n",
                b"2\r\n20\r\n0\r\n\r\n") +
            req(b"HEAD", b"/json") + req(b"GET", b"/json/3?m=2") + CLOSE)

# (name, bytes, piece size or None, half-close after sending)
CORPUS = [
    ("health", CLOSE, None, False),
    ("pipelined", PIPELINE, None, False),
    ("pipelined_one_byte_writes", PIPELINE, 1, False),
    ("pipelined_7_byte_writes", PIPELINE, 7, False),
    ("not_found", req(b"GET", b"/nope") + CLOSE, None, False),
    ("method_not_allowed", req(b"DELETE", b"/health") + CLOSE, None, False),
    ("http10", b"GET /pipeline HTTP/1.0\r\n\r\n", None, False),
    ("http10_keep_alive", b"GET /pipeline HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + CLOSE, None, False),
    ("expect_continue", req(b"POST", b"/echo", b"Expect: 100-continue\r\nContent-Type: a/b\r\n", b"hello") + CLOSE, None, False),
    ("chunk_ext_trailer", req(b"POST", b"/echo", b"Transfer-Encoding: chunked\r\n",
                              b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n") + CLOSE, None, False),
    ("json_bad_count", req(b"GET", b"/json/abc") + CLOSE, None, False),
    ("json_clamped", req(b"GET", b"/json/99?m=3") + CLOSE, None, False),
    ("upload_chunked", req(b"POST", b"/upload", b"Transfer-Encoding: chunked\r\n",
                           b"4000\r\n" + b"u" * 0x4000 + b"\r\n0\r\n\r\n") + CLOSE, 3000, False),
    ("sse", req(b"GET", b"/sse?n=2&interval_ms=10") + CLOSE, None, False),
    ("cl_and_te", req(b"POST", b"/echo", b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"abc"), None, False),
    ("two_lengths", req(b"POST", b"/echo", b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"), None, False),
    ("te_not_chunked", req(b"POST", b"/echo", b"Transfer-Encoding: chunked, gzip\r\n"), None, False),
    ("bad_chunk", req(b"POST", b"/echo", b"Transfer-Encoding: chunked\r\n", b"zz\r\n"), None, False),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", None, False),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", None, False),
    ("bare_cr", b"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", None, False),
    ("nul_byte", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", None, False),
    ("bad_method", b"GE(T / HTTP/1.1\r\nHost: t\r\n\r\n", None, False),
    ("no_host", b"GET /health HTTP/1.1\r\n\r\n", None, False),
    ("http2_version", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", None, False),
    ("long_request_line", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", None, False),
    ("too_many_fields", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(101)) + b"\r\n", None, False),
    ("huge_header", b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 17000 + b"\r\n\r\n", None, False),
    ("body_too_large", req(b"POST", b"/upload", b"Content-Length: 99999999999\r\n"), None, False),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)), None, False),
    # An HTTP/2.0 request line that is not the preface (which selects h2c on
    # a plaintext port, test_h2.py): 505.
    ("h2_not_the_preface", b"PRI * HTTP/2.0\r\n\r\nXY\r\n\r\n", None, False),
    ("truncated_head_half_close", b"GET /health HTTP/1.1\r\nHo", None, True),
    ("pipelined_then_half_close", req(b"GET", b"/pipeline") + req(b"GET", b"/pipeline"), None, True),
]


def exchange(port, data, pieces, half_close, tls=False):
    if tls:
        s = TlsSock(port)  # each piece is a TLS record; half_close is a FIN, no close_notify
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if pieces:
        for i in range(0, len(data), pieces):
            s.sendall(data[i:i + pieces])
            if pieces < 16:
                time.sleep(0.0005)
    else:
        s.sendall(data)
    if half_close:
        s.half_close() if tls else s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return re.sub(rb"Date: [^\r]*\r\n", b"Date: X\r\n", out)


class DifferentialTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.results = {}
        cls.tls_results = {}
        for backend in BACKENDS:
            srv = Server(backend=backend, env={"BERTH_THREADS": "2", "TLS_CERT": CERT,
                                               "TLS_KEY": KEY})
            try:
                cls.results[backend] = {}
                cls.tls_results[backend] = {}
                for name, data, pieces, hc in CORPUS:
                    try:
                        cls.results[backend][name] = exchange(srv.port, data, pieces, hc)
                        cls.tls_results[backend][name] = exchange(srv.tls_port, data, pieces, hc,
                                                                  tls=True)
                    except OSError as e:
                        raise AssertionError("%s on %s: %s" % (name, backend, e))
            finally:
                cls.exit_codes = getattr(cls, "exit_codes", {})
                cls.exit_codes[backend] = srv.stop()

    def test_every_backend_answers_every_input(self):
        for backend, res in self.results.items():
            for name, out in res.items():
                self.assertTrue(out.startswith(b"HTTP/1.1 "), "%s/%s: %r" % (backend, name, out[:80]))

    def test_backends_give_identical_bytes(self):
        base = BACKENDS[0]
        for backend in BACKENDS[1:]:
            for name, _, _, _ in CORPUS:
                self.assertEqual(self.results[base][name], self.results[backend][name],
                                 "%s differs between %s and %s" % (name, base, backend))

    def test_tls_gives_the_same_bytes_as_plaintext(self):
        for backend in BACKENDS:
            for name, _, _, _ in CORPUS:
                self.assertEqual(self.results[backend][name], self.tls_results[backend][name],
                                 "%s over TLS differs from plaintext on %s" % (name, backend))

    def test_servers_exit_cleanly(self):
        for backend, code in self.exit_codes.items():
            self.assertEqual(code, 0, backend)

    def test_errors_have_the_expected_status(self):
        expect = {"cl_and_te": 400, "two_lengths": 400, "te_not_chunked": 400,
                  "bad_chunk": 400, "space_before_colon": 400, "obs_fold": 400,
                  "bare_cr": 400, "nul_byte": 400, "bad_method": 400, "no_host": 400,
                  "http2_version": 505, "long_request_line": 414, "too_many_fields": 431,
                  "huge_header": 431, "body_too_large": 413, "garbage": 400,
                  "h2_not_the_preface": 505, "truncated_head_half_close": 400}
        for backend, res in self.results.items():
            for name, status in expect.items():
                out = res[name]
                self.assertTrue(out.startswith(b"HTTP/1.1 %d " % status),
                                "%s/%s: %r" % (backend, name, out[:60]))
                self.assertIn(b"\r\nConnection: close\r\n", out)
                self.assertEqual(out.count(b"HTTP/1.1 "), 1, "%s/%s: one response" % (backend, name))

    def test_pipelined_answers_are_in_order(self):
        out = self.results[BACKENDS[0]]["pipelined"]
        bodies = [b"\r\n\r\n55", b"\r\n\r\n23", b"\r\n\r\n24"]
        pos = [out.find(b) for b in bodies]
        self.assertTrue(all(p > 0 for p in pos) and pos == sorted(pos), pos)
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 6)


if __name__ == "__main__":
    unittest.main()
