"""HttpArena's HTTP/2 profiles (tests/data/arena/PROFILES.md, "HTTP/2")
against berth-serve on every backend, checked as HttpArena's validation
checks them, with curl:
- baseline-h2 (TLS, ALPN h2): GET /baseline2?a=..&b=.. is the sum,
  text/plain, and curl says HTTP/2;
- static-h2 (TLS, ALPN h2): /static/ files with their types and sizes,
  404 for a missing one, a file changed on disk is served changed;
- baseline-h2c (an h2c-only listener, listen option h2c): HTTP/2 with
  prior knowledge, the sum, text/plain; HTTP/1.1 on that port gets no
  200;
- json-h2c: /json/{count}?m= over h2c, application/json, count and items,
  every item's fields and total = price * quantity * m.
And h2spec's 146 cases on the h2c-only listener, the invalid preface
included (a port that serves HTTP/1.1 too answers it in HTTP/1.1)."""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from berthproc import BACKENDS, CERT, DATASET, KEY, ROOT, Server, stop_clean
from test_h2 import H2SPEC, h2spec_run
import h2env  # noqa: E402

STATIC = os.path.join(ROOT, "tests", "data", "arena", "static")
with open(DATASET, "rb") as _f:
    ITEMS = json.load(_f)


def curl(url, *args):
    """(http_version, status, headers dict (lowercase names), body)."""
    r = subprocess.run(["curl", "-sk", "--max-time", "30", "-D", "-", "-w",
                        "\n%{http_version} %{http_code}"] + list(args) + [url],
                       capture_output=True, timeout=60)
    out, _, tail = r.stdout.rpartition(b"\n")
    version, code = tail.decode().split()
    head, _, body = out.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return version, int(code), headers, body


