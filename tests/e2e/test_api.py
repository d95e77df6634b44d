"""What applications need from the API (issue 13), over real sockets on
every backend: request lifetime (per-request data, completion exactly once,
aborted uploads), who is calling, hooks and error answers, listeners (IPv6,
Unix sockets, handed-over sockets, systemd), the router's matching."""
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from berthproc import (BACKENDS, BUILD, CERT, KEY, LINUX, Conn, Server, TlsConn, _Prefixed, free_port,
                       header, read_response, stop_clean)

# /store-stats' count of open upload files when none is open: 0; off Linux
# the test server cannot count them (no /proc/self/fd) and says -1
NO_FDS = 0 if LINUX else -1

CERTS = {"TLS_CERT": CERT, "TLS_KEY": KEY}


def raw_response(sock):
    """One response read from a plain socket."""
    return read_response(_Prefixed(sock, b""))

TEST_SERVER = "tests/berth-test-server"


def get(conn, target, extra=b""):
    conn.send(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n")
    return conn.response()


def fetch_json(srv, target):
    c = Conn(srv)
    status, _, body = get(c, target)
    c.close()
    assert status == 200, status
    return json.loads(body)


def ipv6_available():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class LifetimeMixin:
    """Item 1: per-request data and completion, streamed uploads."""
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(TEST_SERVER, backend=cls.backend, env={"BERTH_THREADS": "2"})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "test server")

    def stats(self):
        return fetch_json(self.srv, b"/store-stats")

    def settled(self, timeout=10):
        """Stats once every upload started has been reported over and the
        server holds no upload file open (fds counts those; -1 off Linux,
        where the test server has no /proc/self/fd to count them in)."""
        deadline = time.monotonic() + timeout
        calm, last = 0, None
        while True:
            st = self.stats()
            # closed connections may still hold unread bytes: settled means
            # nothing moved for a few polls
            calm = calm + 1 if st == last else 0
            last = st
            if (st["done"] == st["started"] and st["fds"] == NO_FDS and calm >= 3) or \
                    time.monotonic() > deadline:
                return st
            time.sleep(0.05)

    def test_upload_completes_and_its_state_is_released_once(self):
        before = self.settled()
        c = Conn(self.srv)
        body = b"q" * (1 << 20)
        c.send(b"POST /store HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status, _, got = c.response()
        c.close()
        self.assertEqual((status, got), (201, b"1048576 q"))
        st = self.settled()
        self.assertEqual(st["started"] - before["started"], 1)
        self.assertEqual(st["completed"] - before["completed"], 1)
        self.assertEqual((st["mixed"], st["twice"]), (0, 0))
        self.assertEqual(st["fds"], NO_FDS)

    def test_aborted_uploads_leak_no_descriptor_and_never_mix(self):
        # 100 uploads cut at random points (length-delimited and chunked,
        # four at a time on separate connections, each of one repeated byte)
        # and a complete one after every ten on a reused connection: every
        # upload's state is released exactly once, nothing leaks, no piece
        # lands in another upload's file.
        rnd = random.Random(13)
        before = self.settled()
        completes = 0
        keep = Conn(self.srv)
        for batch in range(25):
            socks = []
            for k in range(4):
                fill = bytes([97 + (batch * 4 + k) % 26])
                total = rnd.randrange(20000, 400000)
                cut = rnd.randrange(1, total)
                s = self.srv.connect()
                if rnd.random() < 0.5:
                    head = b"POST /store HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total
                    s.sendall(head + fill * cut)
                else:
                    head = b"POST /store HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    data, left = b"", cut
                    while left:
                        n = min(left, rnd.randrange(1, 70000))
                        data += b"%x\r\n" % n + fill * n + b"\r\n"
                        left -= n
                    s.sendall(head + data[:rnd.randrange(len(data) // 2, len(data) + 1)])
                socks.append(s)
            for s in socks:
                if rnd.random() < 0.3:  # a reset rather than a FIN
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                s.close()
            if batch % 3 == 0:
                body = bytes([65 + batch % 26]) * rnd.randrange(1, 300000)
                keep.send(b"POST /store HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                          % len(body) + body)
                status, _, got = keep.response()
                self.assertEqual(got, b"%d %c" % (len(body), body[0]))
                completes += 1
        keep.close()
        st = self.settled()
        started = st["started"] - before["started"]
        self.assertGreaterEqual(started, completes + 90)  # a cut before the first byte starts none
        self.assertEqual(st["done"], st["started"])
        self.assertEqual(st["completed"] - before["completed"], completes)
        self.assertEqual(st["mixed"], 0)
        self.assertEqual(st["twice"], 0)
        self.assertEqual(st["fds"], NO_FDS)
        self.assertEqual([f for f in os.listdir("/tmp")
                          if f.startswith("berth-store-%d-" % self.srv.proc.pid)], [])

    def test_route_limit_above_the_servers(self):
        # /store takes 1 GiB, the server's limit is 64 MiB: 100-continue for
        # 100 MiB on /store, 413 at once on /echo; 2 GiB is over /store's.
        c = Conn(self.srv)
        c.send(b"POST /store HTTP/1.1\r\nHost: t\r\nContent-Length: 104857600\r\n"
               b"Expect: 100-continue\r\n\r\n")
        self.assertEqual(c.response()[0], 100)
        c.close()
        for target, length in ((b"/echo", 104857600), (b"/store", 2 << 30)):
            c = Conn(self.srv)
            c.send(b"POST " + target + b" HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                   % length)
            self.assertEqual(c.response()[0], 413, target)
            c.close()


class CallerMixin:
    """Item 2: the peer and local addresses, TLS."""
    backend = None

    def test_peer_and_local_over_ipv4(self):
        srv = Server(TEST_SERVER, backend=self.backend, env=CERTS)
        try:
            c = Conn(srv)
            info = json.loads(get(c, b"/peer")[2])
            self.assertEqual((info["peer"], info["peer_family"]), ("127.0.0.1", 4))
            self.assertEqual(info["peer_port"], c.sock.getsockname()[1])
            self.assertEqual((info["local"], info["local_port"]), ("127.0.0.1", srv.port))
            self.assertFalse(info["tls"])
            c.close()
            t = TlsConn(srv)
            info = json.loads(get(t, b"/peer")[2])
            self.assertTrue(info["tls"])
            self.assertEqual(info["local_port"], srv.tls_port)
            t.close()
        finally:
            stop_clean(srv, "test server")

    @unittest.skipUnless(shutil.which("strace"), "no strace")
    def test_local_address_is_asked_of_the_socket_only_when_a_handler_wants_it(self):
        # getsockname costs a system call: berth makes it when a handler
        # asks (berth_req_local), not for each connection it accepts.
        # strace, attached to the server, counts the calls: none for 20
        # plaintext and 20 TLS connections that do not ask, then one for
        # each of the two requests that do.
        srv = Server(TEST_SERVER, backend=self.backend, env=CERTS)
        out = os.path.join(tempfile.mkdtemp(), "strace.out")
        tracer = subprocess.Popen(["strace", "-f", "-e", "trace=getsockname", "-o", out,
                                   "-p", str(srv.proc.pid)],
                                  stderr=subprocess.PIPE, text=True)
        try:
            said = tracer.stderr.readline()
            if "attached" not in said:
                tracer.wait()
                self.skipTest("strace cannot attach here: " + said.strip())
            for conn in [Conn] * 20 + [TlsConn] * 20:
                c = conn(srv)
                self.assertEqual(get(c, b"/pipeline")[0], 200)
                c.close()
            for conn, port in ((Conn, srv.port), (TlsConn, srv.tls_port)):
                c = conn(srv)
                info = json.loads(get(c, b"/peer")[2])
                self.assertEqual((info["local"], info["local_port"]), ("127.0.0.1", port))
                c.close()
            tracer.send_signal(2)  # SIGINT: detaches, its output written
            tracer.wait(10)
            with open(out) as f:
                calls = [l for l in f if "getsockname(" in l]
            self.assertEqual(len(calls), 2, "getsockname calls: %r" % calls)
        finally:
            if tracer.poll() is None:
                tracer.kill()
                tracer.wait()
            tracer.stderr.close()
            shutil.rmtree(os.path.dirname(out), ignore_errors=True)
            stop_clean(srv, "test server")

    @unittest.skipUnless(ipv6_available(), "no IPv6 loopback")
    def test_peer_over_ipv6_and_ipv4_mapped(self):
        srv = Server(TEST_SERVER, backend=self.backend,
                     env={"BERTH_LISTEN": "127.0.0.1:0, [::]:0"})
        try:
            port6 = int(srv.listeners[1].rsplit(":", 1)[1])
            s = socket.create_connection(("::1", port6), timeout=5)
            s.sendall(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
            info = json.loads(raw_response(s)[2])
            self.assertEqual((info["peer"], info["peer_family"]), ("::1", 6))
            self.assertEqual(info["peer_port"], s.getsockname()[1])
            s.close()
            # an IPv4 client of the dual-stack listener is told as IPv4
            s = socket.create_connection(("127.0.0.1", port6), timeout=5)
            s.sendall(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
            info = json.loads(raw_response(s)[2])
            self.assertEqual((info["peer"], info["peer_family"]), ("127.0.0.1", 4))
            s.close()
        finally:
            stop_clean(srv, "test server")


class HooksMixin:
    """Item 3: before hook, error answers, Server/Date, the access log."""
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(TEST_SERVER, backend=cls.backend,
                         env={"BERTH_TEST_HOOKS": "1", "BERTH_THREADS": "2"})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "test server")

    def test_every_response_gets_the_before_hooks_header(self):
        c = Conn(self.srv)
        ids = []
        for target in (b"/pipeline", b"/json", b"/nope"):
            status, headers, _ = get(c, target)
            ids.append(int(header(headers, "X-Request-Id")))
        self.assertEqual(len(set(ids)), 3)
        c.close()

    def test_preflight_answered_by_the_before_hook(self):
        c = Conn(self.srv)
        c.send(b"OPTIONS /anything/at/all HTTP/1.1\r\nHost: t\r\nOrigin: http://a\r\n\r\n")
        status, headers, body = c.response()
        self.assertEqual(status, 204)
        self.assertEqual(header(headers, "Access-Control-Allow-Methods"), "GET, POST, OPTIONS")
        self.assertEqual(get(c, b"/pipeline")[2], b"ok")  # kept alive
        c.close()

    def test_berths_errors_carry_json_and_cors(self):
        cases = [
            (b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, True),
            (b"DELETE /echo HTTP/1.1\r\nHost: t\r\n\r\n", 405, True),
            (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999999\r\n\r\n", 413, True),
            (b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: 1\r\n\r\n", 400, False),
            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, False),
            (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, False),
        ]
        for req, want, has_req in cases:
            c = Conn(self.srv)
            c.send(req)
            status, headers, body = c.response()
            self.assertEqual(status, want, req[:40])
            self.assertEqual(header(headers, "Content-Type"), "application/json")
            self.assertEqual(header(headers, "Access-Control-Allow-Origin"), "*")
            self.assertEqual(json.loads(body), {"error": want, "reason": json.loads(
                body)["reason"], "request": has_req})
            if want == 405:
                self.assertEqual(header(headers, "Allow"), "POST")
            c.close()

    def test_handler_may_replace_server_and_omit_date(self):
        c = Conn(self.srv)
        _, headers, _ = get(c, b"/pipeline", b"X-Server-Name: edge/2\r\nX-No-Date: 1\r\n")
        self.assertEqual([v for k, v in headers if k.lower() == "server"], ["edge/2"])
        self.assertIsNone(header(headers, "Date"))
        _, headers, _ = get(c, b"/pipeline")
        self.assertEqual([v for k, v in headers if k.lower() == "server"], ["berth"])
        self.assertIsNotNone(header(headers, "Date"))
        c.close()

    def test_access_log_has_a_line_per_request(self):
        srv = Server(backend=self.backend, env={"BERTH_ACCESS_LOG": "1", "TLS_PORT": "off"})
        c = Conn(srv)
        # The Combined Log Format: the request's Referer and User-Agent (the
        # after hook reads them with berth_done_req_header), quotes escaped.
        get(c, b"/pipeline", b'Referer: http://a.example/"x\r\nUser-Agent: t/1 (x)\r\n')
        get(c, b"/nope")
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        c.response()
        # a deferred response: its request's headers are kept until it ends
        c.send(b"GET /sse?n=2&interval_ms=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: sse/2\r\n\r\n")
        _, _, sse = c.response()
        c.send(b"BAD\r\n\r\n")
        c.response()
        c.close()
        stop_clean(srv, "berth-serve")
        lines = srv.proc_stdout.splitlines()[1:]
        self.assertEqual(len(lines), 5, lines)
        self.assertRegex(lines[0], r'^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                                   r'"GET /pipeline HTTP/1\.1" 200 2 "http://a\.example/\\x22x" '
                                   r'"t/1 \(x\)" \d+\.\d{6} [0-9a-f]{16}$')
        self.assertRegex(lines[1], r'"GET /nope HTTP/1\.1" 404 10 "-" "-" \d+\.\d{6} [0-9a-f]{16} '
                                   r'rejected no-route$')
        self.assertIn('"POST /upload HTTP/1.1" 200 1 "-" "-" ', lines[2])
        self.assertIn('"GET /sse?n=2&interval_ms=1 HTTP/1.1" 200 %d "-" "sse/2" ' % len(sse),
                      lines[3])
        self.assertRegex(lines[4], r'"-" 400 (\d+|-) "-" "-" \d+\.\d{6} [0-9a-f]{16} rejected bad-request$')


class ListenMixin:
    """Item 4: several listeners, Unix sockets, sockets handed over."""
    backend = None

    def ask(self, family, addr, tls=False):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(addr)
            s.sendall(b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n")
            return raw_response(s)[2]

    def test_tcp_ipv6_unix_and_tls_listeners_at_once(self):
        tmp = tempfile.mkdtemp(prefix="berth-listen-")
        path = os.path.join(tmp, "s.sock")
        v6 = ", [::1]:0" if ipv6_available() else ""
        srv = Server(TEST_SERVER, backend=self.backend,
                     env=dict(CERTS, BERTH_THREADS="2",
                              BERTH_LISTEN="127.0.0.1:0, unix:%s, 127.0.0.1:0 tls%s" % (path, v6)))
        try:
            ls = srv.listeners
            self.assertEqual(ls[1], "unix:" + path)
            self.assertTrue(ls[2].startswith("https://127.0.0.1:"))
            self.assertEqual(self.ask(socket.AF_INET, ("127.0.0.1", srv.port)), b"ok")
            self.assertEqual(self.ask(socket.AF_UNIX, path), b"ok")
            t = TlsConn(srv)
            self.assertEqual(get(t, b"/pipeline")[2], b"ok")
            t.close()
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            c.sendall(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
            info = json.loads(raw_response(c)[2])
            c.close()
            self.assertEqual((info["peer_family"], info["local_family"], info["local"]),
                             (1, 1, path))
            if v6:
                port6 = int(ls[3].rsplit(":", 1)[1])
                self.assertEqual(self.ask(socket.AF_INET6, ("::1", port6)), b"ok")
        finally:
            stop_clean(srv, "test server")
            self.assertFalse(os.path.exists(path))  # the socket file is removed
            shutil.rmtree(tmp, ignore_errors=True)

    def test_stale_unix_socket_file_is_replaced_a_live_one_refused(self):
        tmp = tempfile.mkdtemp(prefix="berth-listen-")
        path = os.path.join(tmp, "s.sock")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()  # the file stays, nobody listens
        srv = Server(TEST_SERVER, backend=self.backend, env={"BERTH_LISTEN": "unix:" + path})
        try:
            self.assertEqual(self.ask(socket.AF_UNIX, path), b"ok")
            # a second server on the same live path fails, naming it
            env = dict(os.environ, PORT="0", TLS_PORT="off", HTTP_BACKEND=self.backend,
                       BERTH_LISTEN="unix:" + path)
            p = subprocess.run([os.path.join(BUILD, "tests", "berth-test-server")], env=env,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn("cannot listen on unix:%s: Address already in use" % path, p.stderr)
        finally:
            stop_clean(srv, "test server")
            shutil.rmtree(tmp, ignore_errors=True)

    def test_listening_socket_handed_over_by_descriptor(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        port = ls.getsockname()[1]
        fd = ls.fileno()
        srv = Server(TEST_SERVER, backend=self.backend,
                     env={"BERTH_LISTEN": "fd:%d" % fd}, pass_fds=(fd,))
        try:
            self.assertEqual(srv.port, port)
            self.assertEqual(self.ask(socket.AF_INET, ("127.0.0.1", port)), b"ok")
        finally:
            stop_clean(srv, "test server")
            ls.close()

    @unittest.skipUnless(shutil.which("systemd-socket-activate"), "no systemd-socket-activate")
    def test_systemd_socket_activation(self):
        # systemd-socket-activate listens, and on the first connection execs
        # the server with the socket as fd 3 (LISTEN_FDS, LISTEN_PID).
        port = free_port()
        env = dict(os.environ, BERTH_LISTEN="systemd", HTTP_BACKEND=self.backend, PORT="0",
                   TLS_PORT="off")
        keep = ["-E" + k for k in ("BERTH_LISTEN", "HTTP_BACKEND", "PORT", "TLS_PORT",
                                   "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")]
        proc = subprocess.Popen(["systemd-socket-activate", "-l", "127.0.0.1:%d" % port] + keep +
                                [os.path.join(BUILD, "tests", "berth-test-server")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 5
            while True:
                try:
                    body = self.ask(socket.AF_INET, ("127.0.0.1", port))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self.assertEqual(body, b"ok")
            line = proc.stdout.readline()
            self.assertIn("listeners=http://127.0.0.1:%d" % port, line)
            self.assertEqual(self.ask(socket.AF_INET, ("127.0.0.1", port)), b"ok")
            proc.terminate()
            self.assertEqual(proc.wait(10), 0)
            err = proc.stderr.read()
            self.assertNotIn("Sanitizer", err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def test_bad_listen_variable_warns_and_uses_port(self):
        srv = Server(TEST_SERVER, backend=self.backend, env={"BERTH_LISTEN": "70000"})
        try:
            self.assertEqual(self.ask(socket.AF_INET, ("127.0.0.1", srv.port)), b"ok")
        finally:
            stop_clean(srv, "test server")
        self.assertIn("BERTH_LISTEN='70000'", srv.stderr_text)
        self.assertIn("using PORT", srv.stderr_text)


class ProxyMixin:
    """Item 2's option: the PROXY protocol (v1 and v2) on a listener."""
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(TEST_SERVER, backend=cls.backend,
                         env=dict(CERTS, BERTH_LISTEN="127.0.0.1:0 proxy, 127.0.0.1:0 tls proxy",
                                  BERTH_HEADER_TIMEOUT_MS="500"))
        cls.addClassCleanup(stop_clean, cls.srv, "test server")  # even if the next line fails
        cls.tls_port = int(cls.srv.listeners[1].rsplit(":", 1)[1])

    def peer_after(self, header):
        with self.srv.connect() as s:
            s.sendall(header + b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
            r = raw_response(s)
            return json.loads(r[2]) if r else None

    def test_v1_names_the_client(self):
        info = self.peer_after(b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n")
        self.assertEqual((info["peer"], info["peer_port"]), ("192.0.2.7", 56324))
        self.assertEqual((info["local"], info["local_port"]), ("198.51.100.1", 443))
        info = self.peer_after(b"PROXY TCP6 2001:db8::7 2001:db8::1 1000 80\r\n")
        self.assertEqual((info["peer"], info["peer_family"]), ("2001:db8::7", 6))

    def test_v2_names_the_client_local_keeps_the_socket(self):
        sig = b"\r\n\r\n\x00\r\nQUIT\n"
        addr = bytes([203, 0, 113, 9, 10, 0, 0, 1]) + (4321).to_bytes(2, "big") + (80).to_bytes(2, "big")
        info = self.peer_after(sig + b"\x21\x11" + len(addr).to_bytes(2, "big") + addr)
        self.assertEqual((info["peer"], info["peer_port"], info["local"]),
                         ("203.0.113.9", 4321, "10.0.0.1"))
        info = self.peer_after(sig + b"\x20\x00\x00\x00")  # LOCAL: a health check
        self.assertEqual(info["peer"], "127.0.0.1")
        # no address in the header: the local one is the socket's, asked of
        # the transport (core/transport.h)
        self.assertEqual((info["local"], info["local_port"]), ("127.0.0.1", self.srv.port))

    def test_keep_alive_after_the_header(self):
        c = Conn(self.srv)
        c.send(b"PROXY TCP4 192.0.2.8 198.51.100.1 1 2\r\n")
        for _ in range(3):
            self.assertEqual(json.loads(get(c, b"/peer")[2])["peer"], "192.0.2.8")
        c.close()

    def test_tls_behind_the_header(self):
        self.assertEqual(self.srv.tls_port, self.tls_port)
        t = TlsConn(self.srv, preamble=b"PROXY TCP4 192.0.2.9 198.51.100.1 7 443\r\n")
        info = json.loads(get(t, b"/peer")[2])
        self.assertEqual((info["peer"], info["tls"]), ("192.0.2.9", True))
        self.assertEqual((info["local"], info["local_port"]), ("198.51.100.1", 443))
        t.close()
        # TLS behind a LOCAL header: the socket's own address
        t = TlsConn(self.srv, preamble=b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
        info = json.loads(get(t, b"/peer")[2])
        self.assertEqual((info["local"], info["local_port"], info["tls"]),
                         ("127.0.0.1", self.tls_port, True))
        t.close()

    def test_plain_http_behind_the_header_on_the_tls_port_gets_a_400(self):
        # PROXY passes the request up to TLS, which steps aside: the engine
        # answers (core/tls.c step_aside), once, and closes.
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as s:
            s.sendall(b"PROXY TCP4 192.0.2.9 198.51.100.1 7 443\r\nGET /peer HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n")
            out = b""
            for chunk in iter(lambda: s.recv(4096), b""):
                out += chunk
        self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out)
        self.assertIn(b"\r\nConnection: close\r\n", out)
        self.assertTrue(out.endswith(b"\r\n\r\nBad Request: this port speaks HTTPS.\n"), out)

    def test_no_or_bad_header_is_closed_unanswered(self):
        for data in (b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n", b"PROXY TCP4 1.2.3.4\n",
                     b"PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n"):
            with self.srv.connect() as s:
                s.sendall(data)
                s.settimeout(3)
                self.assertEqual(s.recv(100), b"", data)
        with self.srv.connect() as s:  # silent: closed at the header timeout
            s.settimeout(3)
            t0 = time.monotonic()
            self.assertEqual(s.recv(100), b"")
            self.assertLess(time.monotonic() - t0, 2.5)


class RouterMixin:
    """Item 5: wildcard and affixed parameters, decoded, over sockets."""
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(TEST_SERVER, backend=cls.backend)

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "test server")

    def test_wildcard_and_affixed_parameters_decoded(self):
        c = Conn(self.srv)
        self.assertEqual(get(c, b"/files/a/b%20c/d.txt")[2], b"a/b c/d.txt")
        self.assertEqual(get(c, b"/files/")[2], b"")
        self.assertEqual(get(c, b"/files")[0], 404)
        self.assertEqual(get(c, b"/doc/readme.json")[2], b"readme")
        self.assertEqual(get(c, b"/doc/.json")[0], 404)
        self.assertEqual(get(c, b"/files/%zz")[0], 400)
        c.close()


for _b in BACKENDS:
    for _name, _mixin in (("Lifetime", LifetimeMixin), ("Caller", CallerMixin),
                          ("Hooks", HooksMixin), ("Listen", ListenMixin), ("Router", RouterMixin),
                          ("Proxy", ProxyMixin)):
        globals()["%s_%s" % (_name, _b)] = type("%s_%s" % (_name, _b),
                                               (_mixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main()
