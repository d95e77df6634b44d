#!/usr/bin/env python3
"""HTTP/2: berth-serve beside nginx (`http2` on), HttpArena's h2 profiles.

    /usr/bin/python3 bench/h2_bench.py [--rounds 3] [--duration 5] [--warmup 1]
                                 [--profiles a,b] [--servers a,b] [--out bench-out]
                                 [--connections N] [--build DIR]

The load generator is h2load (Debian's nghttp2-client), one thread, under
`taskset -c 1`; every server runs under `taskset -c 0` with one worker
(berth-serve: BERTH_THREADS=1 on each backend; nginx: one worker process,
bench/nginx.conf with `http2` on its listeners). Both present the same
certificate (bench/run.py's: HttpArena's, or one made with openssl).

Profiles (HttpArena's, with fewer connections for a 2-core machine):
  baseline-h2   GET /baseline2?a=1&b=1 over TLS (ALPN h2), -m 100
  baseline-h2c  the same over h2c (berth: an h2-only listener, `h2`;
                nginx: `listen ... http2` without ssl, also h2c only)
  json-h2c      GET /json/{count}?m= over h2c, the 7 pairs of the json
                profile in turn (h2load -i), -m 32
  static-h2     HttpArena's 20 static files over TLS, in turn, with
                Accept-Encoding: br;q=1, gzip;q=0.8, -m 32
  static-h2c    the same over h2c (not HttpArena's: tells the files and
                frames from the cipher)
nginx answers /baseline2 with a constant and json with files holding
berth-serve's answers (bench/run.py's method); static from a copy of the
directory with gzip_static.

Each run: a fresh server, its answers checked against berth-serve's with
curl (protocol HTTP/2, status 200, same body), an h2load warm-up, then a
measured h2load run. Figures: requests/s (h2load), server CPU time per
request (utime+stime from /proc, all its processes), peak RSS. A run with
failed or non-2xx requests is invalid. Servers and profiles rotate between
rounds; the table shows medians and [min-max] of CPU/request and the ratio
to nginx's median. Writes --out/h2-table.txt and h2-results.json.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: servers, /proc readings, certificate)

HERE = run.HERE
ROOT = run.ROOT
STATIC_ACCEPT = run.STATIC_ACCEPT


class Profile:
    def __init__(self, key, title, tls, targets, streams, accept=""):
        self.key, self.title, self.tls = key, title, tls
        self.targets, self.streams, self.accept = targets, streams, accept


def static_targets():
    if not os.path.isdir(run.STATIC_DIR):
        return []
    return ["/static/" + n for n in sorted(os.listdir(run.STATIC_DIR))
            if not n.endswith((".br", ".gz"))]


PROFILES = [
    Profile("baseline-h2", "GET /baseline2?a=1&b=1 over TLS (h2), 100 streams per connection",
            True, ["/baseline2?a=1&b=1"], 100),
    Profile("baseline-h2c", "GET /baseline2?a=1&b=1 over h2c, 100 streams per connection",
            False, ["/baseline2?a=1&b=1"], 100),
    Profile("json-h2c", "GET /json/{count}?m=, 7 pairs in turn, over h2c, 32 streams",
            False, ["/json/%d?m=%d" % cm for cm in run.JSON_PAIRS], 32),
    Profile("static-h2", "HttpArena's 20 static files in turn over TLS (h2), 32 streams, "
            "Accept-Encoding: %s" % STATIC_ACCEPT, True, static_targets(), 32, STATIC_ACCEPT),
    # not HttpArena's: static-h2 without the TLS records, to tell the cost of
    # the files and frames from the cipher's
    Profile("static-h2c", "static-h2 over h2c", False, static_targets(), 32, STATIC_ACCEPT),
]


# ---------------------------------------------------------------- servers

class Berth(run.Berth):
    """berth-serve on an HTTP/2-only listener: `h2` (h2c) for the plaintext
    profiles, `tls h2` beside a plaintext one for the TLS profiles (the
    plaintext port is what berth-serve prints first)."""

    def environment(self, tls):
        env = dict(super().environment(tls))
        env["BERTH_LISTEN"] = "127.0.0.1:0, 127.0.0.1:0 tls h2" if tls else "127.0.0.1:0 h2"
        return env


def nginx_for(profiles, refs, tmp, cert, h2c):
    """An nginx serving profiles (bench/run.py's locations), h2 on TLS."""
    rprofiles = [run.Profile(p.key, p.title, [run.Req("GET", t, expect=None,
                                                      nginx="static" if t.startswith("/static/")
                                                      else "file" if t.startswith("/json/")
                                                      else "return",
                                                      ctype="application/json"
                                                      if t.startswith("/json/") else "text/plain")
                                              for t in p.targets]) for p in profiles]
    d = os.path.join(tmp, "nginx-h2c" if h2c else "nginx-tls")
    os.makedirs(d, exist_ok=True)
    conf = run.nginx_config(rprofiles, refs, d, 0)
    # nginx_config filled bench/nginx.conf; put http2 on the listeners
    if h2c:
        conf = conf.replace("listen 127.0.0.1:@PORT@ backlog=4096;",
                            "listen 127.0.0.1:@PORT@ http2 backlog=4096;")
    tls_conf = run.nginx_tls(cert).replace(" ssl backlog", " ssl http2 backlog")
    srv = run.Nginx(shutil.which("nginx") or "/usr/sbin/nginx", conf, tmp, 0, tls_conf)
    srv.dir = d
    srv.name = "nginx"
    return srv


# ---------------------------------------------------------------- checks and load

def curl_get(url, tls, accept=""):
    cmd = ["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code} %{http_version}"]
    cmd += ["-k", "--http2"] if tls else ["--http2-prior-knowledge"]
    if accept:
        cmd += ["-H", "Accept-Encoding: " + accept]
    r = subprocess.run(cmd + [url], capture_output=True, timeout=30)
    body, _, tail = r.stdout.rpartition(b"\n")
    return r.returncode, body, tail.decode(), r.stderr.decode(errors="replace")


def base_url(server, tls):
    return "%s://127.0.0.1:%d" % ("https" if tls else "http",
                                  server.tls_port if tls else server.port)


def check(server, profile, refs):
    """Every target answered 200 over HTTP/2 with berth-serve's bytes."""
    for t in profile.targets:
        rc, body, tail, err = curl_get(base_url(server, profile.tls) + t, profile.tls)
        if rc != 0 or tail != "200 2":
            raise run.BenchError("%s: %s answered %r (curl %d %s)" % (server.name, t, tail, rc,
                                                                    err.strip()))
        if body != refs[t]:
            raise run.BenchError("%s: %s answered other bytes than berth-serve (%d vs %d)"
                                 % (server.name, t, len(body), len(refs[t])))


def h2load(a, server, profile, seconds, tmp):
    urls = os.path.join(tmp, "uris-%s.txt" % profile.key)
    with open(urls, "w") as f:
        f.writelines(base_url(server, profile.tls) + t + "\n" for t in profile.targets)
    cmd = ["taskset", "-c", "1", a.h2load, "-t", "1", "-c", str(a.connections),
           "-m", str(profile.streams), "-D", str(seconds), "-i", urls]
    if profile.accept:
        cmd += ["-H", "accept-encoding: " + profile.accept]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = r.stdout
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    f = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    if r.returncode != 0 or not (m and s and f):
        raise run.BenchError("h2load failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd),
                                                              out[-1500:], r.stderr[-500:]))
    proto = re.search(r"Application protocol: (\S+)", out)
    cipher = re.search(r"Cipher: (\S+)", out)
    return {"done": int(m.group(3)), "succeeded": int(m.group(4)), "failed": int(m.group(5)),
            "errored": int(m.group(6)), "timeout": int(m.group(7)), "2xx": int(s.group(1)),
            "non2xx": int(s.group(2)) + int(s.group(3)) + int(s.group(4)),
            "seconds": float(f.group(1)), "rps": float(f.group(2)),
            "protocol": proto.group(1) if proto else None,
            "cipher": cipher.group(1) if cipher else None}


