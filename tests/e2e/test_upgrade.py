"""Zero-downtime binary upgrade (berth-serve's SIGUSR2, handlers/upgrade.c;
berth_server_listen_fds and berth_notify): under load (bench-load:
keep-alive and a new connection per request, plaintext and TLS), five
upgrades in a row, each a new process on the very same sockets that says
READY=1 before the old one drains and exits 0: not one failed request,
not one connection error, on every backend. And a new process that dies
before it is ready leaves the old one serving, which says why."""
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
import unittest
import urllib.request

from berthproc import BACKENDS, CA, CERT, KEY, skip_unless_linux
import fleet


def get(port, path="/health"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return r.status, r.read()


class UpgradeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fleet.become_subreaper()
        cls.scale = fleet.sanitizer_scale()
        cls.tls = fleet.bench_load_tls()
        if not cls.tls:
            print("upgrades under TLS load: skipped: bench-load was built without TLS "
                  "(libssl-dev, in scripts/deps.sh test); plaintext load only")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-upgrade-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def serve(self, backend, env=None):
        # A keep-alive connection idle past stop_grace_ms as the old process
        # drains is closed (FIN): a request its client sent just then sees
        # the close (RFC 9112 9.3.1: clients retry; bench-load counts it).
        # The default 100 ms is short of how long a client starves on two
        # CPUs shared with four load generators, two servers and a CI.
        e = {"PORT": "0", "TLS_PORT": "0", "TLS_CERT": CERT, "TLS_KEY": KEY,
             "BERTH_STOP_GRACE_MS": "1000"}
        e.update(env or {})
        srv = fleet.Serve(self.tmp, backend, backend, e)
        self.addCleanup(lambda: fleet.alive(srv.pid) and srv.stop())
        return srv

    def upgrade(self, srv):
        """SIGUSR2 to srv's process; waits for its successor to be ready
        and for the old one to exit 0. srv then names the new process."""
        old = srv.pid
        pat = re.compile(r"upgrade: pid (\d+) is ready; this process \(pid %d\)" % old)
        srv.signal(signal.SIGUSR2)
        srv.wait_output(srv.err_path, pat.search, 30 * self.scale, "pid %d's successor" % old)
        new = int(pat.search(srv.stderr()).group(1))
        code = fleet.wait_pid(old, 30 * self.scale)
        self.assertEqual(code, 0, "the old process (pid %d) exited %r:\n%s" %
                         (old, code, srv.stderr()[-3000:]))
        srv.pid = new
        # the same sockets: one of them is still in the new process's table
        return new

    def test_five_upgrades_under_load(self):
        if not os.path.exists(fleet.BENCH_LOAD):
            self.skipTest("skipped: no bench-load (build with -Dbench=enabled on Linux)")
        # The load covers the upgrades (each well under a second; 3x under
        # a sanitizer) and a little before and after.
        seconds = 4 * self.scale
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                srv = self.serve(backend)
                first = srv.pid
                loads = [fleet.Load(srv.port, seconds, 4, tmp=self.tmp),
                         fleet.Load(srv.port, seconds, 2, new_each=1, tmp=self.tmp)]
                if self.tls:
                    loads += [fleet.Load(srv.tls_port, seconds, 2, tls=True, tmp=self.tmp),
                              fleet.Load(srv.tls_port, seconds, 2, tls=True, new_each=1,
                                         tmp=self.tmp)]
                time.sleep(0.3 * self.scale)
                t0 = time.monotonic()
                pids = [first]
                for _ in range(5):
                    pids.append(self.upgrade(srv))
                    time.sleep(0.1 * self.scale)
                took = time.monotonic() - t0
                results = [(l.what,) + l.result() for l in loads]
                print("%s: 5 upgrades in %.2f s (pids %s); %s" % (
                    backend, took, " ".join(map(str, pids)),
                    "; ".join("%s: %d requests, %d connections, errors %s" % (w, n, c, e)
                              for w, n, e, c in results)))
                self.assertLess(took, seconds - 0.3 * self.scale,
                                "the upgrades outlasted the load: it measured too little")
                for what, requests, errors, _ in results:
                    self.assertGreater(requests, 0, what)
                    self.assertEqual(sum(errors.values()), 0,
                                     "%s: failed requests or connection errors: %s" %
                                     (what, errors))
                self.assertEqual(len(set(pids)), 6)
                # the last process serves, then stops cleanly
                self.assertEqual(get(srv.port)[0], 200)
                self.assertEqual(srv.stop(), 0)
                srv.check_sanitizers()
                self.assertEqual(srv.stderr().count("is ready; this process"), 5)

    def test_new_process_that_dies_leaves_the_old_serving(self):
        backend = BACKENDS[0]
        static = os.path.join(self.tmp, "static")
        os.mkdir(static)
        # The new process reads the same environment: with the directory
        # gone it fails at its start (BERTH_STATIC_DIR must exist).
        srv = self.serve(backend, {"BERTH_STATIC_DIR": static})
        old = srv.pid
        os.rmdir(static)
        srv.signal(signal.SIGUSR2)
        srv.wait_output(srv.err_path, lambda t: "before it was ready" in t, 30 * self.scale,
                        "the failed upgrade's message")
        self.assertRegex(srv.stderr(), r"the new process \(pid \d+\) exited with status 1 before "
                         r"it was ready; this one goes on serving")
        self.assertTrue(fleet.alive(old))
        self.assertEqual(get(srv.port), (200, b"ok"))
        # and a later upgrade, with the directory back, succeeds
        os.mkdir(static)
        new = self.upgrade(srv)
        self.assertNotEqual(new, old)
        self.assertEqual(get(srv.port), (200, b"ok"))
        self.assertEqual(srv.stop(), 0)
        srv.check_sanitizers()

    def test_listeners_keep_their_options(self):
        """A listen list of a plain port, a TLS port and a Unix socket comes
        back the same in the new process, on the same sockets (the socket
        file stays: the old process leaves it to the new one, which, as
        with systemd's sockets, leaves it for the next start to replace)."""
        backend = BACKENDS[0]
        path = os.path.join(self.tmp, "s.sock")
        srv = self.serve(backend, {"BERTH_LISTEN": "127.0.0.1:0, 127.0.0.1:0 tls, unix:" + path})
        first = Serve_line(srv)
        self.upgrade(srv)
        srv.wait_output(srv.out_path, lambda t: t.count("listening on") == 2, 10, "the new line")
        second = Serve_line(srv)
        self.assertEqual(first, second)
        self.assertTrue(os.path.exists(path))
        u = socket.socket(socket.AF_UNIX)
        u.settimeout(5)
        u.connect(path)
        u.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = u.recv(4096)
            if not b:
                break
            data += b
        u.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
        self.assertEqual(srv.stop(), 0)
        srv.check_sanitizers()


class StopBeforeFirstRequestTest(unittest.TestCase):
    """What an upgrade's old process meets as it stops: connections it
    accepted whose first request has not come yet. A TLS client still to
    send its ClientHello, and a PROXY client still to send its header, are
    answered (Connection: close) if they go on within stop_grace_ms of the
    stop, not reset; one that stays silent is closed at the grace's end,
    not held until the handshake or header timeout (10 s)."""

    @classmethod
    def setUpClass(cls):
        fleet.become_subreaper()
        cls.scale = fleet.sanitizer_scale()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-stop-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def run_case(self, backend, listen, first):
        srv = fleet.Serve(self.tmp, backend, backend, {
            "BERTH_LISTEN": listen, "TLS_CERT": CERT, "TLS_KEY": KEY,
            "BERTH_STOP_GRACE_MS": str(500 * self.scale)})
        self.addCleanup(lambda: fleet.alive(srv.pid) and srv.stop())
        port = srv.tls_port or srv.port
        busy = socket.create_connection(("127.0.0.1", port), timeout=10)
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        time.sleep(0.2 * self.scale)  # accepted by now (the server is idle)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        time.sleep(0.05)
        head = first(busy)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:200])
        self.assertIn(b"connection: close", head.lower())
        code = fleet.wait_pid(srv.pid, 20 * self.scale)
        took = time.monotonic() - t0
        self.assertEqual(code, 0, srv.stderr()[-2000:])
        # the silent one was closed at the grace's end (0.5 s), long before
        # its handshake or header timeout (10 s)
        self.assertLess(took, 5 * self.scale)
        silent.settimeout(1)
        try:
            self.assertEqual(silent.recv(100), b"")
        except ConnectionResetError:
            self.fail("the silent connection was reset, not closed")
        busy.close()
        silent.close()
        srv.check_sanitizers()

    def test_tls_handshake_after_the_stop(self):
        ctx = ssl.create_default_context(cafile=CA)
        ctx.set_alpn_protocols(["http/1.1"])

        def first(sock):
            t = ctx.wrap_socket(sock, server_hostname="localhost")
            t.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = read_head(t)
            t.close()
            return head
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.run_case(backend, "127.0.0.1:0 tls", first)

    def test_proxy_header_after_the_stop(self):
        # PROXY v2, TCP over IPv4, 198.51.100.7:4242 -> 127.0.0.1:80
        header = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11, 0, 12]) +
                  bytes([198, 51, 100, 7, 127, 0, 0, 1]) + (4242).to_bytes(2, "big") +
                  (80).to_bytes(2, "big"))

        def first(sock):
            sock.sendall(header + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            return read_head(sock)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.run_case(backend, "127.0.0.1:0 proxy", first)


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        b = sock.recv(4096)
        if not b:
            break
        data += b
    return data


def Serve_line(srv):
    """The listeners of srv's latest start line."""
    line = [l for l in srv.text(srv.out_path).splitlines() if "listening on" in l][-1]
    return re.search(r"listeners=(\S+)", line).group(1)


if __name__ == "__main__":
    skip_unless_linux("/proc/self/exe and PR_SET_CHILD_SUBREAPER")
    unittest.main(verbosity=2)
