"""WebSocket compression (permessage-deflate, RFC 7692; issue 29), black
box, on every backend, plaintext and TLS: berth-serve's /ws echo with
BERTH_WS_DEFLATE=1, reached by clients nobody here wrote (Python's
websockets, which offers the extension by default, and Node's ws with
perMessageDeflate) and by a raw client whose compressed frames are made
here with zlib (raw DEFLATE, the 00 00 ff ff tail stripped: RFC 7692
7.2.1). It checks the negotiation table over the wire (section 7.1: each
parameter, invalid values, duplicates, several offers), the frames (RSV1
on the first frame of a compressed message only, never on control
frames; smaller on the wire), the window and context-takeover parameters
(the server's frames must inflate under the window and context it agreed
to), the errors (RSV1 where it does not belong: 1002; bad DEFLATE data:
1007; inflated text not UTF-8: 1007) and the limits (a compression bomb
closes with 1009 before it is inflated whole, and the server's memory
does not grow by the inflated size)."""
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import unittest
import zlib

from berthproc import BACKENDS, CERT, KEY, LINUX, Server, TlsSock, sanitized, stop_clean, \
    tls_context

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

MIB = 1 << 20
TAIL = b"\x00\x00\xff\xff"
PMD = "permessage-deflate"
DEFLATE_ENV = {"BERTH_WS_DEFLATE": "1", "BERTH_WS_DEFLATE_LEVEL": "6"}
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def json_2k():
    """A 2 KiB JSON text, like a chat or dashboard message."""
    items = [{"id": i, "name": "item %d" % i, "price": 10 + i, "tags": ["a", "b"], "ok": True}
             for i in range(40)]
    s = json.dumps({"items": items, "count": 40})
    while len(s) < 2048:
        items.append({"id": len(items), "name": "pad"})
        s = json.dumps({"items": items, "count": len(items)})
    return s


def deflate(data, comp=None, wbits=15, level=6):
    """One message's payload: raw DEFLATE ending in a sync flush, its
    00 00 ff ff tail removed (RFC 7692 7.2.1). comp: a compressor kept
    across messages (context takeover)."""
    c = comp or zlib.compressobj(level, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload, decomp=None, wbits=15):
    """A compressed message's payload inflated (RFC 7692 7.2.2): with the
    tail put back; decomp kept across messages (context takeover), else a
    fresh one whose window is wbits (zlib raises on a distance beyond)."""
    d = decomp or zlib.decompressobj(-wbits)
    return d.decompress(payload + TAIL)


_bomb = {}


def bomb(mib):
    """`mib` MiB of zeros as one compressed payload (about 1/1000 of it):
    built from identical 1 MiB pieces, never holding the whole."""
    if mib not in _bomb:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        z = bytes(MIB)
        first = c.compress(z) + c.flush(zlib.Z_SYNC_FLUSH)
        rest = c.compress(z) + c.flush(zlib.Z_SYNC_FLUSH)
        assert rest == c.compress(z) + c.flush(zlib.Z_SYNC_FLUSH)  # steady state
        _bomb[mib] = (first + rest * (mib - 1))[:-4]
    return _bomb[mib]


def mask(payload, key):
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def parse_extensions(values):
    """Sec-WebSocket-Extensions values (header lines) as a list of
    (name, [(param, value or None)]), quoted values unquoted."""
    out = []
    for v in values:
        for ext in v.split(","):
            parts = [p.strip() for p in ext.split(";")]
            if not parts[0]:
                continue
            params = []
            for p in parts[1:]:
                k, eq, val = p.partition("=")
                val = val.strip()
                if len(val) >= 2 and val[0] == val[-1] == '"':
                    val = val[1:-1]
                params.append((k.strip().lower(), val if eq else None))
            out.append((parts[0].lower(), params))
    return out


