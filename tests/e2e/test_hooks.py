"""Worker-thread hooks and the stop hooks (berth.h, "Worker threads and the
stop"; issue 28 items 1 and 7), on every backend, plaintext and TLS, with
the test server's thread-routes.c:

- thread_init runs once on each thread that serves, and a handler reaches
  that thread's data on that thread (berth_req_thread_data; from a
  deferred response's timer, berth_stream_thread_data; an HTTP/2 stream's
  handler too, with curl); thread_exit
  runs on the same thread, as many times as thread_init, after its last
  handler; fast's pooled connection threads keep their data across the
  connections they serve (inits bounded by threads, not connections);
- config.on_stop runs once per stop, before the drain: WebSocket clients
  receive its "goodbye" while the server still runs (a new connection is
  served meanwhile, the state reads running), then the WebSocket's own
  on_stop's "bye on_stop" on its thread, then the close 1001.
"""
import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import unittest

from berthproc import BACKENDS, CERT, KEY, ReadSock, Server, TlsSock, read_response, stop_clean

TEST_SERVER = "tests/berth-test-server"
THREADS = 2
HTTP2 = os.environ.get("BERTH_HTTP2") == "1" and shutil.which("curl") is not None


def start(backend):
    return Server(TEST_SERVER, backend=backend,
                  env={"BERTH_THREADS": str(THREADS), "TLS_CERT": CERT, "TLS_KEY": KEY,
                       "BERTH_TEST_THREAD_HOOKS": "1"})


def connect(srv, tls):
    if tls:
        return TlsSock(srv.tls_port, timeout=10)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get(srv, tls, path):
    """GET path on a connection of its own: (status, body)."""
    s = connect(srv, tls)
    try:
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, _, body = read_response(ReadSock(s))
        return status, body.decode()
    finally:
        (s.raw if tls else s).close()


def report(srv):
    """The counts thread_routes_report printed once the server stopped."""
    m = re.search(r"hooks inits=(\d+) exits=(\d+) wrong_thread=(\d+) after_exit=(\d+) "
                  r"stop_hooks=(\d+) stop_state=(-?\d+)", srv.proc_stdout)
    if not m:
        raise AssertionError("no hooks line: %r" % srv.proc_stdout[-2000:])
    keys = ("inits", "exits", "wrong_thread", "after_exit", "stop_hooks", "stop_state")
    return dict(zip(keys, map(int, m.groups())))


class Ws:
    """A WebSocket client reading the server's frames."""

    def __init__(self, srv, tls):
        self.tls = tls
        self.sock = connect(srv, tls)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET /ws-bye HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101 "), head
        want = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                .digest())
        assert b"Sec-WebSocket-Accept: " + want in head, head
        # A ping answered: the connection's thread has run on_open (the
        # member is in the list) before it read the ping.
        self.sock.sendall(struct.pack("!BB", 0x89, 0x80) + b"\0\0\0\0")
        assert self.frame() == (10, b"")

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def frame(self):
        """(opcode, payload) of the server's next frame."""
        while len(self.buf) < 2:
            self._fill()
        n, at = self.buf[1] & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        while len(self.buf) < at + n:
            self._fill()
        op, payload, self.buf = self.buf[0] & 0x0F, self.buf[at:at + n], self.buf[at + n:]
        return op, payload

    def close(self):
        (self.sock.raw if self.tls else self.sock).close()


class HooksMixin:
    backend = None

    def test_thread_data_is_per_thread_and_pooled_threads_keep_it(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                srv = start(self.backend)
                conns, clients = 120, 6
                seen, errors = [], []

                def client():
                    try:
                        for i in range(conns // clients):
                            # one in four from a deferred response's timer
                            path = b"/thread-stream" if i % 4 == 3 else b"/thread-data"
                            seen.append(get(srv, tls, path))
                    except Exception as e:  # noqa: BLE001 - reported below
                        errors.append(e)

                ts = [threading.Thread(target=client) for _ in range(clients)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(120)
                if HTTP2 and tls:  # an HTTP/2 stream's handler reaches it too
                    out = subprocess.run(["curl", "-sS", "--http2", "--cacert", CERT, "-w",
                                          " v%{http_version}", "https://127.0.0.1:%d/thread-data"
                                          % srv.tls_port], capture_output=True, text=True,
                                         timeout=30)
                    seen.append((200, out.stdout.replace(" v2", "")))
                    self.assertTrue(out.stdout.endswith(" v2"), out.stdout + out.stderr)
                stop_clean(srv, "hooks (%s)" % self.backend)
                self.assertEqual(errors, [])
                self.assertEqual(len(seen), conns + (HTTP2 and tls))
                ids = set()
                for status, body in seen:
                    self.assertEqual(status, 200, body)
                    m = re.fullmatch(r"id=(\d+) same=(\d)", body)
                    self.assertTrue(m, body)
                    self.assertEqual(m.group(2), "1", "a handler got another thread's data")
                    self.assertGreater(int(m.group(1)), 0, "a handler's thread had no data")
                    ids.add(int(m.group(1)))
                r = report(srv)
                self.assertEqual(r["exits"], r["inits"], r)
                self.assertEqual(r["wrong_thread"], 0, r)
                self.assertEqual(r["after_exit"], 0, r)
                self.assertEqual(r["stop_hooks"], 1, r)
                self.assertLessEqual(len(ids), r["inits"])
                if self.backend.startswith("fast"):
                    # A thread per open connection, pooled: 120 connections,
                    # 6 at a time, are served by a few threads reused.
                    self.assertLessEqual(r["inits"], 3 * clients, r)
                else:
                    self.assertEqual(r["inits"], THREADS, r)

    def test_stop_hook_says_goodbye_before_the_drain(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                srv = start(self.backend)
                clients = [Ws(srv, tls) for _ in range(2)]
                srv.proc.send_signal(signal.SIGTERM)
                srv.proc.send_signal(signal.SIGTERM)  # a second stop: the hook runs once
                for c in clients:
                    self.assertEqual(c.frame(), (1, b"goodbye"))
                # The hook waits for this: a new connection is still served,
                # and nothing has been drained yet (state 1, running).
                self.assertEqual(get(srv, tls, b"/hook-release"), (200, "state=1"))
                for c in clients:
                    self.assertEqual(c.frame(), (1, b"bye on_stop"))
                    op, payload = c.frame()
                    self.assertEqual(op, 8)
                    self.assertEqual(struct.unpack("!H", payload[:2])[0], 1001)
                    c.close()
                stop_clean(srv, "stop hook (%s)" % self.backend)
                r = report(srv)
                self.assertEqual(r["stop_hooks"], 1, r)
                self.assertEqual(r["stop_state"], 1, r)
                self.assertEqual(r["exits"], r["inits"], r)
                self.assertEqual(r["wrong_thread"], 0, r)


for _b in BACKENDS:
    globals()["Hooks_" + _b] = type("Hooks_" + _b, (HooksMixin, unittest.TestCase),
                                    {"backend": _b})

if __name__ == "__main__":
    unittest.main()
