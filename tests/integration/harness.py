"""
harness: the integration test kit for breaktimed (issue 2).

Starts the real daemon on an ephemeral loopback port with a temporary config
in a temporary directory, and the local peers it talks to:

  Origin      a threaded HTTP/1.1 origin on raw sockets with controllable
              endpoints (sizes, chunked, close-delimited, HEAD, 204/304,
              slow, hang, reset, echo of the head and body, 100-continue,
              1xx, websocket, malformed responses, connection ids)
  TcpOrigin   a plain TCP peer for CONNECT tests (echo, source, sink,
              banner, half-close)
  TlsOrigin   `openssl s_server` with a throwaway self-signed certificate
  DnsServer   a tiny UDP DNS server on 127.0.0.1: A/AAAA from a dict,
              NXDOMAIN for every other name (or silence, to test timeouts)

and runs the test_* functions of a test module in order (run(globals())),
skipping those listed in pending.txt, printing one line per test and a
closing "N passed, N failed, N skipped" line.

HYGIENE: every socket here binds or connects to loopback only, and every
proxy configuration names our own DNS server (dns_servers) and hosts file,
so no lookup ever reaches the machine's resolver. Processes are started
here and ended here, by PID. Temporary directories are removed at exit.

Environment:
  BREAKTIMED        path of the daemon (default: build-it/proxy/breaktimed)
  IT_PROXY          "squid" or "tinyproxy": run the tests marked @ref_ok
                    against that proxy instead (to validate the tests)
  IT_RUN_PENDING=1  also run the tests listed in pending.txt
  IT_KEEP=1         keep the temporary directory
  IT_SAN_IGNORE     regex: sanitizer report lines to ignore (local triage only)
  argv[1:]          substrings: run only tests whose name contains one
"""

import base64
import hashlib
import os
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BREAKTIMED = os.environ.get('BREAKTIMED') or os.path.join(ROOT, 'build-it', 'proxy', 'breaktimed')
REF = os.environ.get('IT_PROXY', '')
LOOPBACK = '127.0.0.1'
TEST_TIME_LIMIT = 90

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


class TestFailure(AssertionError):
    pass


class TestSkip(Exception):
    pass


class TestTimeout(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what):
    if got != want:
        raise TestFailure('%s: expected %s, got %s' % (what, short(want) if isinstance(want, bytes) else repr(want),
                                                       short(got) if isinstance(got, bytes) else repr(got)))


