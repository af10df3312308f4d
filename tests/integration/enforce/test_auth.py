#!/usr/bin/env python3
"""
Identity (issue 5): Basic proxy authentication against an htpasswd file
(bcrypt from `htpasswd -B`, SHA-crypt $5$/$6$), the Squid basic_ncsa_auth
helper, the failure rate limit, the devices map, the HTTPS proxy listener,
and that credentials never reach the log or the store. Real curl clients,
rows of the store checked for each case.

The daemon runs on a fake clock at Monday 2026-11-23 10:35 (a break with no
students), so the person's group decides facebook: staff allowed, guests
never -- identity is seen to drive the policy, not just to open the door.
"""
import base64
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (Skip, check, curl, eq, make_cert, need, run, via, wait_for,  # noqa: E402
                 raw_request, clean_env, BREAKTIME, BREAKTIMED)
import harness  # noqa: E402

# passwords: distinctive byte strings, searched for in the log and the store at the end
PW = {
    'alice': 'Alice-bcrypt-7Qz',      # bcrypt ($2y$, htpasswd -B)
    'bob': 'Bob-sha256-k2P',          # SHA-crypt $5$
    'dave': 'Dave:sha512:with:colons',  # SHA-crypt $6$, colons after the first are the password's
}
WRONG = 'Wrong-guess-X9v'
NCSA_PW = 'Ncsa-md5-Lq4'
AT = '2026-11-23 10:35'


def htpasswd_file(kit):
    path = kit.path('users.htpasswd')
    if not os.path.exists(path):
        need('htpasswd')
        bc = subprocess.run(['htpasswd', '-nbB', '-C', '5', 'alice', PW['alice']], capture_output=True,
                            check=True, env=clean_env()).stdout.decode().strip()
        h5 = subprocess.run(['openssl', 'passwd', '-5', PW['bob']], capture_output=True, check=True,
                            env=clean_env()).stdout.decode().strip()
        h6 = subprocess.run(['openssl', 'passwd', '-6', PW['dave']], capture_output=True, check=True,
                            env=clean_env()).stdout.decode().strip()
        check(bc.startswith('alice:$2y$') and h5.startswith('$5$') and h6.startswith('$6$'), 'hashes: %s %s %s' % (bc, h5, h6))
        kit.write('users.htpasswd', '%s\nbob:%s\ndave:%s\n' % (bc, h5, h6))
    return path


def policy(kit, helper=None, workers=None):
    devices = kit.write('devices', '127.0.0.5 kiosk\n')
    auth = ('helper = %s' % helper) if helper else ('htpasswd = %s' % htpasswd_file(kit))
    return '''
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30
breaks = mon-fri 10:30-10:45
[auth]
default_group = guests
required = yes
%s
devices = %s
[group staff]
members = alice, bob, kiosk, ncsa
''' % (auth, devices)


def main_daemon(kit):
    crt, key = make_cert(kit.tmp)
    return kit.daemon(policy(kit), at=AT, proxy={
        'tls_listen': '127.0.0.1:0', 'tls_certificate': crt, 'tls_key': key,
        'connect_ports': str(kit.tls.port)})


def proxy(kit):
    return kit.shared('htpasswd', main_daemon)


def get(kit, d, host='www.example.org', user=None, pw=None, src='127.0.0.1'):
    args = ['--proxy-user', '%s:%s' % (user, pw)] if user else []
    return via(kit, d, host, src=src, args=args)


def test_no_credentials_407(kit):
    d = proxy(kit)
    hits = len(kit.origin.hits)
    r = get(kit, d)
    eq(r.code, 407, 'no credentials: %r' % r)
    ch = r.header('Proxy-Authenticate') or ''
    check(ch.startswith('Basic ') and 'realm=' in ch, 'Proxy-Authenticate: %r' % ch)
    eq(len(kit.origin.hits), hits, 'requests that reached the origin')
    # CONNECT too
    out = raw_request(d.port, b'CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n')
    check(out.startswith(b'HTTP/1.1 407') and b'Proxy-Authenticate: Basic' in out, 'CONNECT without credentials: %r' % out[:300])
    rows = d.wait_event(kind='blocked', reason='auth-required')
    eq({(x['status'], x['verdict']) for x in rows}, {(407, 'block')}, 'auth-required rows')


def test_wrong_password_407(kit):
    d = proxy(kit)
    r = get(kit, d, user='alice', pw=WRONG)
    eq(r.code, 407, 'wrong password')
    check((r.header('Proxy-Authenticate') or '').startswith('Basic'), 'challenge again after a wrong password')
    r = get(kit, d, user='nobody', pw=WRONG)
    eq(r.code, 407, 'unknown user')
    rows = d.wait_event(kind='blocked', reason='auth-failed')
    check(all(x['status'] == 407 for x in rows), 'auth-failed rows: %r' % rows)


