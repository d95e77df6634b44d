"""Deferred and streamed responses on HTTP/2 streams (docs/HTTP2.md,
core/h2_output.c) on every backend, over h2c and TLS (ALPN h2), with
Python's h2 against the test server's stream routes (tests/server): a
response answered from another thread, a body streamed in many chunks
under the stream buffer limit, two SSE streams at once on one connection
with ordinary requests between, a client's RST_STREAM mid-stream (on_close
and on_done once, aborted), the stop with streams open (on_stop ends one,
the drain timeout cuts the other), a large file byte for byte.

Values are random (seeded; BERTH_TEST_SEED replays a run)."""
import gzip
import http.client
import json
import os
import shutil
import ssl
import random
import socket
import sys
import tempfile
import time
import unittest

from test_h2 import H2, TLS_ENV, h2  # re-executes with Debian's python3 for h2
from berthproc import BACKENDS, CA, Server, stop_clean
import h2env  # noqa: E402

SEED = int(os.environ.get("BERTH_TEST_SEED") or random.SystemRandom().randrange(2 ** 32))
sys.stderr.write("test_h2_streams: BERTH_TEST_SEED=%d\n" % SEED)
LIMIT = 262144  # BERTH_MAX_STREAM_BUFFER for the test server


def each(test, fn, env=None):
    """fn(srv, connect) on every backend, over h2c and over TLS."""
    for backend in BACKENDS:
        for tls in (False, True):
            with test.subTest(backend=backend, tls=tls):
                srv = Server(binary="tests/berth-test-server", backend=backend,
                             env=dict(TLS_ENV, BERTH_MAX_STREAM_BUFFER=str(LIMIT), **(env or {})))
                try:
                    fn(srv, lambda: H2(srv.tls_port if tls else srv.port, tls=tls))
                finally:
                    stop_clean(srv, backend)


def stats(c):
    status, _, body = c.response(c.request("GET", "/stats"))
    assert status == 200, status
    return json.loads(body)


def wait_stats(c, pred, within=10.0):
    deadline = time.monotonic() + within
    while True:
        s = stats(c)
        if pred(s) or time.monotonic() > deadline:
            return s
        time.sleep(0.05)


def read_until(c, pred, within=10.0):
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        c.read_some()


def raw_frames(sock, within):
    """The frames (type, flags, stream id, payload) read until the peer
    closes (or `within` seconds pass)."""
    buf, frames = b"", []
    deadline = time.monotonic() + within
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        buf += data
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            n = int.from_bytes(buf[:3], "big")
            frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff,
                           buf[9:9 + n]))
            buf = buf[9 + n:]
    return frames


