"""HTTP/2 frames made by hand for the attack tests (test_h2_attacks.py):
frame and HPACK encoding, a raw connection that reads frames (the server's
header blocks decoded with Python's hpack), the server's RSS."""
import select
import socket
import ssl
import struct
import time

try:
    import hpack
except ImportError:  # the tests skip without Python's h2 (and its hpack)
    hpack = None

from berthproc import CA

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, SETTINGS_TIMEOUT, ENHANCE_YOUR_CALM = 0, 1, 2, 4, 11
def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_int(value, prefix_bits, first=0):
    """RFC 7541 5.1."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_str(s):
    return hpack_int(len(s), 7) + s


# :method GET, :scheme http, :path / (static table), :authority literal
def request_block(method=b"GET", path=b"/counted"):
    m = b"\x82" if method == b"GET" else b"\x83"
    return (m + b"\x86" + b"\x04" + hpack_str(path) + b"\x01" + hpack_str(b"localhost"))


class Raw:
    """An HTTP/2 connection of raw frames: the preface, our SETTINGS, the
    server's SETTINGS ACKed (unless ack_settings is False)."""

    def __init__(self, srv, tls=False, ack_settings=True):
        port = srv.tls_port if tls else srv.port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            ctx = ssl.create_default_context(cafile=CA)
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
            assert self.sock.selected_alpn_protocol() == "h2"
        self.buf = b""
        self.frames = []
        self.closed = False
        self.server_settings = None
        self.hpack = hpack.Decoder()
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        while self.server_settings is None:
            f = self.next_frame(10)
            assert f is not None, "no SETTINGS from the server"
            if f[0] == SETTINGS and not f[1] & ACK:
                self.server_settings = {struct.unpack(">H", f[3][i:i + 2])[0]:
                                        struct.unpack(">I", f[3][i + 2:i + 6])[0]
                                        for i in range(0, len(f[3]), 6)}
        if ack_settings:
            self.send(frame(SETTINGS, ACK, 0))

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data, within=10):
        """Sends data while reading what comes; False if the server closed
        the connection first."""
        self.sock.setblocking(False)
        deadline = time.monotonic() + within
        try:
            view = memoryview(data)
            while view and time.monotonic() < deadline:
                r, w, _ = select.select([self.sock], [self.sock], [], 0.5)
                if r and not self.read_available():
                    return False
                if w:
                    try:
                        n = self.sock.send(view[:65536])
                    except ssl.SSLWantWriteError:
                        continue
                    view = view[n:]
            return not view
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True
            return False
        finally:
            self.sock.setblocking(True)
            self.sock.settimeout(10)

    def read_available(self):
        """Reads what is there (non-blocking socket); False at the end."""
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, ssl.SSLWantReadError):
            return True
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        self.parse()
        return True

    def parse(self):
        while len(self.buf) >= 9:
            n = struct.unpack(">I", b"\0" + self.buf[:3])[0]
            if len(self.buf) < 9 + n:
                break
            ftype, flags = self.buf[3], self.buf[4]
            sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff
            payload = self.buf[9:9 + n]
            if ftype == HEADERS:  # the server's: END_HEADERS, no padding
                payload = dict(self.hpack.decode(payload, raw=True))
            self.frames.append((ftype, flags, sid, payload))
            self.buf = self.buf[9 + n:]

    def next_frame(self, within):
        deadline = time.monotonic() + within
        while not self.frames:
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                return None
            self.buf += data
            self.parse()
        return self.frames.pop(0)

    def until_closed(self, within):
        """Reads until the server closes: (GOAWAY's (last id, code) or None,
        seconds it took, the frames read). Fails past `within` s."""
        t0 = time.monotonic()
        goaway, seen = None, []
        while True:
            f = self.next_frame(within - (time.monotonic() - t0))
            if f is None:
                break
            seen.append(f)
            if f[0] == GOAWAY:
                goaway = struct.unpack(">II", f[3][:8])
                goaway = (goaway[0] & 0x7fffffff, goaway[1])
        took = time.monotonic() - t0
        assert self.closed, "the connection was still open after %.1f s" % took
        return goaway, took, seen

    def close(self):
        self.sock.close()


def serves(test, srv, tls=False):
    """A new connection is served (a request answered 200)."""
    c = Raw(srv, tls=tls)
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block()))
    while True:
        f = c.next_frame(10)
        test.assertIsNotNone(f, "no answer on a new connection after the attack")
        if f[0] == HEADERS and f[2] == 1:
            test.assertEqual(f[3][b":status"], b"200")
            break
    c.close()
