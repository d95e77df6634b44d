"""Limits that protect the whole server rather than one request, on every
backend: the memory all buffered request bodies hold together
(max_buffered_bodies), and running out of file descriptors."""
import unittest

from berthproc import BACKENDS, Conn, Server, header, stop_clean

MIB = 1 << 20
BUDGET = 16 * MIB


def post_head(length=None, expect=False, chunked=False):
    h = b"POST /echo HTTP/1.1\r\nHost: t\r\n"
    h += b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % length
    if expect:
        h += b"Expect: 100-continue\r\n"
    return h + b"\r\n"


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


class BodyBudgetMixin:
    """Issue 30.5: eight clients streaming chunked bodies to a buffering
    route raised RSS by 380-664 MiB; each request's 413 held, their sum did
    not. /echo buffers its body (berth-serve)."""
    backend = None

    def setUp(self):
        self.srv = Server(backend=self.backend,
                          env={"BERTH_THREADS": "2", "BERTH_MAX_BUFFERED_BODIES": str(BUDGET)})
        self.addCleanup(stop_clean, self.srv, "body budget (%s)" % self.backend)

    def conn(self):
        c = Conn(self.srv, timeout=10)
        self.addCleanup(c.close)
        return c

    def expect_100(self, c):
        status, _, _ = c.response(head_only=True)
        self.assertEqual(status, 100)

    def test_bodies_past_the_budget_get_503_before_they_are_sent(self):
        a, b, c = self.conn(), self.conn(), self.conn()
        body = b"x" * (6 * MIB)
        for x in (a, b):  # 12 MiB of 16 held once each has its 100 Continue
            x.send(post_head(len(body), expect=True))
            self.expect_100(x)
            x.send(body[:MIB])
        c.send(post_head(len(body), expect=True))
        status, headers, _ = c.response()
        self.assertEqual(status, 503)
        self.assertEqual(header(headers, "Connection"), "close")
        self.assertTrue(c.closed())
        # a completes; its budget comes back: a new request fits again.
        a.send(body[MIB:])
        status, _, echoed = a.response()
        self.assertEqual((status, len(echoed)), (200, len(body)))
        d = self.conn()
        d.send(post_head(len(body), expect=True))
        self.expect_100(d)
        d.send(body)
        status, _, echoed = d.response()
        self.assertEqual((status, echoed == body), (200, True))
        b.send(body[MIB:])
        self.assertEqual(b.response()[0], 200)

    def test_chunked_bodies_past_the_budget_get_503(self):
        a, b = self.conn(), self.conn()
        piece = b"y" * MIB
        for x in (a, b):  # 5 MiB each: 8 MiB of buffer each, the whole budget
            x.send(post_head(chunked=True) + chunk(piece) * 5)
        # b grows past 8 MiB: its buffer would double to 16.
        b.send(chunk(piece) * 4)
        status, headers, _ = b.response()
        self.assertEqual(status, 503)
        self.assertEqual(header(headers, "Connection"), "close")
        a.send(b"0\r\n\r\n")
        status, _, echoed = a.response()
        self.assertEqual((status, echoed), (200, piece * 5))

    def test_a_body_longer_than_the_whole_budget_is_413(self):
        c = self.conn()
        c.send(post_head(BUDGET + 1, expect=True))
        status, headers, _ = c.response()
        self.assertEqual(status, 413)
        self.assertTrue(c.closed())

    def test_bodies_within_a_buffer_do_not_count(self):
        # Many small buffered bodies at once never meet the budget.
        conns = [self.conn() for _ in range(40)]
        body = b"z" * 20000
        for x in conns:
            x.send(post_head(len(body)) + body[:10000])
        for x in conns:
            x.send(body[10000:])
            status, _, echoed = x.response()
            self.assertEqual((status, echoed == body), (200, True))


for _b in BACKENDS:
    globals()["BodyBudget_" + _b] = type("BodyBudget_" + _b, (BodyBudgetMixin, unittest.TestCase),
                                         {"backend": _b})

if __name__ == "__main__":
    unittest.main()
