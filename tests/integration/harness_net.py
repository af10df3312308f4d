"""
harness_net: what travels over loopback, for the origins and the clients
alike: the deterministic payload pattern (payload, check_payload), free and
listening ports (free_port, wait_port), and lenient HTTP/1.1 message parsing
(Reader, Head, Request, Response, read_chunked, read_response).

Starts nothing and so cleans up nothing; every address here is loopback.
"""

import random
import re
import socket
import urllib.parse

from harness_run import LOOPBACK, TestFailure, short, wait_for

# --------------------------------------------------------------------------
# deterministic payloads: a random block of a prime length, so a dropped or
# repeated block of any usual size shows up as a mismatch


PERIOD = 1048573
_PAT = random.Random(20261125).randbytes(PERIOD)
_PAT2 = _PAT + _PAT


def payload(n, offset=0):
    """The n bytes of the endless pattern starting at offset."""
    out = bytearray()
    while n > 0:
        o = offset % PERIOD
        k = min(n, PERIOD)
        out += _PAT2[o:o + k]
        n -= k
        offset += k
    return bytes(out)


def payload_view(offset, n):
    """A zero-copy view of at most min(n, PERIOD) pattern bytes at offset."""
    o = offset % PERIOD
    return memoryview(_PAT2)[o:o + min(n, PERIOD)]


def check_payload(data, offset=0):
    """Index of the first byte of data that differs from the pattern, or -1."""
    mv = memoryview(data)
    pos = 0
    while pos < len(data):
        k = min(len(data) - pos, PERIOD)
        if mv[pos:pos + k] != payload_view(offset + pos, k):
            exp = payload_view(offset + pos, k)
            for i in range(k):
                if mv[pos + i] != exp[i]:
                    return pos + i
        pos += k
    return -1


def free_port(host=LOOPBACK):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listening(port, host=LOOPBACK):
    """True when something listens on the TCP port (read from /proc, no connection made)."""
    want = ':%04X' % port
    for table in ('/proc/net/tcp6', '/proc/net/tcp') if ':' in host else ('/proc/net/tcp',):
        with open(table) as f:
            for ln in f:
                parts = ln.split()
                if len(parts) > 3 and parts[1].endswith(want) and parts[3] == '0A':
                    return True
    return False


def wait_port(port, proc=None, timeout=5, what='a listener', host=LOOPBACK):
    """Wait until port listens; fails early when proc (the process that should listen) exited."""
    def up():
        if proc is not None and proc.poll() is not None:
            raise TestFailure('%s exited with %s before listening on %d' % (what, proc.returncode, port))
        return listening(port, host)
    return wait_for(up, timeout, what='%s on port %d' % (what, port))


# --------------------------------------------------------------------------
# HTTP parsing helpers shared by the origin and the raw client


class Reader:
    """Buffered reads on a socket. Raises EOFError when the peer closed early."""

    def __init__(self, sock, buf=b''):
        self.sock = sock
        self.buf = bytearray(buf)

    def _fill(self, n=65536):
        d = self.sock.recv(n)
        if not d:
            raise EOFError('peer closed (had %d bytes: %s)' % (len(self.buf), short(self.buf, 120)))
        self.buf += d

    def read_until(self, sep, limit=1 << 20):
        start = 0
        while True:
            i = self.buf.find(sep, max(0, start - len(sep)))
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError('no %r within %d bytes' % (sep, limit))
            start = len(self.buf)
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill(max(65536, min(n - len(self.buf), 1 << 20)))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def skip_exact(self, n, sink=None):
        """Read n bytes without keeping them (sink(chunk) sees them)."""
        while n > 0:
            if not self.buf:
                self._fill(min(n, 1 << 20))
            k = min(n, len(self.buf))
            if sink:
                sink(bytes(self.buf[:k]))
            del self.buf[:k]
            n -= k

    def read_line(self, limit=65536):
        return self.read_until(b'\r\n', limit)

    def read_to_eof(self, limit=1 << 31):
        while True:
            try:
                d = self.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not d:
                break
            self.buf += d
            if len(self.buf) > limit:
                break
        out = bytes(self.buf)
        self.buf.clear()
        return out