def test_bcrypt_right_password(kit):
    d = proxy(kit)
    r = get(kit, d, user='alice', pw=PW['alice'])
    eq(r.code, 200, 'alice with her bcrypt password: %r' % r)
    check('origin says hello' in r.body, 'origin body')
    # her group decides: staff in a break may use facebook
    r = get(kit, d, 'www.facebook.com', user='alice', pw=PW['alice'])
    eq(r.code, 200, 'staff on facebook in the break: %r' % r)
    row = d.wait_event(kind='request', host='www.facebook.com', user='alice')[-1]
    eq((row['grp'], row['verdict'], row['reason']), ('staff', 'allow', 'allowed'), 'alice row')


def test_sha_crypt_passwords(kit):
    d = proxy(kit)
    r = get(kit, d, 'www.facebook.com', user='bob', pw=PW['bob'])
    eq(r.code, 200, 'bob ($5$) on facebook: %r' % r)
    d.wait_event(kind='request', host='www.facebook.com', user='bob', grp='staff')
    # dave ($6$, a password with colons) is in no group: guests, never
    r = get(kit, d, 'www.example.org', user='dave', pw=PW['dave'])
    eq(r.code, 200, 'dave ($6$) on a non-social site: %r' % r)
    r = get(kit, d, 'www.facebook.com', user='dave', pw=PW['dave'])
    eq(r.code, 403, 'dave (guests) on facebook')
    check('not allowed for this group' in r.body, 'block page reason: %r' % r.body[:400])
    row = d.wait_event(kind='blocked', host='www.facebook.com', user='dave')[-1]
    eq((row['grp'], row['reason']), ('guests', 'group-never'), 'dave row')
    # the colon-less prefix of dave's password is not his password
    r = get(kit, d, user='dave', pw=PW['dave'].split(':')[0])
    eq(r.code, 407, 'dave with only the part before the first colon')


def test_device_map_without_credentials(kit):
    d = proxy(kit)
    r = get(kit, d, 'www.facebook.com', src='127.0.0.5')
    eq(r.code, 200, 'kiosk device (127.0.0.5 in devices) without credentials: %r' % r)
    row = d.wait_event(kind='request', host='www.facebook.com', user='kiosk')[-1]
    eq((row['grp'], row['client']), ('staff', '127.0.0.5'), 'kiosk row')
    # an address not in the map still has to sign in
    eq(get(kit, d, src='127.0.0.6').code, 407, 'unmapped 127.0.0.6 without credentials')


def test_status_page_is_the_signed_in_persons(kit):
    # http://<visible_hostname>/status through the proxy: the person who signed in to
    # the proxy, and nobody else (a query naming someone else changes nothing)
    d = proxy(kit)
    eq(get(kit, d, 'www.facebook.com', user='alice', pw=PW['alice']).code, 200, 'alice on facebook')
    base = ['-x', 'http://127.0.0.1:%d' % d.port]
    r = curl(kit, *base, 'http://bt-e2e/status')
    eq(r.code, 407, '/status without credentials (auth required)')
    r = curl(kit, *base, '--proxy-user', 'alice:' + PW['alice'], 'http://bt-e2e/status')
    eq(r.code, 200, "alice's /status: %r" % r)
    check('<b>alice</b>' in r.body and 'staff' in r.body, 'status page of alice:\n%s' % r.body)
    check(re.search(r'<td>facebook</td><td>[1-9]', r.body), 'alice\'s facebook minutes:\n%s' % r.body)
    r = curl(kit, *base, '--proxy-user', 'bob:' + PW['bob'], 'http://bt-e2e/status?user=alice')
    eq(r.code, 200, "bob's /status")
    check('<b>bob</b>' in r.body and 'alice' not in r.body, 'bob asking for alice:\n%s' % r.body)


def test_https_proxy_listener(kit):
    d = proxy(kit)
    check(d.tls_port, 'no HTTPS proxy listener logged')
    base = ['--proxy', 'https://127.0.0.1:%d' % d.tls_port, '--proxy-insecure']
    r = curl(kit, *base, 'http://www.example.org:%d/' % kit.origin.port)
    eq(r.code, 407, 'HTTPS proxy without credentials: %r' % r)
    r = curl(kit, *base, '--proxy-user', 'alice:' + PW['alice'], 'http://www.facebook.com:%d/tls' % kit.origin.port)
    eq(r.code, 200, 'HTTPS proxy with credentials: %r' % r)
    check('/tls' in r.body, 'origin body: %r' % r.body)
    # CONNECT through the TLS listener to a TLS origin: TLS inside TLS
    r = curl(kit, *base, '--proxy-user', 'alice:' + PW['alice'], '-k', 'https://www.example.org:%d/' % kit.tls.port)
    eq(r.code, 200, 'CONNECT through the HTTPS proxy: %r' % r)
    check('s_server' in r.body or 'Ciphers' in r.body or 'TLS' in r.body, 'the TLS origin answered: %r' % r.body[:200])
    row = d.wait_event(kind='request', host='www.facebook.com', user='alice')
    check(row, 'alice row over the HTTPS proxy')
    # a plain-HTTP client on the TLS port gets nothing useful
    out = raw_request(d.tls_port, b'GET http://www.example.org/ HTTP/1.1\r\nHost: www.example.org\r\n\r\n', timeout=3)
    check(not out.startswith(b'HTTP/1.1 200'), 'plain HTTP on the TLS listener: %r' % out[:200])


