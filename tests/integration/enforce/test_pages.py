#!/usr/bin/env python3
"""
The proxy's own pages (issue 5): origin-form requests straight to the proxy
port. /proxy.pac and /wpad.dat are evaluated for real by node with a small
shim of the PAC helper functions (no DNS: names are never resolved);
/healthz; /metrics (Prometheus text format, metrics_allow); / and 404.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import check, clean_env, curl, eq, need, raw_request, run, via, wait_for  # noqa: E402

POLICY = '''
[site]
timezone = Europe/London
[auth]
default_group = guests
'''

# The PAC helper functions a browser provides, minus DNS: isInNet and
# dnsResolve only take IPv4 literals, so evaluating the file never looks
# anything up.
PAC_SHIM = r'''
const vm = require('vm');
const fs = require('fs');
function ip4(s) { const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s); if (!m) return null;
  return ((+m[1] << 24) >>> 0) + (+m[2] << 16) + (+m[3] << 8) + (+m[4]); }
const sandbox = {
  isPlainHostName: h => h.indexOf('.') < 0,
  dnsDomainIs: (h, d) => h.length >= d.length && h.substring(h.length - d.length) === d,
  localHostOrDomainIs: (h, d) => h === d || (h.indexOf('.') < 0 && d.startsWith(h + '.')),
  isResolvable: h => ip4(h) !== null,
  isInNet: (h, pat, mask) => { const a = ip4(h), p = ip4(pat), m = ip4(mask);
    if (a === null) return false; return ((a & m) >>> 0) === ((p & m) >>> 0); },
  dnsResolve: h => ip4(h) !== null ? h : null,
  myIpAddress: () => '127.0.0.1',
  shExpMatch: (s, e) => new RegExp('^' + e.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$').test(s),
  dnsDomainLevels: h => h.split('.').length - 1,
  weekdayRange: () => true, dateRange: () => true, timeRange: () => true,
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.argv[2], 'utf8'), sandbox, {timeout: 1000});
const out = {};
for (const u of JSON.parse(process.argv[3])) {
  const host = new URL(u).hostname.replace(/^\[|\]$/g, m => m);
  out[u] = sandbox.FindProxyForURL(u, new URL(u).hostname);
}
process.stdout.write(JSON.stringify(out));
'''

URLS = {
    'http://www.facebook.com/': 'PROXY',
    'https://www.example.org/path': 'PROXY',
    'http://8.8.8.8/': 'PROXY',
    'http://172.32.0.1/': 'PROXY',
    'http://intranet/': 'DIRECT',
    'http://printer.local/': 'DIRECT',
    'http://localhost:8080/': 'DIRECT',
    'http://127.0.0.1/': 'DIRECT',
    'http://10.1.2.3/': 'DIRECT',
    'http://172.20.0.1/': 'DIRECT',
    'http://192.168.1.5/': 'DIRECT',
    'http://169.254.1.1/': 'DIRECT',
}


def proxy(kit):
    return kit.shared('main', lambda k: k.daemon(POLICY))


def own(d, path, host=None, method='GET', src='127.0.0.1'):
    host = host or '127.0.0.1:%d' % d.port
    out = raw_request(d.port, ('%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n'
                               % (method, path, host)).encode(), src=src)
    head, _, body = out.partition(b'\r\n\r\n')
    m = re.match(rb'HTTP/1\.1 (\d+)', head)
    return (int(m.group(1)) if m else 0), head.decode('latin-1'), body.decode('utf-8', 'replace')


def evaluate_pac(kit, pac, urls):
    node = need('node')
    f = kit.write('p%d.pac' % kit.next_id(), pac)
    shim = kit.write('shim.js', PAC_SHIM)
    p = subprocess.run([node, shim, f, json.dumps(list(urls))], capture_output=True, timeout=20, env=clean_env())
    check(p.returncode == 0, 'node could not evaluate the PAC file: %s\n%s' % (p.stderr.decode()[-1500:], pac))
    return json.loads(p.stdout)


def test_proxy_pac_evaluated(kit):
    d = proxy(kit)
    for path in ('/proxy.pac', '/wpad.dat'):
        st, head, pac = own(d, path)
        eq(st, 200, path)
        check('application/x-ns-proxy-autoconfig' in head, '%s Content-Type: %s' % (path, head))
        got = evaluate_pac(kit, pac, URLS)
        me = 'PROXY 127.0.0.1:%d' % d.port
        want = {u: (me if v == 'PROXY' else 'DIRECT') for u, v in URLS.items()}
        eq(got, want, 'FindProxyForURL answers of %s' % path)
    # the script names the configured proxy (the listener's address here; a wildcard
    # listener's visible_hostname), never the Host the request came with: that is the
    # client's word, and a page can make a browser send any
    for host in ('wpad.school.lan', 'gw.school.lan:3128', 'evil.example:8080'):
        st, head, pac = own(d, '/wpad.dat', host=host)
        eq(st, 200, '/wpad.dat with Host: %s' % host)
        check(host not in pac, 'the Host %r echoed into the PAC:\n%s' % (host, pac))
        got = evaluate_pac(kit, pac, ['http://www.facebook.com/'])
        eq(got['http://www.facebook.com/'], 'PROXY 127.0.0.1:%d' % d.port, 'PAC fetched with Host: %s' % host)
    # a Host that would break out of the script is never echoed into it either
    for hostile in ('evil");alert(1);//', "a'+alert(1)+'b", 'gw_school.lan'):
        st, head, pac = own(d, '/proxy.pac', host=hostile)
        check(st in (200, 400), 'PAC with Host %r: status %d' % (hostile, st))
        if st == 200:
            check('alert' not in pac, 'hostile Host echoed into the PAC: %s' % pac)
            eq(evaluate_pac(kit, pac, ['http://x.example/'])['http://x.example/'], 'PROXY 127.0.0.1:%d' % d.port,
               'PAC for the Host %r' % hostile)


def test_healthz(kit):
    d = proxy(kit)
    st, head, body = own(d, '/healthz')
    eq((st, body), (200, 'ok\n'), '/healthz')
    st, head, body = own(d, '/healthz', method='HEAD')
    eq((st, body), (200, ''), 'HEAD /healthz')
    st, head, body = own(d, '/healthz', method='DELETE')
    eq(st, 405, 'DELETE /healthz')


def test_status_and_404(kit):
    d = proxy(kit)
    st, head, body = own(d, '/')
    eq(st, 200, '/')
    check('breaktime' in body and 'proxy' in body, '/ body: %s' % body[:300])
    st, head, body = own(d, '/no-such-page')
    eq(st, 404, '/no-such-page')
    # own pages are recorded (-v) as such, with their status
    d.wait_record(lambda r: r.get('close') == 'own-page' and r.get('status') == '404', what='own-page 404 record')


PROM_LINE = re.compile(r'^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.eE+-]+)$')


def metrics(d):
    st, head, body = own(d, '/metrics')
    eq(st, 200, '/metrics')
    check('text/plain; version=0.0.4' in head, 'Content-Type: %s' % head)
    bad = [ln for ln in body.splitlines() if not PROM_LINE.match(ln)]
    eq(bad, [], 'lines that are not Prometheus text format')
    vals = {}
    for ln in body.splitlines():
        if not ln.startswith('#'):
            k, v = ln.rsplit(' ', 1)
            vals[k] = float(v)
    types = dict(re.findall(r'^# TYPE (\S+) (\S+)$', body, re.M))
    for name in list(vals):
        base = name.split('{')[0]
        check(base in types, 'no # TYPE for %s' % base)
    return vals


def test_metrics(kit):
    d = proxy(kit)
    before = metrics(d)
    for k in ('breaktime_requests_total', 'breaktime_connections', 'breaktime_records_total{kind="blocked"}',
              'breaktime_store_records_total{state="dropped"}', 'breaktime_reloads_total{result="ok"}'):
        check(k in before, 'metric %s missing' % k)
    # one blocked request (guests, facebook) and one relayed one
    eq(via(kit, d, 'www.facebook.com').code, 403, 'guest on facebook')
    eq(via(kit, d, 'www.example.org').code, 200, 'guest on example.org')
    after = wait_for(lambda: (lambda m: m if m['breaktime_records_total{kind="blocked"}'] >=
                              before['breaktime_records_total{kind="blocked"}'] + 1 else None)(metrics(d)),
                     5, what='the blocked counter')
    check(after['breaktime_requests_total'] >= before['breaktime_requests_total'] + 3, 'requests_total did not grow')
    check(after['breaktime_responses_total{class="4xx"}'] > before['breaktime_responses_total{class="4xx"}'], '4xx')
    check(after['breaktime_bytes_total{direction="down"}'] > before['breaktime_bytes_total{direction="down"}'], 'bytes')
    eq(after['breaktime_store_records_total{state="dropped"}'], 0.0, 'dropped store records')


def test_metrics_of_issue5(kit):
    # issue 5 asks /metrics for requests by verdict and reason, the store queue's
    # depth and auth failures (names are the daemon's to choose; the labels and
    # words are what is checked)
    d = proxy(kit)
    eq(via(kit, d, 'www.facebook.com').code, 403, 'guest on facebook (group-never)')
    st, head, body = own(d, '/metrics')
    eq(st, 200, '/metrics')
    missing = []
    if not re.search(r'^breaktime_\w+\{[^}]*verdict="block"[^}]*reason="group-never"[^}]*\} [1-9]', body, re.M) and \
       not re.search(r'^breaktime_\w+\{[^}]*reason="group-never"[^}]*verdict="block"[^}]*\} [1-9]', body, re.M):
        missing.append('requests by verdict and reason (a series labelled verdict="block",reason="group-never")')
    if not re.search(r'^# TYPE breaktime_\w*queue\w* gauge', body, re.M):
        missing.append('the store queue depth (a breaktime_*queue* gauge)')
    if not re.search(r'^# TYPE breaktime_\w*auth\w*fail\w* counter', body, re.M):
        missing.append('auth failures (a breaktime_*auth*fail* counter)')
    eq(missing, [], 'series missing from /metrics:\n%s' % body)


def test_metrics_store(kit):
    # the store's own statistics (logger/store.h struct store_stats) on /metrics
    d = kit.daemon(POLICY, at='2026-01-05 10:00:00')
    before = metrics(d)
    for k in ('breaktime_store_records_total{state="lost"}', 'breaktime_store_held',
              'breaktime_store_queue_depth', 'breaktime_store_transactions_total',
              'breaktime_store_errors_total{cause="locked"}', 'breaktime_store_errors_total{cause="full"}',
              'breaktime_store_failing', 'breaktime_store_purged_total',
              'breaktime_store_access_log_lines_total', 'breaktime_store_writer_cpu_seconds_total'):
        check(k in before, 'metric %s missing' % k)
    eq(via(kit, d, 'www.facebook.com').code, 403, 'guest on facebook')
    eq(via(kit, d, 'www.example.org').code, 200, 'guest on example.org')

    def settled():
        m = metrics(d)
        sub = m['breaktime_store_records_total{state="submitted"}']
        if sub >= before['breaktime_store_records_total{state="submitted"}'] + 2 and \
           m['breaktime_store_records_total{state="written"}'] == sub:
            return m
    after = wait_for(settled, 5, what='the store to write what was submitted')
    check(after['breaktime_store_transactions_total'] > before['breaktime_store_transactions_total'],
          'transactions_total did not grow: %r' % after)
    eq((after['breaktime_store_held'], after['breaktime_store_queue_depth'],
        after['breaktime_store_records_total{state="lost"}'], after['breaktime_store_failing']),
       (0.0, 0.0, 0.0, 0.0), 'held, queued, lost, failing once written')
    check(len(d.events()) >= 1, 'rows in the store: %r' % d.events())
    d.stop()
    # two months later with retention = 30d: the first purge (a minute after the
    # start; the clock runs 120x) removes January's rows, and /metrics says how many
    d2 = kit.daemon(POLICY, store={'database': d.db, 'retention': '30d'}, at='2026-03-02 10:00:00', speed=120)
    purged = wait_for(lambda: (lambda m: m if m['breaktime_store_purged_total'] >= 2 else None)(metrics(d2)),
                      10, step=0.2, what='the retention purge on /metrics')
    eq([r for r in d2.events() if str(r['day']) < '2026-02'], [], 'January rows left after the purge')
    eq(purged['breaktime_store_records_total{state="lost"}'], 0.0, 'lost records')


def test_metrics_allow(kit):
    d = kit.daemon(POLICY, proxy={'metrics_allow': '10.0.0.0/8'})
    st, head, body = own(d, '/metrics')
    eq(st, 403, '/metrics from 127.0.0.1 with metrics_allow = 10.0.0.0/8')
    check('breaktime_requests_total' not in body, 'metrics leaked in the 403 body')
    # the other own pages are still there
    eq(own(d, '/healthz')[0], 200, '/healthz')
    d2 = kit.daemon(POLICY, proxy={'metrics_allow': '127.0.0.7/32'})
    eq(own(d2, '/metrics', src='127.0.0.7')[0], 200, '/metrics from 127.0.0.7 (allowed)')
    eq(own(d2, '/metrics', src='127.0.0.8')[0], 403, '/metrics from 127.0.0.8')


def test_own_pages_through_curl(kit):
    # what a browser does with a PAC URL: a plain GET to the proxy's address
    d = proxy(kit)
    r = curl(kit, 'http://127.0.0.1:%d/proxy.pac' % d.port)
    eq(r.code, 200, 'curl /proxy.pac')
    check('FindProxyForURL' in r.body, 'PAC body: %s' % r.body[:200])


def test_status_link_of_the_block_page(kit):
    # the block page links to http://VISIBLE_HOSTNAME/status: through the proxy, that
    # name is the proxy itself (issue 5: own pages by origin-form "or the proxy's own
    # host name"), and /status is the person's own usage page
    d = proxy(kit)
    r = curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, 'http://bt-e2e/healthz')
    eq((r.code, r.body), (200, 'ok\n'), 'GET http://bt-e2e/healthz through the proxy (its visible_hostname)')
    r = curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, 'http://bt-e2e/status')
    eq(r.code, 200, 'GET http://bt-e2e/status through the proxy (the link on the block page)')


# ---- the warn interstitial's Continue link (hardening item 5) ----
#
# Over the allowance with over_allowance = warn, the interstitial's Continue
# link records a warn-continued choice and lets the person through for the
# rest of the day. The link carries a token bound to the person, the
# platform, the site-local day and the target host; a link without one (an
# <img src=http://bt-e2e/continue?p=facebook> on any page) records nothing,
# and the redirect only ever leads back to the blocked URL's own host.

WARN_PEOPLE = {'wendy': '127.0.0.3', 'walt': '127.0.0.4', 'carol': '127.0.0.5'}

WARN_POLICY = """
[site]
timezone = Europe/London
[auth]
default_group = guests
devices = %s
[group warned]
members = wendy, walt
social = always
allowance = 0m
over_allowance = warn
[group comms]
members = carol
organisational = yes
platforms = facebook
social = always
allowance = 1m
over_allowance = warn
"""


def warn_daemon(kit, **kw):
    devices = kit.write('warn-devices', ''.join('%s %s\n' % (a, u) for u, a in WARN_PEOPLE.items()))
    return kit.daemon(WARN_POLICY % devices, **kw)


def as_person(kit, d, who, url):
    """A URL through the proxy from who's address, as the browser asks for it (no redirects followed)."""
    return curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, '--interface', WARN_PEOPLE[who], url)


