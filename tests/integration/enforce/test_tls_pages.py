#!/usr/bin/env python3
"""
Block pages over HTTPS (block_ca): a denied or warned CONNECT is answered
200, its TLS is terminated with a leaf the organisation's name-constrained
CA mints for the server name, and the block page or the warn interstitial
is served over it. Allowed HTTPS is never terminated.

Real parts: the CA comes from `breaktime ca create`; clients are curl
(--cacert), openssl s_client (-proxy, to read the certificate the client is
given) and headless Chromium with a throw-away NSS database (certutil) that
trusts the CA. Names resolve through the daemon's hosts file (all to
127.0.0.1); Chromium's own resolver maps everything to nothing but the
proxy, so nothing leaves the machine.
"""
import os
import re
import shutil
import subprocess
import tempfile

from e2e import (Skip, check, clean_env, curl, eq, harness, run, wait_for)

# On the real clock: the leaves are minted for now, and the clients check
# them against their own (real) clock. Staff may never use social media;
# the lunch group always may.
POLICY = '''
[site]
timezone = Europe/London
[auth]
default_group = staff
devices = %s
[group staff]
social = never
[group lunch]
members = larry
social = always
'''

BLOCKED_BY = 'group-never'

WARN_POLICY = '''
[site]
timezone = Europe/London
[auth]
default_group = guests
devices = %s
[group warned]
members = wendy
social = always
allowance = 0m
over_allowance = warn
'''



def policy(kit, allowed=False):
    devices = kit.write('devices-%s' % allowed, '127.0.0.1 larry\n' if allowed else '')
    return POLICY % devices


def the_ca(kit):
    """One CA for the module, made by `breaktime ca create` on the e2e catalog."""
    def make(kit):
        d = kit.daemon(policy(kit), start=False, name='ca-maker')
        cadir = os.path.join(kit.tmp, 'ca')
        rc, out = d.breaktime('ca', 'create', '-o', cadir)
        eq(rc, 0, 'breaktime ca create:\n%s' % out)
        check(re.search(r'([0-9A-F]{2}:){31}[0-9A-F]{2}', out), 'no SHA-256 fingerprint printed:\n%s' % out)
        return os.path.join(cadir, 'breaktime-ca.pem'), os.path.join(cadir, 'breaktime-ca.key')
    if kit.tmp not in _CA:
        _CA[kit.tmp] = make(kit)
    return _CA[kit.tmp]


_CA = {}


def ca_conf(kit, **extra):
    cert, key = the_ca(kit)
    conf = {'block_ca': cert, 'block_ca_key': key,
            'connect_ports': '443, %d' % kit.tls.port}
    conf.update(extra)
    return conf


def s_client(d, target, sni):
    """The certificate a client is given for sni through the proxy: (subject, issuer) text."""
    p = subprocess.run(['openssl', 's_client', '-proxy', '127.0.0.1:%d' % d.port, '-connect', target,
                        '-servername', sni, '-showcerts'], input=b'', capture_output=True, timeout=20,
                       env=clean_env())
    out = p.stdout.decode('latin-1')
    m = re.search(r'^subject=(.*)$', out, re.M)
    i = re.search(r'^issuer=(.*)$', out, re.M)
    return (m.group(1) if m else None), (i.group(1) if i else None), out + p.stderr.decode('latin-1')


def metric(kit, d, name):
    r = curl(kit, 'http://127.0.0.1:%d/metrics' % d.port)
    m = re.search(r'^%s (\d+)$' % re.escape(name), r.body, re.M)
    return int(m.group(1)) if m else None


def test_block_page_over_tls_with_curl(kit):
    cert, _ = the_ca(kit)
    d = kit.daemon(policy(kit), proxy=ca_conf(kit))
    r = curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, '--cacert', cert, 'https://www.instagram.com/feed')
    eq(r.code, 403, 'the block page over TLS (curl verifies it with the CA only): %r' % r)
    check('instagram is not available right now' in r.body, 'block page body:\n%s' % r.body[:1500])
    row = d.wait_event(kind='blocked', host='www.instagram.com', method='GET')[-1]
    eq((row['status'], row['reason'], row['platform'], row['close'], row['sni']),
       (403, BLOCKED_BY, 'instagram', 'blocked-page-tls', 'www.instagram.com'),
       'store row of the page shown over TLS')
    check(row['bytes_down'] >= len(r.body), 'the page bytes are counted (%d for a %d-byte body)'
          % (row['bytes_down'], len(r.body)))
    # the client was given a leaf for the name, issued by the organisation's CA
    subject, issuer, text = s_client(d, 'www.instagram.com:443', 'www.instagram.com')
    check(subject and 'www.instagram.com' in subject, 'leaf subject: %s\n%s' % (subject, text[-1500:]))
    ca_subject = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-subject'], capture_output=True,
                                text=True).stdout.strip().replace('subject=', '')
    eq(issuer, ca_subject, 'the leaf is issued by the block CA')
    wait_for(lambda: (metric(kit, d, 'breaktime_tls_pages_total{verdict="block"}') or 0) >= 1, 5,
             what='breaktime_tls_pages_total{verdict="block"} on /metrics')
    check((metric(kit, d, 'breaktime_tls_leaves_minted_total') or 0) >= 1, 'a leaf was minted (metrics)')


