"""Reply helpers (berth.h "Reply helpers"): berth_res_sendf and
berth_res_error_json through the test server's routes
(tests/server/reply-routes.c), on every backend, with real clients:
Python's http.client over HTTP/1.1 (plaintext and TLS) and curl over
HTTP/2 (h2c with prior knowledge, and h2 over TLS by ALPN). Each answer is
checked for its status, Content-Type, Content-Length and body bytes, and
its HEAD for the same head without the body; bodies go from a few bytes to
3 MiB (past the response's own space, a pool block and the copy limit).
A JSON error's body is compared byte for byte with a model of
berth_json_escape's documented rules, and read back by Python's json
module as the message decoded with U+FFFD replacement. And gcc and clang
refuse a berth_res_sendf whose arguments do not match its format."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from berthproc import BACKENDS, BUILD, CERT, KEY, ROOT, Server, stop_clean, tls_context

SIZES = [0, 7, 240, 300, 5000, 20000, 3 * 1024 * 1024]
CTYPE = "text/plain; charset=utf-8"


def sendf_body(n):
    pat = bytes(ord("a") + i % 26 for i in range(26))
    return b"[%d|" % n + (pat * (n // 26 + 1))[:n] + b"|end]"


def json_escape(raw):
    """berth_json_escape as berth.h states it."""
    out = []
    for ch in raw.decode("utf-8", "replace"):
        c = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif c < 0x20 or c == 0x7F or c in (0x2028, 0x2029, 0xFFFD):
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    return "".join(out).encode()


MESSAGES = [
    b"plain",
    b'say "hi" \\ back/slash',
    b"lines\r\n\ttab\x01\x1f\x7f end",
    "\u00e9t\u00e9 \u20ac \U0001F600 \u2028\u2029".encode(),
    b"bad \xff\xfe \xc0\xaf \xed\xa0\x80 cut \xe2\x82",
    b"\xf4\x90\x80\x80\xe1\x80",
    b'long "' + b"x" * 3000 + b'" \xff end',  # past the response's own 256 bytes
]


class ReplyMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})
        cls.tmp = tempfile.mkdtemp(prefix="berth-reply-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        stop_clean(cls.srv, "reply (%s)" % cls.backend)

    # ---- clients

    def http(self, tls=False):
        if tls:
            c = http.client.HTTPSConnection("localhost", self.srv.tls_port, timeout=30,
                                            context=tls_context())
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        self.addCleanup(c.close)
        return c

    def h1(self, c, method, target):
        """(status, headers as a lower-cased dict of lists, body) over http.client."""
        c.request(method, target)
        r = c.getresponse()
        body = r.read()
        heads = {}
        for k, v in r.getheaders():
            heads.setdefault(k.lower(), []).append(v)
        return r.status, heads, body

    def h2(self, method, target, tls):
        """(status, headers, body) over curl's HTTP/2: h2c with prior
        knowledge, or h2 over TLS by ALPN; asserts HTTP/2 was spoken."""
        hfile, bfile = os.path.join(self.tmp, "h"), os.path.join(self.tmp, "b")
        cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", "60", "-D", hfile, "-o", bfile,
               "-w", "%{http_version}"]
        if method == "HEAD":
            cmd.append("--head")  # which writes the head where the body would go
        if tls:
            cmd += ["--http2", "--cacert", CERT, "--resolve",
                    "localhost:%d:127.0.0.1" % self.srv.tls_port,
                    "https://localhost:%d%s" % (self.srv.tls_port, target)]
        else:
            cmd += ["--http2-prior-knowledge", "http://127.0.0.1:%d%s" % (self.srv.port, target)]
        p = subprocess.run(cmd, capture_output=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"2", "curl did not speak HTTP/2")
        with open(hfile, "rb") as f:
            lines = f.read().decode("latin-1").split("\r\n")
        with open(bfile, "rb") as f:
            body = f.read()
        if method == "HEAD":
            self.assertTrue(body.startswith(b"HTTP/2 ") and body.endswith(b"\r\n\r\n"), body[:200])
            body = b""
        status = int(lines[0].split(" ")[1])
        heads = {}
        for line in lines[1:]:
            if ": " in line:
                k, v = line.split(": ", 1)
                heads.setdefault(k.lower(), []).append(v)
        return status, heads, body

    def each_client(self):
        """(name, fn(method, target)) for every client and protocol."""
        plain, tls = self.http(), self.http(tls=True)
        return [("http/1.1", lambda m, t: self.h1(plain, m, t)),
                ("http/1.1 tls", lambda m, t: self.h1(tls, m, t)),
                ("h2c", lambda m, t: self.h2(m, t, False)),
                ("h2 tls", lambda m, t: self.h2(m, t, True))]

    def check(self, ask, target, status, ctype, body):
        got_status, heads, got = ask("GET", target)
        self.assertEqual(got_status, status, got[:300])
        self.assertEqual(heads.get("content-type"), [ctype] if ctype else None)
        self.assertEqual(heads.get("content-length"), [str(len(body))])
        self.assertEqual(len(got), len(body))
        self.assertTrue(got == body, "body differs (%d bytes)" % len(body))
        # HEAD: the same head, no body
        head_status, head_heads, nothing = ask("HEAD", target)
        self.assertEqual(head_status, status)
        self.assertEqual(head_heads.get("content-type"), heads.get("content-type"))
        self.assertEqual(head_heads.get("content-length"), [str(len(body))])
        self.assertEqual(nothing, b"")

    # ---- berth_res_sendf

    def test_sendf_bodies_of_every_size(self):
        for name, ask in self.each_client():
            for n in SIZES:
                with self.subTest(client=name, n=n):
                    self.check(ask, "/sendf?n=%d" % n, 200, CTYPE, sendf_body(n))

    def test_sendf_status_and_content_type(self):
        for name, ask in self.each_client():
            with self.subTest(client=name):
                self.check(ask, "/sendf?n=3&status=201&type=application/x-thing",
                           201, "application/x-thing", sendf_body(3))
                self.check(ask, "/sendf?n=400&status=503&type=none", 503, None, sendf_body(400))
                # refused (berth_res_sendf's BERTH_EINVAL), the route says so
                self.check(ask, "/sendf?n=3&status=99", 500, "text/plain",
                           b"refused: invalid argument\n")
                self.check(ask, "/sendf?n=3&type=" + urllib.parse.quote("a\r\nX-Evil: 1"),
                           500, "text/plain", b"refused: invalid argument\n")

    # ---- berth_res_error_json

    def test_error_json(self):
        for name, ask in self.each_client():
            for i, msg in enumerate(MESSAGES):
                with self.subTest(client=name, message=i):
                    status = 400 + i
                    want = b'{"error":{"status":%d,"message":"%s"}}' % (status, json_escape(msg))
                    target = "/error-json?status=%d&msg=%s" % (status, urllib.parse.quote(msg))
                    self.check(ask, target, status, "application/json", want)
                    _, _, got = ask("GET", target)
                    self.assertEqual(json.loads(got),
                                     {"error": {"status": status,
                                                "message": msg.decode("utf-8", "replace")}})
            with self.subTest(client=name, message="NULL: the reason phrase"):
                self.check(ask, "/error-json?status=503", 503, "application/json",
                           b'{"error":{"status":503,"message":"Service Unavailable"}}')
            with self.subTest(client=name, message="not an error status"):
                self.check(ask, "/error-json?status=200&msg=x", 500, "text/plain",
                           b"refused: invalid argument\n")


class FormatChecked(unittest.TestCase):
    """berth_res_sendf's format is checked by the compiler (BERTH_PRINTF):
    a program passing a string for %d does not build with -Werror=format,
    the same program with an int does."""

    def compile(self, cc, arg):
        src = ('#include <berth.h>\n'
               'void f(berth_res *r) { berth_res_sendf(r, 200, "text/plain", "%%d", %s); }\n' % arg)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "app.c")
            with open(path, "w") as f:
                f.write(src)
            return subprocess.run([cc, "-std=c11", "-Werror=format", "-c", "-o", os.devnull,
                                   "-I", os.path.join(ROOT, "include"),
                                   "-I", os.path.join(BUILD, "include"), path],
                                  capture_output=True, text=True)

    def test_format_mismatch_fails_to_build(self):
        compilers = [c for c in ("gcc", "clang") if shutil.which(c)]
        if not compilers:
            self.skipTest("no gcc or clang")
        for cc in compilers:
            with self.subTest(cc=cc):
                good = self.compile(cc, "42")
                self.assertEqual(good.returncode, 0, good.stderr)
                bad = self.compile(cc, '"a string"')
                self.assertNotEqual(bad.returncode, 0)
                self.assertIn("format", bad.stderr)


for _b in BACKENDS:
    _name = "Reply_%s" % _b.replace(":", "_")
    globals()[_name] = type(_name, (ReplyMixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main(verbosity=2)
