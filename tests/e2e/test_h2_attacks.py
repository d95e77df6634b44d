"""HTTP/2's limits and defences (docs/HTTP2.md, "Limits and defences"), on
every backend over h2c, and rapid reset, the CONTINUATION flood, the HPACK
bomb and the PING flood once more over TLS: the published
attacks made with raw frames (rapid reset, CONTINUATION flood, HPACK bomb,
SETTINGS, PING, PRIORITY and empty DATA floods), a client that shuts its
window under a pending response, one that never ACKs our SETTINGS, one
that only pings, a request body that stops coming; and the windows and
limits berth advertises. Each asserts what the server does (GOAWAY and
its error code, the close within a bound, a 408 or 431 on the stream, the
server's RSS, the handlers it ran) and that it serves a new connection
afterwards.

Values are random where it matters (seeded; BERTH_TEST_SEED replays)."""
import os
import random
import select
import socket
import struct
import sys
import time
import unittest

import h2env  # noqa: E402

h2 = h2env.import_h2()

from berthproc import BACKENDS, CERT, KEY, Server, rss_kib, sanitized, stop_clean
from h2frames import (CONTINUATION, DATA, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM, GOAWAY,
                      HEADERS, NO_ERROR, PING, PRIORITY, PROTOCOL_ERROR, RST_STREAM, SETTINGS,
                      SETTINGS_TIMEOUT, WINDOW_UPDATE, Raw, frame, hpack_str, request_block,
                      serves)

SEED = int(os.environ.get("BERTH_TEST_SEED") or random.SystemRandom().randrange(2 ** 32))
sys.stderr.write("test_h2_attacks: BERTH_TEST_SEED=%d\n" % SEED)

# h2_limits.c's figures
STREAM_WINDOW, CONN_WINDOW, MAX_STREAMS, FLOOD_BURST, FLOOD_RATE = 256 * 1024, 1024 * 1024, 100, 200, 50
TIMEOUT_MS = 1500  # header, body, idle and write timeouts of the servers here
ENV = {"BERTH_HEADER_TIMEOUT_MS": str(TIMEOUT_MS), "BERTH_BODY_TIMEOUT_MS": str(TIMEOUT_MS),
       "BERTH_IDLE_TIMEOUT_MS": str(TIMEOUT_MS), "BERTH_WRITE_TIMEOUT_MS": str(TIMEOUT_MS)}
TLS_ENV = dict(ENV, TLS_CERT=CERT, TLS_KEY=KEY)
RSS_BOUND = 24 * 1024  # KiB an attack may add to the server's RSS