@unittest.skipIf(h2 is None, "skipped: Python's h2 is not installed (Debian python3-h2)")
class H2Streams(unittest.TestCase):

    def test_deferred_from_threads(self):
        """Three responses answered by other threads after random delays,
        an ordinary request answered between them, on one connection."""
        rng = random.Random(SEED)

        def run(srv, connect):
            c = connect()
            sids = [c.request("GET", "/thread?ms=%d" % rng.randrange(20, 300)) for _ in range(3)]
            mid = c.request("GET", "/counted")
            self.assertEqual(c.response(mid)[::2], (200, b"ok"))
            for sid in sids:
                status, hdrs, body = c.response(sid)
                self.assertEqual((status, body, hdrs.get("content-type")),
                                 (200, b"from a thread", "text/plain"))
                self.assertEqual(hdrs.get("content-length"), "13")
            s = wait_stats(c, lambda s: s["done"][0] >= 3)
            self.assertEqual(s["done"], [3, 0, 0, 0])
            c.close()
        each(self, run)

    def test_streamed_many_chunks(self):
        """A body of n chunks written by a thread that waits on the buffer
        limit (berth_stream_wait): byte for byte, no content-length, and
        never more buffered than the limit allows (a piece more); two at
        once."""
        rng = random.Random(SEED + 1)

        def run(srv, connect):
            c = connect()
            jobs = []
            for _ in range(2):
                n, size = rng.randrange(50, 200), rng.randrange(1000, 40000)
                jobs.append((c.request("GET", "/produce?n=%d&bytes=%d" % (n, size)), n, size))
            for sid, n, size in jobs:
                status, hdrs, body = c.response(sid)
                self.assertEqual(status, 200)
                self.assertNotIn("content-length", hdrs)
                self.assertEqual(len(body), n * size)
                want = b"".join(bytes([97 + i % 26]) * size for i in range(n))
                self.assertTrue(body == want, "the streamed body differs")
            s = wait_stats(c, lambda s: s["done"][0] >= 2)
            self.assertEqual(s["done"], [2, 0, 0, 0])
            # As over HTTP/1 (test_streams): a piece being applied counts
            # both as queued and as held for a moment.
            self.assertLessEqual(s["max_buffered"], LIMIT + max(j[2] for j in jobs))
            c.close()
        each(self, run)

    def test_sse_two_streams_and_requests_between(self):
        """Two server-sent event streams (stream timers) on one connection,
        ordinary requests answered while they run; resetting both runs
        their on_close (live_ticks back to 0) and on_done, aborted."""
        def run(srv, connect):
            c = connect()
            a = c.request("GET", "/tick?interval_ms=30")
            b = c.request("GET", "/tick?interval_ms=45")
            read_until(c, lambda: all(c.streams[s]["data"].count(b"event: tick\n") >= 3
                                      for s in (a, b)))
            for sid in (a, b):
                hdrs = dict(c.streams[sid]["headers"])
                self.assertEqual(hdrs[b":status"], b"200")
                self.assertEqual(hdrs[b"content-type"], b"text/event-stream")
                self.assertEqual(hdrs[b"cache-control"], b"no-cache")
                self.assertFalse(c.streams[sid]["ended"])
            for _ in range(3):  # answered while the events flow
                self.assertEqual(c.response(c.request("GET", "/counted"))[::2], (200, b"ok"))
            self.assertEqual(stats(c)["live_ticks"], 2)
            before = [len(c.streams[s]["data"]) for s in (a, b)]
            read_until(c, lambda: all(len(c.streams[s]["data"]) > n
                                      for s, n in zip((a, b), before)))
            for sid in (a, b):
                self.assertTrue(c.streams[sid]["data"].startswith(b"event: tick\ndata: x\n\n"))
                c.conn.reset_stream(sid)
            c.flush()
            s = wait_stats(c, lambda s: s["live_ticks"] == 0 and s["done"][1] >= 2)
            self.assertEqual((s["live_ticks"], s["done"]), (0, [0, 2, 0, 0]))
            c.close()
        each(self, run)

    def test_client_reset_mid_stream(self):
        """/watch never ends by itself: the client's RST_STREAM runs its
        on_close once and its on_done once, aborted. /produce's thread
        goes on writing after the reset (or waits on the full buffer):
        its calls answer BERTH_EGONE, it ends the handle (ASan watches the
        memory), its on_done is aborted. The connection goes on."""
        def run(srv, connect):
            c = connect()
            sid = c.request("GET", "/watch")
            prod = c.request("GET", "/produce?n=4000&bytes=16384")  # 64 MiB: never all sent
            read_until(c, lambda: b"watching\n" in c.streams[sid]["data"]
                       and len(c.streams[prod]["data"]) >= 16384)
            c.conn.reset_stream(sid)
            c.conn.reset_stream(prod)
            c.flush()
            s = wait_stats(c, lambda s: s["closes"] >= 1 and s["done"][1] >= 2)
            self.assertEqual((s["closes"], s["done"]), (1, [0, 2, 0, 0]))
            time.sleep(0.1)
            self.assertEqual(stats(c)["done"], [0, 2, 0, 0])  # once each
            self.assertEqual(c.response(c.request("GET", "/counted"))[::2], (200, b"ok"))
            c.close()
        each(self, run)

    def test_connection_closed_with_streams_open(self):
        """The client closes its connection while /watch, /produce (its
        thread writing on) and an SSE stream are open: each on_close runs
        once (closes, live_ticks), each on_done once, aborted."""
        def run(srv, connect):
            c = connect()
            watch = c.request("GET", "/watch")
            prod = c.request("GET", "/produce?n=4000&bytes=16384")
            tick = c.request("GET", "/tick?interval_ms=20")
            read_until(c, lambda: b"watching" in c.streams[watch]["data"]
                       and c.streams[prod]["data"] and b"event: tick" in c.streams[tick]["data"])
            c.close()
            other = connect()
            s = wait_stats(other, lambda s: s["done"][1] >= 3 and s["live_ticks"] == 0)
            self.assertEqual((s["closes"], s["live_ticks"], s["done"]), (1, 0, [0, 3, 0, 0]))
            other.close()
        each(self, run)

    def test_stop_with_streams_open(self):
        """The stop while an SSE stream (its on_stop ends it) and /watch (no
        on_stop) are open on one connection: GOAWAY, the SSE stream ends
        cleanly (END_STREAM), /watch is cut at the drain timeout (the
        connection closes without its end), the server exits 0."""
        def run(srv, connect):
            c = connect()
            tick = c.request("GET", "/tick?interval_ms=20")
            watch = c.request("GET", "/watch")
            read_until(c, lambda: b"event: tick" in c.streams[tick]["data"]
                       and b"watching" in c.streams[watch]["data"])
            t0 = time.monotonic()
            srv.proc.send_signal(15)
            # Python's h2 refuses frames after a GOAWAY: read them by hand.
            frames = raw_frames(c.sock, within=5.0)
            took = time.monotonic() - t0
            self.assertIn(7, [f[0] for f in frames], "no GOAWAY")
            ends = {sid for typ, flags, sid, _ in frames if typ in (0, 1) and flags & 1}
            self.assertIn(tick, ends)  # on_stop ended it
            self.assertNotIn(watch, ends)  # cut, not ended
            self.assertGreater(took, 0.3)  # the drain timeout (500 ms) waited for /watch
            self.assertLess(took, 4.0)
            c.close()
        each(self, run, env={"BERTH_DRAIN_TIMEOUT_MS": "500"})

    def test_large_file(self):
        """A file of a few MiB (berth_res_file) byte for byte, beside a
        streamed response on the same connection."""
        rng = random.Random(SEED + 2)

        def run(srv, connect):
            with tempfile.NamedTemporaryFile() as f:
                data = os.urandom(rng.randrange(2 << 20, 5 << 20))
                f.write(data)
                f.flush()
                c = connect()
                sid = c.request("GET", "/file?path=%s" % f.name)
                other = c.request("GET", "/produce?n=20&bytes=10000")
                status, hdrs, body = c.response(sid)
                self.assertEqual((status, hdrs.get("content-length")), (200, str(len(data))))
                self.assertTrue(body == data, "the file's bytes differ")
                self.assertEqual(len(c.response(other)[2]), 200000)
                c.close()
        each(self, run)


