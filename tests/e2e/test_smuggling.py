"""Request smuggling: a table of ambiguous messages, each of which berth
must read exactly one way or refuse, on every backend, over plaintext and
TLS.

Every row is sent followed by a request that closes the connection
("GET /health ... Connection: close"). A row either

- is read one way: its response (the /echo route answers the body it
  read, so the status and body show which framing won), then the closing
  request's "ok", then the end of the connection: an extra response would
  be a request smuggled inside the row's bytes; or
- is refused: a response with the row's status (400 unless the RFC names
  another), Connection: close, then the end of the connection (nothing
  after the refusal is answered).

Run: BERTH_BUILD=/path/to/build python3 test_smuggling.py -v
"""
import unittest

from berthproc import BACKENDS, CERT, KEY, Server, TlsSock
from test_rfc import Client

CLOSE = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def post(fields, body=b"", target=b"/echo", version=b"HTTP/1.1", host=b"Host: t\r\n"):
    return b"POST " + target + b" " + version + b"\r\n" + host + fields + b"\r\n" + body


CL = b"Content-Length: "
TE = b"Transfer-Encoding: "
CHUNKED = TE + b"chunked\r\n"
HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"
# A body that is itself a request: read as data by one framing, as a second
# request by another.
INNER = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
INNER_CHUNKED = b"%x\r\n" % len(INNER) + INNER + b"\r\n0\r\n\r\n"