def wait_for(pred, timeout, step=0.05, what='condition'):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TestFailure('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(step)


def free_port(host=LOOPBACK):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def short(b, n=300):
    if isinstance(b, (bytes, bytearray)):
        b = bytes(b)
        return repr(b[:n]) + ('...(%d bytes)' % len(b) if len(b) > n else '')
    return str(b)[:n]


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


# --------------------------------------------------------------------------
# process bookkeeping: everything started here is ended here, by PID

_procs = []


def _track(p):
    _procs.append(p)
    return p


def _end_proc(p, sig=signal.SIGTERM, timeout=5):
    if p.poll() is not None:
        return p.returncode
    try:
        os.kill(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return p.wait(5)


def end_all_procs():
    for p in _procs:
        try:
            _end_proc(p, timeout=3)
        except Exception:
            pass
    _procs.clear()


def clean_env(extra=None, minimal=False):
    """The environment of the processes the kit starts: this one without proxy
    variables, LC_ALL=C. minimal: only PATH, LANG, TZ=UTC and the sanitizer
    settings (no user config at all; ASAN_OPTIONS gets verify_asan_link_order=0
    because libfaketime may be preloaded before ASan's runtime). extra: more."""
    if minimal:
        env = {'PATH': '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', 'LANG': 'C.UTF-8', 'TZ': 'UTC'}
        for k in ('UBSAN_OPTIONS', 'LSAN_OPTIONS'):
            if k in os.environ:
                env[k] = os.environ[k]
        asan = os.environ.get('ASAN_OPTIONS', '')
        env['ASAN_OPTIONS'] = (asan + ':' if asan else '') + 'verify_asan_link_order=0'
    else:
        env = {k: v for k, v in os.environ.items() if 'proxy' not in k.lower()}
        env['LC_ALL'] = 'C'
    if extra:
        env.update(extra)
    return env


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
# the HTTP origin


def _ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()


class Origin:
    """Threaded HTTP/1.1 origin on 127.0.0.1 (or ::1). Every request it gets is
    kept in .requests (a Request with .conn_id, .body, .framing); every
    connection gets an id (header X-Conn-Id), so reuse can be seen."""

    def __init__(self, host=LOOPBACK, port=0, hello=False):
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.host = host
        self.hello = hello
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests = []
        self.conn_count = 0
        self.open_conns = 0
        self.peers = []
        self.closing = False
        self.conns = set()
        self.hang_release = threading.Event()
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()

    @property
    def authority(self):
        return ('[%s]:%d' if ':' in self.host else '%s:%d') % (self.host, self.port)

    def url(self, path='/'):
        return 'http://%s%s' % (self.authority, path)

    def reset_stats(self):
        with self.lock:
            self.requests = []

    def paths(self):
        with self.lock:
            return [r.target for r in self.requests]

    @property
    def hits(self):
        """(Host, target, headers) of every request seen."""
        with self.lock:
            return [(r.get('host', ''), r.target, dict(r.headers)) for r in self.requests]

    def stop(self):
        self.closing = True
        self.hang_release.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept_loop(self):
        while not self.closing:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conn_count += 1
                cid = self.conn_count
                self.open_conns += 1
                self.peers.append(peer)
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c, cid):
        c.settimeout(30)
        rd = Reader(c)
        try:
            while not self.closing:
                try:
                    raw = rd.read_until(b'\r\n\r\n', 1 << 21)
                except (EOFError, ConnectionError, socket.timeout, ValueError, OSError):
                    return
                req = Request(raw)
                req.conn_id = cid
                with self.lock:
                    self.requests.append(req)
                keep = self._dispatch(c, rd, req)
                if not keep:
                    return
                if req.query.get('idle_close'):
                    # close this connection when idle that long (an origin's keep-alive timeout)
                    c.settimeout(float(req.query['idle_close']))
        except (ConnectionError, BrokenPipeError, socket.timeout, OSError, EOFError, ValueError):
            return
        finally:
            with self.lock:
                self.open_conns -= 1
                self.conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    # -- body and response helpers

    def _read_body(self, c, rd, req, send_continue=True):
        if send_continue and '100-continue' in req.tokens('expect'):
            c.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')
        if req.tokens('transfer-encoding'):
            req.framing = 'chunked'
            req.body, req.trailers = read_chunked(rd)
        elif req.has('content-length'):
            req.framing = 'length'
            req.body = rd.read_exact(int(req.get_all('content-length')[0]))
        return req.body

    def _send(self, c, req, status, headers, body=b'', reason=None):
        reasons = {200: 'OK', 204: 'No Content', 304: 'Not Modified', 101: 'Switching Protocols',
                   401: 'Unauthorized', 404: 'Not Found', 417: 'Expectation Failed'}
        h = ['HTTP/1.1 %d %s' % (status, reason or reasons.get(status, 'Status'))]
        h += ['%s: %s' % kv for kv in headers]
        c.sendall(('\r\n'.join(h) + '\r\n\r\n').encode('latin-1'))
        if req.method != 'HEAD' and body:
            c.sendall(body)

    def _send_payload(self, c, n, offset=0, delay=0.0, parts=1):
        sent = 0
        step = max(1, n // parts) if parts > 1 else (1 << 18)
        while sent < n:
            k = min(step, n - sent)
            while k > 0:
                mv = payload_view(offset + sent, min(k, 1 << 18))
                c.sendall(mv)
                sent += len(mv)
                k -= len(mv)
            if delay and sent < n:
                time.sleep(delay)

    def _dispatch(self, c, rd, req):
        p = req.path
        q = req.query
        cid_h = ('X-Conn-Id', str(req.conn_id))
        head_only = req.method == 'HEAD'
        wants_close = 'close' in req.tokens('connection') or (req.version == 'HTTP/1.0' and 'keep-alive' not in req.tokens('connection'))

        def ka():
            return not wants_close

        if self.hello:
            # hello=True: every path answers 200 with what it was asked for
            self._read_body(c, rd, req)
            body = ('origin says hello: %s %s\n' % (req.get('host', ''), req.target)).encode()
            self._send(c, req, 200, [('Content-Type', 'text/plain'), ('Content-Length', str(len(body))), cid_h], body)
            return ka()
        if p.startswith('/size/'):
            self._read_body(c, rd, req)
            n = int(p.split('/')[2])
            self._send(c, req, 200, [('Content-Length', str(n)), ('Content-Type', 'application/octet-stream'), cid_h])
            if not head_only:
                self._send_payload(c, n)
            return ka()
        if p.startswith('/trunc/'):
            self._read_body(c, rd, req)
            n = int(p.split('/')[2])
            self._send(c, req, 200, [('Content-Length', str(n)), cid_h])
            self._send_payload(c, n // 2)
            time.sleep(0.05)
            return False
        if p.startswith('/chunked/'):
            self._read_body(c, rd, req)
            n = int(p.split('/')[2])
            k = int(q.get('chunk', '10000'))
            hdrs = [('Transfer-Encoding', 'chunked'), cid_h]
            if q.get('trailer'):
                hdrs.append(('Trailer', 'X-Checksum'))
            self._send(c, req, 200, hdrs)
            if head_only:
                return ka()
            off = 0
            while off < n:
                m = min(k, n - off)
                c.sendall(b'%x;ext=1\r\n' % m if q.get('ext') else b'%x\r\n' % m)
                self._send_payload(c, m, off)
                c.sendall(b'\r\n')
                off += m
            c.sendall(b'0\r\nX-Checksum: abc\r\n\r\n' if q.get('trailer') else b'0\r\n\r\n')
            return ka()
        if p.startswith('/close/'):
            self._read_body(c, rd, req)
            n = int(p.split('/')[2])
            hdrs = [cid_h] + ([('Connection', 'close')] if q.get('hdr') else [])
            self._send(c, req, 200, hdrs)
            if not head_only:
                self._send_payload(c, n)
            return False
        if p.startswith('/status/'):
            self._read_body(c, rd, req)
            code = int(p.split('/')[2])
            hdrs = [cid_h]
            if code == 304:
                hdrs += [('ETag', '"abc"'), ('Content-Length', '1000')]
            self._send(c, req, code, hdrs)
            return ka()
        if p.startswith('/slow/'):
            self._read_body(c, rd, req)
            n = int(p.split('/')[2])
            parts = int(q.get('parts', '10'))
            delay = float(q.get('delay', '0.2'))
            if q.get('first'):
                time.sleep(float(q['first']))
            self._send(c, req, 200, [('Content-Length', str(n)), cid_h])
            if not head_only:
                self._send_payload(c, n, delay=delay, parts=parts)
            return ka()
        if p == '/hang':
            self._read_body(c, rd, req)
            # never answer; wait for the peer to give up (or the test to end)
            c.settimeout(1)
            end = time.monotonic() + 60
            while time.monotonic() < end and not self.hang_release.is_set():
                try:
                    if not c.recv(4096):
                        break
                except socket.timeout:
                    continue
            return False
        if p == '/reset':
            self._read_body(c, rd, req)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            return False
        if p.startswith('/echo'):
            self._read_body(c, rd, req)
            self._send(c, req, 200, [('Content-Length', str(len(req.raw))), ('Content-Type', 'text/plain'), cid_h], req.raw)
            return ka()
        if p.startswith('/body'):
            if q.get('delay'):
                time.sleep(float(q['delay']))
            self._read_body(c, rd, req)
            body = req.body
            self._send(c, req, 200, [('Content-Length', str(len(body))), ('X-Framing', req.framing),
                                     ('X-Body-Sha1', hashlib.sha1(body).hexdigest()), cid_h], body)
            return ka()
        if p == '/reject':
            # a final answer without reading the body, as an origin may do on Expect
            self._send(c, req, 401, [('Content-Length', '6'), ('Connection', 'close'), cid_h], b'denied')
            return False
        if p == '/interim':
            self._read_body(c, rd, req)
            c.sendall(b'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n')
            time.sleep(0.05)
            self._send(c, req, 200, [('Content-Length', '5'), cid_h], b'final')
            return ka()
        if p == '/conn':
            self._read_body(c, rd, req)
            body = ('conn=%d' % req.conn_id).encode()
            self._send(c, req, 200, [('Content-Length', str(len(body))), cid_h], body)
            return ka()
        if p == '/conn-close':
            self._read_body(c, rd, req)
            body = ('conn=%d' % req.conn_id).encode()
            self._send(c, req, 200, [('Content-Length', str(len(body))), ('Connection', 'close'), cid_h], body)
            return False
        if p == '/headers':
            self._read_body(c, rd, req)
            body = b'hdrs'
            self._send(c, req, 200, [('Content-Length', str(len(body))),
                                     ('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2'),
                                     ('Connection', 'X-Secret'), ('X-Secret', 'hop'),
                                     ('Keep-Alive', 'timeout=5'),
                                     ('Proxy-Authenticate', 'Basic realm="x"'),
                                     ('Upgrade', 'foo/1'),
                                     ('X-End-To-End', 'kept'), cid_h], body)
            return ka()
        if p == '/ws':
            self._read_body(c, rd, req)
            if 'websocket' not in req.tokens('upgrade') or 'upgrade' not in req.tokens('connection'):
                self._send(c, req, 400, [('Content-Length', '9')], b'no-upgrad')
                return ka()
            key = req.get('sec-websocket-key', '')
            self._send(c, req, 101, [('Upgrade', 'websocket'), ('Connection', 'Upgrade'),
                                     ('Sec-WebSocket-Accept', _ws_accept(key))])
            c.settimeout(10)
            while True:
                d = rd.buf and bytes(rd.buf) or c.recv(65536)
                rd.buf.clear()
                if not d:
                    break
                c.sendall(d)
            c.shutdown(socket.SHUT_WR)
            return False
        if p == '/bighead':
            self._read_body(c, rd, req)
            n = int(q.get('n', '60'))
            size = int(q.get('size', '1000'))
            hdrs = [('X-Big-%d' % i, 'h' * size) for i in range(n)] + [('Content-Length', '2'), cid_h]
            self._send(c, req, 200, hdrs, b'ok')
            return ka()
        if p == '/extra':
            # a response followed by bytes no request asked for (a desync attempt)
            self._read_body(c, rd, req)
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Conn-Id: %d\r\n\r\nhello'
                      b'HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Injected: 1\r\n\r\nevil' % req.conn_id)
            return ka()
        if p == '/headbody':
            # a HEAD answered with a body anyway
            self._read_body(c, rd, req)
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Conn-Id: %d\r\n\r\nbody' % req.conn_id)
            return ka()
        if p.startswith('/bad/'):
            self._read_body(c, rd, req)
            kind = p[5:]
            bad = {
                'cl-te': b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
                'dup-cl': b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
                'obs-fold': b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Folded: a\r\n b\r\n\r\nhello',
                'bare-cr': b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Cr: a\rb\r\n\r\nhello',
                'space-colon': b'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello',
                'status-line': b'HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\nhello',
                'not-http': b'SSH-2.0-OpenSSH_9.2\r\n\r\n',
                'neg-cl': b'HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello',
                # the framing field declared hop-by-hop: a proxy that obeys sends no length
                'conn-cl': b'HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello',
                'conn-te': b'HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
                'bad-chunk': b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n',
                'big-head': b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n' + b''.join(b'X-Big-%d: %s\r\n' % (i, b'v' * 1000) for i in range(80)) + b'\r\nhello',
            }[kind]
            c.sendall(bad)
            time.sleep(0.2)
            return False
        self._send(c, req, 404, [('Content-Length', '9'), cid_h], b'not found')
        return ka()


# --------------------------------------------------------------------------
# plain TCP peers for CONNECT tests


class TcpOrigin:
    """mode: echo | source:N | sink | banner | halfclose. .sessions holds one dict
    per connection: received (bytes count), eof (client FIN seen), done."""

    def __init__(self, mode='echo', host=LOOPBACK, delay=0.0, timeout=30):
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.mode = mode
        self.delay = delay
        self.timeout = timeout
        self.sessions = []
        self.lock = threading.Lock()
        self.closing = False
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _loop(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = {'received': 0, 'eof': False, 'done': False, 'head': b'', 'error': None}
            with self.lock:
                self.sessions.append(s)
            threading.Thread(target=self._serve, args=(c, s), daemon=True).start()

    def _serve(self, c, s):
        c.settimeout(self.timeout)
        try:
            m = self.mode
            if m == 'echo':
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        s['eof'] = True
                        break
                    if len(s['head']) < 256:
                        s['head'] += d[:256]
                    s['received'] += len(d)
                    c.sendall(d)
                c.sendall(b'BYE %d\n' % s['received'])
                c.shutdown(socket.SHUT_WR)
            elif m == 'banner':
                c.sendall(b'HELLO from banner\r\n')
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        s['eof'] = True
                        break
                    s['received'] += len(d)
                    c.sendall(d)
            elif m.startswith('source:'):
                n = int(m.split(':')[1])
                sent = 0
                while sent < n:
                    mv = payload_view(sent, min(n - sent, 1 << 18))
                    c.sendall(mv)
                    sent += len(mv)
                c.shutdown(socket.SHUT_WR)
                while c.recv(65536):
                    pass
                s['eof'] = True
            elif m == 'sink':
                if self.delay:
                    time.sleep(self.delay)
                bad = -1
                while True:
                    d = c.recv(1 << 20)
                    if not d:
                        s['eof'] = True
                        break
                    if bad < 0:
                        i = check_payload(d, s['received'])
                        if i >= 0:
                            bad = s['received'] + i
                    s['received'] += len(d)
                s['bad_at'] = bad
                c.sendall(b'GOT %d\n' % s['received'])
                c.shutdown(socket.SHUT_WR)
            elif m == 'halfclose':
                c.sendall(b'hello, then FIN\n')
                c.shutdown(socket.SHUT_WR)
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        s['eof'] = True
                        break
                    s['head'] += d[:256]
                    s['received'] += len(d)
        except (OSError, socket.timeout) as e:
            s['error'] = repr(e)
        finally:
            s['done'] = True
            try:
                c.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# openssl s_server as a TLS origin


def make_cert(d, cn='tls.test', names=('tls.test', 'social.test'), prefix='tls-'):
    """A throwaway self-signed EC certificate for cn, names and 127.0.0.1 in
    directory d (made once): returns (cert path, key path)."""
    key, crt = os.path.join(d, prefix + 'key.pem'), os.path.join(d, prefix + 'cert.pem')
    if not os.path.exists(crt):
        alt = ','.join(['DNS:' + n for n in names] + ['IP:127.0.0.1'])
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                        '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=' + cn,
                        '-addext', 'subjectAltName=' + alt],
                       check=True, capture_output=True, timeout=30, env=clean_env())
    return crt, key


class TlsOrigin:
    """openssl s_server on 127.0.0.1 with a fresh self-signed certificate.
    mode '-www' answers GET with a status page; '-WWW' serves files from root.
    cert: (cert, key) from make_cert (default: one for tls.test)."""

    def __init__(self, tmp, mode='-www', root=None, cert=None, naccept=100000):
        self.tmp = tmp
        self.cert, self.key = cert or make_cert(tmp)
        last = None
        for _ in range(5):
            self.port = free_port()
            self.log = open(os.path.join(tmp, 's_server-%d.log' % self.port), 'wb')
            self.proc = _track(subprocess.Popen(
                ['openssl', 's_server', '-accept', '%s:%d' % (LOOPBACK, self.port), '-cert', self.cert,
                 '-key', self.key, mode, '-naccept', str(naccept)],
                cwd=root or tmp, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=clean_env()))
            try:
                wait_port(self.port, self.proc, 5, 'openssl s_server')
                return
            except TestFailure as e:
                last = TestFailure('%s: %s' % (e, open(self.log.name, 'rb').read()[-500:]))
                _end_proc(self.proc)
                self.log.close()
        raise last

    def stop(self):
        _end_proc(self.proc)
        self.log.close()


# --------------------------------------------------------------------------
# a tiny DNS server on loopback UDP


class DnsServer:
    """Answers A/AAAA for names in .records ({name: [addr, ...]}), NXDOMAIN for
    the rest; names in .silent get no answer at all. Counts queries."""

    def __init__(self, records=None, silent=()):
        self.records = {k.lower().rstrip('.'): v for k, v in (records or {}).items()}
        self.silent = set(silent)
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self):
        self.closing = True
        self.sock.close()

    def names(self):
        return [q[0] for q in self.queries]

    def _loop(self):
        while not self.closing:
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                resp = self._answer(pkt)
            except Exception:
                resp = None
            if resp:
                try:
                    self.sock.sendto(resp, peer)
                except OSError:
                    pass

    def _answer(self, pkt):
        qid, flags, qd, an, ns, ar = struct.unpack('!HHHHHH', pkt[:12])
        pos = 12
        labels = []
        while True:
            ln = pkt[pos]
            pos += 1
            if ln == 0:
                break
            labels.append(pkt[pos:pos + ln].decode('latin-1'))
            pos += ln
        qtype, qclass = struct.unpack('!HH', pkt[pos:pos + 4])
        question = pkt[12:pos + 4]
        name = '.'.join(labels).lower()
        self.queries.append((name, qtype))
        if name in self.silent:
            return None
        rd = flags & 0x0100
        answers = []
        rcode = 3
        if name in self.records:
            rcode = 0
            for addr in self.records[name]:
                if qtype == 1 and ':' not in addr:
                    answers.append(struct.pack('!HHHIH', 0xC00C, 1, 1, 5, 4) + socket.inet_pton(socket.AF_INET, addr))
                elif qtype == 28 and ':' in addr:
                    answers.append(struct.pack('!HHHIH', 0xC00C, 28, 1, 5, 16) + socket.inet_pton(socket.AF_INET6, addr))
        hdr = struct.pack('!HHHHHH', qid, 0x8000 | 0x0080 | rd | rcode, 1, len(answers), 0, 0)
        return hdr + question + b''.join(answers)


