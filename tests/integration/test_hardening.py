#!/usr/bin/env python3
"""Hardening of the proxy against its own clients and origins (the hardening
issue), each case against the real daemon over loopback:

  * differential smuggling: a counting origin parses, strictly and by
    itself, every upstream connection the proxy opens and counts the
    requests in it. For every request shape of the head-parser tables
    (tests/unit/test_http_head.c), of the fuzzer's seed corpus
    (tests/data/fuzz/fuzz_http_request/) and for the Connection-names-a-
    framing-field attacks, sent on one client connection followed by a
    normal request: the requests the origin parsed == the responses the
    client got from the origin == the proxy's records of forwarded
    requests; requests answered by the proxy itself never reach the
    origin; no /SMUGGLED request line ever does. The response side too: an
    origin answering with Connection: content-length (or
    transfer-encoding) gets the client a correctly framed response or a
    502 and a close, and victims on other connections never get someone
    else's response (upstream pooling).
  * floods of requests the proxy answers itself (407, its own 404,
    /metrics, a block page) from a client that never reads, and an origin
    sending endless 1xx: the daemon's RSS stays bounded and comes back.
  * refused clients (allow_clients): closed promptly after their 403 (or
    when they send nothing), a legitimate client served meanwhile, the log
    not one line each.
  * conformance: Proxy-Authorization without [auth] is forwarded (not
    407) and not relayed; bare-LF heads get 400 at once.

Run: BREAKTIMED=build/proxy/breaktimed python3 tests/integration/test_hardening.py [name...]
"""

import glob
import os
import re
import select
import socket
import subprocess
import threading
import time

from harness import (ROOT, LOOPBACK, Raw, Reader, Response, TestSkip, check, clean_env, eq,
                     read_chunked, run, short, wait_for)

MB = 1 << 20
UNIT_TABLE = os.path.join(ROOT, 'tests', 'unit', 'test_http_head.c')
SEEDS = os.path.join(ROOT, 'tests', 'data', 'fuzz', 'fuzz_http_request')
PLATFORMS = os.path.join(ROOT, 'config', 'platforms.list')

# a flood is stopped when the daemon's RSS passes this (the machine is shared)
FLOOD_RSS_STOP_KB = 512 * 1024
FLOOD_SECONDS = 5.0
FLOOD_MAX_BYTES = 256 * MB
RSS_CEILING_KB = 48 * 1024      # allowed growth while flooded
RSS_RETURN_KB = 16 * 1024       # allowed growth once the flooder left

SMUGGLED = b'GET /SMUGGLED HTTP/1.1\r\nHost: www.instagram.com\r\n\r\n'

# the body an attacking origin hides behind a framing header it declared
# hop-by-hop: it looks like a response for a victim that never asked for it
FAKE_INNER = b'seen GET /victim/FAKE\n'
FAKE_RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s' % (len(FAKE_INNER), FAKE_INNER)


# --------------------------------------------------------------------------
# the counting origin

TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
REQ_LINE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e\x80-\xff]+) HTTP/1\.([01])$")
FIELD_VALUE = re.compile(rb'^[\t\x20-\x7e\x80-\xff]*$')


class OriginParseError(Exception):
    pass


def parse_strict(raw):
    """A request head as an origin server must parse it (RFC 9112): the request
    line, field lines name ':' value, the framing (chunked, length or none);
    returns (method, target, minor, headers) or raises OriginParseError."""
    lines = raw[:-4].split(b'\r\n')
    m = REQ_LINE.match(lines[0])
    if not m:
        raise OriginParseError('request line %r' % lines[0][:200])
    headers = []
    for ln in lines[1:]:
        name, colon, value = ln.partition(b':')
        if not colon or not TOKEN.match(name) or b'\r' in ln or b'\n' in ln:
            raise OriginParseError('field line %r' % ln[:200])
        value = value.strip(b' \t')
        if not FIELD_VALUE.match(value):
            raise OriginParseError('field value %r' % ln[:200])
        headers.append((name.decode('latin-1').lower(), value.decode('latin-1')))
    return m.group(1).decode(), m.group(2).decode('latin-1'), int(m.group(3)), headers


def framing(headers):
    te = [t.strip().lower() for k, v in headers if k == 'transfer-encoding' for t in v.split(',')]
    cl = [v for k, v in headers if k == 'content-length']
    if te and cl:
        raise OriginParseError('Transfer-Encoding and Content-Length')
    if te:
        if te[-1] != 'chunked':
            raise OriginParseError('Transfer-Encoding %r' % te)
        return 'chunked', 0
    if cl:
        if len(cl) != 1 or not re.fullmatch(r'[0-9]{1,15}', cl[0]):
            raise OriginParseError('Content-Length %r' % cl)
        return 'length', int(cl[0])
    return 'none', 0


