"""
harness_daemon: breaktimed under test, and the per-module context that
starts it with its peers.

Starts:
  Breaktimed  the daemon with a temporary config in its own directory
              (conf: [proxy] keys over the context's default_conf(), store:
              [store], extra_conf: other sections), clean_env(), waits for
              "ready" and parses the "listening on" lines; its stderr in a
              file; reads back its -v records (records, wait_record), its
              store (rows, events, wait_event) and fds/RSS/CPU from /proc
  RefProxy    squid or tinyproxy instead (IT_PROXY), to validate the tests
  Harness     the per-module context (a harness_run.Context): a temporary
              directory, a DnsServer, an Origin and a hosts file, the
              daemons of one test (h.proxy()) and the shared one (h.p)
  check_config  `breaktimed -t` on a config text

Cleans up: after each test, Harness.end_test stops the test's daemons by
PID and fails the test if a daemon died, a sanitizer reported, or a daemon
exited non-zero on SIGTERM (the shared daemon is checked and kept); at the
end, Harness.close does the same for the shared one, stops the peers and
removes the temporary directory.

Environment: IT_SAN_IGNORE, a regex of sanitizer report lines to ignore
(local triage only).
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

from harness_dns import DnsServer
from harness_net import free_port, wait_port
from harness_origin import Origin, TcpOrigin, TlsOrigin
from harness_run import (BREAKTIMED, LOOPBACK, REF, Context, TestFailure, _end_proc, _track, clean_env, current,
                         wait_for)

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
    conf_origin = 'tests/integration/harness_daemon.py'

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
    h = current()
    d = os.path.join(h.tmp, 'check%d' % h.next_id())
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


# --------------------------------------------------------------------------
# the per-module context and the runner


class Harness(Context):
    """The per-module context: a temporary directory, the peers, the daemons of
    one test (per_test, stopped and checked at its end) and the shared ones."""

    def __init__(self):
        super().__init__()
        self._shared = None
        self.per_test = []
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
        problems = self.run_cleanups()
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
        return problems + super().close()

    def stop_peers(self):
        self.origin.stop()
        self.dns.stop()
