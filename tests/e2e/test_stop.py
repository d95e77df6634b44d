"""Stopping a busy server, on every backend: nothing read is lost, every
connection ends with a response that says Connection: close and a FIN (never
a reset), open streams end at once, and nothing leaks or crashes."""
import json
import os
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

from berthproc import BACKENDS, BUILD, CERTS, ROOT, Conn, Server, header, stop_clean

sys.path.insert(0, os.path.join(ROOT, "bench"))
import stop_trial  # noqa: E402

TEST_SERVER = "tests/berth-test-server"
REQ = b"GET /counted HTTP/1.1\r\nHost: t\r\n\r\n"


def recv_or_end(client):
    """Bytes from a non-blocking client socket; b"" at EOF, None if there
    are none yet or the connection was reset (client.end says which)."""
    try:
        data = client.sock.recv(65536)
    except ConnectionResetError:
        client.end = "rst"
        return None
    except BlockingIOError:
        return None
    if not data:
        client.end = "eof"  # a client closes its side in turn (drive())
    return data


class LoadConn:
    """A keep-alive client that sends batches of `depth` pipelined requests
    (one write each) and waits for all their responses before the next."""

    def __init__(self, port, depth):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.depth = depth
        self.buf = b""
        self.expect = 0          # responses still due for the batch in flight
        self.responses = 0
        self.last_close = None   # did the last response say Connection: close
        self.closing = False     # a close response arrived: send no more
        self.partial = 0         # batches answered in part (a lost request)
        self.unanswered = 0      # batches sent that got nothing before the FIN
        self.after_close = 0     # responses after one that said close
        self.end = None          # "eof" or "rst"
        self.bad = []

    def send_batch(self):
        try:
            self.sock.send(REQ * self.depth)
        except (BrokenPipeError, ConnectionResetError):
            self.end = "rst"
            return
        self.expect = self.depth

    def on_readable(self):
        data = recv_or_end(self)
        if data is None:
            return
        if not data:
            if 0 < self.expect < self.depth:
                self.partial += 1
            elif self.expect == self.depth:
                self.unanswered += 1
            return
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end].decode("latin-1").split("\r\n")
            fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in head[1:])}
            length = int(fields.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                break
            status = int(head[0].split(" ")[1])
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            if status != 200 or body != b"ok":
                self.bad.append((status, body))
            if self.closing:
                self.after_close += 1
            self.responses += 1
            self.expect -= 1
            self.last_close = fields.get("connection") == "close"
            if self.last_close:
                self.closing = True
        if self.expect == 0 and not self.closing:
            self.send_batch()


class TickStream:
    """An open server-sent events stream (GET /tick)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"GET /tick?interval_ms=20 HTTP/1.1\r\nHost: t\r\n\r\n")
        self.sock.setblocking(False)
        self.buf = b""
        self.end = None

    def on_readable(self):
        self.buf += recv_or_end(self) or b""


def drive(sel, conns, until):
    """Serves readable connections until `until` (a time) or all ended."""
    while time.monotonic() < until:
        live = [c for c in conns if c.end is None]
        if not live:
            return
        for key, _ in sel.select(0.05):
            c = key.data
            if c.end is None:
                c.on_readable()
                if c.end is not None:
                    sel.unregister(c.sock)
                    c.sock.close()  # as real clients do on EOF


class StopMixin:
    backend = None

    def start(self, **env):
        e = {"BERTH_THREADS": "2"}
        e.update(env)
        return Server(TEST_SERVER, backend=self.backend, env=e)

    @staticmethod
    def handled(out):
        """The test server's count of /counted requests, printed at exit."""
        for line in out.splitlines():
            if line.startswith("stopped handled="):
                return int(line.split()[1].split("=")[1])
        raise AssertionError("no count printed: %r" % out)

    def stop_under_load(self, conns=48, streams=8):
        srv = self.start()
        sel = selectors.DefaultSelector()
        load = [LoadConn(srv.port, 4 if i % 3 == 0 else 1) for i in range(conns)]
        ticks = [TickStream(srv.port) for _ in range(streams)]
        for c in load + ticks:
            sel.register(c.sock, selectors.EVENT_READ, c)
        for c in load:
            c.send_batch()
        drive(sel, load + ticks, time.monotonic() + 0.6)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        drive(sel, load + ticks, t0 + 12)
        try:
            srv.proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
        exit_s = time.monotonic() - t0
        out = srv.proc.stdout.read() if srv.proc.poll() is not None else ""
        stop_clean(srv, "%s stop under load" % self.backend)  # exit 0, no sanitizer report
        handled = self.handled(out)
        for c in load + ticks:
            c.sock.close()
        sel.close()
        received = sum(c.responses for c in load)
        stats = {
            "exit_s": round(exit_s, 3),
            "handled": handled, "received": received,
            "closed_with_close": sum(1 for c in load if c.last_close),
            "idle_closed": sum(c.unanswered for c in load),
            "rst": sum(1 for c in load + ticks if c.end == "rst"),
        }
        print("\n%s stop under load: %s" % (self.backend, stats))
        # Well within the 10 s drain timeout: streams end at once.
        self.assertLess(exit_s, 5)
        for c in load:
            self.assertEqual(c.end, "eof", "a connection ended with a reset")
            self.assertEqual(c.bad, [])
            self.assertEqual(c.partial, 0, "requests read together were answered in part")
            self.assertEqual(c.after_close, 0)
            # The last response says close, unless the connection was idle
            # when the stop came and was closed before its next request.
            if not c.unanswered:
                self.assertTrue(c.last_close, "the last response did not say close")
        # Nothing a handler answered was lost on the way.
        self.assertEqual(handled, received)
        for t in ticks:
            self.assertEqual(t.end, "eof", "a stream ended with a reset")
            self.assertTrue(t.buf.endswith(b"\r\n0\r\n\r\n"),
                            "a stream was cut without its last chunk: %r" % t.buf[-40:])
        return stats

    def test_stop_under_load_answers_everything_read(self):
        runs = [self.stop_under_load() for _ in range(3)]
        # With the stop's grace, a busy client's next request is answered
        # (with close) rather than cut off: idle closes stay rare.
        idle = sum(r["idle_closed"] for r in runs)
        self.assertLessEqual(idle, len(runs) * 48 // 4, runs)

    @unittest.skipUnless(shutil.which("wrk"), "wrk is not installed")
    def test_stop_under_wrk_load_exits_cleanly(self):
        # Many connections per event batch: the reactor once freed
        # connections while later events of the same batch still used them.
        for _ in range(4):
            srv = Server(TEST_SERVER, backend=self.backend, env={"BERTH_THREADS": "2"})
            wrk = subprocess.Popen(["wrk", "-t2", "-c256", "-d3s",
                                    "http://127.0.0.1:%d/json/50" % srv.port],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.8)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            try:
                code = srv.proc.wait(12)
            except subprocess.TimeoutExpired:
                code = "hung"
            took = time.monotonic() - t0
            wrk.kill()
            wrk.wait()
            if code == "hung":
                srv.proc.kill()
            stop_clean(srv, "%s under wrk" % self.backend) if code != "hung" else None
            self.assertEqual(code, 0)
            self.assertLess(took, 5)

    def test_idle_connection_closes_at_once_on_stop(self):
        srv = self.start()
        c = Conn(srv)
        c.send(REQ)
        self.assertEqual(c.response()[2], b"ok")
        time.sleep(0.3)  # idle for longer than the stop's grace
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        c.sock.settimeout(3)
        self.assertEqual(c.sock.recv(1), b"")  # a FIN, not a reset
        took = time.monotonic() - t0
        self.assertEqual(srv.proc.wait(5), 0)
        stop_clean(srv, "idle stop")
        self.assertLess(took, 0.25, "the stop took %.3f s to reach an idle connection" % took)

    def test_request_racing_the_close_causes_no_reset(self):
        srv = self.start(BERTH_THREADS="1")
        c = Conn(srv)
        c.send(REQ)
        self.assertEqual(c.response()[2], b"ok")
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        # The server has shut its side; it drains what still arrives, so
        # the request is not answered with a reset (which would also destroy
        # any response still unread in the client's buffer).
        c.sock.settimeout(3)
        try:
            c.send(REQ)
            time.sleep(0.1)
            self.assertEqual(c.sock.recv(100), b"")  # the FIN
            self.assertEqual(c.sock.recv(100), b"")
            time.sleep(0.1)
            c.send(REQ)  # after a reset this fails with EPIPE
        except (BrokenPipeError, ConnectionResetError):
            self.fail("the server reset the connection")
        c.close()
        self.assertEqual(srv.proc.wait(5), 0)
        stop_clean(srv, "racing stop")

    def test_client_reset_on_a_stream_leaks_nothing(self):
        srv = self.start()
        for _ in range(20):
            s = srv.connect()
            s.sendall(b"GET /tick?interval_ms=10 HTTP/1.1\r\nHost: t\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # an RST at once, often before the response head is written
        deadline = time.monotonic() + 3
        while True:
            c = Conn(srv)
            c.send(b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n")
            live = json.loads(c.response()[2])["live_ticks"]
            c.close()
            if live == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(live, 0, "stream handles were never released")
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(5), 0)
        stop_clean(srv, "reset streams")  # LeakSanitizer under ASan

    def measure_timeouts(self, srv):
        # A head trickling in a byte every 450 ms, off the beat of any
        # polling tick, never completed: 408 at 2 s.
        c = Conn(srv, timeout=5)
        t0 = time.monotonic()
        c.send(b"GET /counted HTTP/1.1\r\nHost: t\r\n")
        next_byte = t0 + 0.45
        while True:
            r, _, _ = select.select([c.sock], [], [], max(0, next_byte - time.monotonic()))
            if r:
                break
            c.send(b"X")
            next_byte += 0.45
        header_s = time.monotonic() - t0
        self.assertEqual(c.response()[0], 408)
        c.close()
        c = Conn(srv, timeout=5)
        # The idle time starts when the server has answered; the client
        # reads the answer later still (a CI run measured 0.689 s from the
        # read). Timed from the send, the 0.7 s can never look early.
        t0 = time.monotonic()
        c.send(REQ)
        c.response()
        self.assertTrue(c.closed(timeout=5))
        idle_s = time.monotonic() - t0
        c.close()
        print("\n%s: header timeout 2 s -> %.3f s, idle 0.7 s -> %.3f s"
              % (self.backend, header_s, idle_s))
        # Never early, whatever the load.
        self.assertGreaterEqual(header_s, 1.99)
        self.assertGreaterEqual(idle_s, 0.69)
        return header_s < 2.0 + 0.15 and idle_s < 0.7 + 0.15

    def upload_through_a_stop(self, end_early, drain_ms):
        """A 1 GiB upload to /store, streaming when the stop comes; the
        client goes on sending. Returns (what it received, how it ended,
        seconds from the signal to that end, bytes sent, the server's
        stdout)."""
        srv = self.start(BERTH_DRAIN_TIMEOUT_MS=str(drain_ms))
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        head = b"POST /store HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n" % (1 << 30)
        s.sendall(head + (b"X-End-On-Stop: 1\r\n" if end_early else b"") + b"\r\n")
        chunk = b"a" * 65536
        sent = 0
        while sent < 8 << 20:
            s.sendall(chunk)
            sent += len(chunk)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        s.setblocking(False)
        got, end = b"", None
        while end is None and time.monotonic() < t0 + drain_ms / 1000 + 8:
            r, w, _ = select.select([s], [s], [], 0.1)
            try:
                if r:
                    d = s.recv(65536)
                    if not d:
                        end = "eof"
                    got += d
                    if end_early and b"\r\n\r\n" in got:
                        end = "answered"
                elif w and sent < (8 << 20) + (time.monotonic() - t0) * (16 << 20):
                    sent += s.send(chunk)  # 16 MiB/s: the upload outlasts the drain
                else:
                    time.sleep(0.005)
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                end = "rst"
        took = time.monotonic() - t0
        s.close()
        self.assertEqual(srv.proc.wait(drain_ms / 1000 + 10), 0)
        out = srv.proc.stdout.read()
        stop_clean(srv, "%s stop during an upload" % self.backend)
        return got, end, took, sent, out

    def test_stop_during_an_upload_cuts_it_with_the_true_count(self):
        # Issue 20.4: fast answered 408 at the drain timeout and on_done said
        # body_received=0. A stop is not the client's timeout: the upload is
        # cut at drain_timeout_ms without an answer, on_done says STOPPED
        # with the bytes that arrived.
        got, end, took, sent, out = self.upload_through_a_stop(False, 1500)
        self.assertEqual(got, b"", "an answer to a cut upload: %r" % got[:200])
        self.assertIn(end, ("eof", "rst"))
        self.assertGreater(took, 1.0, "cut before the drain timeout")
        lines = [l for l in out.splitlines() if l.startswith("store stopped")]
        self.assertEqual(len(lines), 1, out)
        fields = dict(f.split("=") for f in lines[0].split()[2:])
        self.assertEqual(fields["status"], "0")
        received = int(fields["received"])
        # The socket buffers may still hold some of what was sent.
        self.assertGreaterEqual(received, (8 << 20) - (4 << 20), lines[0])
        self.assertLessEqual(received, sent)

    def test_upload_may_end_early_on_stop_with_503(self):
        # berth_req_stopping: /store's on_body answers 503 once the server
        # stops when the request asks (X-End-On-Stop), not at the drain
        # timeout (10 s here).
        got, end, took, sent, out = self.upload_through_a_stop(True, 10000)
        self.assertEqual(end, "answered", got[:200])
        self.assertTrue(got.startswith(b"HTTP/1.1 503 "), got[:200])
        self.assertIn(b"\r\nconnection: close\r\n", got.lower())
        self.assertLess(took, 5.0, "the stop reached the upload only at the drain timeout")
        self.assertNotIn("store stopped", out)

    def test_stop_trial_under_mixed_load(self):
        # bench/stop_trial.py (issue 20.13): keep-alive plaintext and TLS
        # clients (some paced, idle past the stop's grace between requests),
        # SSE streams, WebSockets (some flooding), SIGTERM; repeated. Each
        # request written before the signal is answered, every WebSocket
        # gets 1001, every stream its last chunk, nothing is reset. The
        # bench script repeats it 50 times per backend (docs/HARDENING.md).
        failures, _ = stop_trial.run_trials(os.path.join(BUILD, TEST_SERVER), self.backend,
                                            CERTS, 5)
        self.assertEqual(failures, [])

    def test_timeouts_hold_to_100_ms(self):
        srv = self.start(BERTH_HEADER_TIMEOUT_MS="2000", BERTH_IDLE_TIMEOUT_MS="700")
        try:
            # Late by more than 150 ms three times in a row fails; once late
            # on this shared 2-CPU machine can be the machine (a loaded CI
            # run saw 2.43 s once), so a late attempt is tried again.
            self.assertTrue(any(self.measure_timeouts(srv) for _ in range(3)),
                            "timeouts late by more than 150 ms three times")
        finally:
            stop_clean(srv, "timeouts")


for _b in BACKENDS:
    globals()["Stop_" + _b] = type("Stop_" + _b, (StopMixin, unittest.TestCase),
                                   {"backend": _b})

if __name__ == "__main__":
    unittest.main()
