#!/usr/bin/env python3
"""
bench_reports: the excessive-use report over 90 days for 500 people and 30
platforms, at a realistic density, against the goal of issue 6 (< 2 s).

    bench_reports.py BREAKTIME_BINARY SOURCE_ROOT [DIR]

Density (per person, per working day, Mon-Fri): 1-3 sessions of 5-25
active minutes on 1-2 of the 30 platforms, mostly in the breaks, one row in
five also seen by the sensor; weekends quiet; 1 % of people-days with a
blocked attempt. About 1.1 M usage_minutes rows. The schema is the real one
(make_store.schema()). Prints the database size and the report's time.

Measured on a loaded 2-CPU machine (2026-11-25): 1,111,263 rows, 147 MB;
excessive 0.66 s CPU (0.8 s wall), usage 0.67 s, usage --by group 0.49 s,
platforms 0.63 s, the HTML excessive report (two passes) about 1.3 s.
Exit status 1 when the excessive report takes 2 s or more.
"""

import os
import resource
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_store  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
KEEP = len(sys.argv) > 3  # a DIR given: keep the store there
DIR = sys.argv[3] if KEEP else tempfile.mkdtemp(prefix="bt-bench-")
DB = os.path.join(DIR, "bench.db")

rng = random.Random(6)
people = ["user%03d" % i for i in range(500)]
platforms = ["platform%02d" % i for i in range(30)]
start = date(2026, 8, 27)
days = [start + timedelta(days=i) for i in range(90)]

t0 = time.time()
if os.path.exists(DB):
    os.unlink(DB)
db = sqlite3.connect(DB)
sql, version = make_store.schema(ROOT)
db.executescript(sql)
db.execute("PRAGMA user_version = %d" % version)
db.execute("PRAGMA journal_mode = WAL")
db.execute("INSERT INTO meta VALUES ('active_bytes', '2048')")
rows = []
events = []
for d in days:
    if d.weekday() >= 5:
        continue
    ds = d.isoformat()
    for u in people:
        grp = "staff" if u < "user400" else "volunteers"
        mine = rng.sample(platforms, 2)
        for _ in range(rng.randint(1, 3)):
            p = rng.choice(mine)
            m0 = rng.choice([630, 750, 770, 930, 960, 600, 840])
            for m in range(m0, m0 + rng.randint(5, 25)):
                rows.append((ds, m, u, p, "personal", "proxy", grp, 1, 2, 6000))
                if rng.random() < 0.2:
                    rows.append((ds, m, u, p, "personal", "sensor", grp, 1, 0, 3000))
        if rng.random() < 0.01:
            events.append((ds, u, grp, rng.choice(platforms)))
db.executemany("INSERT OR IGNORE INTO usage_minutes (day, minute, user, platform, purpose, "
               "source, grp, active, requests, bytes) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
for ds, u, grp, p in events:
    db.execute("INSERT INTO events (ts_ms, day, kind, source, user, grp, platform, verdict, "
               "reason) VALUES (0, ?, 'blocked', 'proxy', ?, ?, ?, 'block', "
               "'students-present')", (ds, u, grp, p))
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
n = db.execute("SELECT count(*) FROM usage_minutes").fetchone()[0]
db.close()
print("generated %d usage_minutes rows in %.1f s; database %.1f MB" %
      (n, time.time() - t0, os.path.getsize(DB) / 1e6))

conf = os.path.join(DIR, "bench.conf")
plat = os.path.join(DIR, "platforms.list")
with open(plat, "w") as f:
    f.write(make_store.PLATFORMS)
    for p in platforms:
        f.write("%s social %s.example\n" % (p, p))
with open(conf, "w") as f:
    f.write(make_store.CONFIG.format(db=DB, platforms=plat)
            .replace("members = alice, bob", "members = alice")
            .replace("members = victor", "members = victor")
            .replace("allowance = 30m", "allowance = 20m"))
failed = False
period = ["--from", days[0].isoformat(), "--to", days[-1].isoformat()]
for kind, extra in [("excessive", []), ("excessive", ["--format", "html"]), ("usage", []),
                    ("breaches", [])]:
    t0 = time.time()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([BIN, "-c", conf, "report", kind] + period + extra,
                       capture_output=True, text=True)
    dt = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    # on a shared machine the CPU time is the steadier figure
    print("%-10s %-14s %.2f s wall  %.2f s CPU  rc=%d  %d lines" %
          (kind, " ".join(extra), dt, cpu, p.returncode, p.stdout.count("\n")))
    if p.returncode:
        print(p.stderr)
        failed = True
    if kind == "excessive" and not extra and dt >= 2.0:
        print("excessive: %.2f s, over the 2 s goal" % dt)
        failed = True
if not KEEP:
    shutil.rmtree(DIR, ignore_errors=True)
sys.exit(1 if failed else 0)
