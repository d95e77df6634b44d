"""WebSocket compression (permessage-deflate, RFC 7692; issue 29), black
box, on every backend, plaintext and TLS: berth-serve's /ws echo with
BERTH_WS_DEFLATE=1, reached by clients nobody here wrote (Python's
websockets, which offers the extension by default, and Node's ws with
perMessageDeflate) and by a raw client whose compressed frames are made
here with zlib (raw DEFLATE, the 00 00 ff ff tail stripped: RFC 7692
7.2.1). It checks the frames (RSV1 on the first frame of a compressed
message only, never on control frames; smaller on the wire), context
takeover both ways (the server's frames must inflate in the context it
agreed to), the errors (RSV1 where it does not belong: 1002; bad DEFLATE
data: 1007; inflated text not UTF-8: 1007), the limits (a compression
bomb closes with 1009 before it is inflated whole, and the server's memory
does not grow by the inflated size; max_message counts inflated bytes)
and sends from threads that are not the connection's (a topic publish,
berth_ws_send: berth-test-server's /wsd routes). The negotiation table
and the window parameters: test_ws_deflate_negotiation.py."""
import asyncio
import json
import os
import random
import struct
import subprocess
import sys
import time
import unittest
import zlib

from berthproc import BACKENDS, CERT, KEY, LINUX, Conn, Server, sanitized, stop_clean, \
    tls_context
from wsdeflate import DEFLATE_ENV, MIB, PMD, DeflateWs, bomb, check_answer, deflate, hwm_kib, \
    inflate, json_2k, parse_extensions, read_inflated

