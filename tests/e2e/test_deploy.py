"""docs/DEPLOY.md's configurations, run as written: each block that starts
with `# deploy-test: NAME` is read out of the file (so the document and
the test cannot drift apart), its ports replaced by free ones, and used
with the real program: nginx (Debian's nginx-light) in front of
berth-serve, the systemd units checked by systemd-analyze and run by
systemd-socket-activate, the Kubernetes manifest parsed (no cluster here).
On the first backend of BERTH_TEST_BACKENDS: these test the configurations,
the backends are tested everywhere else."""
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from berthproc import BACKENDS, BUILD, DATASET, ROOT, ReadSock, Server, free_port, read_response, \
    skip_unless_linux, stop_clean

skip_unless_linux("nginx, systemd-socket-activate and /proc/net/tcp")

DOC = os.path.join(ROOT, "docs", "DEPLOY.md")
SERVE = os.path.join(BUILD, "serve", "berth-serve")
BACKEND = BACKENDS[0]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def block(name):
    """The fenced block of docs/DEPLOY.md headed `# deploy-test: NAME`."""
    text = open(DOC, encoding="utf-8").read()
    m = re.search(r"```[a-z]*\n# deploy-test: %s\n(.*?)```" % re.escape(name), text, re.S)
    if not m:
        raise AssertionError("docs/DEPLOY.md has no block '# deploy-test: %s'" % name)
    return m.group(1)


def ask(port, request, timeout=10.0):
    """One request on a connection of its own: (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        return read_response(ReadSock(s))
    finally:
        s.close()


def get(port, path):
    return ask(port, b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path.encode())


def sockets_to(port):
    """TCP sockets of this machine with `port` as their remote end
    (/proc/net/tcp, every state but LISTEN): the connections made to it."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().split("\n")[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 3 and int(f[2].split(":")[1], 16) == port and f[3] != "0A":
                n += 1
    return n


