#!/usr/bin/env python3
"""
Allowances (issue 5): active minutes counted from real traffic as it
happens; over the allowance `block` blocks, `warn` shows an interstitial
once (its Continue link is recorded and lets the person through for the
rest of the day), `log` allows and records; organisational use is not
counted; the counters survive a restart (restored from the store); the
person's /status page shows them; an open tunnel is closed when the
allowance is used up.

Fake clock x10 (a minute is 6 real seconds) from Monday 10:31:50, inside
the 10:30-10:45 break; every staff group has a 2-minute daily allowance.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Tunnel, check, curl, eq, run, via, wait_for  # noqa: E402

PEOPLE = {'alice': '127.0.0.2', 'wendy': '127.0.0.3', 'liam': '127.0.0.4', 'carol': '127.0.0.5', 'wade': '127.0.0.6'}
AT = '2026-11-23 10:31:50'


def policy(kit):
    devices = kit.write('devices', ''.join('%s %s\n' % (a, u) for u, a in PEOPLE.items()))
    return '''
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30
breaks = mon-fri 10:30-10:45
[auth]
default_group = walkin
devices = %s
[group staff]
members = alice
allowance = 2m
over_allowance = block
[group warned]
members = wendy
social = !students & breaks
allowance = 2m
over_allowance = warn
[group logged]
members = liam
social = !students & breaks
allowance = 2m
over_allowance = log
[group comms]
members = carol
organisational = yes
platforms = facebook
allowance = 1m
[group warned1]
members = wade
social = !students & breaks
allowance = 1m
over_allowance = warn
[group walkin]
social = !students & breaks
allowance = 2m
''' % devices


def get(kit, d, who, host='www.facebook.com', path='/'):
    return via(kit, d, host, src=PEOPLE[who], path=path)


def last(d, **where):
    return d.wait_event(**where)[-1]


def own_page(kit, d, who, url):
    """An own page through the proxy, by its visible_hostname, as the browser asks for it."""
    return curl(kit, '-x', 'http://127.0.0.1:%d' % d.port, '--interface', PEOPLE[who], url)


def test_allowances(kit):
    d = kit.daemon(policy(kit), at=AT, speed=10)
    # minute 10:31 and minute 10:32: two active minutes each
    for minute, when in ((631, None), (632, '10:32:05')):
        if when:
            d.wait_fake(when)
        for who in ('alice', 'wendy', 'liam', 'carol'):
            r = get(kit, d, who)
            eq(r.code, 200, '%s on facebook at %s' % (who, d.fake_now()))
    # carol's organisational minutes do not count: her 1-minute allowance is untouched
    eq(get(kit, d, 'carol', 'www.instagram.com').code, 200, 'carol (comms) on instagram after 2 organisational minutes')
    d.wait_fake('10:33:05')
    # block
    r = get(kit, d, 'alice')
    eq(r.code, 403, 'alice over her allowance (block)')
    for words in ('used up', '0 minutes'):
        check(words in r.body, 'block page lacks %r:\n%s' % (words, r.body))
    row = last(d, kind='blocked', user='alice', host='www.facebook.com')
    eq((row['verdict'], row['reason']), ('block', 'allowance-exhausted'), 'alice row')
    # log: allowed, recorded as over the allowance
    eq(get(kit, d, 'liam').code, 200, 'liam over his allowance (log)')
    rows = wait_for(lambda: [x for x in d.events(user='liam', host='www.facebook.com')
                             if x['reason'] == 'allowance-exhausted'], 5, what='an allowance-exhausted row for liam')
    eq((rows[-1]['verdict'], rows[-1]['status']), ('allow', 200), 'liam row (log)')
    # comms: her instagram minute (10:32) used her 1-minute allowance; facebook is still fine
    eq(get(kit, d, 'carol').code, 200, 'carol on facebook (organisational) at 10:33')
    eq(get(kit, d, 'carol', 'www.instagram.com').code, 403, 'carol on instagram after her personal minute')
    eq(last(d, kind='blocked', user='carol')['reason'], 'allowance-exhausted', 'carol instagram row')
    # warn: an interstitial with a Continue link ...
    r = get(kit, d, 'wendy', path='/feed')
    eq(r.code, 403, 'wendy over her allowance (warn): the interstitial')
    m = re.search(r'href="(http://bt-e2e/continue\?[^"]+)"', r.body)
    check(m, 'no Continue link on the interstitial:\n%s' % r.body)
    link = m.group(1).replace('&amp;', '&')
    eq(last(d, kind='blocked', user='wendy')['verdict'], 'warn', 'wendy interstitial row')
    # ... which continues (back to the page) and is recorded
    r = own_page(kit, d, 'wendy', link)
    check(r.code in (200, 302), 'following the Continue link: %r' % r)
    if r.code == 302:
        eq(r.header('Location'), 'http://www.facebook.com:%d/feed' % kit.origin.port, 'Location after Continue')
    check('continue to facebook over the allowance' in d.log(), 'the continue is not logged')
    wait_for(lambda: [x for x in d.events(user='wendy') if x['reason'] == 'warn-continued'], 5,
             what='a warn-continued row for wendy')
    # then allowed for the rest of the day, without another interstitial
    for i in range(2):
        r = get(kit, d, 'wendy', path='/feed')
        eq(r.code, 200, 'wendy after continuing (%d)' % i)
    # the person's own status page
    r = own_page(kit, d, 'alice', 'http://bt-e2e/status')
    eq(r.code, 200, "alice's status page")
    for words in ('alice', 'staff', '2 of 2 minutes used today', '0 left', 'facebook'):
        check(words in r.body, 'status page lacks %r:\n%s' % (words, r.body))
    check('wendy' not in r.body and 'instagram' not in r.body, "someone else's use on alice's page:\n%s" % r.body)
    m = re.search(r'<td>facebook</td><td>(\d+)</td>', r.body)
    check(m and m.group(1) == '2', 'active minutes for facebook on the status page: %s' % r.body)
    # the store: two active personal minutes for alice, carol's facebook organisational
    am = d.rows("SELECT minute, personal FROM active_minutes WHERE user = 'alice' AND platform = 'facebook'")
    eq(sorted(x['minute'] for x in am), [631, 632], "alice's active minutes")
    org = d.rows("SELECT DISTINCT purpose FROM usage_minutes WHERE user = 'carol' AND platform = 'facebook'")
    eq([x['purpose'] for x in org], ['organisational'], "carol's facebook purpose")
    # restart: the counters come back from the store
    eq(d.stop(), 0, 'exit code')
    d2 = kit.daemon(policy(kit), at='2026-11-23 10:34:30', store={'database': d.db})
    r = get(kit, d2, 'alice')
    eq(r.code, 403, 'alice after a restart (usage restored from the store)')
    eq(last(d2, kind='blocked', user='alice')['reason'], 'allowance-exhausted', 'reason after restart')


def test_warn_continue_survives_restart(kit):
    # "an interstitial once per user, platform and day": wade (1 minute, warn) continues
    # past it; after a restart the same day he is not asked again
    d = kit.daemon(policy(kit), at=AT, speed=10)
    eq(get(kit, d, 'wade').code, 200, 'wade in his first minute')
    d.wait_fake('10:32:05')
    r = get(kit, d, 'wade')
    eq(r.code, 403, 'wade over his allowance: the interstitial')
    link = re.search(r'href="(http://bt-e2e/continue\?[^"]+)"', r.body).group(1).replace('&amp;', '&')
    check(own_page(kit, d, 'wade', link).code in (200, 302), 'Continue')
    eq(get(kit, d, 'wade').code, 200, 'wade after continuing')
    wait_for(lambda: [x for x in d.events(user='wade') if x['reason'] == 'warn-continued'], 5, what='warn-continued row')
    eq(d.stop(), 0, 'exit code')
    d2 = kit.daemon(policy(kit), at='2026-11-23 10:34:00', store={'database': d.db})
    r = get(kit, d2, 'wade')
    eq(r.code, 200, 'wade after a restart the same day (he continued at 10:32; the store has the warn-continued row)')


def test_tunnel_closed_when_allowance_used(kit):
    # an unidentified client (default_group walkin, 2 minutes) keeps a facebook tunnel
    # busy: once two active minutes are counted the tunnel is closed at a minute tick
    d = kit.daemon(policy(kit), at=AT, speed=10, proxy={'connect_ports': str(kit.echo.port)})
    t = Tunnel(d.port, 'www.facebook.com:%d' % kit.echo.port, src='127.0.0.9')
    kit.defer(t.close)
    eq(t.status, 200, 'CONNECT in the break')
    closed_at = None
    end = time.monotonic() + 25
    while time.monotonic() < end:
        if not t.echo(b'z' * 4096, timeout=2):
            closed_at = d.fake_now()
            break
        time.sleep(0.5)
    check(closed_at, 'the tunnel was still open at %s' % d.fake_now())
    rows = d.wait_event(close='enforced')
    eq((rows[0]['user'], rows[0]['grp'], rows[0]['reason']), ('127.0.0.9', 'walkin', 'allowance-exhausted'),
       'enforced row')
    check(closed_at.strftime('%H:%M') in ('10:33', '10:34'),
          'closed at %s; two active minutes (10:31, 10:32) were used by 10:33:00' % closed_at)


def test_tunnel_of_a_named_person_closed_when_allowance_used(kit):
    # the same for alice (identified by the devices map)
    d = kit.daemon(policy(kit), at=AT, speed=10, proxy={'connect_ports': str(kit.echo.port)})
    t = Tunnel(d.port, 'www.facebook.com:%d' % kit.echo.port, src=PEOPLE['alice'])
    kit.defer(t.close)
    eq(t.status, 200, 'CONNECT in the break')
    closed_at = None
    end = time.monotonic() + 25
    while time.monotonic() < end:
        if not t.echo(b'z' * 4096, timeout=2):
            closed_at = d.fake_now()
            break
        time.sleep(0.5)
    check(closed_at, 'alice\'s busy facebook tunnel (2-minute allowance) was still open at %s; usage_minutes: %r'
          % (d.fake_now(), d.rows('SELECT user, minute, active, bytes FROM usage_minutes')))
    rows = d.wait_event(close='enforced')
    eq((rows[0]['user'], rows[0]['reason']), ('alice', 'allowance-exhausted'), 'enforced row')


if __name__ == '__main__':
    run(globals())
