"""Multipart routes berth parses itself (berth_route_opts.multipart) and
the JSON error hook berth_on_error_json, through the test server's routes
(tests/server/upload-routes.c), on every backend, over plaintext and TLS,
HTTP/1.1 and HTTP/2 (curl --http2-prior-knowledge, curl --http2 over
ALPN): curl -F uploads of several files, a body cut short, one with no
part, a Content-Type that is not multipart (415), a part callback that
refuses with its status, max_parts (413), a client gone mid-upload. The
routes have no on_body: what they answer was parsed by berth. With
BERTH_TEST_ON_ERROR=json every refusal is berth_on_error_json's JSON with
the parser's reason; without an on_error hook the reason is berth's
text/plain body."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsConn, stop_clean
from test_forms import fnv  # the routes' FNV-1a 64, as form-routes.c's

BOUNDARY = "multipart/form-data; boundary=B"


class UploadRouteMixin:
    backend = None
    tls = False
    env = {"BERTH_TEST_ON_ERROR": "json"}

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env=dict(cls.env, BERTH_THREADS="2", TLS_CERT=CERT, TLS_KEY=KEY))
        cls.tmp = tempfile.mkdtemp(prefix="berth-mproute-")
        rng = random.Random(28)
        cls.files = {}
        for name, size in (("big.bin", 3 * 1024 * 1024 + 7), ("small.txt", 10), ("empty", 0)):
            data = rng.randbytes(size - 4) + b"\r\n--" if size else b""
            with open(os.path.join(cls.tmp, name), "wb") as f:
                f.write(data)
            cls.files[name] = data

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        stop_clean(cls.srv, "upload routes (%s)" % cls.backend)

    def curl_cmd(self, target, h2, max_time=60):
        """curl's command line for target, its output to self.tmp/out."""
        cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", str(max_time),
               "-o", os.path.join(self.tmp, "out"), "-w", "%{http_code} %{http_version}"]
        if self.tls:
            port = self.srv.tls_port
            url = "https://localhost:%d%s" % (port, target)
            cmd += ["--cacert", CERT, "--resolve", "localhost:%d:127.0.0.1" % port]
            cmd += ["--http2"] if h2 else ["--http1.1"]
        else:
            url = "http://127.0.0.1:%d%s" % (self.srv.port, target)
            cmd += ["--http2-prior-knowledge"] if h2 else ["--http1.1"]
        return cmd, url

    def curl(self, target, *args, h2=False):
        """(status, body bytes) of the response, checking the HTTP version."""
        cmd, url = self.curl_cmd(target, h2)
        p = subprocess.run(cmd + list(args) + [url], capture_output=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr)
        code, version = p.stdout.decode().split()
        self.assertEqual(version, "2" if h2 else "1.1")
        with open(os.path.join(self.tmp, "out"), "rb") as f:
            return int(code), f.read()

    def assert_error(self, status, body, want_status, message):
        """The refusal as the configured hook (or berth's text) answers it."""
        self.assertEqual(status, want_status, body)
        self.assertEqual(json.loads(body), {"error": {"status": want_status,
                                                      "message": message}})

    def raw(self):
        c = TlsConn(self.srv, timeout=10) if self.tls else Conn(self.srv, timeout=10)
        self.addCleanup(c.close)
        return c

    def post_raw(self, body, ctype=BOUNDARY, pieces=None):
        c = self.raw()
        c.send(("POST /mp-route HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n\r\n" % (ctype, len(body))).encode() + body,
               pieces=pieces)
        return c.response()

    def test_several_files_and_a_field_h1_and_h2(self):
        args = []
        for name in self.files:
            args += ["-F", "f_%s=@%s" % (name, os.path.join(self.tmp, name))]
        args += ["-F", "note=hello"]
        want = "".join("part f_%s filename=%s size=%d fnv=%s\n" % (n, n, len(d), fnv(d))
                       for n, d in self.files.items())
        want += "part note filename=- size=5 fnv=%s\nparts=4\n" % fnv(b"hello")
        for h2 in (False, True):
            with self.subTest(h2=h2):
                status, body = self.curl("/mp-route", *args, h2=h2)
                self.assertEqual(status, 200, body)
                self.assertEqual(body.decode(), want)

    def test_not_multipart_is_415(self):
        for h2 in (False, True):
            status, body = self.curl("/mp-route", "--data", "a=1", h2=h2)
            self.assert_error(status, body, 415, "Unsupported Media Type")
            status, body = self.curl("/mp-route", "-H", "Content-Type: multipart/form-data",
                                     "--data", "a=1", h2=h2)
            self.assert_error(status, body, 415, "Unsupported Media Type")

    def test_a_part_callback_refuses_with_its_status(self):
        for h2 in (False, True):
            status, body = self.curl("/mp-route?fail=422", "-F", "a=1", "-F", "b=2", h2=h2)
            self.assert_error(status, body, 422, "Unprocessable Content")
            # the callback's status as it is, berth's reason for it
            status, body = self.curl("/mp-route?fail=409", "-F", "a=1", "-F", "b=2", h2=h2)
            self.assert_error(status, body, 409, "Conflict")
            # only the second part refuses: one part goes through
            status, body = self.curl("/mp-route?fail=422", "-F", "a=1", h2=h2)
            self.assertEqual(status, 200, body)

    def test_max_parts_is_413_with_the_reason(self):
        for h2 in (False, True):
            status, body = self.curl("/mp-route-2", "-F", "a=1", "-F", "b=2", "-F", "c=3",
                                     h2=h2)
            self.assert_error(status, body, 413, "more parts than max_parts")
            status, body = self.curl("/mp-route-2", "-F", "a=1", "-F", "b=2", h2=h2)
            self.assertEqual(status, 200, body)
            self.assertTrue(body.endswith(b"parts=2\n"), body)

    def test_cut_short_and_no_part_are_400_before_the_handler(self):
        part = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue"
        status, _, body = self.post_raw(part)
        self.assert_error(status, body, 400, "the body ended before the closing delimiter")
        status, _, body = self.post_raw(b"--B--\r\n")
        self.assert_error(status, body, 400, "the body has no part")
        status, _, body = self.post_raw(b"")  # no body: on_body's one empty call
        self.assert_error(status, body, 400, "the body ended before the closing delimiter")
        # the same part closed, in 3-byte pieces: parsed alike
        status, _, body = self.post_raw(part + b"\r\n--B--\r\n", pieces=3)
        self.assertEqual(status, 200, body)
        self.assertEqual(body, b"part a filename=- size=5 fnv=%s\nparts=1\n"
                         % fnv(b"value").encode())
        # malformed: the parser's reason
        status, _, body = self.post_raw(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--")
        self.assert_error(status, body, 400, "a part has no Content-Disposition")

    def test_client_gone_mid_upload_then_the_server_goes_on(self):
        for _ in range(3):
            c = self.raw()
            c.send(b"POST /mp-route HTTP/1.1\r\nHost: x\r\nContent-Type: " + BOUNDARY.encode()
                   + b"\r\nContent-Length: 100000\r\n\r\n--B\r\nContent-Disposition: "
                   b"form-data; name=\"a\"; filename=\"f\"\r\n\r\n" + b"x" * 5000)
            c.close()  # the parser, the upload value: freed (ASan would say)
        # curl giving up after 1 s of a slow upload: over HTTP/2 the stream
        # is reset, the connection stays for nothing more
        big = os.path.join(self.tmp, "big.bin")
        for h2 in (False, True):
            cmd, url = self.curl_cmd("/mp-route", h2, max_time=1)
            p = subprocess.run(cmd + ["--limit-rate", "200k", "-F", "f=@" + big, url],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 28, p.stderr)  # curl's timeout
        for h2 in (False, True):
            status, body = self.curl("/mp-route", "-F", "a=1", h2=h2)
            self.assertEqual(status, 200, body)

    def test_route_without_the_option_has_no_parser(self):
        status, body = self.curl("/mp-none")
        self.assertEqual((status, body), (200, b"null"))
        status, body = self.curl("/no-such-route")
        self.assert_error(status, body, 404, "Not Found")


class TextErrorsMixin(UploadRouteMixin):
    """No on_error hook: berth's text/plain answer carries the reason."""
    env = {}

    def assert_error(self, status, body, want_status, message):
        self.assertEqual(status, want_status, body)
        self.assertEqual(body.decode(), message + "\n")


for _b in BACKENDS:
    for _tls in (False, True):
        _name = "UploadRoute_%s%s" % (_b.replace(":", "_"), "_tls" if _tls else "")
        globals()[_name] = type(_name, (UploadRouteMixin, unittest.TestCase),
                                {"backend": _b, "tls": _tls})
_name = "UploadRouteText_%s" % BACKENDS[0].replace(":", "_")
globals()[_name] = type(_name, (TextErrorsMixin, unittest.TestCase), {"backend": BACKENDS[0]})
del _name

if __name__ == "__main__":
    unittest.main(verbosity=2)
