"""What test_upgrade.py and test_haproxy.py share: berth-serve processes
that outlive their parent (an upgraded server's new process is its old
one's child; this process, a subreaper, reaps them all), and bench-load
runs in the background whose errors are counted."""
import ctypes
import json
import os
import re
import signal
import subprocess
import tempfile
import time

from berthproc import BUILD, DATASET

BENCH_LOAD = os.path.join(BUILD, "bench", "bench-load")
SERVE = os.path.join(BUILD, "serve", "berth-serve")
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Orphans (an upgraded server's old process exits, leaving its new
    one) are re-parented to this process, which can then wait for them
    and see how they exited."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def bench_load_tls():
    """Whether bench-load was built with OpenSSL (-s)."""
    out = subprocess.run([BENCH_LOAD, "-V"], capture_output=True, text=True)
    return "tls=yes" in out.stdout


def sanitizer_scale():
    """How much slower a sanitizer build of berth-serve runs (load phases
    and waits are stretched by it)."""
    with open(SERVE, "rb") as f:
        data = f.read()
    for lib in (b"libtsan", b"libasan"):
        if lib in data:
            return 3
    return 1


class Load:
    """bench-load in the background: conns connections, one request in
    flight each, for seconds; new_each=1: a new connection per request."""

    def __init__(self, port, seconds, conns, tls=False, new_each=0, request=None, tmp=None):
        req = request or b"GET /baseline11?a=1&b=2 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        fd, self.req = tempfile.mkstemp(suffix=".req", dir=tmp)
        os.write(fd, req)
        os.close(fd)
        args = [BENCH_LOAD, "-p", str(port), "-c", str(conns), "-d", str(seconds), "-t", "10"]
        if tls:
            args.append("-s")
        if new_each:
            args += ["-k", str(new_each)]
        self.what = "%s %s" % ("tls" if tls else "plain",
                               "new connections" if new_each else "keep-alive")
        self.seconds = seconds
        self.proc = subprocess.Popen(args + [self.req], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))

    def result(self):
        """(requests, errors by kind, status errors) once it has ended."""
        out, err = self.proc.communicate(timeout=self.seconds + 60)
        os.unlink(self.req)
        line = [x for x in out.splitlines() if x.startswith("BENCH_JSON ")]
        if self.proc.returncode != 0 or not line:
            raise AssertionError("bench-load (%s) failed: %s %s" % (self.what, out, err))
        r = json.loads(line[0][len("BENCH_JSON "):])
        return r["requests"], r["errors"], r.get("connects", 0)


def wait_pid(pid, timeout):
    """Waits for pid (a child, or an orphan re-parented here) to exit;
    returns its exit code (negative: the signal), or None if it had not
    within timeout."""
    until = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > until:
            return None
        time.sleep(0.02)


def running(pid):
    """pid runs (exists and is not a zombie waiting to be reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class Serve:
    """A berth-serve process whose output goes to files (its successors,
    started by upgrades, write to the same ones)."""

    def __init__(self, tmp, name, backend, env=None):
        self.out_path = os.path.join(tmp, name + ".out")
        self.err_path = os.path.join(tmp, name + ".err")
        self.env = dict(os.environ, HTTP_BACKEND=backend, BERTH_DATASET=DATASET,
                        BERTH_THREADS="2")
        self.env.update(env or {})
        self.pid = None
        self.start()

    def start(self):
        with open(self.out_path, "a") as out, open(self.err_path, "a") as err:
            start_lines = self.text(self.out_path).count("listening on")
            # posix_spawn, not subprocess: its Popen objects reap children
            # behind os.waitpid's back; here every process is waited for
            # by pid (wait_pid), as its successors must be.
            self.pid = os.posix_spawn(SERVE, [SERVE], self.env, file_actions=[
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
        self.wait_output(self.out_path, lambda t: t.count("listening on") > start_lines, 30,
                         "berth-serve to start")
        line = self.text(self.out_path).splitlines()[-1]
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        self.port = int(m.group(1)) if m else None
        t = re.search(r"tls=https://127\.0\.0\.1:(\d+)", line)
        self.tls_port = int(t.group(1)) if t else None

    @staticmethod
    def text(path):
        with open(path, errors="replace") as f:
            return f.read()

    def wait_output(self, path, pred, timeout, what):
        until = time.monotonic() + timeout
        while not pred(self.text(path)):
            if time.monotonic() > until:
                raise AssertionError("timed out waiting for %s; stderr:\n%s" %
                                     (what, self.text(self.err_path)[-3000:]))
            time.sleep(0.02)

    def stderr(self):
        return self.text(self.err_path)

    def check_sanitizers(self):
        err = self.stderr()
        if "Sanitizer" in err or "runtime error" in err:
            raise AssertionError("sanitizer report:\n" + err[-4000:])

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self, timeout=20):
        """SIGTERM; the exit code."""
        os.kill(self.pid, signal.SIGTERM)
        code = wait_pid(self.pid, timeout)
        if code is None:
            os.kill(self.pid, signal.SIGKILL)
            wait_pid(self.pid, 5)
        return code
