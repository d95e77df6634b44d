"""Topics (berth.h "Topics"): one publish reaches every WebSocket and
event-stream subscriber, from a handler's thread or a thread of the
application's, written on each connection's own thread; a WebSocket's
message published to its topic (a chat); subscribers that leave are
dropped by the topic itself (the test server's routes have no on_close
bookkeeping, tests/server/topic-routes.c); the slow-subscriber policies,
skip (BERTH_TOPIC_DROP) and close with 1008 (BERTH_TOPIC_CLOSE). Every
backend, plaintext and TLS, raw clients that read frame by frame."""
import http.client
import json
import socket
import threading
import time
import unittest
import zlib

from berthproc import BACKENDS, CERT, KEY, Server, TlsSock, stop_clean, tls_context
from wsraw import RawWs


class Sse:
    """A GET /topic/sse reader: the chunked body de-chunked, events split."""

    def __init__(self, srv, tls, name="room"):
        if tls:
            self.sock = TlsSock(srv.tls_port, timeout=10)
        else:
            self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        self.sock.sendall(b"GET /topic/sse?name=%s HTTP/1.1\r\nHost: t\r\n\r\n" % name.encode())
        self.raw = b""
        while b"\r\n\r\n" not in self.raw:
            self._fill()
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"text/event-stream" in head, head
        self.body = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("closed")
        self.raw += data

    def _dechunk(self):
        while b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.raw = rest[size + 2:]

    def event(self):
        """The next event's text (up to its blank line)."""
        while b"\n\n" not in self.body:
            self._fill()
            self._dechunk()
        ev, self.body = self.body.split(b"\n\n", 1)
        return ev.decode("latin-1")

    def close(self):
        self.sock.close()


