#!/usr/bin/env python3
"""
The block page in a real browser (issue 5): headless Chromium with the
daemon as its HTTP proxy opens a social site on a local origin at Monday
10:20 (fake clock: students present, the break starts at 10:30); the
rendered DOM must carry the platform, the reason and the time it is
available again, and a screenshot is taken. In the break the same browser
gets the origin's page.

www.facebook.com cannot show the block page in Chromium: facebook.com is on
Chromium's HSTS preload list, so http://www.facebook.com:PORT/ becomes a
CONNECT for https, the proxy answers 403, and the browser shows its own
ERR_TUNNEL_CONNECTION_FAILED (as it does for every blocked CONNECT). The
same holds for youtube, quora, dailymotion. So the page is tested on a
platform added through [catalog] lists (www.friendface.test, a name no
browser preloads), and facebook's case is tested for what it is: a
blocked CONNECT recorded in the store.

Chromium runs as root here, so --no-sandbox; background features are
switched off and its own resolver maps every name to nothing except the
proxy's address (--host-resolver-rules). What it still tries on its own
(update and sign-in hosts) goes to the proxy, which cannot resolve them
(dns_servers = 127.0.0.1:1) and answers 502: the tests check that.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Skip, check, clean_env, eq, run  # noqa: E402

POLICY = '''
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30
breaks = mon-fri 10:30-10:45
[auth]
default_group = staff
'''


def chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        p = shutil.which(name)
        if p:
            return p
    raise Skip('chromium is not installed (tools/deps.sh TEST_PACKAGES installs it)')


def browse(kit, d, url, *extra):
    prof = tempfile.mkdtemp(prefix='bt-e2e-chromium-', dir=kit.tmp)
    cmd = [chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-default-apps', '--disable-extensions', '--no-default-browser-check',
           '--disable-features=MediaRouter,OptimizationHints,Translate,DnsOverHttps',
           '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
           '--user-data-dir=' + prof, '--proxy-server=http://127.0.0.1:%d' % d.port] + list(extra) + [url]
    p = kit.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=kit.tmp,
                  env=clean_env({'HOME': prof}))
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        kit.end(p)
        raise
    kit.end(p)
    return p.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def friendface(kit):
    """A platform of our own through [catalog] lists (hosts-file format)."""
    return {'lists': kit.write('friendface.hosts', '0.0.0.0 friendface.test\n'), 'platform': 'friendface'}


def only_ours_or_failed(d, hosts):
    """Everything else Chromium sent through the proxy failed there (502): nothing left the machine."""
    stray = [r for r in d.records() if r.get('host') not in hosts and r.get('status') != '502']
    eq(stray, [], 'requests through the proxy to other hosts that did not fail in the proxy')


def test_block_page_in_chromium(kit):
    chromium()
    d = kit.daemon(POLICY, at='2026-11-23 10:20', catalog=friendface(kit))
    url = 'http://www.friendface.test:%d/' % kit.origin.port
    rc, dom, err = browse(kit, d, url, '--dump-dom')
    check('<h1>friendface is not available right now</h1>' in dom,
          'DOM lacks the heading (rc %d):\n%s\n%s' % (rc, dom[:2000], err[-1500:]))
    for words in ('Social media is not allowed at this time', 'today at 10:30', 'www.friendface.test',
                  'outside-allowed-time', 'href="http://bt-e2e/status"', '<title>Not available now: friendface</title>'):
        check(words in dom, 'DOM lacks %r:\n%s' % (words, dom))
    check('origin says hello' not in dom, 'the origin page got through')
    row = d.wait_event(kind='blocked', host='www.friendface.test', method='GET')[-1]
    eq((row['status'], row['reason'], row['platform'], row['grp']), (403, 'outside-allowed-time', 'friendface', 'staff'),
       'store row')
    # a screenshot of the page (a PNG of the window size)
    png = os.path.join(kit.tmp, 'block.png')
    rc, out, err = browse(kit, d, url, '--screenshot=' + png, '--window-size=800,600', '--hide-scrollbars')
    check(os.path.exists(png), 'no screenshot (rc %d): %s' % (rc, err[-1500:]))
    data = open(png, 'rb').read()
    check(data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG')
    w, h = struct.unpack('>II', data[16:24])
    eq((w, h), (800, 600), 'screenshot size')
    check(len(data) > 5000, 'a %d-byte screenshot is too small to show the page' % len(data))
    if os.environ.get('E2E_SCREENSHOT'):
        shutil.copy(png, os.environ['E2E_SCREENSHOT'])
    only_ours_or_failed(d, ('www.friendface.test',))


def test_facebook_in_chromium_is_a_blocked_connect(kit):
    chromium()
    d = kit.daemon(POLICY, at='2026-11-23 10:20')
    rc, dom, err = browse(kit, d, 'http://www.facebook.com:%d/' % kit.origin.port, '--dump-dom')
    check('origin says hello' not in dom, 'the origin page got through')
    # HSTS preload: Chromium asks for a tunnel, not the http page
    rows = d.wait_event(kind='blocked', host='www.facebook.com')
    eq({(r['method'], r['status'], r['reason'], r['platform']) for r in rows},
       {('CONNECT', 403, 'outside-allowed-time', 'facebook')}, 'store rows of Chromium on http://www.facebook.com/')
    check('ERR_TUNNEL_CONNECTION_FAILED' in err, 'Chromium did not report the refused tunnel: %s' % err[-1500:])
    only_ours_or_failed(d, ('www.facebook.com',))


def test_allowed_page_in_chromium(kit):
    chromium()
    d = kit.daemon(POLICY, at='2026-11-23 10:35', catalog=friendface(kit))
    rc, dom, err = browse(kit, d, 'http://www.friendface.test:%d/in-the-break' % kit.origin.port, '--dump-dom')
    check('origin says hello' in dom and '/in-the-break' in dom,
          'DOM in the break (rc %d):\n%s\n%s' % (rc, dom[:1500], err[-1500:]))
    row = d.wait_event(kind='request', host='www.friendface.test')[-1]
    eq((row['status'], row['verdict'], row['reason'], row['platform']), (200, 'allow', 'allowed', 'friendface'),
       'store row')
    only_ours_or_failed(d, ('www.friendface.test',))


if __name__ == '__main__':
    run(globals())
