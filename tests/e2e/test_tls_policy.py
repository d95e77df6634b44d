"""TLS policy (docs/TLS.md) on every backend, checked with openssl
s_client, Python's ssl and hand-made ClientHellos: nothing outside the
cipher list is negotiated (not TLS_AES_128_CCM_8_SHA256, which wolfSSL
added to a list ending in ':'), key exchange only with X25519, P-256 and
P-384 (X25519 first in TLS 1.3), and a client whose ALPN offer has no
protocol berth speaks gets no_application_protocol unless lenient."""
import os
import socket
import ssl
import struct
import subprocess
import unittest

from berthproc import BACKENDS, BUILD, CERT, KEY, Server, TlsSock, stop_clean, tls_context

REQ = b"GET /pipeline HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def s_client(port, *args, data=REQ):
    """openssl s_client against port, reading until the server closes; its
    stdout and stderr together."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost", "-CAfile", CERT, "-ign_eof", *args],
                       input=data, capture_output=True, timeout=30)
    return r.stdout + r.stderr


def negotiated(out):
    """The suite s_client settled on, or None ("Cipher is (NONE)")."""
    for line in out.split(b"\n"):
        if b", Cipher is " in line:
            c = line.split(b"Cipher is ")[1].strip().decode()
            return None if c == "(NONE)" else c
    return None


def temp_key(out):
    for line in out.split(b"\n"):
        if line.startswith(b"Server Temp Key: "):
            return line[len(b"Server Temp Key: "):].decode()
    return None


# Key shares for a hand-made ClientHello: the base point of each group is
# a valid public value (the server's choice is all we look at).
P256 = 0x0017
X25519 = 0x001D
P256_G = bytes.fromhex("04"
                       "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                       "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
X25519_U9 = bytes([9]) + bytes(31)


def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(shares):
    """A TLS 1.3 ClientHello offering exactly these (group, key) shares, in
    this order, and the same groups as supported_groups."""
    groups = b"".join(struct.pack("!H", g) for g, _ in shares)
    keys = b"".join(struct.pack("!HH", g, len(k)) + k for g, k in shares)
    exts = (ext(0x002B, b"\x02\x03\x04")  # supported_versions: TLS 1.3
            + ext(0x000A, struct.pack("!H", len(groups)) + groups)
            + ext(0x0033, struct.pack("!H", len(keys)) + keys)
            + ext(0x000D, b"\x00\x06\x08\x04\x04\x03\x04\x01")  # rsa_pss_rsae, ecdsa, rsa
            + ext(0x0000, b"\x00\x0c\x00\x00\x09localhost"))
    body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32)
            + b"\x00\x04\x13\x03\x13\x01" + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def read_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise ConnectionError("closed after %r" % out[:20])
        out += d
    return out


def server_hello_group(port, shares):
    """The key_share group of the server's answer to client_hello(shares)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(client_hello(shares))
        head = read_exact(s, 5)
        if head[0] != 0x16:
            raise ConnectionError("not a handshake record: %r" % head)
        rec = read_exact(s, struct.unpack("!H", head[3:5])[0])
    finally:
        s.close()
    assert rec[0] == 2, "not a ServerHello"
    i = 4 + 2 + 32
    i += 1 + rec[i]  # session id
    i += 3  # cipher suite, compression
    end = i + 2 + struct.unpack("!H", rec[i:i + 2])[0]
    i += 2
    while i < end:
        kind, n = struct.unpack("!HH", rec[i:i + 4])
        if kind == 0x0033:
            return struct.unpack("!H", rec[i + 4:i + 6])[0]
        i += 4 + n
    return None