def test_failure_rate_limit_429(kit):
    # 10 failures a minute from one address; then 429 for that address, even with
    # the right password, while other addresses are unaffected (workers = 1: the
    # failure table is per worker)
    d = kit.daemon(policy(kit), at=AT, proxy={'workers': '1'})
    src = '127.0.0.9'
    codes = [get(kit, d, user='alice', pw='%s-%d' % (WRONG, i), src=src).code for i in range(10)]
    eq(codes, [407] * 10, 'the first 10 failures')
    r = get(kit, d, user='alice', pw=WRONG + '-11', src=src)
    eq(r.code, 429, '11th attempt within a minute')
    r = get(kit, d, user='alice', pw=PW['alice'], src=src)
    eq(r.code, 429, 'right password from the limited address')
    eq(get(kit, d, user='alice', pw=PW['alice'], src='127.0.0.10').code, 200, 'another address')
    rows = d.wait_event(reason='auth-rate-limited')
    check(all(x['status'] == 429 and x['client'] == src for x in rows), 'rate-limited rows: %r' % rows)
    # refusals without an identity are counted per client, reason and minute
    # (a row with a count); stopping writes what the current minute holds
    eq(d.stop(), 0, 'exit code')
    eq(sum(x['count'] for x in d.events(reason='auth-failed', client=src)), 10, 'auth-failed from %s' % src)


def test_failure_rate_limit_across_workers(kit):
    # the same, with 4 workers: the limit is per client address, so which worker's
    # SO_REUSEPORT socket a connection lands on must not matter
    d = kit.daemon(policy(kit), at=AT, proxy={'workers': '4'})
    src = '127.0.0.11'
    codes = [get(kit, d, user='alice', pw='%s-%d' % (WRONG, i), src=src).code for i in range(12)]
    check(429 in codes, '12 failures from one address over 4 workers, one connection each: got %s, expected a 429 '
          'by the 11th' % codes)
    check(codes.index(429) == 10, 'first 429 at attempt %d: %s' % (codes.index(429) + 1, codes))


FAIL_MAX = 10          # proxy/identity.c: failed sign-ins per address per minute
INFLIGHT_MAX = 2       # proxy/identity.c: verifications queued or running per address
SLOW_PW = 'Carol-bcrypt10-Rt5'


def slow_daemon(kit):
    """A daemon whose users, carol and erin, have bcrypt cost-10 hashes (tens of ms a check)."""
    need('htpasswd')
    lines = [subprocess.run(['htpasswd', '-nbB', '-C', '10', u, SLOW_PW], capture_output=True, check=True,
                            env=clean_env()).stdout.decode().strip() for u in ('carol', 'erin')]
    check(lines[0].startswith('carol:$2y$10$'), 'cost-10 hash: %s' % lines[0])
    path = kit.write('slow.htpasswd', '\n'.join(lines) + '\n')
    text = policy(kit).replace('htpasswd = %s' % htpasswd_file(kit), 'htpasswd = %s' % path)
    return kit.daemon(text, at=AT, proxy={'max_connections_per_client': '1000'})


def auth_failures(d):
    out = raw_request(d.port, b'GET /metrics HTTP/1.1\r\nHost: bt-e2e\r\nConnection: close\r\n\r\n')
    m = re.search(rb'^breaktime_auth_failures_total (\d+)', out, re.M)
    check(m, '/metrics without breaktime_auth_failures_total: %r' % out[:300])
    return int(m.group(1))


def cpu_seconds(d):
    """The daemon's CPU time so far (user + system), from /proc."""
    fields = open('/proc/%d/stat' % d.proc.pid).read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def guess_burst(kit, d, src, n, user, pw=None):
    """n connections from src at once, each with its own wrong password (or
    all with pw); the sockets, their requests sent and nothing read yet."""
    socks = []
    for i in range(n):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(10)
        s.connect(('127.0.0.1', d.port))
        cred = base64.b64encode(('%s:%s' % (user, pw or '%s-%d' % (WRONG, i))).encode()).decode()
        s.sendall(('GET http://www.example.org:%d/ HTTP/1.1\r\nHost: www.example.org:%d\r\n'
                   'Proxy-Authorization: Basic %s\r\nConnection: close\r\n\r\n'
                   % (kit.origin.port, kit.origin.port, cred)).encode())
        socks.append(s)
    return socks


