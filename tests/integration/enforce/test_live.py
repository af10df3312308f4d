#!/usr/bin/env python3
"""
Live enforcement (issue 5): every wall-clock minute each open tunnel to a
social platform is decided again and closed when no longer allowed, with the
record's close reason `enforced`. The daemon runs on a fake clock
(libfaketime) a few seconds before a schedule boundary; the tunnels are real
CONNECTs to a local echo peer.

What was learned about libfaketime 0.9.10 (Debian bookworm) and libevent:
libfaketime fakes CLOCK_MONOTONIC too (same start offset and rate) and
scales the timeouts of epoll_wait/poll, so libevent's timers follow the
fake clock: with "x10" the minute timer fires after 6 real seconds. With
FAKETIME_DONT_FAKE_MONOTONIC=1 and a speed-up the timers stay on real time
(a minute tick every 60 real seconds = 10 fake minutes), so the tests keep
monotonic faked. libfaketime is preloaded straight onto breaktimed: the
`faketime` wrapper forks, and its PID is not the daemon's.
"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Tunnel, check, eq, run, wait_for, ms_to_site, tls_tunnel, ssl_closed_within  # noqa: E402

ALICE, CAROL, OWL = '127.0.0.2', '127.0.0.3', '127.0.0.6'


def policy(kit):
    devices = kit.write('devices', '127.0.0.2 alice\n127.0.0.3 carol\n127.0.0.6 owl\n')
    return '''
[site]
timezone = Europe/London
closed = 2026-12-24

[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30
breaks = mon-fri 10:30-10:45
evening = daily 22:00-02:00

[auth]
default_group = guests
devices = %s

[group staff]
members = alice
sanctioned = youtube

[group comms]
members = carol
organisational = yes
platforms = facebook

[group night]
members = owl
social = evening
''' % devices


def seconds_until(d, hhmmss):
    """Real seconds until the daemon's fake clock reads hh:mm:ss today (speed 1)."""
    now = d.fake_now()
    h, m, s = map(int, hhmmss.split(':'))
    target = now.replace(hour=h, minute=m, second=s, microsecond=0)
    return (target - now).total_seconds() / float(d.speed or 1)


