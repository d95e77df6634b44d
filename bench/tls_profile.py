#!/usr/bin/env python3
"""Where a TLS server's CPU goes, per request: perf samples of one server
under one of run.py's TLS profiles, sorted into record crypto, handshake,
TLS library, berth's own code, libc and the kernel.

    python3 bench/tls_profile.py --server reactor --profile json-tls
    TLS_CIPHERS=TLS13-AES128-GCM-SHA256 python3 bench/tls_profile.py --server reactor
    python3 bench/tls_profile.py --server nginx --profile handshake

It starts the server as run.py does (CPU 0, BERTH_THREADS=1, TLS_PORT=0 and
the bench's certificate; nginx with run.py's configuration), checks its
answers, loads it (run.py's load command for the profile, on CPU 1) for a
warm-up, then for --seconds without perf: server CPU time per request from
/proc (the absolute figure); then again with `perf record -e cpu-clock
--call-graph dwarf -p PID` attached for --seconds: the shares. Each share
times the CPU per request of the unprofiled run gives microseconds per
request (perf's own cost is left out that way).

A sample is put in a category by its stack, leaf first: Debian's wolfSSL
and OpenSSL are stripped to their exported symbols, so a sample in one of
their internal functions takes the name of the nearest exported caller on
its stack (wc_Chacha_Process for ChaCha20's block function, EVP_Cipher* for
OpenSSL's AES-NI code); libc samples (memcpy, malloc) go to their caller's
category and are also counted apart; berth's functions are named after
their source file (core/, backends/, handlers/). Needs linux-perf and root
(or perf_event_paranoid <= 1). Python 3 standard library.
"""
import argparse
import collections
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
_spec = importlib.util.spec_from_file_location("bench_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

# Stack frames that mark the TLS handshake (wolfSSL, OpenSSL, berth's layer).
HANDSHAKE = re.compile(r"^(wolfSSL_accept|wolfSSL_accept_TLSv13|wolfSSL_negotiate|SSL_do_handshake|"
                       r"SSL_accept|ossl_statem_accept|state_machine|tls_handshake|handshake)$")
PUBKEY = (r"^(L_)?(sp_|_sp_|wc_Rsa|wc_curve25519|curve25519|fe_|ge_|BN_|bn_|EVP_PKEY_|ossl_ecx|"
          r"X25519|Transform_Sha256|sha256)")  # L_: wolfSSL's assembly labels
# Leaf (or nearest exported) symbols, first match wins: (category, detail).
RULES = [
    (r"wc_Chacha|chacha", "record crypto", "ChaCha20"),
    (r"wc_Poly1305|poly1305", "record crypto", "Poly1305"),
    (r"wc_ChaCha20Poly1305", "record crypto", "ChaCha20-Poly1305 AEAD glue"),
    (r"GHASH|GMULT|gcm_ghash|gcm_gmult", "record crypto", "GHASH"),
    (r"CRYPTO_gcm128", "record crypto", "AES-GCM (OpenSSL's gcm128)"),
    (r"wc_AesGcm|aesni_gcm|AES_gcm|AES_GCM|gcm_", "record crypto", "AES-GCM"),
    (r"wc_Aes|AES_|aesni_|aes_", "record crypto", "AES"),
    (r"^EVP_(Encrypt|Decrypt|Cipher)", "record crypto", "EVP cipher (OpenSSL assembly of the negotiated AEAD)"),
]
HS_RULES = [
    (r"^sp_|^_sp_|mont|RsaFunction|wc_Rsa|RSA_|rsa_|BN_|bn_", "RSA-2048 signature"),
    (r"curve25519|x25519|fe_|ge_|X25519|ecx|EVP_PKEY_(generate|keygen|derive)",
     "X25519 key exchange"),
    (r"Sha256|Sha384|HKDF|Hmac|SHA256|SHA384|sha256|sha512|HMAC|hkdf|EVP_Digest", "hashes, HKDF"),
    (r"wc_Chacha|wc_Poly1305|wc_ChaCha20Poly1305|wc_AesGcm|EVP_(Encrypt|Decrypt|Cipher)",
     "handshake record and ticket encryption"),
    (r"Random|RNG|Hash_DRBG|rand|RAND_", "random numbers"),
    (r"Cert|X509|x509|d2i_|i2d_|ASN|asn1", "certificate"),
]


def berth_functions():
    """berth's function names -> source file, from the sources."""
    names = {}
    pat = re.compile(r"^[A-Za-z_][\w \*]*?[ \*]([a-z_][a-z0-9_]*)\(", re.M)
    for d in ("core", "backends", "handlers", "serve"):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith(".c"):
                with open(os.path.join(ROOT, d, f)) as fh:
                    for m in pat.finditer(fh.read()):
                        names.setdefault(m.group(1), "%s/%s" % (d, f))
    return names


def berth_area(path):
    if path == "core/tls.c" or path == "core/tls_ctx.c":
        return "berth TLS layer (core/tls.c)"
    if path.startswith("handlers/"):
        return "berth handler (JSON, handlers/)"
    if path.startswith("backends/"):
        return "berth backend loop (backends/)"
    return "berth HTTP engine (core/)"


def parse_perf_script(text):
    """Samples of `perf script -F ip,sym,dso`: lists of (sym, dso), leaf first."""
    samples, cur = [], []
    for line in text.splitlines():
        if not line.strip():
            if cur:
                samples.append(cur)
                cur = []
            continue
        m = re.match(r"\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            sym = re.sub(r"\.(constprop|isra|part|cold)\.?\d*.*$", "", sym)
            cur.append((sym, os.path.basename(m.group(2))))
    if cur:
        samples.append(cur)
    return samples


def classify(stack, berth_fns):
    """(category, detail, via_libc) of one sample."""
    in_hs = any(HANDSHAKE.match(s) for s, _ in stack)
    # public-key arithmetic (and SHA-256: TLS 1.3 records use none) is only
    # the handshake's, even when the stack was cut before the handshake's
    # frames (deep big-number stacks, assembly without unwind tables)
    in_hs = in_hs or any(re.search(PUBKEY, s) for s, _ in stack)
    sym, dso = stack[0]
    if dso.startswith("[kernel") or dso == "[vdso]":
        # the system call: the frame under do_syscall_64 (__x64_sys_sendto,
        # ksys_write, ...), else what the kernel was doing (scheduling, IRQs)
        names = [s for s, d in stack if d.startswith("[kernel")]
        call = None
        if "do_syscall_64" in names:
            i = names.index("do_syscall_64")
            call = names[i - 1] if i > 0 else "do_syscall_64"
        if call:
            what = re.sub(r"^(__x64_sys_|__se_sys_|__do_sys_|ksys_|__sys_)", "", call)
        else:
            what = "not in a system call: %s" % sym
        return "kernel", what, False
    via_libc = False
    frames = stack
    # libc (memcpy, malloc, ...): the caller's category
    while frames and frames[0][1].startswith(("libc.so", "ld-linux")):
        via_libc = True
        frames = frames[1:]
    if not frames:
        return "libc (no caller found)", sym, True
    sym, dso = frames[0]
    known = [(s, d) for s, d in frames if s != "[unknown]"]
    if dso.startswith(("libwolfssl", "libssl", "libcrypto")):
        lib = "wolfSSL" if dso.startswith("libwolfssl") else "OpenSSL"
        # the nearest named frame in the same library names the sample
        name = next((s for s, d in frames if d == dso and s != "[unknown]"), "[unknown]")
        if in_hs:
            for pat, detail in HS_RULES:
                if re.search(pat, name):
                    return "handshake", detail, via_libc
            return "handshake", "%s, other (%s)" % (lib, name), via_libc
        for pat, cat, detail in RULES:
            if re.search(pat, name):
                return cat, "%s (%s)" % (detail, name), via_libc
        if name == "[unknown]":
            return "%s, unnamed (stack cut short)" % lib, name, via_libc
        return "%s TLS, not crypto" % lib, name, via_libc
    if dso.startswith(("berth-serve", "libberth")) or sym in berth_fns:
        if in_hs:
            return "handshake", "berth (%s)" % sym, via_libc
        return berth_area(berth_fns.get(sym, "core/?")), sym, via_libc
    if dso.startswith("nginx"):
        if in_hs:
            return "handshake", "nginx (%s)" % sym, via_libc
        return "nginx's own code", sym, via_libc
    if known:
        return "other (%s)" % dso, known[0][0], via_libc
    return "other (%s)" % dso, sym, via_libc


def breakdown(samples, berth_fns):
    cats = collections.Counter()
    details = collections.defaultdict(collections.Counter)
    libc = collections.Counter()
    for st in samples:
        if not st:
            continue
        cat, detail, via = classify(st, berth_fns)
        cats[cat] += 1
        details[cat][detail] += 1
        if via:
            libc[cat] += 1
    return cats, details, libc


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="reactor", help="reactor, fast:1, libuv or nginx")
    ap.add_argument("--profile", default="json-tls",
                    help="json-tls, handshake or resumed; or a plaintext profile of run.py "
                         "(json) to compare with")
    ap.add_argument("--seconds", type=int, default=5, help="measured and profiled seconds (5)")
    ap.add_argument("--freq", type=int, default=1000, help="perf samples per second (1000)")
    ap.add_argument("--stack", type=int, default=32768,
                    help="bytes of user stack copied per sample for the unwinding (32768; "
                         "big-number code has deep stacks)")
    ap.add_argument("--build", help="meson build directory (default build-bench)")
    ap.add_argument("--nginx-ciphersuites", metavar="LIST")
    ap.add_argument("--top", type=int, default=4, help="details shown per category (4)")
    ap.add_argument("--keep", metavar="DIR", help="keep perf.data and the perf script here")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    a = ap.parse_args(argv)
    profile = next((p for p in run.PROFILES if p.key == a.profile), None)
    if not profile:
        sys.exit("unknown profile %s (one of %s)" % (a.profile,
                                                      ", ".join(p.key for p in run.PROFILES)))
    if not shutil.which("perf"):
        sys.exit("perf not found (apt-get install linux-perf)")
    build = os.path.join(ROOT, a.build or "build-bench")
    binary = os.path.join(build, "serve", "berth-serve")
    la = types.SimpleNamespace(client_cpu=a.client_cpu, wrk=shutil.which("wrk") or "wrk",
                               load=os.path.join(build, "bench", "bench-load"))
    tmp = tempfile.mkdtemp(prefix="berth-tlsprof-")
    os.chmod(tmp, 0o755)
    srv = None
    try:
        dataset, _ = run.find_dataset(None, tmp)
        refs = run.fetch_references(binary, dataset, [profile], tmp, a.server_cpu)
        cert = run.find_cert(None, None, tmp)
        if a.server == "nginx":
            ngx_dir = os.path.join(tmp, "nginx")
            os.makedirs(ngx_dir, exist_ok=True)
            conf = run.nginx_config([profile], refs, ngx_dir, 64)
            srv = run.Nginx(shutil.which("nginx") or "/usr/sbin/nginx", conf, tmp, a.server_cpu,
                            run.nginx_tls(cert, a.nginx_ciphersuites))
        else:
            srv = run.Berth(binary, a.server, dataset, tmp, a.server_cpu, cert=cert)
        srv.start(tls=profile.tls)
        port = srv.tls_port if profile.tls else srv.port
        desc = run.check_answers(port, profile, refs, {}, srv.name, cert["der"])
        conns = profile.connections
        run.run_load(run.load_command(la, profile, port, 1, tmp, conns, {}), 1, conns)
        run.wait_idle(port)
        pids = srv.pids()
        c0 = run.cpu_seconds(pids)
        rep, load_cpu, _ = run.run_load(run.load_command(la, profile, port, a.seconds, tmp, conns,
                                                         {}), a.seconds, conns)
        c1 = run.cpu_seconds(pids)
        errs = {k: v for k, v in rep["errors"].items() if v}
        us = (c1 - c0) / rep["requests"] * 1e6 if rep["requests"] else float("nan")
        secs = rep["duration_us"] / 1e6
        print("%s %s: %s; %.0f req/s, server CPU %.2f us/request (%.0f%% of a CPU) without perf%s"
              % (a.server, a.profile, desc, rep["requests"] / secs, us, 100 * (c1 - c0) / secs,
                 ("; ERRORS %s: invalid" % errs) if errs else ""))
        if rep.get("tls"):
            print("  load: %s" % rep["tls"])
        run.wait_idle(port)
        data = os.path.join(a.keep or tmp, "perf.data")
        if a.keep:
            os.makedirs(a.keep, exist_ok=True)
        load = subprocess.Popen(run.load_command(la, profile, port, a.seconds + 2, tmp, conns, {}),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, BENCH_WRK_CONNECTIONS=str(conns)))
        time.sleep(1)
        perf = subprocess.run(["taskset", "-c", str(a.client_cpu), "perf", "record", "-q",
                               "-e", "cpu-clock", "-F", str(a.freq), "--call-graph",
                               "dwarf,%d" % a.stack,
                               "-p", ",".join(map(str, pids)), "-o", data, "--", "sleep",
                               str(a.seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        load.wait()
        if perf.returncode != 0:
            sys.exit("perf record failed: %s" % perf.stderr)
        script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso", "--no-inline"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        if a.keep:
            with open(os.path.join(a.keep, "perf-script.txt"), "w") as f:
                f.write(script)
        samples = parse_perf_script(script)
        cats, details, libc = breakdown(samples, berth_functions())
        total = sum(cats.values())
        print("%d samples (perf record -e cpu-clock -F %d --call-graph dwarf,%d -p %s); share, and "
              "share x %.2f us/request:" % (total, a.freq, a.stack, ",".join(map(str, pids)), us))
        for cat, n in cats.most_common():
            print("  %-40s %5.1f%% %8.2f us%s" % (cat, 100 * n / total, us * n / total,
                                                 "   (%.1f%% in libc called from it)"
                                                 % (100 * libc[cat] / total) if libc[cat] else ""))
            for d, k in details[cat].most_common(a.top):
                print("      %-48s %5.1f%% %8.2f us" % (d[:48], 100 * k / total, us * k / total))
    except run.BenchError as e:
        sys.exit("FAILED: %s" % e)
    finally:
        if srv is not None and srv.proc is not None:
            note = srv.stop()
            if note:
                print("server %s" % note)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    sys.exit(main(sys.argv[1:]))
