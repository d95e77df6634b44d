"""What a server does to its process (issue 22): signals, the environment,
the log. tests/unit/test-effects.c checks the same in-process.

Signals: the test server sets nothing about SIGPIPE, so SIGPIPE keeps its default action (terminate), and
clients that leave in the middle of large bodies must not end the process,
on every backend, plaintext and TLS (records in userspace: no kernel TLS).

File bodies go out with sendfile(2), which has no MSG_NOSIGNAL: a sendfile
to a socket whose peer has reset raises SIGPIPE. Memory bodies go out with
send/sendmsg and MSG_NOSIGNAL. berth blocks SIGPIPE in the threads it
starts and takes the signal a failed sendfile left pending, so:
  - the process's dispositions are untouched: SIGPIPE neither ignored nor
    caught, and the application's own thread does not block it;
  - the server survives the clients below and serves the next one;
  - no thread is left with a SIGPIPE pending (a handler that unblocked it
    later would be killed by a stale signal).
SIGURG: fast installs its empty wake-up handler while a fast server runs
(only where the application left SIGURG at its default; README, Stopping);
the other backends leave it alone.

Log: with berth_config.log set, every message berth says goes there, also
those said on the workers' threads (which once went to stderr: the log was
a thread-local set only inside berth_server_new and _start), and nothing
reaches stderr.

Environment: the library reads HTTP_BACKEND (not under CGI, where it is a
client's Backend header) and, for listen = "systemd", systemd's LISTEN_*;
BERTH_THREADS and BERTH_KTLS are berth-serve's."""
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from berthproc import BACKENDS, BUILD, CERT, DATASET, KEY, ROOT, Conn, Server, TlsConn, TlsSock, \
    linux_only, stop_clean

SIGPIPE_BIT = 1 << (13 - 1)
SIGURG_BIT = 1 << (23 - 1)
ROUNDS = 12


def status_masks(path):
    """{field: int} of the Sig*/ShdPnd lines of a /proc status file."""
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"):
                out[k] = int(v.strip(), 16)
    return out


class SignalsMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="berth-signals-")
        cls.addClassCleanup(shutil.rmtree, cls.dir)
        cls.big = os.path.join(cls.dir, "big.bin")
        with open(cls.big, "wb") as f:
            f.truncate(64 << 20)  # sparse: cheap to make, 64 MiB to send

    def setUp(self):
        # A server per test: one killed by a signal fails only its own test.
        self.srv = Server("tests/berth-test-server", backend=self.backend,
                          env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})
        self.addCleanup(stop_clean, self.srv, "signals (%s)" % self.backend)

    def target(self, route):
        return "/%s?%s" % (route, urllib.parse.urlencode({"path": self.big}))

    def request(self, route):
        return b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % self.target(route).encode()

    def alive(self, what):
        """The server still runs and answers a new client."""
        time.sleep(0.2)  # let the workers meet the resets
        self.assertIsNone(self.srv.proc.poll(), "%s: the server died (%r)" % (
            what, self.srv.proc.returncode))
        c = Conn(self.srv)
        self.addCleanup(c.close)
        c.send(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(c.response()[0], 200, what)

    def leave(self, make, route, how):
        """ROUNDS clients ask for 64 MiB and go: 'fin' closes at once (the
        server writes into a socket whose peer then resets: EPIPE), 'rst'
        reads a little and resets (SO_LINGER 0)."""
        for _ in range(ROUNDS):
            s = make()
            s.sendall(self.request(route))
            raw = s.raw if isinstance(s, TlsSock) else s
            if how == "rst":
                s.recv(16384)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
        self.alive("%s %s clients on /%s" % (ROUNDS, how, route))

    def plain(self):
        s = self.srv.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        return s

    def tls(self):
        return TlsSock(self.srv.tls_port)

    @linux_only("/proc/PID/status for the signal masks")
    def test_dispositions_untouched(self):
        m = status_masks("/proc/%d/status" % self.srv.proc.pid)
        self.assertFalse(m["SigIgn"] & SIGPIPE_BIT, "SIGPIPE ignored for the whole process")
        self.assertFalse(m["SigCgt"] & SIGPIPE_BIT, "a SIGPIPE handler installed")
        self.assertFalse(m["SigBlk"] & SIGPIPE_BIT, "SIGPIPE blocked in the application's thread")
        if self.backend == "fast":
            self.assertTrue(m["SigCgt"] & SIGURG_BIT, "fast's SIGURG handler (README, Stopping)")
        else:
            self.assertFalse(m["SigCgt"] & SIGURG_BIT, "a SIGURG handler outside fast")

    def test_file_bodies_to_clients_that_leave(self):  # sendfile
        self.leave(self.plain, "file", "fin")
        self.leave(self.plain, "file", "rst")

    def test_memory_bodies_to_clients_that_leave(self):  # send with MSG_NOSIGNAL
        self.leave(self.plain, "mapped", "fin")
        self.leave(self.plain, "mapped", "rst")

    def test_tls_bodies_to_clients_that_leave(self):  # records in userspace
        for route in ("file", "mapped"):
            self.leave(self.tls, route, "fin")
            self.leave(self.tls, route, "rst")

    @linux_only("/proc/PID/task/*/status for pending signals")
    def test_no_sigpipe_left_pending(self):
        self.leave(self.plain, "file", "fin")
        pid = self.srv.proc.pid
        self.assertFalse(status_masks("/proc/%d/status" % pid)["ShdPnd"] & SIGPIPE_BIT)
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                m = status_masks("/proc/%d/task/%s/status" % (pid, tid))
            except FileNotFoundError:
                continue  # a thread that just ended
            self.assertFalse(m["SigPnd"] & SIGPIPE_BIT, "thread %s has a SIGPIPE pending" % tid)


class LogMixin:
    backend = None

    def start(self, **env):
        d = tempfile.mkdtemp(prefix="berth-log-")
        self.addCleanup(shutil.rmtree, d)
        self.log = os.path.join(d, "berth.log")
        env.setdefault("BERTH_TEST_LOG", self.log)
        return Server("tests/berth-test-server", backend=self.backend,
                      env=dict({"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY}, **env))

    def said(self):
        with open(self.log) as f:
            return f.read()

    def test_worker_threads_messages_reach_the_log(self):
        srv = self.start()
        c = TlsConn(srv)  # TLS 1.3: the hand-over to kernel TLS, on a worker thread
        self.addCleanup(c.close)
        c.send(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(c.response()[0], 200)
        c.close()
        stop_clean(srv, "log (%s)" % self.backend)
        self.assertRegex(self.said(), r"berth: kernel TLS (engaged|unavailable)")
        self.assertEqual(srv.stderr_text, "")

    def test_config_and_listener_messages_reach_the_log(self):
        # A warning while the server is made (the backend), then a port
        # that another socket holds: the start fails, said on the log.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        self.addCleanup(s.close)
        d = tempfile.mkdtemp(prefix="berth-log-")
        self.addCleanup(shutil.rmtree, d)
        log = os.path.join(d, "berth.log")
        env = dict(os.environ, PORT=str(s.getsockname()[1]), TLS_PORT="off",
                   HTTP_BACKEND=self.backend + ":nope", BERTH_TEST_LOG=log, BERTH_DATASET=DATASET)
        p = subprocess.run([os.path.join(BUILD, "tests/berth-test-server")], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "")
        with open(log) as f:
            said = f.read()
        self.assertIn("berth: warning: HTTP_BACKEND=%s:nope" % self.backend, said)
        self.assertIn("cannot listen on 0.0.0.0:%d" % s.getsockname()[1], said)


class EnvironmentTest(unittest.TestCase):
    def test_http_backend_is_ignored_under_cgi(self):
        srv = Server(backend="fast", env={"REQUEST_METHOD": "GET"})
        self.assertEqual(srv.backend, "reactor")
        stop_clean(srv, "cgi")
        self.assertIn("HTTP_BACKEND='fast' ignored: REQUEST_METHOD is set", srv.stderr_text)

    def test_berth_serve_reads_berth_threads_and_berth_ktls(self):
        srv = Server(env={"BERTH_THREADS": "1"})
        self.assertIn("threads=1 ", srv.first_line)
        stop_clean(srv, "threads")
        srv = Server(env={"BERTH_THREADS": "many"})
        stop_clean(srv, "bad threads")
        self.assertIn("berth-serve: warning: BERTH_THREADS='many'", srv.stderr_text)
        for ktls, said in (("off", False), ("", True)):
            srv = Server(env={"BERTH_KTLS": ktls, "TLS_CERT": CERT, "TLS_KEY": KEY})
            c = TlsConn(srv)
            c.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(c.response()[0], 200)
            c.close()
            stop_clean(srv, "ktls")
            self.assertEqual("kernel TLS" in srv.stderr_text, said, srv.stderr_text)

    def test_library_sources(self):
        """The library's own code: no SIGPIPE disposition set, getenv only
        of the variables berth.h lists, and in core/ no <ctype.h> nor
        strcasecmp (their classes and case follow the locale)."""
        allowed = {"HTTP_BACKEND", "REQUEST_METHOD", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
                   "NOTIFY_SOCKET"}
        for d in ("core", "backends", os.path.join("handlers", "static")):
            for name in sorted(os.listdir(os.path.join(ROOT, d))):
                if not name.endswith((".c", ".h")):
                    continue
                with open(os.path.join(ROOT, d, name)) as f:
                    text = f.read()
                where = os.path.join(d, name)
                self.assertIsNone(re.search(r"\b(signal|sigaction)\s*\(\s*SIGPIPE", text), where)
                for var in re.findall(r"getenv\(\s*\"([^\"]*)\"", text):
                    self.assertIn(var, allowed, where)
                self.assertNotRegex(text, r"getenv\(\s*[^\"\s]", where)
                if d == "core":  # character classes and case from core/ascii.h only
                    self.assertNotRegex(text, r"#include\s*<ctype\.h>|\bstrn?casecmp\s*\(|\bto(lower|upper)\s*\(",
                                        where)


for _b in BACKENDS:
    globals()["Signals_" + _b] = type("Signals_" + _b, (SignalsMixin, unittest.TestCase),
                                      {"backend": _b})
    globals()["Log_" + _b] = type("Log_" + _b, (LogMixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main()
