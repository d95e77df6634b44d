#!/usr/bin/python3
"""Writes the seed corpus of fuzz-h2 (tests/fuzz/corpus-h2/): request
sequences a client sends after the preface, made with Python's h2 (Debian
python3-h2), and edge cases made by hand. Each file is one flags byte
(fuzz-h2.c: EOF, timeouts, read and write sizes) then the frames.
Run with /usr/bin/python3 from anywhere: tests/fuzz/make-h2-corpus.py"""
import os
import struct

import h2.config
import h2.connection

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-h2")


def client(settings=None):
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding=None))
    c.initiate_connection()
    if settings:
        c.update_settings(settings)
    return c


def req(c, method, path, headers=(), body=None, end=True):
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", method), (":path", path), (":scheme", "http"),
                         (":authority", "localhost")] + list(headers),
                   end_stream=body is None and end)
    if body is not None:
        c.send_data(sid, body, end_stream=end)
    return sid


def frames(c):
    data = c.data_to_send()
    assert data.startswith(PREFACE)
    return data[len(PREFACE):]


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


SETTINGS_EMPTY = frame(4, 0, 0, b"")


def seeds():
    c = client()
    req(c, "GET", "/")
    yield "get", frames(c)
    c = client()
    req(c, "HEAD", "/")
    req(c, "GET", "/nope")
    req(c, "DELETE", "/")
    yield "head-404-405", frames(c)
    c = client()
    req(c, "POST", "/echo", [("content-length", "11")], b"hello world")
    yield "post-echo", frames(c)
    c = client()
    sid = req(c, "POST", "/echo", body=b"part one, ", end=False)
    c.send_data(sid, b"part two", end_stream=True)
    yield "post-two-data", frames(c)
    c = client()
    for _ in range(10):
        req(c, "GET", "/big")
    yield "ten-big", frames(c)
    c = client({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384})
    req(c, "GET", "/big")
    req(c, "GET", "/file")
    yield "small-window", frames(c)
    c = client()
    sid = req(c, "GET", "/big")
    c.reset_stream(sid)
    req(c, "GET", "/peer")
    yield "reset", frames(c)
    c = client()
    req(c, "GET", "/", [("accept-encoding", "gzip"), ("cookie", "a=1"), ("cookie", "b=2"),
                        ("x-long", "v" * 5000)])
    yield "headers", frames(c)
    c = client()
    req(c, "GET", "/")
    c.ping(b"12345678")
    c.close_connection()
    yield "ping-goaway", frames(c)
    c = client()
    req(c, "POST", "/echo", [("content-length", "100000000")], b"x")
    yield "413", frames(c)
    # By hand: frames nghttp2 must refuse or ignore.
    yield "settings-only", SETTINGS_EMPTY
    yield "data-on-idle", SETTINGS_EMPTY + frame(0, 1, 1, b"abc")
    yield "headers-on-even", SETTINGS_EMPTY + frame(1, 5, 2, b"\x82\x84\x86")
    yield "continuation-flood", SETTINGS_EMPTY + frame(1, 0, 1, b"\x82\x84\x86") + \
        b"".join(frame(9, 0, 1, b"\x40\x01a\x01b") for _ in range(50))
    yield "window-overflow", SETTINGS_EMPTY + frame(8, 0, 0, struct.pack(">I", 0x7fffffff))
    yield "unknown-frame", SETTINGS_EMPTY + frame(0xfa, 0, 0, b"hello")
    yield "priority-self", SETTINGS_EMPTY + frame(2, 0, 1, struct.pack(">I", 1) + b"\x10")
    yield "bad-hpack", SETTINGS_EMPTY + frame(1, 5, 1, b"\xff\xff\xff\xff")
    c = client()
    for _ in range(30):
        sid = req(c, "GET", "/")
        c.reset_stream(sid)
    yield "rapid-reset", frames(c)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, body in seeds():
        for flag, tag in ((0x3d, ""), (0x07, "-pieces")):
            with open(os.path.join(OUT, name + tag), "wb") as f:
                f.write(bytes([flag]) + body)
    # an h2c-only listener (flag 0x40): the client's bytes whole
    for name, body in (("h2only-get", PREFACE + next(seeds())[1]),
                       ("h2only-http11", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
                       ("h2only-half-preface", PREFACE[:10]),
                       ("h2only-bad-preface", b"PRI * HTTP/2.0\r\n\r\nXY\r\n\r\n" + SETTINGS_EMPTY)):
        for flag, tag in ((0x7d, ""), (0x47, "-pieces")):
            with open(os.path.join(OUT, name + tag), "wb") as f:
                f.write(bytes([flag]) + body)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