# Fields that differ between the protocols by design: HTTP/1's framing and
# connection fields, and Date (a second may pass between the two).
HOP = {"date", "connection", "keep-alive", "transfer-encoding"}


def h1_get(srv, tls, path, headers):
    if tls:
        ctx = ssl.create_default_context(cafile=CA)
        ctx.set_alpn_protocols(["http/1.1"])
        conn = http.client.HTTPSConnection("localhost", srv.tls_port, context=ctx, timeout=10)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    method = headers.pop(":method", "GET")
    conn.request(method, path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    fields = sorted((k.lower(), v) for k, v in r.getheaders() if k.lower() not in HOP)
    conn.close()
    return r.status, fields, body


@unittest.skipIf(h2 is None, "skipped: Python's h2 is not installed (Debian python3-h2)")
class H2Static(unittest.TestCase):
    """Static files (berth_static_mount: sendfile over HTTP/1.1, DATA
    frames written straight into the output over HTTP/2) answer the same
    status, fields and bytes over both: whole, ranges, conditionals,
    precompressed .gz, HEAD."""

    def test_same_as_http1(self):
        rng = random.Random(SEED + 3)
        root = tempfile.mkdtemp(prefix="berth-h2-static-")
        try:
            big = os.urandom(rng.randrange(1 << 20, 3 << 20))
            with open(os.path.join(root, "big.bin"), "wb") as f:
                f.write(big)
            page = b"<p>" + b"words words " * 2000 + b"</p>"
            with open(os.path.join(root, "page.html"), "wb") as f:
                f.write(page)
            with open(os.path.join(root, "page.html.gz"), "wb") as f:
                f.write(gzip.compress(page))
            a, b = sorted(rng.sample(range(len(big)), 2))

            def run(srv, tls):
                c = H2(srv.tls_port if tls else srv.port, tls=tls)
                etag = None
                cases = [("/static/big.bin", {}), ("/static/big.bin", {"range": "bytes=%d-%d" % (a, b)}),
                         ("/static/big.bin", {"range": "bytes=-%d" % (b - a + 1)}),
                         ("/static/big.bin", {"range": "bytes=%d-" % len(big)}),
                         ("/static/page.html", {"accept-encoding": "gzip"}),
                         ("/static/page.html", {}),
                         ("/static/page.html", {":method": "HEAD", "accept-encoding": "gzip"}),
                         ("/static/big.bin", {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"}),
                         ("/static/none.bin", {})]
                for path, hdrs in cases + [("/static/big.bin", "etag")]:
                    if hdrs == "etag":
                        hdrs = {"if-none-match": etag}
                    s1, f1, b1 = h1_get(srv, tls, path, dict(hdrs))
                    hh = dict(hdrs)
                    method = hh.pop(":method", "GET")
                    sid = c.request(method, path, headers=list(hh.items()))
                    s2, f2, b2 = c.response(sid)
                    f2 = sorted((k, v) for k, v in f2.items() if not k.startswith(":") and k not in HOP)
                    self.assertEqual((path, hdrs, s2, f2), (path, hdrs, s1, f1))
                    self.assertTrue(b1 == b2, "%s %r: the bodies differ" % (path, hdrs))
                    if path == "/static/big.bin" and not hdrs:
                        self.assertEqual(b2, big)
                        etag = dict(f1)["etag"]
                    if "accept-encoding" in hdrs and method == "GET":
                        self.assertEqual(gzip.decompress(b2), page)
                c.close()

            for backend in BACKENDS:
                for tls in (False, True):
                    with self.subTest(backend=backend, tls=tls):
                        srv = Server(binary="tests/berth-test-server", backend=backend,
                                     env=dict(TLS_ENV, BERTH_STATIC_DIR=root))
                        try:
                            run(srv, tls)
                        finally:
                            stop_clean(srv, backend)
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    h2env.main()