class DeflateWs:
    """A WebSocket client on a socket of our own, offering what the test
    says (Sec-WebSocket-Extensions lines), reading frames with their bits."""

    def __init__(self, srv, offers=(), tls=False, path=b"/ws", port=None):
        if tls:
            self.sock = TlsSock(port or srv.tls_port, timeout=15)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port or srv.port), timeout=15)
        key = base64.b64encode(os.urandom(16))
        ext = b"".join(b"Sec-WebSocket-Extensions: " + o.encode() + b"\r\n" for o in offers)
        self.sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          b"\r\nSec-WebSocket-Version: 13\r\n" + ext + b"\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode("latin-1")
        want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        assert self.head.startswith("HTTP/1.1 101 "), self.head
        assert "Sec-WebSocket-Accept: " + want in self.head, self.head
        lines = self.head.split("\r\n")[1:]
        self.ext_lines = [ln.split(":", 1)[1].strip() for ln in lines
                          if ln.lower().startswith("sec-websocket-extensions:")]
        self.extensions = parse_extensions(self.ext_lines)
        pmd = [p for n, p in self.extensions if n == PMD]
        self.params = dict(pmd[0]) if pmd else None  # None: declined

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    @staticmethod
    def frame(opcode, payload=b"", fin=True, rsv=0):
        n = len(payload)
        b0 = (0x80 if fin else 0) | rsv | opcode
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n <= 0xFFFF:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        key = os.urandom(4)
        return head + key + mask(payload, key)

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0):
        self.sock.sendall(self.frame(opcode, payload, fin, rsv))

    def send_compressed(self, opcode, data, comp=None, wbits=15):
        payload = deflate(data, comp, wbits)
        self.send_frame(opcode, payload, rsv=0x40)
        return payload

    def recv_frame(self):
        """(fin, rsv bits, opcode, payload) of the server's next frame."""
        while len(self.buf) < 2:
            self._fill()
        b0, b1 = self.buf[0], self.buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill()
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        assert not b1 & 0x80, "server frames are not masked"
        while len(self.buf) < at + n:
            self._fill()
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, payload

    def recv_message(self):
        """The next data message: (opcode, compressed, payload as on the
        wire, frames). Checks RFC 7692 6.1 and 7.2.3.? on the way: RSV1 on
        the first frame only, no RSV2/RSV3, control frames never
        compressed; pongs are skipped."""
        frames = []
        while True:
            fin, rsv, op, payload = self.recv_frame()
            assert rsv & 0x30 == 0, "RSV2/RSV3 set by the server"
            if op >= 8:
                assert rsv == 0, "a control frame with RSV1 (opcode %d)" % op
                if op == 8:
                    raise EOFError("close %r" % payload[:2])
                continue
            if frames:
                assert op == 0, "a new message inside a fragmented one"
                assert rsv == 0, "RSV1 on a continuation frame"
            else:
                assert op in (1, 2), "a continuation without a first frame"
            frames.append((rsv, payload))
            if fin:
                break
        return op, frames[0][0] == 0x40, b"".join(p for _, p in frames), len(frames)

    def close_code(self):
        """Reads frames until the server's close; its code."""
        while True:
            fin, rsv, op, payload = self.recv_frame()
            if op == 8:
                assert rsv == 0
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self):
        self.sock.close()


