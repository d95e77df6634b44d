"""HTTP_BACKEND=uring (backends/uring.c, issue 26): that it really runs on
io_uring where it can, moves a keep-alive request's bytes without a socket
system call of its own, and says once and serves with the reactor where
io_uring is refused (a seccomp filter as Docker's default profile has).

The rest of the suite runs on uring like on every backend
(BERTH_TEST_BACKENDS lists it where the build has io_uring)."""
import os
import re
import shutil
import socket
import sys
import unittest

from berthproc import BUILD, LINUX, ROOT, Conn, Server, linux_only, stop_clean

sys.path.insert(0, os.path.join(ROOT, "bench"))
from syscalls import strace_counts  # noqa: E402  (strace -c of every thread)

HAVE_URING = os.environ.get("BERTH_URING") == "1"
NO_URING_LIB = os.path.join(BUILD, "tests", "libberth-test-no-uring.so")
FALLBACK = re.compile(r"berth: uring: io_uring cannot be used here \((.*)\): serving with the reactor instead")


def io_uring_descriptors(pid):
    """How many io_uring instances process pid holds open."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[io_uring]"
        except OSError:
            pass  # closed meanwhile
    return n


def keep_alive_requests(port, conns, each):
    """conns keep-alive connections, each asking /pipeline `each` times in
    turn; returns how many answers were 200."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(conns)]
    ok = 0
    try:
        for _ in range(each):
            for s in socks:
                s.sendall(b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n")
            for s in socks:
                data = b""
                while not data.endswith(b"\r\n\r\nok"):
                    more = s.recv(4096)
                    if not more:
                        raise ConnectionError("closed after %r" % data)
                    data += more
                ok += data.startswith(b"HTTP/1.1 200 ")
    finally:
        for s in socks:
            s.close()
    return ok


# The calls that move a socket's bytes or wait for them, as the reactor
# makes them (and libuv, fast).
SOCKET_CALLS = ("read", "write", "recvfrom", "sendto", "recvmsg", "sendmsg", "readv", "writev",
                "epoll_wait", "epoll_pwait", "poll", "ppoll")


class Uring(unittest.TestCase):

    @linux_only("/proc/PID/fd to see the io_uring instances")
    def test_uring_runs_on_io_uring(self):
        if not HAVE_URING:
            self.skipTest("skipped: this build has no io_uring (it needs Linux and Debian's "
                          "liburing-dev, scripts/deps.sh build; a -Dportable=true build has none)")
        srv = Server(backend="uring", env={"BERTH_THREADS": "2"})
        self.addCleanup(stop_clean, srv, "uring")
        self.assertEqual(srv.backend, "uring")
        self.assertEqual(keep_alive_requests(srv.port, 4, 10), 40)
        self.assertEqual(io_uring_descriptors(srv.proc.pid), 2, "one ring per worker thread")

    @linux_only("strace on the running server")
    def test_keep_alive_requests_make_no_socket_calls(self):
        if not HAVE_URING:
            self.skipTest("skipped: this build has no io_uring (Linux and liburing-dev; not -Dportable)")
        if not shutil.which("strace"):
            self.skipTest("skipped: needs strace (Debian package strace)")
        n_conns, each = 4, 250
        n = n_conns * each
        per = {}
        for backend in ("reactor", "uring"):
            srv = Server(backend=backend, env={"BERTH_THREADS": "1"})
            try:
                calls, answered = strace_counts([srv.proc.pid], lambda: keep_alive_requests(
                    srv.port, n_conns, each))
            finally:
                stop_clean(srv, backend)
            self.assertEqual(answered, n, backend)
            per[backend] = ({k: v / n for k, v in calls.items() if k in SOCKET_CALLS},
                            calls.get("io_uring_enter", 0) / n)
            print("\n%s: per keep-alive request: socket calls %s, io_uring_enter %.2f"
                  % (backend, {k: round(v, 3) for k, v in per[backend][0].items()}, per[backend][1]))
        # The measure can see socket calls: the reactor reads and writes
        # each request (one read of the request, a read that finds nothing
        # or an epoll_wait, one write).
        self.assertGreaterEqual(sum(per["reactor"][0].values()), 2.0)
        # uring: the kernel reads and writes; berth only submits and reaps.
        self.assertLess(sum(per["uring"][0].values()), 0.02, per["uring"][0])
        self.assertLessEqual(per["uring"][1], 1.05, "more than one io_uring_enter a request")

    @linux_only("a seccomp filter (tests/fail/no-uring.c) preloaded with LD_PRELOAD")
    def test_refused_io_uring_is_said_once_and_the_reactor_serves(self):
        srv = Server(backend="uring", env={
            "BERTH_THREADS": "2", "LD_PRELOAD": NO_URING_LIB,
            # a sanitizer runtime must come first; the preload goes before it
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"})
        try:
            self.assertEqual(srv.backend, "reactor", srv.first_line)
            self.assertEqual(keep_alive_requests(srv.port, 4, 10), 40)
            c = Conn(srv)
            c.send(b"GET /pipeline HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.response()[0], 200)
            c.close()
        finally:
            stop_clean(srv, "uring refused")
        said = FALLBACK.findall(srv.stderr_text)
        self.assertEqual(len(said), 1, srv.stderr_text)
        if HAVE_URING:
            self.assertIn("io_uring_setup: Operation not permitted", said[0])
            self.assertIn("seccomp", said[0])
        else:
            self.assertIn("this build has none", said[0])

    def test_uring_is_a_known_backend_everywhere(self):
        # Off Linux, or built without liburing, the name is still accepted:
        # the log says why the reactor serves instead (not "unknown").
        srv = Server(backend="uring:1")
        try:
            self.assertEqual(srv.backend, "uring" if HAVE_URING and LINUX else "reactor")
            self.assertEqual(keep_alive_requests(srv.port, 1, 3), 3)
        finally:
            stop_clean(srv, "uring:1")
        self.assertNotIn("unknown HTTP_BACKEND", srv.stderr_text)
        self.assertEqual(len(FALLBACK.findall(srv.stderr_text)), 0 if HAVE_URING and LINUX else 1)


if __name__ == "__main__":
    unittest.main()