def test_allowed_https_is_never_terminated(kit):
    d = kit.daemon(policy(kit, allowed=True), proxy=ca_conf(kit))
    subject, issuer, text = s_client(d, 'www.instagram.com:%d' % kit.tls.port, 'www.instagram.com')
    # allowed for larry: the origin's own self-signed certificate (harness make_cert: CN www.example.org)
    check(subject and 'www.example.org' in subject, 'allowed in the break: the origin certificate, got %s\n%s'
          % (subject, text[-1500:]))
    eq(issuer, subject, 'the origin certificate is self-signed (not one the proxy minted)')
    row = d.wait_event(kind='tunnel', host='www.instagram.com')[-1]
    eq((row['verdict'], row['reason'], row['user']), ('allow', 'allowed', 'larry'), 'the tunnel row')
    eq(metric(kit, d, 'breaktime_tls_leaves_minted_total'), 0, 'nothing was minted for an allowed flow')


def test_name_outside_the_ca_gets_the_plain_refusal(kit):
    # a platform added to the catalog after the CA was made: not in its constraints
    lists = kit.write('friendface.hosts', '0.0.0.0 friendface.test\n')
    d = kit.daemon(policy(kit), proxy=ca_conf(kit),
                   catalog={'lists': lists, 'platform': 'friendface'})
    r = curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, 'https://www.friendface.test/')
    check(r.rc != 0, 'curl failed to tunnel: %r' % r)
    check('403' in r.stderr, 'the CONNECT was refused with 403 as without block_ca: %s' % r.stderr[-800:])
    row = d.wait_event(kind='blocked', host='www.friendface.test')[-1]
    eq((row['method'], row['status']), ('CONNECT', 403), 'refused, not terminated')
    eq(metric(kit, d, 'breaktime_tls_leaves_minted_total'), 0, 'no leaf minted outside the constraints')
    rc, out = d.breaktime('ca', 'check')
    check(rc != 0 and 'friendface.test' in out, 'ca check names the uncovered domain (rc %d):\n%s' % (rc, out))


def warn_daemon(kit, addr='127.0.0.3'):
    devices = kit.write('warn-devices', '%s wendy\n' % addr)
    return kit.daemon(WARN_POLICY % devices, proxy=ca_conf(kit))


def test_warn_interstitial_and_continue_over_tls(kit):
    cert, _ = the_ca(kit)
    d = warn_daemon(kit)
    url = 'https://www.instagram.com:%d/feed' % kit.tls.port
    px = ('-x', 'http://127.0.0.1:%d' % d.port, '--interface', '127.0.0.3')
    r = curl(kit, *px, '--cacert', cert, url)
    eq(r.code, 403, 'the interstitial over TLS: %r' % r)
    m = re.search(r'href="(/\.well-known/breaktime/continue\?[^"]+)"', r.body)
    check(m, 'a same-origin Continue link on the interstitial:\n%s' % r.body[:2000])
    link = 'https://www.instagram.com:%d%s' % (kit.tls.port, m.group(1).replace('&amp;', '&'))
    r = curl(kit, *px, '--cacert', cert, link)
    eq(r.code, 302, 'following Continue: %r' % r)
    eq(r.header('Location'), url, 'back to the page')
    eq((r.header('Connection') or '').lower(), 'close', 'the terminated connection ends after Continue')
    row = wait_for(lambda: [x for x in d.events(user='wendy') if x['reason'] == 'warn-continued'], 5,
                   what='the warn-continued row')[-1]
    eq(row['platform'], 'instagram', 'continued platform')
    # now the site itself, through an untouched tunnel: the origin's certificate
    r = curl(kit, *px, '-k', '-v', url)
    check('www.example.org' in r.stderr, 'the origin certificate after Continue:\n%s' % r.stderr[-2000:])
    check(r.code == 200, 'the origin answered through the tunnel: %r' % r)
    eq(metric(kit, d, 'breaktime_tls_pages_total{verdict="warn"}'), 1, 'one interstitial over TLS')
    eq(metric(kit, d, 'breaktime_tls_continues_total'), 1, 'one Continue over TLS')


