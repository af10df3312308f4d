#!/usr/bin/env python3
"""
make_store: a breaktime store with known contents, for the report tests.

    make_store.py SOURCE_ROOT DATABASE      # writes DATABASE (replaced)

The schema is the real one: the CREATE statements are read from the
migrations in logger/store.c and PRAGMA user_version is set to
STORE_SCHEMA_VERSION from logger/store_internal.h, so the data cannot
drift from what breaktimed writes. The rows are written as breaktimed's
writer would write them (one usage_minutes row per day, user, platform,
minute, purpose and source; blocked attempts as events of kind `blocked`).

The site is Europe/London; every date is in November 2026 or late October
2026 (after the clocks went back), so local time = UTC. The config that
goes with it is CONFIG below (staff and volunteers: 30-minute allowance,
staff also 35 minutes a break;
breaks 10:30-10:45 and 12:30-13:15, non-directed time 15:30-17:30, Mon-Fri).

Known answers for the period 2026-11-02 .. 2026-11-08 (EXPECT, hand-checked):
- alice (staff): Mon 40 personal minutes on facebook 12:31-13:10 in the
  lunch break (12:31 also on instagram: counted once; one minute with only
  100 bytes is not active; the sensor also saw 12:31) -> 1 day over,
  10 minutes over; and 1 break over its 35 minutes, by 5. Tue 20 minutes on instagram 14:00-14:19, students'
  time -> 20 outside minutes. 3 blocked students-present attempts Tue.
  Total 60, in allowed time 40/60 = 66 %. Previous week: 15 minutes -> +45.
- victor (volunteers, over_allowance = log): Thu 50 minutes on x in
  non-directed time, Fri 35 -> 2 days over, 25 minutes over, total 85.
- bob (staff): Wed 25 minutes in the break: within his allowance, not
  listed; 2 blocked outside-allowed-time attempts Wed 09:05 and 09:07.
- carol (comms): 60 organisational minutes on facebook: never counted.
Severity: alice (max(10, 5) + 20 = 30) before victor (25 + 0 = 25).
- outside the catalog: www.example.org 3, cdn.example.org 2, news.bbc.co.uk 1
  requests (1000 bytes each) -> example.org 5 (5000 bytes), bbc.co.uk 1.
"""

import os
import re
import sqlite3
import sys
from datetime import datetime, timezone

CONFIG = """\
[proxy]
listen = 127.0.0.1:3128
[store]
database = {db}
retention = 10000d
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30, 13:15-15:30
breaks = mon-fri 10:30-10:45, 12:30-13:15
non_directed = mon-fri 15:30-17:30
[presence]
timetable = students
[catalog]
platforms = {platforms}
[group staff]
members = alice, bob
social = !students & (breaks | non_directed)
allowance = 30m
break_allowance = 35m
over_allowance = warn
[group volunteers]
members = victor
social = !students & (breaks | non_directed)
allowance = 30m
over_allowance = log
[group comms]
members = carol
organisational = yes
platforms = facebook, x
"""

PLATFORMS = """\
facebook social facebook.com fbcdn.net
instagram social instagram.com cdninstagram.com
youtube video youtube.com ytimg.com youtu.be
x social x.com twitter.com t.co
"""