# --------------------------------------------------------------------------
# the proxy under test


def proc_fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def proc_status(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for ln in f:
            if ln.startswith(key + ':'):
                return int(ln.split()[1])
    return 0


def proc_rss_kb(pid):
    return proc_status(pid, 'VmRSS')


def proc_sanitized(pid):
    """True when the process runs with AddressSanitizer (its RSS says little then)."""
    try:
        with open('/proc/%d/maps' % pid) as f:
            return 'libasan' in f.read()
    except OSError:
        return False


def proc_cpu_s(pid):
    with open('/proc/%d/stat' % pid) as f:
        parts = f.read().rsplit(')', 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf('SC_CLK_TCK')


def parse_record(line):
    m = re.search(r'record (.*)$', line)
    if not m:
        return None
    rec = {}
    for tok in m.group(1).split():
        k, _, v = tok.partition('=')
        rec[k] = v
    return rec


def store_rows(db, sql='SELECT * FROM events ORDER BY id', args=(), timeout=5):
    """Rows of a store as dicts (read-only; fine while the daemon runs, WAL)."""
    c = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=timeout)
    try:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute(sql, args)]
    finally:
        c.close()


class Breaktimed:
    """breaktimed with a temporary config in its own directory, started with
    clean_env() and ended by PID. conf: {key: value} for [proxy] (None removes
    a default: h.default_conf()), store: {key: value} for [store], extra_conf:
    text after them (other sections). env(): the daemon's environment."""

    kind = 'breaktimed'
    db_name = 'store.db'
    conf_origin = 'tests/integration/harness.py'

    def __init__(self, h, conf=None, store=None, args=('-v', '-d'), name=None, raw_conf=None, nofile=None,
                 extra_conf=''):
        self.h = h
        self.name = name or 'bt%d' % h.next_id()
        self.dir = os.path.join(h.tmp, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf_path = os.path.join(self.dir, 'breaktime.conf')
        self.log_path = os.path.join(self.dir, 'stderr.log')
        self.args = list(args)
        self.conf = h.default_conf()
        self.conf.update(conf or {})
        self.store = {'database': os.path.join(self.dir, self.db_name)}
        self.store.update(store or {})
        self.db = self.store['database']
        self.extra_conf = extra_conf
        self.raw_conf = raw_conf
        self.nofile = nofile
        self.proc = None
        self.listeners = []
        self.expected_exit = False
        self.write_conf()

    def conf_text(self, conf=None, store=None):
        if self.raw_conf is not None:
            return self.raw_conf
        conf = conf if conf is not None else self.conf
        store = store if store is not None else self.store
        out = ['# written by ' + self.conf_origin, '[proxy]']
        out += ['%s = %s' % (k, v) for k, v in conf.items() if v is not None]
        out += ['', '[store]']
        out += ['%s = %s' % (k, v) for k, v in store.items() if v is not None]
        return '\n'.join(out) + '\n' + self.extra_conf

    def env(self):
        return clean_env()

    def preexec(self):
        """What the child runs before exec (None: nothing): limits (nofile)."""
        if not self.nofile:
            return None
        import resource
        lim = self.nofile

        def pre():
            resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
        return pre

    def write_conf(self, text=None):
        with open(self.conf_path + '.tmp', 'w') as f:
            f.write(text if text is not None else self.conf_text())
        os.replace(self.conf_path + '.tmp', self.conf_path)

    def start(self, timeout=10):
        if not os.path.exists(BREAKTIMED):
            raise TestFailure('no breaktimed binary at %s (set BREAKTIMED)' % BREAKTIMED)
        self.logf = open(self.log_path, 'ab')
        self.log_start = self.logf.tell()
        self.proc = _track(subprocess.Popen([BREAKTIMED, '-c', self.conf_path] + self.args,
                                            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
                                            cwd=self.dir, env=self.env(), preexec_fn=self.preexec()))
        self.h.register(self)
        end = time.monotonic() + timeout
        while True:
            text = self.log()[self.log_start:]
            if re.search(r'^<\d>ready\b', text, re.M):
                break
            if self.proc.poll() is not None:
                raise TestFailure('breaktimed exited with %s before ready:\n%s' % (self.proc.returncode, text[-3000:]))
            if time.monotonic() > end:
                raise TestFailure('breaktimed not ready within %ds:\n%s' % (timeout, text[-3000:]))
            time.sleep(0.02)
        self.listeners = []
        self.tls_listeners = []
        for m in re.finditer(r'listening on (\S+)( \(HTTPS proxy\))?', text):
            a = m.group(1)
            if a.startswith('['):
                host, port = a[1:].rsplit(']:', 1)
            else:
                host, port = a.rsplit(':', 1)
            (self.tls_listeners if m.group(2) else self.listeners).append((host, int(port)))
        if not self.listeners:
            raise TestFailure('breaktimed logged no "listening on" line:\n' + text[-2000:])
        return self

    @property
    def pid(self):
        return self.proc.pid

    @property
    def port(self):
        return self.listeners[0][1] if self.listeners else None

    @property
    def tls_port(self):
        """The port of the first HTTPS proxy listener (None without one)."""
        return self.tls_listeners[0][1] if self.tls_listeners else None

    @property
    def host(self):
        return self.listeners[0][0]

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def log_lines(self):
        return self.log().splitlines()

    def records(self):
        return [r for r in (parse_record(ln) for ln in self.log_lines()) if r]

    def wait_record(self, pred, timeout=5, what='record'):
        def find():
            for r in self.records():
                if pred(r):
                    return r
            return None
        try:
            return wait_for(find, timeout, what=what)
        except TestFailure:
            raise TestFailure('no %s within %ss; records:\n%s' % (what, timeout, '\n'.join(
                ln for ln in self.log_lines() if 'record ' in ln)[-3000:]))

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def rows(self, sql='SELECT * FROM events ORDER BY id', args=()):
        return store_rows(self.db, sql, args)

    def events(self, **where):
        """Rows of the events table whose columns equal where."""
        return [r for r in self.rows() if all(r.get(k) == v for k, v in where.items())]

    def wait_event(self, timeout=5, **where):
        def find():
            try:
                return self.events(**where)
            except sqlite3.Error:
                return None
        try:
            return wait_for(find, timeout, step=0.1, what='store row %r' % where)
        except TestFailure:
            raise TestFailure('no events row with %r within %ss; rows:\n%s' % (
                where, timeout, '\n'.join(map(str, self.rows()))[-4000:]))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return None
        self.expected_exit = True
        rc = _end_proc(self.proc, sig, timeout)
        self.logf.close()
        return rc

    def wait_exit(self, timeout):
        self.expected_exit = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def fds(self):
        return proc_fds(self.pid)

    def rss_kb(self):
        return proc_rss_kb(self.pid)

    def cpu_s(self):
        return proc_cpu_s(self.pid)

    def sanitized(self):
        return proc_sanitized(self.pid)


def check_config(text, name='check.conf'):
    """Run breaktimed -t on a config text; returns (exit code, stderr text, path)."""
    d = os.path.join(H.tmp, 'check%d' % H.next_id())
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, 'w') as f:
        f.write(text)
    p = subprocess.run([BREAKTIMED, '-t', '-c', path], capture_output=True, timeout=20, env=clean_env(), cwd=d)
    return p.returncode, p.stderr.decode('utf-8', 'replace') + p.stdout.decode('utf-8', 'replace'), path


