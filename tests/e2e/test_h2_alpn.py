"""Which protocol a connection speaks, and what the handler is told
(docs/HTTP2.md, docs/TLS.md "ALPN"):
- ALPN offers berth_tls_config.alpn (berth-serve: TLS_ALPN), default
  "h2,http/1.1", and the server's order decides, not the client's; a client
  with nothing in common gets the no_application_protocol alert (or, with
  alpn_lenient, HTTP/1.1 without ALPN); an unknown name stops the server;
- over TLS only ALPN selects HTTP/2: a connection that negotiated
  http/1.1 (or nothing) and then sends the h2 preface gets HTTP/1.1's 505;
- berth_req_http_version says 10, 11 or 20 over HTTP/1.0, HTTP/1.1, h2c
  and h2 over TLS (berth_req_version_minor says 1 for HTTP/2), on every
  backend; berth-serve's access log writes HTTP/2.0 for h2 requests.
Real clients: Python's ssl and h2 (Debian python3-h2), curl."""
import json
import os
import socket
import ssl
import subprocess
import sys
import unittest

import h2env  # noqa: E402

h2 = h2env.import_h2()
if h2 is None and os.environ.get("BERTH_HTTP2") != "0":
    raise ImportError("these tests drive Python's h2 (Debian python3-h2)")

from berthproc import (BACKENDS, BUILD, CA, CERT, KEY, ReadSock, Server, read_response,
                       stop_clean)
from test_h2 import H2

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def tls_sock(port, offer, max_version=None):
    """A TLS connection offering `offer` by ALPN (None: no ALPN extension)."""
    ctx = ssl.create_default_context(cafile=CA)
    if max_version:
        ctx.maximum_version = max_version
    if offer is not None:
        ctx.set_alpn_protocols(offer)
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                           server_hostname="localhost")


def negotiated(port, offer, max_version=None):
    """The protocol ALPN chose (None: none), or "alert" when refused."""
    try:
        s = tls_sock(port, offer, max_version)
    except ssl.SSLError as e:
        if "no application protocol" in str(e).lower().replace("_", " "):
            return "alert"
        raise
    p = s.selected_alpn_protocol()
    s.close()
    return p


def curl_version(port, flag, path="/baseline11?a=1&b=2"):
    """What curl got over TLS with --http2 or --http1.1: (http_version, body)."""
    r = subprocess.run(["curl", "-sS", flag, "--cacert", CERT, "--resolve",
                        "localhost:%d:127.0.0.1" % port, "-w", "\n%{http_version}",
                        "https://localhost:%d%s" % (port, path)],
                       capture_output=True, timeout=30)
    body, _, version = r.stdout.rpartition(b"\n")
    return version.decode(), body


def info_h1(sock, minor=1):
    sock.sendall(b"GET /tls-info HTTP/1.%d\r\nHost: t\r\n\r\n" % minor)
    status, _, body = read_response(sock)
    assert status == 200, status
    return json.loads(body)


def serve(case, backend="reactor", binary="tests/berth-test-server", **env):
    srv = Server(binary, backend=backend, env=dict({"TLS_CERT": CERT, "TLS_KEY": KEY}, **env))
    case.addCleanup(stop_clean, srv, "h2 alpn (%s %r)" % (backend, env))
    return srv


