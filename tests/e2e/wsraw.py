"""A raw WebSocket client (test_ws.py, test_topics.py): a socket of our own,
to send what real clients never do and to read frame by frame."""
import base64
import hashlib
import os
import socket
import struct

from berthproc import TlsSock


def mask_bytes(payload, key):
    """payload XOR the 4-byte key repeated: as one integer, which stays
    quick for a message of megabytes."""
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


class RawWs:
    """A WebSocket client on a socket of our own, to send what real clients
    never do."""

    def __init__(self, srv, tls=False, path=b"/ws", extensions=None, port=None, timeout=10):
        """extensions: one Sec-WebSocket-Extensions value (bytes), or a
        sequence of them, one header line each."""
        if tls:
            self.sock = TlsSock(port or srv.tls_port, timeout=timeout)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port or srv.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        if isinstance(extensions, bytes):
            extensions = [extensions]
        ext = b"".join(b"Sec-WebSocket-Extensions: " + e + b"\r\n" for e in extensions or ())
        self.sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          b"\r\nSec-WebSocket-Version: 13\r\n" + ext + b"\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode("latin-1")
        want = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                .digest()).decode()
        assert self.head.startswith("HTTP/1.1 101 "), self.head
        assert "Sec-WebSocket-Accept: " + want in self.head, self.head

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        self.sock.sendall(self.frame(opcode, payload, fin, mask, rsv, length))

    @staticmethod
    def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | rsv | opcode
        m = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, m | n)
        elif n <= 0xFFFF:
            head = struct.pack("!BBH", b0, m | 126, n)
        else:
            head = struct.pack("!BBQ", b0, m | 127, n)
        if mask:
            key = os.urandom(4)
            payload = mask_bytes(payload, key)
            head += key
        return head + payload

    def recv_frame(self):
        """(opcode, payload) of the server's next frame; its RSV bits in
        last_rsv."""
        fin, self.last_rsv, op, payload = self.recv_frame_bits()
        return op, payload

    def recv_frame_bits(self):
        """(fin, RSV bits, opcode, payload) of the server's next frame."""
        while len(self.buf) < 2:
            self._fill()
        b0, b1 = self.buf[0], self.buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill()
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        assert not b1 & 0x80, "server frames are not masked"
        while len(self.buf) < at + n:
            self._fill()
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, payload  # RSV1: compressed (permessage-deflate)

    def close_code(self):
        """Reads frames until the server's close; its code."""
        while True:
            op, payload = self.recv_frame()
            if op == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def ends(self):
        """True if the server then ends the connection (EOF)."""
        try:
            while True:
                self._fill()
        except EOFError:
            return True
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()