class RefProxy:
    """squid or tinyproxy with a temporary config, to validate the tests
    themselves (IT_PROXY=squid|tinyproxy). Only @ref_ok tests run on it."""

    def __init__(self, h, conf=None, **_):
        self.h = h
        self.kind = REF
        self.dir = os.path.join(h.tmp, 'ref%d' % h.next_id())
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(h.tmp, 0o755)
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.host = LOOPBACK
        self.listeners = [(LOOPBACK, self.port)]
        self.log_path = os.path.join(self.dir, 'stderr.log')
        self.expected_exit = False
        conf = conf or {}
        ports = str(conf.get('connect_ports', '443')).replace(',', ' ').split()
        if REF == 'squid':
            hosts = os.path.join(self.dir, 'hosts')
            shutil.copy(h.hosts_file, hosts)
            os.chmod(hosts, 0o644)
            self.conf_path = os.path.join(self.dir, 'squid.conf')
            with open(self.conf_path, 'w') as f:
                f.write('\n'.join([
                    'http_port %s:%d' % (LOOPBACK, self.port),
                    'acl SSL_ports port %s' % ' '.join(ports),
                    'acl CONNECT method CONNECT',
                    'http_access deny CONNECT !SSL_ports',
                    'http_access allow all',
                    'cache deny all', 'cache_mem 8 MB',
                    'hosts_file %s' % hosts,
                    'dns_nameservers 127.0.0.1',
                    'pid_filename %s/squid.pid' % self.dir,
                    'cache_log %s/cache.log' % self.dir,
                    'access_log stdio:%s/access.log' % self.dir,
                    'coredump_dir %s' % self.dir,
                    'visible_hostname bt-test',
                    'shutdown_lifetime 1 seconds',
                    'read_timeout 3 seconds', 'request_timeout 2 seconds',
                    'client_idle_pconn_timeout 3 seconds',
                    'forward_timeout 3 seconds', 'connect_timeout 2 seconds',
                    'server_idle_pconn_timeout 1 second',
                ]) + '\n')
            self.cmd = ['squid', '-N', '-f', self.conf_path]
        else:
            self.conf_path = os.path.join(self.dir, 'tinyproxy.conf')
            with open(self.conf_path, 'w') as f:
                f.write('\n'.join([
                    'Port %d' % self.port, 'Listen 127.0.0.1', 'Timeout 3', 'MaxClients 100',
                    'Allow 127.0.0.1', 'LogLevel Info', 'ViaProxyName "bt-test"',
                ] + ['ConnectPort %s' % p for p in ports]) + '\n')
            self.cmd = ['tinyproxy', '-d', '-c', self.conf_path]

    def start(self, timeout=15):
        self.logf = open(self.log_path, 'ab')
        self.proc = _track(subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                            stderr=self.logf, cwd=self.dir, env=clean_env()))
        self.h.register(self)

        try:
            wait_port(self.port, self.proc, timeout, REF)
        except TestFailure as e:
            raise TestFailure('%s: %s' % (e, open(self.log_path).read()[-2000:]))
        return self

    pid = property(lambda self: self.proc.pid)
    alive = Breaktimed.alive
    log = Breaktimed.log
    log_lines = Breaktimed.log_lines

    def records(self):
        return []

    fds = Breaktimed.fds
    rss_kb = Breaktimed.rss_kb
    cpu_s = Breaktimed.cpu_s
    sanitized = Breaktimed.sanitized

    def stop(self, sig=signal.SIGTERM, timeout=15):
        self.expected_exit = True
        rc = _end_proc(self.proc, sig, timeout)
        self.logf.close()
        return rc