class CountingOrigin:
    """A raw-socket HTTP/1.1 origin on 127.0.0.1 that parses each connection
    strictly and counts the requests it parsed (.parsed, .per_conn, .targets).
    Every answer is 200 with X-Counting-Origin: CONN/N and the body
    `seen METHOD TARGET`, except for the attack paths:

      /resp/conn-cl       Connection: content-length + Content-Length + body
      /resp/conn-te       Connection: transfer-encoding + a chunked body
      /resp/conn-mixed    Connection: Keep-Alive, CONTENT-LENGTH + body
      /interim-flood      103 Early Hints (4 KB each) without end, no final
                          answer until the flood is stopped (.stop_flood)
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.parsed = 0
        self.per_conn = {}
        self.targets = []
        self.errors = []
        self.conns = 0
        self.closing = False
        self.flood_stop = threading.Event()
        self.flood_sent = 0
        self.socks = set()
        self.resp_cases = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def authority(self):
        return 'origin.test:%d' % self.port

    def url(self, path):
        return 'http://%s%s' % (self.authority, path)

    def stop(self):
        self.closing = True
        self.flood_stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.socks)
        for c in socks:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def smuggled(self):
        with self.lock:
            return [x for x in self.targets if 'SMUGGLED' in x.upper()]

    def _accept_loop(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                cid = self.conns
                self.per_conn[cid] = 0
                self.socks.add(c)
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c, cid):
        c.settimeout(20)
        rd = Reader(c)
        try:
            while not self.closing:
                try:
                    raw = rd.read_until(b'\r\n\r\n', 64 * 1024)
                except EOFError:
                    if rd.buf.strip(b'\r\n'):
                        with self.lock:
                            self.errors.append('conn %d: %d bytes that are no request head: %s'
                                               % (cid, len(rd.buf), short(bytes(rd.buf), 120)))
                    return
                except ValueError:
                    with self.lock:
                        self.errors.append('conn %d: no head end within 64 KB' % cid)
                    return
                try:
                    method, target, minor, headers = parse_strict(raw)
                    kind, n = framing(headers)
                except OriginParseError as e:
                    with self.lock:
                        self.errors.append('conn %d: %s' % (cid, e))
                    return
                with self.lock:
                    self.parsed += 1
                    self.per_conn[cid] += 1
                    k = self.per_conn[cid]
                    self.targets.append(target)
                tokens = [t.strip().lower() for hk, v in headers if hk == 'connection' for t in v.split(',')]
                if any(hk == 'expect' and v.lower() == '100-continue' for hk, v in headers):
                    c.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')
                if kind == 'chunked':
                    read_chunked(rd)
                elif kind == 'length':
                    rd.read_exact(n)
                keep = 'close' not in tokens and (minor == 1 or 'keep-alive' in tokens)
                if not self._answer(c, cid, k, method, target, keep):
                    return
                if not keep:
                    return
        except (OSError, EOFError, ValueError):
            return
        finally:
            with self.lock:
                self.socks.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def _answer(self, c, cid, k, method, target, keep):
        path = target.split('?', 1)[0]
        if '://' in path:
            path = '/' + path.split('://', 1)[1].partition('/')[2]
        tag = b'X-Counting-Origin: %d/%d\r\n' % (cid, k)
        close = b'' if keep else b'Connection: close\r\n'
        if path == '/resp/conn-cl':
            c.sendall(b'HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: %d\r\n%s%s\r\n%s'
                      % (len(FAKE_RESPONSE), tag, close, FAKE_RESPONSE))
            return True
        if path == '/resp/conn-mixed':
            c.sendall(b'HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CONTENT-LENGTH\r\nContent-Length: %d\r\n%s%s\r\n%s'
                      % (len(FAKE_RESPONSE), tag, close, FAKE_RESPONSE))
            return True
        if path == '/resp/conn-te':
            c.sendall(b'HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n%s%s\r\n'
                      b'%x\r\n%s\r\n0\r\n\r\n' % (tag, close, len(FAKE_RESPONSE), FAKE_RESPONSE))
            return True
        if path == '/interim-flood':
            return self._interim_flood(c, tag)
        if path.startswith('/resp-case/'):
            # one response shape of the unit table, its body, then the close
            c.sendall(self.resp_cases[int(path.split('/')[2])])
            time.sleep(0.1)
            return False
        body = ('seen %s %s\n' % (method, target)).encode('latin-1')
        if method == 'HEAD':
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n%s%s\r\n' % (tag, close))
        else:
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s%s\r\n%s' % (len(body), tag, close, body))
        return True

    def _interim_flood(self, c, tag):
        hint = b'HTTP/1.1 103 Early Hints\r\nLink: </%s>; rel=preload\r\n\r\n' % (b'h' * 4000)
        blob = hint * 16
        c.setblocking(False)
        end = time.monotonic() + 30
        try:
            while not self.flood_stop.is_set() and time.monotonic() < end:
                _, w, _ = select.select([], [c], [], 0.05)
                if not w:
                    continue
                try:
                    self.flood_sent += c.send(blob)
                except BlockingIOError:
                    continue
        except OSError:
            return False
        finally:
            c.setblocking(True)
            c.settimeout(2)
        try:
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n%s\r\ndone' % tag)
        except OSError:
            return False
        return False


# --------------------------------------------------------------------------
# request shapes: the unit test's table and the fuzzer's seeds, aimed at the origin


def c_string(s, i):
    """Decode the C string literal starting at s[i] == '"'; returns (bytes, index after it)."""
    eq(s[i], '"', 's[i]')
    i += 1
    out = bytearray()
    simple = {'r': 13, 'n': 10, 't': 9, '\\': 92, '"': 34, "'": 39, 'v': 11, 'f': 12, 'a': 7, 'b': 8, '?': 63}
    while s[i] != '"':
        ch = s[i]
        if ch != '\\':
            out += ch.encode('utf-8')
            i += 1
            continue
        e = s[i + 1]
        if e == 'x':
            j = i + 2
            while j < len(s) and s[j] in '0123456789abcdefABCDEF':
                j += 1
            out.append(int(s[i + 2:j], 16) & 0xff)
            i = j
        elif e in '01234567':
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in '01234567':
                j += 1
            out.append(int(s[i + 1:j], 8) & 0xff)
            i = j
        else:
            out.append(simple[e])
            i += 2
    return bytes(out), i + 1


def unit_table(table):
    """[(raw, the rest of the entry)] of one case table of tests/unit/test_http_head.c."""
    src = open(UNIT_TABLE, encoding='utf-8').read()
    start = src.index('static const struct %s %ss[] = {' % (table, table))
    end = src.index('\n};', start)
    region = src[start:end]
    out = []
    pos = 0
    while True:
        i = region.find('{R(', pos)
        if i < 0:
            break
        j = i + 3
        raw = b''
        while True:
            while region[j] in ' \t\n':
                j += 1
            if region[j] == '"':
                part, j = c_string(region, j)
                raw += part
            else:
                break
        nxt = region.find('{R(', j)
        out.append((raw, region[j:nxt if nxt >= 0 else len(region)]))
        pos = j
    return out


def unit_request_cases():
    """[(name, raw, status)] from req_cases[] of tests/unit/test_http_head.c
    (status 0: the parser accepts it; None: no expectation)."""
    out = []
    for raw, tail in unit_table('req_case'):
        m = re.match(r'\)\s*,\s*(\d{3})', tail)
        status = int(m.group(1)) if m else 0
        if '.max_uri' in tail:
            status = 0      # 414 only with the case's tiny max_uri; the proxy's is 8k
        elif status and 0 <= raw.find(b'\r\n\r\n') < len(raw) - 4:
            status = None   # refused as one buffer; on a connection it is a pipeline
        out.append(('unit%03d' % len(out), raw, status))
    return out


def seed_cases():
    return [(os.path.basename(f)[:-4], open(f, 'rb').read(), None)
            for f in sorted(glob.glob(os.path.join(SEEDS, '*.txt')))]


def _authority(auth, origin):
    """auth (bytes) replaced by the origin's when it is a usable authority;
    an invalid one is kept, so that the case stays what it was."""
    if not auth or b'@' in auth or b'%' in auth or b' ' in auth:
        return auth
    if auth.startswith(b'['):
        host, _, rest = auth[1:].partition(b']')
        if not rest:
            port = None
        elif rest.startswith(b':'):
            port = rest[1:]
        else:
            return auth
    else:
        if auth.count(b':') > 1:
            return auth
        host, colon, port = auth.partition(b':')
        port = port if colon else None
    if not host or b'..' in host:
        return auth
    if port is not None and (not port.isdigit() or not 1 <= int(port) <= 65535):
        return auth
    return origin.authority.encode()


def retarget(raw, origin):
    """Aim a request (its absolute-form targets, CONNECT authority and Host)
    at the counting origin."""
    raw = re.sub(rb'(?i)(http://)([^/\s?#]*)', lambda m: m.group(1) + _authority(m.group(2), origin), raw)
    raw = re.sub(rb'(?m)^(CONNECT )([^\s/]+)( )', lambda m: m.group(1) + _authority(m.group(2), origin) + m.group(3), raw)
    raw = re.sub(rb'(?i)(\nhost:[ \t]*)([^\r\n \t]+)', lambda m: m.group(1) + _authority(m.group(2), origin), raw)
    # the tables test the parser alone; the proxy also wants Host in an
    # HTTP/1.1 request (400 otherwise), so that the case gets as far as it can
    m = re.match(rb'^((?:\r\n)*[^\r\n ]+ (?i:http)://[^\r\n ]* HTTP/1\.1\r\n)', raw)
    if m and not re.search(rb'(?i)\nhost:', raw):
        raw = m.group(1) + b'Host: ' + origin.authority.encode() + b'\r\n' + raw[m.end():]
    return raw


def complete_body(raw):
    """The bytes to append so that an accepted head has its body (None: too large to send)."""
    i = raw.find(b'\r\n\r\n')
    if i < 0:
        return b''
    head, rest = raw[:i], raw[i + 4:]
    names = {}
    for ln in head.split(b'\r\n')[1:]:
        k, _, v = ln.partition(b':')
        names.setdefault(k.strip().lower(), []).append(v.strip(b' \t').lower())
    if any(b'chunked' in v for v in names.get(b'transfer-encoding', [])):
        return b'' if rest else b'5\r\nhello\r\n0\r\n\r\n'
    cl = names.get(b'content-length')
    if cl and cl[0].isdigit():
        need = int(cl[0]) - len(rest)
        if need > 4096:
            return None
        return b'x' * max(0, need)
    return b''


# --------------------------------------------------------------------------
# the differential check


def normal_request(origin, case):
    return ('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (origin.url('/normal?case=' + case), origin.authority)).encode()


def exchange(port, data, marker, timeout=6):
    """Send data on one connection, read responses until one whose body has
    marker, EOF or a framing error. Returns (responses, how it ended)."""
    c = Raw(port, timeout=timeout)
    out = []
    ended = 'marker'
    try:
        c.send(data)
        while True:
            try:
                r = c.response()
            except EOFError:
                ended = 'eof'
                break
            except (ConnectionError, BrokenPipeError):
                ended = 'reset'
                break
            except socket.timeout:
                ended = 'timeout'
                break
            except ValueError as e:
                ended = 'bad framing: %s' % e
                break
            out.append(r)
            if marker in r.body:
                break
    except (ConnectionError, BrokenPipeError):
        ended = 'reset'
    finally:
        c.close()
    return out, ended


class Differential:
    def __init__(self, t, **conf):
        self.origin = CountingOrigin()
        t.defer(self.origin.stop)
        c = {'pool_idle_timeout': '5s', 'max_connections_per_client': '1000'}
        c.update(conf)
        self.p = t.proxy(c)
        self.forwarded = 0
        self.local = 0
        self.problems = []

    def case(self, name, raw, expect_status=None):
        o = self.origin
        body = complete_body(raw) if expect_status in (0, None) else b''
        if body is None:
            return 'skipped'
        marker = b'/normal?case=' + name.encode()
        before = o.parsed
        before_targets = len(o.targets)
        resps, ended = exchange(self.p.port, raw + body + normal_request(o, name), marker)
        time.sleep(0.05)
        parsed = o.parsed - before
        fwd = [r for r in resps if r.has('x-counting-origin')]
        loc = [r for r in resps if not r.has('x-counting-origin')]
        self.forwarded += len(fwd)
        self.local += len(loc)
        what = '%s %s' % (name, short(raw, 160))
        if parsed != len(fwd):
            self.problems.append('%s: the origin parsed %d requests, the client got %d answers from it '
                                 '(origin saw %s; client got %s)' % (
                                     what, parsed, len(fwd), o.targets[before_targets:],
                                     [(r.status, short(r.body, 60)) for r in resps]))
        for r in loc:
            if r.status < 400 and r.status != 200:
                self.problems.append('%s: a local answer %d' % (what, r.status))
        # each answer from the origin must be for a request this client sent
        for r in fwd:
            if b'/victim/' in r.body or b'SMUGGLED' in r.body.upper():
                self.problems.append('%s: the client got an answer to a request it never made: %s'
                                     % (what, short(r.body)))
        if ended == 'timeout':
            self.problems.append('%s: no answer and the connection not closed within 6 s (got %s)'
                                 % (what, [r.status for r in resps]))
        if expect_status and any(r.status == 200 and r.has('x-counting-origin') and marker not in r.body
                                 for r in resps):
            self.problems.append('%s: the unit table refuses it (%d) but it reached the origin' % (what, expect_status))
        return ended

    def finish(self):
        o = self.origin
        if o.smuggled():
            self.problems.append('request lines with /SMUGGLED reached the origin: %s' % o.smuggled())
        if o.errors:
            self.problems.append('the origin could not parse what the proxy sent: %s' % o.errors[:5])
        port = str(o.port)

        def fwd_records():
            return [r for r in self.p.records() if r.get('port') == port and r.get('status') == '200']
        try:
            wait_for(lambda: len(fwd_records()) >= self.forwarded, 5, what='the records')
        except Exception:
            pass
        time.sleep(0.2)
        n = len(fwd_records())
        if n != self.forwarded or n != o.parsed:
            self.problems.append('records of forwarded requests: %d, answers from the origin: %d, '
                                 'requests the origin parsed: %d' % (n, self.forwarded, o.parsed))
        check(not self.problems, '%d problems:\n%s' % (len(self.problems), '\n'.join(self.problems[:25])))


def test_differential_unit_table_accepted(t):
    d = Differential(t)
    n = 0
    for name, raw, status in unit_request_cases():
        if status == 0:
            d.case(name, retarget(raw, d.origin), 0)
            n += 1
    check(n >= 30, 'only %d accepted cases read from %s' % (n, UNIT_TABLE))
    check(d.forwarded >= 20, 'only %d requests forwarded: the cases do not reach the origin' % d.forwarded)
    d.finish()


def test_differential_unit_table_refused(t):
    d = Differential(t)
    n = 0
    for name, raw, status in unit_request_cases():
        if status != 0:
            d.case(name, retarget(raw, d.origin), status)
            n += 1
    check(n >= 100, 'only %d refused cases read from %s' % (n, UNIT_TABLE))
    d.finish()


def test_differential_fuzz_seeds(t):
    d = Differential(t)
    seeds = seed_cases()
    check(len(seeds) >= 10, 'only %d seeds in %s' % (len(seeds), SEEDS))
    for name, raw, _ in seeds:
        d.case(name, retarget(raw, d.origin))
    d.finish()


def smuggle_cases(o):
    post = 'POST %s HTTP/1.1\r\nHost: %s\r\n' % (o.url('/allowed'), o.authority)
    chunked = b'%x\r\n%s\r\n0\r\n\r\n' % (len(SMUGGLED), SMUGGLED)
    return [
        ('conn-content-length', (post + 'Connection: Content-Length\r\nContent-Length: %d\r\n\r\n'
                                 % len(SMUGGLED)).encode() + SMUGGLED),
        ('conn-transfer-encoding', (post + 'Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n')
         .encode() + chunked),
        ('conn-close-content-length', (post + 'Connection: close, content-length\r\nContent-Length: %d\r\n\r\n'
                                       % len(SMUGGLED)).encode() + SMUGGLED),
        ('conn-mixed-case', (post + 'Connection: keep-alive, CONTENT-length\r\nContent-Length: %d\r\n\r\n'
                             % len(SMUGGLED)).encode() + SMUGGLED),
        ('conn-te-mixed-case', (post + 'Connection: Keep-Alive, transfer-ENCODING\r\nTransfer-Encoding: chunked\r\n\r\n')
         .encode() + chunked),
        ('conn-content-length-first', (post + 'Content-Length: %d\r\nConnection: content-length\r\n\r\n'
                                       % len(SMUGGLED)).encode() + SMUGGLED),
    ]


def test_smuggle_connection_names_framing(t):
    # Connection: Content-Length (or Transfer-Encoding) makes the framing field
    # hop-by-hop: a proxy that drops it but still sends the body lets the body
    # (GET /SMUGGLED) become a request of its own at the origin
    d = Differential(t)
    for name, raw in smuggle_cases(d.origin):
        d.case(name, raw)
    d.finish()


def read_one(c, method='GET'):
    """One response head and what its framing says about the body:
    (Response, framing in 'length'/'chunked'/'none'/'unframed')."""
    r = Response(c.rd.read_until(b'\r\n\r\n'))
    while 100 <= r.status < 200:
        r = Response(c.rd.read_until(b'\r\n\r\n'))
    if method == 'HEAD' or r.status in (204, 304):
        return r, 'none'
    if 'chunked' in r.tokens('transfer-encoding'):
        r.body, _ = read_chunked(c.rd)
        return r, 'chunked'
    if r.has('content-length'):
        r.body = c.rd.read_exact(int(r.get_all('content-length')[0]))
        return r, 'length'
    return r, 'unframed'


def response_side_check(port, o, path, tag, body=FAKE_RESPONSE):
    """A keep-alive request for an attack path, then a normal one on the same
    connection. Returns a problem string or None."""
    c = Raw(port, timeout=5)
    try:
        c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.url(path + '?' + tag), o.authority)).encode())
        r, fr = read_one(c)
        if r.status == 502:
            if not c.closed_within(2):
                return '%s: 502 but the connection stays open' % path
            return None
        if body is not None and r.status != 200:
            return '%s: status %d' % (path, r.status)
        if fr == 'unframed':
            if 'close' not in r.tokens('connection'):
                return '%s: a response without a length on a kept-alive connection: %s' % (path, short(r.raw))
            if not c.closed_within(2):
                return '%s: Connection: close without a length but the connection stays open' % path
            return None
        if body is not None and r.body != body:
            return '%s: body %s, the origin sent %s' % (path, short(r.body), short(body))
        if 'close' in r.tokens('connection'):
            return None
        c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.url('/after?' + tag), o.authority)).encode())
        r2, _ = read_one(c)
        want = ('/after?' + tag).encode()
        if r2.status != 200 or want not in r2.body:
            return '%s: the next response on the connection is %d %s, not the answer to %s' % (
                path, r2.status, short(r2.body), want)
        return None
    except socket.timeout:
        return '%s: timed out reading (data: %s)' % (path, short(bytes(c.rd.buf)))
    except (EOFError, ConnectionError) as e:
        return '%s: connection ended early: %s' % (path, e)
    finally:
        c.close()


def test_response_connection_names_framing(t):
    # an origin answering with Connection: content-length (or
    # transfer-encoding): a correctly framed answer or a 502 and a close,
    # never a response without a length on a kept-alive connection
    d = Differential(t)
    problems = []
    for i, path in enumerate(['/resp/conn-cl', '/resp/conn-te', '/resp/conn-mixed'] * 2):
        p = response_side_check(d.p.port, d.origin, path, 'n%d' % i)
        if p:
            problems.append(p)
    check(not problems, '\n'.join(problems))


def unit_response_cases():
    """[(name, bytes the origin sends)] from resp_cases[] of the unit table:
    each head with a body after it as its own framing fields say (the
    parser's view), for the refused ones a fake response hidden behind it.
    Left out: the cases for a HEAD request and the 101 (they need another
    request), and the ones that end without a head."""
    out = []
    for i, (raw, tail) in enumerate(unit_table('resp_case')):
        name = 'resp%02d' % i
        if '.head = true' in tail or '.upgrade' in tail or not raw.endswith(b'\r\n\r\n'):
            continue
        refused = re.match(r'\)\s*,\s*-1', tail)
        m = re.search(r'\.status = (\d+)', tail)
        status = int(m.group(1)) if m else 0
        if refused:
            body = FAKE_RESPONSE
        elif 100 <= status < 200:
            body = b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'
        elif status in (204, 304):
            body = b''
        elif 'HTTP_BODY_CHUNKED' in tail:
            body = b'%x\r\n%s\r\n0\r\n\r\n' % (len(FAKE_RESPONSE), FAKE_RESPONSE)
        elif 'HTTP_BODY_LENGTH' in tail:
            n = int(re.search(r'\.cl = (\d+)', tail).group(1)) if '.cl =' in tail else 0
            body = (FAKE_RESPONSE * (n // len(FAKE_RESPONSE) + 1))[:n]
        else:
            body = FAKE_RESPONSE        # close-delimited
        out.append((name, raw + body))
    return out


def test_differential_unit_response_table(t):
    # every response shape of the unit table from the origin: the client gets
    # a response framed so that the next one on its connection is the answer
    # to its next request, or a 502 (or an unframed response) and the close
    d = Differential(t)
    cases = unit_response_cases()
    check(len(cases) >= 30, 'only %d response cases read from %s' % (len(cases), UNIT_TABLE))
    d.origin.resp_cases = [raw for _, raw in cases]
    problems = []
    for i, (name, raw) in enumerate(cases):
        p = response_side_check(d.p.port, d.origin, '/resp-case/%d' % i, name, body=None)
        if p:
            problems.append('%s %s: %s' % (name, short(raw, 100), p))
    check(not problems, '%d problems:\n%s' % (len(problems), '\n'.join(problems)))


def test_victims_never_get_others_responses(t):
    # 40 victims on their own connections, interleaved with attackers (both
    # directions) towards the same origin, so pooled upstream connections
    # are shared: every victim gets the answer to its own request
    d = Differential(t)
    o = d.origin
    attacks = [raw for _, raw in smuggle_cases(o)]
    for path in ('/resp/conn-cl', '/resp/conn-te', '/resp/conn-mixed'):
        attacks.append(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.url(path), o.authority)).encode())
    wrong = []
    for i in range(40):
        a = attacks[i % len(attacks)]
        c = Raw(d.p.port, timeout=3)
        try:
            c.send(a)
            c.closed_within(0.15)
        except OSError:
            pass
        c.close()
        want = '/victim/%d' % i
        v = Raw(d.p.port, timeout=5)
        try:
            v.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.url(want), o.authority)).encode())
            r, fr = read_one(v)
            if r.status != 200 or ('seen GET %s\n' % o.url(want)).encode() not in r.body and \
                    ('seen GET %s\n' % want).encode() not in r.body:
                wrong.append('%s got %d %s' % (want, r.status, short(r.body, 100)))
        except (socket.timeout, EOFError, ConnectionError, ValueError) as e:
            wrong.append('%s: %r' % (want, e))
        finally:
            v.close()
    check(not wrong, '%d of 40 victims got a wrong answer:\n%s' % (len(wrong), '\n'.join(wrong[:10])))
    eq(o.smuggled(), [], 'request lines with /SMUGGLED at the origin')


# --------------------------------------------------------------------------
# floods of requests the proxy answers itself, from a client that never reads


def need_plain_rss(p):
    if p.sanitized():
        raise TestSkip('AddressSanitizer keeps freed memory in quarantine: RSS says little here')


def flood(p, data, seconds=FLOOD_SECONDS, max_bytes=FLOOD_MAX_BYTES, src=None):
    """Pipeline data over and over on one connection without reading, for at
    most seconds and max_bytes, stopping early when the daemon's RSS passes
    FLOOD_RSS_STOP_KB. Returns (socket, bytes sent, peak RSS in KiB)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    if src:
        s.bind((src, 0))
    s.connect((LOOPBACK, p.port))
    s.setblocking(False)
    blob = data * max(1, (256 * 1024) // len(data))
    sent = 0
    peak = p.rss_kb()
    end = time.monotonic() + seconds
    next_look = 0.0
    while time.monotonic() < end and sent < max_bytes:
        now = time.monotonic()
        if now >= next_look:
            rss = p.rss_kb()
            peak = max(peak, rss)
            if rss > FLOOD_RSS_STOP_KB:
                break
            next_look = now + 0.05
        _, w, _ = select.select([], [s], [], 0.05)
        if not w:
            continue
        try:
            sent += s.send(blob)
        except BlockingIOError:
            continue
        except (ConnectionError, BrokenPipeError):
            break
    peak = max(peak, p.rss_kb())
    return s, sent, peak


def settle_rss(p, limit_kb, timeout=5):
    end = time.monotonic() + timeout
    rss = p.rss_kb()
    while rss > limit_kb and time.monotonic() < end:
        time.sleep(0.1)
        rss = p.rss_kb()
    return rss


def flood_check(t, p, data, what, warm=None):
    need_plain_rss(p)
    c = Raw(p.port, timeout=5)
    c.send(warm or data)
    r, _ = read_one(c)
    c.close()
    time.sleep(0.3)
    base = p.rss_kb()
    s, sent, peak = flood(p, data)
    s.close()
    after = settle_rss(p, base + RSS_RETURN_KB)
    msg = '%s: RSS %d KB before, peak %d KB while %d MB of requests were sent, %d KB once the client left (waited up to 5 s)' % (
        what, base, peak, sent // MB, after)
    print('     ' + msg, flush=True)
    check(peak <= base + RSS_CEILING_KB, msg + ' (ceiling: +%d KB)' % RSS_CEILING_KB)
    check(after <= base + RSS_RETURN_KB, msg + ' (back within +%d KB)' % RSS_RETURN_KB)
    # still serving
    c = Raw(p.port, timeout=5)
    c.send(warm or data)
    r2, _ = read_one(c)
    eq(r2.status, r.status, '%s: the status after the flood' % what)
    c.close()
    return r


def htpasswd(t):
    path = t.path('users.htpasswd')
    if not os.path.exists(path):
        h = subprocess.run(['openssl', 'passwd', '-5', 'Flood-pw-1'], capture_output=True, check=True,
                           env=clean_env()).stdout.decode().strip()
        t.write('users.htpasswd', 'alice:%s\n' % h)
    return path


def test_flood_407_unread(t):
    p = t.proxy(extra_conf='\n[auth]\nrequired = yes\nhtpasswd = %s\n' % htpasswd(t))
    req = ('GET http://origin.test:%d/x HTTP/1.1\r\nHost: origin.test\r\n\r\n' % t.origin.port).encode()
    r = flood_check(t, p, req, '407 challenge')
    eq(r.status, 407, 'status without credentials')


def test_flood_own_404_unread(t):
    p = t.proxy()
    r = flood_check(t, p, b'GET /nothing HTTP/1.1\r\nHost: bt-test\r\n\r\n', 'own 404 page')
    eq(r.status, 404, 'status of GET /nothing (origin-form)')


def test_flood_metrics_unread(t):
    p = t.proxy()
    r = flood_check(t, p, b'GET /metrics HTTP/1.1\r\nHost: bt-test\r\n\r\n', '/metrics')
    eq(r.status, 200, 'status of /metrics from loopback')


def test_flood_block_page_unread(t):
    p = t.proxy(extra_conf='\n[catalog]\nplatforms = %s\n\n[auth]\ndefault_group = guests\n\n'
                '[group guests]\nsocial = never\n' % PLATFORMS)
    r = flood_check(t, p, b'GET http://www.instagram.com/ HTTP/1.1\r\nHost: www.instagram.com\r\n\r\n',
                    'block page')
    eq(r.status, 403, 'status for www.instagram.com with social = never')


def test_interim_flood_unread(t):
    # an origin sending 103 after 103 while the client does not read: the
    # proxy must stop reading the origin, not queue every 1xx for the client
    o = CountingOrigin()
    t.defer(o.stop)
    p = t.proxy()
    need_plain_rss(p)
    c = Raw(p.port, timeout=5)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.url('/warm'), o.authority)).encode())
    read_one(c)
    c.close()
    time.sleep(0.3)
    base = p.rss_kb()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.connect((LOOPBACK, p.port))
    s.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.url('/interim-flood'), o.authority)).encode())
    peak = base
    end = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < end:
        rss = p.rss_kb()
        peak = max(peak, rss)
        if rss > FLOOD_RSS_STOP_KB:
            break
        time.sleep(0.05)
    o.flood_stop.set()
    s.close()
    after = settle_rss(p, base + RSS_RETURN_KB)
    msg = '1xx flood: RSS %d KB before, peak %d KB while the origin sent %d MB of 103s, %d KB after' % (
        base, peak, o.flood_sent // MB, after)
    print('     ' + msg, flush=True)
    check(peak <= base + RSS_CEILING_KB, msg + ' (ceiling: +%d KB)' % RSS_CEILING_KB)
    check(after <= base + RSS_RETURN_KB, msg + ' (back within +%d KB)' % RSS_RETURN_KB)


# --------------------------------------------------------------------------
# refused clients


def refused_proxy(t, max_connections):
    # no -v or -d: the records and the close lines are one per connection by
    # design; what is counted is what the daemon logs at its normal level
    return t.proxy({'allow_clients': '127.0.0.1/32', 'max_connections': str(max_connections),
                    'max_connections_per_client': '1000', 'header_timeout': '10s', 'idle_timeout': '30s'},
                   args=())


def open_refused(p, n, data):
    """n connections from 127.0.0.2, each sending data (None: nothing) as soon
    as it is connected; [socket, time sent, bytes read, time of EOF]."""
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(('127.0.0.2', 0))
        s.setblocking(False)
        s.connect_ex((LOOPBACK, p.port))
        out.append([s, None, bytearray(), None])
    end = time.monotonic() + 15
    pending = list(out)
    while pending and time.monotonic() < end:
        _, w, _ = select.select([], [x[0] for x in pending], [], 0.1)
        for x in [x for x in pending if x[0] in w]:
            if x[0].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and data:
                x[0].send(data)
            x[1] = time.monotonic()
            pending.remove(x)
    return out


def wait_closed(conns, timeout):
    """Read every connection until EOF (or reset) or timeout; fills [3] with the close time."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        live = [x for x in conns if x[3] is None]
        if not live:
            break
        r, _, _ = select.select([x[0] for x in live], [], [], 0.1)
        for x in live:
            if x[0] not in r:
                continue
            try:
                d = x[0].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                d = b''
            if d:
                x[2] += d
            else:
                x[3] = time.monotonic()


class LegitClient(threading.Thread):
    """A request from 127.0.0.1 (allowed) in the background: .status, .took."""

    def __init__(self, t, p):
        super().__init__(daemon=True)
        self.t, self.p = t, p
        self.status, self.took = None, None
        self.start()

    def run(self):
        t0 = time.monotonic()
        c = Raw(self.p.port, timeout=20, src='127.0.0.1')
        try:
            c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (self.t.origin.url('/size/3'),
                                                              self.t.origin.authority)).encode())
            self.status = c.response().status
        except (OSError, EOFError, ValueError) as e:
            self.status = repr(e)
        finally:
            c.close()
        self.took = time.monotonic() - t0


def refused_log_lines(p):
    return [ln for ln in p.log_lines() if '127.0.0.2' in ln or 'allow_clients' in ln]


def refused_run(t, p, data, wait):
    t0 = time.monotonic()
    conns = open_refused(p, 300, data)
    opened = time.monotonic() - t0
    legit = LegitClient(t, p)
    wait_closed(conns, wait)
    legit.join(20)
    for x in conns:
        x[0].close()
    no403 = [bytes(x[2][:40]) for x in conns if data and not x[2].startswith(b'HTTP/1.1 403')]
    still_open = sum(1 for x in conns if x[3] is None)
    late = sorted(x[3] - (x[1] or t0) for x in conns if x[3] is not None)
    lines = refused_log_lines(p)
    msg = ('300 refused connections %s (opened in %.1fs): %d without a 403 (%s), %d not closed within %gs, '
           'slowest close %.2fs after connecting; a client from 127.0.0.1 got %s in %.2fs; %d log lines' % (
               'sending a request' if data else 'sending nothing', opened, len(no403), no403[:2], still_open,
               wait, late[-1] if late else -1, legit.status, legit.took or -1, len(lines)))
    print('     ' + msg, flush=True)
    return msg, no403, still_open, late, legit, lines


def test_refused_clients_closed_after_403(t):
    # each gets its 403 and is closed at once: a small max_connections is
    # never held, and the log does not get a line per refused client
    p = refused_proxy(t, 16)
    req = ('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.url('/size/3'), t.origin.authority)).encode()
    msg, no403, still_open, late, legit, lines = refused_run(t, p, req, 4)
    eq(legit.status, 200, 'the allowed client meanwhile (%s)' % msg)
    check(legit.took < 2, 'the allowed client waited %.2fs (%s)' % (legit.took, msg))
    check(not no403 and not still_open, msg)
    check(late and late[-1] < 2.5, msg)
    check(len(lines) < 30, msg + ':\n' + '\n'.join(lines[:5]))


def test_refused_silent_clients_closed(t):
    # refused clients that never send a request: let go after a short wait
    # (not header_timeout 10s), so the allowed client gets a slot soon
    p = refused_proxy(t, 256)
    msg, no403, still_open, late, legit, lines = refused_run(t, p, None, 8)
    eq(legit.status, 200, 'the allowed client meanwhile (%s)' % msg)
    check(legit.took < 4, 'the allowed client waited %.2fs (%s)' % (legit.took, msg))
    check(not still_open and late and late[-1] < 6, msg)
    check(len(lines) < 30, msg + ':\n' + '\n'.join(lines[:5]))


# --------------------------------------------------------------------------
# conformance


def test_proxy_authorization_without_auth_forwarded(t):
    # no [auth]: Proxy-Authorization is for this proxy, which asks for none;
    # the request is forwarded, and the credentials go no further
    p = t.proxy()
    c = Raw(p.port)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic c3RhZmY6Y29ycmVjdCBob3JzZQ==\r\n\r\n'
            % (t.origin.url('/echo?pa=1'), t.origin.authority)).encode())
    r = c.response()
    c.close()
    eq(r.status, 200, 'status of a request with Proxy-Authorization and no [auth] (%s)' % short(r.body, 200))
    seen = Response(r.body)
    eq(seen.get('proxy-authorization'), None, 'Proxy-Authorization at the origin')
    check(b'c3RhZmY6' not in r.body, 'the credentials reached the origin: %s' % short(r.body))


def test_bare_lf_head_400_at_once(t):
    p = t.proxy({'header_timeout': '10s'})
    before = len(t.origin.paths())
    c = Raw(p.port, timeout=12)
    t0 = time.monotonic()
    c.send(('GET %s HTTP/1.1\nHost: %s\n\n' % (t.origin.url('/echo?lf=1'), t.origin.authority)).encode())
    try:
        r = Response(c.rd.read_until(b'\r\n\r\n'))
    finally:
        el = time.monotonic() - t0
    eq(r.status, 400, 'status of a head with bare LF line endings (after %.2fs)' % el)
    check(el < 1.0, 'the 400 came after %.2fs (header_timeout 10s)' % el)
    check(c.closed_within(2), 'connection left open after the 400')
    c.close()
    eq(t.origin.paths()[before:], [], 'requests that reached the origin')


if __name__ == '__main__':
    run(globals())