@unittest.skipIf(h2 is None, "skipped: Python's h2 is not installed (Debian python3-h2)")
class Attacks(unittest.TestCase):
    """Each attack on the test server of each backend, h2c (tls=True: the
    TLS listener)."""

    def each_backend(self, fn, env=ENV, tls=False):
        for backend in BACKENDS:
            with self.subTest(backend=backend, tls=tls):
                srv = Server(binary="tests/berth-test-server", backend=backend,
                             env=dict(env, TLS_PORT="0"))
                try:
                    fn(srv, tls)
                    serves(self, srv, tls)
                finally:
                    stop_clean(srv, backend)

    def rss_check(self, srv, before):
        if sanitized(srv.proc.pid):
            return  # the sanitizer's quarantine says nothing of berth's memory
        grew = rss_kib(srv.proc.pid) - before
        self.assertLess(grew, RSS_BOUND, "the server's RSS grew by %d KiB" % grew)

    # ---- the windows and limits it advertises ----

    def test_settings_and_windows(self):
        """SETTINGS: 100 concurrent streams, a 256 KiB stream window, a
        header list the size of HTTP/1's head; the connection window
        opened to 1 MiB; a 101st concurrent stream is a connection error
        (nghttp2's choice: GOAWAY PROTOCOL_ERROR naming the 100th)."""
        def run(srv, tls):
            c = Raw(srv, tls)
            s = c.server_settings
            self.assertEqual(s.get(3), MAX_STREAMS)
            self.assertEqual(s.get(4), STREAM_WINDOW)
            self.assertEqual(s.get(6), 16 * 1024 + 8 * 1024)  # max_header_bytes + max_request_line
            got = 0
            while got != CONN_WINDOW - 65535:
                f = c.next_frame(10)
                self.assertIsNotNone(f, "no connection WINDOW_UPDATE")
                if f[0] == WINDOW_UPDATE and f[2] == 0:
                    got = struct.unpack(">I", f[3])[0]
            # 101 streams left open (bodies to come)
            out = b"".join(frame(HEADERS, END_HEADERS, 2 * i + 1, request_block(b"POST", b"/store"))
                           for i in range(MAX_STREAMS + 1))
            c.send(out)
            goaway, _, _ = c.until_closed(10)
            self.assertEqual(goaway, (2 * MAX_STREAMS - 1, PROTOCOL_ERROR))
            c.close()
        self.each_backend(run)

    def test_upload_through_windows(self):
        """A body of several connection windows, sent only as far as the
        windows allow: berth reopens them as it takes the bytes (automatic
        WINDOW_UPDATE is off)."""
        rng = random.Random(SEED)

        def run(srv, tls):
            c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            c.initiate_connection()
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            sock.sendall(c.data_to_send())
            size = rng.randrange(3 * CONN_WINDOW, 5 * CONN_WINDOW)
            sids = [c.get_next_available_stream_id()]
            c.send_headers(sids[0], [(":method", "POST"), (":path", "/store"), (":scheme", "http"),
                                     (":authority", "x")])
            body = {sids[0]: b"s" * size}
            ended, status = set(), {}
            while len(ended) < len(sids):
                sent = 0
                for sid in sids:
                    left = body[sid]
                    if left is None:
                        continue
                    n = min(len(left), c.local_flow_control_window(sid), c.max_outbound_frame_size)
                    if n:
                        c.send_data(sid, left[:n], end_stream=n == len(left))
                        body[sid] = left[n:] if n < len(left) else None
                        sent += n
                sock.sendall(c.data_to_send())
                # as far as the windows allow before waiting for them: a
                # frame per wait made this test 10 s a backend
                if sent and not select.select([sock], [], [], 0)[0]:
                    continue
                if select.select([sock], [], [], 0.05)[0] or all(b is None for b in body.values()):
                    data = sock.recv(1 << 20)
                    self.assertTrue(data, "closed")
                    for ev in c.receive_data(data):
                        if isinstance(ev, h2.events.ResponseReceived):
                            status[ev.stream_id] = dict(ev.headers)[b":status"]
                        elif isinstance(ev, h2.events.DataReceived):
                            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                            self.assertEqual(ev.data, b"%d s" % size)
                        elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                            ended.add(ev.stream_id)
                    sock.sendall(c.data_to_send())
            self.assertEqual(status[sids[0]], b"201")
            sock.close()
        self.each_backend(run)

    def test_slow_on_body(self):
        """An on_body that takes 4 ms a piece and a client sending 8 MiB as
        fast as the windows let it: the upload goes at on_body's pace (the
        windows reopen only as it takes the bytes), the server's RSS does
        not grow by the body, the upload completes."""
        size = 8 << 20

        def run(srv, tls):
            before = rss_kib(srv.proc.pid)
            c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            c.initiate_connection()
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            sock.sendall(c.data_to_send())
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, [(":method", "POST"), (":path", "/store"), (":scheme", "http"),
                                 (":authority", "x"), ("x-slow-ms", "4")])
            left, pieces, status, body, done = size, 0, None, b"", False
            t0 = time.monotonic()
            peak = 0
            while not done:
                n = min(left, c.local_flow_control_window(sid), c.max_outbound_frame_size)
                if n:
                    c.send_data(sid, b"w" * n, end_stream=n == left)
                    left -= n
                    pieces += 1
                sock.sendall(c.data_to_send())
                if n and left and not select.select([sock], [], [], 0)[0]:
                    continue
                data = sock.recv(1 << 20)
                self.assertTrue(data, "closed")
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = dict(ev.headers)[b":status"]
                    elif isinstance(ev, h2.events.DataReceived):
                        c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        body += ev.data
                    elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                        done = True
                sock.sendall(c.data_to_send())
                if not sanitized(srv.proc.pid):
                    peak = max(peak, rss_kib(srv.proc.pid) - before)
            took = time.monotonic() - t0
            sock.close()
            self.assertEqual((status, body), (b"201", b"%d w" % size))
            self.assertGreater(took, pieces * 0.004 * 0.8, "faster than on_body")
            self.assertLess(peak, RSS_BOUND, "the server's RSS grew by %d KiB" % peak)
        self.each_backend(run)

    # ---- the attacks ----

    def test_rapid_reset(self):
        """CVE-2023-44487: HEADERS then RST_STREAM, 3000 times. berth counts
        streams reset before their response: past its budget, GOAWAY
        ENHANCE_YOUR_CALM and the close; the handlers run stay near the
        budget, not 3000."""
        def run(srv, tls):
            c = Raw(srv, tls)
            t0 = time.monotonic()
            attack = b"".join(frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, request_block())
                              + frame(RST_STREAM, 0, 2 * i + 1, struct.pack(">I", 8))
                              for i in range(3000))
            c.try_send(attack)
            goaway, took, _ = c.until_closed(10)
            elapsed = time.monotonic() - t0
            self.assertIsNotNone(goaway, "closed without GOAWAY")
            self.assertEqual(goaway[1], ENHANCE_YOUR_CALM)
            self.assertLess(goaway[0], 2 * (FLOOD_BURST + FLOOD_RATE * elapsed + 50) + 1)
            c.close()
        for tls in (False, True):
            self.each_backend(run, env=TLS_ENV, tls=tls)

    def test_rapid_reset_handlers(self):
        """The handlers the attack ran, counted by the test server: near the
        budget, far from the 3000 streams sent."""
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                srv = Server(binary="tests/berth-test-server", backend=backend, env=ENV)
                t0 = time.monotonic()
                c = Raw(srv)
                c.try_send(b"".join(frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, request_block())
                                    + frame(RST_STREAM, 0, 2 * i + 1, struct.pack(">I", 8))
                                    for i in range(3000)))
                goaway, _, _ = c.until_closed(10)
                bound = FLOOD_BURST + FLOOD_RATE * (time.monotonic() - t0) + 50
                c.close()
                stop_clean(srv, backend)
                handled = int(srv.proc_stdout.split("stopped handled=")[1].split()[0])
                self.assertGreater(handled, 0)
                self.assertLess(handled, bound)

    def test_continuation_flood(self):
        """CVE-2024-27316: a HEADERS without END_HEADERS, then CONTINUATION
        frames for ever (16 KiB of header each): GOAWAY ENHANCE_YOUR_CALM
        after nghttp2's 8, the close, the RSS bounded."""
        def run(srv, tls):
            before = rss_kib(srv.proc.pid)
            c = Raw(srv, tls)
            chunk = (b"\x00" + hpack_str(b"x-flood") + hpack_str(b"f" * 16000))
            attack = frame(HEADERS, 0, 1, request_block()) + \
                b"".join(frame(CONTINUATION, 0, 1, chunk) for _ in range(2000))
            c.try_send(attack)
            goaway, took, _ = c.until_closed(10)
            self.assertIsNotNone(goaway, "closed without GOAWAY")
            self.assertEqual(goaway[1], ENHANCE_YOUR_CALM)
            self.rss_check(srv, before)
            c.close()
        for tls in (False, True):
            self.each_backend(run, env=TLS_ENV, tls=tls)

    def test_continuation_stall(self):
        """A header block left open (no END_HEADERS, then silence): the
        connection is closed after header_timeout_ms with GOAWAY."""
        def run(srv, tls):
            c = Raw(srv, tls)
            c.send(frame(HEADERS, 0, 1, request_block()))
            goaway, took, _ = c.until_closed(TIMEOUT_MS / 1000 + 8)
            self.assertIsNotNone(goaway, "closed without GOAWAY")
            self.assertEqual(goaway[1], NO_ERROR)
            self.assertGreater(took, TIMEOUT_MS / 1000 - 0.5)
            c.close()
        self.each_backend(run)

    def test_hpack_bomb(self):
        """A 4000-byte header put in the dynamic table, then referenced by
        one byte each, 16000 times per stream on 20 streams (64 MB of
        headers each): 431 on every stream, the RSS bounded, the
        connection serving on."""
        def run(srv, tls):
            before = rss_kib(srv.proc.pid)
            c = Raw(srv, tls)
            big = b"\x40" + hpack_str(b"x-bomb") + hpack_str(b"b" * 4000)  # with indexing: 62
            out = b""
            for i in range(20):
                block = request_block() + (big if i == 0 else b"") + b"\xbe" * 12000
                out += frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, block)
            c.try_send(out)
            statuses = {}
            while len(statuses) < 20:
                f = c.next_frame(20)
                self.assertIsNotNone(f, "answers missing: %r" % statuses)
                if f[0] == HEADERS:
                    statuses[f[2]] = f[3]
                elif f[0] == RST_STREAM:
                    statuses[f[2]] = "reset"
            for sid, hdrs in statuses.items():
                self.assertEqual(hdrs[b":status"], b"431", sid)
            c.send(frame(HEADERS, END_STREAM | END_HEADERS, 41, request_block()))
            while True:
                f = c.next_frame(10)
                self.assertIsNotNone(f, "no answer after the bomb")
                if f[0] == HEADERS and f[2] == 41:
                    break
            self.rss_check(srv, before)
            c.close()
        for tls in (False, True):
            self.each_backend(run, env=TLS_ENV, tls=tls)

    def flood(self, frames, read=False, tls=False):
        """Sends frames (not reading what comes, or reading as it goes);
        the server must answer GOAWAY ENHANCE_YOUR_CALM and close."""
        def run(srv, tls):
            before = rss_kib(srv.proc.pid)
            c = Raw(srv, tls)
            if read:
                for i in range(0, len(frames), 20):
                    if not c.try_send(b"".join(frames[i:i + 20])):
                        break
            else:
                c.try_send(b"".join(frames))
            goaway, took, _ = c.until_closed(10)
            self.assertIsNotNone(goaway, "closed without GOAWAY")
            self.assertEqual(goaway[1], ENHANCE_YOUR_CALM)
            self.rss_check(srv, before)
            c.close()
        self.each_backend(run, env=TLS_ENV, tls=tls)

    def test_ping_flood(self):
        """CVE-2019-9512: PINGs never read (ACKs pile up) and PINGs read."""
        pings = [frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(20000)]
        self.flood(pings)
        self.flood(pings, read=True)
        self.flood(pings, tls=True)

    def test_settings_flood(self):
        """CVE-2019-9515: empty SETTINGS frames, never read and read."""
        settings = [frame(SETTINGS, 0, 0)] * 20000
        self.flood(settings)
        self.flood(settings, read=True)

    def test_priority_flood(self):
        """CVE-2019-9513: PRIORITY frames on streams never opened."""
        self.flood([frame(PRIORITY, 0, 2 * i + 1, struct.pack(">IB", 0, 15)) for i in range(20000)],
                   read=True)

    def test_empty_frames_flood(self):
        """CVE-2019-9518: empty DATA frames on an open request body."""
        self.flood([frame(HEADERS, END_HEADERS, 1, request_block(b"POST", b"/store"))]
                   + [frame(DATA, 0, 1)] * 20000)

    # ---- deadlines ----

    def test_zero_window_stall(self):
        """A client whose window is 0 (SETTINGS_INITIAL_WINDOW_SIZE 0) and
        stays shut under a pending 1 MiB response, and one that never
        reads past the connection's 64 KiB: GOAWAY and the close after
        write_timeout_ms, not for ever."""
        path = "/tmp/berth-h2-attacks-%d" % os.getpid()
        with open(path, "wb") as f:
            f.write(os.urandom(1 << 20))
        block = b"\x82\x86\x04" + hpack_str(("/file?path=%s" % path).encode()) + b"\x01" + hpack_str(b"x")

        def run(srv, tls):
            for initial in (0, None):
                c = Raw(srv, tls)
                if initial == 0:
                    c.send(frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)))
                c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
                goaway, took, seen = c.until_closed(TIMEOUT_MS / 1000 + 8)
                self.assertIsNotNone(goaway, "closed without GOAWAY")
                self.assertEqual(goaway[1], NO_ERROR)
                self.assertGreater(took, TIMEOUT_MS / 1000 - 0.5)
                self.assertTrue(any(f[0] == HEADERS and f[2] == 1 for f in seen))
                got = sum(len(f[3]) for f in seen if f[0] == DATA)
                self.assertEqual(got, 0 if initial == 0 else 65535)
                c.close()
        try:
            self.each_backend(run)
        finally:
            os.unlink(path)

    def test_settings_timeout(self):
        """Our SETTINGS never ACKed: GOAWAY SETTINGS_TIMEOUT after
        header_timeout_ms."""
        def run(srv, tls):
            c = Raw(srv, tls, ack_settings=False)
            goaway, took, _ = c.until_closed(TIMEOUT_MS / 1000 + 8)
            self.assertEqual(goaway, (0, SETTINGS_TIMEOUT))
            self.assertGreater(took, TIMEOUT_MS / 1000 - 0.5)
            c.close()
        self.each_backend(run)

    def test_idle_with_pings(self):
        """No stream, only PINGs (answered) every 200 ms: closed after
        idle_timeout_ms all the same (a PING is not a request)."""
        def run(srv, tls):
            c = Raw(srv, tls)
            t0 = time.monotonic()
            acks = 0
            while not c.closed and time.monotonic() - t0 < TIMEOUT_MS / 1000 + 8:
                try:
                    c.send(frame(PING, 0, 0, b"12345678"))
                except (BrokenPipeError, ConnectionResetError):
                    break
                f = c.next_frame(0.2)
                while f:
                    acks += f[0] == PING
                    if f[0] == GOAWAY:
                        self.assertEqual(struct.unpack(">II", f[3][:8])[1], NO_ERROR)
                    f = c.next_frame(0.01)
                time.sleep(0.2)
            took = time.monotonic() - t0
            self.assertTrue(c.closed, "open after %.1f s of PINGs" % took)
            self.assertGreater(took, TIMEOUT_MS / 1000 - 0.5)
            self.assertGreater(acks, 3)
            c.close()
        self.each_backend(run)

    def test_body_stall(self):
        """A request body that stops coming: 408 on its stream after
        body_timeout_ms (then RST_STREAM NO_ERROR), while another stream of
        the same connection is answered."""
        def run(srv, tls):
            c = Raw(srv, tls)
            c.send(frame(HEADERS, END_HEADERS, 1, request_block(b"POST", b"/store")) +
                   frame(DATA, 0, 1, b"p" * 1000))
            t0 = time.monotonic()
            got, reset = None, None
            while got is None or reset is None:
                f = c.next_frame(TIMEOUT_MS / 1000 + 8)
                self.assertIsNotNone(f, "no 408 on the stalled stream")
                if f[0] == HEADERS and f[2] == 1:
                    got = f[3]
                elif f[0] == RST_STREAM and f[2] == 1:
                    reset = struct.unpack(">I", f[3])[0]
            self.assertGreater(time.monotonic() - t0, TIMEOUT_MS / 1000 - 0.5)
            self.assertEqual(got[b":status"], b"408")
            self.assertEqual(reset, NO_ERROR)
            c.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, request_block()))
            while True:
                f = c.next_frame(10)
                self.assertIsNotNone(f, "the connection stopped serving")
                if f[0] == HEADERS and f[2] == 3:
                    self.assertEqual(f[3][b":status"], b"200")
                    break
            c.close()
        self.each_backend(run)


if __name__ == "__main__":
    h2env.main()
