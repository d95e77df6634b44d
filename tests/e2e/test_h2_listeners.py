"""Listeners of one protocol (listen options h1 and h2, README "Listeners"),
on every backend, with real clients (curl, Python's ssl and sockets):

- `PORT h2`: cleartext HTTP/2 only (h2c with prior knowledge), as
  HttpArena's baseline-h2c and json-h2c ask of port 8082: an HTTP/1.1
  request gets nghttp2's GOAWAY (PROTOCOL_ERROR), never an answer;
- `PORT h1`: HTTP/1.x only: the HTTP/2 preface is answered 505 as a
  build without HTTP/2 answers it;
- `PORT tls h2` and `PORT tls h1`: the ALPN offer holds only that protocol;
  a client that offers nothing of it gets the no_application_protocol
  alert (RFC 7301 3.2);
- an unknown option is refused naming the ones there are.

Values are random (seeded; BERTH_TEST_SEED replays a run)."""
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

from berthproc import BACKENDS, CA, CERT, KEY, Server, stop_clean
import h2env  # noqa: E402

SEED = int(os.environ.get("BERTH_TEST_SEED") or random.SystemRandom().randrange(2 ** 32))
sys.stderr.write("test_h2_listeners: BERTH_TEST_SEED=%d\n" % SEED)
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
LISTEN = "127.0.0.1:0 h2, 127.0.0.1:0 h1, 127.0.0.1:0 tls h2, 127.0.0.1:0 tls h1, 127.0.0.1:0"
ENV = {"BERTH_LISTEN": LISTEN, "TLS_CERT": CERT, "TLS_KEY": KEY}


def ports(srv):
    """The bound ports of LISTEN's entries, in its order, from berth-serve's
    listeners= list (an h2-only entry ends in +h2)."""
    out = []
    for url in srv.listeners:
        out.append((int(url.rsplit(":", 1)[1].split("+")[0]), url.endswith("+h2")))
    return out


def frames(data):
    """The HTTP/2 frames in data: [(type, flags, stream, payload)]."""
    out, i = [], 0
    while i + 9 <= len(data):
        n = int.from_bytes(data[i:i + 3], "big")
        if i + 9 + n > len(data):
            break
        t, f = data[i + 3], data[i + 4]
        sid = struct.unpack(">I", data[i + 5:i + 9])[0] & 0x7fffffff
        out.append((t, f, sid, data[i + 9:i + 9 + n]))
        i += 9 + n
    return out