# --------------------------------------------------------------------------
# clients


class CurlResult:
    def __init__(self, rc, stdout, stderr, elapsed, body, headers):
        self.rc = rc
        self.out = stdout
        self.err = stderr
        self.elapsed = elapsed
        self.body = body
        self.raw_headers = headers
        blocks = [b for b in headers.split(b'\r\n\r\n') if b.strip()]
        self.responses = [Response(b + b'\r\n\r\n') for b in blocks]
        final = [r for r in self.responses if r.status >= 200 or r.status == 101]
        self.head = final[-1] if final else None
        w = stdout.decode('latin-1', 'replace').strip().split()
        self.code = int(w[0]) if w and w[0].isdigit() else 0
        self.connect_code = int(w[1]) if len(w) > 1 and w[1].isdigit() else 0
        self.num_connects = int(w[2]) if len(w) > 2 and w[2].isdigit() else -1

    def __repr__(self):
        return '<curl rc=%s code=%s %.2fs body=%s err=%s>' % (self.rc, self.code, self.elapsed, short(self.body, 100),
                                                         self.err.decode('latin-1', 'replace')[-300:])


_seq = [0]


def curl(proxy, *args, timeout=20, proxy_url=None, tmp=None, stdin=None, env=None):
    """Run curl through the proxy (none: proxy None and no proxy_url), with
    env (default clean_env()). Returns a CurlResult (rc, code, body, head)."""
    _seq[0] += 1
    tmp = tmp or H.tmp
    bodyf = os.path.join(tmp, 'curl-%d.body' % _seq[0])
    hdrf = os.path.join(tmp, 'curl-%d.hdr' % _seq[0])
    px = proxy_url or ('http://%s:%d' % (proxy.host, proxy.port) if proxy else None)
    cmd = ['curl', '-q', '-sS', '--max-time', str(timeout), '-o', bodyf, '-D', hdrf,
           '-w', '%{http_code} %{http_connect} %{num_connects}\\n']
    if px:
        cmd += ['-x', px]
    cmd += list(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, timeout=timeout + 10, env=env or clean_env(), input=stdin)
    el = time.monotonic() - t0
    body = open(bodyf, 'rb').read() if os.path.exists(bodyf) else b''
    hdr = open(hdrf, 'rb').read() if os.path.exists(hdrf) else b''
    for f in (bodyf, hdrf):
        if os.path.exists(f):
            os.unlink(f)
    return CurlResult(p.returncode, p.stdout, p.stderr, el, body, hdr)