def burst_statuses(socks, timeout):
    """The status code each socket got (0: none within timeout), then closed."""
    got = {s: b'' for s in socks}
    end = time.monotonic() + timeout
    open_ = set(socks)
    while open_ and time.monotonic() < end:
        ready, _, _ = select.select(list(open_), [], [], max(0.0, end - time.monotonic()))
        for s in ready:
            try:
                data = s.recv(4096)
            except OSError:
                data = b''
            got[s] += data
            if not data or b'\r\n' in got[s]:
                open_.discard(s)
    codes = []
    for s in socks:
        m = re.match(rb'HTTP/1\.1 (\d{3})', got[s])
        codes.append(int(m.group(1)) if m else 0)
        s.close()
    return codes


def test_guess_burst_bounded_and_fair(kit):
    # 250 concurrent wrong passwords from one address: the guesses in flight
    # count against the limit, so at most FAIL_MAX are verified (checking
    # the count before and counting after let all 250 be hashed), and the
    # address has at most INFLIGHT_MAX verifications queued at once, so
    # another address's sign-in during the burst waits for at most about
    # one of them (it waited for the whole burst: ~26 s)
    d = kit.shared('slow', slow_daemon)
    eq(get(kit, d, user='carol', pw=SLOW_PW, src='127.0.0.4').code, 200, 'carol before the burst')
    # what one verification costs the daemon: the CPU time of 5 wrong guesses
    # (the burst's verifications are counted by the CPU time they take: the
    # 407s and the failure counter do not show the hashes whose answers came
    # back over the limit as 429)
    cpu0 = cpu_seconds(d)
    eq([get(kit, d, user='carol', pw='%s-probe-%d' % (WRONG, i), src='127.0.0.7').code for i in range(5)],
       [407] * 5, 'five wrong guesses from 127.0.0.7')
    per_check = max((cpu_seconds(d) - cpu0) / 5, 0.005)
    failures0 = auth_failures(d)
    cpu0 = cpu_seconds(d)
    socks = guess_burst(kit, d, '127.0.0.2', 250, 'carol')
    t0 = time.monotonic()
    r = get(kit, d, user='erin', pw=SLOW_PW, src='127.0.0.3')  # her first sign-in: not cached
    legit = time.monotonic() - t0
    codes = burst_statuses(socks, 120)
    hashed = (cpu_seconds(d) - cpu0) / per_check
    counted = auth_failures(d) - failures0
    n407, n429 = codes.count(407), codes.count(429)
    print('one verification: %.0f ms CPU; burst of 250 from 127.0.0.2: %d x 407, %d x 429, %d other, '
          '~%.1f verifications (CPU), %d failures counted; sign-in from 127.0.0.3 during it: %.3f s'
          % (per_check * 1000, n407, n429, len(codes) - n407 - n429, hashed, counted, legit))
    eq(r.code, 200, 'erin from 127.0.0.3 during the burst: %r' % r)
    eq(n407 + n429, 250, 'every guess answered 407 or 429: %s' % sorted(set(codes)))
    check(hashed <= FAIL_MAX + INFLIGHT_MAX and n407 <= FAIL_MAX + INFLIGHT_MAX,
          'the burst cost ~%.0f verifications of CPU, %d guesses answered 407: at most %d + %d a minute'
          % (hashed, n407, FAIL_MAX, INFLIGHT_MAX))
    check(legit < 2.0, 'a sign-in from another address took %.2f s during the burst' % legit)
    # guesses one at a time after the burst: together with the burst's, the
    # address gets FAIL_MAX answers from a verification a minute, then 429
    after = [get(kit, d, user='carol', pw='%s-after-%d' % (WRONG, i), src='127.0.0.2').code
             for i in range(FAIL_MAX + 2 - n407)]
    eq(n407 + after.count(407), FAIL_MAX, 'verified guesses from 127.0.0.2 in the minute (burst %d, then %s)'
       % (n407, after))
    eq(after[-2:], [429, 429], 'the guesses over the limit')
    eq(get(kit, d, user='carol', pw=SLOW_PW, src='127.0.0.2').code, 429, 'right password from the guessing address')
    eq(get(kit, d, user='carol', pw=SLOW_PW, src='127.0.0.3').code, 200, 'carol from 127.0.0.3')