def read_all(sock, timeout=5.0):
    """What the server sends until it closes (or timeout: then the test fails)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            return data, True
        data += chunk
    return data, False


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code} %{http_version}"]
                       + list(args), capture_output=True, timeout=30)
    body, _, tail = r.stdout.rpartition(b"\n")
    return r.returncode, body, tail.decode()


def tls_client(port, alpn):
    ctx = ssl.create_default_context(cafile=CA)
    ctx.set_alpn_protocols(alpn)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        return ctx.wrap_socket(s, server_hostname="localhost")
    except Exception:
        s.close()
        raise


class Listeners(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(SEED)

    def each_backend(self, fn):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                srv = Server(backend=backend, env=ENV)
                try:
                    fn(srv)
                finally:
                    stop_clean(srv, backend)

    def test_listeners_line(self):
        def run(srv):
            self.assertEqual([only for _, only in ports(srv)], [True, False, True, False, False],
                             srv.first_line)
        self.each_backend(run)

    def test_h2c_only(self):
        """HTTP/2 from the first byte: prior knowledge answers, HTTP/1.1 does not."""
        def run(srv):
            port = ports(srv)[0][0]
            a, b = self.rng.randrange(100, 1000), self.rng.randrange(100, 1000)
            url = "http://127.0.0.1:%d/baseline2?a=%d&b=%d" % (port, a, b)
            rc, body, tail = curl("--http2-prior-knowledge", url)
            self.assertEqual((rc, body, tail), (0, b"%d" % (a + b), "200 2"))
            rc, body, tail = curl("--http1.1", url)
            self.assertNotEqual(tail.split()[0], "200", (rc, body, tail))
            # the bytes: the server's SETTINGS, then GOAWAY PROTOCOL_ERROR
            # (last stream 0), then the close; no HTTP/1.1 text
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /baseline2?a=1&b=2 HTTP/1.1\r\nHost: x\r\n\r\n")
                data, closed = read_all(s)
            self.assertTrue(closed, data)
            self.assertNotIn(b"HTTP/1.1", data)
            fs = frames(data)
            goaway = [p for t, _, _, p in fs if t == 7]
            self.assertEqual(len(goaway), 1, fs)
            last, code = struct.unpack(">II", goaway[0][:8])
            self.assertEqual((last, code), (0, 1), fs)  # PROTOCOL_ERROR
        self.each_backend(run)

    def test_h1_only(self):
        """No hand-over to HTTP/2: the preface is an HTTP/1 request, 505."""
        def run(srv):
            port = ports(srv)[1][0]
            a, b = self.rng.randrange(100, 1000), self.rng.randrange(100, 1000)
            rc, body, tail = curl("--http1.1", "http://127.0.0.1:%d/baseline11?a=%d&b=%d"
                                  % (port, a, b))
            self.assertEqual((rc, body, tail), (0, b"%d" % (a + b), "200 1.1"))
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(PREFACE)
                data, closed = read_all(s)
            self.assertTrue(closed, data)
            self.assertTrue(data.startswith(b"HTTP/1.1 505 "), data[:200])
            # the shared entry (neither option) still hands the preface over
            rc, body, tail = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/baseline2?a=%d&b=%d"
                                  % (ports(srv)[4][0], a, b))
            self.assertEqual((rc, body, tail), (0, b"%d" % (a + b), "200 2"))
        self.each_backend(run)

    def test_tls_alpn(self):
        """Each TLS entry offers only its protocol; nothing in common: the
        no_application_protocol alert."""
        def run(srv):
            h2_port, h1_port = ports(srv)[2][0], ports(srv)[3][0]
            with tls_client(h2_port, ["h2", "http/1.1"]) as s:
                self.assertEqual(s.selected_alpn_protocol(), "h2")
            with tls_client(h1_port, ["h2", "http/1.1"]) as s:
                self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
                # negotiated http/1.1 on an h1-only entry: the preface is 505
                s.sendall(PREFACE)
                data, closed = read_all(s)
                self.assertTrue(data.startswith(b"HTTP/1.1 505 "), data[:200])
            for port, alpn in ((h2_port, ["http/1.1"]), (h1_port, ["h2"])):
                with self.assertRaises(ssl.SSLError) as e:
                    tls_client(port, alpn).close()
                self.assertIn("NO APPLICATION PROTOCOL", str(e.exception).upper().replace("_", " "))
            a, b = self.rng.randrange(100, 1000), self.rng.randrange(100, 1000)
            rc, body, tail = curl("--cacert", CA, "--http2", "--resolve",
                                  "localhost:%d:127.0.0.1" % h2_port,
                                  "https://localhost:%d/baseline2?a=%d&b=%d" % (h2_port, a, b))
            self.assertEqual((rc, body, tail), (0, b"%d" % (a + b), "200 2"))
            rc, body, tail = curl("--cacert", CA, "--http2", "--resolve",
                                  "localhost:%d:127.0.0.1" % h1_port,
                                  "https://localhost:%d/baseline11?a=%d&b=%d" % (h1_port, a, b))
            self.assertEqual((rc, body, tail), (0, b"%d" % (a + b), "200 1.1"))
        self.each_backend(run)

    def test_unknown_option(self):
        srv = Server(env={"BERTH_LISTEN": "127.0.0.1:0 h3"})
        try:
            # berth-serve warns and falls back to PORT
            rc, body, tail = curl("http://127.0.0.1:%d/baseline11?a=1&b=2" % srv.port)
            self.assertEqual((rc, body), (0, b"3"))
        finally:
            stop_clean(srv, "berth-serve")
        self.assertIn("unknown option 'h3' (tls, proxy, h1, h2)", srv.stderr_text)


if __name__ == "__main__":
    h2env.main()