class TopicsMixin:
    backend = None
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "topics (%s)" % cls.backend)

    def http(self):
        if self.tls:
            return http.client.HTTPSConnection("localhost", self.srv.tls_port, timeout=30,
                                               context=tls_context(CERT))
        return http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)

    def publish(self, body, query=""):
        c = self.http()
        c.request("POST", "/topic/publish?" + query, body=body)
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        fields = dict(kv.split("=") for kv in text.split())
        return r.status, int(fields["reached"])

    def stats(self, name):
        c = self.http()
        c.request("GET", "/topic/stats?name=" + name)
        text = c.getresponse().read().decode()
        c.close()
        return {k: int(v) for k, v in (kv.split("=") for kv in text.split())}

    def ws(self, query="name=room"):
        return RawWs(self.srv, tls=self.tls, path=b"/topic/ws?" + query.encode())

    def settle(self, name, want):
        """Publishes until the topic counts want subscribers (those gone are
        dropped at a publish, once their server side noticed)."""
        deadline = time.monotonic() + 10
        while True:
            self.publish(b"tick", "name=" + name)
            n = self.stats(name)["count"]
            if n == want or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def test_fanout_chat_and_leaving(self):
        """One publish to three WebSockets and two event streams, text and
        binary, from a handler and from a thread; a WebSocket's message to
        all; two leave, and the topic drops them by itself."""
        self.assertEqual(self.settle("room", 0), 0)
        wss = [self.ws() for _ in range(3)]
        sses = [Sse(self.srv, self.tls) for _ in range(2)]
        try:
            self.assertEqual(self.publish(b"hello", "event=news"), (200, 5))
            for w in wss:
                self.assertEqual(w.recv_frame(), (1, b"hello"))
            for s in sses:
                self.assertEqual(s.event(), "event: news\ndata: hello")
            self.assertEqual(self.publish(b"\x00\xffbin", "type=binary&thread=1"), (200, 5))
            for w in wss:
                self.assertEqual(w.recv_frame(), (2, b"\x00\xffbin"))
            self.assertEqual(self.publish(b"two\nlines", "thread=1"), (200, 5))
            for s in sses:
                s.event()  # the binary one's
                self.assertEqual(s.event(), "data: two\ndata: lines")
            for w in wss:
                w.recv_frame()
            wss[0].send_frame(1, b"hi all")
            for w in wss:
                self.assertEqual(w.recv_frame(), (1, b"hi all"))
            for s in sses:
                self.assertEqual(s.event(), "data: hi all")
            self.assertEqual(self.publish(b"\xc3(", ""), (400, -1))  # invalid UTF-8 as text: BERTH_EINVAL
            wss[1].close()
            sses[1].close()
            self.assertEqual(self.settle("room", 3), 3)
        finally:
            for c in wss + sses:
                c.close()
        self.assertEqual(self.settle("room", 0), 0)

    def test_compressed_subscriber_gets_every_thread_in_order(self):
        """A subscriber with permessage-deflate (context takeover): the
        messages of another WebSocket (its connection's thread) and of
        publishes from a thread of their own arrive compressed, each
        source in its order, and inflate in the order of the wire, so
        berth compressed them in that order."""
        self.assertEqual(self.settle("room", 0), 0)
        a = RawWs(self.srv, tls=self.tls, path=b"/topic/ws?name=room&deflate=1",
                  extensions=b"permessage-deflate")
        b = self.ws()
        try:
            self.assertIn("Sec-WebSocket-Extensions: permessage-deflate; "
                          "server_max_window_bits=12", a.head)
            pad = "the deploy went out at noon and nobody noticed"

            def chat():
                for i in range(200):
                    b.send_frame(1, ('{"from": "b", "n": %d, "text": "%s"}' % (i, pad)).encode())
            t = threading.Thread(target=chat)
            t.start()
            for i in range(100):
                body = ('{"from": "p", "n": %d, "text": "%s"}' % (i, pad)).encode()
                self.assertEqual(self.publish(body, "thread=1")[0], 200)
            t.join()
            inf, got = zlib.decompressobj(-12), {"b": [], "p": []}
            for _ in range(300):
                op, payload = a.recv_frame()
                self.assertEqual((op, a.last_rsv), (1, 0x40))
                m = json.loads(inf.decompress(payload + b"\x00\x00\xff\xff"))
                self.assertEqual(m["text"], pad)
                got[m["from"]].append(m["n"])
            self.assertEqual(got, {"b": list(range(200)), "p": list(range(100))})
        finally:
            a.close()
            b.close()
        self.assertEqual(self.settle("room", 0), 0)

    def slow_client(self, name):
        """A WebSocket with a 16 KiB buffer that never reads, and 256 KiB
        messages published to it until its socket and its buffer are full."""
        self.assertEqual(self.settle(name, 0), 0)
        w = self.ws("name=%s&buf=16384" % name)
        before = self.stats(name)
        for _ in range(400):
            self.publish(b"x" * 262144, "name=" + name)
            s = self.stats(name)
            if s["dropped"] > before["dropped"] or s["closed"] > before["closed"]:
                break
        return w, before, s

    def test_slow_subscriber_is_skipped(self):
        """BERTH_TOPIC_DROP: past its buffer a subscriber misses messages
        and stays; it reads on and gets whole messages."""
        w, before, s = self.slow_client("room")
        try:
            self.assertGreater(s["dropped"], before["dropped"])
            self.assertEqual(s["count"], before["count"])
            self.assertEqual(s["closed"], before["closed"])
            op, payload = w.recv_frame()
            self.assertEqual((op, payload), (1, b"x" * 262144))
        finally:
            w.close()
        self.assertEqual(self.settle("room", 0), 0)

    def test_slow_subscriber_is_closed(self):
        """BERTH_TOPIC_CLOSE: past its buffer a subscriber leaves the topic
        and, after what it held, gets a close frame with 1008."""
        w, before, s = self.slow_client("strict")
        try:
            self.assertEqual(s["closed"], before["closed"] + 1)
            self.assertEqual(s["count"], 0)
            self.assertEqual(w.close_code(), 1008)
        finally:
            w.close()


for _b in BACKENDS:
    for _tls in (False, True):
        _name = "Topics_%s%s" % (_b.replace(":", "_"), "_tls" if _tls else "")
        globals()[_name] = type(_name, (TopicsMixin, unittest.TestCase), {"backend": _b, "tls": _tls})

if __name__ == "__main__":
    unittest.main(verbosity=2)
