"""HTTP/1.1 over TLS (wolfSSL) on every backend, with real clients (curl,
Python's ssl, openssl s_client): ALPN, versions, keep-alive, pipelining,
large bodies both ways, resumption, close_notify, what berth_req_tls says,
HttpArena's json-tls checks, and hostile inputs on the TLS port."""
import hashlib
import json
import os
import random
import select
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsConn, TlsSock, header, rss_kib, \
    sanitized, stop_clean, tls_context
from test_arena import expected_json

GIB = 1 << 30


def curl_tls(port, target, *extra):
    return subprocess.run(["curl", "-sS", "--cacert", CERT, "--resolve", "localhost:%d:127.0.0.1" % port,
                           *extra, "https://localhost:%d%s" % (port, target)],
                          capture_output=True, timeout=120)


class TlsMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY,
                              "TLS_HANDSHAKE_TIMEOUT_MS": "2000"})
        cls.port = cls.srv.tls_port

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "tls (%s)" % cls.backend)

    def conn(self, **kw):
        c = TlsConn(self.srv, **kw)
        self.addCleanup(c.close)
        return c

    def info(self, c):
        c.send(b"GET /tls-info HTTP/1.1\r\nHost: t\r\n\r\n")
        return json.loads(c.response()[2])

    # -- clients

    def test_curl_negotiates_http11_by_alpn(self):
        r = curl_tls(self.port, "/baseline11?a=13&b=42", "-v", "--http1.1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"55")
        self.assertIn(b"ALPN: server accepted http/1.1", r.stderr)
        # A client that would rather speak h2 gets it (docs/HTTP2.md), in a
        # build with HTTP/2; without, http/1.1.
        r = curl_tls(self.port, "/pipeline", "-v", "--http2")
        self.assertEqual((r.returncode, r.stdout), (0, b"ok"), r.stderr)
        if os.environ.get("BERTH_HTTP2") == "0":
            self.assertIn(b"ALPN: server accepted http/1.1", r.stderr)
        else:
            self.assertIn(b"ALPN: server accepted h2", r.stderr)
            self.assertIn(b"HTTP/2 200", r.stderr)

    def test_python_keep_alive_and_what_the_handler_sees(self):
        c = self.conn()
        for i in range(5):
            c.send(b"GET /baseline11?a=%d&b=1 HTTP/1.1\r\nHost: t\r\n\r\n" % i)
            self.assertEqual(c.response()[2], b"%d" % (i + 1))
        info = self.info(c)
        self.assertEqual(info["tls"], True)
        self.assertEqual(info["version"], "TLSv1.3")
        self.assertEqual(info["alpn"], "http/1.1")
        self.assertEqual(info["sni"], "localhost")
        # The server's choice (ChaCha20 first with Debian's wolfSSL, AES-128
        # with an AES-NI build), not the client's first (AES-256 for OpenSSL).
        self.assertIn(info["cipher"], ("TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"))
        self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
        plain = Conn(self.srv)
        self.addCleanup(plain.close)
        plain.send(b"GET /tls-info HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(json.loads(plain.response()[2]), {"tls": False, "http_version": 11, "version_minor": 1})

    def test_tls12_client(self):
        c = self.conn(ctx=tls_context(max_version=ssl.TLSVersion.TLSv1_2))
        info = self.info(c)
        self.assertEqual(info["version"], "TLSv1.2")
        self.assertIn("CHACHA20", info["cipher"])

    def test_openssl_s_client(self):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port,
                            "-servername", "localhost", "-alpn", "http/1.1", "-CAfile", CERT,
                            "-verify_return_error", "-quiet"],
                           input=b"GET /pipeline HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                           capture_output=True, timeout=30)
        self.assertIn(b"HTTP/1.1 200 OK", r.stdout)
        self.assertTrue(r.stdout.endswith(b"\r\n\r\nok"), r.stdout[-100:])

    def test_pipelining_sixteen_in_one_write(self):
        c = self.conn()
        c.send(b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n" * 16)
        for _ in range(16):
            self.assertEqual(c.response()[2], b"ok")

    def test_request_split_in_tiny_tls_records(self):
        c = self.conn()
        data = b"POST /baseline11?a=1&b=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n20"
        c.send(data, pieces=3, pause=0.001)  # one TLS record per 3 bytes
        self.assertEqual(c.response()[2], b"23")

    # -- large bodies

    def test_upload_20_mib_with_expect_continue(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(os.urandom(20 << 20))
            f.flush()
            r = curl_tls(self.port, "/upload", "--http1.1", "-H", "Expect: 100-continue",
                         "--data-binary", "@" + f.name, "-v")
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        self.assertEqual(r.stdout, b"%d" % (20 << 20))
        self.assertIn(b"HTTP/1.1 100 Continue", r.stderr)

    def test_one_gib_file_through_tls(self):
        d = tempfile.mkdtemp(prefix="berth-tls-")
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, "big.bin")
        h = hashlib.md5()
        with open(path, "wb") as f:
            f.truncate(GIB)
            for i in range(16):
                f.seek(i * (GIB // 16) + 777)
                f.write(b"marker %02d" % i)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        pid = self.srv.proc.pid
        rss0 = rss_kib(pid)
        p = subprocess.Popen(["curl", "-sS", "--http1.1", "--cacert", CERT, "--resolve",
                              "localhost:%d:127.0.0.1" % self.port,
                              "https://localhost:%d/file?%s" % (self.port, urllib.parse.urlencode({"path": path}))],
                             stdout=subprocess.PIPE)
        got = hashlib.md5()
        n = 0
        for chunk in iter(lambda: p.stdout.read(1 << 22), b""):
            got.update(chunk)
            n += len(chunk)
        self.assertEqual(p.wait(), 0)
        self.assertEqual(n, GIB)
        self.assertEqual(got.hexdigest(), h.hexdigest())
        grown = rss_kib(pid) - rss0
        print("\n%s: 1 GiB over TLS, server RSS grew %d KiB" % (self.backend, grown))
        if not sanitized(pid):
            self.assertLess(grown, 8 * 1024)

    # -- sessions and closing

    def test_session_resumption_across_connections_and_threads(self):
        ctx = tls_context()
        first = self.conn(ctx=ctx)
        self.assertFalse(self.info(first)["resumed"])
        session = first.sock.session  # the ticket arrived with the first response
        self.assertIsNotNone(session)
        for _ in range(8):  # two worker threads: both must take the ticket
            c = self.conn(ctx=ctx, session=session)
            self.assertTrue(self.info(c)["resumed"])
            self.assertTrue(c.sock.session_reused)

    def test_ticket_leaves_before_any_request(self):
        """The TLS 1.3 session ticket is sent as soon as the client's
        Finished is read (and before the records are handed over), so a
        client that sends no request still gets it."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(raw.close)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        ctx = tls_context()
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(out.read())
                inc.write(raw.recv(65536))
        raw.sendall(out.read())  # the client's Finished, and nothing after it
        deadline = time.monotonic() + 5
        while not obj.session.has_ticket and time.monotonic() < deadline:
            inc.write(raw.recv(65536))
            try:
                obj.read(1)
            except ssl.SSLWantReadError:
                pass
        self.assertTrue(obj.session.has_ticket)
        c = self.conn(ctx=ctx, session=obj.session)  # and it resumes
        self.assertTrue(self.info(c)["resumed"])

    def test_server_ends_with_close_notify(self):
        c = self.conn()
        c.send(b"GET /pipeline HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertEqual(c.response()[2], b"ok")
        self.assertTrue(c.closed())
        self.assertTrue(c.sock.clean_close, "no close_notify before the FIN")

    def test_client_fin_without_close_notify_still_gets_its_answer(self):
        c = self.conn()
        c.send(b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
        c.sock.half_close()
        self.assertEqual(c.response()[2], b"ok")
        self.assertEqual(c.response()[2], b"ok")
        self.assertTrue(c.closed())

    def test_client_close_notify_ends_its_stream(self):
        c = self.conn()
        c.send(b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
        # close_notify after two requests, then nothing: both are answered,
        # then berth says close_notify too and closes.
        try:
            c.sock.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        c.sock._flush()
        self.assertEqual(c.response()[2], b"ok")
        self.assertEqual(c.response()[2], b"ok")
        self.assertTrue(c.closed())

    def test_client_key_update_ends_the_connection_cleanly(self):
        """After the handshake berth's own records (or the kernel's) carry
        the connection, and neither can derive a KeyUpdate's new keys: the
        requests before it are answered, then close_notify and a close; the
        server goes on serving others."""
        p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port,
                              "-servername", "localhost", "-CAfile", CERT, "-tls1_3", "-crlf",
                              "-alpn", "http/1.1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        out = b""
        end = time.monotonic() + 20
        p.stdin.write(b"GET /pipeline HTTP/1.1\nHost: t\n\n")
        p.stdin.flush()
        while b"\r\n\r\nok" not in out and time.monotonic() < end:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                d = os.read(p.stdout.fileno(), 65536)
                if not d:
                    break
                out += d
        self.assertIn(b"\r\n\r\nok", out)
        try:
            p.stdin.write(b"k\n")  # s_client: send a KeyUpdate
            p.stdin.flush()
            time.sleep(0.3)
            p.stdin.write(b"GET /pipeline HTTP/1.1\nHost: t\n\n")  # not answered
            p.stdin.flush()
        except BrokenPipeError:
            pass  # s_client already ended: the server closed
        p.wait(15)  # the server closed: s_client ends
        out += p.stdout.read()
        self.assertEqual(out.count(b"\r\n\r\nok"), 1, out[-400:])
        self.assertEqual(curl_tls(self.port, "/pipeline").stdout, b"ok")

    # -- HttpArena json-tls

    def test_arena_json_tls(self):
        c = self.conn()
        rng = random.Random(self.backend)
        for n in range(1, 51):
            m = rng.randrange(1, 9)
            c.send(b"GET /json/%d?m=%d HTTP/1.1\r\nHost: localhost:8081\r\n\r\n" % (n, m))
            status, headers, body = c.response()
            self.assertEqual(status, 200)
            self.assertEqual(header(headers, "Content-Type").split(";")[0], "application/json")
            self.assertEqual(json.loads(body), expected_json(n, m))
        self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")

    # -- hostile or broken clients

    def plain(self, port, data, eof=False):
        """Sends data in plain HTTP to a TLS port; what comes back until the
        server closes (a reset after the answer counts as a close)."""
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(s.close)
        try:
            s.sendall(data)
            if eof:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a huge head: the server answered and stopped reading
        out = b""
        try:
            for chunk in iter(lambda: s.recv(4096), b""):
                out += chunk
        except ConnectionResetError:
            pass
        return out

    def test_plain_http_on_the_tls_port_gets_a_plain_400(self):
        # The engine answers (the serializer, the error hook, the completion
        # callbacks; core/tls.c step_aside), once, and closes: a pipelined
        # second request is not served.
        two = b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\nGET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n"
        for first in (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", two,
                      b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"):
            out = self.plain(self.port, first)
            self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out[:80])
            self.assertIn(b"\r\nConnection: close\r\n", out)
            self.assertTrue(out.endswith(b"\r\n\r\nBad Request: this port speaks HTTPS.\n"), out)
            self.assertEqual(out.count(b"HTTP/1.1 "), 1, out)
        # A head cut by EOF, and a head over the limit, answered as anywhere.
        out = self.plain(self.port, b"GET /pipeline HT", eof=True)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out[:80])
        out = self.plain(self.port, b"GET / HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out[:80])
        self.assertIn(b"\r\nConnection: close\r\n", out)
        self.assertEqual(curl_tls(self.port, "/pipeline").stdout, b"ok")  # unharmed

    def test_plain_http_on_the_tls_port_goes_through_the_error_hook(self):
        srv = Server("tests/berth-test-server", backend=self.backend,
                     env={"TLS_CERT": CERT, "TLS_KEY": KEY, "BERTH_TEST_HOOKS": "1",
                          "BERTH_HEADER_TIMEOUT_MS": "300"})
        self.addCleanup(stop_clean, srv, "tls hooks (%s)" % self.backend)
        out = self.plain(srv.tls_port, b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\nGET /pipeline HTTP/1.1\r\n\r\n")
        status, _, rest = out.partition(b"\r\n")
        self.assertEqual(status, b"HTTP/1.1 400 Bad Request", out)
        self.assertIn(b"\r\nConnection: close\r\n", out)
        self.assertIn(b"\r\nAccess-Control-Allow-Origin: *\r\n", out)
        self.assertTrue(out.endswith(b'\r\n\r\n{"error":400,"reason":"Bad Request","request":true}'), out)
        # A head that never completes: the header timeout's 408, through the hook.
        out = self.plain(srv.tls_port, b"GET /pipeline HTTP/1.1\r\nHost:")
        self.assertTrue(out.startswith(b"HTTP/1.1 408 "), out[:80])
        self.assertTrue(out.endswith(b'"request":false}'), out)

    def test_plain_http_on_the_tls_port_is_in_the_access_log(self):
        srv = Server(backend=self.backend, env={"TLS_CERT": CERT, "TLS_KEY": KEY,
                                                "BERTH_ACCESS_LOG": "1"})
        out = self.plain(srv.tls_port, b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n"
                                       b"GET /baseline11?a=1&b=2 HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out[:80])
        stop_clean(srv, "berth-serve tls (%s)" % self.backend)
        lines = srv.proc_stdout.splitlines()[1:]
        self.assertEqual(len(lines), 1, lines)  # the second request was never served
        self.assertRegex(lines[0], r'^127\.0\.0\.1 - - \[.*\] "GET /pipeline HTTP/1\.1" 400 \d+ "-" "-" '
                                   r'\d+\.\d{6} [0-9a-f]{16} rejected tls$')

    def test_garbage_instead_of_a_client_hello_is_closed(self):
        for junk in (b"\x00\x01\x02\x03" * 64, b"\x16\x03\x01\x00\x05hello" + os.urandom(200),
                     bytes(range(256))):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(junk)
            try:
                self.assertFalse(s.recv(4096).startswith(b"HTTP/"))
                s.recv(4096)
            except ConnectionResetError:
                pass
            s.close()
        self.assertEqual(curl_tls(self.port, "/pipeline").stdout, b"ok")

    def test_stalled_handshake_is_closed_at_the_timeout(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello, cut short
        t0 = time.monotonic()
        try:
            self.assertEqual(s.recv(100), b"")
        except ConnectionResetError:
            pass
        took = time.monotonic() - t0
        s.close()
        # 2 s: room for 80 concurrent RSA handshakes on a loaded machine
        # (test_concurrent_handshakes_on_both_threads) in a sanitizer build.
        self.assertGreater(took, 1.9)
        self.assertLess(took, 2.0 + 0.4)

    def test_clients_vanishing_mid_handshake_leave_nothing(self):
        ctx = tls_context()
        for i in range(30):
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, outg, server_hostname="localhost")
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            raw.sendall(outg.read())  # the ClientHello
            if i % 2:
                raw.recv(100)  # part of the server's flight
            if i % 3 == 0:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
        self.assertEqual(curl_tls(self.port, "/pipeline").stdout, b"ok")
        # stop_clean (tearDownClass) checks the sanitizers' reports

    def test_concurrent_handshakes_on_both_threads(self):
        # Its own server with the default handshake timeout (10 s): 16
        # handshakes at once on a loaded 2-CPU machine (a TSan run beside)
        # can pass the class server's 2 s, and that server then rightly
        # closes them: under stress-ng --cpu 6, 1 of 480 handshakes was
        # reset after 2.24 s (0 of 480 with 10 s).
        srv = Server("tests/berth-test-server", backend=self.backend,
                     env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})
        self.addCleanup(stop_clean, srv, "tls handshakes (%s)" % self.backend)
        errors = []

        def client():
            try:
                for _ in range(5):
                    c = TlsConn(srv, timeout=20)
                    c.send(b"GET /json/3?m=2 HTTP/1.1\r\nHost: t\r\n\r\n")
                    if json.loads(c.response()[2]) != expected_json(3, 2):
                        errors.append("wrong body")
                    c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])


class TlsStartupTest(unittest.TestCase):
    """Certificates that cannot be used stop berth-serve at once, with a
    message; no certificate at all gives a self-signed one."""

    def start(self, **env):
        full = dict(os.environ, PORT="0", TLS_PORT="0", HTTP_BACKEND="reactor")
        full.update(env)
        from berthproc import BUILD
        return subprocess.run([os.path.join(BUILD, "serve/berth-serve")], env=full,
                              capture_output=True, text=True, timeout=10)

    def test_bad_certificates_are_fatal_with_a_message(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        other_key = os.path.join(d, "other.key")
        subprocess.run(["openssl", "genrsa", "-out", other_key, "2048"], check=True,
                       capture_output=True)
        unreadable = os.path.join(d, "nothing.crt")
        cases = [
            ({"TLS_CERT": CERT, "TLS_KEY": ""}, "a certificate without its key"),
            ({"TLS_CERT": unreadable, "TLS_KEY": KEY}, "cannot read the certificate"),
            ({"TLS_CERT": CERT, "TLS_KEY": other_key}, "does not match the certificate"),
            ({"TLS_CERT": KEY, "TLS_KEY": KEY}, "cannot read the certificate"),
        ]
        for env, message in cases:
            r = self.start(**env)
            self.assertEqual(r.returncode, 1, env)
            self.assertIn(message, r.stderr)
            self.assertNotIn("listening", r.stdout)

    def test_no_certificate_serves_a_self_signed_one(self):
        srv = Server(backend="reactor", env={"TLS_CERT": "", "TLS_KEY": ""})
        try:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            s = TlsSock(srv.tls_port, ctx=ctx)
            s.sendall(b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertIn(b"\r\n\r\nok", s.recv(4096))
            cert = ssl.DER_cert_to_PEM_cert(s.obj.getpeercert(binary_form=True))
            text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=cert.encode(),
                                  capture_output=True).stdout
            self.assertIn(b"CN = localhost", text)
            self.assertIn(b"DNS:localhost", text)
            self.assertIn(b"prime256v1", text)
            s.close()
        finally:
            stop_clean(srv, "self-signed")
        self.assertIn("self-signed", srv.stderr_text)

    def test_tls13_only(self):
        srv = Server(backend="reactor", env={"TLS_CERT": CERT, "TLS_KEY": KEY,
                                             "TLS_MIN_VERSION": "1.3"})
        try:
            with self.assertRaises(ssl.SSLError):
                TlsSock(srv.tls_port, ctx=tls_context(max_version=ssl.TLSVersion.TLSv1_2))
            s = TlsSock(srv.tls_port)
            s.close()
        finally:
            stop_clean(srv, "tls13 only")


for _b in BACKENDS:
    globals()["Tls_" + _b] = type("Tls_" + _b, (TlsMixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main()
