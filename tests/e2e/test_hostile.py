"""Hostile clients, on every backend, loopback only, bounded in time.

- 500 connections trickling header bytes: every other client completes its
  requests, and each trickler gets 408 at the header timeout, never early
  and at most 1 s late (a loaded CPU's margin; the throughput beside them
  is printed, not checked);
- clients that send requests and never read: server memory stays within
  the per-connection output limit;
- 10,000 concurrent keep-alive connections (every backend);
- the connection cap under load: 503 and close, recovery once places free;
- resets at random points (mid-head, mid-body, mid-TLS-handshake,
  mid-stream): the descriptor count returns to its start, and under ASan
  the stop reports no leak;
- one client flooding a one-thread server, plaintext and TLS: others are
  answered in well under a second while the flood is still consumed;
- a client refused (413) while it sends a large body gets the answer.

Throughput beside the tricklers is measured by bench-load (bench/load.c, a
C client: a Python one would measure itself) and printed only: a timed
test fails on a loaded machine, so what is checked are counts. Under a
sanitizer the timing and RSS figures are printed, not checked.

Run: BERTH_BUILD=/path/to/build python3 test_hostile.py -v
"""
import json
import multiprocessing
import os
import random
import resource
import selectors
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from berthproc import BACKENDS, BUILD, CERT, KEY, Conn, Server, TlsSock, conn_descriptors, \
    conn_sockets, linux_only, rss_kib, sanitized, stop_clean

TEST_SERVER = "tests/berth-test-server"
BENCH_LOAD = os.path.join(BUILD, "bench", "bench-load")
HEALTH = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"

# Output per connection berth may hold before it stops reading requests
# (core/engine.c out_high_water), plus the response that crosses it and the
# input and body buffers: a generous per-connection allowance.
PER_CONN_OUTPUT_KIB = 256
PER_CONN_ALLOWANCE_KIB = 1024


def fd_count(pid):
    """The process's sockets (fast's parked threads keep other descriptors)."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return n


def server_sockets(pid):
    """The TCP sockets of process pid as ss(8) shows them (state, queues,
    peer): what a leak left open, for the failure's message."""
    try:
        out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return "(ss: %s)" % e
    return "\n" + "\n".join(line for line in out.splitlines() if "pid=%d," % pid in line)


