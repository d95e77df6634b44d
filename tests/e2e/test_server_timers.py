"""Server timers (berth.h, "Server timers") on every backend, through
tests/server/timer-app.c: timers added from handlers and from threads of
the application's own, periodic and one-shot, cancelled from another
thread and from their own callback, a callback that stops the server, and
what the application checks itself (a cancel waits for a running callback;
BERTH_ESTATE before the start and after the stop; nothing fires once
berth_server_wait has returned).

Time is the behaviour here, so some asserts are on time, with margins a
loaded machine (stress-ng --cpu 4 on two cores) keeps: a timer never fires
early, so counts have a firm upper bound; the lower bounds are a quarter of
what an idle machine gives."""
import http.client
import re
import time
import unittest

from berthproc import BACKENDS, Server

APP = "tests/berth-timer-app"
ESTATE = -8
EINVAL = -1


class ServerTimers(unittest.TestCase):
    def get(self, srv, path):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read().decode()
            self.assertEqual(r.status, 200, "%s: %s" % (path, body))
            return int(body)
        finally:
            c.close()

    def count(self, srv, slot):
        return self.get(srv, "/count?id=%d" % slot)

    def periodic(self, srv, backend, extra=""):
        """A 20 ms periodic timer fires about every 20 ms: never more than
        elapsed/20 + 1 times (never early), at least a quarter of that."""
        t0 = time.monotonic()
        slot = self.get(srv, "/add?delay=20&repeat=20" + extra)
        time.sleep(1.0)
        n = self.count(srv, slot)
        elapsed = time.monotonic() - t0
        self.assertLessEqual(n, elapsed * 1000 / 20 + 1, "%s: %d fires in %.2f s" % (backend, n, elapsed))
        self.assertGreaterEqual(n, 0.25 * 1.0 * 1000 / 20, "%s: %d fires in %.2f s" % (backend, n, elapsed))
        return slot

    def one_backend(self, backend):
        srv = Server(APP, backend=backend)
        try:
            with self.subTest(backend=backend, what="periodic"):
                self.periodic(srv, backend)
            with self.subTest(backend=backend, what="added from another thread"):
                self.periodic(srv, backend, "&thread=1")
            with self.subTest(backend=backend, what="one-shot"):
                slot = self.get(srv, "/add?delay=50&repeat=0")
                self.assertEqual(self.count(srv, slot), 0, "fired before its delay")
                deadline = time.monotonic() + 5
                while self.count(srv, slot) == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(self.count(srv, slot), 1)
                time.sleep(0.3)
                self.assertEqual(self.count(srv, slot), 1, "a one-shot fired again")
                self.assertEqual(self.get(srv, "/cancel?id=%d" % slot), 1)  # after it ran: a release
            with self.subTest(backend=backend, what="cancel from a handler"):
                slot = self.get(srv, "/add?delay=10&repeat=10")
                time.sleep(0.2)
                at_cancel = self.get(srv, "/cancel?id=%d" % slot)
                self.assertGreater(at_cancel, 0)
                time.sleep(0.2)
                self.assertEqual(self.count(srv, slot), at_cancel, "fired after its cancel")
            with self.subTest(backend=backend, what="cancel in its callback"):
                slot = self.get(srv, "/selfcancel?repeat=10&after=3")
                time.sleep(0.5)
                self.assertEqual(self.count(srv, slot), 3)
            # Periodic timers run on as a one-shot stops the server.
            for _ in range(3):
                self.get(srv, "/add?delay=1&repeat=1")
            self.get(srv, "/stop?delay=50")
            code = srv.proc.wait(10)
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            out = srv.proc.stdout.read()
            err = srv.proc.stderr.read()
            srv.proc.stdout.close()
            srv.proc.stderr.close()
        self.assertNotIn("Sanitizer", err)
        self.assertNotIn("runtime error", err)
        self.assertEqual(code, 0, err)
        m = re.search(r"before_start=(-?\d+) einval=(-?\d+) cancel_waits=(\S+) bg_rc=(-?\d+) "
                      r"bg_fires=(\d+) bg_since_stop=(-?\d+) fired_after_wait=(-?\d+) "
                      r"after_stop_add=(-?\d+)", out)
        self.assertTrue(m, out + err)
        before, einval, waits, bg_rc, bg_fires, since_stop, after_wait, after_stop = m.groups()
        self.assertEqual(int(before), ESTATE, "a timer added before the start")
        self.assertEqual(int(einval), EINVAL, "a timer without a function")
        self.assertEqual(waits, "ok", "cancel while its callback runs on a worker")
        self.assertEqual(int(bg_rc), 0)
        self.assertGreater(int(bg_fires), 0)
        # A callback already running as the stop was asked may finish
        # (the main thread's 5 ms timer, on another worker): one at most.
        self.assertLessEqual(int(since_stop), 1, "fired after berth_server_stop")
        self.assertGreaterEqual(int(since_stop), 0)
        self.assertEqual(int(after_wait), 0, "fired after berth_server_wait returned")
        self.assertEqual(int(after_stop), ESTATE, "a timer added after the stop")

    def test_backends(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.one_backend(backend)


if __name__ == "__main__":
    unittest.main(verbosity=2)
