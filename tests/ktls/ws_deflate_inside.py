"""permessage-deflate over kernel TLS, run inside user-mode Linux by
ws-deflate-init.sh (the host's files are the root; the tls module is
loaded): test_ws_deflate.py's TLS tests that move data both ways, on every
backend, each server checked to have handed its records to the kernel
("kernel TLS engaged", /proc/net/tls_stat). Writes $RESULT (JSON): one
record per backend with the tests run, their failures and what the
kernel counted."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["BERTH_SRC"], "tests", "e2e"))
import test_ws_deflate  # noqa: E402
from berthproc import BACKENDS  # noqa: E402

TESTS = ["test_websockets_echo_with_compression", "test_server_frames_compressed_and_smaller",
         "test_fragmented_compressed_message", "test_client_context_takeover",
         "test_server_context_takeover", "test_invalid_deflate_data_closes_1007",
         "test_compression_bomb_closes_1009", "test_node_ws_context_takeover"]


def tls_stat():
    try:
        with open("/proc/net/tls_stat") as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}
    except OSError:
        return {}


def run(backend):
    seen = {}

    class Ktls(test_ws_deflate.DeflateMixin, unittest.TestCase):
        tls = True

        @classmethod
        def tearDownClass(cls):
            # stop_clean raises on a bad exit; the stderr tells kTLS's use
            try:
                super().tearDownClass()
            finally:
                seen["stderr"] = getattr(cls.srv, "stderr_text", "")

    Ktls.backend = backend
    before = tls_stat()
    suite = unittest.TestSuite(Ktls(t) for t in TESTS)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    after = tls_stat()
    return {"backend": backend, "run": result.testsRun,
            "failures": [(str(t), tb[-1500:]) for t, tb in result.failures + result.errors],
            "skipped": [(str(t), why) for t, why in result.skipped],
            "engaged": "kernel TLS engaged" in seen.get("stderr", ""),
            "tx_sw": after.get("TlsTxSw", 0) - before.get("TlsTxSw", 0),
            "rx_sw": after.get("TlsRxSw", 0) - before.get("TlsRxSw", 0),
            "stderr": seen.get("stderr", "")[-500:]}


if __name__ == "__main__":
    records = []
    for b in BACKENDS:
        try:
            records.append(run(b))
        except Exception as e:  # noqa: BLE001 - reported to the host
            records.append({"backend": b, "error": repr(e)})
    with open(os.environ["RESULT"], "w") as f:
        json.dump(records, f, indent=1)
