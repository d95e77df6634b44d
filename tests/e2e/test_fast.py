"""The fast backend: a blocking handler does not delay other connections;
what it does beyond its threads and descriptors; and, on every backend,
how a stop cuts an upload at the drain deadline."""
import signal
import socket
import threading
import time
import unittest

from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsSock


class FastBlockingTest(unittest.TestCase):
    def test_sleeping_handler_does_not_delay_another_connection(self):
        srv = Server("tests/berth-test-server", backend="fast:2")
        try:
            done = {}
            slow = Conn(srv)
            fast = Conn(srv)
            start = time.monotonic()

            def run(name, conn, target):
                conn.send(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
                body = conn.response()[2]
                done[name] = (time.monotonic() - start, body)

            t1 = threading.Thread(target=run, args=("slow", slow, b"/sleep?ms=200"))
            t1.start()
            time.sleep(0.02)  # the slow request is in its handler
            t2 = threading.Thread(target=run, args=("fast", fast, b"/pipeline"))
            t2.start()
            t1.join(5)
            t2.join(5)
            self.assertEqual(done["slow"][1], b"slept")
            self.assertEqual(done["fast"][1], b"ok")
            self.assertGreaterEqual(done["slow"][0], 0.2)
            self.assertLess(done["fast"][0], done["slow"][0])
            self.assertLess(done["fast"][0], 0.15)
            # more connections than acceptors and CPUs: each gets a thread
            conns = [Conn(srv) for _ in range(8)]
            start = time.monotonic()
            for c in conns:
                c.send(b"GET /sleep?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n")
            for c in conns:
                self.assertEqual(c.response()[2], b"slept")
            self.assertLess(time.monotonic() - start, 1.2)  # not 8 x 200 ms
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_bad_thread_count_warns_and_uses_default(self):
        for spec in ("fast:0", "fast:-3", "fast:abc", "fast:99999999"):
            srv = Server(backend=spec)
            try:
                self.assertEqual(srv.backend, "fast")
            finally:
                srv.stop()
            self.assertIn("is not a thread count", srv.stderr_text)

    def test_unknown_backend_warns_and_falls_back(self):
        srv = Server(backend="nosuch")
        self.assertEqual(srv.backend, "reactor")
        srv.stop()
        self.assertIn("unknown HTTP_BACKEND 'nosuch'", srv.stderr_text)


class Received(threading.Thread):
    """Reads everything the server sends on conn's socket (raw bytes: a
    TlsSock's are decrypted afterwards, on the caller's thread) until EOF or
    a reset, and notes when the connection ended."""

    def __init__(self, conn):
        super().__init__(daemon=True)
        self.conn, self.raw = conn, getattr(conn, "raw", conn)
        self.data, self.ended = b"", None
        self.start()

    def run(self):
        self.raw.settimeout(30)
        try:
            while True:
                chunk = self.raw.recv(65536)
                if not chunk:
                    break
                self.data += chunk
        except OSError:
            pass
        self.ended = time.monotonic()

    def plaintext(self):
        if self.raw is self.conn:
            return self.data
        self.conn.inc.write(self.data)
        out = b""
        try:
            while True:
                piece = self.conn.obj.read(65536)
                if not piece:
                    break
                out += piece
        except Exception:  # noqa: BLE001 - no more whole records, or an alert
            pass
        return out


class StopCutsUploadTest(unittest.TestCase):
    """A stop while a body is arriving: the connection is cut at the drain
    deadline, as on reactor and libuv; fast answered 408 Request Timeout
    there (its own deadline check fired at the stop's)."""

    DRAIN_MS = 1500

    def cut(self, backend, tls):
        srv = Server("tests/berth-test-server", backend=backend,
                     env={"BERTH_DRAIN_TIMEOUT_MS": str(self.DRAIN_MS),
                          "TLS_CERT": CERT, "TLS_KEY": KEY})
        try:
            if tls:
                conn = TlsSock(srv.tls_port, timeout=10)
            else:
                conn = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            conn.sendall(b"POST /store HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                         % (60 << 20))
            reader = Received(conn)
            sent, stopped = 0, None
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10 and reader.ended is None:
                try:
                    conn.sendall(b"u" * 16384)  # about 3 MB/s: the body lasts 20 s
                    sent += 16384
                except OSError:
                    break
                if stopped is None and time.monotonic() - t0 > 0.5:
                    srv.proc.send_signal(signal.SIGTERM)
                    stopped = time.monotonic()
                time.sleep(0.005)
            reader.join(10)
            ended, got = reader.ended, reader.plaintext()
            self.assertIsNotNone(ended, "the upload was not cut")
            took = ended - stopped
            self.assertEqual(got, b"", "a response to a request cut by the stop")
            self.assertGreater(took, self.DRAIN_MS / 1000 - 0.1)
            self.assertLess(took, self.DRAIN_MS / 1000 + 1.5)
            self.assertGreater(sent, 1 << 20)
            self.assertEqual(srv.proc.wait(10), 0)
        finally:
            srv.stop()

    def test_stop_cuts_an_upload_at_the_drain_deadline(self):
        for backend in BACKENDS:
            for tls in (False, True):
                with self.subTest(backend=backend, tls=tls):
                    self.cut(backend, tls)


if __name__ == "__main__":
    unittest.main()