class Raw:
    """A raw client socket to the proxy (or anything on loopback)."""

    def __init__(self, port, host=LOOPBACK, src=None, timeout=5):
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if src:
            self.sock.bind((src, 0))
        self.sock.connect((host, port))
        self.rd = Reader(self.sock)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('latin-1')
        self.sock.sendall(data)
        return self

    def response(self, method='GET', sink=None):
        return read_response(self.rd, method, sink)

    def read_some(self, timeout=2):
        self.sock.settimeout(timeout)
        if self.rd.buf:
            d = bytes(self.rd.buf)
            self.rd.buf.clear()
            return d
        return self.sock.recv(65536)

    def read_exact(self, n):
        return self.rd.read_exact(n)

    def read_all(self, timeout=5):
        self.sock.settimeout(timeout)
        return self.rd.read_to_eof()

    def closed_within(self, timeout):
        """True if the peer closes (EOF or reset) within timeout; data read meanwhile is kept in .rd.buf."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not d:
                return True
            self.rd.buf += d

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_get(origin, path, extra='', version='HTTP/1.1', method='GET'):
    return ('%s %s %s\r\nHost: %s\r\n%s\r\n' % (method, origin.url(path), version, origin.authority, extra)).encode()


# --------------------------------------------------------------------------
# the per-module context and the runner


class Harness:
    """The per-module context: a temporary directory, the peers, the daemons of
    one test (per_test, stopped and checked at its end) and the shared ones."""

    tmp_prefix = 'bt-it-'
    keep_env = 'IT_KEEP'

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix=self.tmp_prefix)
        self._id = 0
        self._shared = None
        self.per_test = []
        self.cleanups = []
        self.make_peers()

    def make_peers(self):
        self.dns = DnsServer({'origin.test': [LOOPBACK], 'dns-only.test': [LOOPBACK],
                              'v6.test': ['::1'], 'v6dns.test': ['::1'], 'dual.test': [LOOPBACK, '::1'],
                              'tls.test': [LOOPBACK]}, silent={'silent.test'})
        self.origin = Origin()
        self.hosts_file = os.path.join(self.tmp, 'hosts')
        with open(self.hosts_file, 'w') as f:
            f.write('127.0.0.1 origin.test tls.test social.test hosts-only.test\n'
                    '::1 v6.test\n')

    def next_id(self):
        self._id += 1
        return self._id

    def default_conf(self):
        return {
            'listen': '127.0.0.1:0',
            'workers': '2',
            'allow_loopback_upstream': 'yes',
            'dns_servers': '127.0.0.1:%d' % self.dns.port,
            'hosts_file': self.hosts_file,
            'visible_hostname': 'bt-test',
            'header_timeout': '2s',
            'idle_timeout': '5s',
            'upstream_timeout': '3s',
            'connect_timeout': '2s',
            'sni_timeout': '1s',
            'dns_timeout': '1s',
            'shutdown_grace': '3s',
            'tunnel_idle_timeout': '10s',
        }

    def register(self, p):
        self.per_test.append(p)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, 'w') as f:
            f.write(text)
        return p

    def shared_procs(self):
        """The daemons kept across tests (checked after each test, stopped at the end)."""
        return [self._shared] if self._shared is not None else []

    def proxy(self, conf=None, start=True, **kw):
        """A proxy for this test only (stopped at its end)."""
        cls = RefProxy if REF else Breaktimed
        p = cls(self, conf=conf, **kw)
        p.shared = False
        if start:
            p.start()
        return p

    @property
    def p(self):
        """The shared proxy with the default config (restarted if it died)."""
        if self._shared is None or not self._shared.alive():
            cls = RefProxy if REF else Breaktimed
            self._shared = cls(self, name='shared%d' % self.next_id()) if cls is Breaktimed else cls(self)
            self._shared.shared = True
            self._shared.start()
            self.per_test = [x for x in self.per_test if x is not self._shared]
        return self._shared

    def defer(self, fn):
        self.cleanups.append(fn)

    def tcp_origin(self, mode='echo', **kw):
        o = TcpOrigin(mode, **kw)
        self.defer(o.stop)
        return o

    def tls_origin(self, mode='-www', root=None):
        o = TlsOrigin(self.tmp, mode, root)
        self.defer(o.stop)
        return o

    def end_test(self):
        """Stop per-test things; return a problem string if a proxy died or sanitizers spoke."""
        problems = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                problems.append('cleanup: %r' % e)
        self.cleanups = []
        for p in self.per_test:
            problems += self._check_proc(p, stop=True)
        for p in self.shared_procs():
            problems += self._check_proc(p, stop=False)
        self.per_test = []
        if self._shared is not None and not self._shared.alive():
            self._shared = None
        self.origin.hang_release.set()
        self.origin.hang_release = threading.Event()
        return '\n'.join(problems)

    def _check_proc(self, p, stop):
        """Problems with one proxy: died unexpectedly, a sanitizer report, or
        (when stop is set) a non-zero exit after SIGTERM (leaks reported at exit)."""
        problems = []
        if p.proc is None:
            return problems
        name = getattr(p, 'name', p.kind)
        if p.proc.poll() is not None and not p.expected_exit:
            problems.append('%s %s died with %s:\n%s' % (p.kind, name, p.proc.returncode, p.log()[-3000:]))
        elif stop and p.alive():
            rc = p.stop()
            if rc != 0 and p.kind == 'breaktimed':
                problems.append('%s %s exited with %s after SIGTERM:\n%s' % (p.kind, name, rc, p.log()[-2000:]))
        san = sanitizer_reports(p)
        if san:
            problems += san
            # AddressSanitizer ends the process after its report: let it finish
            if 'AddressSanitizer' in san[0] and p.alive():
                p.wait_exit(5)
        return problems

    def close(self):
        """Stop everything; returns problems seen when the shared proxy stopped."""
        problems = []
        for p in self.per_test + self.shared_procs():
            try:
                problems += self._check_proc(p, stop=True)
            except Exception as e:
                problems.append('stopping %s: %r' % (getattr(p, 'name', p.kind), e))
        end_all_procs()
        self.stop_peers()
        if os.environ.get(self.keep_env):
            print('kept', self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def stop_peers(self):
        self.origin.stop()
        self.dns.stop()


H = None


SAN_IGNORE = os.environ.get('IT_SAN_IGNORE')


def sanitizer_reports(p):
    """Sanitizer reports in the part of a proxy's log not looked at before."""
    if p.proc is None:
        return []
    text = p.log()
    start = getattr(p, 'san_scanned', 0)
    p.san_scanned = len(text)
    out = []
    for m in re.finditer(r'^.*(AddressSanitizer|LeakSanitizer|runtime error:).*$', text[start:], re.M):
        if SAN_IGNORE and re.search(SAN_IGNORE, m.group(0)):
            continue
        i = start + m.start()
        out.append('%s in the log of %s:\n%s' % (m.group(1), getattr(p, 'name', p.kind), text[i:i + 2500]))
        break
    return out