# (name, bytes, expected): expected is a status (refused and closed) or
# (status, body) read one way.
TABLE = [
    # -- Content-Length with Transfer-Encoding (RFC 9112 6.1: MAY reject; berth does)
    ("cl_then_te", post(CL + b"5\r\n" + CHUNKED, HELLO_CHUNKED), 400),
    ("te_then_cl", post(CHUNKED + CL + b"5\r\n", HELLO_CHUNKED), 400),
    ("te_with_cl_0", post(CHUNKED + CL + b"0\r\n", INNER_CHUNKED), 400),
    ("cl_with_te_of_inner", post(CL + b"%d\r\n" % len(INNER_CHUNKED) + CHUNKED, INNER_CHUNKED), 400),
    ("cl_with_te_uppercase", post(CL + b"5\r\nTRANSFER-ENCODING: CHUNKED\r\n", HELLO_CHUNKED), 400),
    ("cl_with_te_tab", post(CL + b"5\r\n" + TE + b"\tchunked\r\n", HELLO_CHUNKED), 400),
    ("cl_with_te_list", post(CL + b"5\r\n" + TE + b"gzip, chunked\r\n", HELLO_CHUNKED), 400),
    ("cl_with_te_xchunked", post(CL + b"5\r\n" + TE + b"xchunked\r\n", b"hello"), 400),
    ("cl_with_te_empty", post(CL + b"5\r\n" + TE + b"\r\n", b"hello"), 400),
    ("cl_with_te_space_before_colon", post(CL + b"5\r\nTransfer-Encoding : chunked\r\n", b"hello"), 400),
    ("cl_with_te_obs_fold", post(CL + b"5\r\nTransfer-Encoding:\r\n chunked\r\n", b"hello"), 400),
    ("cl_with_te_vertical_tab", post(CL + b"5\r\n" + TE + b"\x0bchunked\r\n", b"hello"), 400),
    # a name that is not Transfer-Encoding is not Transfer-Encoding
    ("cl_with_te_underscore", post(CL + b"5\r\nTransfer_Encoding: chunked\r\n", b"hello"), (200, b"hello")),
    ("cl_with_te_prefixed", post(CL + b"5\r\nX-Transfer-Encoding: chunked\r\n", b"hello"), (200, b"hello")),
    # -- Transfer-Encoding alone
    ("te_chunked", post(CHUNKED, HELLO_CHUNKED), (200, b"hello")),
    ("te_chunked_mixed_case_ows", post(TE + b" \tChUnKeD \t\r\n", HELLO_CHUNKED), (200, b"hello")),
    ("te_inner_request_is_data", post(CHUNKED, INNER_CHUNKED), (200, INNER)),
    ("te_chunked_twice_one_field", post(TE + b"chunked, chunked\r\n", HELLO_CHUNKED), 400),
    ("te_chunked_twice_two_fields", post(CHUNKED + CHUNKED, HELLO_CHUNKED), 400),
    ("te_chunked_then_gzip", post(TE + b"chunked, gzip\r\n", HELLO_CHUNKED), 400),
    ("te_chunked_then_gzip_fields", post(CHUNKED + TE + b"gzip\r\n", HELLO_CHUNKED), 400),
    ("te_identity", post(TE + b"identity\r\n", HELLO_CHUNKED), 400),
    ("te_gzip_alone", post(TE + b"gzip\r\n", b"hello"), 400),
    # RFC 9112 6.1: an unknown coding SHOULD get 501
    ("te_gzip_then_chunked", post(TE + b"gzip, chunked\r\n", HELLO_CHUNKED), 501),
    ("te_quoted_chunked", post(TE + b"\"chunked\"\r\n", HELLO_CHUNKED), 400),
    ("te_chunked_with_parameter", post(TE + b"chunked;q=1\r\n", HELLO_CHUNKED), 400),
    ("te_chunked_nul", post(TE + b"chunked\x00\r\n", HELLO_CHUNKED), 400),
    ("te_in_http10", post(CHUNKED, HELLO_CHUNKED, version=b"HTTP/1.0", host=b""), 400),
    ("te_obs_fold_continuation", post(b"X-A: b\r\n " + CHUNKED, HELLO_CHUNKED), 400),
    ("te_leading_space_first_field", b"POST /echo HTTP/1.1\r\n " + CHUNKED + b"Host: t\r\n\r\n" + HELLO_CHUNKED, 400),
    # -- Content-Length alone
    ("cl_plain", post(CL + b"5\r\n", b"hello"), (200, b"hello")),
    ("cl_inner_request_is_data", post(CL + b"%d\r\n" % len(INNER), INNER), (200, INNER)),
    ("cl_twice_equal", post(CL + b"5\r\n" + CL + b"5\r\n", b"hello"), (200, b"hello")),
    ("cl_list_equal", post(CL + b"5, 5\r\n", b"hello"), (200, b"hello")),
    ("cl_twice_differing", post(CL + b"5\r\n" + CL + b"6\r\n", b"hello!"), 400),
    ("cl_list_differing", post(CL + b"5,6\r\n", b"hello!"), 400),
    ("cl_list_empty_element", post(CL + b"5,\r\n", b"hello"), (200, b"hello")),
    ("cl_plus", post(CL + b"+5\r\n", b"hello"), 400),
    ("cl_minus", post(CL + b"-5\r\n", b"hello"), 400),
    ("cl_leading_zeros", post(CL + b"0005\r\n", b"hello"), (200, b"hello")),
    ("cl_hex", post(CL + b"0x5\r\n", b"hello"), 400),
    ("cl_trailing_letter", post(CL + b"5a\r\n", b"hello"), 400),
    ("cl_inner_space", post(CL + b"5 5\r\n", b"hello"), 400),
    ("cl_empty", post(CL + b"\r\n", b"hello"), 400),
    ("cl_overflow_2_64", post(CL + b"18446744073709551616\r\n", b"hello"), 400),
    ("cl_overflow_long", post(CL + b"99999999999999999999999999\r\n", b"hello"), 400),
    ("cl_space_before_colon", post(b"Content-Length : 5\r\n", b"hello"), 400),
    ("cl_obs_fold", post(b"Content-Length:\r\n 5\r\n", b"hello"), 400),
    ("cl_nul", post(CL + b"5\x00\r\n", b"hello"), 400),
    ("cl_on_get_body_is_not_a_request", b"GET /health HTTP/1.1\r\nHost: t\r\n" + CL + b"%d\r\n\r\n" % len(INNER) + INNER, (200, b"ok")),
    # -- chunk lines
    ("chunk_ext", post(CHUNKED, b"5;a=b\r\nhello\r\n0\r\n\r\n"), (200, b"hello")),
    ("chunk_ext_quoted", post(CHUNKED, b"5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n"), (200, b"hello")),
    ("chunk_ext_bws", post(CHUNKED, b"5 ;a\r\nhello\r\n0\r\n\r\n"), (200, b"hello")),
    ("chunk_ext_no_name", post(CHUNKED, b"5;\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_ext_bare_lf", post(CHUNKED, b"5;a\nb\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_ext_crlf_in_quotes", post(CHUNKED, b"5;a=\"b\r\nc\"\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_trailing_space", post(CHUNKED, b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_leading_space", post(CHUNKED, b" 5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_hex_prefix", post(CHUNKED, b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_plus", post(CHUNKED, b"+5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_minus", post(CHUNKED, b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_empty", post(CHUNKED, b"\r\nhello\r\n0\r\n\r\n"), 400),
    # at most 16 hex digits, leading zeros included: a bounded line, one reading
    ("chunk_size_16_digits", post(CHUNKED, b"0000000000000005\r\nhello\r\n0\r\n\r\n"), (200, b"hello")),
    ("chunk_size_17_digits", post(CHUNKED, b"00000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_overflow_64", post(CHUNKED, b"10000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_overflow_long", post(CHUNKED, b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_uppercase", post(CHUNKED, b"A\r\nhellohello\r\n0\r\n\r\n"), (200, b"hellohello")),
    ("chunk_data_too_long", post(CHUNKED, b"5\r\nhelloXX\r\n0\r\n\r\n"), 400),
    ("chunk_data_missing_crlf", post(CHUNKED, b"5\r\nhello0\r\n\r\n"), 400),
    ("chunk_data_bare_lf", post(CHUNKED, b"5\r\nhello\n0\r\n\r\n"), 400),
    ("chunk_data_bare_cr", post(CHUNKED, b"5\r\nhello\r0\r\n\r\n"), 400),
    ("chunk_size_bare_lf", post(CHUNKED, b"5\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_bare_cr", post(CHUNKED, b"5\rhello\r\n0\r\n\r\n"), 400),
    ("chunk_last_bare_lf", post(CHUNKED, b"5\r\nhello\r\n0\n\n"), 400),
    ("chunk_trailer_is_dropped", post(CHUNKED, b"5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"), (200, b"hello")),
    ("chunk_trailer_obs_fold", post(CHUNKED, b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"), 400),
    ("chunk_trailer_bare_lf", post(CHUNKED, b"5\r\nhello\r\n0\r\nX: a\n\r\n"), 400),
    # -- line endings
    ("request_line_bare_lf", b"POST /echo HTTP/1.1\nHost: t\r\n" + CL + b"5\r\n\r\nhello", 400),
    ("request_line_bare_cr", b"POST /echo HTTP/1.1\rHost: t\r\n" + CL + b"5\r\n\r\nhello", 400),
    ("field_bare_lf", post(b"X: a\n" + CL + b"5\r\n", b"hello"), 400),
    ("field_bare_cr", post(b"X: a\r" + CL + b"5\r\n", b"hello"), 400),
    ("final_line_bare_lf", b"POST /echo HTTP/1.1\r\nHost: t\r\n" + CL + b"5\r\n\nhello", 400),
    ("obs_fold_value", post(b"X-A: b\r\n c\r\n" + CL + b"5\r\n", b"hello"), 400),
    # -- field names
    ("name_with_space", post(b"X A: b\r\n" + CL + b"5\r\n", b"hello"), 400),
    ("name_with_high_byte", post(b"X\xffA: b\r\n" + CL + b"5\r\n", b"hello"), 400),
    ("name_high_byte_content_length", post(b"Content-Length\xff: 5\r\n", b"hello"), 400),
    ("name_empty", post(b": b\r\n" + CL + b"5\r\n", b"hello"), 400),
    ("name_with_nul", post(b"X\x00: b\r\n" + CL + b"5\r\n", b"hello"), 400),
    ("host_twice", b"GET /health HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400),
    ("host_missing", b"GET /health HTTP/1.1\r\n\r\n", 400),
    # -- targets
    ("absolute_form", b"GET http://t/health HTTP/1.1\r\nHost: t\r\n\r\n", (200, b"ok")),
    ("absolute_form_userinfo", b"GET http://u:p@t/health HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("absolute_form_user", b"GET http://evil@t/health HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("absolute_form_bad_scheme", b"GET h/p?x=1://t/health HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("target_with_space", b"GET /he alth HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("target_with_fragment", b"GET /health#x HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    # -- versions
    ("http_0_9", b"GET /health\r\n", 400),
    # (the preface itself selects h2c on a plaintext port: test_h2.py; over
    # TLS, until ALPN h2, it is still answered 505)
    ("http2_not_the_preface", b"PRI * HTTP/2.0\r\n\r\nXY\r\n\r\n", 505),
    ("http_1_10", b"GET /health HTTP/1.10\r\nHost: t\r\n\r\n", 400),
    ("http_lowercase", b"GET /health http/1.1\r\nHost: t\r\n\r\n", 400),
]


class TlsClient(Client):
    """test_rfc's validating reader over a TLS connection."""

    def __init__(self, port, timeout=5.0):
        self.sock = TlsSock(port, timeout)
        self.buf = b""
        self.eof = False

    def half_close(self):
        self.sock.half_close()


class SmugglingTest(unittest.TestCase):
    servers = {}

    @classmethod
    def setUpClass(cls):
        cls.servers = {}
        try:
            for b in BACKENDS:
                cls.servers[b] = Server(backend=b, env={"BERTH_THREADS": "1", "TLS_CERT": CERT,
                                                        "TLS_KEY": KEY})
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        bad = []
        for b, srv in cls.servers.items():
            code = srv.stop()
            if code != 0:  # e.g. a sanitizer report
                bad.append("%s exited with %r:\n%s" % (b, code, srv.stderr_text[-3000:]))
        cls.servers = {}
        if bad:
            raise AssertionError("\n".join(bad))

    def check(self, client, data, expected):
        try:
            client.send(data + CLOSE)
            r = client.read()
            self.assertIsNotNone(r, "closed without a response")
            if isinstance(expected, int):
                self.assertEqual(r.status, expected, r)
                self.assertTrue(r.close, "a refusal says Connection: close: %r" % r)
            else:
                self.assertEqual((r.status, r.body), expected, r)
                self.assertFalse(r.close, r)
                r = client.read()
                self.assertIsNotNone(r, "the request after it was not answered")
                self.assertEqual((r.status, r.body, r.close), (200, b"ok", True), r)
            # Anything more would answer a request hidden in the row.
            self.assertTrue(client.closed(), "the connection stays open")
        finally:
            client.close()

    def run_table(self, tls):
        for b in BACKENDS:
            srv = self.servers[b]
            for name, data, expected in TABLE:
                with self.subTest(backend=b, row=name):
                    c = TlsClient(srv.tls_port) if tls else Client(srv.port)
                    self.check(c, data, expected)

    def test_table_plaintext(self):
        self.run_table(tls=False)

    def test_table_tls(self):
        self.run_table(tls=True)

    def test_table_plaintext_byte_by_byte(self):
        # The same reading however the bytes arrive (reactor only: the
        # backends share the engine; this is about the engine's resumption).
        srv = self.servers[BACKENDS[0]]
        for name, data, expected in TABLE:
            with self.subTest(row=name):
                c = Client(srv.port)
                c.send(data, pieces=1, pause=0)
                self.check(c, b"", expected)


if __name__ == "__main__":
    unittest.main()
