"""HTTP/2 over cleartext with prior knowledge (h2c, docs/HTTP2.md) on every
backend: curl --http2-prior-knowledge and Python's h2 (Debian python3-h2)
against berth-serve and the test server. The same handlers answer as over
HTTP/1.1: the HttpArena routes, 404 and 405, uploads (buffered and
streamed, with on_done once per stream), files, many streams at once on one
connection, the header and body limits, GOAWAY at the stop.

Values are random (seeded; BERTH_TEST_SEED replays a run)."""
import json
import os
import random
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import shutil
import time
import unittest
import xml.etree.ElementTree as ET

import h2env  # noqa: E402

h2 = h2env.import_h2()

from berthproc import BACKENDS, CA, CERT, DATASET, KEY, LINUX, ROOT, Server, stop_clean

SEED = int(os.environ.get("BERTH_TEST_SEED") or random.SystemRandom().randrange(2 ** 32))
sys.stderr.write("test_h2: BERTH_TEST_SEED=%d\n" % SEED)
MAX_BODY = 65536  # the test server's, for test_limits
with open(DATASET, "rb") as _f:
    ITEMS = json.load(_f)


class H2:
    """One h2c connection (prior knowledge) driven by Python's h2."""

    def __init__(self, port, settings=None, tls=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:  # ALPN h2 (docs/HTTP2.md)
            ctx = ssl.create_default_context(cafile=CA)
            ctx.set_alpn_protocols(["h2", "http/1.1"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
            assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.streams = {}   # id -> {"headers": [...], "data": bytearray, "ended", "reset"}
        self.goaway = None
        self.closed = False

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def request(self, method, path, headers=(), body=None, end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "localhost")] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None and end)
        self.streams[sid] = {"headers": [], "data": bytearray(), "ended": False, "reset": None}
        if body is not None:
            self.send_body(sid, body, end)
        self.flush()
        return sid

    def send_body(self, sid, body, end=True):
        """Sends body on sid within the flow-control windows, reading
        (WINDOW_UPDATE) while they are closed."""
        pos = 0
        while pos < len(body):
            if select.select([self.sock], [], [], 0)[0]:
                self.read_some()  # an early answer, a reset: stop sending
            if self.streams[sid]["reset"] is not None or self.streams[sid]["ended"]:
                return
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.read_some()
                if self.streams[sid]["reset"] is not None or self.streams[sid]["ended"]:
                    return
                continue
            piece = body[pos:pos + window]
            self.conn.send_data(sid, piece)
            pos += len(piece)
            self.flush()
        if end:
            self.conn.end_stream(sid)
        self.flush()

    def read_some(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no answer within 10 s")
        if not data:
            self.closed = True
            return
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                self.streams[ev.stream_id]["headers"] = ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                self.streams[ev.stream_id]["data"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.streams[ev.stream_id]["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                if ev.stream_id in self.streams:
                    self.streams[ev.stream_id]["reset"] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev
        self.flush()

    def wait(self, sids):
        while not all(self.streams[s]["ended"] or self.streams[s]["reset"] is not None
                      for s in sids):
            if self.closed:
                raise AssertionError("connection closed before streams %r ended" % (sids,))
            self.read_some()

    def response(self, sid):
        """(status, headers as a dict of str, body bytes) of an ended stream."""
        self.wait([sid])
        s = self.streams[sid]
        hdrs = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                for k, v in s["headers"]}
        return int(hdrs.get(":status", 0)), hdrs, bytes(s["data"])

    def close(self):
        self.sock.close()


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_code} %{http_version}"]
                       + list(args), capture_output=True, timeout=30)
    body, _, tail = r.stdout.rpartition(b"\n")
    return tail.decode(), body, r


@unittest.skipIf(h2 is None, "skipped: Python's h2 is not installed (Debian python3-h2)")
class H2c(unittest.TestCase):
    """berth-serve, one server per backend."""

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random(SEED)

    def each_backend(self, fn, binary="serve/berth-serve", env=None):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                srv = Server(binary=binary, backend=backend, env=dict(env or {}, TLS_PORT="0"))
                try:
                    fn(srv)
                finally:
                    stop_clean(srv, backend)

    def test_curl_routes(self):
        def run(srv):
            base = "http://127.0.0.1:%d" % srv.port
            a, b = self.rng.randrange(-10 ** 6, 10 ** 6), self.rng.randrange(10 ** 6)
            tail, body, r = curl("%s/baseline11?a=%d&b=%d" % (base, a, b))
            self.assertEqual((tail, body), ("200 2", b"%d" % (a + b)), r.stderr)
            c = self.rng.randrange(10 ** 6)
            tail, body, r = curl("-d", "%d" % c, "%s/baseline11?a=%d&b=%d" % (base, a, b))
            self.assertEqual((tail, body), ("200 2", b"%d" % (a + b + c)), r.stderr)
            n = self.rng.randrange(1, len(ITEMS))
            tail, body, r = curl("%s/json/%d" % (base, n))
            self.assertEqual(tail, "200 2", r.stderr)
            got = json.loads(body)
            self.assertEqual([i["id"] for i in got["items"]], [i["id"] for i in ITEMS[:n]])
            # the same body as over HTTP/1.1
            h1 = subprocess.run(["curl", "-sS", "--http1.1", "%s/json/%d" % (base, n)],
                                capture_output=True, timeout=30).stdout
            self.assertEqual(body, h1)
            tail, body, r = curl("%s/no/such/route" % base)
            self.assertEqual(tail, "404 2", r.stderr)
            size = self.rng.randrange(100 * 1024, 3 * 1024 * 1024)
            with tempfile.NamedTemporaryFile() as f:
                f.write(os.urandom(size))
                f.flush()
                tail, body, r = curl("--data-binary", "@" + f.name, "%s/upload" % base)
            self.assertEqual((tail, body), ("200 2", b"%d" % size), r.stderr)
            # HTTP/1.1 still answers on the same port
            h1 = subprocess.run(["curl", "-sS", "--http1.1", "-w", " %{http_version}",
                                 "%s/baseline11?a=1&b=2" % base], capture_output=True, timeout=30)
            self.assertEqual(h1.stdout, b"3 1.1")
        self.each_backend(run)

    def test_streams_on_one_connection(self):
        """Twenty streams opened before any answer is read: each gets its
        own answer, on the one connection; then a 405 with Allow, a HEAD."""
        def run(srv):
            c = H2(srv.port)
            want = {}
            for _ in range(20):
                a, b = self.rng.randrange(10 ** 9), self.rng.randrange(10 ** 9)
                if self.rng.random() < 0.5:
                    sid = c.request("GET", "/baseline11?a=%d&b=%d" % (a, b))
                    want[sid] = a + b
                else:
                    k = self.rng.randrange(10 ** 6)
                    sid = c.request("POST", "/baseline11?a=%d&b=%d" % (a, b),
                                    [("content-length", str(len(str(k))))], str(k).encode())
                    want[sid] = a + b + k
            c.wait(list(want))
            for sid, total in want.items():
                status, hdrs, body = c.response(sid)
                self.assertEqual((status, body), (200, b"%d" % total), sid)
                self.assertEqual(hdrs["content-length"], str(len(body)))
                self.assertEqual(hdrs["server"], "berth")
            sid = c.request("DELETE", "/baseline11?a=1&b=2")
            status, hdrs, _ = c.response(sid)
            self.assertEqual(status, 405)
            self.assertIn("GET", hdrs.get("allow", ""))
            sid = c.request("HEAD", "/json/5")
            status, hdrs, body = c.response(sid)
            self.assertEqual((status, body), (200, b""))
            self.assertGreater(int(hdrs["content-length"]), 100)
            self.assertFalse(c.closed)
            c.close()
        self.each_backend(run)

    def test_limits(self):
        """Too many header fields: 431; a Content-Length over max_body:
        413 before the body; a body over it without one: 413 once it
        passes, then RST_STREAM (NO_ERROR) stops the upload; the
        connection serves on."""
        def run(srv):
            c = H2(srv.port)
            sid = c.request("GET", "/baseline11?a=1&b=2",
                            [("x-h%d" % i, "v") for i in range(150)])
            self.assertEqual(c.response(sid)[0], 431)
            sid = c.request("POST", "/upload", [("content-length", str(MAX_BODY + 1))], end=False)
            self.assertEqual(c.response(sid)[0], 413)
            # more than the stream's window (256 KiB): the client waits
            # for it and reads the 413, then the reset
            sid = c.request("POST", "/upload", end=False)
            c.send_body(sid, b"x" * (8 * MAX_BODY))
            self.assertEqual(c.response(sid)[0], 413)
            while c.streams[sid]["reset"] is None:
                c.read_some()
            self.assertEqual(c.streams[sid]["reset"], 0)  # NO_ERROR
            sid = c.request("POST", "/upload", body=b"y" * MAX_BODY)
            self.assertEqual(c.response(sid)[:3:2], (200, b"%d" % MAX_BODY))
            sid = c.request("GET", "/baseline11?a=40&b=2")
            self.assertEqual(c.response(sid)[:3:2], (200, b"42"))
            c.close()
        self.each_backend(run, binary="tests/berth-test-server", env={"BERTH_MAX_BODY": str(MAX_BODY)})

    def test_goaway_at_stop(self):
        def run(srv):
            c = H2(srv.port)
            sid = c.request("GET", "/baseline11?a=1&b=1")
            self.assertEqual(c.response(sid)[2], b"2")
            srv.proc.send_signal(15)
            deadline = time.monotonic() + 10
            while c.goaway is None and not c.closed and time.monotonic() < deadline:
                c.read_some()
            self.assertIsNotNone(c.goaway, "no GOAWAY at the stop")
            self.assertEqual(c.goaway.error_code, 0)
            c.close()
        self.each_backend(run)


TLS_ENV = {"TLS_CERT": CERT, "TLS_KEY": KEY}


@unittest.skipIf(h2 is None, "skipped: Python's h2 is not installed (Debian python3-h2)")
class H2Tls(unittest.TestCase):
    """h2 by ALPN on the TLS listener (kernel TLS where the kernel offers
    it, berth's records otherwise)."""

    def test_curl_and_streams(self):
        rng = random.Random(SEED + 3)

        def run(srv):
            a, b = rng.randrange(10 ** 6), rng.randrange(10 ** 6)
            r = subprocess.run(["curl", "-sS", "-v", "--http2", "--cacert", CERT, "--resolve",
                                "localhost:%d:127.0.0.1" % srv.tls_port,
                                "https://localhost:%d/baseline11?a=%d&b=%d" % (srv.tls_port, a, b)],
                               capture_output=True, timeout=30)
            self.assertEqual(r.stdout, b"%d" % (a + b), r.stderr[-2000:])
            self.assertIn(b"ALPN: server accepted h2", r.stderr)
            c = H2(srv.tls_port, tls=True)
            want = {}
            for _ in range(10):
                a, b = rng.randrange(10 ** 6), rng.randrange(10 ** 6)
                want[c.request("GET", "/baseline11?a=%d&b=%d" % (a, b))] = a + b
            n = rng.randrange(1, len(ITEMS))
            sid_json = c.request("GET", "/json/%d" % n)
            size = rng.randrange(100 * 1024, 1024 * 1024)
            sid_up = c.request("POST", "/upload", body=b"u" * size)
            for sid, total in want.items():
                self.assertEqual(c.response(sid)[:3:2], (200, b"%d" % total))
            status, _, body = c.response(sid_json)
            self.assertEqual([i["id"] for i in json.loads(body)["items"]], [i["id"] for i in ITEMS[:n]])
            self.assertEqual(c.response(sid_up)[:3:2], (200, b"%d" % size))
            c.close()
        H2c.each_backend(self, run, env=TLS_ENV)


@unittest.skipIf(h2 is None, "skipped: Python's h2 is not installed (Debian python3-h2)")
class H2cTestServer(unittest.TestCase):
    """The test server: streamed uploads with on_done, files."""

    def test_uploads_on_done_once(self):
        """Three streamed uploads interleaved on one connection and one
        reset by the client mid-body: each on_done runs once; none of the
        pieces is another stream's; the reset one is not completed."""
        rng = random.Random(SEED + 1)

        def run(srv):
            c = H2(srv.port)
            sids, sizes = [], []
            for fill in b"abc":
                sids.append(c.request("POST", "/store", end=False))
                sizes.append(rng.randrange(1, 300 * 1024))
            for i in range(0, max(sizes), 16 * 1024):  # interleaved pieces
                for sid, size, fill in zip(sids, sizes, b"abc"):
                    if i < size:
                        c.send_body(sid, bytes([fill]) * min(16 * 1024, size - i), end=False)
            for sid in sids:
                c.conn.end_stream(sid)
            c.flush()
            for sid, size, fill in zip(sids, sizes, b"abc"):
                status, _, body = c.response(sid)
                self.assertEqual((status, body), (201, b"%d %c" % (size, fill)))
            gone = c.request("POST", "/store", end=False)
            c.send_body(gone, b"z" * 5000, end=False)
            c.conn.reset_stream(gone)
            c.flush()
            deadline = time.monotonic() + 10
            while True:
                sid = c.request("GET", "/store-stats")
                stats = json.loads(c.response(sid)[2])
                if stats["done"] == 4 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(stats, {"started": 4, "done": 4, "completed": 3, "mixed": 0,
                                     "twice": 0, "fds": 0 if LINUX else -1})  # -1: not counted
            c.close()
        H2c.each_backend(self, run, binary="tests/berth-test-server")

    def test_file_body(self):
        rng = random.Random(SEED + 2)

        def run(srv):
            with tempfile.NamedTemporaryFile() as f:
                data = os.urandom(rng.randrange(200 * 1024, 1024 * 1024))
                f.write(data)
                f.flush()
                off = rng.randrange(1000)
                c = H2(srv.port)
                sid = c.request("GET", "/file?path=%s&off=%d&len=%d" % (f.name, off, len(data) - off))
                status, hdrs, body = c.response(sid)
                self.assertEqual(status, 200)
                self.assertEqual(body, data[off:])
                c.close()
        H2c.each_backend(self, run, binary="tests/berth-test-server")


def find_h2spec():
    """h2spec (docs/HTTP2.md): $H2SPEC, else on PATH, else the build for this
    machine beside the repository (../shared/tools/h2spec/h2spec from the
    repository's parent); None without it."""
    for path in (os.environ.get("H2SPEC"), shutil.which("h2spec"),
                 os.path.join(os.path.dirname(ROOT), "shared", "tools", "h2spec", "h2spec")):
        if path and os.access(path, os.X_OK):
            return path
    return None


H2SPEC = find_h2spec()
# The case a port serving both HTTP/1.1 and h2c fails by design: "Sends
# invalid connection preface": bytes that are not the preface are an
# HTTP/1.1 request, answered 400 in HTTP/1.1 (h2spec reads that as a frame
# and hits the end of the stream). An h2-only listener (listen option h2)
# passes it.
SHARED_PORT_CASE = "http2/3.5/2"


def h2spec_run(port, tls=False, section=None):
    """Runs every h2spec case (or those of one section, "http2/3.5")
    against port: {case id: outcome}, a case's id being its section's
    package and its number ("http2/3.5/2")."""
    with tempfile.TemporaryDirectory() as d:
        xml_path = os.path.join(d, "h2spec.xml")
        r = subprocess.run([H2SPEC, "-h", "127.0.0.1", "-p", str(port), "-j", xml_path]
                           + (["-t", "-k"] if tls else []) + ([section] if section else []),
                           capture_output=True, timeout=600)
        if not os.path.exists(xml_path):
            raise AssertionError("h2spec wrote no report: %r" % r.stdout[-2000:])
        outcome = {}
        for suite in ET.parse(xml_path).getroot():
            for i, case in enumerate(suite.findall("testcase"), 1):
                cid = "%s/%d" % (case.get("package"), i)
                kinds = [child.tag for child in case]
                outcome[cid] = ("failed" if "failure" in kinds or "error" in kinds
                                else "skipped" if "skipped" in kinds else "passed")
    return outcome


@unittest.skipIf(H2SPEC is None, "skipped: no h2spec (set H2SPEC, put it on PATH, or "
                                 "../shared/tools/h2spec/h2spec beside the repository)")
class H2Spec(unittest.TestCase):
    """The conformance suite nobody here wrote, over h2c on every backend:
    all of its 146 cases pass on an h2-only listener (listen option h2);
    on a port that serves HTTP/1.1 too, section 3.5 (the preface) passes but
    for SHARED_PORT_CASE."""

    def test_h2spec(self):
        def run(srv):
            h2_only = int(srv.listeners[0].rsplit(":", 1)[1].split("+")[0])
            self.assertTrue(srv.listeners[0].endswith("+h2"), srv.first_line)
            outcome = h2spec_run(h2_only)
            failed = sorted(c for c, o in outcome.items() if o != "passed")
            sys.stderr.write("h2spec %s: %d cases, %d passed, failed or skipped: %s\n" % (
                srv.backend, len(outcome), len(outcome) - len(failed), " ".join(failed) or "none"))
            self.assertEqual(len(outcome), 146)
            self.assertEqual(failed, [])
            shared = int(srv.listeners[1].rsplit(":", 1)[1])
            outcome = h2spec_run(shared, section="http2/3.5")
            failed = sorted(c for c, o in outcome.items() if o != "passed")
            sys.stderr.write("h2spec %s shared port, 3.5: %d cases, failed: %s\n" % (
                srv.backend, len(outcome), " ".join(failed) or "none"))
            self.assertEqual(len(outcome), 2)
            self.assertEqual(failed, [SHARED_PORT_CASE])
        H2c.each_backend(self, run, env={"BERTH_LISTEN": "127.0.0.1:0 h2, 127.0.0.1:0"})

    def test_h2spec_tls(self):
        """Over TLS (ALPN h2): every case passes, the invalid preface
        included (a client that negotiated h2 must send the preface: other
        bytes get nghttp2's GOAWAY, not an HTTP/1.1 answer)."""
        def run(srv):
            outcome = h2spec_run(srv.tls_port, tls=True)
            failed = sorted(c for c, o in outcome.items() if o != "passed")
            sys.stderr.write("h2spec tls %s: %d cases, %d passed, failed or skipped: %s\n" % (
                srv.backend, len(outcome), len(outcome) - len(failed), " ".join(failed) or "none"))
            self.assertEqual(len(outcome), 146)
            self.assertEqual(failed, [])
        H2c.each_backend(self, run, env=TLS_ENV)


if __name__ == "__main__":
    h2env.main()
