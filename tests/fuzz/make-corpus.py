#!/usr/bin/env python3
"""Writes the seed corpus of fuzz-engine into corpus/ (run from anywhere).

Input layout of fuzz-engine: byte 0 flags, byte 1 schedule length n (low
nibble + 1), n schedule bytes, then what the client sends. See README.md.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# flags
TINY, SMALL, BIGBODY = 1, 2, 3
HIGHWATER, STREAMBUF, EOF, DRAIN = 4, 8, 16, 32
FRAMING_HEADERS, MIX_THREADS = 64, 128


# schedule ops (byte = op << 5 | arg)
def feed(n):            # 1..32 bytes
    return (0 << 5) | (n - 1)


def feed37(k):          # k*37 bytes, k 1..32
    return (1 << 5) | (k - 1)


FEED_ALL = 2 << 5


def feed_partial(n):    # feed n bytes, then write only part of the output
    return (3 << 5) | (n - 1)


def inflight(arg=0):    # begin / end an asynchronous write
    return (4 << 5) | arg


def clock(ms7=1):       # advance the clock ms7*7 ms (timeouts if due)
    return (5 << 5) | ms7


TIMEOUT = (5 << 5) | 16  # jump to the deadline
APP = 6 << 5             # one step of the deferred response
APP_REMOTE = (6 << 5) | 16
READ_IDLE = 7 << 5
EOF_NOW = (7 << 5) | 8
HOLD = (7 << 5) | 12     # feed, but do not write this step


def seed(name, flags, sched, data, out=OUT):
    assert 1 <= len(sched) <= 16
    blob = bytes([flags, len(sched) - 1]) + bytes(sched) + data
    with open(os.path.join(out, name), "wb") as f:
        f.write(blob)


H = b"Host: a\r\n"


def req(method, target, headers=b"", body=b"", version=b"HTTP/1.1", host=True):
    if body and b"Content-Length" not in headers and b"Transfer-Encoding" not in headers:
        headers += b"Content-Length: %d\r\n" % len(body)
    return (method + b" " + target + b" " + version + b"\r\n" + (H if host else b"") +
            headers + b"\r\n" + body)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.unlink(os.path.join(OUT, f))

    seed("get-one-byte-reads", EOF, [feed(1)], req(b"GET", b"/"))
    gz = b"Accept-Encoding: gzip\r\n"
    seed("gzip-pipelined", 0, [feed(9), feed_partial(31), feed37(3), FEED_ALL],
         req(b"GET", b"/text/3000", gz) + req(b"HEAD", b"/text/5000", gz) +
         req(b"GET", b"/text/20000", b"Accept-Encoding: br, gzip;q=0\r\n") +
         req(b"GET", b"/text/1023", gz) + req(b"GET", b"/text/20000", b"Accept-Encoding: *\r\n") +
         req(b"GET", b"/text/1024", gz))
    seed("pipelined-mix", 0, [feed(7), feed(13), feed_partial(9), FEED_ALL],
         req(b"GET", b"/") +
         req(b"POST", b"/echo", body=b"hello") +
         req(b"POST", b"/echo-borrow", b"Transfer-Encoding: chunked\r\n",
             b"5;a=b\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n") +
         req(b"HEAD", b"/big") +
         req(b"GET", b"/item/7?x=a%20b+c&n=-5") +
         req(b"GET", b"/nocontent") +
         req(b"DELETE", b"/item/1", body=b"drained") +
         req(b"GET", b"/nope", body=b"xyz") +
         req(b"HEAD", b"/nope") +
         req(b"OPTIONS", b"/any") +
         req(b"HEAD", b"/h") +
         req(b"GET", b"/close") +
         req(b"GET", b"/"))
    seed("te-gzip-chunked-501", EOF, [feed(3), feed(5)],
         req(b"POST", b"/count", b"Transfer-Encoding: gzip, chunked\r\n", b"") +
         b"")
    seed("chunked-count", EOF, [feed(2), feed37(1)],
         req(b"POST", b"/count", b"Transfer-Encoding: chunked\r\n",
             b"A;name=\"q v\"\r\n0123456789\r\n00001\r\nx\r\n0\r\nTrailer-A: 1\r\nT2: x y\r\n\r\n") +
         req(b"POST", b"/discard", b"Transfer-Encoding: Chunked\r\n",
             b"3\r\nabc\r\n0\r\n\r\n") +
         req(b"POST", b"/count", body=b"a!b"))
    seed("expect-100-continue", EOF, [feed37(2), READ_IDLE, feed(3)],
         req(b"POST", b"/echo", b"Expect: 100-continue\r\nContent-Length: 5\r\n") + b"hello" +
         req(b"POST", b"/nope", b"Expect: 100-continue\r\nContent-Length: 5\r\n") + b"hello")
    seed("http10-keepalive-stream", EOF, [feed(20), APP, APP, APP],
         b"GET /item/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
         b"POST /echo HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi"
         b"GET /stream HTTP/1.0\r\n\r\n")
    seed("deferred-pipelined", 0, [feed(9), APP, feed(30), APP_REMOTE, FEED_ALL, APP],
         req(b"GET", b"/defer") + req(b"GET", b"/") + req(b"GET", b"/defer") +
         req(b"HEAD", b"/defer") + req(b"GET", b"/defer204") + req(b"GET", b"/"))
    seed("streams", EOF | STREAMBUF, [FEED_ALL, APP, APP_REMOTE, clock(15), APP, inflight(3), APP,
                                      inflight(0), APP_REMOTE, APP],
         req(b"GET", b"/stream") + req(b"GET", b"/sse") + req(b"GET", b"/late") +
         req(b"HEAD", b"/stream") + req(b"GET", b"/stream-now") + req(b"GET", b"/"))
    seed("inflight-big", HIGHWATER, [feed37(3), inflight(1), feed(5), inflight(0), feed_partial(32)],
         req(b"GET", b"/big") + req(b"GET", b"/bigcopy") + req(b"GET", b"/big") +
         req(b"GET", b"/") + req(b"HEAD", b"/bigcopy") + req(b"GET", b"/status/304") +
         req(b"GET", b"/status/599"))
    seed("slow-head-timeout", 0, [feed(1), clock(3), feed(2), TIMEOUT],
         b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 1234567890\r\n\r\n")
    seed("body-timeout", 0, [feed37(2), TIMEOUT],
         req(b"POST", b"/echo", b"Content-Length: 100\r\n") + b"partial")
    seed("tiny-limits", TINY | EOF, [feed(11)],
         req(b"GET", b"/", b"A: 1\r\nB: 2\r\n") + req(b"POST", b"/echo", body=b"x" * 20))
    seed("small-limits-431", SMALL, [FEED_ALL],
         req(b"GET", b"/", b"X-Long: " + b"v" * 700 + b"\r\n"))
    seed("framing-errors", EOF, [FEED_ALL],
         req(b"POST", b"/echo", b"Content-Length: 3, 3\r\n", b"abc") +
         req(b"POST", b"/echo", b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"abc"))
    seed("bad-chunk", EOF, [feed(4)],
         req(b"POST", b"/echo", b"Transfer-Encoding: chunked\r\n", b"3\r\nabcX\r\n0\r\n\r\n"))
    seed("leading-crlf", EOF, [feed(6), feed(1)],
         b"\r\n\r\nGET /item/lf HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    # A bare LF ends no line (core/parse.h): 400 wherever it comes.
    seed("bare-lf-head", EOF, [feed(6), feed(1)],
         b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /item/lf HTTP/1.1\nHost: a\n\n")
    seed("bare-lf-field", EOF, [feed(1)],
         req(b"GET", b"/") +
         b"POST /echo HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 23\r\n\r\n" + b"x" * 23)
    seed("bare-lf-before-request", EOF, [FEED_ALL], req(b"GET", b"/") + b"\n" + req(b"GET", b"/"))
    seed("absolute-userinfo", EOF, [feed(9)],
         b"GET http://a/item/x@y?to=b@c HTTP/1.1\r\nHost: a\r\n\r\n"
         b"GET http://user:pass@a/ HTTP/1.1\r\nHost: a\r\n\r\n")
    # Chunk lines by the chunk-ext grammar (RFC 9112 7.1.1), fed a byte
    # at a time: valid forms, then one bad line per input.
    seed("chunk-ext-valid", EOF, [feed(1)],
         req(b"POST", b"/echo", b"Transfer-Encoding: chunked\r\n",
             b"5 ; a = b ; c\r\nhello\r\n2;name=\"quoted \\\" str\";x\t=\t\"\xff\"\r\n!!\r\n"
             b"0;last\r\n\r\n") + req(b"GET", b"/"))
    for i, line in enumerate((b"2 erfrferferf", b"2;", b"2 ", b'2;ilovew3="abc";somuchlove="def; ghi',
                              b"2;a=b ", b'2;a="b"c')):
        seed("chunk-ext-bad-%d" % i, EOF, [feed(1)],
             req(b"POST", b"/echo", b"Transfer-Encoding: chunked\r\n",
                 line + b"\r\nab\r\n0\r\n\r\n") + req(b"GET", b"/"))
    seed("eof-mid-body", 0, [feed(30), EOF_NOW],
         req(b"POST", b"/echo", b"Content-Length: 50\r\n") + b"only some")
    seed("eof-while-deferred", 0, [FEED_ALL, EOF_NOW, APP],
         req(b"GET", b"/stream") + req(b"GET", b"/"))
    seed("bigbody-highwater", BIGBODY | HIGHWATER | EOF,
         [feed37(32), HOLD, feed37(32), inflight(15), feed37(32), inflight(2)],
         req(b"PUT", b"/echo", body=b"b" * 34000) + req(b"GET", b"/big") +
         req(b"POST", b"/echo-borrow", body=b"c" * 3000))
    seed("expect-other-417", EOF, [FEED_ALL],
         req(b"POST", b"/echo", b"Expect: 100-continue, foo\r\n", b"abc"))
    seed("version-and-target", EOF, [feed(16)],
         b"GET http://a/item/abs?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"
         b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"
         b"GET / HTTP/1.9\r\nHost: a\r\n\r\n"
         b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
    seed("drain-and-abort", DRAIN, [feed(20), (7 << 5) | 10, feed(5)],
         req(b"GET", b"/") + req(b"GET", b"/"))
    # Reproducers of bugs found by fuzzing (fixed in c6dda37), now
    # regression inputs:
    # berth_stream_header let Content-Length / Transfer-Encoding /
    # Connection / Date through: two framings, two Connection fields.
    seed("stream-header-framing", FRAMING_HEADERS | EOF, [FEED_ALL, APP, APP, APP, APP],
         req(b"GET", b"/late"))
    # A stream call on the connection's thread overtook calls queued from
    # another thread: the queued write (which had returned 0) was dropped.
    seed("stream-order-mixed-threads", MIX_THREADS | EOF, [FEED_ALL, APP, APP, APP_REMOTE, APP],
         req(b"GET", b"/late"))
    # Found by fuzzing: EOF while a stream's end, posted from "another
    # thread", still waits in the queue (the response is dropped).
    # (Its first head ended "Host: a1\n\r\n" as found; CRLF since a bare
    # LF is a 400, so that it still reaches the SSE stream.)
    seed("eof-after-queued-end", STREAMBUF | EOF,
         [FEED_ALL, APP, APP_REMOTE, EOF_NOW, APP, inflight(3), APP, inflight(0), APP_REMOTE, APP],
         b"GET //am HTTP/1.1\r\nHost: a1\r\n\r\nGET /sse HTTP/1.1\r\nHost: a\r\n\r\n"
         b"GE\n2tHEAD /stream\r\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("%d files, %d bytes" % (len(os.listdir(OUT)), total))
    # New reproducers go to crashes/ (by hand, from libFuzzer's crash-*
    # files) until the bug is fixed; fuzz-replay runs them on demand.


if __name__ == "__main__":
    main()
