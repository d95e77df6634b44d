"""Deferred and streamed responses, on every backend, plaintext and TLS."""
import json
import socket
import threading
import time
import unittest

from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsConn, header, stop_clean


def get(conn, target):
    conn.send(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    return conn.response()


class StreamsMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "BERTH_MAX_STREAM_BUFFER": "262144"})

    @classmethod
    def tearDownClass(cls):
        cls.exit_code = cls.srv.stop()

    def test_deferred_response_from_another_thread_arrives(self):
        c = Conn(self.srv)
        status, headers, body = get(c, b"/thread?ms=30")
        self.assertEqual((status, body), (200, b"from a thread"))
        # the connection is still usable, in order
        status, _, body = get(c, b"/pipeline")
        self.assertEqual(body, b"ok")
        c.close()

    def test_pipelined_request_after_deferred_keeps_order(self):
        c = Conn(self.srv)
        c.send(b"GET /thread?ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(c.response()[2], b"from a thread")
        self.assertEqual(c.response()[2], b"ok")
        c.close()

    def test_sse_events_arrive_in_order(self):
        c = Conn(self.srv)
        status, headers, body = get(c, b"/sse?n=4&interval_ms=10")
        self.assertEqual(status, 200)
        self.assertEqual(header(headers, "Content-Type"), "text/event-stream")
        self.assertEqual(header(headers, "Transfer-Encoding"), "chunked")
        events = [e for e in body.decode().split("\n\n") if e]
        self.assertEqual(len(events), 4)
        for i, e in enumerate(events):
            self.assertEqual(e, "event: tick\nid: %d\ndata: event %d of 4" % (i, i + 1))
        c.close()

    def test_chunks_arrive_as_written_and_in_order(self):
        c = Conn(self.srv)
        status, headers, body = get(c, b"/produce?n=40&bytes=1000")
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 40000)
        for i in range(40):
            self.assertEqual(body[i * 1000:(i + 1) * 1000], bytes([97 + i % 26]) * 1000)
        c.close()

    def test_client_disconnect_is_reported_to_handler(self):
        before = self.stats()["closes"]
        c = Conn(self.srv)
        c.send(b"GET /watch HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"watching" not in data:
            data += c.sock.recv(4096)
        c.close()
        deadline = time.time() + 3
        while time.time() < deadline and self.stats()["closes"] == before:
            time.sleep(0.02)
        self.assertEqual(self.stats()["closes"], before + 1)

    def test_slow_reader_does_not_grow_server_buffer(self):
        # 16 MiB produced for a reader that reads slowly; the producer waits
        # on berth_stream_wait and the server never holds much more than
        # its 256 KiB stream limit.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect(("127.0.0.1", self.srv.port))
        s.sendall(b"GET /produce?n=256&bytes=65536 HTTP/1.1\r\nHost: t\r\n\r\n")
        got = 0
        s.settimeout(10)
        time.sleep(0.3)  # let the producer run into the limit
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += len(chunk)
            if b"0\r\n\r\n" in chunk[-5:]:
                break
            if got < 4 << 20:
                time.sleep(0.001)
        s.close()
        self.assertGreater(got, 16 << 20)
        self.assertLessEqual(self.stats()["max_buffered"], 262144 + 65536 + 64)

    def stats(self):
        c = Conn(self.srv)
        status, _, body = get(c, b"/stats")
        c.close()
        return json.loads(body)


class TlsStreamsMixin:
    """The same over TLS. fast waits for stream work only while its pipe
    says the connection awaits its application (pipe.h, awaits_app): the
    TLS layer must pass the engine's answer up, or fast blocks in a read
    and the deferred response never leaves."""
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "test server")

    def test_deferred_response_from_another_thread_arrives(self):
        c = TlsConn(self.srv)
        self.assertEqual(get(c, b"/thread?ms=30")[::2], (200, b"from a thread"))
        self.assertEqual(get(c, b"/pipeline")[2], b"ok")  # kept alive, in order
        c.send(b"GET /thread?ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(c.response()[2], b"from a thread")
        self.assertEqual(c.response()[2], b"ok")
        c.close()

    def test_stream_from_another_thread_arrives_in_order(self):
        c = TlsConn(self.srv)
        status, headers, body = get(c, b"/produce?n=40&bytes=1000")
        self.assertEqual((status, header(headers, "Transfer-Encoding")), (200, "chunked"))
        self.assertEqual(body, b"".join(bytes([97 + i % 26]) * 1000 for i in range(40)))
        c.close()

    def test_sse_from_timers_arrives(self):
        c = TlsConn(self.srv)
        status, _, body = get(c, b"/sse?n=3&interval_ms=10")
        self.assertEqual(status, 200)
        self.assertEqual(len([e for e in body.decode().split("\n\n") if e]), 3)
        c.close()


class HoldMixin:
    """A handler that blocks while it streams (fast only: an event loop's
    handler must not block). Each stream call's output leaves before the
    call returns (the transport's flush, core/transport.h): the client
    reads the first write while the handler still blocks, and only then
    releases it from another connection."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend="fast",
                         env={"TLS_CERT": CERT, "TLS_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "test server")

    def hold(self, c, recv):
        c.send(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"first\n" not in data:  # the handler holds for 5 s: this times out at 3
            chunk = recv(65536)
            self.assertTrue(chunk, "closed before the first write")
            data += chunk
        self.assertNotIn(b"second", data)
        r = Conn(self.srv)
        self.assertEqual(get(r, b"/release")[2], b"released")
        r.close()
        while not data.endswith(b"0\r\n\r\n"):
            chunk = recv(65536)
            self.assertTrue(chunk, "closed before the end")
            data += chunk
        self.assertIn(b"second\n", data)
        self.assertEqual(get(c, b"/pipeline")[2], b"ok")  # kept alive
        c.close()

    def test_plaintext(self):
        c = Conn(self.srv, timeout=3)
        self.hold(c, c.sock.recv)

    def test_tls(self):
        c = TlsConn(self.srv, timeout=3)
        self.hold(c, c.sock.recv)


for _b in BACKENDS:
    globals()["Streams_" + _b] = type("Streams_" + _b, (StreamsMixin, unittest.TestCase),
                                     {"backend": _b})
    globals()["TlsStreams_" + _b] = type("TlsStreams_" + _b, (TlsStreamsMixin, unittest.TestCase),
                                        {"backend": _b})
if "fast" in BACKENDS:
    Hold_fast = type("Hold_fast", (HoldMixin, unittest.TestCase), {})

if __name__ == "__main__":
    unittest.main()
