"""The applications in examples/, on every backend: each is started on a
free port (PORT), asked what its comment promises, and stopped with
SIGTERM (exit 0). Also: every example builds warning-free with
-std=c11 -Wall -Wextra against berth.h alone."""
import base64
import glob
import hashlib
import json
import os
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



class FileServiceLengthTest(unittest.TestCase):
    def test_at_most_116_lines(self):
        """Issue 28: the upload service over TLS first written on berth took
        175 lines; rewritten with the new calls it is a third shorter."""
        with open(os.path.join(ROOT, "examples", "file_service.c")) as f:
            self.assertLessEqual(len(f.read().splitlines()), 116)


class FileServiceMixin:
    """examples/file_service.c: multipart uploads streamed to FILES_DIR over
    TLS, the list, downloads with Range, DELETE, the route's body limit, a
    client gone mid-upload, names that could leave the directory."""
    backend = None

    def curl(self, ex, *args):
        out = subprocess.run(["curl", "-sk", "--max-time", "30", "-o", "-", "-D", "/dev/stderr"]
                             + list(args[:-1]) + ["https://127.0.0.1:%d%s" % (ex.port, args[-1])],
                             capture_output=True, timeout=60)
        status = int(out.stderr.split(b" ", 2)[1]) if out.stderr.startswith(b"HTTP/") else None
        return status, out.stderr.decode(errors="replace"), out.stdout

    def tls(self, ex):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx.wrap_socket(socket.create_connection(("127.0.0.1", ex.port), timeout=10))

    def test_file_service(self):
        from unittest import mock
        tmp = tempfile.mkdtemp(prefix="berth-files-")
        src = tempfile.mkdtemp(prefix="berth-files-src-")
        with mock.patch.dict(os.environ, {"FILES_DIR": tmp}):
            ex = Example("file_service", self.backend)
        try:
            # 6 MiB of random bytes sown with what looks like curl's delimiters
            chunks = []
            for i in range(48):
                chunks.append(os.urandom(131072))
                chunks.append(b"\r\n--" + b"-" * 24 + b"%016x" % i + (b"--" if i % 2 else b"\r\n"))
            big = b"".join(chunks)
            small = b"name,qty\r\n--\r\nmilk,2\r\n"
            for name, data in (("big.bin", big), ("small.csv", small)):
                with open(os.path.join(src, name), "wb") as f:
                    f.write(data)
            status, head, body = self.curl(ex, "-F", "a=@%s/big.bin" % src,
                                           "-F", "b=@%s/small.csv;filename=a b&c.csv" % src, "/files")
            self.assertEqual(status, 201, head + body.decode(errors="replace"))
            self.assertIn("location: /files/a%20b%26c.csv\r\n", head.lower())
            self.assertEqual(json.loads(body), {"stored": 2})
            for name, data in (("big.bin", big), ("a b&c.csv", small)):
                with open(os.path.join(tmp, name), "rb") as f:
                    self.assertEqual(f.read(), data, name)
            self.assertEqual(sorted(os.listdir(tmp)), ["a b&c.csv", "big.bin"])  # no part left
            status, _, body = self.curl(ex, "/files")
            self.assertEqual((status, sorted(json.loads(body))), (200, ["a b&c.csv", "big.bin"]))
            self.assertEqual(self.curl(ex, "/files/big.bin")[::2], (200, big))
            self.assertEqual(self.curl(ex, "-r", "1000000-1000999", "/files/big.bin")[::2],
                             (206, big[1000000:1001000]))
            self.assertEqual(self.curl(ex, "/files/a%20b%26c.csv")[::2], (200, small))
            self.assertEqual(self.curl(ex, "-X", "DELETE", "/files/a%20b%26c.csv")[0], 204)
            status, head, body = self.curl(ex, "/files/a%20b%26c.csv")
            self.assertEqual((status, json.loads(body)["error"]["status"]), (404, 404))
            self.assertIn("content-type: application/json", head.lower())
            self.assertEqual(json.loads(self.curl(ex, "/files")[2]), ["big.bin"])
            # names that could leave the directory (or hide in it): refused, nothing written
            for bad in ("../evil", "..", ".hidden", "a/b", "a\\\\b"):  # the last: a\b once unquoted
                mp = (b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"%s\"\r\n\r\n"
                      b"data\r\n--XyZ--\r\n" % bad.encode())
                with self.tls(ex) as s:
                    s.sendall(b"POST /files HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
                              b"boundary=XyZ\r\nContent-Length: %d\r\n\r\n%s" % (len(mp), mp))
                    status, headers, body = read_response(_Prefixed(s, b""))
                self.assertEqual(status, 400, (bad, body))
                self.assertEqual(json.loads(body)["error"]["status"], 400)
            self.assertEqual(self.curl(ex, "-X", "DELETE", "/files/..%2Fevil")[0], 400)
            self.assertEqual(sorted(os.listdir(tmp)), ["big.bin"])
            self.assertFalse(os.path.exists(os.path.join(os.path.dirname(tmp), "evil")))
            # the route's limit (100 MiB), answered before the body, as JSON
            with self.tls(ex) as s:
                s.sendall(b"POST /files HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
                          b"boundary=XyZ\r\nContent-Length: %d\r\n\r\n" % (101 << 20))
                status, headers, body = read_response(_Prefixed(s, b""))
            self.assertEqual((status, json.loads(body)["error"]["status"]), (413, 413))
            # a client gone mid-upload: its part appeared (hidden), then goes
            def wait_for(cond):
                deadline = time.monotonic() + 10
                while not cond() and time.monotonic() < deadline:
                    time.sleep(0.02)
                return cond()
            with self.tls(ex) as s:
                s.sendall(b"POST /files HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; "
                          b"boundary=XyZ\r\nContent-Length: 10000000\r\n\r\n--XyZ\r\nContent-Disposition:"
                          b" form-data; name=\"f\"; filename=\"gone.bin\"\r\n\r\n" + os.urandom(300000))
                self.assertTrue(wait_for(lambda: any(n.startswith(".") for n in os.listdir(tmp))))
            self.assertTrue(wait_for(lambda: os.listdir(tmp) == ["big.bin"]), os.listdir(tmp))
        finally:
            self.assertEqual(ex.stop(), 0)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(src, ignore_errors=True)


for _b in BACKENDS:
    globals()["FileService_" + _b] = type("FileService_" + _b, (FileServiceMixin, unittest.TestCase),
                                         {"backend": _b})


if __name__ == "__main__":
    unittest.main()
