#!/usr/bin/env python3
"""Seeds for fuzz-ws with permessage-deflate agreed (byte 0's bit 3):
compressed messages whole and fragmented, with context takeover, small
windows, a final block, a bomb, invalid deflate data, invalid text, and
RSV1 where it does not belong. Writes corpus-ws/deflate-*."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def frame(op, payload, fin=True, rsv1=False, key=b"\x11\x22\x33\x44"):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def deflater(bits=15):
    return zlib.compressobj(6, zlib.DEFLATED, -bits)


def comp(z, data):
    return (z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]


def seed(name, flags, frames, piece_seed=7):
    # byte 0: limit bits 0-1, bit 3 deflate, bits 4-6 client window - 8, bit 7 no takeover
    with open(os.path.join(HERE, "corpus-ws", "deflate-" + name), "wb") as f:
        f.write(bytes([flags | 8, piece_seed]) + b"".join(frames))


doc = b'{"user":"alice","text":"the deploy went out at noon","n":1}'
z = deflater()
seed("text", 0, [frame(1, comp(z, doc), rsv1=True), frame(1, comp(z, doc), rsv1=True),
                 frame(2, comp(z, bytes(300)), rsv1=True)])
c = comp(deflater(), doc * 3)
seed("fragments", 2, [frame(1, c[:4], fin=False, rsv1=True), frame(9, b"ping"),
                      frame(0, c[4:9], fin=False), frame(0, c[9:])])
z = deflater(9)
seed("window9", 7 << 4, [frame(1, comp(z, doc * 4), rsv1=True),
                            frame(1, comp(z, doc * 4), rsv1=True)])
seed("no-takeover", 0x80, [frame(1, comp(deflater(), doc), rsv1=True),
                            frame(1, comp(deflater(), doc), rsv1=True)])
z = deflater()
final = z.compress(doc) + z.flush(zlib.Z_FINISH)
seed("final-block", 0, [frame(1, final, rsv1=True), frame(1, b"\x00", rsv1=True)])
seed("empty", 0, [frame(1, b"", rsv1=True), frame(2, b"\x00", rsv1=True)])
seed("bomb", 2, [frame(2, comp(deflater(), bytes(40000)), rsv1=True)])
seed("invalid-data", 0, [frame(1, b"\xff\xff\xff", rsv1=True)])
seed("invalid-text", 0, [frame(1, comp(deflater(), b"ok\xff\xfe"), rsv1=True)])
seed("rsv1-continuation", 0, [frame(1, c[:4], fin=False, rsv1=True), frame(0, c[4:], rsv1=True)])
seed("rsv1-control", 0, [frame(9, b"x", rsv1=True)])
