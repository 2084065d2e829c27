"""Raw-socket IMAP for tests: exact bytes out, literal-aware reads in.

imaplib hides what the tests need to see (continuations, untagged lines,
the moment a line arrives), so the scenarios that check protocol behaviour
use this.  Standard library only.

    c = Conn.open("localhost", port, tls="implicit" | "starttls" | "plain",
                  ca=CA_FILE)
    c.send(b"a1 NOOP\\r\\n")
    lines = c.until_tagged(b"a1")      # list of response lines (bytes)
    c.login("alice", "alicepw")

Every read has a timeout; a timeout raises Timeout, EOF raises Closed, so a
hang is always reported as a hang and never blocks the suite.
"""
import select
import socket
import ssl
import time


class Timeout(Exception):
    pass


class Closed(Exception):
    pass


def tls_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class Conn:
    def __init__(self, sock, host, ca, timeout=10.0):
        self.sock = sock
        self.host = host
        self.ca = ca
        self.timeout = timeout
        self.buf = bytearray()
        self.greeting = None

    @classmethod
    def open(cls, host, port, tls="implicit", ca=None, timeout=10.0,
             source=None):
        sock = socket.create_connection(
            ("127.0.0.1" if host == "localhost" else host, port),
            timeout=timeout,
            source_address=(source, 0) if source else None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = cls(sock, host, ca, timeout)
        if tls == "implicit":
            c.sock = tls_context(ca).wrap_socket(sock, server_hostname=host)
        c.greeting = c.line()
        if tls == "starttls":
            c.starttls()
        return c

    def starttls(self, tag=b"S1"):
        self.send(tag + b" STARTTLS\r\n")
        lines = self.until_tagged(tag)
        if not lines[-1].startswith(tag + b" OK"):
            raise AssertionError("STARTTLS refused: %r" % lines[-1])
        if self.buf:
            raise AssertionError("bytes after STARTTLS OK before TLS: %r"
                                 % bytes(self.buf))
        self.sock = tls_context(self.ca).wrap_socket(
            self.sock, server_hostname=self.host)

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        # SSL sockets may hold decrypted bytes select() cannot see
        pending = getattr(self.sock, "pending", lambda: 0)()
        if not pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no data within %.1fs (have %r)"
                              % (self.timeout, self.buf[:200]))
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                raise Timeout("no data within %.1fs (have %r)"
                              % (self.timeout, bytes(self.buf[:200])))
        try:
            data = self.sock.recv(262144)
        except (ConnectionResetError, ssl.SSLError, OSError) as e:
            raise Closed("connection error: %s" % e)
        if not data:
            raise Closed("EOF (have %r)" % bytes(self.buf[:200]))
        self.buf += data

    def line(self, timeout=None):
        """One response line without CRLF; literals are included whole."""
        deadline = time.monotonic() + (timeout or self.timeout)
        out = bytearray()
        start = 0
        while True:
            i = self.buf.find(b"\r\n", start)
            while i < 0:
                start = max(0, len(self.buf) - 1)
                self._fill(deadline)
                i = self.buf.find(b"\r\n", start)
            chunk = bytes(self.buf[:i])
            del self.buf[:i + 2]
            start = 0
            out += chunk
            n = literal_len(chunk)
            if n is None:
                return bytes(out)
            while len(self.buf) < n:
                self._fill(deadline)
            out += b"\r\n"
            out += self.buf[:n]
            del self.buf[:n]

    def until_tagged(self, tag, timeout=None):
        lines = []
        while True:
            ln = self.line(timeout)
            lines.append(ln)
            if ln.startswith(tag + b" "):
                return lines

    def cmd(self, tag, text, timeout=None):
        self.send(tag + b" " + text + b"\r\n")
        return self.until_tagged(tag, timeout)

    def login(self, user, pw, tag=b"L1"):
        lines = self.cmd(tag, b"LOGIN " + quote(user) + b" " + quote(pw))
        if not lines[-1].startswith(tag + b" OK"):
            raise AssertionError("LOGIN failed: %r" % lines[-1])
        return lines

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def quote(s):
    if isinstance(s, str):
        s = s.encode()
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal_len(line):
    """n if the line ends with a literal announcement {n} / {n+} / ~{n}."""
    if not line.endswith(b"}"):
        return None
    i = line.rfind(b"{")
    if i < 0:
        return None
    digits = line[i + 1:-1].rstrip(b"+-")
    return int(digits) if digits.isdigit() else None
