"""Kernel TLS beside userspace TLS (wolfSSL), measured inside Debian's
user-mode Linux, whose 6.1 kernel has the tls module this machine's kernel
lacks.

    python3 bench/ktls_uml.py [--build build-bench] [--seconds 8]

Boots linux.uml with the host's files as its root; inside, for each cipher,
runs berth-serve (reactor, one thread) with BERTH_KTLS=off and on, and
measures the server's CPU time for json over TLS (wrk, keep-alive, rotating
/json/{count}) and for a 256 MiB file (curl). Prints CPU per request and
per MiB and the ratio kTLS / userspace.

Read only the ratios: UML's crypto is generic C (no AES-NI), its clock is
coarse (10 ms ticks, kernel time counted as user time), and the load
generator shares its one CPU with the server."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET = os.path.join(ROOT, "tests", "data", "arena", "dataset.json")
CIPHERS = [("AES-128-GCM", "TLS13-AES128-GCM-SHA256"),
           ("ChaCha20-Poly1305", "TLS13-CHACHA20-POLY1305-SHA256")]
FILE_MIB = 256
INIT = """#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
exec >"$LOG" 2>&1
ip link set lo up
M=/usr/lib/uml/modules/$(uname -r)/kernel
for m in crypto/gf128mul.ko crypto/ghash-generic.ko crypto/ctr.ko crypto/gcm.ko \\
         lib/crypto/libchacha.ko crypto/chacha_generic.ko lib/crypto/libpoly1305.ko \\
         crypto/poly1305_generic.ko crypto/chacha20poly1305.ko net/tls/tls.ko; do
    insmod "$M/$m"
done
/usr/bin/python3 "$SCRIPT" inside
sync
/usr/bin/python3 -c "import ctypes; ctypes.CDLL(None).reboot(0x4321fedc)"
"""
WRK_LUA = """counter = 0
request = function()
  counter = counter + 1
  local n = counter % 50 + 1
  return wrk.format("GET", "/json/" .. n .. "?m=" .. (counter % 7 + 1))
