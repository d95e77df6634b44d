"""The ABI (berth.h, "Structs and upgrades"; docs/API.md, "Upgrading"):
- abidiff (Debian's abigail-tools) finds no incompatible change between
  the library built now and the baseline of its soname kept in tests/abi
  (libberth.so.N.abi, made by tests/abi/update-baseline.sh): a change that
  would break programs built against that soname needs a new soname;
- a program built against the 1.0 header (tests/abi/berth-1.0) runs
  against the library built now;
- a program built against a header whose structs lack their last fields
  (as an older header's would, before they grew) runs too, and berth
  writes no byte past its structs nor reads their tails (canaries, and
  AddressSanitizer in sanitized builds);
- the soname is the major version and every call has the node BERTH_<major>."""
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import unittest
import urllib.request

from berthproc import BUILD, ROOT, skip_unless_linux
from test_embed import sanitize_flags

ABI = os.path.join(ROOT, "tests", "abi")
STRUCTS = ["berth_config", "berth_tls_config", "berth_ws_config", "berth_static_opts",
           "berth_route_opts", "berth_tls_info", "berth_listener_info", "berth_done"]


def version():
    with open(os.path.join(BUILD, "include", "berth_version.h")) as f:
        return re.search(r'#define BERTH_VERSION "([^"]+)"', f.read()).group(1)


def soname_of(lib):
    out = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True, text=True).stdout
    return re.search(r"Library soname: \[([^\]]+)\]", out).group(1)


def shrunk_header(src, dst):
    """berth.h with the last field of each struct that may grow removed:
    what a program built before that field was added saw."""
    with open(src) as f:
        text = f.read()
    for name in STRUCTS:
        m = re.search(r"typedef struct %s \{(.*?)\n\} %s;" % (name, name), text, re.S)
        assert m, name
        body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
        decls = [d for d in body.split(";") if d.strip()]
        assert len(decls) >= 2, name
        smaller = ";\n".join(d.rstrip() for d in decls[:-1]) + ";"
        text = text[:m.start(1)] + smaller + text[m.end(1):]
    with open(dst, "w") as f:
        f.write(text)


class AbiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-abi-")
        cls.lib = os.path.join(BUILD, "libberth.so")
        cls.major = version().split(".")[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_soname_and_version_node(self):
        self.assertEqual(soname_of(self.lib), "libberth.so." + self.major)
        out = subprocess.run(["readelf", "--version-info", "--wide", self.lib], check=True,
                             capture_output=True, text=True).stdout
        self.assertIn("Name: BERTH_" + self.major, out)

    def test_no_incompatible_change_within_the_soname(self):
        abidiff = shutil.which("abidiff")
        self.assertIsNotNone(abidiff, "abidiff not found: Debian's abigail-tools "
                             "(sudo scripts/deps.sh test)")
        secs = subprocess.run(["readelf", "-S", self.lib], check=True, capture_output=True,
                              text=True).stdout
        if ".debug_info" not in secs:
            self.skipTest("the library has no debug info, from which abidiff reads the types "
                          "(build with -g: meson's default buildtype debugoptimized)")
        soname = soname_of(self.lib)
        baseline = os.path.join(ABI, soname + ".abi")
        self.assertTrue(os.path.exists(baseline),
                        "no ABI baseline for %s: a new soname needs one "
                        "(tests/abi/update-baseline.sh %s)" % (soname, BUILD))
        with open(baseline) as f:
            self.assertIn("soname='%s'" % soname, f.read(2000))
        out = subprocess.run([abidiff, "--no-added-syms",
                              "--suppressions", os.path.join(ABI, "grow.supp"),
                              "--headers-dir2", os.path.join(ROOT, "include"),
                              "--headers-dir2", os.path.join(BUILD, "include"),
                              baseline, self.lib], capture_output=True, text=True)
        # 0: nothing but added calls and fields added at the end of the
        # structs that may grow; 4 (changes) or 8 (incompatible ones): a
        # program built against this soname would break.
        self.assertEqual(out.returncode, 0,
                         "an incompatible ABI change under the soname %s: keep the old calls and "
                         "layouts, or make the change with a new major version (meson.build), "
                         "soname and version node, and its baseline "
                         "(tests/abi/update-baseline.sh):\n%s%s" % (soname, out.stdout, out.stderr))

    def build_app(self, incdir, name):
        exe = os.path.join(self.tmp, name)
        cc = ["cc", "-std=c11", "-Wall", "-Werror", "-g"] + sanitize_flags()
        subprocess.run(cc + ["-I", incdir, os.path.join(ABI, "old_app.c"), "-o", exe,
                             "-L", BUILD, "-lberth", "-lpthread"], check=True)
        return exe

    def run_app(self, exe):
        env = dict(os.environ, LD_LIBRARY_PATH=BUILD)
        proc = subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=self.tmp)
        try:
            line = proc.stdout.readline()
            m = re.match(r"ports (\d+) (\d+) listeners (\d+) library (\S+) header (\S+)", line)
            if not m:
                self.fail("the program did not start: %r %s" % (line, proc.stderr.read()))
            port, tls_port, listeners, lib, header = m.groups()
            self.assertEqual(int(listeners), 2)
            self.assertEqual(lib, version())
            with urllib.request.urlopen("http://127.0.0.1:%s/hello" % port, timeout=5) as r:
                self.assertEqual(r.read(), b"hello tls=no version=-\n")
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with urllib.request.urlopen("https://127.0.0.1:%s/hello" % tls_port, timeout=5,
                                        context=ctx) as r:
                self.assertRegex(r.read(), rb"^hello tls=yes version=TLSv1\.[23]\n$")
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
            self.assertEqual(proc.returncode, 0, out + err)
            self.assertIn("done 2 bad 0", out)
            self.assertNotIn("AddressSanitizer", err)
            return header
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    def test_program_built_against_the_1_0_header(self):
        exe = self.build_app(os.path.join(ABI, "berth-1.0"), "app-1.0")
        self.assertEqual(self.run_app(exe), "1.0.0")

    def test_program_whose_structs_lack_their_last_fields(self):
        inc = os.path.join(self.tmp, "shrunk")
        os.makedirs(inc)
        shrunk_header(os.path.join(ABI, "berth-1.0", "berth.h"), os.path.join(inc, "berth.h"))
        shutil.copy(os.path.join(ABI, "berth-1.0", "berth_version.h"), inc)
        exe = self.build_app(inc, "app-shrunk")
        self.run_app(exe)

    def test_program_built_against_this_header_without_its_last_fields(self):
        # this release's header (1.1 appended berth_tls_config.alpn and
        # berth_done.http_version), as a program built before them saw it
        inc = os.path.join(self.tmp, "shrunk-now")
        os.makedirs(inc)
        shrunk_header(os.path.join(ROOT, "include", "berth.h"), os.path.join(inc, "berth.h"))
        shutil.copy(os.path.join(BUILD, "include", "berth_version.h"), inc)
        exe = self.build_app(inc, "app-shrunk-now")
        self.assertEqual(self.run_app(exe), version())


if __name__ == "__main__":
    # libberth.so's soname, symbol versions and abidiff's baseline are those
    # of the ELF library GNU's tools (readelf, abigail-tools) read on Linux
    skip_unless_linux("GNU readelf and abigail-tools on the ELF libberth.so")
    unittest.main()
