"""Embedding: a user's program built against the installed library with
pkg-config, and against the source tree as a meson subproject, serves
requests and stops cleanly on SIGTERM."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.request

from berthproc import BUILD, ROOT, linux_only

APP = r"""
#include <berth.h>
#include <signal.h>
#include <stdio.h>

static berth_server *server;
static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

static void hi(berth_req *req, berth_res *res, void *user)
{
    berth_str who;
    if (berth_req_param(req, "who", &who) != 0)
        who.ptr = "?", who.len = 1;
    char out[64];
    int n = snprintf(out, sizeof out, "hi %.*s from %s\n", (int)who.len, who.ptr, (const char *)user);
    berth_res_send(res, 200, "text/plain", out, (size_t)n);
}

int main(void)
{
    berth_router *router = berth_router_new();
    berth_router_add(router, "GET", "/hi/{who}", hi, "embed");
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 1;
    cfg.router = router;
    server = berth_server_new(&cfg);
    if (!server || berth_server_start(server) != 0)
        return 1;
    signal(SIGTERM, on_signal);
    printf("port %u\n", (unsigned)berth_server_port(server));
    fflush(stdout);
    berth_server_wait(server);
    berth_server_free(server);
    berth_router_free(router);
    return 0;
}
"""


def sanitize_flags():
    """The -fsanitize flags of the build under test: a program linked with
    an instrumented libberth must be instrumented too."""
    out = subprocess.run(["meson", "introspect", "--buildoptions", BUILD], check=True,
                         capture_output=True, text=True).stdout
    opt = [o for o in json.loads(out) if o["name"] == "b_sanitize"]
    value = opt[0]["value"] if opt else "none"
    return [] if value == "none" else ["-fsanitize=" + value]


def run_app(path, env=None):
    """Starts the program, asks it one request, stops it; returns
    (body, exit code)."""
    proc = subprocess.Popen([path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        m = re.match(r"port (\d+)", line)
        if not m:
            raise AssertionError("app did not start: %r %s" % (line, proc.stderr.read()))
        url = "http://127.0.0.1:%s/hi/ann" % m.group(1)
        with urllib.request.urlopen(url, timeout=5) as r:
            body = r.read()
        proc.send_signal(signal.SIGTERM)
        return body, proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


class EmbedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-embed-")
        with open(os.path.join(cls.tmp, "app.c"), "w") as f:
            f.write(APP)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_pkg_config_build_of_installed_library(self):
        dest = os.path.join(self.tmp, "dest")
        subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
                        "--destdir", dest], check=True, stdout=subprocess.DEVNULL)
        pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "berth.pc"), recursive=True)
        self.assertEqual(len(pcs), 1, pcs)
        # The dependencies' .pc files where the build found them (libkqueue
        # in a kqueue build on Linux, named by PKG_CONFIG_PATH).
        search = [os.path.dirname(pcs[0])] + [p for p in os.environ.get(
            "PKG_CONFIG_PATH", "").split(":") if p]
        env = dict(os.environ, PKG_CONFIG_PATH=":".join(search), PKG_CONFIG_SYSROOT_DIR=dest)
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "berth"], env=env,
                               check=True, capture_output=True, text=True).stdout.split()
        exe = os.path.join(self.tmp, "app")
        cc = ["cc", "-std=c11", "-Wall", "-Werror"] + sanitize_flags()
        subprocess.run(cc + [os.path.join(self.tmp, "app.c"), "-o", exe] + flags, check=True)
        # examples/hello.c builds the same way, as its comment says
        subprocess.run(cc + [os.path.join(ROOT, "examples", "hello.c"),
                        "-o", os.path.join(self.tmp, "hello")] + flags, check=True)
        libdir = [f[2:] for f in flags if f.startswith("-L")][0]
        # (macOS's loader reads DYLD_LIBRARY_PATH instead; Linux ignores it)
        body, code = run_app(exe, dict(os.environ, LD_LIBRARY_PATH=libdir, DYLD_LIBRARY_PATH=libdir))
        self.assertEqual(body, b"hi ann from embed\n")
        self.assertEqual(code, 0)

    @linux_only("ELF symbol versions of libberth.so as GNU nm shows them")
    def test_only_berth_symbols_are_exported(self):
        # the library, not meson's directory of its objects (libberth.so.X.Y.Z.p)
        libs = [l for l in glob.glob(os.path.join(BUILD, "libberth.so.*")) if os.path.isfile(l)]
        self.assertTrue(libs)
        out = subprocess.run(["nm", "-D", "--defined-only", libs[0]], check=True,
                             capture_output=True, text=True).stdout
        versioned = [line.split()[-1] for line in out.splitlines() if line.strip()]
        # Every call carries the version node of the soname or of the
        # compatible release that added it (berth.sym: BERTH_1, BERTH_1.1...),
        # and each node itself shows as an absolute symbol.
        self.assertIn("BERTH_1", versioned)
        nodes = [n for n in versioned if re.fullmatch(r"BERTH_1(\.[0-9]+)?", n)]
        for n in nodes:
            versioned.remove(n)
        self.assertEqual([n for n in versioned
                          if not re.search(r"@@BERTH_1(\.[0-9]+)?$", n)], [])
        self.assertEqual(sorted(set(n.split("@@")[1] for n in versioned)), sorted(nodes))
        names = [n.split("@")[0] for n in versioned]
        self.assertIn("berth_server_new", names)
        self.assertEqual([n for n in names if not n.startswith("berth_")], [])
        # Exactly the functions the public header declares, and all of them.
        with open(os.path.join(ROOT, "include", "berth.h")) as f:
            api = set(re.findall(r"BERTH_API[^;(]*?\b(berth_\w+)\(", f.read()))
        self.assertEqual(set(names), api)

    def test_meson_subproject(self):
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(os.path.join(proj, "subprojects"))
        os.symlink(ROOT, os.path.join(proj, "subprojects", "berth"))
        shutil.copy(os.path.join(self.tmp, "app.c"), proj)
        with open(os.path.join(proj, "meson.build"), "w") as f:
            f.write("project('app', 'c', default_options : ['c_std=c11'])\n"
                    "berth = dependency('berth', fallback : ['berth', 'berth_dep'],\n"
                    "  default_options : ['default_library=static'])\n"
                    "executable('app', 'app.c', dependencies : berth)\n")
        bdir = os.path.join(proj, "b")
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(self.tmp, "none"))
        san = sanitize_flags()
        opts = ["-Db_sanitize=" + san[0].split("=", 1)[1], "-Db_lundef=false"] if san else []
        subprocess.run(["meson", "setup", bdir, proj, "--wrap-mode=forcefallback"] + opts,
                       check=True, stdout=subprocess.DEVNULL, env=env)
        subprocess.run(["ninja", "-C", bdir, "app"], check=True, stdout=subprocess.DEVNULL)
        # As a subproject berth builds only the library: no tests, examples,
        # berth-serve or bench programs, and installs nothing.
        targets = json.loads(subprocess.run(["meson", "introspect", "--targets", bdir], check=True,
                                            capture_output=True, text=True).stdout)
        names = {t["name"] for t in targets}
        self.assertIn("berth", names)
        for absent in ("berth-serve", "unit-tests", "berth-test-server", "hello", "bench-floor"):
            self.assertNotIn(absent, names)
        self.assertEqual([t["name"] for t in targets if t.get("installed")], [])
        body, code = run_app(os.path.join(bdir, "app"))
        self.assertEqual(body, b"hi ann from embed\n")
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
