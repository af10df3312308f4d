"""
e2e: the kit for the issue-5 end-to-end tests (identity, enforcement, block
pages, own pages, live enforcement) of breaktimed.

Everything stays on loopback:
  * the daemon listens on 127.0.0.1:0 (ephemeral), resolves names only
    through its hosts_file (www.facebook.com, www.youtube.com,
    www.example.org ... -> 127.0.0.1) and dns_servers = 127.0.0.1:1, where
    nothing listens, so the machine's resolver is never asked;
  * the origins (HTTP, TCP echo, `openssl s_server`) bind 127.0.0.1;
  * clients (curl, openssl s_client, chromium, raw sockets) talk to the
    proxy only; several client addresses (127.0.0.2 ...) stand for several
    people through the [auth] devices map.

Time: the daemon can start at a chosen wall-clock moment through libfaketime
(LD_PRELOAD of libfaketimeMT with FAKETIME="@YYYY-mm-dd HH:MM:SS", TZ=UTC so
the moment is read as UTC; the kit converts the site's Europe/London time).
The preload goes straight onto breaktimed, not through the `faketime`
wrapper, which forks and would leave us the wrapper's PID instead of the
daemon's.

Processes are started here and ended here, by PID; the temporary directory
(tempfile.mkdtemp) is removed at exit unless E2E_KEEP=1.

Environment: BREAKTIMED (the daemon), SOURCE_ROOT (the source tree).
"""

import datetime
import glob
import http.server
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get('SOURCE_ROOT') or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
BREAKTIMED = os.environ.get('BREAKTIMED') or os.path.join(SOURCE_ROOT, 'build-e2e', 'proxy', 'breaktimed')
BREAKTIME = os.environ.get('BREAKTIME') or os.path.join(os.path.dirname(os.path.dirname(BREAKTIMED)), 'reports', 'breaktime')
PLATFORMS = os.path.join(SOURCE_ROOT, 'config', 'platforms.list')
SITE_TZ = 'Europe/London'
TEST_TIME_LIMIT = 90

# names the proxy resolves through its hosts file, all to 127.0.0.1
NAMES = ['www.facebook.com', 'm.facebook.com', 'www.youtube.com', 'www.instagram.com',
         'www.example.org', 'intranet.example.org', 'www.friendface.test']


class Fail(AssertionError):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail('%s: expected %r, got %r' % (what, want, got))


def wait_for(pred, timeout, step=0.05, what='condition'):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(step)


def need(program):
    path = shutil.which(program) if not os.path.isabs(program) else (program if os.path.exists(program) else None)
    if not path:
        raise Skip('%s is not installed (tools/deps.sh TEST_PACKAGES installs it)' % program)
    return path


def libfaketime():
    for pat in ('/usr/lib/*/faketime/libfaketimeMT.so.1', '/usr/lib/faketime/libfaketimeMT.so.1',
                '/usr/local/lib/faketime/libfaketimeMT.so.1'):
        hits = sorted(glob.glob(pat))
        if hits:
            return hits[0]
    raise Skip('libfaketime is not installed (Debian package faketime)')


def site_to_utc(local):
    """'2026-11-23 10:44:50' on the site's clock (Europe/London) -> UTC datetime.
    A trailing 'Z' means the moment is given in UTC already (for the hour a
    daylight-saving change repeats)."""
    from zoneinfo import ZoneInfo
    utc = local.endswith('Z')
    local = local.rstrip('Z')
    dt = datetime.datetime.strptime(local, '%Y-%m-%d %H:%M:%S' if local.count(':') == 2 else '%Y-%m-%d %H:%M')
    if utc:
        return dt.replace(tzinfo=datetime.timezone.utc)
    return dt.replace(tzinfo=ZoneInfo(SITE_TZ)).astimezone(datetime.timezone.utc)


