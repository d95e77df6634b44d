"""Timers hold to about 100 ms on every backend (README, Limits): the
server's WebSocket pings come ping_ms after the last input, an answered
ping never ends in 1001 "no pong", and a stream timer (berth_stream_timer,
berth-serve's /sse) ticks at its interval, plaintext and TLS. A raw client
answers each ping at once and notes when it arrived. The margin (150 ms)
is what a loaded machine needs: run it beside `stress-ng --cpu 4`."""
import base64
import os
import socket
import struct
import threading
import time
import unittest

from berthproc import BACKENDS, CERT, KEY, Server, TlsSock, stop_clean

MARGIN = 0.15  # seconds either side of the due time


def tls_env():
    return {"TLS_CERT": CERT, "TLS_KEY": KEY}


def connect(srv, tls):
    if tls:
        return TlsSock(srv.tls_port, timeout=15)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class PingClient:
    """A WebSocket client that answers every ping at once and records when
    each arrived (monotonic seconds), and when its pong left."""

    def __init__(self, srv, tls):
        self.sock = connect(srv, tls)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        self.t_open = time.monotonic()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101 "), head

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def send(self, opcode, payload):
        key = os.urandom(4)
        masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.sock.sendall(struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + key + masked)

    def frame(self):
        while len(self.buf) < 2:
            self._fill()
        n, at = self.buf[1] & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        while len(self.buf) < at + n:
            self._fill()
        op, payload = self.buf[0] & 0x0F, self.buf[at:at + n]
        self.buf = self.buf[at + n:]
        return op, payload

    def pings(self, count):
        """Answers `count` pings; [(arrived, answered)]. A close frame or
        any other frame fails."""
        seen = []
        while len(seen) < count:
            op, payload = self.frame()
            arrived = time.monotonic()
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                raise AssertionError("closed with %d %r after %d pings" % (code, payload[2:],
                                                                          len(seen)))
            assert op == 9, "unexpected frame %d" % op
            self.send(10, payload)
            seen.append((arrived, time.monotonic()))
        return seen

    def close(self):
        self.sock.close()


def ping_run(srv, tls, ping_ms, count, out):
    """Records (problem or None, arrival offsets) in out."""
    try:
        c = PingClient(srv, tls)
        try:
            seen = c.pings(count)
            # still open and answering after the last ping
            c.send(1, b"still here")
            op, payload = c.frame()
            if (op, payload) != (1, b"still here"):
                raise AssertionError("echo after the pings: %r" % ((op, payload),))
            prev, offsets, late = c.t_open, [], []
            for arrived, answered in seen:
                gap = arrived - prev  # the ping follows the last input by ping_ms
                offsets.append(round(gap, 3))
                if abs(gap - ping_ms / 1000) > MARGIN:
                    late.append(round(gap, 3))
                prev = answered
            out.append(("pings %r s apart, want %.1f +- %.2f" % (offsets, ping_ms / 1000, MARGIN)
                        if late else None, offsets))
        finally:
            c.close()
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        out.append(("%s: %s" % (type(e).__name__, e), []))


def sse_run(srv, tls, n, interval_ms, out):
    """GET /sse?n=&interval_ms=: each event interval_ms after the last."""
    try:
        s = connect(srv, tls)
        try:
            s.sendall(b"GET /sse?n=%d&interval_ms=%d HTTP/1.1\r\nHost: t\r\n\r\n"
                      % (n, interval_ms))
            buf, times = b"", []
            t0 = None
            while len(times) < n:
                data = s.recv(65536)
                if not data:
                    raise EOFError("closed after %d events" % len(times))
                now = time.monotonic()
                if t0 is None:
                    t0 = now  # the head (sent with no event) starts the count
                buf += data
                while b"data: event " in buf:
                    buf = buf.split(b"data: event ", 1)[1]
                    times.append(now)
            gaps = [round(b - a, 3) for a, b in zip([t0] + times, times)]
            bad = [g for g in gaps if abs(g - interval_ms / 1000) > MARGIN]
            out.append(("events %r s apart, want %.1f +- %.2f" % (gaps, interval_ms / 1000, MARGIN)
                        if bad else None, gaps))
        finally:
            s.close()
    except Exception as e:  # noqa: BLE001
        out.append(("%s: %s" % (type(e).__name__, e), []))


class TimersTest(unittest.TestCase):
    def run_all(self, env, runs):
        """Starts a server per backend with env, then every (fn, args) of
        runs against each, plaintext and TLS, in parallel; asserts none
        reported a problem."""
        servers, threads, results = [], [], []
        try:
            for b in BACKENDS:
                srv = Server(backend=b, env=dict(tls_env(), **env))
                servers.append(srv)
                for tls in (False, True):
                    for fn, args in runs:
                        out = []
                        results.append(("%s %s %s%r" % (b, "tls" if tls else "plain",
                                                        fn.__name__, args), out))
                        threads.append(threading.Thread(target=fn, args=(srv, tls) + args + (out,)))
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            problems = []
            for what, out in results:
                print("%s: %s" % (what, out[0][1] if out else "no result"))
                if not out:
                    problems.append(what + ": did not finish")
                elif out[0][0]:
                    problems.append(what + ": " + out[0][0])
            self.assertEqual(problems, [])
        finally:
            for srv in servers:
                stop_clean(srv, srv.backend)

    def test_ping_cadence_500ms(self):
        """ping_ms at or under 1 s: fast sent pings a second late and then
        closed with 1001 "no pong" although every ping was answered."""
        self.run_all({"BERTH_WS_PING_MS": "500"}, [(ping_run, (500, 4))])

    def test_ping_cadence_3000ms(self):
        self.run_all({"BERTH_WS_PING_MS": "3000"}, [(ping_run, (3000, 2))])

    def test_stream_timer_cadence(self):
        """Intervals under, near and over a second."""
        self.run_all({}, [(sse_run, (5, 300)), (sse_run, (3, 1300))])


if __name__ == "__main__":
    unittest.main()