class ArenaH2Mixin:
    @classmethod
    def setUpClass(cls):
        cls.static = tempfile.mkdtemp(prefix="berth-h2arena-")
        for name in os.listdir(STATIC):
            shutil.copy(os.path.join(STATIC, name), cls.static)
        cls.srv = Server(backend=cls.backend,
                         env={"TLS_CERT": CERT, "TLS_KEY": KEY, "BERTH_STATIC_DIR": cls.static,
                              "BERTH_LISTEN": "127.0.0.1:0, 127.0.0.1:0 tls h2, 127.0.0.1:0 h2"})
        # the listeners in that order: plain, https (+h2), http (+h2: h2c only)
        ls = cls.srv.listeners
        if len(ls) != 3 or not ls[1].startswith("https://") or not ls[1].endswith("+h2") or \
                not ls[2].startswith("http://") or not ls[2].endswith("+h2"):
            raise AssertionError("unexpected listeners: %r" % cls.srv.first_line)
        port = lambda url: int(url.rsplit(":", 1)[1].split("+")[0])  # noqa: E731
        cls.tls = "https://localhost:%d" % port(ls[1])
        cls.h2c = "http://localhost:%d" % port(ls[2])
        cls.h2c_port = port(ls[2])
        cls.resolve = []

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "h2 arena (%s)" % cls.backend)
        shutil.rmtree(cls.static, ignore_errors=True)

    def test_baseline_h2(self):
        v, code, h, body = curl(self.tls + "/baseline2?a=1&b=1", "--http2")
        self.assertEqual((v, code, body), ("2", 200, b"2"))
        self.assertTrue(h["content-type"].startswith("text/plain"), h)
        self.assertEqual(curl(self.tls + "/baseline2?a=13&b=42", "--http2")[3], b"55")
        a, b = random.randrange(100, 1000), random.randrange(100, 1000)
        self.assertEqual(curl(self.tls + "/baseline2?a=%d&b=%d" % (a, b), "--http2")[::3],
                         ("2", b"%d" % (a + b)))

    def test_static_h2(self):
        # (JavaScript: text/javascript, RFC 9239, which HttpArena's static
        # profile takes as it takes application/javascript: PROFILES.md)
        for name, ctypes in (("reset.css", ("text/css",)),
                             ("app.js", ("application/javascript", "text/javascript")),
                             ("manifest.json", ("application/json",))):
            v, code, h, body = curl(self.tls + "/static/" + name, "--http2")
            self.assertEqual((v, code), ("2", 200), name)
            self.assertTrue(h["content-type"].startswith(ctypes), (name, h))
            with open(os.path.join(STATIC, name), "rb") as f:
                self.assertEqual(body, f.read(), name)
        for name in sorted(os.listdir(STATIC)):  # every file, whole
            if name.endswith((".gz", ".br")):
                continue
            v, code, _, body = curl(self.tls + "/static/" + name, "--http2")
            with open(os.path.join(STATIC, name), "rb") as f:
                self.assertEqual((v, code, body), ("2", 200, f.read()), name)
        self.assertEqual(curl(self.tls + "/static/nonexistent.txt", "--http2")[:2], ("2", 404))
        # a file changed on disk is served changed (no pre-caching), once
        # the cache's check of its descriptor is due (STATIC_VERIFY_MS, 100 ms)
        path = os.path.join(self.static, "reset.css")
        with open(path, "ab") as f:
            f.write(b"/* changed %d */\n" % random.randrange(1 << 30))
        time.sleep(0.15)
        with open(path, "rb") as f:
            self.assertEqual(curl(self.tls + "/static/reset.css", "--http2")[3], f.read())

    def test_baseline_h2c(self):
        v, code, h, body = curl(self.h2c + "/baseline2?a=1&b=1", "--http2-prior-knowledge")
        self.assertEqual((v, code, body), ("2", 200, b"2"))
        self.assertTrue(h["content-type"].startswith("text/plain"), h)
        a, b = random.randrange(100, 1000), random.randrange(100, 1000)
        self.assertEqual(curl(self.h2c + "/baseline2?a=%d&b=%d" % (a, b),
                              "--http2-prior-knowledge")[::3], ("2", b"%d" % (a + b)))
        # the h2c port must not serve HTTP/1.1 (HttpArena: no dual serving)
        r = subprocess.run(["curl", "-s", "--max-time", "5", "--http1.1", "-o", "/dev/null", "-w",
                            "%{http_code}", self.h2c + "/baseline2?a=1&b=1"],
                           capture_output=True, timeout=30)
        self.assertNotEqual(r.stdout, b"200")
        # while the plain port serves both (curl --http1.1 and prior knowledge)
        self.assertEqual(curl("http://localhost:%d/baseline2?a=1&b=2" % self.srv.port,
                              "--http1.1")[::3], ("1.1", b"3"))

    def test_json_h2c(self):
        v, code, h, _ = curl(self.h2c + "/json/1?m=1", "--http2-prior-knowledge")
        self.assertEqual((v, code), ("2", 200))
        self.assertTrue(h["content-type"].startswith("application/json"), h)
        for count, m in ((12, 3), (22, 7), (31, 2), (50, 5)):
            v, code, _, body = curl(self.h2c + "/json/%d?m=%d" % (count, m),
                                    "--http2-prior-knowledge")
            self.assertEqual((v, code), ("2", 200))
            d = json.loads(body)
            self.assertEqual((d["count"], len(d["items"])), (count, count))
            for item, src in zip(d["items"], ITEMS):
                for k in ("id", "name", "category", "price", "quantity", "total"):
                    self.assertIn(k, item)
                self.assertIsInstance(item["tags"], list)
                self.assertIsInstance(item["active"], bool)
                self.assertIn("score", item["rating"])
                self.assertIn("count", item["rating"])
                self.assertEqual(item["id"], src["id"])
                self.assertEqual(item["total"], item["price"] * item["quantity"] * m)

    @unittest.skipIf(H2SPEC is None, "skipped: no h2spec (see test_h2.py)")
    def test_h2spec_on_the_h2c_only_listener(self):
        outcome = h2spec_run(self.h2c_port)
        failed = sorted(c for c, o in outcome.items() if o != "passed")
        sys.stderr.write("h2spec h2c-only %s: %d cases, %d passed, failed or skipped: %s\n" % (
            self.backend, len(outcome), len(outcome) - len(failed), " ".join(failed) or "none"))
        self.assertEqual((len(outcome), failed), (146, []))


for _b in BACKENDS:
    globals()["ArenaH2_" + _b] = type("ArenaH2_" + _b, (ArenaH2Mixin, unittest.TestCase),
                                      {"backend": _b})

if __name__ == "__main__":
    h2env.main()
