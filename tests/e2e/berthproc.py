"""Starts berth servers for end-to-end tests and talks raw HTTP to them."""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BERTH_BUILD", os.path.join(ROOT, "build"))
# The repository's fixtures (tests/data/README.md): HttpArena's data, and
# certificates made at build time (meson test sets both variables).
ARENA = os.path.join(ROOT, "tests", "data", "arena")
DATASET = os.environ.get("BERTH_TEST_DATASET", os.path.join(ARENA, "dataset.json"))


def _certs():
    """The test certificates' directory: meson's, else made in the build
    directory on first use (a test file run by hand)."""
    d = os.environ.get("BERTH_TEST_CERTS")
    if d:
        return d
    d = os.path.join(BUILD, "tests", "certs")
    if not os.path.exists(os.path.join(d, "other.key")):
        subprocess.run([os.path.join(ROOT, "scripts", "make-test-certs.sh"), d], check=True)
    return d


CERTS = _certs()
CERT = os.path.join(CERTS, "server.crt")  # the chain: leaf, then the test CA
KEY = os.path.join(CERTS, "server.key")
CA = os.path.join(CERTS, "ca.crt")
OTHER_KEY = os.path.join(CERTS, "other.key")  # matches no certificate
# uring where the build has io_uring (meson sets BERTH_URING; elsewhere
# HTTP_BACKEND=uring runs the reactor, which is tested as itself).
_DEFAULT_BACKENDS = "reactor fast libuv" + (" uring" if os.environ.get("BERTH_URING") == "1" else "")
BACKENDS = os.environ.get("BERTH_TEST_BACKENDS", _DEFAULT_BACKENDS).replace(",", " ").split()
# What some tests observe exists on Linux only (/proc, strace, glibc's
# malloc and loader, user-mode Linux, systemd): there they run as they
# always did; on macOS and FreeBSD those tests skip, saying why.
LINUX = sys.platform.startswith("linux")


def linux_only(why):
    """Decorator of a test or a TestCase: runs on Linux, skips elsewhere
    saying why (`why`: what it needs that only Linux has)."""
    return unittest.skipUnless(LINUX, "skipped: needs %s (Linux only)" % why)


def skip_unless_linux(why):
    """For a test file whose every test needs Linux: elsewhere it exits 77
    (meson: skipped) saying why."""
    if not LINUX:
        print("skipped: needs %s (Linux only)" % why)
        sys.exit(77)


# A build with the FreeBSD/macOS fallbacks on Linux (-Dportable=true,
# docs/PLATFORMS.md): files go out by pread and send, not sendfile, and
# fast wakes a connection thread through a pipe of its own (no ppoll).
PORTABLE = os.environ.get("BERTH_PORTABLE") == "1"
FAST_WAKE_PIPES = PORTABLE or sys.platform == "darwin"
# The reactor on libkqueue (-Dpoller=kqueue on Linux) watches a connection's
# write direction on a duplicate descriptor (backends/poller_kqueue.c).
KQUEUE_EMULATED = os.environ.get("BERTH_POLLER") == "kqueue" and LINUX


def conn_descriptors(backend):
    """The descriptors the server holds per open connection in this build."""
    if backend.startswith("fast"):
        return 3 if FAST_WAKE_PIPES else 1  # the socket, and a wake pipe per thread
    return conn_sockets(backend)


def conn_sockets(backend):
    """The sockets among them (the duplicate of libkqueue's reactor is one)."""
    return 2 if backend.startswith("reactor") and KQUEUE_EMULATED else 1


