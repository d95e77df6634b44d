"""The fast backend: a blocking handler does not delay other connections;
what it does beyond its threads and descriptors; and, on every backend,
how a stop cuts an upload at the drain deadline."""
import os
import resource
import signal
import socket
import threading
import time
import unittest

from berthproc import BACKENDS, BUILD, CERT, FAST_WAKE_PIPES, KEY, Conn, Server, TlsConn, TlsSock, \
    header, linux_only

TEST_SERVER = "tests/berth-test-server"
HEALTH = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"


def fds(pid):
    """Every descriptor process pid holds."""
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    """User + system CPU time of process pid (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nofile(limit):
    """A preexec_fn giving the server a RLIMIT_NOFILE of limit."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


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

            t1 = threading.Thread(target=run, args=("slow", slow, b"/sleep?ms=1000"))
            t1.start()
            time.sleep(0.02)  # the slow request is in its handler
            t2 = threading.Thread(target=run, args=("fast", fast, b"/pipeline"))
            t2.start()
            t1.join(5)
            t2.join(5)
            self.assertEqual(done["slow"][1], b"slept")
            self.assertEqual(done["fast"][1], b"ok")
            self.assertGreaterEqual(done["slow"][0], 1.0)
            self.assertLess(done["fast"][0], done["slow"][0])
            # Blocked behind the sleep it would take 1 s; a loaded CI
            # machine may take a few hundred ms to answer at all.
            self.assertLess(done["fast"][0], 0.7)
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

    @linux_only("LD_PRELOAD of a library into glibc's static TLS, and /proc/PID/maps")
    def test_static_tls_larger_than_the_stack(self):
        """A loaded library's thread-local storage that does not fit in a
        connection thread's 256 KiB stack (wolfSSL built with its assembly
        has 1.4 MB of it): the stacks grow, the log says so once, and every
        connection is answered (before: pthread_create failed silently and
        no connection was ever answered)."""
        lib = os.path.join(BUILD, "tests", "libberth-test-big-tls.so")
        env = {"LD_PRELOAD": lib,
               # a sanitizer runtime must come first; the preload goes before it
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        srv = Server(backend="fast", env=env)
        with open("/proc/%d/maps" % srv.proc.pid) as f:
            tsan = "libtsan" in f.read()
        try:
            for _ in range(3):
                c = Conn(srv)
                c.send(HEALTH)
                status, _, _ = c.response()
                c.close()
                self.assertEqual(status, 200)
        finally:
            srv.stop()
        # ThreadSanitizer's pthread_create makes room for the TLS itself:
        # no stack has to grow there (the answers above are the point)
        self.assertEqual(srv.stderr_text.count("connection threads get stacks of"),
                         0 if tsan else 1, srv.stderr_text[-2000:])

    def test_unknown_backend_warns_and_falls_back(self):
        srv = Server(backend="nosuch")
        self.assertEqual(srv.backend, "reactor")
        srv.stop()
        self.assertIn("unknown HTTP_BACKEND 'nosuch'", srv.stderr_text)


class ServerWithLimit(Server):
    """A Server whose process starts with RLIMIT_NOFILE set to limit."""

    def __init__(self, limit, **kw):
        orig = __import__("subprocess").Popen

        def popen(*a, **k):
            k["preexec_fn"] = nofile(limit)
            return orig(*a, **k)
        import berthproc
        berthproc.subprocess.Popen = popen
        try:
            super().__init__(**kw)
        finally:
            berthproc.subprocess.Popen = orig


class FastDescriptorsTest(unittest.TestCase):
    """One descriptor per fast connection (the socket), none held by idle
    acceptors: each connection thread had an eventfd, and each acceptor
    blocked in accept4 reserved a descriptor slot."""

    @linux_only("/proc/PID/fd to count the server's descriptors")
    def test_one_descriptor_per_connection(self):
        srv = Server(TEST_SERVER, backend="fast:4", env={"TLS_CERT": CERT, "TLS_KEY": KEY})
        conns = []
        try:
            time.sleep(0.2)  # the acceptors are waiting
            base = fds(srv.proc.pid)
            for i in range(10):  # keep-alive connections, idle after a request
                c = TlsConn(srv) if i % 2 else Conn(srv)
                c.send(HEALTH)
                self.assertEqual(c.response()[0], 200)
                conns.append(c)
            for i in range(10):  # streams waiting for their timer (stream work waits)
                c = TlsConn(srv) if i % 2 else Conn(srv)
                c.send(b"GET /sse?n=2&interval_ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n")
                self.assertEqual(c.response(head_only=True)[0], 200)
                conns.append(c)
            held = fds(srv.proc.pid)
            print("\nfast:4 plain+TLS: %d descriptors idle, %d with 20 connections"
                  % (base, held))
            # Without ppoll each connection thread has a wake pipe too.
            per = 3 if FAST_WAKE_PIPES else 1
            self.assertEqual(held - base, 20 * per, "descriptors per connection")
        finally:
            for c in conns:
                c.close()
            self.assertEqual(srv.stop(), 0)

    def test_tls_at_64_descriptors(self):
        """fast:16 with plain and TLS listeners (32 acceptors) under
        `ulimit -n 64`: every TLS request failed, idle."""
        srv = ServerWithLimit(64, binary=TEST_SERVER, backend="fast:16",
                              env={"TLS_CERT": CERT, "TLS_KEY": KEY})
        try:
            for _ in range(3):
                c = TlsConn(srv)
                c.send(HEALTH)
                self.assertEqual(c.response()[0], 200)
                c.close()
        finally:
            self.assertEqual(srv.stop(), 0)


class FastOutOfDescriptorsTest(unittest.TestCase):
    """Out of descriptors (EMFILE), acceptors pause rather than spin, and
    every waiting client is served once descriptors free."""

    @linux_only("/proc/PID/stat for the server's CPU time")
    def test_accept_emfile(self):
        limit = 48
        srv = ServerWithLimit(limit, binary=TEST_SERVER, backend="fast:1")
        held, waiting = [], []
        try:
            # Keep-alive connections until the server runs out of descriptors.
            while len(held) < limit:
                c = Conn(srv, timeout=1.0)
                c.send(HEALTH)
                try:
                    status = c.response()[0]
                except socket.timeout:
                    waiting.append(c)  # in the backlog: the server is out
                    break
                if FAST_WAKE_PIPES and status == 503:
                    # No descriptor left for the thread's wake pipe: the
                    # server says so (503) and closes; the next ones wait.
                    c.close()
                    continue
                self.assertEqual(status, 200)
                held.append(c)
            self.assertTrue(waiting, "the server never ran out at %d descriptors" % limit)
            for _ in range(10):  # more clients waiting in the backlog
                c = Conn(srv, timeout=10)
                c.send(HEALTH)
                waiting.append(c)
            time.sleep(0.5)
            cpu0 = cpu_seconds(srv.proc.pid)
            time.sleep(2.0)
            spent = cpu_seconds(srv.proc.pid) - cpu0
            print("\nfast at RLIMIT_NOFILE %d: %d connections held, %d waiting; "
                  "server CPU %.3f s in 2 s while out of descriptors"
                  % (limit, len(held), len(waiting), spent))
            self.assertLess(spent, 0.1, "CPU while out of descriptors")
            for c in held:  # descriptors free
                c.close()
            for c in waiting:
                c.sock.settimeout(10)
                r = c.response()
                self.assertIsNotNone(r, "a waiting client was closed unanswered")
                # With wake pipes, descriptors freed one by one can let a
                # connection in with none left for its thread's pipe: 503.
                self.assertIn(r[0], (200, 503) if FAST_WAKE_PIPES else (200,))
        finally:
            for c in held + waiting:
                c.close()
            self.assertEqual(srv.stop(), 0)


class FastThreadBudgetTest(unittest.TestCase):
    """max_threads (BERTH_MAX_THREADS): connections beyond it wait for a
    thread up to 1 s, then get 503; none is closed unanswered."""

    def test_beyond_the_threads_503_after_a_wait(self):
        srv = Server(TEST_SERVER, backend="fast:2", env={"BERTH_MAX_THREADS": "4"})
        conns = []
        try:
            for _ in range(4):  # the four threads, held by idle keep-alive connections
                c = Conn(srv)
                c.send(HEALTH)
                self.assertEqual(c.response()[0], 200)
                conns.append(c)
            extra = []
            t0 = time.monotonic()
            for _ in range(12):
                c = Conn(srv, timeout=10)
                c.send(HEALTH)
                extra.append(c)
            for c in extra:
                r = c.response()
                self.assertIsNotNone(r, "closed unanswered")
                self.assertEqual(r[0], 503)
                self.assertEqual(header(r[1], "Connection"), "close")
                self.assertTrue(c.closed())
            took = time.monotonic() - t0
            self.assertGreater(took, 0.9)  # they waited for a thread first
            self.assertLess(took, 5)
            # A thread that frees within the wait serves the next one normally.
            waiting = Conn(srv, timeout=10)
            waiting.send(HEALTH)
            time.sleep(0.3)
            conns.pop().close()
            r = waiting.response()
            self.assertEqual(r[0], 200)
            conns.append(waiting)
            for c in conns:  # the held ones still work
                c.send(HEALTH)
                self.assertEqual(c.response()[0], 200)
        finally:
            for c in conns:
                c.close()
            self.assertEqual(srv.stop(), 0)

    def test_many_short_connections_all_served(self):
        """64 clients at once on 4 threads, each one request and gone: all
        200 (they wait their turn in the queue, well under a second)."""
        srv = Server(TEST_SERVER, backend="fast:2", env={"BERTH_MAX_THREADS": "4"})
        try:
            results = []

            def client():
                c = Conn(srv, timeout=10)
                c.send(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                r = c.response()
                results.append(r[0] if r else None)
                c.close()
            ts = [threading.Thread(target=client) for _ in range(64)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(20)
            self.assertEqual(results, [200] * 64)
        finally:
            self.assertEqual(srv.stop(), 0)


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
