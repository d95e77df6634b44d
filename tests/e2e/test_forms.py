"""Forms, multipart uploads, cookies and URL encoding (berth.h "Forms,
cookies, URL encoding") through the test server's routes
(tests/server/form-routes.c), on every backend, over plaintext and TLS,
with real clients: curl -F (a file of several MiB beside text fields),
curl --data-urlencode, curl -b and -c, Python's http.client, and raw
requests for what clients will not send (a body cut before its closing
delimiter, a bad escape). What the server answers is what the library
parsed; it is compared with what the client sent."""
import http.client
import http.cookies
import os
import random
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsConn, stop_clean, tls_context

BIG = 5 * 1024 * 1024 + 12345  # bytes of the uploaded file


def fnv(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


class FormsMixin:
    backend = None
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})
        cls.tmp = tempfile.mkdtemp(prefix="berth-forms-")
        # random bytes with delimiter look-alikes in them
        rng = random.Random(28)
        chunks = []
        size = 0
        while size < BIG:
            piece = rng.randbytes(rng.randrange(1, 70000))
            chunks.append(piece + rng.choice([b"\r\n--", b"\r\n------", b"\r", b"--", b""]))
            size += len(chunks[-1])
        cls.big = b"".join(chunks)[:BIG]
        cls.big_path = os.path.join(cls.tmp, "big data.bin")
        with open(cls.big_path, "wb") as f:
            f.write(cls.big)
        cls.big_fnv = fnv(cls.big)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        stop_clean(cls.srv, "forms (%s)" % cls.backend)

    def url(self, target):
        if self.tls:
            return "https://localhost:%d%s" % (self.srv.tls_port, target)
        return "http://127.0.0.1:%d%s" % (self.srv.port, target)

    def curl(self, target, *args):
        """(status, headers text, body bytes) of curl's last response."""
        hfile, bfile = os.path.join(self.tmp, "h"), os.path.join(self.tmp, "b")
        cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", "60", "-D", hfile, "-o", bfile]
        if self.tls:
            cmd += ["--cacert", CERT, "--resolve", "localhost:%d:127.0.0.1" % self.srv.tls_port]
        p = subprocess.run(cmd + list(args) + [self.url(target)], capture_output=True,
                           timeout=90)
        with open(hfile, "rb") as f:
            heads = f.read().decode("latin-1")
        with open(bfile, "rb") as f:
            body = f.read()
        blocks = [b for b in heads.split("\r\n\r\n") if b.strip()]
        if not blocks:
            raise AssertionError("curl got no response (%d): %s" % (p.returncode, p.stderr))
        status = int(blocks[-1].split(" ")[1])
        return status, blocks[-1], body

    def http(self):
        if self.tls:
            c = http.client.HTTPSConnection("localhost", self.srv.tls_port, timeout=30,
                                            context=tls_context())
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        self.addCleanup(c.close)
        return c

    def raw(self):
        c = TlsConn(self.srv, timeout=10) if self.tls else Conn(self.srv, timeout=10)
        self.addCleanup(c.close)
        return c

    # ---- multipart/form-data

    def test_multipart_file_and_fields_with_curl(self):
        status, _, body = self.curl(
            "/upload-form",
            "-F", "title=Hello, world",
            "-F", "upload=@%s;type=application/octet-stream" % self.big_path,
            "-F", "note=\u00e9t\u00e9 \r\n--not a delimiter",
            "-F", "empty=")
        self.assertEqual(status, 200, body)
        note = "\u00e9t\u00e9 \r\n--not a delimiter".encode()
        text = body.decode("utf-8")
        want = ("part title filename=- type= size=12 fnv=%s\nvalue=Hello, world\n"
                "part upload filename=big data.bin type=application/octet-stream size=%d fnv=%s\n"
                "part note filename=- type= size=%d fnv=%s\nvalue=%s\n"
                "part empty filename=- type= size=0 fnv=%s\nvalue=\n"
                % (fnv(b"Hello, world"), BIG, self.big_fnv, len(note), fnv(note), note.decode(),
                   fnv(b"")))
        self.assertEqual(text[:len(want)], want)
        last = text[len(want):]
        self.assertRegex(last, r"^parts=4 max_piece=\d+\n$")
        # the file came in pieces no bigger than a read: never held whole
        max_piece = int(last.split("max_piece=")[1])
        self.assertGreater(max_piece, 0)
        self.assertLess(max_piece, 1024 * 1024)

    def test_multipart_limits_and_errors(self):
        status, _, body = self.curl("/upload-form?max_parts=2", "-F", "a=1", "-F", "b=2",
                                    "-F", "c=3")
        self.assertEqual(status, 413, body)
        status, _, body = self.curl("/upload-form?max_parts=3", "-F", "a=1", "-F", "b=2",
                                    "-F", "c=3")
        self.assertEqual(status, 200, body)
        self.assertIn(b"parts=3 ", body)
        # a part's header section over the limit (the long filename)
        small = os.path.join(self.tmp, "small")
        with open(small, "wb") as f:
            f.write(b"x" * 1000)
        status, _, body = self.curl("/upload-form?max_header=100",
                                    "-F", "f=@%s;filename=%s" % (small, "n" * 100))
        self.assertEqual(status, 413, body)
        # not multipart: 415; multipart without a usable boundary: 400
        status, _, _ = self.curl("/upload-form", "--data", "a=1")
        self.assertEqual(status, 415)
        status, _, _ = self.curl("/upload-form", "-H", "Content-Type: multipart/form-data",
                                 "--data", "a=1")
        self.assertEqual(status, 400)
        status, _, _ = self.curl("/upload-form", "-H",
                                 "Content-Type: multipart/form-data; boundary=" + "b" * 71,
                                 "--data", "a=1")
        self.assertEqual(status, 400)

    def post_raw(self, target, ctype, body, pieces=None):
        c = self.raw()
        c.send(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                % (target, ctype, len(body))).encode() + body, pieces=pieces)
        return c.response()

    def test_multipart_cut_before_the_final_delimiter(self):
        part = (b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue")
        status, _, body = self.post_raw("/upload-form", "multipart/form-data; boundary=B", part)
        self.assertEqual(status, 400)
        self.assertIn(b"closing delimiter", body)
        # the same with it, sent in pieces of 3 bytes: parsed alike
        whole = b"preamble\r\n" + part + b"\r\n--B--\r\nepilogue"
        status, _, body = self.post_raw("/upload-form", "multipart/form-data; boundary=\"B\"",
                                        whole, pieces=3)
        self.assertEqual(status, 200, body)
        # (how the 3-byte writes arrive, the server's reads decide: no
        # max_piece asserted)
        self.assertRegex(body, b"^part a filename=- type= size=5 fnv=%s\nvalue=value\n"
                         b"parts=1 max_piece=[0-9]+\n$" % fnv(b"value").encode())

    def test_multipart_malformed_part(self):
        body = b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--"
        status, _, text = self.post_raw("/upload-form", "multipart/form-data; boundary=B", body)
        self.assertEqual(status, 400)

    # ---- application/x-www-form-urlencoded

    def test_urlencoded_with_curl(self):
        status, _, body = self.curl("/form", "--data-urlencode", "name=J\u00f6rg M",
                                    "--data-urlencode", "q=a&b=c+d%",
                                    "--data", "x=1&flag&&tags%5B%5D=z")
        self.assertEqual(status, 200, body)
        self.assertEqual(body.decode("utf-8"),
                         "name=J\u00f6rg M\nq=a&b=c+d%\nx=1\nflag=\ntags[]=z\n")
        status, _, body = self.curl("/form?get=q", "--data-urlencode", "q=a&b=c+d%")
        self.assertEqual((status, body), (200, b"a&b=c+d%"))
        status, _, body = self.curl("/form?get=tags%5B%5D", "--data", "tags%5B%5D=z")
        self.assertEqual((status, body), (200, b"z"))
        status, _, _ = self.curl("/form?get=nope", "--data", "a=1")
        self.assertEqual(status, 404)

    def test_urlencoded_bad_escape(self):
        c = self.http()
        c.request("POST", "/form", body="a=1&b=%zz",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        self.assertEqual(r.status, 400)
        r.read()
        c.request("POST", "/form?get=b", body="a=1&b=%4",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        self.assertEqual(r.status, 400)
        r.read()
        # python's own encoding reads back
        fields = [("k y", "v&a=l+u%e"), ("\u00fc", "\u00e9")]
        c.request("POST", "/form", body=urllib.parse.urlencode(fields),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.read().decode(), "".join("%s=%s\n" % f for f in fields))

    # ---- cookies

    def test_cookies_from_curl_and_http_client(self):
        status, _, body = self.curl("/cookies", "-b", "sid=abc123; theme=\"dark\"; lang=en")
        self.assertEqual((status, body), (200, b"sid=abc123\ntheme=dark\nlang=en\n"))
        status, _, body = self.curl("/cookies?get=theme", "-b", "sid=abc123; theme=dark")
        self.assertEqual((status, body), (200, b"dark"))
        # two Cookie fields (over TLS curl speaks HTTP/2, where clients may
        # send a field per cookie, RFC 9113 8.2.3): both are looked in
        status, heads, body = self.curl("/cookies?get=b", "-H", "Cookie: a=1", "-H", "Cookie: b=2")
        self.assertEqual((status, body), (200, b"2"))
        self.assertTrue(heads.startswith("HTTP/2 " if self.tls else "HTTP/1.1 "), heads)
        c = self.http()
        c.putrequest("GET", "/cookies?get=b")
        c.putheader("Cookie", "a=1")
        c.putheader("Cookie", "b=2; c=3")  # two fields, as HTTP/2 clients send
        c.endheaders()
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"2"))
        c.request("GET", "/cookies?get=missing", headers={"Cookie": "a=1"})
        r = c.getresponse()
        self.assertEqual(r.status, 404)
        r.read()

    def test_set_cookie(self):
        c = self.http()
        q = urllib.parse.urlencode({"name": "sid", "value": "abc123", "path": "/",
                                    "domain": "example.com", "max_age": 3600,
                                    "expires": 784111777, "secure": 1, "httponly": 1,
                                    "samesite": "none", "partitioned": 1})
        c.request("GET", "/set-cookie?" + q)
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        sc = r.getheader("Set-Cookie")
        self.assertEqual(sc, "sid=abc123; Path=/; Domain=example.com; Max-Age=3600; "
                         "Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; "
                         "SameSite=None; Partitioned")
        # as a user agent splits it (Python's SimpleCookie knows no Partitioned)
        attrs = sc.split("; ")
        self.assertEqual(attrs[0], "sid=abc123")
        jar = http.cookies.SimpleCookie()
        jar.load("; ".join(a for a in attrs if a != "Partitioned"))
        m = jar["sid"]
        self.assertEqual((m.value, m["path"], m["domain"], m["max-age"], m["samesite"]),
                         ("abc123", "/", "example.com", "3600", "None"))
        self.assertTrue(m["secure"] and m["httponly"])
        # refused: SameSite=None without Secure, a bad value, a __Host- with a Domain
        for bad in ({"name": "a", "value": "1", "samesite": "none"},
                    {"name": "a", "value": "x;y"},
                    {"name": "a b", "value": "1"},
                    {"name": "a", "value": "1", "partitioned": 1},
                    {"name": "__Host-a", "value": "1", "secure": 1, "path": "/",
                     "domain": "example.com"}):
            c.request("GET", "/set-cookie?" + urllib.parse.urlencode(bad))
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 400, bad)
            self.assertIsNone(r.getheader("Set-Cookie"), bad)
        # curl keeps it and sends it back
        jarfile = os.path.join(self.tmp, "jar-%s" % self.tls)
        status, heads, _ = self.curl("/set-cookie?name=k&value=v42&path=/&samesite=lax",
                                     "-c", jarfile)
        self.assertEqual(status, 200)
        fields = [l.split(": ", 1) for l in heads.split("\r\n")[1:]]
        self.assertIn(["set-cookie", "k=v42; Path=/; SameSite=Lax"],
                      [[k.lower(), v] for k, v in fields])
        status, _, body = self.curl("/cookies", "-b", jarfile)
        self.assertEqual((status, body), (200, b"k=v42\n"))

    # ---- URL encoding

    def test_url_encode(self):
        c = self.http()
        for s in ["plain", "a b/c?d&e=f+g%h", "\u00e9t\u00e9/\u2603", "-._~!*'()", "\x00\x01\x7f"]:
            for plus in (0, 1):
                c.request("GET", "/encode?" + urllib.parse.urlencode({"s": s, "plus": plus}))
                r = c.getresponse()
                body = r.read().decode()
                self.assertEqual(r.status, 200)
                want = (urllib.parse.quote_plus if plus else urllib.parse.quote)(s, safe="")
                self.assertEqual(body, want)
                self.assertEqual(r.getheader("Location"), "/files/" + want)
                decode = urllib.parse.unquote_plus if plus else urllib.parse.unquote
                self.assertEqual(decode(body), s)


for _b in BACKENDS:
    for _tls in (False, True):
        _name = "Forms_%s%s" % (_b.replace(":", "_"), "_tls" if _tls else "")
        globals()[_name] = type(_name, (FormsMixin, unittest.TestCase),
                                {"backend": _b, "tls": _tls})

if __name__ == "__main__":
    unittest.main(verbosity=2)