class Server:
    """A berth-serve (or berth-test-server) process on an ephemeral port."""

    def __init__(self, binary="serve/berth-serve", backend="reactor", env=None, pass_fds=()):
        full_env = dict(os.environ, PORT="0", TLS_PORT="0", HTTP_BACKEND=backend,
                        BERTH_DATASET=DATASET)
        full_env.update(env or {})
        path = binary if os.path.isabs(binary) else os.path.join(BUILD, binary)
        self.proc = subprocess.Popen([path], env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, pass_fds=pass_fds)
        line = self.proc.stdout.readline()
        self.first_line = line
        m = re.search(r"http://127\.0\.0\.1:(\d+) backend=(\S+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("server did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(m.group(1))
        self.backend = m.group(2)
        t = re.search(r"tls=https://127\.0\.0\.1:(\d+)", line)
        self.tls_port = int(t.group(1)) if t else None
        ls = re.search(r"listeners=(\S+)", line)
        self.listeners = ls.group(1).split(",") if ls else []

    def connect(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self, timeout=15):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.stderr_text = self.proc.stderr.read()
        self.proc_stdout = self.first_line + self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        # A sanitizer build's report fails whichever test stopped the server.
        if "Sanitizer" in self.stderr_text or "runtime error" in self.stderr_text:
            raise AssertionError("sanitizer report:\n" + self.stderr_text[-4000:])
        return code


def free_port():
    """A TCP port on 127.0.0.1 free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sanitized(pid):
    """True if process pid runs a sanitizer build (whose allocator keeps
    freed memory in quarantine: its RSS says nothing about berth's). Off
    Linux (no /proc/PID/maps), the build's b_sanitize option says it."""
    if not LINUX:
        return _build_option("b_sanitize") not in (None, "none", [])
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()  # once: a second read() would find the file's end
    return any(lib in maps for lib in ("libasan", "libtsan", "libubsan"))


def _build_option(name):
    """The value of meson option `name` in BUILD (None if unknown)."""
    import json
    try:
        with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
            opts = json.load(f)
    except OSError:
        return None
    return next((o["value"] for o in opts if o["name"] == name), None)


def rss_kib(pid):
    """Resident memory of process pid in KiB: VmRSS of /proc/PID/status on
    Linux, ps(1)'s rss (KiB on macOS and FreeBSD too) elsewhere."""
    if not LINUX:
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
        return int(out.stdout.strip() or 0)
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send_pieces(sock, data, pieces=None, pause=0.002):
    """Sends data whole, or in writes of `pieces` bytes with a pause."""
    if pieces is None:
        sock.sendall(data)
        return
    for i in range(0, len(data), pieces):
        sock.sendall(data[i:i + pieces])
        time.sleep(pause)


def stop_clean(srv, what, within=5.0):
    """Stops srv; raises if it did not exit 0 within `within` seconds (the
    drain timeout is 10 s: a connection berth lost track of shows as a stop
    that waits for it) or printed a sanitizer report."""
    t0 = time.monotonic()
    code = srv.stop()
    took = time.monotonic() - t0
    if code != 0:
        raise AssertionError("%s exited %r: %s" % (what, code, srv.stderr_text[-3000:]))
    if took > within:
        raise AssertionError("%s took %.1f s to stop: %s" % (what, took, srv.stderr_text[-3000:]))


class ReadSock:
    """A socket (or TlsSock) for read_response, which keeps what it read
    past a response in `pending`; a reset reads as the end."""

    def __init__(self, s):
        self.s, self.pending = s, b""

    def sendall(self, data):
        self.s.sendall(data)

    def recv(self, n):
        if self.pending:
            out, self.pending = self.pending[:n], self.pending[n:]
            return out
        try:
            return self.s.recv(n)
        except ConnectionResetError:
            return b""


def read_response(sock, head_only=False):
    """Reads one response from sock (anything with recv() and a pending
    attribute that receives the bytes read past it): (status, headers list,
    body bytes). Raises on timeout; None if the connection closed first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                return None
            raise ConnectionError("closed inside a response head: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [tuple(x.split(": ", 1)) for x in lines[1:]]
    hmap = {k.lower(): v for k, v in headers}
    reader = _Reader(sock, rest)
    if head_only or status < 200 or status in (204, 304):
        body = b""
    elif "content-length" in hmap:
        body = reader.read(int(hmap["content-length"]))
    elif hmap.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(reader.line().split(b";")[0], 16)
            if size == 0:
                while reader.line() != b"":
                    pass
                break
            body += reader.read(size)
            assert reader.read(2) == b"\r\n"
    else:
        body = reader.read_to_close()
    sock.pending = reader.buf  # bytes of the next response, if any
    return status, headers, body


class _Reader:
    def __init__(self, sock, buf):
        self.sock, self.buf = sock, buf

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        self.buf += chunk

    def read(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out

    def read_to_close(self):
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out
            self.buf += chunk


class Conn:
    """A raw connection that can read several pipelined responses."""

    def __init__(self, server, timeout=5.0):
        self.sock = server.connect(timeout)
        self.pending = b""  # bytes read past the last response

    def send(self, data, pieces=None, pause=0.002):
        send_pieces(self.sock, data, pieces, pause)

    def response(self, head_only=False):
        src = _Prefixed(self.sock, self.pending)
        r = read_response(src, head_only)
        self.pending = src.pending
        return r

    def closed(self, timeout=3.0):
        """True if the server closes the connection (no more bytes)."""
        self.sock.settimeout(timeout)
        if self.pending:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


class _Prefixed:
    """A socket whose first recv returns bytes already read."""

    def __init__(self, sock, pending):
        self.sock, self.pending = sock, pending

    def recv(self, n):
        if self.pending:
            out, self.pending = self.pending, b""
            return out
        return self.sock.recv(n)


def header(headers, name):
    vals = [v for k, v in headers if k.lower() == name.lower()]
    return vals[0] if vals else None


def tls_context(cafile=None, max_version=None):
    """A client context that trusts cafile (the test certificate) and offers
    ALPN http/1.1, as HttpArena's load generator does."""
    ctx = ssl.create_default_context(cafile=cafile or CERT)
    ctx.set_alpn_protocols(["http/1.1"])
    if max_version:
        ctx.maximum_version = max_version
    return ctx


class TlsSock:
    """A TLS client over a raw TCP socket, through memory BIOs, so a test
    controls the bytes on the wire: FIN without close_notify (half_close),
    ciphertext written in pieces, and whether the server's close was clean
    (close_notify: clean_close) or not."""

    def __init__(self, port, timeout=5.0, ctx=None, hostname="localhost", session=None,
                 preamble=b""):
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if preamble:  # bytes before the handshake: a PROXY protocol header
            self.raw.sendall(preamble)
        self.inc, self.outg = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = (ctx or tls_context()).wrap_bio(self.inc, self.outg, server_side=False,
                                                   server_hostname=hostname, session=session)
        self.clean_close = None
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def _flush(self):
        data = self.outg.read()
        if data:
            self.raw.sendall(data)

    def _fill(self):
        data = self.raw.recv(65536)
        if data:
            self.inc.write(data)
        else:
            self.inc.write_eof()

    def sendall(self, data):
        view = memoryview(data)
        while view:
            n = self.obj.write(view[:16384])
            view = view[n:]
            self._flush()

    def recv(self, n):
        while True:
            try:
                data = self.obj.read(n)
                if not data:
                    self.clean_close = True  # the peer's close_notify
                return data
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
            except ssl.SSLZeroReturnError:
                self.clean_close = True
                return b""
            except ssl.SSLEOFError:
                self.clean_close = False
                return b""

    def half_close(self):
        """A TCP FIN without close_notify."""
        self.raw.shutdown(socket.SHUT_WR)

    def settimeout(self, t):
        self.raw.settimeout(t)

    @property
    def session(self):
        return self.obj.session

    @property
    def session_reused(self):
        return self.obj.session_reused

    def selected_alpn_protocol(self):
        return self.obj.selected_alpn_protocol()

    def close(self):
        self.raw.close()


class TlsConn(Conn):
    """Conn over TLS (to the server's TLS port)."""

    def __init__(self, server, timeout=5.0, **kw):
        self.sock = TlsSock(server.tls_port, timeout, **kw)
        self.pending = b""
