#!/usr/bin/env python3
"""
Time-of-day enforcement (issue 5, Tests): the real breaktimed started at
chosen dates and times through libfaketime, real curl clients, the store
checked row by row.

People are told apart by their loopback source address through the
[auth] devices map (alice 127.0.0.2 staff, carol 127.0.0.3 comms, sam
127.0.0.4 student, nora 127.0.0.5 a night-shift group); 127.0.0.1 is
nobody's, so it falls into default_group = guests.

Dates: Monday 2026-11-23 (a term day, GMT), Thursday 2026-12-24 (a closed
date), Sunday 2026-10-25 (clocks go back at 02:00 BST -> 01:00 GMT).
"""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Fail, check, eq, run, via, ms_to_site, wait_for  # noqa: E402

ALICE, CAROL, SAM, NORA, GUEST = '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.1'


def policy(kit):
    devices = kit.write('devices', '# ADDRESS[/BITS] USER\n127.0.0.2 alice\n127.0.0.3 carol\n'
                                   '127.0.0.4 sam\n127.0.0.5 nora\n')
    return '''
[site]
timezone = Europe/London
closed = 2026-12-24

[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30, 13:15-15:30, mon 16:00-17:00
breaks = mon-fri 10:30-10:45, 12:30-13:15
non_directed = mon-fri 15:30-17:30
fallback = sun 01:10-01:50

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

[group students]
members = sam
social = never

[group nightshift]
members = nora
social = fallback
''' % devices


def at(kit, when):
    return kit.daemon(policy(kit), at=when)


def expect(kit, d, host, src, status, verdict, reason, user, grp, kind=None, page=()):
    """One request through the proxy: its status, its -v record and its store row."""
    r = via(kit, d, host, src)
    eq(r.code, status, 'status of GET http://%s/ from %s (%s) at %s: %r' % (host, src, user, d.at, r))
    if status == 200:
        check('origin says hello' in r.body, 'the origin did not answer %s: %r' % (host, r))
    for words in page:
        check(words in r.body, 'block page for %s lacks %r:\n%s' % (host, words, r.body))
    kind = kind or ('blocked' if verdict == 'block' else 'request')
    rows = d.wait_event(kind=kind, host=host, user=user)
    row = rows[-1]
    eq((row['verdict'], row['reason'], row['grp'], row['status']), (verdict, reason, grp, status),
       'store row (verdict, reason, grp, status) for %s -> %s' % (user, host))
    return row


def fake_clock_seen(d, row):
    """The row's timestamp is the fake time, not today's: the daemon really runs at d.at."""
    t = ms_to_site(row['ts_ms'])
    want = datetime.datetime.strptime(d.at.rstrip('Z'), '%Y-%m-%d %H:%M')
    if d.at.endswith('Z'):
        return
    check(abs((t - want).total_seconds()) < 60, 'store timestamp %s is not near the fake time %s' % (t, d.at))
    eq(row['day'], d.at[:10], 'store day')


def test_break_no_students_staff_allowed(kit):
    # Monday 10:35: a break, no students on the timetable
    d = at(kit, '2026-11-23 10:35')
    row = expect(kit, d, 'www.facebook.com', ALICE, 200, 'allow', 'allowed', 'alice', 'staff')
    fake_clock_seen(d, row)
    eq((row['platform'], row['category']), ('facebook', 'social'), 'platform, category')
    expect(kit, d, 'www.facebook.com', GUEST, 403, 'block', 'group-never', '127.0.0.1', 'guests')
    # not social media: served, and (log_other = counts, the default) kept only as
    # per-day counts without the host name
    r = via(kit, d, 'www.example.org', ALICE)
    eq(r.code, 200, 'www.example.org for alice')
    wait_for(lambda: d.rows("SELECT * FROM other_daily WHERE user = 'alice' AND requests >= 1"), 5,
             what='other_daily counts for alice')
    eq(d.events(host='www.example.org'), [], 'events rows naming a non-social host (log_other = counts)')
    rec = d.wait_record(lambda r: r.get('host') == 'www.facebook.com' and r.get('verdict') == 'allow')
    eq((rec['reason'], rec['platform']), ('allowed', 'facebook'), '-v record')
    # the usage of that request is personal
    um = wait_for(lambda: d.rows("SELECT * FROM usage_minutes WHERE user = 'alice' AND platform = 'facebook'"),
                  5, what='usage_minutes row')
    check(um and um[0]['purpose'] == 'personal', 'usage_minutes for alice on facebook: %r' % um)


def test_after_break_students_present_staff_blocked(kit):
    # Monday 10:46: the break ended at 10:45 and students are back until 12:30
    d = at(kit, '2026-11-23 10:46')
    row = expect(kit, d, 'www.facebook.com', ALICE, 403, 'block', 'outside-allowed-time', 'alice', 'staff',
                 page=('facebook', 'today at 12:30', 'not allowed at this time'))
    fake_clock_seen(d, row)
    rec = d.wait_record(lambda r: r.get('kind') == 'blocked' and r.get('host') == 'www.facebook.com')
    eq((rec['status'], rec['reason']), ('403', 'outside-allowed-time'), '-v record')


