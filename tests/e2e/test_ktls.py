"""Kernel TLS, for real: boots Debian's user-mode Linux (a 6.1 kernel with
the tls module) with this machine's files as its root, runs
tests/ktls/inside.py there (fallback without the module, then every
backend with AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305), and checks
what it recorded. Skipped where linux.uml is not installed."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from berthproc import BACKENDS, BUILD, CERTS, DATASET, ROOT

UML = shutil.which("linux.uml")


def sanitizer_build():
    """ASan and TSan binaries cannot run in user-mode Linux: its processes'
    address space has no room for their shadow memory."""
    out = subprocess.run(["ldd", os.path.join(BUILD, "tests", "berth-test-server")],
                         capture_output=True, text=True).stdout
    return "libasan" in out or "libtsan" in out
CIPHERS = ["aes128gcm", "aes256gcm", "chacha20"]
CHECKS = ["keep_alive", "pipelined", "arena_json_tls", "finished_with_request", "client_close_notify",
          "key_update", "ws_deflate", "file_24_mib", "clean_exit"]
if os.environ.get("BERTH_HTTP2") != "0":
    CHECKS.append("h2_file_8_mib")  # HTTP/2 by ALPN over kernel TLS (inside.py's h2_file)


@unittest.skipUnless(UML, "linux.uml (Debian's user-mode-linux) is not installed")
@unittest.skipIf(UML and sanitizer_build(), "a sanitizer build cannot run inside user-mode Linux "
                 "(no room for its shadow memory); the plain build runs this test")
class KernelTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-ktls-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)  # even if UML fails
        result, log = os.path.join(cls.tmp, "result.json"), os.path.join(cls.tmp, "log.txt")
        env = {"BERTH_SRC": ROOT, "BERTH_BUILD": BUILD, "RESULT": result, "LOG": log,
               "BERTH_TEST_CERTS": CERTS, "BERTH_TEST_DATASET": DATASET,
               "BERTH_TEST_BACKENDS": " ".join(BACKENDS).replace(" ", ","),
               "BERTH_HTTP2": os.environ.get("BERTH_HTTP2", "1")}
        cmd = [UML, "mem=1536M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
               "init=" + os.path.join(ROOT, "tests", "ktls", "uml-init.sh"), "con=null",
               "con0=fd:0,fd:1"] + ["%s=%s" % kv for kv in env.items()]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=1500)
        cls.console = proc.stdout.decode(errors="replace")[-3000:] + proc.stderr.decode(errors="replace")[-2000:]
        cls.log, cls.records = "", []
        if os.path.exists(log):
            with open(log) as f:
                cls.log = f.read()
        if os.path.exists(result):
            with open(result) as f:
                cls.records = json.load(f)
        # Where user-mode Linux cannot run at all (a CI container without
        # what it needs), BERTH_KTLS_SKIP_IF_NO_BOOT=1 (set by ci.yml only)
        # turns "its init never started" into a skip that says why; elsewhere
        # that is a failure, as any other.
        if not os.path.exists(log) and os.environ.get("BERTH_KTLS_SKIP_IF_NO_BOOT") == "1":
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise unittest.SkipTest("skipped: user-mode Linux did not boot here (exit %d): %s"
                                    % (proc.returncode, cls.console[-600:].strip()))

    def find(self, backend, cipher, check):
        rs = [r for r in self.records if (r["backend"], r["cipher"], r["check"]) ==
              (backend, cipher, check)]
        self.assertTrue(rs, "%s/%s/%s was not run\nlog:\n%s\nconsole:\n%s"
                        % (backend, cipher, check, self.log[-3000:], self.console))
        return rs[0]

    def test_no_phase_failed(self):
        bad = [r for r in self.records if r["check"].startswith("phase_")]
        self.assertEqual(bad, [], self.log[-3000:])

    def test_without_the_module_tls_stays_in_userspace(self):
        for backend in BACKENDS:
            r = self.find(backend, "-", "fallback")
            self.assertTrue(r["ok"], r)

    def test_every_backend_and_cipher_goes_through_the_kernel(self):
        failed = []
        for backend in BACKENDS:
            for cipher in CIPHERS:
                for check in CHECKS:
                    r = self.find(backend, cipher, check)
                    if not r["ok"]:
                        failed.append(r)
        self.assertEqual(failed, [], json.dumps(failed, indent=1)[:6000])


if __name__ == "__main__":
    unittest.main()