def test_untrusting_client_fails_the_handshake_and_it_is_recorded(kit):
    d = kit.daemon(policy(kit), proxy=ca_conf(kit))
    r = curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, 'https://www.instagram.com/')
    eq(r.rc, 60, 'curl without the CA: a certificate problem (exit 60): %r' % r)
    row = d.wait_event(kind='blocked', host='www.instagram.com', method='CONNECT')[-1]
    eq((row['close'], row['reason']), ('tls-handshake-failed', BLOCKED_BY),
       'the refused handshake is recorded with the decision')
    wait_for(lambda: (metric(kit, d, 'breaktime_tls_terminations_total{outcome="failed"}') or 0) >= 1, 5,
             what='a failed termination on /metrics')


# ---- headless Chromium ----


def chromium():
    for name in ('chromium', 'chromium-browser'):
        p = shutil.which(name)
        if p:
            return p
    raise Skip('chromium is not installed (tools/deps.sh TEST_PACKAGES installs it)')


def nss_profile(kit, trust_ca=True):
    """A throw-away HOME whose NSS database trusts the block CA (or nothing)."""
    if not shutil.which('certutil'):
        raise Skip('certutil is not installed (libnss3-tools, in tools/deps.sh TEST_PACKAGES)')
    home = tempfile.mkdtemp(prefix='bt-nss-', dir=kit.tmp)
    db = os.path.join(home, '.pki', 'nssdb')
    os.makedirs(db)
    subprocess.run(['certutil', '-N', '-d', 'sql:' + db, '--empty-password'], check=True,
                   capture_output=True, timeout=30)
    if trust_ca:
        cert, _ = the_ca(kit)
        subprocess.run(['certutil', '-A', '-d', 'sql:' + db, '-n', 'breaktime block CA', '-t', 'C,,',
                        '-i', cert], check=True, capture_output=True, timeout=30)
    return home


def spki_hash(cert):
    """base64(sha256(SPKI)) of a PEM certificate, for --ignore-certificate-errors-spki-list."""
    pub = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-pubkey'], check=True, capture_output=True).stdout
    der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'der'], input=pub, check=True,
                         capture_output=True).stdout
    dig = subprocess.run(['openssl', 'dgst', '-sha256', '-binary'], input=der, check=True, capture_output=True).stdout
    import base64
    return base64.b64encode(dig).decode()


def browse(kit, d, home, url, *extra):
    cmd = [chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-default-apps', '--disable-extensions', '--no-default-browser-check',
           '--disable-features=MediaRouter,OptimizationHints,Translate,DnsOverHttps',
           '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
           '--user-data-dir=' + os.path.join(home, 'profile'),
           '--proxy-server=http://127.0.0.1:%d' % d.port] + list(extra) + [url]
    p = kit.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=kit.tmp, env=clean_env({'HOME': home}))
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        kit.end(p)
        raise
    kit.end(p)
    return p.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def test_block_page_in_chromium_trusting_the_ca(kit):
    chromium()
    home = nss_profile(kit)
    d = kit.daemon(policy(kit), proxy=ca_conf(kit))
    rc, dom, err = browse(kit, d, home, 'https://www.instagram.com/', '--dump-dom')
    check('instagram is not available right now' in dom,
          'Chromium renders the block page with no certificate interstitial (rc %d):\n%s\n%s'
          % (rc, dom[:2000], err[-1500:]))
    png = os.path.join(kit.tmp, 'tls-block.png')
    browse(kit, d, home, 'https://www.instagram.com/', '--screenshot=' + png, '--window-size=800,600',
           '--hide-scrollbars')
    check(os.path.exists(png) and os.path.getsize(png) > 5000, 'a screenshot of the block page')
    keep = os.environ.get('BUILD_ROOT')
    if keep:
        shutil.copy(png, os.path.join(keep, 'tls-block-page.png'))
    rows = d.wait_event(kind='blocked', host='www.instagram.com', close='blocked-page-tls')
    check(rows, 'the page Chromium was shown is recorded')


def test_chromium_without_the_ca_shows_a_certificate_error(kit):
    chromium()
    home = nss_profile(kit, trust_ca=False)
    d = kit.daemon(policy(kit), proxy=ca_conf(kit))
    rc, dom, err = browse(kit, d, home, 'https://www.instagram.com/', '--dump-dom')
    check('instagram is not available right now' not in dom, 'an untrusted leaf must not render the page')
    # what Chromium does: its certificate error (the handshake fails on our side: unknown CA)
    check('ERR_CERT_AUTHORITY_INVALID' in err or 'ERR_CERT_AUTHORITY_INVALID' in dom,
          'Chromium reports an unknown authority:\n%s' % err[-1500:])
    d.wait_event(kind='blocked', host='www.instagram.com', close='tls-handshake-failed')