def test_parallel_sign_in_of_one_browser(kit):
    # a browser sends the credentials just typed on all its connections at
    # once: one verification answers them all, none is refused by the
    # per-address cap on verifications in flight
    d = slow_daemon(kit)  # nothing cached yet
    codes = burst_statuses(guess_burst(kit, d, '127.0.0.8', 6, 'carol', pw=SLOW_PW), 30)
    eq(codes, [200] * 6, 'six connections with the same new credentials')
    # and six different wrong ones: INFLIGHT_MAX verified, the rest refused at once
    codes = burst_statuses(guess_burst(kit, d, '127.0.0.8', 6, 'carol'), 30)
    eq(sorted(codes), [407] * INFLIGHT_MAX + [429] * (6 - INFLIGHT_MAX), 'six different guesses at once')


# ---- one rule for user names: case-insensitive, recorded in lower case ----

ADMIN_PW = 'Admin-bcrypt-Hq8'


def case_files(kit, dup=False):
    """An htpasswd file with an `Admin` line (and, dup: an `admin` line too)
    and a device map naming `KIOSK`; returns (htpasswd path, devices path)."""
    need('htpasswd')
    adm = subprocess.run(['htpasswd', '-nbB', '-C', '5', 'Admin', ADMIN_PW], capture_output=True, check=True,
                         env=clean_env()).stdout.decode().strip()
    h5 = subprocess.run(['openssl', 'passwd', '-5', PW['bob']], capture_output=True, check=True,
                        env=clean_env()).stdout.decode().strip()
    text = '%s\nbob:%s\n' % (adm, h5)
    if dup:
        text += 'admin:%s\n' % h5
    users = kit.write('case-dup.htpasswd' if dup else 'case.htpasswd', text)
    return users, kit.write('case-devices', '127.0.0.12 KIOSK\n')


def case_policy(users, devices):
    # the admin group names `admin`, the htpasswd file `Admin`; staff names `Bob`
    return '''
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30
breaks = mon-fri 10:30-10:45
[auth]
default_group = guests
required = yes
htpasswd = %s
devices = %s
[group admin]
members = admin
[group staff]
members = Bob, kiosk
''' % (users, devices)


def test_user_names_are_one_person_in_any_case(kit):
    users, devices = case_files(kit)
    d = kit.daemon(case_policy(users, devices), at=AT)
    # facebook: its rows carry the user and the group (staff may, in a break)
    fb = 'www.facebook.com'
    codes = [get(kit, d, fb, user=u, pw=ADMIN_PW).code for u in ('Admin', 'admin', 'ADMIN')]
    check(407 not in codes, 'Admin, admin and ADMIN with the password of the `Admin` line: %s' % codes)
    eq(get(kit, d, user='aDmIn', pw=PW['bob']).code, 407, "admin with bob's password")
    eq(get(kit, d, fb, user='BOB', pw=PW['bob']).code, 200, 'BOB (bob in the file, Bob a member of staff)')
    eq(get(kit, d, fb, src='127.0.0.12').code, 200, 'the KIOSK device (kiosk a member of staff)')
    wait_for(lambda: len(d.events(host=fb)) >= 5, 5, what='5 rows for %s' % fb)
    rows = d.events(host=fb)
    eq(sorted((r['user'], r['grp']) for r in rows),
       [('admin', 'admin')] * 3 + [('bob', 'staff'), ('kiosk', 'staff')],
       'the recorded (user, group) of Admin, admin, ADMIN, BOB and the KIOSK device')

    # `breaktime web`: ADMIN logs in as the administrator admin, one session
    crt, key = make_cert(kit.tmp)
    port = harness.free_port()
    conf = kit.write('web.conf', open(d.conf_path).read() +
                     '\n[web]\nlisten = 127.0.0.1:%d\ncertificate = %s\nprivate_key = %s\n' % (port, crt, key))
    log = kit.path('web.log')
    with open(log, 'wb') as lf:
        web = kit.spawn([BREAKTIME, '-c', conf, 'web'], stdout=lf, stderr=lf, cwd=d.dir)
    wait_for(lambda: 'serving https://' in open(log).read() or web.poll() is not None, 10,
             what='breaktime web to start')
    check(web.poll() is None, 'breaktime web exited: %s' % open(log).read())
    try:
        for i, name in enumerate(('ADMIN', 'Admin')):
            status, session = web_login(port, name, ADMIN_PW, src='127.0.0.%d' % (20 + i))
            eq(status, 303, 'web login as %s' % name)
            check(session, 'a session cookie for %s' % name)
        status, _ = web_login(port, 'Bob', PW['bob'], src='127.0.0.22')
        eq(status, 403, 'Bob (staff, not admin) on the web UI')
        text = open(log).read()
        eq(len(re.findall(r'web: 127\.0\.0\.2[01]: admin logged in', text)), 2,
           'the two logins, as admin:\n%s' % text)
        check('ADMIN' not in text and 'Admin logged' not in text, 'a name in another case in the log:\n%s' % text)
    finally:
        kit.end(web)