def interstitial_link(kit, d, who, host='www.facebook.com', path='/feed'):
    r = as_person(kit, d, who, 'http://%s:%d%s' % (host, kit.origin.port, path))
    eq(r.code, 403, '%s over the allowance (warn): the interstitial' % who)
    m = re.search(r'href="(http://bt-e2e/continue\?[^"]+)"', r.body)
    check(m, 'no Continue link on the interstitial:\n%s' % r.body)
    return m.group(1).replace('&amp;', '&')


def settle(kit, d, who='walt'):
    """A barrier: a social request of who's, recorded after everything sent before it."""
    n = len(d.events(user=who))
    as_person(kit, d, who, 'http://www.youtube.com:%d/barrier' % kit.origin.port)
    wait_for(lambda: len(d.events(user=who)) > n, 5, what='the barrier row of %s' % who)


def continued(d, who):
    return [x for x in d.events(user=who) if x['reason'] == 'warn-continued']


def minutes(d, who):
    return d.rows("SELECT platform, purpose, requests FROM usage_minutes WHERE user = ?", (who,))


def test_continue_forged_records_nothing(kit):
    d = warn_daemon(kit)
    # what an <img src> on any page makes the browser of whoever views it fetch
    for who in ('wendy', 'carol'):
        for query in ('p=facebook', 'p=facebook&to=http://www.facebook.com/',
                      'p=facebook&t=&to=http://www.facebook.com/', 'p=facebook&t=00&to=http://www.facebook.com/'):
            r = as_person(kit, d, who, 'http://bt-e2e/continue?' + query)
            eq(r.code, 400, 'forged continue (%s) by %s' % (query, who))
    # origin-form straight to the proxy, as a page on the LAN could also make it
    st, head, body = own(d, '/continue?p=facebook', src=WARN_PEOPLE['wendy'])
    eq(st, 400, 'forged origin-form continue')
    settle(kit, d)
    eq(continued(d, 'wendy') + continued(d, 'carol'), [], 'warn-continued rows from forged links')
    eq(minutes(d, 'wendy') + minutes(d, 'carol'), [], 'usage minutes from forged links')
    # and wendy still sees the interstitial: nothing was acknowledged for her
    interstitial_link(kit, d, 'wendy')
    check('chose to continue' not in d.log(), 'a forged continue was logged as a choice:\n%s' % d.log()[-2000:])


