"""File bodies (berth_res_file) and lent bodies (berth_res_body_external)
on every backend: exact bytes, HEAD, ranges, a 1 GiB file sent with
sendfile in constant memory, clients that leave mid-file."""
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
import urllib.parse

from berthproc import BACKENDS, PORTABLE, Conn, Server, header, linux_only, rss_kib, sanitized, \
    stop_clean

GIB = 1 << 30


def open_fds(pid, path):
    """How many descriptors of process pid refer to path."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)) == path
        except OSError:
            pass
    return n


class FilesMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="berth-files-")
        cls.addClassCleanup(shutil.rmtree, cls.dir)  # also if setUpClass fails below
        cls.small = os.path.join(cls.dir, "small.bin")
        cls.small_data = os.urandom(300 * 1024 + 7)
        with open(cls.small, "wb") as f:
            f.write(cls.small_data)
        # 1 GiB, sparse, with markers so that an offset error shows.
        cls.big = os.path.join(cls.dir, "big.bin")
        with open(cls.big, "wb") as f:
            f.truncate(GIB)
            for i in range(64):
                f.seek(i * (GIB // 64) + 12345)
                f.write(b"marker %02d" % i)
        h = hashlib.md5()
        with open(cls.big, "rb") as f:
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                h.update(chunk)
        cls.big_md5 = h.hexdigest()
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2"})
        cls.addClassCleanup(stop_clean, cls.srv, "files (%s)" % cls.backend)

    def url(self, route, path, **q):
        q["path"] = path
        return "/%s?%s" % (route, urllib.parse.urlencode(q))

    def get(self, target, method="GET"):
        c = Conn(self.srv, timeout=30)
        self.addCleanup(c.close)
        c.send(b"%s %s HTTP/1.1\r\nHost: t\r\n\r\n" % (method.encode(), target.encode()))
        return c.response(head_only=method == "HEAD")

    def stats(self):
        return json.loads(self.get("/stats")[2])

    def test_file_body_is_the_file(self):
        status, headers, body = self.get(self.url("file", self.small))
        self.assertEqual(status, 200)
        self.assertEqual(header(headers, "Content-Length"), str(len(self.small_data)))
        self.assertEqual(header(headers, "Content-Type"), "application/octet-stream")
        self.assertEqual(body, self.small_data)

    def test_file_range(self):
        status, headers, body = self.get(self.url("file", self.small, off=1000, len=70000))
        self.assertEqual(status, 200)
        self.assertEqual(body, self.small_data[1000:71000])
        status, _, body = self.get(self.url("file", self.small, off=len(self.small_data), len=0))
        self.assertEqual((status, body), (200, b""))

    def test_range_outside_the_file_is_refused(self):
        n = len(self.small_data)
        for off, ln in ((n + 1, 0), (0, n + 1), (n - 10, 11)):
            self.assertEqual(self.get(self.url("file", self.small, off=off, len=ln))[0], 416)

    def test_head_of_a_file_has_its_length_and_no_body(self):
        c = Conn(self.srv)
        self.addCleanup(c.close)
        c.send(b"HEAD %s HTTP/1.1\r\nHost: t\r\n\r\nGET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n"
               % self.url("file", self.small).encode())
        status, headers, body = c.response(head_only=True)
        self.assertEqual(header(headers, "Content-Length"), str(len(self.small_data)))
        self.assertEqual(c.response()[2], b"ok")  # nothing of the file came between

    def test_pipelined_file_responses_keep_order(self):
        c = Conn(self.srv, timeout=10)
        self.addCleanup(c.close)
        reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n"
                        % self.url("file", self.small, off=i * 100, len=50000).encode()
                        for i in range(5))
        c.send(reqs + b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n")
        for i in range(5):
            self.assertEqual(c.response()[2], self.small_data[i * 100:i * 100 + 50000])
        self.assertEqual(c.response()[2], b"ok")

    def test_one_gib_file_goes_out_with_sendfile_in_constant_memory(self):
        pid = self.srv.proc.pid
        self.get("/pipeline")
        rss_before = rss_kib(pid)
        tracer = None
        if shutil.which("strace"):
            trace = os.path.join(self.dir, "trace-%s" % self.backend)
            tracer = subprocess.Popen(["strace", "-f", "-qq", "-c", "-o", trace, "-p", str(pid),
                                       "-e", "trace=sendfile,sendto,sendmsg,write,writev"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # attached
        curl = subprocess.Popen(["curl", "-sS", "--http1.1", "-o", "-",
                                 "http://127.0.0.1:%d%s" % (self.srv.port, self.url("file", self.big))],
                                stdout=subprocess.PIPE)
        h = hashlib.md5()
        got = 0
        peak = rss_before
        while True:
            chunk = curl.stdout.read(1 << 22)
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
            if got % (64 << 20) < (1 << 22):
                peak = max(peak, rss_kib(pid))
        self.assertEqual(curl.wait(), 0)
        self.assertEqual(got, GIB)
        self.assertEqual(h.hexdigest(), self.big_md5)
        grown = max(peak, rss_kib(pid)) - rss_before
        print("\n%s: 1 GiB file, server RSS grew by %d KiB" % (self.backend, grown))
        if not sanitized(pid):
            self.assertLess(grown, 8 * 1024)
        if tracer:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(10)
            calls = {}
            with open(trace) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 5 and parts[-1] in ("sendfile", "sendto", "sendmsg", "write", "writev"):
                        calls[parts[-1]] = int(parts[3])
            print("%s: syscalls while sending it: %s" % (self.backend, calls))
            if PORTABLE:  # the fallback: pread into a buffer, then send
                self.assertEqual(calls.get("sendfile", 0), 0)
                self.assertGreater(calls.get("sendto", 0), GIB // 16384 // 2, "not sent by send")
                return
            self.assertGreater(calls.get("sendfile", 0), 0, "the file was not sent with sendfile")
            # Only the head went out by another call.
            self.assertLess(sum(v for k, v in calls.items() if k != "sendfile"), 10)

    @linux_only("/proc/PID/fd to see which files the server holds")
    def test_client_leaving_mid_file_releases_it(self):
        pid = self.srv.proc.pid
        for how in ("fin", "rst"):
            s = self.srv.connect(timeout=10)
            s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % self.url("file", self.big).encode())
            got = 0
            while got < (8 << 20):
                got += len(s.recv(1 << 20))
            if how == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.assertEqual(open_fds(pid, self.big), 1)  # being sent
            s.close()
            deadline = time.monotonic() + 5
            while open_fds(pid, self.big) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(open_fds(pid, self.big), 0, "the file stayed open after a %s" % how)

    def releases_reach(self, n):
        """The release count, once it reaches n or 5 s pass (the server
        releases after its write returns, which the client may outrun)."""
        deadline = time.monotonic() + 5
        while self.stats()["releases"] < n and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)  # and no second release follows
        return self.stats()["releases"]

    def test_lent_body_is_released_once_sent_or_abandoned(self):
        before = self.stats()["releases"]
        status, _, body = self.get(self.url("mapped", self.small))
        self.assertEqual((status, body), (200, self.small_data))
        self.assertEqual(self.releases_reach(before + 1), before + 1)
        # HEAD: never sent, still released.
        self.assertEqual(self.get(self.url("mapped", self.small), "HEAD")[0], 200)
        self.assertEqual(self.releases_reach(before + 2), before + 2)
        # A client that leaves before the body is written.
        s = self.srv.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % self.url("mapped", self.big).encode())
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        self.assertEqual(self.releases_reach(before + 3), before + 3)


for _b in BACKENDS:
    globals()["Files_" + _b] = type("Files_" + _b, (FilesMixin, unittest.TestCase),
                                    {"backend": _b})

if __name__ == "__main__":
    unittest.main()