def web_login(port, user, password, src):
    """GET /login, POST the form; (status, the bt_session cookie or '')."""
    import http.client
    import ssl
    import urllib.parse
    ctx = ssl._create_unverified_context()  # our own certificate, on loopback

    def request(method, path, body=None, cookies=None):
        c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx, timeout=20, source_address=(src, 0))
        h = {}
        if cookies:
            h['Cookie'] = '; '.join('%s=%s' % kv for kv in cookies.items())
        if body is not None:
            h['Content-Type'] = 'application/x-www-form-urlencoded'
            body = urllib.parse.urlencode(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        cookies = {}
        for v in r.msg.get_all('Set-Cookie') or []:
            name, _, value = v.split(';')[0].partition('=')
            cookies[name.strip()] = value
        return r.status, data.decode('utf-8', 'replace'), cookies

    status, page, cookies = request('GET', '/login')
    eq(status, 200, 'GET /login')
    token = cookies.get('bt_login', '')
    status, _, cookies = request('POST', '/login', {'csrf': token, 'user': user, 'password': password},
                                 {'bt_login': token})
    return status, cookies.get('bt_session', '')


def test_one_user_twice_in_htpasswd_is_refused(kit):
    # `Admin` and `admin` would be two passwords for one administrator:
    # breaktimed -t, a reload and breaktime web all refuse the file, naming both lines
    users, devices = case_files(kit)
    dup, _ = case_files(kit, dup=True)
    rc, err, _ = harness.check_config(kit.daemon(case_policy(dup, devices), start=False).conf_text())
    check(rc == 1 and '%s:3: user admin is already on line 1' % dup in err, 'breaktimed -t: exit %d: %s' % (rc, err))
    d = kit.daemon(case_policy(users, devices), at=AT)
    d.write_conf(open(d.conf_path).read().replace(users, dup))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: '%s:3: user admin is already on line 1' % dup in d.log(), 5, what='the reload refused')
    check('configuration reloaded' not in d.log(), 'a reload with the file:\n%s' % d.log()[-2000:])
    eq(get(kit, d, user='admin', pw=PW['bob']).code, 407, "admin with the second line's password after the reload")
    eq(get(kit, d, user='admin', pw=ADMIN_PW).code, 200, 'the old configuration still serves')
    crt, key = make_cert(kit.tmp)
    conf = kit.write('web-dup.conf', open(d.conf_path).read() +
                     '\n[web]\nlisten = 127.0.0.1:%d\ncertificate = %s\nprivate_key = %s\n'
                     % (harness.free_port(), crt, key))
    p = subprocess.run([BREAKTIME, '-c', conf, 'web'], capture_output=True, timeout=20, env=clean_env(), cwd=d.dir)
    err = (p.stdout + p.stderr).decode('utf-8', 'replace')
    check(p.returncode == 1 and '%s:3: user admin is already on line 1' % dup in err,
          'breaktime web: exit %d: %s' % (p.returncode, err))


def test_squid_basic_ncsa_auth_helper(kit):
    helper = need('/usr/lib/squid/basic_ncsa_auth')
    need('htpasswd')
    pwfile = kit.path('ncsa.htpasswd')
    subprocess.run(['htpasswd', '-c', '-b', '-m', pwfile, 'ncsa', NCSA_PW], capture_output=True, check=True,
                   env=clean_env())
    check(open(pwfile).read().startswith('ncsa:$apr1$'), 'MD5 hash written')
    d = kit.daemon(policy(kit, helper='%s %s' % (helper, pwfile)), at=AT)
    eq(get(kit, d).code, 407, 'no credentials with the helper')
    eq(get(kit, d, user='ncsa', pw=WRONG).code, 407, 'wrong password through the helper')
    r = get(kit, d, 'www.facebook.com', user='ncsa', pw=NCSA_PW)
    eq(r.code, 200, 'right password through basic_ncsa_auth: %r' % r)
    row = d.wait_event(kind='request', host='www.facebook.com', user='ncsa')[-1]
    eq((row['grp'], row['reason']), ('staff', 'allowed'), 'ncsa row')
    # the helper runs as the daemon's child and ends with it
    def helpers():
        out = []
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    cmd = open('/proc/%s/cmdline' % pid, 'rb').read()
                except OSError:
                    continue
                if pwfile.encode() in cmd and b'basic_ncsa_auth' in cmd:
                    out.append(int(pid))
        return out
    kids = helpers()
    check(kids, 'no basic_ncsa_auth process with our password file')
    for pid in kids:
        ppid = int(open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[1])
        eq(ppid, d.proc.pid, 'parent of helper %d' % pid)
    eq(d.stop(), 0, 'exit code')
    wait_for(lambda: not helpers(), 5, what='the helpers to end with the daemon')


