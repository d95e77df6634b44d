"""A fleet behind HAProxy (Debian's haproxy 2.6), on loopback: three
berth-serve instances that take PROXY v2 only, HAProxy checking /health
(docs/DEPLOY.md's configuration, read from it, with checks every 100 ms). Under load (bench-load through
HAProxy, keep-alive and a new connection per request):
- a rolling restart, each instance SIGTERM'd (BERTH_DRAIN_DELAY_MS: its
  /health answers 503 while it still serves, until HAProxy has taken it
  out) and started again once HAProxy has it back: 0 failed requests;
- one instance SIGKILL'd: failed requests bounded by what it had in
  flight (at most one per client connection), and HAProxy's checks mark
  it DOWN; started again, it comes back UP."""
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
import unittest
import urllib.request

from berthproc import BACKENDS, ROOT, free_port, skip_unless_linux
import fleet

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)

# Check every 100 ms (inter), DOWN after 2 failures (fall), UP after 2
# successes (rise); the instances' drain delay is several intervals (a
# check in flight, one that fails, the state change seen by every thread).
INTER_MS = 100
DRAIN_DELAY_MS = 500


def deploy_config():
    """The HAProxy configuration docs/DEPLOY.md shows: the one tested."""
    with open(os.path.join(ROOT, "docs", "DEPLOY.md")) as f:
        doc = f.read()
    m = re.search(r"<!-- haproxy.cfg: read by tests/e2e/test_haproxy.py -->\n```\n(.*?)```\n"
                  r"<!-- end haproxy.cfg -->", doc, re.S)
    assert m, "docs/DEPLOY.md has no haproxy.cfg block"
    return m.group(1)


CONFIG = deploy_config()


class HaproxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fleet.become_subreaper()
        cls.scale = fleet.sanitizer_scale()

    def setUp(self):
        if not HAPROXY:
            self.skipTest("skipped: no haproxy (Debian's haproxy: sudo scripts/deps.sh test)")
        if not os.path.exists(fleet.BENCH_LOAD):
            self.skipTest("skipped: no bench-load (build with -Dbench=enabled on Linux)")
        self.tmp = tempfile.mkdtemp(prefix="berth-haproxy-test-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.ports = [free_port() for _ in range(3)]
        self.front = free_port()
        self.inst = []
        for i, port in enumerate(self.ports):
            # one backend for each instance, in turn: the fleet mixes them
            backend = BACKENDS[i % len(BACKENDS)]
            self.inst.append(fleet.Serve(self.tmp, "s%d" % i, backend, {
                "BERTH_LISTEN": "127.0.0.1:%d proxy" % port,
                "BERTH_DRAIN_DELAY_MS": str(DRAIN_DELAY_MS * self.scale)}))
            self.addCleanup(self.stop_instance, i)
        servers = "\n".join("    server s%d 127.0.0.1:%d" % (i, p) for i, p in enumerate(self.ports))
        self.cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(string.Template(CONFIG).substitute(
                TMP=self.tmp, FRONT_PORT=self.front, INTER_MS=INTER_MS, SERVERS=servers))
        check = subprocess.run([HAPROXY, "-c", "-f", self.cfg], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.addCleanup(self.stop_haproxy)
        self.wait_states(["UP"] * 3, 10 * self.scale)

    def stop_instance(self, i):
        if fleet.alive(self.inst[i].pid):
            self.inst[i].stop()
        self.inst[i].check_sanitizers()

    def stop_haproxy(self):
        self.haproxy.terminate()
        try:
            self.haproxy.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.haproxy.kill()
            self.haproxy.communicate()

    def states(self):
        """HAProxy's view of the three servers (show stat: UP, DOWN...)."""
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(5)
            s.connect(os.path.join(self.tmp, "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            return None
        finally:
            s.close()
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return None
        cols = lines[0][2:].split(",")
        st = {}
        for line in lines[1:]:
            f = line.split(",")
            if len(f) == len(cols) and f[0] == "berth" and f[1].startswith("s"):
                st[f[1]] = f[cols.index("status")].split()[0]
        return [st.get("s%d" % i) for i in range(3)]

    def wait_states(self, want, timeout):
        until = time.monotonic() + timeout
        while True:
            got = self.states()
            if got == want:
                return time.monotonic()
            if time.monotonic() > until:
                raise AssertionError("HAProxy's servers are %r, not %r" % (got, want))
            time.sleep(0.02)

    def loads(self, seconds):
        return [fleet.Load(self.front, seconds, 6, tmp=self.tmp),
                fleet.Load(self.front, seconds, 3, new_each=1, tmp=self.tmp)]

    def test_proxy_v2_only(self):
        """Each instance takes PROXY v2 only: a request without the header
        is refused, through HAProxy it is answered."""
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.front, timeout=5) as r:
            self.assertEqual((r.status, r.read()), (200, b"ok"))
        s = socket.create_connection(("127.0.0.1", self.ports[0]), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        s.close()
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), data[:100])

    def test_rolling_restart_and_a_kill(self):
        # the load covers the restarts (about 1.5 s each: the drain delay,
        # the stop, the start, two checks) and the kill
        seconds = 5 * self.scale
        loads = self.loads(seconds)
        time.sleep(0.3)
        t0 = time.monotonic()
        for i in range(3):
            srv = self.inst[i]
            srv.signal(signal.SIGTERM)
            want = ["UP"] * 3
            want[i] = "DOWN"
            # /health says 503 and HAProxy takes it out, while it serves
            self.wait_states(want, 5 * self.scale)
            self.assertTrue(fleet.running(srv.pid), "stopped before HAProxy took it out")
            self.assertIn("draining: /health answers 503", srv.stderr())
            self.assertEqual(fleet.wait_pid(srv.pid, 20 * self.scale), 0, srv.stderr()[-2000:])
            srv.start()
            self.wait_states(["UP"] * 3, 10 * self.scale)
        rolled = time.monotonic() - t0
        results = [(l.what,) + l.result() for l in loads]
        print("rolling restart of 3 in %.2f s; %s" % (rolled, "; ".join(
            "%s: %d requests, errors %s" % r[:3] for r in results)))
        self.assertLess(rolled, seconds - 0.5, "the restarts outlasted the load")
        for what, requests, errors, _ in results:
            self.assertGreater(requests, 0, what)
            self.assertEqual(sum(errors.values()), 0, "%s: failed requests: %s" % (what, errors))

        # One instance killed: only what it had in flight may fail (each
        # client connection has one request at a time: 9 at most).
        seconds = 3 * self.scale
        loads = self.loads(seconds)
        time.sleep(0.5)
        victim = self.inst[1]
        os.kill(victim.pid, signal.SIGKILL)
        t_kill = time.monotonic()
        self.assertEqual(fleet.wait_pid(victim.pid, 10), -signal.SIGKILL)
        down_at = self.wait_states(["UP", "DOWN", "UP"], 5 * self.scale)
        results = [(l.what,) + l.result() for l in loads]
        failed = sum(sum(r[2].values()) for r in results)
        print("SIGKILL: HAProxy marked it DOWN after %.0f ms; %s" % (
            (down_at - t_kill) * 1000, "; ".join("%s: %d requests, errors %s" % r[:3]
                                                  for r in results)))
        self.assertLessEqual(failed, 9, "more failed than the instance had in flight")
        for what, requests, _, _ in results:
            self.assertGreater(requests, 0, what)
        victim.start()
        self.wait_states(["UP"] * 3, 10 * self.scale)
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.front, timeout=5) as r:
            self.assertEqual(r.status, 200)


if __name__ == "__main__":
    skip_unless_linux("PR_SET_CHILD_SUBREAPER")
    unittest.main(verbosity=2)
