"""Helpers of the permessage-deflate tests (RFC 7692; test_ws_deflate.py,
test_ws_deflate_negotiation.py): a raw WebSocket client that offers what a
test says and reads frames with their RSV bits, compressed payloads made
and read with zlib, the check of an answer against RFC 7692 7.1."""
import json
import struct
import zlib

from wsraw import RawWs

MIB = 1 << 20
TAIL = b"\x00\x00\xff\xff"
PMD = "permessage-deflate"
DEFLATE_ENV = {"BERTH_WS_DEFLATE": "1", "BERTH_WS_DEFLATE_LEVEL": "6"}


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
    fresh one whose window is wbits. zlib refuses a distance beyond the
    window only when the match is not in the output of the same call: the
    output comes in pieces of 256 bytes (the smallest window) so that it
    always checks."""
    d = decomp or zlib.decompressobj(-wbits)
    data = payload + TAIL
    if wbits == 15 and decomp is None:
        return d.decompress(data)
    out = [d.decompress(data, 256)]
    while d.unconsumed_tail or len(out[-1]) == 256:  # input left, or output pending
        out.append(d.decompress(d.unconsumed_tail, 256))
    return b"".join(out)


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


class DeflateWs(RawWs):
    """A raw WebSocket client (wsraw.py) offering what the test says
    (Sec-WebSocket-Extensions lines), reading frames with their bits."""

    def __init__(self, srv, offers=(), tls=False, path=b"/ws", port=None):
        super().__init__(srv, tls=tls, path=path, extensions=[o.encode() for o in offers], port=port,
                         timeout=15)
        lines = self.head.split("\r\n")[1:]
        self.ext_lines = [ln.split(":", 1)[1].strip() for ln in lines
                          if ln.lower().startswith("sec-websocket-extensions:")]
        self.extensions = parse_extensions(self.ext_lines)
        pmd = [p for n, p in self.extensions if n == PMD]
        self.params = dict(pmd[0]) if pmd else None  # None: declined

    def send_compressed(self, opcode, data, comp=None, wbits=15):
        payload = deflate(data, comp, wbits)
        self.send_frame(opcode, payload, rsv=0x40)
        return payload

    def recv_frame(self):
        """(fin, rsv bits, opcode, payload) of the server's next frame."""
        return self.recv_frame_bits()

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


def hwm_kib(pid):
    """VmHWM (peak resident memory) of pid in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def read_inflated(r, state):
    """The next message of raw client r: (opcode, data, compressed),
    inflated in the context the answer agreed (state: a one-item list
    holding the inflater kept across messages)."""
    op, comp, payload, _ = r.recv_message()
    if not comp:
        return op, payload, False
    if "server_no_context_takeover" in r.params or not state:
        state[:] = [zlib.decompressobj(-15)]
    return op, inflate(payload, state[0]), True
