"""
harness_clients: the clients the tests drive the proxy with.

Starts:
  curl()      the real curl, through a proxy or none, in clean_env() (or
              env=); returns a CurlResult (rc, code, head, body, elapsed)
  Raw         a raw client socket (to send exactly the bytes a test wants
              and read the answer with harness_net's parser)
  http_get()  an absolute-form request head for an Origin

Cleans up: curl's body and header files are removed after each call (they
live in the context's temporary directory); a Raw socket is the test's to
close (close()), and is closed at exit anyway.
"""

import os
import socket
import subprocess
import time

from harness_net import Reader, Response, read_response
from harness_run import LOOPBACK, clean_env, current, short

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
    tmp = tmp or current().tmp
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
