"""The applications in examples/, on every backend: each is started on a
free port (PORT), asked what its comment promises, and stopped with
SIGTERM (exit 0). Also: every example builds warning-free with
-std=c11 -Wall -Wextra against berth.h alone."""
import base64
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from berthproc import BACKENDS, BUILD, ROOT, _Prefixed, free_port, read_response


def ws_connect(port, path=b"/chat"):
    """A WebSocket client on a raw socket: the handshake, then frames."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, key))
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, rest = buf.split(b"\r\n\r\n", 1)
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    assert head.startswith(b"HTTP/1.1 101 ") and accept in head, head
    return [s, rest]


def ws_send(c, text, opcode=1):
    data = text.encode() if isinstance(text, str) else text
    mask = os.urandom(4)
    n = len(data)
    hdr = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + struct.pack(">H", n))
    c[0].sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def ws_recv(c):
    """(opcode, payload) of the next server frame."""
    def need(k):
        while len(c[1]) < k:
            chunk = c[0].recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            c[1] += chunk
    need(2)
    n, off = c[1][1] & 0x7F, 2
    if n == 126:
        need(4)
        n, off = struct.unpack(">H", c[1][2:4])[0], 4
    need(off + n)
    op, payload = c[1][0] & 0x0F, c[1][off:off + n]
    c[1] = c[1][off + n:]
    return op, payload


class Example:
    def __init__(self, name, backend, args=()):
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port), HTTP_BACKEND=backend, BERTH_THREADS="2")
        self.proc = subprocess.Popen([os.path.join(BUILD, "examples", name)] + list(args),
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("%s did not start: %s" % (name, self.proc.stderr.read()))
                time.sleep(0.02)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return s

    def ask(self, method, target, body=b"", headers=b""):
        with self.connect() as s:
            s.sendall(b"%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n"
                      % (method, target, len(body), headers) + body)
            return read_response(_Prefixed(s, b""))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            err = self.proc.stderr.read()
            self.proc.stdout.close()
            self.proc.stderr.close()
        assert "Sanitizer" not in err and "runtime error" not in err, err
        return code


def hdr(headers, name):
    vals = [v for k, v in headers if k.lower() == name.lower()]
    return vals[0] if vals else None


class ExamplesMixin:
    backend = None

    def test_rest_api(self):
        ex = Example("rest_api", self.backend)
        try:
            status, headers, body = ex.ask(b"POST", b"/notes", b'buy "milk"')
            self.assertEqual(status, 201)
            self.assertEqual(hdr(headers, "Access-Control-Allow-Origin"), "*")
            nid = json.loads(body)["id"]
            status, _, body = ex.ask(b"GET", b"/notes/%d" % nid)
            self.assertEqual(json.loads(body), {"id": nid, "text": 'buy "milk"'})
            self.assertEqual(json.loads(ex.ask(b"GET", b"/notes")[2]), [json.loads(body)])
            status, headers, _ = ex.ask(b"OPTIONS", b"/notes", headers=b"Origin: http://a\r\n")
            self.assertEqual(status, 204)
            self.assertIn("POST", hdr(headers, "Access-Control-Allow-Methods"))
            # berth's own errors are JSON with CORS: 404, 405, 413 (1 KiB limit)
            for method, target, body, want in ((b"GET", b"/nothing", b"", 404),
                                               (b"PUT", b"/notes", b"", 405),
                                               (b"POST", b"/notes", b"x" * 2000, 413)):
                status, headers, got = ex.ask(method, target, body)
                self.assertEqual(status, want)
                self.assertEqual(hdr(headers, "Content-Type"), "application/json")
                self.assertEqual(hdr(headers, "Access-Control-Allow-Origin"), "*")
                self.assertEqual(json.loads(got)["error"]["status"], want)
            self.assertEqual(ex.ask(b"DELETE", b"/notes/%d" % nid)[0], 204)
            self.assertEqual(ex.ask(b"GET", b"/notes/%d" % nid)[0], 404)
        finally:
            self.assertEqual(ex.stop(), 0)

    def test_upload(self):
        tmp = tempfile.mkdtemp(prefix="berth-upload-")
        ex = Example("upload", self.backend, [tmp])
        try:
            data = os.urandom(3 << 20)  # over the server's 1 MiB, under the route's 1 GiB
            status, _, body = ex.ask(b"PUT", b"/files/a.bin", data)
            self.assertEqual((status, body), (201, b"stored %d bytes\n" % len(data)))
            self.assertEqual(ex.ask(b"GET", b"/files/a.bin")[2], data)
            # cut short: nothing is left behind, and the file descriptor is closed
            def wait_for(cond):
                deadline = time.monotonic() + 5
                while not cond() and time.monotonic() < deadline:
                    time.sleep(0.02)
            with ex.connect() as s:
                s.sendall(b"PUT /files/b.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"
                          + b"x" * 5000)
                wait_for(lambda: len(os.listdir(tmp)) == 2)  # the upload has begun
                self.assertEqual(len(os.listdir(tmp)), 2)
            wait_for(lambda: os.listdir(tmp) == ["a.bin"])
            self.assertEqual(os.listdir(tmp), ["a.bin"])
            # An empty file is a file (issue 20: it was 400 "stored 0 bytes",
            # on_body never ran for an empty body); chunked with no chunk too.
            self.assertEqual(ex.ask(b"PUT", b"/files/empty", b"")[::2], (201, b"stored 0 bytes\n"))
            with ex.connect() as s:
                s.sendall(b"PUT /files/empty2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                          b"\r\n\r\n0\r\n\r\n")
                self.assertEqual(read_response(_Prefixed(s, b""))[::2], (201, b"stored 0 bytes\n"))
            self.assertEqual(ex.ask(b"GET", b"/files/empty")[::2], (200, b""))
            self.assertEqual(os.path.getsize(os.path.join(tmp, "empty2")), 0)
            for name in ("empty", "empty2"):
                os.unlink(os.path.join(tmp, name))
            self.assertEqual(ex.ask(b"PUT", b"/files/..%2fx", b"x")[0], 400)
            with ex.connect() as s:
                s.sendall(b"PUT /files/big HTTP/1.1\r\nHost: t\r\nContent-Length: 2147483648\r\n\r\n")
                self.assertEqual(read_response(_Prefixed(s, b""))[0], 413)
        finally:
            self.assertEqual(ex.stop(), 0)
            shutil.rmtree(tmp, ignore_errors=True)

    def test_sse_chat(self):
        ex = Example("sse_chat", self.backend)
        try:
            subs = []
            for _ in range(3):
                s = ex.connect()
                s.sendall(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
                buf = b""
                while b"welcome" not in buf:
                    buf += s.recv(4096)
                subs.append([s, buf])
            for text in (b"hello", b"two\nlines"):
                self.assertEqual(ex.ask(b"POST", b"/say", text)[0], 202)
            for sub in subs:
                s = sub[0]
                while sub[1].count(b"event: message") < 2:
                    sub[1] += s.recv(4096)
                self.assertIn(b"data: hello\n", sub[1])
                self.assertIn(b"data: two\ndata: lines\n", sub[1])
            subs[0][0].close()  # one leaves
            self.assertEqual(ex.ask(b"POST", b"/say", b"x" * 5000)[0], 413)
        finally:
            self.assertEqual(ex.stop(), 0)  # the others' streams end at the stop
            for s, _ in subs[1:]:
                s.close()

    def test_ws_chat(self):
        ex = Example("ws_chat", self.backend)
        members = []
        try:
            self.assertEqual(ex.ask(b"GET", b"/chat")[0], 400)  # not a handshake
            for i in range(3):
                members.append(ws_connect(ex.port))
                self.assertEqual(ws_recv(members[i]), (1, b"* %d joined" % (i + 1)))
            for i in range(3):  # the later joins, as the earlier members saw them
                for j in range(i + 2, 4):
                    self.assertEqual(ws_recv(members[i]), (1, b"* %d joined" % j))
            ws_send(members[1], "hello room")
            for m in members:
                self.assertEqual(ws_recv(m), (1, b"2: hello room"))
            ws_send(members[2], b"\x00\x01", opcode=2)  # binary: refused with 1003
            op, payload = ws_recv(members[2])
            self.assertEqual((op, payload[:2]), (8, struct.pack(">H", 1003)))
            for m in members[:2]:
                self.assertEqual(ws_recv(m), (1, b"* 3 left"))
        finally:
            self.assertEqual(ex.stop(), 0)
        for m in members[:2]:  # the stop says 1001 to those still there
            op, payload = ws_recv(m)
            while op == 1:  # "* N left" of the other one, closed first
                self.assertIn(b" left", payload)
                op, payload = ws_recv(m)
            self.assertEqual((op, payload[:2]), (8, struct.pack(">H", 1001)))
            m[0].close()
        members[2][0].close()


for _b in BACKENDS:
    globals()["Examples_" + _b] = type("Examples_" + _b, (ExamplesMixin, unittest.TestCase),
                                      {"backend": _b})


class ExamplesBuildTest(unittest.TestCase):
    def test_examples_build_warning_free_with_c11_wall_wextra(self):
        tmp = tempfile.mkdtemp(prefix="berth-ex-")
        try:
            for src in sorted(glob.glob(os.path.join(ROOT, "examples", "*.c"))):
                out = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-c",
                                      "-I", os.path.join(ROOT, "include"),
                                      "-I", os.path.join(BUILD, "include"), src, "-o",
                                      os.path.join(tmp, "x.o")], capture_output=True, text=True)
                self.assertEqual(out.returncode, 0, src + "\n" + out.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class DashboardMixin:
    """examples/dashboard.c: a WebSocket chat and an SSE stats feed on
    topics, fed by a server timer; a goodbye before the 1001 at the stop."""
    backend = None

    def test_dashboard(self):
        ex = Example("dashboard", self.backend)
        members, feed = [], None
        try:
            status, headers, page = ex.ask(b"GET", b"/")
            self.assertEqual(status, 200)
            self.assertTrue(hdr(headers, "Content-Type").startswith("text/html"))
            self.assertIn(b"new WebSocket(", page)
            self.assertIn(b"new EventSource('/stats')", page)
            self.assertEqual(ex.ask(b"GET", b"/chat")[0], 400)  # not a handshake

            feed = [ex.connect(), b""]
            feed[0].sendall(b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n")
            seen = []  # (arrival, counters) of each stats event

            def next_stats():
                while True:
                    m = re.search(rb"event: stats\ndata: (\{[^\n]*\})\n\n", feed[1])
                    if m:
                        feed[1] = feed[1][m.end():]
                        seen.append((time.monotonic(), json.loads(m.group(1))))
                        return seen[-1][1]
                    chunk = feed[0].recv(4096)
                    if not chunk:
                        raise ConnectionError("stats feed closed")
                    feed[1] += chunk
            feed[0].settimeout(5)
            first = next_stats()  # read as it comes: nothing else is under way
            for _ in range(3):
                self.assertEqual(ex.ask(b"GET", b"/")[0], 200)
            for _ in range(3):  # the counters move (one event may come as they end)
                now = next_stats()
                if now["requests"] >= first["requests"] + 3:
                    break
            self.assertGreaterEqual(now["requests"], first["requests"] + 3)
            self.assertGreater(now["connections"], first["connections"])
            # a server timer, every second: time is the behaviour, margins generous
            gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
            self.assertTrue(gaps and all(0.5 < g < 2.5 for g in gaps), gaps)

            # two members: the joins, each other's messages
            for i in range(2):
                members.append(ws_connect(ex.port))
                self.assertEqual(ws_recv(members[i]), (1, b"* %d joined" % (i + 1)))
            self.assertEqual(ws_recv(members[0]), (1, b"* 2 joined"))
            ws_send(members[0], "hello from one")
            ws_send(members[1], "hello from two")
            for m in members:
                got = {ws_recv(m), ws_recv(m)}  # the order of the two senders is open
                self.assertEqual(got, {(1, b"1: hello from one"), (1, b"2: hello from two")})
            for _ in range(5):  # the feed counts the chat too
                now = next_stats()
                if now["websockets"] == 2 and now["messages"] >= 2:
                    break
            self.assertEqual((now["websockets"], now["messages"]), (2, 2))
        finally:
            self.assertEqual(ex.stop(), 0)
        for m in members:  # the goodbye, then berth's 1001
            texts = []
            op, payload = ws_recv(m)
            while op == 1:
                texts.append(payload)
                op, payload = ws_recv(m)
            self.assertEqual((op, payload[:2]), (8, struct.pack(">H", 1001)))
            self.assertEqual(texts.count(b"server going down"), 1, texts)
            for t in texts:  # else only the other member's leaving, if it came first
                self.assertTrue(t == b"server going down" or t.endswith(b" left"), texts)
            m[0].close()
        while not feed[1].endswith(b"0\r\n\r\n"):  # the stream ended at the stop
            chunk = feed[0].recv(4096)
            self.assertTrue(chunk, feed[1][-200:])
            feed[1] += chunk
        feed[0].close()


for _b in BACKENDS:
    globals()["Dashboard_" + _b] = type("Dashboard_" + _b, (DashboardMixin, unittest.TestCase),
                                       {"backend": _b})


class DashboardSizeTest(unittest.TestCase):
    def test_dashboard_is_a_third_shorter_than_the_hand_written_one(self):
        # issue 28: the dashboard written without topics, server timers and
        # on_stop took 246 lines; two thirds of that is 164
        with open(os.path.join(ROOT, "examples", "dashboard.c")) as f:
            self.assertLessEqual(len(f.readlines()), 164)


if __name__ == "__main__":
    unittest.main()