def wait_port(port, proc, what, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s is not listening on %d after %.0f s" % (what, port, within))


@unittest.skipUnless(NGINX, "skipped: no nginx (Debian's nginx-light: scripts/deps.sh test)")
class NginxInFront(unittest.TestCase):
    """docs/DEPLOY.md's nginx.conf, berth-serve behind it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-deploy-")
        cls.berth_port = free_port()
        cls.port = free_port()
        conf = block("nginx")
        # The ports, and what a test instance needs of its own (its pid file
        # and logs in the temporary folder, in the foreground).
        conf = conf.replace("127.0.0.1:8080", "127.0.0.1:%d" % cls.berth_port)
        conf = conf.replace("listen 8000;", "listen 127.0.0.1:%d;" % cls.port)
        conf = ("daemon off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n" % (cls.tmp, cls.tmp)) + conf
        conf = conf.replace("http {", "http {\n    access_log off;\n    client_body_temp_path %s;\n"
                            "    proxy_temp_path %s;\n" % (cls.tmp, cls.tmp), 1)
        path = os.path.join(cls.tmp, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        cls.berth = cls.start_berth()
        cls.nginx = subprocess.Popen([NGINX, "-c", path, "-p", cls.tmp], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        wait_port(cls.port, cls.nginx, "nginx")

    @classmethod
    def start_berth(cls):
        return Server(SERVE, backend=BACKEND, env={"PORT": str(cls.berth_port), "TLS_PORT": "off",
                                                   "BERTH_REUSEPORT": "0"})

    @classmethod
    def tearDownClass(cls):
        cls.nginx.send_signal(signal.SIGQUIT)
        try:
            cls.nginx.wait(10)
        except subprocess.TimeoutExpired:
            cls.nginx.kill()
            cls.nginx.wait()
        cls.nginx.stdout.close()
        cls.nginx.stderr.close()
        if cls.berth.proc.poll() is None:
            stop_clean(cls.berth, "berth-serve")
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_get_and_kept_alive_upstream(self):
        before = sockets_to(self.berth_port)
        for i in range(40):
            status, _, body = get(self.port, "/baseline11?a=%d&b=2" % i)
            self.assertEqual((status, body), (200, str(i + 2).encode()))
        # 40 client connections, each closed by the client: nginx reuses
        # its kept-alive connections to berth (a connection per request
        # would leave 40 sockets in TIME_WAIT to berth's port).
        made = sockets_to(self.berth_port) - before
        self.assertLessEqual(made, 4, "nginx made %d connections to berth for 40 requests" % made)

    def test_post_bodies(self):
        for size in (17, 500 * 1024, 2 * 1024 * 1024):
            body = os.urandom(size)
            status, _, got = ask(self.port, b"POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size + body)
            self.assertEqual((status, got), (200, str(size).encode()), "a body of %d bytes" % size)

    def test_websocket_through_nginx(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            key = base64.b64encode(os.urandom(16))
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                      b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "closed before the upgrade's answer")
                head += chunk
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head[:200])
            rest = head.split(b"\r\n\r\n", 1)[1]
            mask = os.urandom(4)
            payload = b"through nginx"
            s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
                      bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            while len(rest) < 2 + len(payload):
                chunk = s.recv(4096)
                self.assertTrue(chunk, "closed before the echo")
                rest += chunk
            self.assertEqual(rest[:2 + len(payload)], bytes([0x81, len(payload)]) + payload)
        finally:
            s.close()

    def test_zz_berth_stopped_and_back(self):
        # Last (zz): berth stops behind nginx, nginx says 502, berth comes
        # back on its port and nginx reaches it again.
        stop_clean(type(self).berth, "berth-serve")
        status, _, _ = get(self.port, "/health")
        self.assertEqual(status, 502)
        type(self).berth = self.start_berth()
        deadline = time.monotonic() + 10
        while True:
            status, _, body = get(self.port, "/health")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # nginx's fail_timeout (2 s) may hold the server out
        self.assertEqual((status, body), (200, b"ok"))


class SystemdUnits(unittest.TestCase):
    """docs/DEPLOY.md's socket and service units."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-units-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "skipped: no systemd-analyze (Debian's systemd)")
    def test_units_verify(self):
        paths = []
        for name, unit in (("socket", "berth.socket"), ("service", "berth.service")):
            p = os.path.join(self.tmp, unit)
            text = block("systemd " + name)
            # The installed path is this build's berth-serve here (verify
            # checks that ExecStart= exists and is executable).
            text = text.replace("ExecStart=/usr/bin/berth-serve", "ExecStart=" + SERVE)
            with open(p, "w") as f:
                f.write(text)
            paths.append(p)
        r = subprocess.run(["systemd-analyze", "verify"] + paths, capture_output=True, text=True,
                           timeout=60)
        # Unknown keys and bad values are warnings on stderr, not failures:
        # only lines that name these units' files count (the host's own
        # units may have warnings of their own).
        mine = [line for line in (r.stdout + r.stderr).split("\n") if self.tmp in line]
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(mine, [], "systemd-analyze verify warned about docs/DEPLOY.md's units")

    @unittest.skipUnless(shutil.which("systemd-socket-activate"),
                         "skipped: no systemd-socket-activate (Debian's systemd)")
    def test_units_run_socket_activated(self):
        socket_unit, service = block("systemd socket"), block("systemd service")
        listen = re.search(r"^ListenStream=(\d+)$", socket_unit, re.M)
        self.assertTrue(listen, "the socket unit has a ListenStream= port")
        env = dict(os.environ, HTTP_BACKEND=BACKEND)
        names = []
        for k, v in re.findall(r"^Environment=(\w+)=(.*)$", service, re.M):
            env[k] = DATASET if k == "BERTH_DATASET" else v  # the test's dataset
            names.append(k)
        self.assertIn("BERTH_LISTEN", names)
        exe = re.search(r"^ExecStart=(\S+)", service, re.M).group(1)
        self.assertEqual(os.path.basename(exe), "berth-serve")
        port = free_port()  # the unit's port (8080) may be taken here
        keep = ["-E" + k for k in names + ["HTTP_BACKEND", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"]]
        proc = subprocess.Popen(["systemd-socket-activate", "-l", "127.0.0.1:%d" % port] + keep + [SERVE],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    status, _, body = get(port, "/json/2")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self.assertEqual(status, 200)
            self.assertIn(b'"count":2', body)
            # The socket it was given, and no other.
            line = proc.stdout.readline()
            self.assertRegex(line, r"listeners=http://127\.0\.0\.1:%d( |$)" % port)
            proc.send_signal(signal.SIGTERM)  # the unit's KillSignal
            self.assertEqual(proc.wait(15), 0)
            err = proc.stderr.read()
            self.assertNotIn("Sanitizer", err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


class KubernetesManifest(unittest.TestCase):
    """Not run on a cluster (none here): the manifest's numbers checked
    against berth-serve's."""

    def test_manifest(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("skipped: no PyYAML (Debian's python3-yaml, for /usr/bin/python3)")
        doc = yaml.safe_load(block("kubernetes"))
        spec = doc["spec"]["template"]["spec"]
        c = spec["containers"][0]
        port = c["ports"][0]["containerPort"]
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(c[probe]["httpGet"], {"path": "/health", "port": port})
        pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop[0], "sleep")
        # berth_config.drain_timeout_ms's default, where it is set
        engine = open(os.path.join(ROOT, "core", "engine.c")).read()
        drain_s = int(re.search(r"drain_timeout_ms = (\d+);", engine).group(1)) // 1000
        self.assertGreater(spec["terminationGracePeriodSeconds"], drain_s + int(pre_stop[1]))
        threads = {e["name"]: e["value"] for e in c["env"]}["BERTH_THREADS"]
        self.assertEqual(int(threads), int(c["resources"]["limits"]["cpu"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