class Head:
    """A parsed request or response head (lenient: the origin and client must
    be able to see what the proxy sent, even when it is wrong)."""

    def __init__(self, raw):
        self.raw = raw
        lines = raw[:-4].split(b'\r\n') if raw.endswith(b'\r\n\r\n') else raw.split(b'\r\n')
        self.start = lines[0].decode('latin-1')
        self.headers = []
        for ln in lines[1:]:
            if not ln:
                continue
            k, _, v = ln.decode('latin-1').partition(':')
            self.headers.append((k, v.strip(' \t')))
        parts = self.start.split(' ', 2)
        self.parts = parts

    def get(self, name, default=None):
        vals = self.get_all(name)
        return ', '.join(vals) if vals else default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def has(self, name):
        return bool(self.get_all(name))

    def tokens(self, name):
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(',') if t.strip()]


class Request(Head):
    def __init__(self, raw):
        super().__init__(raw)
        self.method = self.parts[0] if self.parts else ''
        self.target = self.parts[1] if len(self.parts) > 1 else ''
        self.version = self.parts[2] if len(self.parts) > 2 else ''
        u = urllib.parse.urlsplit(self.target)
        self.path = u.path
        self.query = dict(urllib.parse.parse_qsl(u.query))
        self.body = b''
        self.framing = 'none'
        self.trailers = b''
        self.conn_id = 0


class Response(Head):
    def __init__(self, raw):
        super().__init__(raw)
        self.version = self.parts[0] if self.parts else ''
        try:
            self.status = int(self.parts[1])
        except (IndexError, ValueError):
            self.status = -1
        self.reason = self.parts[2] if len(self.parts) > 2 else ''
        self.body = b''
        self.interim = []
        self.framing = 'none'
        self.trailers = b''

    def __repr__(self):
        return '<Response %s %s %s>' % (self.status, self.headers, short(self.body, 80))


def read_chunked(rd, sink=None, limit=1 << 31):
    """Decode a chunked body; returns (body, trailers). Raises ValueError on bad framing."""
    body = bytearray()
    total = 0
    while True:
        line = rd.read_line()
        size_s = line[:-2].split(b';', 1)[0].strip()
        if not size_s or not re.fullmatch(rb'[0-9a-fA-F]+', size_s):
            raise ValueError('bad chunk size line %r' % line)
        size = int(size_s, 16)
        if size == 0:
            break
        if sink:
            rd.skip_exact(size, sink)
        else:
            body += rd.read_exact(size)
        total += size
        if total > limit:
            raise ValueError('chunked body over limit')
        if rd.read_exact(2) != b'\r\n':
            raise ValueError('chunk not followed by CRLF')
    trailers = bytearray()
    while True:
        ln = rd.read_line()
        if ln == b'\r\n':
            break
        trailers += ln
    return bytes(body), bytes(trailers)


def read_response(rd, method='GET', sink=None, keep_interim=True):
    """Read one response (with any 1xx before it) from a Reader."""
    interim = []
    while True:
        raw = rd.read_until(b'\r\n\r\n', 1 << 20)
        r = Response(raw)
        if 100 <= r.status < 200 and r.status != 101:
            interim.append(r)
            continue
        break
    r.interim = interim
    te = r.tokens('transfer-encoding')
    if method == 'HEAD' or r.status in (204, 304) or 100 <= r.status < 200 or (method == 'CONNECT' and 200 <= r.status < 300):
        r.framing = 'none'
    elif te:
        r.framing = 'chunked'
        r.body, r.trailers = read_chunked(rd, sink)
    elif r.has('content-length'):
        r.framing = 'length'
        n = int(r.get_all('content-length')[0])
        if sink:
            rd.skip_exact(n, sink)
        else:
            r.body = rd.read_exact(n)
    else:
        r.framing = 'close'
        r.body = rd.read_to_eof()
        if sink:
            sink(r.body)
            r.body = b''
    return r