end
"""


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tls_tx_sw():
    with open("/proc/net/tls_stat") as f:
        return dict(line.split() for line in f)["TlsTxSw"]


def serve(binary, certs, cipher, ktls):
    env = dict(os.environ, PORT="0", TLS_PORT="0", HTTP_BACKEND="reactor", BERTH_THREADS="1",
               TLS_CERT=os.path.join(certs, "server.crt"), TLS_KEY=os.path.join(certs, "server.key"),
               TLS_CIPHERS=cipher, BERTH_KTLS="on" if ktls else "off", BERTH_DATASET=DATASET)
    p = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    port = int(re.search(r"tls=https://127\.0\.0\.1:(\d+)", line).group(1))
    return p, port


def inside(a):
    out = []
    lua = os.path.join(a["tmp"], "rotate.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    path = os.path.join(a["tmp"], "big.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(FILE_MIB << 20))
    for name, cipher in CIPHERS:
        for ktls in (False, True):
            p, port = serve(a["binary"], a["certs"], cipher, ktls)
            try:
                before_tx = tls_tx_sw()
                c0 = cpu_seconds(p.pid)
                r = subprocess.run(["wrk", "-t1", "-c16", "-d%ds" % a["seconds"], "-s", lua,
                                    "https://127.0.0.1:%d" % port], capture_output=True, text=True)
                c1 = cpu_seconds(p.pid)
                m = re.search(r"(\d+) requests in", r.stdout)
                reqs = int(m.group(1)) if m else 0
                errors = "Socket errors" in r.stdout or "Non-2xx" in r.stdout
                c2 = cpu_seconds(p.pid)
                t0 = time.monotonic()
                dl = subprocess.run(["curl", "-sSk", "--http1.1", "-o", "/dev/null", "-w", "%{size_download}",
                                     "https://127.0.0.1:%d/file?path=%s" % (port, path)],
                                    capture_output=True, text=True)
                wall = time.monotonic() - t0
                c3 = cpu_seconds(p.pid)
                engaged = int(tls_tx_sw()) > int(before_tx)
            finally:
                p.terminate()
                p.wait()
            out.append({"cipher": name, "ktls": ktls, "engaged": engaged, "requests": reqs,
                        "errors": errors, "json_cpu_us_per_req": (c1 - c0) * 1e6 / reqs if reqs else None,
                        "file_bytes": int(dl.stdout or 0), "file_wall_s": wall,
                        "file_cpu_ms_per_mib": (c3 - c2) * 1e3 / FILE_MIB})
    with open(a["result"], "w") as f:
        json.dump(out, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    uml = shutil.which("linux.uml")
    if not uml:
        sys.exit("linux.uml not found: apt-get install user-mode-linux kmod iproute2")
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    # berth-serve has no /file route; the test server (same engine) has.
    binary = os.path.join(build, "tests", "berth-test-server")
    tmp = tempfile.mkdtemp(prefix="berth-ktls-bench-")
    try:
        init = os.path.join(tmp, "init.sh")
        with open(init, "w") as f:
            f.write(INIT)
        os.chmod(init, 0o755)
        certs = os.path.join(build, "tests", "certs")  # made by the build (tests/certs)
        if not os.path.exists(os.path.join(certs, "server.key")):
            subprocess.run([os.path.join(ROOT, "scripts", "make-test-certs.sh"), certs], check=True)
        conf = {"binary": binary, "tmp": tmp, "seconds": args.seconds, "certs": certs,
                "result": os.path.join(tmp, "result.json")}
        with open(os.path.join(tmp, "conf.json"), "w") as f:
            json.dump(conf, f)
        env = ["SCRIPT=%s" % os.path.abspath(__file__), "LOG=%s" % os.path.join(tmp, "log.txt"),
               "BENCH_CONF=%s" % os.path.join(tmp, "conf.json")]
        subprocess.run([uml, "mem=2G", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
                        "init=" + init, "con=null", "con0=fd:0,fd:1"] + env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=1800)
        if not os.path.exists(conf["result"]):
            sys.exit("no result; log:\n" + open(os.path.join(tmp, "log.txt")).read()[-3000:])
        rows = json.load(open(conf["result"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("kernel TLS vs userspace TLS (wolfSSL), inside user-mode Linux 6.1; berth-serve "
          "reactor, 1 thread; wrk -t1 -c16 %d s; %d MiB file" % (args.seconds, FILE_MIB))
    print("%-18s %-10s %8s %9s %12s %14s" % ("cipher", "records", "kTLS?", "json req",
                                              "CPU us/req", "file CPU ms/MiB"))
    by = {}
    for r in rows:
        by[(r["cipher"], r["ktls"])] = r
        print("%-18s %-10s %8s %9d %12s %14.2f%s" % (
            r["cipher"], "kernel" if r["ktls"] else "userspace", "yes" if r["engaged"] else "no",
            r["requests"], "%.1f" % r["json_cpu_us_per_req"] if r["json_cpu_us_per_req"] else "-",
            r["file_cpu_ms_per_mib"], "  (wrk errors)" if r["errors"] else ""))
    print("\nratio kernel / userspace (CPU, lower is better):")
    for name, _ in CIPHERS:
        u, k = by.get((name, False)), by.get((name, True))
        if u and k and u["json_cpu_us_per_req"] and k["json_cpu_us_per_req"]:
            print("  %-18s json %.2f   file %.2f" % (
                name, k["json_cpu_us_per_req"] / u["json_cpu_us_per_req"],
                k["file_cpu_ms_per_mib"] / u["file_cpu_ms_per_mib"]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "inside":
        with open(os.environ["BENCH_CONF"]) as f:
            inside(json.load(f))
    else:
        main()
