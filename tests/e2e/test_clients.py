"""Connection semantics the HttpArena clients rely on, on every backend: HEAD,
HTTP/1.0 close semantics, keep-alive reuse with http.client and curl, and
many concurrent connections. berth-serve, random values (BERTH_TEST_SEED
replays a run)."""
import http.client
import os
import random
import re
import resource
import socket
import struct
import subprocess
import sys
import unittest

from berthproc import BACKENDS, Conn, Server, header, stop_clean

SEED = int(os.environ.get("BERTH_TEST_SEED") or random.SystemRandom().randrange(2 ** 32))
sys.stderr.write("test_clients: BERTH_TEST_SEED=%d\n" % SEED)

# many concurrent connections need descriptors: raise the soft limit (the
# server inherits it)
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _hard == resource.RLIM_INFINITY or _hard > _soft:
    _want = min(_hard, 16384) if _hard != resource.RLIM_INFINITY else 16384
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))
    except (ValueError, OSError):
        # macOS refuses a soft limit above OPEN_MAX (10240) with an
        # infinite hard one (setrlimit(2), COMPATIBILITY)
        if sys.platform != "darwin":
            raise
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(_want, 10240), _hard))
NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def without_date(headers):
    return [(k.lower(), v) for k, v in headers if k.lower() != "date"]