def test_tunnel_closed_when_break_ends(kit):
    # Monday 10:44:50, the last seconds of a break; at 10:45 students arrive
    d = kit.daemon(policy(kit), at='2026-11-23 10:44:50',
                   proxy={'connect_ports': '%d, %d' % (kit.echo.port, kit.tls.port), 'workers': '2'})
    port = kit.echo.port
    fb = Tunnel(d.port, 'www.facebook.com:%d' % port, src=ALICE)      # personal: ends at 10:45
    yt = Tunnel(d.port, 'www.youtube.com:%d' % port, src=ALICE)       # sanctioned: stays
    org = Tunnel(d.port, 'www.facebook.com:%d' % port, src=CAROL)     # organisational: stays
    other = Tunnel(d.port, 'www.example.org:%d' % port, src=ALICE)    # not social: stays
    for t in (fb, yt, org, other):
        kit.defer(t.close)
        eq(t.status, 200, 'CONNECT status in the break: %r' % t.head)
        check(t.echo(b'hello in the break'), 'the tunnel does not carry bytes')
    # an IP-literal CONNECT classified by its TLS server name alone
    st, sni_tls, err = tls_tunnel(d.port, '127.0.0.1:%d' % kit.tls.port, 'www.facebook.com', src=ALICE)
    check(sni_tls is not None, 'TLS with SNI www.facebook.com to 127.0.0.1 in the break: %s %s' % (st, err))
    kit.defer(sni_tls.close)
    before = seconds_until(d, '10:45:00')
    check(before > 2, 'too slow to set up before the boundary (%.1fs left)' % before)
    # still open just before the boundary
    check(not fb.closed_within(before - 1.5), 'the facebook tunnel was closed before 10:45')
    check(fb.echo(b'still in the break'), 'the facebook tunnel stopped carrying bytes before 10:45')
    # closed within a few seconds of 10:45:00 (the minute tick), well within a minute
    t0 = time.monotonic()
    check(fb.closed_within(1.5 + 8), 'the facebook tunnel was still open at %s' % d.fake_now())
    closed_at = d.fake_now()
    check(closed_at.strftime('%H:%M') == '10:45',
          'the tunnel closed at %s, expected within the minute after 10:45:00' % closed_at)
    check(ssl_closed_within(sni_tls, 10), 'the TLS tunnel classified by its SNI (facebook) stayed open after 10:45')
    # the others carry on
    for name, t in (('sanctioned youtube', yt), ('organisational facebook', org), ('non-social', other)):
        check(t.echo(b'after the break' * 400), 'the %s tunnel was closed at the boundary' % name)
    # a new CONNECT to facebook is refused now
    again = Tunnel(d.port, 'www.facebook.com:%d' % port, src=ALICE)
    kit.defer(again.close)
    eq(again.status, 403, 'CONNECT to facebook after the break')
    rec = d.wait_record(lambda r: r.get('close') == 'enforced' and r.get('host') == 'www.facebook.com',
                        what='an enforced record')
    eq((rec['kind'], rec['host'], rec['verdict'], rec['reason']),
       ('tunnel', 'www.facebook.com', 'block', 'outside-allowed-time'), '-v record of the enforced tunnel')
    check('closing tunnel www.facebook.com:%d of alice' % port in d.log(), 'no "closing tunnel" log line')
    for t in (yt, org, other):
        t.close()
    eq(d.stop(), 0, 'exit code')
    rows = d.events(close='enforced')
    eq(sorted((r['host'], r['sni']) for r in rows), [('127.0.0.1', 'www.facebook.com'), ('www.facebook.com', None)],
       '(host, sni) of the enforced rows: %r' % rows)
    sni_row = [r for r in rows if r['sni']][0]
    eq((sni_row['platform'], sni_row['user'], sni_row['reason']), ('facebook', 'alice', 'outside-allowed-time'),
       'store row of the SNI-classified tunnel')
    row = [r for r in rows if not r['sni']][0]
    eq((row['kind'], row['user'], row['grp'], row['host'], row['platform'], row['verdict'], row['reason']),
       ('tunnel', 'alice', 'staff', 'www.facebook.com', 'facebook', 'block', 'outside-allowed-time'),
       'store row of the enforced tunnel')
    start = ms_to_site(row['ts_ms'])
    end = ms_to_site(row['ts_ms'] + row['duration_ms'])
    check(start.strftime('%Y-%m-%d %H:%M') == '2026-11-23 10:44', 'tunnel start %s' % start)
    boundary = datetime.datetime(2026, 11, 23, 10, 45)
    check(-1 < (end - boundary).total_seconds() < 5, 'tunnel end %s, expected just after 10:45:00' % end)
    check(row['bytes_up'] >= len(b'hello in the breakstill in the break'), 'bytes_up %r' % row['bytes_up'])
    # the tunnels that stayed open were not enforced: their rows say allow
    # (youtube opened as an ordinary allowed tunnel in the break and went on as sanctioned)
    for host, user, reasons in (('www.youtube.com', 'alice', ('allowed', 'sanctioned')),
                                ('www.facebook.com', 'carol', ('organisational',))):
        r = [x for x in d.events(kind='tunnel', host=host, user=user)]
        check(r and all(x['verdict'] == 'allow' and x['reason'] in reasons and x['close'] != 'enforced' for x in r),
              'rows of the %s tunnel of %s: %r' % (host, user, r))