def wait_fds(pid, target, within=5.0):
    """The server's descriptor count once it is back to target (or the last
    count seen after `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        n = fd_count(pid)
        if n <= target or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def rst(s):
    """Closes s with an RST (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def load(port, seconds, conns=8, request=HEALTH):
    """Requests per second of bench-load against port, and its error count."""
    with tempfile.NamedTemporaryFile(suffix=".req") as f:
        f.write(request)
        f.flush()
        out = subprocess.run([BENCH_LOAD, "-p", str(port), "-c", str(conns), "-d", str(seconds),
                              f.name], capture_output=True, text=True, timeout=seconds + 30,
                             # the load generator is not under test (in a sanitizer
                             # build it is instrumented too; it frees nothing at exit)
                             env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    line = [x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")]
    if out.returncode != 0 or not line:
        raise AssertionError("bench-load failed: %s %s" % (out.stdout, out.stderr))
    r = json.loads(line[0][len("BENCH_JSON "):])
    return r["requests"] / (r["duration_us"] / 1e6), sum(r["errors"].values())


class Tricklers(threading.Thread):
    """n connections each sending a byte of an endless head every `every`
    seconds; a connection answered is closed and replaced. Records, for
    every answer, (status, seconds from the first byte to the answer)."""

    HEAD = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100000

    def __init__(self, port, n, every):
        super().__init__(daemon=True)
        self.port, self.n, self.every = port, n, every
        self.answers = []
        self.open_now = 0
        self.stopping = threading.Event()
        self.error = None

    def _open(self, sel, now):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setblocking(False)
        # state: [first byte sent at, bytes sent, next send time]
        sel.register(s, selectors.EVENT_READ, [time.monotonic(), 0, now + random.random() * self.every])

    def run(self):
        sel = selectors.DefaultSelector()
        try:
            now = time.monotonic()
            for _ in range(self.n):
                self._open(sel, now)
            self.open_now = self.n
            while not self.stopping.is_set():
                events = sel.select(timeout=0.01)
                t = time.monotonic()  # every answer in the batch was there by now
                for key, _ in events:
                    s, st = key.fileobj, key.data
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else None
                    self.answers.append((status, t - st[0]))
                    sel.unregister(s)
                    s.close()
                # Replacements after the batch: opening one takes a while,
                # which would count against the answers still to be read.
                for _ in events:
                    self._open(sel, time.monotonic())
                now = time.monotonic()
                for key in list(sel.get_map().values()):
                    st = key.data
                    if now >= st[2]:
                        if st[1] == 0:
                            st[0] = now  # the header timeout runs from the head's first byte
                        try:
                            key.fileobj.send(self.HEAD[st[1]:st[1] + 1])
                        except OSError:
                            pass
                        st[1] += 1
                        st[2] += self.every
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()


def ws_upgrade(s):
    """Upgrades connection s to a WebSocket at /ws of the test server."""
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the upgrade")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head


class Flooder(multiprocessing.Process):
    """One connection sending as fast as it can, reading nothing, from a
    process of its own (a thread floods less: the interpreter lock): 'ws',
    one endless message of empty continuation frames (berth sends 1008 at
    its 65,537th frame, then drops the rest as it lingers); 'chunks', an
    endless upload of 1-byte chunks; 'pipeline', requests never read."""

    BLOCKS = {
        "ws": b"\x00\x80abcd" * 60000,
        "chunks": b"1\r\nx\r\n" * 60000,
        "pipeline": HEALTH * 10000,
    }

    def __init__(self, srv, kind, tls):
        super().__init__(daemon=True)
        self.port, self.kind, self.tls = (srv.tls_port if tls else srv.port), kind, tls
        self.sent = multiprocessing.Value("q", 0)

    def run(self):
        if self.tls:
            s = TlsSock(self.port, timeout=10)
        else:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if self.kind == "ws":
            ws_upgrade(s)
            s.sendall(b"\x01\x80abcd")  # the message's first frame, empty
        elif self.kind == "chunks":
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = self.BLOCKS[self.kind]
        try:
            while True:
                s.sendall(block)
                self.sent.value += len(block)
        except OSError:
            pass  # the pipelined flood blocks once berth stops reading it

    def end(self):
        self.kill()
        self.join(10)


class HostileMixin:
    backend = None

    def start(self, **env):
        e = {"BERTH_THREADS": "1"}
        e.update(env)
        srv = Server(TEST_SERVER, backend=self.backend, env=e)
        self.addCleanup(lambda: srv.proc.poll() is None and srv.proc.kill())
        return srv

    def get_ok(self, srv, tls=False):
        s = TlsSock(srv.tls_port) if tls else srv.connect()
        s.sendall(HEALTH)
        data = b""
        while b"\r\n\r\nok" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        return data.startswith(b"HTTP/1.1 200")

    # -- 500 tricklers

    def others_complete(self, port, conns=16, n=100, timeout=30):
        """Keep-alive clients asking /health n times each, one request at a
        time: how many were answered 200 before `timeout` seconds."""
        done = []

        def client():
            got = 0
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                buf = b""
                for _ in range(n):
                    s.sendall(HEALTH)
                    while b"\r\n\r\nok" not in buf:
                        chunk = s.recv(4096)
                        if not chunk:
                            raise ConnectionError("closed")
                        buf += chunk
                    if not buf.startswith(b"HTTP/1.1 200 "):
                        break
                    buf = buf.split(b"\r\n\r\nok", 1)[1]
                    got += 1
                s.close()
            except OSError:
                pass
            done.append(got)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 5)
        return sum(done)

    def test_tricklers_get_408_on_time_and_others_are_served(self):
        # Counts, not throughput (issue 21: "others keep 80%" failed on a
        # loaded machine): every other client completes its requests while
        # 500 tricklers hang, each trickler gets its 408, never early and
        # within a second of the header timeout (berth promises about
        # 100 ms; the margin is for a loaded CPU, a broken timer is seconds
        # off). The throughput beside them is printed (bench-load), not
        # checked: bench/ is where throughput is compared.
        timeout_ms = 1500
        srv = self.start(BERTH_HEADER_TIMEOUT_MS=str(timeout_ms))
        try:
            have_load = os.path.exists(BENCH_LOAD)
            base = max(load(srv.port, 1) for _ in range(2)) if have_load else None
            tr = Tricklers(srv.port, 500, 0.25)
            tr.start()
            time.sleep(0.3)  # all 500 open and trickling
            loaded = max(load(srv.port, 1) for _ in range(2)) if have_load else None
            answered = self.others_complete(srv.port)
            time.sleep(timeout_ms / 1000 + 0.5)  # every trickler opened so far is answered
            tr.stopping.set()
            tr.join(10)
            self.assertIsNone(tr.error)
            self.assertEqual(answered, 16 * 100, "other clients not all served beside the tricklers")
            if have_load:
                self.assertEqual((base[1], loaded[1]), (0, 0), "bench-load saw errors")
            spread = sorted(a[1] for a in tr.answers)
            print("\n%s: %d answers to tricklers, 408 at %.3f-%.3f s (timeout %.1f s); "
                  "others %s" % (self.backend, len(tr.answers), spread[0] if spread else 0,
                                 spread[-1] if spread else 0, timeout_ms / 1000,
                                 "%.0f req/s alone, %.0f beside them" % (base[0], loaded[0])
                                 if have_load else "(no bench-load: throughput not measured)"))
            self.assertGreaterEqual(len(tr.answers), 500, "tricklers not all answered")
            self.assertTrue(all(a[0] == 408 for a in tr.answers), "a trickler got no 408")
            if sanitized(srv.proc.pid):
                return  # a sanitizer's slowdown says nothing about berth's timing
            timeout = timeout_ms / 1000
            early = [round(a[1], 3) for a in tr.answers if a[1] < timeout - 0.02]
            late = [round(a[1], 3) for a in tr.answers if a[1] > timeout + 1.0]
            self.assertEqual(early, [], "408 before the header timeout")
            self.assertEqual(late, [], "408 more than 1 s after the header timeout")
            self.assertTrue(self.get_ok(srv))
        finally:
            stop_clean(srv, "tricklers", within=10)

    # -- one client flooding the only thread (issue 30)

    def test_a_flooding_client_does_not_hold_up_the_others(self):
        srv = self.start(TLS_CERT=CERT, TLS_KEY=KEY)
        failed = []
        try:
            for kind in ("ws", "chunks", "pipeline"):
                for tls in (False, True):
                    what = "%s flood%s" % (kind, " over TLS" if tls else "")
                    try:
                        took, during = self.probe_during_flood(srv, kind, tls)
                    except OSError as e:
                        took, during = [repr(e)], 0
                    print("\n%s %s: probes %r s; %.1f MiB of the flood consumed from the first"
                          % (self.backend, what, took, during / 2**20))
                    # The bad case is a probe timing out (5 s): the margin is wide.
                    if not all(isinstance(t, float) and t < 1.0 for t in took):
                        failed.append((what, took))
                    elif kind != "pipeline" and during < 1 << 20:
                        failed.append((what, "the flood was not served"))
            self.assertEqual(failed, [])
        finally:
            stop_clean(srv, "floods", within=10)

    def probe_during_flood(self, srv, kind, tls):
        """Seconds each of 5 probes took (None: no answer) while one client
        floods, and how much of the flood berth took from the first probe
        until 1 MiB (or 10 s)."""
        f = Flooder(srv, kind, tls)
        f.start()
        try:
            deadline = time.monotonic() + 10
            flowing = (1 if kind == "pipeline" else 4) << 20  # that one blocks early
            while f.sent.value < flowing and time.monotonic() < deadline and f.is_alive():
                time.sleep(0.01)
            took, before = [], f.sent.value
            for _ in range(5):
                t0 = time.monotonic()
                ok = self.get_ok(srv)
                took.append(round(time.monotonic() - t0, 3) if ok else None)
                time.sleep(0.05)
            # The flood must still be served, not cut or starved to favour
            # the probes: 1 MiB more of it taken (the pipelined one blocks
            # early, unread, by design), however long a sanitizer
            # on a loaded machine needs (TSan took under 1 MiB of 1-byte
            # TLS chunks in the probes' 0.3 s), up to 10 s.
            deadline = time.monotonic() + 10
            while (kind != "pipeline" and f.sent.value - before < 1 << 20
                   and time.monotonic() < deadline and f.is_alive()):
                time.sleep(0.01)
            return took, f.sent.value - before
        finally:
            f.end()

    # -- refused while sending a large body (issue 20)

    def test_413_reaches_a_client_still_sending_its_body(self):
        srv = self.start()
        try:
            for _ in range(3):
                c = Conn(srv, 10)
                c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                       % (65 << 20))  # above max_body (64 MiB): 413 before any byte
                c.send(bytes(8 << 20))  # read only once sent, as many clients do
                self.assertEqual(c.response()[0], 413)
                c.close()
        finally:
            stop_clean(srv, "413 to a sending client", within=10)

    # -- clients that never read

    def test_clients_that_never_read_stay_within_the_output_limit(self):
        srv = self.start(BERTH_MAX_STREAM_BUFFER="262144")
        n, body = 16, b"e" * 65536
        one = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        socks, sent, threads = [], [0] * n, []
        try:
            for _ in range(50):
                self.assertTrue(self.get_ok(srv))
            rss0 = rss_kib(srv.proc.pid)

            def hog(i, s):
                s.settimeout(2)
                try:
                    for _ in range(400):  # 26 MB of requests, 26 MB of answers
                        s.sendall(one)
                        sent[i] += len(one)
                except OSError:
                    pass  # blocked: berth stopped reading

            for i in range(n):
                s = srv.connect()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                socks.append(s)
                threads.append(threading.Thread(target=hog, args=(i, s), daemon=True))
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            grown = rss_kib(srv.proc.pid) - rss0
            print("\n%s: %d clients not reading sent %.1f MiB of requests in all; server RSS "
                  "grew %d KiB (%.0f KiB a client; output limit %d KiB a client)"
                  % (self.backend, n, sum(sent) / 2**20, grown, grown / n, PER_CONN_OUTPUT_KIB))
            # Each answer is as big as its request: without the limit berth
            # would hold everything it read.
            self.assertGreater(min(sent), 2 * PER_CONN_ALLOWANCE_KIB * 1024)
            if not sanitized(srv.proc.pid):
                self.assertLess(grown, n * PER_CONN_ALLOWANCE_KIB)
            self.assertTrue(self.get_ok(srv), "others not served meanwhile")
        finally:
            for s in socks:
                rst(s)
            stop_clean(srv, "never-reading clients", within=10)

    # -- the connection cap under load

    def test_connection_cap_under_load_refuses_with_503_and_recovers(self):
        cap = 64
        srv = self.start(BERTH_MAX_CONNECTIONS=str(cap), BERTH_THREADS="2")
        held = []
        stop = threading.Event()
        errors = []

        def busy(s):  # requests on a held connection, back to back
            try:
                while not stop.is_set():
                    s.sendall(HEALTH)
                    data = b""
                    while not data.endswith(b"\r\n\r\nok"):
                        chunk = s.recv(4096)
                        if not chunk:
                            raise ConnectionError("held connection closed")
                        data += chunk
            except Exception as e:
                errors.append(e)

        try:
            for _ in range(cap):
                s = srv.connect()
                s.sendall(HEALTH)
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))
                held.append(s)
            workers = [threading.Thread(target=busy, args=(s,), daemon=True) for s in held[:16]]
            for w in workers:
                w.start()
            refused = 0
            for _ in range(50):
                s = srv.connect()
                s.sendall(HEALTH)
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                s.close()
                self.assertTrue(data.startswith(b"HTTP/1.1 503"), data[:100])
                self.assertIn(b"Connection: close", data)
                refused += 1
            stop.set()
            for w in workers:
                w.join(5)
            self.assertEqual(errors, [])
            for s in held[:8]:
                s.close()
            held = held[8:]
            # Places free: new connections are served again.
            deadline = time.monotonic() + 3
            while not self.get_ok(srv) and time.monotonic() < deadline:
                time.sleep(0.05)
            served = sum(self.get_ok(srv) for _ in range(20))
            print("\n%s: cap %d held, %d refused with 503 under load, %d served after 8 left"
                  % (self.backend, cap, refused, served))
            self.assertEqual(served, 20)
        finally:
            stop.set()
            for s in held:
                s.close()
            stop_clean(srv, "connection cap", within=10)

    # -- resets at random points

    @linux_only("/proc/PID/fd to count the server's sockets")
    def test_random_resets_leak_nothing(self):
        srv = self.start(BERTH_THREADS="2", TLS_CERT=CERT, TLS_KEY=KEY)
        rnd = random.Random(16)
        try:
            self.assertTrue(self.get_ok(srv))
            self.assertTrue(self.get_ok(srv, tls=True))
            time.sleep(0.2)  # the server's side of those closed too
            fds0 = fd_count(srv.proc.pid)
            post = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"p" * 100000
            chunked = (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       b"1000\r\n" + b"c" * 4096 + b"\r\n") * 8 + b"0\r\n\r\n"
            stream = b"GET /tick?interval_ms=5 HTTP/1.1\r\nHost: t\r\n\r\n"
            kinds = {"head": 0, "body": 0, "chunked": 0, "stream": 0, "tls-handshake": 0,
                     "tls-request": 0}
            for i in range(300):
                kind = rnd.choice(sorted(kinds))
                kinds[kind] += 1
                if kind == "tls-handshake":
                    # A ClientHello (or part of it), then an RST.
                    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
                    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
                    ctx = ssl.create_default_context()
                    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                    obj = ctx.wrap_bio(inc, out, server_side=False)
                    try:
                        obj.do_handshake()
                    except ssl.SSLWantReadError:
                        pass
                    hello = out.read()
                    if rnd.random() < 0.5:
                        raw.sendall(hello[:rnd.randint(1, len(hello) - 1)])
                    else:
                        raw.sendall(hello)
                        raw.recv(rnd.randint(1, 3000))  # part of the server's flight
                    rst(raw)
                    continue
                if kind == "tls-request":
                    s = TlsSock(srv.tls_port)
                    if rnd.random() < 0.5:  # mid-body
                        s.sendall(post[:rnd.randint(1, len(post))])
                    else:  # mid-stream
                        s.sendall(stream)
                        s.recv(rnd.randint(1, 500))
                    rst(s.raw)
                    continue
                s = srv.connect()
                data = {"head": HEALTH, "body": post, "chunked": chunked, "stream": stream}[kind]
                s.sendall(data[:rnd.randint(1, len(data))] if kind != "stream" else data)
                if kind == "stream":
                    s.recv(rnd.randint(1, 500))
                    time.sleep(rnd.random() * 0.02)
                rst(s)
            self.assertTrue(self.get_ok(srv))
            fds = wait_fds(srv.proc.pid, fds0)
            print("\n%s: 300 resets %r; server sockets %d before, %d after"
                  % (self.backend, kinds, fds0, fds))
            self.assertEqual(fds, fds0, "descriptors leaked: %s" % server_sockets(srv.proc.pid))
        finally:
            stop_clean(srv, "random resets", within=10)  # LeakSanitizer under ASan


