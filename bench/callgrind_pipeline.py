#!/usr/bin/env python3
"""Instructions per pipelined request, by function, under callgrind.

    python3 bench/callgrind_pipeline.py build-rel/serve/berth-serve
    python3 bench/callgrind_pipeline.py NEW/berth-serve --base OLD/berth-serve

Runs the given berth-serve (built by you: this script builds nothing) under
`valgrind --tool=callgrind`, reactor backend, one thread, and sends on one
connection batches of 16 pipelined `GET /pipeline` requests, the bytes wrk
sends with bench/pipeline.lua; each batch is written once all 16 answers of
the one before have arrived, as wrk does. It does this twice, with FEW and
MANY batches (100 and 1100), and reports

    instructions per request = (I(MANY) - I(FEW)) / ((MANY - FEW) * 16)

so that start-up, the accept and the stop cancel out. The same difference
per function (exclusive instructions, callgrind_annotate's count) gives the
top functions. With --base the two servers are measured alike and the table
shows base, new and the difference per function.

Instruction counts are deterministic enough to compare commits on a shared,
noisy machine, where wall-clock CPU figures (bench/run.py) spread by 10-20%;
they are not time (cache misses, branch mispredictions and the kernel are
not in them: callgrind counts user-space instructions only).
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEPTH = 16  # --depth
TARGET = "/pipeline"  # --target


def request_bytes(port):
    # wrk.format() for http://127.0.0.1:PORT/TARGET
    one = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (TARGET, port)).encode()
    return one * DEPTH


def read_answers(sock, batch_len):
    """Read exactly batch_len bytes (16 answers of a known total size)."""
    got = 0
    while got < batch_len:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("server closed the connection after %d of %d bytes" % (got, batch_len))
        got += len(chunk)
    if got != batch_len:
        raise SystemExit("read %d bytes for a batch of %d: answers not all the same size" % (got, batch_len))


def first_batch_length(sock, req):
    """Send one batch, parse its 16 answers, return their total size."""
    sock.sendall(req)
    buf = b""
    answers = 0
    pos = 0
    while answers < DEPTH:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("server closed the connection during the first batch")
            buf += chunk
            continue
        head = buf[pos:end].decode("latin-1")
        if not head.startswith("HTTP/1.1 200"):
            raise SystemExit("unexpected answer: %r" % head[:200])
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        if not m:
            raise SystemExit("answer without Content-Length: %r" % head[:200])
        need = end + 4 + int(m.group(1))
        while len(buf) < need:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("server closed the connection during the first batch")
            buf += chunk
        if TARGET == "/pipeline" and buf[end + 4:need] != b"ok":
            raise SystemExit("unexpected body %r" % buf[end + 4:need])
        pos = need
        answers += 1
    if len(buf) != pos:
        raise SystemExit("%d bytes after the last answer of the batch" % (len(buf) - pos))
    return pos


def run_once(binary, batches, outdir, tag):
    out = os.path.join(outdir, "%s-%d.callgrind" % (tag, batches))
    log = os.path.join(outdir, "%s-%d.stdout" % (tag, batches))
    env = dict(os.environ, PORT="0", TLS_PORT="off", HTTP_BACKEND="reactor", BERTH_THREADS="1")
    with open(log, "wb") as f:
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                 binary], env=env, stdout=f, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with open(log) as f:
                m = re.search(r":(\d+) backend=", f.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if port is None:
            raise SystemExit("%s did not start under valgrind" % binary)
        req = request_bytes(port)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            batch_len = first_batch_length(s, req)
            for _ in range(batches - 1):
                s.sendall(req)
                read_answers(s, batch_len)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SystemExit("server did not stop within 60 s of SIGTERM")
    if rc != 0:
        raise SystemExit("server exited with status %d" % rc)
    return out


def totals(path):
    """Total instructions and exclusive instructions per function."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=no", "--auto=no",
                           path],
                          check=True, capture_output=True, text=True).stdout
    total = None
    funcs = {}
    # Only the function table: with debug information callgrind_annotate
    # may also print annotated source, whose lines look alike.
    in_table = False
    for line in text.splitlines():
        if line.rstrip().endswith("file:function"):
            in_table = True
            continue
        if in_table and not line.strip():
            break
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
            continue
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)(?:\s+\[[^\]]*\])?$", line)
        if in_table and m and ":" in m.group(2):
            name = m.group(2).split(":", 1)[1]
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(",", ""))
    if total is None:
        raise SystemExit("no PROGRAM TOTALS in callgrind_annotate's output for " + path)
    return total, funcs


def measure(binary, few, many, outdir, tag):
    t_few, f_few = totals(run_once(binary, few, outdir, tag))
    t_many, f_many = totals(run_once(binary, many, outdir, tag))
    n = (many - few) * DEPTH
    per_func = {k: (f_many.get(k, 0) - f_few.get(k, 0)) / n for k in set(f_few) | set(f_many)}
    return (t_many - t_few) / n, per_func


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", help="berth-serve to measure")
    ap.add_argument("--base", help="another berth-serve to compare with")
    ap.add_argument("--few", type=int, default=100, help="batches of the short run (100)")
    ap.add_argument("--many", type=int, default=1100, help="batches of the long run (1100)")
    ap.add_argument("--top", type=int, default=25, help="functions to list (25)")
    ap.add_argument("--depth", type=int, default=16,
                    help="requests per batch (16; 1: keep-alive, one request per write)")
    ap.add_argument("--target", default="/pipeline",
                    help="request-target (/pipeline; e.g. '/baseline11?a=13&b=42')")
    ap.add_argument("--keep", help="keep the callgrind files in this directory")
    args = ap.parse_args()
    global DEPTH, TARGET
    DEPTH, TARGET = args.depth, args.target
    if args.many <= args.few:
        ap.error("--many must be larger than --few")
    outdir = args.keep or tempfile.mkdtemp(prefix="cg-pipeline-")
    os.makedirs(outdir, exist_ok=True)
    new_total, new_f = measure(args.binary, args.few, args.many, outdir, "new")
    if not args.base:
        print("instructions per request: %.0f  (%s)" % (new_total, args.binary))
        print("%10s  %s" % ("Ir/req", "function (exclusive)"))
        for name, v in sorted(new_f.items(), key=lambda kv: -kv[1])[:args.top]:
            if abs(v) >= 0.5:
                print("%10.1f  %s" % (v, name))
    else:
        base_total, base_f = measure(args.base, args.few, args.many, outdir, "base")
        print("instructions per request: base %.0f  new %.0f  (%+.1f%%)"
              % (base_total, new_total, 100.0 * (new_total - base_total) / base_total))
        print("  base: %s\n  new:  %s" % (args.base, args.binary))
        print("%9s %9s %9s  %s" % ("base", "new", "new-base", "function (exclusive Ir/req)"))
        names = set(base_f) | set(new_f)
        rows = sorted(names, key=lambda k: -max(abs(base_f.get(k, 0)), abs(new_f.get(k, 0))))
        shown = 0
        for name in rows:
            b, n = base_f.get(name, 0.0), new_f.get(name, 0.0)
            if max(abs(b), abs(n)) < 0.5:
                continue
            print("%9.1f %9.1f %+9.1f  %s" % (b, n, n - b, name))
            shown += 1
            if shown >= args.top:
                break
    if not args.keep:
        for f in os.listdir(outdir):
            os.unlink(os.path.join(outdir, f))
        os.rmdir(outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
