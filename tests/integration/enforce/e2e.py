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

It builds on the one integration kit, ../harness.py: the daemon (Daemon is a
harness.Breaktimed with the [catalog] and policy sections and a fake clock),
the origins (harness.Origin with hello=True, harness.TcpOrigin echo,
harness.TlsOrigin), curl, store rows, the clean environment, the process
bookkeeping (ended by PID) and the runner (with the checks after every test:
a daemon died, a sanitizer reported, or a daemon exited non-zero on SIGTERM).
The temporary directory is removed at exit unless E2E_KEEP=1.

Environment: BREAKTIMED (the daemon), SOURCE_ROOT (the source tree).
"""

import datetime
import glob
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import harness  # noqa: E402
from harness import TestFailure as Fail, TestSkip as Skip, check, eq, wait_for  # noqa: E402,F401

SOURCE_ROOT = os.environ.get('SOURCE_ROOT') or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
BREAKTIMED = harness.BREAKTIMED
BREAKTIME = os.environ.get('BREAKTIME') or os.path.join(os.path.dirname(os.path.dirname(BREAKTIMED)), 'reports', 'breaktime')
PLATFORMS = os.path.join(SOURCE_ROOT, 'config', 'platforms.list')
SITE_TZ = 'Europe/London'

# names the proxy resolves through its hosts file, all to 127.0.0.1
NAMES = ['www.facebook.com', 'm.facebook.com', 'www.youtube.com', 'www.instagram.com',
         'www.example.org', 'intranet.example.org', 'www.friendface.test']


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
    return harness.clean_env(extra, minimal=True)


def make_cert(d, cn='www.example.org'):
    return harness.make_cert(d, cn, (cn, 'www.facebook.com'), prefix='')


# --------------------------------------------------------------------------
# the daemon


class Daemon(harness.Breaktimed):
    """breaktimed with a config written from parts; optionally on a fake clock.

    proxy: extra [proxy] keys; store: extra [store] keys; policy: the rest of
    the file (sections [site], [schedule], [auth], [group ...]) as text.
    at: the site-local moment ('2026-11-23 10:44:50') the daemon starts at.
    """

    db_name = 'bt.db'
    conf_origin = 'tests/integration/enforce/e2e.py'

    def __init__(self, kit, policy='', proxy=None, store=None, at=None, speed=None, fake_env=None,
                 args=('-v', '-d'), name=None, catalog=None):
        extra = '\n[catalog]\nplatforms = %s\n' % PLATFORMS
        extra += ''.join('%s = %s\n' % (k, v) for k, v in (catalog or {}).items()) + '\n'
        super().__init__(kit, conf=proxy, store=store, args=args, name=name, extra_conf=extra + policy)
        self.kit = kit
        self.at = at
        self.speed = speed
        self.fake_env = fake_env or {}
        self.spawned_mono = None

    def env(self):
        extra = {}
        if self.at:
            extra['LD_PRELOAD'] = libfaketime()
            extra['FAKETIME'] = '@' + site_to_utc(self.at).strftime('%Y-%m-%d %H:%M:%S')
            if self.speed:
                extra['FAKETIME'] += ' x%s' % self.speed
            extra['FAKETIME_DONT_RESET'] = '1'
            extra.update(self.fake_env)
        return clean_env(extra)

    def start(self, timeout=10):
        self.spawned_mono = time.monotonic()
        return super().start(timeout)

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
    """harness.curl with no environment proxy settings; status, headers and body as text."""
    r = harness.curl(None, '--noproxy', '', *args, timeout=timeout, tmp=kit.tmp, env=clean_env({'HOME': kit.tmp}))
    return CurlResult(r.rc, r.code, r.raw_headers.decode('latin-1'), r.body.decode('utf-8', 'replace'),
                      r.err.decode('utf-8', 'replace'))


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


class Kit(harness.Harness):
    """harness.Harness with the enforcement tests' peers: the hosts file of
    NAMES, a hello origin, an echo peer, a TLS origin (made on first use); no
    DNS server (dns_servers = 127.0.0.1:1, where nothing listens)."""

    tmp_prefix = 'bt-e2e-'
    keep_env = 'E2E_KEEP'

    def make_peers(self):
        self.dns = None
        self.shared_daemons = {}
        self.hosts_file = self.write('hosts', '127.0.0.1 %s\n' % ' '.join(NAMES))
        self.origin = harness.Origin(hello=True)
        self.echo = harness.TcpOrigin('echo', timeout=None)
        self._tls = None

    def default_conf(self):
        return {
            'listen': '127.0.0.1:0',
            'workers': '2',
            'allow_loopback_upstream': 'yes',
            'hosts_file': self.hosts_file,
            'dns_servers': '127.0.0.1:1',
            'dns_timeout': '1s',
            'connect_timeout': '2s',
            'sni_timeout': '1s',
            'shutdown_grace': '1s',
            'visible_hostname': 'bt-e2e',
            'connect_ports': '443',
        }

    @property
    def tls(self):
        if self._tls is None:
            self._tls = harness.TlsOrigin(self.tmp, cert=make_cert(self.tmp), naccept=1000000)
        return self._tls

    def spawn(self, cmd, **kw):
        kw.setdefault('stdin', subprocess.DEVNULL)
        kw.setdefault('env', clean_env({'HOME': self.tmp}))
        return harness._track(subprocess.Popen(cmd, **kw))

    def end(self, p, timeout=10):
        """End a process we started, by its PID: SIGTERM, then SIGKILL."""
        for d in self.per_test + self.shared_procs():
            if d.proc is p:
                d.expected_exit = True
        return harness._end_proc(p, timeout=timeout)

    def daemon(self, policy='', start=True, **kw):
        d = Daemon(self, policy, **kw)
        if start:
            d.start()
        return d

    def shared(self, key, make):
        """A daemon kept across the tests of a module (make(kit) -> started Daemon);
        started again if it is not running."""
        d = self.shared_daemons.get(key)
        if d is None or not d.alive():
            d = make(self)
            self.per_test = [x for x in self.per_test if x is not d]
            self.shared_daemons[key] = d
        return d

    def shared_procs(self):
        return list(self.shared_daemons.values())

    def end_test(self):
        problems = super().end_test()
        self.shared_daemons = {k: d for k, d in self.shared_daemons.items() if d.alive()}
        return problems

    def stop_peers(self):
        if self._tls:
            self._tls.stop()
        self.origin.stop()
        self.echo.stop()


def run(glb):
    """Run the module's test_* functions in order; exit 0, 1 (a failure) or 77 (all skipped).
    pending.txt here lists tests of behaviour breaktimed does not have yet
    (E2E_RUN_PENDING=1 runs them)."""
    harness.run(glb, context=Kit, pending_file=os.path.join(HERE, 'pending.txt'),
                run_pending_env='E2E_RUN_PENDING', all_skipped_rc=77, ref='')


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
