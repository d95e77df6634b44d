#!/usr/bin/env python3
"""Writes the seed corpora of the per-parser fuzz targets (corpus-<target>/,
see README.md) from what the tests already send: request heads, chunked
bodies, query strings, routes and paths, PROXY headers, taken from the
unit tests' C string literals and the end-to-end tests' bytes literals,
plus a few cases written here. Deterministic: running it again writes the
same files (named by content). Run from anywhere."""
import ast
import glob
import hashlib
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT", b"PATCH", b"TRACE")


def c_literals(path):
    """The string literals of a C file, adjacent ones joined, unescaped."""
    src = open(path, encoding="latin-1").read()
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    out = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"(?:\s*"(?:[^"\\\n]|\\.)*")*', src):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
        raw = "".join(parts)
        try:
            out.append(c_unescape(raw))
        except ValueError:
            pass
    return out


def c_unescape(s):
    out = bytearray()
    i = 0
    simple = {"n": 10, "r": 13, "t": 9, "0": 0, "\\": 92, '"': 34, "'": 39, "a": 7, "b": 8,
              "f": 12, "v": 11}
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        e = s[i + 1]
        if e == "x":
            m = re.match(r"[0-9a-fA-F]+", s[i + 2:])
            out.append(int(m.group(0), 16) & 255)
            i += 2 + len(m.group(0))
        elif e in "01234567" and re.match(r"[0-7]{1,3}", s[i + 1:]):
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            out.append(int(m.group(0), 8) & 255)
            i += 1 + len(m.group(0))
        elif e in simple:
            out.append(simple[e])
            i += 2
        else:
            raise ValueError(s)
    return bytes(out)


def py_bytes(path):
    tree = ast.parse(open(path).read())
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, bytes)]


def unit(name):
    return c_literals(os.path.join(ROOT, "tests", "unit", name))


def e2e_bytes():
    out = []
    for f in sorted(glob.glob(os.path.join(ROOT, "tests", "e2e", "test_*.py"))):
        out += py_bytes(f)
    return out