try:
    import websockets
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
except ImportError:  # Debian's python3-websockets belongs to /usr/bin/python3
    websockets = None
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("BERTH_WS_REEXEC"):
        os.environ["BERTH_WS_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

from test_ws import node_ws  # noqa: E402 (after the re-exec above)

TEST_SERVER = "tests/berth-test-server"


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


NODE_CLIENT = r"""
const WebSocket = require('ws');
const fs = require('fs');
const [url, ca, opts] = process.argv.slice(1);
const pmd = Object.assign({threshold: 0}, JSON.parse(opts));
const ws = new WebSocket(url, Object.assign({perMessageDeflate: pmd},
                         ca ? {ca: fs.readFileSync(ca), servername: 'localhost'} : {}));
const want = [];
let answer = null;
ws.on('upgrade', (res) => { answer = res.headers['sec-websocket-extensions'] || ''; });
let got = 0, fail = (m) => { console.error(m); process.exit(1); };
ws.on('open', () => {
  const item = JSON.stringify({user: 'someone', text: 'hello everybody in the room', n: 0});
  for (let i = 0; i < 500; i++) want.push([item.replace('"n":0', '"n":' + i), false]);
  const bin = Buffer.alloc(256); for (let i = 0; i < 256; i++) bin[i] = i;
  want.push(['hello', false], [bin, true], ['', false], [Buffer.alloc(0), true]);
  want.push([Buffer.alloc(1 << 20, 'abcdefgh'), true]);
  want.push([require('crypto').randomBytes(200000), true]);
  for (let i = 0; i < 100; i++) want.push(['again ' + i + ' ' + 'x'.repeat(i * 20), false]);
  for (const [m, b] of want) ws.send(m, {binary: b});
});
ws.on('message', (data, isBinary) => {
  const [m, b] = want[got++];
  if (isBinary !== b || !Buffer.from(m).equals(Buffer.from(data))) fail('message ' + got);
  if (got === want.length) ws.close(1000, 'done');
});
ws.on('close', (code) => {
  if (code !== 1000 || got !== want.length) fail('close ' + code + ' after ' + got);
  console.log(JSON.stringify({extensions: answer}));
  process.exit(0);
});
ws.on('error', (e) => fail(String(e)));
"""


class DeflateMixin:
    backend = None
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(backend=cls.backend, env=dict(DEFLATE_ENV, BERTH_THREADS="2",
                                                       TLS_CERT=CERT, TLS_KEY=KEY))

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "ws deflate (%s)" % cls.backend)

    def url(self):
        if self.tls:
            return "wss://127.0.0.1:%d/ws" % self.srv.tls_port
        return "ws://127.0.0.1:%d/ws" % self.srv.port

    def connect(self, **kw):
        ctx = tls_context() if self.tls else None
        if ctx:
            ctx.set_alpn_protocols([])  # websockets speaks HTTP/1.1 without ALPN
        return websockets.connect(self.url(), ssl=ctx, max_size=None, **kw)

    def raw(self, *offers, srv=None):
        r = DeflateWs(srv or self.srv, offers, tls=self.tls)
        self.addCleanup(r.close)
        return r

    def negotiated(self, *offers):
        """A raw client whose offer berth accepted; its answer checked."""
        r = self.raw(*offers)
        first = parse_extensions(offers)[0][1]
        check_answer(self, first, r.params)
        return r

    # -- Python's websockets (compression="deflate", its default)

    def messages(self):
        rnd = os.urandom(MIB)
        rep = (b"the same forty-byte line, again and again\n" * (MIB // 42 + 1))[:MIB]
        return ["", "x" * 100, json_2k(), rep.decode(), b"", b"y" * 100, json_2k().encode(),
                rnd, rep]

    def test_websockets_echo_with_compression(self):
        async def go():
            async with self.connect() as ws:
                ext = ws.response_headers.get_all("Sec-WebSocket-Extensions")
                self.assertTrue(ext and ext[0].startswith(PMD), ext)
                self.assertEqual([e.name for e in ws.extensions], [PMD])
                for m in self.messages():
                    await ws.send(m)
                    self.assertEqual(await ws.recv(), m, len(m))
                for i in range(200):  # a burst, context taken over message after message
                    await ws.send('{"n": %d, "text": "hello again"}' % i)
                for i in range(200):
                    self.assertEqual(await ws.recv(), '{"n": %d, "text": "hello again"}' % i)
                await ws.send(iter(["frag", "men", "ted ", "€"]))  # fragmented, compressed
                self.assertEqual(await ws.recv(), "fragmented €")
                waiter = await ws.ping(b"compressed or not")
                await asyncio.wait_for(waiter, 10)
            self.assertEqual(ws.close_code, 1000)
        run(go(), 180)

    def test_websockets_parameters(self):
        variants = [
            dict(server_no_context_takeover=True, client_no_context_takeover=True),
            dict(server_max_window_bits=10, client_max_window_bits=10),
            dict(server_max_window_bits=9, client_max_window_bits=True),
            dict(client_max_window_bits=None),  # no client_max_window_bits offered
        ]

        async def one(kw):
            f = ClientPerMessageDeflateFactory(**kw)
            async with self.connect(extensions=[f], compression=None) as ws:
                (pmd,) = ws.extensions  # websockets checked the answer itself
                if kw.get("server_no_context_takeover"):
                    self.assertTrue(pmd.remote_no_context_takeover)
                if kw.get("server_max_window_bits"):
                    self.assertLessEqual(pmd.remote_max_window_bits, kw["server_max_window_bits"])
                for m in self.messages()[:3] + [json_2k()] * 5:
                    await ws.send(m)
                    self.assertEqual(await ws.recv(), m, kw)
        for kw in variants:
            run(one(kw))

    # -- Node's ws with perMessageDeflate (threshold 0: every message compressed)

    def node(self, opts):
        d = node_ws()
        if not d:
            self.skipTest("Node's ws module is not installed (npm install ws in tests/e2e)")
        args = ["node", "-e", NODE_CLIENT, self.url(), CERT if self.tls else "",
                json.dumps(opts)]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, NODE_PATH=d))
        self.assertEqual(r.returncode, 0, "%s: %s" % (opts, r.stderr[-2000:]))
        ext = parse_extensions([json.loads(r.stdout.strip().splitlines()[-1])["extensions"]])
        self.assertEqual([n for n, _ in ext], [PMD], r.stdout)
        return dict(ext[0][1])

    def test_node_ws_context_takeover(self):
        self.node({})

    def test_node_ws_no_context_takeover(self):
        p = self.node({"clientNoContextTakeover": True, "serverNoContextTakeover": True})
        self.assertIn("server_no_context_takeover", p)

    def test_node_ws_window_bits(self):
        for bits in (9, 10, 12, 15):
            p = self.node({"serverMaxWindowBits": bits, "clientMaxWindowBits": bits})
            self.assertLessEqual(int(p["server_max_window_bits"]), bits)

    # -- the server's frames

    def test_server_frames_compressed_and_smaller(self):
        r = self.negotiated(PMD)
        d = zlib.decompressobj(-15)
        msg = json_2k().encode()
        for opcode in (1, 2):
            r.send_frame(opcode, msg)  # sent uncompressed: RSV1 is per message (7.2.3)
            op, comp, payload, _ = r.recv_message()
            self.assertEqual(op, opcode)
            self.assertTrue(comp, "a 2 KiB JSON message came back uncompressed")
            self.assertLess(len(payload), len(msg) // 2)
            if "server_no_context_takeover" in r.params:
                d = zlib.decompressobj(-15)
            self.assertEqual(inflate(payload, d), msg)
        r.send_frame(9, b"ping")  # control frames: never compressed (recv_message checks)
        self.assertEqual(r.recv_frame(), (True, 0, 10, b"ping"))
        r.send_frame(8, struct.pack("!H", 1000))
        self.assertEqual(r.close_code(), 1000)

    def test_large_message_frames_rsv1_on_first_only(self):
        r = self.negotiated(PMD)
        msg = (b"0123456789abcdef" * (4 * MIB // 16))
        r.send_compressed(2, msg)
        op, comp, payload, _ = r.recv_message()  # checks RSV1 frame by frame
        self.assertTrue(comp)
        self.assertEqual(inflate(payload), msg)

    def test_server_context_takeover(self):
        # Issue 29: a sliding window kept across messages. Unless the server
        # answered server_no_context_takeover, a repeated message costs
        # little the second time; either way it inflates as the answer says.
        r = self.negotiated(PMD)
        msg = os.urandom(1500).hex().encode()  # incompressible but for its repeat
        d = zlib.decompressobj(-15)
        sizes = []
        for _ in range(3):
            r.send_frame(1, msg)
            op, comp, payload, _ = r.recv_message()
            self.assertTrue(comp)
            sizes.append(len(payload))
            if "server_no_context_takeover" in r.params:
                d = zlib.decompressobj(-15)
            self.assertEqual(inflate(payload, d), msg)
        if "server_no_context_takeover" not in r.params:
            self.assertLess(sizes[1], sizes[0] // 10, sizes)

    def test_server_no_context_takeover_honoured(self):
        r = self.negotiated(PMD + "; server_no_context_takeover")
        msg = os.urandom(1500).hex().encode()
        for _ in range(3):
            r.send_frame(1, msg)
            op, comp, payload, _ = r.recv_message()
            # a fresh inflater each time: a reference into the last message
            # would be "invalid distance too far back", or wrong bytes
            self.assertEqual(inflate(payload), msg)

    def test_compressed_text_and_binary_and_empty(self):
        r = self.negotiated(PMD)
        state = []
        for opcode, data in ((1, json_2k().encode()), (2, os.urandom(3000)), (1, b""),
                             (2, b""), (1, "é€😀".encode() * 1000), (2, bytes(100000))):
            r.send_compressed(opcode, data)
            self.assertEqual(self.raw_echo(r, state), (opcode, data))
        r.send_frame(2, b"\x00", rsv=0x40)  # an empty stored block, as zlib makes for b""
        self.assertEqual(self.raw_echo(r, state), (2, b""))
        # an empty first fragment with RSV1 (7.2.3.6), the data in the next
        # (an empty payload alone is no message: 00 00 ff ff opens a block)
        r.send_frame(1, b"", fin=False, rsv=0x40)
        r.send_frame(0, deflate(b"after an empty first fragment"))
        self.assertEqual(self.raw_echo(r, state), (1, b"after an empty first fragment"))

    def test_rfc7692_examples(self):
        # The payloads of RFC 7692 7.2.3, each "Hello" as a text message
        examples = [
            ("one compressed block (7.2.3.1)", "f248cdc9c90700"),
            ("a block with no compression (7.2.3.3)", "000500faff48656c6c6f00"),
            ("BFINAL set to 1 (7.2.3.4)", "f348cdc9c9070000"),
            ("two blocks in one message (7.2.3.5)", "f24805000000ffffcac9c90700"),
        ]
        for what, hexa in examples:
            r = self.negotiated(PMD)
            r.send_frame(1, bytes.fromhex(hexa), rsv=0x40)
            try:
                self.assertEqual(self.raw_echo(r, []), (1, b"Hello"), what)
            except EOFError as e:  # the server's close frame
                self.fail("%s, payload %s: %s instead of the echo" % (what, hexa, e))
            r.close()
        r = self.negotiated(PMD)
        state = []
        r.send_frame(1, bytes.fromhex("f248cd"), fin=False, rsv=0x40)  # fragmented (7.2.3.1)
        r.send_frame(0, bytes.fromhex("c9c90700"))
        self.assertEqual(self.raw_echo(r, state), (1, b"Hello"))
        if "client_no_context_takeover" not in r.params:  # the window shared (7.2.3.2)
            r.send_frame(1, bytes.fromhex("f200110000"), rsv=0x40)
            self.assertEqual(self.raw_echo(r, state), (1, b"Hello"))

    def raw_echo(self, r, state):
        return read_inflated(r, state)[:2]

    def test_fragmented_compressed_message(self):
        r = self.negotiated(PMD)
        state = []
        msg = json_2k().encode() * 4
        payload = deflate(msg)
        third = len(payload) // 3
        r.send_frame(1, payload[:third], fin=False, rsv=0x40)  # RSV1 on the first only
        r.send_frame(9, b"in between")  # a ping inside the message
        r.send_frame(0, payload[third:2 * third], fin=False)
        r.send_frame(0, b"", fin=False)  # an empty continuation
        r.send_frame(0, payload[2 * third:])
        _, rsv, op, pong = r.recv_frame()
        self.assertEqual((rsv, op, pong), (0, 10, b"in between"))
        self.assertEqual(self.raw_echo(r, state), (1, msg))
        # a message split where the inflater's output straddles the frames
        payload = deflate(b"A" * 100000)
        r.send_frame(2, payload[:1], fin=False, rsv=0x40)
        r.send_frame(0, payload[1:])
        self.assertEqual(self.raw_echo(r, state), (2, b"A" * 100000))
        # text whose characters of 1 to 4 bytes straddle frames and the
        # inflater's pieces of output: UTF-8 is checked across them
        rnd = random.Random(7)
        text = "".join(rnd.choice("aé€😀") for _ in range(150000)).encode()
        payload = deflate(text)
        for i in range(0, len(payload), 777):
            r.send_frame(0 if i else 1, payload[i:i + 777], fin=i + 777 >= len(payload),
                         rsv=0 if i else 0x40)
        self.assertEqual(self.raw_echo(r, state), (1, text))

    def test_client_context_takeover(self):
        r = self.raw(PMD)
        self.assertIsNotNone(r.params)
        takeover = "client_no_context_takeover" not in r.params
        cbits = int(r.params.get("client_max_window_bits", 15))
        self.assertEqual(cbits, 15)  # 7.1.2.2: not offered, so not answered
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        msg = os.urandom(2000).hex().encode()
        state = []
        sizes = []
        for i in range(4):
            c = comp if takeover else None
            sizes.append(len(r.send_compressed(1, msg, c)))
            self.assertEqual(self.raw_echo(r, state), (1, msg), i)
            # an uncompressed message between: no part of the context (7.2.3.1)
            r.send_frame(1, b"plain %d " % i + msg[:1000])
            self.assertEqual(self.raw_echo(r, state), (1, b"plain %d " % i + msg[:1000]))
        if takeover:
            self.assertLess(sizes[1], sizes[0] // 10, sizes)  # back-references were sent

    def test_client_no_context_takeover(self):
        r = self.negotiated(PMD + "; client_no_context_takeover")
        state = []
        for i in range(5):
            msg = ('{"n": %d, "same": "text every time"}' % i).encode() * 50
            r.send_compressed(1, msg)  # a fresh compressor for each message
            self.assertEqual(self.raw_echo(r, state), (1, msg))

    # -- errors

    def test_rsv1_on_continuation_closes_1002(self):
        r = self.negotiated(PMD)
        payload = deflate(b"hello hello hello")
        r.send_frame(1, payload[:3], fin=False, rsv=0x40)
        r.send_frame(0, payload[3:], rsv=0x40)
        self.assertEqual(r.close_code(), 1002)

    def test_rsv1_on_uncompressed_continuation_closes_1002(self):
        r = self.negotiated(PMD)
        r.send_frame(1, b"hel", fin=False)
        r.send_frame(0, deflate(b"lo"), rsv=0x40)
        self.assertEqual(r.close_code(), 1002)

    def test_rsv1_on_ping_closes_1002(self):
        r = self.negotiated(PMD)
        r.send_frame(9, deflate(b"ping"), rsv=0x40)
        self.assertEqual(r.close_code(), 1002)

    def test_rsv1_on_close_closes_1002(self):
        r = self.negotiated(PMD)
        r.send_frame(8, deflate(struct.pack("!H", 1000)), rsv=0x40)
        self.assertEqual(r.close_code(), 1002)

    def test_rsv2_and_rsv3_still_close_1002(self):
        for rsv in (0x20, 0x10, 0x60):
            r = self.negotiated(PMD)
            r.send_frame(1, b"hello", rsv=rsv)
            self.assertEqual(r.close_code(), 1002, hex(rsv))
            r.close()

    def test_invalid_deflate_data_closes_1007(self):
        # RFC 7692 names no code; like Node's ws, berth closes with 1007
        # (data inconsistent with the message, as for bad UTF-8).
        for bad in (b"\xff\xff\xff\xff", b"\x07" + os.urandom(64),
                    bytes([0x01, 0x05, 0x00, 0x00, 0x00]) + b"abcde"):  # LEN/NLEN mismatch
            r = self.negotiated(PMD)
            r.send_frame(2, bad, rsv=0x40)
            self.assertEqual(r.close_code(), 1007, bad.hex())
            r.close()

    def test_inflated_text_not_utf8_closes_1007(self):
        r = self.negotiated(PMD)
        r.send_compressed(1, b"valid then \xe2\x82\x28 not")
        self.assertEqual(r.close_code(), 1007)
        r = self.negotiated(PMD)
        payload = deflate(b"ends inside a character \xe2\x82")
        r.send_frame(1, payload, rsv=0x40)
        self.assertEqual(r.close_code(), 1007)

    def test_compression_bomb_closes_1009(self):
        # 1 GiB of zeros in about 1 MiB of payload: berth must close with
        # 1009 once max_message (16 MiB) is passed, not inflate it all.
        pid = self.srv.proc.pid
        before = hwm_kib(pid)
        for fragmented in (False, True):
            r = self.negotiated(PMD)
            payload = bomb(1024)
            t0 = time.monotonic()
            try:
                if fragmented:  # 64 KiB frames: the frames' sizes say nothing
                    step = 1 << 16
                    for i in range(0, len(payload), step):
                        r.send_frame(2 if i == 0 else 0, payload[i:i + step],
                                     fin=i + step >= len(payload), rsv=0x40 if i == 0 else 0)
                else:
                    r.send_frame(2, payload, rsv=0x40)
            except OSError:
                pass  # berth closed while the rest was on its way
            self.assertEqual(r.close_code(), 1009)
            self.assertLess(time.monotonic() - t0, 20)
            r.close()
        if LINUX and not sanitized(pid):
            grew = hwm_kib(pid) - before
            self.assertLess(grew, 128 * 1024, "VmHWM grew by %d KiB for a 1 GiB bomb" % grew)
        self.test_compressed_text_and_binary_and_empty()  # the server is fine


class DeflateThreadMixin:
    """Sends from threads that are not the connection's (berth-test-server's
    /wsd routes, tests/server/ws-deflate-routes.c): a topic publish and
    berth_ws_send, to subscribers with and without compression, each in
    its own context."""
    backend = None
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(TEST_SERVER, backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "ws deflate threads (%s)" % cls.backend)

    def sub(self, path, *offers):
        r = DeflateWs(self.srv, offers, tls=self.tls, path=path)
        self.addCleanup(r.close)
        return r

    def publish(self, body, count):
        c = Conn(self.srv, timeout=30)
        c.send(b"POST /wsd/publish?count=%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
               % (count, len(body)) + body)
        status, _, answer = c.response()
        c.close()
        self.assertEqual(status, 200, answer)
        return answer

    def test_topic_publish_from_a_thread_to_compressed_subscribers(self):
        offers = [[PMD], [PMD + "; server_no_context_takeover"],
                  [PMD + "; server_max_window_bits=10"], []]
        subs = [self.sub(b"/wsd/topic", *o) for o in offers]
        self.assertIsNone(subs[3].params)
        for s in subs[:3]:
            self.assertIsNotNone(s.params)
        body = json_2k().encode()
        self.assertEqual(self.publish(body, 50), b"reached=4\n")
        states = [[] for _ in subs]
        for k, s in enumerate(subs):
            for i in range(50):
                op, data, comp = read_inflated(s, states[k])
                self.assertEqual((op, data), (1, b"%d " % i + body), (k, i))
                self.assertEqual(comp, k < 3, (k, i))
        # a subscriber's compressed message, published on its connection's
        # thread, read on in each subscriber's context
        subs[0].send_compressed(1, body + b" from a subscriber")
        for k, s in enumerate(subs):
            op, data, comp = read_inflated(s, states[k])
            self.assertEqual((op, data, comp), (1, body + b" from a subscriber", k < 3), k)

    def test_thread_sends_to_compressed_websockets(self):
        offers = [[PMD], [PMD + "; server_no_context_takeover"], []]
        rs = [self.sub(b"/wsd/thread", *o) for o in offers]
        for r in rs:
            r.send_frame(1, b"send 300")
        for k, r in enumerate(rs):
            state = []
            for i in range(300):
                op, data, comp = read_inflated(r, state)
                self.assertTrue(data.startswith(b"thread message %d of 300: {" % i), (k, i, data))
                self.assertEqual(comp, k < 2)
            r.send_frame(8, struct.pack("!H", 1000))
            self.assertEqual(r.close_code(), 1000)


class DeflateLimitMixin:
    """max_message counts the inflated bytes: a 1 MiB limit."""
    backend = None

    def test_inflated_size_counts_against_max_message(self):
        srv = Server(backend=self.backend, env=dict(DEFLATE_ENV, BERTH_THREADS="1",
                                                    BERTH_WS_MAX_MESSAGE=str(MIB)))
        try:
            r = DeflateWs(srv, [PMD])
            self.assertIsNotNone(r.params)
            exact = b"z" * MIB  # exactly max_message once inflated: accepted
            r.send_compressed(2, exact)
            op, comp, payload, _ = r.recv_message()
            self.assertEqual(inflate(payload) if comp else payload, exact)
            r.send_compressed(2, b"z" * (MIB + 1))  # one more: 1009
            self.assertEqual(r.close_code(), 1009)
            r.close()
            # incompressible, in stored blocks: more bytes on the wire than
            # max_message, exactly max_message inflated: accepted
            r = DeflateWs(srv, [PMD])
            rnd = os.urandom(MIB)
            stored = deflate(rnd, level=0)
            self.assertGreater(len(stored), MIB)
            r.send_frame(2, stored, rsv=0x40)
            op, comp, payload, _ = r.recv_message()
            self.assertEqual(inflate(payload) if comp else payload, rnd)
            r.send_frame(2, deflate(rnd + b"!", level=0), rsv=0x40)
            self.assertEqual(r.close_code(), 1009)
            r.close()
            r = DeflateWs(srv, [PMD])
            payload = bomb(64)  # 64 MiB in 64 KiB
            r.send_frame(2, payload[:len(payload) // 2], fin=False, rsv=0x40)
            r.send_frame(0, payload[len(payload) // 2:])
            self.assertEqual(r.close_code(), 1009)
            r.close()
        finally:
            stop_clean(srv, "ws deflate limit (%s)" % self.backend)


for _b in BACKENDS:
    if websockets is not None:
        for _tls in (False, True):
            _n = "TestWsDeflate%s_%s" % ("Tls" if _tls else "", _b)
            globals()[_n] = type(_n, (DeflateMixin, unittest.TestCase),
                                 {"backend": _b, "tls": _tls})
    for _tls in (False, True):
        _n = "TestWsDeflateThreads%s_%s" % ("Tls" if _tls else "", _b)
        globals()[_n] = type(_n, (DeflateThreadMixin, unittest.TestCase),
                             {"backend": _b, "tls": _tls})
    globals()["TestWsDeflateLimit_%s" % _b] = type(
        "TestWsDeflateLimit_%s" % _b, (DeflateLimitMixin, unittest.TestCase), {"backend": _b})

if websockets is None:
    print("python3-websockets is not installed: the client tests are skipped")

if __name__ == "__main__":
    unittest.main(verbosity=2)
