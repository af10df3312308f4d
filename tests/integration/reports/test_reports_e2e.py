#!/usr/bin/env python3
"""
test_reports_e2e: `breaktime report` over a store the real breaktimed wrote
from real traffic (the issue-5 kit, tests/integration/enforce/e2e.py: the
daemon on loopback, curl as the clients, a fake clock x10 via libfaketime).

Monday 2026-11-23 from 12:31:50, in the 12:30-13:15 break; alice (staff,
2-minute allowance, over_allowance = log) loads facebook in the minutes
12:31, 12:32 and 12:33 (3 active minutes: 1 over); then "students present"
is set by hand and her next attempt is blocked. The reports must say so.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'enforce'))
import subprocess  # noqa: E402

from e2e import BREAKTIME, check, clean_env, eq, libfaketime, run, site_to_utc, via, wait_for  # noqa: E402

# libfaketime is preloaded; under AddressSanitizer that needs this
ASAN = {'ASAN_OPTIONS': 'verify_asan_link_order=0'}

AT = '2026-11-23 12:31:50'
DAY = ['--from', '2026-11-23', '--to', '2026-11-23']


def policy(kit):
    devices = kit.write('devices', '127.0.0.2 alice\n')
    return '''
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30, 13:15-15:30
breaks = mon-fri 10:30-10:45, 12:30-13:15
[auth]
default_group = walkin
devices = %s
[group staff]
members = alice
social = !students & breaks
allowance = 2m
over_allowance = log
[group walkin]
social = never
''' % devices


def report(d, *args):
    """breaktime report on the daemon's configuration and fake day (as d.breaktime())."""
    env = dict(ASAN, LD_PRELOAD=libfaketime(), FAKETIME='@' + site_to_utc(
        d.fake_now().strftime('%Y-%m-%d %H:%M:%S')).strftime('%Y-%m-%d %H:%M:%S'))
    p = subprocess.run([BREAKTIME, '-c', d.conf_path, 'report'] + list(args) + ['--format', 'json'],
                       capture_output=True, timeout=60, env=clean_env(env), cwd=d.dir)
    check(p.returncode == 0 and not p.stderr, 'breaktime report %s: exit %d: %s' % (
        ' '.join(args), p.returncode, p.stderr.decode()[-1500:]))
    return json.loads(p.stdout)


def test_reports_from_real_traffic(kit):
    d = kit.daemon(policy(kit), at=AT, speed=10, fake_env=ASAN)
    for when in (None, '12:32:05', '12:33:05'):
        if when:
            d.wait_fake(when)
        r = via(kit, d, 'www.facebook.com', src='127.0.0.2')
        eq(r.code, 200, 'alice on facebook at %s' % d.fake_now())
    # `breaktime presence on`, as d.set_presence() does, with ASAN for a sanitizer build
    env = dict(ASAN, LD_PRELOAD=libfaketime(), FAKETIME='@' + site_to_utc(
        d.fake_now().strftime('%Y-%m-%d %H:%M:%S')).strftime('%Y-%m-%d %H:%M:%S'))
    p = subprocess.run([BREAKTIME, '-c', d.conf_path, 'presence', 'on', '--by', 'head'],
                       capture_output=True, timeout=30, env=clean_env(env), cwd=d.dir)
    eq(p.returncode, 0, 'breaktime presence on: %s' % p.stderr.decode())
    # the daemon applies it within seconds: then alice is refused
    wait_for(lambda: via(kit, d, 'www.facebook.com', src='127.0.0.2').code == 403, 20,
             step=0.5, what='a 403 once students are present')
    d.wait_event(kind='blocked', user='alice', reason='students-present')
    eq(d.stop(), 0, 'breaktimed exit status')

    doc = report(d, 'excessive', *DAY)
    rows = doc['rows']
    eq(len(rows), 1, 'people in the excessive report: %r' % rows)
    a = rows[0]
    eq((a['user'], a['group'], a['allowance']), ('alice', 'staff', 2), 'who')
    eq((a['days_over'], a['minutes_over'], a['active_minutes']), (1, 1, 3), 'alice over by 1 of 3')
    eq(a['outside_minutes'], 0, 'her minutes were all in the break')
    eq((a['break_allowance'], a['breaks_over']), (None, 0), 'no break allowance')
    check(a['blocked_students_present'] >= 1, 'blocked attempts: %r' % a)
    eq(a['platforms'], 'facebook', 'platforms')
    check('bytes' in doc['active_minutes_method'], doc['active_minutes_method'])

    doc = report(d, 'usage', *DAY)
    fb = [r for r in doc['rows'] if r['user'] == 'alice' and r['platform'] == 'facebook']
    eq(len(fb), 1, 'usage rows: %r' % doc['rows'])
    eq((fb[0]['active_minutes'], fb[0]['personal_minutes']), (3, 3), 'usage minutes')
    check(fb[0]['requests'] >= 3 and fb[0]['bytes'] > 0, 'usage requests and bytes: %r' % fb[0])

    doc = report(d, 'breaches', *DAY)
    b = [r for r in doc['rows'] if r['reason'] == 'students-present']
    eq([(r['user'], r['platform']) for r in b], [('alice', 'facebook')], 'breaches')
    check(b[0]['first'] >= '12:33', 'breach time %r' % b[0])

    doc = report(d, 'user', '--user', 'alice', *DAY)
    eq([(r['platform'], r['start'], r['end'], r['active_minutes']) for r in doc['rows']],
       [('facebook', '12:31', '12:34', 3)], 'alice timeline')

    doc = report(d, 'presence', *DAY)
    on = [r for r in doc['rows'] if r['state'] == 'on']
    check(on and on[0]['cause'].startswith('head'), 'presence history: %r' % doc['rows'])


if __name__ == '__main__':
    run(globals())
