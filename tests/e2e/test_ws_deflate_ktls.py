"""permessage-deflate over kernel TLS (issue 29): boots Debian's user-mode
Linux (a 6.1 kernel with the tls module) with this machine's files as its
root, as test_ktls.py does, and runs tests/ktls/ws_deflate_inside.py there:
test_ws_deflate.py's TLS tests that move compressed data both ways (Python
websockets, Node's ws, raw compressed frames, context takeover, bad
DEFLATE data, the compression bomb) on every backend, each server with its
records in the kernel. Skipped where linux.uml is not installed, and in a
sanitizer build (no room for its shadow memory in user-mode Linux)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from berthproc import BACKENDS, BUILD, CERTS, DATASET, ROOT
from test_ktls import UML, sanitizer_build


@unittest.skipUnless(UML, "linux.uml (Debian's user-mode-linux) is not installed")
@unittest.skipIf(UML and sanitizer_build(), "a sanitizer build cannot run inside user-mode Linux "
                 "(no room for its shadow memory); the plain build runs this test")
class WsDeflateKtlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-wsd-ktls-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        result, log = os.path.join(cls.tmp, "result.json"), os.path.join(cls.tmp, "log.txt")
        env = {"BERTH_SRC": ROOT, "BERTH_BUILD": BUILD, "RESULT": result, "LOG": log,
               "BERTH_TEST_CERTS": CERTS, "BERTH_TEST_DATASET": DATASET,
               "BERTH_TEST_BACKENDS": ",".join(BACKENDS),
               "BERTH_TEST_NODE_PATH": os.environ.get("BERTH_TEST_NODE_PATH", "")}
        cmd = [UML, "mem=1536M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
               "init=" + os.path.join(ROOT, "tests", "ktls", "ws-deflate-init.sh"), "con=null",
               "con0=fd:0,fd:1"] + ["%s=%s" % kv for kv in env.items() if kv[1]]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=1200)
        cls.console = proc.stdout.decode(errors="replace")[-2000:]
        cls.log = open(log).read() if os.path.exists(log) else ""
        cls.records = json.load(open(result)) if os.path.exists(result) else []
        if not os.path.exists(log) and os.environ.get("BERTH_KTLS_SKIP_IF_NO_BOOT") == "1":
            raise unittest.SkipTest("skipped: user-mode Linux did not boot here (exit %d): %s"
                                    % (proc.returncode, cls.console[-600:].strip()))

    def test_every_backend_compresses_over_kernel_tls(self):
        got = {r["backend"]: r for r in self.records}
        for b in BACKENDS:
            with self.subTest(backend=b):
                r = got.get(b)
                self.assertIsNotNone(r, "%s was not run\nlog:\n%s\nconsole:\n%s"
                                     % (b, self.log[-3000:], self.console))
                self.assertNotIn("error", r, r)
                brief = {k: v for k, v in r.items() if k != "failures"}
                self.assertEqual([t for t, _ in r["failures"]], [], "%s\n%s" % (
                    brief, "\n".join(tb for _, tb in r["failures"])[-4000:]))
                self.assertEqual(r["run"], 8)
                self.assertTrue(r["engaged"], r["stderr"])
                self.assertGreater(r["tx_sw"], 0, r)  # records the kernel encrypted
                self.assertGreater(r["rx_sw"], 0, r)  # and decrypted


if __name__ == "__main__":
    unittest.main()
