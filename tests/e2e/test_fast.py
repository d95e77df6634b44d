"""The fast backend: a blocking handler does not delay other connections."""
import threading
import time
import unittest

from berthproc import Conn, Server


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


if __name__ == "__main__":
    unittest.main()