def test_continue_token_is_bound(kit):
    d = warn_daemon(kit)
    link = interstitial_link(kit, d, 'wendy')
    check(re.search(r'[?&]t=[0-9a-f]{64}(&|$)', link), 'no token in the Continue link %s' % link)
    # wendy's link is not walt's
    eq(as_person(kit, d, 'walt', link).code, 400, "walt following wendy's link")
    # nor another platform's
    eq(as_person(kit, d, 'wendy', link.replace('p=facebook', 'p=youtube')).code, 400, 'the token with p=youtube')
    # nor another target host, nor a URL that is not a plain http(s) one
    port = kit.origin.port
    bad_targets = ['http://evil.example/', 'http://evil.example:%d/feed' % port,
                   'http://www.facebook.com:%d@evil.example/' % port,
                   'http://www.facebook.com:%d/%%09x' % port, 'http://www.facebook.com:%d/%%01' % port,
                   'http://www.facebook.com:%d/%%7f' % port, 'http://www.facebook.com:%d/a%%20b' % port,
                   'http://www.facebook.com:%d/%%0d%%0aSet-Cookie:x=1' % port,
                   'javascript:alert(1)//www.facebook.com:%d/' % port,
                   '//www.facebook.com:%d/' % port, 'http://www.facebook.com:%d/' % port + 'a' * 3000]
    for to in bad_targets:
        bad = re.sub(r'to=[^&]*', lambda m: 'to=' + to, link)
        r = as_person(kit, d, 'wendy', bad)
        eq(r.code, 400, 'Continue to %r' % to)
        check(not r.header('Location'), 'a Location for %r: %s' % (to, r.header('Location')))
    settle(kit, d)
    eq(continued(d, 'wendy') + continued(d, 'walt'), [], 'warn-continued rows from refused links')
    eq([m for m in minutes(d, 'wendy') if m['platform'] == 'facebook'], [], "wendy's facebook minutes")