class PolicyMixin:
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server("tests/berth-test-server", backend=cls.backend,
                         env={"BERTH_THREADS": "2", "TLS_CERT": CERT, "TLS_KEY": KEY})
        cls.port = cls.srv.tls_port

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.srv, "tls policy (%s)" % cls.backend)

    def test_nothing_outside_the_cipher_list(self):
        for suite in ("TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_SHA256"):
            out = s_client(self.port, "-tls1_3", "-ciphersuites", suite)
            self.assertIsNone(negotiated(out), suite)
            self.assertIn(b"alert handshake failure", out)
        # CBC, static RSA key exchange: not in TLS 1.2 either
        for cipher in ("ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256"):
            out = s_client(self.port, "-tls1_2", "-cipher", cipher)
            self.assertIsNone(negotiated(out), cipher)
        # what the list holds works
        for version, flag, suite in (
                ("-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"),
                ("-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"),
                ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")):
            out = s_client(self.port, version, flag, suite)
            self.assertEqual(negotiated(out), suite)
            self.assertIn(b"HTTP/1.1 200 OK", out)

    def test_key_exchange_groups(self):
        for group, name in (("X25519", "X25519"), ("P-256", "prime256v1"), ("P-384", "secp384r1")):
            for version in ("-tls1_2", "-tls1_3"):
                out = s_client(self.port, version, "-groups", group)
                self.assertIn(name, temp_key(out) or "", (group, version))
                self.assertIn(b"HTTP/1.1 200 OK", out)
        # what nginx refuses too
        for group in ("secp256k1", "brainpoolP256r1", "brainpoolP512r1", "X448", "P-521"):
            out = s_client(self.port, "-tls1_2", "-groups", group)
            self.assertIsNone(negotiated(out), group)
            self.assertIsNone(temp_key(out), group)
        for group in ("X448", "P-521"):
            self.assertIsNone(negotiated(s_client(self.port, "-tls1_3", "-groups", group)), group)

    def test_tls13_ranks_x25519_first(self):
        # Key shares for P-256 and X25519, P-256 first: the server's order
        # (X25519 first, as nginx with OpenSSL's defaults) decides.
        self.assertEqual(server_hello_group(self.port, [(P256, P256_G), (X25519, X25519_U9)]),
                         X25519)
        self.assertEqual(server_hello_group(self.port, [(X25519, X25519_U9), (P256, P256_G)]),
                         X25519)
        self.assertEqual(server_hello_group(self.port, [(P256, P256_G)]), P256)

    def test_alpn_without_a_protocol_in_common_is_refused(self):
        # (berth speaks h2 and http/1.1: spdy/3.1 is a protocol it does not)
        out = s_client(self.port, "-alpn", "spdy/3.1")
        self.assertIn(b"no application protocol", out)  # alert 120 (RFC 7301 3.2)
        self.assertNotIn(b"HTTP/1.1 200", out)
        ctx = tls_context()
        ctx.set_alpn_protocols(["spdy/3.1"])
        with self.assertRaises(ssl.SSLError) as e:
            TlsSock(self.port, ctx=ctx)
        self.assertIn("no application protocol", str(e.exception).lower().replace("_", " "))
        # a protocol in common is chosen; no ALPN at all is served HTTP/1.1
        ctx.set_alpn_protocols(["spdy/3.1", "http/1.1"])
        s = TlsSock(self.port, ctx=ctx)
        self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        s.close()
        ctx.set_alpn_protocols(["h2", "http/1.1"])  # HTTP/2 (docs/HTTP2.md)
        s = TlsSock(self.port, ctx=ctx)
        self.assertEqual(s.selected_alpn_protocol(),
                         "http/1.1" if os.environ.get("BERTH_HTTP2") == "0" else "h2")
        s.close()
        out = s_client(self.port)
        self.assertIn(b"No ALPN negotiated", out)
        self.assertIn(b"HTTP/1.1 200 OK", out)


class PolicyStartupTest(unittest.TestCase):
    """Settings of berth-serve (berth_tls_config), on the reactor."""

    def serve(self, **env):
        srv = Server(backend="reactor", env=dict({"TLS_CERT": CERT, "TLS_KEY": KEY}, **env))
        self.addCleanup(stop_clean, srv, "tls policy startup")
        return srv.tls_port

    def test_a_list_ending_in_a_colon_is_exact(self):
        port = self.serve(TLS_CIPHERS="TLS13-AES128-GCM-SHA256:", TLS_MIN_VERSION="1.3")
        for suite in ("TLS_AES_128_CCM_8_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
                      "TLS_AES_256_GCM_SHA384"):
            self.assertIsNone(negotiated(s_client(port, "-tls1_3", "-ciphersuites", suite)), suite)
        out = s_client(port, "-tls1_3")
        self.assertEqual(negotiated(out), "TLS_AES_128_GCM_SHA256")
        self.assertIn(b"HTTP/1.1 200 OK", out)

    def test_tls13_only_default_list_has_no_ccm8(self):
        port = self.serve(TLS_MIN_VERSION="1.3")
        out = s_client(port, "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256")
        self.assertIsNone(negotiated(out))

    def test_unknown_cipher_name_is_fatal(self):
        env = dict(os.environ, PORT="0", TLS_PORT="0", HTTP_BACKEND="reactor", TLS_CERT=CERT,
                   TLS_KEY=KEY, TLS_CIPHERS="TLS13-AES128-GCM-SHA256:TLS13-NOPE-SHA256")
        r = subprocess.run([os.path.join(BUILD, "serve/berth-serve")], env=env,
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown cipher: TLS13-NOPE-SHA256", r.stderr)

    def test_alpn_lenient_keeps_the_old_behaviour(self):
        port = self.serve(TLS_ALPN_LENIENT="1")
        out = s_client(port, "-alpn", "spdy/3.1")
        self.assertIn(b"No ALPN negotiated", out)
        self.assertIn(b"HTTP/1.1 200 OK", out)


for _b in BACKENDS:
    globals()["Policy_" + _b] = type("Policy_" + _b, (PolicyMixin, unittest.TestCase),
                                     {"backend": _b})

if __name__ == "__main__":
    unittest.main()