def test_chromium_warn_continue_then_the_site(kit):
    """The interstitial in Chromium, its Continue clicked (DevTools protocol),
    then the site itself through an untouched tunnel."""
    from harness_cdp import BASE_FLAGS, Cdp
    exe = chromium()
    home = nss_profile(kit)
    d = warn_daemon(kit, addr='127.0.0.1')
    pin = '--ignore-certificate-errors-spki-list=' + spki_hash(kit.tls.cert)
    url = 'https://www.instagram.com:%d/' % kit.tls.port
    args = BASE_FLAGS + ['--disable-quic', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
                         '--user-data-dir=' + os.path.join(home, 'profile'),
                         '--proxy-server=http://127.0.0.1:%d' % d.port, pin]
    with Cdp([], exe, args, clean_env({'HOME': home}), os.path.join(kit.tmp, 'cdp-continue.log')) as b:
        b.navigate(url)
        text = b.evaluate('document.body.innerText')
        check("used today's allowance" in text, 'the interstitial in Chromium, no certificate warning:\n%s' % text)
        href = b.evaluate('document.querySelector("a.button").getAttribute("href")')
        check(href and href.startswith('/.well-known/breaktime/continue?'), 'the Continue link: %r' % href)
        b.run_and_wait_load('document.querySelector("a.button").click()')
        page = b.evaluate('document.body.innerText')
        loc = b.evaluate('location.href')
    check('s_server' in page, 'after the click the origin page loads through a tunnel:\n%s' % page[:1000])
    eq(loc, url, 'Continue led back to the page')
    row = wait_for(lambda: [x for x in d.events(user='wendy') if x['reason'] == 'warn-continued'], 5,
                   what='the warn-continued row')[-1]
    eq((row['platform'], row['close']), ('instagram', 'continue-tls'), 'the Continue row')
    # the tunnel's row is written when it closes (the browser is gone now)
    wait_for(lambda: [x for x in d.events(kind='tunnel', host='www.instagram.com') if x['verdict'] == 'warn'], 10,
             what='the row of the tunnel after Continue (verdict warn)')


def test_chromium_rejects_a_forged_leaf_outside_the_constraints(kit):
    """A leaf for a name outside the constraints, signed with the CA's own key
    (what a thief of the key would make): Chromium trusting the CA refuses it."""
    chromium()
    cert, key = the_ca(kit)
    home = nss_profile(kit)
    fdir = tempfile.mkdtemp(prefix='bt-forged-', dir=kit.tmp)
    fkey, fcsr, fcrt = (os.path.join(fdir, n) for n in ('leaf.key', 'leaf.csr', 'leaf.pem'))
    ext = os.path.join(fdir, 'ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=DNS:www.example.org\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n')
    subprocess.run(['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-keyout', fkey, '-out', fcsr, '-subj', '/CN=www.example.org'], check=True, capture_output=True)
    subprocess.run(['openssl', 'x509', '-req', '-in', fcsr, '-CA', cert, '-CAkey', key, '-CAcreateserial',
                    '-out', fcrt, '-days', '2', '-extfile', ext], check=True, capture_output=True)
    v = subprocess.run(['openssl', 'verify', '-CAfile', cert, fcrt], capture_output=True, text=True)
    check(v.returncode != 0 and 'subtree violation' in (v.stdout + v.stderr).lower(),
          'openssl verify refuses the forged leaf for its name constraints: %s' % (v.stdout + v.stderr))
    forged = harness.TlsOrigin(kit.tmp, cert=(fcrt, fkey))
    try:
        d = kit.daemon(policy(kit), proxy=ca_conf(kit, connect_ports='443, %d' % forged.port))
        rc, dom, err = browse(kit, d, home, 'https://www.example.org:%d/' % forged.port, '--dump-dom')
        check('s_server' not in dom, 'Chromium must not load a page over the forged leaf:\n%s' % dom[:1000])
        check(re.search(r'ERR_CERT_[A-Z_]+', err), 'Chromium names a certificate error:\n%s' % err[-1500:])
        print('  Chromium on a leaf outside the constraints: %s' % re.search(r'ERR_CERT_[A-Z_]+', err).group(0))
    finally:
        forged.stop()


if __name__ == '__main__':
    run(globals())
