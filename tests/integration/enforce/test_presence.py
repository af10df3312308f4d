#!/usr/bin/env python3
"""
Presence (issue 5): "students present" = the manual override (on/off/auto,
with an expiry) if one is set, else the timetable OR auto-detection
(traffic from a detect_subnets address or a detect_groups member within
detect_idle). The running daemon picks the override up from the store
within 5 seconds; open social tunnels are closed at the next minute when
students arrive.

The override is set with the real `breaktime presence` command, run on the
daemon's fake clock (e2e.Daemon.set_presence). A detection by
breaktime-sensor (a capture of a student device read with -r into the
daemon's store, on its fake clock) counts too, within the same few seconds. Fake clock: Monday 2026-11-23, the staff
break 10:30-10:45 with no students on the timetable.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'sensor'))
import e2e  # noqa: E402
import pcapgen  # noqa: E402
from e2e import Skip, Tunnel, check, eq, run, via, wait_for  # noqa: E402

# breaktime-sensor of the same build (BREAKTIME_SENSOR, else next to breaktimed's directory)
SENSOR = os.environ.get('BREAKTIME_SENSOR') or os.path.join(
    os.path.dirname(os.path.dirname(e2e.BREAKTIMED)), 'sensor', 'breaktime-sensor')

ALICE, SAM, STUDENT_DEVICE = '127.0.0.2', '127.0.0.4', '127.0.0.70'
OTHER_DEVICE = '127.0.0.30'   # outside detect_subnets
# the proxy reads the store every 2 s; `breaktime presence` and the sensor's
# detections apply within this (doc/breaktime.1: "within seconds")
APPLY_S = 5


def policy(kit, idle='1m'):
    devices = kit.write('devices', '127.0.0.2 alice\n127.0.0.4 sam\n')
    return '''
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30, mon 16:00-17:00
breaks = mon-fri 10:30-10:45
non_directed = mon-fri 15:30-17:30
[presence]
timetable = students
detect_subnets = 127.0.0.64/26
detect_groups = students
detect_idle = %s
[auth]
default_group = guests
devices = %s
[group staff]
members = alice
[group students]
members = sam
social = never
''' % (idle, devices)


def facebook(kit, d):
    """alice on facebook: (status, reason of the newest store row)."""
    r = via(kit, d, 'www.facebook.com', src=ALICE)
    return r.code


def row_reason(d, status):
    kind = 'request' if status == 200 else 'blocked'
    rows = d.wait_event(kind=kind, host='www.facebook.com', user='alice')
    return rows[-1]['reason']


def until_status(kit, d, status, timeout, what):
    t0 = time.monotonic()
    wait_for(lambda: facebook(kit, d) == status, timeout, step=0.25, what=what)
    return time.monotonic() - t0


def test_override_on_and_auto(kit):
    d = kit.daemon(policy(kit), at='2026-11-23 10:35:00')
    eq(facebook(kit, d), 200, 'alice in the break, nobody present')
    d.set_presence('on', by='Ms Smith')
    took = until_status(kit, d, 403, 6, 'the override "on" to block alice')
    check(took <= 5.5, 'the override took %.1fs to apply (at most 5s)' % took)
    eq(row_reason(d, 403), 'students-present', 'reason with the override on')
    check('presence override: on' in d.log(), 'no "presence override: on" log line')
    d.set_presence('auto')
    until_status(kit, d, 200, 6, 'the override "auto" to allow alice again')
    eq(row_reason(d, 200), 'allowed', 'reason back on the timetable')


def test_override_off_in_a_student_session(kit):
    # Monday 16:10: non-directed time, but students are in a 16:00-17:00 session
    d = kit.daemon(policy(kit), at='2026-11-23 16:10:00')
    eq(facebook(kit, d), 403, 'alice during the session')
    eq(row_reason(d, 403), 'students-present', 'reason during the session')
    d.set_presence('off', by='Mr Jones')
    until_status(kit, d, 200, 6, 'the override "off" to allow alice')
    eq(row_reason(d, 200), 'allowed', 'reason with the override off')


def test_override_expires(kit):
    # clock x10; "on" until 10:36: blocked, then allowed again once it expires
    d = kit.daemon(policy(kit), at='2026-11-23 10:35:00', speed=10)
    import datetime
    d.set_presence('on', until=datetime.datetime(2026, 11, 23, 10, 36))
    until_status(kit, d, 403, 3, 'the override to apply')
    check(d.fake_now() < datetime.datetime(2026, 11, 23, 10, 35, 50), 'too slow: %s' % d.fake_now())
    d.wait_fake('10:36:05')
    eq(facebook(kit, d), 200, 'alice after the override expired at 10:36 (fake now %s)' % d.fake_now())
    eq(row_reason(d, 200), 'allowed', 'reason after the expiry')


def test_override_closes_open_tunnel(kit):
    # a facebook tunnel open in the break; the override says students arrived: the
    # tunnel is closed at the next minute tick (clock x10)
    d = kit.daemon(policy(kit), at='2026-11-23 10:35:00', speed=10,
                   proxy={'connect_ports': str(kit.echo.port)})
    t = Tunnel(d.port, 'www.facebook.com:%d' % kit.echo.port, src=ALICE)
    kit.defer(t.close)
    eq(t.status, 200, 'CONNECT in the break')
    check(t.echo(b'in the break'), 'tunnel carries bytes')
    d.set_presence('on')
    check(t.closed_within(9), 'the tunnel was still open at %s, after the 10:36 tick' % d.fake_now())
    rows = d.wait_event(close='enforced')
    eq((rows[0]['user'], rows[0]['reason']), ('alice', 'students-present'), 'enforced row')


def test_detection_from_a_student_subnet(kit):
    # a device in detect_subnets makes students present for detect_idle (1m, clock x10)
    d = kit.daemon(policy(kit), at='2026-11-23 10:35:00', speed=10)
    eq(facebook(kit, d), 200, 'alice before any student traffic')
    eq(via(kit, d, 'www.example.org', src=STUDENT_DEVICE).code, 200, 'a student device on a non-social site')
    eq(facebook(kit, d), 403, 'alice right after student traffic')
    eq(row_reason(d, 403), 'students-present', 'reason after detection')
    rows = wait_for(lambda: d.rows("SELECT * FROM presence WHERE state = 'detected'"), 5, what='a detected presence row')
    check(STUDENT_DEVICE in (rows[0]['cause'] or ''), 'cause of the detected row: %r' % rows[0])
    # detect_idle (1 min) later, with no more student traffic: allowed again
    t0 = d.fake_now()
    until_status(kit, d, 200, 10, 'detected presence to lapse after detect_idle')
    lapsed = (d.fake_now() - t0).total_seconds()
    check(lapsed >= 45, 'presence lapsed after only %.0f fake seconds (detect_idle = 1m)' % lapsed)


def test_detection_from_a_student_group(kit):
    d = kit.daemon(policy(kit, idle='10m'), at='2026-11-23 10:35:00')
    eq(facebook(kit, d), 200, 'alice before sam')
    eq(via(kit, d, 'www.example.org', src=SAM).code, 200, 'sam (students) on a non-social site')
    eq(facebook(kit, d), 403, 'alice after sam')
    eq(row_reason(d, 403), 'students-present', 'reason')
    rows = wait_for(lambda: d.rows("SELECT * FROM presence WHERE state = 'detected'"), 5, what='a detected row')
    check('students' in (rows[0]['cause'] or '') or SAM in (rows[0]['cause'] or ''), 'cause: %r' % rows[0])


def sensor_run(kit, d, name, flows):
    """breaktime-sensor -r on a capture of TLS flows (client address, site-local
    naive datetime of its first packet), on the daemon's configuration and
    store and on its fake clock. Returns the real time it ended."""
    if not os.path.exists(SENSOR):
        raise Skip('no breaktime-sensor at %s (BREAKTIME_SENSOR)' % SENSOR)
    frames = []
    for i, (client, when) in enumerate(flows):
        t = d.fake_ms(when) / 1000.0
        sport = 42000 + i
        frames += [
            (t, pcapgen.ipv4(client, '192.0.2.80', 6, pcapgen.tcp(sport, 443, 1, 'S'))),
            (t + 0.1, pcapgen.ipv4('192.0.2.80', client, 6, pcapgen.tcp(443, sport, 1, 'SA', ack=2))),
            (t + 0.2, pcapgen.ipv4(client, '192.0.2.80', 6, pcapgen.tcp(sport, 443, 2, 'PA', b'x' * 100))),
        ]
    frames.sort(key=lambda f: f[0])
    path = os.path.join(kit.tmp, name + '.pcap')
    pcapgen.write_pcap(path, pcapgen.LINK_RAW, frames)
    env = {'LD_PRELOAD': e2e.libfaketime(),
           'FAKETIME': '@' + e2e.site_to_utc(d.fake_now().strftime('%Y-%m-%d %H:%M:%S')).strftime('%Y-%m-%d %H:%M:%S')}
    p = subprocess.run([SENSOR, '-c', d.conf_path, '-r', path], capture_output=True, timeout=60,
                       env=e2e.clean_env(env), cwd=d.dir)
    check(p.returncode == 0, 'breaktime-sensor: exit %d: %s' % (p.returncode, p.stderr[-500:]))
    return time.monotonic()


def test_detection_by_the_sensor(kit):
    # issue 12: the sensor sees a student device (its traffic never passes the
    # proxy); the proxy must count that as students present within APPLY_S
    # and allow staff again detect_idle after the detection.
    import datetime
    d = kit.daemon(policy(kit, idle='15s'), at='2026-11-23 10:35:00')
    eq(facebook(kit, d), 200, 'alice in the break, nobody present')
    # a stale detection (an hour ago) and a device outside detect_subnets: nobody present
    now = d.fake_now()
    sensor_run(kit, d, 'stale', [(STUDENT_DEVICE, now - datetime.timedelta(hours=1)), (OTHER_DEVICE, now)])
    eq([(r['state'], r['source']) for r in d.rows('SELECT state, source FROM presence')],
       [('detected', 'sensor')], 'the stale detection in the store')
    time.sleep(APPLY_S)
    eq(facebook(kit, d), 200, 'alice after a detection older than detect_idle')
    # the student device now
    seen = d.fake_now()
    ended = sensor_run(kit, d, 'student', [(STUDENT_DEVICE, seen)])
    rows = d.rows("SELECT ts_ms, cause FROM presence WHERE source = 'sensor' ORDER BY ts_ms")
    check(len(rows) == 2 and STUDENT_DEVICE in (rows[-1]['cause'] or ''), 'sensor rows: %r' % rows)
    wait_for(lambda: facebook(kit, d) == 403, APPLY_S + 1, step=0.25,
             what="the sensor's detection to make students present")
    took = time.monotonic() - ended
    print('  detection applied %.1fs after the sensor wrote it' % took)
    check(took <= APPLY_S, "the sensor's detection took %.1fs to apply (at most %ds)" % (took, APPLY_S))
    eq(row_reason(d, 403), 'students-present', 'reason after the sensor saw a student')
    rc, out = d.breaktime('presence')
    check('students present now: yes (detection)' in out, 'breaktime presence shows: %s' % out)
    # detect_idle (15 s) after the detection, with nothing newer: allowed again
    until_status(kit, d, 200, 25, 'the detection to lapse after detect_idle')
    lapsed = (d.fake_now() - seen).total_seconds()
    check(lapsed >= 14, 'presence lapsed after only %.1f s (detect_idle = 15s)' % lapsed)
    eq(row_reason(d, 200), 'allowed', 'reason after the detection lapsed')


def test_presence_command(kit):
    # what `breaktime presence` records and shows: who, when, until when
    d = kit.daemon(policy(kit), at='2026-11-23 10:35:00')
    import datetime
    d.set_presence('on', until=datetime.datetime(2026, 11, 23, 10, 50), by='Ms Smith')
    rows = d.rows("SELECT * FROM presence WHERE state = 'on'")
    eq(len(rows), 1, 'presence rows with state on: %r' % d.rows("SELECT * FROM presence"))
    check('Ms Smith' in str(rows[0]), 'who is not recorded: %r' % rows[0])
    check(abs(rows[0]['ts_ms'] - d.fake_ms()) < 60000, 'when: %r (fake now %s)' % (rows[0], d.fake_now()))
    eq(rows[0]['expires_ms'], d.fake_ms(datetime.datetime(2026, 11, 23, 10, 50)), 'expiry 10:50')
    rc, out = d.breaktime('presence')
    eq(rc, 0, 'breaktime presence (show): %s' % out)
    check('on' in out and '10:50' in out and 'Ms Smith' in out, 'breaktime presence shows: %s' % out)
    until_status(kit, d, 403, 6, "the command's override to apply")
    d.set_presence('off', by='Mr Jones')
    until_status(kit, d, 200, 6, 'the override off to apply')
    eq([r['state'] for r in d.rows("SELECT state FROM presence WHERE state IN ('on', 'off', 'auto') ORDER BY id")],
       ['on', 'off'], 'presence changes in the store')


if __name__ == '__main__':
    run(globals())