def test_sanctioned_platform_while_students_present(kit):
    d = at(kit, '2026-11-23 11:00')
    # youtube is sanctioned for staff: allowed while students are present ...
    expect(kit, d, 'www.youtube.com', ALICE, 200, 'allow', 'sanctioned', 'alice', 'staff')
    # ... facebook is not
    expect(kit, d, 'www.facebook.com', ALICE, 403, 'block', 'outside-allowed-time', 'alice', 'staff')
    # students: never, sanctioned or not (youtube is sanctioned only for staff here)
    expect(kit, d, 'www.youtube.com', SAM, 403, 'block', 'group-never', 'sam', 'students')
    um = wait_for(lambda: d.rows("SELECT * FROM usage_minutes WHERE user = 'alice' AND platform = 'youtube'"),
                  5, what='usage_minutes row')
    check(um and all(u['purpose'] == 'sanctioned' for u in um),
          'sanctioned use should be recorded with purpose sanctioned: %r' % um)


def test_students_present_in_non_directed_time(kit):
    # Monday 16:10: non-directed time, but an extra student session 16:00-17:00
    d = at(kit, '2026-11-23 16:10')
    expect(kit, d, 'www.facebook.com', ALICE, 403, 'block', 'students-present', 'alice', 'staff',
           page=('Students are present', 'today at 17:00'))


def test_non_directed_time_allowed(kit):
    d = at(kit, '2026-11-23 17:10')
    expect(kit, d, 'www.facebook.com', ALICE, 200, 'allow', 'allowed', 'alice', 'staff')


def test_students_never(kit):
    # in the break, when staff may: students still may not, on any platform
    d = at(kit, '2026-11-23 10:35')
    for host in ('www.facebook.com', 'www.youtube.com', 'www.instagram.com'):
        expect(kit, d, host, SAM, 403, 'block', 'group-never', 'sam', 'students',
               page=('not allowed for this group',))


def test_comms_any_time_organisational(kit):
    # Monday 11:00, students present: comms use facebook on behalf of the organisation
    d = at(kit, '2026-11-23 11:00')
    expect(kit, d, 'www.facebook.com', CAROL, 200, 'allow', 'organisational', 'carol', 'comms')
    # their personal use of other platforms follows the staff rule
    expect(kit, d, 'www.instagram.com', CAROL, 403, 'block', 'outside-allowed-time', 'carol', 'comms')
    um = wait_for(lambda: d.rows("SELECT * FROM usage_minutes WHERE user = 'carol' AND platform = 'facebook'"),
                  5, what='usage_minutes row')
    check(um and all(u['purpose'] == 'organisational' for u in um),
          'organisational use should be recorded as organisational (not counted): %r' % um)
    pers = d.rows("SELECT * FROM active_minutes WHERE user = 'carol' AND personal = 1")
    eq(pers, [], 'personal active minutes of carol')


def test_closed_date(kit):
    # Thursday 2026-12-24 10:35 would be a break, but the site is closed
    d = at(kit, '2026-12-24 10:35')
    row = expect(kit, d, 'www.facebook.com', ALICE, 403, 'block', 'closed', 'alice', 'staff',
                 page=('closed today', 'tomorrow at 10:30'))
    fake_clock_seen(d, row)
    # comms: at any time, closed days included
    expect(kit, d, 'www.facebook.com', CAROL, 200, 'allow', 'organisational', 'carol', 'comms')


def test_dst_fall_back_sunday(kit):
    # Sunday 2026-10-25: 01:00-02:00 happens twice (BST, then GMT). The window
    # sun 01:10-01:50 is open both times the clock shows it.
    cases = [
        ('2026-10-25 00:20Z', 200, 'allowed', None),            # 01:20 BST
        ('2026-10-25 00:55Z', 403, 'outside-allowed-time', 'today at 01:10'),  # 01:55 BST: opens again at 01:10 GMT
        ('2026-10-25 01:20Z', 200, 'allowed', None),            # 01:20 GMT, the second time
        ('2026-10-25 01:55Z', 403, 'outside-allowed-time', '2026-11-01 at 01:10'),
    ]
    problems = []
    for when, status, reason, words in cases:
        d = at(kit, when)
        try:
            row = expect(kit, d, 'www.facebook.com', NORA, status, 'allow' if status == 200 else 'block', reason,
                         'nora', 'nightshift', page=(words,) if words else ())
            eq(row['day'], '2026-10-25', 'store day')
        except Fail as e:
            problems.append('%s: %s' % (when, e))
        d.stop()
    check(not problems, '\n'.join(problems))


if __name__ == '__main__':
    run(globals())
