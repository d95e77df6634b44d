#!/usr/bin/env python3
"""CPU of a server holding idle keep-alive connections: opens N connections
to berth-serve (one worker thread), sends one request on each, reads the
answer, leaves them idle, then reads the server's utime+stime from
/proc/PID/stat over --seconds and reports CPU seconds per second.

    python3 bench/idle_cpu.py --connections 10000 --servers "reactor libuv"
    python3 bench/idle_cpu.py --connections 10000 --servers reactor \\
        --binary /path/to/other/build/serve/berth-serve

With nothing to do, a server's CPU is what its timeouts cost: before issue
23 each sweep (every 10-100 ms) asked every connection for its deadline.
The connections are held by client processes (--per-client each), so that
no process needs more descriptors than its limit; the server needs one per
connection, so N is bounded by the open-file hard limit (see bench/README.md).

--uml runs the same measurement inside Debian's user-mode Linux (package
user-mode-linux), with the host's files as its root: there the script is
root of its own kernel and raises the open-file limit and the local port
range itself, so N can pass this machine's limit (50,000 where the host
allows 20,000). UML counts CPU in 10 ms ticks and its syscalls cost more
than the host's: compare builds within one UML run, not with host figures.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REQUEST = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"


def hold(port, n):
    """Client process: opens n connections, says "ready", holds them until
    its stdin closes."""
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(REQUEST)
        got = s.recv(4096)
        if b" 200 " not in got:
            sys.exit("a request was not answered 200: %r" % got[:80])
        conns.append(s)
    print("ready", flush=True)
    sys.stdin.read()
    # Open still: is every connection? A closed one reads EOF at once.
    closed = 0
    for s in conns:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
    print("closed %d" % closed, flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of stat; [0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(binary, backend):
    env = dict(os.environ, PORT="0", TLS_PORT="off", HTTP_BACKEND=backend, BERTH_THREADS="1",
               BERTH_IDLE_TIMEOUT_MS="3600000")
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r":(\d+) backend=(\S+)", line)
    if not m:
        proc.terminate()
        proc.wait()
        raise RuntimeError("berth-serve did not start: %r" % line)
    return proc, int(m.group(1)), m.group(2)


def measure(binary, backend, n, per_client, seconds):
    proc, port, name = start_server(binary, backend)
    clients = []
    try:
        left = n
        while left > 0:
            k = min(per_client, left)
            left -= k
            clients.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--hold", str(port), str(k)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for c in clients:
            if c.stdout.readline().strip() != "ready":
                raise RuntimeError("a client could not open its connections")
        time.sleep(2)  # settle: the last answers written, buffers back in the pools
        t0, c0 = time.monotonic(), cpu_seconds(proc.pid)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), cpu_seconds(proc.pid)
        closed = 0
        for c in clients:
            c.stdin.close()
            m = re.match(r"closed (\d+)", c.stdout.readline())
            closed += int(m.group(1)) if m else 0
        return {"server": name, "n": n, "cpu": (c1 - c0) / (t1 - t0), "closed": closed,
                "seconds": t1 - t0}
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
            c.wait()
        proc.terminate()
        proc.wait()


UML_INIT = """#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
exec >"$LOG" 2>&1
ip link set lo up
sysctl -qw net.ipv4.ip_local_port_range="1024 65535" fs.nr_open=1048576 fs.file-max=1048576
sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
ulimit -Hn 200000 && ulimit -Sn 200000
/usr/bin/python3 "$SCRIPT" --uml-inner "$ARGS_FILE"
echo "exit $?"
sync
/usr/bin/python3 -c "import ctypes; ctypes.CDLL(None).reboot(0x4321fedc)"
"""


def run_in_uml(argv, mem):
    """Boots linux.uml with init running this script with argv; prints its output."""
    uml = shutil.which("linux.uml")
    if not uml:
        sys.exit("skipped: linux.uml not found (apt-get install user-mode-linux iproute2 procps)")
    tmp = tempfile.mkdtemp(prefix="berth-idle-uml-")
    try:
        init = os.path.join(tmp, "init.sh")
        with open(init, "w") as f:
            f.write(UML_INIT)
        os.chmod(init, 0o755)
        log = os.path.join(tmp, "log.txt")
        args_file = os.path.join(tmp, "args.json")  # the kernel's command line splits at spaces
        with open(args_file, "w") as f:
            json.dump(argv, f)
        subprocess.run([uml, "mem=%s" % mem, "root=/dev/root", "rootfstype=hostfs", "rootflags=/",
                        "rw", "init=" + init, "con=null", "con0=fd:0,fd:1",
                        "LOG=" + log, "SCRIPT=" + os.path.abspath(__file__),
                        "ARGS_FILE=" + args_file],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=3600)
        out = open(log).read() if os.path.exists(log) else "(no log)"
        sys.stdout.write(out)
        return 0 if "exit 0" in out else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--hold":
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        hold(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--uml-inner":
        with open(sys.argv[2]) as f:
            sys.argv[1:] = json.load(f)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--servers", "--backends", default="reactor libuv")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--per-client", type=int, default=5000)
    ap.add_argument("--binary", action="append",
                    help="berth-serve to measure (repeat for a before/after in one run; "
                         "default build/serve/berth-serve)")
    ap.add_argument("--uml", action="store_true", help="measure inside user-mode Linux")
    ap.add_argument("--uml-mem", default="4G", help="UML's memory (default 4G)")
    args = ap.parse_args()
    binaries = [os.path.abspath(b) for b in (args.binary or
                                              [os.path.join(ROOT, "build", "serve", "berth-serve")])]
    if args.uml:
        inner = ["--connections", str(args.connections),
                 "--servers", ",".join(re.split(r"[,\s]+", args.servers.strip())),
                 "--seconds", str(args.seconds), "--per-client", str(args.per_client)]
        for b in binaries:
            inner += ["--binary", b]
        sys.exit(run_in_uml(inner, args.uml_mem))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it
    if args.connections + 64 > hard:
        sys.exit("open-file hard limit %d is too low for %d connections in one server"
                 % (hard, args.connections))
    rows = []
    for binary in binaries:
        for backend in re.split(r"[,\s]+", args.servers.strip()):
            r = measure(binary, backend, args.connections, args.per_client, args.seconds)
            r["binary"] = binary
            rows.append(r)
            print("%s %-8s connections=%d: %.4f CPU s/s over %.0f s (%d closed by the server)"
                  % (binary, r["server"], r["n"], r["cpu"], r["seconds"], r["closed"]),
                  flush=True)
    print("\n| binary | server | idle connections | server CPU seconds per second |")
    print("|---|---|---:|---:|")
    for r in rows:
        print("| %s | %s | %d | %.4f |" % (r["binary"], r["server"], r["n"], r["cpu"]))


if __name__ == "__main__":
    main()