def measure(a, server, profile, refs, tmp):
    r = {"profile": profile.key, "server": server.name, "invalid": ""}
    try:
        server.start(tls=profile.tls)
        try:
            check(server, profile, refs)
            if a.warmup > 0:
                h2load(a, server, profile, a.warmup, tmp)
            pids = server.pids()
            run.reset_peak_rss(pids)
            cpu0 = run.cpu_seconds(pids)
            rep = h2load(a, server, profile, a.duration, tmp)
            cpu1 = run.cpu_seconds(server.pids())
            r["peak_rss_kib"] = run.peak_rss_kib(pids)
        finally:
            server.stop()
    except run.BenchError as e:
        r["invalid"] = str(e).strip().replace("\n", " ")[:400]
        return r
    r.update(rep)
    r["cpu_s"] = cpu1 - cpu0
    r["cpu_us_per_req"] = (cpu1 - cpu0) / rep["succeeded"] * 1e6 if rep["succeeded"] else None
    problems = []
    if rep["protocol"] not in ("h2", "h2c"):
        problems.append("protocol %s" % rep["protocol"])
    if rep["failed"] or rep["errored"] or rep["timeout"]:
        problems.append("%d failed, %d errored, %d timeout" % (rep["failed"], rep["errored"],
                                                               rep["timeout"]))
    if rep["non2xx"]:
        problems.append("%d non-2xx" % rep["non2xx"])
    if not rep["succeeded"]:
        problems.append("no request succeeded")
    r["invalid"] = "; ".join(problems)
    return r


# ---------------------------------------------------------------- report