class ClientsMixin:
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
        self.a, self.b = self.rng.randrange(10 ** 9), self.rng.randrange(10 ** 9)
        self.target = b"/baseline11?a=%d&b=%d" % (self.a, self.b)
        self.sum = b"%d" % (self.a + self.b)

    def conn(self):
        c = Conn(self.srv)
        self.addCleanup(c.close)
        return c

    def http(self):
        c = http.client.HTTPConnection(*self.addr, timeout=10)
        self.addCleanup(c.close)
        return c

    def curl(self, *args):
        p = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "30"] + list(args),
                           capture_output=True, timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout, p.stderr.decode("latin-1")

    def url(self, target):
        return "http://127.0.0.1:%d%s" % (self.srv.port, target.decode() if isinstance(target, bytes) else target)

    # -- HEAD

    def _head_and_get_raw(self, target):
        """HEAD then GET, pipelined in one write: if the HEAD answer carried
        a body, the GET answer would not start right after its head."""
        c = self.conn()
        c.send(b"HEAD " + target + b" HTTP/1.1\r\nHost: t\r\n\r\nGET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        head = c.response(head_only=True)
        self.assertTrue(c.pending == b"" or c.pending.startswith(b"HTTP/1.1 "), c.pending[:100])
        get = c.response()
        return head, get, c

    def test_head_baseline_has_get_headers_and_no_body(self):
        head, get, c = self._head_and_get_raw(self.target)
        self.assertEqual(head[0], 200)
        self.assertEqual(get[2], self.sum)
        self.assertEqual(without_date(head[1]), without_date(get[1]))
        self.assertEqual(header(head[1], "Content-Length"), str(len(self.sum)))
        c.sock.settimeout(0.1)
        self.assertRaises(socket.timeout, c.sock.recv, 1)

    def test_head_json_has_get_headers_and_no_body(self):
        n, m = self.rng.randrange(1, 51), self.rng.randrange(1, 1000)
        head, get, _ = self._head_and_get_raw(b"/json/%d?m=%d" % (n, m))
        self.assertEqual(without_date(head[1]), without_date(get[1]))
        self.assertEqual(int(header(head[1], "Content-Length")), len(get[2]))
        self.assertEqual(header(head[1], "Content-Type"), "application/json")

    def test_head_http_client_reads_no_body_and_reuses_connection(self):
        c = self.http()
        c.request("HEAD", self.target.decode())
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b""))
        self.assertEqual(r.getheader("Content-Length"), str(len(self.sum)))
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain"))
        port = c.sock.getsockname()[1]
        c.request("GET", self.target.decode())
        r = c.getresponse()
        self.assertEqual(r.read(), self.sum)
        self.assertEqual(c.sock.getsockname()[1], port)

    def test_head_curl(self):
        out, _ = self.curl("-I", self.url(b"/pipeline"))
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out)
        self.assertIn(b"\r\nContent-Length: 2\r\n", out)
        self.assertTrue(out.endswith(b"\r\n\r\n"), out)

    # -- HTTP/1.0

    def test_http10_get_is_answered_then_closed(self):
        c = self.conn()
        c.send(b"GET " + self.target + b" HTTP/1.0\r\n\r\n")
        status, headers, body = c.response()
        self.assertEqual((status, body), (200, self.sum))
        self.assertEqual(header(headers, "Connection"), "close")
        self.assertTrue(c.closed())

    def test_http10_post_content_length_is_answered_then_closed(self):
        n = self.rng.randrange(10 ** 6)
        c = self.conn()
        c.send(b"POST " + self.target + b" HTTP/1.0\r\nContent-Length: %d\r\n\r\n%d" % (len(b"%d" % n), n))
        status, headers, body = c.response()
        self.assertEqual((status, body), (200, b"%d" % (self.a + self.b + n)))
        self.assertTrue(c.closed())

    def test_http10_pipelined_second_request_is_not_answered(self):
        c = self.conn()
        c.send(b"GET " + self.target + b" HTTP/1.0\r\n\r\nGET /pipeline HTTP/1.0\r\n\r\n")
        self.assertEqual(c.response()[2], self.sum)
        self.assertTrue(c.closed())

    def test_http10_keep_alive_is_honoured(self):
        c = self.conn()
        for _ in range(3):
            c.send(b"GET " + self.target + b" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, body = c.response()
            self.assertEqual((status, body), (200, self.sum))
            self.assertEqual(header(headers, "Connection").lower(), "keep-alive")
        c.send(b"GET /pipeline HTTP/1.0\r\n\r\n")
        self.assertEqual(c.response()[2], b"ok")
        self.assertTrue(c.closed())

    def test_http10_curl(self):
        out, _ = self.curl("--http1.0", "-i", self.url(self.target))
        head, body = out.split(b"\r\n\r\n", 1)
        self.assertEqual(body, self.sum)
        self.assertIn(b"\r\nConnection: close", head)

    def test_http11_connection_close_is_honoured(self):
        c = self.conn()
        c.send(b"GET " + self.target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, headers, body = c.response()
        self.assertEqual((status, body, header(headers, "Connection")), (200, self.sum, "close"))
        self.assertTrue(c.closed())

    # -- keep-alive

    def test_http_client_keep_alive_reuses_one_connection(self):
        c = self.http()
        c.connect()
        sock, port = c.sock, c.sock.getsockname()[1]
        for i in range(200):
            a, b, n = (self.rng.randrange(-10 ** 6, 10 ** 9) for _ in range(3))
            if i % 3 == 0:
                c.request("GET", "/baseline11?a=%d&b=%d" % (a, b))
                expect = a + b
            else:
                body = b"%d" % n if i % 3 == 1 else iter([b"%d" % n])
                c.request("POST", "/baseline11?a=%d&b=%d" % (a, b), body=body)
                expect = a + b + n
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"%d" % expect))
            self.assertIs(c.sock, sock)
            self.assertEqual(c.sock.getsockname()[1], port)

    def test_curl_reuses_one_connection_for_many_urls(self):
        n = 12
        targets = [b"/baseline11?a=%d&b=%d" % (self.rng.randrange(10 ** 6), self.rng.randrange(10 ** 6))
                   for _ in range(n)]
        args = []
        for t in targets:
            args += [self.url(t), "-w", "|%{num_connects}\n"]
        out, _ = self.curl(*args)
        lines = out.decode().strip().split("\n")
        self.assertEqual(len(lines), n)
        for t, line in zip(targets, lines):
            body, connects = line.split("|")
            a, b = map(int, re.findall(rb"=(\d+)", t))
            self.assertEqual(body, str(a + b))
        self.assertEqual([line.split("|")[1] for line in lines], ["1"] + ["0"] * (n - 1))

    # -- many connections (the profiles use 512 and 4096)

    def test_4096_concurrent_keep_alive_connections(self):
        count = min(4096, NOFILE - 200)
        self.assertGreaterEqual(count, 512, "too few file descriptors for the test")
        conns = []
        try:
            for _ in range(count):
                conns.append(Conn(self.srv, timeout=30))
            for _ in range(2):
                expect = []
                for c in conns:
                    a, b = self.rng.randrange(10 ** 9), self.rng.randrange(10 ** 9)
                    c.send(b"GET /baseline11?a=%d&b=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (a, b))
                    expect.append(b"%d" % (a + b))
                for c, e in zip(conns, expect):
                    status, headers, body = c.response()
                    self.assertEqual((status, body), (200, e))
        finally:
            for c in conns:
                c.close()

    def test_clients_that_vanish_mid_request_do_not_disturb_others(self):
        # load generators cut their connections when a run ends
        def cut(sock, reset):
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

        for i in range(10):
            reset = bool(i % 2)
            s = self.srv.connect()
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 20971520\r\n\r\n" +
                      self.rng.randbytes(self.rng.randrange(1, 1 << 20)))
            cut(s, reset)
            s = self.srv.connect()
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"10000\r\n" + b"x" * self.rng.randrange(1, 0x10000))
            cut(s, reset)
            s = self.srv.connect()
            s.sendall(b"GET /json/50?m=7 HTTP/1.1\r\nHost: t\r\n\r\n" * 100)  # answers never read
            cut(s, reset)
            s = self.srv.connect()
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            cut(s, reset)
        c = self.conn()
        for _ in range(5):
            c.send(b"GET " + self.target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(c.response()[2], self.sum)
        self.assertIsNone(self.srv.proc.poll(), "berth-serve died")

for _b in BACKENDS:
    globals()["Clients_" + _b] = type("Clients_" + _b, (ClientsMixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main()