def schema(root):
    """The CREATE statements of every migration in logger/store.c, and the version."""
    src = open(os.path.join(root, "logger", "store.c")).read()
    body = src[src.index("migrations[STORE_SCHEMA_VERSION] = {"):]
    body = body[:body.index("\n};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    sql = "".join(m.group(1) for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', body))
    hdr = open(os.path.join(root, "logger", "store_internal.h")).read()
    version = int(re.search(r"#define STORE_SCHEMA_VERSION (\d+)", hdr).group(1))
    return sql.replace('\\"', '"'), version


def ms(day, hhmm):
    t = datetime.strptime(day + " " + hhmm, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000)


def minute(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class Store:
    def __init__(self, path, root):
        if os.path.exists(path):
            os.unlink(path)
        self.db = sqlite3.connect(path)
        sql, version = schema(root)
        self.db.executescript(sql)
        self.db.execute("PRAGMA user_version = %d" % version)
        self.db.execute("PRAGMA journal_mode = WAL")
        for k, v in [("application", "breaktime"), ("created_ms", "1790000000000"),
                     ("usage_method", "active minutes: a minute counts for (user, platform) "
                      "when a request to the platform started in it, or traffic to it moved "
                      "at least 2048 bytes in it; each minute counts once"),
                     ("active_bytes", "2048"), ("log_other", "counts"),
                     ("retention_days", "10000")]:
            self.db.execute("INSERT INTO meta VALUES (?, ?)", (k, v))

    def minutes(self, day, user, grp, platform, start, n, purpose="personal", requests=2,
                nbytes=5000, source="proxy", active=1):
        m0 = minute(start)
        for i in range(n):
            self.db.execute(
                "INSERT INTO usage_minutes (day, minute, user, platform, purpose, source, grp,"
                " active, requests, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (day, m0 + i, user, platform, purpose, source, grp, active, requests, nbytes))

    def blocked(self, day, hhmm, user, grp, platform, host, reason):
        self.db.execute(
            "INSERT INTO events (ts_ms, day, kind, source, user, grp, client, method, host, "
            "port, sni, platform, category, verdict, reason, status, bytes_up, bytes_down, "
            "duration_ms, close) VALUES (?, ?, 'blocked', 'proxy', ?, ?, '10.0.0.5', 'CONNECT',"
            " ?, 443, ?, ?, 'social', 'block', ?, 403, 250, 1800, 3, 'done')",
            (ms(day, hhmm), day, user, grp, host, host, platform, reason))

    def request(self, day, hhmm, user, grp, platform, host, reason="allowed"):
        self.db.execute(
            "INSERT INTO events (ts_ms, day, kind, source, user, grp, client, method, host, "
            "port, platform, category, verdict, reason, status, bytes_up, bytes_down, "
            "duration_ms, close) VALUES (?, ?, 'request', 'proxy', ?, ?, '10.0.0.5', 'GET', ?,"
            " 80, ?, 'social', 'allow', ?, 200, 400, 5000, 40, 'done')",
            (ms(day, hhmm), day, user, grp, host, platform, reason))

    def presence(self, day, hhmm, state, cause, expires=None, source="proxy"):
        self.db.execute(
            "INSERT INTO presence (ts_ms, day, state, expires_ms, cause, source) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (ms(day, hhmm), day, state, ms(day, expires) if expires else None, cause, source))

    def close(self):
        self.db.commit()
        self.db.close()


def build(path, root):
    s = Store(path, root)
    # previous week (2026-10-26 .. 2026-11-01): alice 15 minutes in a break
    s.minutes("2026-10-26", "alice", "staff", "facebook", "12:40", 15)
    # alice, Mon: 40 minutes facebook in the lunch break, 12:31 also instagram
    s.minutes("2026-11-02", "alice", "staff", "facebook", "12:31", 40)
    s.minutes("2026-11-02", "alice", "staff", "instagram", "12:31", 1, requests=1, nbytes=3000)
    s.minutes("2026-11-02", "alice", "staff", "facebook", "12:31", 1, requests=0, nbytes=4000,
              source="sensor")
    s.minutes("2026-11-02", "alice", "staff", "facebook", "12:20", 1, requests=0, nbytes=100,
              active=0)
    for i in range(40):
        s.request("2026-11-02", "12:%02d" % (31 + i) if 31 + i < 60 else
                  "13:%02d" % (i - 29), "alice", "staff", "facebook", "www.facebook.com")
    # alice, Tue: 20 minutes instagram in students' time, and 3 blocked attempts
    s.minutes("2026-11-03", "alice", "staff", "instagram", "14:00", 20)
    for hhmm in ("14:30", "14:31", "14:32"):
        s.blocked("2026-11-03", hhmm, "alice", "staff", "facebook", "www.facebook.com",
                  "students-present")
    # bob, Wed: 25 minutes in the break; 2 blocked attempts outside allowed time
    s.minutes("2026-11-04", "bob", "staff", "youtube", "12:35", 25)
    s.blocked("2026-11-04", "09:05", "bob", "staff", "x", "x.com", "outside-allowed-time")
    s.blocked("2026-11-04", "09:07", "bob", "staff", "x", "x.com", "outside-allowed-time")
    # victor (log mode): Thu 50, Fri 35 minutes on x in non-directed time
    s.minutes("2026-11-05", "victor", "volunteers", "x", "15:30", 50)
    s.minutes("2026-11-06", "victor", "volunteers", "x", "15:30", 35)
    # carol: organisational use, never counted
    s.minutes("2026-11-02", "carol", "comms", "facebook", "09:00", 60, purpose="organisational")
    # traffic outside the catalog (log_other = hosts): example.org 5, bbc.co.uk 1
    for host in ["www.example.org"] * 3 + ["cdn.example.org"] * 2 + ["news.bbc.co.uk"]:
        s.db.execute(
            "INSERT INTO events (ts_ms, day, kind, source, user, grp, host, port, verdict, "
            "reason, status, bytes_up, bytes_down) VALUES (?, '2026-11-04', 'request', 'proxy',"
            " 'bob', 'staff', ?, 80, 'allow', 'not-social', 200, 100, 900)",
            (ms("2026-11-04", "16:00"), host))
    # presence history
    s.presence("2026-11-02", "08:50", "on", "admin alice", expires="10:00")
    s.presence("2026-11-02", "09:40", "detected", "192.168.50.7 (students)", source="sensor")
    s.presence("2026-11-03", "16:00", "auto", "admin bob")
    s.close()


def write_config(tmp, db):
    plat = os.path.join(tmp, "platforms.list")
    with open(plat, "w") as f:
        f.write(PLATFORMS)
    path = os.path.join(tmp, "site.conf")
    with open(path, "w") as f:
        f.write(CONFIG.format(db=db, platforms=plat))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_store.py SOURCE_ROOT DATABASE")
    build(sys.argv[2], sys.argv[1])
