"""Middleware, request values, added completion callbacks and request IDs
(berth.h: berth_router_use, berth_route_opts.before/after,
berth_req_set_value, berth_req_add_done, berth_req_id) through the test
server's routes under /mw (tests/server/mw-routes.c), on every backend,
over HTTP/1.1, TLS and HTTP/2 (h2c, Python's h2). Each request's trace
(the words its hooks, handler and callbacks wrote, in the order they ran)
is read back from GET /mw-last on the same connection, so it is the
finished request's: the order of the chain, what a hook that answers
stops, the prefix's bounds, and the ID the callbacks saw."""
import http.client
import re
import socket
import unittest

import h2env

from berthproc import BACKENDS, CERT, KEY, Server, stop_clean, tls_context

h2 = h2env.import_h2()
ENOSPC = -3
HEX16 = re.compile(r"^[0-9a-f]{16}$")
FULL = "B:outer,B:api,B:route,H,D:on_done,D:added1,D:added2,A:route,A:api,A:outer"
AUTH = {"Authorization": "Bearer t"}


class H1:
    """Requests on one keep-alive connection (http.client), plaintext or TLS."""

    def __init__(self, srv, tls):
        if tls:
            self.c = http.client.HTTPSConnection("localhost", srv.tls_port, timeout=20,
                                                 context=tls_context(CERT))
        else:
            self.c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)

    def get(self, path, headers=None):
        self.c.request("GET", path, headers=headers or {})
        r = self.c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()

    def close(self):
        self.c.close()


class H2:
    """Requests one after the other on one h2c connection (Python's h2)."""

    def __init__(self, srv, tls):
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.c.initiate_connection()
        self.sock.sendall(self.c.data_to_send())

    def get(self, path, headers=None):
        sid = self.c.get_next_available_stream_id()
        hs = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "t")]
        hs += [(k.lower(), v) for k, v in (headers or {}).items()]
        self.c.send_headers(sid, hs, end_stream=True)
        self.sock.sendall(self.c.data_to_send())
        status, head, body = None, {}, b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the connection closed")
            for ev in self.c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    head = {k.decode(): v.decode() for k, v in ev.headers}
                    status = int(head[":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    self.c.acknowledge_received_data(ev.flow_controlled_length, sid)
                    body += ev.data
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self.sock.sendall(self.c.data_to_send())
                    return status, head, body.decode()
            self.sock.sendall(self.c.data_to_send())

    def close(self):
        self.sock.close()


class MiddlewareMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "middleware (%s)" % cls.backend)

    def each_client(self, fn):
        kinds = [("h1", H1, False), ("tls", H1, True)]
        if h2 is not None:
            kinds.append(("h2", H2, False))
        for name, kind, tls in kinds:
            with self.subTest(client=name):
                c = kind(self.srv, tls)
                try:
                    fn(c)
                finally:
                    c.close()

    def last(self, c):
        """(status, id, trace words) of the last finished request under /mw."""
        status, _, body = c.get("/mw-last")
        self.assertEqual(status, 200)
        code, rid, words = body.split(" ", 2)
        return int(code), rid, words

    def test_chain_order(self):
        """The server's chain, the router's middleware in the order added,
        the route's before, the handler; then on_done's callback, the added
        ones in order, the route's after, the router's in reverse."""
        def run(c):
            status, head, body = c.get("/mw/api/hello", AUTH)
            self.assertEqual(status, 200)
            rid = head["x-request-id"]
            self.assertRegex(rid, HEX16)
            self.assertEqual(body, "hello %s traced" % rid)
            self.assertEqual(self.last(c), (200, rid, FULL))
        self.each_client(run)

    def test_a_before_that_answers_ends_the_chain(self):
        """Auth on /mw/api answers 401 itself: no route's before, no
        handler; the afters of the befores that ran still run."""
        def run(c):
            status, head, body = c.get("/mw/api/hello")
            self.assertEqual((status, body), (401, '{"error":"unauthorized"}'))
            self.assertEqual(head["content-type"], "application/json")
            self.assertEqual(head["www-authenticate"], "Bearer")
            self.assertEqual(self.last(c), (401, head["x-request-id"], "B:outer,B:api,A:api,A:outer"))
        self.each_client(run)

    def test_prefix_bounds(self):
        """/mw/api covers /mw/api/... and not /mw/apix; a path under a
        prefix with no route is 404 after its middleware ran; /mw-last is
        not under /mw."""
        def run(c):
            status, head, body = c.get("/mw/apix")
            self.assertEqual((status, body), (200, "apix"))
            self.assertEqual(self.last(c), (200, head["x-request-id"], "B:outer,H,A:outer"))
            status, head, _ = c.get("/mw/api/none", AUTH)
            self.assertEqual(status, 404)
            self.assertEqual(self.last(c), (404, head["x-request-id"], "B:outer,B:api,A:api,A:outer"))
            status, head, _ = c.get("/mw/api/none")
            self.assertEqual(status, 401)  # auth before the router's 404
            status, head, _ = c.get("/mw/open")
            self.assertEqual(self.last(c)[2], "B:outer,H,A:outer")
            status, head, _ = c.get("/mwx")
            self.assertEqual(status, 404)
            self.assertNotIn("x-request-id", head)
            self.assertEqual(self.last(c)[2], "B:outer,H,A:outer")  # unchanged
        self.each_client(run)

    def test_request_ids(self):
        """A usable X-Request-Id is the request's ID, handler and callbacks
        alike; without one, or with one that is not 1-64 visible ASCII
        bytes, berth's: 16 hex digits, each request its own."""
        def run(c):
            for given in ["abc-123", "x" * 64, "a/b:c=d+e"]:
                status, head, body = c.get("/mw/api/hello", dict(AUTH, **{"X-Request-Id": given}))
                self.assertEqual((status, head["x-request-id"], body), (200, given, "hello %s traced" % given))
                self.assertEqual(self.last(c)[:2], (200, given))
            for bad in ["x" * 65, "a b", ""]:
                status, head, _ = c.get("/mw/open", {"X-Request-Id": bad})
                self.assertRegex(head["x-request-id"], HEX16)
            seen = set()
            for _ in range(200):
                _, head, _ = c.get("/mw/open")
                seen.add(head["x-request-id"])
                self.assertEqual(self.last(c)[1], head["x-request-id"])
            self.assertEqual(len(seen), 200)
        self.each_client(run)

    def test_values(self):
        """Eight keys a request (the trace holds one): the ninth and tenth
        BERTH_ENOSPC; each key its value; NULL clears."""
        def run(c):
            status, _, body = c.get("/mw/values")
            self.assertEqual(status, 200)
            self.assertEqual(body, "0 0 0 0 0 0 0 %d %d same=1 cleared=1" % (ENOSPC, ENOSPC))
        self.each_client(run)


for _b in BACKENDS:
    _name = "Middleware_%s" % _b.replace(":", "_")
    globals()[_name] = type(_name, (MiddlewareMixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main(verbosity=2)
