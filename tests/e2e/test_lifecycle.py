"""The connection cap and the graceful stop, on every backend."""
import os
import select
import shutil
import signal
import socket
import subprocess
import time
import unittest

from berthproc import BACKENDS, BUILD, DATASET, Conn, Server, free_port, header

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
            # a freed place is given to the next connection (soon: the bound
            # only ends the wait, on a loaded machine too)
            held.pop().close()
            deadline = time.monotonic() + 30
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

    # Time is the behaviour of the two stop tests: the server exits as soon
    # as its work is done, not at the drain timeout. That timeout is set to
    # DRAIN s, so a stop that waited for it is told apart from a prompt one
    # (about 1 s here) with a margin a loaded machine does not eat.
    DRAIN = 60

    def test_stop_finishes_the_request_in_flight_then_exits_0(self):
        srv = Server("tests/berth-test-server", backend=self.backend,
                     env={"BERTH_THREADS": "1", "BERTH_DRAIN_TIMEOUT_MS": str(self.DRAIN * 1000)})
        c = Conn(srv, timeout=self.DRAIN + 10)
        c.send(GET)  # the connection is accepted and served
        self.assertEqual(c.response()[2], b"ok")
        c.send(b"GET /thread?ms=2000 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.5)  # the request is in its handler (with room on a loaded machine)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        status, headers, body = c.response()
        self.assertEqual((status, body), (200, b"from a thread"))
        self.assertEqual(header(headers, "Connection"), "close")
        self.assertTrue(c.closed())
        self.assertEqual(srv.proc.wait(self.DRAIN + 10), 0)
        self.assertLess(time.monotonic() - t0, self.DRAIN / 2, "the stop waited for the drain timeout")
        with self.assertRaises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        srv.stop()

    def test_stop_closes_idle_keep_alive_connections(self):
        srv = Server("tests/berth-test-server", backend=self.backend,
                     env={"BERTH_THREADS": "1", "BERTH_DRAIN_TIMEOUT_MS": str(self.DRAIN * 1000)})
        c = Conn(srv)
        c.send(GET)
        self.assertEqual(c.response()[2], b"ok")
        time.sleep(0.3)  # idle: past stop_grace_ms (100 ms)
        t0 = time.monotonic()
        self.assertEqual(srv.stop(timeout=self.DRAIN + 10), 0)
        self.assertLess(time.monotonic() - t0, self.DRAIN / 2, "the stop waited for the drain timeout")
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

    # Socket activation as daemons get it: systemd (or systemd-socket-activate,
    # or inetd-like supervisors) passes listening sockets from fd 3 on, with
    # LISTEN_FDS and LISTEN_PID = the server's own pid, and sets nothing else.

    def activated(self, binary, env, listener):
        """Starts binary with listener as fd 3, LISTEN_FDS=1 and LISTEN_PID
        its own pid (sh's $$, kept by exec), as systemd does."""
        fd = listener.fileno()
        full = dict(os.environ, HTTP_BACKEND=self.backend, BERTH_THREADS="2", TLS_PORT="0",
                    BERTH_DATASET=DATASET)
        full.pop("BERTH_LISTEN", None)
        full.update(env)
        move = "" if fd == 3 else "exec 3<&%d %d<&-; " % (fd, fd)
        script = move + 'LISTEN_FDS=1 LISTEN_PID=$$ exec "$0"'
        return subprocess.Popen(["sh", "-c", script, os.path.join(BUILD, binary)], env=full,
                                pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def finish(self, proc):
        """SIGTERM; (exit code, stdout, stderr)."""
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        self.assertNotIn("Sanitizer", err)
        return proc.returncode, out, err

    def ask(self, port):
        c = socket.create_connection(("127.0.0.1", port), timeout=20)
        try:
            c.sendall(b"GET /json/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    return data
                data += chunk
        finally:
            c.close()

    def test_berth_serve_serves_on_systemds_socket_without_berth_listen(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # PORT names another free port: the server must not take it instead
        proc = self.activated("serve/berth-serve", {"PORT": "0"}, listener)
        listener.close()  # the server holds the only copy now
        line = proc.stdout.readline()
        self.assertIn("listeners=http://127.0.0.1:%d" % port, line)
        reply = self.ask(port)
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply[:200])
        self.assertIn(b'"count":2', reply)
        code, out, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        self.assertIn("serving on the 1 socket systemd passed (LISTEN_FDS", err)
        self.assertNotIn("warning", err)

    @unittest.skipUnless(shutil.which("systemd-socket-activate"),
                         "skipped: systemd-socket-activate not found (Debian's systemd package)")
    def test_berth_serve_under_systemd_socket_activate(self):
        port = free_port()
        env = dict(os.environ, HTTP_BACKEND=self.backend, PORT="0", TLS_PORT="0",
                   BERTH_DATASET=DATASET)
        env.pop("BERTH_LISTEN", None)
        keep = ["-E" + k for k in ("HTTP_BACKEND", "PORT", "TLS_PORT", "BERTH_DATASET",
                                   "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS")]
        proc = subprocess.Popen(["systemd-socket-activate", "-l", "127.0.0.1:%d" % port] + keep +
                                [os.path.join(BUILD, "serve", "berth-serve")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while True:  # systemd-socket-activate listens first
                try:
                    reply = self.ask(port)
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline, "nothing listens on %d" % port)
                    time.sleep(0.05)
            self.assertTrue(reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply[:200])
            self.assertIn("listeners=http://127.0.0.1:%d" % port, proc.stdout.readline())
        finally:
            code, out, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        self.assertIn("serving on the 1 socket systemd passed", err)

    def test_ports_configured_while_systemd_passed_sockets_warn(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        try:
            # a library application configured with a port (examples/hello:
            # berth_config.port from PORT), and berth-serve told to use ports
            for binary, env in (("examples/hello", {"PORT": "0"}),
                                ("serve/berth-serve", {"PORT": "0", "BERTH_LISTEN": "127.0.0.1:0"})):
                proc = self.activated(binary, env, listener)
                # the warning comes when the server is made (hello prints
                # nothing else); without it, nothing comes at all
                ready, _, _ = select.select([proc.stderr], [], [], 30)
                first = proc.stderr.readline() if ready else ""
                time.sleep(0.2)  # hello's signal handlers are set after berth_server_new
                code, out, err = self.finish(proc)
                err = first + err
                self.assertIn(code, (0, -signal.SIGTERM), err)
                self.assertIn("systemd passed 1 socket to this process (LISTEN_FDS)", err, binary)
                self.assertIn('set listen = "systemd"', err, binary)
            # LISTEN_PID naming another process: not for this one, no warning
            env = dict(os.environ, HTTP_BACKEND=self.backend, PORT="0", TLS_PORT="0",
                       LISTEN_FDS="1", LISTEN_PID="1")
            env.pop("BERTH_LISTEN", None)
            proc = subprocess.Popen([os.path.join(BUILD, "serve", "berth-serve")], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertIn("listening on http://127.0.0.1:", proc.stdout.readline())
            code, out, err = self.finish(proc)
            self.assertEqual(code, 0, err)
            self.assertNotIn("LISTEN_FDS", err)
        finally:
            listener.close()


for _b in BACKENDS:
    globals()["Lifecycle_" + _b] = type("Lifecycle_" + _b, (LifecycleMixin, unittest.TestCase),
                                        {"backend": _b})

if __name__ == "__main__":
    unittest.main()