def test_continue_day_bound(kit):
    # a link from 23:59 is no good after midnight (the interstitial comes again)
    d = warn_daemon(kit, at='2026-11-23 23:59:52', speed=4)
    link = interstitial_link(kit, d, 'wendy')
    d.wait_fake('23:59:59')
    time.sleep(1)
    check(d.fake_now().hour == 0, 'the fake clock is past midnight: %s' % d.fake_now())
    eq(as_person(kit, d, 'wendy', link).code, 400, "yesterday's Continue link")
    link = interstitial_link(kit, d, 'wendy')
    eq(as_person(kit, d, 'wendy', link).code, 302, "today's Continue link")


def test_continue_real_flow(kit):
    d = warn_daemon(kit)
    link = interstitial_link(kit, d, 'wendy', path='/feed?x=1')
    r = as_person(kit, d, 'wendy', link)
    eq(r.code, 302, 'following the Continue link')
    eq(r.header('Location'), 'http://www.facebook.com:%d/feed?x=1' % kit.origin.port, 'Location after Continue')
    r = as_person(kit, d, 'wendy', r.header('Location'))
    eq(r.code, 200, 'the original URL after continuing')
    check('origin says hello' in r.body, 'body after continuing: %s' % r.body[:300])
    wait_for(lambda: continued(d, 'wendy'), 5, what='the warn-continued row of wendy')
    check('wendy chose to continue to facebook' in d.log(), 'the continue is not logged')
    # the same link again is harmless (the choice holds for the day)
    eq(as_person(kit, d, 'wendy', link).code, 302, 'the Continue link a second time')
    # a CONNECT's interstitial leads back to https://host/
    t = raw_request(d.port, b'CONNECT www.instagram.com:443 HTTP/1.1\r\nHost: www.instagram.com:443\r\n\r\n',
                    src=WARN_PEOPLE['walt'])
    m = re.search(rb'href="(http://bt-e2e/continue\?[^"]+)"', t)
    check(m, 'no Continue link on the CONNECT interstitial:\n%r' % t[:2000])
    r = as_person(kit, d, 'walt', m.group(1).decode().replace('&amp;', '&'))
    eq((r.code, r.header('Location')), (302, 'https://www.instagram.com/'), 'Continue after a CONNECT')


