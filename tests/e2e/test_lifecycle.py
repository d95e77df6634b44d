"""The connection cap and the graceful stop, on every backend."""
import os
import signal
import socket
import subprocess
import time
import unittest

from berthproc import BACKENDS, BUILD, Conn, Server, header

GET = b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n"


class LifecycleMixin:
    backend = None

    def test_connection_over_the_cap_gets_503_and_a_close(self):
        srv = Server("tests/berth-test-server", backend=self.backend,
                     env={"BERTH_THREADS": "1", "BERTH_MAX_CONNECTIONS": "4"})
        try:
            held = [Conn(srv) for _ in range(4)]
            for c in held:  # each admitted and served
                c.send(GET)
                self.assertEqual(c.response()[2], b"ok")
            extra = Conn(srv)
            extra.send(GET)
            status, headers, body = extra.response()
            self.assertEqual(status, 503)
            self.assertEqual(header(headers, "Connection"), "close")
            self.assertTrue(extra.closed())
            # a freed place is given to the next connection
            held.pop().close()
            deadline = time.monotonic() + 3
            while True:
                c = Conn(srv)
                c.send(GET)
                r = c.response()
                c.close()
                if r and r[0] == 200:
                    break
                self.assertLess(time.monotonic(), deadline, "the freed place was not reused")
                time.sleep(0.05)
            for c in held:  # the admitted ones were never disturbed
                c.send(GET)
                self.assertEqual(c.response()[2], b"ok")
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_stop_finishes_the_request_in_flight_then_exits_0(self):
        srv = Server("tests/berth-test-server", backend=self.backend, env={"BERTH_THREADS": "1"})
        c = Conn(srv, timeout=10)
        c.send(b"GET /thread?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)  # the request is in its handler (with room on a loaded machine)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        status, headers, body = c.response()
        self.assertEqual((status, body), (200, b"from a thread"))
        self.assertEqual(header(headers, "Connection"), "close")
        self.assertTrue(c.closed())
        self.assertEqual(srv.proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 5)
        with self.assertRaises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        srv.stop()

    def test_stop_closes_idle_keep_alive_connections(self):
        srv = Server(backend=self.backend, env={"BERTH_THREADS": "1"})
        c = Conn(srv)
        c.send(GET)
        self.assertEqual(c.response()[2], b"ok")
        t0 = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - t0, 3)
        self.assertTrue(c.closed())


    def start_fails(self, port, env=None):
        """Starts berth-serve on a port that is taken: (exit code, stderr)."""
        full = dict(os.environ, PORT=str(port), TLS_PORT="0", HTTP_BACKEND=self.backend,
                    BERTH_THREADS="2")
        full.update(env or {})
        p = subprocess.run([os.path.join(BUILD, "serve/berth-serve")], env=full,
                           capture_output=True, text=True, timeout=10)
        return p.returncode, p.stdout, p.stderr

    def test_port_held_by_another_berth_is_an_error(self):
        srv = Server(backend=self.backend, env={"BERTH_THREADS": "2"})
        try:
            code, out, err = self.start_fails(srv.port)
            self.assertEqual(code, 1)
            self.assertNotIn("listening", out)
            self.assertIn("cannot listen on", err)
            self.assertIn("Address already in use", err)
            c = Conn(srv)  # the first server is unharmed
            c.send(GET)
            self.assertEqual(c.response()[2], b"ok")
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_port_held_by_a_reuseport_socket_is_an_error(self):
        for reuseport in (1, 0):
            holder = socket.socket()
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, reuseport)
            holder.bind(("0.0.0.0", 0))
            holder.listen()
            try:
                code, out, err = self.start_fails(holder.getsockname()[1])
                self.assertEqual(code, 1, "started beside a socket with SO_REUSEPORT=%d" % reuseport)
                self.assertIn("Address already in use", err)
            finally:
                holder.close()

    def test_without_reuseport_workers_share_one_listener(self):
        srv = Server(backend=self.backend, env={"BERTH_THREADS": "2", "BERTH_REUSEPORT": "0"})
        try:
            conns = [Conn(srv) for _ in range(8)]
            for c in conns:
                c.send(GET)
            for c in conns:
                self.assertEqual(c.response()[2], b"ok")
            code, out, err = self.start_fails(srv.port, {"BERTH_REUSEPORT": "0"})
            self.assertEqual(code, 1)
            self.assertIn("Address already in use", err)
        finally:
            self.assertEqual(srv.stop(), 0)


for _b in BACKENDS:
    globals()["Lifecycle_" + _b] = type("Lifecycle_" + _b, (LifecycleMixin, unittest.TestCase),
                                        {"backend": _b})

if __name__ == "__main__":
    unittest.main()