class AlpnTest(unittest.TestCase):
    """berth_tls_config.alpn through berth-serve's TLS_ALPN, on the reactor
    (ALPN is the TLS layer's, the same on every backend)."""

    def test_default_prefers_h2_whatever_the_clients_order(self):
        port = serve(self).tls_port
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            self.assertEqual(negotiated(port, ["http/1.1", "h2"], v), "h2", v)
            self.assertEqual(negotiated(port, ["h2", "http/1.1"], v), "h2", v)
            self.assertEqual(negotiated(port, ["spdy/3.1", "http/1.1"], v), "http/1.1", v)
            self.assertEqual(negotiated(port, ["http/1.1"], v), "http/1.1", v)
            self.assertEqual(negotiated(port, ["h2"], v), "h2", v)
            self.assertEqual(negotiated(port, ["spdy/3.1"], v), "alert", v)
            self.assertIsNone(negotiated(port, None, v), v)
        self.assertEqual(curl_version(port, "--http2"), ("2", b"3"))
        self.assertEqual(curl_version(port, "--http1.1"), ("1.1", b"3"))

    def test_http11_only_never_negotiates_h2(self):
        port = serve(self, TLS_ALPN="http/1.1").tls_port
        self.assertEqual(negotiated(port, ["h2", "http/1.1"]), "http/1.1")
        self.assertEqual(negotiated(port, ["h2"]), "alert")
        self.assertEqual(curl_version(port, "--http2"), ("1.1", b"3"))
        # the preface on a connection that chose http/1.1 is HTTP/1's
        s = ReadSock(tls_sock(port, ["h2", "http/1.1"]))
        self.addCleanup(s.s.close)
        s.sendall(PREFACE)
        status, _, _ = read_response(s)
        self.assertEqual(status, 505)

    def test_h2_only_refuses_an_http11_only_client(self):
        port = serve(self, TLS_ALPN="h2").tls_port
        self.assertEqual(negotiated(port, ["http/1.1"]), "alert")
        self.assertEqual(negotiated(port, ["http/1.1", "h2"]), "h2")
        self.assertEqual(curl_version(port, "--http2"), ("2", b"3"))
        # lenient: no ALPN, and HTTP/1.1 is served
        port = serve(self, TLS_ALPN="h2", TLS_ALPN_LENIENT="1").tls_port
        s = tls_sock(port, ["http/1.1"])
        self.addCleanup(s.close)
        self.assertIsNone(s.selected_alpn_protocol())
        self.assertEqual(info_h1(ReadSock(s))["http_version"], 11)

    def test_the_servers_order_is_the_lists(self):
        port = serve(self, TLS_ALPN=" http/1.1 , h2,http/1.1,").tls_port
        self.assertEqual(negotiated(port, ["h2", "http/1.1"]), "http/1.1")
        self.assertEqual(negotiated(port, ["h2"]), "h2")
        self.assertEqual(curl_version(port, "--http2"), ("1.1", b"3"))

    def test_an_unknown_protocol_stops_the_server(self):
        for alpn, said in (("h2,spdy/3.1", "unknown ALPN protocol (berth speaks h2,http/1.1): "
                                           "spdy/3.1"),
                           (",", "no protocol in the ALPN list"),
                           ("http/1.0", "unknown ALPN protocol")):
            env = dict(os.environ, PORT="0", TLS_PORT="0", HTTP_BACKEND="reactor",
                       TLS_CERT=CERT, TLS_KEY=KEY, TLS_ALPN=alpn)
            r = subprocess.run([os.path.join(BUILD, "serve/berth-serve")], env=env,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 1, alpn)
            self.assertIn("berth: tls: " + said, r.stderr)

    def test_the_preface_without_alpn_h2_stays_http1(self):
        port = serve(self).tls_port
        for offer in (["http/1.1"], None):  # http/1.1 chosen; no ALPN at all
            s = ReadSock(tls_sock(port, offer))
            self.addCleanup(s.s.close)
            s.sendall(PREFACE)
            status, _, _ = read_response(s)
            self.assertEqual(status, 505, offer)
        # and h2 by ALPN still is HTTP/2 from the first byte
        c = H2(port, tls=True)
        self.assertEqual(c.response(c.request("GET", "/tls-info"))[0], 200)
        c.close()


class ProtocolMixin:
    """berth_req_http_version over every protocol (the test server's
    /tls-info says it and berth_req_version_minor)."""

    def test_http_version(self):
        srv = serve(self, self.backend)
        s = ReadSock(srv.connect())
        self.addCleanup(s.s.close)
        self.assertEqual(info_h1(s, 0), {"tls": False, "http_version": 10, "version_minor": 0})
        s = ReadSock(srv.connect())
        self.addCleanup(s.s.close)
        self.assertEqual(info_h1(s), {"tls": False, "http_version": 11, "version_minor": 1})
        t = tls_sock(srv.tls_port, ["http/1.1"])
        self.addCleanup(t.close)
        got = info_h1(ReadSock(t))
        self.assertEqual((got["alpn"], got["http_version"], got["version_minor"]),
                         ("http/1.1", 11, 1))
        c = H2(srv.port)  # h2c
        status, _, body = c.response(c.request("GET", "/tls-info"))
        self.assertEqual((status, json.loads(body)),
                         (200, {"tls": False, "http_version": 20, "version_minor": 1}))
        c.close()
        c = H2(srv.tls_port, tls=True)
        status, _, body = c.response(c.request("GET", "/tls-info"))
        got = json.loads(body)
        self.assertEqual((status, got["alpn"], got["http_version"], got["version_minor"]),
                         (200, "h2", 20, 1))
        c.close()

    def test_access_log_says_http2(self):
        srv = Server(backend=self.backend, env={"BERTH_ACCESS_LOG": "1", "TLS_CERT": CERT,
                                                "TLS_KEY": KEY})
        try:
            c = H2(srv.port)
            self.assertEqual(c.response(c.request("GET", "/baseline2?a=1&b=2"))[0], 200)
            c.close()
            c = H2(srv.tls_port, tls=True)
            self.assertEqual(c.response(c.request("GET", "/baseline2?a=3&b=4"))[0], 200)
            c.close()
            s = ReadSock(srv.connect())
            s.sendall(b"GET /baseline2?a=5&b=6 HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(read_response(s)[0], 200)
            s.s.close()
        finally:
            self.assertEqual(srv.stop(), 0)
        out = srv.proc_stdout
        self.assertRegex(out, r'"GET /baseline2\?a=1&b=2 HTTP/2\.0" 200 ')
        self.assertRegex(out, r'"GET /baseline2\?a=3&b=4 HTTP/2\.0" 200 ')
        self.assertRegex(out, r'"GET /baseline2\?a=5&b=6 HTTP/1\.1" 200 ')


for _b in BACKENDS:
    globals()["Protocol_" + _b] = type("Protocol_" + _b, (ProtocolMixin, unittest.TestCase),
                                       {"backend": _b})

if __name__ == "__main__":
    h2env.main()
