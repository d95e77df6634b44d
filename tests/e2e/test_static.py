"""The static-file handler (berth_static_mount, berth-serve's /static/) on
every backend, over plaintext and TLS: HttpArena's static checks,
traversal attempts, conditional and range requests, precompressed
siblings, a file changed on disk, the bare prefix and directories."""
import gzip
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsConn, header, stop_clean

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARENA = os.path.join(ROOT, "tests", "data", "arena", "static")
ARENA_TYPES = {".css": ("text/css",), ".js": ("application/javascript", "text/javascript"),
               ".json": ("application/json",)}


def brotli_decompress(data):
    """Debian's python3-brotli belongs to /usr/bin/python3."""
    try:
        import brotli
        return brotli.decompress(data)
    except ImportError:
        return subprocess.run(["/usr/bin/python3", "-c",
                               "import sys, brotli; sys.stdout.buffer.write("
                               "brotli.decompress(sys.stdin.buffer.read()))"],
                              input=data, capture_output=True, check=True).stdout


def make_tree(top):
    """A root with files, a subdirectory, an index, dotfiles, symlinks in
    and out, and a secret beside the root that must never be served."""
    root = os.path.join(top, "root")
    os.makedirs(os.path.join(root, "sub", "deeper"))
    os.makedirs(os.path.join(root, ".hidden"))
    files = {
        "a.txt": b"hello static\n",
        "page.html": b"<p>" + b"x" * 5000 + b"</p>\n",
        "sub/index.html": b"<h1>sub index</h1>\n",
        "sub/deeper/data.json": b'{"k": 1}\n',
        "empty.txt": b"",
        ".env": b"SECRET=1\n",
        ".hidden/x.txt": b"hidden\n",
        "sp ace.txt": b"space\n",
        "noext": b"raw bytes",
        "big.bin": os.urandom(3 * 1024 * 1024 + 11),
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    with open(os.path.join(top, "secret.txt"), "wb") as f:
        f.write(b"TOP SECRET\n")
    os.symlink("a.txt", os.path.join(root, "link-in.txt"))
    os.symlink("../secret.txt", os.path.join(root, "link-out.txt"))
    os.symlink("/etc/passwd", os.path.join(root, "link-abs"))
    os.symlink("..", os.path.join(root, "sub", "up"))
    os.symlink(top, os.path.join(root, "dir-out"))
    # precompressed siblings of page.html, and a stale one of a.txt
    page = files["page.html"]
    with open(os.path.join(root, "page.html.gz"), "wb") as f:
        f.write(gzip.compress(page))
    br = subprocess.run(["/usr/bin/python3", "-c",
                         "import sys, brotli; sys.stdout.buffer.write(brotli.compress(sys.stdin.buffer.read()))"],
                        input=page, capture_output=True)
    if br.returncode == 0:
        with open(os.path.join(root, "page.html.br"), "wb") as f:
            f.write(br.stdout)
    with open(os.path.join(root, "a.txt.gz"), "wb") as f:
        f.write(gzip.compress(b"stale"))
    old = time.time() - 3600
    os.utime(os.path.join(root, "a.txt.gz"), (old, old))
    return root, files


# (raw request target, statuses allowed): none may show the secret.
TRAVERSAL = [
    "/static/../secret.txt", "/static/..%2fsecret.txt", "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt", "/static/%2e%2e%2fsecret.txt", "/static/%252e%252e/secret.txt",
    "/static/%252e%252e%252fsecret.txt", "/static/..%5csecret.txt", "/static/..\\secret.txt",
    "/static/sub/../../secret.txt", "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/./../secret.txt", "/static/sub/./../../secret.txt", "/static/a.txt%00.html",
    "/static/%00", "/static//etc/passwd", "/static/%2fetc/passwd", "/static/%2Fetc%2Fpasswd",
    "/static///secret.txt", "/static/link-out.txt", "/static/link-abs", "/static/sub/up/../secret.txt",
    "/static/dir-out/../secret.txt", "/static/dir-out/secret.txt", "/static/dir-out/root/a.txt",
    "/static/.env", "/static/%2eenv", "/static/.hidden/x.txt", "/static/.hidden/",
    "/static/..", "/static/.", "/static/%2e", "/static/sub/..", "/static/..;/secret.txt",
    "/static/%c0%ae%c0%ae/secret.txt", "/static/..%c0%afsecret.txt", "/static/%u002e%u002e/secret.txt",
    "/static/....//secret.txt", "/static/.../secret.txt", "/static/a.txt/../../secret.txt",
]


class StaticMixin:
    backend = None
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.top = tempfile.mkdtemp(prefix="berth-static-")
        cls.root, cls.files = make_tree(cls.top)
        cls.has_br = os.path.exists(os.path.join(cls.root, "page.html.br"))
        env = {"BERTH_THREADS": "2", "BERTH_STATIC_DIR": cls.root}
        if cls.tls:
            env.update(TLS_CERT=CERT, TLS_KEY=KEY)
        cls.srv = Server("serve/berth-serve", backend=cls.backend, env=env)
        env_arena = dict(env, BERTH_STATIC_DIR=ARENA)
        cls.arena = Server("serve/berth-serve", backend=cls.backend, env=env_arena)

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "static (%s)" % cls.backend)
        stop_clean(cls.arena, "static arena (%s)" % cls.backend)
        shutil.rmtree(cls.top)

    def conn(self, srv=None):
        srv = srv or self.srv
        c = TlsConn(srv, timeout=10) if self.tls else Conn(srv, timeout=10)
        self.addCleanup(c.close)
        return c

    def get(self, target, *hdrs, method="GET", srv=None):
        c = self.conn(srv)
        extra = "".join(h + "\r\n" for h in hdrs)
        c.send(("%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method, target, extra)).encode("latin-1"))
        return c.response(head_only=method == "HEAD")

    # -- HttpArena's static checks
    def test_arena_static_files(self):
        names = sorted(n for n in os.listdir(ARENA) if not n.endswith((".br", ".gz")))
        self.assertEqual(len(names), 20)
        c = self.conn(self.arena)
        for n in names:
            with open(os.path.join(ARENA, n), "rb") as f:
                data = f.read()
            c.send(b"GET /static/%s HTTP/1.1\r\nHost: t\r\n\r\n" % n.encode())
            status, h, body = c.response()
            self.assertEqual((status, body), (200, data), n)
            self.assertIsNone(header(h, "Content-Encoding"))
            ext = os.path.splitext(n)[1]
            if ext in ARENA_TYPES:
                self.assertIn(header(h, "Content-Type").split(";")[0], ARENA_TYPES[ext], n)
            c.send(b"GET /static/%s HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br;q=1, gzip;q=0.8\r\n\r\n"
                   % n.encode())
            status, h, body = c.response()
            enc = header(h, "Content-Encoding")
            self.assertEqual(status, 200)
            if enc == "br":
                self.assertEqual(brotli_decompress(body), data, n)
            elif enc == "gzip":
                self.assertEqual(gzip.decompress(body), data, n)
            else:
                self.assertIsNone(enc)
                self.assertEqual(body, data, n)
                self.assertFalse(os.path.exists(os.path.join(ARENA, n + ".br")), n)
        c.send(b"GET /static/nonexistent.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(c.response()[0], 404)

    # -- nothing outside the root
    def test_traversal_attempts_never_leave_the_root(self):
        self.assertGreaterEqual(len(TRAVERSAL), 30)
        for target in TRAVERSAL:
            c = self.conn()
            c.send(b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.response()
            self.assertIsNotNone(r, target)
            status, h, body = r
            self.assertNotIn(b"SECRET", body, target)
            self.assertNotIn(b"root:", body, target)
            self.assertNotIn(b"hidden", body, target)
            self.assertIn(status, (301, 400, 404), "%s -> %d" % (target, status))
            if status == 301:  # only a directory inside the root may redirect
                self.assertTrue(header(h, "Location").startswith("/static/"), target)

    def test_symlink_inside_the_root_is_served(self):
        status, _, body = self.get("/static/link-in.txt")
        self.assertEqual((status, body), (200, self.files["a.txt"]))
        status, _, body = self.get("/static/sub/up/a.txt")  # sub/up -> .., still the root
        self.assertEqual((status, body), (200, self.files["a.txt"]))

    # -- plain replies
    def test_types_and_headers(self):
        for name, ctype in [("a.txt", "text/plain; charset=utf-8"),
                            ("page.html", "text/html; charset=utf-8"),
                            ("sub/deeper/data.json", "application/json; charset=utf-8"),
                            ("noext", "application/octet-stream"),
                            ("sp%20ace.txt", "text/plain; charset=utf-8")]:
            status, h, body = self.get("/static/" + name)
            self.assertEqual(status, 200, name)
            self.assertEqual(header(h, "Content-Type"), ctype)
            self.assertEqual(header(h, "Accept-Ranges"), "bytes")
            self.assertTrue(header(h, "ETag").startswith('"'))
            self.assertTrue(header(h, "Last-Modified").endswith(" GMT"))
            self.assertEqual(body, self.files[name.replace("%20", " ")])

    def test_head_empty_file_and_big_file(self):
        status, h, body = self.get("/static/big.bin", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(header(h, "Content-Length"), str(len(self.files["big.bin"])))
        status, h, body = self.get("/static/empty.txt")
        self.assertEqual((status, body, header(h, "Content-Length")), (200, b"", "0"))
        status, _, body = self.get("/static/big.bin")
        self.assertEqual((status, body), (200, self.files["big.bin"]))

    def test_methods_directories_and_prefix(self):
        c = self.conn()
        c.send(b"POST /static/a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        status, h, _ = c.response()
        self.assertEqual(status, 405)
        self.assertIn("GET", header(h, "Allow"))
        status, h, _ = self.get("/static/sub")
        self.assertEqual((status, header(h, "Location")), (301, "/static/sub/"))
        status, h, _ = self.get("/static/sub?x=1")
        self.assertEqual((status, header(h, "Location")), (301, "/static/sub/?x=1"))
        self.assertEqual(self.get("/static/sub/")[2], self.files["sub/index.html"])
        self.assertEqual(self.get("/static/sub/deeper/")[0], 404)  # no index, no listing
        self.assertEqual(self.get("/static/a.txt/")[0], 404)
        self.assertEqual(self.get("/static/nope.txt")[0], 404)
        status, h, _ = self.get("/static")
        self.assertEqual((status, header(h, "Location")), (301, "/static/"))

    # -- conditional requests
    def test_if_none_match_and_if_modified_since(self):
        _, h, _ = self.get("/static/a.txt")
        etag, lm = header(h, "ETag"), header(h, "Last-Modified")
        for cond in ["If-None-Match: " + etag, "If-None-Match: \"x\", " + etag,
                     "If-None-Match: W/" + etag, "If-None-Match: *",
                     "If-Modified-Since: " + lm,
                     "If-Modified-Since: Fri, 31 Dec 2100 23:59:59 GMT"]:
            status, h2, body = self.get("/static/a.txt", cond)
            self.assertEqual((status, body), (304, b""), cond)
            self.assertEqual(header(h2, "ETag"), etag)
        for cond in ['If-None-Match: "other"', "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
                     "If-Modified-Since: garbage",
                     # If-None-Match wins over If-Modified-Since
                     'If-None-Match: "other"\r\nIf-Modified-Since: ' + lm]:
            status, _, body = self.get("/static/a.txt", cond)
            self.assertEqual((status, body), (200, self.files["a.txt"]), cond)

    # -- ranges
    def test_ranges(self):
        data = self.files["big.bin"]
        n = len(data)
        _, h, _ = self.get("/static/big.bin", method="HEAD")
        etag, lm = header(h, "ETag"), header(h, "Last-Modified")
        cases = [("bytes=0-9", 0, 10), ("bytes=100-", 100, n - 100), ("bytes=-500", n - 500, 500),
                 ("bytes=5-5", 5, 1), ("bytes=1000-99999999999", 1000, n - 1000),
                 ("bytes=-99999999999", 0, n)]
        for rng, off, length in cases:
            status, h2, body = self.get("/static/big.bin", "Range: " + rng)
            self.assertEqual(status, 206, rng)
            self.assertEqual(header(h2, "Content-Range"), "bytes %d-%d/%d" % (off, off + length - 1, n))
            self.assertEqual(body, data[off:off + length], rng)
        for rng in ["bytes=%d-" % n, "bytes=%d-%d" % (n + 5, n + 9), "bytes=-0"]:
            status, h2, body = self.get("/static/big.bin", "Range: " + rng)
            self.assertEqual(status, 416, rng)
            self.assertEqual(header(h2, "Content-Range"), "bytes */%d" % n)
        for rng in ["bytes=0-1,5-9", "items=0-1", "bytes=9-1", "bytes=x-y"]:
            status, _, body = self.get("/static/big.bin", "Range: " + rng)
            self.assertEqual((status, len(body)), (200, n), rng)
        status, _, body = self.get("/static/big.bin", "Range: bytes=0-3", "If-Range: " + etag)
        self.assertEqual((status, body), (206, data[:4]))
        status, _, body = self.get("/static/big.bin", "Range: bytes=0-3", "If-Range: " + lm)
        self.assertEqual((status, body), (206, data[:4]))
        status, _, body = self.get("/static/big.bin", "Range: bytes=0-3", 'If-Range: "old"')
        self.assertEqual((status, len(body)), (200, n))

    # -- precompressed siblings
    def test_precompressed_siblings(self):
        page = self.files["page.html"]
        status, h, body = self.get("/static/page.html", "Accept-Encoding: gzip")
        self.assertEqual((status, header(h, "Content-Encoding")), (200, "gzip"))
        self.assertEqual(gzip.decompress(body), page)
        self.assertEqual(header(h, "Vary"), "Accept-Encoding")
        gz_etag = header(h, "ETag")
        status, h, body = self.get("/static/page.html")
        self.assertEqual((status, body, header(h, "Content-Encoding")), (200, page, None))
        self.assertEqual(header(h, "Vary"), "Accept-Encoding")
        self.assertNotEqual(header(h, "ETag"), gz_etag)
        for ae in ["gzip;q=0", "br;q=0, gzip;q=0", "*;q=0, identity", "compress"]:
            status, h, body = self.get("/static/page.html", "Accept-Encoding: " + ae)
            self.assertEqual((body, header(h, "Content-Encoding")), (page, None), ae)
        status, h, _ = self.get("/static/page.html", "Accept-Encoding: gzip", "If-None-Match: " + gz_etag)
        self.assertEqual(status, 304)
        status, h, body = self.get("/static/page.html", "Accept-Encoding: gzip", "Range: bytes=0-1")
        self.assertEqual((status, body), (206, b"\x1f\x8b"))  # a range of the gzip file
        if self.has_br:
            for ae in ["br, gzip", "gzip;q=0.8, br;q=1", "*"]:
                status, h, body = self.get("/static/page.html", "Accept-Encoding: " + ae)
                self.assertEqual(header(h, "Content-Encoding"), "br", ae)
                self.assertEqual(brotli_decompress(body), page)
            status, h, body = self.get("/static/page.html", "Accept-Encoding: br;q=0.5, gzip")
            self.assertEqual(header(h, "Content-Encoding"), "gzip")
        # a sibling older than its file is not used
        status, h, body = self.get("/static/a.txt", "Accept-Encoding: gzip")
        self.assertEqual((body, header(h, "Content-Encoding")), (self.files["a.txt"], None))

    # -- the open-file cache sees changes on disk
    def test_changed_file_is_served_fresh(self):
        path = os.path.join(self.root, "change.txt")
        with open(path, "wb") as f:
            f.write(b"version one\n")
        self.assertEqual(self.get("/static/change.txt")[2], b"version one\n")
        with open(path + ".new", "wb") as f:
            f.write(b"version two, longer\n")
        os.rename(path + ".new", path)  # replaced, as deploys do
        time.sleep(1.2)
        self.assertEqual(self.get("/static/change.txt")[2], b"version two, longer\n")
        with open(path, "r+b") as f:  # rewritten in place, same size
            f.write(b"VERSION")
        t = time.time() + 5
        os.utime(path, (t, t))
        time.sleep(1.2)
        self.assertEqual(self.get("/static/change.txt")[2], b"VERSION two, longer\n")
        os.unlink(path)
        time.sleep(1.2)
        self.assertEqual(self.get("/static/change.txt")[0], 404)


for _b in BACKENDS:
    for _tls in (False, True):
        _n = "Static%s_%s" % ("Tls" if _tls else "", _b)
        globals()[_n] = type(_n, (StaticMixin, unittest.TestCase), {"backend": _b, "tls": _tls})

if __name__ == "__main__":
    unittest.main()