def table(profiles, servers, runs, meta):
    lines = ["HTTP/2 bench (bench/h2_bench.py), %s" % meta["when"],
             "commit %s; h2load -t1 -c%d; %d rounds of %d s (warm-up %d s); server on CPU 0, "
             "h2load on CPU 1" % (meta["commit"], meta["connections"], meta["rounds"],
                                  meta["duration"], meta["warmup"]),
             "CPU us/req: median [min-max] of the valid runs; x nginx: the ratio of medians "
             "(below 1: less CPU than nginx)", ""]
    head = "%-13s %-9s %11s %22s %9s %10s %s" % ("profile", "server", "req/s", "CPU us/req",
                                                 "x nginx", "peak MiB", "valid")
    lines.append(head)
    for p in profiles:
        ref = None
        meds = {}
        for s in servers:
            ok = [r for r in runs if r["profile"] == p.key and r["server"] == s and not r["invalid"]]
            if ok:
                meds[s] = statistics.median(r["cpu_us_per_req"] for r in ok)
        ref = meds.get("nginx")
        for s in servers:
            all_ = [r for r in runs if r["profile"] == p.key and r["server"] == s]
            ok = [r for r in all_ if not r["invalid"]]
            if not ok:
                why = all_[0]["invalid"] if all_ else "not run"
                lines.append("%-13s %-9s %s" % (p.key, s, "no valid run: " + why[:150]))
                continue
            cpu = [r["cpu_us_per_req"] for r in ok]
            ciphers = sorted({r.get("cipher") for r in ok if r.get("cipher")})
            lines.append("%-13s %-9s %11.0f %9.2f [%5.2f-%5.2f] %9s %10.1f %d/%d" % (
                p.key, s, statistics.median(r["rps"] for r in ok), meds[s], min(cpu), max(cpu),
                "%.2f" % (meds[s] / ref) if ref else "-",
                statistics.median(r["peak_rss_kib"] for r in ok) / 1024, len(ok), len(all_))
                + (" " + ",".join(ciphers) if ciphers else ""))
        lines.append("")
    return "\n".join(lines)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-rel"),
                    help="meson build directory with serve/berth-serve (default: build-rel)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--profiles", default=",".join(p.key for p in PROFILES))
    ap.add_argument("--servers", default="reactor,fast:1,libuv,nginx")
    ap.add_argument("--out", default="bench-out")
    a = ap.parse_args(argv)
    a.h2load = shutil.which("h2load")
    binary = os.path.join(a.build, "serve", "berth-serve")
    for what, path in (("h2load (Debian's nghttp2-client)", a.h2load),
                       ("berth-serve (meson setup %s --buildtype=release)" % a.build, binary)):
        if not path or not os.path.exists(path):
            sys.stderr.write("bench/h2_bench.py: %s not found\n" % what)
            return 1
    profiles = [p for p in PROFILES if p.key in a.profiles.split(",") and p.targets]
    names = a.servers.split(",")
    tmp = tempfile.mkdtemp(prefix="berth-h2bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as nobody when started by root
    try:
        cert = run.find_cert(None, None, tmp)
        dataset, _ = run.find_dataset(None, tmp)
        # berth-serve's answers (reactor, HTTP/2): what every server must send
        ref_srv = Berth(binary, "reactor", dataset, tmp, 0, cert=cert)
        refs = {}
        for tls in (False, True):
            ps = [p for p in profiles if p.tls == tls]
            if not ps:
                continue
            ref_srv.start(tls=tls)
            try:
                for p in ps:
                    for t in p.targets:
                        rc, body, tail, err = curl_get(base_url(ref_srv, tls) + t, tls)
                        if rc != 0 or tail != "200 2":
                            raise run.BenchError("reference: berth-serve answered %s %r %s"
                                                 % (t, tail, err))
                        refs[t] = body
            finally:
                ref_srv.stop()
        servers = {}
        for n in names:
            if n == "nginx":
                continue
            servers[n] = Berth(binary, n, dataset, tmp, 0, cert=cert, name=n)
        runs = []
        for rnd in range(a.rounds):
            order = profiles[rnd % len(profiles):] + profiles[:rnd % len(profiles)]
            for p in order:
                snames = names[rnd % len(names):] + names[:rnd % len(names)]
                for n in snames:
                    srv = servers.get(n) or nginx_for([p], refs, tmp, cert, not p.tls)
                    r = measure(a, srv, p, refs, tmp)
                    r["round"] = rnd
                    runs.append(r)
                    run.log("round %d %-13s %-8s %s" % (rnd + 1, p.key, n, r["invalid"] or
                            "%.0f req/s, %.2f us/req" % (r["rps"], r["cpu_us_per_req"])))
        meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "commit": run.git_commit()[1], "rounds": a.rounds, "duration": a.duration,
                "warmup": a.warmup, "connections": a.connections}
        text = table(profiles, names, runs, meta)
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "h2-table.txt"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(a.out, "h2-results.json"), "w") as f:
            json.dump({"meta": meta, "runs": runs}, f, indent=1)
        print(text)
        return 0 if all(any(r["profile"] == p.key and r["server"] == n and not r["invalid"]
                            for r in runs) for p in profiles for n in names) else 2
    except run.BenchError as e:
        sys.stderr.write("bench/h2_bench.py: %s\n" % e)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
