"""
harness_origin: the peers breaktimed connects to, on loopback.

Starts:
  Origin      a threaded HTTP/1.1 origin on raw sockets with controllable
              endpoints (sizes, chunked, close-delimited, HEAD, 204/304,
              slow, hang, reset, echo of the head and body, 100-continue,
              1xx, websocket, malformed responses, connection ids); every
              request kept in .requests / .hits; hello=True answers 200
              "origin says hello: HOST TARGET" on every path
  TcpOrigin   a plain TCP peer for CONNECT tests (echo, source, sink,
              banner, half-close)
  TlsOrigin   `openssl s_server` with a throwaway self-signed certificate
              (make_cert)

Cleans up: each peer's stop() closes its listening socket and connections
(Origin, TcpOrigin; their threads are daemon threads) or ends s_server by
PID; the context calls stop() (Harness.tcp_origin/tls_origin defer it, the
shared origin is stopped at the end), and every tracked process is ended
at exit anyway.
"""

import base64
import hashlib
import os
import socket
import struct
import subprocess
import threading
import time

from harness_net import Reader, Request, check_payload, free_port, payload_view, read_chunked, wait_port
from harness_run import LOOPBACK, TestFailure, _end_proc, _track, clean_env

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