def test_continue_never_counts_organisational_use(kit):
    # carol (comms) uses facebook for the organisation: no interstitial there, and a
    # continue (forged, or her instagram token turned to facebook) never writes a
    # personal facebook minute for her
    d = warn_daemon(kit)
    eq(as_person(kit, d, 'carol', 'http://www.facebook.com:%d/' % kit.origin.port).code, 200, 'carol on facebook')
    eq(as_person(kit, d, 'carol', 'http://bt-e2e/continue?p=facebook').code, 400, 'carol: forged continue')
    link = None
    for _ in range(25):
        # her instagram minutes are personal: over her 1 minute she gets the interstitial
        r = as_person(kit, d, 'carol', 'http://www.instagram.com:%d/' % kit.origin.port)
        if r.code == 403:
            link = re.search(r'href="(http://bt-e2e/continue\?[^"]+)"', r.body).group(1).replace('&amp;', '&')
            break
        time.sleep(3)
    check(link, 'carol never reached the instagram interstitial')
    eq(as_person(kit, d, 'carol', link.replace('p=instagram', 'p=facebook')).code, 400,
       'the instagram token for facebook')
    settle(kit, d)
    personal = [m for m in minutes(d, 'carol') if m['platform'] == 'facebook' and m['purpose'] != 'organisational']
    eq(personal, [], "carol's personal facebook minutes")
    eq(continued(d, 'carol'), [], "carol's warn-continued rows")
    # a valid link whose person has become organisational since (a reload moved wendy
    # to comms): it leads back to the page, and records nothing personal
    link = interstitial_link(kit, d, 'wendy')
    with open(d.conf_path) as f:
        conf = f.read()
    with open(d.conf_path, 'w') as f:
        f.write(conf.replace('members = wendy, walt', 'members = walt').replace('members = carol', 'members = carol, wendy'))
    d.send_signal(signal.SIGHUP)
    wait_for(lambda: 'configuration reloaded' in d.log(), 5, what='the reload')
    r = as_person(kit, d, 'wendy', link)
    eq(r.code, 302, 'a valid link after wendy became organisational')
    settle(kit, d)
    eq(continued(d, 'wendy'), [], "wendy's warn-continued rows (organisational now)")
    eq([m for m in minutes(d, 'wendy') if m['platform'] == 'facebook'], [], "wendy's facebook minutes")

