"""Kernel TLS checks, run inside user-mode Linux by uml-init.sh (the host's
files are the root; this kernel has the tls module). Appends one record
per check to $RESULT (JSON): backend, cipher, check, ok, detail.

Phase "fallback" runs before the module is loaded: TLS must work in
userspace and berth must say so. Phase "ktls" runs with it, for every
backend and every cipher the kernel takes, and proves that the kernel
carried the records (/proc/net/tls_stat, and sendfile in strace)."""
import hashlib
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import zlib

sys.path.insert(0, os.path.join(os.environ["BERTH_SRC"], "tests", "e2e"))
from berthproc import BACKENDS, CERT, KEY, Conn, Server, TlsConn, TlsSock, tls_context  # noqa: E402
from wsraw import RawWs  # noqa: E402

RESULT = os.environ["RESULT"]
WORK = os.path.dirname(RESULT)  # this run's own directory: /tmp is the host's, shared
CIPHERS = [("aes128gcm", "TLS13-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"),
           ("aes256gcm", "TLS13-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384"),
           ("chacha20", "TLS13-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256")]
FILE_MIB = 100
H2_FILE_MIB = 8  # over HTTP/2 (its DATA frames are copied yet: docs/HTTP2.md)
REQ = b"GET /pipeline HTTP/1.1\r\nHost: t\r\n\r\n"

records = []


def record(backend, cipher, check, ok, detail=""):
    records.append({"backend": backend, "cipher": cipher, "check": check, "ok": bool(ok),
                    "detail": str(detail)[:2000]})


def save():
    old = []
    if os.path.exists(RESULT):
        with open(RESULT) as f:
            old = json.load(f)
    with open(RESULT, "w") as f:
        json.dump(old + records, f, indent=1)


def tls_stat():
    try:
        with open("/proc/net/tls_stat") as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}
    except OSError:
        return {}