def test_reload_picks_up_members_and_users(kit):
    # SIGHUP: a new member of staff and a new password file take effect without a restart
    d = kit.daemon(policy(kit), at=AT)
    eq(get(kit, d, 'www.facebook.com', user='dave', pw=PW['dave']).code, 403, 'dave (guests) before the reload')
    eq(get(kit, d, user='erin', pw='Erin-new-3Jd').code, 407, 'erin before she has a password')
    with open(d.conf_path) as f:
        text = f.read()
    text = text.replace('members = alice, bob, kiosk, ncsa', 'members = alice, bob, kiosk, ncsa, dave, erin')
    h5 = subprocess.run(['openssl', 'passwd', '-5', 'Erin-new-3Jd'], capture_output=True, check=True,
                        env=clean_env()).stdout.decode().strip()
    users2 = kit.write('users2.htpasswd', open(htpasswd_file(kit)).read() + 'erin:%s\n' % h5)
    text = text.replace('htpasswd = %s' % htpasswd_file(kit), 'htpasswd = %s' % users2)
    with open(d.conf_path + '.new', 'w') as f:
        f.write(text)
    os.replace(d.conf_path + '.new', d.conf_path)
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: 'configuration reloaded' in d.log(), 5, what='"configuration reloaded"')
    eq(get(kit, d, 'www.facebook.com', user='dave', pw=PW['dave']).code, 200, 'dave (staff) after the reload')
    eq(get(kit, d, 'www.facebook.com', user='erin', pw='Erin-new-3Jd').code, 200, 'erin after the reload')
    rows = d.wait_event(kind='request', host='www.facebook.com', user='dave')
    eq(rows[-1]['grp'], 'staff', "dave's group after the reload")
    d.wait_event(kind='request', host='www.facebook.com', user='erin', grp='staff')
    eq([r['grp'] for r in d.events(kind='blocked', host='www.facebook.com', user='dave')], ['guests'],
       "dave's group before the reload")


def test_reload_removes_users(kit):
    # alice leaves: her line goes from the htpasswd file, and after the reload her
    # password no longer works -- also after a second reload (a cached answer of
    # the first configuration must not come back)
    d = kit.daemon(policy(kit), at=AT, proxy={'workers': '1'})
    eq(get(kit, d, user='alice', pw=PW['alice']).code, 200, 'alice before she leaves')
    path = htpasswd_file(kit)
    without = kit.write('users-no-alice.htpasswd',
                        ''.join(ln for ln in open(path) if not ln.startswith('alice:')))
    text = open(d.conf_path).read().replace('htpasswd = %s' % path, 'htpasswd = %s' % without)
    with open(d.conf_path + '.new', 'w') as f:
        f.write(text)
    os.replace(d.conf_path + '.new', d.conf_path)
    codes = []
    for n in (1, 2, 3):
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: d.log().count('configuration reloaded') >= n, 5, what='reload %d' % n)
        codes.append(get(kit, d, user='alice', pw=PW['alice']).code)
    eq(codes, [407, 407, 407], 'alice after reloads 1, 2, 3 without her in the htpasswd file')


def test_reload_https_proxy_certificate(kit):
    # the HTTPS proxy listener's certificate comes with the generation: a new
    # certificate serves new connections after a reload, one opened before
    # keeps its own; a file without tls_listen keeps the listener (a restart
    # takes it away) with the certificate it has, and says so
    import ssl
    crt1, key1 = make_cert(kit.tmp)
    crt2, key2 = harness.make_cert(kit.tmp, 'proxy-two.test', ('proxy-two.test',), prefix='second-')
    d = kit.daemon(policy(kit), at=AT, proxy={'tls_listen': '127.0.0.1:0', 'tls_certificate': crt1,
                                              'tls_key': key1})
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def served():
        s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', d.tls_port), timeout=5))
        return s, s.getpeercert(binary_form=True)
    der = {c: ssl.PEM_cert_to_DER_cert(open(c).read()) for c in (crt1, crt2)}
    held, cert = served()
    eq(cert, der[crt1], 'the certificate at start')
    text = open(d.conf_path).read()
    d.write_conf(text.replace(crt1, crt2).replace(key1, key2))
    mark = len(d.log())
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: 'configuration reloaded' in d.log()[mark:], 5, what='the reload')
    s, cert = served()
    s.close()
    eq(cert, der[crt2], 'the certificate of a connection after the reload')
    auth = base64.b64encode(('alice:' + PW['alice']).encode()).decode()
    held.sendall(('GET http://www.example.org:%d/held HTTP/1.1\r\nHost: www.example.org\r\n'
                  'Proxy-Authorization: Basic %s\r\nConnection: close\r\n\r\n' % (kit.origin.port, auth)).encode())
    eq(held.recv(12), b'HTTP/1.1 200', 'the connection opened before the reload')
    held.close()
    # tls_listen gone from the file: the listener stays until a restart, with the second certificate
    lines = [ln for ln in open(d.conf_path).read().splitlines(True) if not ln.startswith('tls_listen')]
    d.write_conf(''.join(lines))
    mark = len(d.log())
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: 'configuration reloaded' in d.log()[mark:], 5, what='the second reload')
    check('reload: [proxy] tls_listen changed; takes effect at the next restart' in d.log()[mark:],
          'no line for tls_listen:\n%s' % d.log()[mark:])
    s, cert = served()
    s.close()
    eq(cert, der[crt2], 'the certificate after tls_listen went from the file')


