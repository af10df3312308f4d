#!/usr/bin/env python3
"""The store under the real daemon (issue 4): breaktimed on 127.0.0.1 with a
temporary config and store, a local origin, real HTTP clients; then the rows.

  - every completed request is a row and an access.log line (SIGTERM drains);
  - kill -9 under load: how many completed requests are missing (printed);
  - another process holds BEGIN EXCLUSIVE for 10 s under load: nothing lost;
  - the disk is full (RLIMIT_FSIZE on the daemon): errors logged and counted,
    proxying continues, and once there is room again nothing is lost;
  - sarg (when installed) reads our access.log and reports our users and sites.

Traffic goes to loopback only; the daemons are started and ended here by PID.
Run: BREAKTIMED=build/proxy/breaktimed python3 tests/integration/store/test_store_daemon.py
"""

import base64
import http.client
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness  # noqa: E402
from harness import (LOOPBACK, TestSkip, check, clean_env, eq,  # noqa: E402
                     run, wait_for)


class Daemon(harness.Breaktimed):
    """harness.Breaktimed with a [store] of our own; limits (RLIMIT_FSIZE) set before exec."""

    db_name = 'bt.db'

    def __init__(self, t, store=None, args=('-v',), fsize=None, extra_conf=''):
        super().__init__(t, store=store, args=args, name='store%d' % t.next_id(), extra_conf=extra_conf)
        self.fsize = fsize

    def preexec(self):
        fsize = self.fsize

        def pre():
            if fsize:
                # a full disk: writes past fsize fail with EFBIG instead of the
                # process being killed by SIGXFSZ (SIG_IGN survives exec)
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
        return pre

    def start(self, timeout=15):
        return super().start(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        return super().stop(sig, timeout)

    def wait_exit(self, timeout):
        self.expected_exit = True
        return self.proc.wait(timeout)

    def rows(self, sql='SELECT count(*) FROM events'):
        """The one value sql selects."""
        return next(iter(harness.store_rows(self.db, sql, timeout=10)[0].values()))


class Load:
    """Client threads, each on one keep-alive connection through the proxy,
    counting the responses they received in full."""

    def __init__(self, port, url, host, threads=4, per_thread=None, pause=0.0):
        self.port, self.url, self.host = port, url, host
        self.per_thread = per_thread
        self.pause = pause
        self.done = 0
        self.errors = 0
        self.statuses = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def _run(self):
        n = 0
        c = None
        while not self.stopping.is_set() and (self.per_thread is None or n < self.per_thread):
            try:
                if c is None:
                    c = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
                c.request('GET', self.url, headers={'Host': self.host, 'User-Agent': 'bt-store-test'})
                r = c.getresponse()
                r.read()
                with self.lock:
                    self.done += 1
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                n += 1
                if r.getheader('Connection', '').lower() == 'close':
                    c.close()
                    c = None
            except Exception:
                with self.lock:
                    self.errors += 1
                if c is not None:
                    c.close()
                c = None
                if self.per_thread is not None and not self.stopping.is_set():
                    raise
                time.sleep(0.01)
            if self.pause:
                time.sleep(self.pause)
        if c is not None:
            c.close()

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(15)
        return self.done


def origin_url(t, n=100):
    """A URL on the local origin by name (the harness's hosts file maps origin.test)."""
    host = 'origin.test:%d' % t.origin.port
    return 'http://%s/size/%d' % (host, n), host


def test_every_request_is_a_row(t):
    d = Daemon(t, store={'log_other': 'hosts', 'access_log': 'access.log'}).start()
    url, host = origin_url(t)
    load = Load(d.port, url, host, threads=4, per_thread=250).start()
    for th in load.threads:
        th.join(60)
    eq(load.done, 1000, 'responses received')
    eq(load.statuses, {200: 1000}, 'statuses')
    eq(d.stop(), 0, 'exit code after SIGTERM')
    eq(d.rows(), 1000, 'events rows')
    eq(d.rows("SELECT count(*) FROM events WHERE kind = 'request' AND status = 200 AND method = 'GET'"),
       1000, 'complete request rows')
    eq(d.rows("SELECT sum(requests) FROM other_daily"), 1000, 'daily totals')
    with open(os.path.join(d.dir, 'access.log')) as f:
        lines = f.read().splitlines()
    eq(len(lines), 1000, 'access.log lines')
    squid = re.compile(r'^\d{10}\.\d{3} +\d+ 127\.0\.0\.1 TCP_MISS/200 \d+ GET http://\S+/size/100 - '
                       r'HIER_DIRECT/\S+ \S+$')
    bad = [ln for ln in lines if not squid.match(ln)]
    check(not bad, 'not in Squid native format: %r' % bad[:3])
    check('closed: 1000 records submitted, 1000 written, 0 dropped' in d.log(), 'closing line:\n' + d.log()[-800:])


def test_kill9_under_load(t):
    d = Daemon(t, store={'log_other': 'hosts'}, args=()).start()
    url, host = origin_url(t)
    load = Load(d.port, url, host, threads=6).start()
    time.sleep(3)
    before = load.done
    t0 = time.monotonic()
    os.kill(d.proc.pid, signal.SIGKILL)
    d.wait_exit(10)
    done = load.stop()
    rate = before / 3.0
    rows = d.rows("SELECT count(*) FROM events WHERE status = 200")
    missing = done - rows
    window = rate * 0.25
    print('     kill -9 at %.0f requests/s: %d completed, %d rows, %d missing '
          '(a 250 ms batch window is %.0f requests)' % (rate, done, rows, missing, window), flush=True)
    check(missing >= 0 or rows - done <= 6, 'more rows than completed requests: %d > %d' % (rows, done))
    check(missing <= max(50, rate * 0.5) + 6,
          '%d of %d completed requests missing after kill -9 (%.0f/s)' % (missing, done, rate))
    # the database is intact and opens again
    d2 = Daemon(t, store={'database': d.db, 'log_other': 'hosts'}, args=()).start()
    eq(d2.stop(), 0, 'restart on the killed database')
    eq(d2.rows(), rows, 'rows after the restart')


def test_locked_for_10s(t):
    d = Daemon(t, store={'log_other': 'hosts'}, args=()).start()
    url, host = origin_url(t)
    load = Load(d.port, url, host, threads=3, pause=0.005).start()
    time.sleep(1)
    other = sqlite3.connect(d.db, timeout=10, isolation_level=None)
    other.execute('BEGIN EXCLUSIVE')
    other.execute("INSERT INTO meta (key, value) VALUES ('other-process', 'was here')")
    t0 = time.monotonic()
    time.sleep(10)
    during = load.done
    other.execute('COMMIT')
    other.close()
    time.sleep(2)
    done = load.stop()
    eq(load.errors, 0, 'client errors')
    check(during > 100, 'too little traffic while locked: %d' % during)
    eq(d.stop(), 0, 'exit code')
    log = d.log()
    check(re.search(r'cannot write to .*locked by another process', log), 'no lock message:\n' + log[-1500:])
    check('writing again after' in log, 'no recovery message:\n' + log[-1500:])
    eq(d.rows("SELECT count(*) FROM events WHERE status = 200"), done, 'rows == completed requests')
    check(re.search(r'closed: \d+ records submitted, \d+ written, 0 dropped \(queue full\), 0 lost', log),
          'closing line:\n' + log[-800:])
    eq(d.rows("SELECT value FROM meta WHERE key = 'other-process'"), 'was here', "the other process's write")


def test_disk_full(t):
    # room for the schema, not for much traffic: the WAL cannot grow past 256 KiB
    d = Daemon(t, store={'log_other': 'hosts'}, args=(), fsize=256 * 1024).start()
    url, host = origin_url(t)
    load = Load(d.port, url, host, threads=3, pause=0.002).start()
    wait_for(lambda: 'cannot write to' in d.log(), 60, what='a write error in the log')
    mark = load.done
    time.sleep(2)
    check(load.done > mark + 50, 'proxying stopped while the store could not write (%d -> %d)' % (mark, load.done))
    eq(load.errors, 0, 'client errors while the disk was full')
    check(d.alive(), 'breaktimed died')
    # the administrator makes room
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    wait_for(lambda: 'writing again after' in d.log(), 30, what='recovery in the log')
    done = load.stop()
    eq(d.stop(), 0, 'exit code')
    print('     ' + [ln for ln in d.log().splitlines() if 'cannot write' in ln][0][3:], flush=True)
    eq(d.rows("SELECT count(*) FROM events WHERE status = 200"), done, 'rows == completed requests')
    check(re.search(r'closed: \d+ records submitted, \d+ written, 0 dropped \(queue full\), 0 lost', d.log()),
          'closing line:\n' + d.log()[-800:])


def test_sarg_reads_access_log(t):
    sarg = shutil.which('sarg')
    if not sarg:
        raise TestSkip('sarg is not installed (apt-get install sarg)')
    d = Daemon(t, store={'log_other': 'hosts', 'access_log': 'access.log'}, args=()).start()
    url, host = origin_url(t)
    Load(d.port, url, host, threads=2, per_thread=20).start().stop()
    eq(d.stop(), 0, 'exit code')
    out = os.path.join(d.dir, 'sarg')
    os.makedirs(out)
    conf = os.path.join(d.dir, 'sarg.conf')
    with open(conf, 'w') as f:
        f.write('access_log %s/access.log\noutput_dir %s\nresolve_ip no\n'
                'overwrite_report yes\ngraphs no\n' % (d.dir, out))
    p = subprocess.run([sarg, '-f', conf, '-x'], capture_output=True, timeout=60, env=clean_env(), cwd=d.dir)
    text = ''
    for root, _, files in os.walk(out):
        for fn in files:
            if fn.endswith('.html'):
                text += open(os.path.join(root, fn), errors='replace').read()
    check(text, 'sarg wrote no report (rc %d):\n%s' % (p.returncode, (p.stdout + p.stderr).decode()[-2000:]))
    check('127.0.0.1' in text, 'our client is not in the report')
    check('origin.test' in text, 'our site origin.test is not in the report')
    top = open(os.path.join(out, [x for x in os.listdir(out) if x[0].isdigit()][0], 'topsites.html')).read()
    check('origin.test' in top, 'origin.test is not among the top sites')


def htpasswd(t, user, password):
    """An htpasswd file with one SHA-crypt ($5$) entry (openssl passwd)."""
    h = subprocess.run(['openssl', 'passwd', '-5', password], capture_output=True, check=True,
                       env=clean_env()).stdout.decode().strip()
    path = os.path.join(t.tmp, 'users%d.htpasswd' % t.next_id())
    with open(path, 'w') as f:
        f.write('%s:%s\n' % (user, h))
    return path


def flood_407(port, url, host, total, conns=4, burst=250, deadline=90.0):
    """total requests without credentials, pipelined `burst` at a time on
    `conns` keep-alive connections; returns how many 407s came back (bounded
    by deadline seconds)."""
    head = ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bt-flood\r\n\r\n' % (url, host)).encode()
    got = [0] * conns
    end = time.monotonic() + deadline

    def one(i):
        import socket
        left = total // conns + (1 if i < total % conns else 0)
        while left > 0 and time.monotonic() < end:
            s = socket.create_connection((LOOPBACK, port), timeout=10)
            try:
                while left > 0 and time.monotonic() < end:
                    n = min(burst, left)
                    s.sendall(head * n)
                    buf = b''
                    seen = 0
                    while seen < n:
                        data = s.recv(1 << 16)
                        if not data:
                            break
                        buf += data
                        seen = buf.count(b'HTTP/1.1 407 ')
                    got[i] += seen
                    left -= seen
                    if seen < n:
                        break  # the proxy closed: a new connection
            finally:
                s.close()

    ths = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(conns)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(deadline + 15)
    return sum(got)


def metric(port, name):
    """One value of breaktimed's /metrics (the proxy's own page, from loopback)."""
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        c.request('GET', '/metrics')
        body = c.getresponse().read().decode()
    finally:
        c.close()
    m = re.search(r'^%s (\d+)$' % re.escape(name), body, re.M)
    check(m, 'no %s in /metrics:\n%s' % (name, body[-2000:]))
    return int(m.group(1))


def test_flood_keeps_evidence(t):
    # issue 11: an unauthenticated flood wrote a row per 407 and pushed the
    # records of signed-in people out of a full queue. Now refusals without an
    # identity are counted per client, reason and minute: a few rows, every
    # legitimate request still a row, the flood's 407s all counted.
    pw = 'Flood-test-pw-3Kq'
    d = Daemon(t, store={'log_other': 'hosts', 'queue': '64'}, args=(),
               extra_conf='[auth]\nrequired = yes\nhtpasswd = %s\n' % htpasswd(t, 'alice', pw)).start()
    url, host = origin_url(t)
    auth = 'Basic ' + base64.b64encode(('alice:' + pw).encode()).decode()
    legit = {'done': 0, 'statuses': {}}

    def person():
        c = http.client.HTTPConnection(LOOPBACK, d.port, timeout=10)
        for _ in range(200):
            c.request('GET', url, headers={'Host': host, 'Proxy-Authorization': auth})
            r = c.getresponse()
            r.read()
            legit['statuses'][r.status] = legit['statuses'].get(r.status, 0) + 1
            legit['done'] += 1
            time.sleep(0.01)
        c.close()

    th = threading.Thread(target=person, daemon=True)
    t0 = time.monotonic()
    th.start()
    sent = flood_407(d.port, url, host, 20000)
    th.join(60)
    took = time.monotonic() - t0
    eq(legit['statuses'], {200: 200}, 'the signed-in person')
    check(sent >= 19000, 'only %d of 20000 407s within the time limit' % sent)
    try:
        aggregated = metric(d.port, 'breaktime_store_records_aggregated_total')
    except harness.TestFailure as e:
        aggregated = -1
        missing_metric = str(e)
    eq(d.stop(), 0, 'exit code')
    people = d.rows("SELECT count(*) FROM events WHERE user = 'alice' AND status = 200")
    rows = d.rows("SELECT count(*) FROM events WHERE reason = 'auth-required'")
    print('     %d 407s and 200 signed-in requests in %.1f s: %d rows of the person, %d auth-required '
          'rows, %d aggregated in /metrics' % (sent, took, people, rows, aggregated), flush=True)
    eq(people, 200, "the person's rows (none dropped)")
    check(rows <= 20, '%d auth-required rows for one client (at most 2 per key and minute)' % rows)
    eq(d.rows("SELECT sum(count) FROM events WHERE reason = 'auth-required'"), sent,
       'the 407s counted in auth-required rows')
    check(aggregated >= 0, missing_metric if aggregated < 0 else '')
    eq(aggregated, sent, 'breaktime_store_records_aggregated_total')
    check(re.search(r'closed: \d+ records submitted, \d+ written, 0 dropped \(queue full\), 0 lost', d.log()),
          'closing line:\n' + d.log()[-800:])


if __name__ == '__main__':
    run(globals())