# ---- stored text is clean (hardening item 9) ----

def test_malformed_requests_stored_clean(kit):
    # raw bytes of a malformed request line, a hostile method and user name: the
    # events rows and access.log keep only what each field's grammar allows
    alog = os.path.join(kit.tmp, 'access-%d.log' % kit.next_id())
    d = kit.daemon(POLICY, store={'log_other': 'hosts', 'access_log': alog})
    heads = [b'=1+1\r\n\x1b[31mX HTTP/1.1\r\nHost: x\r\n\r\n',
             b'GET\x1b[31m http://www.example.org/ HTTP/1.1\r\nHost: www.example.org\r\n\r\n',
             b'G\x01T http://www.example.org/ HTTP/1.1\r\nHost: www.example.org\r\n\r\n',
             b'GET http://www.example.org/\x1b[2J HTTP/1.1\r\nHost: www.example.org\r\n\r\n',
             b'GET http://www.exa\x1bmple.org/ HTTP/1.1\r\nHost: www.example.org\r\n\r\n']
    for h in heads:
        out = raw_request(d.port, h)
        check(out.startswith(b'HTTP/1.1 4'), 'malformed %r: %r' % (h, out[:80]))
    eq(via(kit, d, 'www.example.org').code, 200, 'a good request after them')
    rows = wait_for(lambda: len(d.rows()) >= len(heads) + 1 and d.rows(), 5, what='the rows of every request')
    for r in rows:
        for k, v in r.items():
            check(not isinstance(v, str) or not re.search(r'[\x00-\x1f\x7f]', v),
                  'a control byte in events.%s: %r' % (k, r))
        check(r['method'] in (None, 'GET'), 'events.method %r' % r['method'])
    d.stop()
    with open(alog, 'rb') as f:
        text = f.read()
    eq(len(text.splitlines()), len(rows), 'access.log lines')
    check(not re.search(rb'[\x00-\x09\x0b-\x1f\x7f-\xff]', text), 'a control byte in access.log:\n%r' % text)
    # Squid's fields: the method is a token the request really had, or NONE
    methods = [ln.split()[5] for ln in text.decode().splitlines()]
    check(all(m in ('GET', 'NONE') for m in methods), 'access.log methods %r:\n%s' % (methods, text.decode()))


if __name__ == '__main__':
    run(globals())
