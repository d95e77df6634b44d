#!/usr/bin/env python3
"""Memory of idle keep-alive connections: opens N connections to a server,
sends one request on each, reads the answer, leaves them idle, and reports
the server's RSS growth per connection, then its RSS once they are closed.

    python3 bench/idle_memory.py --connections 10000 --servers "reactor libuv fast"
    python3 bench/idle_memory.py --tls --connections 10000 --servers "reactor libuv fast nginx"

--h2: each connection is HTTP/2 (h2c with prior knowledge, or ALPN h2 with
--tls; Python's h2, Debian's python3-h2: run it with /usr/bin/python3): the
preface, SETTINGS and its ACK, one GET /health stream answered, then idle.
nginx then has `http2` on its listeners.

--tls: the connections are TLS 1.3 (ALPN http/1.1, the certificate run.py
uses: HttpArena's, else one made with openssl), each a full handshake.
nginx (Debian's nginx-light, bench/nginx.conf, one worker, TLS as run.py
sets it up: tickets on, no session cache) is measured beside berth-serve in
the same run; its figure is its worker's RSS. The connections live in this
process (one descriptor each), the server holds the other end: 10,000
connections need 10,000 descriptors on each side.
"""
import argparse
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run  # noqa: E402  (certificate and nginx helpers)

REQUEST = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(f.read().split("VmRSS:")[1].split()[0])


class Berth:
    def __init__(self, binary, backend, cert):
        self.name = backend
        env = dict(os.environ, PORT="0", HTTP_BACKEND=backend, BERTH_THREADS="1",
                   BERTH_IDLE_TIMEOUT_MS="3600000")
        if cert:
            env.update(TLS_PORT="0", TLS_CERT=cert["crt"], TLS_KEY=cert["key"])
        else:
            env["TLS_PORT"] = "off"
        self.proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+) backend=(\S+)", line)
        if not m:
            self.stop()
            raise RuntimeError("berth-serve did not start: %r" % line)
        self.name = m.group(2)
        t = re.search(r"tls=https://127\.0\.0\.1:(\d+)", line)
        self.port = int(t.group(1)) if cert else int(m.group(1))
        self.pid = self.proc.pid

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Nginx:
    name = "nginx"

    def __init__(self, binary, cert, n, tmp):
        d = os.path.join(tmp, "nginx")
        os.makedirs(d, exist_ok=True)
        plain_port, tls_port = run.free_port(), run.free_port()
        with open(os.path.join(HERE, "nginx.conf")) as f:
            conf = f.read()
        locations = ('        location = /health {\n            default_type text/plain;\n'
                     '            return 200 "ok";\n        }\n')
        tls = run.nginx_tls(cert).replace("@TLS_PORT@", str(tls_port)) if cert else ""
        if H2:
            tls = tls.replace(" ssl backlog", " ssl http2 backlog")
            if not cert:
                conf = conf.replace("@PORT@ backlog", "@PORT@ http2 backlog")
        conf = (conf.replace("@DIR@", d).replace("@PORT@", str(plain_port))
                .replace("@TLS@", tls).replace("@LOCATIONS@", locations.rstrip("\n"))
                .replace("@WORKER_CONNECTIONS@", str(n + 1024))
                .replace("@NOFILE@", str(2 * n + 1024)))
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([binary, "-p", d + "/", "-e", os.path.join(d, "error.log"),
                                      "-c", path], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.port = tls_port if cert else plain_port
        if not run.wait_port(self.port, self.proc):
            self.stop()
            raise RuntimeError("nginx did not start")
        end = time.monotonic() + 5
        while not run.children_of(self.proc.pid):
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError("nginx started no worker")
            time.sleep(0.02)
        self.pid = run.children_of(self.proc.pid)[0]  # the one worker holds the connections

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


H2 = False  # --h2


def connect_h2(s):
    """One HTTP/2 exchange on s (GET /health), leaving the connection open
    and its SETTINGS acknowledged."""
    import h2.config
    import h2.connection
    import h2.events
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "GET"), (":path", "/health"), (":scheme", "http"),
                         (":authority", "bench")], end_stream=True)
    s.sendall(c.data_to_send())
    status, ended, acked = None, False, False
    while not (ended and acked):
        data = s.recv(65536)
        if not data:
            raise RuntimeError("the server closed an HTTP/2 connection")
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status")
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
            elif isinstance(ev, h2.events.SettingsAcknowledged):
                acked = True
        s.sendall(c.data_to_send())
    if status != b"200":
        raise RuntimeError("an HTTP/2 request was answered %r" % status)
    return s


def connect(port, ctx):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    if H2:
        return connect_h2(s)
    s.sendall(REQUEST)
    got = s.recv(4096)
    if b" 200 " not in got:
        raise RuntimeError("a request was not answered 200: %r" % got[:80])
    return s


def measure(srv, n, ctx):
    warm = connect(srv.port, ctx)
    warm.close()
    time.sleep(0.5)
    before = rss_kib(srv.pid)
    conns = [connect(srv.port, ctx) for _ in range(n)]
    version = conns[0].version() if ctx else "plaintext"
    cipher = conns[0].cipher()[0] if ctx else ""
    time.sleep(1)  # idle: buffers go back to the pools
    held = rss_kib(srv.pid)
    for c in conns:
        c.close()
    time.sleep(3)  # the server has seen every close
    after = rss_kib(srv.pid)
    return {"server": srv.name, "n": n, "before": before, "held": held, "after": after,
            "per_conn": (held - before) / n, "version": version, "cipher": cipher}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--servers", "--backends", default="reactor libuv fast",
                    help="berth backends and/or nginx, space-separated")
    ap.add_argument("--tls", action="store_true", help="TLS 1.3 connections")
    ap.add_argument("--h2", action="store_true", help="HTTP/2 connections (h2c, or h2 by ALPN)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "serve", "berth-serve"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    args = ap.parse_args()
    global H2
    H2 = args.h2
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # servers inherit it too
    if args.connections + 64 > hard:
        sys.exit("open-file limit %d is too low for %d connections" % (hard, args.connections))
    tmp = tempfile.mkdtemp(prefix="berth-idle-")
    try:
        cert = run.find_cert(None, None, tmp) if args.tls else None
        ctx = None
        if cert:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.set_alpn_protocols(["h2"] if H2 else ["http/1.1"])
            print("TLS 1.3, %s" % cert["desc"])
        rows = []
        for name in args.servers.split():
            srv = (Nginx(args.nginx, cert, args.connections, tmp) if name == "nginx"
                   else Berth(args.binary, name, cert))
            try:
                r = measure(srv, args.connections, ctx)
            finally:
                srv.stop()
            rows.append(r)
            print("%-8s connections=%d rss %d -> %d KiB: %.1f KiB per idle connection; "
                  "%d KiB after they closed (%s %s)"
                  % (r["server"], r["n"], r["before"], r["held"], r["per_conn"], r["after"],
                     r["version"], r["cipher"]), flush=True)
        print("\n| server | KiB per idle %s%s connection | RSS before | RSS with %d open | "
              "RSS after they closed |" % ("TLS" if ctx else "plaintext", " HTTP/2" if H2 else "",
                                           args.connections))
        print("|---|---:|---:|---:|---:|")
        for r in rows:
            print("| %s | %.1f | %.1f MiB | %.1f MiB | %.1f MiB |"
                  % (r["server"], r["per_conn"], r["before"] / 1024, r["held"] / 1024,
                     r["after"] / 1024))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