def clean_env(extra=None):
    """No proxy variables, no user config: clients go only where we say."""
    env = {'PATH': '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', 'LANG': 'C.UTF-8', 'TZ': 'UTC'}
    # a sanitizer build keeps its settings; libfaketime may be preloaded before ASan's runtime
    for k in ('UBSAN_OPTIONS', 'LSAN_OPTIONS'):
        if k in os.environ:
            env[k] = os.environ[k]
    asan = os.environ.get('ASAN_OPTIONS', '')
    env['ASAN_OPTIONS'] = (asan + ':' if asan else '') + 'verify_asan_link_order=0'
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------
# peers


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'e2e-origin'

    def do_GET(self):
        body = ('origin says hello: %s %s\n' % (self.headers.get('Host', ''), self.path)).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        self.server.hits.append((self.headers.get('Host', ''), self.path, dict(self.headers)))

    do_HEAD = do_GET

    def log_message(self, *a):
        pass


class HttpOrigin:
    """A tiny threaded HTTP/1.1 origin on 127.0.0.1 that remembers what it saw."""

    def __init__(self):
        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        self.srv.daemon_threads = True
        self.srv.hits = []
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
        self.t.start()

    @property
    def hits(self):
        return self.srv.hits

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class EchoOrigin:
    """A TCP echo peer on 127.0.0.1 for CONNECT tunnels."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(('127.0.0.1', 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.stopping = False
        self.conns = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        try:
            self.ls.close()
        except OSError:
            pass
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def make_cert(d, cn='www.example.org'):
    key, crt = os.path.join(d, 'key.pem'), os.path.join(d, 'cert.pem')
    if not os.path.exists(crt):
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                        '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=' + cn,
                        '-addext', 'subjectAltName=DNS:%s,DNS:www.facebook.com,IP:127.0.0.1' % cn],
                       check=True, capture_output=True, timeout=30, env=clean_env())
    return crt, key


class TlsOrigin:
    """`openssl s_server -www` on 127.0.0.1 with a throwaway certificate."""

    def __init__(self, kit):
        crt, key = make_cert(kit.tmp)
        for _ in range(5):
            s = socket.socket()
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
            s.close()
            self.log = open(os.path.join(kit.tmp, 's_server.%d.log' % self.port), 'wb')
            self.proc = kit.spawn(['openssl', 's_server', '-accept', '127.0.0.1:%d' % self.port, '-cert', crt,
                                   '-key', key, '-www', '-naccept', '1000000'],
                                  stdout=self.log, stderr=subprocess.STDOUT)
            end = time.monotonic() + 5
            while time.monotonic() < end and self.proc.poll() is None:
                try:
                    socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            kit.end(self.proc)
        raise Fail('openssl s_server did not start')


# --------------------------------------------------------------------------
# the daemon


def parse_record(line):
    m = re.search(r'record (.*)$', line)
    if not m:
        return None
    return dict(tok.partition('=')[::2] for tok in m.group(1).split())


class Daemon:
    """breaktimed with a config written from parts; optionally on a fake clock.

    proxy: extra [proxy] keys; store: extra [store] keys; policy: the rest of
    the file (sections [site], [schedule], [auth], [group ...]) as text.
    at: the site-local moment ('2026-11-23 10:44:50') the daemon starts at.
    """

    def __init__(self, kit, policy='', proxy=None, store=None, at=None, speed=None, fake_env=None,
                 args=('-v', '-d'), name=None, catalog=None):
        self.kit = kit
        self.name = name or 'bt%d' % kit.next_id()
        self.dir = os.path.join(kit.tmp, self.name)
        os.makedirs(self.dir)
        self.conf_path = os.path.join(self.dir, 'breaktime.conf')
        self.log_path = os.path.join(self.dir, 'stderr.log')
        self.db = os.path.join(self.dir, 'bt.db')
        self.at = at
        self.speed = speed
        self.fake_env = fake_env or {}
        self.args = list(args)
        p = {
            'listen': '127.0.0.1:0',
            'workers': '2',
            'allow_loopback_upstream': 'yes',
            'hosts_file': kit.hosts_file,
            'dns_servers': '127.0.0.1:1',
            'dns_timeout': '1s',
            'connect_timeout': '2s',
            'sni_timeout': '1s',
            'shutdown_grace': '1s',
            'visible_hostname': 'bt-e2e',
            'connect_ports': '443',
        }
        p.update(proxy or {})
        s = {'database': self.db}
        s.update(store or {})
        self.db = s['database']
        text = '# written by tests/integration/enforce/e2e.py\n[proxy]\n'
        text += ''.join('%s = %s\n' % (k, v) for k, v in p.items() if v is not None)
        text += '\n[store]\n' + ''.join('%s = %s\n' % (k, v) for k, v in s.items() if v is not None)
        text += '\n[catalog]\nplatforms = %s\n' % PLATFORMS
        text += ''.join('%s = %s\n' % (k, v) for k, v in (catalog or {}).items()) + '\n'
        text += policy
        with open(self.conf_path, 'w') as f:
            f.write(text)
        self.proc = None
        self.port = self.tls_port = None
        self.spawned_mono = None

    def start(self, timeout=10):
        if not os.path.exists(BREAKTIMED):
            raise Fail('no breaktimed at %s (set BREAKTIMED)' % BREAKTIMED)
        extra = {}
        if self.at:
            extra['LD_PRELOAD'] = libfaketime()
            extra['FAKETIME'] = '@' + site_to_utc(self.at).strftime('%Y-%m-%d %H:%M:%S')
            if self.speed:
                extra['FAKETIME'] += ' x%s' % self.speed
            extra['FAKETIME_DONT_RESET'] = '1'
            extra.update(self.fake_env)
        self.logf = open(self.log_path, 'ab')
        self.spawned_mono = time.monotonic()
        self.proc = self.kit.spawn([BREAKTIMED, '-c', self.conf_path] + self.args, stdout=self.logf,
                                   stderr=self.logf, cwd=self.dir, env=clean_env(extra))
        end = time.monotonic() + timeout
        while True:
            text = self.log()
            if re.search(r'^<\d>ready\b', text, re.M):
                break
            if self.proc.poll() is not None:
                raise Fail('breaktimed exited with %s before ready:\n%s' % (self.proc.returncode, text[-3000:]))
            if time.monotonic() > end:
                raise Fail('breaktimed not ready within %ds:\n%s' % (timeout, text[-3000:]))
            time.sleep(0.02)
        for m in re.finditer(r'listening on 127\.0\.0\.1:(\d+)( \(HTTPS proxy\))?', text):
            if m.group(2):
                self.tls_port = int(m.group(1))
            elif self.port is None:
                self.port = int(m.group(1))
        check(self.port, 'no "listening on" line:\n' + text[-2000:])
        return self

    def fake_now(self):
        """The daemon's wall clock now, as a site-local naive datetime (at + elapsed)."""
        from zoneinfo import ZoneInfo
        elapsed = (time.monotonic() - self.spawned_mono) * float(self.speed or 1)
        t = site_to_utc(self.at) + datetime.timedelta(seconds=elapsed)
        return t.astimezone(ZoneInfo(SITE_TZ)).replace(tzinfo=None)

    def wait_fake(self, hhmmss, timeout=30):
        """Sleep until the daemon's fake clock reads hh:mm:ss (on its current day)."""
        now = self.fake_now()
        h, m, sec = map(int, hhmmss.split(':'))
        target = now.replace(hour=h, minute=m, second=sec, microsecond=0)
        real = (target - now).total_seconds() / float(self.speed or 1)
        check(real <= timeout, 'fake %s is %.1f real seconds away' % (hhmmss, real))
        if real > 0:
            time.sleep(real)

    def fake_ms(self, local=None):
        """A site-local naive datetime (default: the daemon's now) as ms since the epoch."""
        from zoneinfo import ZoneInfo
        local = local or self.fake_now()
        return int(local.replace(tzinfo=ZoneInfo(SITE_TZ)).timestamp() * 1000)

    def breaktime(self, *args, timeout=20):
        """The breaktime command on this daemon's configuration, on the daemon's fake clock."""
        env = {}
        if self.at:
            env['LD_PRELOAD'] = libfaketime()
            now = self.fake_now()
            env['FAKETIME'] = '@' + site_to_utc(now.strftime('%Y-%m-%d %H:%M:%S')).strftime('%Y-%m-%d %H:%M:%S')
            if self.speed:
                env['FAKETIME'] += ' x%s' % self.speed
        p = subprocess.run([BREAKTIME, '-c', self.conf_path] + list(args), capture_output=True, timeout=timeout,
                           env=clean_env(env), cwd=self.dir)
        return p.returncode, (p.stdout + p.stderr).decode('utf-8', 'replace')

    def set_presence(self, state, until=None, by='e2e'):
        """`breaktime presence on|off|auto [--until HH:MM] [--by NAME]` on the daemon's
        (fake) clock; the daemon picks the change up from the store within seconds."""
        args = ['presence', state, '--by', by]
        if until:
            args += ['--until', until.strftime('%H:%M')]
        rc, out = self.breaktime(*args)
        check(rc == 0, 'breaktime %s: exit %d: %s' % (' '.join(args), rc, out[-500:]))
        return out

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def records(self):
        return [r for r in (parse_record(ln) for ln in self.log().splitlines()) if r]

    def wait_record(self, pred, timeout=5, what='record'):
        def find():
            for r in self.records():
                if pred(r):
                    return r
            return None
        try:
            return wait_for(find, timeout, what=what)
        except Fail:
            raise Fail('no %s within %ss; records:\n%s' % (what, timeout, '\n'.join(
                ln for ln in self.log().splitlines() if 'record ' in ln)[-3000:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait for the store to drain; returns the exit code."""
        if self.proc is None:
            return None
        rc = self.kit.end(self.proc)
        self.logf.close()
        return rc

    def rows(self, sql='SELECT * FROM events ORDER BY id', args=()):
        """Rows of the store as dicts (read-only; fine while the daemon runs, WAL)."""
        c = sqlite3.connect('file:%s?mode=ro' % self.db, uri=True, timeout=5)
        try:
            c.row_factory = sqlite3.Row
            return [dict(r) for r in c.execute(sql, args)]
        finally:
            c.close()

    def events(self, **where):
        rows = self.rows()
        return [r for r in rows if all(r.get(k) == v for k, v in where.items())]

    def wait_event(self, timeout=5, **where):
        def find():
            try:
                return self.events(**where)
            except sqlite3.Error:
                return None
        try:
            return wait_for(find, timeout, step=0.1, what='store row %r' % where)
        except Fail:
            raise Fail('no events row with %r within %ss; rows:\n%s' % (
                where, timeout, '\n'.join(map(str, self.rows()))[-4000:]))


# --------------------------------------------------------------------------
# clients


class CurlResult:
    def __init__(self, rc, code, headers, body, stderr):
        self.rc, self.code, self.headers, self.body, self.stderr = rc, code, headers, body, stderr

    def header(self, name):
        for ln in self.headers.splitlines():
            k, _, v = ln.partition(':')
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def __repr__(self):
        return '<curl rc=%s code=%s body=%r stderr=%r>' % (self.rc, self.code, self.body[:300], self.stderr[-300:])


def curl(kit, *args, timeout=20):
    """curl with no environment proxy settings; returns status, headers and body."""
    hdr = os.path.join(kit.tmp, 'curl-h-%d' % kit.next_id())
    body = os.path.join(kit.tmp, 'curl-b-%d' % kit.next_id())
    cmd = ['curl', '-sS', '--noproxy', '', '-o', body, '-D', hdr, '-w', '%{http_code}', '--max-time', str(timeout)]
    p = subprocess.run(cmd + list(args), capture_output=True, timeout=timeout + 10,
                       env=clean_env({'HOME': kit.tmp}))
    out = CurlResult(p.returncode, int(p.stdout.decode()[-3:] or 0) if p.stdout else 0,
                     open(hdr, 'rb').read().decode('latin-1') if os.path.exists(hdr) else '',
                     open(body, 'rb').read().decode('utf-8', 'replace') if os.path.exists(body) else '',
                     p.stderr.decode('utf-8', 'replace'))
    for f in (hdr, body):
        if os.path.exists(f):
            os.unlink(f)
    return out


def raw_request(port, data, src='127.0.0.1', timeout=5):
    """Send bytes to the proxy, read until it closes or goes quiet; returns bytes."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(('127.0.0.1', port))
    s.sendall(data)
    out = b''
    try:
        while True:
            r, _, _ = select.select([s], [], [], 1.0)
            if not r:
                if b'\r\n\r\n' in out:
                    break
                continue
            d = s.recv(65536)
            if not d:
                break
            out += d
            m = re.search(rb'Content-Length: (\d+)', out, re.I)
            i = out.find(b'\r\n\r\n')
            if m and i >= 0 and len(out) >= i + 4 + int(m.group(1)):
                break
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out


class Tunnel:
    """A CONNECT tunnel through the proxy from a chosen loopback source address."""

    def __init__(self, port, target, src='127.0.0.1', auth=None, timeout=5):
        self.s = socket.socket()
        self.s.settimeout(timeout)
        self.s.bind((src, 0))
        self.s.connect(('127.0.0.1', port))
        head = 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n' % (target, target)
        if auth:
            head += 'Proxy-Authorization: Basic %s\r\n' % auth
        self.s.sendall((head + '\r\n').encode())
        buf = b''
        while b'\r\n\r\n' not in buf:
            d = self.s.recv(4096)
            if not d:
                break
            buf += d
        self.head, _, self.rest = buf.partition(b'\r\n\r\n')
        m = re.match(rb'HTTP/1\.[01] (\d{3})', self.head)
        self.status = int(m.group(1)) if m else 0

    def echo(self, data, timeout=3):
        """Send data, expect it back from the echo origin; False when the tunnel is gone."""
        try:
            self.s.sendall(data)
            got = b''
            end = time.monotonic() + timeout
            while len(got) < len(data) and time.monotonic() < end:
                self.s.settimeout(max(0.05, end - time.monotonic()))
                d = self.s.recv(65536)
                if not d:
                    return False
                got += d
            return got == data
        except (OSError, socket.timeout):
            return False

    def closed_within(self, timeout):
        """True if the proxy closes the tunnel within timeout seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.s], [], [], max(0.0, end - time.monotonic()))
            if not r:
                return False
            try:
                d = self.s.recv(65536)
            except OSError:
                return True
            if not d:
                return True
        return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# the per-module kit and the runner


class Kit:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='bt-e2e-')
        self._id = 0
        self.procs = []
        self.daemons = []
        self.shared_daemons = {}
        self.cleanups = []
        self.hosts_file = os.path.join(self.tmp, 'hosts')
        with open(self.hosts_file, 'w') as f:
            f.write('127.0.0.1 %s\n' % ' '.join(NAMES))
        self.origin = HttpOrigin()
        self.echo = EchoOrigin()
        self._tls = None

    def next_id(self):
        self._id += 1
        return self._id

    @property
    def tls(self):
        if self._tls is None:
            self._tls = TlsOrigin(self)
        return self._tls

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, 'w') as f:
            f.write(text)
        return p

    def spawn(self, cmd, **kw):
        kw.setdefault('stdin', subprocess.DEVNULL)
        kw.setdefault('env', clean_env({'HOME': self.tmp}))
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def end(self, p, timeout=10):
        """End a process we started, by its PID: SIGTERM, then SIGKILL."""
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def daemon(self, policy='', start=True, **kw):
        d = Daemon(self, policy, **kw)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def shared(self, key, make):
        """A daemon kept across the tests of a module (make(kit) -> started Daemon);
        started again if it is not running."""
        d = self.shared_daemons.get(key)
        if d is None or not d.alive():
            d = make(self)
            self.daemons.remove(d)
            self.shared_daemons[key] = d
        return d

    def defer(self, fn):
        self.cleanups.append(fn)

    def end_test(self):
        problems = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                problems.append('cleanup: %r' % e)
        self.cleanups = []
        for d in self.daemons + list(self.shared_daemons.values()):
            if d.proc is not None and d.proc.poll() is not None and d.proc in self.procs:
                problems.append('breaktimed %s died with %s:\n%s' % (d.name, d.proc.returncode, d.log()[-2000:]))
                self.procs.remove(d.proc)
        for d in self.daemons:
            if d.proc is not None and d.alive():
                d.stop()
        self.daemons = []
        return '\n'.join(problems)

    def close(self):
        self.end_test()
        for d in self.shared_daemons.values():
            if d.alive():
                d.stop()
        for p in list(self.procs):
            self.end(p)
        if self._tls:
            self._tls.log.close()
        self.origin.stop()
        self.echo.stop()
        if os.environ.get('E2E_KEEP'):
            print('kept', self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def load_pending():
    """pending.txt: tests of behaviour breaktimed does not have yet (a known bug);
    skipped with their reason unless E2E_RUN_PENDING=1."""
    out = {}
    path = os.path.join(HERE, 'pending.txt')
    if os.path.exists(path):
        for ln in open(path):
            ln = ln.strip()
            if ln and not ln.startswith('#'):
                tid, _, reason = ln.partition(' ')
                out[tid] = reason.strip()
    return out


def _alarm(signum, frame):
    raise Fail('test took longer than %ds' % TEST_TIME_LIMIT)


def run(glb):
    """Run the module's test_* functions in order; exit 0, 1 (a failure) or 77 (all skipped)."""
    mod = os.path.splitext(os.path.basename(glb['__file__']))[0]
    tests = sorted(((n, f) for n, f in glb.items() if n.startswith('test_') and callable(f)),
                   key=lambda nf: nf[1].__code__.co_firstlineno)
    if sys.argv[1:]:
        tests = [(n, f) for n, f in tests if any(a in n for a in sys.argv[1:])]
    pending = load_pending()
    run_pending = os.environ.get('E2E_RUN_PENDING') == '1'
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    print('# %s against %s' % (mod, BREAKTIMED), flush=True)
    kit = Kit()
    passed = failed = skipped = 0
    try:
        for name, fn in tests:
            tid = '%s::%s' % (mod, name)
            if tid in pending and not run_pending:
                skipped += 1
                print('SKIP %s (pending: %s)' % (tid, pending[tid]), flush=True)
                continue
            t0 = time.monotonic()
            err = msg = None
            signal.alarm(TEST_TIME_LIMIT)
            try:
                fn(kit)
            except Skip as e:
                err, msg = 'skip', str(e)
            except Exception as e:
                err = 'fail'
                where = ' <- '.join('%s:%d' % (os.path.basename(fr.filename), fr.lineno)
                                    for fr in reversed(traceback.extract_tb(e.__traceback__)[1:]))
                msg = '%s%s\n  at %s' % ('' if isinstance(e, Fail) else type(e).__name__ + ': ', e, where)
            finally:
                signal.alarm(0)
            problem = kit.end_test()
            if problem:
                msg = (msg + '\n' if msg and err == 'fail' else '') + problem
                err = 'fail'
            dt = time.monotonic() - t0
            if err is None:
                passed += 1
                print('ok   %s (%.2fs)' % (tid, dt), flush=True)
            elif err == 'skip':
                skipped += 1
                print('SKIP %s (%s)' % (tid, msg), flush=True)
            else:
                failed += 1
                print('FAIL %s (%.2fs)\n     %s' % (tid, dt, msg.replace('\n', '\n     ')), flush=True)
    finally:
        kit.close()
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped), flush=True)
    sys.exit(1 if failed else (77 if skipped and not passed else 0))


def via(kit, d, host, src='127.0.0.1', path='/', port=None, args=()):
    """GET http://host:port/path through the daemon's plain listener from source address src."""
    return curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, '--interface', src,
                'http://%s:%d%s' % (host, port or kit.origin.port, path), *args)


def ms_to_site(ts_ms):
    """A store timestamp (ms since the epoch) as a naive site-local datetime."""
    from zoneinfo import ZoneInfo
    return datetime.datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(SITE_TZ)).replace(tzinfo=None)


def tls_tunnel(port, target, sni, src='127.0.0.1', timeout=5):
    """CONNECT target through the proxy, then a TLS handshake inside the tunnel
    with the given server name (no certificate checks: the peer is our s_server).
    Returns (status, ssl socket or None, error text)."""
    import ssl
    t = Tunnel(port, target, src=src, timeout=timeout)
    if t.status != 200:
        t.close()
        return t.status, None, t.head.decode('latin-1')
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        s = ctx.wrap_socket(t.s, server_hostname=sni)
        return 200, s, ''
    except (OSError, ssl.SSLError) as e:
        t.close()
        return 200, None, '%s: %s' % (type(e).__name__, e)


def ssl_closed_within(s, timeout):
    """True if the TLS connection ends (EOF, reset, close_notify) within timeout."""
    import ssl
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            if not s.recv(4096):
                return True
        except socket.timeout:
            return False
        except (OSError, ssl.SSLError):
            return True
    return False