def write(target, blobs):
    d = os.path.join(HERE, "corpus-" + target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seen = set()
    for b in blobs:
        if b in seen:
            continue
        seen.add(b)
        with open(os.path.join(d, hashlib.sha1(b).hexdigest()[:16]), "wb") as f:
            f.write(b)
    return len(seen)


# ---- request heads -----------------------------------------------------------

def requests():
    reqs = []
    for lit in unit("test-parse.c") + unit("test-reject.c") + unit("test-engine.c") + \
            unit("test-hooks.c") + unit("test-random.c") + e2e_bytes():
        if lit.startswith(METHODS) and b" HTTP/" in lit or lit.startswith(b"PRI * HTTP/2"):
            reqs.append(lit)
    reqs += [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nConnection: close, foo\r\n\r\n",
    ]
    return reqs


def head_corpus():
    blobs = []
    for i, r in enumerate(requests()):
        blobs.append(bytes([0, i & 255]) + r)
        if i % 5 == 0:
            blobs.append(bytes([1 + i % 2, 7]) + r)  # small limits
        if i % 7 == 0:
            blobs.append(bytes([4, 3]) + r)  # three header slots
    return blobs


# ---- chunked bodies and extensions ---------------------------------------------

def chunked_bodies():
    bodies = []
    for lit in unit("test-chunked.c"):
        if re.match(rb"[0-9a-fA-F]+[;\r \t]", lit) or lit[:1] in (b"-", b"+", b" "):
            bodies.append(lit)
    for r in requests():
        if b"chunked" in r.lower() and b"\r\n\r\n" in r:
            bodies.append(r.split(b"\r\n\r\n", 1)[1])
    bodies += [
        b"5\r\nhello\r\n0\r\n\r\n",
        b"5;name=value;flag;q=\"a \\\"b\\\" c\"\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
        b"ffffffffffffffff\r\n",
        b"00000000000000010\r\n",
        b"1\r\na\r\n2\r\nbc\r\n0;last\r\nA: 1\r\nB: 2\r\n\r\n",
        b"3 ; a = b\r\nabc\r\n0\r\n\r\n",
    ]
    return [b for b in bodies if b]


def chunked_corpus():
    blobs = []
    for i, b in enumerate(chunked_bodies()):
        blobs.append(bytes([0, i & 255]) + b)
        blobs.append(bytes([(i % 4) | ((i // 4) % 4) << 2, (i * 37) & 255]) + b)
    return blobs


def chunk_ext_corpus():
    exts = set()
    for b in chunked_bodies():
        for line in b.split(b"\r\n"):
            m = re.match(rb"[0-9a-fA-F]+(.*)$", line)
            if m and m.group(1):
                exts.add(m.group(1))
    exts |= {b"", b";a", b";a=b", b";a=\"b\"", b" ;a", b";a =b", b";a= b", b";a=\"\\\"\"",
             b";a=\"b", b";a;b;c=d", b"; a", b";\t a\t=\t\"x y\"", b";a=b ", b"x", b";=b",
             b";a=\"\x80\xff\"", b";a=\"\x01\""}
    blobs = []
    for i, e in enumerate(sorted(exts)):
        blobs.append(bytes([i % 8]) + e)
    return blobs


# ---- query strings --------------------------------------------------------------

def query_corpus():
    qs = set()
    for r in requests():
        target = r.split(b" ")[1] if r.count(b" ") >= 2 else b""
        if b"?" in target:
            qs.add(target.split(b"?", 1)[1])
    qs |= {b"a=1&b=2", b"a=%41%42&b=%zz", b"a=-9223372036854775808&b=9223372036854775807",
           b"a=9223372036854775808", b"a=+1&b=%2B1", b"a=5%00x", b"a= 1", b"a&a=2&=3",
           b"x%3Dy=1", b"n=%", b"n=%4", b"a=%e2%82%ac", b"a=1&&b", b"a=0x10", b"a=007"}
    blobs = []
    for i, q in enumerate(sorted(qs)):
        blobs.append(bytes([i % 16]) + q)
    return blobs


# ---- routes and paths -------------------------------------------------------------

def routes():
    found = []
    for f in glob.glob(os.path.join(ROOT, "tests", "unit", "*.c")) + \
            glob.glob(os.path.join(ROOT, "tests", "server", "*.c")) + \
            glob.glob(os.path.join(ROOT, "handlers", "*.c")) + \
            glob.glob(os.path.join(ROOT, "examples", "*.c")):
        src = open(f, encoding="latin-1").read()
        for m in re.finditer(r'berth_router_add\w*\(\s*\w+\s*,\s*"([^"]*)"\s*,\s*"([^"]*)"', src):
            found.append((m.group(1).encode(), m.group(2).encode()))
    for lit in unit("test-router.c"):
        if lit.startswith(b"/") and b" " not in lit and b"\n" not in lit:
            found.append((b"GET", lit))
    return found


def router_corpus():
    rs = routes()
    paths = [b"/", b"/item/42", b"/users/7/posts", b"/static/", b"/static/a/b.css", b"/static",
             b"/doc/readme.json", b"/files/a%2Fb", b"/v2/x", b"/a//b", b"//", b"/x/", b""]
    blobs = []
    # each source file's routes together, then mixed sets
    groups = [rs[i:i + 8] for i in range(0, len(rs), 8)]
    groups += [
        [(b"GET", b"/users/{id}"), (b"GET", b"/users/me"), (b"*", b"/users/{id}"),
         (b"POST", b"/users/{id}"), (b"GET", b"/users/{id}.json"), (b"GET", b"/static/{path...}"),
         (b"GET", b"/v{major}/x"), (b"GET", b"/")],
        [(b"GET", b"/a/{x}"), (b"GET", b"/a/{y}"), (b"PUT", b"/a/b"), (b"GET", b"/{a}/{b}/{c...}")],
        [(b"get", b"/lower"), (b"GET", b"/bad/*"), (b"GET", b"/a/{b}/{b}"), (b"GET", b"/{x...}/y"),
         (b"GET", b"/a//b"), (b"GET", b"nope")],
    ]
    for g in groups:
        lines = b"\n".join(m + b" " + p for m, p in g)
        reqs = []
        for p in paths + [p for _, p in g]:
            for m in (b"GET", b"HEAD", b"POST", b"DELETE"):
                reqs.append(m + b" " + p.replace(b"{", b"").replace(b"}", b"").replace(b"...", b"z"))
        blobs.append(lines + b"\n\n" + b"\n".join(reqs[:24]))
    return blobs


# ---- PROXY headers --------------------------------------------------------------------

def v2(cmd, fam, addr):
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(addr)) + addr


def proxy_corpus():
    heads = [lit for lit in unit("test-proxy.c") if lit.startswith(b"PROXY")]
    for b in e2e_bytes():
        if b.startswith(b"PROXY") or b.startswith(b"\r\n\r\n\x00\r\nQUIT\n"):
            heads.append(b)
    a4 = bytes([10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x01, 0xbb])
    a6 = bytes(range(32)) + b"\x12\x34\x01\xbb"
    heads += [v2(1, 0x11, a4), v2(0, 0x00, b""), v2(1, 0x21, a6), v2(1, 0x11, a4 + b"\x01\x00\x02ab"),
              v2(1, 0x31, bytes(216)), v2(1, 0x12, a4), b"PROXY UNKNOWN\r\n",
              b"PROXY TCP6 ::1 ::ffff:1.2.3.4 65535 1\r\n"]
    tail = [b"", b"GET /peer HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /peer HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"\x16\x03\x01\x00\x05hello"]
    blobs = []
    for i, h in enumerate(heads):
        for k, t in enumerate(tail):
            blobs.append(bytes([(i + k) % 16, 0]) + h + t)
    return blobs


# ---- TLS -------------------------------------------------------------------------------

def sched(*ops):
    return bytes([len(ops) - 1]) + bytes(ops)


def tls_corpus():
    reqs = [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /peer HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /big HTTP/1.1\r\nHost: a\r\n\r\nGET /file HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 8 + b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET /x HTTP/1.1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n" + b"z" * 20000,
    ]
    schedules = [
        sched(2 << 5),                                   # deliver all, each step
        sched(0 << 5 | 4, 3 << 5 | 5, 4 << 5 | 2),       # small reads, partial writes, small writes
        sched(1 << 5 | 3, 4 << 5 | 31, 3 << 5 | 31, 7 << 5 | 6),
        sched(0 << 5 | 0, 0 << 5 | 1, 4 << 5 | 0, 7 << 5 | 5),  # byte-wise, read_idle
        sched(2 << 5, 4 << 5 | 31, 6 << 5 | 3),           # the clock moves a little
    ]
    blobs = []
    for i, r in enumerate(reqs):
        for k, s in enumerate(schedules):
            flags = [0, 1, 4 | 8, 16 | 64, 128 | 1 | 16, 32 | 64][(i + k) % 6]
            blobs.append(bytes([flags]) + s + r)
    # a corrupted record, a timeout in the handshake, an abort, a drain
    blobs.append(bytes([0]) + sched(4 << 5 | 3, 2 << 5, 5 << 5 | 17, 2 << 5) + reqs[0])
    blobs.append(bytes([0]) + sched(6 << 5 | 31, 6 << 5 | 31) + reqs[0])
    blobs.append(bytes([0]) + sched(4 << 5 | 31, 2 << 5, 7 << 5 | 3) + reqs[2])
    blobs.append(bytes([0]) + sched(4 << 5 | 31, 2 << 5, 7 << 5 | 2) + reqs[5])
    # raw bytes on the TLS port: plaintext, garbage, a truncated ClientHello
    for raw in (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x00\x01junk",
                b"\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03" + bytes(40), b"\x16\x03\x03\xff\xff",
                # plain HTTP the engine refuses: pipelined, cut short, a body, over the limit
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /big HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET / HT", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
                b"GET / HTTP/1.1\r\nX: " + b"a" * 40000 + b"\r\n\r\n"):
        blobs.append(bytes([2]) + sched(7) + raw)
    return blobs


def main():
    counts = {
        "head": write("head", head_corpus()),
        "chunked": write("chunked", chunked_corpus()),
        "chunk-ext": write("chunk-ext", chunk_ext_corpus()),
        "query": write("query", query_corpus()),
        "router": write("router", router_corpus()),
        "proxy": write("proxy", proxy_corpus()),
        "tls": write("tls", tls_corpus()),
    }
    for k, v in counts.items():
        print("corpus-%s: %d files" % (k, v))


if __name__ == "__main__":
    main()