def check_answer(test, offer, params):
    """The accepted answer obeys RFC 7692 7.1 for the offer it accepts
    (offer: a list of (param, value)), and names each parameter once."""
    offered = dict(offer)
    test.assertIsNotNone(params, "declined an offer it should accept: %r" % (offer,))
    names = [k for k, _ in params.items()]
    test.assertEqual(len(names), len(set(names)))
    for k, v in params.items():
        test.assertIn(k, ("server_no_context_takeover", "client_no_context_takeover",
                          "server_max_window_bits", "client_max_window_bits"))
        if k.endswith("context_takeover"):
            test.assertIsNone(v, "%s with a value" % k)
        else:
            test.assertIsNotNone(v, "%s without a value in the answer" % k)
            test.assertRegex(v, r"^[0-9]+$")
            test.assertTrue(8 <= int(v) <= 15, "%s=%s" % (k, v))
    if "server_no_context_takeover" in offered:  # 7.1.1.1
        test.assertIn("server_no_context_takeover", params)
    if "server_max_window_bits" in offered:  # 7.1.2.1: the same or smaller
        test.assertIn("server_max_window_bits", params)
        test.assertLessEqual(int(params["server_max_window_bits"]),
                             int(offered["server_max_window_bits"]))
    if "client_max_window_bits" in params:  # 7.1.2.2: only if offered
        test.assertIn("client_max_window_bits", offered)
        if offered["client_max_window_bits"] is not None:
            test.assertLessEqual(int(params["client_max_window_bits"]),
                                 int(offered["client_max_window_bits"]))


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
  want.push([Buffer.alloc(1 << 20, 'abcdefgh'), true], [require('crypto').randomBytes(200000), true]);
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
        op, comp, payload, nframes = r.recv_message()  # checks RSV1 frame by frame
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

    # -- the client's compressed frames (made here)

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

    def raw_echo(self, r, state):
        """The next echo, inflated with the server's context (state: a
        one-item list holding the inflater kept across messages)."""
        op, comp, payload, _ = r.recv_message()
        if not comp:
            return op, payload
        if "server_no_context_takeover" in r.params or not state:
            state[:] = [zlib.decompressobj(-15)]
        return op, inflate(payload, state[0])

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
        if takeover:
            self.assertLess(sizes[1], sizes[0] // 10, sizes)  # back-references were sent

    def test_client_no_context_takeover(self):
        r = self.negotiated(PMD + "; client_no_context_takeover")
        state = []
        for i in range(5):
            msg = ('{"n": %d, "same": "text every time"}' % i).encode() * 50
            r.send_compressed(1, msg)  # a fresh compressor for each message
            self.assertEqual(self.raw_echo(r, state), (1, msg))

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

    def test_rsv1_without_negotiation_closes_1002(self):
        r = self.raw()  # no offer: nothing negotiated
        self.assertIsNone(r.params)
        r.send_frame(1, deflate(b"hello"), rsv=0x40)
        self.assertEqual(r.close_code(), 1002)
        r2 = self.raw(PMD + "; foo")  # an offer declined
        self.assertIsNone(r2.params)
        r2.send_frame(2, deflate(b"hello"), rsv=0x40)
        self.assertEqual(r2.close_code(), 1002)

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

    # -- negotiation over the wire (RFC 7692 7.1)

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


def hwm_kib(pid):
    """VmHWM (peak resident memory) of pid in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


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
            r = DeflateWs(srv, [PMD])
            payload = bomb(64)  # 64 MiB in 64 KiB
            r.send_frame(2, payload[:len(payload) // 2], fin=False, rsv=0x40)
            r.send_frame(0, payload[len(payload) // 2:])
            self.assertEqual(r.close_code(), 1009)
            r.close()
        finally:
            stop_clean(srv, "ws deflate limit (%s)" % self.backend)


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


for _b in BACKENDS:
    if websockets is not None:
        for _tls in (False, True):
            _n = "TestWsDeflate%s_%s" % ("Tls" if _tls else "", _b)
            globals()[_n] = type(_n, (DeflateMixin, unittest.TestCase),
                                 {"backend": _b, "tls": _tls})
    globals()["TestWsDeflateLimit_%s" % _b] = type(
        "TestWsDeflateLimit_%s" % _b, (DeflateLimitMixin, unittest.TestCase), {"backend": _b})
    globals()["TestWsDeflateOff_%s" % _b] = type(
        "TestWsDeflateOff_%s" % _b, (DeflateOffMixin, unittest.TestCase), {"backend": _b})

if websockets is None:
    print("python3-websockets is not installed: the client tests are skipped")

if __name__ == "__main__":
    unittest.main(verbosity=2)
