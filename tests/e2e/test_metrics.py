"""The server's counters (berth_server_stats) and their Prometheus endpoint
(berth_metrics_mount), on every backend:
- each counter moves exactly as the test drives it: requests by protocol,
  method and status class, the duration histogram, bytes in and out (HTTP's
  bytes, over plaintext and TLS alike), open connections by protocol
  (HTTP/1.1, h2, WebSocket), WebSocket upgrades and messages, TLS
  handshakes full, resumed and failed, connections refused at the cap, the
  server's state (running, draining after the stop, stopped after the wait);
- `promtool check metrics` finds nothing to say of the text;
- a real Prometheus server (Debian's `prometheus`), started once on
  loopback, scrapes berth-serve (BERTH_METRICS=1) on every backend, and the
  values read back through its HTTP API are the ones driven.
Kernel-TLS hand-offs are counted where the kernel takes records:
tests/ktls/inside.py (test_ktls.py) checks berth_ktls_handoffs_total there."""
import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from berthproc import (BACKENDS, CERT, KEY, ROOT, Server, TlsSock, free_port, stop_clean,
                       tls_context)

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
NO_PROMETHEUS = ("skipped: needs Debian's prometheus (prometheus and promtool): "
                 "sudo scripts/deps.sh test")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(text):
    """{(name, ((label, value), ...)): value} of an exposition's samples."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Client:
    """One keep-alive connection (plaintext or TLS) that counts the bytes of
    HTTP it sends and receives, so the byte counters can be checked."""

    def __init__(self, srv, tls=False, session=None, ctx=None):
        if tls:
            self.sock = TlsSock(srv.tls_port, ctx=ctx or tls_context(), session=session)
        else:
            self.sock = srv.connect()
        self.buf = b""
        self.sent = self.received = 0

    def request(self, method, path, body=b""):
        req = ("%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
               % (method, path, len(body))).encode() + body
        self.sock.sendall(req)
        self.sent += len(req)
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        n = int(m.group(1)) if m and method != "HEAD" else 0
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        self.received += len(head) + 4 + n
        return status, body

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def scrape(self):
        status, body = self.request("GET", "/metrics")
        assert status == 200, status
        return body.decode(), parse(body.decode())

    def close(self):
        self.sock.close()


def ws_frame(payload, opcode=1):
    """A masked client frame (payload < 126 bytes)."""
    mask = b"\x01\x02\x03\x04"
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + data


def deploy_block(name):
    """The fenced block of docs/DEPLOY.md headed `# deploy-test: NAME`."""
    with open(os.path.join(ROOT, "docs", "DEPLOY.md")) as f:
        m = re.search(r"```[a-z]*\n# deploy-test: %s\n(.*?)```" % re.escape(name), f.read(), re.S)
    assert m, "docs/DEPLOY.md has no block '# deploy-test: %s'" % name
    return m.group(1)


def eventually(fn, what, within=5.0):
    """Polls fn() until true (a count another thread makes as it closes)."""
    t0 = time.monotonic()
    while not fn():
        if time.monotonic() - t0 > within:
            raise AssertionError("not within %.0f s: %s" % (within, what))
        time.sleep(0.02)


class MetricsTest(unittest.TestCase):
    backend = "reactor"

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY,
                              "BERTH_COMPRESS": "0"})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "berth-test-server")

    def test_requests_bytes_and_histogram(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                self.requests_bytes_and_histogram(tls)

    def requests_bytes_and_histogram(self, tls):
        c = Client(self.srv, tls=tls)
        try:
            text, before = c.scrape()
            sent0, received0 = c.sent, c.received
            self.assertIn('berth_server_state{state="running"} 1', text)
            for _ in range(5):
                self.assertEqual(c.request("GET", "/health")[0], 200)
            for _ in range(3):
                self.assertEqual(c.request("POST", "/echo", b"x" * 100)[0], 200)
            for _ in range(2):
                self.assertEqual(c.request("GET", "/no-such-route")[0], 404)
            self.assertEqual(c.request("HEAD", "/health")[0], 200)
            self.assertEqual(c.request("DELETE", "/health")[0], 405)
            self.assertEqual(c.request("GET", "/sleep?ms=300")[0], 200)
            driven_in = c.sent - sent0  # the scrape's own response went before
            driven_out = c.received - received0
            _, after = c.scrape()
            scrape_req = c.sent - sent0 - driven_in

            def d(name, **labels):
                return val(after, name, **labels) - val(before, name, **labels)
            p = "http/1.1"
            # +1: the first scrape, counted once it was over
            self.assertEqual(d("berth_requests_total", protocol=p, method="GET", code="2xx"), 5 + 1 + 1)
            self.assertEqual(d("berth_requests_total", protocol=p, method="POST", code="2xx"), 3)
            self.assertEqual(d("berth_requests_total", protocol=p, method="GET", code="4xx"), 2)
            self.assertEqual(d("berth_requests_total", protocol=p, method="HEAD", code="2xx"), 1)
            self.assertEqual(d("berth_requests_total", protocol=p, method="DELETE", code="4xx"), 1)
            total = 5 + 3 + 2 + 1 + 1 + 1 + 1
            self.assertEqual(d("berth_request_duration_seconds_count"), total)
            self.assertEqual(d("berth_request_duration_seconds_bucket", le="+Inf"), total)
            # the 300 ms sleep lies above 0.25 s, the others below (most of
            # them: a loaded machine may stall one), all within 10 s
            self.assertLessEqual(d("berth_request_duration_seconds_bucket", le="0.25"), total - 1)
            self.assertGreaterEqual(d("berth_request_duration_seconds_bucket", le="0.25"), total - 3)
            self.assertEqual(d("berth_request_duration_seconds_bucket", le="10"), total)
            self.assertGreaterEqual(d("berth_request_duration_seconds_sum"), 0.3)
            # HTTP's bytes, whatever the TLS records around them: the first
            # scrape's response (this fresh connection's first received0
            # bytes) was written after its count was taken, the second
            # scrape's request read before
            self.assertEqual(d("berth_received_bytes_total"), driven_in + scrape_req)
            self.assertEqual(d("berth_sent_bytes_total"), driven_out + received0)
        finally:
            c.close()

    def test_h2_requests_and_connections(self):
        if os.environ.get("BERTH_HTTP2") == "0":
            self.skipTest("skipped: berth was built without HTTP/2")
        c = Client(self.srv)
        try:
            _, before = c.scrape()
            url = "http://127.0.0.1:%d/health" % self.srv.port
            for _ in range(4):  # one each: curl 7.88 sends nothing on a reused h2c connection
                out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                                      "-w", "%{http_version} %{http_code}", url],
                                     capture_output=True, text=True, timeout=20)
                self.assertEqual(out.stdout, "2 200")
            # an HTTP/2 connection held open: the preface and SETTINGS
            h2 = self.srv.connect()
            h2.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            h2.recv(9)  # the server's SETTINGS: it speaks HTTP/2 now
            _, during = c.scrape()
            self.assertEqual(val(during, "berth_requests_total", protocol="h2", method="GET",
                                 code="2xx") - val(before, "berth_requests_total", protocol="h2",
                                                   method="GET", code="2xx"), 4)
            self.assertEqual(val(during, "berth_connections", backend=self.srv.backend,
                                 protocol="h2"), 1)
            self.assertGreaterEqual(val(during, "berth_connections", backend=self.srv.backend,
                                        protocol="http/1.1"), 1)  # this one
            h2.close()
            eventually(lambda: val(c.scrape()[1], "berth_connections", backend=self.srv.backend,
                                   protocol="h2") == 0, "the h2 connection counted closed")
        finally:
            c.close()

    def test_websocket(self):
        c = Client(self.srv)
        try:
            _, before = c.scrape()
            ws = self.srv.connect()
            key = base64.b64encode(os.urandom(16)).decode()
            ws.sendall(("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
            got = b""
            while b"\r\n\r\n" not in got:
                got += ws.recv(4096)
            self.assertTrue(got.startswith(b"HTTP/1.1 101"), got)
            got = got.partition(b"\r\n\r\n")[2]
            for i in range(3):
                ws.sendall(ws_frame(b"hello %d" % i))
            want = sum(2 + len(b"hello %d" % i) for i in range(3))
            while len(got) < want:
                got += ws.recv(4096)
            _, during = c.scrape()

            def d(name, **labels):
                return val(during, name, **labels) - val(before, name, **labels)
            self.assertEqual(d("berth_websocket_connections_total"), 1)
            self.assertEqual(d("berth_websocket_messages_total", direction="received"), 3)
            self.assertEqual(d("berth_websocket_messages_total", direction="sent"), 3)
            self.assertEqual(val(during, "berth_connections", backend=self.srv.backend,
                                 protocol="websocket"), 1)
            # the upgrade is a request that is over (101)
            self.assertEqual(d("berth_requests_total", protocol="http/1.1", method="GET",
                               code="1xx"), 1)
            ws.close()
            eventually(lambda: val(c.scrape()[1], "berth_connections", backend=self.srv.backend,
                                   protocol="websocket") == 0, "the WebSocket counted closed")
        finally:
            c.close()

    def test_tls_handshakes(self):
        c = Client(self.srv)
        try:
            _, before = c.scrape()
            ctx = tls_context()
            first = Client(self.srv, tls=True, ctx=ctx)
            first.request("GET", "/health")  # the ticket came with the first response
            session = first.sock.session
            first.close()
            second = Client(self.srv, tls=True, ctx=ctx, session=session)
            second.request("GET", "/health")
            resumed = second.sock.session_reused
            second.close()
            bad = socket.create_connection(("127.0.0.1", self.srv.tls_port), timeout=5)
            # a ClientHello record whose body is nonsense: the handshake fails
            bad.sendall(b"\x16\x03\x01\x00\x08" + b"\x01\x00\x00\x04nope")
            try:
                while bad.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            bad.close()

            def counted():
                after = c.scrape()[1]
                self.d = lambda r: (val(after, "berth_tls_handshakes_total", result=r) -
                                    val(before, "berth_tls_handshakes_total", result=r))
                return self.d("failed") == 1
            eventually(counted, "the failed handshake counted")
            self.assertEqual(self.d("full"), 2 - resumed)
            self.assertEqual(self.d("resumed"), int(resumed))
            self.assertTrue(resumed, "the test client did not resume its session")
        finally:
            c.close()

    def test_refused_at_the_cap(self):
        srv = Server("tests/berth-test-server", backend=self.backend,
                     env={"BERTH_THREADS": "1", "BERTH_MAX_CONNECTIONS": "1"})
        try:
            c = Client(srv)
            _, before = c.scrape()
            extra = srv.connect()
            got = b""
            while True:
                chunk = extra.recv(4096)
                if not chunk:
                    break
                got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 503"), got)
            extra.close()
            _, after = c.scrape()
            self.assertEqual(val(after, "berth_connections_refused_total") -
                             val(before, "berth_connections_refused_total"), 1)
            self.assertEqual(val(after, "berth_connections_accepted_total") -
                             val(before, "berth_connections_accepted_total"), 1)
            self.assertEqual(val(after, "berth_requests_total", protocol="http/1.1",
                                 method="other", code="5xx"), 1)
            c.close()
        finally:
            stop_clean(srv, "the capped server")

    def test_state_draining_then_stopped(self):
        srv = Server("tests/berth-test-server", backend=self.backend, env={"BERTH_THREADS": "1"})
        try:
            c = Client(srv)
            text, _ = c.scrape()
            self.assertIn('berth_server_state{state="running"} 1', text)
            self.assertIn('berth_server_state{state="draining"} 0', text)
            # the handler stops its server and reads the state then
            self.assertEqual(c.request("GET", "/stop-state"), (200, b"2"))
            c.close()
        finally:
            stop_clean(srv, "the stopped server")
        self.assertIn("state=0", srv.proc_stdout)  # after berth_server_wait: stopped

    @unittest.skipUnless(PROMTOOL, NO_PROMETHEUS)
    def test_promtool_check_metrics(self):
        c = Client(self.srv)
        try:
            c.request("GET", "/health")
            text, _ = c.scrape()
        finally:
            c.close()
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""), text)


class PrometheusTest(unittest.TestCase):
    """One Prometheus, scraping berth-serve on every backend each second."""

    @classmethod
    def setUpClass(cls):
        if not PROMETHEUS:
            raise unittest.SkipTest(NO_PROMETHEUS)
        cls.servers = {}
        cls.prom = None
        cls.tmp = tempfile.mkdtemp(prefix="berth-prom-")
        try:
            for b in BACKENDS:
                cls.servers[b] = Server(backend=b, env={"BERTH_METRICS": "1",
                                                        "BERTH_THREADS": "2"})
            targets = ["127.0.0.1:%d" % s.port for s in cls.servers.values()]
            cfg = os.path.join(cls.tmp, "prometheus.yml")
            # docs/DEPLOY.md's, scraping every second the servers started here
            text = deploy_block("prometheus")
            text = re.sub(r"scrape_interval: \S+", "scrape_interval: 1s", text)
            text = re.sub(r"scrape_timeout: \S+", "scrape_timeout: 1s", text)
            text, n = re.subn(r"targets: \[.*\]", "targets: [%s]" % ", ".join(
                '"%s"' % t for t in targets), text)
            assert n == 1, text
            with open(cfg, "w") as f:
                f.write(text)
            cls.prom_port = free_port()
            cls.prom_log = open(os.path.join(cls.tmp, "prometheus.log"), "w")
            cls.prom = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + cfg,
                 "--storage.tsdb.path=" + os.path.join(cls.tmp, "data"),
                 "--web.listen-address=127.0.0.1:%d" % cls.prom_port],
                stdout=cls.prom_log, stderr=subprocess.STDOUT)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.prom:
            cls.prom.terminate()
            try:
                cls.prom.wait(10)
            except subprocess.TimeoutExpired:
                cls.prom.kill()
                cls.prom.wait()
            cls.prom_log.close()
        for b, s in cls.servers.items():
            stop_clean(s, "berth-serve " + b)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.prom_port,
                                                       urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        self.assertEqual(doc["status"], "success", doc)
        return {m["metric"].get("instance"): float(m["value"][1])
                for m in doc["data"]["result"]}

    def test_scraped_values_are_the_driven_ones(self):
        want = {}
        for i, (b, s) in enumerate(self.servers.items()):
            posts, misses = 3 + i, 2 + 2 * i  # a different count on each backend
            c = Client(s)
            try:
                for _ in range(posts):
                    self.assertEqual(c.request("POST", "/echo", b"hi")[0], 200)
                for _ in range(misses):
                    self.assertEqual(c.request("GET", "/nothing-here")[0], 404)
            finally:
                c.close()
            want["127.0.0.1:%d" % s.port] = (posts, misses)
        # Prometheus itself only GETs /metrics: these series are the test's alone
        q_post = 'berth_requests_total{method="POST",code="2xx",protocol="http/1.1"}'
        q_miss = 'berth_requests_total{method="GET",code="4xx",protocol="http/1.1"}'
        seen = {}

        def scraped():
            try:
                seen["post"], seen["miss"] = self.query(q_post), self.query(q_miss)
                seen["up"] = self.query('up{job="berth"}')
                seen["running"] = self.query('berth_server_state{state="running"}')
            except OSError:
                return False  # Prometheus still starting
            return all(seen["post"].get(t) == p and seen["miss"].get(t) == m
                       for t, (p, m) in want.items())
        try:
            eventually(scraped, "Prometheus scraped the driven counts", within=30)
        except AssertionError:
            with open(os.path.join(self.tmp, "prometheus.log")) as f:
                raise AssertionError("want %r, Prometheus has %r\n%s"
                                     % (want, seen, f.read()[-3000:]))
        for t in want:
            self.assertEqual(seen["up"].get(t), 1.0)
            self.assertEqual(seen["running"].get(t), 1.0)
        hist = self.query('sum by (instance) (berth_request_duration_seconds_count) >= 0')
        for t, (p, m) in want.items():
            self.assertGreaterEqual(hist.get(t), p + m)
        # docs/DEPLOY.md's queries: valid, and an answer for every instance
        # (rates need two scrapes: Prometheus is given a few seconds more)
        for q in deploy_block("promql").splitlines():
            if not q.strip() or q.startswith("#"):
                continue
            got = {}

            def answered():
                got.update(self.query(q))
                return all(t in got for t in want)
            eventually(answered, "an answer of every instance to %s (got %r)" % (q, got), within=15)


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for b in BACKENDS:
        cls = type("MetricsTest_" + b, (MetricsTest,), {"backend": b})
        suite.addTests(loader.loadTestsFromTestCase(cls))
    suite.addTests(loader.loadTestsFromTestCase(PrometheusTest))
    return suite


if __name__ == "__main__":
    unittest.main()