def ref_ok(fn):
    """Mark a test as meaningful against squid/tinyproxy too (for validating it)."""
    fn.ref_ok = True
    return fn


def binary_sanitized(path=None):
    """True when the daemon binary was built with -fsanitize (address or undefined)."""
    try:
        with open(path or BREAKTIMED, 'rb') as f:
            data = f.read()
    except OSError:
        return False
    return b'__asan_init' in data or b'__ubsan_handle' in data


def load_pending(path=os.path.join(HERE, 'pending.txt')):
    """pending.txt: `test_file::test_name reason`, or `[sanitizer] test_file::test_name reason`
    for a failure that only a sanitizer build shows (skipped only there)."""
    out = {}
    sanitized = None
    if os.path.exists(path):
        for ln in open(path):
            ln = ln.strip()
            if not ln or ln.startswith('#'):
                continue
            if ln.startswith('[sanitizer]'):
                if sanitized is None:
                    sanitized = binary_sanitized()
                if not sanitized:
                    continue
                ln = ln[len('[sanitizer]'):].strip()
            tid, _, reason = ln.partition(' ')
            out[tid] = reason.strip()
    return out


def _alarm(signum, frame):
    raise TestTimeout('test took longer than %ds' % TEST_TIME_LIMIT)


def run(glb, context=Harness, pending_file=None, run_pending_env='IT_RUN_PENDING', all_skipped_rc=0, ref=None):
    """Run the test_* functions of a module in definition order, each with the
    module's context (context(): a Harness); exit 0, 1 (a failure) or, when
    every test was skipped, all_skipped_rc. ref: IT_PROXY by default."""
    global H
    ref = REF if ref is None else ref
    mod = os.path.splitext(os.path.basename(glb['__file__']))[0]
    tests = [(n, f) for n, f in glb.items() if n.startswith('test_') and callable(f)]
    tests.sort(key=lambda nf: nf[1].__code__.co_firstlineno)
    filters = sys.argv[1:]
    if filters:
        tests = [(n, f) for n, f in tests if any(x in n for x in filters)]
    pending = load_pending(pending_file) if pending_file else load_pending()
    run_pending = os.environ.get(run_pending_env) == '1'
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    passed = failed = skipped = 0
    failures = []
    print('# %s against %s' % (mod, ref or BREAKTIMED), flush=True)
    H = context()
    try:
        for name, fn in tests:
            tid = '%s::%s' % (mod, name)
            if ref and not getattr(fn, 'ref_ok', False):
                continue
            if tid in pending and not run_pending and not ref:
                skipped += 1
                print('SKIP %s (pending: %s)' % (tid, pending[tid]), flush=True)
                continue
            t0 = time.monotonic()
            err = None
            signal.alarm(TEST_TIME_LIMIT)
            try:
                fn(H)
            except TestSkip as e:
                err = 'skip'
                msg = str(e)
            except Exception as e:
                err = 'fail'
                where = ' <- '.join('%s:%d' % (os.path.basename(fr.filename), fr.lineno)
                                    for fr in reversed(traceback.extract_tb(e.__traceback__)[1:]))
                msg = '%s%s\n  at %s' % ('' if isinstance(e, TestFailure) else type(e).__name__ + ': ', e, where)
            finally:
                signal.alarm(0)
            problem = H.end_test()
            if problem and err != 'fail':
                err = 'fail'
                msg = problem
            elif problem:
                msg += '\n' + problem
            dt = time.monotonic() - t0
            if err is None:
                passed += 1
                print('ok   %s (%.2fs)' % (tid, dt), flush=True)
            elif err == 'skip':
                skipped += 1
                print('SKIP %s (%s)' % (tid, msg), flush=True)
            else:
                failed += 1
                failures.append(tid)
                print('FAIL %s (%.2fs)\n     %s' % (tid, dt, msg.replace('\n', '\n     ')), flush=True)
    finally:
        problems = H.close()
    if problems:
        failed += 1
        failures.append('%s::<shared proxy at exit>' % mod)
        print('FAIL %s::<shared proxy at exit>\n     %s' % (mod, '\n'.join(problems).replace('\n', '\n     ')), flush=True)
    if failures:
        print('failed: ' + ' '.join(failures))
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped), flush=True)
    sys.exit(1 if failed else (all_skipped_rc if skipped and not passed else 0))