def test_reload_pairs_devices_with_policy(kit):
    # A reload is one generation: a connection gets the configuration and the
    # identity database (here the devices map) of the same reload, never the
    # new groups with the old map. Two files swapped back and forth while
    # 127.0.0.7 opens connection after connection: in one it is erin and erin
    # may never use social media, in the other it is frank and frank may
    # never; the default group may always. So every answer is 403 unless a
    # connection paired one file's map with the other's groups (200, a guest).
    # A large extra domain list makes each configuration slow to free, which
    # widens the moment between two separate swaps.
    big = kit.write('big.list', ''.join('d%d.bulk.test\n' % i for i in range(150000)))

    def conf(who):
        devices = kit.write('devices-' + who, '127.0.0.7 %s\n' % who)
        return ('\n[auth]\ndefault_group = guests\ndevices = %s\n'
                '[group shut]\nmembers = %s\nsocial = never\n'
                '[group guests]\nsocial = always\n' % (devices, who))
    d = kit.daemon(conf('erin'), catalog={'lists': big}, proxy={'workers': '2'})
    text = open(d.conf_path).read()
    texts = [text.replace(conf('erin'), conf('frank')), text]
    check(texts[0] != texts[1], 'test setup')
    request = ('GET http://www.facebook.com:%d/ HTTP/1.1\r\nHost: www.facebook.com:%d\r\n'
               'Connection: close\r\n\r\n' % (kit.origin.port, kit.origin.port)).encode()
    stop = threading.Event()
    codes = {}
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            s = socket.socket()
            try:
                s.settimeout(5)
                s.bind(('127.0.0.7', 0))
                s.connect(('127.0.0.1', d.port))
                s.sendall(request)
                head = s.recv(64)
            except OSError:
                head = b'error'
            finally:
                s.close()
            m = re.match(rb'HTTP/1\.1 (\d{3})', head)
            code = int(m.group(1)) if m else head[:20]
            with lock:
                codes[code] = codes.get(code, 0) + 1
    threads = [threading.Thread(target=client) for _ in range(3)]
    for th in threads:
        th.start()
    try:
        for n in range(1, 31):
            d.write_conf(texts[n % 2])
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: d.log().count('configuration reloaded') >= n, 10, step=0.01,
                     what='reload %d' % n)
    finally:
        stop.set()
        for th in threads:
            th.join(10)
    check(sum(codes.values()) > 100, 'too few requests to say anything: %r' % codes)
    eq(codes.get(200, 0), 0, "connections that paired one reload's devices with the other's groups "
       '(answers: %r)' % codes)
    eq(set(codes), {403}, 'answers')


def test_credentials_never_logged_or_stored(kit):
    d = proxy(kit)
    # one more of each, with the most verbose logging the daemon has (-v -d)
    get(kit, d, user='alice', pw=PW['alice'])
    get(kit, d, user='alice', pw=WRONG)
    get(kit, d, 'www.facebook.com', user='bob', pw=PW['bob'])
    get(kit, d, 'www.facebook.com', user='dave', pw=PW['dave'])
    d.wait_event(user='dave', host='www.facebook.com')
    eq(d.stop(), 0, 'exit code')
    secrets = [p.encode() for p in list(PW.values()) + [WRONG]]
    secrets += [base64.b64encode(('%s:%s' % (u, p)).encode()) for u, p in PW.items()]
    secrets += [base64.b64encode(('alice:' + WRONG).encode())]
    files = [d.log_path] + [d.db + ext for ext in ('', '-wal', '-shm', '-journal') if os.path.exists(d.db + ext)]
    for f in files:
        data = open(f, 'rb').read()
        for s in secrets:
            check(s not in data, '%r found in %s' % (s, f))
    check(d.events(user='alice'), 'alice is recorded by name (the user name is not a secret)')


if __name__ == '__main__':
    run(globals())