def start(backend, cipher=None):
    env = {"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY, "BERTH_WS_DEFLATE": "1"}
    if cipher:
        env["TLS_CIPHERS"] = cipher
    return Server("tests/berth-test-server", backend=backend, env=env)


def ktls_handoffs(srv):
    """berth_ktls_handoffs_total on srv's /metrics (test_metrics.py checks
    the other counters; only here does the kernel take records)."""
    c = Conn(srv)
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    body = c.response()[2].decode()
    c.close()
    return int(re.search(r"^berth_ktls_handoffs_total (\d+)$", body, re.M).group(1))


def check(backend, cipher, name, fn):
    try:
        ok, detail = fn()
    except Exception as e:  # noqa: BLE001 - a failed check is a result
        ok, detail = False, repr(e)
    record(backend, cipher, name, ok, detail)


def fallback():
    for backend in BACKENDS:
        srv = start(backend)
        try:
            c = TlsConn(srv)
            c.send(REQ)
            got = c.response()[2]
            c.close()
            handoffs = ktls_handoffs(srv)
        finally:
            code = srv.stop()
        record(backend, "-", "fallback", got == b"ok" and code == 0 and handoffs == 0 and
               "kernel TLS unavailable" in srv.stderr_text and not tls_stat(),
               srv.stderr_text[-300:])


def keep_alive(srv, iana):
    before = tls_stat()
    handoffs = ktls_handoffs(srv)
    c = TlsConn(srv)
    for i in range(5):
        c.send(b"GET /baseline11?a=%d&b=2 HTTP/1.1\r\nHost: t\r\n\r\n" % i)
        if c.response()[2] != b"%d" % (i + 2):
            return False, "wrong sum"
    c.send(b"GET /tls-info HTTP/1.1\r\nHost: t\r\n\r\n")
    info = json.loads(c.response()[2])
    during = tls_stat()
    handoffs = ktls_handoffs(srv) - handoffs  # this connection's, counted once
    c.close()
    ok = (info["cipher"] == iana and during["TlsCurrTxSw"] >= 1 and during["TlsCurrRxSw"] >= 1
          and during["TlsTxSw"] > before["TlsTxSw"] and during["TlsRxSw"] > before["TlsRxSw"]
          and handoffs == 1)
    return ok, {"info": info, "tls_stat": during, "ktls_handoffs": handoffs}


def arena_json_tls(srv, iana):
    """HttpArena's json-tls checks: /json/1..50 with random m, ALPN http/1.1."""
    from test_arena import expected_json
    c = TlsConn(srv)
    bad = []
    for n in range(1, 51):
        m = n % 7 + 1
        c.send(b"GET /json/%d?m=%d HTTP/1.1\r\nHost: localhost:8081\r\n\r\n" % (n, m))
        status, headers, body = c.response()
        ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        if status != 200 or not ctype.startswith("application/json") or \
                json.loads(body) != expected_json(n, m):
            bad.append(n)
    alpn = c.sock.selected_alpn_protocol()
    c.close()
    return not bad and alpn == "http/1.1", {"bad_counts": bad, "alpn": alpn}


def pipelined(srv, iana):
    c = TlsConn(srv)
    c.send(REQ * 16)
    got = [c.response()[2] for _ in range(16)]
    c.close()
    return got == [b"ok"] * 16, got[:2]


def big_file(srv, iana, path, md5):
    trace = os.path.join(WORK, "strace-%d" % srv.proc.pid)
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-c", "-o", trace, "-p", str(srv.proc.pid),
                               "-e", "trace=sendfile,sendto,sendmsg,write,writev"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    url = "https://localhost:%d/file?%s" % (srv.tls_port, urllib.parse.urlencode({"path": path}))
    curl = subprocess.run(["curl", "-sS", "--http1.1", "--cacert", CERT, "--resolve",
                           "localhost:%d:127.0.0.1" % srv.tls_port, url],
                          capture_output=True, timeout=600)
    tracer.send_signal(2)
    tracer.wait(30)
    calls = {}
    with open(trace) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[-1] in ("sendfile", "sendto", "sendmsg", "write", "writev"):
                calls[parts[-1]] = int(parts[3])
    os.unlink(trace)
    got = hashlib.md5(curl.stdout).hexdigest()
    return (curl.returncode == 0 and got == md5 and calls.get("sendfile", 0) > 0,
            {"bytes": len(curl.stdout), "md5_ok": got == md5, "rc": curl.returncode,
             "syscalls": calls, "curl": curl.stderr[-200:]})


def h2_file(srv, iana, path, md5):
    """HTTP/2 (ALPN h2) over kernel TLS: curl --http2 fetches the sum and a
    file on one connection; the kernel carried the records."""
    before = tls_stat()
    url = "https://localhost:%d" % srv.tls_port
    sum_out, file_out = os.path.join(WORK, "h2-sum"), os.path.join(WORK, "h2-file")
    curl = subprocess.run(["curl", "-sS", "--http2", "--cacert", CERT, "--resolve",
                           "localhost:%d:127.0.0.1" % srv.tls_port,
                           "-w", "%{http_version} %{http_code}\n",
                           "-o", sum_out, url + "/baseline11?a=40&b=2",
                           "-o", file_out, url + "/file?" + urllib.parse.urlencode({"path": path})],
                          capture_output=True, timeout=600)
    after = tls_stat()
    with open(sum_out, "rb") as f:
        first = f.read()
    with open(file_out, "rb") as f:
        got = hashlib.md5(f.read()).hexdigest()
    os.unlink(sum_out)
    os.unlink(file_out)
    ok = (curl.returncode == 0 and first == b"42" and curl.stdout == b"2 200\n2 200\n"
          and got == md5 and after.get("TlsTxSw", 0) > before.get("TlsTxSw", 0))
    return ok, {"rc": curl.returncode, "first": first[:20], "tails": curl.stdout[:40],
                "md5_ok": got == md5, "curl": curl.stderr[-200:], "tls_stat": after}


def finished_with_request(srv, iana):
    """The client's Finished and its first request leave in one write."""
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context().wrap_bio(inc, outg, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outg.read())
            inc.write(raw.recv(65536))
    obj.write(REQ * 2)
    raw.sendall(outg.read())  # Finished + two requests, one segment
    out = b""
    while out.count(b"\r\n\r\nok") < 2:
        try:
            out += obj.read(65536)
        except ssl.SSLWantReadError:
            data = raw.recv(65536)
            if not data:
                break
            inc.write(data)
    raw.close()
    return out.count(b"\r\n\r\nok") == 2, out[-100:]


def client_close_notify(srv, iana):
    s = TlsSock(srv.tls_port)
    s.sendall(REQ)
    first = s.recv(4096)
    try:
        s.obj.unwrap()  # our close_notify
    except ssl.SSLWantReadError:
        pass
    s._flush()
    rest = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        rest += d
    s.close()
    return b"\r\n\r\nok" in first and s.clean_close is True, (first[-20:], rest, s.clean_close)


def key_update(srv, iana):
    """A KeyUpdate from the client: the 6.1 kernel cannot follow it, so
    berth ends the connection cleanly, and goes on serving others."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port,
                          "-servername", "localhost", "-CAfile", CERT, "-tls1_3", "-crlf",
                          "-ciphersuites", iana, "-alpn", "http/1.1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""

    def read_until(marker, timeout):
        nonlocal out
        end = time.monotonic() + timeout
        while marker not in out and time.monotonic() < end:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                d = os.read(p.stdout.fileno(), 65536)
                if not d:
                    return False
                out += d
        return marker in out

    p.stdin.write(b"GET /pipeline HTTP/1.1\nHost: t\n\n")
    p.stdin.flush()
    answered = read_until(b"\r\n\r\nok", 20)
    try:
        p.stdin.write(b"k\n")  # s_client: send a KeyUpdate
        p.stdin.flush()
        time.sleep(0.5)
        p.stdin.write(b"GET /pipeline HTTP/1.1\nHost: t\n\n")  # not to be answered
        p.stdin.flush()
    except BrokenPipeError:
        pass  # s_client already ended: the server closed
    try:
        p.wait(15)  # the server closed: s_client ends
        closed = True
    except subprocess.TimeoutExpired:
        p.kill()
        closed = False
    out += p.stdout.read()
    c = TlsConn(srv)  # unharmed
    c.send(REQ)
    still = c.response()[2] == b"ok"
    c.close()
    return answered and closed and still and out.count(b"\r\n\r\nok") == 1, out[-300:]


def ws_deflate(srv, iana):
    """A WebSocket with permessage-deflate over kernel TLS: compressed
    messages both ways, the window kept across them."""
    r = RawWs(srv, tls=True, extensions=b"permessage-deflate")
    try:
        if "permessage-deflate" not in r.head:
            return False, r.head
        z, inf = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-12)
        doc = b'{"user": "alice", "text": "the deploy went out at noon", "n": %d}'
        ok, sizes = True, []
        for i in range(3):
            msg = b"[" + b",".join(doc % k for k in range(i * 1000, i * 1000 + 1000)) + b"]"
            c = z.compress(msg) + z.flush(zlib.Z_SYNC_FLUSH)
            r.send_frame(1, c[:-4], rsv=0x40)
            op, payload = r.recv_frame()
            back = inf.decompress(payload + b"\x00\x00\xff\xff")
            ok = ok and op == 1 and r.last_rsv == 0x40 and back == msg
            sizes.append((len(msg), len(payload)))
        r.send_frame(8, b"\x03\xe8")
        return ok and r.close_code() == 1000, sizes
    finally:
        r.close()


def ktls():
    path = os.path.join(WORK, "file.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(FILE_MIB << 20))
    with open(path, "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    h2_path = os.path.join(WORK, "file-h2.bin")
    with open(h2_path, "wb") as f:
        f.write(os.urandom(H2_FILE_MIB << 20))
    with open(h2_path, "rb") as f:
        h2_md5 = hashlib.md5(f.read()).hexdigest()
    base = tls_stat()
    for backend in BACKENDS:
        for name, cipher, iana in CIPHERS:
            srv = start(backend, cipher)
            try:
                for check_name, fn in (("keep_alive", keep_alive), ("pipelined", pipelined),
                                       ("arena_json_tls", arena_json_tls),
                                       ("finished_with_request", finished_with_request),
                                       ("client_close_notify", client_close_notify),
                                       ("key_update", key_update), ("ws_deflate", ws_deflate)):
                    check(backend, name, check_name, lambda fn=fn: fn(srv, iana))
                check(backend, name, "file_%d_mib" % FILE_MIB,
                      lambda: big_file(srv, iana, path, md5))
                if os.environ.get("BERTH_HTTP2") != "0":
                    check(backend, name, "h2_file_%d_mib" % H2_FILE_MIB,
                          lambda: h2_file(srv, iana, h2_path, h2_md5))
            finally:
                code = srv.stop()
            time.sleep(0.2)
            now = tls_stat()
            record(backend, name, "clean_exit",
                   code == 0 and "kernel TLS engaged" in srv.stderr_text and
                   now["TlsCurrTxSw"] == base["TlsCurrTxSw"] and
                   now["TlsCurrRxSw"] == base["TlsCurrRxSw"],
                   {"code": code, "stderr": srv.stderr_text[-300:], "tls_stat": now})
    os.unlink(path)
    os.unlink(h2_path)


if __name__ == "__main__":
    try:
        {"fallback": fallback, "ktls": ktls}[sys.argv[1]]()
    except Exception as e:  # noqa: BLE001 - reported to the host
        record("-", "-", "phase_" + sys.argv[1], False, repr(e))
    save()