class ManyConnectionsMixin:
    backend = None

    @linux_only("/proc/PID/fd to count the server's sockets")
    def test_10000_keep_alive_connections(self):
        want = 10000
        per = conn_descriptors(self.backend)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < want * per + 200:
            if hard < want + 200:
                self.skipTest("hard RLIMIT_NOFILE %d < %d: cannot hold 10,000 connections"
                              % (hard, want + 200))
            # This build spends more than one descriptor on a connection
            # (docs/PLATFORMS.md): as many as the limit allows.
            want = (hard - 200) // per
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        srv = Server(TEST_SERVER, backend=self.backend, env={"BERTH_THREADS": "2"})
        socks = []
        sel = selectors.DefaultSelector()
        if self.backend.startswith("fast") and sanitized(srv.proc.pid):
            # A thread a connection: under ThreadSanitizer each costs a
            # shadow of its own, and 10,000 did not all start in 60 s
            # (2,036 unanswered); the sanitizers look at fewer.
            want = 2000
        try:
            fds0 = fd_count(srv.proc.pid)
            t0 = time.monotonic()
            for _ in range(want):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                socks.append(s)
            rounds = []
            for _ in range(2):  # every connection answers, then answers again
                for s in socks:
                    s.setblocking(True)
                    s.sendall(HEALTH)
                    s.setblocking(False)
                    sel.register(s, selectors.EVENT_READ, [b""])
                pending, deadline = len(socks), time.monotonic() + 60
                while pending and time.monotonic() < deadline:
                    for key, _ in sel.select(timeout=1):
                        buf = key.data
                        try:
                            chunk = key.fileobj.recv(4096)
                        except BlockingIOError:
                            continue
                        if not chunk:
                            raise AssertionError("a keep-alive connection was closed")
                        buf[0] += chunk
                        if buf[0].endswith(b"\r\n\r\nok"):
                            self.assertTrue(buf[0].startswith(b"HTTP/1.1 200"))
                            sel.unregister(key.fileobj)
                            pending -= 1
                self.assertEqual(pending, 0, "connections not answered within 60 s")
                rounds.append(fd_count(srv.proc.pid))
            took = time.monotonic() - t0
            print("\n%s: %d connections held, 2 requests each in %.1f s; server fds %d -> %s"
                  % (self.backend, want, took, fds0, rounds))
            self.assertGreaterEqual(min(rounds), fds0 + want * conn_sockets(self.backend))
            for s in socks:
                s.close()
            socks = []
            self.assertEqual(wait_fds(srv.proc.pid, fds0, within=10), fds0)
        finally:
            sel.close()
            for s in socks:
                s.close()
            stop_clean(srv, "10,000 connections", within=10)


for _b in BACKENDS:
    globals()["Hostile_" + _b] = type("Hostile_" + _b, (HostileMixin, unittest.TestCase),
                                      {"backend": _b})
    if _b in ("reactor", "libuv", "fast"):  # fast: a thread each, under its max_threads
        globals()["Many_" + _b] = type("Many_" + _b, (ManyConnectionsMixin, unittest.TestCase),
                                       {"backend": _b})

if __name__ == "__main__":
    unittest.main()
