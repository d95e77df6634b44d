"""permessage-deflate's negotiation (RFC 7692 section 7.1; issue 29) over
the wire, on every backend, plaintext and TLS: raw handshakes offering
each parameter, valid and invalid values, duplicates, unknown parameters,
several offers (the first invalid), offers over several header lines; the
answer must obey 7.1 (server_no_context_takeover and server_max_window_bits
answered when offered, the latter the same or smaller; client_max_window_bits
only when offered, never above its value), an invalid offer is declined
(101 without the extension), not refused. The windows agreed are kept: the
server's frames inflate with a window of the bits it answered, and it
inflates the client's made with the window it asked for. BERTH_WS_DEFLATE=0
declines every offer, and RSV1 is then a protocol error (1002)."""
import asyncio
import os
import sys
import unittest
import zlib

from berthproc import BACKENDS, CERT, KEY, Server, stop_clean
from wsdeflate import DEFLATE_ENV, PMD, DeflateWs, check_answer, deflate, inflate, \
    parse_extensions, read_inflated


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))

try:
    import websockets
except ImportError:  # Debian's python3-websockets belongs to /usr/bin/python3
    websockets = None
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("BERTH_WS_REEXEC"):
        os.environ["BERTH_WS_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)


class NegotiationMixin:
    backend = None
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(backend=cls.backend, env=dict(DEFLATE_ENV, BERTH_THREADS="2",
                                                       TLS_CERT=CERT, TLS_KEY=KEY))

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "ws deflate negotiation (%s)" % cls.backend)

    def raw(self, *offers):
        r = DeflateWs(self.srv, offers, tls=self.tls)
        self.addCleanup(r.close)
        return r

    def negotiated(self, *offers):
        """A raw client whose offer berth accepted; its answer checked."""
        r = self.raw(*offers)
        check_answer(self, parse_extensions(offers)[0][1], r.params)
        return r

    def raw_echo(self, r, state):
        return read_inflated(r, state)[:2]

    def test_negotiation_accepted(self):
        offers = [
            PMD,
            PMD + "; client_max_window_bits",
            PMD + "; client_max_window_bits=10",
            PMD + "; server_no_context_takeover",
            PMD + "; client_no_context_takeover",
            PMD + "; server_no_context_takeover; client_no_context_takeover; "
                  "server_max_window_bits=12; client_max_window_bits=12",
            PMD + "; client_max_window_bits; server_max_window_bits=10",
            PMD + ';server_max_window_bits="10"',  # quoted-string (RFC 6455 9.1)
            PMD + " ;  client_max_window_bits ; server_no_context_takeover",
        ] + ["%s; server_max_window_bits=%d" % (PMD, b) for b in range(9, 16)] + \
            ["%s; client_max_window_bits=%d" % (PMD, b) for b in range(8, 16)]
        for o in offers:
            r = self.raw(o)
            with self.subTest(offer=o):
                check_answer(self, parse_extensions([o])[0][1], r.params)
                self.assertEqual([n for n, _ in r.extensions], [PMD], r.ext_lines)
            r.close()

    def test_negotiation_declined(self):
        offers = [
            PMD + "; server_max_window_bits=7",
            PMD + "; server_max_window_bits=16",
            PMD + "; server_max_window_bits=abc",
            PMD + "; server_max_window_bits=",
            PMD + "; server_max_window_bits",  # needs a value in an offer
            PMD + "; server_max_window_bits=0",
            PMD + "; server_max_window_bits=-9",
            PMD + "; server_max_window_bits=1000000000000000000010",
            PMD + "; client_max_window_bits=7",
            PMD + "; client_max_window_bits=16",
            PMD + "; client_max_window_bits=abc",
            PMD + "; client_max_window_bits=",
            PMD + "; server_no_context_takeover=1",  # no value allowed
            PMD + "; client_no_context_takeover=x",
            PMD + "; foo",
            PMD + "; foo=bar",
            PMD + "; server_no_context_takeover; server_no_context_takeover",
            PMD + "; client_no_context_takeover; client_no_context_takeover",
            PMD + "; server_max_window_bits=10; server_max_window_bits=10",
            PMD + "; client_max_window_bits; client_max_window_bits=10",
            "x-webkit-deflate-frame",
            "permessage-deflatex",
        ]
        for o in offers:
            r = self.raw(o)
            with self.subTest(offer=o):
                self.assertIsNone(r.params, r.ext_lines)
                r.send_frame(1, b"still a WebSocket")  # declined, not refused
                self.assertEqual(r.recv_message(), (1, False, b"still a WebSocket", 1))
            r.close()

    def test_negotiation_several_offers(self):
        cases = [  # (header lines, the offer that must be accepted)
            ([PMD + "; server_max_window_bits=7, " + PMD + "; client_max_window_bits"],
             [("client_max_window_bits", None)]),
            ([PMD + "; foo, " + PMD + "; server_no_context_takeover"],
             [("server_no_context_takeover", None)]),
            (["x-webkit-deflate-frame, " + PMD], []),
            ([PMD + "; client_max_window_bits=99", PMD + "; server_max_window_bits=10"],
             [("server_max_window_bits", "10")]),
            ([PMD + "; server_no_context_takeover; server_no_context_takeover", PMD], []),
            ([PMD + "; server_max_window_bits=11", PMD + "; server_max_window_bits=9"],
             [("server_max_window_bits", "11")]),
        ]
        for lines, accepted in cases:
            r = self.raw(*lines)
            with self.subTest(offers=lines):
                check_answer(self, accepted, r.params)
                self.assertEqual([n for n, _ in r.extensions], [PMD], r.ext_lines)
                r.send_compressed(1, b"hello, offers")
                self.assertEqual(self.raw_echo(r, []), (1, b"hello, offers"))
            r.close()

    def test_server_max_window_bits_honoured(self):
        for bits in (8, 9, 10, 12, 14):
            r = self.raw("%s; server_max_window_bits=%d" % (PMD, bits))
            if bits == 8 and r.params is None:
                continue  # 8: zlib cannot deflate in 256 bytes; declining is allowed (7)
            check_answer(self, [("server_max_window_bits", str(bits))], r.params)
            agreed = int(r.params["server_max_window_bits"])
            # a block repeated just beyond the agreed window: a compressor
            # with a larger window would refer back to it
            block = os.urandom((1 << agreed) // 2 + 50).hex().encode()
            msg = block + block + block
            r.send_frame(2, msg)
            op, comp, payload, _ = r.recv_message()
            self.assertTrue(comp, "%d bytes of hex, sent uncompressed" % len(msg))
            self.assertEqual(inflate(payload, wbits=agreed), msg, bits)
            r.close()

    def test_client_max_window_bits_answered(self):
        for bits in (9, 10, 15):
            r = self.negotiated("%s; client_max_window_bits=%d" % (PMD, bits))
            agreed = int(r.params.get("client_max_window_bits", bits))
            if agreed < 9:
                continue  # zlib cannot deflate in 256 bytes
            comp = zlib.compressobj(6, zlib.DEFLATED, -max(agreed, 9))
            block = os.urandom(1 << (agreed - 1))
            msg = block * 6
            r.send_compressed(2, msg, comp, max(agreed, 9))
            self.assertEqual(self.raw_echo(r, []), (2, msg))
            r.close()

    def test_rsv1_without_negotiation_closes_1002(self):
        r = self.raw()  # no offer: nothing negotiated (test_ws.py sends RSV1 on a plain frame)
        self.assertIsNone(r.params)
        r.send_frame(1, deflate(b"hello"), rsv=0x40)
        self.assertEqual(r.close_code(), 1002)
        r2 = self.raw(PMD + "; foo")  # an offer declined
        self.assertIsNone(r2.params)
        r2.send_frame(2, deflate(b"hello"), rsv=0x40)
        self.assertEqual(r2.close_code(), 1002)


class DeflateOffMixin:
    """BERTH_WS_DEFLATE=0: the extension is declined, RSV1 is an error."""
    backend = None

    def test_off_declines_and_rsv1_closes_1002(self):
        srv = Server(backend=self.backend, env={"BERTH_THREADS": "1", "BERTH_WS_DEFLATE": "0"})
        try:
            r = DeflateWs(srv, [PMD + "; client_max_window_bits"])
            self.assertEqual(r.ext_lines, [])
            r.send_frame(1, b"plain")
            self.assertEqual(r.recv_message(), (1, False, b"plain", 1))
            r.send_frame(1, deflate(b"hello"), rsv=0x40)
            self.assertEqual(r.close_code(), 1002)
            r.close()
            if websockets is not None:
                async def go():
                    url = "ws://127.0.0.1:%d/ws" % srv.port
                    async with websockets.connect(url) as ws:  # offers it by default
                        self.assertEqual(ws.extensions, [])
                        await ws.send("x" * 5000)
                        self.assertEqual(await ws.recv(), "x" * 5000)
                run(go())
        finally:
            stop_clean(srv, "ws deflate off (%s)" % self.backend)


class WindowLimitMixin:
    """BERTH_WS_DEFLATE_WINDOW_BITS=10 (the server's largest window) and a
    zlib level of 1: whatever the offer, the server's frames inflate with a
    1 KiB window, and the answer never names a larger one."""
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(backend=cls.backend, env={
            "BERTH_THREADS": "1", "BERTH_WS_DEFLATE": "1", "BERTH_WS_DEFLATE_LEVEL": "1",
            "BERTH_WS_DEFLATE_WINDOW_BITS": "10"})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "ws deflate window 10 (%s)" % cls.backend)

    def test_server_window_stays_within_10_bits(self):
        for offer in (PMD, PMD + "; server_max_window_bits=12", PMD + "; server_max_window_bits=9",
                      PMD + "; client_max_window_bits"):
            r = DeflateWs(self.srv, [offer])
            with self.subTest(offer=offer):
                check_answer(self, parse_extensions([offer])[0][1], r.params)
                bits = min(10, int(r.params.get("server_max_window_bits", 15)))
                block = os.urandom(1 << bits).hex().encode()  # repeats beyond the window
                d = None
                for _ in range(3):  # and across messages (context takeover)
                    r.send_frame(1, block * 3)
                    op, comp, payload, _ = r.recv_message()
                    self.assertTrue(comp)
                    if d is None or "server_no_context_takeover" in r.params:
                        d = zlib.decompressobj(-bits)  # refuses a reference beyond `bits`
                    self.assertEqual(inflate(payload, d), block * 3)
            r.close()

    def test_websockets_echo_at_level_1(self):
        if websockets is None:
            self.skipTest("python3-websockets is not installed")

        async def go():
            async with websockets.connect("ws://127.0.0.1:%d/ws" % self.srv.port,
                                          max_size=None) as ws:
                self.assertEqual([e.name for e in ws.extensions], [PMD])
                for m in ("x" * 100000, os.urandom(70000), '{"a": 1}' * 5000):
                    await ws.send(m)
                    self.assertEqual(await ws.recv(), m)
        run(go())


for _b in BACKENDS:
    for _tls in (False, True):
        _n = "TestWsDeflateNegotiation%s_%s" % ("Tls" if _tls else "", _b)
        globals()[_n] = type(_n, (NegotiationMixin, unittest.TestCase),
                             {"backend": _b, "tls": _tls})
    globals()["TestWsDeflateWindow10_%s" % _b] = type(
        "TestWsDeflateWindow10_%s" % _b, (WindowLimitMixin, unittest.TestCase), {"backend": _b})
    globals()["TestWsDeflateOff_%s" % _b] = type(
        "TestWsDeflateOff_%s" % _b, (DeflateOffMixin, unittest.TestCase), {"backend": _b})

if __name__ == "__main__":
    unittest.main(verbosity=2)