def test_tunnel_closed_at_midnight_before_closed_date(kit):
    # An overnight window (daily 22:00-02:00) for the night group, but 2026-12-24
    # is closed, "including the part of an overnight window that falls on it":
    # a tunnel open at 23:59 on the 23rd is closed at midnight. (Real speed: with a
    # clock x10 a tenth of a second's stall of a loaded machine is a fake second.)
    d = kit.daemon(policy(kit), at='2026-12-23 23:59:54',
                   proxy={'connect_ports': str(kit.echo.port), 'workers': '1'})
    t = Tunnel(d.port, 'www.facebook.com:%d' % kit.echo.port, src=OWL)
    kit.defer(t.close)
    eq(t.status, 200, 'CONNECT at 23:59:54 in the evening window: %r' % t.head)
    check(t.echo(b'late'), 'tunnel carries bytes')
    check(t.closed_within(10), 'the tunnel was not closed at midnight (fake now %s); log:\n%s'
          % (d.fake_now(), d.log()[-2000:]))
    eq(d.stop(), 0, 'exit code')
    rows = d.events(close='enforced')
    eq([(r['user'], r['grp'], r['reason']) for r in rows], [('owl', 'night', 'closed')], 'enforced rows')
    end = ms_to_site(rows[0]['ts_ms'] + rows[0]['duration_ms'])
    midnight = datetime.datetime(2026, 12, 24)
    check(-1 < (end - midnight).total_seconds() < 30, 'closed at %s, expected 00:00 on the 24th' % end)


def test_tunnel_usage_belongs_to_the_user(kit):
    # A tunnel's bytes are counted per minute (progress records) for the person
    # who opened it, so allowances and reports see HTTPS use, not only plain HTTP.
    d = kit.daemon(policy(kit), at='2026-11-23 10:35:00',
                   proxy={'connect_ports': str(kit.echo.port), 'workers': '1'})
    t = Tunnel(d.port, 'www.facebook.com:%d' % kit.echo.port, src=ALICE)
    kit.defer(t.close)
    eq(t.status, 200, 'CONNECT in the break')
    check(t.echo(b'x' * 8192), 'tunnel carries bytes')
    t.close()
    d.wait_event(kind='tunnel', host='www.facebook.com')
    eq(d.stop(), 0, 'exit code')
    ev = d.events(kind='tunnel', host='www.facebook.com')
    eq([(r['user'], r['grp']) for r in ev], [('alice', 'staff')], "the tunnel's events row")
    um = d.rows("SELECT user, grp, platform, purpose, active, bytes FROM usage_minutes WHERE platform = 'facebook'")
    check(um, 'no usage_minutes row for an 8 KiB facebook tunnel')
    eq([(u['user'], u['grp']) for u in um], [('alice', 'staff')] * len(um),
       "usage_minutes (user, grp) of alice's tunnel: rows %r" % um)


def test_sanctioned_use_after_the_boundary_is_not_personal(kit):
    # youtube opened in the break (personal use), still open when students arrive at
    # 10:45: from then on it is allowed as sanctioned (teaching) use, which "never
    # counts against an allowance" -- its minutes after 10:45 must not be personal.
    d = kit.daemon(policy(kit), at='2026-11-23 10:44:56', speed=10,
                   proxy={'connect_ports': str(kit.echo.port), 'workers': '1'})
    t = Tunnel(d.port, 'www.youtube.com:%d' % kit.echo.port, src=ALICE)
    kit.defer(t.close)
    eq(t.status, 200, 'CONNECT in the break')
    check(t.echo(b'a' * 100), 'tunnel carries bytes')
    wait_for(lambda: d.fake_now().strftime('%H:%M:%S') >= '10:45:08', 5, what='fake 10:45:08')
    check(t.echo(b'b' * 8192), 'the sanctioned tunnel was closed at 10:45')
    t.close()
    d.wait_event(kind='tunnel', host='www.youtube.com')
    eq(d.stop(), 0, 'exit code')
    um = d.rows("SELECT minute, purpose, active, bytes FROM usage_minutes WHERE platform = 'youtube' AND minute = 645")
    check(um, 'no usage_minutes row for 10:45 (%r)' % d.rows("SELECT * FROM usage_minutes"))
    eq(sorted(set(u['purpose'] for u in um if u['active'])), ['sanctioned'],
       'purpose of the active 10:45 minute of a youtube tunnel while students are present: rows %r' % um)


if __name__ == '__main__':
    run(globals())
